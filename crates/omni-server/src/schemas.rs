//! Schemas the derive cannot state, so that the document holds every rule the server
//! enforces: the text rules of the domain parsers as patterns (trimmed, no control
//! characters…), the typed configuration of each integration type, and the settings a
//! request may change.
//!
//! Patterns are written in the part of ECMA-262 (JSON Schema's dialect) that Python's `re`
//! and Rust's `regex` read the same way, so that clients, schemathesis and the tests below
//! agree on them. A parser that trims accepts whitespace around the value: so does its
//! pattern (e-mail addresses aside, see [`EMAIL`]), or the document would call `"Ana "`
//! invalid while the server takes it.

use std::borrow::Cow;

use omni_core::{DisplayName, PhoneNumber};
use omni_identity::{Password, Role};
use omni_messaging::MAX_WHATSAPP_CHARS;
use omni_tenancy::{CsatSettings, IntegrationType, Locale, Sla, Timezone, WEEKDAYS};
use omni_ticketing::{Priority, TicketStatus};
use serde_json::json;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder,
    SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// What `str::trim` removes (`char::is_whitespace`, Unicode `White_Space`), as members of
/// a character class.
macro_rules! ws {
    () => {
        r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// What `char::is_control` finds (the C0 and C1 controls), as members of a class.
macro_rules! cc {
    () => {
        r"\x00-\x1f\x7f-\x9f"
    };
}

/// The whitespace characters that are not control characters.
macro_rules! spaces {
    () => {
        r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// One character that is neither whitespace nor a control character.
macro_rules! visible {
    () => {
        concat!("[^", ws!(), cc!(), "]")
    };
}

/// A whole value: `core`, with the whitespace the parsers trim around it.
macro_rules! trimmed {
    ($($core:tt)+) => {
        concat!("^[", ws!(), "]*", $($core)+, "[", ws!(), "]*$")
    };
}

/// A text of 1 to `max` (at least 2) characters once trimmed, none of them one of `controls`:
/// [`omni_core::DisplayName`], Vera's `model`, a category's keyword, an agent's message.
/// The length is counted here, not by `maxLength`, which would count the whitespace the
/// parser trims too.
fn bounded_text(max: usize, controls: &str) -> String {
    format!(
        "{}(?:[^{controls}]{{0,{}}}{})?",
        visible!(),
        max.saturating_sub(2),
        visible!(),
    )
}

/// The control characters an agent's message may not hold: all but line breaks and tabs.
const MESSAGE_CONTROLS: &str = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f";

/// `core`, with the whitespace the parsers trim around it, as a whole value.
fn padded(core: &str) -> String {
    format!("^[{ws}]*{core}[{ws}]*$", ws = ws!())
}

/// A trimmed text of 1 to `max` characters, no control character: a display name.
pub fn plain_text(max: usize) -> String {
    padded(&bounded_text(max, cc!()))
}

/// An agent's message (`omni_messaging::MessageContent`): [`plain_text`], but line breaks
/// and tabs are allowed inside.
pub fn message_text(max: usize) -> String {
    padded(&bounded_text(max, MESSAGE_CONTROLS))
}

/// [`plain_text`], or nothing: a text filter of `GET /tickets`; unbounded without `max`.
pub fn filter_text(max: Option<usize>) -> String {
    let core = match max {
        Some(max) => bounded_text(max, cc!()),
        None => format!("{}(?:[^{}]*{})?", visible!(), cc!(), visible!()),
    };
    padded(&format!("(?:{core})?"))
}

/// An e-mail address (`omni_identity::Email`): one `@`, a dotted domain without empty
/// labels, no whitespace or control character. Unlike the parser it takes no whitespace
/// around the address: its length (254) cannot be counted in a pattern of this shape, and
/// `maxLength` would count that whitespace too.
pub const EMAIL: &str = concat!(
    "^[^@",
    ws!(),
    cc!(),
    "]+@[^@.",
    ws!(),
    cc!(),
    r"]+(?:\.[^@.",
    ws!(),
    cc!(),
    "]+)+$"
);
/// A password (`omni_identity::Password`): anything but NUL.
pub const PASSWORD: &str = r"^[^\x00]*$";
/// `me`, `none` or a user id (at most 18 digits, so that it always fits an `i64`).
pub const ASSIGNEE: &str = trimmed!("(?:me|none|[+-]?[0-9]{1,18})");
/// A Twilio account SID.
pub const ACCOUNT_SID: &str = trimmed!("AC[0-9A-Fa-f]{32}");
/// A Twilio Messaging Service SID.
pub const SERVICE_SID: &str = trimmed!("MG[0-9A-Fa-f]{32}");
/// A secret: any text with something besides whitespace in it (not anchored).
pub const SECRET: &str = concat!("[^", ws!(), "]");
/// Vera's base URL: http(s), then a host and path, at most 500 bytes once trimmed and
/// stripped of trailing `/`. The parser counts bytes, the document characters: so the
/// document names printable ASCII only, where the two agree.
pub const BASE_URL: &str = trimmed!("(?:https://[!-~]{0,491}|http://[!-~]{0,492})[!-.0-~]/*");
/// A category's name: a slug of at most 40 characters.
pub const CATEGORY_NAME: &str = trimmed!("[a-z][a-z0-9_]{0,39}");
/// The category every company keeps.
const GENERAL: &str = trimmed!("general");

/// One value of a list filter of `GET /tickets`: some of `words`, separated by commas,
/// where a part may be empty or padded with spaces (`open, pending,`). The value is
/// trimmed, and then may hold no control character.
fn word_list(words: impl IntoIterator<Item = &'static str>) -> String {
    let words: Vec<String> = words
        .into_iter()
        .map(|w| {
            w.chars()
                .flat_map(|c| {
                    let special = !(c.is_ascii_alphanumeric() || c == '_');
                    special.then_some('\\').into_iter().chain([c])
                })
                .collect()
        })
        .collect();
    let part = format!("[{}]*(?:{})?[{}]*", spaces!(), words.join("|"), spaces!());
    format!("^[{ws}]*{part}(?:,{part})*[{ws}]*$", ws = ws!())
}

/// What [`omni_messaging::https_link`] accepts (its length aside): `https://`, a host of
/// visible ASCII without `/ ? # @`, then anything visible from one of `/ ? #`.
pub const HTTPS_URL: &str = r##"^https://[!"$-.0->A-~]+(?:[/?#][!-~]*)?$"##;

/// Declares unit types whose schema is the given builder, under a component name.
macro_rules! schemas {
    ($($(#[$doc:meta])* $ty:ident = $name:literal => $schema:expr;)+) => {$(
        $(#[$doc])*
        pub struct $ty;

        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    )+};
}

/// A string of `pattern`. The lengths are given only where the pattern does not imply
/// them: a redundant `minLength` beside a bounded pattern makes schemathesis' coverage
/// phase draw bodies that are not even objects.
fn text(pattern: &str, min: Option<usize>, max: Option<usize>, about: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .min_length(min)
        .max_length(max)
        .description(Some(about))
}

fn integer(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
}

fn or_null(schema: impl Into<RefOr<Schema>>) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(schema)
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

fn reference<T: ToSchema>() -> Ref {
    Ref::from_schema_name(T::name())
}

/// Adds `T` and what it refers to, for [`ToSchema::schemas`].
fn register<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

fn nullable(kind: Type) -> SchemaType {
    [kind, Type::Null].into_iter().collect()
}

schemas! {
    /// A person's or a company's name.
    DisplayNameText = "DisplayName" => text(
        &plain_text(DisplayName::MAX_CHARS), None, None,
        "1 to 200 characters once trimmed (surrounding whitespace is), no control characters.",
    ).examples(["Ana Souza"]);
    /// An e-mail address, a user's login.
    EmailText = "Email" => text(
        EMAIL, None, Some(254),
        "`name@domain.tld`, at most 254 characters, no whitespace; stored lower-case.",
    ).examples(["ana@example.com"]);
    /// A new password.
    PasswordText = "Password" => text(
        PASSWORD, Some(Password::MIN_CHARS), Some(Password::MAX_CHARS),
        "8 to 128 characters, any but NUL; not trimmed.",
    );
    /// The text of an agent's message.
    MessageText = "MessageContent" => text(
        &message_text(MAX_WHATSAPP_CHARS), None, None,
        "1 to 1600 characters once trimmed (one WhatsApp message), no control characters \
         but line breaks and tabs.",
    ).examples(["Olá! Como posso ajudar?"]);
    /// A public file an agent attaches (`media_urls`).
    HttpsUrlText = "HttpsUrl" => text(
        HTTPS_URL, None, Some(omni_messaging::MAX_LINK_CHARS),
        "`https://`, a host, no credentials; visible ASCII only (percent-encode the rest).",
    ).examples(["https://cdn.example.com/invoice-42.pdf"]);
    /// A filter of `GET /tickets` that is free text.
    FilterText = "TextFilter" => text(
        &filter_text(None), None, None,
        "No control characters once trimmed; an empty value filters nothing.",
    );
    /// The text search of `GET /tickets`.
    SearchText = "TextSearch" => text(
        &filter_text(Some(crate::routes::tickets::MAX_QUERY_CHARS)), None, None,
        "At most 200 characters once trimmed, no control characters; an empty value \
         searches nothing.",
    );
    /// A value of the `status` filter of `GET /tickets`.
    StatusFilter = "StatusFilter" => text(
        &word_list(TicketStatus::ALL.map(TicketStatus::as_str)), None, None,
        "Statuses separated by commas (`open,pending`); empty parts are ignored.",
    );
    /// A value of the `priority` filter of `GET /tickets`.
    PriorityFilter = "PriorityFilter" => text(
        &word_list(Priority::ALL.map(Priority::as_str)), None, None,
        "Priorities separated by commas (`high,urgent`); empty parts are ignored.",
    );
    /// What `GET /tickets` may add to each ticket.
    IncludeFilter = "IncludeFilter" => text(
        &word_list([crate::routes::tickets::INCLUDE_LAST_MESSAGE]), None, None,
        "`last_message`; empty parts are ignored.",
    );
    /// The assignee filter of `GET /tickets`.
    AssigneeText = "AssigneeFilter" => text(
        ASSIGNEE, None, None,
        "`me`, `none` (unassigned) or a user id.",
    );
    /// A role a user may be given through the API.
    AssignableRole = "AssignableRole" => ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            Role::ALL.into_iter().filter(|r| *r != Role::Superadmin).map(Role::as_str),
        ))
        .description(Some("Superadmins are made with `omni-server create-superadmin` only."));
    /// The name of a secret of an integration.
    SecretNameText = "SecretName" => {
        let mut names: Vec<&str> = IntegrationType::ALL
            .into_iter()
            .flat_map(|t| t.secret_names())
            .map(|s| s.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names))
    };
}

fn secret(about: &str) -> ObjectBuilder {
    text(SECRET, None, Some(1024), about).write_only(true)
}

fn twilio_config(mode: Mode) -> ObjectBuilder {
    let sid = || text(ACCOUNT_SID, None, None, "`AC` and 32 hexadecimal digits.");
    let service = || {
        text(
            SERVICE_SID,
            None,
            None,
            "`MG` and 32 hexadecimal digits: send through this Messaging Service instead \
             of the bare number; null for none.",
        )
    };
    let object = ObjectBuilder::new()
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    match mode {
        Mode::Shown => object
            .property(
                "account_sid",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The account's SID.")),
            )
            .property("phone_number", reference::<PhoneNumber>())
            .property(
                "messaging_service_sid",
                ObjectBuilder::new()
                    .schema_type(nullable(Type::String))
                    .description(Some("The Messaging Service messages are sent through.")),
            )
            .required("account_sid")
            .required("phone_number")
            .required("messaging_service_sid"),
        Mode::Created => object
            .property("account_sid", sid())
            .property(
                "auth_token",
                secret("The account's auth token (write-only, at most 1024 bytes)."),
            )
            .property("phone_number", reference::<PhoneNumber>())
            .property("messaging_service_sid", or_null(service()))
            .required("account_sid")
            .required("auth_token")
            .required("phone_number"),
        Mode::Changed => object
            .property("account_sid", sid())
            .property(
                "auth_token",
                or_null(secret(
                    "A new auth token; omitted or null keeps the current one, but a new \
                     `account_sid` needs it again.",
                )),
            )
            .property("phone_number", reference::<PhoneNumber>())
            .property("messaging_service_sid", or_null(service())),
    }
}

fn vera_config(mode: Mode) -> ObjectBuilder {
    let base_url = || {
        text(
            BASE_URL,
            None,
            None,
            "An http(s) URL of at most 500 characters (printable ASCII); trailing `/` are \
             dropped.",
        )
        .examples(["https://vera.example.com/v1"])
    };
    let model = || {
        text(
            &plain_text(200),
            None,
            None,
            "The model to ask: 1 to 200 characters.",
        )
    };
    let timeout = || {
        integer(100, 60_000).description(Some(
            "How long one request may take, in ms (10000 when omitted).",
        ))
    };
    let object = ObjectBuilder::new()
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    match mode {
        Mode::Shown => object
            .property("base_url", ObjectBuilder::new().schema_type(Type::String))
            .property("model", ObjectBuilder::new().schema_type(Type::String))
            .property("timeout_ms", integer(100, 60_000))
            .required("base_url")
            .required("model")
            .required("timeout_ms"),
        Mode::Created => object
            .property("base_url", base_url())
            .property(
                "api_key",
                secret("The API key (write-only, at most 1024 bytes)."),
            )
            .property("model", model())
            .property("timeout_ms", or_null(timeout()))
            .required("base_url")
            .required("api_key")
            .required("model"),
        Mode::Changed => object
            .property("base_url", base_url())
            .property(
                "api_key",
                or_null(secret(
                    "A new API key; omitted or null keeps the current one, but a new \
                     `base_url` needs it again.",
                )),
            )
            .property("model", model())
            .property("timeout_ms", or_null(timeout())),
    }
}

/// Which side of the API a configuration schema describes.
#[derive(Clone, Copy)]
enum Mode {
    /// In answers: the stored, non-secret fields.
    Shown,
    /// In `POST /integrations`: every required field, secrets included.
    Created,
    /// In `PUT /integrations/{id}`: the fields to change.
    Changed,
}

/// The `type` values of one shape of configuration.
fn types(twilio: bool) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            IntegrationType::ALL
                .into_iter()
                .filter(|t| t.has_phone_number() == twilio)
                .map(IntegrationType::as_str),
        ))
}

fn create_integration<C: ToSchema>(twilio: bool, about: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .description(Some(about))
        .property("type", types(twilio))
        .property("config", reference::<C>())
        .property(
            "enabled",
            ObjectBuilder::new()
                .schema_type(nullable(Type::Boolean))
                .description(Some("Whether it starts enabled (default true).")),
        )
        .property(
            "company_id",
            ObjectBuilder::new()
                .schema_type(nullable(Type::Integer))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .description(Some("The company (superadmin only).")),
        )
        .required("type")
        .required("config")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
}

schemas! {
    /// A Twilio integration's configuration as shown (the auth token never is).
    TwilioConfigShown = "TwilioConfig" => twilio_config(Mode::Shown)
        .description(Some("`twilio_whatsapp` and `twilio_sms`: the account and its number."));
    /// A Vera AI integration's configuration as shown (the API key never is).
    VeraConfigShown = "VeraConfig" => vera_config(Mode::Shown)
        .description(Some("`vera_ai`: where triage asks, and how long it waits."));
    /// A new Twilio integration's configuration.
    TwilioConfigInput = "TwilioConfigInput" => twilio_config(Mode::Created)
        .description(Some("A new `twilio_whatsapp` or `twilio_sms` integration's configuration."));
    /// A new Vera AI integration's configuration.
    VeraConfigInput = "VeraConfigInput" => vera_config(Mode::Created)
        .description(Some("A new `vera_ai` integration's configuration."));
    /// Changes to a Twilio integration's configuration.
    TwilioConfigPatch = "TwilioConfigPatch" => twilio_config(Mode::Changed)
        .description(Some("Fields of a Twilio integration's configuration to change."));
    /// Changes to a Vera AI integration's configuration.
    VeraConfigPatch = "VeraConfigPatch" => vera_config(Mode::Changed)
        .description(Some("Fields of a Vera AI integration's configuration to change."));
    /// `POST /integrations` for a Twilio channel.
    CreateTwilioIntegration = "CreateTwilioIntegration" =>
        create_integration::<TwilioConfigInput>(true, "A WhatsApp or SMS channel through Twilio.");
    /// `POST /integrations` for Vera AI.
    CreateVeraIntegration = "CreateVeraIntegration" =>
        create_integration::<VeraConfigInput>(false, "Vera AI, for triage.");
}

/// The non-secret configuration of an integration, of its type's shape.
pub struct IntegrationConfigShown;

impl PartialSchema for IntegrationConfigShown {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(reference::<TwilioConfigShown>())
            .item(reference::<VeraConfigShown>())
            .description(Some(
                "The non-secret configuration, of the integration type's shape.",
            ))
            .into()
    }
}

impl ToSchema for IntegrationConfigShown {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("IntegrationConfig")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        register::<TwilioConfigShown>(schemas);
        register::<VeraConfigShown>(schemas);
        register::<PhoneNumber>(schemas);
    }
}

/// Fields to change of an integration's configuration: those of its type. Both shapes
/// accept `{}`, so the document offers either (`anyOf`); the stored type decides.
pub struct IntegrationConfigPatch;

impl PartialSchema for IntegrationConfigPatch {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(reference::<TwilioConfigPatch>())
            .item(reference::<VeraConfigPatch>())
            .description(Some(
                "Fields of the configuration to change, of the integration type's shape; \
                 the others keep their value.",
            ))
            .into()
    }
}

impl ToSchema for IntegrationConfigPatch {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("IntegrationConfigPatch")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        register::<TwilioConfigPatch>(schemas);
        register::<VeraConfigPatch>(schemas);
        register::<PhoneNumber>(schemas);
    }
}

/// `POST /integrations`: the `type` decides the shape of `config`.
pub fn create_integration_request() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(reference::<CreateTwilioIntegration>())
        .item(reference::<CreateVeraIntegration>())
        .description(Some(
            "`POST /integrations`: the type, and the configuration of its shape, secrets \
             included (they are write-only).",
        ))
        .into()
}

/// The components [`create_integration_request`] refers to.
pub fn create_integration_schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    register::<CreateTwilioIntegration>(schemas);
    register::<CreateVeraIntegration>(schemas);
    register::<TwilioConfigInput>(schemas);
    register::<VeraConfigInput>(schemas);
    register::<PhoneNumber>(schemas);
}

fn category_input() -> ObjectBuilder {
    ObjectBuilder::new()
        .property(
            "name",
            text(
                CATEGORY_NAME,
                None,
                None,
                "A slug: 1 to 40 lower-case letters, digits or `_`, starting with a letter; \
                 unique within the list.",
            ),
        )
        .property(
            "keywords",
            ArrayBuilder::new()
                .items(text(
                    &plain_text(64),
                    None,
                    None,
                    "1 to 64 characters, no control characters.",
                ))
                .max_items(Some(200))
                .description(Some(
                    "Words and phrases that suggest this category, in addition to the \
                     built-in ones (repeats are dropped).",
                )),
        )
        .required("name")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
}

/// A company's settings to change (`omni_tenancy::SettingsPatch`), with the rules
/// `CompanySettings::apply` checks.
pub struct SettingsPatchInput;

impl PartialSchema for SettingsPatchInput {
    fn schema() -> RefOr<Schema> {
        // utoipa has no `contains`; extensions are written as keywords of the schema.
        let mut must_hold_general = Extensions::default();
        must_hold_general.insert(
            "contains".into(),
            json!({"type": "object", "properties": {"name": {"pattern": GENERAL}}, "required": ["name"]}),
        );
        let categories = ArrayBuilder::new()
            .items(category_input())
            .min_items(Some(1))
            .max_items(Some(50))
            .extensions(Some(must_hold_general))
            .description(Some(
                "The complete new list: 1 to 50 categories, `general` among them.",
            ));
        ObjectBuilder::new()
            .description(Some(
                "Settings to change; omitted or null ones keep their value.",
            ))
            .property("locale", or_null(reference::<Locale>()))
            .property(
                "auto_reply",
                ObjectBuilder::new()
                    .schema_type(nullable(Type::Boolean))
                    .description(Some(
                        "Whether triage answers a new ticket automatically until an agent does.",
                    )),
            )
            .property("categories", or_null(categories))
            .property("timezone", or_null(reference::<Timezone>()))
            .property("business_hours", or_null(business_hours_input()))
            .property("sla", or_null(sla_input()))
            .property("csat", or_null(csat_input()))
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
            .into()
    }
}

/// The pattern of a weekday's opening time (`BusinessHours::parse`).
pub const OPENS: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";
/// The pattern of a weekday's closing time: `24:00` closes at midnight.
pub const CLOSES: &str = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$";

fn business_hours_input() -> ObjectBuilder {
    let day = || {
        ObjectBuilder::new()
            .property("start", text(OPENS, None, None, "Opens, HH:MM."))
            .property(
                "end",
                text(
                    CLOSES,
                    None,
                    None,
                    "Closes, HH:MM, after `start`; 24:00 is midnight.",
                ),
            )
            .required("start")
            .required("end")
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
    };
    let mut hours = ObjectBuilder::new().description(Some(
        "The complete new business hours, per weekday in the company's time zone; a weekday \
         left out is closed, `{}` removes them. Each day's end is after its start.",
    ));
    for weekday in WEEKDAYS {
        hours = hours.property(weekday, day());
    }
    hours.additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
}

fn sla_input() -> ObjectBuilder {
    let minutes = || integer(1, i64::from(Sla::MAX_MINUTES)).schema_type(nullable(Type::Integer));
    let target = || {
        ObjectBuilder::new()
            .property("first_response_minutes", minutes())
            .property("resolution_minutes", minutes())
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
    };
    let mut sla = ObjectBuilder::new().description(Some(
        "The complete new targets per priority, in minutes (business hours when set); `{}` \
         removes them.",
    ));
    for priority in Priority::ALL {
        sla = sla.property(priority.as_str(), target());
    }
    sla.additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
}

fn csat_input() -> ObjectBuilder {
    ObjectBuilder::new()
        .description(Some(
            "Whether a resolved ticket's customer is asked to rate the service, and the \
             question (`null`: Omni's own words in the company's locale).",
        ))
        .property("enabled", ObjectBuilder::new().schema_type(Type::Boolean))
        .property(
            "question",
            text(
                &message_text(CsatSettings::MAX_QUESTION_CHARS),
                None,
                None,
                "1 to 1000 characters once trimmed; line breaks and tabs allowed.",
            )
            .schema_type(nullable(Type::String)),
        )
        .required("enabled")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
}

impl ToSchema for SettingsPatchInput {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SettingsPatch")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        register::<Locale>(schemas);
        register::<Timezone>(schemas);
    }
}

#[cfg(test)]
mod tests {
    use omni_identity::Email;
    use omni_messaging::MessageContent;
    use omni_tenancy::{IntegrationConfig, SettingsPatch};
    use regex::Regex;
    use serde_json::Value;

    use super::*;

    /// Every string of up to three characters of `alphabet`, and the longer `extra` ones.
    fn corpus(alphabet: &[char], extra: &[String]) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..3 {
            last = last
                .iter()
                .flat_map(|s| {
                    alphabet.iter().map(move |c| {
                        let mut s = s.clone();
                        s.push(*c);
                        s
                    })
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all.extend(extra.iter().cloned());
        all
    }

    /// Whitespace and controls of every kind the patterns name, and ordinary characters.
    const TRICKY: &[char] = &[
        'a', 'É', '😀', ' ', '\t', '\n', '\r', '\u{0}', '\u{1f}', '\u{7f}', '\u{85}', '\u{9f}',
        '\u{a0}', '\u{2028}', '\u{3000}', '\u{200b}',
    ];

    /// The pattern and the length bound (in characters) accept exactly what `parser`
    /// accepts.
    fn agrees(pattern: &str, max_chars: usize, corpus: &[String], parser: impl Fn(&str) -> bool) {
        let re = Regex::new(pattern).unwrap();
        for s in corpus {
            let documented = re.is_match(s) && s.chars().count() <= max_chars;
            assert_eq!(documented, parser(s), "{pattern} on {s:?}");
        }
    }

    /// Whatever the pattern and the bound accept, `parser` accepts too (the document may be
    /// stricter where JSON Schema cannot say what the parser does).
    fn within(pattern: &str, max_chars: usize, corpus: &[String], parser: impl Fn(&str) -> bool) {
        let re = Regex::new(pattern).unwrap();
        for s in corpus {
            if re.is_match(s) && s.chars().count() <= max_chars {
                assert!(parser(s), "{pattern} on {s:?}");
            }
        }
    }

    const ANY: usize = usize::MAX;

    #[test]
    fn the_link_pattern_accepts_what_the_link_check_accepts() {
        let tails: Vec<String> = corpus(&['a', '/', '?', '#', '@', ' ', 'é', '\u{7f}', ':'], &[])
            .into_iter()
            .collect();
        let mut links: Vec<String> = tails
            .iter()
            .flat_map(|t| {
                [
                    format!("https://{t}"),
                    format!("https://cdn.example{t}"),
                    format!("http://cdn.example{t}"),
                    format!("HTTPS://x{t}"),
                ]
            })
            .collect();
        links.push(format!("https://x.example/{}", "a".repeat(2048 - 18)));
        links.push(format!("https://x.example/{}", "a".repeat(2048 - 17)));
        agrees(HTTPS_URL, omni_messaging::MAX_LINK_CHARS, &links, |s| {
            omni_messaging::https_link(s).is_ok()
        });
    }

    #[test]
    fn text_patterns_accept_what_the_parsers_accept() {
        let long = vec![
            "é".repeat(200),
            "é".repeat(201),
            format!(" {}\t", "é".repeat(200)),
            format!("{}\n", "é".repeat(1600)),
            "é".repeat(1601),
            format!("a\n{}", "é".repeat(198)),
        ];
        let names = corpus(TRICKY, &long);
        agrees(&plain_text(200), ANY, &names, |s| {
            DisplayName::parse(s).is_ok()
        });
        agrees(&message_text(1600), ANY, &names, |s| {
            MessageContent::parse(s).is_ok()
        });
        let passwords: Vec<String> = names.iter().map(|s| format!("{s}password")).collect();
        agrees(PASSWORD, 128, &passwords, |s| Password::parse(s).is_ok());
        let emails = corpus(
            &['a', '@', '.', ' ', '\t', 'É', '\u{0}', '\u{3000}'],
            &[
                " a@b.c ".into(),
                "a.b@c.d.e".into(),
                "a@@b.c".into(),
                "a@b..c".into(),
                format!("{}@b.c", "a".repeat(250)),
                format!("{}@b.c", "a".repeat(251)),
            ],
        );
        // The document leaves out the whitespace the parser trims around an address.
        let (bare, padded): (Vec<String>, Vec<String>) =
            emails.into_iter().partition(|s| s.trim() == s);
        agrees(EMAIL, 254, &bare, |s| Email::parse(s).is_ok());
        within(EMAIL, 254, &padded, |s| Email::parse(s).is_ok());
    }

    /// The filters of `GET /tickets` refuse control characters once trimmed; the search,
    /// more than 200 characters.
    #[test]
    fn the_filter_pattern_allows_what_the_list_allows() {
        let filter = Regex::new(&filter_text(None)).unwrap();
        let search = Regex::new(&filter_text(Some(200))).unwrap();
        let long = [
            "x".repeat(200),
            "x".repeat(201),
            format!("\t{} ", "x".repeat(200)),
        ];
        for s in corpus(TRICKY, &long) {
            let allowed = !s.trim().chars().any(char::is_control);
            assert_eq!(filter.is_match(&s), allowed, "{s:?}");
            let searchable = allowed && s.trim().chars().count() <= 200;
            assert_eq!(search.is_match(&s), searchable, "{s:?}");
        }
        let assignee = Regex::new(ASSIGNEE).unwrap();
        for (s, ok) in [("me", true), (" none ", true), ("42", true), ("-1", true)] {
            assert_eq!(assignee.is_match(s), ok, "{s}");
        }
        for s in ["", "bob", "1.5", &"9".repeat(19)] {
            assert!(!assignee.is_match(s), "{s}");
        }
    }

    fn config_field(kind: IntegrationType, base: Value, field: &str, value: &str) -> bool {
        let mut config = base;
        config[field] = Value::String(value.to_owned());
        match IntegrationConfig::parse(kind, &config, None) {
            Ok(_) => true,
            Err(errors) => !errors.iter().any(|e| e.field == format!("config.{field}")),
        }
    }

    #[test]
    fn integration_patterns_accept_what_the_config_parser_accepts() {
        let sid = format!("AC{}", "0a".repeat(16));
        let twilio = json!({"account_sid": sid, "auth_token": "t", "phone_number": "+14155238886"});
        let vera = json!({"base_url": "https://vera.test", "api_key": "k", "model": "m"});
        let sids = corpus(
            &['A', 'C', 'M', 'G', 'f', ' '],
            &[
                sid.clone(),
                format!(" {sid}\n"),
                format!("AC{}", "F".repeat(32)),
                format!("AC{}", "g".repeat(32)),
                format!("MG{}", "0".repeat(32)),
                format!("AC{}", "0".repeat(31)),
            ],
        );
        let kind = IntegrationType::TwilioSms;
        agrees(ACCOUNT_SID, 100, &sids, |s| {
            config_field(kind, twilio.clone(), "account_sid", s)
        });
        agrees(SERVICE_SID, 100, &sids, |s| {
            config_field(kind, twilio.clone(), "messaging_service_sid", s)
        });
        let secrets = corpus(TRICKY, &[]);
        agrees(SECRET, 1024, &secrets, |s| {
            config_field(kind, twilio.clone(), "auth_token", s)
        });
        let mut urls: Vec<String> = [
            "https://a",
            "http://a/",
            "https://",
            "https:///",
            "https:///a",
            "ftp://a",
            " https://a/b// ",
            "https://a b",
            "https://a\u{0}",
            "HTTPS://a",
            "https://\u{3000}",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        for (scheme, room) in [("https://", 492), ("http://", 493)] {
            urls.push(format!("{scheme}{}", "a".repeat(room)));
            urls.push(format!("{scheme}{}", "a".repeat(room + 1)));
            urls.push(format!("\t{scheme}{}/// ", "a".repeat(room)));
        }
        let kind = IntegrationType::VeraAi;
        agrees(BASE_URL, ANY, &urls, |s| {
            config_field(kind, vera.clone(), "base_url", s)
        });
        // The parser counts bytes: the document names ASCII URLs only, where they agree.
        let wide = [
            "https://é".to_owned(),
            format!("https://{}", "é".repeat(300)),
        ];
        within(BASE_URL, ANY, &wide, |s| {
            config_field(kind, vera.clone(), "base_url", s)
        });
        let models = corpus(TRICKY, &["é".repeat(200), "é".repeat(201)]);
        agrees(&plain_text(200), ANY, &models, |s| {
            config_field(kind, vera.clone(), "model", s)
        });
    }

    #[test]
    fn config_schemas_name_the_fields_the_parser_knows() {
        for (kind, schema) in [
            (IntegrationType::TwilioWhatsapp, TwilioConfigPatch::schema()),
            (IntegrationType::VeraAi, VeraConfigPatch::schema()),
        ] {
            let schema = serde_json::to_value(schema).unwrap();
            let fields = schema["properties"].as_object().unwrap();
            for field in fields.keys() {
                let errors = IntegrationConfig::parse(kind, &json!({field: null}), None)
                    .err()
                    .unwrap_or_default();
                assert!(
                    !errors
                        .iter()
                        .any(|e| e.message.starts_with("is not a field")),
                    "{kind}: {field}"
                );
            }
            let names: Vec<&str> = kind.secret_names().iter().map(|s| s.as_str()).collect();
            assert!(names.iter().all(|n| fields.contains_key(*n)), "{kind}");
        }
    }

    #[test]
    fn settings_patterns_accept_what_the_settings_accept() {
        let names = corpus(
            &['a', 'z', '0', '_', 'A', ' ', '-', '\t'],
            &["a".repeat(40), "a".repeat(41), " general ".into()],
        );
        let settings = omni_tenancy::CompanySettings::default();
        agrees(CATEGORY_NAME, 100, &names, |s| {
            let patch: SettingsPatch = serde_json::from_value(json!({"categories": [
                {"name": s}, {"name": if s.trim() == "general" { "other" } else { "general" }}
            ]}))
            .unwrap();
            settings.apply(patch).is_ok()
        });
        let keywords = corpus(TRICKY, &["é".repeat(64), "é".repeat(65)]);
        agrees(&plain_text(64), ANY, &keywords, |k| {
            let patch: SettingsPatch = serde_json::from_value(json!({"categories": [
                {"name": "general", "keywords": [k]}
            ]}))
            .unwrap();
            settings.apply(patch).is_ok()
        });
        let general = Regex::new(GENERAL).unwrap();
        assert!(general.is_match(" general\t") && !general.is_match("generals"));
    }

    #[test]
    fn business_hours_and_survey_patterns_accept_what_the_settings_accept() {
        let settings = omni_tenancy::CompanySettings::default();
        let mut times: Vec<String> = (0..=25)
            .flat_map(|h| [0, 1, 30, 59, 60].map(|m| format!("{h:02}:{m:02}")))
            .collect();
        times.extend(["9:00", "09:0", " 09:00", "0900", "٠٩:٠٠", "24:00 ", ""].map(String::from));
        // Each side checked with a partner that is always valid.
        agrees(OPENS, ANY, &times, |t| {
            let patch: SettingsPatch = serde_json::from_value(
                json!({"business_hours": {"monday": {"start": t, "end": "24:00"}}}),
            )
            .unwrap();
            settings.apply(patch).is_ok()
        });
        agrees(CLOSES, ANY, &times, |t| {
            let patch: SettingsPatch = serde_json::from_value(
                json!({"business_hours": {"monday": {"start": "00:00", "end": t}}}),
            )
            .unwrap();
            settings.apply(patch).is_ok() || t == "00:00" // closing at its own opening
        });
        let questions = corpus(TRICKY, &["é".repeat(1000), "é".repeat(1001)]);
        agrees(
            &message_text(CsatSettings::MAX_QUESTION_CHARS),
            ANY,
            &questions,
            |q| {
                let patch: SettingsPatch =
                    serde_json::from_value(json!({"csat": {"enabled": true, "question": q}}))
                        .unwrap();
                settings.apply(patch).is_ok()
            },
        );
    }
}
