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

/// The audit log: one JSON line per API call, appended.
#[derive(Debug, Default)]
pub struct Audit {
    file: Mutex<Option<(PathBuf, std::fs::File)>>,
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
        let Ok(mut line) = serde_json::to_vec(&entry) else { return };
        line.push(b'\n');
        let mut slot = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.as_ref().is_none_or(|(p, _)| p != path) {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(parent);
            }
            match std::fs::OpenOptions::new().create(true).append(true).open(path) {
                Ok(file) => *slot = Some((path.to_owned(), file)),
                Err(e) => {
                    tracing::warn!("cannot open the audit log {}: {e}", path.display());
                    *slot = None;
                    return;
                }
            }
        }
        if let Some((_, file)) = slot.as_mut()
            && let Err(e) = file.write_all(&line)
        {
            tracing::warn!("cannot write the audit log {}: {e}", path.display());
        }
    }
}
