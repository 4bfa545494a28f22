//! `ops-gen probe [NAME…]`: run the configured checks once (or only the
//! named ones) and show the results, for people or `--json`.

use std::time::SystemTime;

use anyhow::Result;

use super::{Outcome, UsageError, block_on, load, print_report};
use crate::cli::{Cli, ProbeArgs};
use crate::report;

/// `probe`: every target and check once; exit 1 when one fails.
pub fn probe(cli: &Cli, args: &ProbeArgs) -> Result<Outcome> {
    block_on(async {
        let mut loaded = load(cli)?;
        if !args.names.is_empty() {
            let config = &mut loaded.config;
            let known: Vec<String> = config.probes().map(|(name, _)| name.to_owned()).collect();
            if let Some(unknown) = args.names.iter().find(|n| !known.contains(n)) {
                return Err(UsageError(format!(
                    "no target or check named `{unknown}` in {}; configured: {}",
                    loaded.source.label(),
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ))
                .into());
            }
            config.targets.retain(|name, _| args.names.contains(name));
            config.checks.retain(|name, _| args.names.contains(name));
        }
        let snapshot = crate::ops::run_once(&loaded.config).await?;
        print_report(cli, &report::ProbeReport::new(&snapshot), |color| {
            report::table(&snapshot, color, SystemTime::now())
        })?;
        Ok(Outcome::of(snapshot.all_succeeded()))
    })
}
