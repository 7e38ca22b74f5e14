//! Time as the domain core sees it: only through a [`Clock`].
//!
//! Nothing in `kaizen-core` calls `Utc::now()` directly; callers inject a clock so that
//! rules, snapshots and the rollout state machine are deterministic under test:
//! [`ManualClock`] for tests, [`AcceleratedClock`] for simulations.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current instant, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. For tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing still at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward (or backward, for a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A clock that runs `factor` times faster than the wall clock from `start`: one real second
/// is `factor` simulated seconds. For simulations (e.g. 3,600: one simulated hour per real
/// second), where rollouts with 48-hour windows should finish while someone watches.
#[derive(Debug)]
pub struct AcceleratedClock {
    start: DateTime<Utc>,
    real_start: std::time::Instant,
    factor: f64,
}

impl AcceleratedClock {
    /// Starts at `start` now, running `factor` (> 0, finite) times as fast as real time.
    pub fn new(start: DateTime<Utc>, factor: f64) -> Result<Self, String> {
        if !(factor.is_finite() && factor > 0.0) {
            return Err(format!(
                "the acceleration factor must be a positive number, found {factor}"
            ));
        }
        Ok(Self {
            start,
            real_start: std::time::Instant::now(),
            factor,
        })
    }

    /// Real time it takes for `simulated` to pass on this clock.
    pub fn real_duration(&self, simulated: Duration) -> std::time::Duration {
        let secs =
            simulated.num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6 / self.factor;
        std::time::Duration::from_secs_f64(secs.min(1e9))
    }
}

impl Clock for AcceleratedClock {
    fn now(&self) -> DateTime<Utc> {
        let real = self.real_start.elapsed().as_secs_f64();
        let micros = (real * self.factor * 1e6).min(i64::MAX as f64) as i64;
        self.start + Duration::microseconds(micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::hours(3));
        assert_eq!(clock.now(), start + Duration::hours(3));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn accelerated_clock_runs_faster_and_never_backwards() {
        let start = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let clock = AcceleratedClock::new(start, 3600.0).unwrap_or_else(|e| panic!("{e}"));
        let a = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = clock.now();
        assert!(a >= start && b > a);
        // 20 ms of real time is at least 72 simulated seconds.
        assert!(b - start >= Duration::seconds(72), "{}", b - start);
        assert_eq!(
            clock.real_duration(Duration::hours(1)),
            std::time::Duration::from_secs(1)
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(AcceleratedClock::new(start, bad).is_err());
        }
    }
}
