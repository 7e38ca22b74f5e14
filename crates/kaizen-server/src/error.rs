//! The error envelope every `/api/v1` failure uses:
//! `{"error": {"code": "...", "message": "...", "details": [{"field": "...", "message": "..."}]}}`.

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
            (StatusCode::BAD_REQUEST, None) => ServiceError::Invalid(e.message.clone()),
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
