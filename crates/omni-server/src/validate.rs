//! Request bodies: parsed with field paths (serde_path_to_error), then checked with garde.
//! Every way a body can be wrong answers problem+json; a 422 names each bad field.

use std::str::FromStr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use omni_core::FieldError;
use serde::Deserialize as _;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::extract::JSON_LIMIT;

/// A JSON body that deserialised and passed its garde rules.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T> FromRequest for ValidJson<T>
where
    T: DeserializeOwned + garde::Validate<Context = ()> + 'static,
{
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType(
                    "the body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            let body =
                body.await
                    .map_err(|e| match e.as_response_error().status_code().as_u16() {
                        413 => ApiError::PayloadTooLarge(format!(
                            "the request body is larger than the {}-byte limit",
                            crate::extract::JSON_LIMIT
                        )),
                        _ => ApiError::BadRequest(format!("cannot read the body: {e}")),
                    })?;
            let value = parse::<T>(&body)?;
            value.validate().map_err(|report| {
                ApiError::Validation(
                    report
                        .iter()
                        .map(|(path, error)| {
                            // garde names a raw identifier `r#type`; the client sent `type`.
                            FieldError::new(path.to_string().replace("r#", ""), error.message())
                        })
                        .collect(),
                )
            })?;
            Ok(ValidJson(value))
        })
    }
}

/// Payload settings for [`ValidJson`] bodies: larger ones are refused with 413.
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(JSON_LIMIT)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut json = serde_json::Value::deserialize(&mut de).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not valid JSON: {}",
            without_position(&e)
        ))
    })?;
    de.end()
        .map_err(|_| ApiError::BadRequest("the body holds more than one JSON value".into()))?;
    // serde reads a struct from an array of its fields too (`[null, null]`); every body
    // of this API is an object, and positional fields would be a trap for clients: the
    // body here, any struct inside it through `Strict`.
    if !json.is_object() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    integral_numbers_as_integers(&mut json);
    serde_path_to_error::deserialize(crate::strict_json::Strict(json)).map_err(|e| {
        let path = e.path().to_string();
        ApiError::Validation(vec![field_error(&path, &without_position(e.inner()))])
    })
}

/// serde_json appends "at line 1 column 17": the client needs the field, not that.
fn without_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    message
        .split(" at line ")
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// JSON Schema counts `4385.0` as an integer (a number whose fraction is zero), and so
/// does the document; serde would refuse it for an `i64`. Such numbers become integers
/// before the body is read, wherever they are (an integration's `config` too).
fn integral_numbers_as_integers(json: &mut serde_json::Value) {
    use serde_json::Value;
    match json {
        Value::Number(n) if n.is_f64() => {
            // Every f64 in (-2^63, 2^63) with no fraction is an exact i64; larger ones stay
            // numbers the fields refuse as out of range.
            const LIMIT: f64 = 9_223_372_036_854_775_808.0;
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < LIMIT) {
                #[allow(
                    clippy::cast_possible_truncation,
                    reason = "the value is integral and within i64's range"
                )]
                let integer = f as i64;
                *json = Value::from(integer);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

/// Names the field of a serde error: from the path (which already ends with an unknown
/// field's name), or from a "missing field `x`" message, reported at the enclosing object.
fn field_error(path: &str, message: &str) -> FieldError {
    let named = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))
        .and_then(|rest| rest.split('`').next());
    let prefix = if path == "." { "" } else { path };
    match named {
        Some(name) if message.starts_with("unknown") => {
            let field = if prefix.is_empty() {
                name.to_owned()
            } else {
                prefix.to_owned()
            };
            FieldError::new(field, "is not a field of this request")
        }
        Some(name) => FieldError::new(join(prefix, name), "is required"),
        None if prefix.is_empty() => FieldError::new("body", plain(message)),
        None => FieldError::new(prefix, plain(message)),
    }
}

/// serde's "invalid type: sequence, expected struct SettingsPatch" in the client's words:
/// what the field must be, without Omni's type names.
fn plain(message: &str) -> String {
    let Some(expected) = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
        .map(|(_, expected)| expected)
    else {
        return message.to_owned();
    };
    let words = if expected.starts_with("struct ")
        || expected.contains("map")
        || expected.contains("object")
    {
        "a JSON object"
    } else if expected.contains("sequence") || expected.starts_with("a list") {
        "a JSON array"
    } else if expected.contains("string") || expected.starts_with("a date") {
        "a string"
    } else if expected.contains("bool") {
        "true or false"
    } else if expected.starts_with('i') || expected.starts_with('u') || expected.contains("integer")
    {
        "a whole number"
    } else if expected.starts_with('f') || expected.contains("number") {
        "a number"
    } else {
        return format!("is not {expected}");
    };
    format!("must be {words}")
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A garde rule: the text must parse as `T` (a domain value type), whose own error says why
/// not. The domain types stay the single source of each rule.
pub fn parses<T>(value: &str, _: &()) -> garde::Result
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    value
        .parse::<T>()
        .map(drop)
        .map_err(|e| garde::Error::new(e.to_string()))
}

/// Parses a value that [`parses`] already accepted; a failure here is reported the same way.
pub fn domain<T>(field: &str, value: &str) -> Result<T, ApiError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    value
        .parse::<T>()
        .map_err(|e| ApiError::Validation(vec![FieldError::new(field, e.to_string())]))
}

/// [`domain`] for an optional field: absent stays `None`.
pub fn optional<T>(field: &str, value: Option<&str>) -> Result<Option<T>, ApiError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    value.map(|v| domain(field, v)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, garde::Validate)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only the parsing is under test")]
    struct Body {
        #[garde(skip)]
        name: String,
        #[garde(skip)]
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize, garde::Validate)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only the parsing is under test")]
    struct Inner {
        #[garde(skip)]
        count: u32,
    }

    fn fields(result: Result<Body, ApiError>) -> Vec<(String, String)> {
        match result {
            Err(ApiError::Validation(errors)) => {
                errors.into_iter().map(|e| (e.field, e.message)).collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn integral_numbers_written_with_a_fraction_are_read_exactly() {
        #[derive(Debug, serde::Deserialize)]
        struct Ids {
            ids: Vec<i64>,
        }
        // Each is exactly an integer; a parser off by half a unit would refuse the last.
        let body = br#"{"ids": [-304.0, 1e3, 9007199254740992.0, -4484151374078770.0]}"#;
        let parsed: Ids = parse(body).unwrap();
        assert_eq!(
            parsed.ids,
            [-304, 1000, 9_007_199_254_740_992, -4_484_151_374_078_770]
        );
    }

    #[test]
    fn data_errors_name_their_field() {
        assert_eq!(
            fields(parse(br#"{}"#)),
            [("name".to_owned(), "is required".to_owned())]
        );
        assert_eq!(
            fields(parse(br#"{"name": "x", "extra": 1}"#)),
            [(
                "extra".to_owned(),
                "is not a field of this request".to_owned()
            )]
        );
        let wrong_type = fields(parse(br#"{"name": "x", "inner": {"count": "many"}}"#));
        assert_eq!(
            wrong_type,
            [(
                "inner.count".to_owned(),
                "must be a whole number".to_owned()
            )]
        );
        // A wrong type is said in the client's words, without type names.
        assert_eq!(
            fields(parse(br#"{"name": "x", "inner": "one"}"#)),
            [("inner".to_owned(), "must be a JSON object".to_owned())]
        );
        assert_eq!(
            fields(parse(br#"{"name": ["x"]}"#)),
            [("name".to_owned(), "must be a string".to_owned())]
        );
        // …nor is a struct read from an array of its fields, at any depth.
        assert_eq!(
            fields(parse(br#"{"name": "x", "inner": [1]}"#)),
            [("inner".to_owned(), "must be a JSON object".to_owned())]
        );
        let patch = parse::<omni_tenancy::SettingsPatch>(br#"{"sla": {"low": [3, 4]}}"#);
        assert!(
            matches!(&patch, Err(ApiError::Validation(e)) if e[0].field == "sla.low"),
            "{patch:?}"
        );
        let category = parse::<omni_tenancy::SettingsPatch>(br#"{"categories": [["vip", []]]}"#);
        assert!(matches!(category, Err(ApiError::Validation(_))));
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        assert!(matches!(
            parse::<Body>(b"{\"name\": "),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse::<Body>(b"not json"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse::<Body>(br#"{"name": "x"} {"name": "y"}"#),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn integral_numbers_are_integers_as_in_json_schema() {
        #[derive(Debug, serde::Deserialize)]
        struct Id {
            id: i64,
            nested: Vec<serde_json::Value>,
        }
        let id: Id = parse(br#"{"id": 4385.0, "nested": [{"n": 1e3}, 2.5]}"#).unwrap();
        assert_eq!(id.id, 4385);
        assert_eq!(
            id.nested,
            [serde_json::json!({"n": 1000}), serde_json::json!(2.5)]
        );
        let Err(ApiError::Validation(errors)) = parse::<Id>(br#"{"id": 1.5, "nested": []}"#) else {
            panic!("a fraction is not an integer");
        };
        assert_eq!(errors[0].field, "id");
        assert!(parse::<Id>(br#"{"id": 1e19, "nested": []}"#).is_err());
    }

    #[test]
    fn a_body_must_be_an_object_not_an_array_of_fields() {
        let Err(ApiError::Validation(errors)) = parse::<Body>(br#"  ["x"]"#) else {
            panic!("an array body must be refused");
        };
        assert_eq!(errors[0].field, "body");
        assert!(parse::<Body>(br#" {"name": "x"}"#).is_ok());
    }
}
