//! `ops-gen smoke`: the profile validated end to end.
//!
//! Real where the machine has it: the Docker engine (labelled containers
//! of the profile's project, with healthchecks), Prometheus (Debian's,
//! scraping a real `ops-gen serve` and loading the rules `compose generate`
//! wrote) and the exporter. Grafana and Loki have no package here, so small
//! stand-ins serve the documented endpoints and payloads: Grafana's
//! `/api/datasources` and `/api/search` behind basic auth, Loki's
//! `/loki/api/v1/push` and `/loki/api/v1/query_range`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};

use crate::util::{self, RealPrometheus, Run, ServeProcess, ops_gen, run, servers};

const GRAFANA_PASSWORD: &str = "graf-pw-0042";

/// A Grafana stand-in: the provisioned datasources and the dashboards
/// found in `dir/grafana/dashboards`, for `admin` with `password` only.
async fn grafana_stand_in(dir: &Path, password: &str) -> servers::Server {
    let mut dashboards = Vec::new();
    for entry in std::fs::read_dir(dir.join("grafana/dashboards")).unwrap() {
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        dashboards.push(serde_json::json!({"uid": doc["uid"], "title": doc["title"], "type": "dash-db"}));
    }
    // The header reqwest sends for these credentials.
    let expected = util::http_client().get("http://x/").basic_auth("admin", Some(password)).build().unwrap().headers()
        ["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    let authorized = move |headers: &HeaderMap| headers.get("authorization").is_some_and(|v| *v == expected);
    let (a1, a2) = (authorized.clone(), authorized);
    let app = axum::Router::new()
        .route(
            "/api/datasources",
            get(move |headers: HeaderMap| async move {
                if !a1(&headers) {
                    return (StatusCode::UNAUTHORIZED, r#"{"message":"invalid username or password"}"#.to_owned());
                }
                let body = serde_json::json!([
                    {"id": 1, "uid": "prometheus", "name": "Prometheus", "type": "prometheus"},
                    {"id": 2, "uid": "loki", "name": "Loki", "type": "loki"},
                ]);
                (StatusCode::OK, body.to_string())
            }),
        )
        .route(
            "/api/search",
            get(move |headers: HeaderMap| async move {
                if !a2(&headers) {
                    return (StatusCode::UNAUTHORIZED, r#"{"message":"invalid username or password"}"#.to_owned());
                }
                (StatusCode::OK, serde_json::Value::Array(dashboards.clone()).to_string())
            }),
        );
    servers::router(app).await
}

/// A Loki stand-in keeping pushed lines in memory; `query_range` answers
/// the lines that contain the query's `|= "…"` filter.
async fn loki_stand_in() -> (servers::Server, Arc<Mutex<Vec<(serde_json::Value, String, String)>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (pushed, read) = (lines.clone(), lines.clone());
    let app = axum::Router::new()
        .route(
            "/loki/api/v1/push",
            post(move |body: String| async move {
                let doc: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                for stream in doc["streams"].as_array().into_iter().flatten() {
                    for v in stream["values"].as_array().into_iter().flatten() {
                        let (ts, line) = (v[0].as_str().unwrap_or(""), v[1].as_str().unwrap_or(""));
                        pushed.lock().unwrap().push((stream["stream"].clone(), ts.to_owned(), line.to_owned()));
                    }
                }
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/loki/api/v1/query_range",
            get(move |Query(q): Query<HashMap<String, String>>| async move {
                let query = q.get("query").cloned().unwrap_or_default();
                let needle = query.split_once("|= \"").map(|(_, r)| r.trim_end_matches('"').to_owned());
                let result: Vec<serde_json::Value> = read
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(_, _, line)| needle.as_ref().is_none_or(|n| line.contains(n.as_str())))
                    .map(|(stream, ts, line)| serde_json::json!({"stream": stream, "values": [[ts, line]]}))
                    .collect();
                serde_json::json!({"status": "success", "data": {"resultType": "streams", "result": result}})
                    .to_string()
            }),
        );
    (servers::router(app).await, lines)
}

/// Containers labelled as the project's services, each with a healthcheck
/// that passes; removed when dropped.
pub struct Containers {
    host: String,
    ids: Vec<String>,
}

impl Containers {
    pub fn start(host: &str, project: &str, services: &[&str]) -> Self {
        let mut ids = Vec::new();
        for service in services {
            let out = util::docker(
                host,
                &[
                    "run",
                    "-d",
                    "--init",
                    "--label",
                    &format!("com.docker.compose.project={project}"),
                    "--label",
                    &format!("com.docker.compose.service={service}"),
                    "--health-cmd",
                    "true",
                    "--health-interval",
                    "1s",
                    "ops-gen-test/busybox:1",
                    "sleep",
                    "600",
                ],
            );
            ids.push(out.trim().to_owned());
        }
        Self { host: host.to_owned(), ids }
    }

    fn wait_healthy(&self) {
        let start = Instant::now();
        for id in &self.ids {
            loop {
                let health = util::docker(&self.host, &["inspect", "-f", "{{.State.Health.Status}}", id]);
                if health.trim() == "healthy" {
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(30), "container {id} not healthy: {health}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(self.ids.iter().map(String::as_str));
            let _ = std::process::Command::new("docker").env("DOCKER_HOST", &self.host).args(&args).output();
        }
    }
}

fn config(project: &str, services: &str, ports: &str, checks: &str) -> String {
    format!("stack:\n  project: {project}\nprofile:\n  services: [{services}]\n  ports: {{{ports}}}\n{checks}")
}

fn smoke(dir: &Path, host: &str, password: &str, args: &[&str]) -> Run {
    run(ops_gen(dir).env("DOCKER_HOST", host).env("OPS_GEN_GRAFANA_PASSWORD", password).arg("smoke").args(args))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_passes_and_the_exporter_reports_it_against_stand_in() {
    let host = util::docker_host();
    let project = util::unique("smoke").to_lowercase();
    let dir = tempfile::tempdir().unwrap();
    let services = "ops-gen, prometheus, grafana, loki";
    // The rules and dashboards do not depend on ports: generate them first,
    // so the real Prometheus loads the very rules ops-gen writes.
    std::fs::write(dir.path().join("ops-gen.yml"), config(&project, services, "", "")).unwrap();
    run(ops_gen(dir.path()).args(["compose", "generate"])).expect_code(0);
    let exporter_port = util::free_port();
    let data = tempfile::tempdir().unwrap();
    let prometheus = RealPrometheus::start(
        data.path(),
        &format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
             rule_files: ['{}/prometheus/rules/*.yml']\n\
             scrape_configs:\n  - job_name: ops-gen\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n",
            dir.path().display()
        ),
    );
    let grafana = grafana_stand_in(dir.path(), GRAFANA_PASSWORD).await;
    let (loki, pushed) = loki_stand_in().await;
    let ports = format!(
        "ops-gen: {exporter_port}, prometheus: {}, grafana: {}, loki: {}",
        prometheus.port,
        grafana.addr.port(),
        loki.addr.port()
    );
    let checks = format!("checks:\n  web:\n    kind: http\n    url: http://127.0.0.1:{exporter_port}/-/healthy\n");
    std::fs::write(dir.path().join("ops-gen.yml"), config(&project, services, &ports, &checks)).unwrap();
    let containers = Containers::start(&host, &project, &["ops-gen", "prometheus", "grafana", "loki"]);
    let serve = ServeProcess::start_in(dir, &format!("127.0.0.1:{exporter_port}"));
    let dir = serve.dir.path();
    containers.wait_healthy();

    // A wrong Grafana password: that step fails with the fix, the others pass.
    let r = smoke(dir, &host, "wrong-password", &["--timeout", "20"]);
    r.expect_code(1);
    let grafana_line = r.stdout.lines().find(|l| l.contains("grafana datasources")).unwrap();
    assert!(grafana_line.starts_with("✗ ") && grafana_line.contains("401"), "{}", r.stdout);
    assert!(grafana_line.contains("fix: export OPS_GEN_GRAFANA_PASSWORD"), "{grafana_line}");
    assert!(!r.all().contains("wrong-password"), "the password is never printed:\n{}", r.all());
    let failed_at =
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(dir.join("output/smoke/latest.json")).unwrap())
            .unwrap();
    assert_eq!(failed_at["success"], false);

    let r = smoke(dir, &host, GRAFANA_PASSWORD, &["--timeout", "20"]);
    r.expect_code(0);
    let names = [
        "containers",
        "prometheus targets",
        "promql query",
        "alert rules",
        "grafana datasources",
        "grafana dashboards",
        "loki push and query",
        "check web (http)",
    ];
    for name in names {
        let line = r.stdout.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name}:\n{}", r.stdout));
        assert!(line.starts_with("✓ "), "{line}");
    }
    assert!(r.stdout.contains("4 service(s) of project"), "{}", r.stdout);
    assert!(r.stdout.contains("smoke: all 8 steps passed"), "{}", r.stdout);
    assert!(
        pushed.lock().unwrap().iter().any(|(stream, _, _)| stream["compose_service"] == "ops-gen-smoke"
            && stream["compose_project"] == project.as_str()),
        "the line went to Loki with the shipper's labels"
    );

    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("output/smoke/latest.json")).unwrap()).unwrap();
    assert_eq!(latest["success"], true);
    assert!(latest.get("reason").is_none(), "{latest}");
    let last = &latest["last_failure"];
    assert!(last["reason"].as_str().unwrap().contains("grafana datasources: answered 401"), "{latest}");
    assert_eq!(last["at"], failed_at["last_run_at"]);
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(latest["result"].as_str().unwrap())).unwrap()).unwrap();
    assert_eq!(result["steps"].as_array().unwrap().len(), names.len());
    let runs = std::fs::read_dir(dir.join("output/smoke")).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir());
    assert_eq!(runs.count(), 2, "one folder per run");

    // The exporter serves the latest result (read off the request path,
    // within a second), and Prometheus has it.
    let metrics = format!("http://{}/metrics", serve.addr);
    util::eventually("the exporter to read the new smoke result", Duration::from_secs(5), async || {
        util::get_text(&metrics).await.contains("\nopsgen_smoke_success 1\n")
    })
    .await;
    let body = util::get_text(&metrics).await;
    let ts = latest["last_run_timestamp_seconds"].as_f64().unwrap();
    let served: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix("opsgen_smoke_last_run_timestamp_seconds "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{body}"));
    assert!((served - ts).abs() < 1e-3, "{served} vs {ts}");
    util::promtool_check_metrics(&body);
    util::eventually("Prometheus to see the smoke result", Duration::from_secs(20), async || {
        prometheus.query("opsgen_smoke_success").await.as_deref() == Some("1")
    })
    .await;

    let r = smoke(dir, &host, GRAFANA_PASSWORD, &["--json", "--timeout", "20"]);
    r.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["success"], true);
    assert_eq!(json["steps"].as_array().unwrap().len(), names.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_component_fails_its_step_in_time_against_stand_in() {
    let host = util::docker_host();
    let project = util::unique("smoke").to_lowercase();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ops-gen.yml"), config(&project, "grafana, loki", "", "")).unwrap();
    run(ops_gen(dir.path()).args(["compose", "generate"])).expect_code(0);
    let grafana = grafana_stand_in(dir.path(), GRAFANA_PASSWORD).await;
    let hung = servers::hung().await;
    let ports = format!("grafana: {}, loki: {}", grafana.addr.port(), hung.addr.port());
    std::fs::write(dir.path().join("ops-gen.yml"), config(&project, "grafana, loki", &ports, "")).unwrap();
    // Only Grafana runs: Loki's container is missing.
    let containers = Containers::start(&host, &project, &["grafana"]);
    containers.wait_healthy();

    let started = Instant::now();
    let r = smoke(dir.path(), &host, GRAFANA_PASSWORD, &["--timeout", "2"]);
    let took = started.elapsed();
    r.expect_code(1);
    assert!(took < Duration::from_secs(6), "bounded by the step timeout, took {took:?}:\n{}", r.stdout);
    let line = |name: &str| r.stdout.lines().find(|l| l.contains(name)).unwrap().to_owned();
    let loki = line("loki push and query");
    assert!(loki.starts_with("✗ ") && loki.contains("no answer within 2s") && loki.contains("fix: "), "{loki}");
    let containers_line = line("containers");
    assert!(containers_line.starts_with("✗ ") && containers_line.contains("loki missing"), "{containers_line}");
    assert!(containers_line.contains("fix: `ops-gen compose up`"), "{containers_line}");
    assert!(line("grafana datasources").starts_with("✓ "), "{}", r.stdout);
    assert!(r.stdout.contains("smoke: 2 of 4 steps failed"), "{}", r.stdout);
    assert!(hung.accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1, "Loki was asked");
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("output/smoke/latest.json")).unwrap()).unwrap();
    assert_eq!(latest["success"], false);
    let reason = latest["reason"].as_str().unwrap();
    assert!(reason.contains("containers: ") && reason.contains("loki push and query: no answer"), "{reason}");
}

#[test]
fn a_bad_config_exits_2_and_an_unwritable_output_folder_too() {
    let dir = util::config_dir("profile:\n  servics: []\n");
    let r = run(ops_gen(dir.path()).arg("smoke"));
    r.expect_code(2);
    assert!(r.stderr.contains("ops-gen.yml") && r.stderr.contains("profile.servics"), "{}", r.stderr);

    // Nothing enabled and no checks: nothing to fail, but the result must be written.
    let dir = util::config_dir("profile:\n  services: []\n");
    std::fs::write(dir.path().join("output"), "a file where the folder goes").unwrap();
    let r = run(ops_gen(dir.path()).arg("smoke"));
    r.expect_code(2);
    assert!(r.stderr.contains("cannot write the smoke result in output/smoke"), "{}", r.stderr);
}
