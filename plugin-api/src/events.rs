//! Events between plugins (and from the host): publish and subscribe by
//! topic. A topic is `{publisher}.{event}` in lower-case letters, digits and
//! `_` (`accounts.user_deleted`, `catalog.title_linked`), which is also a
//! valid NATS subject, so the NATS bus can carry the same names.
//!
//! Delivery over NATS (the host's bus when `queue` is NATS): core NATS,
//! subject `cdlc.events.{topic}`, at most once, one subscriber of each group
//! (a NATS queue group) per event.
//!
//! Delivery, in-process: every subscriber of a topic gets each event
//! published after it subscribed, in publication order, at most once; a
//! subscriber more than `IN_PROCESS_BACKLOG` events behind loses the oldest
//! (logged). Durable work belongs in the plugin's own tables (an outbox), not
//! in the bus.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;

use async_trait::async_trait;
use futures_util::stream::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Events a slow in-process subscriber may fall behind before it loses some.
pub const IN_PROCESS_BACKLOG: usize = 1024;

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub topic: String,
    /// The plugin (or `host`) that published it.
    pub source: String,
    pub payload: serde_json::Value,
    /// When it was published, Unix milliseconds.
    pub at_ms: i64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    #[error("the topic {0:?} must be publisher.event in lower-case letters, digits or '_'")]
    BadTopic(String),
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
}

impl Event {
    /// An event published now by `source`.
    pub fn now(topic: impl Into<String>, source: impl Into<String>, payload: serde_json::Value) -> Event {
        Event { topic: topic.into(), source: source.into(), payload, at_ms: crate::plugin::now_ms() }
    }
}

/// Checks a topic name.
pub fn check_topic(topic: &str) -> Result<(), BusError> {
    let part = |p: &str| {
        (1..=64).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    match topic.split_once('.') {
        Some((publisher, event)) if part(publisher) && part(event) => Ok(()),
        _ => Err(BusError::BadTopic(topic.to_owned())),
    }
}

/// A stream of the events of one topic.
pub struct Subscription {
    topic: String,
    events: Pin<Box<dyn Stream<Item = Event> + Send>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl Subscription {
    /// For bus implementations: wraps a stream of the topic's events.
    pub fn new(topic: &str, events: impl Stream<Item = Event> + Send + 'static) -> Subscription {
        Subscription { topic: topic.to_owned(), events: Box::pin(events) }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The next event; `None` once the bus is gone.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.next().await
    }

    /// The subscription as a stream.
    pub fn into_stream(self) -> Pin<Box<dyn Stream<Item = Event> + Send>> {
        self.events
    }
}

/// The bus port: in-process here, NATS subjects when the queue is NATS.
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, event: Event) -> Result<(), BusError>;
    /// The events of `topic` for the subscriber `group` (a plugin's name).
    /// Where several servers share a bus, each event of a topic reaches one
    /// subscriber of each group, so a plugin whose store the servers share
    /// handles it once; in one process every subscription gets every event.
    async fn subscribe(&self, topic: &str, group: &str) -> Result<Subscription, BusError>;
}

/// The embedded bus: a broadcast channel per topic.
#[derive(Debug, Default)]
pub struct InProcessBus {
    topics: Mutex<HashMap<String, broadcast::Sender<Event>>>,
}

impl InProcessBus {
    pub fn new() -> InProcessBus {
        InProcessBus::default()
    }

    fn sender(&self, topic: &str) -> broadcast::Sender<Event> {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        topics.entry(topic.to_owned()).or_insert_with(|| broadcast::channel(IN_PROCESS_BACKLOG).0).clone()
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        check_topic(&event.topic)?;
        // No receiver is not an error: nobody consumes this topic now.
        let _ = self.sender(&event.topic).send(event);
        Ok(())
    }

    async fn subscribe(&self, topic: &str, _group: &str) -> Result<Subscription, BusError> {
        check_topic(topic)?;
        let receiver = self.sender(topic).subscribe();
        let name = topic.to_owned();
        let events = futures_util::stream::unfold((receiver, name), |(mut receiver, name)| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((event, (receiver, name))),
                    Err(broadcast::error::RecvError::Lagged(lost)) => {
                        tracing::warn!(topic = %name, lost, "a subscriber fell behind and lost events");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Ok(Subscription::new(topic, events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(topic: &str, n: i64) -> Event {
        Event { topic: topic.into(), source: "test".into(), payload: serde_json::json!({ "n": n }), at_ms: 0 }
    }

    #[tokio::test]
    async fn subscribers_get_their_topic_in_order() {
        let bus = InProcessBus::new();
        bus.publish(event("a.before", 0)).await.expect("publishing with no subscriber is fine");
        let mut first = bus.subscribe("a.x", "g").await.unwrap();
        let mut second = bus.subscribe("a.x", "g").await.unwrap();
        let mut other = bus.subscribe("a.y", "g").await.unwrap();
        for n in 1..=3 {
            bus.publish(event("a.x", n)).await.unwrap();
        }
        bus.publish(event("a.y", 9)).await.unwrap();
        for subscription in [&mut first, &mut second] {
            for n in 1..=3 {
                assert_eq!(subscription.next().await.unwrap().payload["n"], n);
            }
        }
        assert_eq!(other.next().await.unwrap().payload["n"], 9);
    }

    #[tokio::test]
    async fn topics_are_checked() {
        let bus = InProcessBus::new();
        for bad in ["nodot", "A.b", "a.", ".b", "a.b c", "a.b.c"] {
            assert!(matches!(bus.subscribe(bad, "g").await, Err(BusError::BadTopic(_))), "{bad}");
            assert!(bus.publish(event(bad, 0)).await.is_err(), "{bad}");
        }
    }
}
