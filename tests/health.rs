//! `ops-gen health`: every published component of the profile asked at its
//! own health endpoint, and every target through its check.
//!
//! Real where the machine has it: the exporter (an in-process `ops-gen
//! serve`), Prometheus, `node_exporter` and Redis. Grafana, Loki, Alloy,
//! cAdvisor, Dozzle and Uptime Kuma have no package here, so small stand-ins
//! serve their documented endpoint (and nothing else: a wrong path is a 404
//! and shows as down). The profile running in Docker is asked by the compose
//! test.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::util::{self, RealNodeExporter, RealPrometheus, Run, TestExporter, ops_gen, redis_url, run, servers};

/// The components without a package here, each with its documented health
/// endpoint and a body like the real one's.
const STAND_INS: &[(&str, &str, &str)] = &[
    ("grafana", "/api/health", r#"{"database":"ok","version":"12.2.1"}"#),
    ("loki", "/ready", "ready\n"),
    ("alloy", "/-/ready", "Alloy is ready.\n"),
    ("cadvisor", "/healthz", "ok"),
    ("dozzle", "/healthcheck", "OK"),
    ("uptime-kuma", "/api/entry-page", r#"{"type":"entryPage","entryPage":"dashboard"}"#),
];

/// The profile's published components, up and listening; `hung` is
/// replaced by a server that accepts and never answers.
struct Profile {
    ports: BTreeMap<&'static str, u16>,
    hung: Option<servers::Server>,
    _real: (TestExporter, RealPrometheus, RealNodeExporter, tempfile::TempDir),
    _stand_ins: Vec<servers::Server>,
}

impl Profile {
    async fn start(hung: Option<&str>) -> Self {
        let exporter = TestExporter::start("").await;
        let data = tempfile::tempdir().unwrap();
        let prometheus = RealPrometheus::start(data.path(), "global: {scrape_interval: 1m}\n");
        let node = RealNodeExporter::start().await;
        let ready = format!("http://127.0.0.1:{}/-/ready", prometheus.port);
        util::eventually("Prometheus to be ready", Duration::from_secs(20), async || {
            util::http_client().get(&ready).send().await.is_ok_and(|r| r.status().is_success())
        })
        .await;
        let mut ports = BTreeMap::from([
            ("ops-gen", exporter.addr.port()),
            ("prometheus", prometheus.port),
            ("node-exporter", node.port),
        ]);
        let mut stand_ins = Vec::new();
        let mut hung_server = None;
        for (name, path, body) in STAND_INS {
            let server = if hung == Some(*name) { servers::hung().await } else { servers::answering(path, body).await };
            ports.insert(*name, server.addr.port());
            if hung == Some(*name) {
                hung_server = Some(server);
            } else {
                stand_ins.push(server);
            }
        }
        Self { ports, hung: hung_server, _real: (exporter, prometheus, node, data), _stand_ins: stand_ins }
    }

    /// Every component enabled (the socket proxy too, which is never
    /// published), on the ports above, and a Redis target.
    fn config(&self) -> String {
        let ports: Vec<String> = self.ports.iter().map(|(name, port)| format!("{name}: {port}")).collect();
        format!(
            "targets:\n  cache:\n    kind: redis\n    url: ${{HEALTH_REDIS}}\n\
             profile:\n  services: [ops-gen, prometheus, grafana, loki, alloy, cadvisor, node-exporter, dozzle, uptime-kuma, socket-proxy]\n\
             \x20 ports: {{{}}}\n",
            ports.join(", ")
        )
    }
}

fn health(dir: &std::path::Path, args: &[&str]) -> Run {
    run(ops_gen(dir).env("HEALTH_REDIS", redis_url()).arg("health").args(args))
}

const TITLES: [&str; 9] = [
    "ops-gen exporter",
    "Prometheus",
    "Grafana",
    "Loki",
    "Grafana Alloy",
    "cAdvisor",
    "node_exporter",
    "Dozzle",
    "Uptime Kuma",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_up_against_stand_ins() {
    util::redis_conn().await;
    let profile = Profile::start(None).await;
    let dir = util::config_dir(&profile.config());
    let r = health(dir.path(), &[]);
    r.expect_code(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), TITLES.len() + 1, "one line per published component and target:\n{}", r.stdout);
    for (line, title) in lines.iter().zip(TITLES) {
        assert!(line.starts_with(&format!("✓ {title} ")) && line.contains(" up "), "{title}: {line}");
    }
    assert!(
        lines[TITLES.len()].starts_with("✓ cache (redis) ") && lines[TITLES.len()].contains("last save"),
        "{}",
        r.stdout
    );
    for (name, path, _) in STAND_INS {
        let url = format!("http://127.0.0.1:{}{path}", profile.ports[name]);
        assert!(r.stdout.contains(&url), "asks {name} at {url}:\n{}", r.stdout);
    }
    assert!(r.stdout.contains(&format!("http://127.0.0.1:{}/-/healthy", profile.ports["ops-gen"])), "{}", r.stdout);
    assert!(!r.stdout.contains("socket") && !r.stdout.contains("Promtail"), "unpublished or disabled: not listed");

    let r = health(dir.path(), &["--json"]);
    r.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["success"], true);
    let components = json["components"].as_array().unwrap();
    let names: Vec<&str> = components.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["ops-gen", "prometheus", "grafana", "loki", "alloy", "cadvisor", "node-exporter", "dozzle", "uptime-kuma"]
    );
    for c in components {
        assert!(c["kind"] == "component" && c["up"] == true, "{c}");
        assert!(c["url"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{c}");
        assert!(c["latency_seconds"].as_f64().unwrap() > 0.0, "{c}");
    }
    let targets = json["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1);
    let t = &targets[0];
    assert!(t["name"] == "cache" && t["kind"] == "redis" && t["up"] == true, "{t}");
    assert!(t.get("url").is_none(), "a target's address can hold credentials: {t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_component_is_down_after_the_timeout_against_stand_in() {
    let profile = Profile::start(Some("loki")).await;
    let dir = util::config_dir(&profile.config());
    let r = health(dir.path(), &["--timeout", "1"]);
    r.expect_code(1);
    let loki: Vec<&str> = r.stdout.lines().filter(|l| l.contains("Loki")).collect();
    assert_eq!(loki.len(), 1, "{}", r.stdout);
    assert!(loki[0].starts_with("✗ Loki ") && loki[0].contains(" DOWN "), "{}", loki[0]);
    assert!(loki[0].contains("/ready: timeout: no answer within 1s"), "{}", loki[0]);
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with('✓')).count(),
        TITLES.len(),
        "the others are up:\n{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("health: 1 of 10 down; see `ops-gen compose status` and `ops-gen compose logs SERVICE`\n")
    );
    let hung = profile.hung.as_ref().unwrap();
    assert!(hung.accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1, "Loki was asked");

    let r = health(dir.path(), &["--timeout", "1", "--json"]);
    r.expect_code(1);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["success"], false);
    let down: Vec<&serde_json::Value> =
        json["components"].as_array().unwrap().iter().filter(|c| c["up"] == false).collect();
    assert_eq!(down.len(), 1);
    assert!(down[0]["name"] == "loki" && down[0]["reason"] == "timeout", "{}", down[0]);
}
