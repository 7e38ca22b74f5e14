//! The error envelope every failure uses:
//! `{"error": {"code": "...", "message": "...", "details": [{"field": "...", "message": "..."}]}}`.
//! Handlers answer with [`ApiError`]; [`envelope`] gives the same shape to the error responses
//! of the layers and of the router itself (408 from the request timeout, 405, an extractor's
//! plain-text rejection), so no error status leaves the server without it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kaizen_service::op::Cx;
use kaizen_service::ops::Operation;
use kaizen_service::{ErrorKind, Kaizen, Principal, ServiceError};
use serde::Serialize;

/// A problem with one field of the request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDetail {
    /// The field (`reason`, `events[3].ts`, …).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// A failed request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`unauthorized`, `forbidden`, `not_found`, …).
    pub code: &'static str,
    /// For a person.
    pub message: String,
    /// Field-level problems.
    pub details: Vec<FieldDetail>,
    /// Seconds to wait (429).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[FieldDetail]>::is_empty")]
    details: &'a [FieldDetail],
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// 400 `invalid` about one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let field = field.into();
        Self {
            details: vec![FieldDetail {
                field: field.clone(),
                message: message.clone(),
            }],
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("{field}: {message}"),
            )
        }
    }

    /// 500 `internal`; the message is logged, not shown in full.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(error = %message, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
}

/// The HTTP status of each kind of failure: the one place the server maps kinds.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let kind = e.kind();
        if kind == ErrorKind::Internal {
            return Self::internal(format!("{e:#}"));
        }
        let mut out = Self::new(status_of(kind), e.code(), e.to_string());
        if let ServiceError::Field { field, message } = &e {
            out.details.push(FieldDetail {
                field: field.clone(),
                message: message.clone(),
            });
        }
        if let ServiceError::RateLimited {
            retry_after_secs, ..
        } = &e
        {
            out.retry_after = Some(*retry_after_secs);
        }
        out
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope {
            error: Body {
                code: self.code,
                message: &self.message,
                details: &self.details,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kaizen\""),
            );
        }
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<&ApiError> for ServiceError {
    /// An HTTP-level refusal (a malformed form or body) as the service error the gate audits.
    fn from(e: &ApiError) -> Self {
        match (e.status, e.details.first()) {
            (StatusCode::BAD_REQUEST, Some(d)) => {
                ServiceError::field_error(d.field.clone(), d.message.clone())
            }
            (StatusCode::NOT_FOUND, _) => ServiceError::NotFound(e.message.clone()),
            (StatusCode::CONFLICT, _) => ServiceError::Conflict(e.message.clone()),
            (s, _) if s.is_server_error() => ServiceError::Internal(e.message.clone()),
            (StatusCode::BAD_REQUEST, None) if e.code == "invalid" => {
                ServiceError::Invalid(e.message.clone())
            }
            _ => ServiceError::Request {
                code: e.code,
                message: e.message.clone(),
            },
        }
    }
}

/// Runs `f` as operation `op` for `who` through the gate (authorise, rate-limit, run, audit),
/// for adapters whose body can fail with an HTTP-level error of its own (a form field, a
/// content type): such an error is audited as the refusal it is and answered as it was.
pub fn through_gate<T>(
    kaizen: &Kaizen,
    who: &Principal,
    op: &'static Operation,
    target: Option<&str>,
    f: impl FnOnce(&mut Cx<'_>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut http = None;
    let result = kaizen.run_as(who, op, target, |cx| {
        f(cx).map_err(|e| {
            let refusal = ServiceError::from(&e);
            http = Some(e);
            refusal
        })
    });
    result.map_err(|e| http.unwrap_or_else(|| ApiError::from(e)))
}

/// The error code of a response that came without the envelope, by its status.
fn code_of_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "invalid",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "invalid",
    }
}

/// What a response without the envelope says, by its status, when its body says nothing.
fn message_of_status(status: StatusCode) -> String {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "this endpoint does not answer to that method (the Allow header lists those it does)"
                .to_owned()
        }
        StatusCode::REQUEST_TIMEOUT => {
            "the request took longer than server.request_timeout_seconds".to_owned()
        }
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_owned(),
        s => s
            .canonical_reason()
            .map_or_else(|| format!("HTTP {}", s.as_u16()), str::to_owned),
    }
}

/// The most of a plain-text error body kept as the envelope's message.
const MAX_TEXT_MESSAGE: usize = 2048;

/// Middleware: an error response (4xx, 5xx) that is neither JSON (the envelope, or an MCP
/// JSON-RPC error) nor an HTML page of the web UI gets the envelope: the code from its status
/// ([`code_of_status`]), the message from its plain-text body (or the status), and its other
/// headers (`Allow`, `Retry-After`, `Accept-Encoding`, `WWW-Authenticate` …) kept.
pub async fn envelope(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let essence = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if let Some(t) = &essence
        && (t == "application/json" || t == "text/html" || t == "text/event-stream")
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_TEXT_MESSAGE)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let message = text.unwrap_or_else(|| message_of_status(status));
    let error = if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        tracing::error!(status = status.as_u16(), error = %message, "error response");
        ApiError::new(status, "internal", "internal error; see the server log")
    } else {
        ApiError::new(status, code_of_status(status), message)
    };
    let mut out = error.into_response();
    let skip = [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONTENT_ENCODING,
    ];
    for name in parts.headers.keys() {
        if skip.contains(name) {
            continue;
        }
        out.headers_mut().remove(name);
        for value in parts.headers.get_all(name) {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}
