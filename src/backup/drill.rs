//! `ops-gen backup drill [--from SET]`: prove a set restores.
//!
//! The set is verified first; a damaged one is not drilled. Then each
//! successful target of it (of S3, only a mirrored one) is restored into a
//! throwaway instance that nobody else can reach, the sanity checks from the
//! config run against it, the measured restore time is recorded, and
//! everything is torn down. How is each store's own ([`super::postgres`],
//! [`super::redis`], [`super::s3`]); `backup.drill.engine` picks local
//! instances or Docker containers ([`super::container`]). The outcome is
//! written to `restore-drill-summary.json` in the set, which `/metrics`
//! reads.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::manifest::{Manifest, write_synced};
use crate::config::Config;

/// The file a drill writes into the set.
pub const SUMMARY: &str = "restore-drill-summary.json";

/// One sanity check's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

/// One target's drill.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetDrill {
    pub target: String,
    pub kind: String,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From start of the throwaway instance to restored data: the measured
    /// recovery time.
    pub restore_seconds: f64,
    pub checks: Vec<CheckResult>,
}

/// `restore-drill-summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub set: String,
    /// RFC 3339.
    pub drilled_at: String,
    pub drilled_unix: f64,
    pub success: bool,
    pub duration_seconds: f64,
    pub targets: Vec<TargetDrill>,
}

impl Summary {
    /// The last drill of `set`, if any.
    #[must_use]
    pub fn read(set: &Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(set.join(SUMMARY)).ok()?).ok()
    }
}

/// Why a drill could not start.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error(transparent)]
    Verify(#[from] super::verify::VerifyError),
    #[error("the set {set} does not match its manifest ({problems}); drill an intact set")]
    Damaged { set: String, problems: String },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// Restores every successful target of `set` into throwaway instances and
/// runs the sanity checks.
pub async fn drill(config: &Config, set: &Path, progress: &dyn super::run::Progress) -> Result<Summary, DrillError> {
    crate::output::private_umask();
    // Shared: other drills and verifications may run, retention may not.
    let _lock = super::lock::lock(&config.backup.dir, super::lock::Mode::Shared, "backup drill")
        .map_err(super::verify::VerifyError::from)?;
    let record = super::verify::verify_set(set).await?;
    let damaged = record.damaged();
    if !damaged.is_empty() {
        return Err(DrillError::Damaged { set: set.display().to_string(), problems: damaged.join(", ") });
    }
    let manifest = Manifest::read(set).map_err(super::verify::VerifyError::from)?;
    let started = Instant::now();
    let mut targets = Vec::new();
    // An S3 target without its objects in the set has nothing to restore
    // (its listing and round trip are checked by `verify`).
    for outcome in manifest.targets.iter().filter(|t| t.success && (t.kind != "s3" || t.mirrored)) {
        let sanity = config.backup.targets.get(&outcome.target).and_then(|t| t.drill.clone()).unwrap_or_default();
        let files: Vec<PathBuf> = outcome.files.iter().map(|f| set.join(&f.path)).collect();
        tracing::info!(target = %outcome.target, "restore drill");
        progress.started(&outcome.target);
        let begun = Instant::now();
        let result = match outcome.kind.as_str() {
            "postgres" => super::postgres::drill(&files, &sanity, &config.backup.drill).await,
            "redis" => super::redis::drill(&files, &sanity, &config.backup.drill).await,
            "s3" => {
                let spec = match config.targets.get(&outcome.target) {
                    Some(crate::config::checks::Spec::S3(spec)) => Some(spec),
                    _ => None,
                };
                super::s3::drill(set, outcome, spec, &sanity).await
            }
            other => Err(format!("no drill for `{other}` targets")),
        };
        progress.finished(&outcome.target);
        let elapsed = begun.elapsed().as_secs_f64();
        let drilled = match result {
            Ok((restore_seconds, checks)) => TargetDrill {
                target: outcome.target.clone(),
                kind: outcome.kind.clone(),
                success: checks.iter().all(|c| c.ok),
                error: None,
                restore_seconds,
                checks,
            },
            Err(error) => TargetDrill {
                target: outcome.target.clone(),
                kind: outcome.kind.clone(),
                success: false,
                error: Some(error),
                restore_seconds: elapsed,
                checks: Vec::new(),
            },
        };
        targets.push(drilled);
    }
    let now = SystemTime::now();
    let summary = Summary {
        set: manifest.set.clone(),
        drilled_at: humantime::format_rfc3339_seconds(now).to_string(),
        drilled_unix: now.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
        success: !targets.is_empty() && targets.iter().all(|t| t.success),
        duration_seconds: started.elapsed().as_secs_f64(),
        targets,
    };
    let path = set.join(SUMMARY);
    let json = serde_json::to_vec_pretty(&summary)
        .map_err(|e| DrillError::Write { path: path.display().to_string(), source: std::io::Error::other(e) })?;
    write_synced(&path, &json).map_err(|source| DrillError::Write { path: path.display().to_string(), source })?;
    Ok(summary)
}

/// A name for a drill's container and network, unique on the engine.
pub(super) fn throwaway_name(kind: &str) -> String {
    format!("ops-gen-drill-{kind}-{}", unique_suffix())
}

/// Six hex digits from the clock and the process: concurrent drills (of
/// the same set, from other processes) do not pick the same names.
pub(super) fn unique_suffix() -> String {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{:06x}", (nanos ^ std::process::id()) & 0x00ff_ffff)
}
