//! Budget periods and weekly seasonality: the calendar arithmetic the budget forecast and the
//! benchmark comparison need (`docs/snapshot.md`, "Budget periods" and "Weekly seasonality").
//!
//! A budget period is `[start, end)` in UTC: a calendar month (the default), an ISO week
//! (Monday 00:00 to the next Monday 00:00) or a fixed number of days counted from an anchor
//! (before the anchor too). `end` is when the budget resets.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Which budget period the limit applies to (`signals.budget_period`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriodKind {
    /// The calendar month, UTC.
    #[default]
    Monthly,
    /// The ISO week, Monday 00:00 UTC to Monday 00:00 UTC.
    Weekly,
    /// `signals.budget_period_days` days from `signals.budget_period_anchor`.
    Days,
}

impl BudgetPeriodKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetPeriodKind::Monthly => "monthly",
            BudgetPeriodKind::Weekly => "weekly",
            BudgetPeriodKind::Days => "days",
        }
    }
}

/// Whether trends and benchmark comparisons allow for a weekly rhythm (`signals.seasonality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seasonality {
    /// Compare like with like: the same weekday and hours of earlier weeks.
    #[default]
    Weekly,
    /// No rhythm assumed: consecutive runs and the window's two halves are compared.
    None,
}

/// A resolved budget period rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetPeriod {
    /// Calendar months, UTC.
    Monthly,
    /// ISO weeks, UTC.
    Weekly,
    /// Periods of `days` days, one of which starts at `anchor`.
    Days {
        /// Length in days (≥ 1).
        days: u32,
        /// The start of one period.
        anchor: DateTime<Utc>,
    },
}

impl BudgetPeriod {
    /// The period `[start, end)` that contains `t`.
    pub fn containing(&self, t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        match *self {
            BudgetPeriod::Monthly => {
                let start = month_start(t.year(), t.month());
                let (y, m) = if t.month() == 12 {
                    (t.year() + 1, 1)
                } else {
                    (t.year(), t.month() + 1)
                };
                (start, month_start(y, m))
            }
            BudgetPeriod::Weekly => {
                let day =
                    t.date_naive() - Duration::days(i64::from(t.weekday().num_days_from_monday()));
                let start = midnight(day);
                (start, start + Duration::days(7))
            }
            BudgetPeriod::Days { days, anchor } => {
                let len = Duration::days(i64::from(days.max(1)));
                let len_s = len.num_seconds();
                let k = (t - anchor).num_seconds().div_euclid(len_s);
                let start = anchor + Duration::seconds(k * len_s);
                (start, start + len)
            }
        }
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
}

fn month_start(year: i32, month: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(year, month, 1)
        .map(midnight)
        .unwrap_or_default()
}

/// Days (fractional) from `from` to `to`; negative when `to` is earlier.
pub fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 86_400_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn period(p: BudgetPeriod, t: &str) -> (String, String) {
        let (a, b) = p.containing(at(t));
        (a.to_rfc3339(), b.to_rfc3339())
    }

    #[test]
    fn monthly_periods_follow_the_calendar() {
        let m = BudgetPeriod::Monthly;
        // A 31-day month, its last instant and its first.
        assert_eq!(
            period(m, "2026-03-31T23:59:59Z"),
            (
                "2026-03-01T00:00:00+00:00".into(),
                "2026-04-01T00:00:00+00:00".into()
            )
        );
        assert_eq!(
            period(m, "2026-04-01T00:00:00Z"),
            (
                "2026-04-01T00:00:00+00:00".into(),
                "2026-05-01T00:00:00+00:00".into()
            )
        );
        // February, in a common and in a leap year.
        assert_eq!(
            period(m, "2026-02-15T12:00:00Z").1,
            "2026-03-01T00:00:00+00:00"
        );
        let (s, e) = m.containing(at("2028-02-29T10:00:00Z"));
        assert_eq!(days_between(s, e), 29.0);
        let (s, e) = m.containing(at("2026-02-01T00:00:00Z"));
        assert_eq!(days_between(s, e), 28.0);
        // December rolls over into the next year.
        assert_eq!(
            period(m, "2026-12-31T23:00:00Z"),
            (
                "2026-12-01T00:00:00+00:00".into(),
                "2027-01-01T00:00:00+00:00".into()
            )
        );
    }

    #[test]
    fn weekly_periods_start_on_monday() {
        let w = BudgetPeriod::Weekly;
        // 2026-03-18 is a Wednesday; 2026-03-22 a Sunday; 2026-03-23 a Monday.
        assert_eq!(
            period(w, "2026-03-18T15:00:00Z"),
            (
                "2026-03-16T00:00:00+00:00".into(),
                "2026-03-23T00:00:00+00:00".into()
            )
        );
        assert_eq!(
            period(w, "2026-03-22T23:59:59Z").1,
            "2026-03-23T00:00:00+00:00"
        );
        assert_eq!(
            period(w, "2026-03-23T00:00:00Z").0,
            "2026-03-23T00:00:00+00:00"
        );
        // Across a month and a year boundary.
        assert_eq!(
            period(w, "2027-01-01T08:00:00Z"),
            (
                "2026-12-28T00:00:00+00:00".into(),
                "2027-01-04T00:00:00+00:00".into()
            )
        );
    }

    #[test]
    fn fixed_periods_count_from_the_anchor_both_ways() {
        let p = BudgetPeriod::Days {
            days: 10,
            anchor: at("2026-03-05T06:00:00Z"),
        };
        assert_eq!(
            period(p, "2026-03-05T06:00:00Z"),
            (
                "2026-03-05T06:00:00+00:00".into(),
                "2026-03-15T06:00:00+00:00".into()
            )
        );
        assert_eq!(
            period(p, "2026-03-15T05:59:59Z").1,
            "2026-03-15T06:00:00+00:00"
        );
        assert_eq!(
            period(p, "2026-03-27T00:00:00Z").0,
            "2026-03-25T06:00:00+00:00"
        );
        // Before the anchor: the period that ends at it.
        assert_eq!(
            period(p, "2026-03-01T00:00:00Z"),
            (
                "2026-02-23T06:00:00+00:00".into(),
                "2026-03-05T06:00:00+00:00".into()
            )
        );
    }
}
