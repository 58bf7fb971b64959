//! The messaging crate's [`TemplateCatalog`] through Twilio's Content API: the account's
//! content templates with their WhatsApp approval (`GET /v1/ContentAndApprovals`), of which
//! Omni lists the approved ones.

use async_trait::async_trait;
use omni_messaging::{Template, TemplateCatalog, TemplateError, placeholders};
use omni_tenancy::{Integration, IntegrationConfig, IntegrationSecrets, IntegrationType};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::client::{PageMeta, read_resource, without_url};
use crate::{TwilioClient, TwilioError};

/// Pages followed at most (of 500 templates each): an account holds far fewer.
const MAX_PAGES: usize = 20;

#[derive(Debug, Deserialize)]
struct ContentPage {
    #[serde(default)]
    contents: Vec<ContentItem>,
    #[serde(default)]
    meta: Option<PageMeta>,
}

/// One content resource with its approval requests, as far as Omni reads it.
#[derive(Debug, Deserialize)]
struct ContentItem {
    sid: String,
    #[serde(default)]
    friendly_name: Option<String>,
    #[serde(default)]
    language: Option<String>,
    /// Default values by variable name: the names are what Omni needs.
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    /// By content type (`twilio/text`, `twilio/media`, `twilio/quick-reply`…).
    #[serde(default)]
    types: Option<Map<String, Value>>,
    #[serde(default)]
    approval_requests: Option<Value>,
}

impl ContentItem {
    /// WhatsApp's approval: the object itself, or under `whatsapp` as the approval
    /// resource nests it.
    fn whatsapp_approval(&self) -> Option<&Map<String, Value>> {
        let approval = self.approval_requests.as_ref()?.as_object()?;
        match approval.get("whatsapp").and_then(Value::as_object) {
            Some(nested) => Some(nested),
            None => Some(approval),
        }
    }

    /// The text a customer reads: the plain text type's body, else the first type's body
    /// (or a card's title).
    fn body(&self) -> String {
        let Some(types) = &self.types else {
            return String::new();
        };
        let text = |t: &Value| {
            t.get("body")
                .or_else(|| t.get("title"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        types
            .get("twilio/text")
            .and_then(text)
            .or_else(|| types.values().find_map(text))
            .unwrap_or_default()
    }

    fn into_template(self) -> Option<Template> {
        let approval = self.whatsapp_approval()?;
        if approval.get("status").and_then(Value::as_str) != Some("approved") {
            return None;
        }
        let field = |name: &str| {
            approval
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let name = field("name")
            .or_else(|| self.friendly_name.clone())
            .unwrap_or_else(|| self.sid.clone());
        let category = field("category");
        let body = self.body();
        let mut variables: Vec<String> = self
            .variables
            .iter()
            .flat_map(|v| v.keys().cloned())
            .collect();
        for placeholder in placeholders(&body) {
            if !variables.contains(&placeholder) {
                variables.push(placeholder);
            }
        }
        // `2` before `10`: numbered variables in their order, named ones after.
        variables.sort_by(|a, b| match (a.parse::<u32>(), b.parse::<u32>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(_), Err(_)) => a.cmp(b),
        });
        Some(Template {
            content_sid: self.sid,
            name,
            language: self.language,
            category,
            variables,
            body,
        })
    }
}

impl TwilioClient {
    /// Every content resource of the account with its approvals, page by page (a next
    /// page only on the Content API's own host: the credentials go nowhere else).
    async fn contents(
        &self,
        account_sid: &str,
        auth_token: &str,
    ) -> Result<Vec<ContentItem>, TwilioError> {
        let mut items = Vec::new();
        let mut url = Some(format!(
            "{}/v1/ContentAndApprovals?PageSize=500",
            self.content_base_url
        ));
        for _ in 0..MAX_PAGES {
            let Some(next) = url.take() else { break };
            if !next.starts_with(&format!("{}/", self.content_base_url)) {
                break;
            }
            let response = self
                .http
                .get(next)
                .basic_auth(account_sid, Some(auth_token))
                .send()
                .await
                .map_err(|e| TwilioError::Network(without_url(&e)))?;
            let page: ContentPage = read_resource(response).await?;
            items.extend(page.contents);
            url = page.meta.and_then(|m| m.next_page_url);
        }
        Ok(items)
    }
}

#[async_trait]
impl TemplateCatalog for TwilioClient {
    #[tracing::instrument(skip_all, fields(integration_id = %integration.id))]
    async fn approved(
        &self,
        integration: &Integration,
        secrets: &IntegrationSecrets,
    ) -> Result<Vec<Template>, TemplateError> {
        let (IntegrationConfig::Twilio(config), Some(secrets)) =
            (&integration.config, secrets.twilio())
        else {
            return Err(TemplateError::NotSupported(
                "the integration is not a Twilio channel".into(),
            ));
        };
        if integration.kind != IntegrationType::TwilioWhatsapp {
            return Err(TemplateError::NotSupported(
                "templates are WhatsApp's; this integration sends SMS".into(),
            ));
        }
        let items = self
            .contents(&config.account_sid, secrets.auth_token.expose())
            .await
            .map_err(|e| match e {
                TwilioError::Api {
                    status: 401 | 403,
                    code,
                    message,
                    ..
                } => TemplateError::Refused(match code {
                    Some(code) => format!("Twilio error {code}: {message}"),
                    None => format!("Twilio: {message}"),
                }),
                other => TemplateError::Unavailable(other.to_string()),
            })?;
        Ok(items
            .into_iter()
            .filter_map(ContentItem::into_template)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::test_support::{integration, secrets};

    #[tokio::test]
    async fn the_approved_whatsapp_templates_are_listed_across_pages() {
        let twilio = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/ContentAndApprovals"))
            .and(query_param("PageSize", "500"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "contents": [
                    {
                        "sid": "HX00000000000000000000000000000001",
                        "friendly_name": "order_update_v2",
                        "language": "pt_BR",
                        "variables": {"1": "Ana", "2": "#42"},
                        "types": {"twilio/text": {"body": "Olá {{1}}, seu pedido {{2}} saiu."}},
                        "approval_requests": {"name": "order_update", "category": "UTILITY", "status": "approved", "rejection_reason": ""}
                    },
                    {
                        "sid": "HX00000000000000000000000000000002",
                        "friendly_name": "promo",
                        "language": "pt_BR",
                        "types": {"twilio/text": {"body": "Promoção!"}},
                        "approval_requests": {"name": "promo", "category": "MARKETING", "status": "rejected"}
                    },
                    {
                        "sid": "HX00000000000000000000000000000003",
                        "friendly_name": "never submitted",
                        "types": {"twilio/text": {"body": "Rascunho"}}
                    }
                ],
                "meta": {"next_page_url": format!("{}/v1/ContentAndApprovals?PageSize=500&Page=1&PageToken=PT1", twilio.uri())}
            })))
            .up_to_n_times(1)
            .mount(&twilio)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/ContentAndApprovals"))
            .and(query_param("PageToken", "PT1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "contents": [{
                    "sid": "HX00000000000000000000000000000004",
                    "friendly_name": "follow_up",
                    "language": "en",
                    "types": {"twilio/quick-reply": {"body": "Hi {{name}}, still there?", "actions": []}},
                    "approval_requests": {"whatsapp": {"name": "follow_up", "category": "UTILITY", "status": "approved"}}
                }],
                "meta": {"next_page_url": null}
            })))
            .mount(&twilio)
            .await;
        let client = TwilioClient::new("https://api.invalid", Duration::from_secs(5))
            .unwrap()
            .with_content_base(&twilio.uri());
        let templates = client
            .approved(&integration(IntegrationType::TwilioWhatsapp), &secrets())
            .await
            .unwrap();
        assert_eq!(
            templates,
            [
                Template {
                    content_sid: "HX00000000000000000000000000000001".into(),
                    name: "order_update".into(),
                    language: Some("pt_BR".into()),
                    category: Some("UTILITY".into()),
                    variables: vec!["1".into(), "2".into()],
                    body: "Olá {{1}}, seu pedido {{2}} saiu.".into(),
                },
                Template {
                    content_sid: "HX00000000000000000000000000000004".into(),
                    name: "follow_up".into(),
                    language: Some("en".into()),
                    category: Some("UTILITY".into()),
                    variables: vec!["name".into()],
                    body: "Hi {{name}}, still there?".into(),
                },
            ]
        );
    }

    #[tokio::test]
    async fn sms_numbers_have_no_templates_and_refusals_say_why() {
        let twilio = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(401).set_body_json(
                    json!({"code": 20003, "message": "Authenticate", "status": 401}),
                ),
            )
            .mount(&twilio)
            .await;
        let client = TwilioClient::new("https://api.invalid", Duration::from_secs(5))
            .unwrap()
            .with_content_base(&twilio.uri());
        assert!(matches!(
            client
                .approved(&integration(IntegrationType::TwilioSms), &secrets())
                .await,
            Err(TemplateError::NotSupported(_))
        ));
        assert_eq!(
            client
                .approved(&integration(IntegrationType::TwilioWhatsapp), &secrets())
                .await,
            Err(TemplateError::Refused(
                "Twilio error 20003: Authenticate".into()
            ))
        );
    }
}
