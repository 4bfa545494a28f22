//! Checks: what each kind of probe does, and the closed set of kinds.
//!
//! A check is a named instance of a [`Kind`], configured by its [`Spec`] and
//! run by the [`runner`], which owns timeouts, concurrency, reuse of recent
//! results and the standard series every check emits. A probe only says what
//! it found: an [`Outcome`] holding kind-specific [`Details`] and, when it
//! failed, a [`Failure`] with a [`Reason`] from a small fixed set.
//!
//! # Adding a probe kind
//! 1. One file in this folder with its `Spec` (config, `deny_unknown_fields`,
//!    secrets as [`crate::config::Secret`] or redacted URLs, rules that span
//!    fields in a `validate` returning [`Invalid`]), its probe type
//!    with `async fn run(&self) -> Outcome`, its error enum mapped to
//!    [`Reason`], and its `REASONS`.
//! 2. One variant in [`Kind`], [`Spec`] and [`Probe`], and its arms in the
//!    `match`es below (the compiler lists them).
//! 3. Its series, if any, in [`crate::exporter::metrics`], named per the
//!    Prometheus naming guide.
//! 4. One valid and one invalid fixture in `tests/fixtures/config/`.
//! 5. One integration test against the real service in `tests/`.

pub mod canary;
pub mod drift;
pub mod file_freshness;
pub mod http;
pub mod postgres;
pub mod redis;
pub mod runner;
pub mod s3;

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::config::{EntryError, HumanDuration, defaults};

/// The closed set of check kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Postgres,
    Redis,
    Http,
    FileFreshness,
    S3,
    /// Compose drift, service state and restarts of the `stack`.
    Docker,
    /// Persistence canaries, made from the `canary` section (not writable in
    /// `targets` or `checks`).
    Canary,
}

impl Kind {
    pub const ALL: [Kind; 6] = [Kind::Postgres, Kind::Redis, Kind::S3, Kind::Http, Kind::FileFreshness, Kind::Docker];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Redis => "redis",
            Self::Http => "http",
            Self::FileFreshness => "file_freshness",
            Self::S3 => "s3",
            Self::Docker => "docker",
            Self::Canary => "canary",
        }
    }

    /// Data stores of the stack go under `targets`; everything else under `checks`.
    #[must_use]
    pub const fn is_target(self) -> bool {
        matches!(self, Self::Postgres | Self::Redis | Self::S3)
    }

    /// The failure reasons this kind can report; their counters start at zero.
    #[must_use]
    pub const fn reasons(self) -> &'static [Reason] {
        match self {
            Self::Postgres => postgres::REASONS,
            Self::Redis => redis::REASONS,
            Self::Http => http::REASONS,
            Self::FileFreshness => file_freshness::REASONS,
            Self::S3 => s3::REASONS,
            Self::Docker => drift::REASONS,
            Self::Canary => canary::REASONS,
        }
    }

    pub(crate) fn list() -> String {
        Self::ALL.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a check failed: the value of the `reason` label, from a fixed set so
/// label cardinality stays bounded whatever the error text says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No answer within the check's time budget.
    Timeout,
    /// The connection was refused, reset or closed.
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// The target refused our credentials.
    Auth,
    /// An HTTP status outside the expected set.
    Status,
    /// A response body without the expected content.
    Body,
    /// An answer that is not the protocol we speak.
    Protocol,
    /// The target answered a query with an error.
    Query,
    /// Nothing to check: no file matches.
    Missing,
    /// The newest file is older than allowed.
    Stale,
    /// The newest file is smaller than allowed.
    TooSmall,
    /// Data read back differs from what was written.
    Checksum,
    /// A local I/O error (permissions, unreadable folder).
    Io,
    /// What the check reads is invalid (a compose file Compose rejects).
    Invalid,
    /// The running stack differs from its compose files.
    Drift,
    /// A bug in ops-gen (the check panicked).
    Internal,
}

impl Reason {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Auth => "auth",
            Self::Status => "status",
            Self::Body => "body",
            Self::Protocol => "protocol",
            Self::Query => "query",
            Self::Missing => "missing",
            Self::Stale => "stale",
            Self::TooSmall => "too_small",
            Self::Checksum => "checksum",
            Self::Io => "io",
            Self::Invalid => "invalid",
            Self::Drift => "drift",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed check: the bounded reason and a sentence for people. The message
/// never holds credentials; it is shown in logs, tables and the status page,
/// never used as a label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub reason: Reason,
    pub message: String,
}

impl Failure {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self { reason, message: message.into() }
    }
}

/// What a probe found, beyond success: the kind-specific series.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Details {
    None,
    Postgres(postgres::ServerInfo),
    Redis(redis::Persistence),
    Freshness(file_freshness::Freshness),
    Canary(canary::State),
    S3(s3::State),
    Drift(drift::State),
}

/// The result of one run of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    #[serde(skip_serializing_if = "is_none")]
    pub details: Details,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

fn is_none(d: &Details) -> bool {
    matches!(d, Details::None)
}

impl Outcome {
    #[must_use]
    pub fn ok(details: Details) -> Self {
        Self { details, failure: None }
    }

    pub fn failed(reason: Reason, message: impl Into<String>) -> Self {
        Self { details: Details::None, failure: Some(Failure::new(reason, message)) }
    }

    #[must_use]
    pub fn is_success(&self) -> bool {
        self.failure.is_none()
    }
}

/// Settings every kind shares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Common {
    /// The check's own time limit (the scrape deadline may cut it shorter).
    pub timeout: Option<HumanDuration>,
    /// Run on this schedule instead of on scrape.
    pub interval: Option<HumanDuration>,
}

impl Common {
    #[must_use]
    pub fn timeout(self) -> Duration {
        self.timeout.unwrap_or(defaults::CHECK_TIMEOUT).get()
    }
}

/// One configured check, typed by its `kind`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Spec {
    Postgres(postgres::Spec),
    Redis(redis::Spec),
    Http(http::Spec),
    FileFreshness(file_freshness::Spec),
    S3(s3::Spec),
    Docker(drift::Spec),
    Canary(canary::Spec),
}

impl Spec {
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Self::Postgres(_) => Kind::Postgres,
            Self::Redis(_) => Kind::Redis,
            Self::Http(_) => Kind::Http,
            Self::FileFreshness(_) => Kind::FileFreshness,
            Self::S3(_) => Kind::S3,
            Self::Docker(_) => Kind::Docker,
            Self::Canary(_) => Kind::Canary,
        }
    }

    #[must_use]
    pub fn common(&self) -> Common {
        let (timeout, interval) = match self {
            Self::Postgres(s) => (s.timeout, s.interval),
            Self::Redis(s) => (s.timeout, s.interval),
            Self::Http(s) => (s.timeout, s.interval),
            Self::FileFreshness(s) => (s.timeout, s.interval),
            Self::S3(s) => (s.timeout, Some(s.interval)),
            Self::Docker(s) => (Some(s.timeout), Some(s.interval)),
            Self::Canary(s) => (None, Some(s.interval)),
        };
        Common { timeout, interval }
    }

    /// Types one `targets`/`checks` entry by its `kind`, tracking field paths.
    pub(crate) fn from_yaml(value: serde_norway::Value) -> Result<Self, EntryError> {
        let serde_norway::Value::Mapping(mut map) = value else {
            return Err(EntryError::Kind {
                message: "expected a mapping of settings".to_owned(),
                fix: format!("write `kind:` and the kind's settings under the name (kinds: {})", Kind::list()),
            });
        };
        let Some(serde_norway::Value::String(kind)) = map.remove("kind") else {
            return Err(EntryError::missing_kind());
        };
        let rest = serde_norway::Value::Mapping(map);
        Ok(match kind.as_str() {
            "postgres" => Self::Postgres(typed(rest)?),
            "redis" => Self::Redis(typed(rest)?),
            "http" => Self::Http(typed(rest)?),
            "file_freshness" => Self::FileFreshness(typed(rest)?),
            "s3" => Self::S3(typed(rest)?),
            "docker" => Self::Docker(typed(rest)?),
            other => return Err(EntryError::unknown_kind(other)),
        })
    }
}

fn typed<T: serde::de::DeserializeOwned>(v: serde_norway::Value) -> Result<T, EntryError> {
    serde_path_to_error::deserialize(v).map_err(EntryError::Field)
}

/// A problem one field cannot show, found by a kind's `validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The key inside the entry, such as `steps[1].url`.
    pub key: String,
    pub message: String,
    pub fix: String,
}

impl Spec {
    /// Checks rules that span fields, after each field parsed on its own.
    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            Self::Http(s) => s.validate(),
            Self::Postgres(_)
            | Self::Redis(_)
            | Self::FileFreshness(_)
            | Self::S3(_)
            | Self::Docker(_)
            | Self::Canary(_) => Ok(()),
        }
    }
}

/// A check ready to run: the spec turned into clients, built once and reused.
#[derive(Debug)]
pub enum Probe {
    Postgres(postgres::PostgresProbe),
    Redis(redis::RedisProbe),
    Http(http::HttpProbe),
    FileFreshness(file_freshness::FreshnessProbe),
    S3(s3::S3Probe),
    Docker(drift::DriftProbe),
    Canary(canary::CanaryProbe),
}

/// A probe that could not be set up (not a failed check: a broken host).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up check `{name}`: {message}")]
pub struct BuildError {
    pub name: String,
    pub message: String,
}

impl Probe {
    pub fn build(name: &str, spec: &Spec) -> Result<Self, BuildError> {
        let err = |message: String| BuildError { name: name.to_owned(), message };
        Ok(match spec {
            Spec::Postgres(s) => Self::Postgres(postgres::PostgresProbe::new(s).map_err(err)?),
            Spec::Redis(s) => Self::Redis(redis::RedisProbe::new(s)),
            Spec::Http(s) => Self::Http(http::HttpProbe::new(s).map_err(err)?),
            Spec::FileFreshness(s) => Self::FileFreshness(file_freshness::FreshnessProbe::new(s)),
            Spec::S3(s) => Self::S3(s3::S3Probe::new(s).map_err(err)?),
            Spec::Docker(s) => Self::Docker(drift::DriftProbe::new(s)),
            Spec::Canary(s) => Self::Canary(canary::CanaryProbe::new(s).map_err(err)?),
        })
    }

    /// Runs the check once. Never panics on a bad target; time limits are
    /// the runner's job.
    pub async fn run(&self) -> Outcome {
        match self {
            Self::Postgres(p) => p.run().await,
            Self::Redis(p) => p.run().await,
            Self::Http(p) => p.run().await,
            Self::FileFreshness(p) => p.run().await,
            Self::S3(p) => p.run().await,
            Self::Docker(p) => p.run().await,
            Self::Canary(p) => p.run().await,
        }
    }
}
