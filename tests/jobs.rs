//! The schedules of `ops-gen serve` against real components: a real `backup
//! run` against the real PostgreSQL on the clock with its verification
//! after it, a slow job that never overlaps itself, a job skipped while
//! another process holds the backup folder, and a job missed while serve
//! was down that catches up once after a restart. Every server is a real
//! `ops-gen serve` process working in a folder of its own (jobs write
//! relative to it and set the process's umask), read over HTTP.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ops_gen::backup::lock::{self, Mode};

use crate::util::{self, Scrape, ServeProcess, run, servers};

const ADMIN: &str = "admin-token-0123456789abcdef";
const READER: &str = "read-token-0123456789abcdef";

/// `/metrics` of a running serve.
async fn scrape(serve: &ServeProcess) -> Scrape {
    let body = util::get_text(&format!("http://{}/metrics", serve.addr)).await;
    Scrape { status: 200, content_type: String::new(), body, took: Duration::ZERO }
}

/// `opsgen_job_runs_total{job, result}`, a whole number.
async fn runs(serve: &ServeProcess, job: &str, result: &str) -> u64 {
    let series = format!("opsgen_job_runs_total{{job=\"{job}\",result=\"{result}\"}}");
    let scrape = scrape(serve).await;
    let line = scrape.body.lines().find(|l| l.starts_with(&format!("{series} ")));
    line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or_else(|| panic!("no {series} in:\n{}", scrape.body))
}

/// `GET /api/ops/jobs` (read token): the jobs by name.
async fn jobs(serve: &ServeProcess) -> serde_json::Value {
    let response = util::http_client()
        .get(format!("http://{}/api/ops/jobs", serve.addr))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let by_name = body["jobs"].as_array().unwrap().iter().map(|j| (j["name"].as_str().unwrap().to_owned(), j.clone()));
    serde_json::Value::Object(by_name.collect())
}

/// A database of the test's own, with a table to dump.
async fn database() -> String {
    let (url, _) = util::postgres_database().await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute("CREATE TABLE orders (id int primary key); INSERT INTO orders VALUES (1), (2)").await.unwrap();
    url
}

/// The config's head: tokens, the database as the one target, the backup
/// folder and the state file in `dir` (which outlives each serve).
fn config(dir: &Path, db_url: &str, schedule: &str) -> String {
    format!(
        "auth:\n  tokens:\n    - {{name: alice, token: {ADMIN}, role: admin}}\n    - {{name: bob, token: {READER}}}\n  audit_log: {audit}\n  frontend_log: {front}\ntargets:\n  db:\n    kind: postgres\n    url: {db_url}\nbackup:\n  dir: {backups}\nschedule:\n  state: {state}\n{schedule}",
        audit = dir.join("audit.log").display(),
        front = dir.join("frontend.jsonl").display(),
        backups = dir.join("backups").display(),
        state = dir.join("state.json").display(),
    )
}

fn sets(dir: &Path) -> Vec<PathBuf> {
    ops_gen::backup::sets(&dir.join("backups")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_backup_really_runs_and_its_verification_follows() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = database().await;
    let serve = ServeProcess::start(&config(
        dir.path(),
        &db_url,
        "  jobs:\n    nightly-backup: {cron: \"*/3 * * * * *\", run: backup}\n    verify: {after: nightly-backup, run: verify}\n",
    ));
    util::eventually("a scheduled backup and its verification", Duration::from_secs(90), async || {
        runs(&serve, "verify", "ok").await >= 1
    })
    .await;
    let scrape = scrape(&serve).await;
    util::promtool_check_metrics(&scrape.body);
    assert_eq!(scrape.value(r#"opsgen_job_runs_total{job="nightly-backup",result="failed"}"#), Some(0.0));
    let success = scrape.value(r#"opsgen_job_last_success_timestamp_seconds{job="nightly-backup"}"#).unwrap();
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(success > now - 120.0 && success <= now, "{success} vs {now}");
    let next = scrape.value(r#"opsgen_job_next_run_timestamp_seconds{job="nightly-backup"}"#).unwrap();
    assert!(next > success, "the next run lies ahead: {next}");
    assert_eq!(scrape.value(r#"opsgen_job_next_run_timestamp_seconds{job="verify"}"#), Some(0.0));

    // The set is real: our table is in its dump, and verify recorded it.
    let set = sets(dir.path()).into_iter().find(|s| s.join("verify.json").is_file()).expect("a verified set");
    let dump = std::fs::read_dir(set.join("postgres/db"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "dump"));
    let list = std::process::Command::new("pg_restore").arg("--list").arg(dump.unwrap()).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("orders"));

    // The API lists them; only an admin may run one, a name that is no job is 404.
    let listed = jobs(&serve).await;
    assert_eq!(listed["verify"]["last_result"], "ok", "{listed:#}");
    assert_eq!(listed["verify"]["schedule"], "after nightly-backup");
    assert!(listed["nightly-backup"]["last_detail"].as_str().unwrap().starts_with("took "), "{listed:#}");
    let post = |name: &str, token: &str| {
        util::http_client()
            .post(format!("http://{}/api/ops/jobs/{name}/run", serve.addr))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(post("verify", READER).await.unwrap().status(), 403);
    assert_eq!(post("no-such-job", ADMIN).await.unwrap().status(), 404);
    let before = runs(&serve, "verify", "ok").await + runs(&serve, "verify", "skipped_overlap").await;
    let asked = post("verify", ADMIN).await.unwrap().status().as_u16();
    assert!(asked == 202 || asked == 409, "run now: {asked}");
    util::eventually("the verification asked through the API", Duration::from_secs(60), async || {
        runs(&serve, "verify", "ok").await + runs(&serve, "verify", "skipped_overlap").await > before
    })
    .await;

    // The status page shows both jobs with their last result.
    let status: serde_json::Value =
        serde_json::from_str(&util::get_text(&format!("http://{}/status.json", serve.addr)).await).unwrap();
    let names: Vec<&str> = status["jobs"].as_array().unwrap().iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["nightly-backup", "verify"]);
    assert!(util::get_text(&format!("http://{}/", serve.addr)).await.contains("data-job=\"nightly-backup\""));
}

/// A smoke run whose Prometheus hangs takes its whole step limit; ticked
/// every second, it is skipped while it runs and never runs twice at once
/// (each run opens three connections to Prometheus, two runs would hold
/// six). A reload while it runs lets the run go on, keeps the counters and
/// adds the new job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_job_never_overlaps_itself_and_outlives_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let prometheus = servers::hung().await;
    let text = format!(
        "auth:\n  tokens:\n    - {{name: bob, token: {READER}}}\n  audit_log: {audit}\nprofile:\n  services: [prometheus]\n  ports: {{prometheus: {port}}}\nschedule:\n  state: {state}\n  jobs:\n    smoke: {{cron: \"* * * * * *\", run: smoke, step_timeout: 2s}}\n",
        audit = dir.path().join("audit.log").display(),
        port = prometheus.addr.port(),
        state = dir.path().join("state.json").display(),
    );
    let serve = ServeProcess::start(&text);
    let count = |job: &serde_json::Value, result: &str| job["live"]["runs"][result].as_u64().unwrap_or(0);
    let mut most_open = 0;
    let watch = async {
        loop {
            most_open = most_open.max(prometheus.open.load(std::sync::atomic::Ordering::SeqCst));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let enough = async {
        util::eventually("two finished smoke runs and skipped ticks", Duration::from_secs(60), async || {
            let job = &jobs(&serve).await["smoke"];
            count(job, "failed") + count(job, "ok") >= 2 && count(job, "skipped_overlap") >= 2
        })
        .await;
        // Reload while a run is under way.
        let mut running = serde_json::Value::Null;
        util::eventually("a run under way", Duration::from_secs(30), async || {
            running = jobs(&serve).await["smoke"].clone();
            !running["live"]["running_since"].is_null()
        })
        .await;
        std::fs::write(
            serve.dir.path().join("ops-gen.yml"),
            format!("{text}    later: {{cron: \"@yearly\", run: verify}}\n"),
        )
        .unwrap();
        serve.signal("HUP");
        util::eventually("the reloaded jobs", Duration::from_secs(10), async || {
            jobs(&serve).await.get("later").is_some()
        })
        .await;
        let after = &jobs(&serve).await["smoke"];
        let finished = |job: &serde_json::Value| count(job, "failed") + count(job, "ok");
        assert!(
            after["live"]["running_since"] == running["live"]["running_since"] || finished(after) > finished(&running),
            "the run under way went on through the reload: before {running:#}, after {after:#}"
        );
        assert!(count(after, "skipped_overlap") >= count(&running, "skipped_overlap"), "counters kept: {after:#}");
        assert_eq!(after["last_result"], running["last_result"], "record kept: {after:#}");
    };
    tokio::select! {
        () = enough => {},
        () = watch => unreachable!(),
    }
    assert!(prometheus.accepted.load(std::sync::atomic::Ordering::SeqCst) >= 3, "the runs reached Prometheus");
    assert!((1..=3).contains(&most_open), "at most one run at a time: {most_open} connections open at once");
    let job = &jobs(&serve).await["smoke"];
    assert_eq!(job["last_result"], "failed", "{job:#}");
    assert!(job["last_detail"].as_str().unwrap().contains("prometheus"), "{job:#}");
}

/// Another process holds the backup folder: the backup is skipped, counted
/// and says who holds it, without waiting; once the folder is free the next
/// tick runs it. `ops-gen jobs run` follows the same rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_skipped_while_the_backup_lock_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = database().await;
    let held = lock::lock(&dir.path().join("backups"), Mode::Exclusive, "backup restore").unwrap();
    let text = config(dir.path(), &db_url, "  jobs:\n    nightly-backup: {cron: \"* * * * * *\", run: backup}\n");
    let serve = ServeProcess::start(&text);
    util::eventually("a backup skipped for the held lock", Duration::from_secs(30), async || {
        runs(&serve, "nightly-backup", "skipped_locked").await >= 2
    })
    .await;
    assert_eq!(runs(&serve, "nightly-backup", "ok").await, 0);
    assert!(sets(dir.path()).is_empty());
    let job = &jobs(&serve).await["nightly-backup"];
    assert_eq!(job["last_result"], "skipped_locked", "{job:#}");
    assert!(job["last_detail"].as_str().unwrap().contains("`ops-gen backup restore`"), "{job:#}");

    let here = util::config_dir(&text);
    let out = run(util::ops_gen(here.path()).args(["jobs", "run", "nightly-backup"]));
    out.expect_code(1);
    assert!(
        out.stdout.starts_with("SKIP  nightly-backup (backup)") && out.stdout.contains("is busy"),
        "{}",
        out.stdout
    );

    drop(held);
    util::eventually("the backup once the folder is free", Duration::from_secs(60), async || {
        runs(&serve, "nightly-backup", "ok").await >= 1
    })
    .await;
    assert!(!sets(dir.path()).is_empty());
}

/// A daily backup whose time passes while serve is down is counted missed
/// and run once at the next start; the start after that has nothing to
/// catch up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_job_catches_up_once_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = database().await;
    // First start: the job is new, its schedule starts now.
    let first = ServeProcess::start(&config(
        dir.path(),
        &db_url,
        "  jobs:\n    nightly-backup: {cron: \"0 0 1 1 *\", run: backup}\n",
    ));
    assert_eq!(runs(&first, "nightly-backup", "missed").await, 0);
    util::eventually("the state file", Duration::from_secs(10), async || dir.path().join("state.json").is_file()).await;
    drop(first);

    // While it is down, the job's daily time passes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let due = daily_at(SystemTime::now() - Duration::from_secs(1));
    let daily =
        config(dir.path(), &db_url, &format!("  jobs:\n    nightly-backup: {{cron: \"{due}\", run: backup}}\n"));
    let second = ServeProcess::start(&daily);
    assert_eq!(runs(&second, "nightly-backup", "missed").await, 1);
    util::eventually("the missed backup to catch up", Duration::from_secs(60), async || {
        runs(&second, "nightly-backup", "ok").await >= 1
    })
    .await;
    assert_eq!(sets(dir.path()).len(), 1);
    drop(second);

    // Caught up: the next start runs nothing.
    let third = ServeProcess::start(&daily);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(runs(&third, "nightly-backup", "missed").await, 0);
    assert_eq!(runs(&third, "nightly-backup", "ok").await, 0);
    assert_eq!(sets(dir.path()).len(), 1);
    let job = &jobs(&third).await["nightly-backup"];
    assert_eq!(job["last_result"], "ok", "the record survived the restarts: {job:#}");
}

/// A daily cron expression (`S M H * * *`) for the UTC time of `at`.
fn daily_at(at: SystemTime) -> String {
    // 2026-11-23T10:07:42Z
    let text = humantime::format_rfc3339_seconds(at).to_string();
    format!("{} {} {} * * *", &text[17..19], &text[14..16], &text[11..13])
}
