//! Backups & drills: is the data safe, and can it come back? Backup age,
//! verification, size and duration; restore drills; the scheduled jobs
//! that take, verify and drill them; Redis saves and the persistence
//! canaries; S3 round trips and buckets. The cockpit shows the backup age
//! panels too.

use super::{BACKUPS, Dashboard, GREEN, Panel, RED, Unit, YELLOW, bars, promql, stat, timeseries, up_down};
use crate::profile::Context;
use crate::series::{
    BACKUP_DURATION_SECONDS, BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS, BACKUP_MAX_AGE_SECONDS, BACKUP_SETS,
    BACKUP_SIZE_BYTES, BACKUP_VERIFIED, CANARY_AGE_SECONDS, CANARY_SURVIVED, JOB_DURATION_SECONDS,
    JOB_LAST_RUN_TIMESTAMP_SECONDS, JOB_LAST_SUCCESS_TIMESTAMP_SECONDS, JOB_NEXT_RUN_TIMESTAMP_SECONDS, JOB_RUNS,
    REDIS_CHANGES_SINCE_LAST_SAVE, REDIS_LAST_BGSAVE_SUCCESS, REDIS_LAST_SAVE_TIMESTAMP_SECONDS,
    RESTORE_DRILL_DURATION_SECONDS, RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS, RESTORE_DRILL_SUCCESS, S3_BYTES,
    S3_OBJECTS, S3_ROUNDTRIP_DURATION_SECONDS, S3_ROUNDTRIP_SUCCESS,
};

/// Each target's backup age against its configured maximum: the bar turns
/// yellow at 80% and red past it (also when no backup ever succeeded).
pub(super) fn backup_age_ratio(ctx: &Context<'_>) -> Panel {
    bars(
        "Backup age / max age",
        "Age of each target's newest successful backup as a share of its configured max age: red past 100%, also when none ever succeeded.",
        Unit::Ratio,
        promql(
            format!("(time() - {BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS}) / {BACKUP_MAX_AGE_SECONDS}"),
            "{{target}}",
        ),
    )
    .thresholds(GREEN, &[(0.8, YELLOW), (1.0, RED)])
    .range(0.0, 1.5)
    .runbook(ctx, "backup-stale")
}

/// Time since each target's newest successful backup.
pub(super) fn backup_age() -> Panel {
    stat(
        "Backup age",
        "Time since each target's newest successful backup; a target that never had one is missing here and red in \"Backup age / max age\".",
        Unit::Seconds,
        promql(format!("time() - ({BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS} > 0)"), "{{target}}"),
    )
    .no_value("none yet")
}

pub(super) fn dashboard(ctx: &Context<'_>) -> Dashboard {
    let mut panels = backup_panels(ctx);
    panels.extend(drill_panels(ctx));
    panels.extend(job_panels(ctx));
    panels.extend(persistence_panels());
    panels.extend(s3_panels());
    Dashboard::new(
        BACKUPS,
        "Backups, restore drills and the persistence of PostgreSQL, Redis and S3: is the data safe, and can it come back?",
        Vec::new(),
        Vec::new(),
        panels,
    )
}

/// Freshness, verification and size of each target's backups.
fn backup_panels(ctx: &Context<'_>) -> Vec<Panel> {
    vec![
        backup_age_ratio(ctx).size(8, 6),
        backup_age().size(6, 6),
        stat(
            "Max age",
            "The configured freshness threshold per target (backup.freshness, or the check's max_age).",
            Unit::Seconds,
            promql(BACKUP_MAX_AGE_SECONDS, "{{target}}"),
        )
        .size(4, 6),
        stat(
            "Last successful backup",
            "When each target's newest successful backup finished.",
            Unit::DateTime,
            promql(format!("({BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS} > 0) * 1000"), "{{target}}"),
        )
        .size(6, 6)
        .no_value("never"),
        up_down(
            stat(
                "Verified",
                "Whether the newest backup set holding the target matches its manifest (`ops-gen backup verify`).",
                Unit::Plain,
                promql(BACKUP_VERIFIED, "{{target}}"),
            ),
            "verified",
            "not verified",
        )
        .size(4, 8)
        .no_value("no sets")
        .runbook(ctx, "backup-stale"),
        stat(
            "Sets kept",
            "Backup sets holding a successful backup of the target, after retention.",
            Unit::Count,
            promql(BACKUP_SETS, "{{target}}"),
        )
        .size(4, 8)
        .no_value("no sets"),
        timeseries(
            "Backup size",
            "Size of each target's newest successful backup; a sudden drop can mean lost data upstream.",
            Unit::Bytes,
            vec![promql(BACKUP_SIZE_BYTES, "{{target}}")],
        )
        .size(8, 8),
        timeseries(
            "Backup duration",
            "How long each target's newest successful backup took.",
            Unit::Seconds,
            vec![promql(BACKUP_DURATION_SECONDS, "{{target}}")],
        )
        .size(8, 8),
    ]
}

/// Restore drills: did the newest pass, when did one last pass, how long a
/// restore takes.
fn drill_panels(ctx: &Context<'_>) -> Vec<Panel> {
    vec![
        up_down(
            stat(
                "Restore drill",
                "Whether the newest restore drill of the target passed; red also when it was never drilled.",
                Unit::Plain,
                promql(RESTORE_DRILL_SUCCESS, "{{target}}"),
            ),
            "passed",
            "failed",
        )
        .size(6, 8)
        .no_value("no sets")
        .runbook(ctx, "restore-from-backup"),
        stat(
            "Since last passing drill",
            "Time since a restore drill of the target last passed: how long ago a restore was proven to work.",
            Unit::Seconds,
            promql(format!("time() - ({RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS} > 0)"), "{{target}}"),
        )
        .size(6, 8)
        .no_value("never passed"),
        timeseries(
            "Recovery time (restore drill)",
            "The newest drill's measured restore time, from starting a throwaway instance to restored data: what a real restore would take.",
            Unit::Seconds,
            vec![promql(RESTORE_DRILL_DURATION_SECONDS, "{{target}}")],
        )
        .size(12, 8),
    ]
}

/// The jobs of `schedule:` that `ops-gen serve` runs: the last result, the
/// next run, how long they take and what their times came to. Prometheus
/// keeps the job's name as `exported_job`.
fn job_panels(ctx: &Context<'_>) -> Vec<Panel> {
    vec![
        up_down(
            stat(
                "Scheduled jobs",
                "Whether each scheduled job's last run succeeded (also ok before its first run).",
                Unit::Plain,
                promql(
                    format!("{JOB_LAST_SUCCESS_TIMESTAMP_SECONDS} >= bool {JOB_LAST_RUN_TIMESTAMP_SECONDS}"),
                    "{{exported_job}}",
                ),
            ),
            "ok",
            "failed",
        )
        .size(6, 8)
        .no_value("no jobs")
        .runbook(ctx, "job-failed"),
        stat(
            "Next run",
            "When each scheduled job runs next (jobs that run after another have none).",
            Unit::DateTime,
            promql(format!("({JOB_NEXT_RUN_TIMESTAMP_SECONDS} > 0) * 1000"), "{{exported_job}}"),
        )
        .size(6, 8)
        .no_value("no jobs"),
        timeseries(
            "Job duration",
            "How long each scheduled job's last run took.",
            Unit::Seconds,
            vec![promql(JOB_DURATION_SECONDS, "{{exported_job}}")],
        )
        .size(6, 8),
        timeseries(
            "Job times by result",
            "What each job's times came to: ok, failed, skipped (still running, or the backup folder held by another process), missed while ops-gen was down.",
            Unit::Count,
            vec![promql(
                format!("sum by (exported_job, result) (increase({JOB_RUNS}_total[$__rate_interval]))"),
                "{{exported_job}} {{result}}",
            )],
        )
        .size(6, 8),
    ]
}

/// Whether data survives: Redis' own snapshots and the persistence canaries.
fn persistence_panels() -> Vec<Panel> {
    vec![
        stat(
            "Redis: since last save",
            "Time since Redis last wrote its RDB snapshot.",
            Unit::Seconds,
            promql(format!("time() - {REDIS_LAST_SAVE_TIMESTAMP_SECONDS}"), "{{target}}"),
        )
        .size(8, 5)
        .no_value("no redis target"),
        up_down(
            stat(
                "Redis: last background save",
                "Whether Redis' last background save (BGSAVE) succeeded.",
                Unit::Plain,
                promql(REDIS_LAST_BGSAVE_SUCCESS, "{{target}}"),
            ),
            "ok",
            "failed",
        )
        .size(8, 5)
        .no_value("no redis target"),
        up_down(
            stat(
                "Persistence canaries",
                "Whether the canary written before each target's last restart was still there after it; lost means the data lives on an ephemeral volume.",
                Unit::Plain,
                promql(CANARY_SURVIVED, "{{target}}"),
            ),
            "survived",
            "lost",
        )
        .size(8, 5)
        .no_value("canaries off"),
        timeseries(
            "Redis: writes since last save",
            "Writes Redis would lose if it crashed now.",
            Unit::Count,
            vec![promql(REDIS_CHANGES_SINCE_LAST_SAVE, "{{target}}")],
        ),
        timeseries(
            "Canary age",
            "Time since each target's canary was first written: it grows across restarts while data persists and drops when data is lost.",
            Unit::Seconds,
            vec![promql(CANARY_AGE_SECONDS, "{{target}}")],
        ),
    ]
}

/// The object store: round trips through each bucket and what it holds.
fn s3_panels() -> Vec<Panel> {
    vec![
        up_down(
            stat(
                "S3 round trip",
                "Whether the last put, get, sha256 compare and delete of a test object succeeded (on its own schedule).",
                Unit::Plain,
                promql(S3_ROUNDTRIP_SUCCESS, "{{target}} {{bucket}}"),
            ),
            "ok",
            "failed",
        )
        .size(6, 8)
        .no_value("no s3 target"),
        timeseries(
            "S3 round trip duration",
            "Time of the last successful round trip per bucket.",
            Unit::Seconds,
            vec![promql(S3_ROUNDTRIP_DURATION_SECONDS, "{{target}} {{bucket}}")],
        )
        .size(6, 8),
        timeseries(
            "S3 objects",
            "Objects in each bucket, from the last listing.",
            Unit::Count,
            vec![promql(S3_OBJECTS, "{{target}} {{bucket}}")],
        )
        .size(6, 8),
        timeseries(
            "S3 bytes",
            "Bytes in each bucket, from the last listing.",
            Unit::Bytes,
            vec![promql(S3_BYTES, "{{target}} {{bucket}}")],
        )
        .size(6, 8),
    ]
}
