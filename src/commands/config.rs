//! `ops-gen config check`, `init`, `runbook`, `completions` and `man`: the
//! commands about ops-gen itself (its config, its pages, its shell
//! integration) rather than the stack.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;
use serde::Serialize;

use super::{Outcome, UsageError, load, print_json, print_report, print_text, usage};
use crate::cli::{Cli, CompletionsArgs, InitArgs, RunbookArgs};
use crate::ops::init::{self, Role};
use crate::runbook::{self, Runbook};

/// `config check`: load and validate the config, and print it resolved
/// with secrets masked (YAML, or `--json`).
pub fn check(cli: &Cli) -> Result<Outcome> {
    let loaded = load(cli)?;
    if cli.json {
        print_json(&loaded.config).context("cannot print the config")?;
    } else {
        let yaml = serde_norway::to_string(&loaded.config).context("cannot print the config")?;
        print_text(&format!("# {}: valid. Resolved config, secrets masked:\n{yaml}", loaded.source.label()))?;
    }
    Ok(Outcome::Ok)
}

/// `init`: write a first `ops-gen.yml` from the app's compose file, and say
/// what it found in each service. (No `--json`: its output is the file.)
pub fn init(cli: &Cli, args: &InitArgs) -> Result<Outcome> {
    let target = cli.config.clone().unwrap_or_else(|| crate::config::DEFAULT_PATH.into());
    if target.exists() && !args.force {
        return Err(UsageError(format!("{} exists; pass --force to overwrite it", target.display())).into());
    }
    let compose = match &args.file {
        Some(file) => file.clone(),
        None => crate::stack::compose_file(Path::new(".")).ok_or_else(|| usage(init::InitError::NoComposeFile))?,
    };
    let found = init::detect(&compose).map_err(usage)?;
    let text = init::render(&compose, &found);
    std::fs::write(&target, text).with_context(|| format!("cannot write {}", target.display()))?;
    let mut out = String::new();
    for f in &found {
        let what = match (&f.role, &f.published) {
            (Role::Postgres { .. }, _) => "PostgreSQL target",
            (Role::Redis { .. }, _) => "Redis target",
            (Role::ObjectStore, _) => "S3 store: add a kind: s3 target (bucket and keys are yours)",
            (Role::App, Some(_)) => "http check",
            (Role::App, None) => "no published port, skipped",
        };
        let _ = writeln!(out, "  {:<20} {what}", f.service);
    }
    let _ = writeln!(
        out,
        "wrote {} from {}; next: ops-gen config check, then ops-gen probe",
        target.display(),
        compose.display()
    );
    print_text(&out)?;
    Ok(Outcome::Ok)
}

/// A runbook as `runbook --json` shows it: the page's text only when one
/// page is asked for. Field order is the JSON's.
#[derive(Debug, Serialize)]
struct Page {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'static str>,
    title: &'static str,
    topic: &'static str,
    when: String,
}

impl Page {
    fn of(runbook: &Runbook, with_text: bool) -> Self {
        Self {
            text: with_text.then_some(runbook.text),
            title: runbook.title(),
            topic: runbook.topic,
            when: runbook.when(),
        }
    }
}

/// `runbook [TOPIC]`: list the recovery procedures, or print one.
pub fn runbook(cli: &Cli, args: &RunbookArgs) -> Result<Outcome> {
    match &args.topic {
        None => {
            let pages: Vec<Page> = runbook::ALL.iter().map(|r| Page::of(r, false)).collect();
            print_report(cli, &pages, |_| {
                let width = pages.iter().map(|p| p.topic.len()).max().unwrap_or(0);
                let mut out = String::new();
                for p in &pages {
                    let _ = writeln!(out, "{:<width$}  {}", p.topic, p.title);
                }
                out.push_str("\nPrint one with: ops-gen runbook TOPIC\n");
                out
            })?;
        }
        Some(topic) => {
            let page = Page::of(runbook::find(topic).map_err(UsageError)?, true);
            print_report(cli, &page, |_| page.text.unwrap_or_default().to_owned())?;
        }
    }
    Ok(Outcome::Ok)
}

/// `completions SHELL`: the completion script for the shell.
pub fn completions(args: &CompletionsArgs) -> Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "ops-gen", &mut script);
    std::io::stdout().write_all(&script)?;
    Ok(Outcome::Ok)
}

/// `man`: the man page, in roff.
pub fn man() -> Result<Outcome> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    std::io::stdout().write_all(&page)?;
    Ok(Outcome::Ok)
}
