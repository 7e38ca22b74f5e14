//! kaizen's domain core.
//!
//! Start here: [`event`] defines what agent runtimes send, [`rollup`] what each event adds to
//! the hourly rollups, [`signals`] turns rollups into an [`snapshot::OrgSignalSnapshot`], and
//! [`rules`] evaluates the built-in and custom rules on a snapshot.
//!
//! Architecture invariant: this crate does no IO. It never touches files, sockets or
//! databases, and reads time only through [`clock::Clock`]. Data comes in through the
//! [`signals::SignalSource`] trait, which storage adapters implement.

pub mod altitude;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod event;
pub mod improve;
pub mod inflection;
pub mod lifecycle;
pub mod metrics;
pub mod org;
pub mod rollout;
pub mod rollup;
pub mod rules;
pub mod signals;
pub mod snapshot;
pub mod stats;
#[cfg(test)]
mod wire_names;
