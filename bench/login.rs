//! Bad basic-auth logins against `ops-gen serve` (`auth.web_config` with a
//! bcrypt cost-10 user, as `htpasswd -nBC 10` writes): the latency of
//! `/healthz` alone, then while 32 connections send wrong passwords as fast
//! as they can, from one client address and from 32 (127.0.0.2 … .33).
//! `bench/login.sh` runs it and writes `bench/results/login.md`.
//!
//!   cargo run --release --example login
//!
//! Prints one JSON object.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long each flood lasts.
const FLOOD: Duration = Duration::from_secs(10);
/// Concurrent connections sending wrong passwords.
const CONNECTIONS: u8 = 32;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    // The index of a percentile of a small sample: rounding is the point.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(0.0)
}

/// `/healthz` latencies (ms) until `stop`, one request after the other.
async fn health(url: String, stop: Arc<AtomicBool>) -> serde_json::Value {
    let http = reqwest::Client::new();
    let mut took = Vec::new();
    while !stop.load(Ordering::Relaxed) || took.len() < 200 {
        let started = Instant::now();
        let ok = http.get(&url).send().await.is_ok_and(|r| r.status().is_success());
        assert!(ok, "/healthz failed");
        took.push(started.elapsed().as_secs_f64() * 1000.0);
        if took.len() >= 200 && stop.load(Ordering::Relaxed) {
            break;
        }
    }
    took.sort_by(f64::total_cmp);
    serde_json::json!({"requests": took.len(), "p50_ms": percentile(&took, 0.5), "p99_ms": percentile(&took, 0.99), "max_ms": took.last()})
}

/// 32 connections of wrong passwords (a new one each time, so none is
/// cached) for [`FLOOD`], from one address or from 32, while `/healthz` is
/// timed.
async fn flood(base: &str, spread: bool) -> serde_json::Value {
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let limited = Arc::new(AtomicUsize::new(0));
    let attackers: Vec<_> = (0..CONNECTIONS)
        .map(|n| {
            let address = if spread { Ipv4Addr::new(127, 0, 0, 2 + n) } else { Ipv4Addr::LOCALHOST };
            let http = reqwest::Client::builder().local_address(IpAddr::V4(address)).build().expect("a client");
            let (url, stop, refused, limited) =
                (format!("{base}/metrics"), Arc::clone(&stop), Arc::clone(&refused), Arc::clone(&limited));
            tokio::spawn(async move {
                let mut attempt = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    attempt += 1;
                    let password = format!("wrong-{n}-{attempt}");
                    match http
                        .get(&url)
                        .basic_auth("prometheus", Some(password))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                    {
                        Ok(401) => refused.fetch_add(1, Ordering::Relaxed),
                        Ok(429) => limited.fetch_add(1, Ordering::Relaxed),
                        _ => 0,
                    };
                }
            })
        })
        .collect();
    let timer = tokio::spawn(health(format!("{base}/healthz"), Arc::clone(&stop)));
    tokio::time::sleep(FLOOD).await;
    stop.store(true, Ordering::Relaxed);
    let health = timer.await.expect("the health timer");
    for attacker in attackers {
        let _ = attacker.await;
    }
    serde_json::json!({
        "health": health,
        "refused_401": refused.load(Ordering::Relaxed),
        "limited_429": limited.load(Ordering::Relaxed),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let hash = bcrypt::hash("the-right-password-0123", 10).expect("a bcrypt hash");
    std::fs::write(dir.path().join("web.yml"), format!("basic_auth_users:\n  prometheus: {hash}\n")).expect("web.yml");
    let config = format!("auth:\n  web_config: {}\nchecks: {{}}\n", dir.path().join("web.yml").display());
    std::fs::write(dir.path().join("ops-gen.yml"), config).expect("config");
    let loaded = ops_gen::config::Loaded::load(Some(&dir.path().join("ops-gen.yml"))).expect("a valid config");
    let exporter = ops_gen::exporter::Exporter::start(loaded).expect("the exporter");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(ops_gen::exporter::serve(listener, exporter, std::future::pending()));

    let stop = Arc::new(AtomicBool::new(true));
    let quiet = health(format!("{base}/healthz"), stop).await;
    let one = flood(&base, false).await;
    // The per-address budget is per minute: let it refill between floods.
    tokio::time::sleep(Duration::from_secs(61)).await;
    let spread = flood(&base, true).await;
    println!(
        "{}",
        serde_json::json!({
            "bcrypt_cost": 10,
            "connections": CONNECTIONS,
            "flood_seconds": FLOOD.as_secs(),
            "quiet": quiet,
            "one_address": one,
            "thirty_two_addresses": spread,
        })
    );
}
