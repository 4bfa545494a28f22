//! `ops-gen backup verify`: is the newest set (or a given one) whole and
//! readable, and, with `--freshness`, is every target's newest backup young
//! enough?
//!
//! Every file is re-hashed against the manifest; each PostgreSQL dump is read
//! whole by `pg_restore` (into `/dev/null`); each Redis RDB must start with
//! the RDB magic and pass `redis-check-rdb` when it is installed. The result
//! is written to `verify.json` in the set, which `/metrics` and retention
//! read (`opsgen_backup_verified`; the newest verified set is never deleted).

use std::path::Path;
use std::process::Stdio;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::manifest::{Manifest, ManifestError, hash_file, write_synced};
use super::{Job, inventory};

/// The file `verify` writes into a set.
pub const RECORD: &str = "verify.json";

/// One thing wrong, named by file (or target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The file (relative to the set) or target it concerns.
    pub subject: String,
    pub problem: String,
}

/// The outcome of one verification, as kept in `verify.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub set: String,
    /// RFC 3339.
    pub verified_at: String,
    pub ok: bool,
    pub files_checked: usize,
    pub problems: Vec<Problem>,
    /// Worth fixing, not damage: a set other users can read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Problem>,
}

/// How a problem about a target that failed in the set begins (as opposed to
/// a damaged file).
const TARGET_FAILED: &str = "failed in this set";

impl Record {
    /// The files that do not match the manifest or cannot be read; targets
    /// that merely failed when the set was taken are not damage.
    #[must_use]
    pub fn damaged(&self) -> Vec<&str> {
        self.problems.iter().filter(|p| !p.problem.starts_with(TARGET_FAILED)).map(|p| p.subject.as_str()).collect()
    }

    /// The last verification of `set`, if any.
    #[must_use]
    pub fn read(set: &Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(set.join(RECORD)).ok()?).ok()
    }
}

/// Why a set could not be verified at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0} is not a backup set (it has no manifest.json)")]
    NotASet(String),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Lock(#[from] super::lock::LockError),
}

/// `ops-gen backup verify`: verifies `set` holding the backup folder `dir`
/// shared (retention cannot delete it meanwhile).
pub async fn verify(dir: &Path, set: &Path) -> Result<Record, VerifyError> {
    crate::output::private_umask();
    let _lock = super::lock::lock(dir, super::lock::Mode::Shared, "backup verify")?;
    verify_set(set).await
}

/// Verifies one set and records the result in it (the caller holds the
/// folder's lock).
pub async fn verify_set(set: &Path) -> Result<Record, VerifyError> {
    if !set.join(super::manifest::MANIFEST).is_file() {
        return Err(VerifyError::NotASet(set.display().to_string()));
    }
    let manifest = Manifest::read(set)?;
    let mut problems = Vec::new();
    for target in manifest.targets.iter().filter(|t| !t.success) {
        problems.push(Problem {
            subject: target.target.clone(),
            problem: format!("{TARGET_FAILED}: {}", target.error.as_deref().unwrap_or("no reason recorded")),
        });
    }
    let pg_restore = which("pg_restore");
    let check_rdb = which("redis-check-rdb");
    for file in manifest.files() {
        let path = set.join(&file.path);
        let subject = file.path.clone();
        match hash_file(&path) {
            Err(e) => problems.push(Problem { subject, problem: format!("cannot read: {e}") }),
            Ok((size, _)) if size != file.size => {
                problems.push(Problem { subject, problem: format!("{size} bytes, the manifest says {}", file.size) });
            }
            Ok((_, sha)) if sha != file.sha256 => {
                problems.push(Problem { subject, problem: "sha256 differs from the manifest".to_owned() });
            }
            Ok(_) => {
                if let Err(problem) = readable(&path, pg_restore, check_rdb).await {
                    problems.push(Problem { subject, problem });
                }
            }
        }
    }
    let record = Record {
        set: manifest.set.clone(),
        verified_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        ok: problems.is_empty(),
        files_checked: manifest.files().count(),
        problems,
        warnings: exposed(set),
    };
    if let Ok(json) = serde_json::to_vec_pretty(&record)
        && let Err(e) = write_synced(&set.join(RECORD), &json)
    {
        tracing::warn!("cannot record the verification in {}: {e}", set.display());
    }
    Ok(record)
}

/// The folders and files of `set` that other users can read or enter
/// (sets are written owner-only; an older ops-gen, a copy or a `chmod` may
/// have opened them).
fn exposed(set: &Path) -> Vec<Problem> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut open = Vec::new();
    let mut stack = vec![set.to_owned()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.permissions().mode() & 0o077 != 0 {
            open.push((path.clone(), meta.permissions().mode() & 0o777));
        }
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).into_iter().flatten().filter_map(Result::ok).map(|e| e.path()));
        }
    }
    let Some((first, mode)) = open.first() else { return Vec::new() };
    let subject = first.strip_prefix(set).ok().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    vec![Problem {
        subject: subject.display().to_string(),
        problem: format!(
            "readable by other users (mode {mode:o}{}); fix: chmod -R go-rwx {}",
            if open.len() > 1 { format!(", and {} more", open.len() - 1) } else { String::new() },
            set.display()
        ),
    }]
}

/// Targets whose newest successful backup is missing or older than allowed.
#[must_use]
pub fn freshness(dir: &Path, jobs: &[Job], now: SystemTime) -> Vec<Problem> {
    let names: Vec<&str> = jobs.iter().map(|j| j.target.as_str()).collect();
    let states = inventory(dir, &names);
    let now = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    jobs.iter()
        .filter_map(|job| {
            let max = job.max_age.get().as_secs_f64();
            match states.get(&job.target).and_then(|s| s.last_success) {
                None => {
                    Some(Problem { subject: job.target.clone(), problem: "never backed up successfully".to_owned() })
                }
                Some(at) if now - at > max => Some(Problem {
                    subject: job.target.clone(),
                    problem: format!("newest backup is {:.1} h old, more than {}", (now - at) / 3600.0, job.max_age),
                }),
                Some(_) => None,
            }
        })
        .collect()
}

fn which(program: &str) -> Option<&str> {
    let found =
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()));
    found.then_some(program)
}

/// Reads a dump through the tool that would restore it.
async fn readable(path: &Path, pg_restore: Option<&str>, check_rdb: Option<&str>) -> Result<(), String> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if extension.eq_ignore_ascii_case("dump") {
        let program = pg_restore.ok_or("pg_restore is not installed (apt-get install postgresql-client)")?;
        // Without a database, pg_restore turns the whole archive into SQL:
        // every block is read and decompressed.
        return run_check(tokio::process::Command::new(program).args(["--file", "/dev/null"]).arg(path), "pg_restore")
            .await;
    }
    if extension.eq_ignore_ascii_case("rdb") {
        let mut head = [0u8; 9];
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        std::io::Read::read_exact(&mut &file, &mut head).map_err(|_| "too short to be an RDB file".to_owned())?;
        if &head[..5] != b"REDIS" || !head[5..].iter().all(u8::is_ascii_digit) {
            return Err("does not start with the RDB magic (REDIS and a version)".to_owned());
        }
        if let Some(program) = check_rdb {
            return run_check(tokio::process::Command::new(program).arg(path), "redis-check-rdb").await;
        }
    }
    Ok(())
}

async fn run_check(command: &mut tokio::process::Command, what: &str) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim().to_owned();
    Err(format!("{what} cannot read it: {last}"))
}
