//! Who may call the ops API: bearer tokens from the config, compared in
//! constant time, each with a role; and the audit log of every call.
//!
//! A token is looked up by comparing the SHA-256 of the presented value with
//! the SHA-256 of every configured token, all of them, with `subtle`: the
//! time taken does not depend on where a guess first differs, nor on which
//! token matched. Tokens never reach a log line, an error or the audit log;
//! callers are named by the token's `name`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::config::auth::{Role, Settings, Token};

/// A caller the token identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No token, or one that matches none (401).
    Unauthenticated,
    /// A valid token whose role is too low (403).
    Forbidden,
}

/// The caller `presented` identifies, if any, comparing it with every
/// configured token in constant time.
#[must_use]
pub fn identify(settings: &Settings, presented: Option<&str>) -> Option<Caller> {
    // Hash first: equal lengths for the comparison, whatever was sent.
    let wanted = Sha256::digest(presented.unwrap_or_default().as_bytes());
    let mut found: Option<&Token> = None;
    for token in &settings.tokens {
        let have = Sha256::digest(token.token.expose().as_bytes());
        // No early exit: every token is compared.
        if bool::from(wanted.ct_eq(&have)) && presented.is_some() {
            found = Some(token);
        }
    }
    found.map(|t| Caller { name: t.name.clone(), role: t.role })
}

/// Whether `caller` may do what needs `role`.
pub fn authorize(caller: Option<&Caller>, role: Role) -> Result<(), Denied> {
    match caller {
        None => Err(Denied::Unauthenticated),
        Some(c) if c.role < role => Err(Denied::Forbidden),
        Some(_) => Ok(()),
    }
}

/// The token of an `Authorization: Bearer …` header.
#[must_use]
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The audit log: one JSON line per API call, appended; at
/// [`AUDIT_MAX_BYTES`] the file is rotated (`audit.jsonl.1` … `.N`, the
/// oldest dropped), so it never holds more than [`AUDIT_FILES`] files of
/// that size. Calls refused for having no valid token beyond the per-address
/// limit are not written one by one: each address's refusals are counted and
/// written as one summary line a minute.
#[derive(Debug, Default)]
pub struct Audit {
    file: Mutex<Option<Open>>,
    refused: Mutex<Refused>,
}

#[derive(Debug)]
struct Open {
    path: PathBuf,
    file: std::fs::File,
    bytes: u64,
}

/// Refusals not yet written, by client address.
#[derive(Debug, Default)]
struct Refused {
    counts: std::collections::BTreeMap<std::net::IpAddr, u64>,
    since: Option<std::time::Instant>,
}

/// The size at which the audit log is rotated.
pub const AUDIT_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// How many files the audit log keeps (the live one and the rotated ones).
pub const AUDIT_FILES: usize = 4;
/// How often refusals beyond the limit are summarized.
const REFUSED_EVERY: Duration = Duration::from_secs(60);

/// One summary of refused calls.
#[derive(Debug, Serialize)]
struct RefusedEntry {
    at: String,
    client: String,
    refused: u64,
    seconds: u64,
    reason: &'static str,
}

/// One audited call.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    /// RFC 3339.
    pub at: String,
    /// The token's name, or `-` when none matched.
    pub caller: &'a str,
    pub method: &'a str,
    /// The route as declared (`/api/ops/logs`), never the query string.
    pub route: &'a str,
    pub status: u16,
    pub duration_ms: f64,
}

impl Audit {
    /// Appends one line to `path` (opened once, reopened when the path
    /// changes on reload); a write failure is logged, never fatal.
    pub fn record(&self, path: &Path, caller: Option<&str>, method: &str, route: &str, status: u16, took: Duration) {
        let entry = Entry {
            at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            caller: caller.unwrap_or("-"),
            method,
            route,
            status,
            duration_ms: (took.as_secs_f64() * 1e6).round() / 1e3,
        };
        tracing::info!(target: "audit", caller = entry.caller, method, route, status, ms = entry.duration_ms, "api call");
        if let Ok(line) = serde_json::to_vec(&entry) {
            self.append(path, line);
        }
        self.flush_refused(path, false);
    }

    /// Counts one call from `client` refused beyond the unauthenticated
    /// limit; the counts go out as summary lines at most once a minute.
    pub fn refused(&self, path: &Path, client: std::net::IpAddr) {
        {
            let mut refused = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *refused.counts.entry(client).or_insert(0) += 1;
            refused.since.get_or_insert_with(std::time::Instant::now);
        }
        self.flush_refused(path, false);
    }

    /// Writes the refusal summaries when a minute has passed (or `now`).
    fn flush_refused(&self, path: &Path, now: bool) {
        let (counts, seconds) = {
            let mut refused = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match refused.since {
                Some(since) if now || since.elapsed() >= REFUSED_EVERY => {
                    refused.since = None;
                    (std::mem::take(&mut refused.counts), since.elapsed().as_secs())
                }
                _ => return,
            }
        };
        for (client, count) in counts {
            tracing::warn!(target: "audit", %client, refused = count, "calls without a valid token refused");
            let entry = RefusedEntry {
                at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                client: client.to_string(),
                refused: count,
                seconds,
                reason: "too many calls without a valid token",
            };
            if let Ok(line) = serde_json::to_vec(&entry) {
                self.append(path, line);
            }
        }
    }

    /// One line, rotating first when the file would pass the cap.
    fn append(&self, path: &Path, mut line: Vec<u8>) {
        line.push(b'\n');
        let mut slot = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.as_ref().is_none_or(|open| open.path != path) {
            *slot = open(path);
        }
        if slot.as_ref().is_some_and(|open| open.bytes + line.len() as u64 > AUDIT_MAX_BYTES) {
            *slot = None;
            rotate(path);
            *slot = open(path);
        }
        if let Some(open) = slot.as_mut() {
            match open.file.write_all(&line) {
                Ok(()) => open.bytes += line.len() as u64,
                Err(e) => tracing::warn!("cannot write the audit log {}: {e}", path.display()),
            }
        }
    }
}

/// Opens (creating) the audit log for appending, owner-only.
fn open(path: &Path) -> Option<Open> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(parent);
    }
    match std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path) {
        Ok(file) => {
            let bytes = file.metadata().map_or(0, |m| m.len());
            Some(Open { path: path.to_owned(), file, bytes })
        }
        Err(e) => {
            tracing::warn!("cannot open the audit log {}: {e}", path.display());
            None
        }
    }
}

/// `audit.jsonl` → `audit.jsonl.1` → … → `.{AUDIT_FILES - 1}`, the oldest
/// dropped.
fn rotate(path: &Path) {
    let numbered = |n: usize| {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    };
    let _ = std::fs::remove_file(numbered(AUDIT_FILES - 1));
    for n in (1..AUDIT_FILES - 1).rev() {
        let _ = std::fs::rename(numbered(n), numbered(n + 1));
    }
    if let Err(e) = std::fs::rename(path, numbered(1)) {
        tracing::warn!("cannot rotate the audit log {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_log_rotates_and_keeps_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let audit = Audit::default();
        let line = vec![b'x'; 1024 * 1024];
        for _ in 0..(AUDIT_FILES * 8 + 5) {
            audit.append(&path, line.clone());
        }
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), AUDIT_FILES, "{files:?}");
        let total: u64 = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
        assert!(total <= AUDIT_MAX_BYTES * AUDIT_FILES as u64, "{total}");
    }

    #[test]
    fn refusals_are_summarized_not_written_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let audit = Audit::default();
        let client = std::net::IpAddr::from([10, 0, 0, 7]);
        for _ in 0..10_000 {
            audit.refused(&path, client);
        }
        assert!(!path.exists(), "nothing is written before the minute is up");
        audit.flush_refused(&path, true);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(r#""client":"10.0.0.7","refused":10000"#), "{text}");
    }
}
