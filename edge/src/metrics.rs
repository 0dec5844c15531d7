//! Counters of the edge, rendered in the Prometheus text format at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const LATENCY_BOUNDS: [f64; 12] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

/// Slots of a counter: each thread adds to its own, so the serving threads
/// do not pass cache lines back and forth on every request.
const SHARDS: usize = 8;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot(AtomicU64);

/// A counter spread over [`SHARDS`] cache lines; reading sums them.
#[derive(Debug, Default)]
pub struct Counter([Slot; SHARDS]);

fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

impl Counter {
    pub fn add(&self, n: u64) {
        self.0[shard()].0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.iter().map(|slot| slot.0.load(Ordering::Relaxed)).sum()
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub hits_memory: Counter,
    pub hits_disk: Counter,
    pub misses: Counter,
    pub coalesced_waits: Counter,
    pub origin_fetches: Counter,
    pub origin_errors: Counter,
    pub origin_bytes: Counter,
    pub revalidations: Counter,
    pub stale_served: Counter,
    pub sent_bytes: Counter,
    pub responses_2xx: Counter,
    pub responses_3xx: Counter,
    pub responses_4xx: Counter,
    pub responses_5xx: Counter,
    latency_buckets: [Counter; LATENCY_BOUNDS.len()],
    latency_count: Counter,
    latency_sum_micros: Counter,
}

/// Gauges read at render time.
#[derive(Debug)]
pub struct Gauges {
    pub memory_bytes: u64,
    pub memory_budget: u64,
    pub disk: Option<(u64, u64)>,
}

impl Metrics {
    pub fn observe(&self, status: u16, elapsed: Duration) {
        match status {
            200..=299 => &self.responses_2xx,
            300..=399 => &self.responses_3xx,
            400..=499 => &self.responses_4xx,
            _ => &self.responses_5xx,
        }
        .inc();
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BOUNDS.iter().position(|&bound| seconds <= bound) {
            self.latency_buckets[i].inc();
        }
        self.latency_count.inc();
        self.latency_sum_micros.add(elapsed.as_micros() as u64);
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let mut counter = |name: &str, help: &str, series: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP cdlc_edge_{name} {help}\n# TYPE cdlc_edge_{name} counter");
            for (labels, value) in series {
                let _ = writeln!(out, "cdlc_edge_{name}{labels} {value}");
            }
        };
        counter(
            "hits_total",
            "Requests answered from a tier without asking the origin.",
            &[("{tier=\"memory\"}", self.hits_memory.get()), ("{tier=\"disk\"}", self.hits_disk.get())],
        );
        let single: [(&str, &str, &Counter); 8] = [
            (
                "misses_total",
                "Requests that needed the origin (fetch, revalidation or a wait).",
                &self.misses,
            ),
            (
                "coalesced_waits_total",
                "Misses that waited for another request's origin fetch.",
                &self.coalesced_waits,
            ),
            ("origin_fetches_total", "Requests sent to the origin.", &self.origin_fetches),
            ("origin_errors_total", "Origin fetches that failed (down, timeout, 5xx).", &self.origin_errors),
            ("origin_bytes_total", "Body bytes received from the origin.", &self.origin_bytes),
            (
                "revalidations_total",
                "Stale copies the origin confirmed (304 or same ETag).",
                &self.revalidations,
            ),
            ("stale_served_total", "Stale copies served because the origin failed.", &self.stale_served),
            ("sent_bytes_total", "Body bytes sent to clients.", &self.sent_bytes),
        ];
        for (name, help, value) in single {
            counter(name, help, &[("", value.get())]);
        }
        counter(
            "responses_total",
            "Responses by status class.",
            &[
                ("{class=\"2xx\"}", self.responses_2xx.get()),
                ("{class=\"3xx\"}", self.responses_3xx.get()),
                ("{class=\"4xx\"}", self.responses_4xx.get()),
                ("{class=\"5xx\"}", self.responses_5xx.get()),
            ],
        );
        let mut gauge = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP cdlc_edge_{name} {help}\n# TYPE cdlc_edge_{name} gauge\ncdlc_edge_{name} {value}"
            );
        };
        gauge("memory_bytes", "Bytes held by the memory tier.", gauges.memory_bytes);
        gauge("memory_budget_bytes", "Byte budget of the memory tier.", gauges.memory_budget);
        if let Some((used, budget)) = gauges.disk {
            gauge("disk_bytes", "Bytes held by the disk tier.", used);
            gauge("disk_budget_bytes", "Byte budget of the disk tier.", budget);
        }
        let name = "cdlc_edge_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from request to response headers on /streams.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BOUNDS.iter().zip(&self.latency_buckets) {
            cumulative += bucket.get();
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.latency_count.get();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.latency_sum_micros.get() as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}
