use chrono::{Datelike, NaiveDate, TimeDelta};
use omni_core::FieldError;

omni_core::wire_enum! {
    /// How long each period of a report is, in the company's time zone.
    pub enum GroupBy, error UnknownGroupBy {
        /// Calendar days.
        Day => "day",
        /// Weeks from Monday.
        Week => "week",
        /// Calendar months.
        Month => "month",
    }
}

impl GroupBy {
    /// The first day of the period `day` falls in.
    pub fn period_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            GroupBy::Day => day,
            GroupBy::Week => day
                .checked_sub_signed(TimeDelta::days(i64::from(
                    day.weekday().num_days_from_monday(),
                )))
                .unwrap_or(day),
            GroupBy::Month => day.with_day(1).unwrap_or(day),
        }
    }
}

/// The days a report covers, both included, in the company's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    from: NaiveDate,
    to: NaiveDate,
}

impl DayRange {
    /// The longest report, in days.
    pub const MAX_DAYS: i64 = 400;
    /// The days a report covers when none are asked for: the last 30.
    pub const DEFAULT_DAYS: i64 = 30;

    /// The range `from`..=`to` asked for (`YYYY-MM-DD`); a missing end is `today`, a
    /// missing start 30 days before the end. Each bad field is named.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, Vec<FieldError>> {
        // Reports start with Omni's facts; the bounds keep every date one the database
        // holds.
        let date = |field: &str, text: &str| {
            NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .ok()
                .filter(|d| (1900..=9999).contains(&d.year()))
                .ok_or_else(|| {
                    FieldError::new(
                        field,
                        "must be a date, YYYY-MM-DD (1900 to 9999), in the company's time zone",
                    )
                })
        };
        let to = to.map(|t| date("to", t)).transpose();
        let from = from.map(|f| date("from", f)).transpose();
        let (from, to) = match (from, to) {
            (Ok(from), Ok(to)) => (from, to),
            (from, to) => {
                return Err([from.err(), to.err()].into_iter().flatten().collect());
            }
        };
        let to = to.unwrap_or(today);
        let from = from.unwrap_or_else(|| {
            to.checked_sub_signed(TimeDelta::days(Self::DEFAULT_DAYS - 1))
                .unwrap_or(NaiveDate::MIN)
        });
        if from > to {
            return Err(vec![FieldError::new("from", "must not be after `to`")]);
        }
        if (to - from).num_days() + 1 > Self::MAX_DAYS {
            return Err(vec![FieldError::new(
                "to",
                format!("a report covers at most {} days", Self::MAX_DAYS),
            )]);
        }
        Ok(Self { from, to })
    }

    /// The range from `from` to `to`, both included; `None` if `from` is after `to`.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Option<Self> {
        (from <= to).then_some(Self { from, to })
    }

    /// The first day.
    pub fn from(self) -> NaiveDate {
        self.from
    }

    /// The last day.
    pub fn to(self) -> NaiveDate {
        self.to
    }

    /// Whether `day` is in the range.
    pub fn contains(self, day: NaiveDate) -> bool {
        self.from <= day && day <= self.to
    }

    /// The periods of the range, each as its first and last day (the first and the last
    /// may be cut short by the range).
    pub fn periods(self, by: GroupBy) -> Vec<(NaiveDate, NaiveDate)> {
        let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
        let mut day = self.from;
        while day <= self.to {
            let start = by.period_of(day);
            match out.last_mut() {
                Some((s, end)) if by.period_of(*s) == start => *end = day,
                _ => out.push((day, day)),
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        out
    }
}

/// Parses an optional wire value, naming `field` when it is none of `T`'s.
pub(crate) fn choice<T: std::str::FromStr>(
    field: &str,
    text: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    match text.map(|t| t.trim().parse::<T>()) {
        Some(Ok(value)) => Some(value),
        Some(Err(e)) => {
            errors.push(FieldError::new(field, e.to_string()));
            None
        }
        None => None,
    }
}

/// What a caller asks of `GET /reports/overview`, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverviewQuery {
    /// A superadmin's company (required for them; others get their own).
    pub company_id: Option<omni_core::CompanyId>,
    /// The first day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// The last day.
    pub to: Option<String>,
    /// `day`, `week` or `month` (default `day`).
    pub group_by: Option<String>,
    /// `channel`, `category`, `priority` or `sentiment`.
    pub breakdown: Option<String>,
}

/// What a caller asks of `GET /reports/agents`, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentsQuery {
    /// A superadmin's company.
    pub company_id: Option<omni_core::CompanyId>,
    /// The first day.
    pub from: Option<String>,
    /// The last day.
    pub to: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_default_to_the_last_30_days_and_are_bounded() {
        let today = day("2026-03-31");
        let r = DayRange::parse(None, None, today).unwrap();
        assert_eq!((r.from(), r.to()), (day("2026-03-02"), today));
        let fields = |e: Vec<FieldError>| e.into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(
            fields(DayRange::parse(Some("2026-04-02"), Some("2026-04-01"), today).unwrap_err()),
            ["from"]
        );
        assert_eq!(
            fields(DayRange::parse(Some("2025-01-01"), Some("2026-03-01"), today).unwrap_err()),
            ["to"]
        );
        assert!(DayRange::parse(Some("2025-02-24"), Some("2026-03-30"), today).is_ok());
        assert_eq!(
            fields(DayRange::parse(Some("yesterday"), Some("2026-13-01"), today).unwrap_err()),
            ["from", "to"]
        );
        // The calendar's ends: dates the database cannot hold are refused.
        for far in ["0001-01-01", "-5000-01-10", "+10000-01-01"] {
            assert_eq!(
                fields(DayRange::parse(None, Some(far), today).unwrap_err()),
                ["to"]
            );
        }
        let first = DayRange::parse(None, Some("1900-01-01"), today).unwrap();
        assert_eq!(first.periods(GroupBy::Day).len(), 30);
        assert!(!first.periods(GroupBy::Week).is_empty());
        assert!(DayRange::parse(Some("9999-12-31"), None, today).is_err());
    }

    #[test]
    fn periods_follow_weeks_from_monday_and_calendar_months() {
        let r = DayRange::new(day("2026-02-26"), day("2026-03-10")).unwrap();
        assert_eq!(
            r.periods(GroupBy::Week),
            [
                (day("2026-02-26"), day("2026-03-01")),
                (day("2026-03-02"), day("2026-03-08")),
                (day("2026-03-09"), day("2026-03-10")),
            ]
        );
        assert_eq!(
            r.periods(GroupBy::Month),
            [
                (day("2026-02-26"), day("2026-02-28")),
                (day("2026-03-01"), day("2026-03-10")),
            ]
        );
        assert_eq!(r.periods(GroupBy::Day).len(), 13);
    }
}
