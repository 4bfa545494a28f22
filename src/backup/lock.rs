//! The one lock over a backup folder.
//!
//! Writers (`backup run`, `backup restore`, retention, `storage clean`)
//! hold it exclusively; readers (`backup verify`, `backup drill`) share it.
//! So retention can never delete a set that a drill or restore is reading,
//! and a scheduled run cannot start in the middle of a restore. It is an
//! advisory `flock` on `<dir>/.lock`, released by the kernel when the
//! process ends, even on `kill -9`: a crash never leaves the folder locked.
//!
//! Each holder also leaves a small note in `<dir>/.lock.d/<pid>` (its
//! command and since when), so a refused command can say who holds the
//! folder. Notes of holders that are gone are removed by the next exclusive
//! holder.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Shared for readers, exclusive for writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// Why the folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot use the backup folder {dir}: {source} (fix: create it, or set `backup.dir` to a writable folder)")]
    Folder { dir: String, source: std::io::Error },
    #[error("the backup folder {dir} is busy: {holders} holds it; try again when it has finished")]
    Busy { dir: String, holders: String },
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct FolderLock {
    _file: std::fs::File,
    note: PathBuf,
    mode: Mode,
}

impl FolderLock {
    /// Whether this lock lets its holder change or delete sets.
    #[must_use]
    pub fn exclusive(&self) -> bool {
        self.mode == Mode::Exclusive
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.note);
    }
}

/// Who holds the folder, as the note says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Note {
    pid: u32,
    command: String,
    /// RFC 3339.
    since: String,
}

const LOCK_FILE: &str = ".lock";
const NOTES: &str = ".lock.d";

/// Locks `dir` (created owner-only when missing) for `command` (such as
/// `backup run`), without waiting: a busy folder is an error naming the
/// holders.
pub fn lock(dir: &Path, mode: Mode, command: &str) -> Result<FolderLock, LockError> {
    let folder = |source| LockError::Folder { dir: dir.display().to_string(), source };
    crate::output::create_private_dir_all(dir).map_err(folder)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(folder)?;
    let taken = match mode {
        Mode::Shared => file.try_lock_shared(),
        Mode::Exclusive => file.try_lock(),
    };
    match taken {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(LockError::Busy { dir: dir.display().to_string(), holders: holders(dir) });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(folder(e)),
    }
    let notes = dir.join(NOTES);
    if mode == Mode::Exclusive {
        // Nobody else holds the folder: every note left is stale.
        let _ = std::fs::remove_dir_all(&notes);
    }
    let _ = crate::output::create_private_dir(&notes);
    let pid = std::process::id();
    let note = notes.join(pid.to_string());
    let text = serde_json::to_vec(&Note {
        pid,
        command: command.to_owned(),
        since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
    })
    .unwrap_or_default();
    // The note only helps a refused command explain itself.
    let _ = crate::output::write_private(&note, &text);
    Ok(FolderLock { _file: file, note, mode })
}

/// The holders the notes name (those still alive, when this process can see
/// them), as `ops-gen backup drill (pid 4242, since …)`.
fn holders(dir: &Path) -> String {
    let proc_visible = Path::new("/proc/self").exists();
    let mut found: Vec<String> = std::fs::read_dir(dir.join(NOTES))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| serde_json::from_slice::<Note>(&std::fs::read(e.path()).ok()?).ok())
        .filter(|n| !proc_visible || Path::new(&format!("/proc/{}", n.pid)).exists())
        .map(|n| format!("`ops-gen {}` (pid {}, since {})", n.command, n.pid, n.since))
        .collect();
    found.sort();
    if found.is_empty() { "another ops-gen process".to_owned() } else { found.join(" and ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes the lock once it is free. A lock just released can stay held
    /// for a moment: a child process another test forks at that instant
    /// shares the descriptor until it execs (descriptors are close-on-exec,
    /// not close-on-fork).
    fn once_free(dir: &Path, mode: Mode, command: &str) -> FolderLock {
        for _ in 0..200 {
            if let Ok(held) = lock(dir, mode, command) {
                return held;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the lock on {} was never released", dir.display());
    }

    #[test]
    fn readers_share_writers_exclude_and_the_holder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let backups = dir.path().join("backups");
        let a = lock(&backups, Mode::Shared, "backup drill").unwrap();
        let b = lock(&backups, Mode::Shared, "backup verify").unwrap();
        let err = lock(&backups, Mode::Exclusive, "backup run").unwrap_err().to_string();
        assert!(err.contains("is busy") && err.contains("ops-gen backup"), "{err}");
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop((a, b));
        let w = once_free(&backups, Mode::Exclusive, "backup run");
        assert!(w.exclusive());
        let err = lock(&backups, Mode::Shared, "backup drill").unwrap_err().to_string();
        assert!(err.contains("`ops-gen backup run`"), "{err}");
        drop(w);
        once_free(&backups, Mode::Shared, "backup drill");
    }
}
