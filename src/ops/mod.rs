//! The operator's chores: commands that answer one question in one screen,
//! with exit codes a script can trust.
//!
//! - [`init`]: a first `ops-gen.yml` from the stack's compose file.
//! - [`doctor`]: is this host ready: engine, CLI, ports, disk, memory,
//!   config, targets, backup folder, `pg_dump`, clock.
//! - [`health`]: is each running piece up, asked at its own health endpoint.
//! - [`smoke`]: does the profile do its job end to end (targets scraped,
//!   rules loaded, dashboards provisioned, logs stored, app checks pass)?
//! - [`bundle`]: a redacted diagnostics bundle for a helper, built from
//!   [`context`] (one snapshot of the stack) and [`logs`] (log tails).
//! - [`storage`]: the volumes and output folders against the disk budget,
//!   and retention over them.

pub mod bundle;
pub mod context;
pub mod doctor;
pub mod health;
pub mod init;
pub mod logs;
pub mod smoke;
pub mod storage;

use std::path::{Path, PathBuf};
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

/// Creates `dir/name`, or `dir/name-2`, … when a run in the same second
/// took it.
pub(crate) fn unique_dir(dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let mut n = 1;
    loop {
        let path = if n == 1 { dir.join(name) } else { dir.join(format!("{name}-{n}")) };
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(e),
        }
    }
}
