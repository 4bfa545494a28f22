//! Alert rules for Prometheus: `prometheus/rules/ops-gen.yml`.
//!
//! The rules turn the exporter's series (named in [`crate::series`]) and
//! `node_exporter`'s filesystem series into the alerts PRODUCT.md promises:
//! backups stale or never taken, unverified sets, failed or missing restore
//! drills, failing checks and smoke runs, S3 round trips, lost canaries,
//! Redis saves, compose drift, containers down or restarting, a filling
//! disk, a missing exporter, and scheduled jobs that failed, never
//! succeeded or are overdue. Each alert links to its runbook page
//! (`docs/runbooks/`, served by `ops-gen serve` and printed by
//! `ops-gen runbook`).
//!
//! Thresholds come from the series where the exporter publishes them (a
//! backup's `max_age`), so rules hold no per-target numbers. The file is
//! serialized from the typed structs below. Every alert has promtool tests
//! ([`super::rule_tests`]), which name it by its `Alert` variant.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::{Artifact, Context, REAL_FILESYSTEMS};
use crate::series::{
    BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS, BACKUP_MAX_AGE_SECONDS, BACKUP_RETENTION_BLOCKED, BACKUP_VERIFIED,
    CANARY_SURVIVED, CHECK_SUCCESS, CONFIG_LAST_RELOAD_SUCCESS, DRIFT, JOB_LAST_RUN_TIMESTAMP_SECONDS,
    JOB_LAST_SUCCESS_TIMESTAMP_SECONDS, JOB_NEXT_RUN_TIMESTAMP_SECONDS, JOB_RUNS, REDIS_LAST_BGSAVE_SUCCESS,
    RESTORE_DRILL_DURATION_SECONDS, RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS, RESTORE_DRILL_SUCCESS,
    S3_ROUNDTRIP_SUCCESS, SERVICE_RESTARTS, SERVICE_UP, SMOKE_LAST_RUN_TIMESTAMP_SECONDS, SMOKE_SUCCESS,
};

/// The Prometheus scrape job of the exporter: rules find it by this name.
pub const EXPORTER_JOB: &str = "ops-gen";

/// A restore drill older than this is stale: run one a week, with a day's
/// slack for a late schedule.
pub const RESTORE_DRILL_MAX_AGE: Duration = Duration::from_secs(8 * DAY);

/// The rule file, relative to the output folder.
pub const RULES_FILE: &str = "prometheus/rules/ops-gen.yml";

/// A scheduled job whose time passed this long ago without its clock
/// moving on is overdue (jitter delays the start, never the next time).
pub const JOB_OVERDUE_SLACK: Duration = Duration::from_secs(15 * MINUTE);

/// How long a job may come due without ever succeeding before anyone is
/// told.
const JOB_GRACE: Duration = Duration::from_secs(HOUR);

/// How far back a restart counts as "restarting".
const RESTART_WINDOW: Duration = Duration::from_secs(15 * MINUTE);

pub(super) const MINUTE: u64 = 60;
pub(super) const HOUR: u64 = 60 * MINUTE;
pub(super) const DAY: u64 = 24 * HOUR;

// Label references in annotation templates, for the texts built with `format!`.
const TARGET: &str = "{{ $labels.target }}";
const SERVICE: &str = "{{ $labels.service }}";
const PROJECT: &str = "{{ $labels.project }}";
/// A scheduled job's name: the exporter's `job` label, which Prometheus
/// keeps as `exported_job` beside its own `job` (the scrape job).
const JOB: &str = "{{ $labels.exported_job }}";
/// The alert's value, a number of seconds, as `1d 2h 3m 4s`.
const AGE: &str = "{{ $value | humanizeDuration }}";

/// The rule file.
#[must_use]
pub fn artifacts(ctx: &Context<'_>) -> Vec<Artifact> {
    vec![Artifact::yaml(RULES_FILE, &rule_file(ctx))]
}

// ---------------------------------------------------------------------------
// The rule file, as Prometheus reads it.

/// The rule file; also the `spec` of the Kubernetes `PrometheusRule`
/// ([`super::k8s`]): one source, two renderings.
#[derive(Debug, Serialize)]
pub(crate) struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Serialize)]
struct RuleGroup {
    name: &'static str,
    rules: Vec<AlertingRule>,
}

#[derive(Debug, Serialize)]
struct AlertingRule {
    alert: &'static str,
    expr: String,
    #[serde(rename = "for")]
    hold: PromDuration,
    labels: RuleLabels,
    annotations: Annotations,
}

#[derive(Debug, Serialize)]
struct RuleLabels {
    severity: Severity,
}

/// The annotations every alert carries; promtool compares all of them.
#[derive(Debug, Serialize)]
pub(super) struct Annotations {
    pub(super) summary: String,
    pub(super) description: String,
    pub(super) runbook_url: String,
}

/// `critical`: data or the app is at risk now. `warning`: act today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Severity {
    Critical,
    Warning,
}

impl Severity {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
        }
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A duration as Prometheus 2.x parses it: whole seconds in the largest
/// units (`1d2h`, `15m`, `0s`), without the `_` separators 3.x accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PromDuration(pub(super) Duration);

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0.as_secs();
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, seconds) in [("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1)] {
            if rest >= seconds {
                write!(f, "{}{unit}", rest / seconds)?;
                rest %= seconds;
            }
        }
        Ok(())
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

pub(super) const fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * MINUTE)
}

pub(super) const fn hours(n: u64) -> Duration {
    Duration::from_secs(n * HOUR)
}

// ---------------------------------------------------------------------------
// The alerts.

/// The rule groups, by concern, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Backups,
    Jobs,
    Checks,
    S3,
    Persistence,
    Compose,
    Host,
    Exporter,
}

impl Group {
    const ALL: [Self; 8] = [
        Self::Backups,
        Self::Jobs,
        Self::Checks,
        Self::S3,
        Self::Persistence,
        Self::Compose,
        Self::Host,
        Self::Exporter,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Backups => "opsgen-backups",
            Self::Jobs => "opsgen-jobs",
            Self::Checks => "opsgen-checks",
            Self::S3 => "opsgen-s3",
            Self::Persistence => "opsgen-persistence",
            Self::Compose => "opsgen-compose",
            Self::Host => "opsgen-host",
            Self::Exporter => "opsgen-exporter",
        }
    }
}

/// Every alert. The promtool tests refer to them by variant, so a test
/// cannot name an alert that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Alert {
    BackupNeverSucceeded,
    BackupStale,
    BackupVerificationFailed,
    BackupRetentionBlocked,
    RestoreDrillFailed,
    RestoreDrillStale,
    RestoreDrillNeverRun,
    JobFailed,
    JobNeverSucceeded,
    JobOverdue,
    SmokeCheckFailing,
    SmokeRunFailed,
    CheckFailing,
    S3RoundTripFailing,
    CanaryLost,
    RedisBackgroundSaveFailing,
    ContainerDown,
    ContainerRestarting,
    Drift,
    HostDiskFilling,
    HostDiskAlmostFull,
    ExporterDown,
    ExporterAbsent,
    ConfigReloadFailed,
}

/// What an alert is: everything of its rule but the runbook's address,
/// which depends on the config.
#[derive(Debug)]
pub(super) struct Definition {
    pub(super) name: &'static str,
    group: Group,
    pub(super) severity: Severity,
    /// How long the condition must hold (the rule's `for`).
    hold: Duration,
    /// The runbook page, a topic of [`crate::runbook::ALL`].
    pub(super) topic: &'static str,
    expr: String,
    summary: String,
    description: String,
}

impl Alert {
    pub(super) const ALL: [Self; 24] = [
        Self::BackupNeverSucceeded,
        Self::BackupStale,
        Self::BackupVerificationFailed,
        Self::BackupRetentionBlocked,
        Self::RestoreDrillFailed,
        Self::RestoreDrillStale,
        Self::RestoreDrillNeverRun,
        Self::JobFailed,
        Self::JobNeverSucceeded,
        Self::JobOverdue,
        Self::SmokeCheckFailing,
        Self::SmokeRunFailed,
        Self::CheckFailing,
        Self::S3RoundTripFailing,
        Self::CanaryLost,
        Self::RedisBackgroundSaveFailing,
        Self::ContainerDown,
        Self::ContainerRestarting,
        Self::Drift,
        Self::HostDiskFilling,
        Self::HostDiskAlmostFull,
        Self::ExporterDown,
        Self::ExporterAbsent,
        Self::ConfigReloadFailed,
    ];

    #[allow(clippy::too_many_lines)] // one arm per alert reads better than twenty functions
    pub(super) fn definition(self) -> Definition {
        use Severity::{Critical, Warning};
        match self {
            // The series is 0 until a first backup exists, and briefly after
            // the exporter starts: the hour keeps a restart quiet.
            Self::BackupNeverSucceeded => Definition {
                name: "OpsGenBackupNeverSucceeded",
                group: Group::Backups,
                severity: Critical,
                hold: hours(1),
                topic: "backup-stale",
                expr: format!("{BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS} == 0"),
                summary: "No backup of {{ $labels.target }} ever succeeded".to_owned(),
                description: "ops-gen finds no successful backup of {{ $labels.target }}: no file matches its \
                              freshness check, or no backup set holds it. Nothing could be restored today."
                    .to_owned(),
            },
            // The threshold is the target's own `max_age`, exported next to
            // the timestamp; "never" (0) is the alert above.
            Self::BackupStale => Definition {
                name: "OpsGenBackupStale",
                group: Group::Backups,
                severity: Critical,
                hold: minutes(10),
                topic: "backup-stale",
                expr: format!(
                    "(time() - {BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS} > {BACKUP_MAX_AGE_SECONDS}) and \
                       {BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS} > 0"
                ),
                summary: "Backup of {{ $labels.target }} is stale".to_owned(),
                description: "The newest successful backup of {{ $labels.target }} is {{ $value | humanizeDuration }} \
                              old, older than its configured max_age."
                    .to_owned(),
            },
            // `backup run` does not verify: a new set reads 0 until
            // `backup verify` passes, so the hour lets a scheduled verify
            // follow its backup before anyone is told.
            Self::BackupVerificationFailed => Definition {
                name: "OpsGenBackupVerificationFailed",
                group: Group::Backups,
                severity: Warning,
                hold: hours(1),
                topic: "backup-unverified",
                expr: format!("{BACKUP_VERIFIED} == 0 and {BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS} > 0"),
                summary: "Newest backup set of {{ $labels.target }} is not verified".to_owned(),
                description: "The newest backup set holding {{ $labels.target }} failed `ops-gen backup verify`, or \
                              was never verified: it may not match its manifest."
                    .to_owned(),
            },
            // Nothing is lost while it holds, but the folder only grows.
            Self::BackupRetentionBlocked => Definition {
                name: "OpsGenBackupRetentionBlocked",
                group: Group::Backups,
                severity: Warning,
                hold: hours(1),
                topic: "backup-retention-blocked",
                expr: format!("{BACKUP_RETENTION_BLOCKED} == 1"),
                summary: "Backup retention of {{ $labels.target }} is blocked by the clock".to_owned(),
                description: "The newest backup set's recorded time lies in the future (the clock was ahead when it \
                              was taken, or is behind now): retention deletes nothing until the clock passes it."
                    .to_owned(),
            },
            // Success is 0 also before the first drill; a drill that ran,
            // passed or not, has a measured duration.
            Self::RestoreDrillFailed => Definition {
                name: "OpsGenRestoreDrillFailed",
                group: Group::Backups,
                severity: Critical,
                hold: minutes(5),
                topic: "drill-failed",
                expr: format!("{RESTORE_DRILL_SUCCESS} == 0 and {RESTORE_DRILL_DURATION_SECONDS} > 0"),
                summary: "Restore drill of {{ $labels.target }} failed".to_owned(),
                description:
                    "The newest restore drill of {{ $labels.target }} did not bring back data that passes its \
                              sanity checks: the backups may not be restorable."
                        .to_owned(),
            },
            Self::RestoreDrillStale => Definition {
                name: "OpsGenRestoreDrillStale",
                group: Group::Backups,
                severity: Warning,
                hold: hours(1),
                topic: "drill-failed",
                expr: format!(
                    "(time() - {RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS} > {}) \
                     and {RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS} > 0",
                    RESTORE_DRILL_MAX_AGE.as_secs()
                ),
                summary: format!(
                    "No restore drill of {TARGET} passed in {} days",
                    RESTORE_DRILL_MAX_AGE.as_secs() / DAY
                ),
                description: format!(
                    "The last passing restore drill of {TARGET} was {AGE} ago. \
                     Run `ops-gen backup drill` so a restore is known to work."
                ),
            },
            // Only targets that have a backup to drill; the day leaves time
            // for a first drill after the first backup.
            Self::RestoreDrillNeverRun => Definition {
                name: "OpsGenRestoreDrillNeverRun",
                group: Group::Backups,
                severity: Warning,
                hold: hours(24),
                topic: "drill-failed",
                expr: format!(
                    "{RESTORE_DRILL_DURATION_SECONDS} == 0 and \
                       {RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS} == 0 and \
                       {BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS} > 0"
                ),
                summary: "No restore drill of {{ $labels.target }} ever ran".to_owned(),
                description: "{{ $labels.target }} has backups, but none was ever restored in a drill: a backup never \
                              restored is a hope. Run `ops-gen backup drill`."
                    .to_owned(),
            },
            // A run that failed finished after the last success (or with
            // none): the two series of the same job compare one to one.
            Self::JobFailed => Definition {
                name: "OpsGenJobFailed",
                group: Group::Jobs,
                severity: Warning,
                hold: minutes(1),
                topic: "job-failed",
                expr: format!("{JOB_LAST_RUN_TIMESTAMP_SECONDS} > {JOB_LAST_SUCCESS_TIMESTAMP_SECONDS}"),
                summary: format!("Scheduled job {JOB} failed"),
                description: format!(
                    "The last run of the scheduled job {JOB} failed; `ops-gen jobs` shows why, and \
                     `ops-gen jobs run {JOB}` runs it again."
                ),
            },
            // Its time came since ops-gen started (some result was counted)
            // and no run ever succeeded: every one failed or was skipped
            // (still running, the backup folder held by another process).
            // A job not due yet (a weekly drill on a new host) stays quiet.
            Self::JobNeverSucceeded => Definition {
                name: "OpsGenJobNeverSucceeded",
                group: Group::Jobs,
                severity: Warning,
                hold: JOB_GRACE,
                topic: "job-never-succeeded",
                expr: format!(
                    "{JOB_LAST_SUCCESS_TIMESTAMP_SECONDS} == 0 and sum without (result) ({JOB_RUNS}_total) > 0"
                ),
                summary: format!("Scheduled job {JOB} never succeeded"),
                description: format!(
                    "The scheduled job {JOB} came due since ops-gen started, but no run of it ever succeeded: \
                     each failed or was skipped. `ops-gen jobs` shows its last result."
                ),
            },
            // The scheduler moves the next time on at every tick, whether
            // the run starts, waits for its jitter or is skipped: a next time
            // long past means its clock is stuck.
            Self::JobOverdue => Definition {
                name: "OpsGenJobOverdue",
                group: Group::Jobs,
                severity: Warning,
                hold: minutes(5),
                topic: "job-overdue",
                expr: format!(
                    "time() - {JOB_NEXT_RUN_TIMESTAMP_SECONDS} > {} and {JOB_NEXT_RUN_TIMESTAMP_SECONDS} > 0",
                    JOB_OVERDUE_SLACK.as_secs()
                ),
                summary: format!("Scheduled job {JOB} is overdue"),
                description: format!(
                    "The scheduled job {JOB} was due {AGE} ago and ops-gen's scheduler has not moved on: \
                     it is stuck, or the clock jumped."
                ),
            },
            Self::SmokeCheckFailing => Definition {
                name: "OpsGenSmokeCheckFailing",
                group: Group::Checks,
                severity: Critical,
                hold: minutes(5),
                topic: "check-failing",
                expr: format!(r#"{CHECK_SUCCESS}{{kind="http"}} == 0"#),
                summary: "Smoke check {{ $labels.check }} is failing".to_owned(),
                description:
                    "The app does not answer {{ $labels.check }} as expected; `ops-gen probe {{ $labels.check \
                              }}` shows the reason."
                        .to_owned(),
            },
            // The result of the last `ops-gen smoke`, kept until the next run.
            Self::SmokeRunFailed => Definition {
                name: "OpsGenSmokeRunFailed",
                group: Group::Checks,
                severity: Warning,
                hold: minutes(1),
                topic: "smoke-failing",
                // Only once it ran: before the first run the series says 0 too.
                expr: format!("{SMOKE_SUCCESS} == 0 and {SMOKE_LAST_RUN_TIMESTAMP_SECONDS} > 0"),
                summary: "The last ops-gen smoke run failed".to_owned(),
                description: "`ops-gen smoke` found a problem after the last change; output/smoke/latest.json names \
                              the step that failed and why."
                    .to_owned(),
            },
            // S3 and canary checks have their own, more telling alerts.
            Self::CheckFailing => Definition {
                name: "OpsGenCheckFailing",
                group: Group::Checks,
                severity: Critical,
                hold: minutes(5),
                topic: "check-failing",
                expr: format!(r#"{CHECK_SUCCESS}{{kind=~"postgres|redis|file_freshness"}} == 0"#),
                summary: "Check {{ $labels.check }} ({{ $labels.kind }}) is failing".to_owned(),
                description: "The {{ $labels.kind }} check {{ $labels.check }} fails; `ops-gen probe {{ $labels.check \
                              }}` shows the reason."
                    .to_owned(),
            },
            // Round trips run every 5 minutes by default and read 0 before
            // the first one: a quarter of an hour is about three failures.
            Self::S3RoundTripFailing => Definition {
                name: "OpsGenS3RoundTripFailing",
                group: Group::S3,
                severity: Critical,
                hold: minutes(15),
                topic: "s3-failing",
                expr: format!("{S3_ROUNDTRIP_SUCCESS} == 0"),
                summary: "S3 round trip to {{ $labels.target }} is failing".to_owned(),
                description: "Writing, reading back and deleting a test object in bucket {{ $labels.bucket }} of {{ \
                              $labels.target }} fails: the object store does not reliably store."
                    .to_owned(),
            },
            // Once lost, the canary stays lost (0) until ops-gen restarts.
            Self::CanaryLost => Definition {
                name: "OpsGenCanaryLost",
                group: Group::Persistence,
                severity: Critical,
                hold: minutes(1),
                topic: "canary-lost",
                expr: format!("{CANARY_SURVIVED} == 0"),
                summary: "{{ $labels.target }} lost its data in a restart".to_owned(),
                description:
                    "The canary ops-gen wrote to {{ $labels.target }} was gone after the store restarted: its \
                              data is not on a persistent volume, and the next restart loses it again."
                        .to_owned(),
            },
            Self::RedisBackgroundSaveFailing => Definition {
                name: "OpsGenRedisBackgroundSaveFailing",
                group: Group::Persistence,
                severity: Critical,
                hold: minutes(5),
                topic: "redis-save-failing",
                expr: format!("{REDIS_LAST_BGSAVE_SUCCESS} == 0"),
                summary: "Redis {{ $labels.target }} cannot save its snapshot".to_owned(),
                description: "The last background save of {{ $labels.target }} failed: Redis refuses writes while \
                              stop-writes-on-bgsave-error is on (the default), and a crash loses what changed since \
                              its last good save."
                    .to_owned(),
            },
            Self::ContainerDown => Definition {
                name: "OpsGenContainerDown",
                group: Group::Compose,
                severity: Critical,
                hold: minutes(2),
                topic: "restart-service",
                expr: format!("{SERVICE_UP} == 0"),
                summary: "Service {{ $labels.service }} of {{ $labels.project }} is down".to_owned(),
                description: "The container of {{ $labels.service }} is not running; `ops-gen compose logs {{ \
                              $labels.service }}` shows why it stopped."
                    .to_owned(),
            },
            // The series is Docker's restart count, a gauge that starts over
            // at 0 when the container is recreated. Any change in the window
            // while the count is above 0 is a restart; a recreate alone
            // (back to 0) is not. The window already holds the alert for 15
            // minutes after the last restart, so it fires at once.
            Self::ContainerRestarting => Definition {
                name: "OpsGenContainerRestarting",
                group: Group::Compose,
                severity: Warning,
                hold: Duration::ZERO,
                topic: "restart-service",
                expr: format!(
                    "changes({SERVICE_RESTARTS}[{}]) > 0 and {SERVICE_RESTARTS} > 0",
                    PromDuration(RESTART_WINDOW)
                ),
                summary: format!("Service {SERVICE} of {PROJECT} is restarting"),
                description: format!(
                    "Docker restarted {SERVICE} after it exited, within the last {} minutes; \
                     `ops-gen compose logs {SERVICE}` shows the exit.",
                    RESTART_WINDOW.as_secs() / MINUTE
                ),
            },
            // A deploy drifts for a moment; a quarter of an hour does not.
            Self::Drift => Definition {
                name: "OpsGenDrift",
                group: Group::Compose,
                severity: Warning,
                hold: minutes(15),
                topic: "drift",
                expr: format!("{DRIFT} == 1"),
                summary: "Service {{ $labels.service }} of {{ $labels.project }} drifts from its compose files ({{ \
                          $labels.kind }})"
                    .to_owned(),
                description: "What runs as {{ $labels.service }} differs from what the compose files declare ({{ \
                              $labels.kind }}); `ops-gen compose status` shows the difference."
                    .to_owned(),
            },
            // node-mixin's shape: a trend that empties the disk within a day,
            // only once it is below 40% free, so a burst on a big empty disk
            // stays quiet.
            Self::HostDiskFilling => Definition {
                name: "OpsGenHostDiskFilling",
                group: Group::Host,
                severity: Warning,
                hold: hours(1),
                topic: "disk-full",
                expr: format!(
                    "predict_linear(node_filesystem_avail_bytes{{{REAL_FILESYSTEMS}}}[6h], 24 * 3600) < 0 \
                     and node_filesystem_avail_bytes{{{REAL_FILESYSTEMS}}} \
                     / node_filesystem_size_bytes{{{REAL_FILESYSTEMS}}} < 0.4 \
                     and node_filesystem_readonly{{{REAL_FILESYSTEMS}}} == 0"
                ),
                summary: "{{ $labels.mountpoint }} on {{ $labels.instance }} fills up within a day".to_owned(),
                description: "At the rate of the last 6 hours, {{ $labels.mountpoint }} ({{ $labels.device }}) runs \
                              out of space within 24 hours."
                    .to_owned(),
            },
            Self::HostDiskAlmostFull => Definition {
                name: "OpsGenHostDiskAlmostFull",
                group: Group::Host,
                severity: Critical,
                hold: minutes(5),
                topic: "disk-full",
                expr: format!(
                    "node_filesystem_avail_bytes{{{REAL_FILESYSTEMS}}} \
                     / node_filesystem_size_bytes{{{REAL_FILESYSTEMS}}} < 0.05 \
                     and node_filesystem_readonly{{{REAL_FILESYSTEMS}}} == 0"
                ),
                summary: "{{ $labels.mountpoint }} on {{ $labels.instance }} is almost full".to_owned(),
                description: "Only {{ $value | humanizePercentage }} of {{ $labels.mountpoint }} ({{ $labels.device \
                              }}) is free: databases stop accepting writes and backups fail when it is full."
                    .to_owned(),
            },
            Self::ExporterDown => Definition {
                name: "OpsGenExporterDown",
                group: Group::Exporter,
                severity: Critical,
                hold: minutes(2),
                topic: "exporter-down",
                expr: format!(r#"up{{job="{EXPORTER_JOB}"}} == 0"#),
                summary: "ops-gen exporter {{ $labels.instance }} is down".to_owned(),
                description:
                    "Prometheus cannot scrape ops-gen at {{ $labels.instance }}: every other ops-gen alert is \
                              blind until it is back."
                        .to_owned(),
            },
            // `up` of a target that is gone is not 0 but absent; only this
            // notices a scrape config that lost the exporter.
            Self::ExporterAbsent => Definition {
                name: "OpsGenExporterAbsent",
                group: Group::Exporter,
                severity: Critical,
                hold: minutes(5),
                topic: "exporter-down",
                expr: format!(r#"absent(up{{job="{EXPORTER_JOB}"}})"#),
                summary: "Prometheus does not scrape ops-gen".to_owned(),
                description: format!(
                    "Prometheus has no target in the {EXPORTER_JOB} scrape job: its scrape config lost it, and every \
                     other ops-gen alert is blind."
                ),
            },
            Self::ConfigReloadFailed => Definition {
                name: "OpsGenConfigReloadFailed",
                group: Group::Exporter,
                severity: Warning,
                hold: minutes(5),
                topic: "config-reload-failed",
                expr: format!("{CONFIG_LAST_RELOAD_SUCCESS} == 0"),
                summary: "ops-gen {{ $labels.instance }} rejected its changed config".to_owned(),
                description: "The last reload of ops-gen.yml failed and ops-gen keeps running the previous config; \
                              `ops-gen config check` names the problem."
                    .to_owned(),
            },
        }
    }
}

pub(crate) fn rule_file(ctx: &Context<'_>) -> RuleFile {
    let definitions: Vec<Definition> = Alert::ALL.into_iter().map(Alert::definition).collect();
    let groups = Group::ALL
        .into_iter()
        .map(|group| RuleGroup {
            name: group.name(),
            rules: definitions
                .iter()
                .filter(|d| d.group == group)
                .map(|d| AlertingRule {
                    alert: d.name,
                    expr: d.expr.clone(),
                    hold: PromDuration(d.hold),
                    labels: RuleLabels { severity: d.severity },
                    annotations: Annotations {
                        summary: d.summary.clone(),
                        description: d.description.clone(),
                        runbook_url: ctx.runbook_url(d.topic),
                    },
                })
                .collect(),
        })
        .collect();
    RuleFile { groups }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::profile::{App, Settings};
    use serde_norway::Value;

    #[test]
    fn every_alert_has_severity_texts_and_a_known_runbook() {
        let (config, profile, app) = (Config::default(), Settings::default(), App::default());
        let files = artifacts(&Context::for_tests(&config, &profile, &app));
        let rule_file: Value = serde_norway::from_str(&files[0].contents).unwrap();
        let base = profile.runbook_url;
        let rules: Vec<&Value> =
            rule_file["groups"].as_sequence().unwrap().iter().flat_map(|g| g["rules"].as_sequence().unwrap()).collect();
        assert_eq!(rules.len(), Alert::ALL.len());
        for rule in rules {
            let name = rule["alert"].as_str().unwrap();
            assert!(name.starts_with("OpsGen") && name.chars().all(char::is_alphanumeric), "{name}");
            assert!(!rule["expr"].as_str().unwrap().is_empty(), "{name}: expr");
            assert!(rule["for"].as_str().is_some_and(|d| !d.contains('_')), "{name}: for");
            let severity = rule["labels"]["severity"].as_str();
            assert!(matches!(severity, Some("critical" | "warning")), "{name}: severity {severity:?}");
            let annotations = &rule["annotations"];
            for key in ["summary", "description"] {
                assert!(annotations[key].as_str().is_some_and(|t| t.len() > 10), "{name}: {key}");
            }
            let url = annotations["runbook_url"].as_str().unwrap();
            let topic = url.strip_prefix(base.as_str()).unwrap_or_else(|| panic!("{name}: {url} is not under {base}"));
            assert!(crate::runbook::find(topic).is_ok(), "{name}: no runbook `{topic}`");
        }
    }

    #[test]
    fn backup_age_thresholds_come_from_the_exporter() {
        let stale = Alert::BackupStale.definition();
        assert!(stale.expr.contains(&format!("> {BACKUP_MAX_AGE_SECONDS}")), "{}", stale.expr);
        let drill = Alert::RestoreDrillStale.definition();
        assert!(drill.expr.contains(&RESTORE_DRILL_MAX_AGE.as_secs().to_string()), "{}", drill.expr);
    }

    #[test]
    fn durations_read_as_prometheus_writes_them() {
        let text = |secs| PromDuration(Duration::from_secs(secs)).to_string();
        assert_eq!(text(0), "0s");
        assert_eq!(text(90), "1m30s");
        assert_eq!(text(15 * MINUTE), "15m");
        assert_eq!(text(DAY), "1d");
        assert_eq!(text(8 * DAY + 2 * HOUR + 1), "8d2h1s");
    }
}
