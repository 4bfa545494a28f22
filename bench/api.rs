//! The ops API under load, in one process: browser-beacon ingest (a flood
//! over HTTP against the rate limit, and the ring alone), memory before and
//! after, and the events stream fanned out to many subscribers.
//! `bench/api.sh` runs it and writes `bench/results/api.md`.
//!
//!   cargo run --release --example api
//!
//! Prints one JSON object.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt as _;
use ops_gen::exporter::api::events::Event;
use ops_gen::exporter::api::frontend;

const BEACON: &str = "beacon-token-0123456789abcdef";
const READER: &str = "read-token-0123456789abcdef";

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().split(' ').next()?.parse().ok()))
        .unwrap_or(0)
}

fn beacon(n: usize) -> String {
    serde_json::json!({
        "build_hash": "b1", "route": format!("/page/{}", n % 50), "message": format!("TypeError: boom {n}"),
        "stack": "at f (app.js:1:1)\n".repeat(20), "browser": "bench", "ws_state": "open"
    })
    .to_string()
}

/// Adds per second to a full ring, and its memory growth (KiB).
fn ring() -> (f64, u64) {
    let store = frontend::Store::open(None);
    for n in 0..frontend::CAPACITY {
        store.add(frontend::Event::from_body(beacon(n).as_bytes(), SystemTime::now()).expect("a beacon"));
    }
    let full = rss_kib();
    let count: u32 = 200_000;
    let started = Instant::now();
    for n in 0..count as usize {
        store.add(frontend::Event::from_body(beacon(n).as_bytes(), SystemTime::now()).expect("a beacon"));
    }
    (f64::from(count) / started.elapsed().as_secs_f64(), rss_kib().saturating_sub(full))
}

/// 16 clients post 2,000 beacons each: seconds, accepted, refused, memory
/// growth (KiB).
async fn flood(http: &reqwest::Client, url: &str) -> (f64, usize, usize, u64) {
    let before = rss_kib();
    let accepted = Arc::new(AtomicUsize::new(0));
    let limited = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let (http, url, accepted, limited) = (http.clone(), url.to_owned(), accepted.clone(), limited.clone());
            tokio::spawn(async move {
                for n in 0..2000 {
                    let status = http.post(&url).body(beacon(c * 2000 + n)).send().await.expect("an answer").status();
                    match status.as_u16() {
                        204 => accepted.fetch_add(1, Ordering::Relaxed),
                        429 => limited.fetch_add(1, Ordering::Relaxed),
                        other => panic!("unexpected status {other}"),
                    };
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("a client");
    }
    let seconds = started.elapsed().as_secs_f64();
    (seconds, accepted.load(Ordering::Relaxed), limited.load(Ordering::Relaxed), rss_kib().saturating_sub(before))
}

/// `events` events to `subscribers` subscribers of the stream at `url`, in
/// batches of 100 (within the channel's backlog), each delivered to every
/// subscriber before the next: seconds and deliveries.
async fn fan_out(
    http: &reqwest::Client,
    url: &str,
    hub: &ops_gen::exporter::api::events::Hub,
    subscribers: usize,
    events: usize,
) -> (f64, usize) {
    let mut streams = Vec::new();
    for _ in 0..subscribers {
        streams.push(http.get(url).bearer_auth(READER).send().await.expect("a stream"));
    }
    while hub.subscribers() < subscribers {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = streams
        .into_iter()
        .map(|response| {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut body = response.bytes_stream();
                let mut pending = String::new();
                while let Some(chunk) = body.next().await {
                    // Whole lines only: a chunk may end inside one.
                    pending.push_str(&String::from_utf8_lossy(&chunk.expect("a chunk")));
                    let Some(end) = pending.rfind('\n') else { continue };
                    let n = pending[..end].lines().filter(|l| *l == "event: frontend").count();
                    seen.fetch_add(n, Ordering::Relaxed);
                    pending.drain(..=end);
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut published = 0;
    while published < events {
        for n in published..published + 100 {
            let event = frontend::Event::from_body(beacon(n).as_bytes(), SystemTime::now()).expect("a beacon");
            hub.publish(Event::from_frontend(&event));
        }
        published += 100;
        while seen.load(Ordering::Relaxed) < published * subscribers {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    for reader in readers {
        reader.abort();
    }
    (seconds, seen.load(Ordering::Relaxed))
}

/// Median and 99th percentile of `n` calls of `call`, in milliseconds.
async fn latency<F: std::future::Future<Output = u16>>(
    n: usize,
    expect: u16,
    mut call: impl FnMut() -> F,
) -> (f64, f64) {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let status = call().await;
        took.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, expect, "unexpected status");
    }
    took.sort_by(f64::total_cmp);
    (took[n / 2], took[n * 99 / 100])
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("a temp folder");
    // The test services' PostgreSQL and Redis, when their variables are set
    // (bench/api.sh sets them), so the context runs real checks.
    let mut targets = String::new();
    for (name, kind, var) in [("db", "postgres", "OPS_GEN_POSTGRES_URL"), ("cache", "redis", "OPS_GEN_REDIS_URL")] {
        if std::env::var(var).is_ok() {
            let _ = write!(targets, "  {name}:\n    kind: {kind}\n    url: ${{{var}}}\n");
        }
    }
    let targets = if targets.is_empty() { String::new() } else { format!("targets:\n{targets}") };
    let config = format!(
        "{targets}auth:\n  tokens:\n    - {{name: bench, token: {READER}}}\n    - {{name: web, token: {BEACON}, role: beacon}}\n  audit_log: {}\n  frontend_log: {}\n",
        dir.path().join("audit.log").display(),
        dir.path().join("frontend.jsonl").display()
    );
    std::fs::write(dir.path().join("ops-gen.yml"), config).expect("write the config");
    let loaded = ops_gen::config::Loaded::load(Some(&dir.path().join("ops-gen.yml"))).expect("a valid config");
    let exporter = ops_gen::exporter::Exporter::start(loaded).expect("the exporter starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(ops_gen::exporter::serve(listener, Arc::clone(&exporter), std::future::pending()));
    ops_gen::tls::init();
    let http = reqwest::Client::new();

    let (ring_rate, ring_growth) = ring();
    let beacon_url = format!("http://{addr}/api/ops/frontend-log?token={BEACON}");
    let (flood_seconds, accepted, limited, flood_growth) = flood(&http, &beacon_url).await;
    let (subscribers, events) = (100, 1000);
    let events_url = format!("http://{addr}/api/ops/events");
    let (fanout_seconds, delivered) = fan_out(&http, &events_url, &exporter.ops().hub, subscribers, events).await;

    // Context: one snapshot per call (every check run once, containers read).
    let context_url = format!("http://{addr}/api/ops/context");
    let (context_p50, context_p99) = latency(200, 200, || {
        let request = http.get(&context_url).bearer_auth(READER);
        async move { request.send().await.expect("an answer").status().as_u16() }
    })
    .await;
    // Refusals take the same time whatever was wrong: no token, a wrong one
    // (as long as a real one), a read token on an admin action.
    let restart = format!("http://{addr}/api/ops/actions/restart/web");
    let wrong = "x".repeat(READER.len());
    let mut refusals = serde_json::Map::new();
    for (name, token, expect) in
        [("none", None, 401), ("wrong", Some(wrong.as_str()), 401), ("read_on_admin", Some(READER), 403)]
    {
        let (p50, p99) = latency(2000, expect, || {
            let mut request = http.post(&restart);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            async move { request.send().await.expect("an answer").status().as_u16() }
        })
        .await;
        refusals.insert(name.to_owned(), serde_json::json!({"p50_ms": p50, "p99_ms": p99}));
    }

    println!(
        "{}",
        serde_json::json!({
            "ring_adds_per_second": ring_rate.round(),
            "ring_rss_growth_kib_after_200k": ring_growth,
            "flood_requests": 32_000,
            "flood_requests_per_second": (32_000.0 / flood_seconds).round(),
            "flood_accepted": accepted,
            "flood_limited": limited,
            "flood_rss_growth_kib": flood_growth,
            "events_kept": exporter.ops().frontend.len(),
            "fanout_subscribers": subscribers,
            "fanout_events": events,
            "fanout_delivered": delivered,
            "fanout_seconds": fanout_seconds,
            "context_p50_ms": context_p50,
            "context_p99_ms": context_p99,
            "refusals": refusals,
        })
    );
}
