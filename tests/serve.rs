//! `ops-gen serve` over real HTTP: the exposition, its formats and
//! deadlines, shared runs, reload, readiness, signals, and a real Prometheus
//! scraping it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt as _;

use crate::util::{self, Scrape, ServeProcess, TestExporter, servers};

/// `/metrics` with run-dependent values replaced, for the golden file.
fn normalize(body: &str) -> String {
    let stable = [
        "opsgen_check_success",
        "opsgen_backup_max_age_seconds",
        "opsgen_backup_size_bytes",
        "opsgen_redis_last_bgsave_success",
        "opsgen_config_last_reload_success ",
        "opsgen_build_info",
        "opsgen_postgres_server_info",
        "opsgen_backup_verified",
        "opsgen_backup_sets",
    ];
    let version = regex_lite(body);
    version
        .lines()
        .map(|line| {
            if line.starts_with('#') || stable.iter().any(|s| line.starts_with(s)) {
                line.to_owned()
            } else {
                match line.rsplit_once(' ') {
                    Some((series, _)) => format!("{series} <value>"),
                    None => line.to_owned(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Replaces label values that change between builds and servers.
fn regex_lite(body: &str) -> String {
    let mut out = String::new();
    for line in body.lines() {
        let mut line = line.to_owned();
        for label in ["version=\"", "revision=\""] {
            if let Some(start) = line.find(label) {
                let from = start + label.len();
                if let Some(len) = line[from..].find('"') {
                    line.replace_range(from..from + len, "<v>");
                }
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

async fn stack_config() -> (String, servers::Server, tempfile::TempDir) {
    let (db_url, _) = util::postgres_database().await;
    util::redis_conn().await;
    let app = servers::http_app().await;
    let backups = tempfile::tempdir().unwrap();
    std::fs::write(backups.path().join("app.dump"), vec![b'x'; 2048]).unwrap();
    let config = format!(
        "targets:\n  db:\n    kind: postgres\n    url: {db_url}\n  cache:\n    kind: redis\n    url: {redis}\nchecks:\n  web:\n    kind: http\n    url: {web}\n    body_contains: good\n  dumps:\n    kind: file_freshness\n    path: {dumps}/*.dump\n    max_age: 26h\n    min_size: 1KiB\n  missing-dumps:\n    kind: file_freshness\n    path: {dumps}/none/*.dump\n    max_age: 1h\nbackup:\n  dir: {dumps}/sets\n",
        redis = util::redis_url(),
        web = app.url("/ok"),
        dumps = backups.path().display(),
    );
    (config, app, backups)
}

#[tokio::test]
async fn metrics_expose_every_series_of_a_real_stack() {
    let (config, _app, _backups) = stack_config().await;
    let exporter = TestExporter::start(&config).await;
    let scrape = exporter.scrape().await;
    assert_eq!(scrape.status, 200);
    assert_eq!(scrape.content_type, "text/plain; version=0.0.4; charset=utf-8");
    insta::assert_snapshot!("metrics_text", normalize(&scrape.body));

    assert_eq!(scrape.value(r#"opsgen_check_success{check="db",kind="postgres"}"#), Some(1.0));
    assert_eq!(scrape.value(r#"opsgen_check_success{check="missing-dumps",kind="file_freshness"}"#), Some(0.0));
    assert_eq!(scrape.value(r#"opsgen_backup_size_bytes{target="dumps"}"#), Some(2048.0));
    assert_eq!(scrape.value(r#"opsgen_backup_last_success_timestamp_seconds{target="missing-dumps"}"#), Some(0.0));
    assert_eq!(
        scrape.value(r#"opsgen_check_failures_total{check="missing-dumps",kind="file_freshness",reason="missing"}"#),
        Some(1.0)
    );
}

#[tokio::test]
async fn promtool_accepts_the_exposition() {
    let (config, _app, _backups) = stack_config().await;
    let exporter = TestExporter::start(&config).await;
    util::promtool_check_metrics(&exporter.scrape().await.body);
}

#[tokio::test]
async fn openmetrics_is_negotiated_like_prometheus_asks() {
    let exporter = TestExporter::start("checks: {}\n").await;
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let om = exporter.scrape_with(Some(prometheus_accept), None).await;
    assert_eq!(om.content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(om.body.ends_with("# EOF\n"));
    assert!(om.body.contains("# TYPE opsgen_build info\n"));

    let text = exporter.scrape_with(Some("text/plain;version=0.0.4"), None).await;
    assert_eq!(text.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.body.contains("# EOF"));
    assert!(text.body.contains("# TYPE opsgen_build_info gauge\n"));
}

#[tokio::test]
async fn concurrent_scrapes_share_one_run_and_recent_results_are_reused() {
    let app = servers::http_app().await;
    let exporter = TestExporter::start(&format!(
        "scrape:\n  min_interval: 1h\nchecks:\n  web:\n    kind: http\n    url: {}\n",
        app.url("/count")
    ))
    .await;
    // The warm-up run may be in flight: wait for it so we count from a known state.
    util::eventually("the warm-up run", Duration::from_secs(5), async || exporter.get("/-/ready").await.0 == 200).await;
    let before = app.accepted.load(Ordering::SeqCst);

    let scrapes: Vec<Scrape> = futures::future::join_all((0..20).map(|_| exporter.scrape())).await;
    assert!(scrapes.iter().all(|s| s.value(r#"opsgen_check_success{check="web",kind="http"}"#) == Some(1.0)));
    assert_eq!(app.accepted.load(Ordering::SeqCst), before, "results younger than min_interval are reused");

    let exporter = TestExporter::start(&format!(
        "scrape:\n  min_interval: 0s\nchecks:\n  web:\n    kind: http\n    url: {}\n",
        app.url("/count")
    ))
    .await;
    util::eventually("the warm-up run", Duration::from_secs(5), async || exporter.get("/-/ready").await.0 == 200).await;
    let before = app.accepted.load(Ordering::SeqCst);
    futures::future::join_all((0..20).map(|_| exporter.scrape())).await;
    let runs = app.accepted.load(Ordering::SeqCst) - before;
    assert!((1..=2).contains(&runs), "20 concurrent scrapes caused {runs} runs; they should join one in-flight run");
}

#[tokio::test]
async fn a_hung_target_never_holds_a_scrape_past_its_deadline() {
    let hung = servers::hung().await;
    let exporter = TestExporter::start(&format!(
        "scrape:\n  min_interval: 0s\ntargets:\n  db:\n    kind: postgres\n    url: postgres://u@{a}/db\n    timeout: 2s\n  cache:\n    kind: redis\n    url: redis://{a}\n    timeout: 2s\nchecks:\n  web:\n    kind: http\n    url: http://{a}/\n    timeout: 2s\n",
        a = hung.addr
    ))
    .await;
    // Joins the warm-up runs (2 s limit) but must answer by its own deadline.
    let scrape = exporter.scrape_with(None, Some(1.0)).await;
    assert_eq!(scrape.status, 200);
    assert!(scrape.took < Duration::from_millis(1200), "scrape with a 1 s deadline took {:?}", scrape.took);
    let checks = ["db\",kind=\"postgres", "cache\",kind=\"redis", "web\",kind=\"http"];
    for check in checks {
        assert_eq!(scrape.value(&format!("opsgen_check_success{{check=\"{check}\"}}")), Some(0.0), "{check}");
    }
    // Once the runs end at their own limit, each counts a timeout.
    util::eventually("timeouts to be counted", Duration::from_secs(5), async || {
        let scrape = exporter.scrape_with(None, Some(1.0)).await;
        checks.iter().all(|check| {
            let series = format!("opsgen_check_failures_total{{check=\"{check}\",reason=\"timeout\"}}");
            scrape.value(&series).is_some_and(|v| v >= 1.0)
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_scrapes_against_a_hung_target_leak_nothing() {
    let hung = servers::hung().await;
    let server = ServeProcess::start(&format!(
        "scrape:\n  min_interval: 0s\ntargets:\n  db:\n    kind: postgres\n    url: postgres://u@{a}/db\n    timeout: 100ms\n  cache:\n    kind: redis\n    url: redis://{a}\n    timeout: 100ms\nchecks:\n  web:\n    kind: http\n    url: http://{a}/\n    timeout: 100ms\n",
        a = hung.addr
    ));
    let client = util::http_client();
    let url = format!("http://{}/metrics", server.addr);
    let scrape = |client: reqwest::Client, url: String| async move {
        let started = Instant::now();
        let resp = client.get(&url).header("x-prometheus-scrape-timeout-seconds", "0.5").send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap();
        started.elapsed()
    };
    scrape(client.clone(), url.clone()).await;
    let baseline_fds = server.open_fds();
    let baseline_threads = server.threads();

    let total = 3000;
    let slowest = futures::stream::iter((0..total).map(|_| scrape(client.clone(), url.clone())))
        .buffer_unordered(50)
        .fold(Duration::ZERO, |max, took| async move { max.max(took) })
        .await;
    assert!(slowest < Duration::from_millis(900), "slowest of {total} scrapes with a 0.5 s deadline took {slowest:?}");
    assert!(hung.accepted.load(Ordering::SeqCst) > 100, "the checks really ran against the hung target");

    // Close our own keep-alive connections: only the exporter's may remain.
    drop(client);
    // Every connection to the hung target is closed once its run ended.
    util::eventually("connections to the hung target to close", Duration::from_secs(5), async || {
        hung.open.load(Ordering::SeqCst) == 0
    })
    .await;
    util::eventually("the exporter's open fds to return to their baseline", Duration::from_secs(5), async || {
        server.open_fds() <= baseline_fds + 2
    })
    .await;
    assert!(server.threads() <= baseline_threads, "threads grew from {baseline_threads} to {}", server.threads());
}

#[tokio::test]
async fn reload_swaps_the_config_and_a_bad_one_keeps_the_old() {
    let exporter = TestExporter::start(
        "checks:\n  one:\n    kind: file_freshness\n    path: /nonexistent/*.dump\n    max_age: 1h\n",
    )
    .await;
    let path = exporter.dir.path().join("ops-gen.yml");
    assert!(exporter.scrape().await.body.contains("check=\"one\""));

    std::fs::write(
        &path,
        "checks:\n  two:\n    kind: file_freshness\n    path: /nonexistent/*.dump\n    max_age: 1h\n",
    )
    .unwrap();
    // A form-like POST (what any web page can send) is refused.
    let resp = exporter.http.post(exporter.url("/-/reload")).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let resp = exporter.http.post(exporter.url("/-/reload")).header("x-requested-by", "test").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // The new checks run right away: ready again without waiting for a scrape.
    util::eventually("readiness after reload", Duration::from_secs(5), async || {
        exporter.get("/-/ready").await.0 == 200
    })
    .await;
    let body = exporter.scrape().await.body;
    assert!(body.contains("check=\"two\"") && !body.contains("check=\"one\""), "{body}");
    assert!(body.contains("opsgen_config_last_reload_success 1"));

    std::fs::write(&path, "checks:\n  three:\n    kind: nonsense\n").unwrap();
    let resp = exporter.http.post(exporter.url("/-/reload")).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    let message = resp.text().await.unwrap();
    assert!(message.contains("previous config kept") && message.contains("checks.three.kind"), "{message}");
    let body = exporter.scrape().await.body;
    assert!(body.contains("check=\"two\""), "the previous config keeps running");
    assert!(body.contains("opsgen_config_last_reload_success 0"));
}

/// A reload keeps the rhythm of scheduled checks that did not change: the
/// S3 round trip and the canaries write, and a reload (or a flood of them)
/// must not make them write again before their interval is up.
#[tokio::test]
async fn a_reload_does_not_rerun_scheduled_checks_that_did_not_change() {
    let app = servers::http_app().await;
    let config =
        |path: &str| format!("checks:\n  scheduled:\n    kind: http\n    url: {}\n    interval: 1h\n", app.url(path));
    let exporter = TestExporter::start(&config("/count")).await;
    util::eventually("the first scheduled run", Duration::from_secs(5), async || {
        app.accepted.load(Ordering::SeqCst) >= 1
    })
    .await;
    let reload = async || {
        let resp = exporter.http.post(exporter.url("/-/reload")).header("x-requested-by", "test").send().await.unwrap();
        assert_eq!(resp.status(), 200);
    };
    for _ in 0..5 {
        reload().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.accepted.load(Ordering::SeqCst), 1, "reloads re-ran an unchanged scheduled check");
    let scrape = exporter.scrape().await;
    assert_eq!(scrape.value(r#"opsgen_check_success{check="scheduled",kind="http"}"#), Some(1.0), "its result is kept");

    // A changed check runs at once.
    std::fs::write(exporter.dir.path().join("ops-gen.yml"), config("/count?changed=1")).unwrap();
    reload().await;
    util::eventually("the changed check to run", Duration::from_secs(5), async || {
        app.accepted.load(Ordering::SeqCst) == 2
    })
    .await;
}

#[tokio::test]
async fn sighup_reloads_and_sigterm_stops_gracefully() {
    let mut server = ServeProcess::start(
        "checks:\n  one:\n    kind: file_freshness\n    path: /nonexistent/*.dump\n    max_age: 1h\n",
    );
    let metrics = format!("http://{}/metrics", server.addr);
    let body = util::get_text(&metrics).await;
    assert!(body.contains("check=\"one\""));

    std::fs::write(
        server.dir.path().join("ops-gen.yml"),
        "checks:\n  two:\n    kind: file_freshness\n    path: /x/*.d\n    max_age: 1h\n",
    )
    .unwrap();
    server.signal("HUP");
    util::eventually("SIGHUP to reload the config", Duration::from_secs(5), async || {
        util::get_text(&metrics).await.contains("check=\"two\"")
    })
    .await;

    server.signal("TERM");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "ops-gen did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn ready_waits_for_every_first_result_and_health_is_always_ok() {
    let hung = servers::hung().await;
    let exporter = TestExporter::start(&format!(
        "checks:\n  slow:\n    kind: http\n    url: http://{}/\n    timeout: 1s\n",
        hung.addr
    ))
    .await;
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
    assert_eq!(exporter.get("/healthz").await.0, 200);
    let (status, body) = exporter.get("/-/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("slow"));
    util::eventually("readiness", Duration::from_secs(5), async || exporter.get("/readyz").await.0 == 200).await;
}

#[tokio::test]
async fn landing_page_lists_checks_with_their_state() {
    let app = servers::http_app().await;
    let exporter = TestExporter::start(&format!(
        "checks:\n  web:\n    kind: http\n    url: {}\n  broken:\n    kind: http\n    url: {}\n",
        app.url("/ok"),
        app.url("/status/500")
    ))
    .await;
    util::eventually("first results", Duration::from_secs(5), async || exporter.get("/-/ready").await.0 == 200).await;
    let (status, page) = exporter.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<td>web</td>") && page.contains("<td>broken</td>"), "{page}");
    assert!(page.contains("status: answered 500 Internal Server Error"), "{page}");
    assert!(page.contains("href=\"/metrics\""));
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_exporter() {
    let exporter = TestExporter::start(
        "checks:\n  dumps:\n    kind: file_freshness\n    path: /nonexistent/*.dump\n    max_age: 1h\n",
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let prometheus = util::RealPrometheus::start(
        data.path(),
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: opsgen\n    static_configs:\n      - targets: ['{}']\n",
            exporter.addr
        ),
    );
    util::eventually("Prometheus to scrape ops-gen", Duration::from_secs(20), async || {
        prometheus.query("up{job=\"opsgen\"}").await.as_deref() == Some("1")
    })
    .await;
    assert_eq!(prometheus.query("opsgen_check_success{check=\"dumps\"}").await.as_deref(), Some("0"));
    assert_eq!(prometheus.query("opsgen_backup_max_age_seconds{target=\"dumps\"}").await.as_deref(), Some("3600"));
    assert_eq!(prometheus.query("count(opsgen_build_info)").await.as_deref(), Some("1"));
}

#[tokio::test]
async fn scheduled_checks_run_on_their_own_and_scrapes_only_read_them() {
    let app = servers::http_app().await;
    let exporter = TestExporter::start(&format!(
        "scrape:\n  min_interval: 0s\nchecks:\n  web:\n    kind: http\n    url: {}\n    interval: 400ms\n",
        app.url("/count")
    ))
    .await;
    // Runs without any scrape.
    util::eventually("three scheduled runs", Duration::from_secs(5), async || app.accepted.load(Ordering::SeqCst) >= 3)
        .await;
    // Scrapes read the last result and never start a run of their own.
    let before = app.accepted.load(Ordering::SeqCst);
    let scrapes = futures::future::join_all((0..10).map(|_| exporter.scrape())).await;
    assert!(scrapes.iter().all(|s| s.value(r#"opsgen_check_success{check="web",kind="http"}"#) == Some(1.0)));
    assert!(scrapes.iter().all(|s| s.took < Duration::from_millis(200)), "scrapes wait for nothing");
    assert!(app.accepted.load(Ordering::SeqCst) - before <= 1, "only the schedule runs the check");
}

#[tokio::test]
async fn every_new_result_reaches_the_next_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = TestExporter::start(&format!(
        "scrape:\n  min_interval: 0s\nchecks:\n  dumps:\n    kind: file_freshness\n    path: {}/*.dump\n    max_age: 1h\n",
        dir.path().display()
    ))
    .await;
    let success = r#"opsgen_check_success{check="dumps",kind="file_freshness"}"#;
    for round in 0..3 {
        assert_eq!(exporter.scrape().await.value(success), Some(0.0), "round {round}: no dump yet");
        std::fs::write(dir.path().join("a.dump"), b"data").unwrap();
        assert_eq!(exporter.scrape().await.value(success), Some(1.0), "round {round}: dump written");
        std::fs::remove_file(dir.path().join("a.dump")).unwrap();
    }
    // With results reused (min_interval 1h) the series stay, and each scrape
    // still reports its own duration.
    let exporter = TestExporter::start(
        "checks:\n  dumps:\n    kind: file_freshness\n    path: /nonexistent/*.dump\n    max_age: 1h\n",
    )
    .await;
    let first = exporter.scrape().await;
    let second = exporter.scrape().await;
    assert_eq!(first.value(success), second.value(success));
    assert!(second.value("opsgen_scrape_duration_seconds").unwrap() < 0.01);
    assert!(
        second.body.ends_with("opsgen_scrape_duration_seconds ".to_owned().as_str())
            || second.body.contains("\nopsgen_scrape_duration_seconds ")
    );
}

/// A client's own deadline (`X-Prometheus-Scrape-Timeout-Seconds`) is
/// raised to `scrape.min_timeout`, and a run it cannot wait for is a timeout
/// for that answer alone: never counted, cached or shown to other scrapers.
#[tokio::test]
async fn a_clients_short_deadline_neither_fails_checks_nor_reaches_other_scrapers() {
    let app = servers::http_app().await;
    let exporter = TestExporter::start(&format!(
        "scrape:\n  min_interval: 0s\ntargets:\n  db:\n    kind: postgres\n    url: {}\nchecks:\n  web:\n    kind: http\n    url: {}\n    timeout: 5s\n",
        util::postgres_url(),
        app.url("/wait/1500")
    ))
    .await;
    let db = r#"opsgen_check_success{check="db",kind="postgres"}"#;
    let web = r#"opsgen_check_success{check="web",kind="http"}"#;
    let web_timeouts = r#"opsgen_check_failures_total{check="web",kind="http",reason="timeout"}"#;

    let tiny = exporter.scrape_with(None, Some(0.001)).await;
    assert_eq!(tiny.status, 200);
    assert_eq!(tiny.value(db), Some(1.0), "a 1 ms header must not fail a check that takes milliseconds");
    assert!(tiny.took >= Duration::from_millis(500), "the 1 ms header was not raised to the floor: {:?}", tiny.took);
    assert_eq!(tiny.value(web), Some(0.0), "the 1.5 s check outlasts this caller's 1 s floor");

    let normal = exporter.scrape().await;
    assert_eq!(normal.value(web), Some(1.0), "the next scrape sees the run's own, complete result");
    assert_eq!(normal.value(db), Some(1.0));
    assert_eq!(normal.value(web_timeouts), Some(0.0), "a caller's deadline is never counted as the check's timeout");
}

/// A backup folder whose reads block (a FIFO where a manifest should be,
/// as a hung NFS mount behaves) never holds a scrape or the status page: the
/// files are read off the request path, the backup series go stale, and
/// `opsgen_disk_read_timestamp_seconds` says so.
#[tokio::test]
async fn a_backup_folder_that_hangs_never_holds_a_scrape() {
    let folder = tempfile::tempdir().unwrap();
    let set = folder.path().join("20260101T000000Z");
    std::fs::create_dir(&set).unwrap();
    let manifest = set.join("manifest.json");
    assert!(std::process::Command::new("mkfifo").arg(&manifest).status().unwrap().success());
    // A second name for the FIFO, to unblock its reader at the end.
    let handle = folder.path().join("fifo");
    std::fs::hard_link(&manifest, &handle).unwrap();
    let exporter = TestExporter::start(&format!(
        "targets:\n  db:\n    kind: postgres\n    url: {}\nbackup:\n  dir: {}\n",
        util::postgres_url(),
        folder.path().display()
    ))
    .await;
    for _ in 0..3 {
        let scrape = exporter.scrape_with(None, Some(2.0)).await;
        assert_eq!(scrape.status, 200);
        assert!(scrape.took < Duration::from_millis(2500), "a scrape with a 2 s deadline took {:?}", scrape.took);
        assert_eq!(scrape.value(r#"opsgen_check_success{check="db",kind="postgres"}"#), Some(1.0));
        assert_eq!(scrape.value("opsgen_disk_read_timestamp_seconds"), Some(0.0), "the folder was never read");
    }
    let status = tokio::time::timeout(Duration::from_secs(3), exporter.get("/status.json")).await;
    assert_eq!(status.expect("the status page answers while the folder hangs").0, 200);

    // Put a plain file where the FIFO was, then let the blocked read end.
    std::fs::write(folder.path().join("plain"), b"{}").unwrap();
    std::fs::rename(folder.path().join("plain"), &manifest).unwrap();
    drop(std::fs::OpenOptions::new().write(true).open(&handle).unwrap());
    util::eventually("the folder to be read", Duration::from_secs(10), async || {
        exporter.scrape().await.value("opsgen_disk_read_timestamp_seconds").is_some_and(|v| v > 0.0)
    })
    .await;
}

#[tokio::test]
async fn absurd_scrape_timeouts_are_clamped_not_fatal() {
    let exporter = TestExporter::start("checks: {}\n").await;
    for header in [1e30, 1e-12, f64::MAX] {
        let scrape = exporter.scrape_with(None, Some(header)).await;
        assert_eq!(scrape.status, 200, "timeout header {header}");
    }
}

#[tokio::test]
async fn probe_returns_one_targets_series_and_refuses_anything_else() {
    let hung = servers::hung().await;
    let app = servers::http_app().await;
    let exporter = TestExporter::start(&format!(
        "checks:\n  web:\n    kind: http\n    url: {}\n  stuck:\n    kind: http\n    url: http://{}/\n    timeout: 30s\n",
        app.url("/ok"),
        hung.addr
    ))
    .await;
    let (status, body) = exporter.get("/probe?target=web").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"opsgen_check_success{check="web",kind="http"} 1"#), "{body}");
    assert!(
        !body.contains("check=\"stuck\"") && !body.contains("opsgen_build_info"),
        "only the probed target:\n{body}"
    );
    assert!(body.contains("opsgen_scrape_duration_seconds"));
    assert_eq!(exporter.get("/probe?target=web&check=http").await.0, 200);

    for (query, says) in [
        ("", "missing `target`"),
        ("?target=", "missing `target`"),
        ("?target=nope", "unknown target `nope`; configured targets and checks: stuck, web"),
        ("?target=http://169.254.169.254/", "unknown target"),
        ("?target=web&check=postgres", "target `web` is a `http` check, not `postgres`"),
    ] {
        let (status, body) = exporter.get(&format!("/probe{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(says), "{query}: {body}");
    }

    // A hung target answers within the deadline Prometheus gives.
    let started = Instant::now();
    let resp = exporter
        .http
        .get(exporter.url("/probe?target=stuck"))
        .header("x-prometheus-scrape-timeout-seconds", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains(r#"opsgen_check_success{check="stuck",kind="http"} 0"#));
    assert!(started.elapsed() < Duration::from_millis(1200), "took {:?}", started.elapsed());
}

/// The generated `prometheus.yml` for a config with `targets`, parsed: the
/// scrape jobs the profile writes, by name.
fn generated_jobs(config: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
    let dir = util::config_dir(config);
    util::run(util::ops_gen(dir.path()).args(["compose", "generate", "--out", "."])).expect_code(0);
    let text = std::fs::read_to_string(dir.path().join("prometheus/prometheus.yml")).unwrap();
    let doc: serde_json::Value = serde_norway::from_str(&text).unwrap();
    doc["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| (job["job_name"].as_str().unwrap().to_owned(), job.clone()))
        .collect()
}

/// Three hosts, each with its own `ops-gen serve` process and its own
/// PostgreSQL, Redis and S3 targets, watched by one real Prometheus through
/// the generated `ops-gen-probe` job (file SD, relabelled to `/probe`), and
/// one host's `/metrics` through the generated `ops-gen` job, which drops
/// what the probe job already collects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_prometheus_watches_three_hosts_through_file_sd_and_probe() {
    let (_, _, access, secret) = util::s3();
    let s3_data = tempfile::tempdir().unwrap();
    let hung = servers::hung().await;
    let names = ["alpha", "beta", "gamma"];
    for host in names {
        std::fs::create_dir(s3_data.path().join(format!("bucket-{host}"))).unwrap();
    }
    let s3 = util::OwnS3::start(s3_data.path()).await;
    let config = |host: &str| {
        format!(
            "targets:\n  postgres:\n    kind: postgres\n    url: {pg}\n  redis:\n    kind: redis\n    url: {redis}\n  \
             s3:\n    kind: s3\n    endpoint: {s3}\n    bucket: bucket-{host}\n    access_key: {access}\n    secret_key: {secret}\n    interval: 1s\n  \
             stuck:\n    kind: postgres\n    url: postgres://u@{hung}/db\n    timeout: 30s\n",
            pg = util::postgres_url(),
            redis = util::redis_url(),
            s3 = s3.endpoint(),
            hung = hung.addr,
        )
    };
    let hosts: Vec<ServeProcess> = names.iter().map(|h| ServeProcess::start(&config(h))).collect();

    // Names only: a query never makes the exporter connect anywhere.
    let client = util::http_client();
    for (query, status, says) in [
        ("", 400, "missing `target`"),
        ("?target=nope", 400, "unknown target `nope`"),
        ("?target=127.0.0.1:5432", 400, "unknown target"),
        ("?target=postgres&check=redis", 400, "is a `postgres` check, not `redis`"),
        ("?target=postgres&check=postgres", 200, r#"opsgen_check_success{check="postgres",kind="postgres"} 1"#),
    ] {
        let resp = client.get(format!("http://{}/probe{query}", hosts[0].addr)).send().await.unwrap();
        assert_eq!(resp.status(), status, "{query}");
        let body = resp.text().await.unwrap();
        assert!(body.contains(says), "{query}: {body}");
    }
    // A target that accepts and never answers: the answer comes by the
    // deadline Prometheus sends, as a failure series.
    let started = Instant::now();
    let resp = client
        .get(format!("http://{}/probe?target=stuck", hosts[1].addr))
        .header("x-prometheus-scrape-timeout-seconds", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(body.contains(r#"opsgen_check_success{check="stuck",kind="postgres"} 0"#), "{body}");
    assert!(started.elapsed() < Duration::from_millis(1200), "took {:?}", started.elapsed());

    // The jobs exactly as `compose generate` writes them, pointed at this
    // test's files and exporters.
    let data = tempfile::tempdir().unwrap();
    let targets = data.path().join("targets");
    std::fs::create_dir(&targets).unwrap();
    let mut jobs = generated_jobs(&config("alpha"));
    let mut probe = jobs.remove("ops-gen-probe").expect("the generated profile has a probe job");
    probe["file_sd_configs"][0]["files"] = serde_json::json!([format!("{}/*.json", targets.display())]);
    let mut metrics = jobs.remove("ops-gen").unwrap();
    metrics["static_configs"] = serde_json::json!([{"targets": [hosts[0].addr]}]);
    // Each host adds its entry: target names, the exporter, the host label.
    for (host, server) in names.iter().zip(&hosts) {
        let entry = serde_json::json!([{
            "targets": ["postgres", "redis", "s3", "stuck"],
            "labels": {"__exporter__": server.addr, "host": host},
        }]);
        std::fs::write(targets.join(format!("{host}.json")), entry.to_string()).unwrap();
    }
    let prometheus_yml = serde_json::json!({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [metrics, probe],
    });
    let prometheus = util::RealPrometheus::start(data.path(), &serde_norway::to_string(&prometheus_yml).unwrap());
    util::eventually("Prometheus to probe 4 targets on each of 3 hosts", Duration::from_secs(30), async || {
        prometheus.query("count(up{job=\"ops-gen-probe\"} == 1)").await.as_deref() == Some("12")
            && prometheus.query("count(opsgen_s3_roundtrip_success{job=\"ops-gen-probe\"} == 1)").await.as_deref()
                == Some("3")
            && prometheus.query("opsgen_config_last_reload_success{job=\"ops-gen\"}").await.is_some()
    })
    .await;
    for host in names {
        for (instance, value) in [("postgres", "1"), ("redis", "1"), ("s3", "1"), ("stuck", "0")] {
            let query = format!(
                "opsgen_check_success{{job=\"ops-gen-probe\",host=\"{host}\",instance=\"{instance}\",check=\"{instance}\"}}"
            );
            assert_eq!(prometheus.query(&query).await.as_deref(), Some(value), "{query}");
        }
    }
    // Only the probed target's series come back, labelled by that target.
    assert_eq!(
        prometheus.query("count(opsgen_redis_last_bgsave_success{job=\"ops-gen-probe\",instance!=\"redis\"})").await,
        None
    );
    assert_eq!(prometheus.query("count(opsgen_build_info{job=\"ops-gen-probe\"})").await, None);
    // The exporter's own series stay on `/metrics`, and the checks the probe
    // job collects are dropped there: one series per host and check.
    assert_eq!(prometheus.query("opsgen_config_last_reload_success{job=\"ops-gen\"}").await.as_deref(), Some("1"));
    assert_eq!(prometheus.query("count(opsgen_check_success{job=\"ops-gen\"})").await, None);
    assert_eq!(prometheus.query("count(opsgen_redis_last_bgsave_success{job=\"ops-gen\"})").await, None);
    assert_eq!(prometheus.query("count(opsgen_check_success{check=\"postgres\"})").await.as_deref(), Some("3"));
}

#[tokio::test]
async fn runbooks_are_served_where_alerts_link() {
    let exporter = TestExporter::start("").await;
    let (status, text) = exporter.get("/runbooks/backup-stale").await;
    assert_eq!(status, 200);
    assert!(text.starts_with("# "), "{text}");
    let (status, index) = exporter.get("/runbooks/").await;
    assert_eq!(status, 200);
    assert!(index.contains("restore-from-backup"), "{index}");
    let (status, _) = exporter.get("/runbooks/no-such-topic").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_config_gives_tls_and_basic_auth_that_prometheus_uses() {
    let (cert, key) = util::tls_files();
    let hash = bcrypt::hash("scrape-pw-0123", 4).unwrap();
    let dir = util::config_dir("auth:\n  web_config: web.yml\n");
    std::fs::write(
        dir.path().join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  prometheus: {hash}\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    // The same file passes Prometheus's own check of the format.
    let promtool = util::require_tool("promtool", "prometheus");
    let checked = std::process::Command::new(promtool)
        .arg("check")
        .arg("web-config")
        .arg(dir.path().join("web.yml"))
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));

    let server = util::ServeProcess::start_in(dir, "127.0.0.1:0");
    ops_gen::tls::init();
    // The test certificate is self-signed (a CA as its own leaf), which
    // rustls refuses as a server certificate; Prometheus below verifies it
    // against its CA file for real.
    let https = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let url = |path: &str| format!("https://localhost:{}{path}", server.addr.rsplit(':').next().unwrap());
    let anonymous = https.get(url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Basic realm=\"ops-gen\"");
    let wrong = https.get(url("/metrics")).basic_auth("prometheus", Some("nope")).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = https.get(url("/metrics")).basic_auth("prometheus", Some("scrape-pw-0123")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(https.get(url("/healthz")).send().await.unwrap().status(), 200, "health stays open");
    // Every other route needs the password: the page, its data, reload.
    for path in ["/", "/status.json", "/-/ready", "/probe?target=backups", "/runbooks/"] {
        assert_eq!(https.get(url(path)).send().await.unwrap().status(), 401, "{path} without a password");
    }
    let reload = |auth: bool, header: bool| {
        let mut request = https.post(url("/-/reload"));
        if auth {
            request = request.basic_auth("prometheus", Some("scrape-pw-0123"));
        }
        if header {
            request = request.header("x-requested-by", "test");
        }
        request.send()
    };
    assert_eq!(reload(false, true).await.unwrap().status(), 401, "reload without a password");
    assert_eq!(reload(true, false).await.unwrap().status(), 403, "a form-like reload, even with the password");
    assert_eq!(reload(true, true).await.unwrap().status(), 200);
    let page = https.get(url("/")).basic_auth("prometheus", Some("scrape-pw-0123")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let plain = util::http_client().get(format!("http://{}/metrics", server.addr)).send().await;
    assert!(plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()), "no plain HTTP on a TLS port");

    // A real Prometheus scrapes it over TLS with the password.
    let prom_dir = tempfile::tempdir().unwrap();
    let prometheus = util::RealPrometheus::start(
        prom_dir.path(),
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ops-gen\n    scheme: https\n    tls_config:\n      ca_file: {}\n    basic_auth:\n      username: prometheus\n      password: scrape-pw-0123\n    static_configs:\n      - targets: [\"localhost:{}\"]\n",
            cert.display(),
            server.addr.rsplit(':').next().unwrap()
        ),
    );
    util::eventually("Prometheus to scrape over TLS", Duration::from_secs(30), async || {
        prometheus.query("up{job=\"ops-gen\"}").await.as_deref() == Some("1")
    })
    .await;

    // A web config with a key ops-gen does not implement is refused by name.
    let bad = util::config_dir("auth:\n  web_config: web.yml\n");
    std::fs::write(bad.path().join("web.yml"), "http_server_config:\n  http2: false\n").unwrap();
    let out = util::run(util::ops_gen(bad.path()).args(["config", "check"]));
    out.expect_code(2);
    assert!(out.stderr.contains("auth.web_config") && out.stderr.contains("http_server_config"), "{}", out.stderr);
}

/// Arbitrary methods, queries, headers and bodies sent to every route of a
/// running server (with and without valid tokens): the server never panics
/// and never answers a 5xx but the documented ones (502/503 when the Docker
/// engine fails), and `/healthz` still answers at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_requests_to_every_route_never_break_the_server() {
    use proptest::strategy::{Strategy as _, ValueTree as _};
    const READER: &str = "read-token-0123456789abcdef";
    const BEACON: &str = "beacon-token-0123456789abcdef";
    let files = tempfile::tempdir().unwrap();
    let exporter = TestExporter::start(&format!(
        "auth:\n  tokens:\n    - {{name: bob, token: {READER}}}\n    - {{name: web, token: {BEACON}, role: beacon}}\n  audit_log: {}\n  frontend_log: {}\nstack:\n  project: fuzz-nothing-runs-here\n",
        files.path().join("audit.log").display(),
        files.path().join("frontend.jsonl").display()
    ))
    .await;
    let routes = [
        "/",
        "/status.json",
        "/metrics",
        "/healthz",
        "/-/healthy",
        "/-/ready",
        "/readyz",
        "/-/reload",
        "/probe",
        "/runbooks/",
        "/runbooks/backup-stale",
        "/api/ops/context",
        "/api/ops/logs",
        "/api/ops/support-bundle",
        "/api/ops/frontend-log",
        "/api/ops/frontend-logs",
        "/api/ops/whoami",
        "/api/ops/beacon.js",
        "/api/ops/actions/restart/web",
        "/api/ops/jobs",
        "/api/ops/jobs/nightly-backup/run",
        "/no/such/route",
    ];
    let methods = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"];
    let header_names =
        ["authorization", "content-type", "origin", "x-prometheus-scrape-timeout-seconds", "accept", "x-requested-by"];
    let case = (
        0..routes.len(),
        0..methods.len(),
        "[ -~]{0,60}",
        0..header_names.len(),
        "[ -~]{0,80}",
        proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        0..3usize,
    );
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..400 {
        let (route, method, query, header, value, body, token) = case.new_tree(&mut runner).unwrap().current();
        let method = reqwest::Method::from_bytes(methods[method].as_bytes()).unwrap();
        let mut url = format!("{}?{}", exporter.url(routes[route]), query.replace(['#', ' '], "&"));
        if token == 2 {
            url.push_str("&token=");
            url.push_str(BEACON);
        }
        let mut request = exporter.http.request(method.clone(), &url).body(body);
        if let Ok(value) = reqwest::header::HeaderValue::from_str(&value) {
            request = request.header(header_names[header], value);
        }
        if token == 1 {
            request = request.bearer_auth(READER);
        }
        let status = tokio::time::timeout(Duration::from_secs(30), request.send())
            .await
            .unwrap_or_else(|_| panic!("{method} {url} hung"))
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
            .status()
            .as_u16();
        assert!(
            status < 500 || matches!(status, 502 | 503) && routes[route].starts_with("/api/ops/"),
            "{method} {url} ({}: {value:?}) answered {status}",
            header_names[header]
        );
    }
    assert_eq!(exporter.get("/healthz").await.0, 200);
}

/// A host without a CA bundle (a minimal image): `serve` starts, plain-http
/// checks, the S3 round trip and notifications work, and an HTTPS check
/// fails with a TLS reason where TLS is used, never a panic at start.
#[tokio::test]
async fn without_a_ca_bundle_serve_starts_and_only_https_fails() {
    let app = servers::http_app().await;
    let (endpoint, bucket, access, secret) = util::s3();
    let https = app.url("/ok").replacen("http://", "https://", 1);
    let dir = util::config_dir(&format!(
        "notify:\n  webhook: {}\nchecks:\n  web:\n    kind: http\n    url: {}\n  secure:\n    kind: http\n    url: {https}\ntargets:\n  store:\n    kind: s3\n    endpoint: {endpoint}\n    bucket: {bucket}\n    access_key: {access}\n    secret_key: {secret}\n",
        app.url("/hook"),
        app.url("/ok")
    ));
    let server = ServeProcess::start_with(
        dir,
        "127.0.0.1:0",
        &[("SSL_CERT_FILE", "/nonexistent/ca.pem"), ("SSL_CERT_DIR", "/nonexistent")],
    );
    let url = format!("http://{}/metrics", server.addr);
    util::eventually("the checks' first results", Duration::from_secs(10), async || {
        util::get_text(&url).await.contains(r#"opsgen_check_success{check="store",kind="s3"} 1"#)
    })
    .await;
    let body = util::get_text(&url).await;
    assert!(body.contains(r#"opsgen_check_success{check="web",kind="http"} 1"#), "{body}");
    assert!(body.contains(r#"opsgen_check_success{check="secure",kind="http"} 0"#), "{body}");
    assert!(
        body.contains(r#"opsgen_check_failures_total{check="secure",kind="http",reason="tls"} 1"#),
        "the HTTPS check fails as TLS: {body}"
    );
}
