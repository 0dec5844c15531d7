//! The event bus over NATS, for servers that share a NATS (`queue =
//! nats://…`): each event is a core NATS message on `cdlc.events.{topic}`
//! holding the event as JSON, and each plugin subscribes in the queue group
//! `cdlc.{plugin}`, so of several servers exactly one handles an event for
//! each plugin. Delivery is at most once, like the in-process bus: a plugin
//! keeps what must not be lost in its own tables.

use async_trait::async_trait;
use cdlc_plugin_api::events::check_topic;
use cdlc_plugin_api::{BusError, Event, EventBus, Subscription};
use futures_util::StreamExt;

/// The largest event the bus carries (NATS's default payload limit is 1 MiB).
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

pub struct NatsBus {
    client: async_nats::Client,
}

impl NatsBus {
    pub fn new(client: async_nats::Client) -> NatsBus {
        NatsBus { client }
    }
}

fn subject(topic: &str) -> String {
    format!("cdlc.events.{topic}")
}

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(error.to_string())
}

#[async_trait]
impl EventBus for NatsBus {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        check_topic(&event.topic)?;
        let body = serde_json::to_vec(&event).map_err(unavailable)?;
        if body.len() > MAX_EVENT_BYTES {
            return Err(BusError::Unavailable(format!(
                "the {} event is {} bytes; the bus carries at most {MAX_EVENT_BYTES}",
                event.topic,
                body.len()
            )));
        }
        self.client.publish(subject(&event.topic), body.into()).await.map_err(unavailable)
    }

    async fn subscribe(&self, topic: &str, group: &str) -> Result<Subscription, BusError> {
        check_topic(topic)?;
        let messages = self
            .client
            .queue_subscribe(subject(topic), format!("cdlc.{group}"))
            .await
            .map_err(unavailable)?;
        let name = topic.to_owned();
        let events = messages.filter_map(move |message| {
            let decoded = serde_json::from_slice::<Event>(&message.payload);
            if let Err(error) = &decoded {
                tracing::warn!(topic = %name, %error, "dropping an event that is not an event");
            }
            std::future::ready(decoded.ok().filter(|e| e.topic == name))
        });
        Ok(Subscription::new(topic, events))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cdlc_queue::test_server::NatsServer;

    use super::*;

    fn event(n: i64) -> Event {
        Event {
            topic: "catalog.rated".into(),
            source: "catalog".into(),
            payload: serde_json::json!({ "n": n }),
            at_ms: 1,
        }
    }

    async fn next(subscription: &mut Subscription) -> Option<Event> {
        tokio::time::timeout(Duration::from_millis(500), subscription.next()).await.ok().flatten()
    }

    /// Two servers on one NATS: each plugin (group) gets every event once,
    /// on one of the servers; another topic's events stay apart.
    #[tokio::test]
    async fn events_cross_servers_once_per_group() {
        let store = tempfile::tempdir().unwrap();
        let nats = NatsServer::start(store.path());
        let first = NatsBus::new(async_nats::connect(nats.url()).await.unwrap());
        let second = NatsBus::new(async_nats::connect(nats.url()).await.unwrap());
        let mut social_a = first.subscribe("catalog.rated", "social").await.unwrap();
        let mut social_b = second.subscribe("catalog.rated", "social").await.unwrap();
        let mut booking = second.subscribe("catalog.rated", "booking").await.unwrap();
        let mut other = second.subscribe("catalog.deleted", "booking").await.unwrap();
        // Subscriptions reach the server before the publish.
        first.client.flush().await.unwrap();
        second.client.flush().await.unwrap();

        for n in 0..10 {
            first.publish(event(n)).await.unwrap();
        }
        let mut social = Vec::new();
        while let Some(e) = next(&mut social_a).await {
            social.push(e.payload["n"].as_i64().unwrap());
        }
        while let Some(e) = next(&mut social_b).await {
            social.push(e.payload["n"].as_i64().unwrap());
        }
        social.sort();
        assert_eq!(social, (0..10).collect::<Vec<_>>(), "each event once for the social group");
        for n in 0..10 {
            assert_eq!(next(&mut booking).await.expect("booking gets all").payload["n"], n);
        }
        assert!(next(&mut other).await.is_none());

        let huge = Event { payload: serde_json::json!("x".repeat(MAX_EVENT_BYTES)), ..event(0) };
        assert!(matches!(first.publish(huge).await, Err(BusError::Unavailable(m)) if m.contains("at most")));
        assert!(matches!(first.subscribe("Bad", "g").await, Err(BusError::BadTopic(_))));
    }
}
