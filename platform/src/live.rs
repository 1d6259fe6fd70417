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
//! itself) gets a fresh one.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

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

/// This machine's open streams, by user.
#[derive(Default)]
pub struct EventHub {
    users: Mutex<HashMap<Uuid, broadcast::Sender<Arc<LiveEvent>>>>,
}

/// A stream's place in the hub; leaving drops the user's channel when it
/// was the last one.
pub struct Subscription {
    hub: Arc<EventHub>,
    user_id: Uuid,
    pub receiver: broadcast::Receiver<Arc<LiveEvent>>,
}

impl EventHub {
    pub fn subscribe(self: &Arc<Self>, user_id: Uuid) -> Subscription {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = users
            .entry(user_id)
            .or_insert_with(|| broadcast::channel(BACKLOG).0);
        let receiver = sender.subscribe();
        metrics::gauge!("sse_streams_open").increment(1.0);
        Subscription {
            hub: Arc::clone(self),
            user_id,
            receiver,
        }
    }

    pub fn dispatch(&self, user_id: Uuid, event: LiveEvent) {
        let users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = users.get(&user_id) {
            // Err only when every receiver left in the meantime.
            let _ = sender.send(Arc::new(event));
        }
    }

    /// Users with at least one open stream on this machine.
    pub fn connected_users(&self) -> usize {
        self.users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        metrics::gauge!("sse_streams_open").decrement(1.0);
        let mut users = self
            .hub
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // This receiver still counts until the end of this function.
        if users
            .get(&self.user_id)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            users.remove(&self.user_id);
        }
    }
}

/// Forwards every user event from NATS to the hub until the client closes.
/// The subscription is made at once and survives reconnects (async-nats
/// resubscribes), so it works while NATS is still coming up.
pub async fn forward_from_nats(nats: async_nats::Client, hub: Arc<EventHub>) {
    let mut subscriber = match nats.subscribe(all_users_subject()).await {
        Ok(subscriber) => subscriber,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to user events; live updates are off");
            return;
        }
    };
    while let Some(message) = subscriber.next().await {
        let Some(user_id) = user_of_subject(&message.subject) else {
            tracing::warn!(subject = %message.subject, "event on an unexpected subject");
            continue;
        };
        match serde_json::from_slice::<LiveEvent>(&message.payload) {
            Ok(event) => hub.dispatch(user_id, event),
            Err(e) => tracing::warn!(error = %e, "undecodable live event dropped"),
        }
    }
}

/// A Server-Sent Event response: `first` (the snapshot), then every event
/// for the subscription's user, with keep-alive comments every `keepalive`.
/// It ends when the server stops (so it does not hold up the drain) and when
/// the stream falls behind (so the browser reconnects and re-syncs).
///
/// Subscribe before reading the snapshot, so nothing that lands in between is
/// lost (at worst it arrives twice).
pub fn event_stream(
    subscription: Subscription,
    first: Event,
    keepalive: Duration,
    stopping: CancellationToken,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let updates = stream::unfold(subscription, |mut subscription| async move {
        match subscription.receiver.recv().await {
            Ok(event) => Some((Ok(event.to_sse()), subscription)),
            Err(RecvError::Lagged(_) | RecvError::Closed) => None,
        }
    });
    let stream = stream::once(async { Ok(first) })
        .chain(updates)
        .take_until(async move { stopping.cancelled().await });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(keepalive))
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
        let hub = Arc::new(EventHub::default());
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let mut ada_stream = hub.subscribe(ada);
        let mut bob_stream = hub.subscribe(bob);
        hub.dispatch(ada, event("check"));
        assert!(ada_stream.receiver.try_recv().is_ok());
        assert!(bob_stream.receiver.try_recv().is_err());
    }

    #[test]
    fn a_users_channel_goes_with_their_last_stream() {
        let hub = Arc::new(EventHub::default());
        let ada = Uuid::now_v7();
        let first = hub.subscribe(ada);
        let second = hub.subscribe(ada);
        drop(first);
        assert_eq!(hub.connected_users(), 1);
        drop(second);
        assert_eq!(hub.connected_users(), 0);
    }
}
