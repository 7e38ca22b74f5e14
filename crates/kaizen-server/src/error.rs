//! The error envelope every `/api/v1` failure uses:
//! `{"error": {"code": "...", "message": "...", "details": [{"field": "...", "message": "..."}]}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kaizen_service::ServiceError;
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

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Disabled => Self::new(StatusCode::CONFLICT, "disabled", e.to_string()),
            ServiceError::NoOrg => Self::new(StatusCode::CONFLICT, "no_org", e.to_string()),
            ServiceError::Invalid(m) => Self::new(StatusCode::BAD_REQUEST, "invalid", m),
            ServiceError::NotFound(m) => Self::new(StatusCode::NOT_FOUND, "not_found", m),
            ServiceError::Rejected(m) => Self::new(StatusCode::CONFLICT, "rejected", m),
            ServiceError::Store(m) => Self::internal(m),
        }
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
