//! Ingestion: NDJSON or a JSON array in, raw events and rollups out.
//!
//! Semantics (also in `docs/events.md`):
//! * Every record is validated on its own. Valid records are stored; invalid ones are
//!   reported with their line number, the field and what was expected, optionally written
//!   verbatim to a rejects sink, and never stored. One bad record never loses a good one.
//! * A record whose `id` was accepted before (ever: ids outlive raw-event retention) is a
//!   *duplicate*: skipped, counted, not an error. Records without an `id` are never duplicates.
//! * Blank lines are ignored. A line longer than [`MAX_RECORD_BYTES`] is rejected unread.
//! * A JSON array (input whose first non-blank byte is `[`) is read whole; if the array
//!   itself is malformed nothing in it is stored.
//! * Records are committed in batches; if the database fails mid-way, earlier batches stay
//!   committed (re-running is safe for records with ids).
//!
//! Parsing (and summing each chunk's rollup contributions) runs on a second thread while this
//! one writes, so the two cores overlap. Raw records are kept verbatim in segments of
//! [`schema::SEGMENT_EVENTS`] records.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc::sync_channel;

use rustc_hash::FxHashMap as HashMap;

use chrono::{DateTime, Utc};
use kaizen_core::event::Event;
use kaizen_core::rollup::{MAX_SIGNALS, contributions, encode_stats, hour_of, merge_encoded};
use kaizen_core::stats::Stat;
use rusqlite::{OptionalExtension, Transaction, params};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::parse::{RecordError, parse_event};
use crate::source::{RES_DAY, RES_HOUR};
use crate::{Result, Store, StoreError, schema};

/// The longest record accepted, in bytes.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// How the input is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// A JSON array if the first non-blank byte is `[`, NDJSON otherwise.
    #[default]
    Auto,
    /// One JSON object per line.
    Ndjson,
    /// One JSON array of objects.
    JsonArray,
}

/// Options for [`Store::ingest`].
pub struct IngestOptions<'a> {
    /// Framing.
    pub format: InputFormat,
    /// Where rejected records are copied verbatim, one per line.
    pub rejects: Option<&'a mut dyn Write>,
    /// Called with the number of input bytes consumed so far.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
    /// Records per transaction.
    pub batch_size: usize,
    /// How many rejections the report keeps in full (all are counted).
    pub max_reported_rejections: usize,
    /// The ingestion time recorded with each event.
    pub now: DateTime<Utc>,
}

impl<'a> IngestOptions<'a> {
    /// Defaults, stamping events with `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            format: InputFormat::Auto,
            rejects: None,
            progress: None,
            batch_size: 100_000,
            max_reported_rejections: 1000,
            now,
        }
    }
}

/// A rejected record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Rejected {
    /// 1-based line where the record starts.
    pub line: u64,
    /// 1-based position of the record in the input.
    pub record: u64,
    /// The offending field, when known.
    pub field: Option<String>,
    /// What was expected and what was found.
    pub message: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: field `{field}`: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// What an ingestion did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct IngestReport {
    /// Records read (blank lines excluded).
    pub records: u64,
    /// Records stored.
    pub accepted: u64,
    /// Records skipped because their id was already stored.
    pub duplicates: u64,
    /// Records rejected.
    pub rejected: u64,
    /// The first rejections, in input order.
    pub rejections: Vec<Rejected>,
    /// Accepted records per event type.
    pub accepted_by_type: BTreeMap<String, u64>,
}

/// One record on its way from the parser to the writer.
struct Parsed {
    line: u64,
    record: u64,
    raw: String,
    result: std::result::Result<Event, RecordError>,
}

impl Store {
    /// Ingests NDJSON or a JSON array from `input`. See the module docs for the semantics.
    pub fn ingest(
        &mut self,
        input: impl Read + Send,
        mut opts: IngestOptions<'_>,
    ) -> Result<IngestReport> {
        let mut reader = BufReader::with_capacity(1 << 16, input);
        let format = match opts.format {
            InputFormat::Auto => {
                if first_significant_byte(&mut reader)? == Some(b'[') {
                    InputFormat::JsonArray
                } else {
                    InputFormat::Ndjson
                }
            }
            f => f,
        };
        let mut report = IngestReport::default();
        let mut writer = Writer {
            now: opts.now.timestamp_micros(),
            ..Writer::default()
        };
        if format == InputFormat::JsonArray {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes)?;
            let items = match split_array(&bytes) {
                Ok(items) => items,
                Err(rejection) => {
                    report.records = 1;
                    report.rejected = 1;
                    report.rejections.push(rejection);
                    return Ok(report);
                }
            };
            let total = bytes.len() as u64;
            let mut items = items.into_iter().peekable();
            let chunks = std::iter::from_fn(|| {
                items.peek()?;
                let chunk: Vec<Parsed> = items.by_ref().take(CHUNK_RECORDS).collect();
                Some(Ok(Chunk::new(chunk, total)))
            });
            self.write_chunks(chunks, &mut writer, &mut report, &mut opts)?;
            return Ok(report);
        }

        std::thread::scope(|scope| -> Result<IngestReport> {
            let (send, recv) = sync_channel::<std::io::Result<Chunk>>(4);
            let parser = scope.spawn(move || read_ndjson(reader, |chunk| send.send(chunk).is_ok()));
            self.write_chunks(recv, &mut writer, &mut report, &mut opts)?;
            parser
                .join()
                .map_err(|_| StoreError::Refused("the parser thread panicked".into()))?;
            Ok(report)
        })
    }

    /// Writes chunks in transactions of about `opts.batch_size` records, reporting progress
    /// after each chunk.
    fn write_chunks(
        &mut self,
        chunks: impl IntoIterator<Item = std::io::Result<Chunk>>,
        writer: &mut Writer,
        report: &mut IngestReport,
        opts: &mut IngestOptions<'_>,
    ) -> Result<()> {
        let batch_size = opts.batch_size.max(1);
        let mut tx = self.conn.transaction()?;
        let mut in_batch = 0usize;
        for chunk in chunks {
            let chunk = chunk?;
            in_batch += chunk.items.len();
            writer.handle_chunk(&tx, chunk.items, chunk.rollups, report, opts)?;
            if in_batch >= batch_size {
                writer.flush(&tx)?;
                tx.commit()?;
                tx = self.conn.transaction()?;
                in_batch = 0;
            }
            if let Some(p) = opts.progress {
                p(chunk.bytes);
            }
        }
        writer.flush(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// Rebuilds every derived table (rollups, agents, scaling, budget, evolution, benchmark)
    /// from the raw events. Refuses when retention has pruned raw events, since the rebuilt
    /// rollups would lose that history, unless `force`.
    pub fn rebuild_rollups(
        &mut self,
        force: bool,
        progress: Option<&dyn Fn(u64, u64)>,
    ) -> Result<u64> {
        if let Some(before) = self.pruned_before()?
            && !force
        {
            return Err(StoreError::Refused(format!(
                "raw events before {before} were pruned by retention; rebuilding would drop their rollups (use --force to rebuild from what is left)"
            )));
        }
        let total: i64 = self.conn.query_row(
            "SELECT coalesce(sum(count), 0) FROM event_segments",
            [],
            |r| r.get(0),
        )?;
        let tx = self.conn.transaction()?;
        for table in schema::DERIVED_TABLES {
            tx.execute(&format!("DELETE FROM {table}"), [])?;
        }
        let mut writer = Writer {
            insert_raw: false,
            ..Writer::default()
        };
        let mut last_segment = 0i64;
        let mut done = 0u64;
        loop {
            let chunk: Vec<(i64, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT id, body FROM event_segments WHERE id > ?1 ORDER BY id LIMIT 64",
                )?;
                let rows = stmt.query_map(params![last_segment], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let Some((id, _)) = chunk.last() else { break };
            last_segment = *id;
            for (segment, body) in chunk {
                for (i, line) in body.lines().enumerate() {
                    let event = parse_event(line).map_err(|e| {
                        StoreError::Incompatible(format!(
                            "stored event {} of segment {segment} no longer parses: {e}",
                            i + 1
                        ))
                    })?;
                    writer.apply(&tx, &event, line)?;
                    writer.accumulate(&tx, &event)?;
                    done += 1;
                }
            }
            writer.flush(&tx)?;
            if let Some(p) = progress {
                p(done, total as u64);
            }
        }
        tx.commit()?;
        Ok(done)
    }
}

/// Skips a UTF-8 byte-order mark and whitespace, returning the first other byte.
fn first_significant_byte(reader: &mut impl BufRead) -> std::io::Result<Option<u8>> {
    let mut bom_checked = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        if !bom_checked {
            bom_checked = true;
            if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                reader.consume(3);
                continue;
            }
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                reader.consume(i);
                return Ok(Some(b));
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

/// Reads one line into `line`, keeping at most `MAX_RECORD_BYTES + 1` bytes of it (the rest is
/// consumed and dropped). Returns the bytes consumed, 0 at the end.
fn read_line_capped(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<usize> {
    line.clear();
    let mut consumed = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = (MAX_RECORD_BYTES + 1).saturating_sub(line.len());
        line.extend_from_slice(&buf[..take.min(room)]);
        reader.consume(take);
        consumed += take;
        if done {
            return Ok(consumed);
        }
    }
}

/// Parses NDJSON, handing chunks of records to `send` (which returns false to stop).
/// Records per chunk handed from the parser to the writer.
const CHUNK_RECORDS: usize = 2048;

fn read_ndjson(mut reader: impl BufRead, mut send: impl FnMut(std::io::Result<Chunk>) -> bool) {
    let mut line_no = 0u64;
    let mut record = 0u64;
    let mut bytes = 0u64;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = Vec::with_capacity(CHUNK_RECORDS);
    loop {
        let n = match read_line_capped(&mut reader, &mut buf) {
            Ok(n) => n,
            Err(e) => {
                send(Err(e));
                return;
            }
        };
        if n == 0 {
            break;
        }
        bytes += n as u64;
        line_no += 1;
        let text = trim_line(&buf, line_no == 1);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        record += 1;
        let (raw, result) = if buf.len() > MAX_RECORD_BYTES {
            let mut raw = String::from_utf8_lossy(&text[..text.len().min(256)]).into_owned();
            raw.push('…');
            (
                raw,
                Err(RecordError {
                    field: None,
                    message: format!("record longer than {MAX_RECORD_BYTES} bytes"),
                }),
            )
        } else {
            match std::str::from_utf8(text) {
                Ok(s) => (s.to_owned(), parse_event(s)),
                Err(e) => (
                    String::from_utf8_lossy(text).into_owned(),
                    Err(RecordError {
                        field: None,
                        message: format!("not valid UTF-8 ({e})"),
                    }),
                ),
            }
        };
        chunk.push(Parsed {
            line: line_no,
            record,
            raw,
            result,
        });
        if chunk.len() == CHUNK_RECORDS
            && !send(Ok(Chunk::new(
                std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_RECORDS)),
                bytes,
            )))
        {
            return;
        }
    }
    if !chunk.is_empty() || bytes > 0 {
        send(Ok(Chunk::new(chunk, bytes)));
    }
}

/// Parsed records on their way to the writer, with their rollup contributions already summed
/// (on the parser thread) per (stream, dim, hour) and key.
struct Chunk {
    items: Vec<Parsed>,
    rollups: ChunkRollups,
    /// Input bytes consumed up to the end of this chunk.
    bytes: u64,
}

/// Summed contributions: (stream, dim, hour) → key → stats.
type ChunkRollups = HashMap<(i64, i64, i64), HashMap<String, [Stat; MAX_SIGNALS]>>;

impl Chunk {
    fn new(items: Vec<Parsed>, bytes: u64) -> Self {
        let mut rollups = ChunkRollups::default();
        for event in items.iter().filter_map(|p| p.result.as_ref().ok()) {
            let hour = hour_of(event.ts());
            contributions(event, |stream, dim, key, stats| {
                let keys = rollups
                    .entry((stream.code(), dim.code(), hour))
                    .or_default();
                let slot = match keys.get_mut(key) {
                    Some(slot) => slot,
                    None => keys
                        .entry(key.to_owned())
                        .or_insert([Stat::EMPTY; MAX_SIGNALS]),
                };
                for (acc, s) in slot.iter_mut().zip(stats) {
                    acc.merge(s);
                }
            });
        }
        Self {
            items,
            rollups,
            bytes,
        }
    }
}

fn trim_line(buf: &[u8], first: bool) -> &[u8] {
    let mut s = buf;
    if first && s.starts_with(&[0xEF, 0xBB, 0xBF]) {
        s = &s[3..];
    }
    while let [rest @ .., b'\n' | b'\r'] = s {
        s = rest;
    }
    s
}

/// Splits a JSON array into its elements, each with its line number.
fn split_array(bytes: &[u8]) -> std::result::Result<Vec<Parsed>, Rejected> {
    let whole_input = |line: u64, message: String| Rejected {
        line,
        record: 0,
        field: None,
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        whole_input(
            1,
            format!("input is not valid UTF-8 ({e}); nothing was stored"),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
        whole_input(
            e.line() as u64,
            format!(
                "the JSON array is malformed at column {}: {}; nothing was stored",
                e.column(),
                crate::parse::strip_position(e.to_string())
            ),
        )
    })?;
    let base = text.as_ptr() as usize;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let s = raw.get();
            let offset = (s.as_ptr() as usize).saturating_sub(base).min(text.len());
            let line = 1 + text.as_bytes()[..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            // Rejected elements go to the rejects sink one per line, so keep them on one line.
            let raw = if s.contains('\n') {
                serde_json::from_str::<serde_json::Value>(s)
                    .map_or_else(|_| s.replace('\n', " "), |v| v.to_string())
            } else {
                s.to_owned()
            };
            let result = if s.len() > MAX_RECORD_BYTES {
                Err(RecordError {
                    field: None,
                    message: format!("record longer than {MAX_RECORD_BYTES} bytes"),
                })
            } else {
                parse_event(s)
            };
            Parsed {
                line,
                record: i as u64 + 1,
                raw,
                result,
            }
        })
        .collect())
}

/// Raw records waiting to be written as one `event_segments` row.
#[derive(Default)]
struct Segment {
    body: String,
    count: usize,
    min_ts: i64,
    max_ts: i64,
}

impl Segment {
    fn push(&mut self, raw: &str, ts: i64) {
        if self.count == 0 {
            self.min_ts = ts;
            self.max_ts = ts;
        } else {
            self.min_ts = self.min_ts.min(ts);
            self.max_ts = self.max_ts.max(ts);
            self.body.push('\n');
        }
        self.body.push_str(raw);
        self.count += 1;
    }

    fn write(&mut self, tx: &Transaction<'_>, now: i64) -> rusqlite::Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        tx.prepare_cached(
            "INSERT INTO event_segments (min_ts, max_ts, count, ingested_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![self.min_ts, self.max_ts, self.count as i64, now, self.body])?;
        self.body.clear();
        self.count = 0;
        Ok(())
    }
}

/// Rollup row key: (resolution, stream, dim, bucket, key id).
type RollupKey = (i64, i64, i64, i64, i64);

/// The latest sighting of an agent in the current batch.
struct AgentSeen {
    department: String,
    role: String,
    first: i64,
    last: i64,
}

/// Accumulates a batch in memory and writes it at `flush`.
struct Writer {
    insert_raw: bool,
    /// Ingestion time, µs.
    now: i64,
    /// The raw segment being filled.
    segment: Segment,
    /// Accepted events per type in this batch.
    counts: HashMap<&'static str, i64>,
    /// Interned key ids per dimension code.
    key_ids: HashMap<i64, HashMap<String, i64>>,
    rollups: HashMap<RollupKey, [Stat; MAX_SIGNALS]>,
    agents: HashMap<String, AgentSeen>,
    buf: Vec<u8>,
}

impl Default for Writer {
    fn default() -> Self {
        Self {
            insert_raw: true,
            now: 0,
            segment: Segment::default(),
            counts: HashMap::default(),
            key_ids: HashMap::default(),
            rollups: HashMap::default(),
            agents: HashMap::default(),
            buf: Vec::new(),
        }
    }
}

impl Writer {
    /// Handles a chunk from the parser thread. When none of its valid records is a duplicate
    /// (the usual case) the chunk's pre-summed rollups are merged as a whole; otherwise the
    /// accepted records' contributions are added one by one.
    fn handle_chunk(
        &mut self,
        tx: &Transaction<'_>,
        items: Vec<Parsed>,
        rollups: ChunkRollups,
        report: &mut IngestReport,
        opts: &mut IngestOptions<'_>,
    ) -> Result<()> {
        let duplicates_before = report.duplicates;
        let mut accepted = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if self.handle(tx, item, report, opts)? {
                accepted.push(i);
            }
        }
        if report.duplicates == duplicates_before {
            return self.merge_chunk(tx, rollups);
        }
        for i in accepted {
            if let Some(Ok(event)) = items.get(i).map(|p| &p.result) {
                self.accumulate(tx, event)?;
            }
        }
        Ok(())
    }

    fn merge_chunk(&mut self, tx: &Transaction<'_>, rollups: ChunkRollups) -> Result<()> {
        for ((stream, dim, hour), keys) in rollups {
            for (key, stats) in keys {
                let id = intern(&mut self.key_ids, tx, dim, &key)?;
                for (res, bucket) in [(RES_HOUR, hour), (RES_DAY, hour.div_euclid(24))] {
                    let slot = self
                        .rollups
                        .entry((res, stream, dim, bucket, id))
                        .or_insert([Stat::EMPTY; MAX_SIGNALS]);
                    for (acc, s) in slot.iter_mut().zip(&stats) {
                        acc.merge(s);
                    }
                }
            }
        }
        Ok(())
    }

    /// Handles one record: stores it or reports it. Returns whether it was accepted (stored,
    /// not a duplicate). Its rollup contributions are the caller's business.
    fn handle(
        &mut self,
        tx: &Transaction<'_>,
        item: &Parsed,
        report: &mut IngestReport,
        opts: &mut IngestOptions<'_>,
    ) -> Result<bool> {
        report.records += 1;
        match &item.result {
            Ok(event) => {
                if self.apply(tx, event, &item.raw)? {
                    report.accepted += 1;
                    *report
                        .accepted_by_type
                        .entry(event.type_name().to_owned())
                        .or_default() += 1;
                    return Ok(true);
                }
                report.duplicates += 1;
            }
            Err(e) => {
                report.rejected += 1;
                if report.rejections.len() < opts.max_reported_rejections {
                    report.rejections.push(Rejected {
                        line: item.line,
                        record: item.record,
                        field: e.field.clone(),
                        message: e.message.clone(),
                    });
                }
                if let Some(w) = opts.rejects.as_mut() {
                    w.write_all(item.raw.as_bytes())?;
                    w.write_all(b"\n")?;
                }
            }
        }
        Ok(false)
    }

    /// Stores one event: raw segment (unless rebuilding), idempotency id and entities; its
    /// rollup contributions are added separately ([`Writer::accumulate`] or a chunk's
    /// pre-summed rollups). Returns false when its id was already stored.
    fn apply(&mut self, tx: &Transaction<'_>, event: &Event, raw: &str) -> Result<bool> {
        let ts = event.ts().micros();
        if self.insert_raw {
            if let Some(id) = event.id() {
                let inserted = tx
                    .prepare_cached(
                        "INSERT INTO event_ids (event_id) VALUES (?1) ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![id.as_str()])?;
                if inserted == 0 {
                    return Ok(false);
                }
            }
            self.segment.push(raw, ts);
            *self.counts.entry(event.type_name()).or_default() += 1;
            if self.segment.count >= schema::SEGMENT_EVENTS {
                self.segment.write(tx, self.now)?;
            }
        }
        self.entities(tx, event, ts)?;
        Ok(true)
    }

    /// Adds an event's rollup contributions to the batch.
    fn accumulate(&mut self, tx: &Transaction<'_>, event: &Event) -> Result<()> {
        let hour = hour_of(event.ts());
        let day = hour.div_euclid(24);
        let Writer {
            key_ids, rollups, ..
        } = self;
        let mut failure = None;
        contributions(event, |stream, dim, key, stats| {
            let id = match intern(key_ids, tx, dim.code(), key) {
                Ok(id) => id,
                Err(e) => {
                    failure = Some(e);
                    return;
                }
            };
            for (res, bucket) in [(RES_HOUR, hour), (RES_DAY, day)] {
                let slot = rollups
                    .entry((res, stream.code(), dim.code(), bucket, id))
                    .or_insert([Stat::EMPTY; MAX_SIGNALS]);
                for (acc, s) in slot.iter_mut().zip(stats) {
                    acc.merge(s);
                }
            }
        });
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    fn entities(&mut self, tx: &Transaction<'_>, event: &Event, ts: i64) -> Result<()> {
        match event {
            Event::TaskCompleted(t) => match self.agents.get_mut(t.agent_id.as_str()) {
                Some(seen) => {
                    seen.first = seen.first.min(ts);
                    if ts >= seen.last {
                        seen.last = ts;
                        if seen.department != t.department.as_str() {
                            t.department.as_str().clone_into(&mut seen.department);
                        }
                        if seen.role != t.role.as_str() {
                            t.role.as_str().clone_into(&mut seen.role);
                        }
                    }
                }
                None => {
                    self.agents.insert(
                        t.agent_id.as_str().to_owned(),
                        AgentSeen {
                            department: t.department.as_str().to_owned(),
                            role: t.role.as_str().to_owned(),
                            first: ts,
                            last: ts,
                        },
                    );
                }
            },
            Event::ScalingDecision(d) => {
                tx.prepare_cached(
                    "INSERT INTO scaling_decisions (decision_id, ts, action, source_strategy, signal, rationale)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (decision_id) DO UPDATE SET ts = excluded.ts, action = excluded.action,
                        source_strategy = excluded.source_strategy, signal = excluded.signal, rationale = excluded.rationale
                     WHERE excluded.ts >= scaling_decisions.ts",
                )?
                .execute(params![
                    d.decision_id.as_str(),
                    ts,
                    serde_plain(&d.action),
                    d.source_strategy.as_str(),
                    d.signal.as_str(),
                    d.rationale
                ])?;
            }
            Event::ScalingOutcome(o) => {
                tx.prepare_cached(
                    "INSERT INTO scaling_outcomes (decision_id, ts, outcome) VALUES (?1, ?2, ?3)
                     ON CONFLICT (decision_id) DO UPDATE SET ts = excluded.ts, outcome = excluded.outcome
                     WHERE excluded.ts >= scaling_outcomes.ts",
                )?
                .execute(params![o.decision_id.as_str(), ts, serde_plain(&o.outcome)])?;
            }
            Event::BudgetStatus(b) => {
                tx.prepare_cached("INSERT INTO budget_status (ts, monthly_limit_usd, remaining_usd) VALUES (?1, ?2, ?3)")?
                    .execute(params![ts, b.monthly_limit_usd.get(), b.remaining_usd.get()])?;
            }
            Event::EvolutionOutcome(e) => {
                tx.prepare_cached(
                    "INSERT INTO evolution_outcomes (ts, agent_id, axis, applied, proposed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![ts, e.agent_id.as_str(), e.axis.as_str(), e.applied, e.proposed_at.micros()])?;
            }
            Event::BenchmarkRun(b) => {
                tx.prepare_cached(
                    "INSERT INTO benchmark_runs (ts, suite, total_score) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![ts, b.suite.as_str(), b.total_score.get()])?;
            }
            Event::CostRecorded(_)
            | Event::CoordinationMeasured(_)
            | Event::ErrorFinding(_)
            | Event::TelemetryEvent(_) => {}
        }
        Ok(())
    }

    /// Writes the pending raw segment, the accumulated rollups and agents, merging with what
    /// is stored.
    fn flush(&mut self, tx: &Transaction<'_>) -> Result<()> {
        self.segment.write(tx, self.now)?;
        {
            let mut counts = tx.prepare_cached(
                "INSERT INTO event_counts (type, count) VALUES (?1, ?2)
                 ON CONFLICT (type) DO UPDATE SET count = count + excluded.count",
            )?;
            for (kind, n) in self.counts.drain() {
                counts.execute(params![kind, n])?;
            }
        }
        // Most rows of a batch are new (input is mostly in time order): try a plain insert
        // first and read-merge-update only the rows that already exist.
        let mut insert = tx.prepare_cached(
            "INSERT INTO rollups (res, stream, dim, bucket, key_id, stats) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (res, stream, dim, bucket, key_id) DO NOTHING",
        )?;
        let mut select = tx.prepare_cached(
            "SELECT stats FROM rollups WHERE res = ?1 AND stream = ?2 AND dim = ?3 AND bucket = ?4 AND key_id = ?5",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE rollups SET stats = ?6 WHERE res = ?1 AND stream = ?2 AND dim = ?3 AND bucket = ?4 AND key_id = ?5",
        )?;
        for ((res, stream, dim, bucket, key_id), stats) in self.rollups.drain() {
            let width = kaizen_core::rollup::Stream::ALL
                .iter()
                .find(|s| s.code() == stream)
                .map_or(MAX_SIGNALS, |s| s.signals().len());
            let key = params![res, stream, dim, bucket, key_id];
            encode_stats(&stats[..width], &mut self.buf);
            if insert.execute(params![res, stream, dim, bucket, key_id, &self.buf])? == 1 {
                continue;
            }
            let mut merged = [Stat::EMPTY; MAX_SIGNALS];
            merged[..width].copy_from_slice(&stats[..width]);
            let existing: Vec<u8> = select.query_row(key, |r| r.get(0))?;
            if !merge_encoded(&existing, &mut merged[..width]) {
                return Err(StoreError::Incompatible(format!(
                    "stored rollup row (stream {stream}, bucket {bucket}) has an unexpected size; run `kaizen store rebuild-rollups`"
                )));
            }
            encode_stats(&merged[..width], &mut self.buf);
            update.execute(params![res, stream, dim, bucket, key_id, &self.buf])?;
        }
        let mut agents = tx.prepare_cached(
            "INSERT INTO agents (agent_id, department, role, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (agent_id) DO UPDATE SET
                department = CASE WHEN excluded.last_seen >= agents.last_seen THEN excluded.department ELSE agents.department END,
                role = CASE WHEN excluded.last_seen >= agents.last_seen THEN excluded.role ELSE agents.role END,
                first_seen = min(agents.first_seen, excluded.first_seen),
                last_seen = max(agents.last_seen, excluded.last_seen)",
        )?;
        for (id, a) in self.agents.drain() {
            agents.execute(params![id, a.department, a.role, a.first, a.last])?;
        }
        Ok(())
    }
}

/// The id of `key` in dimension `dim`, interning it on first sight.
fn intern(
    cache: &mut HashMap<i64, HashMap<String, i64>>,
    tx: &Transaction<'_>,
    dim: i64,
    key: &str,
) -> rusqlite::Result<i64> {
    let keys = cache.entry(dim).or_default();
    if let Some(id) = keys.get(key) {
        return Ok(*id);
    }
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM rollup_keys WHERE dim = ?1 AND key = ?2")?
        .query_row(params![dim, key], |r| r.get(0))
        .optional()?;
    let id = match existing {
        Some(id) => id,
        None => tx
            .prepare_cached("INSERT INTO rollup_keys (dim, key) VALUES (?1, ?2) RETURNING id")?
            .query_row(params![dim, key], |r| r.get(0))?,
    };
    keys.insert(key.to_owned(), id);
    Ok(id)
}

/// The serde wire name of a unit enum variant.
fn serde_plain<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
