//! Webhooks: a signed POST to the configured URL when an asset is ready
//! or errored.
//!
//! The body is `{"type": "asset.ready" | "asset.errored", "asset": {…}}`.
//! `Cdlc-Signature: t=UNIX_SECONDS,v1=HEX` carries
//! HMAC-SHA256(secret, "UNIX_SECONDS." + body), so a receiver can check
//! both the sender and the freshness.
//!
//! Delivery runs on the async runtime (reqwest with rustls), each attempt
//! bounded by [`Retry::timeout`]. Only what can succeed later is tried
//! again: no connection, a timeout, a 5xx, or a 429 that says when
//! (`Retry-After`). Any other answer (a 4xx, a redirect: none is followed,
//! since a POST must not turn into a GET) ends the delivery at once, and
//! nothing waits after the last attempt.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sha2::Sha256;
use tracing::{info, warn};

use crate::state::SharedState;

/// How a delivery is retried.
#[derive(Debug, Clone)]
pub struct Retry {
    /// Attempts per delivery.
    pub attempts: u32,
    /// Wait after the first failed attempt; doubled after each further one.
    pub first_wait: Duration,
    /// Longest wait a `Retry-After` may ask for; a longer one ends the delivery.
    pub max_wait: Duration,
    /// Time for one attempt, from connecting to the end of the answer's headers.
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_wait: Duration::from_secs(1),
            max_wait: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Where the webhooks of a server go, and the client that sends them.
#[derive(Debug, Clone)]
pub struct Webhooks {
    url: String,
    secret: String,
    client: reqwest::Client,
    retry: Retry,
}

impl Webhooks {
    /// `None` when no `webhook_url` is set (config validation demands the
    /// secret with it).
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Option<Webhooks>> {
        let (Some(url), Some(secret)) = (&config.webhook_url, &config.webhook_secret) else {
            return Ok(None);
        };
        Ok(Some(Webhooks::new(url, secret, Retry::default())?))
    }

    pub fn new(url: &str, secret: &str, retry: Retry) -> anyhow::Result<Webhooks> {
        let client = reqwest::Client::builder()
            .connect_timeout(retry.timeout.min(Duration::from_secs(5)))
            .timeout(retry.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cdlc/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Webhooks { url: url.to_owned(), secret: secret.to_owned(), client, retry })
    }

    /// Sends `body`, retrying what can succeed; the attempts it took, or why
    /// it gave up.
    pub async fn deliver(&self, body: &[u8]) -> Result<u32, String> {
        let mut wait = self.retry.first_wait;
        for attempt in 1..=self.retry.attempts {
            let outcome = self.attempt(body).await;
            let retry_after = match outcome {
                Outcome::Delivered => return Ok(attempt),
                Outcome::Refused(reason) => return Err(format!("attempt {attempt} refused: {reason}")),
                Outcome::Retry { reason, .. } if attempt == self.retry.attempts => {
                    return Err(format!("{attempt} attempts failed; last: {reason}"))
                }
                Outcome::Retry { after, .. } => after,
            };
            let pause = retry_after.unwrap_or(wait);
            if pause > self.retry.max_wait {
                return Err(format!("attempt {attempt}: the receiver asks to wait {pause:?}, too long"));
            }
            tokio::time::sleep(pause).await;
            wait = wait.saturating_mul(2);
        }
        Err("no attempt was made (attempts = 0)".into())
    }

    async fn attempt(&self, body: &[u8]) -> Outcome {
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let header = format!("t={timestamp},v1={}", signature(&self.secret, timestamp, body));
        let sent = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("cdlc-signature", header)
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(response) => judge(response.status(), response.headers()),
            Err(error) if error.is_connect() || error.is_timeout() || error.is_request() => {
                Outcome::Retry { reason: error_chain(&error), after: None }
            }
            Err(error) => Outcome::Refused(error_chain(&error)),
        }
    }
}

/// What one attempt came to.
#[derive(Debug, PartialEq)]
enum Outcome {
    Delivered,
    /// Worth another attempt, after `after` when the receiver said.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Another attempt would get the same answer.
    Refused(String),
}

fn judge(status: StatusCode, headers: &reqwest::header::HeaderMap) -> Outcome {
    let retry_after = || {
        headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
    };
    if status.is_success() {
        Outcome::Delivered
    } else if status.is_server_error() {
        Outcome::Retry { reason: format!("the receiver answered {status}"), after: retry_after() }
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        match retry_after() {
            Some(after) => {
                Outcome::Retry { reason: format!("the receiver answered {status}"), after: Some(after) }
            }
            None => Outcome::Refused(format!("the receiver answered {status} without Retry-After")),
        }
    } else {
        Outcome::Refused(format!("the receiver answered {status}"))
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The `v1` signature of `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Sends `kind` for `asset_id` in the background, retrying on failure.
pub fn notify(state: &SharedState, kind: &'static str, asset_id: &str) {
    let Some(webhooks) = state.webhooks.clone() else {
        return;
    };
    let (state, asset_id) = (state.clone(), asset_id.to_owned());
    tokio::spawn(async move {
        let asset = match state.metadata.get_asset(&asset_id).await {
            Ok(Some(asset)) => asset,
            _ => return,
        };
        let body = serde_json::json!({ "type": kind, "asset": asset }).to_string();
        match webhooks.deliver(body.as_bytes()).await {
            Ok(attempts) => info!(asset_id, kind, attempts, "webhook delivered"),
            Err(error) => warn!(asset_id, kind, %error, "webhook not delivered"),
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    use super::*;

    const SECRET: &str = "webhook-secret-0123456789";

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_and_body() {
        // Known answer, computed with `openssl dgst -sha256 -hmac`.
        let sig = super::signature("key", 1, b"{}");
        assert_eq!(sig, "1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224");
        assert_ne!(sig, super::signature("key", 2, b"{}"), "the timestamp is signed");
        assert_ne!(sig, super::signature("other", 1, b"{}"), "the key matters");
    }

    /// What a receiver was sent: headers, body, and when.
    type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>, Instant)>>>;

    /// A real HTTP receiver on a loopback port that answers with `script`
    /// in turn (the last one from then on) and records what it was sent.
    struct Receiver {
        url: String,
        seen: Seen,
    }

    impl Receiver {
        async fn start(script: Vec<(StatusCode, Option<&'static str>)>) -> Receiver {
            let seen = Seen::default();
            let recorded = seen.clone();
            let handler = move |headers: HeaderMap, body: axum::body::Bytes| {
                let seen = recorded.clone();
                let script = script.clone();
                async move {
                    let mut seen = seen.lock().unwrap();
                    seen.push((headers, body.to_vec(), Instant::now()));
                    let (status, retry_after) = script[(seen.len() - 1).min(script.len() - 1)];
                    let mut response = status.into_response();
                    if let Some(value) = retry_after {
                        response.headers_mut().insert("retry-after", value.parse().unwrap());
                    }
                    response
                }
            };
            let app = axum::Router::new().route("/hook", axum::routing::post(handler));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/hook", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });
            Receiver { url, seen }
        }

        fn attempts(&self) -> usize {
            self.seen.lock().unwrap().len()
        }
    }

    fn quick() -> Retry {
        Retry { attempts: 4, first_wait: Duration::from_millis(50), ..Retry::default() }
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried() {
        let receiver = Receiver::start(vec![(StatusCode::BAD_REQUEST, None)]).await;
        let hooks = Webhooks::new(&receiver.url, SECRET, quick()).unwrap();
        let error = hooks.deliver(br#"{"type":"asset.ready"}"#).await.unwrap_err();
        assert!(error.contains("400"), "{error}");
        assert_eq!(receiver.attempts(), 1, "a 400 would be a 400 again");

        let limited = Receiver::start(vec![(StatusCode::TOO_MANY_REQUESTS, None)]).await;
        let hooks = Webhooks::new(&limited.url, SECRET, quick()).unwrap();
        assert!(hooks.deliver(b"{}").await.is_err());
        assert_eq!(limited.attempts(), 1, "a 429 that does not say when is not retried");
    }

    #[tokio::test]
    async fn a_server_error_is_retried_and_the_signature_checks_out() {
        let receiver =
            Receiver::start(vec![(StatusCode::SERVICE_UNAVAILABLE, None), (StatusCode::OK, None)]).await;
        let hooks = Webhooks::new(&receiver.url, SECRET, quick()).unwrap();
        let body = br#"{"type":"asset.ready","asset":{"id":"a1"}}"#;
        assert_eq!(hooks.deliver(body).await, Ok(2));
        assert_eq!(receiver.attempts(), 2);
        for (headers, received, _) in receiver.seen.lock().unwrap().iter() {
            assert_eq!(received, body);
            assert_eq!(headers["content-type"], "application/json");
            let header = headers["cdlc-signature"].to_str().unwrap();
            let (t, v1) = header.split_once(',').unwrap();
            let timestamp: u64 = t.strip_prefix("t=").unwrap().parse().unwrap();
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
            assert!(now.abs_diff(timestamp) < 60, "the timestamp is now");
            // The receiver's check, written from the documented format.
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(format!("{timestamp}.").as_bytes());
            mac.update(received);
            mac.verify_slice(&hex::decode(v1.strip_prefix("v1=").unwrap()).unwrap()).expect("signature");
        }
    }

    #[tokio::test]
    async fn retry_after_is_honoured_and_nothing_waits_after_the_last_attempt() {
        let receiver =
            Receiver::start(vec![(StatusCode::TOO_MANY_REQUESTS, Some("1")), (StatusCode::NO_CONTENT, None)])
                .await;
        let hooks = Webhooks::new(&receiver.url, SECRET, quick()).unwrap();
        assert_eq!(hooks.deliver(b"{}").await, Ok(2));
        let gap = {
            let seen = receiver.seen.lock().unwrap();
            seen[1].2 - seen[0].2
        };
        assert!(gap >= Duration::from_millis(950), "waited {gap:?}, not the second Retry-After asked for");

        let failing = Receiver::start(vec![(StatusCode::BAD_GATEWAY, None)]).await;
        let retry = Retry { attempts: 3, first_wait: Duration::from_millis(300), ..Retry::default() };
        let hooks = Webhooks::new(&failing.url, SECRET, retry).unwrap();
        let started = Instant::now();
        let error = hooks.deliver(b"{}").await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(failing.attempts(), 3, "{error}");
        // Waits of 300 and 600 ms between the three attempts, none after the last.
        assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(1500), "took {took:?}");
    }

    #[tokio::test]
    async fn an_unreachable_receiver_is_retried_within_the_timeout() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let retry = Retry { attempts: 2, first_wait: Duration::from_millis(10), ..Retry::default() };
        let hooks = Webhooks::new(&format!("http://127.0.0.1:{port}/hook"), SECRET, retry).unwrap();
        let error = hooks.deliver(b"{}").await.unwrap_err();
        assert!(error.starts_with("2 attempts failed"), "{error}");
    }
}
