//! The opening an API's get-one and act-on-one handlers share: check the caller's credentials,
//! then read the ids in the path.
//!
//! An API says how it checks credentials and what an undecodable path becomes by implementing
//! [`Gate`]; a handler then takes [`Admitted<T>`] in place of its headers and `Path<T>`.
//!
//! Invariants:
//! - Credentials are checked before the path is read, so a caller without them learns nothing
//!   about which ids exist or decode.
//! - A refusal is the API's own error answer, byte for byte what the handler would have returned.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// How one API admits a request to a route with ids in its path.
pub(crate) trait Gate: Send + Sync + 'static {
    /// The API's error answer.
    type Refusal: IntoResponse;

    /// Checks the caller's credentials, given the request's headers and raw query string.
    fn authorize(&self, headers: &HeaderMap, query: Option<&str>) -> Result<(), Self::Refusal>;

    /// What a path whose ids do not decode becomes: the API's refusal, or ids to go on with.
    fn undecodable<T: Default>(rejection: PathRejection) -> Result<T, Self::Refusal>;
}

/// The ids of a request's path, read after the caller's credentials were checked.
pub(crate) struct Admitted<T>(pub(crate) T);

impl<A, T> FromRequestParts<Arc<A>> for Admitted<T>
where
    A: Gate,
    T: DeserializeOwned + Default + Send,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<A>) -> Result<Self, Response> {
        api.authorize(&parts.headers, parts.uri.query())
            .map_err(IntoResponse::into_response)?;
        match Path::<T>::from_request_parts(parts, api).await {
            Ok(Path(ids)) => Ok(Admitted(ids)),
            Err(rejection) => A::undecodable(rejection)
                .map(Admitted)
                .map_err(IntoResponse::into_response),
        }
    }
}
