//! TLS to PostgreSQL, as libpq's `sslmode` and `sslrootcert` ask for it.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, and never checks a
//! certificate itself: the modes that verify (`verify-ca`, `verify-full`) and the CA to
//! verify against are read here, taken out of the URL, and turned into a rustls client
//! configuration.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::InvalidDatabaseUrl;

/// How far a server's certificate is checked once the session is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Encrypted, but any certificate will do (`prefer`, `require` without a CA).
    Nothing,
    /// Signed by a trusted CA, whatever name it carries (`verify-ca`).
    Chain,
    /// Signed by a trusted CA and issued for the host connected to (`verify-full`).
    ChainAndHost,
}

/// Where the trusted CAs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootSource {
    /// `sslrootcert` is absent: the platform's trust store, if a mode needs one.
    Default,
    /// `sslrootcert=system`: the platform's trust store, and nothing weaker than
    /// `verify-full` (as libpq 16 decides).
    System,
    /// `sslrootcert=<path>`: the PEM certificates in that file.
    File(String),
}

/// The TLS part of a database URL, once read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsParams {
    /// What tokio-postgres does on the wire.
    pub(crate) mode: SslMode,
    /// What is checked of the certificate.
    pub(crate) verify: Verify,
    /// The CAs trusted.
    pub(crate) roots: RootSource,
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query and reads them;
/// the rest of the URL is returned untouched for tokio-postgres to parse.
///
/// A key/value connection string (`host=… sslmode=…`) is returned as it is: tokio-postgres
/// reads its `sslmode` (up to `require`) and refuses the verifying modes with its own
/// message.
pub(crate) fn take_tls_params(url: &str) -> Result<(String, TlsParams), InvalidDatabaseUrl> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (rest, mut sslmode, mut rootcert) = match url.split_once('?') {
        Some((base, query)) if is_url => {
            let mut kept = Vec::new();
            let (mut sslmode, mut rootcert) = (None, None);
            for pair in query.split('&') {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                match key {
                    "sslmode" => sslmode = Some(decode(value)?),
                    "sslrootcert" => rootcert = Some(decode(value)?),
                    _ => kept.push(pair),
                }
            }
            let rest = if kept.is_empty() {
                base.to_owned()
            } else {
                format!("{base}?{}", kept.join("&"))
            };
            (rest, sslmode, rootcert)
        }
        _ => (url.to_owned(), None, None),
    };
    let roots = match rootcert.take() {
        None => RootSource::Default,
        Some(value) if value == "system" => RootSource::System,
        Some(path) => RootSource::File(path),
    };
    let system = roots == RootSource::System;
    let (mode, verify) = match sslmode.take().as_deref() {
        // libpq's default; with sslrootcert=system, libpq 16 defaults to verify-full.
        None if system => (SslMode::Require, Verify::ChainAndHost),
        None if !is_url => return Ok((rest, key_value_params(url)?)),
        None | Some("prefer" | "allow") => (SslMode::Prefer, Verify::Nothing),
        Some("disable") => (SslMode::Disable, Verify::Nothing),
        // libpq: with a root certificate at hand, `require` verifies the chain.
        Some("require") if matches!(roots, RootSource::File(_)) => {
            (SslMode::Require, Verify::Chain)
        }
        Some("require") => (SslMode::Require, Verify::Nothing),
        Some("verify-ca") => (SslMode::Require, Verify::Chain),
        Some("verify-full") => (SslMode::Require, Verify::ChainAndHost),
        Some(other) => {
            return Err(InvalidDatabaseUrl::new(format!(
                "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, \
                 verify-full"
            )));
        }
    };
    if system && verify != Verify::ChainAndHost {
        return Err(InvalidDatabaseUrl::new(
            "sslrootcert=system needs sslmode=verify-full".into(),
        ));
    }
    Ok((
        rest,
        TlsParams {
            mode,
            verify,
            roots,
        },
    ))
}

/// A key/value string: tokio-postgres parses its sslmode; nothing is verified.
fn key_value_params(url: &str) -> Result<TlsParams, InvalidDatabaseUrl> {
    let mode = url
        .parse::<tokio_postgres::Config>()
        .map_err(|e| InvalidDatabaseUrl::new(e.to_string()))?
        .get_ssl_mode();
    Ok(TlsParams {
        mode,
        verify: Verify::Nothing,
        roots: RootSource::Default,
    })
}

fn decode(value: &str) -> Result<String, InvalidDatabaseUrl> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| InvalidDatabaseUrl::new("a TLS parameter is not UTF-8".into()))
}

/// The connector every connection (pool, migrations, `LISTEN`) is opened with.
///
/// With `sslmode=disable` tokio-postgres never calls it; otherwise it encrypts and checks
/// what `params` asks for. CA files are read now, so a wrong path stops the start-up
/// instead of the first query.
pub(crate) fn connector(params: &TlsParams) -> Result<MakeRustlsConnect, InvalidDatabaseUrl> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| InvalidDatabaseUrl::new(format!("TLS: {e}")))?;
    let config = match params.verify {
        Verify::ChainAndHost => builder
            .with_root_certificates(roots(&params.roots)?)
            .with_no_client_auth(),
        Verify::Chain => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CertificateCheck {
                roots: Some(Arc::new(roots(&params.roots)?)),
                provider,
            }))
            .with_no_client_auth(),
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CertificateCheck {
                roots: None,
                provider,
            }))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

fn roots(source: &RootSource) -> Result<RootCertStore, InvalidDatabaseUrl> {
    let mut store = RootCertStore::empty();
    match source {
        RootSource::File(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| InvalidDatabaseUrl::new(format!("sslrootcert {path:?}: {e}")))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(InvalidDatabaseUrl::new(format!(
                    "sslrootcert {path:?} holds no usable CA certificate"
                )));
            }
        }
        RootSource::Default | RootSource::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(InvalidDatabaseUrl::new(
                    "no system trust store to verify the database's certificate; name a CA \
                     file with sslrootcert"
                        .into(),
                ));
            }
        }
    }
    Ok(store)
}

/// A certificate check weaker than rustls's default: the chain only (`verify-ca`, since a
/// database is often reached by an address its certificate does not name), or nothing
/// (`require`). The handshake's signatures are always checked, so the session is keyed to
/// the certificate presented.
#[derive(Debug)]
struct CertificateCheck {
    roots: Option<Arc<RootCertStore>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for CertificateCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(url: &str) -> (String, TlsParams) {
        take_tls_params(url).unwrap()
    }

    #[test]
    fn modes_read_as_libpq_reads_them() {
        let (rest, p) = read("postgres://u@h/db?sslmode=verify-full&application_name=x");
        assert_eq!(rest, "postgres://u@h/db?application_name=x");
        assert_eq!(
            (p.mode, p.verify, p.roots),
            (SslMode::Require, Verify::ChainAndHost, RootSource::Default)
        );
        let (rest, p) = read("postgres://u@h/db?sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.pem");
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(p.verify, Verify::Chain);
        assert_eq!(p.roots, RootSource::File("/etc/ca.pem".into()));
        assert_eq!(read("postgres://u@h/db").1.mode, SslMode::Prefer);
        assert_eq!(
            read("postgres://u@h/db?sslmode=disable").1.mode,
            SslMode::Disable
        );
        let require = read("postgres://u@h/db?sslmode=require").1;
        assert_eq!(
            (require.mode, require.verify),
            (SslMode::Require, Verify::Nothing)
        );
        let with_ca = read("postgres://u@h/db?sslmode=require&sslrootcert=ca.pem").1;
        assert_eq!(with_ca.verify, Verify::Chain);
        let system = read("postgres://u@h/db?sslrootcert=system").1;
        assert_eq!(
            (system.mode, system.verify),
            (SslMode::Require, Verify::ChainAndHost)
        );
        let kv = read("host=h dbname=db sslmode=require").1;
        assert_eq!((kv.mode, kv.verify), (SslMode::Require, Verify::Nothing));
    }

    #[test]
    fn unknown_or_weak_combinations_are_refused() {
        let err = take_tls_params("postgres://u@h/db?sslmode=verify_full").unwrap_err();
        assert!(err.to_string().contains("verify_full"), "{err}");
        let err =
            take_tls_params("postgres://u@h/db?sslmode=require&sslrootcert=system").unwrap_err();
        assert!(err.to_string().contains("verify-full"), "{err}");
    }

    #[test]
    fn a_missing_ca_file_stops_the_start() {
        let (_, p) = read("postgres://u@h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem");
        let err = connector(&p).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
