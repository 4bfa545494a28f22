//! The commands as a user meets them: each `ops-gen` command takes the
//! parsed [`Cli`] and its arguments, calls the library layer that owns the
//! work, and shows the typed result, as text for people or, with `--json`,
//! serialized from the same struct. This module holds what every command
//! shares, so it is written once: how a command ends ([`Outcome`],
//! [`UsageError`]), loading the config, the one typed confirmation before a
//! destructive step, the progress spinners, printing a report, and the async
//! runtime. `main.rs` only dispatches here and turns the result into an
//! exit code.
//!
//! One file per command family: [`backup`], [`compose`] (also `k8s
//! generate`), [`ops`] (doctor, health, smoke, bundle, storage), [`jobs`],
//! [`serve`] (also `healthcheck`), [`probe`], [`config`] (also init,
//! runbook, completions, man) and [`ctl`].

pub mod backup;
pub mod compose;
pub mod config;
pub mod ctl;
pub mod jobs;
pub mod ops;
pub mod probe;
pub mod serve;

use std::io::{IsTerminal as _, Write as _};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::cli::Cli;
use crate::config::{Loaded, Source};

/// How a command ended, when it ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// A check found problems, or the user declined: exit 1.
    ProblemsFound,
}

impl Outcome {
    /// `Ok` when `success`, else `ProblemsFound`.
    #[must_use]
    pub fn of(success: bool) -> Self {
        if success { Self::Ok } else { Self::ProblemsFound }
    }
}

/// A bad request from the user (not the config): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `error` as a [`UsageError`], for `map_err`: its message, exit 2.
fn usage(error: impl std::fmt::Display) -> anyhow::Error {
    UsageError(error.to_string()).into()
}

/// Loads the config (`--config`, else `ops-gen.yml` here, else the
/// defaults), noting on stderr when the defaults stand in for a file `ops-gen
/// init` could write.
pub fn load(cli: &Cli) -> Result<Loaded> {
    let loaded = Loaded::load(cli.config.as_deref())?;
    if loaded.source == Source::Defaults
        && let Some(compose) = crate::stack::compose_file(std::path::Path::new("."))
    {
        eprintln!(
            "note: no ops-gen.yml here, using the built-in defaults; `ops-gen init` writes one from {}",
            compose.display()
        );
    }
    Ok(loaded)
}

/// The app's compose files and the profile's settings around `loaded`; an
/// app that cannot be read is a usage error.
fn inputs(loaded: &Loaded) -> Result<crate::profile::Inputs> {
    crate::profile::Inputs::load(loaded).map_err(usage)
}

/// A destructive step the user confirms by typing a word.
#[derive(Debug)]
pub struct Confirmation<'a> {
    /// What to type: `restore`, `clean`, the project's name.
    pub word: &'a str,
    /// Shown before the answer is read (ends where the user types).
    pub question: &'a str,
    /// The error without a terminal to ask on (exit 2).
    pub refusal: &'a str,
    /// Said when the answer is not `word`.
    pub declined: &'a str,
}

/// Whether to go on: at once with `yes`, else when the user types the word
/// on a terminal. Without a terminal (and without `yes`) it refuses with a
/// [`UsageError`]; another answer is `false`, after saying so on stderr.
pub fn confirm(yes: bool, confirmation: &Confirmation<'_>) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(confirmation.refusal.to_owned()).into());
    }
    eprint!("{}", confirmation.question);
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() == confirmation.word {
        return Ok(true);
    }
    eprintln!("{}", confirmation.declined);
    Ok(false)
}

/// A spinner per target on a terminal's stderr; nothing when piped, with
/// `--json` or `-q`.
#[derive(Debug)]
pub struct Spinners {
    verb: &'static str,
    show: bool,
    /// Progress as plain lines on stderr (no terminal, no `--json`/`-q`).
    lines: bool,
    bars: Mutex<Vec<(String, indicatif::ProgressBar)>>,
}

impl Spinners {
    /// Spinners saying `verb target…`, when `cli` allows them.
    #[must_use]
    pub fn for_cli(cli: &Cli, verb: &'static str) -> Self {
        let wanted = !cli.json && !cli.quiet;
        let show = wanted && std::io::stderr().is_terminal();
        Self { verb, show, lines: wanted && !show, bars: Mutex::new(Vec::new()) }
    }

    /// Says how `target` is doing: on its spinner on a terminal, else as a
    /// line on stderr (nothing with `--json` or `-q`).
    pub fn update(&self, target: &str, message: &str) {
        if self.lines {
            eprintln!("{target}: {message}");
            return;
        }
        let bars = self.bars.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, bar)) = bars.iter().find(|(t, _)| t == target) {
            bar.set_message(format!("{} {target}: {message}", self.verb));
        }
    }
}

impl crate::backup::run::Progress for Spinners {
    fn started(&self, target: &str) {
        if !self.show {
            return;
        }
        let bar = indicatif::ProgressBar::new_spinner().with_message(format!("{} {target}…", self.verb));
        bar.enable_steady_tick(Duration::from_millis(100));
        self.bars.lock().unwrap_or_else(PoisonError::into_inner).push((target.to_owned(), bar));
    }

    fn finished(&self, target: &str) {
        let mut bars = self.bars.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = bars.iter().position(|(t, _)| t == target) {
            bars.remove(i).1.finish_and_clear();
        }
    }
}

/// Whether output may be coloured: not with `--no-color` or a non-empty
/// `NO_COLOR`. (Callers also ask whether the stream is a terminal.)
#[must_use]
pub fn color_allowed(cli: &Cli) -> bool {
    !cli.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Prints `report` as JSON with `--json`, else the text `render` makes
/// (told whether to colour it: on a terminal, unless colours are off).
pub fn print_report(cli: &Cli, report: &impl Serialize, render: impl FnOnce(bool) -> String) -> Result<()> {
    if cli.json {
        print_json(report)
    } else {
        print_text(&render(color_allowed(cli) && std::io::stdout().is_terminal()))
    }
}

/// Prints `text` on stdout as it is. Unlike `print!`, a closed pipe is an
/// error the caller returns (and `main` treats as the end), not a panic.
fn print_text(text: &str) -> Result<()> {
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// Prints `value` as pretty JSON and a newline on stdout.
fn print_json(value: &impl Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Serializes `value` with the keys of its objects sorted, as `--json`
/// printed them when these reports were built with `json!`: keeps that
/// output byte for byte.
fn sorted_keys<S: serde::Serializer>(value: &impl Serialize, serializer: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(value).map_err(serde::ser::Error::custom)?.serialize(serializer)
}

/// Runs an async command to its end on a runtime of its own.
fn block_on(command: impl Future<Output = Result<Outcome>>) -> Result<Outcome> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(command)
}
