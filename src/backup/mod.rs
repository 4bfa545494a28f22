//! Backups: `ops-gen backup run | verify | list`, and the backup series of
//! `/metrics`.
//!
//! A backup set is a folder `<dir>/<YYYYMMDDTHHMMSSZ>/` holding one file per
//! dumped thing (`postgres/<target>/<database>.dump`, `redis/<target>.rdb`
//! with its `redis/<target>.json` metadata, `s3/<target>/listing.jsonl`,
//! `integrity.json` and, with `mirror`, `objects/…`), `manifest.json` (every file with
//! size, sha256, source, tool and timings, and every target's outcome) and
//! `manifest.sha256` (for `sha256sum -c`). A set is written under a hidden
//! temporary name and renamed into place only when complete and hashed, so a
//! crash at any moment leaves the previous set as the newest; the next run
//! removes the leftovers. `verify` records its result in `verify.json`.
//!
//! - [`manifest`]: the files' formats.
//! - [`run`]: taking a set (PostgreSQL with `pg_dump -Fc`, Redis through the
//!   replication stream with `redis-cli --rdb`), and retention.
//! - [`verify`]: re-hashing and readability checks.
//! - [`drill`]: restoring a set into throwaway instances and checking it;
//!   [`container`]: those instances as Docker containers that expose nothing.
//! - [`restore`]: putting a set back into the real targets, safely.

pub mod container;
pub mod drill;
pub mod manifest;
mod objects;
pub mod restore;
pub mod run;
mod scratch;
pub mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::{Config, ConfigError, HumanDuration, defaults, env_string};
use crate::probe::{Kind, Spec};

/// The `backup` section of `ops-gen.yml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where sets are written.
    #[serde(default = "Settings::default_dir", deserialize_with = "path")]
    pub dir: PathBuf,
    /// Which targets to back up, by name; every `postgres` and `redis`
    /// target when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, TargetSettings>,
    #[serde(default)]
    pub retention: Retention,
    /// Where `backup drill` starts its throwaway instances.
    #[serde(default)]
    pub drill: drill::Engine,
}

/// Per-target backup settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    /// The newest successful backup must be younger than this (default 26h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<HumanDuration>,
    /// PostgreSQL: the databases to dump (default: the URL's database).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<String>,
    /// Sanity checks `backup drill` runs against the restored copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<drill::Sanity>,
    /// S3: copy every object of the bucket into the set, not only its listing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mirror: bool,
}

/// Which sets `backup run` keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Keep at least this many newest sets.
    #[serde(default = "Retention::default_keep_last")]
    pub keep_last: usize,
    /// Delete sets older than this, beyond `keep_last` (never by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<HumanDuration>,
}

impl Retention {
    fn default_keep_last() -> usize {
        7
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self { keep_last: Self::default_keep_last(), max_age: None }
    }
}

impl Settings {
    fn default_dir() -> PathBuf {
        PathBuf::from(defaults::BACKUP_DIR)
    }

    /// Checks the section against the targets of the config.
    pub(crate) fn validate(&self, config: &Config, file: &str) -> Result<(), ConfigError> {
        self.drill.env.validate(file)?;
        for (name, settings) in &self.targets {
            let key = format!("backup.targets.{name}");
            let kind = config.targets.get(name).map(Spec::kind);
            let drill = settings.drill.clone().unwrap_or_default();
            let sql = !drill.tables.is_empty() || !drill.queries.is_empty();
            let s3 = drill.min_objects.is_some() || drill.bucket.is_some();
            let wrong = match kind {
                Some(Kind::Postgres) if drill.min_keys.is_some() || !drill.keys.is_empty() || s3 => {
                    Some("min_keys`, `keys`, `min_objects` and `bucket")
                }
                Some(Kind::Redis) if sql || s3 => Some("tables`, `queries`, `min_objects` and `bucket"),
                Some(Kind::S3) if sql || drill.min_keys.is_some() => Some("tables`, `queries` and `min_keys"),
                _ => None,
            };
            if let Some(fields) = wrong {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.drill"),
                    format!("`{fields}` do not apply to a {} target", kind.map_or("", Kind::as_str)),
                    Some(
                        "use tables/queries for postgres, min_keys/keys for redis, keys/min_objects/bucket for s3"
                            .to_owned(),
                    ),
                ));
            }
            if kind == Some(Kind::S3) && settings.drill.is_some() && !settings.mirror {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.drill"),
                    "only a mirrored S3 target can be drilled (a set without its objects has nothing to restore)",
                    Some(format!("set `{key}.mirror: true`, or remove `drill`")),
                ));
            }
            if settings.mirror && kind != Some(Kind::S3) {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.mirror"),
                    "only S3 targets are mirrored",
                    Some("remove `mirror` here".to_owned()),
                ));
            }
            match kind {
                Some(Kind::Postgres) => {}
                Some(Kind::S3 | Kind::Redis) if settings.databases.is_empty() => {}
                Some(kind @ (Kind::S3 | Kind::Redis)) => {
                    return Err(ConfigError::invalid(
                        file,
                        format!("{key}.databases"),
                        format!("`databases` does not apply to a {kind} target: it is backed up whole"),
                        Some("remove `databases` here".to_owned()),
                    ));
                }
                Some(other) => {
                    return Err(ConfigError::invalid(
                        file,
                        key,
                        format!("`{other}` targets are not backed up"),
                        Some("list postgres and redis targets".to_owned()),
                    ));
                }
                None => {
                    let known = backupable(config).map(|(n, _)| n).collect::<Vec<_>>().join(", ");
                    return Err(ConfigError::invalid(
                        file,
                        key,
                        format!("no target named `{name}`"),
                        Some(format!(
                            "use a name from `targets` ({})",
                            if known.is_empty() { "none yet" } else { &known }
                        )),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            dir: Self::default_dir(),
            targets: BTreeMap::new(),
            retention: Retention::default(),
            drill: drill::Engine::default(),
        }
    }
}

fn path<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
    env_string(deserializer).map(PathBuf::from)
}

fn backupable(config: &Config) -> impl Iterator<Item = (&str, &Spec)> {
    config
        .targets
        .iter()
        .filter(|(_, s)| matches!(s.kind(), Kind::Postgres | Kind::Redis | Kind::S3))
        .map(|(n, s)| (n.as_str(), s))
}

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
    backupable(config)
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

/// The sets under `dir`, oldest first.
pub fn sets(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut sets: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_str().is_some_and(is_set_name) && e.path().is_dir())
            .map(|e| e.path())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    sets.sort();
    Ok(sets)
}

/// What the backup folder says about one target, for `/metrics` and `list`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetState {
    /// When the newest successful backup of the target finished (Unix seconds).
    pub last_success: Option<f64>,
    pub size_bytes: u64,
    pub duration_seconds: f64,
    /// Whether the newest set holding the target passed `verify`.
    pub verified: bool,
    /// How many sets hold a successful backup of the target.
    pub sets: u64,
    /// The newest restore drill of the target: when it ran (Unix seconds),
    /// whether it passed, and the measured restore time.
    pub drill: Option<(f64, bool, f64)>,
    /// When a drill of the target last passed (Unix seconds).
    pub drill_last_success: Option<f64>,
}

/// Reads every set's manifest (small files) and sums it up per target.
#[must_use]
pub fn inventory(dir: &Path, targets: &[&str]) -> BTreeMap<String, TargetState> {
    let mut states: BTreeMap<String, TargetState> =
        targets.iter().map(|t| ((*t).to_owned(), TargetState::default())).collect();
    let Ok(sets) = sets(dir) else { return states };
    for set in sets.iter().rev() {
        if let Some(summary) = drill::Summary::read(set) {
            for t in &summary.targets {
                let Some(state) = states.get_mut(&t.target) else { continue };
                let newer = state.drill.is_none_or(|(at, _, _)| summary.drilled_unix > at);
                if newer {
                    state.drill = Some((summary.drilled_unix, t.success, t.restore_seconds));
                }
                if t.success && state.drill_last_success.is_none_or(|at| summary.drilled_unix > at) {
                    state.drill_last_success = Some(summary.drilled_unix);
                }
            }
        }
        let Ok(manifest) = manifest::Manifest::read(set) else { continue };
        let verified = verify::Record::read(set).is_some_and(|r| r.ok);
        for outcome in manifest.targets.iter().filter(|t| t.success) {
            let Some(state) = states.get_mut(&outcome.target) else { continue };
            if state.last_success.is_none() {
                state.last_success = Some(manifest.finished_unix);
                state.size_bytes = outcome.files.iter().map(|f| f.size).sum();
                state.duration_seconds = outcome.duration_seconds;
                state.verified = verified;
            }
            state.sets += 1;
        }
    }
    states
}
