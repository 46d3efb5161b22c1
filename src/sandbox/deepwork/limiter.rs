//! PocketPaw's token-bucket limiter in front of every Deep Work endpoint: `X-RateLimit-*` on every
//! answer while it is on, and 429 `{"detail":"Too many requests"}` with `Retry-After` (whole
//! seconds, rounded up) when the bucket is empty.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::Deepwork;
use crate::sandbox::config::RateLimit;
use crate::sandbox::fastapi::Detail;
use crate::sandbox::state::lock;

/// Token bucket state for the optional limiter.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bucket {
    pub(super) limit: RateLimit,
    pub(super) tokens: f64,
    pub(super) refilled_at: Instant,
}

impl Bucket {
    pub(super) fn new(limit: RateLimit) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            refilled_at: Instant::now(),
        }
    }

    /// Takes one token if there is one; `Err` holds the seconds until there will be.
    pub(super) fn take(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled_at).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst));
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.limit.per_second.max(f64::MIN_POSITIVE);
            Err((wait.ceil() as u64).max(1))
        }
    }

    /// Seconds until the bucket is full again.
    pub(super) fn seconds_to_full(&self) -> u64 {
        let missing = f64::from(self.limit.burst) - self.tokens;
        (missing / self.limit.per_second.max(f64::MIN_POSITIVE)).ceil() as u64
    }
}

/// The optional token-bucket limiter in front of every Deep Work endpoint.
pub(super) async fn rate_limit(
    State(api): State<Arc<Deepwork>>,
    request: Request,
    next: Next,
) -> Response {
    let verdict = lock(&api.store).bucket.as_mut().map(Bucket::take);
    let mut response = match verdict {
        Some(Err(wait_secs)) => {
            let mut response =
                Detail::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests").into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait_secs));
            response
        }
        _ => next.run(request).await,
    };
    if let Some(bucket) = lock(&api.store).bucket {
        let reset = api
            .shared
            .clock
            .now_secs()
            .saturating_add(bucket.seconds_to_full() as i64);
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(bucket.limit.burst));
        headers.insert(
            "x-ratelimit-remaining",
            HeaderValue::from(bucket.tokens.floor() as u64),
        );
        headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
    }
    response
}
