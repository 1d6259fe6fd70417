//! `GET /api/events`: the signed-in user's live stream, one per tab for
//! every area at once.
//!
//! A stream starts with a `snapshot` event: an object with one key per
//! area, each read from Postgres by the function the area registered
//! (`account` for the skeleton's). Then it carries every event published
//! for the user ([`crate::live::publish`]), whichever process published it,
//! with keep-alive comments, until the session ends (`session_ended`, the
//! last event), the server stops, or the browser reconnects and re-syncs.
//! The subscription is taken before the snapshot is read, so nothing that
//! lands in between is lost (at worst it arrives twice).
//!
//! An area adds its part in `api/src/routes.rs`, one line:
//!
//! ```ignore
//! Events::new(api)?
//!     .snapshot("account", accounts::snapshot)
//!     .snapshot("notes", notes::snapshot)
//! ```

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use axum::{
    extract::State,
    response::sse::{Event, Sse},
};
use futures::{Stream, future::BoxFuture};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    app::App,
    area::{Api, Area},
    config::ConfigError,
    http::{ApiError, ErrorBody},
    live::{self, StreamEnds},
    session::AuthUser,
};

type Read =
    Box<dyn Fn(App, Uuid) -> BoxFuture<'static, anyhow::Result<serde_json::Value>> + Send + Sync>;

/// The stream and the parts of its snapshot.
pub struct Events {
    parts: Vec<(&'static str, Read)>,
    /// A comment on idle streams this often, well inside the idle timeouts
    /// of Fly's proxy and nginx (60 s).
    keepalive: Duration,
}

impl Events {
    /// Reads `SSE_KEEPALIVE_SECS`.
    pub fn new(api: &Api) -> Result<Self, ConfigError> {
        Ok(Self {
            parts: Vec::new(),
            keepalive: api
                .env()
                .var(
                    "SSE_KEEPALIVE_SECS",
                    "keep-alive comment interval on `/api/events`",
                )
                .secs(15, 1..=50)?,
        })
    }

    /// Adds `key` to every snapshot: what `read` returns for the user.
    pub fn snapshot<F, Fut, T>(mut self, key: &'static str, read: F) -> Self
    where
        F: Fn(App, Uuid) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
        T: Serialize,
    {
        let read = Arc::new(read);
        self.parts.push((
            key,
            Box::new(move |app, user_id| {
                let read = Arc::clone(&read);
                Box::pin(async move { Ok(serde_json::to_value(read(app, user_id).await?)?) })
            }),
        ));
        self
    }

    pub fn routes(self, api: &Api) -> OpenApiRouter {
        OpenApiRouter::new()
            .routes(routes!(events))
            .with_state(api.area(self))
    }
}

/// The first event of every stream: each area's part under its key.
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Object, example = json!({"account": {"id": "0193…", "email": "ada@example.com"}}))]
pub struct Snapshot(serde_json::Map<String, serde_json::Value>);

/// The signed-in user's live stream, until their session ends.
///
/// Events: `snapshot` first (each area's part under its key: `account`, the
/// signed-in user, and what each area adds), then the areas' events as they
/// happen, with keep-alive comments in between; `session_ended` is the last
/// event when the session ends (logged out, here or everywhere).
#[utoipa::path(get, path = "/api/events", tag = "live",
    responses(
        (status = 200, description = "An event stream; the first event is a `snapshot`",
            content_type = "text/event-stream", body = Snapshot),
        (status = 401, body = ErrorBody),
        (status = 429, description = "The user holds as many streams as allowed; see Retry-After", body = ErrorBody),
        (status = 503, description = "This machine holds as many streams as it can; see Retry-After", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn events(
    State(events): State<Area<Events>>,
    user: AuthUser,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let subscription = events.api().live.subscribe(user.id, user.session)?;
    let reads = events
        .parts
        .iter()
        .map(|(_, read)| read(events.app().clone(), user.id));
    let values = futures::future::try_join_all(reads).await?;
    let snapshot = Snapshot(
        events
            .parts
            .iter()
            .map(|(key, _)| (*key).to_owned())
            .zip(values)
            .collect(),
    );
    let first = Event::default()
        .event("snapshot")
        .json_data(&snapshot)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("encoding a snapshot")))?
        // How long EventSource waits before reconnecting.
        .retry(Duration::from_secs(2));
    Ok(live::event_stream(
        subscription,
        first,
        StreamEnds {
            keepalive: events.keepalive,
            stopping: events.api().stopping.clone(),
            session_ends: user.expires_at,
        },
    ))
}
