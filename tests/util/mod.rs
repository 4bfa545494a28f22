//! Test helpers: the real binary as a user runs it, the real services, and
//! small misbehaving servers (refusing, resetting, hanging, talking garbage).

#![allow(dead_code)] // each topic file uses its own subset

pub mod browser;
pub mod servers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The password planted in tests that prove secrets never leak.
pub const PLANTED: &str = "pl4nted-S3cret-7f3a";

/// A name no other test (or earlier run) uses: `prefix_<pid>_<n>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}_{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `ops-gen` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ops-gen"))
}

/// `ops-gen` with a clean environment: no inherited `OPS_GEN_*`, no colour.
pub fn ops_gen(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir).env("NO_COLOR", "1").env_remove("OPS_GEN_LOG").stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("OPS_GEN_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// The result of a finished command, with helpers for assertions.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(output: &Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }
}

pub fn run(cmd: &mut Command) -> Run {
    Run::of(&cmd.output().expect("cannot run ops-gen"))
}

/// A temporary folder holding `ops-gen.yml` with `text`.
pub fn config_dir(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ops-gen.yml"), text).unwrap();
    dir
}

/// Waits until `f` holds, or panics with `what` after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// Where the real services are: env first, then what `scripts/services.sh` starts.
pub fn postgres_url() -> String {
    std::env::var("OPS_GEN_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres:opsgen-test@127.0.0.1:55432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("OPS_GEN_REDIS_URL").unwrap_or_else(|_| "redis://default:opsgen-test@127.0.0.1:56379/0".into())
}

/// `url` with its database replaced.
pub fn postgres_url_for(db: &str) -> String {
    let mut url = url::Url::parse(&postgres_url()).unwrap();
    url.set_path(&format!("/{db}"));
    url.to_string()
}

fn without_password(raw: &str) -> String {
    let mut url = url::Url::parse(raw).unwrap();
    let _ = url.set_password(Some("***"));
    url.to_string()
}

fn service_missing(what: &str, url: &str, error: &dyn std::fmt::Display) -> ! {
    panic!(
        "{what} is not reachable at {} ({error}).\nStart the test services with `scripts/services.sh up` \
         (or set {} to a running one). These tests never skip.",
        without_password(url),
        if what == "PostgreSQL" { "OPS_GEN_POSTGRES_URL" } else { "OPS_GEN_REDIS_URL" },
    )
}

/// A client to the real PostgreSQL, or a panic that says how to start it.
pub async fn postgres_admin() -> tokio_postgres::Client {
    let url = postgres_url();
    match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok((client, conn)) => {
            tokio::spawn(conn);
            client
        }
        Err(e) => service_missing("PostgreSQL", &url, &e),
    }
}

/// A fresh database for one test; its URL.
pub async fn postgres_database() -> (String, tokio_postgres::Client) {
    let admin = postgres_admin().await;
    let db = unique("t");
    admin.batch_execute(&format!("CREATE DATABASE {db}")).await.unwrap();
    (postgres_url_for(&db), admin)
}

/// A connection to the real Redis, or a panic that says how to start it.
pub async fn redis_conn() -> redis::aio::MultiplexedConnection {
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).unwrap();
    match client.get_multiplexed_async_connection().await {
        Ok(c) => c,
        Err(e) => service_missing("Redis", &url, &e),
    }
}

/// The test Docker engine's socket (`scripts/services.sh up` starts it), or
/// a panic that says how to start it.
pub fn docker_host() -> String {
    let host = std::env::var("OPS_GEN_DOCKER_HOST").unwrap_or_else(|_| "unix:///tmp/ops-gen-docker/docker.sock".into());
    let ok = Command::new("docker").env("DOCKER_HOST", &host).arg("version").output().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "no Docker engine at {host}: start it with `scripts/services.sh up` (as root). These tests never skip."
    );
    host
}

/// A loopback port free now (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A tmpfs mounted with `options` (`size=2m`, `ro,size=1m`), unmounted when
/// dropped. Needs root, as CI runs.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, options: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mounting a tmpfs needs root (CI runs as root); run this test as root");
        Self(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A tool from the machine, or a panic that says how to install it.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()));
    found.unwrap_or_else(|| {
        panic!("`{name}` is not installed: run `scripts/services.sh up` or `apt-get install {package}`. These tests never skip.")
    })
}

/// An HTTP client for tests (after installing the TLS provider ops-gen uses).
pub fn http_client() -> reqwest::Client {
    ops_gen::tls::init();
    reqwest::Client::new()
}

/// `GET url`, body as text.
pub async fn get_text(url: &str) -> String {
    http_client().get(url).send().await.unwrap().text().await.unwrap()
}

/// An in-process `ops-gen serve` on 127.0.0.1:0, stopped when dropped.
pub struct TestExporter {
    pub addr: std::net::SocketAddr,
    pub exporter: std::sync::Arc<ops_gen::exporter::Exporter>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A scrape's answer.
pub struct Scrape {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    pub took: Duration,
}

impl Scrape {
    /// The value of the first sample whose line starts with `series`.
    pub fn value(&self, series: &str) -> Option<f64> {
        self.body
            .lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }
}

impl TestExporter {
    pub async fn start(config: &str) -> Self {
        let dir = config_dir(config);
        let loaded =
            ops_gen::config::Loaded::load(Some(&dir.path().join("ops-gen.yml"))).expect("test config is valid");
        let exporter = ops_gen::exporter::Exporter::start(loaded).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(ops_gen::exporter::serve(listener, exporter.clone(), async {
            let _ = stopped.await;
        }));
        Self { addr, exporter, dir, http: http_client(), _stop: stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn scrape_with(&self, accept: Option<&str>, timeout_seconds: Option<f64>) -> Scrape {
        let mut req = self.http.get(self.url("/metrics"));
        if let Some(accept) = accept {
            req = req.header("accept", accept);
        }
        if let Some(t) = timeout_seconds {
            req = req.header("x-prometheus-scrape-timeout-seconds", t.to_string());
        }
        let start = Instant::now();
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let content_type =
            resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let body = resp.text().await.unwrap();
        Scrape { status, content_type, body, took: start.elapsed() }
    }

    pub async fn scrape(&self) -> Scrape {
        self.scrape_with(None, None).await
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

/// Runs `promtool check metrics` on an exposition; panics with its report
/// on any complaint (lint warnings included).
pub fn promtool_check_metrics(body: &str) {
    use std::io::Write as _;
    let mut child = Command::new(require_tool("promtool", "prometheus"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool check metrics:\n{report}\n--- input\n{body}");
}

/// Runs the Docker CLI against `host`; its stdout, or a panic with stderr.
pub fn docker(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker").env("DOCKER_HOST", host).args(args).output().unwrap();
    assert!(out.status.success(), "docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The self-signed certificate `scripts/services.sh` makes: (cert, key).
pub fn tls_files() -> (PathBuf, PathBuf) {
    let dir =
        PathBuf::from(std::env::var("OPS_GEN_TEST_TLS_DIR").unwrap_or_else(|_| "/tmp/ops-gen-services/tls".into()));
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    assert!(cert.is_file() && key.is_file(), "no test certificate in {}: run `scripts/services.sh up`", dir.display());
    (cert, key)
}

/// A real HTTPS server (`openssl s_server -www`) with the self-signed
/// certificate; killed when dropped.
pub struct HttpsServer {
    pub url: String,
    child: std::process::Child,
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn https_server() -> HttpsServer {
    let openssl = require_tool("openssl", "openssl");
    let (cert, key) = tls_files();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(openssl)
        .args(["s_server", "-quiet", "-www", "-accept", &format!("127.0.0.1:{port}")])
        .arg("-cert")
        .arg(cert)
        .arg("-key")
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = HttpsServer { url: format!("https://127.0.0.1:{port}/"), child };
    eventually("openssl s_server to listen", Duration::from_secs(5), async || {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    server
}

/// Validates the YAML (or JSON) document `doc` against the JSON schema
/// `schema` with Debian's python3-jsonschema (it comes with `apt install
/// docker-compose`, which `scripts/services.sh up` runs); the draft is the
/// one the schema names. `Err` holds the validator's message.
pub fn validate_schema(schema: &Path, doc: &Path) -> Result<(), String> {
    let script = "import json,sys,yaml,jsonschema\n\
                  doc=yaml.safe_load(open(sys.argv[2]))\n\
                  jsonschema.validate(doc, json.load(open(sys.argv[1])))\n";
    let out = Command::new("/usr/bin/python3").args(["-c", script]).arg(schema).arg(doc).output().unwrap_or_else(|e| {
        panic!("cannot run /usr/bin/python3 ({e}): run `scripts/services.sh up` (installs python3-jsonschema)")
    });
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// The S3 store `scripts/services.sh` runs: (endpoint, bucket, access key, secret key).
///
/// Tests that write objects use an [`OwnS3`] instead: s3s-fs walks the whole
/// bucket folder for every listing and answers 500 when a file vanishes
/// mid-walk, so one test's delete can fail another test's listing.
pub fn s3() -> (String, String, String, String) {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let endpoint = var("OPS_GEN_S3_ENDPOINT", "http://127.0.0.1:59000");
    let reachable = std::net::TcpStream::connect(endpoint.trim_start_matches("http://")).is_ok();
    assert!(reachable, "no S3 server at {endpoint}: start it with `scripts/services.sh up`. These tests never skip.");
    (
        endpoint,
        var("OPS_GEN_S3_BUCKET", "ops-gen-test"),
        var("OPS_GEN_S3_ACCESS_KEY", "opsgen"),
        var("OPS_GEN_S3_SECRET_KEY", "opsgen-test-s3"),
    )
}

/// A real Prometheus on a free loopback port; killed when dropped.
pub struct RealPrometheus {
    child: std::process::Child,
    pub port: u16,
}

impl RealPrometheus {
    /// Starts Prometheus with `config` as its prometheus.yml, keeping its
    /// config and data in `dir`.
    pub fn start(dir: &Path, config: &str) -> Self {
        let prometheus = require_tool("prometheus", "prometheus");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let child = Command::new(prometheus)
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self { child, port }
    }

    /// The value of the first series a `PromQL` query returns, if any.
    pub async fn query(&self, promql: &str) -> Option<String> {
        let mut url = url::Url::parse(&format!("http://127.0.0.1:{}/api/v1/query", self.port)).unwrap();
        url.query_pairs_mut().append_pair("query", promql);
        let resp = http_client().get(url).send().await.ok()?;
        let json: serde_json::Value = resp.json().await.ok()?;
        json["data"]["result"][0]["value"][1].as_str().map(str::to_owned)
    }
}

impl RealPrometheus {
    /// Evaluates `promql` as an instant query: the API's status (or error
    /// type and message) and how many series came back.
    pub async fn evaluate(&self, promql: &str) -> (String, usize) {
        let mut url = url::Url::parse(&format!("http://127.0.0.1:{}/api/v1/query", self.port)).unwrap();
        url.query_pairs_mut().append_pair("query", promql);
        let json: serde_json::Value = http_client().get(url).send().await.unwrap().json().await.unwrap();
        let status = json["status"].as_str().unwrap_or("?").to_owned();
        if status != "success" {
            return (format!("{status}: {}", json["error"]), 0);
        }
        let count = match &json["data"]["result"] {
            serde_json::Value::Array(items) => items.len(),
            _ => 1,
        };
        (status, count)
    }
}

impl Drop for RealPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real `node_exporter` (Debian's `prometheus-node-exporter`) on a free
/// loopback port; killed when dropped.
pub struct RealNodeExporter {
    child: std::process::Child,
    pub port: u16,
}

impl RealNodeExporter {
    pub async fn start() -> Self {
        let binary = require_tool("prometheus-node-exporter", "prometheus-node-exporter");
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let exporter = Self { child, port };
        eventually("node_exporter to listen", Duration::from_secs(10), async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        exporter
    }
}

impl Drop for RealNodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A data folder for an [`OwnS3`] holding one empty bucket.
pub fn s3_data(bucket: &str) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join(bucket)).unwrap();
    data
}

/// An s3s-fs of the test's own, serving `data` (a folder per bucket) with the
/// credentials of the shared one; killed when dropped or stopped.
pub struct OwnS3 {
    child: Option<std::process::Child>,
    pub port: u16,
}

impl OwnS3 {
    pub async fn start(data: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self::start_on(data, port).await
    }

    /// Stops the server and starts a new one on the same port, serving `data`.
    pub async fn restart(&mut self, data: &Path) {
        self.stop();
        *self = Self::start_on(data, self.port).await;
    }

    async fn start_on(data: &Path, port: u16) -> Self {
        let (_, _, access, secret) = s3();
        let child = Command::new(require_tool("s3s-fs", "s3s-fs (scripts/services.sh up installs it)"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--access-key",
                &access,
                "--secret-key",
                &secret,
            ])
            .arg(data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        eventually("s3s-fs to listen", Duration::from_secs(5), async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        Self { child: Some(child), port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server (to test what a dead store looks like).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnS3 {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A real `ops-gen serve` process; killed when dropped.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServeProcess {
    /// Serves `config` from a folder of its own, on a free port.
    pub fn start(config: &str) -> Self {
        Self::start_in(config_dir(config), "127.0.0.1:0")
    }

    /// Serves the `ops-gen.yml` of `dir`, working in `dir`, on `listen`.
    pub fn start_in(dir: tempfile::TempDir, listen: &str) -> Self {
        Self::start_with(dir, listen, &[])
    }

    /// The same, with extra environment variables.
    pub fn start_with(dir: tempfile::TempDir, listen: &str, env: &[(&str, &str)]) -> Self {
        use std::io::{BufRead as _, BufReader};
        let mut child = ops_gen(dir.path())
            .envs(env.iter().copied())
            .args(["serve", "--listen", listen])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("ops-gen serve exited before listening").unwrap();
            if let Some(rest) = line
                .split_once("serving on ")
                .and_then(|(_, r)| r.strip_prefix("http://").or_else(|| r.strip_prefix("https://")))
            {
                break rest.split('/').next().unwrap().to_owned();
            }
        };
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr, dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).unwrap().count()
    }

    pub fn threads(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse().unwrap()
    }

    pub fn signal(&self, signal: &str) {
        let ok =
            Command::new("kill").args([&format!("-{signal}"), &self.pid().to_string()]).status().unwrap().success();
        assert!(ok, "kill -{signal}");
    }
}

/// `docker-compose -p PROJECT -f docker-compose.yml ARGS` in `dir`, against `host`.
pub fn compose(host: &str, dir: &Path, project: &str, args: &[&str]) {
    let out = Command::new("docker-compose")
        .env("DOCKER_HOST", host)
        .current_dir(dir)
        .args(["-p", project, "-f", "docker-compose.yml"])
        .args(args)
        .output()
        .expect("docker-compose runs (scripts/services.sh up installs it)");
    assert!(out.status.success(), "docker-compose {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A Compose project of the test's own (`docker-compose.yml` in its own
/// folder) started on `host`; taken down when dropped.
pub struct ComposeProject {
    pub host: String,
    pub dir: tempfile::TempDir,
    pub name: String,
}

impl ComposeProject {
    pub fn up(host: &str, compose_file: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker-compose.yml"), compose_file).unwrap();
        let name = unique("p").to_lowercase();
        let project = Self { host: host.to_owned(), dir, name };
        compose(host, project.dir.path(), &project.name, &["up", "-d"]);
        project
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let _ = Command::new("docker-compose")
            .env("DOCKER_HOST", &self.host)
            .current_dir(self.dir.path())
            .args(["-p", &self.name, "-f", "docker-compose.yml", "down", "-t", "0", "--remove-orphans"])
            .output();
    }
}
