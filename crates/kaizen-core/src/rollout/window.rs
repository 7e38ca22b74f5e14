//! The hours a rollout check reads. Shared by the rollout engine (`kaizen-service`) and the
//! study (`kaizen-sim`), so that what the study measures is what the engine does.
//!
//! Hours are whole hours since the Unix epoch (`timestamp / 3600 s`); a range is half-open.
//!
//! * **Before/after** (every agent treated) compares the hours since the start with **the same
//!   hours of the week one and two weeks earlier** ([`BeforeAfterWindows`]), over the same
//!   number of hours at every check. Daily and weekly cycles cancel out exactly; the two-week
//!   window adjusts for a linear drift (the change from two weeks to one week earlier is the
//!   drift the after-window would have seen anyway). It also reads the day before the start, and
//!   the same hours one and two weeks earlier, to find a shift that predates the rollout.
//! * **Canary and A/B** compare the groups over the same hours, each against its own past (the
//!   `baseline_hours` before the start): a difference in differences ([`ConcurrentWindows`]).

use std::ops::Range;

/// Hours in a week: the lag of a time-matched baseline.
pub const WEEK_HOURS: i64 = 168;

/// Hours before the start that are searched for a shift that predates the rollout.
pub const PRE_SHIFT_HOURS: i64 = 24;

/// Hours of history a before/after comparison reads before the start: two weeks, plus the
/// window itself for a check at the window's end (`window_hours`).
pub fn before_after_history_hours(window_hours: i64) -> i64 {
    2 * WEEK_HOURS + window_hours.max(0)
}

/// The windows of one before/after check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeforeAfterWindows {
    /// From the first full hour after the start to the check.
    pub after: Range<i64>,
    /// The same hours, one week earlier.
    pub week1: Range<i64>,
    /// The same hours, two weeks earlier.
    pub week2: Range<i64>,
    /// The [`PRE_SHIFT_HOURS`] before the hour the rollout started in.
    pub recent: Range<i64>,
    /// The same hours as `recent`, one week earlier.
    pub recent_week1: Range<i64>,
    /// The same hours as `recent`, two weeks earlier.
    pub recent_week2: Range<i64>,
}

fn shift(r: &Range<i64>, by: i64) -> Range<i64> {
    (r.start - by)..(r.end - by)
}

/// The windows of a before/after check. `start_floor` is the hour the rollout started in,
/// `start_ceil` the first full hour after the start (equal when it started on the hour) and
/// `end` the (exclusive) hour the check reads up to.
pub fn before_after(start_floor: i64, start_ceil: i64, end: i64) -> BeforeAfterWindows {
    let after = start_ceil..end.max(start_ceil);
    let recent = (start_floor - PRE_SHIFT_HOURS)..start_floor;
    BeforeAfterWindows {
        week1: shift(&after, WEEK_HOURS),
        week2: shift(&after, 2 * WEEK_HOURS),
        recent_week1: shift(&recent, WEEK_HOURS),
        recent_week2: shift(&recent, 2 * WEEK_HOURS),
        after,
        recent,
    }
}

/// The windows of one canary or A/B check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcurrentWindows {
    /// From the first full hour after the start to the check (both groups).
    pub after: Range<i64>,
    /// The `baseline_hours` before the hour the rollout started in (both groups).
    pub before: Range<i64>,
}

/// The windows of a canary or A/B check (arguments as for [`before_after`]).
pub fn concurrent(
    start_floor: i64,
    start_ceil: i64,
    end: i64,
    baseline_hours: i64,
) -> ConcurrentWindows {
    ConcurrentWindows {
        after: start_ceil..end.max(start_ceil),
        before: (start_floor - baseline_hours.max(0))..start_floor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_after_matches_the_hours_of_the_week_and_the_length() {
        // Started at 10:20 of hour 1000: after = 1001.., one and two weeks back, same length.
        let w = before_after(1000, 1001, 1009);
        assert_eq!(w.after, 1001..1009);
        assert_eq!(w.week1, 833..841);
        assert_eq!(w.week2, 665..673);
        assert_eq!(w.recent, 976..1000);
        assert_eq!(w.recent_week1, 808..832);
        assert_eq!(w.recent_week2, 640..664);
        // A check before the first full hour reads nothing (never the hours before the start).
        let w = before_after(1000, 1001, 1000);
        assert!(w.after.is_empty() && w.week1.is_empty());
        assert_eq!(before_after_history_hours(48), 384);
    }

    #[test]
    fn concurrent_reads_the_same_hours_for_both_groups() {
        let w = concurrent(1000, 1000, 1012, 48);
        assert_eq!(w.after, 1000..1012);
        assert_eq!(w.before, 952..1000);
    }
}
