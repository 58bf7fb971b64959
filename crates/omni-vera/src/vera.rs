//! Vera AI triage over an OpenAI-compatible chat-completions API, and the fallback that
//! makes triage always answer.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use omni_outbound::OutboundError;
use omni_tenancy::{Locale, SecretString, VeraConfig};
use omni_ticketing::{
    Priority, Sentiment, SuggestedCategory, Triage, TriageError, TriageInput, TriageResult,
};
use serde::Deserialize;
use serde_json::json;

use crate::{BuiltinTriage, VeraClient, normalise};

/// Triage by Vera AI.
pub struct VeraTriage {
    client: VeraClient,
    config: VeraConfig,
    api_key: SecretString,
}

#[derive(Debug, Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Debug, Deserialize)]
struct ChoiceMessage {
    content: String,
}

#[derive(Debug, Deserialize)]
struct Answer {
    category: String,
    priority: String,
    sentiment: AnswerSentiment,
    #[serde(default)]
    suggested_categories: Vec<AnswerSuggestion>,
    #[serde(default)]
    reply: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AnswerSentiment {
    label: String,
    score: f64,
}

#[derive(Debug, Deserialize)]
struct AnswerSuggestion {
    name: String,
    confidence: f64,
}

impl VeraTriage {
    /// Vera as configured by a company's `vera_ai` integration.
    pub fn new(client: VeraClient, config: VeraConfig, api_key: SecretString) -> Self {
        Self {
            client,
            config,
            api_key,
        }
    }

    fn prompt(input: &TriageInput) -> serde_json::Value {
        let categories: Vec<&str> = input.categories.iter().map(|c| c.name.as_str()).collect();
        let language = match input.locale {
            Locale::PtBr => "Brazilian Portuguese",
            Locale::En => "English",
        };
        let system = format!(
            "You triage customer-service tickets. Answer with one JSON object only: \
             {{\"category\": one of [{}], \"priority\": \"low\"|\"medium\"|\"high\"|\"urgent\", \
             \"sentiment\": {{\"label\": \"positive\"|\"neutral\"|\"negative\", \"score\": -1..1}}, \
             \"suggested_categories\": [{{\"name\": category, \"confidence\": 0..1}}], \
             \"reply\": a short first answer to the customer in {language}}}.",
            categories.join(", ")
        );
        let mut user = String::new();
        if let Some(name) = &input.customer_name {
            user.push_str(&format!("Customer: {name}\n"));
        }
        for m in &input.messages {
            user.push_str("- ");
            user.push_str(m);
            user.push('\n');
        }
        json!({
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "response_format": {"type": "json_object"},
            "temperature": 0,
        })
    }

    #[tracing::instrument(skip_all)]
    async fn ask(&self, body: &serde_json::Value) -> Result<String, TriageError> {
        let http = self.client.http();
        let request = http
            .post(&format!("{}/chat/completions", self.config.base_url))
            .bearer_auth(self.api_key.expose())
            .timeout(Duration::from_millis(u64::from(self.config.timeout_ms)))
            .json(body);
        let response = http.send(request).await.map_err(|e| {
            TriageError(match e {
                OutboundError::Timeout => "Vera AI timed out".into(),
                OutboundError::Blocked(why) => format!("Vera AI's URL is refused: {why}"),
                _ => "Vera AI unreachable".into(),
            })
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(TriageError(format!("Vera AI answered {status}")));
        }
        // Read up to the guard's cap: a hostile or broken host cannot make us buffer more.
        let completion: Completion = response
            .json()
            .await
            .map_err(|_| TriageError("Vera AI's answer is not a completion".into()))?;
        completion
            .choices
            .into_iter()
            .next()
            .map(|c| c.message.content)
            .ok_or_else(|| TriageError("Vera AI's answer has no choice".into()))
    }
}

/// The allowed category closest to `name`: itself, one whose normalised name matches, one
/// sharing a prefix, else `general`.
fn closest_category(name: &str, input: &TriageInput) -> String {
    let wanted = normalise(name).replace(' ', "_");
    let names: Vec<&str> = input.categories.iter().map(|c| c.name.as_str()).collect();
    if let Some(exact) = names.iter().find(|n| **n == wanted) {
        return (*exact).to_owned();
    }
    let prefix = |a: &str, b: &str| a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    names
        .iter()
        .map(|n| (prefix(n, &wanted), *n))
        .filter(|(p, _)| *p >= 4)
        .max_by_key(|(p, _)| *p)
        .map(|(_, n)| n.to_owned())
        .unwrap_or_else(|| "general".to_owned())
}

/// Reads Vera's JSON strictly: unknown priorities or sentiments are errors; an unknown
/// category becomes the closest allowed one.
fn read_answer(content: &str, input: &TriageInput) -> Result<TriageResult, TriageError> {
    let answer: Answer = serde_json::from_str(content.trim())
        .map_err(|e| TriageError(format!("Vera AI's JSON is malformed: {e}")))?;
    let priority: Priority = answer
        .priority
        .trim()
        .to_lowercase()
        .parse()
        .map_err(|e| TriageError(format!("Vera AI: {e}")))?;
    let sentiment: Sentiment = answer
        .sentiment
        .label
        .trim()
        .to_lowercase()
        .parse()
        .map_err(|e| TriageError(format!("Vera AI: {e}")))?;
    if !answer.sentiment.score.is_finite() {
        return Err(TriageError(
            "Vera AI: the sentiment score is not a number".into(),
        ));
    }
    let mut suggested: Vec<SuggestedCategory> = Vec::new();
    for s in answer.suggested_categories {
        let name = closest_category(&s.name, input);
        if s.confidence.is_finite() && !suggested.iter().any(|x| x.name == name) {
            suggested.push(SuggestedCategory {
                name,
                confidence: s.confidence.clamp(0.0, 1.0),
            });
        }
    }
    Ok(TriageResult {
        category: closest_category(&answer.category, input),
        priority,
        sentiment,
        sentiment_score: answer.sentiment.score.clamp(-1.0, 1.0),
        suggested_categories: suggested,
        reply: answer
            .reply
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty() && r.chars().count() <= 1600),
        engine: "vera".to_owned(),
    })
}

#[async_trait]
impl Triage for VeraTriage {
    async fn triage(&self, input: &TriageInput) -> Result<TriageResult, TriageError> {
        let body = {
            let mut b = Self::prompt(input);
            b["model"] = json!(self.config.model);
            b
        };
        // One retry: a single slow, failed or garbled answer happens; two in a row mean the
        // built-in engine should answer instead.
        match self.ask(&body).await.and_then(|c| read_answer(&c, input)) {
            Ok(result) => Ok(result),
            Err(first) => {
                tracing::debug!(error = %first, "Vera AI failed once; retrying");
                self.ask(&body).await.and_then(|c| read_answer(&c, input))
            }
        }
    }
}

/// Vera AI when a company has it, the built-in engine otherwise and whenever Vera fails —
/// so triage always answers. Failures are logged and counted.
pub struct FallbackTriage {
    primary: Option<Arc<dyn Triage>>,
    builtin: BuiltinTriage,
}

impl FallbackTriage {
    /// Tries `primary` first, if any.
    pub fn new(primary: Option<Arc<dyn Triage>>) -> Self {
        Self {
            primary,
            builtin: BuiltinTriage,
        }
    }
}

#[async_trait]
impl Triage for FallbackTriage {
    async fn triage(&self, input: &TriageInput) -> Result<TriageResult, TriageError> {
        if let Some(primary) = &self.primary {
            match primary.triage(input).await {
                Ok(result) => {
                    crate::stats::record_answer(&result.engine);
                    return Ok(result);
                }
                Err(e) => {
                    crate::stats::record_vera_failure();
                    tracing::warn!(error = %e, "Vera AI failed; the built-in engine answers");
                }
            }
        }
        let result = self.builtin.classify(input);
        crate::stats::record_answer(&result.engine);
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use omni_tenancy::CompanySettings;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn input() -> TriageInput {
        TriageInput {
            messages: vec!["Fui cobrado duas vezes no cartão".into()],
            customer_name: Some("Zé".into()),
            locale: Locale::PtBr,
            categories: CompanySettings::default().categories,
        }
    }

    fn vera(server: &MockServer, timeout_ms: u32) -> Arc<dyn Triage> {
        Arc::new(VeraTriage::new(
            VeraClient::new(crate::test_client()),
            VeraConfig {
                base_url: format!("{}/v1", server.uri()),
                model: "vera-large".into(),
                timeout_ms,
            },
            SecretString::new("key".into()),
        ))
    }

    fn completion(content: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(
            json!({"choices": [{"message": {"role": "assistant", "content": content}}]}),
        )
    }

    #[tokio::test]
    async fn a_good_answer_is_read_and_unknown_categories_snap_to_allowed_ones() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(header("authorization", "Bearer key"))
            .respond_with(completion(
                r#"{"category": "Billing", "priority": "HIGH", "sentiment": {"label": "negative", "score": -0.8},
                    "suggested_categories": [{"name": "billing", "confidence": 0.9}, {"name": "astrology", "confidence": 0.1}],
                    "reply": "Olá Zé, vamos verificar a cobrança."}"#,
            ))
            .mount(&server)
            .await;
        let r = FallbackTriage::new(Some(vera(&server, 2000)))
            .triage(&input())
            .await
            .unwrap();
        assert_eq!(
            (r.engine.as_str(), r.category.as_str(), r.priority),
            ("vera", "billing", Priority::High)
        );
        assert_eq!(r.sentiment, Sentiment::Negative);
        assert_eq!(r.suggested_categories[1].name, "general");
        assert_eq!(
            r.reply.as_deref(),
            Some("Olá Zé, vamos verificar a cobrança.")
        );
    }

    #[tokio::test]
    async fn malformed_answers_timeouts_and_errors_fall_back_to_the_builtin_engine() {
        for case in ["malformed", "timeout", "500"] {
            let server = MockServer::start().await;
            let template = match case {
                "malformed" => completion("I think this is about billing!"),
                "timeout" => completion("{}").set_delay(Duration::from_millis(500)),
                _ => ResponseTemplate::new(500),
            };
            Mock::given(method("POST"))
                .respond_with(template)
                .expect(2)
                .mount(&server)
                .await;
            let r = FallbackTriage::new(Some(vera(&server, 150)))
                .triage(&input())
                .await
                .unwrap();
            assert_eq!(r.engine, "builtin", "{case}");
            assert_eq!(r.category, "billing", "{case}");
        }
    }
}
