//! WhatsApp templates: the messages a business may send outside the 24-hour
//! customer-service window (to write first, or again after a day of silence), once Meta has
//! approved them. The provider keeps the catalog ([`TemplateCatalog`]); Omni checks a
//! template message against its entry before anything is stored.

use std::collections::BTreeMap;

use async_trait::async_trait;
use omni_core::FieldError;
use omni_tenancy::{Integration, IntegrationSecrets};
use serde::{Deserialize, Serialize};

/// The most characters a variable's value may hold (WhatsApp's limit for a parameter).
pub const MAX_VARIABLE_CHARS: usize = 1024;

/// The most characters a template's text may hold once its variables are filled in
/// (WhatsApp's limit for a template body).
pub const MAX_TEMPLATE_CHARS: usize = 1024;

/// The `{{name}}` placeholders of a template's text (`{{ name }}` too), in order of first
/// appearance: the variables a message must fill.
///
/// ```
/// assert_eq!(omni_messaging::placeholders("Olá {{1}}, {{ nome }}: {{1}}"), ["1", "nome"]);
/// ```
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for (_, name) in spans(text) {
        if !found.iter().any(|f| f == name) {
            found.push(name.to_owned());
        }
    }
    found
}

/// Each placeholder of `text`: where it is (from `{{` to `}}`) and its trimmed name.
fn spans(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find("{{").map(|i| from + i) {
        let Some(end) = text[start + 2..].find("}}").map(|i| start + 2 + i) else {
            break;
        };
        let name = text[start + 2..end].trim();
        if !name.is_empty() {
            spans.push((start..end + 2, name));
        }
        from = end + 2;
    }
    spans
}

/// An approved template of the provider's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Template {
    /// The provider's id (Twilio's `HX…` Content SID): what a message names.
    pub content_sid: String,
    /// The template's name.
    pub name: String,
    /// Its language (ISO 639-1, e.g. `pt_BR` or `en`).
    pub language: Option<String>,
    /// WhatsApp's category (`UTILITY`, `MARKETING`, `AUTHENTICATION`).
    pub category: Option<String>,
    /// The names of its variables (`1`, `2`… or named), each required in a message.
    pub variables: Vec<String>,
    /// Its text with `{{name}}` placeholders: a preview of what the customer reads.
    pub body: String,
}

/// A message that sends an approved template with its variables, in place of free text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateMessage {
    /// The template (Twilio's Content SID, `HX…`).
    pub content_sid: String,
    /// A value for each of the template's variables, by name.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

impl Template {
    /// Whether `message` fills this template: every variable given, none unknown, none
    /// empty or longer than [`MAX_VARIABLE_CHARS`]. Each problem is a field error named
    /// `template.variables.<name>`, so a client shows them all at once.
    ///
    /// ```
    /// # use std::collections::BTreeMap;
    /// # use omni_messaging::{Template, TemplateMessage};
    /// let template = Template {
    ///     content_sid: "HX1".into(),
    ///     name: "order_update".into(),
    ///     language: Some("pt_BR".into()),
    ///     category: Some("UTILITY".into()),
    ///     variables: vec!["1".into(), "2".into()],
    ///     body: "Olá {{1}}, seu pedido {{2}} saiu para entrega.".into(),
    /// };
    /// let message = TemplateMessage {
    ///     content_sid: "HX1".into(),
    ///     variables: BTreeMap::from([("1".into(), "Ana".into())]),
    /// };
    /// let errors = template.check(&message).unwrap_err();
    /// assert_eq!(errors[0].field, "template.variables.2");
    /// ```
    pub fn check(&self, message: &TemplateMessage) -> Result<(), Vec<FieldError>> {
        let field = |name: &str| format!("template.variables.{name}");
        let mut errors: Vec<FieldError> = Vec::new();
        for name in &self.variables {
            match message.variables.get(name) {
                None => errors.push(FieldError::new(field(name), "is required")),
                Some(v) if v.trim().is_empty() => {
                    errors.push(FieldError::new(field(name), "must not be blank"));
                }
                Some(v) if v.chars().count() > MAX_VARIABLE_CHARS => errors.push(FieldError::new(
                    field(name),
                    format!("must be at most {MAX_VARIABLE_CHARS} characters"),
                )),
                Some(v) if v.contains(['\n', '\t']) || v.contains("     ") => {
                    // WhatsApp refuses these inside a parameter.
                    errors.push(FieldError::new(
                        field(name),
                        "must not hold new lines, tabs or more than four spaces in a row",
                    ));
                }
                Some(_) => {}
            }
        }
        for name in message.variables.keys() {
            if !self.variables.contains(name) {
                errors.push(FieldError::new(
                    field(name),
                    "is not a variable of this template",
                ));
            }
        }
        if errors.is_empty() {
            let chars = self.render(message).chars().count();
            if chars > MAX_TEMPLATE_CHARS {
                errors.push(FieldError::new(
                    "template.variables",
                    format!(
                        "make the values shorter: the text would be {chars} characters, \
                         WhatsApp takes {MAX_TEMPLATE_CHARS}"
                    ),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The text the customer reads: the body with each placeholder replaced by its value,
    /// in one pass (a value that looks like a placeholder stays as written).
    pub fn render(&self, message: &TemplateMessage) -> String {
        let mut text = String::with_capacity(self.body.len());
        let mut last = 0;
        for (span, name) in spans(&self.body) {
            text.push_str(&self.body[last..span.start]);
            match message.variables.get(name) {
                Some(value) => text.push_str(value),
                None => text.push_str(&self.body[span.clone()]),
            }
            last = span.end;
        }
        text.push_str(&self.body[last..]);
        text
    }
}

/// Why the catalog could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The integration has no catalog of templates (an SMS channel, say).
    #[error("{0}")]
    NotSupported(String),
    /// The provider refused the integration's credentials or account: the integration
    /// needs fixing (and verifying) before its templates can be read.
    #[error("the provider refused to list the integration's templates: {0}")]
    Refused(String),
    /// The provider did not answer, or failed: trying later may work.
    #[error("the provider's template catalog is unavailable: {0}")]
    Unavailable(String),
}

/// The provider's catalog of a channel's approved templates (Twilio's Content API).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TemplateCatalog: Send + Sync {
    /// The integration's templates that WhatsApp approved, in the provider's order.
    async fn approved(
        &self,
        integration: &Integration,
        secrets: &IntegrationSecrets,
    ) -> Result<Vec<Template>, TemplateError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        Template {
            content_sid: "HX1".into(),
            name: "order_update".into(),
            language: Some("pt_BR".into()),
            category: Some("UTILITY".into()),
            variables: vec!["1".into(), "name".into()],
            body: "{{name}}, seu pedido {{1}} saiu. {{1}}!".into(),
        }
    }

    fn message(vars: &[(&str, &str)]) -> TemplateMessage {
        TemplateMessage {
            content_sid: "HX1".into(),
            variables: vars
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    #[test]
    fn a_filled_template_renders_every_placeholder() {
        let m = message(&[("1", "#42"), ("name", "Ana")]);
        assert_eq!(template().check(&m), Ok(()));
        assert_eq!(template().render(&m), "Ana, seu pedido #42 saiu. #42!");
        // One pass: a value is never read as a placeholder; spaced names are names.
        let mut spaced = template();
        spaced.body = "{{ name }}: {{1}} {{2}} {{".into();
        let m = message(&[("1", "{{name}}"), ("name", "Ana")]);
        assert_eq!(spaced.render(&m), "Ana: {{name}} {{2}} {{");
        assert_eq!(placeholders(&spaced.body), ["name", "1", "2"]);
    }

    #[test]
    fn the_filled_text_keeps_to_whatsapps_length() {
        let m = message(&[("1", &"a".repeat(MAX_VARIABLE_CHARS)), ("name", "Ana")]);
        let errors = template().check(&m).unwrap_err();
        assert_eq!(errors[0].field, "template.variables");
        let spaces = message(&[("1", "a     b"), ("name", "Ana")]);
        assert_eq!(
            template().check(&spaces).unwrap_err()[0].field,
            "template.variables.1"
        );
    }

    #[test]
    fn every_missing_unknown_or_bad_variable_is_named() {
        let errors = template()
            .check(&message(&[("name", " "), ("3", "x")]))
            .unwrap_err();
        let named: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("template.variables.1", "is required"),
                ("template.variables.name", "must not be blank"),
                ("template.variables.3", "is not a variable of this template"),
            ]
        );
        let long = "a".repeat(MAX_VARIABLE_CHARS + 1);
        let errors = template()
            .check(&message(&[("1", &long), ("name", "linha\noutra")]))
            .unwrap_err();
        assert_eq!(errors.len(), 2);
    }
}
