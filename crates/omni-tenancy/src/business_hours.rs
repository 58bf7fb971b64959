use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use omni_core::FieldError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Timezone;

/// The weekdays' names as settings spell them, Monday first (as `chrono` counts them).
pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// The hours a company answers on one weekday, in its own time zone: from `start` to
/// `end`, both `HH:MM`, the end after the start (`24:00` runs to midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayHours {
    /// Minutes after midnight.
    start: u16,
    /// Minutes after midnight, after `start`; at most 24 × 60.
    end: u16,
}

/// A weekday's hours as a request or the database holds them, before they are checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayHoursInput {
    /// `HH:MM`, 00:00 to 23:59.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    )]
    pub start: String,
    /// `HH:MM`, after `start`; 24:00 for midnight.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")
    )]
    pub end: String,
}

/// When a company answers, per weekday in its time zone; a weekday it does not name is
/// closed. Empty (the default) means no business hours are set: durations count in full
/// and reports show no business-hours figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BusinessHours {
    days: [Option<DayHours>; 7],
}

const DAY: u16 = 24 * 60;

fn minutes(text: &str, midnight_ok: bool) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m;
    (m < 60 && (h < 24 || (midnight_ok && total == DAY))).then_some(total)
}

fn text(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl BusinessHours {
    /// Checks hours as a request gives them, naming each bad weekday or time under
    /// `field` (`settings.business_hours`).
    pub fn parse(
        input: &BTreeMap<String, DayHoursInput>,
        field: &str,
    ) -> Result<Self, Vec<FieldError>> {
        let mut days = [None; 7];
        let mut errors = Vec::new();
        for (name, hours) in input {
            let Some(day) = WEEKDAYS.iter().position(|w| w == name) else {
                errors.push(FieldError::new(
                    format!("{field}.{name}"),
                    format!("is not a weekday (one of: {})", WEEKDAYS.join(", ")),
                ));
                continue;
            };
            let start = minutes(&hours.start, false);
            let end = minutes(&hours.end, true);
            if start.is_none() {
                errors.push(FieldError::new(
                    format!("{field}.{name}.start"),
                    "must be a time HH:MM from 00:00 to 23:59",
                ));
            }
            if end.is_none() {
                errors.push(FieldError::new(
                    format!("{field}.{name}.end"),
                    "must be a time HH:MM from 00:01 to 24:00",
                ));
            }
            if let (Some(start), Some(end)) = (start, end) {
                if end <= start {
                    errors.push(FieldError::new(
                        format!("{field}.{name}.end"),
                        "must be after start (hours past midnight belong to the next day)",
                    ));
                } else {
                    days[day] = Some(DayHours { start, end });
                }
            }
        }
        if errors.is_empty() {
            Ok(Self { days })
        } else {
            Err(errors)
        }
    }

    /// Whether any hours are set.
    pub fn is_set(&self) -> bool {
        self.days.iter().any(Option::is_some)
    }

    /// How much of `from..to` falls within business hours in `zone`: a ticket opened on
    /// Friday evening and answered on Monday morning waited only Monday's first minutes.
    /// Without business hours, all of it. Local times a daylight-saving change skips
    /// count from the moment the clock jumps; repeated ones from their first occurrence.
    pub fn working_time(
        &self,
        zone: Timezone,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> TimeDelta {
        if to <= from {
            return TimeDelta::zero();
        }
        if !self.is_set() {
            return to - from;
        }
        let tz = zone.tz();
        let first = from.with_timezone(&tz).date_naive();
        let last = to.with_timezone(&tz).date_naive();
        let mut total = TimeDelta::zero();
        let mut day = first;
        while day <= last {
            if let Some(hours) = self.days[day.weekday().num_days_from_monday() as usize] {
                let open = instant(zone, day, hours.start);
                let close = instant(zone, day, hours.end);
                let overlap = close.min(to) - open.max(from);
                if overlap > TimeDelta::zero() {
                    total += overlap;
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        total
    }

    fn input(&self) -> BTreeMap<&'static str, DayHoursInput> {
        WEEKDAYS
            .iter()
            .zip(self.days)
            .filter_map(|(name, day)| {
                day.map(|h| {
                    (
                        *name,
                        DayHoursInput {
                            start: text(h.start),
                            end: text(h.end),
                        },
                    )
                })
            })
            .collect()
    }
}

/// The instant a local wall-clock time of `day` happens in `zone`.
fn instant(zone: Timezone, day: NaiveDate, minutes: u16) -> DateTime<Utc> {
    let local: NaiveDateTime = day.and_time(NaiveTime::MIN) + TimeDelta::minutes(minutes.into());
    let tz = zone.tz();
    // A time a daylight-saving change skips "happens" when the clock jumps: at the first
    // local minute after it that exists (gaps are an hour, a day at the very most).
    let mut local = local;
    for _ in 0..=DAY {
        if let Some(at) = tz.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
        local += TimeDelta::minutes(1);
    }
    Utc.from_utc_datetime(&local)
}

impl Serialize for BusinessHours {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.input().serialize(s)
    }
}

impl<'de> Deserialize<'de> for BusinessHours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let input = BTreeMap::<String, DayHoursInput>::deserialize(d)?;
        Self::parse(&input, "business_hours").map_err(|errors| {
            let words: Vec<String> = errors.iter().map(ToString::to_string).collect();
            serde::de::Error::custom(words.join("; "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(days: &[(&str, &str, &str)]) -> Result<BusinessHours, Vec<FieldError>> {
        let input = days
            .iter()
            .map(|(d, s, e)| {
                (
                    (*d).to_owned(),
                    DayHoursInput {
                        start: (*s).to_owned(),
                        end: (*e).to_owned(),
                    },
                )
            })
            .collect();
        BusinessHours::parse(&input, "settings.business_hours")
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn weekdays_nine_to_six() -> BusinessHours {
        hours(
            &WEEKDAYS[..5]
                .iter()
                .map(|d| (*d, "09:00", "18:00"))
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn times_are_checked_and_each_bad_one_named() {
        let errors = hours(&[
            ("monday", "9:00", "18:00"),
            ("tuesday", "18:00", "09:00"),
            ("funday", "09:00", "10:00"),
            ("friday", "24:00", "24:01"),
        ])
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "settings.business_hours.friday.start",
                "settings.business_hours.friday.end",
                "settings.business_hours.funday",
                "settings.business_hours.monday.start",
                "settings.business_hours.tuesday.end",
            ]
        );
        let ok = hours(&[("saturday", "00:00", "24:00")]).unwrap();
        assert!(ok.is_set());
        assert!(!BusinessHours::default().is_set());
        let json = serde_json::to_value(ok).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"saturday": {"start": "00:00", "end": "24:00"}})
        );
        assert_eq!(serde_json::from_value::<BusinessHours>(json).unwrap(), ok);
    }

    #[test]
    fn a_weekend_is_not_counted() {
        let sp = Timezone::DEFAULT; // UTC−3, no daylight saving since 2019.
        let week = weekdays_nine_to_six();
        // Friday 2026-03-06 17:00 local → Monday 2026-03-09 10:30 local: 1 h + 1.5 h.
        let from = at("2026-03-06T20:00:00Z");
        let to = at("2026-03-09T13:30:00Z");
        assert_eq!(week.working_time(sp, from, to), TimeDelta::minutes(150));
        // Without hours, everything counts.
        assert_eq!(
            BusinessHours::default().working_time(sp, from, to),
            to - from
        );
        // Inside one evening: nothing.
        assert_eq!(
            week.working_time(sp, at("2026-03-06T22:00:00Z"), at("2026-03-07T01:00:00Z")),
            TimeDelta::zero()
        );
        assert_eq!(week.working_time(sp, to, from), TimeDelta::zero());
    }

    #[test]
    fn daylight_saving_changes_move_the_hours_with_the_clock() {
        let ny: Timezone = "America/New_York".parse().unwrap();
        let sunday = hours(&[("sunday", "01:00", "04:00")]).unwrap();
        // 2026-03-08: clocks jump 02:00 EST → 03:00 EDT; 01:00–04:00 local is 2 hours.
        assert_eq!(
            sunday.working_time(ny, at("2026-03-08T00:00:00Z"), at("2026-03-09T00:00:00Z")),
            TimeDelta::hours(2)
        );
        // 2026-11-01: 02:00 EDT → 01:00 EST; 01:00 (first) to 04:00 EST is 4 hours.
        assert_eq!(
            sunday.working_time(ny, at("2026-11-01T00:00:00Z"), at("2026-11-02T00:00:00Z")),
            TimeDelta::hours(4)
        );
        let gap = hours(&[("sunday", "02:30", "03:30")]).unwrap();
        // 02:30 does not exist that day: the hour opens when the clock jumps to 03:00.
        assert_eq!(
            gap.working_time(ny, at("2026-03-08T00:00:00Z"), at("2026-03-09T00:00:00Z")),
            TimeDelta::minutes(30)
        );
    }
}
