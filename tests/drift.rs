//! The `docker` drift check against a real Docker engine (Debian's dockerd
//! on a private socket, started by `scripts/services.sh up`) and a real
//! Compose project run by Debian's docker-compose: every drift kind made by
//! changing the files or the running state, as `ops-gen serve` exports it
//! and as `ops-gen probe` tells it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{self, Scrape, compose, docker, docker_host, ops_gen, run};

/// `ops-gen serve` in its own process, so it sees the test's `DOCKER_HOST`.
struct Served {
    child: Child,
    url: String,
}

impl Served {
    async fn start(dir: &Path, host: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = ops_gen(dir)
            .env("DOCKER_HOST", host)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        util::eventually("ops-gen serve to listen", Duration::from_secs(10), async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        Self { child, url: format!("http://127.0.0.1:{port}/metrics") }
    }

    async fn scrape(&self) -> Scrape {
        let start = Instant::now();
        let resp = util::http_client().get(&self.url).send().await.unwrap();
        let status = resp.status().as_u16();
        Scrape { status, content_type: String::new(), body: resp.text().await.unwrap(), took: start.elapsed() }
    }

    /// Waits until `series` has `value`.
    async fn wait_for(&self, series: &str, value: f64) -> Scrape {
        let mut last = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let scrape = self.scrape().await;
            if scrape.value(series) == Some(value) {
                return scrape;
            }
            last = Some(scrape.body);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{series} never became {value}:\n{}", last.unwrap_or_default());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn app(image: &str, greeting: &str) -> String {
    format!(
        "services:\n  web:\n    image: {image}\n    command: [sleep, '3600']\n    environment:\n      GREETING: {greeting}\n\
         \x20 worker:\n    image: {image}\n    command: [sleep, '3600']\n    scale: 2\n\
         \x20 flaky:\n    image: {image}\n    command: [sh, -c, 'sleep 1; exit 3']\n    restart: always\n\
         \x20 debug:\n    image: {image}\n    command: [sleep, '3600']\n    profiles: [debug]\n"
    )
}

fn drift(project: &str, service: &str, kind: &str) -> String {
    format!(r#"opsgen_drift{{project="{project}",service="{service}",kind="{kind}"}}"#)
}

fn service(metric: &str, project: &str, service: &str) -> String {
    format!(r#"{metric}{{project="{project}",service="{service}"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_drift_kind_shows_up_and_goes_away() {
    let host = docker_host();
    let project = util::unique("drift").to_lowercase();
    // An image of the test's own, so re-tagging it touches no other test.
    let image = format!("ops-gen-test/{project}:1");
    docker(&host, &["tag", "ops-gen-test/busybox:1", &image]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::write(path.join("docker-compose.yml"), app(&image, "hello")).unwrap();
    std::fs::write(
        path.join("ops-gen.yml"),
        format!(
            "stack:\n  project: {project}\n  files: [docker-compose.yml]\n\
             checks:\n  drift:\n    kind: docker\n    interval: 200ms\n"
        ),
    )
    .unwrap();
    compose(&host, path, &project, &["up", "-d"]);
    let cleanup = Cleanup { host: host.clone(), dir: path.to_owned(), project: project.clone(), image: image.clone() };

    let served = Served::start(path, &host).await;
    let scrape = served.wait_for(&service("opsgen_service_up", &project, "worker"), 1.0).await;
    for s in ["web", "worker"] {
        for kind in ["missing", "extra", "image", "config", "replicas"] {
            assert_eq!(scrape.value(&drift(&project, s, kind)), Some(0.0), "{s} {kind}:\n{}", scrape.body);
        }
    }
    assert!(scrape.value(&service("opsgen_service_up", &project, "debug")).is_none(), "inactive profile");
    assert!(scrape.body.contains(r#"opsgen_check_success{check="drift",kind="docker"}"#), "{}", scrape.body);
    util::promtool_check_metrics(&scrape.body);
    // A crash-looping service: its restarts count up.
    let restarts = service("opsgen_service_restarts", &project, "flaky");
    util::eventually("flaky's restarts to show", Duration::from_secs(30), async || {
        served.scrape().await.value(&restarts).is_some_and(|n| n >= 1.0)
    })
    .await;

    // missing: a declared service stopped.
    compose(&host, path, &project, &["stop", "web"]);
    let scrape = served.wait_for(&drift(&project, "web", "missing"), 1.0).await;
    assert_eq!(scrape.value(&service("opsgen_service_up", &project, "web")), Some(0.0));
    compose(&host, path, &project, &["start", "web"]);
    served.wait_for(&drift(&project, "web", "missing"), 0.0).await;

    // replicas: one of two workers stopped.
    let workers = docker(
        &host,
        &[
            "ps",
            "-q",
            "--filter",
            "label=com.docker.compose.service=worker",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
        ],
    );
    let one = workers.lines().next().unwrap();
    docker(&host, &["stop", "-t", "0", one]);
    served.wait_for(&drift(&project, "worker", "replicas"), 1.0).await;
    docker(&host, &["start", one]);
    served.wait_for(&drift(&project, "worker", "replicas"), 0.0).await;

    // extra: a container with the project's labels that no file declares;
    // once removed, its series stay (at 0) instead of vanishing.
    let stray = format!("{project}-stray");
    docker(
        &host,
        &[
            "run",
            "-d",
            "--name",
            &stray,
            "--label",
            &format!("com.docker.compose.project={project}"),
            "--label",
            "com.docker.compose.service=stray",
            &image,
            "sleep",
            "3600",
        ],
    );
    let scrape = served.wait_for(&drift(&project, "stray", "extra"), 1.0).await;
    // stray, and flaky whenever it is between restarts.
    let drifting = scrape.value(&format!(r#"opsgen_drift_services{{project="{project}"}}"#)).unwrap();
    assert!((1.0..=2.0).contains(&drifting), "{}", scrape.body);
    docker(&host, &["rm", "-f", &stray]);
    let scrape = served.wait_for(&drift(&project, "stray", "extra"), 0.0).await;
    assert_eq!(scrape.value(&service("opsgen_service_up", &project, "stray")), Some(0.0));

    // config: an env var edited in the file, containers not recreated.
    std::fs::write(path.join("docker-compose.yml"), app(&image, "bonjour")).unwrap();
    let scrape = served.wait_for(&drift(&project, "web", "config"), 1.0).await;
    assert_eq!(scrape.value(&drift(&project, "worker", "config")), Some(0.0), "only web changed");
    assert_eq!(scrape.value(&drift(&project, "web", "image")), Some(0.0));

    // ... which `ops-gen probe` tells in words, with the fix, and exit 1.
    let out = run(ops_gen(path).env("DOCKER_HOST", &host).args(["probe", "drift"]));
    out.expect_code(1);
    assert!(out.stdout.contains("web (config)"), "{}", out.stdout);
    assert!(
        out.stdout.contains("web: was created from an older definition") && out.stdout.contains("up -d web"),
        "{}",
        out.stdout
    );

    // Recreated: no drift.
    compose(&host, path, &project, &["up", "-d"]);
    served.wait_for(&drift(&project, "web", "config"), 0.0).await;

    // image: the tag now points at another image, containers not recreated.
    docker(&host, &["tag", "ops-gen-test/prometheus:2.42", &image]);
    let scrape = served.wait_for(&drift(&project, "worker", "image"), 1.0).await;
    assert_eq!(scrape.value(&drift(&project, "web", "image")), Some(1.0), "{}", scrape.body);
    let out = run(ops_gen(path).env("DOCKER_HOST", &host).args(["probe", "drift"]));
    assert!(out.stdout.contains(&format!("but `{image}` is now")), "{}", out.stdout);
    drop(served);
    drop(cleanup);
}

#[test]
fn no_engine_a_denied_socket_and_a_broken_compose_file_are_clear_reasons_that_leave_other_checks_alone() {
    let host = docker_host();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::write(path.join("docker-compose.yml"), "services:\n  web:\n    image: busybox\n").unwrap();
    std::fs::write(path.join("backup.dump"), b"x").unwrap();
    std::fs::write(
        path.join("ops-gen.yml"),
        "stack:\n  files: [docker-compose.yml]\n\
         checks:\n  drift:\n    kind: docker\n  dump:\n    kind: file_freshness\n    path: backup.dump\n    max_age: 1h\n",
    )
    .unwrap();
    let json = |out: &util::Run| -> serde_json::Value { serde_json::from_str(&out.stdout).unwrap() };
    // The drift check failed with `reason` and a message holding `says`;
    // the file check beside it passed.
    let drift_failed = |v: &serde_json::Value, reason: &str, says: &str| {
        assert_eq!(v["checks"][0]["failure"]["reason"], reason, "{v}");
        assert!(v["checks"][0]["failure"]["message"].as_str().unwrap().contains(says), "{v}");
        assert_eq!(v["checks"][1]["success"], true, "the file check is unaffected: {v}");
    };

    let gone = format!("unix://{}/no-docker.sock", path.display());
    let out = run(ops_gen(path).env("DOCKER_HOST", &gone).args(["--json", "probe"]));
    out.expect_code(1);
    drift_failed(&json(&out), "connect", "DOCKER_HOST");

    // A socket this user may not open (root bypasses permissions, so the
    // probe runs as `nobody`, from a copy of the binary it may execute).
    if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0 {
        let bin = path.join("ops-gen");
        std::fs::copy(util::bin(), &bin).unwrap();
        for p in [path, bin.as_path()] {
            std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }
        let out = run(Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(&bin)
            .args(["--config", path.join("ops-gen.yml").to_str().unwrap(), "--json", "probe"])
            .env("DOCKER_HOST", &host)
            .current_dir(path));
        drift_failed(&json(&out), "auth", "docker` group");
    } else {
        assert!(std::env::var("CI").is_err(), "CI runs the suite as root, which this part needs");
        eprintln!("not root: the permission-denied part of this test needs root to switch to `nobody`");
    }

    std::fs::write(path.join("docker-compose.yml"), "services:\n  web:\n    image: busybox\n    ports: 12\n").unwrap();
    let out = run(ops_gen(path).env("DOCKER_HOST", &host).args(["--json", "probe"]));
    out.expect_code(1);
    drift_failed(&json(&out), "invalid", "do not resolve");

    // Without stack.files there is nothing to compare with: exit 2.
    std::fs::write(path.join("ops-gen.yml"), "checks:\n  drift:\n    kind: docker\n").unwrap();
    let out = run(ops_gen(path).args(["config", "check"]));
    out.expect_code(2);
    assert!(out.stderr.contains("checks.drift.kind") && out.stderr.contains("stack.files"), "{}", out.stderr);
}

/// Takes the project down and drops the test's image tag, also when an
/// assertion failed.
struct Cleanup {
    host: String,
    dir: std::path::PathBuf,
    project: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("docker-compose")
            .env("DOCKER_HOST", &self.host)
            .current_dir(&self.dir)
            .args(["-p", &self.project, "-f", "docker-compose.yml", "down", "-t", "0", "--remove-orphans"])
            .output();
        let _ = Command::new("docker").env("DOCKER_HOST", &self.host).args(["rmi", &self.image]).output();
    }
}
