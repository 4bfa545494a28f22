//! The scheduler's memory: `output/jobs/state.json` (`schedule.state`).
//!
//! One [`Record`] per job: the last run and its result, the last success,
//! and how far the clock's ticks were handled (`scheduled_through`), which
//! is what catch-up after downtime compares the schedule against. `serve`
//! and `ops-gen jobs run` both write it, each through [`update`]: read,
//! merge, replace atomically ([`crate::output::write_atomically`]), so a
//! run recorded by one is not lost by the other's next write.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::RunResult;

/// The file's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub jobs: BTreeMap<String, Record>,
}

/// What is known of one job. Times are Unix seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Every tick of the job's schedule up to here was handled (run,
    /// skipped or counted missed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_through: Option<f64>,
    /// When the last run (that succeeded or failed) finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<f64>,
    /// How long the last run took.
    #[serde(default)]
    pub last_duration_seconds: f64,
    /// The last attempt's result (a skip for a held lock included), when,
    /// and what it said: the set it took, the error, who held the lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result: Option<RunResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_detail: Option<String>,
}

fn later(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl Record {
    /// Both records' knowledge: each time at its latest, the result of the
    /// newer attempt, the duration of the newer run.
    #[must_use]
    pub fn merged(&self, other: &Self) -> Self {
        let newer_attempt =
            if other.last_result_at.unwrap_or(0.0) > self.last_result_at.unwrap_or(0.0) { other } else { self };
        let newer_run = if other.last_run.unwrap_or(0.0) > self.last_run.unwrap_or(0.0) { other } else { self };
        Self {
            scheduled_through: later(self.scheduled_through, other.scheduled_through),
            last_run: later(self.last_run, other.last_run),
            last_success: later(self.last_success, other.last_success),
            last_duration_seconds: newer_run.last_duration_seconds,
            last_result: newer_attempt.last_result,
            last_result_at: newer_attempt.last_result_at,
            last_detail: newer_attempt.last_detail.clone(),
        }
    }
}

impl State {
    /// Reads `path`; an absent or unreadable file is an empty state (the
    /// scheduler starts over: nothing is counted missed).
    #[must_use]
    pub fn read(path: &Path) -> Self {
        std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
    }
}

/// Merges `records` into the file at `path` (its folder made owner-only
/// when missing) and returns what it holds now.
pub fn update(path: &Path, records: &BTreeMap<String, Record>) -> std::io::Result<State> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::output::create_private_dir_all(dir)?;
    }
    let mut state = State::read(path);
    for (name, record) in records {
        let merged = state.jobs.get(name).map_or_else(|| record.clone(), |on_disk| on_disk.merged(record));
        state.jobs.insert(name.clone(), merged);
    }
    let bytes = serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?;
    crate::output::write_atomically(path, &bytes)?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_keeps_the_newest_of_each() {
        let serve = Record {
            scheduled_through: Some(100.0),
            last_run: Some(90.0),
            last_success: Some(90.0),
            last_duration_seconds: 3.0,
            last_result: Some(RunResult::Ok),
            last_result_at: Some(90.0),
            last_detail: Some("set a".into()),
        };
        let cli = Record {
            last_run: Some(95.0),
            last_duration_seconds: 5.0,
            last_result: Some(RunResult::Failed),
            last_result_at: Some(95.0),
            last_detail: Some("boom".into()),
            ..Record::default()
        };
        let m = serve.merged(&cli);
        assert_eq!((m.scheduled_through, m.last_run, m.last_success), (Some(100.0), Some(95.0), Some(90.0)));
        assert_eq!(
            (m.last_result, m.last_detail.as_deref(), m.last_duration_seconds),
            (Some(RunResult::Failed), Some("boom"), 5.0)
        );
        assert_eq!(cli.merged(&serve), m);
    }

    #[test]
    fn updates_merge_with_the_file_and_survive_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs/state.json");
        assert_eq!(State::read(&path), State::default());
        let one = |at: f64| Record { last_run: Some(at), ..Record::default() };
        update(&path, &BTreeMap::from([("a".to_owned(), one(1.0))])).unwrap();
        let state = update(&path, &BTreeMap::from([("b".to_owned(), one(2.0))])).unwrap();
        assert_eq!(state.jobs.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(State::read(&path), state);
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(State::read(&path), State::default());
    }
}
