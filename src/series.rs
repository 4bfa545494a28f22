//! The names of every series ops-gen exports: the contract between the
//! exporter (`exporter::metrics`, which encodes them), the alert rules and
//! their promtool tests (`profile::rules`, `profile::rule_tests`), the
//! dashboards (`profile::grafana`) and the Uptime Kuma monitors
//! (`profile::kuma`). Each name is written once, here; the others build
//! their `PromQL` from these constants, so a renamed series cannot leave an
//! alert or a panel querying nothing. A test below keeps `opsgen_` literals
//! out of `exporter/metrics.rs` and everything under `profile/`.
//!
//! The names are the family names the exporter registers. OpenMetrics and
//! the text format add `_total` to a counter's samples and `_info` to an
//! info's; a query of those samples appends the suffix.

/// What every name starts with; relabel rules match families by it.
pub const PREFIX: &str = "opsgen_";

// Every check, labelled `check` and `kind`.
pub const CHECK_SUCCESS: &str = "opsgen_check_success";
pub const CHECK_DURATION_SECONDS: &str = "opsgen_check_duration_seconds";
pub const CHECK_LAST_RUN_TIMESTAMP_SECONDS: &str = "opsgen_check_last_run_timestamp_seconds";
/// A counter, also labelled `reason`.
pub const CHECK_FAILURES: &str = "opsgen_check_failures";

// A kind's own series, labelled `target`.
/// An info, also labelled `version`.
pub const POSTGRES_SERVER: &str = "opsgen_postgres_server";
pub const REDIS_LAST_SAVE_TIMESTAMP_SECONDS: &str = "opsgen_redis_last_save_timestamp_seconds";
pub const REDIS_LAST_BGSAVE_SUCCESS: &str = "opsgen_redis_last_bgsave_success";
pub const REDIS_CHANGES_SINCE_LAST_SAVE: &str = "opsgen_redis_changes_since_last_save";
// Also labelled `bucket`.
pub const S3_ROUNDTRIP_SUCCESS: &str = "opsgen_s3_roundtrip_success";
pub const S3_ROUNDTRIP_DURATION_SECONDS: &str = "opsgen_s3_roundtrip_duration_seconds";
pub const S3_OBJECTS: &str = "opsgen_s3_objects";
pub const S3_BYTES: &str = "opsgen_s3_bytes";
pub const CANARY_SURVIVED: &str = "opsgen_canary_survived";
pub const CANARY_AGE_SECONDS: &str = "opsgen_canary_age_seconds";

// Backups (sets taken by ops-gen and `file_freshness` checks) and restore
// drills, labelled `target`.
pub const BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS: &str = "opsgen_backup_last_success_timestamp_seconds";
pub const BACKUP_MAX_AGE_SECONDS: &str = "opsgen_backup_max_age_seconds";
pub const BACKUP_SIZE_BYTES: &str = "opsgen_backup_size_bytes";
pub const BACKUP_DURATION_SECONDS: &str = "opsgen_backup_duration_seconds";
pub const BACKUP_VERIFIED: &str = "opsgen_backup_verified";
pub const BACKUP_SETS: &str = "opsgen_backup_sets";
pub const BACKUP_LAST_FAILURE_TIMESTAMP_SECONDS: &str = "opsgen_backup_last_failure_timestamp_seconds";
pub const BACKUP_RETENTION_BLOCKED: &str = "opsgen_backup_retention_blocked";
pub const RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS: &str = "opsgen_restore_drill_last_success_timestamp_seconds";
pub const RESTORE_DRILL_SUCCESS: &str = "opsgen_restore_drill_success";
pub const RESTORE_DRILL_DURATION_SECONDS: &str = "opsgen_restore_drill_duration_seconds";

// The compose project of the `docker` check, labelled `project` and
// `service` (`DRIFT` also `kind`; `DRIFT_SERVICES` only `project`).
pub const SERVICE_UP: &str = "opsgen_service_up";
pub const SERVICE_HEALTHY: &str = "opsgen_service_healthy";
pub const SERVICE_RESTARTS: &str = "opsgen_service_restarts";
pub const DRIFT: &str = "opsgen_drift";
pub const DRIFT_SERVICES: &str = "opsgen_drift_services";

// The scheduled jobs of `ops-gen serve`, labelled `job` (the job's name
// from `schedule.jobs`; Prometheus, which sets its own `job` label to the
// scrape job, keeps ours as `exported_job`).
pub const JOB_LAST_RUN_TIMESTAMP_SECONDS: &str = "opsgen_job_last_run_timestamp_seconds";
pub const JOB_LAST_SUCCESS_TIMESTAMP_SECONDS: &str = "opsgen_job_last_success_timestamp_seconds";
pub const JOB_NEXT_RUN_TIMESTAMP_SECONDS: &str = "opsgen_job_next_run_timestamp_seconds";
pub const JOB_DURATION_SECONDS: &str = "opsgen_job_duration_seconds";
/// A counter, also labelled `result`.
pub const JOB_RUNS: &str = "opsgen_job_runs";

// The exporter itself, unlabelled.
/// An info, labelled `version` and `revision`.
pub const BUILD: &str = "opsgen_build";
pub const CONFIG_LAST_RELOAD_SUCCESS: &str = "opsgen_config_last_reload_success";
pub const CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS: &str = "opsgen_config_last_reload_success_timestamp_seconds";
pub const SMOKE_SUCCESS: &str = "opsgen_smoke_success";
pub const SMOKE_LAST_RUN_TIMESTAMP_SECONDS: &str = "opsgen_smoke_last_run_timestamp_seconds";
pub const SCRAPE_DURATION_SECONDS: &str = "opsgen_scrape_duration_seconds";
pub const DISK_READ_TIMESTAMP_SECONDS: &str = "opsgen_disk_read_timestamp_seconds";

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The files that name series: the exporter, the check kinds and the
    /// whole generator.
    fn sources() -> Vec<PathBuf> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = vec![src.join("exporter/metrics.rs")];
        let mut dirs = vec![src.join("profile"), src.join("probe")];
        while let Some(dir) = dirs.pop() {
            for path in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    found.push(path);
                }
            }
        }
        found
    }

    /// The lines of `text` outside comments that write an `opsgen_` name.
    fn literal_names(text: &str) -> Vec<(usize, &str)> {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim_start().starts_with("//") && line.contains(super::PREFIX))
            .map(|(i, line)| (i + 1, line.trim()))
            .collect()
    }

    #[test]
    fn series_are_named_only_here() {
        let mut found = Vec::new();
        let sources = sources();
        assert!(sources.len() > 10, "{sources:?}");
        for file in sources {
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, code) in literal_names(&text) {
                found.push(format!("{}:{line}: {code}", file.display()));
            }
        }
        assert!(
            found.is_empty(),
            "series names written outside src/series.rs (use its constants):\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn the_check_sees_code_and_skips_comments() {
        let text = "/// `opsgen_x` in a doc\nlet a = 1; // fine\nlet b = \"opsgen_y\";\n    // opsgen_z\n";
        assert_eq!(literal_names(text), [(3, "let b = \"opsgen_y\";")]);
    }
}
