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

use serde::Serialize;

use crate::config::checks::{Kind, Spec};

/// The failure reasons a kind can report; their counters start at zero.
#[must_use]
pub const fn reasons(kind: Kind) -> &'static [Reason] {
    match kind {
        Kind::Postgres => postgres::REASONS,
        Kind::Redis => redis::REASONS,
        Kind::Http => http::REASONS,
        Kind::FileFreshness => file_freshness::REASONS,
        Kind::S3 => s3::REASONS,
        Kind::Docker => drift::REASONS,
        Kind::Canary => canary::REASONS,
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
