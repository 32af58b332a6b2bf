//! API errors: a status, a stable code and a message, answered as JSON
//! `{errorCode, message, correlationId}` (Lit v7's error shape).
use axum::http::StatusCode;

/// An error answered to a client or peer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Console output of a failed action, when there is some.
    pub logs: Option<String>,
}

impl ApiError {
    /// Any status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            logs: None,
        }
    }
    /// 400.
    pub fn bad_request(code: &str, m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, m)
    }
    /// 401.
    pub fn unauthorized(code: &str, m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, m)
    }
    /// 403.
    pub fn forbidden(code: &str, m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, m)
    }
    /// 404.
    pub fn not_found(code: &str, m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, m)
    }
    /// 409.
    pub fn conflict(code: &str, m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, m)
    }
    /// 413.
    pub fn too_large(m: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "NodeRequestTooLarge", m)
    }
    /// 422: the action failed or hit a limit.
    pub fn action_failed(code: &str, m: impl Into<String>, logs: String) -> Self {
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, m);
        e.logs = (!logs.is_empty()).then_some(logs);
        e
    }
    /// 503.
    pub fn unavailable(code: &str, m: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, m)
    }
    /// 500, logging the cause.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "NodeInternalError",
            e.to_string(),
        )
    }
    /// Relay an error a peer answered.
    pub fn from_peer(status: u16, body: &str) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        match serde_json::from_str::<candela_api::v7::ErrorBody>(body) {
            Ok(b) => ApiError {
                status,
                code: b.error_code,
                message: b.message,
                logs: b.logs,
            },
            Err(_) => Self::new(
                status,
                "NodePeerError",
                body.chars().take(200).collect::<String>(),
            ),
        }
    }
}

impl ApiError {
    /// The answer of a node that has not reconciled its presignatures with
    /// its peers since it started (see [`crate::reconcile`]).
    pub fn syncing() -> Self {
        Self::unavailable(
            "NodeSyncing",
            "this node is reconciling its presignatures with its peers' used marks after starting; try again shortly",
        )
    }
}

impl From<crate::store::StoreError> for ApiError {
    /// A store that is still reconciling answers 503 `NodeSyncing`; any
    /// other store failure is internal.
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Syncing => Self::syncing(),
            other => Self::internal(other),
        }
    }
}
