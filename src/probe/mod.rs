//! Checks: what each kind of check does when it runs.
//!
//! A check is a named instance of a kind, configured by its
//! [`Spec`] (the one enum of kinds, in
//! `config/checks/`) and run by the [`runner`], which owns timeouts,
//! concurrency, reuse of recent results and the standard series every check
//! emits. A probe only says what it found: an [`Outcome`] holding its kind's
//! own facts (a [`Found`]) and, when it failed, a [`Failure`] with a
//! [`Reason`] from a small fixed set.
//!
//! Each kind's file here owns its behaviour: the probe (built once, its
//! `check` run on every scrape or schedule), its `REASONS`, the type of what
//! it found with its report line ([`Found::describe`]), and the series made
//! from it (`series`, called by [`encode_series`]).
//!
//! # Adding a check kind
//! ARCHITECTURE.md has the checklist: its settings in
//! `config/checks/<kind>.rs`, one variant in `Spec`, its behaviour in
//! `probe/<kind>.rs`, the `match` arms the compiler then asks for, fixtures
//! and tests.

pub mod canary;
pub mod docker;
pub mod file_freshness;
pub mod http;
pub mod postgres;
pub mod redis;
pub mod runner;
pub mod s3;

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use std::time::SystemTime;

use futures::future::BoxFuture;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use strum::IntoEnumIterator as _;

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
        Kind::Docker => docker::REASONS,
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

/// What a probe found beyond success: its kind's own facts (a server
/// version, a persistence state). The kind's file defines the type, its
/// report line and the series made from it; everything else sees the facts
/// through [`Outcome::found`] or as JSON.
pub trait Found: Any + fmt::Debug + Send + Sync + AsJson {
    /// What a successful check found, in a few words, for tables and pages.
    fn describe(&self, now: SystemTime) -> String;
}

/// The JSON form of a [`Found`] (`/status.json`, the context, `--json`);
/// every serializable type has it.
pub trait AsJson {
    fn as_json(&self) -> serde_json::Value;
}

impl<T: Serialize> AsJson for T {
    fn as_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// A check and its last result (none before its first run), as the series
/// of one scrape see them.
pub type Entry<'a> = (&'a runner::Check, Option<&'a runner::Completed>);

/// The kind-specific series of a scrape: each kind's families come from its
/// own file, over the checks of that kind. (The standard series every check
/// has are the exporter's.)
pub fn encode_series(entries: &[Entry<'_>], enc: &mut DescriptorEncoder) -> fmt::Result {
    for kind in Kind::iter() {
        let of_kind: Vec<Entry<'_>> = entries.iter().copied().filter(|(check, _)| check.kind() == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        match kind {
            Kind::Postgres => postgres::series(&of_kind, enc)?,
            Kind::Redis => redis::series(&of_kind, enc)?,
            Kind::S3 => s3::series(&of_kind, enc)?,
            Kind::Docker => docker::series(&of_kind, enc)?,
            Kind::Canary => canary::series(&of_kind, enc)?,
            // An `http` check has only the standard series; a
            // `file_freshness` check's results feed the backup families,
            // which it shares with ops-gen's own sets.
            Kind::Http | Kind::FileFreshness => {}
        }
    }
    Ok(())
}

/// The checks' last results that found a `T`, in check order.
fn details_of<'a, T: Found>(entries: &[Entry<'a>]) -> Vec<(&'a str, &'a T)> {
    entries
        .iter()
        .filter_map(|(check, result)| result.and_then(|r| r.outcome.found::<T>()).map(|d| (check.name.as_str(), d)))
        .collect()
}

/// One gauge family labelled `target` (the check's name), one sample per
/// row; nothing when there are no rows.
fn target_gauge<T>(
    enc: &mut DescriptorEncoder,
    (name, help): (&str, &str),
    rows: &[(&str, &T)],
    value: impl Fn(&T) -> f64,
) -> fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (target, details) in rows {
        family.encode_family(&[("target", *target)])?.encode_gauge(&value(details))?;
    }
    Ok(())
}

/// The result of one run of one check.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What the probe found (also when it failed, where the kind says more
    /// than the failure: the stale file, the drifting services).
    pub details: Option<Arc<dyn Found>>,
    pub failure: Option<Failure>,
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        if let Some(details) = &self.details {
            map.serialize_entry("details", &details.as_json())?;
        }
        if let Some(failure) = &self.failure {
            map.serialize_entry("failure", failure)?;
        }
        map.end()
    }
}

impl Outcome {
    /// Success, with what the probe found.
    #[must_use]
    pub fn ok(found: impl Found) -> Self {
        Self::with(found, None)
    }

    /// Success, with nothing beyond it.
    #[must_use]
    pub fn success() -> Self {
        Self { details: None, failure: None }
    }

    pub fn failed(reason: Reason, message: impl Into<String>) -> Self {
        Self { details: None, failure: Some(Failure::new(reason, message)) }
    }

    /// What the probe found, and how it failed if it did.
    #[must_use]
    pub fn with(found: impl Found, failure: Option<Failure>) -> Self {
        Self { details: Some(Arc::new(found)), failure }
    }

    #[must_use]
    pub fn is_success(&self) -> bool {
        self.failure.is_none()
    }

    /// The facts the probe found, when they are a `T` (a kind's own type).
    #[must_use]
    pub fn found<T: Found>(&self) -> Option<&T> {
        let found: &dyn Any = self.details.as_deref()?;
        found.downcast_ref()
    }

    /// What a successful check found, in a few words ("" when nothing).
    #[must_use]
    pub fn describe(&self, now: SystemTime) -> String {
        self.details.as_ref().map_or_else(String::new, |d| d.describe(now))
    }
}

/// A check ready to run: the spec turned into clients, built once and reused.
#[derive(Debug)]
pub struct Probe(Box<dyn Run>);

/// What each kind's probe does (its `async fn check`, boxed).
pub trait Run: fmt::Debug + Send + Sync {
    /// Runs the check once. Never panics on a bad target; time limits are
    /// the runner's job.
    fn run(&self) -> BoxFuture<'_, Outcome>;
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
        Ok(Self(match spec {
            Spec::Postgres(s) => Box::new(postgres::PostgresProbe::new(s).map_err(err)?),
            Spec::Redis(s) => Box::new(redis::RedisProbe::new(s)),
            Spec::Http(s) => Box::new(http::HttpProbe::new(s).map_err(err)?),
            Spec::FileFreshness(s) => Box::new(file_freshness::FreshnessProbe::new(s)),
            Spec::S3(s) => Box::new(s3::S3Probe::new(s).map_err(err)?),
            Spec::Docker(s) => Box::new(docker::DriftProbe::new(s)),
            Spec::Canary(s) => Box::new(canary::CanaryProbe::new(s).map_err(err)?),
        }))
    }

    /// Runs the check once. Never panics on a bad target; time limits are
    /// the runner's job.
    pub async fn run(&self) -> Outcome {
        self.0.run().await
    }
}
