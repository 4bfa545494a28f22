//! `ops-gen storage status | clean`: does the stack stay within its disk
//! budget, and what can go?
//!
//! [`status`] sizes each Docker volume of the profile (the profile's and the
//! project's labels, through [`crate::docker`]) and each output folder
//! (`backup.dir`, [`super::smoke::DIR`], [`super::bundle::DIR`], and
//! `profile.data_dir` when the profile keeps its data in bind mounts),
//! sums them against `profile.disk_budget` and reads the free space of the
//! filesystem the output lives on. An unreachable engine makes the volumes
//! unknown, not the command fail.
//!
//! [`plan`] applies retention without touching anything: bundles beyond the
//! newest `keep` (a bundle is its folder and its `.tar.gz`), smoke results
//! beyond the newest `keep` except the ones `latest.json` points to (the
//! newest run and the last failure), and backup sets through the backup
//! module's own retention ([`crate::backup::run::retention_plan`], which
//! never names the newest verified set). [`clean`] deletes what a plan
//! names, under the backup folder's lock, so the CLI can show the plan and
//! ask first.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytesize::ByteSize;
use serde::Serialize;

use crate::backup;
use crate::config::Config;
use crate::docker::LABEL_PROFILE;
use crate::docker::{Docker, LABEL_PROJECT};
use crate::profile::compose::PROFILE;

/// How many bundles and smoke results `clean` keeps by default.
pub const DEFAULT_KEEP: u64 = 5;

/// The folders ops-gen writes, as the commands that write them resolve them.
#[derive(Debug, Clone)]
pub struct Folders {
    pub backups: PathBuf,
    pub smoke: PathBuf,
    pub bundles: PathBuf,
    /// `profile.data_dir`, when the profile uses bind mounts.
    pub profile_data: Option<PathBuf>,
}

impl Folders {
    /// The folders of `config`, with `profile.data_dir` under `base` (the
    /// folder Compose runs in).
    #[must_use]
    pub fn of(config: &Config, base: &Path) -> Self {
        Self {
            backups: config.backup.dir.clone(),
            smoke: PathBuf::from(super::smoke::DIR),
            bundles: PathBuf::from(super::bundle::DIR),
            profile_data: config.profile.data_dir.as_ref().map(|d| base.join(d)),
        }
    }
}

/// What one line of `status` measures.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Volume,
    Folder,
}

/// One measured volume or folder.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub kind: ItemKind,
    /// The volume's name or the folder's path.
    pub name: String,
    /// `None` when it could not be measured (see `detail`).
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `storage status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub items: Vec<Item>,
    /// Why the volumes are unknown, when the engine could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes_unknown: Option<String>,
    /// The sum of what could be measured.
    pub total_bytes: u64,
    pub budget_bytes: u64,
    pub within_budget: bool,
    /// Free space (for unprivileged users) on the filesystem of `free_path`.
    pub free_bytes: Option<u64>,
    pub free_path: PathBuf,
}

/// Measures the profile's volumes (of Compose project `project`) and the
/// output folders against `budget`.
pub async fn status(project: &str, folders: &Folders, budget: ByteSize) -> StatusReport {
    let mut items = Vec::new();
    let mut volumes_unknown = None;
    match volumes(project).await {
        Ok(found) => items.extend(found),
        Err(e) => volumes_unknown = Some(e.to_string()),
    }
    let mut paths = vec![&folders.backups, &folders.smoke, &folders.bundles];
    paths.extend(folders.profile_data.as_ref());
    for path in paths {
        let (bytes, detail) = match size_of(path) {
            Ok(0) if !path.exists() => (Some(0), Some("does not exist".to_owned())),
            Ok(bytes) => (Some(bytes), None),
            Err(e) => (None, Some(format!("cannot read: {e}"))),
        };
        items.push(Item { kind: ItemKind::Folder, name: path.display().to_string(), bytes, detail });
    }
    let total_bytes = items.iter().filter_map(|i| i.bytes).sum();
    let free_path = existing_ancestor(&folders.backups);
    let free_bytes = rustix::fs::statvfs(&free_path).ok().map(|st| st.f_bavail.saturating_mul(st.f_frsize));
    StatusReport {
        items,
        volumes_unknown,
        total_bytes,
        budget_bytes: budget.as_u64(),
        within_budget: total_bytes <= budget.as_u64(),
        free_bytes,
        free_path,
    }
}

async fn volumes(project: &str) -> Result<Vec<Item>, crate::docker::DockerError> {
    let docker = Docker::connect().await?;
    let names = docker.volumes(&[(LABEL_PROFILE, PROFILE), (LABEL_PROJECT, project)]).await?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let sizes = docker.volume_sizes().await?;
    Ok(names
        .into_iter()
        .map(|name| {
            let bytes = sizes.get(&name).copied().flatten();
            let detail = bytes.is_none().then(|| "the volume driver does not report its size".to_owned());
            Item { kind: ItemKind::Volume, name, bytes, detail }
        })
        .collect())
}

/// The first folder of `path` and its parents that exists (`.` at worst).
fn existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Bytes of the files under `path` (symlinks not followed); 0 when it does
/// not exist.
fn size_of(path: &Path) -> std::io::Result<u64> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        total += size_of(&entry?.path())?;
    }
    Ok(total)
}

/// The text for people: one line per item, then the total and free space.
#[must_use]
pub fn render_status(report: &StatusReport) -> String {
    let mut out = String::new();
    if let Some(why) = &report.volumes_unknown {
        let _ = writeln!(out, "{:<8} {:>10}  volumes unknown: {why}", "volumes", "?");
    }
    if !report.items.iter().any(|i| i.kind == ItemKind::Volume) && report.volumes_unknown.is_none() {
        let _ = writeln!(
            out,
            "{:<8} {:>10}  no volumes of the profile (not started, or data in bind mounts)",
            "volumes", "-"
        );
    }
    for item in &report.items {
        let kind = match item.kind {
            ItemKind::Volume => "volume",
            ItemKind::Folder => "folder",
        };
        let size = item.bytes.map_or_else(|| "?".to_owned(), |b| ByteSize::b(b).to_string());
        let detail = item.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
        let _ = writeln!(out, "{kind:<8} {size:>10}  {}{detail}", item.name);
    }
    let verdict = if report.within_budget { "within" } else { "OVER" };
    let _ = writeln!(
        out,
        "{:<8} {:>10}  {verdict} the disk budget of {}",
        "total",
        ByteSize::b(report.total_bytes).to_string(),
        ByteSize::b(report.budget_bytes)
    );
    match report.free_bytes {
        Some(free) => {
            let _ = writeln!(
                out,
                "{:<8} {:>10}  on the filesystem of {}",
                "free",
                ByteSize::b(free).to_string(),
                report.free_path.display()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "{:<8} {:>10}  cannot read the filesystem of {}",
                "free",
                "?",
                report.free_path.display()
            );
        }
    }
    if !report.within_budget {
        let _ = writeln!(out, "fix: `ops-gen storage clean` applies retention; or raise `profile.disk_budget`");
    }
    out
}

/// What a removal is.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum What {
    Bundle,
    Smoke,
    Backup,
}

/// One thing `clean` removes: a bundle (its folder and archive), a smoke
/// result folder or a backup set.
#[derive(Debug, Clone, Serialize)]
pub struct Removal {
    pub what: What,
    pub paths: Vec<PathBuf>,
    pub bytes: u64,
}

/// What `clean` would remove.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub removals: Vec<Removal>,
    pub bytes: u64,
}

/// Retention over `folders`, keeping the newest `keep` bundles and smoke
/// results, and backup sets as `config.backup.retention` says.
#[must_use]
pub fn plan(config: &Config, folders: &Folders, keep: usize, now: SystemTime) -> Plan {
    let mut removals = Vec::new();

    // Bundles: `<ts>/` and `<ts>.tar.gz`, grouped by name.
    let mut bundles: Vec<String> = entries(&folders.bundles)
        .into_iter()
        .map(|name| name.strip_suffix(".tar.gz").map_or_else(|| name.clone(), str::to_owned))
        .filter(|name| backup::is_set_name(name))
        .collect();
    bundles.sort();
    bundles.dedup();
    for name in &bundles[..bundles.len().saturating_sub(keep)] {
        let paths: Vec<PathBuf> = [folders.bundles.join(name), folders.bundles.join(format!("{name}.tar.gz"))]
            .into_iter()
            .filter(|p| p.symlink_metadata().is_ok())
            .collect();
        removals.push(removal(What::Bundle, paths));
    }

    // Smoke results: never the runs latest.json points to.
    let latest = crate::output::SmokeLatest::read(&folders.smoke);
    let pinned: Vec<String> = latest
        .iter()
        .flat_map(|l| std::iter::once(&l.result).chain(l.last_failure.as_ref().map(|f| &f.result)))
        .filter_map(|result| result.parent()?.file_name()?.to_str().map(str::to_owned))
        .collect();
    let mut runs: Vec<String> = entries(&folders.smoke)
        .into_iter()
        .filter(|name| backup::is_set_name(name) && folders.smoke.join(name).is_dir())
        .collect();
    runs.sort();
    for name in &runs[..runs.len().saturating_sub(keep)] {
        if !pinned.contains(name) {
            removals.push(removal(What::Smoke, vec![folders.smoke.join(name)]));
        }
    }

    for set in backup::run::retention_plan(config, now).delete {
        removals.push(removal(What::Backup, vec![set]));
    }
    let bytes = removals.iter().map(|r| r.bytes).sum();
    Plan { removals, bytes }
}

fn removal(what: What, paths: Vec<PathBuf>) -> Removal {
    let bytes = paths.iter().filter_map(|p| size_of(p).ok()).sum();
    Removal { what, paths, bytes }
}

/// Names in `dir` (none when it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).filter_map(|e| e.file_name().to_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// What `clean` did.
#[derive(Debug, Clone, Serialize)]
pub struct CleanReport {
    pub plan: Plan,
    pub removed: Vec<PathBuf>,
    /// Paths that could not be removed, with why.
    pub failed: Vec<Failure>,
    pub freed_bytes: u64,
}

/// A path `clean` could not remove.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub path: PathBuf,
    pub error: String,
}

/// Removes what `plan` names. Backup sets go under the backup folder's
/// exclusive lock (a running backup, drill or restore makes them fail, not
/// race), and only those retention still names once the lock is held: a
/// verification since the plan may have changed which copy must stay.
#[must_use]
pub fn clean(config: &Config, folders: &Folders, plan: Plan) -> CleanReport {
    let has_backups = plan.removals.iter().any(|r| r.what == What::Backup);
    let lock = has_backups.then(|| {
        backup::lock::lock(&folders.backups, backup::lock::Mode::Exclusive, "storage clean").map_err(|e| e.to_string())
    });
    remove(config, folders, plan, lock.as_ref().map(|l| l.as_ref().map_err(String::as_str)))
}

/// [`clean`] for a caller that already holds the backup folder's exclusive
/// lock (a scheduled clean takes it first, so a busy folder skips the whole
/// job instead of failing its backup part).
#[must_use]
pub fn clean_holding(config: &Config, folders: &Folders, plan: Plan, lock: &backup::lock::FolderLock) -> CleanReport {
    remove(config, folders, plan, Some(Ok(lock)))
}

/// Removes what `plan` names; backup sets only with `lock` held (`None`:
/// the plan has none; an error: why the lock could not be had).
fn remove(
    config: &Config,
    folders: &Folders,
    plan: Plan,
    lock: Option<Result<&backup::lock::FolderLock, &str>>,
) -> CleanReport {
    let still = if matches!(lock, Some(Ok(_))) {
        backup::run::retention_plan(config, SystemTime::now()).delete
    } else {
        Vec::new()
    };
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    let mut freed_bytes = 0;
    for r in &plan.removals {
        if r.what == What::Backup {
            match &lock {
                Some(Err(why)) => {
                    failed.extend(r.paths.iter().map(|p| Failure { path: p.clone(), error: (*why).to_owned() }));
                }
                Some(Ok(held)) => {
                    let sets: Vec<PathBuf> = r.paths.iter().filter(|p| still.contains(p)).cloned().collect();
                    let kept: Vec<&PathBuf> = r.paths.iter().filter(|p| !still.contains(p)).collect();
                    failed.extend(kept.into_iter().map(|p| Failure {
                        path: p.clone(),
                        error: "kept: retention no longer allows deleting it".to_owned(),
                    }));
                    let gone = backup::retention::delete(held, &folders.backups, &sets);
                    if gone.len() == sets.len() && !sets.is_empty() {
                        freed_bytes += r.bytes;
                    }
                    removed.extend(
                        sets.into_iter()
                            .filter(|p| p.file_name().is_some_and(|n| gone.iter().any(|g| *g == n.to_string_lossy()))),
                    );
                    if !gone.is_empty() {
                        let _ = backup::run::write_latest(&folders.backups);
                    }
                }
                None => {}
            }
            continue;
        }
        let mut ok = true;
        for path in &r.paths {
            let result = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
            match result {
                Ok(()) => removed.push(path.clone()),
                Err(e) => {
                    ok = false;
                    failed.push(Failure { path: path.clone(), error: e.to_string() });
                }
            }
        }
        if ok {
            freed_bytes += r.bytes;
        }
    }
    CleanReport { plan, removed, failed, freed_bytes }
}

/// The plan for people: one line per removal, then the space it frees.
#[must_use]
pub fn render_plan(plan: &Plan) -> String {
    if plan.removals.is_empty() {
        return "nothing to clean: every bundle, smoke result and backup set is within retention\n".to_owned();
    }
    let mut out = String::new();
    for r in &plan.removals {
        let what = match r.what {
            What::Bundle => "bundle",
            What::Smoke => "smoke",
            What::Backup => "backup",
        };
        let paths: Vec<String> = r.paths.iter().map(|p| p.display().to_string()).collect();
        let _ = writeln!(out, "delete {what:<6} {:>10}  {}", ByteSize::b(r.bytes).to_string(), paths.join(" + "));
    }
    let _ = writeln!(out, "frees {} in {} item(s)", ByteSize::b(plan.bytes), plan.removals.len());
    out
}

/// What `clean` did, for people: the count and space, then each failure.
#[must_use]
pub fn render_clean(report: &CleanReport) -> String {
    let mut out = format!("deleted {} path(s), freed {}\n", report.removed.len(), ByteSize::b(report.freed_bytes));
    for f in &report.failed {
        let _ = writeln!(out, "FAILED {}: {}", f.path.display(), f.error);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_a_tree_and_a_missing_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/f"), [0u8; 1000]).unwrap();
        std::fs::write(dir.path().join("a/g"), [0u8; 24]).unwrap();
        assert_eq!(size_of(dir.path()).unwrap(), 1024);
        assert_eq!(size_of(&dir.path().join("missing")).unwrap(), 0);
    }
}
