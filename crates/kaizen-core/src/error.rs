//! What kind of failure an error is: every error of every layer says which, and each adapter
//! maps the kind once (HTTP status, exit code, MCP error code, audit outcome).
/// The kind of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is malformed or a value is out of range (a field is named where known).
    Invalid,
    /// What the request names does not exist.
    NotFound,
    /// The request conflicts with the current state (wrong status, a concurrent change,
    /// a disabled loop, no org yet, a proposal that no longer applies).
    Conflict,
    /// The caller may not do this.
    Forbidden,
    /// The caller is not authenticated.
    Unauthenticated,
    /// Too many requests; retry later.
    RateLimited,
    /// A dependency is unavailable (storage busy, a port down); retry later.
    Unavailable,
    /// A bug or an unexpected failure.
    Internal,
}
impl ErrorKind {
    /// Whether the caller can fix it (everything but `Unavailable` and `Internal`).
    pub fn is_caller_error(self) -> bool { !matches!(self, Self::Unavailable | Self::Internal) }
}
