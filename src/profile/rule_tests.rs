//! The promtool unit tests of the alert rules:
//! `prometheus/tests/ops-gen.test.yml`, which `promtool test rules` runs
//! against the real rule engine.
//!
//! Every alert of [`super::rules`] has a scenario where it fires, with its
//! exact labels and rendered annotations, and one where it stays quiet.
//! Scenarios feed series as Prometheus stores them after scraping the
//! profile and name alerts by `Alert` variant, so a test cannot refer to
//! an alert that does not exist. The file is serialized from the typed
//! structs below.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::rules::{
    Alert, Annotations, DAY, EXPORTER_JOB, JOB_OVERDUE_SLACK, MINUTE, PromDuration, RESTORE_DRILL_MAX_AGE, hours,
    minutes,
};
use super::{Artifact, Component, Context};
use crate::series::{
    BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS, BACKUP_MAX_AGE_SECONDS, BACKUP_RETENTION_BLOCKED, BACKUP_VERIFIED,
    CANARY_SURVIVED, CHECK_SUCCESS, CONFIG_LAST_RELOAD_SUCCESS, DRIFT, JOB_LAST_RUN_TIMESTAMP_SECONDS,
    JOB_LAST_SUCCESS_TIMESTAMP_SECONDS, JOB_NEXT_RUN_TIMESTAMP_SECONDS, JOB_RUNS, REDIS_LAST_BGSAVE_SUCCESS,
    RESTORE_DRILL_DURATION_SECONDS, RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS, RESTORE_DRILL_SUCCESS,
    S3_ROUNDTRIP_SUCCESS, SERVICE_RESTARTS, SERVICE_UP, SMOKE_LAST_RUN_TIMESTAMP_SECONDS, SMOKE_SUCCESS,
};

/// The tests file, relative to the output folder.
pub const TESTS_FILE: &str = "prometheus/tests/ops-gen.test.yml";

/// [`super::rules::RULES_FILE`] as the tests name it: promtool resolves it
/// from the test file's folder.
const RULES_FROM_TESTS: &str = "../rules/ops-gen.yml";

/// The tests file.
#[must_use]
pub fn artifacts(ctx: &Context<'_>) -> Vec<Artifact> {
    vec![Artifact::yaml(TESTS_FILE, &test_file(ctx))]
}

// ---------------------------------------------------------------------------
// The unit tests, as `promtool test rules` reads them.

#[derive(Debug, Serialize)]
struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: PromDuration,
    tests: Vec<TestGroup>,
}

#[derive(Debug, Serialize)]
struct TestGroup {
    name: &'static str,
    interval: PromDuration,
    input_series: Vec<InputSeries>,
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Debug, Serialize)]
struct InputSeries {
    series: String,
    /// promtool's expanding notation: `a+bxn` is n+1 samples from a,
    /// stepping by b, one per `interval`.
    values: String,
}

#[derive(Debug, Serialize)]
struct AlertTest {
    eval_time: PromDuration,
    alertname: &'static str,
    /// Every alert of that name firing at `eval_time`; empty: none.
    exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Debug, Serialize)]
struct ExpectedAlert {
    exp_labels: Labels,
    exp_annotations: Annotations,
}

type Labels = BTreeMap<String, String>;

/// One test group under construction: the series it feeds and what it
/// expects of the alerts.
struct Scenario<'a> {
    ctx: &'a Context<'a>,
    group: TestGroup,
}

impl<'a> Scenario<'a> {
    fn new(ctx: &'a Context<'a>, name: &'static str) -> Self {
        let group = TestGroup {
            name,
            interval: PromDuration(minutes(1)),
            input_series: Vec::new(),
            alert_rule_test: Vec::new(),
        };
        Self { ctx, group }
    }

    fn series(mut self, metric: &str, labels: &Labels, values: &str) -> Self {
        let pairs: Vec<String> = labels
            .iter()
            .map(|(name, value)| format!(r#"{name}="{}""#, value.replace('\\', r"\\").replace('"', "\\\"")))
            .collect();
        self.group
            .input_series
            .push(InputSeries { series: format!("{metric}{{{}}}", pairs.join(",")), values: values.to_owned() });
        self
    }

    /// At `at`, `alert` fires for nothing.
    fn quiet(mut self, at: Duration, alert: Alert) -> Self {
        let alertname = alert.definition().name;
        self.group.alert_rule_test.push(AlertTest { eval_time: PromDuration(at), alertname, exp_alerts: Vec::new() });
        self
    }

    /// At `at`, `alert` fires exactly for `firing`: labels of the alert
    /// (without `severity`, which comes from the rule) and its rendered
    /// summary and description.
    fn fires(mut self, at: Duration, alert: Alert, firing: &[(&Labels, &str, &str)]) -> Self {
        let definition = alert.definition();
        let exp_alerts = firing
            .iter()
            .map(|(labels, summary, description)| {
                let mut exp_labels = (*labels).clone();
                exp_labels.insert("severity".to_owned(), definition.severity.as_str().to_owned());
                ExpectedAlert {
                    exp_labels,
                    exp_annotations: Annotations {
                        summary: (*summary).to_owned(),
                        description: (*description).to_owned(),
                        runbook_url: self.ctx.runbook_url(definition.topic),
                    },
                }
            })
            .collect();
        self.group.alert_rule_test.push(AlertTest {
            eval_time: PromDuration(at),
            alertname: definition.name,
            exp_alerts,
        });
        self
    }
}

/// `base` plus `extra`.
fn with(base: &Labels, extra: &[(&str, &str)]) -> Labels {
    let mut labels = base.clone();
    labels.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    labels
}

fn test_file(ctx: &Context<'_>) -> TestFile {
    // Series as Prometheus stores them after scraping the profile.
    let port = |c: Component| format!("{}:{}", c.name(), c.container_port());
    let instance = port(Component::Exporter);
    let exporter = with(&Labels::new(), &[("instance", &instance), ("job", EXPORTER_JOB)]);
    let node =
        with(&Labels::new(), &[("instance", &port(Component::NodeExporter)), ("job", Component::NodeExporter.name())]);
    let project = with(&exporter, &[("project", &ctx.project)]);
    TestFile {
        rule_files: vec![RULES_FROM_TESTS.to_owned()],
        evaluation_interval: PromDuration(minutes(1)),
        tests: vec![
            healthy(ctx, &exporter, &project, &node),
            backups(ctx, &exporter),
            verification(ctx, &exporter),
            drills(ctx, &exporter),
            stale_drills(ctx, &exporter),
            jobs(ctx, &exporter),
            checks(ctx, &exporter),
            s3(ctx, &exporter),
            persistence(ctx, &exporter),
            compose(ctx, &project),
            host(ctx, &node),
            exporter_up(ctx, &exporter, &instance),
            exporter_gone(ctx, &instance),
        ],
    }
}

/// Everything as it should be, for two hours: no alert fires. Backups are
/// taken every half hour against a one-hour `max_age`; the drill passed.
fn healthy(ctx: &Context<'_>, exporter: &Labels, project: &Labels, node: &Labels) -> TestGroup {
    let postgres = with(exporter, &[("target", "postgres")]);
    let check = |name, kind| with(exporter, &[("check", name), ("kind", kind)]);
    let service = with(project, &[("service", "app")]);
    let root = with(node, &[("device", "/dev/sda1"), ("fstype", "ext4"), ("mountpoint", "/")]);
    // Prometheus keeps the exporter's `job` label as `exported_job`.
    let job = with(exporter, &[("exported_job", "nightly-backup")]);
    let scenario = Scenario::new(ctx, "a healthy stack fires nothing")
        .series(BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS, &postgres, "1+0x30 1800+0x30 3600+0x30 5400+0x40")
        .series(BACKUP_MAX_AGE_SECONDS, &postgres, "3600+0x130")
        .series(BACKUP_VERIFIED, &postgres, "1+0x130")
        .series(RESTORE_DRILL_SUCCESS, &postgres, "1+0x130")
        .series(RESTORE_DRILL_DURATION_SECONDS, &postgres, "42+0x130")
        .series(RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS, &postgres, "1+0x130")
        .series(CHECK_SUCCESS, &check("home", "http"), "1+0x130")
        .series(CHECK_SUCCESS, &check("postgres", "postgres"), "1+0x130")
        .series(CHECK_SUCCESS, &check("redis", "redis"), "1+0x130")
        .series(CHECK_SUCCESS, &check("backups", "file_freshness"), "1+0x130")
        .series(SMOKE_SUCCESS, exporter, "1+0x130")
        .series(SMOKE_LAST_RUN_TIMESTAMP_SECONDS, exporter, "60+0x130")
        .series(S3_ROUNDTRIP_SUCCESS, &with(exporter, &[("bucket", "app"), ("target", "minio")]), "1+0x130")
        .series(CANARY_SURVIVED, &postgres, "1+0x130")
        .series(REDIS_LAST_BGSAVE_SUCCESS, &with(exporter, &[("target", "redis")]), "1+0x130")
        .series(SERVICE_UP, &service, "1+0x130")
        .series(SERVICE_RESTARTS, &service, "3+0x130")
        .series(DRIFT, &with(&service, &[("kind", "image")]), "0+0x130")
        .series("node_filesystem_avail_bytes", &root, "50000000000+0x130")
        .series("node_filesystem_size_bytes", &root, "100000000000+0x130")
        .series("node_filesystem_readonly", &root, "0+0x130")
        .series("up", exporter, "1+0x130")
        .series(CONFIG_LAST_RELOAD_SUCCESS, exporter, "1+0x130")
        .series(JOB_LAST_RUN_TIMESTAMP_SECONDS, &job, "60+0x130")
        .series(JOB_LAST_SUCCESS_TIMESTAMP_SECONDS, &job, "60+0x130")
        .series(JOB_NEXT_RUN_TIMESTAMP_SECONDS, &job, "86460+0x130")
        .series(&format!("{JOB_RUNS}_total"), &with(&job, &[("result", "ok")]), "1+0x130");
    Alert::ALL.into_iter().fold(scenario, |s, alert| s.quiet(hours(2), alert)).group
}

/// A backup that stopped, one that never ran, and a fresh one.
fn backups(ctx: &Context<'_>, exporter: &Labels) -> TestGroup {
    let (postgres, redis, uploads) = (
        with(exporter, &[("target", "postgres")]),
        with(exporter, &[("target", "redis")]),
        with(exporter, &[("target", "uploads")]),
    );
    Scenario::new(ctx, "backups: stale, never taken and fresh")
        // Last taken at 1 minute.
        .series(BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS, &postgres, "60+0x150")
        .series(BACKUP_MAX_AGE_SECONDS, &postgres, "3600+0x150")
        .series(BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS, &redis, "0+0x150")
        .series(BACKUP_MAX_AGE_SECONDS, &redis, "3600+0x150")
        // Taken every half hour.
        .series(BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS, &uploads, "1+0x30 1800+0x30 3600+0x30 5400+0x60")
        .series(BACKUP_MAX_AGE_SECONDS, &uploads, "3600+0x150")
        .quiet(minutes(30), Alert::BackupStale)
        .fires(
            hours(2),
            Alert::BackupStale,
            &[(
                &postgres,
                "Backup of postgres is stale",
                "The newest successful backup of postgres is 1h 59m 0s old, older than its configured max_age.",
            )],
        )
        .quiet(minutes(30), Alert::BackupNeverSucceeded)
        .fires(
            hours(2),
            Alert::BackupNeverSucceeded,
            &[(
                &redis,
                "No backup of redis ever succeeded",
                "ops-gen finds no successful backup of redis: no file matches its freshness check, or no backup set \
                 holds it. Nothing could be restored today.",
            )],
        )
        .group
}

/// A set that fails verification at 31 minutes; a target without sets.
fn verification(ctx: &Context<'_>, exporter: &Labels) -> TestGroup {
    let (postgres, redis) = (with(exporter, &[("target", "postgres")]), with(exporter, &[("target", "redis")]));
    Scenario::new(ctx, "backups: verification")
        .series(BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS, &postgres, "1000+0x150")
        .series(BACKUP_VERIFIED, &postgres, "1+0x30 0+0x120")
        .series(BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS, &redis, "0+0x150")
        .series(BACKUP_VERIFIED, &redis, "0+0x150")
        .quiet(hours(1), Alert::BackupVerificationFailed)
        .fires(
            hours(2),
            Alert::BackupVerificationFailed,
            &[(
                &postgres,
                "Newest backup set of postgres is not verified",
                "The newest backup set holding postgres failed `ops-gen backup verify`, or was never verified: it \
                 may not match its manifest.",
            )],
        )
        // A set from the future blocks retention from 31 minutes on.
        .series(BACKUP_RETENTION_BLOCKED, &postgres, "0+0x30 1+0x120")
        .series(BACKUP_RETENTION_BLOCKED, &redis, "0+0x150")
        .quiet(hours(1), Alert::BackupRetentionBlocked)
        .fires(
            hours(2),
            Alert::BackupRetentionBlocked,
            &[(
                &postgres,
                "Backup retention of postgres is blocked by the clock",
                "The newest backup set's recorded time lies in the future (the clock was ahead when it was taken, \
                 or is behind now): retention deletes nothing until the clock passes it.",
            )],
        )
        .group
}

/// Scheduled jobs over two hours: one whose last run failed at 31 minutes,
/// one due from 11 minutes on and never succeeding (skipped: the lock is
/// held), one whose clock stopped at 5 minutes, and a healthy one.
fn jobs(ctx: &Context<'_>, exporter: &Labels) -> TestGroup {
    let job = |name| with(exporter, &[("exported_job", name)]);
    let (backup, drill, smoke, verify) = (job("nightly-backup"), job("weekly-drill"), job("smoke"), job("verify"));
    let runs = format!("{JOB_RUNS}_total");
    let result = |labels: &Labels, result| with(labels, &[("result", result)]);
    let overdue = JOB_OVERDUE_SLACK.as_secs() / MINUTE;
    Scenario::new(ctx, "jobs: failed, never succeeded, overdue")
        .series(JOB_LAST_RUN_TIMESTAMP_SECONDS, &backup, "1000+0x30 2000+0x120")
        .series(JOB_LAST_SUCCESS_TIMESTAMP_SECONDS, &backup, "1000+0x150")
        .series(JOB_NEXT_RUN_TIMESTAMP_SECONDS, &backup, "90000+0x150")
        .series(&runs, &result(&backup, "ok"), "1+0x150")
        .series(JOB_LAST_RUN_TIMESTAMP_SECONDS, &drill, "0+0x150")
        .series(JOB_LAST_SUCCESS_TIMESTAMP_SECONDS, &drill, "0+0x150")
        .series(JOB_NEXT_RUN_TIMESTAMP_SECONDS, &drill, "600000+0x150")
        .series(&runs, &result(&drill, "ok"), "0+0x150")
        .series(&runs, &result(&drill, "skipped_locked"), "0+0x10 1+0x140")
        // A job not due yet: never succeeded, nothing counted, quiet.
        .series(JOB_LAST_SUCCESS_TIMESTAMP_SECONDS, &verify, "0+0x150")
        .series(JOB_LAST_RUN_TIMESTAMP_SECONDS, &verify, "0+0x150")
        .series(&runs, &result(&verify, "ok"), "0+0x150")
        .series(JOB_LAST_RUN_TIMESTAMP_SECONDS, &smoke, "60+0x150")
        .series(JOB_LAST_SUCCESS_TIMESTAMP_SECONDS, &smoke, "60+0x150")
        .series(JOB_NEXT_RUN_TIMESTAMP_SECONDS, &smoke, "300+0x150")
        .series(&runs, &result(&smoke, "ok"), "1+0x150")
        .quiet(minutes(30), Alert::JobFailed)
        .fires(
            hours(1),
            Alert::JobFailed,
            &[(
                &backup,
                "Scheduled job nightly-backup failed",
                "The last run of the scheduled job nightly-backup failed; `ops-gen jobs` shows why, and `ops-gen \
                 jobs run nightly-backup` runs it again.",
            )],
        )
        .quiet(hours(1), Alert::JobNeverSucceeded)
        .fires(
            hours(2),
            Alert::JobNeverSucceeded,
            &[(
                &drill,
                "Scheduled job weekly-drill never succeeded",
                "The scheduled job weekly-drill came due since ops-gen started, but no run of it ever succeeded: \
                 each failed or was skipped. `ops-gen jobs` shows its last result.",
            )],
        )
        .quiet(minutes(5 + overdue + 4), Alert::JobOverdue)
        .fires(
            hours(1),
            Alert::JobOverdue,
            &[(
                &smoke,
                "Scheduled job smoke is overdue",
                "The scheduled job smoke was due 55m 0s ago and ops-gen's scheduler has not moved on: it is stuck, \
                 or the clock jumped.",
            )],
        )
        .group
}

/// Over a day: a failed drill, a passed one, a target never drilled, and
/// one with nothing to drill yet.
fn drills(ctx: &Context<'_>, exporter: &Labels) -> TestGroup {
    let target = |name| with(exporter, &[("target", name)]);
    let (postgres, redis, minio, sessions) = (target("postgres"), target("redis"), target("minio"), target("sessions"));
    // (target, backup taken at, drill passed, drill took, drill last passed at)
    let targets = [
        (&postgres, "100+0x1600", "0+0x1600", "12+0x1600", "0+0x1600"),
        (&redis, "100+0x1600", "1+0x1600", "30+0x1600", "60+0x1600"),
        (&minio, "100+0x1600", "0+0x1600", "0+0x1600", "0+0x1600"),
        (&sessions, "0+0x1600", "0+0x1600", "0+0x1600", "0+0x1600"),
    ];
    targets
        .into_iter()
        .fold(Scenario::new(ctx, "restore drills: failed and never run"), |s, (labels, backup, success, took, last)| {
            s.series(BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS, labels, backup)
                .series(RESTORE_DRILL_SUCCESS, labels, success)
                .series(RESTORE_DRILL_DURATION_SECONDS, labels, took)
                .series(RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS, labels, last)
        })
        .quiet(minutes(3), Alert::RestoreDrillFailed)
        .fires(
            minutes(10),
            Alert::RestoreDrillFailed,
            &[(
                &postgres,
                "Restore drill of postgres failed",
                "The newest restore drill of postgres did not bring back data that passes its sanity checks: the \
                 backups may not be restorable.",
            )],
        )
        .quiet(hours(2), Alert::RestoreDrillNeverRun)
        .fires(
            hours(25),
            Alert::RestoreDrillNeverRun,
            &[(
                &minio,
                "No restore drill of minio ever ran",
                "minio has backups, but none was ever restored in a drill: a backup never restored is a hope. Run \
                 `ops-gen backup drill`.",
            )],
        )
        .group
}

/// A drill that passed at 1s, evaluated a day before and two hours after
/// [`RESTORE_DRILL_MAX_AGE`], and a target whose drills never passed. On
/// its own because promtool evaluates every rule each minute of the span.
fn stale_drills(ctx: &Context<'_>, exporter: &Labels) -> TestGroup {
    let (redis, postgres) = (with(exporter, &[("target", "redis")]), with(exporter, &[("target", "postgres")]));
    let late = RESTORE_DRILL_MAX_AGE + hours(2);
    let samples = late.as_secs() / MINUTE + 10;
    let days = RESTORE_DRILL_MAX_AGE.as_secs() / DAY;
    Scenario::new(ctx, "restore drills: stale")
        .series(RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS, &redis, &format!("1+0x{samples}"))
        .series(RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS, &postgres, &format!("0+0x{samples}"))
        .quiet(RESTORE_DRILL_MAX_AGE.saturating_sub(hours(24)), Alert::RestoreDrillStale)
        .fires(
            late,
            Alert::RestoreDrillStale,
            &[(
                &redis,
                &format!("No restore drill of redis passed in {days} days"),
                // Passed at 1s: 1 second less than the age plus 2 hours.
                &format!(
                    "The last passing restore drill of redis was {days}d 1h 59m 59s ago. Run `ops-gen backup drill` \
                     so a restore is known to work."
                ),
            )],
        )
        .group
}

/// Checks of every kind failing from 11 minutes, and a smoke run that never
/// ran, then failed.
fn checks(ctx: &Context<'_>, exporter: &Labels) -> TestGroup {
    let check = |name, kind| with(exporter, &[("check", name), ("kind", kind)]);
    let (home, postgres, backups) =
        (check("home", "http"), check("postgres", "postgres"), check("backups", "file_freshness"));
    Scenario::new(ctx, "checks and smoke runs")
        .series(CHECK_SUCCESS, &home, "1+0x10 0+0x30")
        .series(CHECK_SUCCESS, &postgres, "1+0x10 0+0x30")
        .series(CHECK_SUCCESS, &check("redis", "redis"), "1+0x40")
        .series(CHECK_SUCCESS, &backups, "1+0x10 0+0x30")
        // These have alerts of their own.
        .series(CHECK_SUCCESS, &check("minio", "s3"), "0+0x40")
        .series(CHECK_SUCCESS, &check("canary-postgres", "canary"), "0+0x40")
        // Smoke never ran for 10 minutes (which says 0 too), then a run failed.
        .series(SMOKE_SUCCESS, exporter, "0+0x40")
        .series(SMOKE_LAST_RUN_TIMESTAMP_SECONDS, exporter, "0+0x10 660+0x30")
        .quiet(minutes(10), Alert::SmokeCheckFailing)
        .fires(
            minutes(20),
            Alert::SmokeCheckFailing,
            &[(
                &home,
                "Smoke check home is failing",
                "The app does not answer home as expected; `ops-gen probe home` shows the reason.",
            )],
        )
        .quiet(minutes(10), Alert::CheckFailing)
        .fires(
            minutes(20),
            Alert::CheckFailing,
            &[
                (
                    &postgres,
                    "Check postgres (postgres) is failing",
                    "The postgres check postgres fails; `ops-gen probe postgres` shows the reason.",
                ),
                (
                    &backups,
                    "Check backups (file_freshness) is failing",
                    "The file_freshness check backups fails; `ops-gen probe backups` shows the reason.",
                ),
            ],
        )
        .quiet(minutes(10), Alert::SmokeRunFailed)
        .fires(
            minutes(20),
            Alert::SmokeRunFailed,
            &[(
                exporter,
                "The last ops-gen smoke run failed",
                "`ops-gen smoke` found a problem after the last change; output/smoke/latest.json names the step that \
                 failed and why.",
            )],
        )
        .group
}

/// One bucket's round trip failing from 11 minutes, another's fine.
fn s3(ctx: &Context<'_>, exporter: &Labels) -> TestGroup {
    let app = with(exporter, &[("bucket", "app"), ("target", "minio")]);
    Scenario::new(ctx, "S3 round trips")
        .series(S3_ROUNDTRIP_SUCCESS, &app, "1+0x10 0+0x40")
        .series(S3_ROUNDTRIP_SUCCESS, &with(exporter, &[("bucket", "media"), ("target", "minio")]), "1+0x50")
        .quiet(minutes(20), Alert::S3RoundTripFailing)
        .fires(
            minutes(30),
            Alert::S3RoundTripFailing,
            &[(
                &app,
                "S3 round trip to minio is failing",
                "Writing, reading back and deleting a test object in bucket app of minio fails: the object store does \
                 not reliably store.",
            )],
        )
        .group
}

/// A canary lost and a Redis save failing at 11 minutes.
fn persistence(ctx: &Context<'_>, exporter: &Labels) -> TestGroup {
    let (postgres, redis) = (with(exporter, &[("target", "postgres")]), with(exporter, &[("target", "redis")]));
    Scenario::new(ctx, "canaries and Redis saves")
        .series(CANARY_SURVIVED, &postgres, "1+0x10 0+0x20")
        .series(CANARY_SURVIVED, &redis, "1+0x30")
        .series(REDIS_LAST_BGSAVE_SUCCESS, &redis, "1+0x10 0+0x20")
        .series(REDIS_LAST_BGSAVE_SUCCESS, &with(exporter, &[("target", "sessions")]), "1+0x30")
        .quiet(minutes(10), Alert::CanaryLost)
        .fires(
            minutes(20),
            Alert::CanaryLost,
            &[(
                &postgres,
                "postgres lost its data in a restart",
                "The canary ops-gen wrote to postgres was gone after the store restarted: its data is not on a \
                 persistent volume, and the next restart loses it again.",
            )],
        )
        .quiet(minutes(10), Alert::RedisBackgroundSaveFailing)
        .fires(
            minutes(20),
            Alert::RedisBackgroundSaveFailing,
            &[(
                &redis,
                "Redis redis cannot save its snapshot",
                "The last background save of redis failed: Redis refuses writes while stop-writes-on-bgsave-error is \
                 on (the default), and a crash loses what changed since its last good save.",
            )],
        )
        .group
}

/// `app` stops at 11 minutes; `worker` restarts once at 11 minutes and runs
/// another image from then on; `db` is recreated (its restart count starts
/// over), which is no restart.
fn compose(ctx: &Context<'_>, project: &Labels) -> TestGroup {
    let service = |name| with(project, &[("service", name)]);
    let (app, worker, db) = (service("app"), service("worker"), service("db"));
    let worker_image = with(&worker, &[("kind", "image")]);
    let p = &ctx.project;
    Scenario::new(ctx, "compose services: down, restarting, drifting")
        .series(SERVICE_UP, &app, "1+0x10 0+0x20")
        .series(SERVICE_UP, &worker, "1+0x40")
        .series(SERVICE_UP, &db, "1+0x40")
        .series(SERVICE_RESTARTS, &app, "0+0x40")
        .series(SERVICE_RESTARTS, &worker, "2+0x10 3+0x30")
        .series(SERVICE_RESTARTS, &db, "5+0x10 0+0x30")
        .series(DRIFT, &worker_image, "0+0x10 1+0x30")
        .series(DRIFT, &with(&app, &[("kind", "config")]), "0+0x40")
        .quiet(minutes(10), Alert::ContainerDown)
        .fires(
            minutes(20),
            Alert::ContainerDown,
            &[(
                &app,
                &format!("Service app of {p} is down"),
                "The container of app is not running; `ops-gen compose logs app` shows why it stopped.",
            )],
        )
        .quiet(minutes(10), Alert::ContainerRestarting)
        .fires(
            minutes(20),
            Alert::ContainerRestarting,
            &[(
                &worker,
                &format!("Service worker of {p} is restarting"),
                "Docker restarted worker after it exited, within the last 15 minutes; `ops-gen compose logs worker` \
                 shows the exit.",
            )],
        )
        // The restart at 11 minutes has left the window.
        .quiet(minutes(30), Alert::ContainerRestarting)
        .quiet(minutes(20), Alert::Drift)
        .fires(
            minutes(30),
            Alert::Drift,
            &[(
                &worker_image,
                &format!("Service worker of {p} drifts from its compose files (image)"),
                "What runs as worker differs from what the compose files declare (image); `ops-gen compose status` \
                 shows the difference.",
            )],
        )
        .group
}

/// `/` loses 50 MB a minute from 35% free; `/data` sits at 3% free;
/// `/home` loses 100 MB a minute but is still mostly empty; a tmpfs that
/// fills up is ignored.
fn host(ctx: &Context<'_>, node: &Labels) -> TestGroup {
    let fs =
        |device, fstype, mountpoint| with(node, &[("device", device), ("fstype", fstype), ("mountpoint", mountpoint)]);
    let (root, data) = (fs("/dev/sda1", "ext4", "/"), fs("/dev/sdb1", "ext4", "/data"));
    // (filesystem, available bytes, size)
    let filesystems = [
        (&root, "35000000000-50000000x130", "100000000000+0x130"),
        (&data, "3000000000+0x130", "100000000000+0x130"),
        (&fs("/dev/sdc1", "ext4", "/home"), "90000000000-100000000x130", "100000000000+0x130"),
        (&fs("tmpfs", "tmpfs", "/run"), "900000000-7500000x130", "1000000000+0x130"),
    ];
    filesystems
        .into_iter()
        .fold(Scenario::new(ctx, "host filesystems"), |s, (labels, avail, size)| {
            s.series("node_filesystem_avail_bytes", labels, avail)
                .series("node_filesystem_size_bytes", labels, size)
                .series("node_filesystem_readonly", labels, "0+0x130")
        })
        .quiet(minutes(30), Alert::HostDiskFilling)
        .fires(
            hours(2),
            Alert::HostDiskFilling,
            &[(
                &root,
                "/ on node-exporter:9100 fills up within a day",
                "At the rate of the last 6 hours, / (/dev/sda1) runs out of space within 24 hours.",
            )],
        )
        .quiet(minutes(3), Alert::HostDiskAlmostFull)
        .fires(
            hours(2),
            Alert::HostDiskAlmostFull,
            &[(
                &data,
                "/data on node-exporter:9100 is almost full",
                "Only 3% of /data (/dev/sdb1) is free: databases stop accepting writes and backups fail when it is \
                 full.",
            )],
        )
        .group
}

/// The exporter's scrape fails, and its config reload, from 11 minutes.
fn exporter_up(ctx: &Context<'_>, exporter: &Labels, instance: &str) -> TestGroup {
    Scenario::new(ctx, "exporter down and config reload failed")
        .series("up", exporter, "1+0x10 0+0x20")
        .series(CONFIG_LAST_RELOAD_SUCCESS, exporter, "1+0x10 0+0x20")
        .quiet(minutes(10), Alert::ExporterDown)
        .fires(
            minutes(20),
            Alert::ExporterDown,
            &[(
                exporter,
                &format!("ops-gen exporter {instance} is down"),
                &format!(
                    "Prometheus cannot scrape ops-gen at {instance}: every other ops-gen alert is blind until it is \
                     back."
                ),
            )],
        )
        .quiet(minutes(10), Alert::ConfigReloadFailed)
        .fires(
            minutes(20),
            Alert::ConfigReloadFailed,
            &[(
                exporter,
                &format!("ops-gen {instance} rejected its changed config"),
                "The last reload of ops-gen.yml failed and ops-gen keeps running the previous config; `ops-gen config \
                 check` names the problem.",
            )],
        )
        .group
}

/// The exporter's target disappears from Prometheus after 10 minutes.
fn exporter_gone(ctx: &Context<'_>, instance: &str) -> TestGroup {
    let job = with(&Labels::new(), &[("job", EXPORTER_JOB)]);
    Scenario::new(ctx, "exporter absent")
        .series("up", &with(&job, &[("instance", instance)]), "1+0x10")
        .quiet(minutes(10), Alert::ExporterAbsent)
        .fires(
            minutes(30),
            Alert::ExporterAbsent,
            &[(
                &job,
                "Prometheus does not scrape ops-gen",
                "Prometheus has no target in the ops-gen scrape job: its scrape config lost it, and every other \
                 ops-gen alert is blind.",
            )],
        )
        .group
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::profile::rules::{self, RULES_FILE};
    use crate::profile::{App, Settings};
    use serde_norway::Value;

    fn with_context<T>(f: impl FnOnce(&Context<'_>) -> T) -> T {
        let (config, profile, app) = (Config::default(), Settings::default(), App::default());
        f(&Context::for_tests(&config, &profile, &app))
    }

    /// The tests file, parsed back.
    fn parsed() -> Value {
        with_context(|ctx| serde_norway::from_str(&artifacts(ctx)[0].contents).unwrap())
    }

    /// The rule file and its tests, as `generate` writes them.
    fn both(ctx: &Context<'_>) -> Vec<Artifact> {
        rules::artifacts(ctx).into_iter().chain(artifacts(ctx)).collect()
    }

    #[test]
    fn output_is_deterministic() {
        with_context(|ctx| {
            let first = both(ctx);
            assert_eq!(first, both(ctx));
            let paths: Vec<_> = first.iter().map(|a| a.path.to_string_lossy().into_owned()).collect();
            assert_eq!(paths, [RULES_FILE, TESTS_FILE]);
        });
    }

    #[test]
    fn every_alert_is_tested_firing_and_quiet() {
        let names: Vec<&str> = Alert::ALL.iter().map(|a| a.definition().name).collect();
        let test_file = parsed();
        let cases: Vec<(&str, bool)> = test_file["tests"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(|group| group["alert_rule_test"].as_sequence().unwrap())
            .map(|case| (case["alertname"].as_str().unwrap(), !case["exp_alerts"].as_sequence().unwrap().is_empty()))
            .collect();
        for name in &names {
            assert!(cases.contains(&(name, true)), "{name} is never tested firing");
            assert!(cases.contains(&(name, false)), "{name} is never tested quiet");
        }
        for (name, _) in &cases {
            assert!(names.contains(name), "a test names {name}, which is no rule");
        }
    }

    #[test]
    fn tests_load_the_rule_file() {
        let test_file = parsed();
        let from_tests = test_file["rule_files"][0].as_str().unwrap();
        // promtool resolves it from the test file's folder.
        let mut resolved = std::path::PathBuf::new();
        for part in std::path::Path::new(TESTS_FILE).parent().unwrap().join(from_tests).components() {
            match part {
                std::path::Component::ParentDir => assert!(resolved.pop()),
                other => resolved.push(other),
            }
        }
        assert_eq!(resolved, std::path::Path::new(RULES_FILE));
    }

    #[test]
    fn runbook_links_follow_the_config() {
        let (config, app) = (Config::default(), App::default());
        let profile = Settings { runbook_url: "https://wiki.example.com/ops/".to_owned(), ..Settings::default() };
        let ctx = Context::for_tests(&config, &profile, &app);
        for file in both(&ctx) {
            let link = "runbook_url: https://wiki.example.com/ops/backup-stale";
            assert!(file.contents.contains(link), "{}", file.path.display());
        }
    }
}
