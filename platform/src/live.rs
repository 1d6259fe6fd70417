//! Live events for browsers: published on NATS, fanned out by every API
//! machine to its Server-Sent Event streams.
//!
//! Subjects are per user (`beacon.events.<user_id>`), so an API machine can
//! subscribe to everything (`beacon.events.>`) and route by subject, and a
//! user can never be sent another user's event by a routing mistake in the
//! payload. Each API machine subscribes once and hands every event to the
//! streams of the user named in its subject, whatever process published it.
//! A user with no open stream here costs nothing: their channel exists only
//! while a stream does.
//!
//! Core NATS is at-most-once: a stream must start with a snapshot of what the
//! events describe, and a browser that reconnects (EventSource does so by
//! itself) gets a fresh one. When this machine's NATS connection drops and
//! comes back (its node restarted, say), whatever was published meanwhile
//! never arrives; so every stream here is then ended, and each browser
//! reconnects to a fresh snapshot instead of showing a dashboard that
//! silently missed a change.
//!
//! A stream is also a session's: when a session ends (log out, log out
//! everywhere), [`crate::session`] publishes [`SESSION_ENDED`], and every
//! machine ends that session's streams with a `session_ended` event, so no
//! tab keeps receiving a signed-out user's data until its token expires.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex, PoisonError, atomic::Ordering},
    time::Duration,
};

use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    config::{ConfigError, Env},
    http::ApiError,
};

pub const SUBJECT_PREFIX: &str = "beacon.events";

/// Events a slow stream may fall behind by before it is closed; the
/// browser then reconnects and re-syncs from a snapshot.
const BACKLOG: usize = 64;

pub fn user_subject(user_id: Uuid) -> String {
    format!("{SUBJECT_PREFIX}.{user_id}")
}

/// `beacon.events.>`: what an API machine subscribes to.
pub fn all_users_subject() -> String {
    format!("{SUBJECT_PREFIX}.>")
}

/// The user a subject belongs to: `beacon.events.<user_id>`.
pub fn user_of_subject(subject: &str) -> Option<Uuid> {
    subject
        .strip_prefix(SUBJECT_PREFIX)?
        .strip_prefix('.')?
        .parse()
        .ok()
}

/// One event as it travels: the SSE event name and its JSON payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveEvent {
    pub event: String,
    pub data: Box<RawValue>,
}

impl LiveEvent {
    pub fn new(event: &str, data: &impl Serialize) -> serde_json::Result<Self> {
        Ok(Self {
            event: event.to_owned(),
            data: serde_json::value::to_raw_value(data)?,
        })
    }

    fn to_sse(&self) -> Event {
        Event::default().event(&self.event).data(self.data.get())
    }
}

/// The event that ends streams of a user: all of them (`session` null, the
/// user logged out everywhere) or one session's.
pub const SESSION_ENDED: &str = "session_ended";

/// The data of a [`SESSION_ENDED`] event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEnded {
    /// The session (the token's id) that ended; `None`: every session.
    pub session: Option<Uuid>,
}

impl SessionEnded {
    fn ends(&self, session: Uuid) -> bool {
        self.session.is_none_or(|ended| ended == session)
    }
}

/// What a stream's channel carries: an event; sessions of the user that
/// ended; or the word to end the stream so the browser re-syncs.
#[derive(Debug, Clone)]
pub enum Delivery {
    Event(Arc<LiveEvent>),
    Ended(SessionEnded),
    Resync,
}

/// Publishes on the user's subject. At-most-once, like all of core NATS:
/// a browser that misses an event re-syncs when its stream reconnects, so a
/// failure is logged and not retried.
pub async fn publish(nats: &async_nats::Client, user_id: Uuid, event: &str, data: &impl Serialize) {
    let encoded = LiveEvent::new(event, data).and_then(|e| serde_json::to_vec(&e));
    match encoded {
        Ok(payload) => {
            if let Err(e) = nats.publish(user_subject(user_id), payload.into()).await {
                tracing::warn!(error = %e, event, "could not publish a live event");
            }
        }
        Err(e) => tracing::error!(error = %e, event, "could not encode a live event"),
    }
}

/// This machine's open streams, by user, within two caps: each stream holds
/// a connection (two through nginx) and its snapshot costs queries, so one
/// account must not be able to fill a machine.
pub struct EventHub {
    streams: Mutex<Streams>,
    max_per_user: usize,
    max_total: usize,
}

#[derive(Default)]
struct Streams {
    by_user: HashMap<Uuid, broadcast::Sender<Delivery>>,
    total: usize,
}

/// How long a refused client is told to wait.
const STREAMS_RETRY_AFTER: Duration = Duration::from_secs(10);

/// A stream's place in the hub; leaving drops the user's channel when it
/// was the last one.
pub struct Subscription {
    hub: Arc<EventHub>,
    user_id: Uuid,
    /// The session that opened the stream: it ends with it.
    session: Uuid,
    pub receiver: broadcast::Receiver<Delivery>,
}

impl EventHub {
    /// At most `max_per_user` streams per user and `max_total` in all.
    pub fn new(max_per_user: usize, max_total: usize) -> Self {
        Self {
            streams: Mutex::default(),
            max_per_user,
            max_total,
        }
    }

    /// `SSE_MAX_STREAMS_PER_USER` and `SSE_MAX_STREAMS`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self::new(
            env.var(
                "SSE_MAX_STREAMS_PER_USER",
                "open event streams one user may hold on one api machine (a tab each); then 429",
            )
            .number(5, 1..=1000)?,
            env.var(
                "SSE_MAX_STREAMS",
                "open event streams on one api machine; then 503",
            )
            .number(400, 1..=100_000)?,
        ))
    }

    /// A place for one more stream of the user's, or 429 when they hold
    /// their share already, 503 when the machine holds its share.
    pub fn subscribe(
        self: &Arc<Self>,
        user_id: Uuid,
        session: Uuid,
    ) -> Result<Subscription, ApiError> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let users_streams = streams
            .by_user
            .get(&user_id)
            .map_or(0, broadcast::Sender::receiver_count);
        if users_streams >= self.max_per_user {
            return Err(ApiError::too_many_requests(
                "too_many_streams",
                format!(
                    "you have {users_streams} live streams open, the most allowed; close a tab"
                ),
                STREAMS_RETRY_AFTER,
            ));
        }
        if streams.total >= self.max_total {
            return Err(ApiError::busy(
                "streams_full",
                "this server holds as many live streams as it can; try again shortly",
                STREAMS_RETRY_AFTER,
            ));
        }
        let receiver = streams
            .by_user
            .entry(user_id)
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .subscribe();
        streams.total += 1;
        metrics::gauge!("sse_streams_open").increment(1.0);
        Ok(Subscription {
            hub: Arc::clone(self),
            user_id,
            session,
            receiver,
        })
    }

    /// Hands `event` to the user's streams here; a [`SESSION_ENDED`] event
    /// ends the streams of the sessions it names instead.
    pub fn dispatch(&self, user_id: Uuid, event: LiveEvent) {
        let delivery = if event.event == SESSION_ENDED {
            match serde_json::from_str::<SessionEnded>(event.data.get()) {
                Ok(ended) => Delivery::Ended(ended),
                Err(e) => {
                    tracing::warn!(error = %e, "undecodable session_ended event dropped");
                    return;
                }
            }
        } else {
            Delivery::Event(Arc::new(event))
        };
        let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = streams.by_user.get(&user_id) {
            // Err only when every receiver left in the meantime.
            let _ = sender.send(delivery);
        }
    }

    /// Ends every open stream here once it has sent what it holds; each
    /// browser reconnects and starts again from a snapshot. How many ended.
    pub fn resync_all(&self) -> usize {
        let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        for sender in streams.by_user.values() {
            let _ = sender.send(Delivery::Resync);
        }
        streams.total
    }

    /// Users with at least one open stream on this machine.
    pub fn connected_users(&self) -> usize {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_user
            .len()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        metrics::gauge!("sse_streams_open").decrement(1.0);
        let mut streams = self
            .hub
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        streams.total = streams.total.saturating_sub(1);
        // This receiver still counts until the end of this function.
        if streams
            .by_user
            .get(&self.user_id)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            streams.by_user.remove(&self.user_id);
        }
    }
}

/// How often the forwarder looks whether the NATS connection was re-made.
/// async-nats counts connections; a second's delay before the re-sync is
/// nothing beside the reconnect itself.
const RECONNECT_CHECK: Duration = Duration::from_secs(1);

/// Forwards every user event from NATS to the hub until the client closes.
/// The subscription is made at once and survives reconnects (async-nats
/// resubscribes), so it works while NATS is still coming up. After a
/// reconnect, every open stream is re-synced (see the module's comment).
pub async fn forward_from_nats(nats: async_nats::Client, hub: Arc<EventHub>) {
    let mut subscriber = match nats.subscribe(all_users_subject()).await {
        Ok(subscriber) => subscriber,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to user events; live updates are off");
            return;
        }
    };
    let statistics = nats.statistics();
    let mut connects = statistics.connects.load(Ordering::Relaxed);
    let mut check = tokio::time::interval(RECONNECT_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = subscriber.next() => {
                let Some(message) = message else { break };
                let Some(user_id) = user_of_subject(&message.subject) else {
                    tracing::warn!(subject = %message.subject, "event on an unexpected subject");
                    continue;
                };
                match serde_json::from_slice::<LiveEvent>(&message.payload) {
                    Ok(event) => hub.dispatch(user_id, event),
                    Err(e) => tracing::warn!(error = %e, "undecodable live event dropped"),
                }
            }
            _ = check.tick() => {
                let now = statistics.connects.load(Ordering::Relaxed);
                // The first connection is not a reconnect; one that came and
                // went between two looks still is.
                if now > connects.max(1) {
                    let ended = hub.resync_all();
                    tracing::info!(streams = ended, "NATS reconnected; open event streams re-sync");
                }
                connects = now;
            }
        }
    }
}

/// How an event stream runs: its keep-alive interval, and what ends it.
pub struct StreamEnds {
    pub keepalive: Duration,
    /// The server stopping, so it does not hold up the drain.
    pub stopping: CancellationToken,
    /// The session's end: a stream must not outlive the token that opened
    /// it. The browser reconnects, gets 401 and signs in again.
    pub session_ends: DateTime<Utc>,
}

/// A Server-Sent Event response: `first` (the snapshot), then every event
/// for the subscription's user, with keep-alive comments. It ends as `ends`
/// says; after a `session_ended` event when its session ends; and when the
/// stream falls behind or the hub asks for a re-sync (so the browser
/// reconnects and re-syncs).
///
/// Subscribe before reading the snapshot, so nothing that lands in between is
/// lost (at worst it arrives twice).
pub fn event_stream(
    subscription: Subscription,
    first: Event,
    ends: StreamEnds,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // `None` once the session ended: the `session_ended` event was the last.
    let updates = stream::unfold(Some(subscription), |subscription| async move {
        let mut subscription = subscription?;
        loop {
            match subscription.receiver.recv().await {
                Ok(Delivery::Event(event)) => {
                    return Some((Ok(event.to_sse()), Some(subscription)));
                }
                Ok(Delivery::Ended(ended)) if ended.ends(subscription.session) => {
                    let last = Event::default().event(SESSION_ENDED).data("{}");
                    return Some((Ok(last), None));
                }
                Ok(Delivery::Ended(_)) => {}
                Ok(Delivery::Resync) | Err(RecvError::Lagged(_) | RecvError::Closed) => {
                    return None;
                }
            }
        }
    });
    let session_left = (ends.session_ends - Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    let stopping = ends.stopping;
    let stream = stream::once(async { Ok(first) })
        .chain(updates)
        .take_until(async move {
            tokio::select! {
                () = stopping.cancelled() => {}
                () = tokio::time::sleep(session_left) => {}
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(ends.keepalive))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str) -> LiveEvent {
        LiveEvent::new(name, &serde_json::json!({"n": 1})).expect("json")
    }

    #[test]
    fn user_subjects_fall_under_the_wildcard_and_name_their_user() {
        let id = Uuid::now_v7();
        assert_eq!(user_subject(id), format!("beacon.events.{id}"));
        assert!(all_users_subject().ends_with(".>"));
        assert_eq!(user_of_subject(&user_subject(id)), Some(id));
        assert_eq!(user_of_subject("beacon.events.not-a-uuid"), None);
        assert_eq!(user_of_subject("other.events"), None);
    }

    #[test]
    fn events_travel_with_their_name_and_untouched_data() {
        let wire = serde_json::to_string(&event("check")).expect("json");
        assert_eq!(wire, r#"{"event":"check","data":{"n":1}}"#);
        let back: LiveEvent = serde_json::from_str(&wire).expect("round trip");
        assert_eq!(back.event, "check");
        assert_eq!(back.data.get(), r#"{"n":1}"#);
    }

    #[test]
    fn events_reach_only_their_users_streams() {
        let hub = Arc::new(EventHub::new(5, 100));
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let mut ada_stream = hub.subscribe(ada, Uuid::now_v7()).expect("room");
        let mut bob_stream = hub.subscribe(bob, Uuid::now_v7()).expect("room");
        hub.dispatch(ada, event("check"));
        assert!(matches!(
            ada_stream.receiver.try_recv(),
            Ok(Delivery::Event(_))
        ));
        assert!(bob_stream.receiver.try_recv().is_err());
    }

    #[test]
    fn a_resync_reaches_every_stream_after_what_it_holds() {
        let hub = Arc::new(EventHub::new(5, 100));
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let mut ada_stream = hub.subscribe(ada, Uuid::now_v7()).expect("room");
        let mut bob_stream = hub.subscribe(bob, Uuid::now_v7()).expect("room");
        hub.dispatch(ada, event("check"));
        assert_eq!(hub.resync_all(), 2);
        assert!(matches!(
            ada_stream.receiver.try_recv(),
            Ok(Delivery::Event(_))
        ));
        assert!(matches!(
            ada_stream.receiver.try_recv(),
            Ok(Delivery::Resync)
        ));
        assert!(matches!(
            bob_stream.receiver.try_recv(),
            Ok(Delivery::Resync)
        ));
    }

    #[test]
    fn a_session_ended_event_reaches_the_streams_as_an_ending() {
        let hub = Arc::new(EventHub::new(5, 100));
        let ada = Uuid::now_v7();
        let mut stream = hub.subscribe(ada, Uuid::now_v7()).expect("room");
        let ended = LiveEvent::new(SESSION_ENDED, &SessionEnded { session: None }).expect("json");
        hub.dispatch(ada, ended);
        assert!(matches!(
            stream.receiver.try_recv(),
            Ok(Delivery::Ended(SessionEnded { session: None }))
        ));
    }

    #[test]
    fn an_ended_session_ends_its_own_streams_and_everywhere_ends_all() {
        let (mine, other) = (Uuid::now_v7(), Uuid::now_v7());
        let just_mine = SessionEnded {
            session: Some(mine),
        };
        assert!(just_mine.ends(mine));
        assert!(!just_mine.ends(other));
        let everywhere = SessionEnded { session: None };
        assert!(everywhere.ends(mine) && everywhere.ends(other));
    }

    #[test]
    fn a_users_channel_goes_with_their_last_stream() {
        let hub = Arc::new(EventHub::new(5, 100));
        let ada = Uuid::now_v7();
        let first = hub.subscribe(ada, Uuid::now_v7()).expect("room");
        let second = hub.subscribe(ada, Uuid::now_v7()).expect("room");
        drop(first);
        assert_eq!(hub.connected_users(), 1);
        drop(second);
        assert_eq!(hub.connected_users(), 0);
    }

    #[test]
    fn streams_are_capped_per_user_and_per_machine_and_places_come_back() {
        let hub = Arc::new(EventHub::new(2, 3));
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let a1 = hub.subscribe(ada, Uuid::now_v7()).expect("room");
        let _a2 = hub.subscribe(ada, Uuid::now_v7()).expect("room");
        let refused = hub
            .subscribe(ada, Uuid::now_v7())
            .err()
            .expect("ada's share is used");
        assert!(
            refused.to_string().contains("2 live streams open"),
            "{refused}"
        );
        let _b1 = hub.subscribe(bob, Uuid::now_v7()).expect("room");
        let full = hub
            .subscribe(bob, Uuid::now_v7())
            .err()
            .expect("the machine's share is used");
        assert!(full.to_string().contains("as many live streams"), "{full}");
        drop(a1);
        assert!(
            hub.subscribe(bob, Uuid::now_v7()).is_ok(),
            "a closed stream frees its place"
        );
    }
}
