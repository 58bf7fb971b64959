//! The messaging crate's [`MediaFetcher`] through Twilio: a customer's attachment, fetched
//! with the account's credentials and passed on as it arrives.
//!
//! Twilio keeps an inbound message's media at
//! `{api}/2010-04-01/Accounts/{AC…}/Messages/{MM…}/Media/{ME…}` and answers a request for
//! it with a redirect to its CDN. Omni fetches only URLs of that shape under the
//! configured API base and the integration's own account (a payload cannot make Omni send
//! the credentials, or fetch an API resource, anywhere else), and follows Twilio's
//! redirects itself, without the credentials on the next hop.

use async_trait::async_trait;
use futures_util::stream;
use omni_messaging::{MediaBody, MediaError, MediaFetcher, MediaRequest};
use omni_tenancy::IntegrationConfig;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Response, StatusCode, Url};

use crate::TwilioClient;

/// Twilio answers with one redirect; a few more are tolerated, a loop is not.
const MAX_REDIRECTS: usize = 3;

impl TwilioClient {
    /// Whether `url` is a media resource of `account_sid` under the configured API base.
    fn media_url(&self, url: &str, account_sid: &str) -> Result<Url, MediaError> {
        let untrusted = || MediaError::Untrusted;
        let base = Url::parse(&self.base_url).map_err(|_| untrusted())?;
        let url = Url::parse(url).map_err(|_| untrusted())?;
        if url.origin() != base.origin() || !url.username().is_empty() || url.password().is_some() {
            return Err(untrusted());
        }
        let base_path: Vec<&str> = base
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let path: Vec<&str> = url
            .path_segments()
            .map(Iterator::collect)
            .unwrap_or_default();
        let id = |s: &str, prefix: &str| {
            s.len() > 2
                && s.len() <= 64
                && s.starts_with(prefix)
                && s.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        let shaped = path.starts_with(&base_path)
            && match path[base_path.len()..] {
                [
                    "2010-04-01",
                    "Accounts",
                    account,
                    "Messages",
                    message,
                    "Media",
                    media,
                ] => {
                    account == account_sid
                        && (id(message, "MM") || id(message, "SM"))
                        && id(media, "ME")
                }
                _ => false,
            };
        if shaped { Ok(url) } else { Err(untrusted()) }
    }

    /// The response at the end of Twilio's redirects: the first request carries the
    /// account's credentials, the hops Twilio points to do not.
    async fn follow(
        &self,
        url: Url,
        account_sid: &str,
        auth_token: &str,
    ) -> Result<Response, MediaError> {
        let unavailable = |e: reqwest::Error| MediaError::Unavailable(e.without_url().to_string());
        // Plain http only where the API base itself is (a local fake Twilio).
        let plain_allowed = url.scheme() == "http";
        let mut response = self
            .media_http
            .get(url)
            .basic_auth(account_sid, Some(auth_token))
            .send()
            .await
            .map_err(unavailable)?;
        for _ in 0..MAX_REDIRECTS {
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let next = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| response.url().join(l).ok())
                .ok_or_else(|| {
                    MediaError::Unavailable("Twilio redirected without a usable Location".into())
                })?;
            if next.scheme() != "https" && !(plain_allowed && next.scheme() == "http") {
                return Err(MediaError::Unavailable(
                    "Twilio redirected to a URL that is not https".into(),
                ));
            }
            response = self
                .media_http
                .get(next)
                .send()
                .await
                .map_err(unavailable)?;
        }
        if response.status().is_redirection() {
            return Err(MediaError::Unavailable("too many redirects".into()));
        }
        Ok(response)
    }
}

#[async_trait]
impl MediaFetcher for TwilioClient {
    #[tracing::instrument(skip_all, fields(integration_id = %request.integration.id))]
    async fn fetch(&self, request: &MediaRequest) -> Result<MediaBody, MediaError> {
        let (IntegrationConfig::Twilio(config), Some(secrets)) =
            (&request.integration.config, request.secrets.twilio())
        else {
            return Err(MediaError::Unavailable(
                "the message's integration is not a Twilio channel".into(),
            ));
        };
        let url = self.media_url(&request.url, &config.account_sid)?;
        let response = self
            .follow(url, &config.account_sid, secrets.auth_token.expose())
            .await?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::NOT_FOUND | StatusCode::GONE => return Err(MediaError::Gone),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(MediaError::Refused(format!(
                    "Twilio answered {}",
                    response.status()
                )));
            }
            other => {
                return Err(MediaError::Unavailable(format!("Twilio answered {other}")));
            }
        }
        let limit = self.media_max_bytes;
        let declared = response.content_length();
        if declared.is_some_and(|n| n > limit) {
            return Err(MediaError::TooLarge { limit });
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|t| t.to_str().ok())
            .map(str::to_owned);
        // Chunk by chunk as Twilio sends them, counted: a body longer than the limit, or
        // than Twilio announced, ends in an error rather than in memory.
        let body = stream::try_unfold((response, 0u64), move |(mut response, seen)| async move {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| MediaError::Unavailable(e.without_url().to_string()))?;
            let Some(chunk) = chunk else {
                return Ok(None);
            };
            let seen = seen + chunk.len() as u64;
            if seen > limit {
                return Err(MediaError::TooLarge { limit });
            }
            if declared.is_some_and(|n| seen > n) {
                return Err(MediaError::Unavailable(
                    "Twilio sent more bytes than it announced".into(),
                ));
            }
            Ok(Some((chunk, (response, seen))))
        });
        Ok(MediaBody {
            content_type,
            content_length: declared,
            body: Box::pin(body),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::{StreamExt, TryStreamExt};
    use omni_tenancy::IntegrationType;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::test_support::{SID, integration, secrets};

    const MEDIA: &str =
        "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM0123/Media/ME0123";

    fn request(url: String) -> MediaRequest {
        MediaRequest {
            integration: integration(IntegrationType::TwilioWhatsapp),
            secrets: secrets(),
            url,
        }
    }

    #[test]
    fn only_the_accounts_media_under_the_api_base_is_fetched() {
        let client = TwilioClient::new("https://api.twilio.com", Duration::from_secs(1)).unwrap();
        let ok = |url: &str| client.media_url(url, SID).is_ok();
        assert!(ok(&format!("https://api.twilio.com{MEDIA}")));
        assert!(ok(&format!(
            "https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/SM0123/Media/ME0123"
        )));
        for refused in [
            format!("http://api.twilio.com{MEDIA}"),
            format!("https://api.twilio.com.evil.example{MEDIA}"),
            format!("https://user:pw@api.twilio.com{MEDIA}"),
            format!("https://api.twilio.com:8443{MEDIA}"),
            format!("https://api.twilio.com{MEDIA}/.."),
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Calls.json"),
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}.json"),
            "https://api.twilio.com/2010-04-01/Accounts/AC9/Messages/MM0123/Media/ME0123".into(),
            format!(
                "https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/MM0123/Media/ME01%2F23"
            ),
            "https://s3.amazonaws.com/media.twiliocdn.com/ME0123".into(),
            "not a url".into(),
        ] {
            assert!(!ok(&refused), "{refused}");
        }
        // A base with a path (a proxy in front of Twilio) keeps it.
        let proxied =
            TwilioClient::new("https://proxy.example/twilio/", Duration::from_secs(1)).unwrap();
        assert!(
            proxied
                .media_url(&format!("https://proxy.example/twilio{MEDIA}"), SID)
                .is_ok()
        );
        assert!(
            proxied
                .media_url(&format!("https://proxy.example{MEDIA}"), SID)
                .is_err()
        );
    }

    #[tokio::test]
    async fn twilios_redirect_is_followed_without_the_credentials() {
        let twilio = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(MEDIA))
            .and(header(
                "authorization",
                "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0b2tlbg==",
            ))
            .respond_with(ResponseTemplate::new(302).insert_header("location", "/cdn/ME0123"))
            .expect(1)
            .mount(&twilio)
            .await;
        Mock::given(method("GET"))
            .and(path("/cdn/ME0123"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "audio/ogg")
                    .set_body_bytes(b"OggS voice".to_vec()),
            )
            .expect(1)
            .mount(&twilio)
            .await;
        let client = TwilioClient::new(&twilio.uri(), Duration::from_secs(5)).unwrap();
        let body = client
            .fetch(&request(format!("{}{MEDIA}", twilio.uri())))
            .await
            .unwrap();
        assert_eq!(body.content_type.as_deref(), Some("audio/ogg"));
        assert_eq!(body.content_length, Some(10));
        let bytes: Vec<u8> = body
            .body
            .map_ok(|chunk| chunk.to_vec())
            .try_concat()
            .await
            .unwrap();
        assert_eq!(bytes, b"OggS voice");
        let requests = twilio.received_requests().await.unwrap();
        let cdn = requests
            .iter()
            .find(|r| r.url.path() == "/cdn/ME0123")
            .unwrap();
        assert!(!cdn.headers.contains_key("authorization"));
    }

    /// A Twilio that answers once with a chunked body (no `Content-Length`) of `chunks`.
    fn chunked_twilio(chunks: &'static [&'static [u8]]) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && socket.read(&mut byte).unwrap() == 1 {
                request.push(byte[0]);
            }
            let mut answer =
                b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .to_vec();
            for chunk in chunks {
                answer.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                answer.extend_from_slice(chunk);
                answer.extend_from_slice(b"\r\n");
            }
            answer.extend_from_slice(b"0\r\n\r\n");
            let _ = socket.write_all(&answer);
        });
        address
    }

    #[tokio::test]
    async fn a_body_of_unannounced_size_is_cut_at_the_limit() {
        let base = chunked_twilio(&[b"0123456789", b"0123456789", b"0123456789"]);
        let client = TwilioClient::new(&base, Duration::from_secs(5))
            .unwrap()
            .with_media_limit(16);
        let body = client
            .fetch(&request(format!("{base}{MEDIA}")))
            .await
            .unwrap();
        assert_eq!(body.content_length, None);
        let chunks: Vec<_> = body.body.collect().await;
        assert_eq!(chunks[0].as_ref().map(|c| c.len()).ok(), Some(10));
        assert_eq!(
            chunks[1].as_ref().err(),
            Some(&MediaError::TooLarge { limit: 16 })
        );
        assert_eq!(chunks.len(), 2, "nothing after the error");

        let base = chunked_twilio(&[b"01234567", b"89"]);
        let client = TwilioClient::new(&base, Duration::from_secs(5))
            .unwrap()
            .with_media_limit(16);
        let body = client
            .fetch(&request(format!("{base}{MEDIA}")))
            .await
            .unwrap();
        let bytes: Vec<u8> = body
            .body
            .map_ok(|chunk| chunk.to_vec())
            .try_concat()
            .await
            .unwrap();
        assert_eq!(bytes, b"0123456789");
    }

    #[tokio::test]
    async fn a_redirect_loop_or_a_missing_file_ends_in_an_error() {
        let twilio = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(MEDIA))
            .respond_with(ResponseTemplate::new(302).insert_header("location", MEDIA))
            .mount(&twilio)
            .await;
        let client = TwilioClient::new(&twilio.uri(), Duration::from_secs(5)).unwrap();
        let looped = client
            .fetch(&request(format!("{}{MEDIA}", twilio.uri())))
            .await;
        assert!(matches!(looped, Err(MediaError::Unavailable(why)) if why.contains("redirects")));
        assert_eq!(
            twilio.received_requests().await.unwrap().len(),
            1 + MAX_REDIRECTS
        );

        let gone = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&gone)
            .await;
        let client = TwilioClient::new(&gone.uri(), Duration::from_secs(5)).unwrap();
        assert!(matches!(
            client
                .fetch(&request(format!("{}{MEDIA}", gone.uri())))
                .await,
            Err(MediaError::Gone)
        ));
    }
}
