//! `ops-gen backup restore --from SET`: put a set back into the real targets.
//!
//! Destructive, so it goes in a safe order, all under the backup folder's
//! exclusive lock (no run, retention or drill can start meanwhile): verify
//! the set (hashes and readability) before touching anything; take a safety
//! copy of the current state, tagged `pre-restore` (its own retention, and
//! never at the expense of the set being restored), verify it, and stop if
//! either fails, so a restore you regret can be undone; then restore each
//! target the way of its store: PostgreSQL with `pg_restore` in a single
//! transaction ([`super::postgres`]), Redis by moving the keys of the RDB
//! into the flushed target ([`super::redis`]), S3 by putting every object of
//! a mirrored set back ([`super::s3`]). Confirmation is the caller's job
//! (the CLI asks, or takes `--yes`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::manifest::{Manifest, TargetOutcome};
use crate::config::Config;
use crate::config::checks::{Kind, Spec};

/// What a restore did, per target.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub target: String,
    pub success: bool,
    /// What was restored, or why it failed.
    pub detail: String,
    pub seconds: f64,
}

/// The whole restore.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub set: String,
    /// The verified safety copy of the state before the restore.
    pub safety_set: String,
    pub targets: Vec<Restored>,
}

/// How to restore.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// PostgreSQL: apply the set's `globals.sql` (roles, tablespaces) first
    /// and restore with the original owners and grants.
    pub with_roles: bool,
}

/// Why a restore did not start (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Verify(#[from] super::verify::VerifyError),
    #[error("the set {set} does not match its manifest ({problems}); nothing was restored")]
    Damaged { set: String, problems: String },
    #[error("the set holds no target of the current config ({0}); nothing was restored")]
    NoTargets(String),
    #[error(
        "S3 target `{0}` is restored only while it is mirrored, so the objects it overwrites are backed up first: set `backup.targets.{0}.mirror: true`; nothing was restored"
    )]
    NotMirrored(String),
    #[error("could not back up the current state first ({0}); nothing was restored")]
    SafetyBackup(String),
    #[error(transparent)]
    Lock(#[from] super::lock::LockError),
}

/// The targets of `set` that the config still has, with their outcome in
/// it. An S3 target is restored only from a mirrored set, and only while the
/// config mirrors it too, so the safety backup holds the objects a restore
/// overwrites.
pub fn plan(config: &Config, set: &Path) -> Result<Vec<TargetOutcome>, RestoreError> {
    let manifest = Manifest::read(set).map_err(super::verify::VerifyError::from)?;
    let jobs = super::jobs(config);
    let mut targets = Vec::new();
    for outcome in manifest.targets.iter().filter(|t| t.success && config.targets.contains_key(&t.target)) {
        if outcome.kind == "s3" {
            if !outcome.mirrored {
                // Its listing alone cannot bring objects back.
                continue;
            }
            if !jobs.iter().any(|j| j.target == outcome.target && j.mirror) {
                return Err(RestoreError::NotMirrored(outcome.target.clone()));
            }
        }
        targets.push(outcome.clone());
    }
    if targets.is_empty() {
        let names: Vec<&str> = manifest.targets.iter().map(|t| t.target.as_str()).collect();
        return Err(RestoreError::NoTargets(names.join(", ")));
    }
    Ok(targets)
}

/// Verifies, backs up the current state, and restores `set`.
pub async fn restore(config: &Config, set: &Path, options: Options) -> Result<Summary, RestoreError> {
    crate::output::private_umask();
    let lock = super::lock::lock(&config.backup.dir, super::lock::Mode::Exclusive, "backup restore")?;
    let record = super::verify::verify_set(set).await?;
    let damaged = record.damaged();
    if !damaged.is_empty() {
        return Err(RestoreError::Damaged { set: set.display().to_string(), problems: damaged.join(", ") });
    }
    let plan = plan(config, set)?;
    let safety = safety_copy(config, &lock, set, &plan).await?;
    let mut targets = Vec::new();
    for outcome in &plan {
        let started = Instant::now();
        let files: Vec<PathBuf> = outcome.files.iter().map(|f| set.join(&f.path)).collect();
        let result = match config.targets.get(&outcome.target) {
            Some(Spec::Postgres(spec)) => super::postgres::restore(spec, &files, options.with_roles).await,
            Some(Spec::Redis(spec)) => super::redis::restore(spec, &files).await,
            Some(Spec::S3(spec)) => super::s3::restore(spec, set, outcome).await,
            _ => Err("not a kind that is restored".to_owned()),
        };
        let (success, detail) = match result {
            Ok(detail) => (true, detail),
            Err(e) => (false, e),
        };
        targets.push(Restored {
            target: outcome.target.clone(),
            success,
            detail,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    drop(lock);
    Ok(Summary { set: set.display().to_string(), safety_set: safety.display().to_string(), targets })
}

/// Takes the `pre-restore` copy of the targets `plan` restores (retention
/// keeping `set`), verifies it, and returns its folder; any failure is a
/// [`RestoreError::SafetyBackup`] and nothing has been touched.
async fn safety_copy(
    config: &Config,
    lock: &super::lock::FolderLock,
    set: &Path,
    plan: &[TargetOutcome],
) -> Result<PathBuf, RestoreError> {
    let kinds: Vec<Kind> = plan.iter().filter_map(|t| config.targets.get(&t.target).map(Spec::kind)).collect();
    let options = super::run::Options { only: kinds, tag: Some(super::manifest::PRE_RESTORE.to_owned()) };
    let protect = [std::path::absolute(set).unwrap_or_else(|_| set.to_owned()), set.to_owned()];
    let safety = super::run::take(config, lock, &options, &protect, &super::run::Quiet)
        .await
        .map_err(|e| RestoreError::SafetyBackup(e.to_string()))?;
    if let Some(failed) =
        safety.manifest.targets.iter().find(|t| plan.iter().any(|p| p.target == t.target) && !t.success)
    {
        return Err(RestoreError::SafetyBackup(format!(
            "{}: {}",
            failed.target,
            failed.error.as_deref().unwrap_or("failed")
        )));
    }
    let folder = safety.set.ok_or_else(|| RestoreError::SafetyBackup("no safety copy was written".to_owned()))?;
    let record = super::verify::verify_set(&folder).await.map_err(|e| RestoreError::SafetyBackup(e.to_string()))?;
    let damaged = record.damaged();
    if !damaged.is_empty() {
        return Err(RestoreError::SafetyBackup(format!(
            "the safety copy {} did not verify ({})",
            folder.display(),
            damaged.join(", ")
        )));
    }
    Ok(folder)
}
