//! The `auth` section: who may call the ops API (named tokens with a role,
//! by `${ENV}` reference), which origins may post browser errors, where the
//! audit and browser-error logs go, and the web config file for TLS and
//! basic auth. Checking a presented token is [`crate::exporter::api::auth`]'s job.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret};

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
    pub web: Option<super::web::WebConfig>,
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
