//! `omni-server simulate-inbound`: a customer's WhatsApp message without Twilio. It signs
//! a webhook with the receiving integration's auth token, over the URL Twilio would call
//! (`OMNI_HTTP__PUBLIC_BASE_URL` + `/ticket-messages/webhook`), and posts it to a running
//! instance, so the whole inbound path runs as in production: signature, ticket, triage,
//! events to the console.

use anyhow::{Context as _, anyhow, bail};
use omni_core::PhoneNumber;
use omni_tenancy::{IntegrationConfig, IntegrationSecrets, IntegrationType};
use omni_twilio::{SignatureAlgorithm, SignatureValidator};
use rand::Rng as _;

use crate::state::AppState;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulatedMessage {
    /// The company's number (an enabled Twilio integration's `phone_number`).
    pub to: String,
    /// The customer's number.
    pub from: String,
    /// What the customer writes.
    pub text: String,
    /// The customer's WhatsApp profile name.
    pub name: Option<String>,
    /// Where the instance listens; the configured bind address when absent.
    pub server: Option<String>,
}

/// Signs and posts the message; returns Twilio's `MessageSid` it carried.
pub async fn simulate_inbound(state: &AppState, m: SimulatedMessage) -> anyhow::Result<String> {
    let to = PhoneNumber::parse(m.to.trim_start_matches("whatsapp:"))
        .map_err(|e| anyhow!("--to: {e}"))?;
    let from = PhoneNumber::parse(m.from.trim_start_matches("whatsapp:"))
        .map_err(|e| anyhow!("--from: {e}"))?;
    if m.text.trim().is_empty() {
        bail!("--text: write what the customer says");
    }
    let integration = state
        .integrations
        .by_phone(&to)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .filter(|i| i.enabled)
        .ok_or_else(|| {
            anyhow!("no enabled Twilio integration has the number {to}: create one first (POST /integrations)")
        })?;
    let IntegrationConfig::Twilio(config) = &integration.config else {
        bail!("the integration with {to} is not a Twilio one");
    };
    let IntegrationSecrets::Twilio(secrets) = state
        .integrations
        .secrets(&integration)
        .map_err(|e| anyhow!("{e}"))?
    else {
        bail!("the integration with {to} has no Twilio auth token");
    };
    let prefix = if integration.kind == IntegrationType::TwilioWhatsapp {
        "whatsapp:"
    } else {
        ""
    };
    let mut rng = rand::rng();
    let sid: String = (0..32)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect();
    let sid = format!("SM{sid}");
    let mut form: Vec<(&str, String)> = vec![
        ("MessageSid", sid.clone()),
        ("SmsMessageSid", sid.clone()),
        ("AccountSid", config.account_sid.clone()),
        ("From", format!("{prefix}{from}")),
        ("To", format!("{prefix}{to}")),
        ("Body", m.text.clone()),
        ("NumMedia", "0".into()),
        ("NumSegments", "1".into()),
        ("SmsStatus", "received".into()),
        ("ApiVersion", "2010-04-01".into()),
    ];
    if !prefix.is_empty() {
        form.push(("WaId", from.as_str().trim_start_matches('+').to_owned()));
        if let Some(name) = &m.name {
            form.push(("ProfileName", name.clone()));
        }
    }
    let url = format!(
        "{}/ticket-messages/webhook",
        state.config.http.public_base_url
    );
    let form: Vec<(String, String)> = form.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let signature = SignatureValidator::new(secrets.auth_token.expose()).compute(
        &url,
        &form,
        SignatureAlgorithm::HmacSha1,
    );
    let server = match &m.server {
        Some(s) => s.trim_end_matches('/').to_owned(),
        None => {
            let mut bind = state.config.http.bind;
            // Listening everywhere: this machine's loopback reaches it.
            if bind.ip().is_unspecified() {
                bind.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            // A SocketAddr prints an IPv6 address in brackets, as a URL needs.
            format!("http://{bind}")
        }
    };
    let target = format!("{server}/ticket-messages/webhook");
    let answer = reqwest::Client::new()
        .post(&target)
        .header("X-Twilio-Signature", signature)
        .form(&form)
        .send()
        .await
        .with_context(|| format!("could not reach Omni at {target}: is `make run` running?"))?;
    let status = answer.status();
    if !status.is_success() {
        let body = answer.text().await.unwrap_or_default();
        bail!("Omni answered {status}: {body}");
    }
    Ok(sid)
}
