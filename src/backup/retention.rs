//! Retention: which sets may be deleted, counted per target.
//!
//! A set holds copies of several targets, and `backup run --only redis`
//! makes sets holding Redis alone, so counting folders would delete the
//! only PostgreSQL copy. Instead every successful copy of a target is
//! weighed on its own, within its tag (scheduled copies, `pre-restore`
//! safety copies, and each `--tag` name count separately, so a deploy's
//! safety copies never push out the nightly ones):
//!
//! - the newest `keep_last` copies of each target and tag are kept, and
//!   older ones too while younger than `max_age` (when set);
//! - the newest successful copy and the newest verified copy of each target
//!   are kept whatever the rules say;
//! - a set is deleted only when every copy in it is surplus, never while a
//!   command holds it (the caller's `protect` list), never when its
//!   manifest cannot be read.
//!
//! Copies are ordered by the times their manifests record. When the newest
//! lies in the future (the clock was ahead when it was taken, or is behind
//! now), nothing is deleted: age and order cannot be trusted, and deleting
//! by them would drop the correct-time sets first. [`Plan::blocked`] says
//! so, `opsgen_backup_retention_blocked` shows it, and the runbook
//! `backup-retention-blocked` explains what to do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::SetEntry;
use super::lock::FolderLock;
use crate::config::backup::Retention;

/// How far in the future the newest set may lie before retention stops:
/// clocks of a host and its NTP server disagree by far less.
pub const CLOCK_TOLERANCE: Duration = Duration::from_secs(300);

/// What retention would do now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Sets to delete, oldest first.
    pub delete: Vec<PathBuf>,
    /// Why nothing may be deleted now, if so.
    pub blocked: Option<String>,
}

/// The plan for the sets in `catalog` under `retention` at `now`, keeping
/// the sets in `protect` (those a running command reads).
#[must_use]
pub fn plan(retention: &Retention, catalog: &[SetEntry], now: SystemTime, protect: &[PathBuf]) -> Plan {
    if let Some(why) = blocked(catalog, now) {
        return Plan { delete: Vec::new(), blocked: Some(why) };
    }
    // Every successful copy with a valid time, newest first, per target.
    let mut copies: BTreeMap<&str, Vec<&SetEntry>> = BTreeMap::new();
    for entry in catalog.iter().rev() {
        let Some(manifest) = entry.manifest.as_ref().filter(|_| entry.finished().is_some()) else { continue };
        for outcome in manifest.targets.iter().filter(|t| t.success) {
            copies.entry(outcome.target.as_str()).or_default().push(entry);
        }
    }
    let mut keep: BTreeSet<&Path> = protect.iter().map(PathBuf::as_path).collect();
    for (target, sets) in &copies {
        // The newest copy, and the newest verified one, whatever the tag.
        keep.extend(sets.first().map(|s| s.path.as_path()));
        let verified = sets.iter().find(|s| {
            let record = super::verify::Record::read(&s.path);
            s.manifest.as_ref().zip(record).is_some_and(|(m, r)| m.intact(target, &r))
        });
        keep.extend(verified.map(|s| s.path.as_path()));
        // Within each tag, the newest `keep_last`, and the younger than `max_age`.
        let mut seen: BTreeMap<Option<&str>, usize> = BTreeMap::new();
        for set in sets {
            let tag = set.tag();
            let (keep_last, max_age) = retention.rule(tag);
            let rank = seen.entry(tag).or_default();
            *rank += 1;
            let young = max_age.is_some_and(|max| {
                set.finished().is_some_and(|at| now.duration_since(at).unwrap_or_default() <= max.get())
            });
            if *rank <= keep_last || young {
                keep.insert(set.path.as_path());
            }
        }
    }
    // Folders without a readable manifest or time are never deleted; a set
    // without any successful copy holds nothing, but the newest set stays.
    let newest = catalog.last().map(|s| s.path.as_path());
    let delete = catalog
        .iter()
        .filter(|s| s.finished().is_some() && !keep.contains(s.path.as_path()) && Some(s.path.as_path()) != newest)
        .map(|s| s.path.clone())
        .collect();
    Plan { delete, blocked: None }
}

/// Why retention must not delete anything now: the newest recorded time
/// lies more than [`CLOCK_TOLERANCE`] ahead of `now`.
#[must_use]
pub fn blocked(catalog: &[SetEntry], now: SystemTime) -> Option<String> {
    let (entry, at) = catalog.iter().filter_map(|s| Some((s, s.finished()?))).max_by_key(|(_, at)| *at)?;
    let ahead = at.duration_since(now).ok().filter(|d| *d > CLOCK_TOLERANCE)?;
    Some(format!(
        "retention deleted nothing: set {} finished at {}, {} ahead of this host's clock (the clock was ahead when it was taken, or is behind now); see `ops-gen runbook backup-retention-blocked`",
        entry.name,
        rfc3339(at),
        crate::config::HumanDuration(Duration::from_secs(ahead.as_secs())),
    ))
}

/// `at` as RFC 3339, or as Unix seconds past the year 9999 (which RFC 3339
/// cannot write, and a damaged manifest can hold).
fn rfc3339(at: SystemTime) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    if write!(text, "{}", humantime::format_rfc3339_seconds(at)).is_err() {
        let seconds = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
        return format!("Unix time {seconds}");
    }
    text
}

/// Deletes `sets` (which must come from a [`plan`] made under `lock`): each
/// is first renamed to a hidden name, so it disappears at once and whole
/// (a crash mid-way leaves a `.trash-` folder the next run removes, never a
/// half-deleted set under its real name). Returns the names removed.
pub fn delete(lock: &FolderLock, dir: &Path, sets: &[PathBuf]) -> Vec<String> {
    debug_assert!(lock.exclusive(), "retention deletes only under the exclusive lock");
    let mut removed = Vec::new();
    for set in sets {
        let Some(name) = set.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        let trash = dir.join(format!("{TRASH}{name}"));
        if let Err(e) = std::fs::rename(set, &trash) {
            tracing::warn!("retention could not remove {}: {e}", set.display());
            continue;
        }
        let _ = crate::output::sync_dir(dir);
        if let Err(e) = std::fs::remove_dir_all(&trash) {
            tracing::warn!("retention could not finish removing {}: {e}", trash.display());
        }
        removed.push(name);
    }
    removed
}

/// The prefix of a set being deleted.
pub const TRASH: &str = ".trash-";

#[cfg(test)]
mod tests {
    use super::super::manifest::{FileEntry, Manifest, SetStatus, TargetOutcome};
    use super::*;

    fn entry(name: &str, at: f64, tag: Option<&str>, targets: &[(&str, bool)]) -> SetEntry {
        let targets = targets
            .iter()
            .map(|(t, ok)| TargetOutcome {
                target: (*t).to_owned(),
                kind: "postgres".to_owned(),
                success: *ok,
                error: None,
                duration_seconds: 0.0,
                mirrored: false,
                files: vec![FileEntry {
                    path: format!("{t}.dump"),
                    size: 1,
                    sha256: String::new(),
                    tool: String::new(),
                    tool_version: String::new(),
                    source: String::new(),
                    duration_seconds: 0.0,
                }],
            })
            .collect();
        SetEntry {
            path: PathBuf::from(format!("/nowhere/{name}")),
            name: name.to_owned(),
            manifest: Some(Manifest {
                format: 1,
                set: name.to_owned(),
                ops_gen_version: String::new(),
                started_at: String::new(),
                finished_at: String::new(),
                finished_unix: at,
                duration_seconds: 0.0,
                status: SetStatus::Complete,
                tag: tag.map(str::to_owned),
                targets,
            }),
        }
    }

    fn names(plan: &Plan) -> Vec<String> {
        plan.delete.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    }

    const NOW: f64 = 1_800_000_000.0;

    fn now() -> SystemTime {
        super::super::manifest::unix_time(NOW).unwrap()
    }

    fn keep(n: usize) -> Retention {
        Retention { keep_last: n, ..Retention::default() }
    }

    #[test]
    fn only_runs_of_one_target_never_remove_another_targets_last_copy() {
        let catalog = [
            entry("a", NOW - 30.0, None, &[("db", true), ("cache", true)]),
            entry("b", NOW - 20.0, None, &[("cache", true)]),
            entry("c", NOW - 10.0, None, &[("cache", true)]),
        ];
        let plan = plan(&keep(2), &catalog, now(), &[]);
        assert!(plan.delete.is_empty(), "a holds the only copy of db: {:?}", plan.delete);
        let plan = super::plan(&keep(1), &catalog, now(), &[]);
        assert_eq!(names(&plan), ["b"], "b holds only a surplus cache copy");
    }

    #[test]
    fn tags_count_apart_and_protected_sets_stay() {
        let catalog = [
            entry("a", NOW - 50.0, None, &[("db", true)]),
            entry("b", NOW - 40.0, Some("pre-migration"), &[("db", true)]),
            entry("c", NOW - 30.0, Some("pre-migration"), &[("db", true)]),
            entry("d", NOW - 20.0, None, &[("db", true)]),
            entry("e", NOW - 10.0, Some("pre-migration"), &[("db", true)]),
        ];
        let plan = plan(&keep(1), &catalog, now(), &[]);
        assert_eq!(names(&plan), ["a", "b", "c"]);
        let plan = super::plan(&keep(1), &catalog, now(), &[PathBuf::from("/nowhere/a")]);
        assert_eq!(names(&plan), ["b", "c"], "a set in use is kept");
        let mut rules = keep(1);
        rules.tags.insert(
            "pre-migration".to_owned(),
            crate::config::backup::TagRetention { keep_last: Some(2), max_age: None },
        );
        assert_eq!(names(&super::plan(&rules, &catalog, now(), &[])), ["a", "b"]);
    }

    #[test]
    fn a_set_from_the_future_blocks_every_deletion() {
        let catalog = [
            entry("a", NOW - 30.0, None, &[("db", true)]),
            entry("b", NOW - 20.0, None, &[("db", true)]),
            entry("z", NOW + 86_400.0, None, &[("db", true)]),
        ];
        let plan = plan(&keep(1), &catalog, now(), &[]);
        assert!(plan.delete.is_empty());
        assert!(plan.blocked.as_deref().unwrap().contains("set z finished at"), "{plan:?}");
        // A minute ahead is clock noise, not a jump.
        let catalog = [entry("a", NOW - 30.0, None, &[("db", true)]), entry("b", NOW + 60.0, None, &[("db", true)])];
        assert_eq!(names(&super::plan(&keep(1), &catalog, now(), &[])), ["a"]);
    }

    #[test]
    fn failed_copies_do_not_count_and_max_age_keeps_young_copies() {
        let catalog = [
            entry("a", NOW - 3000.0, None, &[("db", true)]),
            entry("b", NOW - 2000.0, None, &[("db", false)]),
            entry("c", NOW - 1000.0, None, &[("db", false)]),
        ];
        // b and c hold no copy: a is the newest copy of db and stays.
        assert_eq!(names(&plan(&keep(1), &catalog, now(), &[])), ["b"]);
        let catalog = [
            entry("a", NOW - 3000.0, None, &[("db", true)]),
            entry("b", NOW - 2000.0, None, &[("db", true)]),
            entry("c", NOW - 1000.0, None, &[("db", true)]),
        ];
        let rules = Retention { keep_last: 1, max_age: Some(crate::config::HumanDuration::from_secs(2500)), ..keep(1) };
        assert_eq!(names(&plan(&rules, &catalog, now(), &[])), ["a"]);
    }
}
