//! The lab's one error type.

use crate::scenario::ScenarioError;

/// Why a simulation could not run (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The scenario is invalid.
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// An option is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
    /// A kaizen service operation failed.
    #[error("{0}")]
    Service(String),
    /// An HTTP request to the kaizen server failed or was refused.
    #[error("HTTP: {0}")]
    Http(String),
    /// The simulation could not read an agent's configuration.
    #[error("configuration of agent {agent}: {message}")]
    Config {
        /// The agent.
        agent: String,
        /// What is wrong.
        message: String,
    },
    /// The simulation produced an event the schema rejects (a bug in the simulator).
    #[error("simulator: {0}")]
    Simulator(String),
    /// Files or sockets.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The run was stopped (Ctrl-C).
    #[error("stopped")]
    Stopped,
}

impl LabError {
    /// A store error.
    pub fn store(e: impl std::fmt::Display) -> Self {
        LabError::Store(e.to_string())
    }

    /// A service error.
    pub fn service(e: impl std::fmt::Display) -> Self {
        LabError::Service(e.to_string())
    }

    /// Whether the caller's input (the scenario, an argument) is at fault.
    pub fn is_user_error(&self) -> bool {
        matches!(self, LabError::Scenario(_) | LabError::Invalid(_))
    }
}
