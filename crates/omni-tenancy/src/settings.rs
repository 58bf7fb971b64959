use std::collections::BTreeMap;

use omni_core::{FieldError, Priority};
use serde::{Deserialize, Serialize};

use crate::{BusinessHours, DayHoursInput, Sla, SlaTarget, Timezone};

omni_core::wire_enum! {
    /// The language Omni speaks to a company's customers (auto-replies, triage).
    pub enum Locale, error UnknownLocale {
        /// Portuguese (Brazil).
        PtBr => "pt-BR",
        /// English.
        En => "en",
    }
}

/// A category tickets are sorted into, with words that point to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Category {
    /// A slug: lower-case letters, digits and `_`, starting with a letter (`billing`).
    pub name: String,
    /// Words and phrases that suggest this category, in addition to the built-in ones.
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// How a company wants Omni to behave. Fields missing from storage take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompanySettings {
    /// The customers' language.
    pub locale: Locale,
    /// Whether triage answers a new ticket automatically until an agent does.
    pub auto_reply: bool,
    /// The categories of the company's tickets; always includes `general`.
    pub categories: Vec<Category>,
    /// Where the company is: reports count its days, weeks and months there.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "America/Sao_Paulo"))]
    pub timezone: Timezone,
    /// When the company answers, per weekday (`monday` … `sunday`, each `{start, end}` as
    /// `HH:MM`); a weekday left out is closed. Empty: no business hours.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, DayHoursInput>))]
    pub business_hours: BusinessHours,
    /// Targets per priority (`low` … `urgent`); empty: none.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, SlaTarget>))]
    pub sla: Sla,
    /// The satisfaction question asked when a ticket is resolved.
    pub csat: CsatSettings,
}

/// Whether Omni asks customers how they were served once their ticket is resolved, and
/// in which words.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CsatSettings {
    /// Ask.
    pub enabled: bool,
    /// The question; `null` asks in the company's locale with Omni's own words, which
    /// tell the customer to answer 1 to 5.
    #[serde(default)]
    pub question: Option<String>,
}

impl CsatSettings {
    /// Longest question, in characters: it goes out as one WhatsApp message.
    pub const MAX_QUESTION_CHARS: usize = 1000;

    /// The question as it goes out to a customer of a company speaking `locale`.
    pub fn question_in(&self, locale: Locale) -> &str {
        match (&self.question, locale) {
            (Some(q), _) => q,
            (None, Locale::PtBr) => {
                "Como você avalia o nosso atendimento? Responda com uma nota de 1 (péssimo) a 5 (ótimo) e, se quiser, um comentário."
            }
            (None, Locale::En) => {
                "How would you rate our service? Reply with a score from 1 (terrible) to 5 (excellent) and, if you like, a comment."
            }
        }
    }

    fn checked(self) -> Result<Self, Vec<FieldError>> {
        let question = self.question.map(|q| q.trim().to_owned());
        if let Some(q) = &question {
            let chars = q.chars().count();
            if chars == 0
                || chars > Self::MAX_QUESTION_CHARS
                || q.chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            {
                return Err(vec![FieldError::new(
                    "settings.csat.question",
                    format!(
                        "must be 1 to {} characters without control characters other than line breaks and tabs",
                        Self::MAX_QUESTION_CHARS
                    ),
                )]);
            }
        }
        Ok(Self {
            enabled: self.enabled,
            question,
        })
    }
}

/// The category every company has: where anything else lands.
pub const GENERAL: &str = "general";

/// The categories a new company starts with; the built-in triage engine knows their words
/// in Portuguese and English.
const DEFAULT_CATEGORIES: [&str; 7] = [
    "billing",
    "technical_support",
    "orders_delivery",
    "cancellation",
    "complaint",
    "sales",
    GENERAL,
];

impl Default for CompanySettings {
    fn default() -> Self {
        Self {
            locale: Locale::PtBr,
            auto_reply: true,
            categories: DEFAULT_CATEGORIES
                .iter()
                .map(|name| Category {
                    name: (*name).to_owned(),
                    keywords: Vec::new(),
                })
                .collect(),
            timezone: Timezone::DEFAULT,
            business_hours: BusinessHours::default(),
            sla: Sla::default(),
            csat: CsatSettings::default(),
        }
    }
}

/// Partial settings from a request; `None` keeps the current value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsPatch {
    /// A new locale.
    pub locale: Option<Locale>,
    /// Switch auto-reply.
    pub auto_reply: Option<bool>,
    /// The complete new list of categories.
    pub categories: Option<Vec<Category>>,
    /// A new time zone.
    pub timezone: Option<Timezone>,
    /// The complete new business hours; `{}` removes them.
    pub business_hours: Option<BTreeMap<String, DayHoursInput>>,
    /// The complete new SLA targets; `{}` removes them.
    pub sla: Option<BTreeMap<Priority, SlaTarget>>,
    /// The complete new satisfaction-survey settings.
    pub csat: Option<CsatSettings>,
}

impl CompanySettings {
    /// Most categories a company may have.
    pub const MAX_CATEGORIES: usize = 50;
    /// Most keywords per category.
    pub const MAX_KEYWORDS: usize = 200;

    /// These settings with `patch` applied, checked; each bad field is reported.
    pub fn apply(&self, patch: SettingsPatch) -> Result<CompanySettings, Vec<FieldError>> {
        let mut next = self.clone();
        if let Some(locale) = patch.locale {
            next.locale = locale;
        }
        if let Some(auto_reply) = patch.auto_reply {
            next.auto_reply = auto_reply;
        }
        let mut errors = Vec::new();
        if let Some(categories) = patch.categories {
            match normalise_categories(categories) {
                Ok(categories) => next.categories = categories,
                Err(e) => errors.extend(e),
            }
        }
        if let Some(timezone) = patch.timezone {
            next.timezone = timezone;
        }
        if let Some(hours) = patch.business_hours {
            match BusinessHours::parse(&hours, "settings.business_hours") {
                Ok(hours) => next.business_hours = hours,
                Err(e) => errors.extend(e),
            }
        }
        if let Some(sla) = patch.sla {
            match Sla::parse(sla, "settings.sla") {
                Ok(sla) => next.sla = sla,
                Err(e) => errors.extend(e),
            }
        }
        if let Some(csat) = patch.csat {
            match csat.checked() {
                Ok(csat) => next.csat = csat,
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(next)
        } else {
            Err(errors)
        }
    }

    /// Whether reports computed under `before` count differently under these settings:
    /// their days lie in another zone, or business hours or targets changed.
    pub fn reports_differ_from(&self, before: &CompanySettings) -> bool {
        self.timezone != before.timezone
            || self.business_hours != before.business_hours
            || self.sla != before.sla
    }

    /// Whether `name` is one of the company's categories.
    pub fn has_category(&self, name: &str) -> bool {
        self.categories.iter().any(|c| c.name == name)
    }
}

fn normalise_categories(categories: Vec<Category>) -> Result<Vec<Category>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if categories.is_empty() || categories.len() > CompanySettings::MAX_CATEGORIES {
        errors.push(FieldError::new(
            "settings.categories",
            format!(
                "must hold 1 to {} categories",
                CompanySettings::MAX_CATEGORIES
            ),
        ));
    }
    let mut out: Vec<Category> = Vec::with_capacity(categories.len());
    for (i, category) in categories.into_iter().enumerate() {
        let field = format!("settings.categories[{i}]");
        let name = category.name.trim().to_owned();
        if !is_slug(&name) {
            errors.push(FieldError::new(
                format!("{field}.name"),
                "must be 1 to 40 lower-case letters, digits or _, starting with a letter",
            ));
        } else if out.iter().any(|c| c.name == name) {
            errors.push(FieldError::new(
                format!("{field}.name"),
                format!("`{name}` appears twice"),
            ));
        }
        if category.keywords.len() > CompanySettings::MAX_KEYWORDS {
            errors.push(FieldError::new(
                format!("{field}.keywords"),
                format!("at most {} keywords", CompanySettings::MAX_KEYWORDS),
            ));
        }
        let mut keywords = Vec::with_capacity(category.keywords.len());
        for (j, keyword) in category.keywords.into_iter().enumerate() {
            let keyword = keyword.trim().to_owned();
            let chars = keyword.chars().count();
            if chars == 0 || chars > 64 || keyword.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    format!("{field}.keywords[{j}]"),
                    "must be 1 to 64 characters without control characters",
                ));
            } else if !keywords.contains(&keyword) {
                keywords.push(keyword);
            }
        }
        out.push(Category { name, keywords });
    }
    if !out.iter().any(|c| c.name == GENERAL) {
        errors.push(FieldError::new(
            "settings.categories",
            "must include `general`, where tickets of no other category go",
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn is_slug(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 40
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category(name: &str, keywords: &[&str]) -> Category {
        Category {
            name: name.into(),
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    #[test]
    fn defaults_are_complete_and_stored_gaps_take_them() {
        let d = CompanySettings::default();
        assert_eq!(d.locale, Locale::PtBr);
        assert!(d.auto_reply);
        assert!(d.has_category("billing") && d.has_category(GENERAL));
        let partial: CompanySettings = serde_json::from_str(r#"{"locale": "en"}"#).unwrap();
        assert_eq!(partial.locale, Locale::En);
        assert_eq!(partial.categories, d.categories);
        assert_eq!(
            serde_json::to_value(&d).unwrap()["categories"][0],
            serde_json::json!({"name": "billing", "keywords": []})
        );
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let d = CompanySettings::default();
        let next = d
            .apply(SettingsPatch {
                auto_reply: Some(false),
                ..SettingsPatch::default()
            })
            .unwrap();
        assert!(!next.auto_reply);
        assert_eq!(next.locale, d.locale);
        let next = d
            .apply(SettingsPatch {
                categories: Some(vec![
                    category(" vip ", &[" ouro ", "ouro", "gold"]),
                    category("general", &[]),
                ]),
                ..SettingsPatch::default()
            })
            .unwrap();
        assert_eq!(next.categories[0], category("vip", &["ouro", "gold"]));
    }

    #[test]
    fn bad_categories_are_each_reported() {
        let errors = CompanySettings::default()
            .apply(SettingsPatch {
                categories: Some(vec![
                    category("Bad Name", &[]),
                    category("vip", &[""]),
                    category("vip", &[]),
                ]),
                ..SettingsPatch::default()
            })
            .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "settings.categories[0].name",
                "settings.categories[1].keywords[0]",
                "settings.categories[2].name",
                "settings.categories"
            ]
        );
        assert!(
            CompanySettings::default()
                .apply(SettingsPatch {
                    categories: Some(vec![]),
                    ..SettingsPatch::default()
                })
                .is_err()
        );
    }
}
