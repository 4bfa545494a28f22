//! `ops-gen backup run`: take one set, then apply retention.
//!
//! Targets are dumped one after the other into a hidden temporary folder; a
//! target that fails is recorded in the manifest (its partial files are
//! removed) and the others still run. A run where every target failed
//! writes no set at all, only a record in `failed/`: an empty set must not
//! look like a fresh backup. Passwords reach `pg_dump` and `redis-cli`
//! through their environment (`PGPASSWORD`, `REDISCLI_AUTH`), never their
//! arguments, which any user can read in `ps`. The whole run holds the
//! backup folder's lock exclusively ([`super::lock`]). What a target's dump
//! writes is its store's ([`super::postgres`], [`super::redis`],
//! [`super::s3`]).

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use super::lock::{FolderLock, LockError, Mode};
use super::manifest::{Manifest, PRE_RESTORE, SetStatus, TargetOutcome, write_synced};
use super::{FAILED, Job, catalog, jobs, set_name};
use crate::config::Config;
use crate::config::checks::{Kind, Spec};

/// The file that says which set is the newest complete one.
pub const LATEST: &str = "latest.json";

/// How many records of failed runs `failed/` keeps.
const FAILURES_KEPT: usize = 30;

/// Why no set could be taken at all (a failing target is not one of these:
/// it is recorded).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot use the backup folder {dir}: {source} (fix: create it, or set `backup.dir` to a writable folder)")]
    Folder { dir: String, source: std::io::Error },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("nothing to back up: the config has no postgres, redis or s3 targets{only}")]
    NothingToDo { only: String },
    #[error("`{0}` is not a tag: a tag is 1 to 40 lowercase letters, digits, `-` and `_`{1}")]
    BadTag(String, &'static str),
    #[error("cannot write the set in {dir}: {source}")]
    Write { dir: String, source: std::io::Error },
}

/// What to back up, and why.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only targets of these kinds (all when empty).
    pub only: Vec<Kind>,
    /// The set's tag (`backup run --tag`); `None` for a scheduled copy.
    pub tag: Option<String>,
}

/// What `backup run` did.
#[derive(Debug)]
pub struct Summary {
    /// The new set's folder; `None` when every target failed (then
    /// `failure_record` holds what happened).
    pub set: Option<PathBuf>,
    pub failure_record: Option<PathBuf>,
    pub manifest: Manifest,
    /// Sets removed by retention.
    pub removed: Vec<String>,
    /// Why retention deleted nothing, when the clock forbade it.
    pub retention_blocked: Option<String>,
}

impl Summary {
    #[must_use]
    pub fn success(&self) -> bool {
        self.set.is_some() && self.manifest.targets.iter().all(|t| t.success)
    }
}

/// What `run` and `drill` report while they work; the CLI draws it on a
/// terminal.
pub trait Progress: Sync {
    fn started(&self, target: &str);
    fn finished(&self, target: &str);
}

/// No progress display (scripts, tests, the safety backup of a restore).
#[derive(Debug, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {
    fn started(&self, _: &str) {}
    fn finished(&self, _: &str) {}
}

/// Takes one set of every configured target (or only `options.only`
/// kinds) under the folder's exclusive lock, then applies retention.
pub async fn run(config: &Config, options: &Options, progress: &dyn Progress) -> Result<Summary, RunError> {
    if let Some(tag) = &options.tag {
        if !crate::config::backup::valid_tag(tag) {
            return Err(RunError::BadTag(tag.clone(), ""));
        }
        if tag == PRE_RESTORE {
            return Err(RunError::BadTag(tag.clone(), " other than `pre-restore`, which restores use"));
        }
    }
    crate::output::private_umask();
    let lock = super::lock::lock(&config.backup.dir, Mode::Exclusive, "backup run")?;
    take(config, &lock, options, &[], progress).await
}

/// [`run`] for a caller that holds the exclusive lock already (a restore's
/// safety copy); retention keeps the sets in `protect`.
pub(crate) async fn take(
    config: &Config,
    lock: &FolderLock,
    options: &Options,
    protect: &[PathBuf],
    progress: &dyn Progress,
) -> Result<Summary, RunError> {
    debug_assert!(lock.exclusive(), "a set is taken only under the exclusive lock");
    let dir = &config.backup.dir;
    let write_err = |source| RunError::Write { dir: dir.display().to_string(), source };
    private_folder(dir).map_err(|source| RunError::Folder { dir: dir.display().to_string(), source })?;
    remove_leftovers(dir);

    let jobs: Vec<Job> =
        jobs(config).into_iter().filter(|j| options.only.is_empty() || options.only.contains(&j.spec.kind())).collect();
    if jobs.is_empty() {
        let only = if options.only.is_empty() {
            String::new()
        } else {
            format!(" of kind {}", options.only.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
        };
        return Err(RunError::NothingToDo { only });
    }

    let started_at = SystemTime::now();
    let started = Instant::now();
    let name = unique_name(dir, started_at);
    let tmp = dir.join(format!(".tmp-{name}"));
    crate::output::create_private_dir(&tmp).map_err(write_err)?;
    // Until the rename, any way out of here removes the partial set (on a
    // full disk, at once rather than at the next run).
    let partial = RemoveOnDrop(Some(tmp.clone()));

    let mut targets = Vec::with_capacity(jobs.len());
    for job in &jobs {
        tracing::info!(target = %job.target, "backing up");
        progress.started(&job.target);
        let begun = Instant::now();
        let result = match &job.spec {
            Spec::Postgres(spec) => super::postgres::dump(job, spec, &config.backup.postgres, &tmp).await,
            Spec::Redis(spec) => super::redis::dump(job, spec, &tmp).await,
            Spec::S3(spec) => super::s3::dump(job, spec, &tmp).await,
            _ => Err("not a kind that is backed up".to_owned()),
        };
        let (success, error, files) = match result {
            Ok(files) => (true, None, files),
            Err(e) => {
                tracing::error!(target = %job.target, "backup failed: {e}");
                // What it wrote before failing is not a copy.
                remove_partial_files(&tmp, job);
                (false, Some(e), Vec::new())
            }
        };
        progress.finished(&job.target);
        targets.push(TargetOutcome {
            target: job.target.clone(),
            kind: job.spec.kind().to_string(),
            success,
            error,
            duration_seconds: begun.elapsed().as_secs_f64(),
            mirrored: job.mirror,
            files,
        });
    }

    let finished_at = SystemTime::now();
    let failed = targets.iter().filter(|t| !t.success).count();
    let manifest = Manifest {
        format: 1,
        set: name.clone(),
        ops_gen_version: crate::build_info::VERSION.to_owned(),
        started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
        finished_at: humantime::format_rfc3339_seconds(finished_at).to_string(),
        finished_unix: finished_at.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
        duration_seconds: started.elapsed().as_secs_f64(),
        status: if failed == 0 { SetStatus::Complete } else { SetStatus::Partial },
        tag: options.tag.clone(),
        targets,
    };
    if failed == manifest.targets.len() {
        drop(partial);
        let record = record_failure(dir, &manifest).map_err(write_err)?;
        return Ok(Summary {
            set: None,
            failure_record: Some(record),
            manifest,
            removed: Vec::new(),
            retention_blocked: None,
        });
    }
    manifest.write(&tmp).map_err(write_err)?;
    if failed == 0 {
        let complete = serde_json::json!({"set": name, "finished_at": manifest.finished_at});
        write_synced(&tmp.join(crate::output::SET_COMPLETE), complete.to_string().as_bytes()).map_err(write_err)?;
    }
    let set = dir.join(&name);
    // The set exists under its real name only once complete, and the name
    // is on disk before anything points at it.
    std::fs::rename(&tmp, &set).map_err(write_err)?;
    partial.disarm();
    crate::output::sync_dir(dir).map_err(write_err)?;
    write_latest(dir).map_err(write_err)?;

    let sets = catalog(dir).map_err(write_err)?;
    let mut protect = protect.to_vec();
    protect.push(set.clone());
    let plan = super::retention::plan(&config.backup.retention, &sets, SystemTime::now(), &protect);
    if let Some(why) = &plan.blocked {
        tracing::warn!("{why}");
    }
    let removed = super::retention::delete(lock, dir, &plan.delete);
    if !removed.is_empty() {
        write_latest(dir).map_err(write_err)?;
    }
    Ok(Summary { set: Some(set), failure_record: None, manifest, removed, retention_blocked: plan.blocked })
}

/// Creates the backup folder owner-only, or makes an existing one so:
/// sets hold the stack's data and credentials.
fn private_folder(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    crate::output::create_private_dir_all(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!("{} was readable by other users (mode {:o}); made it owner-only", dir.display(), mode & 0o777);
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `failed/<set>.json` for a run where every target failed, and
/// keeps the newest [`FAILURES_KEPT`] records.
fn record_failure(dir: &Path, manifest: &Manifest) -> std::io::Result<PathBuf> {
    let folder = dir.join(FAILED);
    crate::output::create_private_dir_all(&folder)?;
    let path = folder.join(format!("{}.json", manifest.set));
    crate::output::write_atomically(&path, &serde_json::to_vec_pretty(manifest).map_err(std::io::Error::other)?)?;
    let mut records: Vec<PathBuf> = std::fs::read_dir(&folder)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(super::is_failure_record))
        .map(|e| e.path())
        .collect();
    records.sort();
    for old in &records[..records.len().saturating_sub(FAILURES_KEPT)] {
        let _ = std::fs::remove_file(old);
    }
    Ok(path)
}

/// `latest.json`: the newest set (`set`, with its tag and whether every
/// target succeeded), the newest scheduled one (`scheduled`, no tag) and the
/// newest safety copy of a restore (`safety`). Derived from the sets each
/// time, written atomically.
pub fn write_latest(dir: &Path) -> std::io::Result<()> {
    let sets = catalog(dir)?;
    let valid: Vec<_> = sets.iter().filter(|s| s.finished().is_some()).collect();
    let Some(newest) = valid.last() else { return Ok(()) };
    let newest_with = |tag: Option<&str>| valid.iter().rev().find(|s| s.tag() == tag).map(|s| s.name.clone());
    let manifest = newest.manifest.as_ref();
    let latest = serde_json::json!({
        "set": newest.name,
        "finished_at": manifest.map(|m| m.finished_at.clone()),
        "success": manifest.is_some_and(|m| !m.partial()),
        "tag": newest.tag(),
        "scheduled": newest_with(None),
        "safety": newest_with(Some(PRE_RESTORE)),
    });
    crate::output::write_atomically(&dir.join(LATEST), latest.to_string().as_bytes())
}

/// Removes a folder when dropped, unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// A set name that does not exist yet (two runs in the same second).
fn unique_name(dir: &Path, at: SystemTime) -> String {
    let base = set_name(at);
    (0..1000)
        .map(|n| if n == 0 { base.clone() } else { format!("{base}-{n}") })
        .find(|n| !dir.join(n).exists() && !dir.join(FAILED).join(format!("{n}.json")).exists())
        .unwrap_or(base)
}

/// Removes temporary folders of runs that died and sets whose deletion was
/// interrupted (we hold the exclusive lock).
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") || name.starts_with(super::retention::TRASH) {
            tracing::info!("removing {} left by an interrupted backup", entry.path().display());
            let path = entry.path();
            let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        }
    }
}

/// Removes what a failed target left in the temporary set.
fn remove_partial_files(set: &Path, job: &Job) {
    let paths = match job.spec.kind() {
        Kind::Postgres => vec![set.join("postgres").join(&job.target)],
        Kind::Redis => vec![
            set.join("redis").join(format!("{}.rdb", job.target)),
            set.join("redis").join(format!("{}.json", job.target)),
        ],
        Kind::S3 => vec![set.join("s3").join(&job.target)],
        _ => Vec::new(),
    };
    for path in paths {
        let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
    }
}

/// The sets retention would remove now (`storage clean` shows them, then
/// deletes them under the exclusive lock through [`super::retention`]).
#[must_use]
pub fn retention_plan(config: &Config, now: SystemTime) -> super::retention::Plan {
    let sets = catalog(&config.backup.dir).unwrap_or_default();
    super::retention::plan(&config.backup.retention, &sets, now, &[])
}

/// How the manifest names a file of the set: its path inside the set, with
/// `/` between parts.
pub(super) fn relative(set: &Path, path: &Path) -> String {
    path.strip_prefix(set).unwrap_or(path).to_string_lossy().replace('\\', "/")
}
