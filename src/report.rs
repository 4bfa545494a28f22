//! How check results are shown to people (`ops-gen probe`): an aligned
//! table, or JSON for scripts.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::checks::Kind;
use crate::probe::Outcome;
use crate::probe::runner::Snapshot;

/// One check's result, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct CheckReport<'a> {
    pub name: &'a str,
    pub kind: Kind,
    pub success: bool,
    pub duration_seconds: f64,
    /// RFC 3339, UTC.
    pub finished_at: Option<String>,
    #[serde(flatten)]
    pub outcome: Option<&'a Outcome>,
}

/// `ops-gen probe --json`.
#[derive(Debug, Serialize)]
pub struct ProbeReport<'a> {
    pub success: bool,
    pub checks: Vec<CheckReport<'a>>,
}

impl<'a> ProbeReport<'a> {
    #[must_use]
    pub fn new(snapshot: &'a Snapshot) -> Self {
        let checks = snapshot
            .entries
            .iter()
            .map(|(check, result)| CheckReport {
                name: &check.name,
                kind: check.kind(),
                success: result.as_ref().is_some_and(|r| r.outcome.is_success()),
                duration_seconds: result.as_ref().map_or(0.0, |r| r.duration.as_secs_f64()),
                finished_at: result.as_ref().map(|r| humantime::format_rfc3339_millis(r.finished).to_string()),
                outcome: result.as_ref().map(|r| &r.outcome),
            })
            .collect();
        Self { success: snapshot.all_succeeded(), checks }
    }
}

/// The human table, one line per check.
#[must_use]
pub fn table(snapshot: &Snapshot, color: bool, now: SystemTime) -> String {
    let rows: Vec<[String; 5]> = snapshot
        .entries
        .iter()
        .map(|(check, result)| {
            let (status, time, detail) = match result {
                None => ("PENDING".to_owned(), "–".to_owned(), "not run yet".to_owned()),
                Some(r) => {
                    let status = if r.outcome.is_success() { "ok" } else { "FAIL" };
                    let detail = match &r.outcome.failure {
                        Some(f) => format!("{}: {}", f.reason, f.message),
                        None => r.outcome.describe(now),
                    };
                    (status.to_owned(), format_ms(r.duration), detail)
                }
            };
            [check.name.clone(), check.kind().to_string(), status, time, detail]
        })
        .collect();
    let header = ["CHECK", "KIND", "RESULT", "TIME", "DETAIL"];
    let mut out = aligned(header, &rows, "", |n, i, cell, padded| {
        if color && n > 0 && i == 2 {
            let code = if cell == "ok" { "32" } else { "31;1" };
            format!("\x1b[{code}m{padded}\x1b[0m")
        } else {
            padded
        }
    });
    if rows.is_empty() {
        out.push_str("(no checks configured)\n");
    }
    for (check, result) in &snapshot.entries {
        if let Some(state) = result.as_ref().and_then(|r| r.outcome.found::<crate::probe::docker::State>()) {
            out.push('\n');
            out.push_str(&drift_table(&check.name, state));
        }
    }
    out
}

/// The services of a `docker` check, one line each, then what drifts in
/// words and the command that fixes it.
#[must_use]
pub fn drift_table(check: &str, state: &crate::probe::docker::State) -> String {
    let rows: Vec<[String; 5]> = state
        .services
        .iter()
        .map(|s| {
            let running = if s.declared {
                format!("{}/{}", s.running, s.replicas)
            } else {
                format!("{} (undeclared)", s.running)
            };
            let health = match (s.up, s.healthy) {
                (false, _) => "down",
                (true, true) => "healthy",
                (true, false) => "unhealthy",
            };
            let drift = if s.drift.is_empty() {
                "none".to_owned()
            } else {
                s.drift.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
            };
            [s.service.clone(), running, health.to_owned(), s.restarts.to_string(), drift]
        })
        .collect();
    let header = ["SERVICE", "RUNNING", "HEALTH", "RESTARTS", "DRIFT"];
    let mut out = format!("{check}: Compose project `{}`\n", state.project);
    out.push_str(&aligned(header, &rows, "  ", |_, _, _, padded| padded));
    for s in state.services.iter().filter(|s| !s.notes.is_empty()) {
        for note in &s.notes {
            let _ = writeln!(out, "  - {}: {note}", s.service);
        }
    }
    out
}

/// Rows under a header, each line indented, the first four columns padded
/// to their widest cell and the last one left free. `style` may dress a
/// padded cell: it gets the row number (0 is the header), the column, the
/// cell and its padded form.
fn aligned(
    header: [&str; 5],
    rows: &[[String; 5]],
    indent: &str,
    style: impl Fn(usize, usize, &str, String) -> String,
) -> String {
    let header = header.map(str::to_owned);
    let widths: Vec<usize> =
        (0..4).map(|i| rows.iter().chain([&header]).map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (n, row) in [&header].into_iter().chain(rows).enumerate() {
        out.push_str(indent);
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            out.push_str(&style(n, i, cell, format!("{cell:<width$}  ")));
        }
        out.push_str(&row[4]);
        out.push('\n');
    }
    out
}

/// A short duration for a table: `4.1 ms`, `230 ms`.
#[must_use]
pub fn format_ms(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{} ms", d.as_millis())
    }
}
