//! `ops-gen doctor` against the real services: PostgreSQL and Redis
//! targets, the private Docker engine, docker-compose 1.29, `pg_dump` 15,
//! a port held by a real listener, a read-only backup folder. Every exit
//! code: 0 all green, 1 on any failure (each failure alone), 2 bad config.

use std::path::Path;

use crate::util::{self, PLANTED, Run, docker_host, free_port, ops_gen, postgres_url, redis_url, run};

/// A config with a PostgreSQL and a Redis target (their URLs read from
/// `DOCTOR_DB` and `DOCTOR_REDIS`), backups in `backups/`, and a profile
/// of the exporter and Prometheus on the given ports.
fn config(exporter: u16, prometheus: u16) -> String {
    format!(
        "stack:\n  project: {}\n\
         targets:\n  db:\n    kind: postgres\n    url: ${{DOCTOR_DB}}\n  cache:\n    kind: redis\n    url: ${{DOCTOR_REDIS}}\n\
         backup:\n  dir: backups\n\
         profile:\n  services: [ops-gen, prometheus]\n  disk_budget: 1GiB\n\
         \x20 ports: {{ops-gen: {exporter}, prometheus: {prometheus}}}\n",
        util::unique("doctor").to_lowercase()
    )
}

fn doctor(dir: &Path, db_url: &str, docker: &str, args: &[&str]) -> Run {
    run(ops_gen(dir)
        .env("DOCKER_HOST", docker)
        .env("DOCTOR_DB", db_url)
        .env("DOCTOR_REDIS", redis_url())
        .arg("doctor")
        .args(args))
}

/// The lines that start with `mark`.
fn lines<'a>(out: &'a str, mark: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(mark)).collect()
}

#[test]
fn all_green_against_real_services() {
    let dir = util::config_dir(&config(free_port(), free_port()));
    let r = doctor(dir.path(), &postgres_url(), &docker_host(), &[]);
    r.expect_code(0);
    assert!(lines(&r.stdout, "✗").is_empty() && lines(&r.stdout, "!").is_empty(), "{}", r.stdout);
    for expected in [
        "✓ Docker engine: 20.",
        "✓ Compose CLI: docker-compose 1.",
        "for ops-gen: free",
        "for prometheus: free",
        "✓ disk for the 1.0 GiB budget",
        "✓ memory for the profile's",
        "✓ clock: within",
        "✓ config: ops-gen.yml is valid: 2 target(s)",
        "✓ target db (postgres): reachable in",
        "PostgreSQL 15",
        "✓ target cache (redis): reachable in",
        "✓ backup folder backups: not there yet",
        "✓ pg_dump for db: pg_dump 15",
        "doctor: all 12 checks passed",
    ] {
        assert!(r.stdout.contains(expected), "missing {expected:?} in\n{}", r.stdout);
    }
    // The backup folder was probed, not created, and nothing was left.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["ops-gen.yml"], "doctor leaves nothing behind");

    let r = doctor(dir.path(), &postgres_url(), &docker_host(), &["--json"]);
    r.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["success"], true);
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 12);
    for c in checks {
        assert!(c["check"].is_string() && c["detail"].is_string(), "{c}");
        assert_eq!(c["status"], "ok", "{c}");
        assert!(c.get("fix").is_none(), "no fix when ok: {c}");
    }
}

#[test]
fn a_taken_port_names_its_holder() {
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    let dir = util::config_dir(&config(free_port(), port));
    let r = doctor(dir.path(), &postgres_url(), &docker_host(), &[]);
    r.expect_code(1);
    let failed = lines(&r.stdout, "✗");
    assert_eq!(failed.len(), 1, "only the port fails:\n{}", r.stdout);
    let line = failed[0];
    assert!(line.starts_with(&format!("✗ port {port} for prometheus: taken by pid {}", std::process::id())), "{line}");
    assert!(line.contains("fix: stop that process, or move Prometheus with `profile.ports.prometheus"), "{line}");
    assert!(r.stdout.ends_with("doctor: 1 of 12 checks failed\n"), "{}", r.stdout);
    drop(squatter);
}

#[test]
fn wrong_credentials_fail_the_target_without_showing_them() {
    let mut wrong = url::Url::parse(&postgres_url()).unwrap();
    wrong.set_password(Some(PLANTED)).unwrap();
    let dir = util::config_dir(&config(free_port(), free_port()));
    let r = doctor(dir.path(), wrong.as_str(), &docker_host(), &[]);
    r.expect_code(1);
    let target = lines(&r.stdout, "✗ target db (postgres)");
    assert_eq!(target.len(), 1, "{}", r.stdout);
    assert!(target[0].contains("auth: ") && target[0].contains("password authentication failed"), "{}", target[0]);
    assert!(target[0].contains("fix: check the user and password in `targets.db`"), "{}", target[0]);
    // pg_dump's check needs the server too, and says so.
    assert!(r.stdout.contains("✗ pg_dump for db: cannot connect"), "{}", r.stdout);
    assert!(r.stdout.contains("✓ target cache (redis)"), "the other target is still checked:\n{}", r.stdout);
    assert!(!r.all().contains(PLANTED), "the password leaked:\n{}", r.all());
}

#[test]
fn an_unwritable_backup_folder_fails() {
    let dir = util::config_dir(&config(free_port(), free_port()));
    let backups = dir.path().join("backups");
    let _disk = util::Tmpfs::mount(&backups, "ro,size=1m");
    let r = doctor(dir.path(), &postgres_url(), &docker_host(), &[]);
    r.expect_code(1);
    let failed = lines(&r.stdout, "✗");
    assert_eq!(failed.len(), 1, "only the folder fails:\n{}", r.stdout);
    assert!(failed[0].starts_with("✗ backup folder backups: cannot write in backups"), "{}", failed[0]);
    assert!(failed[0].contains("Read-only file system"), "says why: {}", failed[0]);
    assert!(failed[0].contains("fix: make it writable"), "{}", failed[0]);
}

#[test]
fn no_docker_engine_is_a_clear_failure() {
    let dir = util::config_dir(&config(free_port(), free_port()));
    let r = doctor(dir.path(), &postgres_url(), "unix:///nonexistent/docker.sock", &[]);
    r.expect_code(1);
    let failed = lines(&r.stdout, "✗");
    assert_eq!(failed.len(), 1, "{}", r.stdout);
    assert!(
        failed[0].starts_with("✗ Docker engine: cannot reach the Docker engine at unix:///nonexistent/docker.sock"),
        "{}",
        failed[0]
    );
    assert!(failed[0].contains("is dockerd running? set DOCKER_HOST"), "{}", failed[0]);
    // The clock has no reference without the engine: a warning, not a failure.
    assert!(r.stdout.contains("! clock: not compared"), "{}", r.stdout);
    // Everything else is still checked.
    assert!(r.stdout.contains("✓ target db (postgres)") && r.stdout.contains("✓ Compose CLI"), "{}", r.stdout);
}

#[test]
fn a_bad_config_exits_2() {
    let dir = util::config_dir("targets:\n  db:\n    kind: postgres\n    urll: postgres://u@localhost/db\n");
    let r = doctor(dir.path(), &postgres_url(), "unix:///not-asked.sock", &[]);
    r.expect_code(2);
    assert!(r.stdout.is_empty(), "nothing checked: {}", r.stdout);
    assert!(r.stderr.starts_with("error: invalid config ops-gen.yml at `targets.db.urll`"), "{}", r.stderr);
}
