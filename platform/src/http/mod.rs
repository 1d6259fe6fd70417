//! The HTTP side of a service: the error shape and extractors every handler
//! uses, the middleware stack, the state every API area starts from, and a
//! server that binds `[::]` and drains on shutdown.

mod client;
pub mod csrf;
mod error;
mod extract;
mod server;
mod stack;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Env;

pub use client::{CLIENT_IP_HEADER, ClientAddress};
pub use error::{ApiError, ErrorBody, ErrorDetail, FieldError, json_error_fallback};
pub use extract::{Json, Path, Query};
pub use server::{Serving, bind, serve};
pub use stack::{HttpConfig, REQUEST_ID, with_middleware};

use crate::{connections::Services, live::EventHub, session::SessionKeys};

/// What every API area is built from: the shared connections and the
/// pieces of the HTTP service itself. Each area's `routes()` takes it and
/// keeps what it needs in a state of its own. Cloning is one reference count
/// (an area's state holds it, and axum clones that for every request).
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl AppState {
    pub fn new(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

pub struct App {
    /// The variables the process started with: each area reads its own
    /// settings from them.
    pub env: Env,
    pub services: Services,
    pub sessions: SessionKeys,
    /// This machine's live streams, fed from NATS.
    pub live: Arc<EventHub>,
    /// Cancelled when the server starts shutting down; long-lived responses
    /// (event streams) end on it so they do not hold up the drain.
    pub stopping: CancellationToken,
}
