//! The inflection monitor: runs the detector (`kaizen_core::inflection`) every
//! `schedule.inflection_check_interval_minutes` while the loop is enabled, raises an alert per
//! inflection, and — when `schedule.inflection_trigger_enabled` — runs an extra cycle with
//! trigger `inflection`, at most one per `schedule.inflection_cycle_min_interval_hours`.
//!
//! The times of the last check and of the last inflection cycle are kept in the store's `meta`
//! table, so a restart neither repeats a check nor skips one that is due (a process that was
//! down for longer checks once, on the recent hours). The detector reads the whole hours
//! before the check (the hour in progress is incomplete).
//!
//! An inflection cycle does **not** move the schedule: the scheduled cycle stays due
//! `cycle_interval_hours` after the last scheduled or manual cycle (`cycle.rs`).

use chrono::{DateTime, Duration, Utc};
use kaizen_core::config::{AlertKind, AlertSeverity};
use kaizen_core::inflection::{Inflection, InflectionSeverity, detect, read_slots};
use kaizen_core::rollup::MICROS_PER_HOUR;
use kaizen_store::Store;
use kaizen_store::alerts::AlertDraft;
use serde::Serialize;

use crate::cycle::{CycleOptions, CycleReport, CycleTrigger};
use crate::{Result, Service, ServiceError, store_err};

/// Meta key holding the time of the last inflection check.
pub const LAST_CHECK_KEY: &str = "inflection_last_check_at";

/// Meta key holding the start of the last inflection cycle.
pub const LAST_INFLECTION_CYCLE_KEY: &str = "inflection_last_cycle_at";

/// The `kind` of the alerts the monitor raises.
pub const ALERT_KIND: &str = "inflection";

/// What one check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InflectionCheck {
    /// When it ran.
    pub checked_at: DateTime<Utc>,
    /// What changed sharply (empty: nothing).
    pub inflections: Vec<Inflection>,
    /// The alerts raised, one per inflection.
    pub alert_ids: Vec<i64>,
    /// Whether an inflection cycle should run now: there are inflections, the trigger is on
    /// and the last inflection cycle is at least `inflection_cycle_min_interval_hours` ago.
    pub cycle_due: bool,
}

/// The alert for one inflection: kind `inflection`, de-duplicated per metric while it is not
/// acknowledged (an inflection that lasts bumps the open alert's count instead of raising a new
/// one every hour). The one place inflections reach the alerts.
fn alert_draft(inflection: &Inflection) -> AlertDraft {
    AlertDraft {
        kind: AlertKind::Inflection,
        severity: match inflection.severity {
            InflectionSeverity::Warning => AlertSeverity::Warning,
            InflectionSeverity::Critical => AlertSeverity::Critical,
        },
        proposal_id: None,
        dedup_key: Some(format!("{ALERT_KIND}:{}", inflection.metric.as_str())),
        message: inflection.description.clone(),
    }
}

fn meta_time(store: &Store, key: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(store
        .meta_get(key)
        .map_err(store_err)?
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc)))
}

impl Service<'_> {
    /// When the next inflection check is due (`None`: the loop is disabled).
    pub fn next_inflection_check_due(&self) -> Result<Option<DateTime<Utc>>> {
        if !self.config.self_improvement.enabled {
            return Ok(None);
        }
        let every = Duration::minutes(i64::from(
            self.config
                .self_improvement
                .schedule
                .inflection_check_interval_minutes,
        ));
        Ok(Some(match meta_time(self.store, LAST_CHECK_KEY)? {
            Some(last) => last + every,
            None => self.clock.now(),
        }))
    }

    /// Runs the detector on the whole hours before now, raises an alert per inflection and
    /// records the check. Refuses when the loop is disabled.
    pub fn check_inflections(&mut self) -> Result<InflectionCheck> {
        if !self.config.self_improvement.enabled {
            return Err(ServiceError::Disabled);
        }
        let now = self.clock.now();
        let end_hour = now.timestamp_micros().div_euclid(MICROS_PER_HOUR);
        let config = &self.config.self_improvement.inflection;
        let slots = read_slots(self.store.signal_source(), end_hour, config)
            .map_err(|e| ServiceError::Store(format!("reading the inflection slots: {e}")))?;
        let inflections = detect(&slots, config);
        let mut alert_ids = Vec::with_capacity(inflections.len());
        for i in &inflections {
            tracing::warn!(metric = i.metric.as_str(), ratio = i.ratio, "inflection");
            alert_ids.push(self.raise_alert(alert_draft(i))?.id);
        }
        self.store
            .meta_set(LAST_CHECK_KEY, &now.to_rfc3339())
            .map_err(store_err)?;
        let cycle_due = !inflections.is_empty() && self.inflection_cycle_allowed()?;
        Ok(InflectionCheck {
            checked_at: now,
            inflections,
            alert_ids,
            cycle_due,
        })
    }

    /// [`Service::check_inflections`] when a check is due; `None` when not (or the loop is
    /// disabled).
    pub fn check_inflections_if_due(&mut self) -> Result<Option<InflectionCheck>> {
        match self.next_inflection_check_due()? {
            Some(due) if due <= self.clock.now() => self.check_inflections().map(Some),
            _ => Ok(None),
        }
    }

    /// Whether the trigger is on and no inflection cycle ran in the last
    /// `inflection_cycle_min_interval_hours`.
    pub fn inflection_cycle_allowed(&self) -> Result<bool> {
        let schedule = &self.config.self_improvement.schedule;
        if !schedule.inflection_trigger_enabled {
            return Ok(false);
        }
        let gap = Duration::hours(i64::from(schedule.inflection_cycle_min_interval_hours));
        Ok(meta_time(self.store, LAST_INFLECTION_CYCLE_KEY)?
            .is_none_or(|last| last + gap <= self.clock.now()))
    }

    /// Runs a cycle with trigger `inflection` and records its start for the rate limit. The
    /// caller checks [`InflectionCheck::cycle_due`].
    pub fn run_inflection_cycle(&mut self) -> Result<CycleReport> {
        let report = self.run_cycle(CycleOptions {
            trigger: CycleTrigger::Inflection,
            dry_run: false,
        })?;
        self.store
            .meta_set(LAST_INFLECTION_CYCLE_KEY, &report.started_at.to_rfc3339())
            .map_err(store_err)?;
        Ok(report)
    }

    /// One turn of the monitor without the audit log (the lab's driver): the check when due,
    /// then the inflection cycle when the check asks for one.
    pub fn inflection_tick(&mut self) -> Result<(Option<InflectionCheck>, Option<CycleReport>)> {
        let Some(check) = self.check_inflections_if_due()? else {
            return Ok((None, None));
        };
        let cycle = if check.cycle_due {
            Some(self.run_inflection_cycle()?)
        } else {
            None
        };
        Ok((Some(check), cycle))
    }
}
