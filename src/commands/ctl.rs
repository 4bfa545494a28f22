//! `ops-gen ctl summary | logs | bundle | frontend-logs`: the client of a
//! remote `ops-gen serve` ([`crate::ctl`]). Answers are JSON, pretty on a
//! terminal and one line in a pipe (jq reads either), or text as the server
//! sent it (`logs --plain`). A server that answers an error or cannot be
//! reached is exit 1; no URL or token is exit 2.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::{Outcome, block_on, usage};
use crate::cli::{CtlArgs, CtlBundleArgs, CtlCommand};
use crate::ctl::{Answer, Client, CtlError};

/// A bundle saved from the server. Field order is the JSON's.
#[derive(Debug, Serialize)]
struct Saved<'a> {
    bytes: usize,
    /// The server collected every part (not a partial bundle).
    complete: bool,
    file: &'a Path,
}

/// `ctl …`: one call to the server's ops API, its answer on stdout.
pub fn ctl(args: &CtlArgs) -> Result<Outcome> {
    block_on(async {
        let client = Client::from_env(args.url.as_deref()).map_err(usage)?;
        let answer = match &args.command {
            CtlCommand::Summary => client.get("context", &[]).await,
            CtlCommand::Logs(logs) => {
                let mut query = vec![("service", logs.service.clone()), ("tail", logs.tail.to_string())];
                if let Some(since) = &logs.since {
                    query.push(("since", since.clone()));
                }
                query.push(("format", if logs.plain { "plain" } else { "json" }.to_owned()));
                client.get("logs", &query).await
            }
            CtlCommand::FrontendLogs(since) => {
                let query: Vec<(&str, String)> = since.since.iter().map(|s| ("since", s.clone())).collect();
                client.get("frontend-logs", &query).await
            }
            CtlCommand::Bundle(bundle) => return save_bundle(&client, bundle).await,
        };
        match answer {
            Ok(answer) => print_answer(&answer),
            Err(e) => Ok(failed(&e)),
        }
    })
}

/// The server's error, or no server: said on stderr, exit 1.
fn failed(e: &CtlError) -> Outcome {
    eprintln!("error: {e}");
    Outcome::ProblemsFound
}

/// `ctl bundle`: download a fresh bundle, write it, and show where.
async fn save_bundle(client: &Client, args: &CtlBundleArgs) -> Result<Outcome> {
    let answer = match client.get("support-bundle", &[]).await {
        Ok(answer) => answer,
        Err(e) => return Ok(failed(&e)),
    };
    let path = crate::ctl::bundle_path(args.out.as_deref(), answer.disposition.as_deref());
    if let Err(source) = std::fs::write(&path, &answer.body) {
        return Ok(failed(&CtlError::Write { path, source }));
    }
    let complete = answer.bundle.as_deref() != Some("partial");
    print_json(&Saved { bytes: answer.body.len(), complete, file: &path })?;
    Ok(Outcome::Ok)
}

/// A text answer as it came; a JSON one through [`print_json`].
fn print_answer(answer: &Answer) -> Result<Outcome> {
    if answer.content_type.starts_with("text/plain") {
        std::io::stdout().lock().write_all(&answer.body)?;
    } else {
        let value: serde_json::Value =
            serde_json::from_slice(&answer.body).context("the server's answer is not JSON")?;
        print_json(&value)?;
    }
    Ok(Outcome::Ok)
}

/// Pretty on a terminal, one line in a pipe.
fn print_json(value: &impl Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if std::io::stdout().is_terminal() {
        serde_json::to_writer_pretty(&mut out, value)?;
    } else {
        serde_json::to_writer(&mut out, value)?;
    }
    writeln!(out)?;
    Ok(())
}
