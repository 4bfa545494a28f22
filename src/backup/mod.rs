//! Backups: `ops-gen backup run | verify | list | drill | restore`, and the
//! backup series of `/metrics`.
//!
//! A backup set is a folder `<dir>/<YYYYMMDDTHHMMSSZ>/` holding one file per
//! dumped thing (`postgres/<target>/<database>.dump` with the server's roles
//! in `postgres/<target>/globals.sql`, `redis/<target>.rdb` with its
//! `redis/<target>.json` metadata, `s3/<target>/listing.jsonl`,
//! `integrity.json` and, with `mirror`, `objects/…`), `manifest.json` (every
//! file with size, sha256, source, tool and timings, every target's outcome,
//! the set's status and tag) and `manifest.sha256` (for `sha256sum -c`). A
//! set is written under a hidden temporary name and renamed into place only
//! when complete and hashed, so a crash at any moment leaves the previous set
//! as the newest; the next run removes the leftovers. Everything is
//! owner-only (folders 0700, files 0600). `verify` records its result in
//! `verify.json`.
//!
//! Sets are ordered by the times their manifests record, never by folder
//! name, and retention counts copies per target ([`retention`]).
//!
//! The verbs hold the orchestration (the lock, the set, the manifest,
//! progress and summaries); what a kind of target needs lives in one file
//! per store, its dump, drill and restore side by side.
//!
//! - [`manifest`]: the files' formats.
//! - [`lock`]: the one lock over the folder (shared for readers).
//! - [`run`]: taking a set, one target after the other.
//! - [`retention`]: which sets may go, per target and tag.
//! - [`verify`]: re-hashing and readability checks.
//! - [`drill`]: restoring a set into throwaway instances and checking it.
//! - [`restore`]: putting a set back into the real targets, safely.
//! - The stores: [`postgres`] (`pg_dump -Fc` and
//!   `pg_dumpall --globals-only`; a throwaway cluster; `pg_restore`),
//!   [`redis`] (`redis-cli --rdb` through the replication stream; a
//!   throwaway `redis-server`; `MIGRATE`), [`s3`] (listings and mirrors; a
//!   scratch bucket; the objects put back).
//! - What the stores use: [`container`], the drill's instances as Docker
//!   containers that expose nothing; `scratch.rs`, how PostgreSQL client
//!   programs reach a target and a throwaway `redis-server` on a private
//!   socket; `objects.rs`, a set's objects put into a bucket and read back
//!   there; `process.rs`, the client tools run as child processes.

pub mod container;
pub mod drill;
pub mod lock;
pub mod manifest;
mod objects;
pub mod postgres;
mod process;
pub mod redis;
pub mod restore;
pub mod retention;
pub mod run;
pub mod s3;
mod scratch;
pub mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::checks::{Kind, Spec};
use crate::config::{Config, HumanDuration, defaults};

/// One target to back up, resolved from the config.
#[derive(Debug, Clone)]
pub struct Job {
    pub target: String,
    pub spec: Spec,
    pub max_age: HumanDuration,
    pub databases: Vec<String>,
    pub mirror: bool,
}

impl Job {
    /// Whether a set of the target can be restored by a drill: PostgreSQL and
    /// Redis always, S3 only with its objects mirrored into the set.
    #[must_use]
    pub fn drillable(&self) -> bool {
        self.spec.kind() != Kind::S3 || self.mirror
    }
}

/// The targets `backup run` covers, in name order.
#[must_use]
pub fn jobs(config: &Config) -> Vec<Job> {
    let settings = &config.backup;
    crate::config::backup::backupable(config)
        .filter(|(name, _)| settings.targets.is_empty() || settings.targets.contains_key(*name))
        .map(|(name, spec)| {
            let own = settings.targets.get(name).cloned().unwrap_or_default();
            Job {
                target: name.to_owned(),
                spec: spec.clone(),
                max_age: own.max_age.unwrap_or(defaults::BACKUP_MAX_AGE),
                databases: own.databases,
                mirror: own.mirror,
            }
        })
        .collect()
}

/// A set's folder name for `at`: `20261123T033000Z`.
#[must_use]
pub fn set_name(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string().replace(['-', ':'], "")
}

/// Whether `name` is a set's folder name (temporary folders start with `.`).
#[must_use]
pub fn is_set_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 16
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
}

/// One set folder with its manifest, as read now.
#[derive(Debug, Clone)]
pub struct SetEntry {
    pub path: PathBuf,
    pub name: String,
    /// `None` when `manifest.json` is missing or unreadable: such a folder
    /// is never counted, ordered by its time, or deleted by retention.
    pub manifest: Option<manifest::Manifest>,
}

impl SetEntry {
    /// When the set finished, as its manifest records it (if valid).
    #[must_use]
    pub fn finished(&self) -> Option<SystemTime> {
        self.manifest.as_ref().and_then(manifest::Manifest::finished)
    }

    /// The set's tag (`None`: a scheduled copy).
    #[must_use]
    pub fn tag(&self) -> Option<&str> {
        self.manifest.as_ref().and_then(|m| m.tag.as_deref())
    }
}

/// The sets under `dir`, oldest first by the time each manifest records
/// (folder names are wall-clock times and lie after a clock jump); folders
/// without a valid time come first, by name.
pub fn catalog(dir: &Path) -> std::io::Result<Vec<SetEntry>> {
    let mut sets: Vec<SetEntry> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_str().is_some_and(is_set_name) && e.path().is_dir())
            .map(|e| {
                let path = e.path();
                SetEntry {
                    name: e.file_name().to_string_lossy().into_owned(),
                    manifest: manifest::Manifest::read(&path).ok(),
                    path,
                }
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    sets.sort_by(|a, b| a.finished().cmp(&b.finished()).then_with(|| a.name.cmp(&b.name)));
    Ok(sets)
}

/// The sets under `dir`, oldest first (see [`catalog`]).
pub fn sets(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(catalog(dir)?.into_iter().map(|s| s.path).collect())
}

/// Why a set named on the command line could not be found.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("no backup set in {0}; take one with `ops-gen backup run`")]
    NoSet(String),
    #[error("no backup set `{name}` in {dir}, and no such folder; `ops-gen backup list` names the sets")]
    Unknown { name: String, dir: String },
}

/// The set a command names: `None` or `latest` for the newest set, a name
/// from `backup list`, or a path to a set folder.
pub fn find(dir: &Path, name: Option<&Path>) -> Result<PathBuf, FindError> {
    let newest = || {
        catalog(dir)
            .ok()
            .and_then(|sets| sets.into_iter().rev().find(|s| s.manifest.is_some()))
            .map(|s| s.path)
            .ok_or_else(|| FindError::NoSet(dir.display().to_string()))
    };
    let Some(name) = name else { return newest() };
    if name.as_os_str() == "latest" {
        return newest();
    }
    let mut parts = name.components();
    if let (Some(std::path::Component::Normal(only)), None) = (parts.next(), parts.next())
        && only.to_str().is_some_and(is_set_name)
        && dir.join(only).is_dir()
    {
        return Ok(dir.join(only));
    }
    if name.exists() {
        return Ok(name.to_owned());
    }
    Err(FindError::Unknown { name: name.display().to_string(), dir: dir.display().to_string() })
}

/// What the backup folder says about one target, for `/metrics` and `list`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetState {
    /// When the newest successful copy of the target finished (Unix seconds).
    pub last_success: Option<f64>,
    pub size_bytes: u64,
    pub duration_seconds: f64,
    /// Whether the newest successful copy passed `verify` (its files intact).
    pub verified: bool,
    /// How many sets hold a successful copy of the target.
    pub sets: u64,
    /// When a backup of the target last failed (a run where every target
    /// failed, or the target's part of a partial set), in Unix seconds.
    pub last_failure: Option<f64>,
    /// The newest restore drill of the target: when it ran (Unix seconds),
    /// whether it passed, and the measured restore time.
    pub drill: Option<(f64, bool, f64)>,
    /// When a drill of the target last passed (Unix seconds).
    pub drill_last_success: Option<f64>,
}

/// The folder of failure records: a run where every target failed writes
/// no set, only `failed/<name>.json` (a manifest without files).
pub const FAILED: &str = "failed";

/// Reads every set's manifest (small files) and sums it up per target.
#[must_use]
pub fn inventory(dir: &Path, targets: &[&str]) -> BTreeMap<String, TargetState> {
    inventory_of(dir, &catalog(dir).unwrap_or_default(), targets)
}

/// [`inventory`] of an already read catalog of `dir`.
#[must_use]
pub fn inventory_of(dir: &Path, sets: &[SetEntry], targets: &[&str]) -> BTreeMap<String, TargetState> {
    let mut states: BTreeMap<String, TargetState> =
        targets.iter().map(|t| ((*t).to_owned(), TargetState::default())).collect();
    let later = |current: Option<f64>, at: f64| current.is_none_or(|c| at > c);
    for entry in sets.iter().rev() {
        let set = &entry.path;
        if let Some(summary) = drill::Summary::read(set) {
            for t in &summary.targets {
                let Some(state) = states.get_mut(&t.target) else { continue };
                if state.drill.is_none_or(|(at, _, _)| summary.drilled_unix > at) {
                    state.drill = Some((summary.drilled_unix, t.success, t.restore_seconds));
                }
                if t.success && later(state.drill_last_success, summary.drilled_unix) {
                    state.drill_last_success = Some(summary.drilled_unix);
                }
            }
        }
        let Some(manifest) = &entry.manifest else { continue };
        let record = verify::Record::read(set);
        for outcome in &manifest.targets {
            let Some(state) = states.get_mut(&outcome.target) else { continue };
            if !outcome.success {
                if later(state.last_failure, manifest.finished_unix) {
                    state.last_failure = Some(manifest.finished_unix);
                }
                continue;
            }
            if state.last_success.is_none() {
                state.last_success = Some(manifest.finished_unix);
                state.size_bytes = outcome.files.iter().map(|f| f.size).sum();
                state.duration_seconds = outcome.duration_seconds;
                state.verified = record.as_ref().is_some_and(|r| manifest.intact(&outcome.target, r));
            }
            state.sets += 1;
        }
    }
    for failed in failure_records(dir) {
        for outcome in failed.targets.iter().filter(|t| !t.success) {
            if let Some(state) = states.get_mut(&outcome.target)
                && later(state.last_failure, failed.finished_unix)
            {
                state.last_failure = Some(failed.finished_unix);
            }
        }
    }
    states
}

/// Whether `name` is a failure record's file name (`<set name>.json`).
#[must_use]
pub fn is_failure_record(name: &str) -> bool {
    let path = Path::new(name);
    path.extension().is_some_and(|e| e == "json") && path.file_stem().and_then(|s| s.to_str()).is_some_and(is_set_name)
}

/// The records of runs where every target failed, in `<dir>/failed/`.
#[must_use]
pub fn failure_records(dir: &Path) -> Vec<manifest::Manifest> {
    std::fs::read_dir(dir.join(FAILED))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(is_failure_record))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Numbers a hand-edited or damaged manifest may hold.
    fn any_time() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            (1.0e9..2.0e9f64).prop_map(serde_json::Value::from),
            prop::num::f64::NORMAL.prop_map(serde_json::Value::from),
            Just(serde_json::Value::from(-1.0)),
            Just(serde_json::Value::from(1.0e300)),
            Just(serde_json::Value::from(u64::MAX)),
            Just(serde_json::Value::from("soon")),
            Just(serde_json::Value::Null),
        ]
    }

    fn any_manifest() -> impl Strategy<Value = Vec<u8>> {
        let target = ("[a-z]{1,3}", any::<bool>(), any_time(), prop::option::of("[a-z/.]{0,8}")).prop_map(
            |(name, ok, size, path)| {
                serde_json::json!({"target": name, "kind": "postgres", "success": ok, "duration_seconds": size,
                    "files": path.map(|p| vec![serde_json::json!({"path": p, "size": 1, "sha256": "", "tool": "",
                        "tool_version": "", "source": "", "duration_seconds": 0})]).unwrap_or_default()})
            },
        );
        let manifest =
            (any_time(), prop::collection::vec(target, 0..4), prop::option::of("[a-z-]{0,6}"), any::<bool>()).prop_map(
                |(at, targets, tag, partial)| {
                    serde_json::to_vec(&serde_json::json!({"format": 1, "set": "s", "ops_gen_version": "0",
                    "started_at": "", "finished_at": "", "finished_unix": at, "duration_seconds": at,
                    "status": if partial { "partial" } else { "complete" }, "tag": tag, "targets": targets}))
                    .unwrap()
                },
            );
        prop_oneof![4 => manifest, 1 => prop::collection::vec(any::<u8>(), 0..64)]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Whatever the manifests hold, reading, listing, retention and
        /// `latest.json` never panic, and retention deletes nothing whose
        /// time it cannot read.
        #[test]
        fn no_manifest_content_panics(manifests in prop::collection::vec(any_manifest(), 1..6)) {
            let dir = tempfile::tempdir().unwrap();
            for (i, bytes) in manifests.iter().enumerate() {
                let set = dir.path().join(format!("2026120{i}T000000Z"));
                std::fs::create_dir(&set).unwrap();
                std::fs::write(set.join(manifest::MANIFEST), bytes).unwrap();
            }
            let sets = catalog(dir.path()).unwrap();
            prop_assert_eq!(sets.len(), manifests.len());
            let _ = inventory_of(dir.path(), &sets, &["a", "b", "c"]);
            let plan = retention::plan(&crate::config::backup::Retention { keep_last: 1, ..Default::default() }, &sets, SystemTime::now(), &[]);
            for gone in &plan.delete {
                let entry = sets.iter().find(|s| &s.path == gone).unwrap();
                prop_assert!(entry.finished().is_some());
            }
            let _ = run::write_latest(dir.path());
            let _ = find(dir.path(), None);
        }
    }
}
