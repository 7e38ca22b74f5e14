//! kaizen-lab: the simulated organisation and the closed-loop evaluation.
//!
//! * [`scenario`]: scenario files (`scenarios/*.yaml`), parsed strictly.
//! * [`model`]: the response model — how a task turns out given the knobs an agent reads from
//!   its effective configuration, its skill and the active faults.
//! * [`world`]: the organisation — a roster of agents working tasks on a virtual clock and
//!   emitting `kaizen.event.v1` events of every domain ([`emit`]), with the ground truth in a
//!   [`kpi::Ledger`].
//! * [`run`]: `kaizen sim run` — a scenario with kaizen's loop (real store, real service
//!   layer, the real REST API for the [`reviewer`]) and without it, compared in a
//!   [`report::ScenarioReport`]; [`suite`] runs a directory of scenarios.
//! * [`demo`]: `kaizen demo` — the organisation on an accelerated clock against a real
//!   `kaizen serve`, approved by a person in the web UI or by the simulated reviewer.
//!
//! Documented in `docs/simulator.md`.

pub mod client;
pub mod demo;
pub mod emit;
pub mod error;
pub mod kpi;
pub mod model;
pub mod report;
pub mod reviewer;
pub mod run;
pub mod scenario;
pub mod server;
pub mod world;

pub use error::LabError;
pub use report::ScenarioReport;
pub use run::{RunOptions, run_scenario};
pub use scenario::Scenario;
