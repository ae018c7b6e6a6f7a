//! Rotation schedules as the secrets manager takes them: `AutomaticallyAfterDays` (1–1000), or a
//! `ScheduleExpression` — `rate(<n> hours|days)` or `cron(<minutes> <hours> <day-of-month>
//! <month> <day-of-week> <year>)` — and a `Duration` (`<n>h`, 1–24) for the window a rotation
//! may start in. A rotation starts when its window opens.
//!
//! Pure: what is valid, and when the next rotation falls due after a given time.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use lakeseal_kms_types::secrets::RotationRules;

use crate::clock::{DAY_MS, Millis};
use crate::{Error, Result};

const HOUR_MS: Millis = 60 * 60 * 1000;
/// The most frequent rotation the secrets manager allows.
const MIN_RATE_HOURS: u32 = 4;
const MAX_DAYS: u32 = 1000;

/// A checked rotation schedule.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    /// A fixed interval after the last rotation; `days` also rounds to the start of the day, as
    /// AWS opens a day-based window at midnight UTC.
    Every { ms: Millis, whole_days: bool },
    /// Each time a cron expression matches.
    Cron(Box<cron::Schedule>),
}

impl Schedule {
    /// Checks `rules` and builds the schedule they describe.
    pub(crate) fn parse(rules: &RotationRules) -> Result<Self> {
        let schedule = match (rules.automatically_after_days, &rules.schedule_expression) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "give AutomaticallyAfterDays or ScheduleExpression, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "RotationRules needs AutomaticallyAfterDays or ScheduleExpression",
                ));
            }
            (Some(days), None) => days_schedule(days)?,
            (None, Some(expression)) => expression_schedule(expression)?,
        };
        if let Some(duration) = &rules.duration {
            let hours = window_hours(duration)?;
            if let Schedule::Every { ms, .. } = &schedule
                && Millis::from(hours) * HOUR_MS > *ms
            {
                return Err(invalid(
                    "the rotation window (Duration) must not be longer than the rotation interval",
                ));
            }
        }
        Ok(schedule)
    }

    /// When the first rotation after `after` is due.
    pub(crate) fn next_after(&self, after: Millis) -> Option<Millis> {
        match self {
            Schedule::Every { ms, whole_days } => {
                let at = after.checked_add(*ms)?;
                Some(if *whole_days {
                    at / DAY_MS * DAY_MS
                } else {
                    at
                })
            }
            Schedule::Cron(schedule) => {
                let from = DateTime::<Utc>::from_timestamp_millis(after)?;
                schedule
                    .after(&from)
                    .next()
                    .map(|t: DateTime<Utc>| t.timestamp_millis())
            }
        }
    }
}

fn days_schedule(days: u32) -> Result<Schedule> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(invalid(&format!(
            "AutomaticallyAfterDays {days} is out of range 1-{MAX_DAYS}"
        )));
    }
    Ok(Schedule::Every {
        ms: Millis::from(days) * DAY_MS,
        whole_days: true,
    })
}

fn expression_schedule(expression: &str) -> Result<Schedule> {
    if let Some(inner) = wrapped(expression, "rate(") {
        let (n, unit) = inner
            .trim()
            .split_once(' ')
            .ok_or_else(|| bad(expression))?;
        let n: u32 = n.parse().map_err(|_| bad(expression))?;
        return match unit.trim() {
            "day" | "days" => days_schedule(n),
            "hour" | "hours" if (MIN_RATE_HOURS..=MAX_DAYS * 24).contains(&n) => {
                Ok(Schedule::Every {
                    ms: Millis::from(n) * HOUR_MS,
                    whole_days: false,
                })
            }
            "hour" | "hours" => Err(invalid(&format!(
                "rate({n} hours): a secret rotates at most every {MIN_RATE_HOURS} hours"
            ))),
            _ => Err(bad(expression)),
        };
    }
    if let Some(inner) = wrapped(expression, "cron(") {
        let fields: Vec<&str> = inner.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(invalid(&format!(
                "cron expressions have six fields (minutes hours day-of-month month day-of-week \
                 year), not {}",
                fields.len()
            )));
        }
        if fields[2] != "?" && fields[4] != "?" {
            return Err(invalid(
                "a cron expression gives day-of-month or day-of-week; the other must be ?",
            ));
        }
        // The cron crate reads Quartz fields with seconds first; AWS's have none.
        let quartz = format!("0 {}", fields.join(" "));
        let schedule = cron::Schedule::from_str(&quartz).map_err(|_| bad(expression))?;
        return Ok(Schedule::Cron(Box::new(schedule)));
    }
    Err(bad(expression))
}

/// `Duration`: `<n>h`, 1–24.
fn window_hours(duration: &str) -> Result<u32> {
    duration
        .strip_suffix('h')
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=24).contains(n))
        .ok_or_else(|| {
            invalid(&format!(
                "Duration {:?} must be <n>h with n from 1 to 24",
                super::names::shown(duration)
            ))
        })
}

fn wrapped<'a>(expression: &'a str, open: &str) -> Option<&'a str> {
    expression.trim().strip_prefix(open)?.strip_suffix(')')
}

fn bad(expression: &str) -> Error {
    invalid(&format!(
        "ScheduleExpression {:?} is not rate(<n> hours|days) or cron(<six fields>)",
        super::names::shown(expression)
    ))
}

fn invalid(why: &str) -> Error {
    Error::InvalidParameter(why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    fn rules(days: Option<u32>, expression: Option<&str>, duration: Option<&str>) -> RotationRules {
        RotationRules {
            automatically_after_days: days,
            schedule_expression: expression.map(str::to_owned),
            duration: duration.map(str::to_owned),
        }
    }

    fn at(text: &str) -> Millis {
        parse_rfc3339(text).unwrap()
    }

    fn next(rules: &RotationRules, after: &str) -> String {
        let s = Schedule::parse(rules).unwrap();
        crate::clock::rfc3339(s.next_after(at(after)).unwrap())
    }

    #[test]
    fn days_open_at_midnight_after_the_interval() {
        let r = rules(Some(30), None, None);
        assert_eq!(next(&r, "2026-01-01T15:20:00Z"), "2026-01-31T00:00:00Z");
        let r = rules(None, Some("rate(10 days)"), Some("3h"));
        assert_eq!(next(&r, "2026-01-01T15:20:00Z"), "2026-01-11T00:00:00Z");
    }

    #[test]
    fn hours_count_from_the_last_rotation() {
        let r = rules(None, Some("rate(6 hours)"), None);
        assert_eq!(next(&r, "2026-01-01T15:20:00Z"), "2026-01-01T21:20:00Z");
    }

    #[test]
    fn cron_uses_aws_fields_with_sunday_as_day_one() {
        // 08:00 UTC on the first of each month.
        let r = rules(None, Some("cron(0 8 1 * ? *)"), Some("2h"));
        assert_eq!(next(&r, "2026-01-01T09:00:00Z"), "2026-02-01T08:00:00Z");
        // 2026-01-05 is a Monday: day 2 of AWS's week.
        let r = rules(None, Some("cron(0 4 ? * 2 *)"), None);
        assert_eq!(next(&r, "2026-01-01T00:00:00Z"), "2026-01-05T04:00:00Z");
        let r = rules(None, Some("cron(0 4 ? * MON *)"), None);
        assert_eq!(next(&r, "2026-01-01T00:00:00Z"), "2026-01-05T04:00:00Z");
    }

    #[test]
    fn bad_rules_are_invalid_parameters() {
        for bad in [
            rules(None, None, None),
            rules(Some(0), None, None),
            rules(Some(1001), None, None),
            rules(Some(1), Some("rate(1 days)"), None),
            rules(None, Some("rate(3 hours)"), None),
            rules(None, Some("rate(ten days)"), None),
            rules(None, Some("every day"), None),
            rules(None, Some("cron(0 8 1 * *)"), None),
            rules(None, Some("cron(0 8 1 * MON *)"), None),
            rules(None, Some("cron(99 8 1 * ? *)"), None),
            rules(Some(1), None, Some("25h")),
            rules(Some(1), None, Some("3 hours")),
            rules(None, Some("rate(4 hours)"), Some("5h")),
        ] {
            let e = Schedule::parse(&bad).unwrap_err();
            assert!(matches!(e, Error::InvalidParameter(_)), "{bad:?}: {e}");
        }
    }
}
