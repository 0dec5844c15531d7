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

impl NatsBus {
    /// Returns once the server has taken every subscription this client
    /// sent before: a message to a fresh inbox of our own comes back only
    /// after the server processed the earlier commands of the connection
    /// (`flush` alone only writes them). So a plugin's subscription is live
    /// before the server takes requests, and no event they publish is missed.
    async fn registered(&self) -> Result<(), BusError> {
        let inbox = self.client.new_inbox();
        let mut echo = self.client.subscribe(inbox.clone()).await.map_err(unavailable)?;
        self.client.publish(inbox, bytes::Bytes::new()).await.map_err(unavailable)?;
        let answered = tokio::time::timeout(std::time::Duration::from_secs(10), echo.next()).await;
        let _ = echo.unsubscribe().await;
        match answered {
            Ok(Some(_)) => Ok(()),
            _ => Err(BusError::Unavailable("NATS did not confirm the subscription within 10 s".into())),
        }
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
        self.registered().await?;
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

    use cdlc_testkit::nats::NatsServer;

    use super::*;

    fn event(n: i64) -> Event {
        Event {
            topic: "catalog.rated".into(),
            source: "catalog".into(),
            payload: serde_json::json!({ "n": n }),
            at_ms: 1,
        }
    }

    /// The next event, waiting up to `wait`.
    async fn next_within(subscription: &mut Subscription, wait: Duration) -> Option<Event> {
        tokio::time::timeout(wait, subscription.next()).await.ok().flatten()
    }

    /// An event that must come (a loaded machine may take a while).
    async fn next(subscription: &mut Subscription) -> Option<Event> {
        next_within(subscription, Duration::from_secs(10)).await
    }

    /// Whether nothing more comes within a short while.
    async fn nothing_more(subscription: &mut Subscription) -> bool {
        next_within(subscription, Duration::from_millis(300)).await.is_none()
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

        for n in 0..10 {
            first.publish(event(n)).await.unwrap();
        }
        first.client.flush().await.unwrap();
        // Booking (alone in its group) gets all ten, in order; by then the
        // server has handed out every message of the social group too.
        for n in 0..10 {
            let got = next(&mut booking).await.unwrap_or_else(|| panic!("booking lacks event {n}"));
            assert_eq!(got.payload["n"], n);
        }
        let mut social = Vec::new();
        while social.len() < 10 {
            let got = tokio::select! {
                Some(e) = social_a.next() => e,
                Some(e) = social_b.next() => e,
                _ = tokio::time::sleep(Duration::from_secs(10)) => break,
            };
            social.push(got.payload["n"].as_i64().unwrap());
        }
        social.sort();
        assert_eq!(social, (0..10).collect::<Vec<_>>(), "each event once for the social group");
        assert!(nothing_more(&mut social_a).await && nothing_more(&mut social_b).await, "no event twice");
        assert!(nothing_more(&mut other).await);

        let huge = Event { payload: serde_json::json!("x".repeat(MAX_EVENT_BYTES)), ..event(0) };
        assert!(matches!(first.publish(huge).await, Err(BusError::Unavailable(m)) if m.contains("at most")));
        assert!(matches!(first.subscribe("Bad", "g").await, Err(BusError::BadTopic(_))));
    }
}
