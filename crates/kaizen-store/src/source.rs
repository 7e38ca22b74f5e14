//! The read side: [`StoreReader`] implements [`SignalSource`] over pooled read-only
//! connections, reading daily rollups for whole days and hourly rollups for the rest.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use kaizen_core::event::{ScalingAction, ScalingOutcome};
use kaizen_core::rollup::{Dim, Stream, merge_encoded};
use kaizen_core::signals::{
    AgentInfo, BenchmarkRunRecord, BudgetState, HourlyStats, KeyedStats, ScalingDecisionRecord,
    SignalSource, SourceError,
};
use kaizen_core::snapshot::EvolutionOutcomeSummary;
use kaizen_core::stats::Stat;
use rusqlite::{Connection, OptionalExtension, params};
use rustc_hash::FxHashMap as HashMap;

use crate::micros_to_time;

/// Rollup resolution codes.
pub(crate) const RES_HOUR: i64 = 0;
pub(crate) const RES_DAY: i64 = 1;

/// Reads signals from the store. Shareable across threads; each call borrows a pooled
/// read-only connection (WAL lets readers run beside the writer).
pub struct StoreReader {
    pub(crate) path: PathBuf,
    pub(crate) idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for StoreReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreReader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn db(e: rusqlite::Error) -> SourceError {
    SourceError(format!("database error: {e}"))
}

/// Splits an hour range into (resolution, bucket range) pieces: whole UTC days read the daily
/// rollups, the ragged ends the hourly ones.
pub(crate) fn plan(hours: Range<i64>) -> Vec<(i64, Range<i64>)> {
    if hours.is_empty() {
        return Vec::new();
    }
    let first_day = hours.start.div_euclid(24) + i64::from(hours.start.rem_euclid(24) != 0);
    let end_day = hours.end.div_euclid(24);
    if first_day >= end_day {
        return vec![(RES_HOUR, hours)];
    }
    let mut out = Vec::with_capacity(3);
    if hours.start < first_day * 24 {
        out.push((RES_HOUR, hours.start..first_day * 24));
    }
    out.push((RES_DAY, first_day..end_day));
    if end_day * 24 < hours.end {
        out.push((RES_HOUR, end_day * 24..hours.end));
    }
    out
}

impl StoreReader {
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, SourceError> {
        let pooled = self
            .idle
            .lock()
            .map_err(|_| SourceError("reader pool poisoned".into()))?
            .pop();
        let conn = match pooled {
            Some(c) => c,
            None => crate::open_reader(&self.path).map_err(db)?,
        };
        let result = f(&conn).map_err(db);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        result
    }

    fn key_names(conn: &Connection, dim: Dim) -> rusqlite::Result<HashMap<i64, String>> {
        let mut stmt = conn.prepare_cached("SELECT id, key FROM rollup_keys WHERE dim = ?1")?;
        let rows = stmt.query_map(params![dim.code()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }
}

fn corrupt(stream: Stream) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(
        format!(
            "corrupt rollup row for stream `{}`: wrong stats length",
            stream.name()
        )
        .into(),
    )
}

impl SignalSource for StoreReader {
    fn rollups(
        &self,
        stream: Stream,
        dim: Dim,
        hours: Range<i64>,
    ) -> Result<Vec<KeyedStats>, SourceError> {
        let width = stream.signals().len();
        self.with_conn(|conn| {
            let mut acc: HashMap<i64, Vec<Stat>> = HashMap::default();
            let mut stmt = conn.prepare_cached(
                "SELECT key_id, stats FROM rollups
                 WHERE res = ?1 AND stream = ?2 AND dim = ?3 AND bucket >= ?4 AND bucket < ?5",
            )?;
            for (res, buckets) in plan(hours.clone()) {
                let mut rows = stmt.query(params![
                    res,
                    stream.code(),
                    dim.code(),
                    buckets.start,
                    buckets.end
                ])?;
                while let Some(row) = rows.next()? {
                    let key_id: i64 = row.get(0)?;
                    let blob = row.get_ref(1)?.as_blob()?;
                    let slot = acc
                        .entry(key_id)
                        .or_insert_with(|| vec![Stat::EMPTY; width]);
                    if !merge_encoded(blob, slot) {
                        return Err(corrupt(stream));
                    }
                }
            }
            if acc.is_empty() {
                return Ok(Vec::new());
            }
            let names = Self::key_names(conn, dim)?;
            let mut out: Vec<KeyedStats> = acc
                .into_iter()
                .map(|(id, stats)| KeyedStats {
                    key: names.get(&id).cloned().unwrap_or_else(|| format!("#{id}")),
                    stats,
                })
                .collect();
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
    }

    fn hourly_rollups(
        &self,
        stream: Stream,
        dim: Dim,
        hours: Range<i64>,
    ) -> Result<Vec<HourlyStats>, SourceError> {
        let width = stream.signals().len();
        self.with_conn(|conn| {
            let names = Self::key_names(conn, dim)?;
            let mut stmt = conn.prepare_cached(
                "SELECT bucket, key_id, stats FROM rollups
                 WHERE res = ?1 AND stream = ?2 AND dim = ?3 AND bucket >= ?4 AND bucket < ?5
                 ORDER BY bucket, key_id",
            )?;
            let mut rows = stmt.query(params![
                RES_HOUR,
                stream.code(),
                dim.code(),
                hours.start,
                hours.end
            ])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let key_id: i64 = row.get(1)?;
                let mut stats = vec![Stat::EMPTY; width];
                if !merge_encoded(row.get_ref(2)?.as_blob()?, &mut stats) {
                    return Err(corrupt(stream));
                }
                out.push(HourlyStats {
                    hour: row.get(0)?,
                    key: names
                        .get(&key_id)
                        .cloned()
                        .unwrap_or_else(|| format!("#{key_id}")),
                    stats,
                });
            }
            Ok(out)
        })
    }

    fn agents(&self) -> Result<Vec<AgentInfo>, SourceError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT agent_id, department, role FROM agents ORDER BY agent_id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(AgentInfo {
                    agent_id: r.get(0)?,
                    department: r.get(1)?,
                    role: r.get(2)?,
                })
            })?;
            rows.collect()
        })
    }

    fn scaling_decisions(
        &self,
        range: Range<DateTime<Utc>>,
    ) -> Result<Vec<ScalingDecisionRecord>, SourceError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT d.decision_id, d.ts, d.action, d.source_strategy, d.signal, d.rationale, o.outcome
                 FROM scaling_decisions d LEFT JOIN scaling_outcomes o ON o.decision_id = d.decision_id
                 WHERE d.ts >= ?1 AND d.ts < ?2 ORDER BY d.ts, d.decision_id",
            )?;
            let rows = stmt.query_map(
                params![range.start.timestamp_micros(), range.end.timestamp_micros()],
                |r| {
                    let action: String = r.get(2)?;
                    let outcome: Option<String> = r.get(6)?;
                    Ok(ScalingDecisionRecord {
                        decision_id: r.get(0)?,
                        ts: micros_to_time(r.get(1)?),
                        action: match action.as_str() {
                            "hire" => ScalingAction::Hire,
                            "prune" => ScalingAction::Prune,
                            _ => ScalingAction::Hold,
                        },
                        source_strategy: r.get(3)?,
                        signal: r.get(4)?,
                        rationale: r.get(5)?,
                        outcome: outcome.as_deref().and_then(parse_outcome),
                    })
                },
            )?;
            rows.collect()
        })
    }

    fn recent_evolution_outcomes(
        &self,
        range: Range<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<EvolutionOutcomeSummary>, SourceError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT agent_id, axis, applied, proposed_at FROM evolution_outcomes
                 WHERE ts >= ?1 AND ts < ?2 ORDER BY ts DESC, rowid DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![
                    range.start.timestamp_micros(),
                    range.end.timestamp_micros(),
                    limit as i64
                ],
                |r| {
                    Ok(EvolutionOutcomeSummary {
                        agent_id: r.get(0)?,
                        axis: r.get(1)?,
                        applied: r.get(2)?,
                        proposed_at: micros_to_time(r.get(3)?),
                    })
                },
            )?;
            rows.collect()
        })
    }

    fn budget_state(&self, before: DateTime<Utc>) -> Result<Option<BudgetState>, SourceError> {
        self.with_conn(|conn| {
            conn.query_row(
                "SELECT ts, monthly_limit_usd, remaining_usd FROM budget_status
                 WHERE ts < ?1 ORDER BY ts DESC, rowid DESC LIMIT 1",
                params![before.timestamp_micros()],
                |r| {
                    Ok(BudgetState {
                        ts: micros_to_time(r.get(0)?),
                        monthly_limit_usd: r.get(1)?,
                        remaining_usd: r.get(2)?,
                    })
                },
            )
            .optional()
        })
    }

    fn benchmark_runs(
        &self,
        range: Range<DateTime<Utc>>,
    ) -> Result<Vec<BenchmarkRunRecord>, SourceError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT ts, suite, total_score FROM benchmark_runs
                 WHERE ts >= ?1 AND ts < ?2 ORDER BY ts, rowid",
            )?;
            let rows = stmt.query_map(
                params![range.start.timestamp_micros(), range.end.timestamp_micros()],
                |r| {
                    Ok(BenchmarkRunRecord {
                        ts: micros_to_time(r.get(0)?),
                        suite: r.get(1)?,
                        total_score: r.get(2)?,
                    })
                },
            )?;
            rows.collect()
        })
    }
}

pub(crate) fn parse_outcome(s: &str) -> Option<ScalingOutcome> {
    match s {
        "executed" => Some(ScalingOutcome::Executed),
        "failed" => Some(ScalingOutcome::Failed),
        "deferred" => Some(ScalingOutcome::Deferred),
        "rejected" => Some(ScalingOutcome::Rejected),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plan_uses_days_for_whole_days() {
        // 2 hours before day 10, days 10..12, 5 hours of day 12.
        assert_eq!(
            plan(238..293),
            vec![
                (RES_HOUR, 238..240),
                (RES_DAY, 10..12),
                (RES_HOUR, 288..293)
            ]
        );
        assert_eq!(plan(240..264), vec![(RES_DAY, 10..11)]);
        assert_eq!(plan(241..250), vec![(RES_HOUR, 241..250)]);
        assert_eq!(plan(250..250), vec![]);
    }

    proptest! {
        #[test]
        fn plan_covers_every_hour_exactly_once(start in -1000i64..1000, len in 0i64..500) {
            let hours = start..start + len;
            let mut covered = Vec::new();
            for (res, r) in plan(hours.clone()) {
                if res == RES_DAY {
                    for d in r { covered.extend(d * 24..d * 24 + 24); }
                } else {
                    covered.extend(r);
                }
            }
            prop_assert_eq!(covered, hours.collect::<Vec<_>>());
        }
    }
}
