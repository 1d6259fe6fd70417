//! Fan-out of NATS events to this machine's SSE streams.
//!
//! Each API machine subscribes once to every user's subject
//! (`beacon.events.>`) and hands each event to the streams of the user named
//! in its subject, whatever machine or process published it. A user with no
//! open stream here costs nothing: their channel exists only while a stream
//! does.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use common::events::{self, UserEvent};
use futures::StreamExt;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Events a slow stream may fall behind by before it is closed; the
/// browser then reconnects and re-syncs from a snapshot.
const BACKLOG: usize = 64;

#[derive(Default)]
pub struct EventHub {
    users: Mutex<HashMap<Uuid, broadcast::Sender<Arc<UserEvent>>>>,
}

/// A stream's place in the hub; leaving drops the user's channel when it
/// was the last one.
pub struct Subscription {
    hub: Arc<EventHub>,
    user_id: Uuid,
    pub receiver: broadcast::Receiver<Arc<UserEvent>>,
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

    pub fn dispatch(&self, user_id: Uuid, event: UserEvent) {
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
    let mut subscriber = match nats.subscribe(events::all_users_subject()).await {
        Ok(subscriber) => subscriber,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to user events; live updates are off");
            return;
        }
    };
    while let Some(message) = subscriber.next().await {
        let Some(user_id) = events::user_of_subject(&message.subject) else {
            tracing::warn!(subject = %message.subject, "event on an unexpected subject");
            continue;
        };
        match serde_json::from_slice::<UserEvent>(&message.payload) {
            Ok(event) => hub.dispatch(user_id, event),
            Err(e) => tracing::warn!(error = %e, "undecodable user event dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_only_their_users_streams() {
        let hub = Arc::new(EventHub::default());
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let mut ada_stream = hub.subscribe(ada);
        let mut bob_stream = hub.subscribe(bob);
        hub.dispatch(
            ada,
            UserEvent::MonitorDeleted {
                monitor_id: Uuid::nil(),
            },
        );
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
