use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A company's time zone, an IANA name such as `America/Sao_Paulo`: reports count days,
/// weeks and months as the company's people live them, daylight-saving changes included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timezone(Tz);

/// A text that names no IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IANA time zone (such as America/Sao_Paulo or Europe/Lisbon)")]
pub struct UnknownTimezone(pub String);

impl Timezone {
    /// Where a new company is assumed to be: Omni started in Brazil.
    pub const DEFAULT: Timezone = Timezone(Tz::America__Sao_Paulo);

    /// The zone, for date arithmetic.
    pub fn tz(self) -> Tz {
        self.0
    }

    /// The IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// Every zone's name, as the OpenAPI document lists them.
    pub fn names() -> impl Iterator<Item = &'static str> {
        chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())
    }
}

impl Default for Timezone {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl FromStr for Timezone {
    type Err = UnknownTimezone;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<Tz>()
            .map(Timezone)
            .map_err(|_| UnknownTimezone(s.to_owned()))
    }
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Timezone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Timezone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Timezone {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::names()))
            .description(Some("An IANA time zone."))
            .examples([serde_json::json!("America/Sao_Paulo")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Timezone {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_refused() {
        let tz: Timezone = "Europe/Lisbon".parse().unwrap();
        assert_eq!(tz.name(), "Europe/Lisbon");
        assert_eq!(serde_json::to_value(tz).unwrap(), "Europe/Lisbon");
        assert_eq!(Timezone::default().name(), "America/Sao_Paulo");
        for bad in ["Mars/Olympus", "", "america/sao_paulo ", "+03:00"] {
            assert!(bad.parse::<Timezone>().is_err(), "{bad}");
        }
        let err = serde_json::from_str::<Timezone>("\"Mars/Olympus\"").unwrap_err();
        assert!(err.to_string().contains("not an IANA time zone"), "{err}");
        assert!(Timezone::names().any(|n| n == "Asia/Kathmandu"));
    }
}
