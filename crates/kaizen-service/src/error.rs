//! The one error model: every failure of an operation is a [`ServiceError`] with an
//! [`ErrorKind`] (what the caller can do about it) and a stable `code`; adapters map the kind
//! once (HTTP status, exit code, MCP result, audit outcome) and never look at the message.

pub use kaizen_core::error::ErrorKind;

/// A failed operation.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The meta-loop is switched off.
    #[error(
        "the self-improvement loop is disabled (self_improvement.enabled: false); enable it in kaizen.yaml or with KAIZEN__SELF_IMPROVEMENT__ENABLED=true"
    )]
    Disabled,
    /// There is no org document to improve.
    #[error(
        "there is no org document yet; create one with `kaizen org init` or `kaizen org import FILE`"
    )]
    NoOrg,
    /// The request is wrong, not about one field in particular.
    #[error("{0}")]
    Invalid(String),
    /// One field of the request is wrong.
    #[error("{field}: {message}")]
    Field {
        /// The field (`reason`, `limit`, `events[3].ts` …).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request is malformed at the transport level, with a code of its own
    /// (`unsupported_media_type`, `payload_too_large`, `bad_body`).
    #[error("{message}")]
    Request {
        /// The code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// What the request names does not exist (a proposal, a rollout, an agent …).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (a proposal that is no longer pending, a
    /// concurrent change).
    #[error("{0}")]
    Conflict(String),
    /// A proposal does not pass its applier's checks against the current org.
    #[error("{0}")]
    Rejected(String),
    /// The caller may not do this (`forbidden`: a capability it lacks; `human_only`: a human
    /// decision asked of an agent).
    #[error("{message}")]
    Forbidden {
        /// `forbidden` or `human_only`.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// The caller is not authenticated (a missing, unknown, expired or revoked token).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's write budget is spent.
    #[error("{message}")]
    RateLimited {
        /// Why, and when to retry.
        message: String,
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// A dependency is unavailable; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A storage failure described only by its message (an internal error).
    #[error("storage: {0}")]
    Store(String),
    /// An error the store reported, with its kind (a conflict, an unknown id, a busy
    /// database, a failure) and the error itself.
    #[error("{source}")]
    Storage {
        /// What kind of failure the store reported.
        kind: ErrorKind,
        /// The store's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A bug or an unexpected failure.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid(_) | Self::Field { .. } | Self::Request { .. } => ErrorKind::Invalid,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Disabled | Self::NoOrg | Self::Conflict(_) | Self::Rejected(_) => {
                ErrorKind::Conflict
            }
            Self::Forbidden { .. } => ErrorKind::Forbidden,
            Self::Unauthenticated(_) => ErrorKind::Unauthenticated,
            Self::RateLimited { .. } => ErrorKind::RateLimited,
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::Storage { kind, .. } => *kind,
            Self::Store(_) | Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The stable machine-readable code (`invalid`, `not_found`, `conflict`, `disabled`,
    /// `no_org`, `rejected`, `forbidden`, `human_only`, `unauthorized`, `rate_limited`,
    /// `unavailable`, `internal`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::NoOrg => "no_org",
            Self::Rejected(_) => "rejected",
            Self::Forbidden { code, .. } | Self::Request { code, .. } => code,
            other => kind_code(other.kind()),
        }
    }

    /// A field error.
    pub fn field_error(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Field {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A storage error of `kind`, keeping `source`.
    pub fn store(kind: ErrorKind, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Storage {
            kind,
            source: Box::new(source),
        }
    }

    /// Whether the caller made a mistake (as opposed to an internal failure).
    pub fn is_user_error(&self) -> bool {
        self.kind().is_caller_error()
    }
}

/// The code of a kind, where the variant has no more specific one.
pub fn kind_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Invalid => "invalid",
        ErrorKind::NotFound => "not_found",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Forbidden => "forbidden",
        ErrorKind::Unauthenticated => "unauthorized",
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::Internal => "internal",
    }
}

/// A store error whose kind the service reports as it is.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreMessage(pub String);

/// A failure of the store, as an internal error keeping its message.
pub(crate) fn store_err(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::store(ErrorKind::Internal, StoreMessage(e.to_string()))
}

/// A store failure with its kind kept: a store that cannot be written now (disk full, read-only,
/// busy) is `unavailable` (503), a refusal of the input `invalid`, the rest `internal`.
pub fn from_store(e: kaizen_store::StoreError) -> ServiceError {
    ServiceError::store(e.kind(), e)
}
