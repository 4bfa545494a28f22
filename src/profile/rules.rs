//! Alert rules for Prometheus and their promtool unit tests:
//! `prometheus/rules/ops-gen.yml` and `prometheus/tests/ops-gen.test.yml`.
//!
//! The rules turn the exporter's series (see [`crate::exporter::metrics`])
//! and `node_exporter`'s filesystem series into the alerts PRODUCT.md promises:
//! backups stale or never taken, unverified sets, failed or missing restore
//! drills, failing checks and smoke runs, S3 round trips, lost canaries,
//! Redis saves, compose drift, containers down or restarting, a filling disk
//! and a missing exporter. Each alert links to its runbook page
//! (`docs/runbooks/`, served by `ops-gen serve` and printed by
//! `ops-gen runbook`).
//!
//! Thresholds come from the series where the exporter publishes them (a
//! backup's `max_age`), so rules hold no per-target numbers. Every alert has
//! a promtool test where it fires, with its exact labels and rendered
//! annotations, and one where it stays quiet; `promtool test rules` runs them
//! against the real rule engine. Both files are serialized from the typed
//! structs below, and tests name alerts by `Alert` variant, so a test
//! cannot refer to an alert that does not exist.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::{Artifact, Component, Context};

/// The Prometheus scrape job of the exporter: rules find it by this name.
pub const EXPORTER_JOB: &str = "ops-gen";

/// A restore drill older than this is stale: run one a week, with a day's
/// slack for a late schedule.
pub const RESTORE_DRILL_MAX_AGE: Duration = Duration::from_secs(8 * DAY);

/// The rule file, relative to the output folder.
pub const RULES_FILE: &str = "prometheus/rules/ops-gen.yml";

/// Its unit tests.
pub const TESTS_FILE: &str = "prometheus/tests/ops-gen.test.yml";

/// [`RULES_FILE`] as the tests name it: promtool resolves it from the test
/// file's folder.
const RULES_FROM_TESTS: &str = "../rules/ops-gen.yml";

/// How far back a restart counts as "restarting".
const RESTART_WINDOW: Duration = Duration::from_secs(15 * MINUTE);

/// Filesystems worth watching: not memory-backed, not container layers.
const REAL_FS: &str = r#"{fstype!~"tmpfs|overlay"}"#;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

// Label references in annotation templates, for the texts built with `format!`.
const TARGET: &str = "{{ $labels.target }}";
const SERVICE: &str = "{{ $labels.service }}";
const PROJECT: &str = "{{ $labels.project }}";
/// The alert's value, a number of seconds, as `1d 2h 3m 4s`.
const AGE: &str = "{{ $value | humanizeDuration }}";

/// The rule file and its tests.
#[must_use]
pub fn artifacts(ctx: &Context<'_>) -> Vec<Artifact> {
    vec![Artifact::yaml(RULES_FILE, &rule_file(ctx)), Artifact::yaml(TESTS_FILE, &test_file(ctx))]
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
struct Annotations {
    summary: String,
    description: String,
    runbook_url: String,
}

/// `critical`: data or the app is at risk now. `warning`: act today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    Critical,
    Warning,
}

impl Severity {
    fn as_str(self) -> &'static str {
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
struct PromDuration(Duration);

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

const fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * MINUTE)
}

const fn hours(n: u64) -> Duration {
    Duration::from_secs(n * HOUR)
}

// ---------------------------------------------------------------------------
// The alerts.

/// The rule groups, by concern, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Backups,
    Checks,
    S3,
    Persistence,
    Compose,
    Host,
    Exporter,
}

impl Group {
    const ALL: [Self; 7] =
        [Self::Backups, Self::Checks, Self::S3, Self::Persistence, Self::Compose, Self::Host, Self::Exporter];

    fn name(self) -> &'static str {
        match self {
            Self::Backups => "opsgen-backups",
            Self::Checks => "opsgen-checks",
            Self::S3 => "opsgen-s3",
            Self::Persistence => "opsgen-persistence",
            Self::Compose => "opsgen-compose",
            Self::Host => "opsgen-host",
            Self::Exporter => "opsgen-exporter",
        }
    }
}

/// Every alert. The tests below refer to them by variant, so a test cannot
/// name an alert that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alert {
    BackupNeverSucceeded,
    BackupStale,
    BackupVerificationFailed,
    BackupRetentionBlocked,
    RestoreDrillFailed,
    RestoreDrillStale,
    RestoreDrillNeverRun,
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
struct Definition {
    name: &'static str,
    group: Group,
    severity: Severity,
    /// How long the condition must hold (the rule's `for`).
    hold: Duration,
    /// The runbook page, a topic of [`crate::runbook::ALL`].
    topic: &'static str,
    expr: String,
    summary: String,
    description: String,
}

impl Alert {
    const ALL: [Self; 21] = [
        Self::BackupNeverSucceeded,
        Self::BackupStale,
        Self::BackupVerificationFailed,
        Self::BackupRetentionBlocked,
        Self::RestoreDrillFailed,
        Self::RestoreDrillStale,
        Self::RestoreDrillNeverRun,
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
    fn definition(self) -> Definition {
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
                expr: "opsgen_backup_last_success_timestamp_seconds == 0".to_owned(),
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
                expr: "(time() - opsgen_backup_last_success_timestamp_seconds > opsgen_backup_max_age_seconds) and \
                       opsgen_backup_last_success_timestamp_seconds > 0"
                    .to_owned(),
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
                expr: "opsgen_backup_verified == 0 and opsgen_backup_last_success_timestamp_seconds > 0".to_owned(),
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
                expr: "opsgen_backup_retention_blocked == 1".to_owned(),
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
                expr: "opsgen_restore_drill_success == 0 and opsgen_restore_drill_duration_seconds > 0".to_owned(),
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
                    "(time() - opsgen_restore_drill_last_success_timestamp_seconds > {}) \
                     and opsgen_restore_drill_last_success_timestamp_seconds > 0",
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
                expr: "opsgen_restore_drill_duration_seconds == 0 and \
                       opsgen_restore_drill_last_success_timestamp_seconds == 0 and \
                       opsgen_backup_last_success_timestamp_seconds > 0"
                    .to_owned(),
                summary: "No restore drill of {{ $labels.target }} ever ran".to_owned(),
                description: "{{ $labels.target }} has backups, but none was ever restored in a drill: a backup never \
                              restored is a hope. Run `ops-gen backup drill`."
                    .to_owned(),
            },
            Self::SmokeCheckFailing => Definition {
                name: "OpsGenSmokeCheckFailing",
                group: Group::Checks,
                severity: Critical,
                hold: minutes(5),
                topic: "check-failing",
                expr: r#"opsgen_check_success{kind="http"} == 0"#.to_owned(),
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
                expr: "opsgen_smoke_success == 0 and opsgen_smoke_last_run_timestamp_seconds > 0".to_owned(),
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
                expr: r#"opsgen_check_success{kind=~"postgres|redis|file_freshness"} == 0"#.to_owned(),
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
                expr: "opsgen_s3_roundtrip_success == 0".to_owned(),
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
                expr: "opsgen_canary_survived == 0".to_owned(),
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
                expr: "opsgen_redis_last_bgsave_success == 0".to_owned(),
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
                expr: "opsgen_service_up == 0".to_owned(),
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
                    "changes(opsgen_service_restarts[{}]) > 0 and opsgen_service_restarts > 0",
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
                expr: "opsgen_drift == 1".to_owned(),
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
                    "predict_linear(node_filesystem_avail_bytes{REAL_FS}[6h], 24 * 3600) < 0 \
                     and node_filesystem_avail_bytes{REAL_FS} / node_filesystem_size_bytes{REAL_FS} < 0.4 \
                     and node_filesystem_readonly{REAL_FS} == 0"
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
                    "node_filesystem_avail_bytes{REAL_FS} / node_filesystem_size_bytes{REAL_FS} < 0.05 \
                     and node_filesystem_readonly{REAL_FS} == 0"
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
                expr: "opsgen_config_last_reload_success == 0".to_owned(),
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
    let scenario = Scenario::new(ctx, "a healthy stack fires nothing")
        .series("opsgen_backup_last_success_timestamp_seconds", &postgres, "1+0x30 1800+0x30 3600+0x30 5400+0x40")
        .series("opsgen_backup_max_age_seconds", &postgres, "3600+0x130")
        .series("opsgen_backup_verified", &postgres, "1+0x130")
        .series("opsgen_restore_drill_success", &postgres, "1+0x130")
        .series("opsgen_restore_drill_duration_seconds", &postgres, "42+0x130")
        .series("opsgen_restore_drill_last_success_timestamp_seconds", &postgres, "1+0x130")
        .series("opsgen_check_success", &check("home", "http"), "1+0x130")
        .series("opsgen_check_success", &check("postgres", "postgres"), "1+0x130")
        .series("opsgen_check_success", &check("redis", "redis"), "1+0x130")
        .series("opsgen_check_success", &check("backups", "file_freshness"), "1+0x130")
        .series("opsgen_smoke_success", exporter, "1+0x130")
        .series("opsgen_smoke_last_run_timestamp_seconds", exporter, "60+0x130")
        .series("opsgen_s3_roundtrip_success", &with(exporter, &[("bucket", "app"), ("target", "minio")]), "1+0x130")
        .series("opsgen_canary_survived", &postgres, "1+0x130")
        .series("opsgen_redis_last_bgsave_success", &with(exporter, &[("target", "redis")]), "1+0x130")
        .series("opsgen_service_up", &service, "1+0x130")
        .series("opsgen_service_restarts", &service, "3+0x130")
        .series("opsgen_drift", &with(&service, &[("kind", "image")]), "0+0x130")
        .series("node_filesystem_avail_bytes", &root, "50000000000+0x130")
        .series("node_filesystem_size_bytes", &root, "100000000000+0x130")
        .series("node_filesystem_readonly", &root, "0+0x130")
        .series("up", exporter, "1+0x130")
        .series("opsgen_config_last_reload_success", exporter, "1+0x130");
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
        .series("opsgen_backup_last_success_timestamp_seconds", &postgres, "60+0x150")
        .series("opsgen_backup_max_age_seconds", &postgres, "3600+0x150")
        .series("opsgen_backup_last_success_timestamp_seconds", &redis, "0+0x150")
        .series("opsgen_backup_max_age_seconds", &redis, "3600+0x150")
        // Taken every half hour.
        .series("opsgen_backup_last_success_timestamp_seconds", &uploads, "1+0x30 1800+0x30 3600+0x30 5400+0x60")
        .series("opsgen_backup_max_age_seconds", &uploads, "3600+0x150")
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
        .series("opsgen_backup_last_success_timestamp_seconds", &postgres, "1000+0x150")
        .series("opsgen_backup_verified", &postgres, "1+0x30 0+0x120")
        .series("opsgen_backup_last_success_timestamp_seconds", &redis, "0+0x150")
        .series("opsgen_backup_verified", &redis, "0+0x150")
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
        .series("opsgen_backup_retention_blocked", &postgres, "0+0x30 1+0x120")
        .series("opsgen_backup_retention_blocked", &redis, "0+0x150")
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
            s.series("opsgen_backup_last_success_timestamp_seconds", labels, backup)
                .series("opsgen_restore_drill_success", labels, success)
                .series("opsgen_restore_drill_duration_seconds", labels, took)
                .series("opsgen_restore_drill_last_success_timestamp_seconds", labels, last)
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
        .series("opsgen_restore_drill_last_success_timestamp_seconds", &redis, &format!("1+0x{samples}"))
        .series("opsgen_restore_drill_last_success_timestamp_seconds", &postgres, &format!("0+0x{samples}"))
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
        .series("opsgen_check_success", &home, "1+0x10 0+0x30")
        .series("opsgen_check_success", &postgres, "1+0x10 0+0x30")
        .series("opsgen_check_success", &check("redis", "redis"), "1+0x40")
        .series("opsgen_check_success", &backups, "1+0x10 0+0x30")
        // These have alerts of their own.
        .series("opsgen_check_success", &check("minio", "s3"), "0+0x40")
        .series("opsgen_check_success", &check("canary-postgres", "canary"), "0+0x40")
        // Smoke never ran for 10 minutes (which says 0 too), then a run failed.
        .series("opsgen_smoke_success", exporter, "0+0x40")
        .series("opsgen_smoke_last_run_timestamp_seconds", exporter, "0+0x10 660+0x30")
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
        .series("opsgen_s3_roundtrip_success", &app, "1+0x10 0+0x40")
        .series("opsgen_s3_roundtrip_success", &with(exporter, &[("bucket", "media"), ("target", "minio")]), "1+0x50")
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
        .series("opsgen_canary_survived", &postgres, "1+0x10 0+0x20")
        .series("opsgen_canary_survived", &redis, "1+0x30")
        .series("opsgen_redis_last_bgsave_success", &redis, "1+0x10 0+0x20")
        .series("opsgen_redis_last_bgsave_success", &with(exporter, &[("target", "sessions")]), "1+0x30")
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
        .series("opsgen_service_up", &app, "1+0x10 0+0x20")
        .series("opsgen_service_up", &worker, "1+0x40")
        .series("opsgen_service_up", &db, "1+0x40")
        .series("opsgen_service_restarts", &app, "0+0x40")
        .series("opsgen_service_restarts", &worker, "2+0x10 3+0x30")
        .series("opsgen_service_restarts", &db, "5+0x10 0+0x30")
        .series("opsgen_drift", &worker_image, "0+0x10 1+0x30")
        .series("opsgen_drift", &with(&app, &[("kind", "config")]), "0+0x40")
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
        .series("opsgen_config_last_reload_success", exporter, "1+0x10 0+0x20")
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
    use crate::profile::{App, Settings};
    use serde_norway::Value;

    fn with_context<T>(f: impl FnOnce(&Context<'_>) -> T) -> T {
        let (config, profile, app) = (Config::default(), Settings::default(), App::default());
        f(&Context::for_tests(&config, &profile, &app))
    }

    /// The generated files, parsed back.
    fn parsed() -> (Value, Value) {
        with_context(|ctx| {
            let files = artifacts(ctx);
            let parse = |path: &str| {
                let file = files.iter().find(|a| a.path == std::path::Path::new(path)).expect(path);
                serde_norway::from_str::<Value>(&file.contents).unwrap()
            };
            (parse(RULES_FILE), parse(TESTS_FILE))
        })
    }

    fn rules(file: &Value) -> Vec<&Value> {
        file["groups"].as_sequence().unwrap().iter().flat_map(|g| g["rules"].as_sequence().unwrap()).collect()
    }

    #[test]
    fn output_is_deterministic() {
        with_context(|ctx| {
            let first = artifacts(ctx);
            assert_eq!(first, artifacts(ctx));
            let paths: Vec<_> = first.iter().map(|a| a.path.to_string_lossy().into_owned()).collect();
            assert_eq!(paths, [RULES_FILE, TESTS_FILE]);
        });
    }

    #[test]
    fn every_alert_has_severity_texts_and_a_known_runbook() {
        let (rule_file, _) = parsed();
        let base = Settings::default().runbook_url;
        let rules = rules(&rule_file);
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
    fn every_alert_is_tested_firing_and_quiet() {
        let (rule_file, test_file) = parsed();
        let names: Vec<&str> = rules(&rule_file).iter().map(|r| r["alert"].as_str().unwrap()).collect();
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
        let (_, test_file) = parsed();
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
    fn backup_age_thresholds_come_from_the_exporter() {
        let stale = Alert::BackupStale.definition();
        assert!(stale.expr.contains("> opsgen_backup_max_age_seconds"), "{}", stale.expr);
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

    #[test]
    fn runbook_links_follow_the_config() {
        let (config, app) = (Config::default(), App::default());
        let profile = Settings { runbook_url: "https://wiki.example.com/ops/".to_owned(), ..Settings::default() };
        let ctx = Context::for_tests(&config, &profile, &app);
        let files = artifacts(&ctx);
        assert!(files[0].contents.contains("runbook_url: https://wiki.example.com/ops/backup-stale"));
        assert!(files[1].contents.contains("runbook_url: https://wiki.example.com/ops/backup-stale"));
    }
}
