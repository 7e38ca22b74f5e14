//! The one encoder of `kaizen.event.v1` lines for the simulators: the dataset generator
//! ([`crate::generate`]), the test fixtures (`kaizen-fixtures`) and `kaizen-lab`'s organisation
//! all build a [`kaizen_core::event::Event`] and write it with [`write_line`].
//!
//! The bytes are `serde_json`'s compact serialisation of the `Event` (its `Serialize` is the
//! wire format of `docs/events.md`: `type` first, then `id`, `ts` and the fields of the type in
//! schema order; absent optional fields are left out; timestamps as
//! [`kaizen_core::event::Timestamp`] displays them), followed by `\n`.

use kaizen_core::event::{Event, FieldError};

/// Why an event could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The event breaks a rule that involves more than one field; the store would reject it.
    #[error("invalid {event_type} event: {error}")]
    Invalid {
        /// The event's wire `type`.
        event_type: &'static str,
        /// The field at fault and what was expected.
        error: FieldError,
    },
    /// `serde_json` failed (not expected for these types).
    #[error("serialising a {event_type} event failed: {source}")]
    Json {
        /// The event's wire `type`.
        event_type: &'static str,
        /// The serialisation error.
        source: serde_json::Error,
    },
}

/// Appends `event` to `buf` as one NDJSON line (the JSON object and `\n`).
///
/// The event is checked with [`Event::validate`] first; on any error `buf` is left as it was.
pub fn write_line(buf: &mut Vec<u8>, event: &Event) -> Result<(), WireError> {
    let event_type = event.type_name();
    event
        .validate()
        .map_err(|error| WireError::Invalid { event_type, error })?;
    let start = buf.len();
    if let Err(source) = serde_json::to_writer(&mut *buf, event) {
        buf.truncate(start);
        return Err(WireError::Json { event_type, source });
    }
    buf.push(b'\n');
    Ok(())
}

/// `event` as one NDJSON line (see [`write_line`]).
pub fn line(event: &Event) -> Result<Vec<u8>, WireError> {
    let mut buf = Vec::with_capacity(256);
    write_line(&mut buf, event)?;
    Ok(buf)
}
