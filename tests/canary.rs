//! Persistence canaries across real restarts: a Redis without persistence
//! loses its canary, one with an append-only file and a PostgreSQL cluster
//! keep theirs; an S3 store keeps its canary object across a restart and
//! loses it when its data folder was not persistent.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::{self, TestExporter};

/// A redis-server of the test's own, restartable on the same port and data.
struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
    child: Option<Child>,
}

impl OwnRedis {
    async fn start(persistent: bool) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = Self { port, dir: tempfile::tempdir().unwrap(), persistent, child: None };
        redis.spawn().await;
        redis
    }

    async fn spawn(&mut self) {
        let appendonly = if self.persistent { "yes" } else { "no" };
        let child = Command::new(util::require_tool("redis-server", "redis-server"))
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", appendonly])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let client = redis::Client::open(self.url()).unwrap();
        util::eventually("redis-server to answer", Duration::from_secs(5), async || {
            match client.get_multiplexed_async_connection().await {
                Ok(mut c) => redis::cmd("PING").query_async::<String>(&mut c).await.is_ok(),
                Err(_) => false,
            }
        })
        .await;
    }

    /// A clean restart (SHUTDOWN writes what persistence is configured).
    async fn restart(&mut self) {
        let client = redis::Client::open(self.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let _: Result<(), _> = redis::cmd("SHUTDOWN").query_async(&mut c).await;
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        self.spawn().await;
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn config(kind: &str, url: &str) -> String {
    format!("targets:\n  store:\n    kind: {kind}\n    url: {url}\ncanary:\n  enabled: true\n  interval: 100ms\n")
}

async fn canary(exporter: &TestExporter) -> (Option<f64>, Option<f64>) {
    let scrape = exporter.scrape().await;
    (
        scrape.value(r#"opsgen_canary_survived{target="store"}"#),
        scrape.value(r#"opsgen_canary_age_seconds{target="store"}"#),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_without_persistence_loses_its_canary_at_a_restart() {
    let mut redis = OwnRedis::start(false).await;
    let exporter = TestExporter::start(&config("redis", &redis.url())).await;
    util::eventually("a first canary", Duration::from_secs(5), async || canary(&exporter).await.0 == Some(1.0)).await;
    redis.restart().await;
    util::eventually("the loss to show", Duration::from_secs(5), async || canary(&exporter).await.0 == Some(0.0)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(
        scrape.value(r#"opsgen_check_success{check="canary-store",kind="canary"}"#),
        Some(1.0),
        "the check itself ran fine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_redis_keeps_its_canary_and_its_age_grows() {
    let mut redis = OwnRedis::start(true).await;
    let exporter = TestExporter::start(&config("redis", &redis.url())).await;
    util::eventually("a first canary", Duration::from_secs(5), async || canary(&exporter).await.0 == Some(1.0)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    redis.restart().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (survived, age) = canary(&exporter).await;
    assert_eq!(survived, Some(1.0));
    assert!(age.unwrap() >= 1.0, "the age runs on across the restart: {age:?}");
}

/// A PostgreSQL cluster of the test's own (as `postgres` when we are root).
struct OwnPostgres {
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn pg(program: &str, args: &[&str]) {
    let bin = PathBuf::from(format!("/usr/lib/postgresql/15/bin/{program}"));
    let as_root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let status = if as_root {
        Command::new("runuser").args(["-u", "postgres", "--"]).arg(&bin).args(args).stdout(Stdio::null()).status()
    } else {
        Command::new(&bin).args(args).stdout(Stdio::null()).status()
    }
    .unwrap_or_else(|e| panic!("cannot run {}: {e}; install postgresql-15 (scripts/services.sh up)", bin.display()));
    assert!(status.success(), "{program} {args:?} failed");
}

impl OwnPostgres {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        pg("initdb", &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        let me = Self { data, port, _dir: dir };
        me.ctl("start");
        me
    }

    fn ctl(&self, action: &str) {
        let options =
            format!("-c listen_addresses=127.0.0.1 -p {} -k {}", self.port, self.data.parent().unwrap().display());
        let log = self.data.parent().unwrap().join("log").display().to_string();
        pg("pg_ctl", &["-D", self.data.to_str().unwrap(), "-l", &log, "-o", &options, "-w", "-m", "fast", action]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            pg("pg_ctl", &["-D", self.data.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_its_canary_across_a_restart() {
    let postgres = OwnPostgres::start();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", postgres.port);
    let exporter = TestExporter::start(&config("postgres", &url)).await;
    util::eventually("a first canary", Duration::from_secs(10), async || canary(&exporter).await.0 == Some(1.0)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    postgres.ctl("restart");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (survived, age) = canary(&exporter).await;
    assert_eq!(survived, Some(1.0));
    assert!(age.unwrap() >= 1.0, "{age:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_store_keeps_its_canary_object_unless_its_data_is_lost() {
    let (_, _, access, secret) = util::s3();
    let data = util::s3_data("media");
    let mut server = util::OwnS3::start(data.path()).await;
    let exporter = TestExporter::start(&format!(
        "targets:\n  store:\n    kind: s3\n    endpoint: {}\n    bucket: media\n    access_key: {access}\n    \
         secret_key: {secret}\ncanary:\n  enabled: true\n  interval: 100ms\n",
        server.endpoint()
    ))
    .await;
    util::eventually("a first canary", Duration::from_secs(5), async || canary(&exporter).await.0 == Some(1.0)).await;
    assert!(data.path().join("media/ops-gen/canary.json").is_file(), "under the target's prefix");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server.restart(data.path()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (survived, age) = canary(&exporter).await;
    assert_eq!(survived, Some(1.0));
    assert!(age.unwrap() >= 1.0, "the age runs on across the restart: {age:?}");

    // The store comes back with an empty bucket: an ephemeral volume.
    server.stop();
    std::fs::remove_dir_all(data.path().join("media")).unwrap();
    std::fs::create_dir(data.path().join("media")).unwrap();
    server.restart(data.path()).await;
    util::eventually("the loss to show", Duration::from_secs(5), async || canary(&exporter).await.0 == Some(0.0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_cannot_create_the_table_gets_a_clear_reason_and_the_liveness_check_stays_green() {
    let (url, admin) = util::postgres_database().await;
    let role = util::unique("reader");
    admin.batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD 'reader-pw'")).await.unwrap();
    let mut url = url::Url::parse(&url).unwrap();
    url.set_username(&role).unwrap();
    url.set_password(Some("reader-pw")).unwrap();
    let exporter = TestExporter::start(&config("postgres", url.as_str())).await;
    let mut message = String::new();
    util::eventually("the canary to fail while the target answers", Duration::from_secs(5), async || {
        let snapshot = exporter.exporter.scrape(None).await;
        let report = ops_gen::report::ProbeReport::new(&snapshot);
        let failure = |name: &str| {
            let check = report.checks.iter().find(|c| c.name == name)?;
            check.outcome.map(|o| o.failure.as_ref().map(|f| f.message.clone()))
        };
        match (failure("canary-store"), failure("store")) {
            (Some(Some(m)), Some(None)) => {
                message = m;
                true
            }
            _ => false,
        }
    })
    .await;
    assert!(message.contains("canary table `ops_gen_canary`") && message.contains("permission denied"), "{message}");
    assert!(!message.contains("reader-pw"));
}
