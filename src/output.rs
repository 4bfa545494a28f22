//! Durable, private writes for everything ops-gen keeps under `output/`.
//!
//! A file another process reads (a `latest.json`, a manifest, a smoke
//! result) is replaced through a temporary file in the same folder and a
//! rename, so a reader sees the old or the new content, never half of it;
//! the file and then its folder are flushed, so a power cut after the call
//! returns cannot bring the old name back. Files are created owner-only
//! (0600) whatever the umask: backups and bundles hold a stack's data.
//! It also names the folders under `output/` that more than one layer uses
//! ([`SMOKE_DIR`]: written by `ops-gen smoke`, mounted by the profile;
//! [`JOBS_STATE`]: the scheduler's memory, read by `ops-gen jobs`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file in a backup set where every target succeeded (written by
/// `backup run`, watched by the default `file_freshness` check).
pub const SET_COMPLETE: &str = "complete.json";

/// Where `ops-gen smoke` writes its results (relative to the current folder,
/// like `backup.dir`'s default); the profile mounts it into the exporter
/// container, which works in the same layout.
pub const SMOKE_DIR: &str = "output/smoke";
/// The newest smoke result, in [`SMOKE_DIR`].
pub const SMOKE_LATEST: &str = "latest.json";

/// Where `ops-gen serve`'s scheduler keeps each job's last run (the
/// default of `schedule.state`), so catch-up after downtime knows what was
/// missed; `ops-gen jobs` reads and updates it too.
pub const JOBS_STATE: &str = "output/jobs/state.json";

/// Writes `path` through a temporary file (mode 0600) in the same folder,
/// a flush and a rename, then flushes the folder.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    replace_with(path, |file| file.write_all(contents))
}

/// Replaces `path` with what `write` puts into a fresh temporary file (mode
/// 0600) in the same folder: flushed, renamed over `path`, the folder
/// flushed. Readers see the old file or the new one, never half; on an
/// error `path` is untouched and the temporary file removed.
pub fn replace_with<T>(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    let made = write(tmp.as_file_mut())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)?;
    Ok(made)
}

/// Creates `path` owner-only (0600), writes it and flushes it to disk.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = create_private(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Creates (or truncates) `path` with mode 0600, whatever the umask.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // An existing file keeps its mode through `open`: set it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Creates `path` and its missing parents with mode 0700, whatever the umask.
pub fn create_private_dir_all(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// Creates the folder `path` (its parent must exist) with mode 0700.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new().mode(0o700).create(path)
}

/// A fresh temporary folder (under `TMPDIR`) that only its owner can
/// enter, whatever the umask: throwaway servers of drills and restores
/// hold a copy of production data there.
pub fn private_tempdir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt as _;
    tempfile::Builder::new().prefix(prefix).permissions(std::fs::Permissions::from_mode(0o700)).tempdir()
}

/// Flushes a folder's entries (a rename or a removal in it) to disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Makes every file and folder this process (and the programs it starts)
/// creates from now on owner-only. Backup commands call it first: tools such
/// as `redis-cli --rdb` create their output files themselves.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// `n` random bytes from the kernel, as lowercase hex: throwaway passwords.
///
/// # Panics
///
/// When the kernel's random generator fails, which it does not once the
/// system has booted: a weaker fallback would be worse than stopping.
#[must_use]
pub fn random_hex(n: usize) -> String {
    use std::fmt::Write as _;
    let mut bytes = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(got) => filled += got,
            Err(rustix::io::Errno::INTR) => {}
            // The kernel's generator does not fail once booted; a fallback
            // would be weaker than failing loudly.
            Err(e) => panic!("the kernel's random generator failed: {e}"),
        }
    }
    bytes.iter().fold(String::with_capacity(n * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The last failure, as `latest.json` keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SmokeFailure {
    /// RFC 3339, UTC.
    pub at: String,
    #[serde(default)]
    pub timestamp_seconds: f64,
    pub reason: String,
    /// The failed run's `result.json`.
    #[serde(default)]
    pub result: PathBuf,
}

/// `output/smoke/latest.json`: the newest `ops-gen smoke` result, written by
/// the smoke command, read by the exporter, the status page, the context
/// and `storage clean`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SmokeLatest {
    pub success: bool,
    /// RFC 3339, UTC.
    pub last_run_at: String,
    #[serde(default)]
    pub last_run_timestamp_seconds: f64,
    /// The run's `result.json`.
    #[serde(default)]
    pub result: PathBuf,
    /// Why the newest run failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The newest failed run, also after later successes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<SmokeFailure>,
}

impl SmokeLatest {
    /// Reads `dir/latest.json`; `None` when smoke never ran (or the file is
    /// unreadable: it is another command's, so anything it cannot read is
    /// "no smoke run yet", and fields a reader does not need may be absent).
    #[must_use]
    pub fn read(dir: &Path) -> Option<Self> {
        Self::parse(&std::fs::read(dir.join(SMOKE_LATEST)).ok()?)
    }

    /// [`SmokeLatest::read`] of the file's bytes.
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn files_and_folders_are_owner_only_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("a/b");
        create_private_dir_all(&folder).unwrap();
        write_private(&folder.join("f"), b"x").unwrap();
        write_atomically(&folder.join("g"), b"y").unwrap();
        assert_eq!(std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777, 0o700);
        for f in ["f", "g"] {
            assert_eq!(std::fs::metadata(folder.join(f)).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(std::fs::read(folder.join("g")).unwrap(), b"y");
    }

    #[test]
    fn random_hex_is_random_and_sized() {
        let (a, b) = (random_hex(16), random_hex(16));
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
