//! What the seeder leaves for the scenarios: where Omni is and, per seeded company, an
//! admin's token and its Twilio number and auth token (to sign webhooks as Twilio does).

use std::path::Path;

use omni_twilio::{SignatureAlgorithm, SignatureValidator};
use serde::{Deserialize, Serialize};

/// The seeded world, as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fixture {
    /// Where the scenarios reach Omni (`http://127.0.0.1:8080`).
    pub base_url: String,
    /// Omni's `http.public_base_url`: the URL Twilio signs.
    pub public_base_url: String,
    /// Seeded tickets per company; customer `k` of company `c` is [`customer_phone`].
    pub tickets_per_company: u32,
    pub companies: Vec<Company>,
}

/// One seeded company.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Company {
    pub id: i64,
    pub admin_token: String,
    /// The Twilio number of its WhatsApp integration.
    pub phone: String,
    /// That integration's auth token.
    pub auth_token: String,
}

impl Fixture {
    /// Reads the fixture; one without companies is refused (no scenario can use it).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("{}: {e} (run `omni-loadgen seed` first)", path.display())
        })?;
        let fixture: Self = serde_json::from_str(&text)?;
        anyhow::ensure!(
            !fixture.companies.is_empty(),
            "{}: the fixture has no companies",
            path.display()
        );
        Ok(fixture)
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(self)?)?;
        Ok(())
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/ticket-messages/webhook", self.base_url)
    }

    pub fn ws_url(&self, token: &str) -> String {
        let base = self
            .base_url
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1);
        format!("{base}/ws?token={token}")
    }
}

/// The phone of customer `k` of the company at index `c` of the fixture: E.164, unique.
pub fn customer_phone(c: usize, k: u32) -> String {
    format!("+55{:03}{:07}", c % 1000, k)
}

/// The Twilio number of the company at index `c`.
pub fn company_phone(c: usize) -> String {
    format!("+1555{:07}", c)
}

/// An inbound WhatsApp message as Twilio posts it: the form and its signature.
pub fn inbound_form(
    fixture: &Fixture,
    company: &Company,
    customer: &str,
    sid: &str,
    body: &str,
) -> (String, String) {
    let params: Vec<(String, String)> = vec![
        ("MessageSid".into(), sid.to_owned()),
        ("SmsMessageSid".into(), sid.to_owned()),
        (
            "AccountSid".into(),
            "AC00000000000000000000000000000000".into(),
        ),
        ("From".into(), format!("whatsapp:{customer}")),
        ("To".into(), format!("whatsapp:{}", company.phone)),
        ("Body".into(), body.to_owned()),
        ("NumMedia".into(), "0".into()),
        ("ProfileName".into(), "Cliente".into()),
        ("WaId".into(), customer.trim_start_matches('+').to_owned()),
    ];
    let url = format!("{}/ticket-messages/webhook", fixture.public_base_url);
    let signature = SignatureValidator::new(&company.auth_token).compute(
        &url,
        &params,
        SignatureAlgorithm::HmacSha1,
    );
    let mut form = String::with_capacity(256);
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            form.push('&');
        }
        form.push_str(k);
        form.push('=');
        form.extend(url_encode(v));
    }
    (form, signature)
}

fn url_encode(s: &str) -> impl Iterator<Item = char> + '_ {
    s.bytes().flat_map(|b| {
        let keep = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        let mut out = [None, None, None];
        if keep {
            out[0] = Some(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out[0] = Some('%');
            out[1] = Some(HEX[usize::from(b >> 4)] as char);
            out[2] = Some(HEX[usize::from(b & 15)] as char);
        }
        out.into_iter().flatten()
    })
}

/// An HTTP client keeping up to `connections` connections open to Omni.
pub fn http_client(
    connections: usize,
    timeout: std::time::Duration,
) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(timeout)
        .build()?)
}

/// Posts a form signed by [`inbound_form`] to Omni's webhook, as Twilio does.
pub async fn post_inbound(
    http: &reqwest::Client,
    url: &str,
    (form, signature): (String, String),
) -> reqwest::Result<reqwest::Response> {
    http.post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(omni_twilio::SIGNATURE_HEADER, signature)
        .body(form)
        .send()
        .await
}

/// A `GET` as the scenarios make it: `Ok` when the answer is 200 and its body begins with
/// `expected` (the shape the route answers), else what came back instead.
pub async fn get_ok(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    expected: &[u8],
) -> Result<(), String> {
    match http.get(url).bearer_auth(token).send().await {
        Ok(res) if res.status() == 200 => match res.bytes().await {
            Ok(body) if body.starts_with(expected) => Ok(()),
            Ok(body) => Err(String::from_utf8_lossy(&body).into_owned()),
            Err(e) => Err(e.to_string()),
        },
        Ok(res) => Err(format!(
            "{}: {}",
            res.status(),
            res.text().await.unwrap_or_default()
        )),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_signed_as_twilio_signs_them() {
        let fixture = Fixture {
            base_url: "http://127.0.0.1:8080".into(),
            public_base_url: "https://omni.example.com".into(),
            tickets_per_company: 10,
            companies: vec![],
        };
        let company = Company {
            id: 1,
            admin_token: String::new(),
            phone: company_phone(3),
            auth_token: "secret".into(),
        };
        let (form, signature) = inbound_form(
            &fixture,
            &company,
            &customer_phone(3, 42),
            "SM1",
            "olá, tudo bem?",
        );
        let params: Vec<(String, String)> = form
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), percent_decode(v))
            })
            .collect();
        assert!(params.contains(&("Body".into(), "olá, tudo bem?".into())));
        assert!(SignatureValidator::new("secret").validate_form(
            "https://omni.example.com/ticket-messages/webhook",
            &params,
            &signature,
            SignatureAlgorithm::HmacSha1
        ));
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
}
