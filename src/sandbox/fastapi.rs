//! FastAPI's error answer `{"detail": …}`, which two emulated servers (PocketPaw's Deep Work and
//! Skyvern) write, including its 422 for a query parameter that fails validation.
//!
//! Invariant: client text echoed in a 422 goes through [`super::reply::shown`], so a huge value
//! makes a small answer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::reply;

/// A FastAPI error answer `{"detail": …}`.
pub(crate) struct Detail {
    status: StatusCode,
    detail: Value,
}

impl Detail {
    pub(crate) fn new(status: StatusCode, detail: impl Into<Value>) -> Detail {
        Detail {
            status,
            detail: detail.into(),
        }
    }

    /// FastAPI's 422 for query parameter `name` (its `index`-th value when repeated) that fails
    /// validation; `input` is echoed when given, as newer FastAPI versions do.
    pub(crate) fn invalid_query(
        name: &str,
        index: Option<usize>,
        message: String,
        input: Option<&str>,
    ) -> Detail {
        let loc = match index {
            Some(index) => json!(["query", name, index]),
            None => json!(["query", name]),
        };
        let mut error = json!({"type": "value_error", "loc": loc, "msg": message});
        if let Some(input) = input {
            error["input"] = json!(reply::shown(input));
        }
        Detail::new(StatusCode::UNPROCESSABLE_ENTITY, json!([error]))
    }

    /// FastAPI's own 404 for a route it does not have.
    pub(crate) fn no_route() -> Detail {
        Detail::new(StatusCode::NOT_FOUND, "Not Found")
    }

    /// FastAPI's own 405 for a method a route does not take.
    pub(crate) fn wrong_method() -> Detail {
        Detail::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
    }
}

impl IntoResponse for Detail {
    fn into_response(self) -> Response {
        reply::json(self.status, json!({"detail": self.detail}))
    }
}
