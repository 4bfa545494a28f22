//! `ops-gen bundle` against a real Docker engine: a Compose project whose
//! containers print lines, some with planted secrets, a real exporter and
//! a real Redis target. Nothing planted may appear in the folder or the
//! archive; a hung part leaves a partial bundle in time; the size cap cuts
//! and says so; an unwritable output is exit 2.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::{self, ComposeProject, Run, TestExporter, ops_gen, run, servers};

pub const ENV_PASSWORD: &str = "pl4nted-env-pw-1";
pub const URL_PASSWORD: &str = "pl4nted-url-pw-2";
pub const TOKEN: &str = "pl4nted-token-3abc";

/// `web` prints a URL with credentials, a bearer token and 2000 lines;
/// `db` has a password in its environment and prints it bare.
pub fn stack_file(lines: u32) -> String {
    format!(
        r#"version: "2.4"
services:
  web:
    image: ops-gen-test/busybox:1
    init: true
    command: ["sh", "-c", "echo 'connecting to postgres://app:{URL_PASSWORD}@db:5432/app'; echo 'Authorization: Bearer {TOKEN}'; i=0; while [ $$i -lt {lines} ]; do echo \"request $$i ok\"; i=$$((i+1)); done; echo done; sleep 600"]
  db:
    image: ops-gen-test/busybox:1
    init: true
    environment:
      DB_PASSWORD: {ENV_PASSWORD}
    command: ["sh", "-c", "echo \"db up, pw $$DB_PASSWORD\"; sleep 600"]
"#
    )
}

/// Waits until `web` printed its last line.
pub fn wait_for_logs(project: &ComposeProject) {
    let start = Instant::now();
    loop {
        let out = std::process::Command::new("docker")
            .env("DOCKER_HOST", &project.host)
            .args(["logs", "--tail", "1", &format!("{}_web_1", project.name)])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("done") {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "web never printed its lines");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn bundle(dir: &Path, host: &str, args: &[&str]) -> Run {
    run(ops_gen(dir).env("DOCKER_HOST", host).env("BUNDLE_REDIS_URL", util::redis_url()).arg("bundle").args(args))
}

/// Every file under `dir`, with its contents.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn assert_no_secret(what: &str, bytes: &[u8], secrets: &[&str]) {
    let text = String::from_utf8_lossy(bytes);
    for s in secrets {
        assert!(!text.contains(s), "{what} holds the planted `{s}`:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_appear_nowhere_in_the_folder_or_the_archive() {
    let host = util::docker_host();
    util::redis_conn().await;
    let stack = ComposeProject::up(&host, &stack_file(2000));
    let exporter = TestExporter::start("").await;
    let redis_password = url::Url::parse(&util::redis_url()).unwrap().password().unwrap_or_default().to_owned();
    let dir = util::config_dir(&format!(
        "stack:\n  project: {}\ntargets:\n  cache:\n    kind: redis\n    url: ${{BUNDLE_REDIS_URL}}\n\
         profile:\n  services: [ops-gen]\n  ports: {{ops-gen: {}}}\n",
        stack.name,
        exporter.addr.port()
    ));
    wait_for_logs(&stack);

    let r = bundle(dir.path(), &host, &["--tail", "5000"]);
    r.expect_code(0);
    assert!(r.stdout.contains("bundle complete: output/ops/"), "{}", r.stdout);
    let secrets = [ENV_PASSWORD, URL_PASSWORD, TOKEN, redis_password.as_str()];
    assert_no_secret("the output", r.all().as_bytes(), &secrets);

    let ops = dir.path().join("output/ops");
    let folder = std::fs::read_dir(&ops).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["bundle.json", "context.json", "health.json", "log-tail.txt", "metrics-summary.json"]);
    for (path, bytes) in files(&ops) {
        assert_no_secret(&path.display().to_string(), &bytes, &secrets);
    }

    // The archive holds the same files, also without secrets.
    let archive = folder.with_extension("tar.gz");
    let extracted = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(extracted.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar -xzf {}", archive.display());
    let inside = files(extracted.path());
    assert_eq!(inside.len(), 5, "{inside:?}");
    for (path, bytes) in &inside {
        assert_no_secret(&path.display().to_string(), bytes, &secrets);
    }

    let log = std::fs::read_to_string(folder.join("log-tail.txt")).unwrap();
    assert!(log.contains("| connecting to postgres://app:***@db:5432/app"), "{log}");
    assert!(log.contains("| Authorization: Bearer ***"), "{log}");
    assert!(log.contains("| db up, pw ***"), "the env value is redacted even bare: {log}");
    let web = log.lines().find(|l| l.contains("request 1999 ok")).unwrap();
    let (ts, rest) = web.split_once(' ').unwrap();
    assert!(ts.len() == 24 && ts.ends_with('Z') && humantime::parse_rfc3339(ts).is_ok(), "RFC 3339 UTC: {web}");
    assert!(rest.starts_with("web | "), "prefixed by service: {web}");
    assert_eq!(log.lines().count(), 2004, "every line of both containers");

    let context: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("context.json")).unwrap()).unwrap();
    assert_eq!(context["project"], stack.name.as_str());
    let db = context["containers"].as_array().unwrap().iter().find(|c| c["service"] == "db").unwrap();
    assert!(db["env"].as_array().unwrap().iter().any(|e| e == "DB_PASSWORD=***"), "{db}");
    assert!(db["image_id"].as_str().unwrap().starts_with("sha256:"), "{db}");
    assert!(context["docker"]["version"].is_string() && context["compose"].is_string(), "{context}");
    assert_eq!(context["checks"]["checks"][0]["name"], "cache");
    let health: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("health.json")).unwrap()).unwrap();
    assert_eq!(health["targets"][0]["up"], true, "{health}");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("metrics-summary.json")).unwrap()).unwrap();
    let families: Vec<&str> =
        metrics["families"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(families.contains(&"opsgen_build_info") && families.contains(&"opsgen_smoke_success"), "{families:?}");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(folder.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(index["complete"], true);
    assert!(index["parts"].as_array().unwrap().iter().all(|p| p["status"] == "ok"), "{index}");

    // --out names the archive; the size cap cuts the oldest lines and says so.
    let out = dir.path().join("small.tar.gz");
    let r =
        bundle(dir.path(), &host, &["--tail", "5000", "--out", out.to_str().unwrap(), "--max-size", "48KiB", "--json"]);
    r.expect_code(0);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(out.is_file() && report["archive"] == out.to_str().unwrap(), "{report}");
    let folder = PathBuf::from(report["folder"].as_str().unwrap());
    let folder = if folder.is_absolute() { folder } else { dir.path().join(folder) };
    let note = std::fs::read_to_string(folder.join("TRUNCATED.txt")).unwrap();
    assert!(note.contains("log-tail.txt: kept the newest ") && note.contains("48.0 KiB"), "{note}");
    let log = std::fs::read_to_string(folder.join("log-tail.txt")).unwrap();
    assert!(log.contains("request 1999 ok") && !log.contains("request 0 ok"), "the newest lines stay");
    let size: u64 = files(&folder).iter().map(|(_, b)| b.len() as u64).sum();
    assert!(size <= 48 * 1024, "{size}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_target_makes_a_partial_bundle_in_time() {
    let host = util::docker_host();
    let hung = servers::hung().await;
    let dir = util::config_dir(&format!(
        "stack:\n  project: {}\ntargets:\n  stuck:\n    kind: redis\n    url: redis://{}\n    timeout: 60s\n\
         profile:\n  services: []\n",
        util::unique("p").to_lowercase(),
        hung.addr
    ));
    let started = Instant::now();
    let r = bundle(dir.path(), &host, &["--timeout", "2"]);
    let took = started.elapsed();
    r.expect_code(1);
    assert!(took < Duration::from_secs(8), "bounded by the part timeout: {took:?}");
    assert!(r.stdout.contains("TIMEOUT health.json") && r.stdout.contains("bundle PARTIAL"), "{}", r.stdout);
    let ops = dir.path().join("output/ops");
    let folder = std::fs::read_dir(&ops).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(folder.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(index["complete"], false);
    let health = index["parts"].as_array().unwrap().iter().find(|p| p["file"] == "health.json").unwrap();
    assert!(health["status"] == "timeout" && health["error"] == "not done within 2s", "{health}");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("health.json")).unwrap()).unwrap();
    assert_eq!(written["error"], "not done within 2s", "a part not collected says why in its own file");
    assert!(folder.join("log-tail.txt").exists(), "the other parts are written");
    assert!(folder.with_extension("tar.gz").is_file());
}

/// With no exporter answering and no Docker engine, a bundle still has
/// every file: the checks' results (run by the bundle itself, and saying
/// so) and a log tail that says why it holds no container logs.
#[tokio::test]
async fn without_an_exporter_or_docker_a_bundle_still_has_every_file() {
    let app = servers::http_app().await;
    let dir = util::config_dir(&format!(
        "listen: 127.0.0.1:{}
checks:
  web:
    kind: http
    url: {}
profile:
  services: []
",
        util::free_port(),
        app.url("/ok")
    ));
    let path = dir.path().to_owned();
    // The app answers from this runtime: wait for the command off it.
    let r = tokio::task::spawn_blocking(move || {
        run(ops_gen(&path).env("DOCKER_HOST", "unix:///nonexistent/docker.sock").args(["bundle", "--timeout", "5"]))
    })
    .await
    .unwrap();
    r.expect_code(1);
    let ops = dir.path().join("output/ops");
    let folder = std::fs::read_dir(&ops).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("metrics-summary.json")).unwrap()).unwrap();
    assert!(summary["source"].as_str().is_some_and(|s| s.starts_with("the checks, run by this bundle")), "{summary}");
    let success = summary["families"].as_array().unwrap().iter().find(|f| f["name"] == "opsgen_check_success").unwrap();
    assert_eq!(success["samples"][0]["value"], 1.0, "{summary}");
    let tail = std::fs::read_to_string(folder.join("log-tail.txt")).unwrap();
    assert!(tail.starts_with("not collected: ") && tail.contains("Docker"), "{tail}");
    for file in ["health.json", "context.json", "bundle.json"] {
        assert!(folder.join(file).is_file(), "{file}");
    }
}

#[test]
fn an_unwritable_output_is_exit_2_with_the_fix() {
    let dir = util::config_dir("profile:\n  services: []\n");
    std::fs::write(dir.path().join("output"), "a file where the folder goes").unwrap();
    let r = run(ops_gen(dir.path()).arg("bundle"));
    r.expect_code(2);
    assert!(r.stderr.contains("cannot write the bundle in output/ops") && r.stderr.contains("--out"), "{}", r.stderr);
}
