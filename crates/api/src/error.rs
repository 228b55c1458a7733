//! The management API's one error type and its one mapping to a response.
//!
//! Handlers return [`ApiError`]; the request-context middleware finishes the
//! body with `path`, `request_id` and `timestamp` (see `context.rs`), and turns
//! any other error response (unmatched route, 405, 413, panic) into the same
//! shape. Internal error text never reaches a client: it is logged, with the
//! request id, and the client gets a generic message.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyzone_core::CoreError;
use keyzone_domain::ValidationErrors;
use serde::Serialize;

/// The `code` values the Keycard API documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ValidationError,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    RateLimitExceeded,
    InternalError,
    ServiceUnavailable,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// JSON path of the offending field in the request body (or the query
    /// parameter's name).
    pub field: String,
    pub message: String,
}

/// The error body of every management API error.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<ErrorDetail>,
    /// The request path.
    pub path: String,
    pub request_id: String,
    pub status: u16,
    /// RFC 3339.
    pub timestamp: String,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<ErrorDetail>,
    /// Overrides the status-based `x-should-retry` decision.
    pub retry: Option<bool>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry: None,
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{what} not found"),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    /// A 400 naming one field (body path or query parameter).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let field = field.into();
        Self {
            status: StatusCode::BAD_REQUEST,
            code: ErrorCode::ValidationError,
            message: format!("{field}: {message}"),
            details: vec![ErrorDetail {
                code: ErrorCode::ValidationError,
                field,
                message,
            }],
            retry: None,
        }
    }

    /// The generic body for an error status that no handler described.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status.as_u16() {
            400 => (ErrorCode::BadRequest, "the request is malformed"),
            401 => (ErrorCode::Unauthorized, "authentication is required"),
            403 => (ErrorCode::Forbidden, "not allowed"),
            404 => (ErrorCode::NotFound, "no such route"),
            405 => (ErrorCode::BadRequest, "method not allowed on this route"),
            409 => (ErrorCode::Conflict, "conflict"),
            413 => (ErrorCode::BadRequest, "request body is larger than 1 MiB"),
            415 => (ErrorCode::BadRequest, "unsupported content type"),
            429 => (ErrorCode::RateLimitExceeded, "too many requests"),
            503 => (ErrorCode::ServiceUnavailable, "service unavailable"),
            s if s >= 500 => (ErrorCode::InternalError, "internal error"),
            _ => (ErrorCode::BadRequest, "the request was not accepted"),
        };
        Self::new(status, code, message)
    }

    /// Deterministic failures are not worth retrying; the official SDK
    /// retries 408, 409, 429 and 5xx unless told otherwise.
    pub fn should_retry(&self) -> bool {
        self.retry
            .unwrap_or(matches!(self.status.as_u16(), 408 | 429 | 503))
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errs: ValidationErrors) -> Self {
        let message = errs.to_string();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: ErrorCode::ValidationError,
            message,
            details: errs
                .0
                .into_iter()
                .map(|e| ErrorDetail {
                    code: ErrorCode::ValidationError,
                    field: e.field,
                    message: e.message,
                })
                .collect(),
            retry: None,
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Validation(v) => v.into(),
            CoreError::NotFound { entity } => ApiError::not_found(entity),
            CoreError::Conflict(c) => {
                let mut err = ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, c.message());
                if let Some(field) = c.field() {
                    err.details.push(ErrorDetail {
                        code: ErrorCode::Conflict,
                        field: field.to_owned(),
                        message: c.message().to_owned(),
                    });
                }
                err
            }
            CoreError::Forbidden(m) => {
                ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, m)
            }
            CoreError::InUse(m) => ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, m),
            CoreError::Unauthorized => ApiError::unauthorized(),
            // Says which key and why (e.g. a disabled KMS key): the operator
            // must act, so retrying is pointless.
            CoreError::KeyUnavailable(m) => ApiError {
                retry: Some(false),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::ServiceUnavailable,
                    m,
                )
            },
            CoreError::Unavailable(source) => {
                tracing::error!(error = %source, cause = ?std::error::Error::source(&source), "database unavailable");
                ApiError::for_status(StatusCode::SERVICE_UNAVAILABLE)
            }
            CoreError::Internal(source) => {
                tracing::error!(error = %source, cause = ?std::error::Error::source(&source), "internal error");
                ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
            CoreError::PreconditionFailed => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                ErrorCode::Conflict,
                "the record has changed since the version If-Match names; read it again",
            ),
            // Nothing was written: worth retrying at once.
            CoreError::Contended => ApiError {
                retry: Some(true),
                ..ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::Conflict,
                    "the record was being changed concurrently; retry",
                )
            },
        }
    }
}

impl IntoResponse for ApiError {
    /// The body is completed by the request-context middleware, which knows
    /// the request id and path; this only carries the error to it.
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        res.headers_mut().insert(
            "x-should-retry",
            HeaderValue::from_static(if self.should_retry() { "true" } else { "false" }),
        );
        res.extensions_mut().insert(self);
        res
    }
}
