//! Sign-in rate limiting: a token bucket per key (an account, an IP). Every
//! attempt takes a token before the password is even checked, so guessing
//! is slow and no flood of attempts can keep the CPU busy hashing. An empty
//! bucket answers with how long until it holds a token again.
//!
//! In memory: a server restart forgets the buckets, and each `cdlc serve`
//! process counts on its own (a farm of N API processes allows N times the
//! rate). Memory is bounded: past `max_keys`, full buckets (keys that have
//! not tried lately) are forgotten first, then the whole map.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A bucket's size and refill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Attempts allowed at once.
    pub burst: u32,
    /// One more attempt every `refill`.
    pub refill: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets by key.
#[derive(Debug)]
pub struct Limiter {
    rate: Rate,
    max_keys: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub fn new(rate: Rate, max_keys: usize) -> Limiter {
        Limiter { rate, max_keys: max_keys.max(1), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `key`; `Err(wait)` when there is none.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        self.take_at(key, Instant::now())
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let per_second = 1.0 / self.rate.refill.as_secs_f64().max(1e-9);
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * per_second).min(f64::from(self.rate.burst))
    }

    pub(crate) fn take_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= self.max_keys && !buckets.contains_key(key) {
            let full = f64::from(self.rate.burst);
            buckets.retain(|_, bucket| self.refilled(*bucket, now) < full);
            if buckets.len() >= self.max_keys {
                buckets.clear();
            }
        }
        let burst = f64::from(self.rate.burst);
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: burst, updated: now });
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket { tokens: tokens - 1.0, updated: now };
            Ok(())
        } else {
            *bucket = Bucket { tokens, updated: now };
            Err(self.rate.refill.mul_f64(1.0 - tokens))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_attempt_per_refill() {
        let limiter = Limiter::new(Rate { burst: 3, refill: Duration::from_secs(10) }, 100);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.take_at("ada", start).expect("within the burst");
        }
        let wait = limiter.take_at("ada", start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        assert!(limiter.take_at("bob", start).is_ok(), "keys are counted apart");
        let later = start + Duration::from_secs(4);
        let wait = limiter.take_at("ada", later).unwrap_err();
        assert!((5900..=6100).contains(&wait.as_millis()), "{wait:?}");
        limiter.take_at("ada", start + Duration::from_secs(10)).expect("refilled one");
        assert!(limiter.take_at("ada", start + Duration::from_secs(10)).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let limiter = Limiter::new(Rate { burst: 2, refill: Duration::from_secs(1) }, 3);
        let now = Instant::now();
        for key in ["a", "b", "c", "d", "e"] {
            limiter.take_at(key, now).unwrap();
        }
        assert!(limiter.buckets.lock().unwrap().len() <= 3);
        // A key that is in use keeps its count when others are forgotten.
        let limiter = Limiter::new(Rate { burst: 1, refill: Duration::from_secs(60) }, 2);
        limiter.take_at("busy", now).unwrap();
        limiter.take_at("idle", now).unwrap();
        let later = now + Duration::from_secs(120);
        limiter.take_at("new", later).unwrap();
        assert!(limiter.take_at("busy", later).is_ok(), "refilled after 120 s");
    }
}
