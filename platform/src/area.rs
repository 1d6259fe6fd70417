//! What API areas are built from. The api builds one [`Api`] at start-up
//! (the app, the sessions, this machine's live streams and the server's
//! stopping signal) and hands it to each area's `routes(&Api)`; an area
//! declares only what is its own and wraps it with [`Api::area`]:
//!
//! ```ignore
//! struct Notes { per_user: u32 }
//!
//! pub fn routes(api: &Api) -> Result<OpenApiRouter, ConfigError> {
//!     let state = api.area(Notes { per_user: 50 });
//!     Ok(OpenApiRouter::new().routes(routes!(list_notes)).with_state(state))
//! }
//!
//! async fn list_notes(State(notes): State<Area<Notes>>, user: AuthUser) -> … {
//!     // notes.per_user is the area's own; notes.app().db is everyone's.
//! }
//! ```

use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;

use crate::{app::App, config::Env, live::EventHub, session::SessionKeys};

/// The api process's context: the app and what serving HTTP adds to it.
#[derive(Clone)]
pub struct Api {
    pub app: App,
    pub sessions: SessionKeys,
    /// This machine's live streams, fed from NATS.
    pub live: Arc<EventHub>,
    /// Cancelled when the server starts shutting down; long-lived responses
    /// (event streams) end on it so they do not hold up the drain.
    pub stopping: CancellationToken,
}

impl Api {
    /// The variables the process started with: each area reads its own
    /// settings from them.
    pub fn env(&self) -> &Env {
        &self.app.env
    }

    /// The state of an area whose own part is `own`.
    pub fn area<T>(&self, own: T) -> Area<T> {
        Area(Arc::new(AreaParts {
            api: self.clone(),
            own,
        }))
    }
}

/// An area's handler state: the [`Api`] and the area's own part `T`, behind
/// one `Arc` (axum clones a handler's state for every request). It derefs to
/// `T`; [`Area::app`] reaches what every area shares. Handlers that take
/// [`AuthUser`](crate::session::AuthUser) work with it as they are.
pub struct Area<T>(Arc<AreaParts<T>>);

struct AreaParts<T> {
    api: Api,
    own: T,
}

impl<T> Area<T> {
    /// Postgres, Redis, NATS, the queues, the limits and the settings.
    pub fn app(&self) -> &App {
        &self.0.api.app
    }

    pub fn api(&self) -> &Api {
        &self.0.api
    }
}

impl<T> Clone for Area<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> std::ops::Deref for Area<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0.own
    }
}

impl<T> FromRef<Area<T>> for SessionKeys {
    fn from_ref(area: &Area<T>) -> Self {
        area.0.api.sessions.clone()
    }
}
