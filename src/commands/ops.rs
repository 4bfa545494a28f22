//! `ops-gen doctor | health | smoke | bundle | storage status | storage
//! clean`: the operator's chores of [`crate::ops`]. Each chore returns a
//! typed report that its module also renders for people; this file turns the
//! arguments into the chore's options, prints the report (or `--json`), and
//! asks before `storage clean` deletes anything.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use super::{Confirmation, Outcome, block_on, confirm, inputs, load, print_report, print_text, usage};
use crate::cli::{BundleArgs, Cli, HealthArgs, SmokeArgs, StorageCleanArgs};
use crate::compose::Project;
use crate::config::Loaded;
use crate::ops::{bundle, doctor, health, smoke, storage};

/// `doctor`: the preflight checks, the config, targets, backups and clock.
pub fn doctor(cli: &Cli) -> Result<Outcome> {
    block_on(async {
        let loaded = load(cli)?;
        let inputs = inputs(&loaded)?;
        let ctx = inputs.context(&loaded.config);
        let project = Project::new(&ctx, &inputs.base);
        let report = doctor::run(&loaded, &ctx, &project).await;
        print_report(cli, &report, |color| doctor::render(&report, color))?;
        Ok(Outcome::of(report.success))
    })
}

/// `health`: each ops component and target at its own health endpoint.
pub fn health(cli: &Cli, args: &HealthArgs) -> Result<Outcome> {
    block_on(async {
        let loaded = load(cli)?;
        let report = health::run(&loaded.config, Duration::from_secs(args.timeout)).await?;
        print_report(cli, &report, |color| health::render(&report, color))?;
        Ok(Outcome::of(report.success))
    })
}

/// `smoke`: the end-to-end steps, recorded under `output/smoke/`.
pub fn smoke(cli: &Cli, args: &SmokeArgs) -> Result<Outcome> {
    block_on(async {
        let loaded = load(cli)?;
        let inputs = inputs(&loaded)?;
        let ctx = inputs.context(&loaded.config);
        let report = smoke::run(&ctx, &smoke::Options { step_timeout: Duration::from_secs(args.timeout) }).await;
        let written = smoke::record(Path::new(smoke::DIR), &report).map_err(usage)?;
        print_report(cli, &report, |color| {
            format!("{}result: {}\n", smoke::render(&report, color), written.display())
        })?;
        Ok(Outcome::of(report.success))
    })
}

/// `bundle`: the diagnostics bundle, redacted, in one `.tar.gz`.
pub fn bundle(cli: &Cli, args: &BundleArgs) -> Result<Outcome> {
    block_on(async {
        let loaded = load(cli)?;
        let project = Project::load(&loaded).map_err(usage)?;
        let options = bundle::Options {
            out: args.out.clone(),
            tail: args.tail,
            part_timeout: Duration::from_secs(args.timeout),
            max_bytes: args.max_size.as_u64(),
            ..bundle::Options::default()
        };
        let report = Box::pin(bundle::collect(&loaded, &project, &options)).await.map_err(usage)?;
        print_report(cli, &report, |_| bundle::render(&report))?;
        Ok(Outcome::of(report.complete))
    })
}

/// The config, the folders it writes and the Compose project's name.
fn storage_inputs(cli: &Cli) -> Result<(Loaded, storage::Folders, String)> {
    let loaded = load(cli)?;
    let inputs = inputs(&loaded)?;
    let folders = storage::Folders::of(&loaded.config, &inputs.base);
    Ok((loaded, folders, inputs.project))
}

/// `storage status`: the profile's volumes and output folders against
/// `profile.disk_budget`.
pub fn storage_status(cli: &Cli) -> Result<Outcome> {
    block_on(async {
        let (loaded, folders, project) = storage_inputs(cli)?;
        let report = storage::status(&project, &folders, loaded.config.profile.disk_budget).await;
        print_report(cli, &report, |_| storage::render_status(&report))?;
        Ok(Outcome::of(report.within_budget))
    })
}

/// `storage clean`: show what retention would delete, then (confirmed, or
/// `--yes`) delete it; `--dry-run` only shows.
pub fn storage_clean(cli: &Cli, args: &StorageCleanArgs) -> Result<Outcome> {
    let (loaded, folders, _) = storage_inputs(cli)?;
    let keep = usize::try_from(args.keep).unwrap_or(usize::MAX);
    let plan = storage::plan(&loaded.config, &folders, keep, SystemTime::now());
    if args.dry_run || plan.removals.is_empty() {
        print_report(cli, &plan, |_| storage::render_plan(&plan))?;
        return Ok(Outcome::Ok);
    }
    // Asking, the plan goes with the question (stderr); told `--yes`, it is
    // the first part of the text output.
    if !args.yes {
        eprint!("{}", storage::render_plan(&plan));
    } else if !cli.json {
        print_text(&storage::render_plan(&plan))?;
    }
    let confirmation = Confirmation {
        word: "clean",
        question: "Type `clean` to delete these: ",
        refusal: "refusing to delete without confirmation: run it in a terminal, or pass --yes (--dry-run only shows)",
        declined: "not confirmed; nothing deleted",
    };
    if !confirm(args.yes, &confirmation)? {
        return Ok(Outcome::ProblemsFound);
    }
    let report = storage::clean(&loaded.config, &folders, plan);
    print_report(cli, &report, |_| storage::render_clean(&report))?;
    Ok(Outcome::of(report.failed.is_empty()))
}
