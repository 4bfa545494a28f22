//! Backups & drills: is the data safe, and can it come back? Backup age,
//! verification, size and duration; restore drills; Redis saves and the
//! persistence canaries; S3 round trips and buckets. The cockpit shows the
//! backup age panels too.

use super::{BACKUPS, Dashboard, GREEN, Panel, RED, Unit, YELLOW, bars, promql, stat, timeseries, up_down};
use crate::profile::Context;

/// Each target's backup age against its configured maximum: the bar turns
/// yellow at 80% and red past it (also when no backup ever succeeded).
pub(super) fn backup_age_ratio(ctx: &Context<'_>) -> Panel {
    bars(
        "Backup age / max age",
        "Age of each target's newest successful backup as a share of its configured max age: red past 100%, also when none ever succeeded.",
        Unit::Ratio,
        promql(
            "(time() - opsgen_backup_last_success_timestamp_seconds) / opsgen_backup_max_age_seconds",
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
        promql("time() - (opsgen_backup_last_success_timestamp_seconds > 0)", "{{target}}"),
    )
    .no_value("none yet")
}

pub(super) fn dashboard(ctx: &Context<'_>) -> Dashboard {
    let mut panels = backup_panels(ctx);
    panels.extend(drill_panels(ctx));
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
            promql("opsgen_backup_max_age_seconds", "{{target}}"),
        )
        .size(4, 6),
        stat(
            "Last successful backup",
            "When each target's newest successful backup finished.",
            Unit::DateTime,
            promql("(opsgen_backup_last_success_timestamp_seconds > 0) * 1000", "{{target}}"),
        )
        .size(6, 6)
        .no_value("never"),
        up_down(
            stat(
                "Verified",
                "Whether the newest backup set holding the target matches its manifest (`ops-gen backup verify`).",
                Unit::Plain,
                promql("opsgen_backup_verified", "{{target}}"),
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
            promql("opsgen_backup_sets", "{{target}}"),
        )
        .size(4, 8)
        .no_value("no sets"),
        timeseries(
            "Backup size",
            "Size of each target's newest successful backup; a sudden drop can mean lost data upstream.",
            Unit::Bytes,
            vec![promql("opsgen_backup_size_bytes", "{{target}}")],
        )
        .size(8, 8),
        timeseries(
            "Backup duration",
            "How long each target's newest successful backup took.",
            Unit::Seconds,
            vec![promql("opsgen_backup_duration_seconds", "{{target}}")],
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
                promql("opsgen_restore_drill_success", "{{target}}"),
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
            promql("time() - (opsgen_restore_drill_last_success_timestamp_seconds > 0)", "{{target}}"),
        )
        .size(6, 8)
        .no_value("never passed"),
        timeseries(
            "Recovery time (restore drill)",
            "The newest drill's measured restore time, from starting a throwaway instance to restored data: what a real restore would take.",
            Unit::Seconds,
            vec![promql("opsgen_restore_drill_duration_seconds", "{{target}}")],
        )
        .size(12, 8),
    ]
}

/// Whether data survives: Redis' own snapshots and the persistence canaries.
fn persistence_panels() -> Vec<Panel> {
    vec![
        stat(
            "Redis: since last save",
            "Time since Redis last wrote its RDB snapshot.",
            Unit::Seconds,
            promql("time() - opsgen_redis_last_save_timestamp_seconds", "{{target}}"),
        )
        .size(8, 5)
        .no_value("no redis target"),
        up_down(
            stat(
                "Redis: last background save",
                "Whether Redis' last background save (BGSAVE) succeeded.",
                Unit::Plain,
                promql("opsgen_redis_last_bgsave_success", "{{target}}"),
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
                promql("opsgen_canary_survived", "{{target}}"),
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
            vec![promql("opsgen_redis_changes_since_last_save", "{{target}}")],
        ),
        timeseries(
            "Canary age",
            "Time since each target's canary was first written: it grows across restarts while data persists and drops when data is lost.",
            Unit::Seconds,
            vec![promql("opsgen_canary_age_seconds", "{{target}}")],
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
                promql("opsgen_s3_roundtrip_success", "{{target}} {{bucket}}"),
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
            vec![promql("opsgen_s3_roundtrip_duration_seconds", "{{target}} {{bucket}}")],
        )
        .size(6, 8),
        timeseries(
            "S3 objects",
            "Objects in each bucket, from the last listing.",
            Unit::Count,
            vec![promql("opsgen_s3_objects", "{{target}} {{bucket}}")],
        )
        .size(6, 8),
        timeseries(
            "S3 bytes",
            "Bytes in each bucket, from the last listing.",
            Unit::Bytes,
            vec![promql("opsgen_s3_bytes", "{{target}} {{bucket}}")],
        )
        .size(6, 8),
    ]
}
