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

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::config::{ConfigError, Secret};

/// Shortest token accepted: anything shorter can be guessed.
const MIN_TOKEN_LEN: usize = 16;

/// The `auth` section of `ops-gen.yml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Who may call `/api/ops/*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<Token>,
    /// Pages on these origins may post browser errors to the beacon route
    /// (`https://app.example.com`); a beacon from any other origin is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub beacon_origins: Vec<String>,
    /// The audit log: one JSON line per API call (default
    /// `output/ops/audit.log`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<PathBuf>,
    /// Where browser errors are kept across restarts (default
    /// `output/ops/frontend-logs.jsonl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontend_log: Option<PathBuf>,
    /// TLS and basic auth for `ops-gen serve`, from a web config file in the
    /// Prometheus exporter-toolkit format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_config: Option<PathBuf>,
    /// The web config, loaded.
    #[serde(skip)]
    pub web: Option<crate::exporter::web::WebConfig>,
}

/// One API token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Names the caller in the audit log (never the token itself).
    pub name: String,
    /// The token, by `${ENV}` reference.
    pub token: Secret,
    #[serde(default)]
    pub role: Role,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Only post browser errors (the token ships to browsers in the beacon).
    Beacon,
    /// Read state, logs, frontend logs, events and bundles.
    #[default]
    Read,
    /// Also act: restart a service, capture a bundle.
    Admin,
}

impl Role {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Beacon => "beacon",
            Self::Read => "read",
            Self::Admin => "admin",
        }
    }
}

/// The default audit log.
pub const DEFAULT_AUDIT_LOG: &str = "output/ops/audit.log";
/// The default file of browser errors.
pub const DEFAULT_FRONTEND_LOG: &str = "output/ops/frontend-logs.jsonl";

impl Settings {
    /// Checks names and tokens; `file` names the config in errors.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        for (i, token) in self.tokens.iter().enumerate() {
            let key = format!("auth.tokens[{i}]");
            if token.name.is_empty() || !token.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c)) {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.name"),
                    format!("`{}` is not a usable name", token.name),
                    Some("use letters, digits, `-`, `_`, `.` or `@`, e.g. `alice` or `ci-bot`".to_owned()),
                ));
            }
            if self.tokens[..i].iter().any(|t| t.name == token.name) {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.name"),
                    format!("`{}` names two tokens", token.name),
                    Some("give every token its own name: the audit log tells callers apart by it".to_owned()),
                ));
            }
            if token.token.expose().len() < MIN_TOKEN_LEN {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.token"),
                    format!("the token is empty or shorter than {MIN_TOKEN_LEN} characters (is its variable set?)"),
                    Some(
                        "set it to a long random value, e.g. from `openssl rand -hex 32`, by ${ENV} reference"
                            .to_owned(),
                    ),
                ));
            }
        }
        for (i, origin) in self.beacon_origins.iter().enumerate() {
            let parsed = url::Url::parse(origin).ok();
            let ok = parsed.as_ref().is_some_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && !origin.ends_with('/')
            });
            if !ok {
                return Err(ConfigError::invalid(
                    file,
                    format!("auth.beacon_origins[{i}]"),
                    format!("`{origin}` is not an origin"),
                    Some("write scheme, host and port only, e.g. `https://app.example.com`".to_owned()),
                ));
            }
        }
        Ok(())
    }

    /// Where browser errors are kept.
    #[must_use]
    pub fn frontend_path(&self) -> PathBuf {
        self.frontend_log.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_FRONTEND_LOG))
    }

    /// Where the audit log goes.
    #[must_use]
    pub fn audit_path(&self) -> PathBuf {
        self.audit_log.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_AUDIT_LOG))
    }
}

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
