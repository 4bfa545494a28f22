//! `ops-gen jobs [run NAME]`: the schedules of [`crate::jobs`] for people
//! and `--json`: each job's schedule, last result and next run (from the
//! state file `serve` keeps), and one job run now, here, through the same
//! code and lock rules as the scheduler.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Result;

use super::{Outcome, block_on, load, print_report, usage};
use crate::cli::{Cli, JobRunArgs};
use crate::config::HumanDuration;
use crate::jobs::{JobStatus, RunReport, RunResult};

/// `jobs`: one line per job.
pub fn list(cli: &Cli) -> Result<Outcome> {
    let loaded = load(cli)?;
    let now = SystemTime::now();
    let rows = crate::jobs::statuses(&loaded.config.schedule, now);
    print_report(cli, &rows, |_| render_list(&rows, now))?;
    Ok(Outcome::Ok)
}

fn render_list(rows: &[JobStatus], now: SystemTime) -> String {
    if rows.is_empty() {
        return "no scheduled jobs: add `schedule.jobs` to ops-gen.yml (`ops-gen init` writes a nightly backup, \
                its verification and a weekly drill)\n"
            .to_owned();
    }
    let width = |f: fn(&JobStatus) -> usize, title: &str| rows.iter().map(f).max().unwrap_or(0).max(title.len());
    let (name, schedule) = (width(|r| r.name.len(), "JOB"), width(|r| r.schedule.len(), "SCHEDULE"));
    let last = |r: &JobStatus| match (r.last_result, r.last_result_at.as_deref()) {
        (Some(result), Some(at)) => match humantime::parse_rfc3339(at) {
            Ok(at) => format!("{result}, {}", HumanDuration::ago(unix(at), now)),
            Err(_) => result.to_string(),
        },
        (Some(result), None) => result.to_string(),
        (None, _) => "never ran".to_owned(),
    };
    let lasts: Vec<String> = rows.iter().map(last).collect();
    let last_width = lasts.iter().map(String::len).max().unwrap_or(0).max("LAST RESULT".len());
    let mut out = format!(
        "{:<name$}  {:<13}  {:<schedule$}  {:<last_width$}  NEXT RUN\n",
        "JOB", "RUN", "SCHEDULE", "LAST RESULT"
    );
    for (row, last) in rows.iter().zip(&lasts) {
        let _ = writeln!(
            out,
            "{:<name$}  {:<13}  {:<schedule$}  {last:<last_width$}  {}",
            row.name,
            row.run.to_string(),
            row.schedule,
            row.next_run_at.as_deref().unwrap_or("-"),
        );
    }
    for row in rows.iter().filter(|r| matches!(r.last_result, Some(RunResult::Failed | RunResult::SkippedLocked))) {
        let _ = writeln!(out, "{}: {}", row.name, row.last_detail.as_deref().unwrap_or("no detail recorded"));
    }
    out
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// `jobs run NAME`: the job now (and the jobs after it, on success).
pub fn run(cli: &Cli, args: &JobRunArgs) -> Result<Outcome> {
    block_on(async {
        let loaded = Arc::new(load(cli)?);
        let reports = crate::jobs::run_now(loaded, &args.name).await.map_err(usage)?;
        print_report(cli, &reports, |_| render_runs(&reports))?;
        Ok(Outcome::of(reports.iter().all(|r| r.result == RunResult::Ok)))
    })
}

fn render_runs(reports: &[RunReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let state = match r.result {
            RunResult::Ok => "ok  ",
            RunResult::SkippedLocked => "SKIP",
            _ => "FAIL",
        };
        let _ = writeln!(out, "{state}  {} ({}), {:.1} s: {}", r.job, r.run, r.duration_seconds, r.detail);
    }
    out
}
