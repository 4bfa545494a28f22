//! `file_freshness`: the newest file matching a glob must be young enough
//! and big enough.
//!
//! For people who already run `pg_dump` from cron: point it at the dumps and
//! the backup series (`opsgen_backup_*`) appear for that target, so the same
//! alert rules cover hand-made and ops-gen-made backups. The built-in default
//! config uses it on ops-gen's own backup folder.

use std::fmt;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use serde::Serialize;

use super::{Outcome, Reason};
use crate::config::HumanDuration;
use crate::config::checks::file_freshness::Spec;

pub const REASONS: &[Reason] =
    &[Reason::Timeout, Reason::Missing, Reason::Stale, Reason::TooSmall, Reason::Io, Reason::Internal];

/// The newest matching file, as the backup series report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Freshness {
    /// Modification time of the newest match, in Unix seconds; 0 when none.
    pub last_success_timestamp_seconds: f64,
    pub size_bytes: u64,
    pub max_age_seconds: f64,
}

#[derive(Clone)]
pub struct FreshnessProbe {
    spec: Spec,
}

impl fmt::Debug for FreshnessProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FreshnessProbe").field("path", &self.spec.path).finish()
    }
}

impl FreshnessProbe {
    #[must_use]
    pub fn new(spec: &Spec) -> Self {
        Self { spec: spec.clone() }
    }

    pub async fn check(&self) -> Outcome {
        let probe = self.clone();
        // Globbing and stat() block; a slow disk must not stall the runtime.
        tokio::task::spawn_blocking(move || probe.check_at(SystemTime::now()))
            .await
            .unwrap_or_else(|_| Outcome::failed(Reason::Internal, "the file check panicked"))
    }

    fn check_at(&self, now: SystemTime) -> Outcome {
        let max_age = self.spec.max_age.get();
        let mut details =
            Freshness { last_success_timestamp_seconds: 0.0, size_bytes: 0, max_age_seconds: max_age.as_secs_f64() };
        let newest = match newest_match(&self.spec.path) {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Outcome::with(
                    details,
                    Some(super::Failure::new(Reason::Missing, format!("no file matches {}", self.spec.path))),
                );
            }
            Err(message) => {
                return Outcome::with(details, Some(super::Failure::new(Reason::Io, message)));
            }
        };
        let (modified, size) = newest;
        details.last_success_timestamp_seconds =
            modified.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        details.size_bytes = size;
        let age = now.duration_since(modified).unwrap_or(Duration::ZERO);
        let failure = if age > max_age {
            Some(super::Failure::new(
                Reason::Stale,
                format!("newest file is {} old, more than {}", HumanDuration(round_secs(age)), self.spec.max_age),
            ))
        } else {
            self.spec.min_size.filter(|min| size < min.as_u64()).map(|min| {
                super::Failure::new(Reason::TooSmall, format!("newest file is {size} bytes, less than {min}"))
            })
        };
        Outcome::with(details, failure)
    }
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

/// Modification time and size of the newest regular file matching `pattern`.
fn newest_match(pattern: &str) -> Result<Option<(SystemTime, u64)>, String> {
    // Temporary folders (`.tmp-…`) of a backup in progress must not count.
    let options = glob::MatchOptions { require_literal_leading_dot: true, ..glob::MatchOptions::new() };
    let paths = glob::glob_with(pattern, options).map_err(|e| format!("invalid glob {pattern}: {e}"))?;
    let mut newest: Option<(SystemTime, u64)> = None;
    let mut last_error = None;
    for entry in paths {
        let path = match entry {
            Ok(path) => path,
            Err(e) => {
                last_error = Some(e.to_string());
                continue;
            }
        };
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {
                let modified = meta.modified().map_err(|e| format!("{}: {e}", path.display()))?;
                if newest.is_none_or(|(t, _)| modified > t) {
                    newest = Some((modified, meta.len()));
                }
            }
            Ok(_) => {}
            Err(e) => last_error = Some(format!("{}: {e}", path.display())),
        }
    }
    match (newest, last_error) {
        (None, Some(e)) => Err(e),
        (found, _) => Ok(found),
    }
}

impl super::Found for Freshness {
    fn describe(&self, now: SystemTime) -> String {
        format!(
            "newest file {} ({})",
            HumanDuration::ago(self.last_success_timestamp_seconds, now),
            bytesize::ByteSize::b(self.size_bytes)
        )
    }
}

impl super::Run for FreshnessProbe {
    fn run(&self) -> BoxFuture<'_, Outcome> {
        Box::pin(self.check())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(dir: &std::path::Path, max_age: u64, min_size: Option<u64>) -> FreshnessProbe {
        FreshnessProbe::new(&Spec {
            path: dir.join("*.dump").display().to_string(),
            max_age: HumanDuration::from_secs(max_age),
            min_size: min_size.map(bytesize::ByteSize::b),
            timeout: None,
            interval: None,
        })
    }

    #[test]
    fn reports_missing_stale_small_and_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let out = probe(dir.path(), 60, None).check_at(SystemTime::now());
        assert_eq!(out.failure.unwrap().reason, Reason::Missing);

        std::fs::write(dir.path().join("a.dump"), b"12345").unwrap();
        let later = SystemTime::now() + Duration::from_secs(120);
        assert_eq!(probe(dir.path(), 60, None).check_at(later).failure.unwrap().reason, Reason::Stale);
        assert_eq!(
            probe(dir.path(), 600, Some(10)).check_at(SystemTime::now()).failure.unwrap().reason,
            Reason::TooSmall
        );

        let ok = probe(dir.path(), 600, Some(5)).check_at(SystemTime::now());
        assert!(ok.is_success());
        let f = ok.found::<Freshness>().expect("freshness details");
        assert_eq!(f.size_bytes, 5);
        assert!(f.last_success_timestamp_seconds > 0.0);
    }

    #[test]
    fn hidden_temporary_folders_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".tmp-2026")).unwrap();
        std::fs::write(dir.path().join(".tmp-2026/complete.json"), b"{}").unwrap();
        let p = FreshnessProbe::new(&Spec::backup_folder(dir.path()));
        assert_eq!(p.check_at(SystemTime::now()).failure.unwrap().reason, Reason::Missing);
    }
}
