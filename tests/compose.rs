//! `ops-gen compose up | status | restart | logs | down | destroy` against a
//! real Docker engine (Debian's dockerd on a private socket, started by
//! `scripts/services.sh up`) with docker-compose 1.29. No registry is
//! reachable, so the profile runs local images built from real binaries:
//! this very ops-gen, Debian's Prometheus and `node_exporter`.

use std::path::Path;
use std::process::Command;

use crate::util::{self, docker, docker_host, free_port, ops_gen, redis_url, run};

/// Builds `ops-gen-test/ops-gen:dev` from the binary under test.
fn ops_gen_image(host: &str) {
    let out = Command::new(util::repo_root().join("scripts/docker.sh"))
        .arg("ops-gen-image")
        .arg(util::bin())
        .env("DOCKER_HOST", host)
        .output()
        .unwrap();
    assert!(out.status.success(), "building the ops-gen image: {}", String::from_utf8_lossy(&out.stderr));
}

fn compose_cmd(dir: &Path, host: &str, args: &[&str]) -> util::Run {
    run(ops_gen(dir).env("DOCKER_HOST", host).env("REDIS_FOR_TEST", redis_url()).arg("compose").args(args))
}

#[tokio::test(flavor = "multi_thread")]
async fn up_status_restart_down_keeps_data_and_destroy_backs_up_first() {
    let host = docker_host();
    ops_gen_image(&host);
    let project = util::unique("opsgen").to_lowercase();
    let (exporter, prometheus, node) = (free_port(), free_port(), free_port());
    let config = format!(
        "stack:\n  project: {project}\n\
         targets:\n  cache:\n    kind: redis\n    url: ${{REDIS_FOR_TEST}}\n\
         backup:\n  dir: backups\n\
         profile:\n  services: [ops-gen, prometheus, node-exporter]\n  disk_budget: 1GiB\n\
         \x20 images:\n    ops-gen: ops-gen-test/ops-gen:dev\n    prometheus: ops-gen-test/prometheus:2.42\n    node-exporter: ops-gen-test/node-exporter:1\n\
         \x20 ports: {{ops-gen: {exporter}, prometheus: {prometheus}, node-exporter: {node}}}\n"
    );
    let dir = util::config_dir(&config);
    let path = dir.path();

    // A port taken by a real listener: nothing starts, the port is named.
    let squatter = std::net::TcpListener::bind(("127.0.0.1", prometheus)).unwrap();
    let r = compose_cmd(path, &host, &["up", "--timeout", "120"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains(&format!("port {prometheus} for prometheus")) && r.stderr.contains("pid "),
        "{}",
        r.stderr
    );
    assert!(
        docker(&host, &["ps", "-aq", "--filter", &format!("label=com.docker.compose.project={project}")])
            .trim()
            .is_empty()
    );
    drop(squatter);

    let r = compose_cmd(path, &host, &["up", "--timeout", "120"]);
    r.expect_code(0);
    assert!(r.stdout.contains("3 services healthy"), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("http://127.0.0.1:{prometheus}/alerts")), "{}", r.stdout);
    assert!(path.join("compose/docker-compose.ops.yml").exists(), "up regenerates the profile");

    let r = compose_cmd(path, &host, &["status"]);
    r.expect_code(0);
    for service in ["ops-gen", "prometheus", "node-exporter"] {
        assert!(
            r.stdout.lines().any(|l| l.starts_with("green") && l.contains(service) && l.contains("healthy")),
            "{}",
            r.stdout
        );
    }
    let json = compose_cmd(path, &host, &["status", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);

    // The exporter in the profile answers on its published port, with the
    // variable the config references passed through by name.
    let metrics = util::get_text(&format!("http://127.0.0.1:{exporter}/metrics")).await;
    assert!(metrics.contains("opsgen_check_success{check=\"cache\",kind=\"redis\"}"), "{metrics}");

    doctor_and_health_see_the_running_profile(path, &host, exporter, prometheus, node);

    compose_cmd(path, &host, &["restart", "prometheus"]).expect_code(0);
    compose_cmd(path, &host, &["restart", "nope"]).expect_code(2);
    let logs = compose_cmd(path, &host, &["logs", "ops-gen", "--tail", "5"]);
    logs.expect_code(0);
    assert!(logs.stdout.contains("serving on"), "{}", logs.stdout);

    // Data written into a volume survives down and up.
    let container = || {
        let id = docker(
            &host,
            &[
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.compose.project={project}"),
                "--filter",
                "label=com.docker.compose.service=prometheus",
            ],
        );
        id.trim().to_owned()
    };
    docker(&host, &["exec", &container(), "sh", "-c", "echo kept > /prometheus/ops-gen-canary"]);
    compose_cmd(path, &host, &["down"]).expect_code(0);
    let networks =
        docker(&host, &["network", "ls", "-q", "--filter", &format!("label=com.docker.compose.project={project}")]);
    assert!(networks.trim().is_empty(), "down leaves no network of the profile behind: {networks}");
    let r = compose_cmd(path, &host, &["status"]);
    r.expect_code(1);
    assert!(r.stdout.lines().filter(|l| l.starts_with("red") && l.contains("missing")).count() == 3, "{}", r.stdout);
    compose_cmd(path, &host, &["up", "--timeout", "120"]).expect_code(0);
    assert_eq!(docker(&host, &["exec", &container(), "cat", "/prometheus/ops-gen-canary"]).trim(), "kept");

    // destroy: refused without a terminal or --yes; a failing backup aborts it.
    compose_cmd(path, &host, &["destroy"]).expect_code(2);
    let broken = run(ops_gen(path)
        .env("DOCKER_HOST", &host)
        .env("REDIS_FOR_TEST", "redis://default:wrong-password@127.0.0.1:1/0")
        .args(["compose", "destroy", "--yes"]));
    broken.expect_code(1);
    assert!(broken.stderr.contains("the backup failed: nothing deleted"), "{}", broken.all());
    let volume = format!("{project}_prometheus-data");
    assert!(
        docker(&host, &["volume", "ls", "-q"]).lines().any(|v| v == volume),
        "volume kept after an aborted destroy"
    );

    let r = compose_cmd(path, &host, &["destroy", "--yes"]);
    r.expect_code(0);
    assert!(r.stdout.contains(&volume), "lists what goes: {}", r.stdout);
    assert!(r.stdout.contains("backup set"), "took a backup first: {}", r.stdout);
    assert!(!docker(&host, &["volume", "ls", "-q"]).lines().any(|v| v == volume), "volume removed");
    assert!(
        docker(&host, &["ps", "-aq", "--filter", &format!("label=com.docker.compose.project={project}")])
            .trim()
            .is_empty()
    );
}

/// With the profile up, doctor agrees with `up` (the ports are the
/// profile's own) and health asks each real component on its port.
fn doctor_and_health_see_the_running_profile(path: &Path, host: &str, exporter: u16, prometheus: u16, node: u16) {
    let r = run(ops_gen(path).env("DOCKER_HOST", host).env("REDIS_FOR_TEST", redis_url()).arg("doctor"));
    r.expect_code(0);
    assert!(
        r.stdout.contains(&format!("✓ port {prometheus} for prometheus: held by the profile's own container")),
        "{}",
        r.stdout
    );
    let r = run(ops_gen(path).env("REDIS_FOR_TEST", redis_url()).arg("health"));
    r.expect_code(0);
    for (title, port, endpoint) in [
        ("ops-gen exporter", exporter, "/-/healthy"),
        ("Prometheus", prometheus, "/-/ready"),
        ("node_exporter", node, "/metrics"),
    ] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(&format!("✓ {title} "))
                    && l.contains(&format!("http://127.0.0.1:{port}{endpoint}"))),
            "{title}:\n{}",
            r.stdout
        );
    }
}

#[test]
fn no_engine_is_a_clear_finding() {
    let dir = util::config_dir("");
    let r = run(ops_gen(dir.path()).env("DOCKER_HOST", "unix:///nonexistent/docker.sock").args(["compose", "status"]));
    r.expect_code(1);
    assert!(r.stderr.contains("cannot reach the Docker engine at unix:///nonexistent/docker.sock"), "{}", r.stderr);
}

/// The engine over TCP (`DOCKER_HOST=tcp://…` or `http://…`), as a socket
/// proxy offers it: a forwarder on loopback in front of the real engine's
/// socket, and `compose status` reads the engine through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_over_tcp_works_through_a_proxy() {
    let socket = util::docker_host().trim_start_matches("unix://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let proxied = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&proxied);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let socket = socket.clone();
            tokio::spawn(async move {
                if let Ok(mut engine) = tokio::net::UnixStream::connect(&socket).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                }
            });
        }
    });
    let dir = util::config_dir("stack:\n  project: over-tcp\n");
    for scheme in ["tcp", "http"] {
        let host = format!("{scheme}://127.0.0.1:{port}");
        let before = proxied.load(std::sync::atomic::Ordering::SeqCst);
        let out = tokio::task::spawn_blocking({
            let path = dir.path().to_owned();
            move || util::run(util::ops_gen(&path).env("DOCKER_HOST", &host).args(["compose", "status"]))
        })
        .await
        .unwrap();
        assert!(!out.all().contains("not supported") && !out.all().contains("cannot reach"), "{scheme}: {}", out.all());
        assert!(out.stdout.contains("prometheus"), "{scheme}: the profile's services are listed: {}", out.all());
        assert!(
            proxied.load(std::sync::atomic::Ordering::SeqCst) > before,
            "{scheme}: the engine was reached through the proxy"
        );
    }
}

/// A profile service that cannot start fails `compose up` soon, naming the
/// service with its last log lines, instead of waiting for the timeout; a
/// restarting service is red in `compose status`.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_cannot_start_fails_up_at_once_with_its_last_lines() {
    let host = docker_host();
    let project = util::unique("opsgen").to_lowercase();
    let config = format!(
        "stack:\n  project: {project}\n\
         profile:\n  services: [node-exporter]\n  disk_budget: 1GiB\n\
         \x20 images:\n    node-exporter: ops-gen-test/exits:1\n\
         \x20 ports: {{node-exporter: {}}}\n",
        free_port()
    );
    let dir = util::config_dir(&config);
    let path = dir.path();
    let started = std::time::Instant::now();
    let r = compose_cmd(path, &host, &["up", "--timeout", "170"]);
    r.expect_code(3);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "up waited for the timeout: {:?}",
        started.elapsed()
    );
    assert!(r.stderr.contains("node-exporter"), "{}", r.stderr);
    assert!(r.stderr.contains("last lines of node-exporter"), "{}", r.stderr);
    assert!(r.stderr.contains("this image always fails to start"), "{}", r.stderr);
    let status = compose_cmd(path, &host, &["status"]);
    assert!(
        status.stdout.lines().any(|l| l.starts_with("red") && l.contains("node-exporter")),
        "a service that restarts or stopped is red: {}",
        status.stdout
    );
    compose_cmd(path, &host, &["down"]).expect_code(0);
}
