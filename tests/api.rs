//! The ops API of `ops-gen serve` over real HTTP: tokens and roles, the
//! browser beacon and its ring, the events stream, restarting a service of
//! a real Docker engine, and the audit log.

use std::time::Duration;

use futures::StreamExt as _;

use crate::util::{self, PLANTED, TestExporter};

const ADMIN: &str = "admin-token-0123456789abcdef";
const READER: &str = "read-token-0123456789abcdef";
const BEACON: &str = "beacon-token-0123456789abcdef";
const ORIGIN: &str = "https://app.example.com";

/// A config with three tokens (one per role) and the API's files in `dir`.
fn config(dir: &std::path::Path, extra: &str) -> String {
    format!(
        "auth:\n  tokens:\n    - {{name: alice, token: {ADMIN}, role: admin}}\n    - {{name: bob, token: {READER}}}\n    - {{name: web, token: {BEACON}, role: beacon}}\n  beacon_origins: [\"https://app.example.com\"]\n  audit_log: {audit}\n  frontend_log: {front}\n{extra}",
        audit = dir.join("audit.log").display(),
        front = dir.join("frontend.jsonl").display(),
    )
}

struct Api {
    exporter: TestExporter,
    files: tempfile::TempDir,
}

impl Api {
    async fn start(extra: &str) -> Self {
        let files = tempfile::tempdir().unwrap();
        let exporter = TestExporter::start(&config(files.path(), extra)).await;
        Self { exporter, files }
    }

    fn request(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let request = self.exporter.http.request(method, self.exporter.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn status(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> u16 {
        self.request(method, path, token).send().await.unwrap().status().as_u16()
    }

    async fn beacon(&self, body: impl Into<reqwest::Body>, origin: Option<&str>) -> reqwest::Response {
        let mut request = self
            .exporter
            .http
            .post(self.exporter.url(&format!("/api/ops/frontend-log?token={BEACON}")))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send().await.unwrap()
    }

    async fn frontend_logs(&self, query: &str) -> serde_json::Value {
        let response = self.request(reqwest::Method::GET, &format!("/api/ops/frontend-logs{query}"), Some(READER));
        response.send().await.unwrap().json().await.unwrap()
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(self.files.path().join("audit.log")).unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_roles_guard_every_route() {
    use reqwest::Method;
    let api = Api::start("").await;
    let restart = "/api/ops/actions/restart/web";
    assert_eq!(api.status(Method::GET, "/api/ops/frontend-logs", None).await, 401);
    assert_eq!(api.status(Method::GET, "/api/ops/frontend-logs", Some("wrong-token-0123456789abcdef")).await, 401);
    assert_eq!(api.status(Method::GET, "/api/ops/frontend-logs", Some(BEACON)).await, 403, "beacon tokens only post");
    assert_eq!(api.status(Method::GET, "/api/ops/frontend-logs", Some(READER)).await, 200);
    assert_eq!(api.status(Method::POST, restart, None).await, 401);
    assert_eq!(api.status(Method::POST, restart, Some(READER)).await, 403, "a read token cannot act");
    // No stack is configured: nothing to restart.
    assert_eq!(api.status(Method::POST, restart, Some(ADMIN)).await, 404);
    // (Clients fold `..` and `%2E%2E` themselves; an encoded slash gets through.)
    for traversal in ["..%2F..%2Fetc", "a%20b", "-rf", "x%00"] {
        let path = format!("/api/ops/actions/restart/{traversal}");
        assert_eq!(api.status(Method::POST, &path, Some(ADMIN)).await, 400, "{traversal}");
    }
    let unauthorized = api.request(Method::GET, "/api/ops/events", None).send().await.unwrap();
    assert_eq!(unauthorized.headers()["www-authenticate"], "Bearer");

    // One audit line per call, naming the caller and never a token.
    let audit = api.audit();
    assert!(audit.lines().count() >= 12, "{audit}");
    assert!(audit.contains(r#""caller":"alice""#) && audit.contains(r#""caller":"-""#), "{audit}");
    assert!(audit.contains(r#""route":"/api/ops/actions/restart/{service}","status":403"#), "{audit}");
    for token in [ADMIN, READER, BEACON, "wrong-token"] {
        assert!(!audit.contains(token), "the audit log holds a token");
    }

    // Without tokens the API is off, and says how to turn it on.
    let off = TestExporter::start("{}").await;
    let response = off.http.get(off.url("/api/ops/frontend-logs")).bearer_auth(READER).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("auth.tokens"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_beacon_stores_bounded_validated_events_that_survive_a_restart() {
    let api = Api::start("").await;
    let body = serde_json::json!({
        "build_hash": "abc123", "route": "/checkout", "message": "TypeError: x is undefined",
        "stack": "at pay (app.js:1:2)", "browser": "Chromium", "ws_state": "open"
    });
    let accepted = api.beacon(body.to_string(), Some("https://app.example.com")).await;
    assert_eq!(accepted.status(), 204);
    assert_eq!(accepted.headers()["access-control-allow-origin"], "https://app.example.com");
    let logs = api.frontend_logs("?since=5m").await;
    let event = &logs["events"][0];
    assert_eq!((event["route"].as_str(), event["ws_state"].as_str()), (Some("/checkout"), Some("open")), "{logs}");

    // Refused, and nothing stored: a foreign origin, too large, not JSON,
    // unknown fields, no token.
    assert_eq!(api.beacon(body.to_string(), Some("https://evil.example")).await.status(), 403);
    // Too large: refused from its Content-Length, before any of it is read
    // (a client still sending may see the connection close instead, so ask
    // with the headers alone).
    assert_eq!(oversized_beacon_status(api.exporter.addr).await, 413);
    assert_eq!(api.beacon(body.to_string(), None).await.status(), 403, "origins are configured: none is refused");
    assert_eq!(api.beacon("{not json", Some(ORIGIN)).await.status(), 400);
    assert_eq!(api.beacon(r#"{"message": "m", "extra": 1}"#, Some(ORIGIN)).await.status(), 400);
    let anonymous = api.exporter.http.post(api.exporter.url("/api/ops/frontend-log")).body(body.to_string());
    assert_eq!(anonymous.send().await.unwrap().status(), 401);
    assert_eq!(api.frontend_logs("").await["events"].as_array().unwrap().len(), 1);

    // Out-of-range reads are refused.
    for query in ["?since=400d", "?since=yesterday", "?until=5m"] {
        let response = api.request(reqwest::Method::GET, &format!("/api/ops/frontend-logs{query}"), Some(READER));
        assert_eq!(response.send().await.unwrap().status(), 400, "{query}");
    }

    // A flood: 429 once the burst is spent, and memory stays bounded.
    let mut limited = 0;
    for n in 0..600 {
        let body = serde_json::json!({"route": format!("/p{}", n % 7), "message": format!("flood {n}")});
        if api.beacon(body.to_string(), Some(ORIGIN)).await.status() == 429 {
            limited += 1;
        }
    }
    assert!(limited > 0, "a flood meets 429");
    let kept = api.exporter.exporter.ops().frontend.len();
    assert!(kept <= ops_gen::exporter::api::frontend::CAPACITY, "{kept}");

    // A new server on the same file has the recent events.
    let again = TestExporter::start(&config(api.files.path(), "")).await;
    assert_eq!(again.exporter.ops().frontend.len(), kept);
    let message = |e: Option<std::sync::Arc<ops_gen::exporter::api::frontend::Event>>| {
        e.map(|e| (e.at.clone(), e.message.clone()))
    };
    assert_eq!(message(again.exporter.ops().frontend.latest()), message(api.exporter.exporter.ops().frontend.latest()));
}

/// The status of a beacon post announcing 70 KiB, sent as headers only.
async fn oversized_beacon_status(addr: std::net::SocketAddr) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/ops/frontend-log?token={BEACON} HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
        70 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not HTTP: {text}"))
}

/// The next event of an SSE stream named `name`, as JSON.
async fn next_event(lines: &mut (impl futures::Stream<Item = String> + Unpin), name: &str) -> serde_json::Value {
    let wait = async {
        let mut current = String::new();
        while let Some(line) = lines.next().await {
            if let Some(event) = line.strip_prefix("event: ") {
                event.clone_into(&mut current);
            } else if let Some(data) = line.strip_prefix("data: ")
                && current == name
            {
                return serde_json::from_str(data).unwrap();
            }
        }
        panic!("the stream ended before a `{name}` event");
    };
    tokio::time::timeout(Duration::from_secs(20), wait).await.unwrap_or_else(|_| panic!("no `{name}` event"))
}

/// The lines of a streaming response.
fn lines(response: reqwest::Response) -> impl futures::Stream<Item = String> + Unpin {
    let mut buffer = String::new();
    Box::pin(
        response
            .bytes_stream()
            .map(move |chunk| {
                buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                let mut out = Vec::new();
                while let Some(i) = buffer.find('\n') {
                    out.push(buffer[..i].trim_end_matches('\r').to_owned());
                    buffer.drain(..=i);
                }
                futures::stream::iter(out)
            })
            .flatten(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_check_changes_frontend_errors_and_container_restarts() {
    let host = util::docker_host();
    let project = util::unique("apitest").to_lowercase().replace('_', "");
    let _web = crate::smoke::Containers::start(&host, &project, &["web"]);
    // An app whose health we switch.
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let switch = healthy.clone();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let up = switch.load(std::sync::atomic::Ordering::SeqCst);
            async move { if up { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE } }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shop = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let api = Api::start(&format!(
        "scrape:\n  min_interval: 10ms\nstack:\n  project: {project}\nchecks:\n  shop:\n    kind: http\n    url: http://{shop}/health\n    timeout: 1s\n"
    ))
    .await;
    let response = api.request(reqwest::Method::GET, "/api/ops/events", Some(READER)).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = lines(response);
    next_event(&mut stream, "hello").await;

    // A check going red: green since the server started, now its app fails.
    api.exporter.scrape().await;
    healthy.store(false, std::sync::atomic::Ordering::SeqCst);
    // Past `min_interval`, so the scrape runs the check again.
    tokio::time::sleep(Duration::from_millis(50)).await;
    api.exporter.scrape().await;
    let red = next_event(&mut stream, "check").await;
    assert_eq!((red["check"].as_str(), red["state"].as_str()), (Some("shop"), Some("red")), "{red}");

    // A browser error.
    api.beacon(r#"{"route": "/cart", "message": "boom"}"#, Some(ORIGIN)).await;
    let front = next_event(&mut stream, "frontend").await;
    assert_eq!(front["message"], "boom");

    // An exec in the container (what every healthcheck run makes): only a
    // stream that asks with ?exec=true sees it.
    let with_exec = api.request(reqwest::Method::GET, "/api/ops/events?exec=true", Some(READER)).send().await.unwrap();
    let mut with_exec = lines(with_exec);
    next_event(&mut with_exec, "hello").await;
    let filter = format!("label=com.docker.compose.project={project}");
    let id = util::docker(&host, &["ps", "-q", "--filter", &filter]).trim().to_owned();
    util::docker(&host, &["exec", &id, "true"]);
    let exec = next_event(&mut with_exec, "container").await;
    assert!(exec["action"].as_str().unwrap().starts_with("exec_"), "{exec}");

    // A real restart through the API, seen as container events (and the
    // exec before it left out of the default stream).
    let restart = api.request(reqwest::Method::POST, "/api/ops/actions/restart/web", Some(ADMIN));
    let answer: serde_json::Value = restart.send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["restarted"], 1, "{answer}");
    let event = next_event(&mut stream, "container").await;
    assert_eq!(event["service"], "web", "{event}");
    assert!(
        !event["action"].as_str().unwrap().starts_with("exec_"),
        "healthcheck noise in the default stream: {event}"
    );
    let missing = api.request(reqwest::Method::POST, "/api/ops/actions/restart/db", Some(ADMIN));
    assert_eq!(missing.send().await.unwrap().status(), 404);
}

#[test]
fn tokens_are_checked_and_never_shown() {
    let short = util::config_dir("auth:\n  tokens:\n    - {name: a, token: short}\n");
    let out = util::run(util::ops_gen(short.path()).args(["config", "check"]));
    out.expect_code(2);
    assert!(out.stderr.contains("auth.tokens[0].token") && out.stderr.contains("openssl rand"), "{}", out.stderr);

    let dir = util::config_dir("auth:\n  tokens:\n    - {name: ops, token: \"${API_TOKEN}\", role: admin}\n");
    let out = util::run(util::ops_gen(dir.path()).env("API_TOKEN", PLANTED).args(["config", "check"]));
    out.expect_code(0);
    assert!(!out.all().contains(PLANTED), "config check shows the token:\n{}", out.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_logs_and_bundles_leak_no_planted_secret() {
    use crate::bundle::{ENV_PASSWORD, TOKEN, URL_PASSWORD};
    use reqwest::Method;
    let host = util::docker_host();
    let stack = util::ComposeProject::up(&host, &crate::bundle::stack_file(50));
    crate::bundle::wait_for_logs(&stack);
    let api = Api::start(&format!("stack:\n  project: {}\n", stack.name)).await;
    let secrets = [ENV_PASSWORD, URL_PASSWORD, TOKEN, ADMIN, READER, BEACON];
    let clean = |what: &str, text: &str| {
        for secret in secrets {
            assert!(!text.contains(secret), "{what} holds `{secret}`:\n{text}");
        }
    };

    let context = api.request(Method::GET, "/api/ops/context", Some(READER)).send().await.unwrap();
    assert_eq!(context.status(), 200);
    let text = context.text().await.unwrap();
    clean("context", &text);
    let context: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(context["project"], stack.name.as_str());
    let db = context["containers"].as_array().unwrap().iter().find(|c| c["service"] == "db").unwrap();
    assert!(db["env"].as_array().unwrap().iter().any(|e| e == "DB_PASSWORD=***"), "{db}");
    assert!(context["frontend"].is_object(), "{context}");

    let logs = api.request(Method::GET, "/api/ops/logs?service=web&tail=100", Some(READER)).send().await.unwrap();
    assert_eq!(logs.status(), 200);
    let text = logs.text().await.unwrap();
    clean("logs", &text);
    let logs: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entries = logs["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 53, "every line of web: {logs}");
    assert_eq!(entries.last().unwrap()["message"], "done");
    assert!(entries.iter().all(|e| humantime::parse_rfc3339(e["ts"].as_str().unwrap()).is_ok()), "{logs}");
    let plain = api.request(Method::GET, "/api/ops/logs?service=db&format=plain", Some(READER)).send().await.unwrap();
    let plain = plain.text().await.unwrap();
    assert!(plain.contains("db | db up, pw ***"), "{plain}");
    for (query, status) in [
        ("", 400),
        ("?service=web&tail=0", 400),
        ("?service=web&tail=lots", 400),
        ("?service=web&tail=1000000", 400),
        ("?service=web&since=400d", 400),
        ("?service=..%2Fetc", 400),
        ("?service=web&format=xml", 400),
        ("?service=nope", 404),
    ] {
        let response = api.request(Method::GET, &format!("/api/ops/logs{query}"), Some(READER)).send().await.unwrap();
        assert_eq!(response.status(), status, "{query}");
    }

    let download = api.request(Method::GET, "/api/ops/support-bundle", Some(READER)).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/gzip");
    assert!(download.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"ops-gen-"));
    let archive = tempfile::tempdir().unwrap();
    std::fs::write(archive.path().join("b.tar.gz"), download.bytes().await.unwrap()).unwrap();
    let ok = std::process::Command::new("tar")
        .args(["-xzf", "b.tar.gz"])
        .current_dir(archive.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "the download is a .tar.gz");
    let inside = crate::bundle::files(archive.path());
    assert!(inside.iter().any(|(p, _)| p.ends_with("log-tail.txt")), "{inside:?}");
    for (path, bytes) in &inside {
        clean(&path.display().to_string(), &String::from_utf8_lossy(bytes));
    }
    assert_eq!(api.status(Method::POST, "/api/ops/actions/bundle", Some(READER)).await, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundle_action_writes_into_the_servers_output_folder() {
    let files = tempfile::tempdir().unwrap();
    let server = util::ServeProcess::start(&config(files.path(), ""));
    let http = util::http_client();
    let url = format!("http://{}/api/ops/actions/bundle", server.addr);
    let report: serde_json::Value = http.post(&url).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    let archive = server.dir.path().join(report["archive"].as_str().unwrap());
    assert!(archive.is_file(), "{report}");
    assert!(report["parts"].as_array().unwrap().iter().any(|p| p["file"] == "context.json"), "{report}");
}

/// `ops-gen ctl` against `api`'s server with `token`.
fn ctl(api: &Api, token: &str, args: &[&str]) -> util::Run {
    let dir = tempfile::tempdir().unwrap();
    util::run(
        util::ops_gen(dir.path())
            .env("OPS_GEN_URL", api.exporter.url("/"))
            .env("OPS_GEN_TOKEN", token)
            .arg("ctl")
            .args(args),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_pipes_json_and_exits_on_http_errors() {
    let host = util::docker_host();
    let stack = util::ComposeProject::up(&host, &crate::bundle::stack_file(20));
    crate::bundle::wait_for_logs(&stack);
    let api = Api::start(&format!("stack:\n  project: {}\n", stack.name)).await;
    api.beacon(r#"{"route": "/cart", "message": "boom"}"#, Some(ORIGIN)).await;

    let summary = ctl(&api, READER, &["summary"]);
    summary.expect_code(0);
    let context: serde_json::Value = serde_json::from_str(&summary.stdout).unwrap();
    assert_eq!(context["project"], stack.name.as_str());
    assert_eq!(summary.stdout.lines().count(), 1, "one JSON line in a pipe, for jq");

    let front = ctl(&api, READER, &["frontend-logs", "--since", "5m"]);
    front.expect_code(0);
    let front: serde_json::Value = serde_json::from_str(&front.stdout).unwrap();
    assert_eq!(front["events"][0]["message"], "boom");

    let plain = ctl(&api, READER, &["logs", "web", "--tail", "3", "--plain"]);
    plain.expect_code(0);
    assert!(plain.stdout.lines().last().unwrap().ends_with("web | done"), "{}", plain.stdout);
    let json = ctl(&api, READER, &["logs", "web", "--tail", "3"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json.stdout).unwrap()["entries"].as_array().unwrap().len(),
        3
    );

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("b.tar.gz");
    let bundle = ctl(&api, READER, &["bundle", "--out", file.to_str().unwrap()]);
    bundle.expect_code(0);
    assert!(std::fs::metadata(&file).unwrap().len() > 100, "{}", bundle.stdout);

    // HTTP errors: exit 1 with the server's message; never the token.
    let denied = ctl(&api, "wrong-token-0123456789abcdef", &["summary"]);
    denied.expect_code(1);
    assert!(denied.stderr.contains("401 from /api/ops/context"), "{}", denied.stderr);
    assert!(!denied.all().contains("wrong-token"), "{}", denied.all());
    let missing = ctl(&api, READER, &["logs", "nope"]);
    missing.expect_code(1);
    assert!(missing.stderr.contains("404") && missing.stderr.contains("no service `nope`"), "{}", missing.stderr);
    let beacon = ctl(&api, BEACON, &["frontend-logs"]);
    beacon.expect_code(1);
    assert!(beacon.stderr.contains("403"), "{}", beacon.stderr);

    // No server, or nothing listening.
    let dir = tempfile::tempdir().unwrap();
    let none = util::run(util::ops_gen(dir.path()).env("OPS_GEN_TOKEN", READER).args(["ctl", "summary"]));
    none.expect_code(2);
    assert!(none.stderr.contains("OPS_GEN_URL"), "{}", none.stderr);
    let refused = util::servers::refused().await;
    let down = util::run(util::ops_gen(dir.path()).env("OPS_GEN_TOKEN", READER).args([
        "ctl",
        "--url",
        &format!("http://{refused}"),
        "summary",
    ]));
    down.expect_code(1);
    assert!(down.stderr.contains("cannot reach"), "{}", down.stderr);
}

/// A client without a token cannot grow the audit log: beyond a few calls a
/// second per address it gets 429, counted into one summary line a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenless_floods_leave_the_audit_log_small() {
    let api = Api::start("").await;
    let url = api.exporter.url("/api/ops/whoami");
    let http = api.exporter.http.clone();
    let statuses: Vec<u16> = futures::stream::iter(0..20_000)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            async move { http.get(&url).send().await.map_or(0, |r| r.status().as_u16()) }
        })
        .buffer_unordered(50)
        .collect()
        .await;
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited > 19_000, "only {limited} of 20,000 tokenless calls were limited");
    assert!(statuses.iter().all(|s| matches!(s, 401 | 429)), "every call is refused");
    let size = std::fs::metadata(api.files.path().join("audit.log")).map_or(0, |m| m.len());
    assert!(size < 64 * 1024, "20,000 tokenless calls wrote {size} bytes of audit log");
    // A caller with a token is not slowed by someone else's flood.
    assert_eq!(api.status(reqwest::Method::GET, "/api/ops/whoami", Some(READER)).await, 200);
}

/// The context API shows the server's latest results: a call runs no check
/// (so never writes to S3 or a canary), however often it is made. Counted
/// on the real S3 server (the canary object) and on an HTTP target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_calls_run_no_check() {
    let app = util::servers::http_app().await;
    let (_, _, access, secret) = util::s3();
    let data = util::s3_data("media");
    let s3 = util::OwnS3::start(data.path()).await;
    let api = Api::start(&format!(
        "targets:\n  store:\n    kind: s3\n    endpoint: {}\n    bucket: media\n    access_key: {access}\n    secret_key: {secret}\ncanary:\n  enabled: true\n  interval: 1h\nchecks:\n  web:\n    kind: http\n    url: {}\n",
        s3.endpoint(),
        app.url("/count")
    ))
    .await;
    util::eventually("the warm-up run", Duration::from_secs(10), async || api.exporter.get("/-/ready").await.0 == 200)
        .await;
    let canary = data.path().join("media/ops-gen/canary.json");
    let written = std::fs::read(&canary).expect("the canary's first write");
    let before = app.accepted.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..20 {
        let response = api.request(reqwest::Method::GET, "/api/ops/context", Some(READER)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let context: serde_json::Value = response.json().await.unwrap();
        let names: Vec<&str> =
            context["checks"]["checks"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
        assert!(names.contains(&"web") && names.contains(&"canary-store"), "{context}");
    }
    assert_eq!(app.accepted.load(std::sync::atomic::Ordering::SeqCst), before, "context calls ran the check");
    assert_eq!(std::fs::read(&canary).unwrap(), written, "context calls wrote the canary again");
}

/// A browser error is redacted before it is kept (memory and file) and when
/// it is read back: a connection URL's password and a password the config
/// holds never come back. One client cannot use up the beacon budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beacons_are_redacted_and_limited_per_client() {
    let api =
        Api::start("targets:\n  cache:\n    kind: redis\n    url: redis://:bare-redis-pw-0123@127.0.0.1:1\n").await;
    let message = "login failed: bare-redis-pw-0123 via postgres://studio:pg-pw-4567@db/app";
    let body =
        serde_json::json!({"route": "/login", "message": message, "stack": "at x (postgres://studio:pg-pw-4567@db)"});
    assert_eq!(api.beacon(body.to_string(), Some(ORIGIN)).await.status(), 204);
    let served = api.frontend_logs("?since=5m").await.to_string();
    let kept = std::fs::read_to_string(api.files.path().join("frontend.jsonl")).unwrap();
    let ctl = ctl(&api, READER, &["frontend-logs", "--since", "5m"]);
    for (what, text) in [("served", served.as_str()), ("file", kept.as_str()), ("ctl", ctl.stdout.as_str())] {
        assert!(!text.contains("bare-redis-pw-0123") && !text.contains("pg-pw-4567"), "{what}: {text}");
    }
    assert!(served.contains("postgres://studio:***@db/app"), "{served}");

    let mut accepted = 0;
    for n in 0..50 {
        let body = serde_json::json!({"route": format!("/r{n}"), "message": "m"});
        if api.beacon(body.to_string(), Some(ORIGIN)).await.status() == 204 {
            accepted += 1;
        }
    }
    assert!(accepted <= 15, "one client got {accepted} of 50 beacons in at once");
}

/// The jobs routes: anyone with a token reads them (also in the context),
/// only an admin runs one, a name that is no job is 404; a job run through
/// the API ends with its result recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_listed_to_readers_and_run_by_admins() {
    use reqwest::Method;
    let files = tempfile::tempdir().unwrap();
    let api = Api::start(&format!(
        "backup:\n  dir: {backups}\nschedule:\n  state: {state}\n  jobs:\n    verify: {{cron: \"@yearly\", run: verify}}\n",
        backups = files.path().join("backups").display(),
        state = files.path().join("state.json").display(),
    ))
    .await;
    let listed = || async {
        let response = api.request(Method::GET, "/api/ops/jobs", Some(READER)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json::<serde_json::Value>().await.unwrap()["jobs"][0].clone()
    };
    let job = listed().await;
    assert_eq!((job["name"].as_str(), job["run"].as_str()), (Some("verify"), Some("verify")), "{job}");
    assert!(job["last_result"].is_null() && job["next_run_at"].as_str().is_some_and(|t| t.contains("-01-01T00:00:00")));
    assert_eq!(job["live"]["runs"]["missed"], 0, "{job}");

    assert_eq!(api.status(Method::POST, "/api/ops/jobs/verify/run", None).await, 401);
    assert_eq!(api.status(Method::POST, "/api/ops/jobs/verify/run", Some(READER)).await, 403);
    assert_eq!(api.status(Method::POST, "/api/ops/jobs/no-such-job/run", Some(ADMIN)).await, 404);
    assert_eq!(api.status(Method::POST, "/api/ops/jobs/verify/run", Some(ADMIN)).await, 202);
    util::eventually("the run asked for", Duration::from_secs(10), async || listed().await["last_result"] == "failed")
        .await;
    let job = listed().await;
    assert!(job["last_detail"].as_str().unwrap().contains("no backup set"), "{job}");
    assert_eq!(job["live"]["runs"]["failed"], 1, "{job}");

    let context: serde_json::Value =
        api.request(Method::GET, "/api/ops/context", Some(READER)).send().await.unwrap().json().await.unwrap();
    assert_eq!(context["jobs"][0]["last_result"], "failed", "{context}");
}
