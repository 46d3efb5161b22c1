//! The one trait every emulated API implements, and what the sandbox asks of it.
//!
//! The sandbox holds a list of `Arc<dyn EmulatedApi>` (see `registry` in `mod.rs`): it nests each
//! one's router under `/<name>`, seeds it, snapshots it for tests and the control endpoints, and
//! answers injected rate-limit faults in its dialect. Adding an API is one folder implementing this
//! trait and one line in the registry.
//!
//! Invariants:
//! - This module, like every shared module, imports no API module; API modules import only shared
//!   modules (never `mod.rs` nor each other).
//! - Every method is cheap and takes the API's own lock for as long as the call lasts, never across
//!   an `.await`.

use std::any::Any;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::seeding::Seeding;
use super::sync::lock;

/// One emulated provider API, served under `/<name>`.
pub(crate) trait EmulatedApi: Any + Send + Sync {
    /// The path prefix (without `/`) and the name requests are journaled under: `http`, `beam`, …
    fn name(&self) -> &'static str;

    /// The credentials a client of this API needs, as (environment variable, value).
    fn credentials(&self) -> Vec<(&'static str, &'static str)>;

    /// The API's task store, behind its lock.
    fn store(&self) -> &dyn StoreCell;

    /// Replaces the API's data with freshly seeded data; switches set through the
    /// [`super::Sandbox`] handle go back to their defaults.
    fn seed(&self, seeding: &Seeding) {
        self.store().reseed(seeding);
    }

    /// The API's tasks as JSON, each with `sandbox_settles_to` (see [`super::Sandbox::tasks`]).
    fn snapshot(&self) -> Vec<Value> {
        self.store().snapshot()
    }

    /// (id, final status) of the items a retry put in motion that have settled, in list order.
    fn settled(&self) -> Vec<(String, String)> {
        self.store().settled()
    }

    /// The API's routes, relative to its prefix.
    fn router(self: Arc<Self>) -> Router;

    /// The answer to an injected rate-limit fault in this API's dialect; `retry_after` is the
    /// `Retry-After` value the sandbox announces, for APIs whose real servers send one.
    fn rate_limited(&self, request_headers: &HeaderMap, retry_after: &str) -> Response;
}

/// An API's task store, what the sandbox asks of it through [`EmulatedApi`].
pub(crate) trait TaskStore: Send + 'static {
    /// Replaces the data with freshly seeded data.
    fn reseed(&mut self, seeding: &Seeding);

    /// The tasks as JSON, each with `sandbox_settles_to`.
    fn snapshot(&self) -> Vec<Value>;

    /// (id, final status) of the items a retry put in motion that have settled, in list order.
    fn settled(&self) -> Vec<(String, String)>;
}

/// A [`TaskStore`] behind its lock, as a trait object the default methods of [`EmulatedApi`] can
/// reach; each call holds the lock for its own length only.
pub(crate) trait StoreCell: Send + Sync {
    fn reseed(&self, seeding: &Seeding);
    fn snapshot(&self) -> Vec<Value>;
    fn settled(&self) -> Vec<(String, String)>;
}

impl<S: TaskStore> StoreCell for Mutex<S> {
    fn reseed(&self, seeding: &Seeding) {
        lock(self).reseed(seeding);
    }

    fn snapshot(&self) -> Vec<Value> {
        lock(self).snapshot()
    }

    fn settled(&self) -> Vec<(String, String)> {
        lock(self).settled()
    }
}

/// The API of type `T` among `apis`, each one in order (Beam is served twice).
pub(crate) fn of_type<T: EmulatedApi>(apis: &[Arc<dyn EmulatedApi>]) -> impl Iterator<Item = &T> {
    apis.iter()
        .filter_map(|api| (api.as_ref() as &dyn Any).downcast_ref::<T>())
}

/// The API served under `/<name>`, if any.
pub(crate) fn named<'a>(
    apis: &'a [Arc<dyn EmulatedApi>],
    name: &str,
) -> Option<&'a Arc<dyn EmulatedApi>> {
    apis.iter().find(|api| api.name() == name)
}
