//! The operator's chores: commands that answer one question in one screen,
//! with exit codes a script can trust.
//!
//! - [`init`]: a first `ops-gen.yml` from the stack's compose file.
//! - [`doctor`]: is this host ready: engine, CLI, ports, disk, memory,
//!   config, targets, backup folder, `pg_dump`, clock.
//! - [`health`]: is each running piece up, asked at its own health endpoint.
//! - [`runbook`]: recovery procedures, the same pages alerts link to.
//! - [`smoke`]: does the profile do its job end to end (targets scraped,
//!   rules loaded, dashboards provisioned, logs stored, app checks pass)?

pub mod doctor;
pub mod health;
pub mod init;
pub mod runbook;
pub mod smoke;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::probe::BuildError;
use crate::probe::runner::{FailureLedger, Mode, Runner, Snapshot};

/// Runs every check of `config` once, now, concurrently, each under its own
/// timeout (`ops-gen probe`; `doctor` and `health` through [`run_targets`]).
pub async fn run_once(config: &Config) -> Result<Snapshot, BuildError> {
    let runner = Runner::new(config, &Arc::new(FailureLedger::default()), None)?;
    let longest = runner.checks().iter().map(|c| c.spec.common().timeout()).max().unwrap_or_default();
    Ok(runner.collect(Instant::now() + longest + Duration::from_millis(100), Mode::Everything).await)
}

/// The same for the `targets` only (the stack's data stores), leaving out
/// smoke, freshness and canary checks.
pub async fn run_targets(config: &Config) -> Result<Snapshot, BuildError> {
    let mut targets = config.clone();
    targets.checks.clear();
    targets.canaries.clear();
    run_once(&targets).await
}
