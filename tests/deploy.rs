//! The VPS deployment files in `docs/deploy/`: the nginx snippet passes
//! `nginx -t` and really carries the events stream through TLS without
//! buffering; the systemd unit has the hardening it documents and a command
//! line `ops-gen` accepts.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt as _;

use crate::util::{self, TestExporter};

const READER: &str = "read-token-deploy-0123456789";
const BEACON: &str = "beacon-token-deploy-0123456789";

/// A real nginx in its own prefix, running `docs/deploy/nginx-ops-gen.conf`
/// with the test certificate, its ports and upstream moved; killed when
/// dropped.
struct Nginx {
    child: std::process::Child,
    https: u16,
    _prefix: tempfile::TempDir,
}

impl Drop for Nginx {
    /// Kills the master and its workers (one process group).
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
    }
}

/// The snippet with the test's certificate, ports and upstream, inside a
/// minimal nginx.conf; `nginx -t` output.
fn nginx_prefix(upstream: &str, http: u16, https: u16) -> (tempfile::TempDir, std::path::PathBuf, util::Run) {
    let nginx = util::require_tool("nginx", "nginx");
    let prefix = tempfile::tempdir().unwrap();
    let (cert, key) = util::tls_files();
    let snippet = std::fs::read_to_string(util::repo_root().join("docs/deploy/nginx-ops-gen.conf")).unwrap();
    let moved = [
        ("/etc/letsencrypt/live/ops.example.com/fullchain.pem", cert.display().to_string()),
        ("/etc/letsencrypt/live/ops.example.com/privkey.pem", key.display().to_string()),
        ("server 127.0.0.1:9743;", format!("server {upstream};")),
        ("listen 443 ssl;", format!("listen 127.0.0.1:{https} ssl;")),
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
    ];
    let mut snippet = snippet;
    for (from, to) in moved {
        assert!(snippet.contains(from), "the snippet no longer has `{from}`: update this test");
        snippet = snippet.replace(from, &to);
    }
    std::fs::write(prefix.path().join("ops-gen.conf"), snippet).unwrap();
    let p = prefix.path().display();
    let conf = prefix.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "pid {p}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n  include {p}/ops-gen.conf;\n}}\n"
        ),
    )
    .unwrap();
    let test = util::Run::of(
        &Command::new(&nginx)
            .arg("-t")
            .arg("-p")
            .arg(prefix.path())
            .arg("-e")
            .arg("stderr")
            .arg("-c")
            .arg(&conf)
            .output()
            .unwrap(),
    );
    (prefix, conf, test)
}

impl Nginx {
    async fn start(upstream: &str) -> Self {
        let (http, https) = (util::free_port(), util::free_port());
        let (prefix, conf, test) = nginx_prefix(upstream, http, https);
        test.expect_code(0);
        assert!(test.stderr.contains("test is successful"), "{}", test.stderr);
        let child = Command::new(util::require_tool("nginx", "nginx"))
            .arg("-p")
            .arg(prefix.path())
            .args(["-e", "stderr", "-g", "daemon off;", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        util::eventually("nginx to listen", Duration::from_secs(5), async || {
            tokio::net::TcpStream::connect(("127.0.0.1", https)).await.is_ok()
        })
        .await;
        Self { child, https, _prefix: prefix }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_snippet_passes_events_through_tls_unbuffered() {
    let exporter = TestExporter::start(&format!(
        "auth:\n  tokens:\n    - {{name: bob, token: {READER}}}\n    - {{name: web, token: {BEACON}, role: beacon}}\n"
    ))
    .await;
    let nginx = Nginx::start(&exporter.addr.to_string()).await;
    ops_gen::tls::init();
    // The test certificate is self-signed.
    let https = reqwest::Client::builder().tls_danger_accept_invalid_certs(true).build().unwrap();
    let base = format!("https://127.0.0.1:{}", nginx.https);
    let page = https.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("ops-gen status"));

    let events = https.get(format!("{base}/api/ops/events")).bearer_auth(READER).send();
    let events = tokio::time::timeout(Duration::from_secs(5), events)
        .await
        .expect("the events stream's headers did not come through nginx at once (buffered?)")
        .unwrap();
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut body = events.bytes_stream();
    let mut seen = String::new();
    let mut next_until = async |needle: &str| {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !seen.contains(needle) {
                let chunk = body.next().await.expect("the stream stays open").unwrap();
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("`{needle}` did not come through nginx at once (buffered?); got:\n{seen}"));
    };
    next_until("event: hello").await;
    // A new event reaches the client while the stream stays open: nginx
    // does not hold it back in a buffer.
    let beacon = exporter
        .http
        .post(exporter.url(&format!("/api/ops/frontend-log?token={BEACON}")))
        .body(r#"{"route": "/cart", "message": "through nginx"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(beacon.status(), 204);
    next_until("through nginx").await;
}

/// `[Section]` → key → values, in file order.
fn unit_file(text: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut sections: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut current = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.to_owned());
            sections.entry(name.to_owned()).or_default();
            continue;
        }
        let section = current.clone().unwrap_or_else(|| panic!("line {}: a key outside any section", n + 1));
        let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("line {}: not `Key=value`: {line}", n + 1));
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "line {}: bad key `{key}`", n + 1);
        sections.entry(section).or_default().entry(key.to_owned()).or_default().push(value.to_owned());
    }
    sections
}

#[test]
fn the_systemd_unit_is_hardened_and_runs_a_valid_command() {
    let text = std::fs::read_to_string(util::repo_root().join("docs/deploy/ops-gen.service")).unwrap();
    let unit = unit_file(&text);
    assert_eq!(unit.keys().collect::<Vec<_>>(), ["Install", "Service", "Unit"]);
    let service = &unit["Service"];
    let one = |key: &str| {
        let values = service.get(key).unwrap_or_else(|| panic!("[Service] has no {key}="));
        assert_eq!(values.len(), 1, "{key}= twice");
        values[0].as_str()
    };
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(one(key), value, "{key}");
    }
    assert_ne!(one("User"), "root");
    // The one writable folder is where ops-gen writes (output/ under its
    // working directory).
    assert_eq!(one("ReadWritePaths"), format!("{}/output", one("WorkingDirectory")));
    assert!(one("EnvironmentFile").starts_with("/etc/"), "tokens come from a root-owned file");
    assert_eq!(unit["Install"]["WantedBy"], ["multi-user.target"]);

    // `ops-gen` accepts the command line (its `--help` answers only after
    // every argument before it parsed).
    let exec = one("ExecStart");
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    assert!(args.contains(&"serve"), "{exec}");
    let dir = util::config_dir("{}");
    let config = dir.path().join("ops-gen.yml").display().to_string();
    let args: Vec<&str> = args.iter().map(|a| if a.ends_with("ops-gen.yml") { config.as_str() } else { a }).collect();
    let out = util::run(util::ops_gen(dir.path()).args(&args).arg("--help"));
    out.expect_code(0);
    assert!(out.stdout.contains("--listen"), "{}", out.stdout);
}
