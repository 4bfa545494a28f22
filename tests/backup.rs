//! `ops-gen backup` against real PostgreSQL and Redis: sets that are whole,
//! verifiable and never replace the last good one when something goes wrong.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ops_gen::backup::container::{PgContainer, RedisContainer};
use ops_gen::backup::postgres::FirstValue;
use ops_gen::config::backup::{Engine, EngineKind};

use crate::util::{self, PLANTED, Run, TestExporter, ops_gen, run, servers};

/// A stack with a fresh database holding a table of ours, a Redis key of
/// ours, and a temporary backup folder.
struct Stack {
    dir: tempfile::TempDir,
    db_url: String,
    table: String,
}

impl Stack {
    async fn new() -> Self {
        let (db_url, _) = util::postgres_database().await;
        let (client, conn) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let table = util::unique("orders");
        client
            .batch_execute(&format!("CREATE TABLE {table} (id int primary key, note text); INSERT INTO {table} SELECT g, md5(g::text) FROM generate_series(1, 5000) g"))
            .await
            .unwrap();
        let mut redis = util::redis_conn().await;
        let _: () =
            redis::cmd("SET").arg(util::unique("opsgen_backup_key")).arg("v").query_async(&mut redis).await.unwrap();
        Self { dir: tempfile::tempdir().unwrap(), db_url, table }
    }

    fn config(&self, redis_url: &str, extra: &str) -> String {
        format!(
            "targets:\n  db:\n    kind: postgres\n    url: {}\n  cache:\n    kind: redis\n    url: {redis_url}\nbackup:\n  dir: {}\n{extra}",
            self.db_url,
            self.backups().display()
        )
    }

    fn backups(&self) -> PathBuf {
        self.dir.path().join("backups")
    }

    fn write_config(&self, text: &str) {
        std::fs::write(self.dir.path().join("ops-gen.yml"), text).unwrap();
    }

    fn ops_gen(&self, args: &[&str]) -> Run {
        run(ops_gen(self.dir.path()).args(args))
    }

    fn sets(&self) -> Vec<PathBuf> {
        ops_gen::backup::sets(&self.backups()).unwrap()
    }
}

fn manifest(set: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_verify_list_and_metrics_on_real_services() {
    let stack = Stack::new().await;
    stack.write_config(&stack.config(&util::redis_url(), ""));
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    let sets = stack.sets();
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    let m = manifest(set);
    assert_eq!(m["targets"].as_array().unwrap().iter().filter(|t| t["success"] == true).count(), 2, "{m:#}");
    let dump = set.join("postgres/db").join(format!("{}.dump", stack.db_url.rsplit('/').next().unwrap()));
    assert!(dump.is_file());
    // The dump really holds our table, and sha256sum agrees with the manifest.
    let list = std::process::Command::new("pg_restore").arg("--list").arg(&dump).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains(&stack.table));
    let sums =
        std::process::Command::new("sha256sum").args(["-c", "manifest.sha256"]).current_dir(set).output().unwrap();
    assert!(sums.status.success(), "{}", String::from_utf8_lossy(&sums.stdout));
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stack.backups().join("latest.json")).unwrap()).unwrap();
    assert_eq!(latest["set"], set.file_name().unwrap().to_str().unwrap());

    let out = stack.ops_gen(&["backup", "verify", "--freshness"]);
    out.expect_code(0);
    // Two dumps' worth: the database, the roles (globals.sql), the RDB and its metadata.
    assert!(out.stdout.contains("4 file(s) checked"), "{}", out.stdout);
    let out = stack.ops_gen(&["--json", "backup", "list"]);
    let list: serde_json::Value = serde_json::from_str(&out.expect_code(0).stdout).unwrap();
    assert_eq!(list[0]["verified"], "yes");

    let exporter = TestExporter::start(&stack.config(&util::redis_url(), "")).await;
    let scrape = exporter.scrape().await;
    for target in ["db", "cache"] {
        assert_eq!(
            scrape.value(&format!("opsgen_backup_verified{{target=\"{target}\"}}")),
            Some(1.0),
            "{}",
            scrape.body
        );
        assert_eq!(scrape.value(&format!("opsgen_backup_sets{{target=\"{target}\"}}")), Some(1.0));
        assert!(
            scrape.value(&format!("opsgen_backup_last_success_timestamp_seconds{{target=\"{target}\"}}")).unwrap()
                > 1e9
        );
        assert!(scrape.value(&format!("opsgen_backup_size_bytes{{target=\"{target}\"}}")).unwrap() > 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_first_backup_the_series_say_never() {
    let stack = Stack::new().await;
    let exporter = TestExporter::start(&stack.config(&util::redis_url(), "")).await;
    let scrape = exporter.scrape().await;
    assert_eq!(scrape.value(r#"opsgen_backup_last_success_timestamp_seconds{target="db"}"#), Some(0.0));
    assert_eq!(scrape.value(r#"opsgen_backup_max_age_seconds{target="db"}"#), Some(93600.0));
    assert_eq!(scrape.value(r#"opsgen_backup_sets{target="cache"}"#), Some(0.0));
    stack.write_config(&stack.config(&util::redis_url(), ""));
    let out = stack.ops_gen(&["backup", "verify", "--freshness"]);
    out.expect_code(1);
    assert!(out.all().contains("no backup set"), "{}", out.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_and_truncation_are_named_by_verify() {
    let stack = Stack::new().await;
    stack.write_config(&stack.config(&util::redis_url(), ""));
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    let set = stack.sets().pop().unwrap();
    let dump = std::fs::read_dir(set.join("postgres/db")).unwrap().next().unwrap().unwrap().path();
    let original = std::fs::read(&dump).unwrap();
    let mut flipped = original.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    std::fs::write(&dump, &flipped).unwrap();
    let out = stack.ops_gen(&["backup", "verify"]);
    out.expect_code(1);
    assert!(out.stdout.contains("postgres/db/") && out.stdout.contains("sha256 differs"), "{}", out.stdout);
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(set.join("verify.json")).unwrap()).unwrap();
    assert_eq!(record["ok"], false);
    std::fs::write(&dump, &original).unwrap();
    stack.ops_gen(&["backup", "verify"]).expect_code(0);

    let rdb = set.join("redis/cache.rdb");
    let bytes = std::fs::read(&rdb).unwrap();
    std::fs::write(&rdb, &bytes[..bytes.len() / 2]).unwrap();
    let out = stack.ops_gen(&["backup", "verify"]);
    out.expect_code(1);
    assert!(
        out.stdout.contains("redis/cache.rdb") && out.stdout.contains("bytes, the manifest says"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_is_recorded_and_the_others_still_back_up() {
    let stack = Stack::new().await;
    let refused = servers::refused().await;
    stack.write_config(&stack.config(&format!("redis://{refused}"), ""));
    let out = stack.ops_gen(&["backup", "run"]);
    out.expect_code(1);
    assert!(out.stdout.contains("FAIL  cache") && out.stdout.contains("ok    db"), "{}", out.stdout);
    let m = manifest(&stack.sets()[0]);
    let cache = m["targets"].as_array().unwrap().iter().find(|t| t["target"] == "cache").unwrap();
    assert_eq!(cache["success"], false);
    assert!(cache["error"].as_str().unwrap().contains("cannot connect"), "{cache}");
    let out = stack.ops_gen(&["backup", "verify"]);
    out.expect_code(1);
    assert!(out.stdout.contains("cache: failed in this set"), "{}", out.stdout);
}

/// A `backup run` whose Redis at `hung` accepts and never answers, once it
/// is writing its temporary set.
async fn hung_run(stack: &Stack, hung: &str) -> std::process::Child {
    stack.write_config(&stack.config(&format!("redis://{hung}"), ""));
    let child =
        ops_gen(stack.dir.path()).args(["backup", "run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    util::eventually("the run's temporary folder", Duration::from_secs(10), async || {
        std::fs::read_dir(stack.backups())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().starts_with(".tmp-"))
    })
    .await;
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_never_replaces_the_last_good_set() {
    let stack = Stack::new().await;
    stack.write_config(&stack.config(&util::redis_url(), ""));
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    let good = stack.sets();

    // Redis that accepts and never answers keeps the second run busy.
    let hung = servers::hung().await;
    let mut child = hung_run(&stack, &hung.addr.to_string()).await;
    child.kill().unwrap(); // SIGKILL: no cleanup of its own
    child.wait().unwrap();

    assert_eq!(stack.sets(), good, "no partial set is counted");
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stack.backups().join("latest.json")).unwrap()).unwrap();
    assert_eq!(latest["set"], good[0].file_name().unwrap().to_str().unwrap());
    stack.ops_gen(&["backup", "verify"]).expect_code(0);

    // The next run cleans up what the killed one left.
    stack.write_config(&stack.config(&util::redis_url(), ""));
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    let leftovers = std::fs::read_dir(stack.backups())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".tmp-"))
        .count();
    assert_eq!(leftovers, 0);
    assert_eq!(stack.sets().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_newest_and_the_newest_verified_set() {
    let stack = Stack::new().await;
    stack.write_config(&stack.config(&util::redis_url(), "  retention:\n    keep_last: 1\n"));
    stack.ops_gen(&["backup", "run", "--only", "postgres"]).expect_code(0);
    stack.ops_gen(&["backup", "verify"]).expect_code(0);
    let verified = stack.sets()[0].clone();
    for _ in 0..2 {
        // Set names have one-second resolution.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        stack.ops_gen(&["backup", "run", "--only", "postgres"]).expect_code(0);
    }
    let sets = stack.sets();
    assert_eq!(sets.len(), 2, "keep_last 1 keeps the newest, and the newest verified: {sets:?}");
    assert_eq!(sets[0], verified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_clear_errors_and_deletes_nothing() {
    let stack = Stack::new().await;
    // The backup folder is a file.
    std::fs::write(stack.backups(), b"not a folder").unwrap();
    stack.write_config(&stack.config(&util::redis_url(), ""));
    let out = stack.ops_gen(&["backup", "run"]);
    out.expect_code(3);
    assert!(out.stderr.contains("cannot use the backup folder"), "{}", out.stderr);
    std::fs::remove_file(stack.backups()).unwrap();

    // No pg_dump on PATH: the target fails with the fix, Redis still backs up.
    let tools = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(util::require_tool("redis-cli", "redis-tools"), tools.path().join("redis-cli")).unwrap();
    let out = run(ops_gen(stack.dir.path()).env("PATH", tools.path()).args(["backup", "run"]));
    out.expect_code(1);
    assert!(
        out.stdout.contains("cannot run `pg_dump`") && out.stdout.contains("apt-get install postgresql-client"),
        "{}",
        out.stdout
    );

    // A manifest that is not JSON; a folder that is not a set.
    let set = stack.sets().pop().unwrap();
    std::fs::write(set.join("manifest.json"), b"{ not json").unwrap();
    let name = set.file_name().unwrap().to_str().unwrap().to_owned();
    let out = stack.ops_gen(&["backup", "verify", &name]);
    assert_eq!(out.code, 3, "{}", out.all());
    assert!(out.stderr.contains("is not a valid manifest"), "{}", out.stderr);
    let out = stack.ops_gen(&["backup", "verify", "/tmp"]);
    out.expect_code(2);
    assert!(out.stderr.contains("/tmp is not a backup set"), "{}", out.stderr);
    assert!(set.is_dir(), "nothing deleted");

    // Targets in `backup` must exist.
    stack.write_config(&stack.config(&util::redis_url(), "  targets:\n    dbb: {}\n"));
    let out = stack.ops_gen(&["backup", "run"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("backup.targets.dbb") && out.stderr.contains("no target named `dbb`"),
        "{}",
        out.stderr
    );
}

fn drill_config(stack: &Stack, min_rows: u64) -> String {
    stack.config(
        &util::redis_url(),
        &format!(
            "  targets:\n    db:\n      drill:\n        tables: [{t}]\n        queries:\n          - sql: SELECT count(*) FROM {t}\n            min: {min_rows}\n          - sql: SELECT note FROM {t} WHERE id = 1\n            equals: c4ca4238a0b923820dcc509a6f75849b\n    cache:\n      drill:\n        min_keys: 1\n",
            t = stack.table
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_restores_into_throwaway_instances_and_checks_the_data() {
    let stack = Stack::new().await;
    stack.write_config(&drill_config(&stack, 5000));
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    // A TMPDIR of our own, open to the postgres user the cluster runs as.
    let scratch = stack.dir.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    for (dir, mode) in [(stack.dir.path(), 0o755), (scratch.as_path(), 0o1777)] {
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    let out = run(ops_gen(stack.dir.path()).env("TMPDIR", &scratch).args(["backup", "drill"]));
    out.expect_code(0);
    assert!(
        out.stdout.contains(&format!("ok   query SELECT count(*) FROM {}: returned \"5000\"", stack.table)),
        "{}",
        out.stdout
    );
    let set = stack.sets().pop().unwrap();
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(set.join("restore-drill-summary.json")).unwrap()).unwrap();
    assert_eq!(summary["success"], true);
    assert!(summary["targets"].as_array().unwrap().iter().all(|t| t["restore_seconds"].as_f64().unwrap() > 0.0));
    let leftovers = std::fs::read_dir(&scratch).unwrap().count();
    assert_eq!(leftovers, 0, "the throwaway instances are gone");

    let exporter = TestExporter::start(&drill_config(&stack, 5000)).await;
    let scrape = exporter.scrape().await;
    for target in ["db", "cache"] {
        assert_eq!(
            scrape.value(&format!("opsgen_restore_drill_success{{target=\"{target}\"}}")),
            Some(1.0),
            "{}",
            scrape.body
        );
        assert!(scrape.value(&format!("opsgen_restore_drill_duration_seconds{{target=\"{target}\"}}")).unwrap() > 0.0);
        assert!(
            scrape
                .value(&format!("opsgen_restore_drill_last_success_timestamp_seconds{{target=\"{target}\"}}"))
                .unwrap()
                > 1e9
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sanity_query_fails_the_drill_and_is_named() {
    let stack = Stack::new().await;
    stack.write_config(&drill_config(&stack, 1_000_000));
    stack.ops_gen(&["backup", "run", "--only", "postgres"]).expect_code(0);
    let out = stack.ops_gen(&["backup", "drill"]);
    out.expect_code(1);
    assert!(
        out.stdout.contains(&format!(
            "FAIL query SELECT count(*) FROM {}: returned \"5000\", expected at least 1000000",
            stack.table
        )),
        "{}",
        out.stdout
    );
    let exporter = TestExporter::start(&drill_config(&stack, 1_000_000)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(scrape.value(r#"opsgen_restore_drill_success{target="db"}"#), Some(0.0));
    assert_eq!(scrape.value(r#"opsgen_restore_drill_last_success_timestamp_seconds{target="db"}"#), Some(0.0));

    // A damaged set is not drilled; a folder that is not a set is a usage error.
    let set = stack.sets().pop().unwrap();
    let dump = std::fs::read_dir(set.join("postgres/db")).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&dump, b"garbage").unwrap();
    let out = stack.ops_gen(&["backup", "drill"]);
    out.expect_code(1);
    assert!(out.stderr.contains("does not match its manifest"), "{}", out.stderr);
    stack.ops_gen(&["backup", "drill", "--from", "/tmp"]).expect_code(2);
}

/// A Redis of this test's own (a restore flushes its target), with a password.
struct PrivateRedis {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn private_redis() -> PrivateRedis {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(util::require_tool("redis-server", "redis-server"))
        .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--requirepass", "restore-pw", "--save", ""])
        .args(["--appendonly", "no", "--repl-diskless-sync-delay", "0"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("redis://default:restore-pw@127.0.0.1:{port}/0");
    let client = redis::Client::open(url.as_str()).unwrap();
    util::eventually("the private redis-server", Duration::from_secs(5), async || {
        client.get_multiplexed_async_connection().await.is_ok()
    })
    .await;
    PrivateRedis { child, url, _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_confirms_backs_up_first_and_puts_the_data_back() {
    let stack = Stack::new().await;
    let redis = private_redis().await;
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut r = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET").arg("kept").arg("v1").arg("EX").arg(1000).query_async(&mut r).await.unwrap();
    let _: () = redis::cmd("SELECT").arg(3).query_async(&mut r).await.unwrap();
    let _: () = redis::cmd("SET").arg("in-db3").arg("v3").query_async(&mut r).await.unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query_async(&mut r).await.unwrap();
    stack.write_config(&stack.config(&redis.url, ""));
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    let good = stack.sets().pop().unwrap();

    // Damage the live data after the backup.
    let (db, conn) = tokio_postgres::connect(&stack.db_url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    db.batch_execute(&format!("DELETE FROM {} WHERE id <= 100", stack.table)).await.unwrap();
    let _: () = redis::cmd("DEL").arg("kept").query_async(&mut r).await.unwrap();
    let _: () = redis::cmd("SET").arg("stray").arg("x").query_async(&mut r).await.unwrap();
    let count =
        async || db.query_one(&format!("SELECT count(*) FROM {}", stack.table), &[]).await.unwrap().get::<_, i64>(0);

    // No terminal and no --yes: refused, nothing changed.
    let good_arg = good.display().to_string();
    let out = stack.ops_gen(&["backup", "restore", "--from", &good_arg]);
    out.expect_code(2);
    assert!(out.stderr.contains("refusing to restore without confirmation"), "{}", out.stderr);
    assert_eq!(count().await, 4900);

    let out = stack.ops_gen(&["backup", "restore", "--from", &good_arg, "--yes"]);
    out.expect_code(0);
    assert!(out.stdout.contains("database(s)") && out.stdout.contains("2 key(s) restored"), "{}", out.stdout);
    assert_eq!(count().await, 5000, "the rows are back");
    let kept: Option<String> = redis::cmd("GET").arg("kept").query_async(&mut r).await.unwrap();
    assert_eq!(kept.as_deref(), Some("v1"));
    let ttl: i64 = redis::cmd("TTL").arg("kept").query_async(&mut r).await.unwrap();
    assert!(ttl > 0 && ttl <= 1000, "TTL kept: {ttl}");
    let stray: bool = redis::cmd("EXISTS").arg("stray").query_async(&mut r).await.unwrap();
    assert!(!stray, "the target now equals the backup");
    let _: () = redis::cmd("SELECT").arg(3).query_async(&mut r).await.unwrap();
    let in_db3: Option<String> = redis::cmd("GET").arg("in-db3").query_async(&mut r).await.unwrap();
    assert_eq!(in_db3.as_deref(), Some("v3"));

    // The state before the restore was backed up first: it has the 4,900 rows.
    let sets = stack.sets();
    assert_eq!(sets.len(), 2);
    let safety = sets.iter().find(|s| **s != good).unwrap();
    assert!(manifest(safety)["targets"].as_array().unwrap().iter().all(|t| t["success"] == true));

    // A damaged set is refused before anything is touched.
    let dump = std::fs::read_dir(good.join("postgres/db")).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&dump, b"garbage").unwrap();
    db.batch_execute(&format!("DELETE FROM {} WHERE id <= 10", stack.table)).await.unwrap();
    let out = stack.ops_gen(&["backup", "restore", "--from", &good_arg, "--yes"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("does not match its manifest") && out.stderr.contains("nothing was restored"),
        "{}",
        out.stderr
    );
    assert_eq!(count().await, 4990);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_clearly_and_loses_nothing() {
    let stack = Stack::new().await;
    let disk = util::Tmpfs::mount(&stack.backups(), "size=2m");
    stack.write_config(&stack.config(&util::redis_url(), ""));
    stack.ops_gen(&["backup", "run", "--only", "postgres"]).expect_code(0);
    let good = stack.sets();

    // Fill the disk but for a few KiB, then back up again.
    let free = nix_free_bytes(&disk.0);
    std::fs::write(disk.0.join("filler"), vec![0u8; usize::try_from(free.saturating_sub(16 * 1024)).unwrap()]).unwrap();
    let out = stack.ops_gen(&["backup", "run", "--only", "postgres"]);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(out.all().contains("No space left on device"), "says why:\n{}", out.all());
    assert_eq!(stack.sets(), good, "the previous set stays the newest");
    let leftovers: Vec<_> = std::fs::read_dir(&disk.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "the partial set is removed at once: {leftovers:?}");
    std::fs::remove_file(disk.0.join("filler")).unwrap();
    stack.ops_gen(&["backup", "verify"]).expect_code(0);
}

/// Free bytes of the filesystem holding `path` (from `df`).
fn nix_free_bytes(path: &Path) -> u64 {
    let out = std::process::Command::new("df").args(["--output=avail", "-B1"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

/// A redis-cli that knows its version but fails every dump.
fn failing_redis_cli() -> (tempfile::TempDir, String) {
    let tools = tempfile::tempdir().unwrap();
    let fake = tools.path().join("redis-cli");
    std::fs::write(&fake, "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'redis-cli 7.0.15'; exit 0; }\necho 'boom: replication refused' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", tools.path().display(), std::env::var("PATH").unwrap());
    (tools, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_where_every_target_failed_writes_no_set_and_freshness_stays_red() {
    let stack = Stack::new().await;
    stack.write_config(&stack.config(&util::redis_url(), ""));
    let (_tools, path) = failing_redis_cli();
    let out = run(ops_gen(stack.dir.path()).env("PATH", &path).args(["backup", "run", "--only", "redis"]));
    out.expect_code(1);
    assert!(out.stdout.contains("boom: replication refused") && !out.stdout.contains(".tmp-"), "{}", out.stdout);
    assert!(out.stdout.contains("no backup set: every target failed"), "{}", out.stdout);
    assert!(stack.sets().is_empty(), "an empty set is no backup: {:?}", stack.sets());
    let failed: Vec<_> = std::fs::read_dir(stack.backups().join("failed")).unwrap().collect();
    assert_eq!(failed.len(), 1, "the failure is recorded");
    // Freshness, the default check and the metrics all say: no backup.
    stack.ops_gen(&["backup", "verify", "--freshness"]).expect_code(1);
    let exporter = TestExporter::start(&stack.config(&util::redis_url(), "")).await;
    let scrape = exporter.scrape().await;
    assert_eq!(scrape.value(r#"opsgen_backup_last_success_timestamp_seconds{target="cache"}"#), Some(0.0));
    assert!(scrape.value(r#"opsgen_backup_last_failure_timestamp_seconds{target="cache"}"#).unwrap() > 1e9);
    let defaults = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(defaults.path().join("output")).unwrap();
    std::os::unix::fs::symlink(stack.backups(), defaults.path().join("output/backups")).unwrap();
    let out = run(ops_gen(defaults.path()).arg("probe"));
    out.expect_code(1);
    assert!(out.stdout.contains("missing: no file matches"), "{}", out.stdout);

    // Partly failed: a set marked partial, without the failed target's
    // files, and not counted by the default freshness check.
    let out = run(ops_gen(stack.dir.path()).env("PATH", &path).args(["backup", "run"]));
    out.expect_code(1);
    let set = stack.sets().pop().unwrap();
    let m = manifest(&set);
    assert_eq!(m["status"], "partial", "{m:#}");
    assert!(!set.join("redis").exists() || std::fs::read_dir(set.join("redis")).unwrap().next().is_none());
    assert!(!set.join("complete.json").exists());
    run(ops_gen(defaults.path()).arg("probe")).expect_code(1);
    stack.ops_gen(&["backup", "verify", "--freshness"]).expect_code(1);
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    assert!(stack.sets().pop().unwrap().join("complete.json").is_file());
    let out = run(ops_gen(defaults.path()).arg("probe"));
    assert!(out.stdout.contains("backups") && !out.stdout.contains("missing: no file"), "{}", out.stdout);
}

/// `backup.drill.engine: docker` with the local stand-ins of the official
/// images (scripts/docker.sh builds them from Debian's packages), and
/// `backup.drill.env` entries (`NAME: value`).
fn docker_drill_config(stack: &Stack, postgres_image: &str, env: &[(&str, &str)]) -> String {
    use std::fmt::Write as _;
    let mut config = drill_config(stack, 5000);
    let _ = write!(
        config,
        "  drill:\n    engine: docker\n    postgres_image: {postgres_image}\n    redis_image: ops-gen-test/redis:{{major}}\n"
    );
    if !env.is_empty() {
        config.push_str("    env:\n");
        for (name, value) in env {
            let _ = writeln!(config, "      {name}: {value:?}");
        }
    }
    config
}

/// Drill containers (running or not) whose environment holds `marker`,
/// and any drill network: what a drill left behind. Other tests' drills
/// run in parallel on the same engine, so containers are told apart by
/// the marker each test passes in `backup.drill.env`.
fn drill_leftovers(host: &str, marker: &str) -> String {
    let mut left = String::new();
    for id in util::docker(host, &["ps", "-aq", "--filter", "label=dev.ops-gen.drill"]).split_whitespace() {
        // Gone between the list and the inspect: not left behind.
        let env = std::process::Command::new("docker")
            .env("DOCKER_HOST", host)
            .args(["inspect", "--format", "{{json .Config.Env}}", id])
            .output()
            .unwrap();
        if env.status.success() && String::from_utf8_lossy(&env.stdout).contains(marker) {
            left.push_str(id);
        }
    }
    left + &util::docker(host, &["network", "ls", "-q", "--filter", "label=dev.ops-gen.drill"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_with_engine_docker_restores_into_containers() {
    let host = util::docker_host();
    let stack = Stack::new().await;
    let marker = util::unique("drill_run");
    let env = [("OPS_GEN_TEST_RUN", marker.as_str())];
    stack.write_config(&docker_drill_config(&stack, "ops-gen-test/postgres:{major}", &env));
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    let out = run(ops_gen(stack.dir.path()).env("DOCKER_HOST", &host).args(["backup", "drill"]));
    out.expect_code(0);
    assert!(out.stdout.contains(&format!("ok   table {}: exists", stack.table)), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("ok   query SELECT count(*) FROM {}: returned \"5000\"", stack.table)),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("ok   query SELECT note FROM {} WHERE id = 1: returned \"c4ca", stack.table)),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("ok   at least 1 keys"), "{}", out.stdout);
    assert_eq!(drill_leftovers(&host, &marker), "", "the drill's containers are gone");

    // An image the engine lacks and cannot pull (no registry here): the
    // drill fails, naming the image, and leaves nothing behind.
    stack.write_config(&docker_drill_config(&stack, "ops-gen-test/no-such-postgres:{major}", &env));
    let out = run(ops_gen(stack.dir.path()).env("DOCKER_HOST", &host).args(["backup", "drill"]));
    out.expect_code(1);
    assert!(out.stdout.contains("image ops-gen-test/no-such-postgres:15"), "{}", out.stdout);
    assert!(out.stdout.contains("ok    cache"), "the Redis drill still ran:\n{}", out.stdout);
    assert_eq!(drill_leftovers(&host, &marker), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_container_that_exits_is_reported_at_once_with_its_log() {
    let host = util::docker_host();
    let stack = Stack::new().await;
    let marker = util::unique("drill_exit");
    let env = [("OPS_GEN_TEST_RUN", marker.as_str())];
    stack.write_config(&docker_drill_config(&stack, "ops-gen-test/exits:1", &env));
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    // An image whose entrypoint prints why and exits with code 3.
    let begun = std::time::Instant::now();
    let out = run(ops_gen(stack.dir.path()).env("DOCKER_HOST", &host).args(["backup", "drill"]));
    out.expect_code(1);
    assert!(begun.elapsed() < Duration::from_secs(30), "took {:?}:\n{}", begun.elapsed(), out.stdout);
    assert!(
        out.stdout.contains(
            "FAIL  db: the drill container of ops-gen-test/exits:1 exited with code 3: ops-gen-test/exits: this image always fails to start"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("ok    cache"), "the Redis drill still ran:\n{}", out.stdout);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stack.sets().pop().unwrap().join("restore-drill-summary.json")).unwrap())
            .unwrap();
    let db = summary["targets"].as_array().unwrap().iter().find(|t| t["target"] == "db").unwrap();
    assert!(db["error"].as_str().unwrap().contains("exited with code 3"), "{summary:#}");
    assert_eq!(drill_leftovers(&host, &marker), "");

    // `backup.drill.env` reaches the container: the official image (and its
    // stand-in) hands POSTGRES_INITDB_ARGS to initdb, which rejects this one.
    let env = [("OPS_GEN_TEST_RUN", marker.as_str()), ("POSTGRES_INITDB_ARGS", "--no-such-initdb-option")];
    stack.write_config(&docker_drill_config(&stack, "ops-gen-test/postgres:{major}", &env));
    let begun = std::time::Instant::now();
    let out = run(ops_gen(stack.dir.path()).env("DOCKER_HOST", &host).args(["backup", "drill"]));
    out.expect_code(1);
    assert!(begun.elapsed() < Duration::from_secs(30), "took {:?}:\n{}", begun.elapsed(), out.stdout);
    assert!(
        out.stdout.contains("FAIL  db: the drill container of ops-gen-test/postgres:15 exited with code 1: ")
            && out.stdout.contains("unrecognized option '--no-such-initdb-option'"),
        "{}",
        out.stdout
    );
    assert_eq!(drill_leftovers(&host, &marker), "");
}

#[test]
fn drill_env_is_checked_at_load_and_config_check_masks_its_secrets() {
    let config =
        |env: &str| format!("backup:\n  dir: /tmp/ops-gen-unused\n  drill:\n    engine: docker\n    env:\n{env}");
    let dir = util::config_dir(&config(&format!(
        "      POSTGRES_INITDB_ARGS: --data-checksums\n      DRILL_API_TOKEN: {PLANTED}\n      LICENCE: ${{DRILL_LICENCE_SECRET}}\n      DSN: postgres://app:{PLANTED}@db/app\n"
    )));
    let out = run(ops_gen(dir.path()).env("DRILL_LICENCE_SECRET", "licence-from-env-42").args(["config", "check"]));
    out.expect_code(0);
    assert!(out.stdout.contains("POSTGRES_INITDB_ARGS: --data-checksums"), "{}", out.stdout);
    assert!(out.stdout.contains("DRILL_API_TOKEN: '***'"), "{}", out.stdout);
    assert!(out.stdout.contains("LICENCE: '***'"), "{}", out.stdout);
    assert!(out.stdout.contains("DSN: '***'"), "a DSN is a credential: {}", out.stdout);
    assert!(!out.all().contains(PLANTED) && !out.all().contains("licence-from-env-42"), "{}", out.all());

    let dir = util::config_dir(&config("      9LIVES: x\n"));
    let out = run(ops_gen(dir.path()).args(["config", "check"]));
    out.expect_code(2);
    assert!(
        out.stderr.contains("at `backup.drill.env.9LIVES`: `9LIVES` is not an environment variable name; fix: use letters, digits and `_`"),
        "{}",
        out.stderr
    );
    let dir = util::config_dir(&config("      POSTGRES_PASSWORD: mine\n"));
    let out = run(ops_gen(dir.path()).args(["config", "check"]));
    out.expect_code(2);
    assert!(
        out.stderr.contains("at `backup.drill.env.POSTGRES_PASSWORD`: ops-gen sets `POSTGRES_PASSWORD` itself"),
        "{}",
        out.stderr
    );
}

/// The library finds the engine as the Docker CLI does, through
/// `DOCKER_HOST` of this process: it must name the test engine.
fn library_docker_host() -> String {
    let host = util::docker_host();
    assert_eq!(
        std::env::var("DOCKER_HOST").ok().as_deref(),
        Some(host.as_str()),
        "these tests start drill containers from the library, which reads DOCKER_HOST: run them after `eval \"$(scripts/services.sh env)\"`"
    );
    host
}

fn docker_engine() -> Engine {
    Engine {
        engine: EngineKind::Docker,
        postgres_image: "ops-gen-test/postgres:{major}".to_owned(),
        redis_image: "ops-gen-test/redis:{major}".to_owned(),
        ..Engine::default()
    }
}

/// `docker inspect` of one container.
fn inspect(host: &str, name: &str) -> serde_json::Value {
    let all: serde_json::Value = serde_json::from_str(&util::docker(host, &["inspect", name])).unwrap();
    all[0].clone()
}

/// No network but `none`, no port published or bound.
#[track_caller]
fn assert_exposes_nothing(container: &serde_json::Value) {
    assert_eq!(container["HostConfig"]["NetworkMode"], "none", "{container:#}");
    let bindings = &container["HostConfig"]["PortBindings"];
    assert!(bindings.as_object().is_none_or(serde_json::Map::is_empty), "published: {bindings}");
    let ports = &container["NetworkSettings"]["Ports"];
    assert!(ports.as_object().is_none_or(|p| p.values().all(serde_json::Value::is_null)), "bound: {ports}");
}

/// Command lines of this host's processes (container processes of the
/// local engine among them) that contain `needle`: what `ps` would show.
fn command_lines_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        // A process that ended meanwhile has nothing to show.
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            let line = String::from_utf8_lossy(&raw).replace('\0', " ");
            if line.contains(needle) {
                found.push(line);
            }
        }
    }
    found
}

/// The value of `NAME=` in a container's `Config.Env`.
fn env_of(container: &serde_json::Value, name: &str) -> Option<String> {
    container["Config"]["Env"]
        .as_array()?
        .iter()
        .find_map(|e| e.as_str()?.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_containers_expose_nothing_and_keep_the_password_off_command_lines() {
    let host = library_docker_host();
    let stack = Stack::new().await;
    stack.write_config(&stack.config(&util::redis_url(), ""));
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    let set = stack.sets().pop().unwrap();
    let db = stack.db_url.rsplit('/').next().unwrap().to_owned();
    let engine = docker_engine();

    let pg = PgContainer::start(&engine, "15").await.unwrap();
    let container = inspect(&host, pg.name());
    assert_exposes_nothing(&container);
    assert_eq!(env_of(&container, "POSTGRES_HOST_AUTH_METHOD"), None, "no trust: {container:#}");
    let password = env_of(&container, "POSTGRES_PASSWORD").expect("a password");
    assert!(password.len() == 32 && password.chars().all(|c| c.is_ascii_hexdigit()), "{password}");
    pg.restore(&db, &set.join(format!("postgres/db/{db}.dump"))).await.unwrap();
    let count = format!("SELECT count(*) FROM {}", stack.table);
    assert_eq!(pg.first_value(&db, &count).await.unwrap(), FirstValue::Text("5000".to_owned()));
    // No row, NULL, an empty string and a value over two lines are told apart.
    assert_eq!(pg.first_value(&db, "SELECT 1 WHERE false").await.unwrap(), FirstValue::NoRow);
    assert_eq!(pg.first_value(&db, "SELECT NULL").await.unwrap(), FirstValue::Null);
    assert_eq!(pg.first_value(&db, "SELECT ''").await.unwrap(), FirstValue::Text(String::new()));
    assert_eq!(pg.first_value(&db, "SELECT E'a\\nb', 2").await.unwrap(), FirstValue::Text("a\nb".to_owned()));
    let error = pg.first_value(&db, "SELECT no_such_column").await.unwrap_err();
    assert!(error.contains("column \"no_such_column\" does not exist"), "{error}");
    let error = pg.restore("other", &set.join("manifest.json")).await.unwrap_err();
    assert!(error.starts_with("pg_restore of other failed: "), "{error}");
    assert!(!error.contains(&password), "{error}");
    assert_eq!(command_lines_with(&password), Vec::<String>::new(), "the password is on a command line");
    let name = pg.name().to_owned();
    pg.remove().await;
    assert_eq!(util::docker(&host, &["ps", "-aq", "--filter", &format!("name=^/{name}$")]), "");

    let redis = RedisContainer::start(&engine, "7", &set.join("redis/cache.rdb")).await.unwrap();
    let container = inspect(&host, redis.name());
    assert_exposes_nothing(&container);
    let keys = redis.cli(&["DBSIZE"]).await.unwrap();
    assert!(keys.trim().parse::<u64>().unwrap() >= 1, "the RDB was loaded: {keys}");
    // Without the password, the server refuses.
    let anonymous = util::docker(&host, &["exec", redis.name(), "redis-cli", "PING"]);
    assert!(anonymous.starts_with("NOAUTH"), "{anonymous}");
    let password = util::docker(&host, &["exec", redis.name(), "cat", "/data/ops-gen-drill.conf"]);
    let password = password.trim().strip_prefix("requirepass ").unwrap().to_owned();
    assert_eq!(password.len(), 32);
    assert!(!container.to_string().contains(&password), "the password is in the container's config: {container:#}");
    assert_eq!(command_lines_with(&password), Vec::<String>::new(), "the password is on a command line");
    let error = redis.cli(&["NO-SUCH-COMMAND"]).await.unwrap_err();
    assert!(error.contains("unknown command"), "{error}");
    let name = redis.name().to_owned();
    redis.remove().await;
    assert_eq!(util::docker(&host, &["ps", "-aq", "--filter", &format!("name=^/{name}$")]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_globals_give_restored_objects_their_owners() {
    library_docker_host();
    // A table owned by a role of its own, dumped by the real pg_dump.
    let (url, admin) = util::postgres_database().await;
    let role = util::unique("app_owner");
    admin.batch_execute(&format!("CREATE ROLE {role} NOLOGIN")).await.unwrap();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE TABLE owned (id int); INSERT INTO owned VALUES (1); ALTER TABLE owned OWNER TO {role}; GRANT SELECT ON owned TO PUBLIC"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("app.dump");
    let pg_dump = std::process::Command::new(util::require_tool("pg_dump", "postgresql-client-15"))
        .args(["-Fc", "-f"])
        .arg(&dump)
        .arg(&url)
        .output()
        .unwrap();
    assert!(pg_dump.status.success(), "{}", String::from_utf8_lossy(&pg_dump.stderr));
    drop(client);
    let db = url.rsplit('/').next().unwrap().to_owned();
    admin.batch_execute(&format!("DROP DATABASE {db}")).await.unwrap();
    admin.batch_execute(&format!("DROP ROLE {role}")).await.unwrap();

    let pg = PgContainer::start(&docker_engine(), "15").await.unwrap();
    // Owners are restored, not dropped: without the role the restore fails.
    let error = pg.restore("without_globals", &dump).await.unwrap_err();
    assert!(error.contains(&format!("role \"{role}\" does not exist")), "{error}");
    // `postgres` exists already, as in every pg_dumpall --globals-only.
    let globals = dir.path().join("globals.sql");
    std::fs::write(&globals, format!("CREATE ROLE postgres;\nALTER ROLE postgres WITH SUPERUSER;\nCREATE ROLE {role};\nALTER ROLE {role} WITH NOLOGIN;\n")).unwrap();
    pg.apply_globals(&globals).await.unwrap();
    pg.restore("with_globals", &dump).await.unwrap();
    let owner = pg.first_value("with_globals", "SELECT tableowner FROM pg_tables WHERE tablename = 'owned'").await;
    assert_eq!(owner.unwrap(), FirstValue::Text(role.clone()));
    let grant = pg.first_value("with_globals", "SELECT has_table_privilege('public', 'owned', 'SELECT')::text").await;
    assert_eq!(grant.unwrap(), FirstValue::Text("true".to_owned()), "privileges are restored too");
    // Any other error fails, naming its line.
    std::fs::write(&globals, "CREATE ROLE postgres;\nCREATE ROLE x_ok;\nCREAT ROLE broken;\n").unwrap();
    let error = pg.apply_globals(&globals).await.unwrap_err();
    assert!(error.contains(":3: ERROR:  syntax error at or near \"CREAT\""), "{error}");
    pg.remove().await;
}

fn latest(stack: &Stack) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(stack.backups().join("latest.json")).unwrap()).unwrap()
}

fn name_of(set: &Path) -> String {
    set.file_name().unwrap().to_str().unwrap().to_owned()
}

/// Set names have one-second resolution; sets taken in the same second get
/// a suffix, but their order is clearer a second apart.
async fn next_second() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_the_oldest_kept_set_keeps_it_and_the_safety_copy_is_tagged_and_verified() {
    let stack = Stack::new().await;
    let redis = private_redis().await;
    stack.write_config(&stack.config(&redis.url, "  retention:\n    keep_last: 2\n"));
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    next_second().await;
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    let [oldest, newest] = <[PathBuf; 2]>::try_from(stack.sets()).unwrap();

    // By the name `backup list` prints, not a path.
    let out = stack.ops_gen(&["backup", "restore", "--from", &name_of(&oldest), "--yes"]);
    out.expect_code(0);
    assert!(oldest.is_dir() && newest.is_dir(), "the restored set and the newest stay: {:?}", stack.sets());
    let sets = stack.sets();
    assert_eq!(sets.len(), 3, "{sets:?}");
    let safety = sets.iter().find(|s| **s != oldest && **s != newest).unwrap();
    assert_eq!(manifest(safety)["tag"], "pre-restore");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(safety.join("verify.json")).unwrap()).unwrap();
    assert_eq!(record["ok"], true, "the safety copy is verified at once");
    let latest = latest(&stack);
    assert_eq!(latest["safety"], name_of(safety));
    assert_eq!(latest["scheduled"], name_of(&newest));

    // The next scheduled run pushes out no safety copy, and the safety copy
    // pushes out no scheduled one (keep_last 2 each).
    next_second().await;
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    let sets = stack.sets();
    assert!(sets.contains(safety) && sets.contains(&newest) && !sets.contains(&oldest), "{sets:?}");

    // `latest` and unknown names.
    stack.ops_gen(&["backup", "verify", "latest"]).expect_code(0);
    stack.ops_gen(&["backup", "drill", "--from", &name_of(safety)]).expect_code(0);
    let out = stack.ops_gen(&["backup", "restore", "--from", "20200101T000000Z", "--yes"]);
    out.expect_code(2);
    assert!(out.stderr.contains("no backup set `20200101T000000Z`"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_runs_never_remove_another_targets_last_copy_and_tags_keep_apart() {
    let stack = Stack::new().await;
    let extra = "  retention:\n    keep_last: 1\n    tags:\n      pre-migration:\n        keep_last: 2\n";
    stack.write_config(&stack.config(&util::redis_url(), extra));
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    let full = stack.sets().pop().unwrap();
    for _ in 0..2 {
        next_second().await;
        stack.ops_gen(&["backup", "run", "--only", "redis"]).expect_code(0);
    }
    assert!(full.is_dir(), "the only PostgreSQL copy stays: {:?}", stack.sets());
    assert_eq!(stack.sets().len(), 2, "the surplus Redis-only set went: {:?}", stack.sets());
    // Verified now: the newest verified copy of cache, kept from here on.
    stack.ops_gen(&["backup", "verify", "--freshness"]).expect_code(0);
    let verified = stack.sets().pop().unwrap();

    // Deploy copies count apart from the scheduled ones.
    let mut tagged = Vec::new();
    for _ in 0..3 {
        next_second().await;
        stack.ops_gen(&["backup", "run", "--tag", "pre-migration"]).expect_code(0);
        tagged.push(stack.sets().pop().unwrap());
    }
    next_second().await;
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    let nightly = stack.sets().pop().unwrap();
    let sets = stack.sets();
    assert_eq!(
        sets,
        vec![verified, tagged[1].clone(), tagged[2].clone(), nightly],
        "the newest verified copy, two tagged, one scheduled"
    );
    let out = stack.ops_gen(&["--json", "backup", "list"]);
    let list: serde_json::Value = serde_json::from_str(&out.expect_code(0).stdout).unwrap();
    assert_eq!(list[1]["tag"], "pre-migration", "{list:#}");
    let out = stack.ops_gen(&["backup", "run", "--tag", "Not A Tag"]);
    out.expect_code(2);
    stack.ops_gen(&["backup", "run", "--tag", "pre-restore"]).expect_code(2);
}

/// Every file and folder under `dir` with its mode bits.
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        found.push((path.clone(), meta.permissions().mode() & 0o777));
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_are_owner_only_whatever_the_umask() {
    let stack = Stack::new().await;
    stack.write_config(&stack.config(&util::redis_url(), ""));
    let out = run(std::process::Command::new("sh")
        .current_dir(stack.dir.path())
        .args(["-c", "umask 022; exec \"$0\" backup run"])
        .arg(util::bin()));
    out.expect_code(0);
    stack.ops_gen(&["backup", "verify"]).expect_code(0);
    for (path, mode) in modes(&stack.backups()) {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
    // A set someone opened up is named by verify (a warning) and doctor.
    let set = stack.sets().pop().unwrap();
    std::fs::set_permissions(set.join("manifest.sha256"), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = stack.ops_gen(&["backup", "verify"]);
    out.expect_code(0);
    assert!(out.stdout.contains("warn  manifest.sha256: readable by other users (mode 644)"), "{}", out.stdout);
    std::fs::set_permissions(&set, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = stack.ops_gen(&["doctor"]);
    assert!(out.stdout.contains("is readable by other users (mode 755)"), "{}", out.stdout);
}

/// Runs `args` as the unprivileged user `nobody`: the other local user.
fn as_nobody(args: &[&str]) -> std::process::Output {
    std::process::Command::new("runuser").args(["-u", "nobody", "--"]).args(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_drill_another_local_user_cannot_reach_the_restored_copy() {
    let stack = Stack::new().await;
    // A sanity query that keeps the throwaway server up for a while.
    let extra = "  targets:\n    db:\n      drill:\n        queries:\n          - sql: SELECT pg_sleep(8)::text\n";
    stack.write_config(&stack.config(&util::redis_url(), extra));
    stack.ops_gen(&["backup", "run", "--only", "postgres"]).expect_code(0);
    let scratch = stack.dir.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    for (dir, mode) in [(stack.dir.path(), 0o755), (scratch.as_path(), 0o1777)] {
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    let drill = ops_gen(stack.dir.path())
        .env("TMPDIR", &scratch)
        .args(["backup", "drill"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The cluster and its pid file, read while it runs (it goes away with
    // the drill, so read both in one look).
    let mut cluster = None;
    util::eventually("the drill's running cluster", Duration::from_secs(20), async || {
        cluster = std::fs::read_dir(&scratch).unwrap().map(|e| e.unwrap().path()).find_map(|p| {
            let pid_file = std::fs::read_to_string(p.join("data/postmaster.pid")).ok()?;
            Some((p, pid_file))
        });
        cluster.is_some()
    })
    .await;
    let (cluster, pid_file) = cluster.unwrap();
    let lines: Vec<&str> = pid_file.lines().collect();
    assert_eq!(lines.get(5).copied(), Some(""), "no TCP listen address: {pid_file}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&cluster).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "the folder is owner-only");
    let socket_dir = cluster.display().to_string();
    for user in ["ops_gen_drill", "postgres"] {
        let out = as_nobody(&["psql", "-h", &socket_dir, "-p", "5432", "-U", user, "-w", "-c", "select 1", "postgres"]);
        assert!(!out.status.success(), "nobody connected as {user}: {}", String::from_utf8_lossy(&out.stdout));
    }
    let out = as_nobody(&["ls", &socket_dir]);
    assert!(!out.status.success(), "nobody can list the scratch folder");
    // Root (the owner's side) still needs the password.
    let out = std::process::Command::new("psql")
        .args(["-h", &socket_dir, "-p", "5432", "-U", "ops_gen_drill", "-w", "-c", "select 1", "postgres"])
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success(), "no password, no connection");
    let out = drill.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_restores_owners_and_fails_when_the_globals_lack_a_role() {
    let stack = Stack::new().await;
    let role = util::unique("app_owner");
    let (db, conn) = tokio_postgres::connect(&stack.db_url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    db.batch_execute(&format!("CREATE ROLE {role}; ALTER TABLE {} OWNER TO {role}", stack.table)).await.unwrap();
    let extra = format!(
        "  targets:\n    db:\n      drill:\n        queries:\n          - sql: SELECT tableowner FROM pg_tables WHERE tablename = '{}'\n            equals: {role}\n",
        stack.table
    );
    stack.write_config(&stack.config(&util::redis_url(), &extra));
    stack.ops_gen(&["backup", "run", "--only", "postgres"]).expect_code(0);
    let out = stack.ops_gen(&["backup", "drill"]);
    let set = stack.sets().pop().unwrap();
    let globals = set.join("postgres/db/globals.sql");
    assert_eq!(out.code, 0, "{}\n{}", out.all(), std::fs::read_to_string(&globals).unwrap());
    assert!(out.stdout.contains(&format!("returned \"{role}\"")), "the owner is restored:\n{}", out.stdout);

    // A globals.sql that does not create the role (re-hashed, so the set
    // still verifies): the drill fails, as a restore onto a new server would.
    let text = std::fs::read_to_string(&globals).unwrap();
    let without: String = text.lines().filter(|l| !l.contains(&role)).flat_map(|l| [l, "\n"]).collect();
    std::fs::write(&globals, &without).unwrap();
    rehash(&set, "postgres/db/globals.sql");
    let out = stack.ops_gen(&["backup", "drill"]);
    out.expect_code(1);
    assert!(out.stdout.contains(&format!("role \"{role}\" does not exist")), "{}", out.stdout);
    db.batch_execute(&format!("DROP TABLE {}; DROP ROLE {role}", stack.table)).await.unwrap();
}

/// Updates a file's size and sha256 in the set's manifest after a test
/// changed it on purpose.
fn rehash(set: &Path, file: &str) {
    let (size, sha) = ops_gen::backup::manifest::hash_file(&set.join(file)).unwrap();
    let mut m = manifest(set);
    for t in m["targets"].as_array_mut().unwrap() {
        for f in t["files"].as_array_mut().unwrap() {
            if f["path"] == file {
                f["size"] = size.into();
                f["sha256"] = sha.clone().into();
            }
        }
    }
    std::fs::write(set.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_from_the_future_blocks_every_deletion() {
    let stack = Stack::new().await;
    let config = stack.config(&util::redis_url(), "  retention:\n    keep_last: 1\n");
    stack.write_config(&config);
    stack.ops_gen(&["backup", "run", "--only", "redis"]).expect_code(0);
    // The clock was a day ahead when this set was taken.
    let future = stack.sets().pop().unwrap();
    let mut m = manifest(&future);
    m["finished_unix"] = (m["finished_unix"].as_f64().unwrap() + 86_400.0).into();
    std::fs::write(future.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    for _ in 0..2 {
        next_second().await;
        let out = stack.ops_gen(&["backup", "run", "--only", "redis"]);
        out.expect_code(0);
        assert!(out.stdout.contains("warning: retention deleted nothing"), "{}", out.stdout);
    }
    assert_eq!(stack.sets().len(), 3, "nothing deleted while the newest set lies in the future");
    assert_eq!(stack.sets().pop().unwrap(), future, "ordered by recorded time, not folder name");
    let exporter = TestExporter::start(&config).await;
    let scrape = exporter.scrape().await;
    assert_eq!(scrape.value(r#"opsgen_backup_retention_blocked{target="cache"}"#), Some(1.0), "{}", scrape.body);
    let out = stack.ops_gen(&["runbook", "backup-retention-blocked"]);
    out.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_wait_for_the_lock_or_refuse_naming_the_holder() {
    let stack = Stack::new().await;
    stack.write_config(&stack.config(&util::redis_url(), ""));
    stack.ops_gen(&["backup", "run"]).expect_code(0);
    let good = stack.sets();

    // A run held up by a Redis that never answers holds the folder.
    let hung = servers::hung().await;
    let mut first = hung_run(&stack, &hung.addr.to_string()).await;
    for args in [&["backup", "run"][..], &["backup", "drill"], &["backup", "restore", "--from", "latest", "--yes"]] {
        let out = stack.ops_gen(args);
        assert_ne!(out.code, 0, "{args:?}: {}", out.all());
        assert!(
            out.all().contains(&format!("`ops-gen backup run` (pid {}", first.id())),
            "{args:?} names the holder:\n{}",
            out.all()
        );
    }
    first.kill().unwrap();
    first.wait().unwrap();

    // A restore stuck on its safety copy holds the folder too.
    let mut restore = ops_gen(stack.dir.path())
        .args(["backup", "restore", "--from", "latest", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let note = stack.backups().join(".lock.d").join(restore.id().to_string());
    util::eventually("the restore holding the folder", Duration::from_secs(10), async || note.is_file()).await;
    let out = stack.ops_gen(&["backup", "run"]);
    assert_ne!(out.code, 0);
    assert!(out.all().contains("`ops-gen backup restore`"), "{}", out.all());
    restore.kill().unwrap();
    restore.wait().unwrap();
    assert_eq!(stack.sets(), good, "nothing changed");
}

/// A tiny random source for the kill tests (seeded from the clock, printed
/// so a failure can be replayed).
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_never_loses_the_last_good_set() {
    use std::os::unix::process::CommandExt as _;
    let stack = Stack::new().await;
    let redis = private_redis().await;
    stack.write_config(&stack.config(&redis.url, "  retention:\n    keep_last: 1\n"));
    // How long each command takes here, so kills land anywhere inside it.
    let timed = |args: &[&str]| {
        let started = std::time::Instant::now();
        stack.ops_gen(args).expect_code(0);
        u64::try_from(started.elapsed().as_millis()).unwrap().max(50)
    };
    let run_ms = timed(&["backup", "run"]);
    let restore_ms = timed(&["backup", "restore", "--from", "latest", "--yes"]);
    let seed =
        u64::from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()) | 1;
    println!("kill test seed {seed}: run {run_ms} ms, restore {restore_ms} ms");
    let mut rng = Rng(seed);
    let mut kills = 0;
    let mut round = 0;
    while kills < 21 && round < 60 {
        round += 1;
        // Runs (with retention, keep_last 1) and restores, killed anywhere.
        let (args, took): (Vec<&str>, u64) = match round % 3 {
            0 => (vec!["backup", "restore", "--from", "latest", "--yes"], restore_ms),
            _ => (vec!["backup", "run"], run_ms),
        };
        let mut child = ops_gen(stack.dir.path())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let delay = rng.next(took);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if child.try_wait().unwrap().is_none() {
            // The whole group: ops-gen and the dump tools it started.
            std::process::Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        // Whatever happened: every set under its real name is whole, and
        // latest.json names one that exists.
        let sets = stack.sets();
        assert!(!sets.is_empty(), "round {round} (seed {seed}): no set left");
        for set in &sets {
            let out = stack.ops_gen(&["backup", "verify", &name_of(set)]);
            assert_eq!(out.code, 0, "round {round} (seed {seed}) after {delay} ms: {}", out.all());
        }
        let newest = latest(&stack)["set"].as_str().unwrap().to_owned();
        assert!(stack.backups().join(&newest).is_dir(), "round {round} (seed {seed}): latest.json names {newest}");
        let full = sets.iter().any(|s| manifest(s)["targets"].as_array().unwrap().iter().all(|t| t["success"] == true));
        assert!(full, "round {round} (seed {seed}): a complete copy of both targets is left");
    }
    assert!(kills >= 20, "only {kills} of {round} rounds were killed mid-way (seed {seed})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_with_roles_brings_back_a_dropped_role_and_its_ownership() {
    let stack = Stack::new().await;
    let role = util::unique("report_owner");
    let (db, conn) = tokio_postgres::connect(&stack.db_url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    db.batch_execute(&format!("CREATE ROLE {role}; ALTER TABLE {} OWNER TO {role}", stack.table)).await.unwrap();
    stack.write_config(&stack.config(&util::redis_url(), ""));
    stack.ops_gen(&["backup", "run", "--only", "postgres"]).expect_code(0);
    let set = name_of(&stack.sets().pop().unwrap());

    // The server loses the table and the role (a new server, in effect).
    db.batch_execute(&format!("DROP TABLE {}; DROP ROLE {role}", stack.table)).await.unwrap();
    let out = stack.ops_gen(&["backup", "restore", "--from", &set, "--yes", "--with-roles"]);
    out.expect_code(0);
    assert!(out.stdout.contains("roles and database(s)"), "{}", out.stdout);
    let owner: String = db
        .query_one("SELECT tableowner::text FROM pg_tables WHERE tablename = $1", &[&stack.table])
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, role, "the role exists again and owns its table");
    db.batch_execute(&format!("DROP TABLE {}; DROP ROLE {role}", stack.table)).await.unwrap();
}
