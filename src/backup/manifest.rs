//! `manifest.json` and `manifest.sha256`: what a set holds, and the proof.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The file name of a set's manifest.
pub const MANIFEST: &str = "manifest.json";
/// The `sha256sum -c` companion of the manifest.
pub const CHECKSUMS: &str = "manifest.sha256";

/// Everything a set holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Bumped when the format changes incompatibly.
    pub format: u32,
    pub set: String,
    pub ops_gen_version: String,
    /// RFC 3339.
    pub started_at: String,
    pub finished_at: String,
    /// `finished_at` in Unix seconds, for metrics.
    pub finished_unix: f64,
    pub duration_seconds: f64,
    /// `complete` when every target succeeded, `partial` when some failed
    /// (a run where every target failed writes no set).
    #[serde(default)]
    pub status: SetStatus,
    /// Why the set was taken, when not on schedule: `pre-restore` (the
    /// safety copy of a restore) or a name given with `backup run --tag`.
    /// Each tag has its own retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub targets: Vec<TargetOutcome>,
}

/// Whether every target of a set succeeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetStatus {
    #[default]
    Complete,
    Partial,
}

/// The tag of a restore's safety copy.
pub const PRE_RESTORE: &str = "pre-restore";

/// One target's part of a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetOutcome {
    pub target: String,
    pub kind: String,
    pub success: bool,
    /// Why it failed (a sentence without credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_seconds: f64,
    /// S3: the set holds every object (`mirror: true`), so it can be restored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mirrored: bool,
    #[serde(default)]
    pub files: Vec<FileEntry>,
}

/// One file of a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the set's folder, `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// What wrote it (`pg_dump`, `redis-cli`, `ops-gen`) and its version.
    pub tool: String,
    pub tool_version: String,
    /// What it holds: the database for a dump, `rdb` or `metadata` for Redis.
    pub source: String,
    pub duration_seconds: f64,
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a valid manifest ({source})")]
    Parse { path: String, source: serde_json::Error },
}

impl Manifest {
    /// Reads `<set>/manifest.json`.
    pub fn read(set: &Path) -> Result<Self, ManifestError> {
        let path = set.join(MANIFEST);
        let text =
            std::fs::read(&path).map_err(|source| ManifestError::Read { path: path.display().to_string(), source })?;
        serde_json::from_slice(&text)
            .map_err(|source| ManifestError::Parse { path: path.display().to_string(), source })
    }

    /// Writes `manifest.json` and `manifest.sha256` into `set`.
    pub fn write(&self, set: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_synced(&set.join(MANIFEST), &json)?;
        let mut sums = String::new();
        for file in self.targets.iter().flat_map(|t| &t.files) {
            let _ = writeln!(sums, "{}  {}", file.sha256, file.path);
        }
        write_synced(&set.join(CHECKSUMS), sums.as_bytes())
    }

    /// Whether target `target`'s copy in this set is intact by `record`
    /// (no problem names one of its files).
    #[must_use]
    pub fn intact(&self, target: &str, record: &super::verify::Record) -> bool {
        let Some(outcome) = self.targets.iter().find(|t| t.target == target && t.success) else { return false };
        let damaged = record.damaged();
        !outcome.files.iter().any(|f| damaged.contains(&f.path.as_str()))
    }

    /// Every file of every target.
    pub fn files(&self) -> impl Iterator<Item = &FileEntry> {
        self.targets.iter().flat_map(|t| &t.files)
    }

    /// When the set finished, as recorded; `None` for a value no clock can
    /// have (negative, not finite, or beyond what `SystemTime` holds).
    #[must_use]
    pub fn finished(&self) -> Option<std::time::SystemTime> {
        unix_time(self.finished_unix)
    }

    /// Whether some target failed in this set (also for sets written before
    /// `status` existed).
    #[must_use]
    pub fn partial(&self) -> bool {
        self.status == SetStatus::Partial || self.targets.iter().any(|t| !t.success)
    }
}

/// A Unix time in seconds as a `SystemTime`, when it is one (manifests are
/// files anybody may have edited: never panic on what they hold).
#[must_use]
pub fn unix_time(seconds: f64) -> Option<std::time::SystemTime> {
    let since = std::time::Duration::try_from_secs_f64(seconds).ok()?;
    std::time::SystemTime::UNIX_EPOCH.checked_add(since)
}

/// Writes a file owner-only and flushes it to disk before returning.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::output::write_private(path, bytes)
}

/// Lowercase hex of a digest.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The size and sha256 of a file, read once.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_like_sha256sum() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"abc").unwrap();
        let (size, sum) = hash_file(&dir.path().join("f")).unwrap();
        assert_eq!(size, 3);
        assert_eq!(sum, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
