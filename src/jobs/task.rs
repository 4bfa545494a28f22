//! Doing one job's work: the library verbs the commands call, with the
//! options of the job, ended in one of three ways ([`Ending`]).
//!
//! - `backup`: [`crate::backup::run::run`], a set of the configured
//!   targets (`only`, `tag`).
//! - `verify` and `drill`: the newest set, as `backup verify` and `backup
//!   drill` pick it without arguments ([`crate::backup::find`]).
//! - `smoke`: [`crate::ops::smoke::run`], recorded under `output/smoke/`
//!   like the command.
//! - `storage-clean`: [`crate::ops::storage::plan`] and
//!   [`crate::ops::storage::clean_holding`], as `storage clean --yes`.
//!
//! The verbs that work in the backup folder take its lock themselves and
//! refuse at once when another process holds it; that refusal is not a
//! failure of the job but a skip ([`Ending::Locked`]). `storage-clean`
//! takes the exclusive lock before it plans, for the same rule.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::backup::lock::LockError;
use crate::config::checks::Kind;
use crate::config::schedule::{Store, Task};
use crate::config::{Config, Loaded};

/// How a run ended, with what it has to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// It did its work: what came of it (the set it took, what it freed).
    Ok(String),
    /// It failed: why.
    Failed(String),
    /// Another process holds the backup folder: who.
    Locked(String),
}

/// `error` as a skip when `busy` (the backup folder's lock refused because
/// another process holds it), else as a failure.
fn ended_by(error: &dyn std::error::Error, busy: bool) -> Ending {
    let text = crate::errors::chain(error);
    if busy { Ending::Locked(text) } else { Ending::Failed(text) }
}

/// Whether a verb's error is the lock being held by another process (the
/// verbs wrap [`LockError`] transparently, so it is matched by type).
fn held(error: &LockError) -> bool {
    matches!(error, LockError::Busy { .. })
}

/// Does `task` once with `loaded`'s config, on a thread and runtime of
/// its own: a job hashing gigabytes or waiting on a hung store never takes
/// a worker of the runtime that answers scrapes.
pub async fn execute(loaded: Arc<Loaded>, task: &Task) -> Ending {
    let task = task.clone();
    let work = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        match runtime {
            Ok(runtime) => runtime.block_on(execute_here(loaded, &task)),
            Err(e) => Ending::Failed(format!("cannot start the job's runtime: {e}")),
        }
    });
    work.await.unwrap_or_else(|e| Ending::Failed(format!("the job stopped: {e}")))
}

async fn execute_here(loaded: Arc<Loaded>, task: &Task) -> Ending {
    match task {
        Task::Backup { only, tag } => backup(&loaded.config, only, tag.as_deref()).await,
        Task::Verify => verify(&loaded.config).await,
        Task::Drill => drill(&loaded.config).await,
        Task::Smoke { step_timeout } => smoke(&loaded, step_timeout.map(crate::config::HumanDuration::get)).await,
        Task::StorageClean { keep } => clean(&loaded, keep.unwrap_or(crate::ops::storage::DEFAULT_KEEP)),
    }
}

/// `backup run [--only …] [--tag …]`.
async fn backup(config: &Config, only: &[Store], tag: Option<&str>) -> Ending {
    let only = only
        .iter()
        .map(|store| match store {
            Store::Postgres => Kind::Postgres,
            Store::Redis => Kind::Redis,
            Store::S3 => Kind::S3,
        })
        .collect();
    let options = crate::backup::run::Options { only, tag: tag.map(str::to_owned) };
    match crate::backup::run::run(config, &options, &crate::backup::run::Quiet).await {
        Ok(summary) if summary.success() => {
            Ending::Ok(format!("took {}", summary.set.as_deref().map_or_else(String::new, set_name)))
        }
        Ok(summary) => Ending::Failed(joined(
            summary
                .manifest
                .targets
                .iter()
                .filter(|t| !t.success)
                .map(|t| format!("{}: {}", t.target, t.error.as_deref().unwrap_or("failed"))),
        )),
        Err(e) => {
            let busy = matches!(&e, crate::backup::run::RunError::Lock(lock) if held(lock));
            ended_by(&e, busy)
        }
    }
}

/// `backup verify` of the newest set.
async fn verify(config: &Config) -> Ending {
    let dir = &config.backup.dir;
    let set = match crate::backup::find(dir, None) {
        Ok(set) => set,
        Err(e) => return Ending::Failed(e.to_string()),
    };
    match crate::backup::verify::verify(dir, &set).await {
        Ok(record) if record.ok => Ending::Ok(format!("{}: {} file(s) intact", set_name(&set), record.files_checked)),
        Ok(record) => Ending::Failed(format!(
            "{}: {}",
            set_name(&set),
            joined(record.problems.iter().map(|p| format!("{}: {}", p.subject, p.problem)))
        )),
        Err(e) => {
            let busy = matches!(&e, crate::backup::verify::VerifyError::Lock(lock) if held(lock));
            ended_by(&e, busy)
        }
    }
}

/// `backup drill` of the newest set.
async fn drill(config: &Config) -> Ending {
    let set = match crate::backup::find(&config.backup.dir, None) {
        Ok(set) => set,
        Err(e) => return Ending::Failed(e.to_string()),
    };
    match crate::backup::drill::drill(config, &set, &crate::backup::run::Quiet).await {
        Ok(summary) if summary.success => Ending::Ok(format!(
            "{}: restored {} target(s) in {:.1} s",
            set_name(&set),
            summary.targets.len(),
            summary.duration_seconds
        )),
        Ok(summary) => Ending::Failed(format!(
            "{}: {}",
            set_name(&set),
            joined(summary.targets.iter().filter(|t| !t.success).map(|t| format!(
                "{}: {}",
                t.target,
                t.error.as_deref().unwrap_or("a sanity check failed")
            )))
        )),
        Err(e) => {
            use crate::backup::{drill::DrillError, verify::VerifyError};
            let busy = matches!(&e, DrillError::Verify(VerifyError::Lock(lock)) if held(lock));
            ended_by(&e, busy)
        }
    }
}

/// `ops-gen smoke`, recorded under `output/smoke/`.
async fn smoke(loaded: &Loaded, step_timeout: Option<Duration>) -> Ending {
    let inputs = match crate::profile::Inputs::load(loaded) {
        Ok(inputs) => inputs,
        Err(e) => return Ending::Failed(crate::errors::chain(&e)),
    };
    let ctx = inputs.context(&loaded.config);
    let mut options = crate::ops::smoke::Options::default();
    if let Some(limit) = step_timeout {
        options.step_timeout = limit;
    }
    let report = crate::ops::smoke::run(&ctx, &options).await;
    if let Err(e) = crate::ops::smoke::record(Path::new(crate::ops::smoke::DIR), &report) {
        return Ending::Failed(crate::errors::chain(&e));
    }
    match report.reason() {
        None => Ending::Ok(format!("{} step(s) passed", report.steps.len())),
        Some(reason) => Ending::Failed(reason),
    }
}

fn joined(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join("; ")
}

/// `storage clean --yes`, holding the backup folder exclusively.
fn clean(loaded: &Loaded, keep: u64) -> Ending {
    let config = &loaded.config;
    let inputs = match crate::profile::Inputs::load(loaded) {
        Ok(inputs) => inputs,
        Err(e) => return Ending::Failed(crate::errors::chain(&e)),
    };
    let folders = crate::ops::storage::Folders::of(config, &inputs.base);
    let lock = match crate::backup::lock::lock(&folders.backups, crate::backup::lock::Mode::Exclusive, "storage clean")
    {
        Ok(lock) => lock,
        Err(e) => return ended_by(&e, held(&e)),
    };
    let keep = usize::try_from(keep).unwrap_or(usize::MAX);
    let plan = crate::ops::storage::plan(config, &folders, keep, SystemTime::now());
    let report = crate::ops::storage::clean_holding(config, &folders, plan, &lock);
    if report.failed.is_empty() {
        Ending::Ok(format!(
            "deleted {} path(s), freed {}",
            report.removed.len(),
            bytesize::ByteSize::b(report.freed_bytes)
        ))
    } else {
        Ending::Failed(joined(report.failed.iter().map(|f| format!("{}: {}", f.path.display(), f.error))))
    }
}

/// A set's folder name, as `backup list` shows it.
fn set_name(set: &Path) -> String {
    set.file_name().map_or_else(|| set.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// A random delay within `window` (none for an empty window).
#[must_use]
pub fn jitter(window: Duration) -> Duration {
    window.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder held by someone else skips the job, with who holds it; a
    /// free one lets it run.
    #[tokio::test]
    async fn a_held_backup_folder_is_a_skip_not_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ops-gen.yml");
        let backups = dir.path().join("backups");
        std::fs::write(&file, format!("backup:\n  dir: {}\n", backups.display())).unwrap();
        let loaded = Arc::new(Loaded::load(Some(&file)).unwrap());
        // Bundles and smoke runs live under the working folder's `output/`:
        // keep them all, so the test deletes nothing of the checkout's.
        let task = Task::StorageClean { keep: Some(u64::MAX) };
        let held = crate::backup::lock::lock(&backups, crate::backup::lock::Mode::Shared, "backup drill").unwrap();
        match execute(Arc::clone(&loaded), &task).await {
            Ending::Locked(why) => assert!(why.contains("is busy") && why.contains("`ops-gen backup drill`"), "{why}"),
            other => panic!("{other:?}"),
        }
        drop(held);
        for _ in 0..200 {
            match execute(Arc::clone(&loaded), &task).await {
                Ending::Ok(done) => return assert!(done.starts_with("deleted 0 path(s)"), "{done}"),
                // Released a moment later when another test forked meanwhile.
                Ending::Locked(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                Ending::Failed(why) => panic!("{why}"),
            }
        }
        panic!("the folder was never free again");
    }
}
