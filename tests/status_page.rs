//! The status page and the browser beacon in a real headless Chromium:
//! the page turns red without a reload when a check fails (through the
//! events stream with a token, by polling without), admin buttons appear
//! for an admin token, it reads on a phone, and a page on another origin
//! reports its errors through `/api/ops/beacon.js`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::util::browser::Browser;
use crate::util::{self, TestExporter, servers};

const ADMIN: &str = "admin-token-status-0123456789";
const READER: &str = "read-token-status-0123456789";
const BEACON: &str = "beacon-token-status-0123456789";

fn auth(origin: &str) -> String {
    format!(
        "auth:\n  tokens:\n    - {{name: alice, token: {ADMIN}, role: admin}}\n    - {{name: bob, token: {READER}}}\n    - {{name: web, token: {BEACON}, role: beacon}}\n  beacon_origins: [\"{origin}\"]\n"
    )
}

/// Where screenshots go: kept after the run, for people to look at.
fn screenshot_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page").join(name)
}

fn assert_png(png: &[u8], what: &str) {
    assert!(
        png.len() > 2000 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{what}: not a PNG of a page ({} bytes)",
        png.len()
    );
}

const STATE: &str = "document.querySelector('[data-check=shop]').dataset.state";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_a_failing_check_live_in_chromium() {
    let (app, healthy) = servers::switchable().await;
    let dumps = tempfile::tempdir().unwrap();
    std::fs::write(dumps.path().join("db.dump"), "dump").unwrap();
    let exporter = TestExporter::start(&format!(
        "{auth}checks:\n  shop:\n    kind: http\n    url: {url}\n    timeout: 1s\n    interval: 1s\n  dumps:\n    kind: file_freshness\n    path: {dumps}/*.dump\n    max_age: 1h\n",
        auth = auth("http://127.0.0.1:1"),
        url = app.url("/health"),
        dumps = dumps.path().display(),
    ))
    .await;
    util::eventually("first results", Duration::from_secs(10), async || exporter.get("/-/ready").await.0 == 200).await;
    let (status, json) = exporter.get("/status.json").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["checks"][0]["state"], "green", "{json}");
    assert_eq!(json["backups"][0]["target"], "dumps", "{json}");

    let browser = Browser::start();
    // One tab signs in with an admin token and listens to the events stream.
    let live = browser.open(&exporter.url("/")).await;
    assert_eq!(live.eval(STATE).await, "green");
    assert_eq!(live.eval("document.querySelector('[data-backup=dumps]').dataset.state").await, "green");
    assert_eq!(live.eval("document.querySelector('#smoke').innerText.includes('No smoke run yet')").await, true);
    assert_eq!(live.eval("!!document.querySelector('a[href=\"/metrics\"]') && !!document.querySelector('a[href=\"/runbooks/check-failing\"]')").await, true);
    assert_eq!(
        live.eval("getComputedStyle(document.querySelector('[data-action=bundle]')).display").await,
        "none",
        "admin buttons hide without a token"
    );
    live.eval(&format!(
        "document.getElementById('token').value = '{ADMIN}'; document.getElementById('login').requestSubmit(); true"
    ))
    .await;
    live.wait_for(
        "live updates",
        "document.getElementById('mode').textContent === 'live updates'",
        Duration::from_secs(10),
    )
    .await;
    live.wait_for(
        "the admin buttons",
        "getComputedStyle(document.querySelector('[data-action=bundle]')).display !== 'none'",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        live.eval(&format!(
            "document.documentElement.outerHTML.includes('{ADMIN}') || location.href.includes('{ADMIN}')"
        ))
        .await,
        false,
        "the token shows in the page or its URL"
    );
    assert_eq!(live.eval(&format!("sessionStorage.getItem('ops-gen-token') === '{ADMIN}'")).await, true);
    // A second tab has no token (sessionStorage is per tab): it polls.
    let polling = browser.open(&exporter.url("/")).await;
    assert_eq!(polling.eval("document.getElementById('mode').textContent").await, "updates every 10 s");
    for tab in [&live, &polling] {
        tab.eval("window.notReloaded = true").await;
    }

    healthy.store(false, Ordering::SeqCst);
    live.wait_for("the check to turn red through events", &format!("{STATE} === 'red'"), Duration::from_secs(8)).await;
    let detail = live.eval("document.querySelector('[data-check=shop]').innerText").await;
    assert!(detail.as_str().unwrap().contains("status: answered 503"), "{detail}");
    assert_eq!(live.eval("document.getElementById('live').dataset.overall").await, "red");
    polling.wait_for("the check to turn red by polling", &format!("{STATE} === 'red'"), Duration::from_secs(15)).await;
    for tab in [&live, &polling] {
        assert_eq!(tab.eval("window.notReloaded === true").await, true, "the page updates without a reload");
    }

    // An admin action says what happened (the bundle route may not exist).
    live.eval("document.querySelector('[data-action=bundle]').click(); true").await;
    live.wait_for(
        "the bundle's outcome",
        "!/working|^$/.test(document.getElementById('outcome').textContent)",
        Duration::from_secs(20),
    )
    .await;
    let outcome = live.eval("document.getElementById('outcome').textContent").await;
    let outcome = outcome.as_str().unwrap();
    assert!(outcome.contains("not available on this server") || outcome.starts_with("Bundle captured"), "{outcome}");

    let desktop = live.screenshot(&screenshot_path("desktop.png")).await;
    assert_png(&desktop, "desktop screenshot");
    // On a phone: one column.
    live.viewport(390, 844, true).await;
    live.wait_for(
        "one column",
        "getComputedStyle(document.querySelector('.grid')).gridTemplateColumns.split(' ').length === 1",
        Duration::from_secs(5),
    )
    .await;
    let phone = live.screenshot(&screenshot_path("phone.png")).await;
    assert_png(&phone, "phone screenshot");

    healthy.store(true, Ordering::SeqCst);
    live.wait_for("the check to turn green again", &format!("{STATE} === 'green'"), Duration::from_secs(8)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_beacon_reports_errors_of_a_page_on_another_origin() {
    // The app's page, on its own origin; it learns the exporter's address
    // once that one runs.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let exporter = TestExporter::start(&auth(&origin)).await;
    let page = format!(
        r#"<!doctype html><html><head><title>app</title>
<script src="{exporter}/api/ops/beacon.js" data-token="{BEACON}" data-build="build-7f3a"></script></head>
<body><p>app</p><script>
console.error("checkout failed:", 402);
setTimeout(function () {{ window.notAFunction(); }}, 0);
</script></body></html>"#,
        exporter = exporter.url(""),
    );
    let app = axum::Router::new().route("/shop", axum::routing::get(move || async move { axum::response::Html(page) }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let browser = Browser::start();
    browser.open(&format!("{origin}/shop")).await;
    let mut events = serde_json::Value::Null;
    util::eventually("both errors in frontend-logs", Duration::from_secs(15), async || {
        let response = exporter
            .http
            .get(exporter.url("/api/ops/frontend-logs?since=5m"))
            .bearer_auth(READER)
            .send()
            .await
            .unwrap();
        events = response.json().await.unwrap();
        events["events"].as_array().is_some_and(|e| e.len() >= 2)
    })
    .await;
    let events = events["events"].as_array().unwrap();
    let message = |needle: &str| events.iter().find(|e| e["message"].as_str().unwrap_or_default().contains(needle));
    let console = message("checkout failed: 402").unwrap_or_else(|| panic!("no console.error in {events:?}"));
    let thrown = message("notAFunction").unwrap_or_else(|| panic!("no uncaught error in {events:?}"));
    for event in [console, thrown] {
        assert_eq!(
            (event["route"].as_str(), event["build_hash"].as_str()),
            (Some("/shop"), Some("build-7f3a")),
            "{event}"
        );
        assert!(event["browser"].as_str().unwrap().contains("Chrome"), "{event}");
    }
    assert!(thrown["stack"].as_str().unwrap().contains("/shop"), "{thrown}");
    // A read token is needed to read them, a beacon token cannot.
    let beacon = exporter.http.get(exporter.url("/api/ops/frontend-logs")).bearer_auth(BEACON).send().await.unwrap();
    assert_eq!(beacon.status(), 403);
}
