//! The desk's own rhythm: the jobs of `schedule:` that `ops-gen serve`
//! runs by itself, and `ops-gen jobs` to see them and run one now.
//!
//! [`Scheduler`] keeps one clock per job with a `cron` (a task that sleeps
//! until the next match in the section's time zone), and starts each run
//! after a random delay within `jitter`. A job never overlaps itself: a
//! tick that finds the job still running is skipped and counted
//! `skipped_overlap`. Jobs that work in the backup folder run one at a time
//! within the scheduler, and a lock held by another process (a `backup run`
//! from cron, a restore) skips the run, counted `skipped_locked`, instead
//! of waiting for it ([`task`]). A job with `after` runs after each
//! successful run of the job it names.
//!
//! What is known of each job survives restarts in a small state file
//! ([`state`]): the last run, the last success, and how far the clock's
//! ticks were handled. At start, a job whose time came while ops-gen was
//! down is counted `missed` and, with `catch_up`, run once (the missed jobs
//! one after the other, so they do not refuse each other the lock). A
//! reload rebuilds the clocks from the new config; a job that is running
//! keeps running, and every job keeps its record and counters.
//!
//! Nothing here blocks a scrape: the exporter reads [`Scheduler::list`],
//! a copy taken under short locks, and [`Scheduler::version`] tells it
//! when something changed. `ops-gen jobs run NAME` goes through the same
//! [`task::execute`] and the same lock rules ([`run_now`]).

pub mod state;
pub mod task;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::Loaded;
use crate::config::schedule::{Expression, Kind, Settings, Trigger};
use state::{Record, State};
use task::Ending;

/// What came of a job's time: the `result` label of
/// `opsgen_job_runs_total`, every value present from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    /// It ran and did its work.
    Ok,
    /// It ran and failed.
    Failed,
    /// Its time came while it was still running: not started again.
    SkippedOverlap,
    /// Another process held the backup folder: not run.
    SkippedLocked,
    /// Its time came while ops-gen was down (run once at start with
    /// `catch_up`, and that run is counted too).
    Missed,
}

impl RunResult {
    /// Every value, in label order.
    pub const ALL: [Self; 5] = [Self::Ok, Self::Failed, Self::SkippedOverlap, Self::SkippedLocked, Self::Missed];

    /// The label value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::SkippedOverlap => "skipped_overlap",
            Self::SkippedLocked => "skipped_locked",
            Self::Missed => "missed",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Ok => 0,
            Self::Failed => 1,
            Self::SkippedOverlap => 2,
            Self::SkippedLocked => 3,
            Self::Missed => 4,
        }
    }
}

impl std::fmt::Display for RunResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One job as `ops-gen jobs`, the API, the status page and `/metrics` show
/// it. Times are Unix seconds (0: never, or no clock) and RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobStatus {
    pub name: String,
    pub run: Kind,
    /// `0 30 2 * * * (Europe/Berlin)` or `after nightly-backup`.
    pub schedule: String,
    /// The last attempt's result (`None`: it never had one).
    pub last_result: Option<RunResult>,
    pub last_result_at: Option<String>,
    /// What the last attempt said: the set it took, the error, who held
    /// the lock.
    pub last_detail: Option<String>,
    /// When the last run (that succeeded or failed) finished.
    pub last_run_timestamp_seconds: f64,
    pub last_success_timestamp_seconds: f64,
    pub last_duration_seconds: f64,
    pub next_run_timestamp_seconds: f64,
    pub next_run_at: Option<String>,
    /// What only the running scheduler knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
}

/// A job as the running scheduler sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Live {
    /// When the run under way started (`None`: not running).
    pub running_since: Option<String>,
    /// Times of each result since `serve` started.
    pub runs: BTreeMap<RunResult, u64>,
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn rfc3339_unix(seconds: f64) -> Option<String> {
    Duration::try_from_secs_f64(seconds).ok().filter(|d| !d.is_zero()).map(|d| rfc3339(SystemTime::UNIX_EPOCH + d))
}

fn status(
    schedule: &Settings,
    name: &str,
    record: &Record,
    next: Option<SystemTime>,
    live: Option<Live>,
) -> Option<JobStatus> {
    let job = schedule.jobs.get(name)?;
    Some(JobStatus {
        name: name.to_owned(),
        run: job.task.kind(),
        schedule: schedule.describe(job),
        last_result: record.last_result,
        last_result_at: record.last_result_at.and_then(rfc3339_unix),
        last_detail: record.last_detail.clone(),
        last_run_timestamp_seconds: record.last_run.unwrap_or(0.0),
        last_success_timestamp_seconds: record.last_success.unwrap_or(0.0),
        last_duration_seconds: record.last_duration_seconds,
        next_run_timestamp_seconds: next.map_or(0.0, unix),
        next_run_at: next.map(rfc3339),
        live,
    })
}

/// The jobs of `schedule` as the state file at its `state` path records
/// them (`ops-gen jobs`, without a running scheduler), by name.
#[must_use]
pub fn statuses(schedule: &Settings, now: SystemTime) -> Vec<JobStatus> {
    let state = State::read(&schedule.state_path());
    schedule
        .jobs
        .keys()
        .filter_map(|name| {
            let record = state.jobs.get(name).cloned().unwrap_or_default();
            status(schedule, name, &record, schedule.next_run(name, now), None)
        })
        .collect()
}

/// Records a run that ended in `ending` (started at `started`, taking
/// `took`) and says which result it counts as.
fn finish(record: &mut Record, ending: &Ending, started: SystemTime, took: Duration) -> RunResult {
    let ended = unix(started + took);
    let (result, detail) = match ending {
        Ending::Ok(detail) => (RunResult::Ok, detail),
        Ending::Failed(detail) => (RunResult::Failed, detail),
        Ending::Locked(detail) => (RunResult::SkippedLocked, detail),
    };
    if result != RunResult::SkippedLocked {
        record.last_run = Some(ended);
        record.last_duration_seconds = took.as_secs_f64();
    }
    if result == RunResult::Ok {
        record.last_success = Some(ended);
    }
    record.last_result = Some(result);
    record.last_result_at = Some(ended);
    record.last_detail = Some(detail.clone());
    result
}

/// One run of `ops-gen jobs run`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub job: String,
    pub run: Kind,
    pub result: RunResult,
    pub detail: String,
    pub started_at: String,
    pub duration_seconds: f64,
}

/// Why `ops-gen jobs run` or the API cannot run a job.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no job `{name}` in `schedule.jobs`{hint}")]
    Unknown { name: String, hint: String },
    #[error("`{0}` is running; wait for it to finish")]
    Running(String),
}

impl RunError {
    fn unknown(schedule: &Settings, name: &str) -> Self {
        let names: Vec<&str> = schedule.jobs.keys().map(String::as_str).collect();
        let hint = match crate::config::nearest(name, names.iter().copied()) {
            Some(near) => format!("; did you mean `{near}`?"),
            None if names.is_empty() => "; the config schedules no job".to_owned(),
            None => format!("; jobs: {}", names.join(", ")),
        };
        Self::Unknown { name: name.to_owned(), hint }
    }
}

/// Runs job `name` of `loaded` now, in this process, then (after a
/// success) the jobs that run after it, as the scheduler does; each run is
/// recorded in the state file.
pub async fn run_now(loaded: Arc<Loaded>, name: &str) -> Result<Vec<RunReport>, RunError> {
    let schedule = &loaded.config.schedule;
    if !schedule.jobs.contains_key(name) {
        return Err(RunError::unknown(schedule, name));
    }
    let path = schedule.state_path();
    let mut reports = Vec::new();
    let mut queue = std::collections::VecDeque::from([name.to_owned()]);
    while let Some(name) = queue.pop_front() {
        let Some(job) = schedule.jobs.get(&name) else { continue };
        let started = SystemTime::now();
        let clock = Instant::now();
        let ending = task::execute(Arc::clone(&loaded), &job.task).await;
        let took = clock.elapsed();
        let mut record = Record::default();
        let result = finish(&mut record, &ending, started, took);
        if let Err(e) = state::update(&path, &BTreeMap::from([(name.clone(), record.clone())])) {
            tracing::warn!("cannot record the run in {}: {e}", path.display());
        }
        if result == RunResult::Ok {
            queue.extend(schedule.followers(&name).map(str::to_owned));
        }
        reports.push(RunReport {
            job: name,
            run: job.task.kind(),
            result,
            detail: record.last_detail.unwrap_or_default(),
            started_at: rfc3339(started),
            duration_seconds: took.as_secs_f64(),
        });
    }
    Ok(reports)
}

/// A job's place in the running scheduler.
#[derive(Debug, Default)]
struct Slot {
    /// Claimed from its tick (or trigger) until its run has ended.
    running: AtomicBool,
    inner: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    record: Record,
    counts: [u64; 5],
    next: Option<SystemTime>,
    since: Option<SystemTime>,
}

impl Slot {
    fn new(record: Record) -> Self {
        Self { running: AtomicBool::new(false), inner: Mutex::new(SlotState { record, ..SlotState::default() }) }
    }

    fn state(&self) -> MutexGuard<'_, SlotState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the job for one run; `false` when a run is under way.
    fn claim(&self) -> bool {
        !self.running.swap(true, Ordering::AcqRel)
    }

    fn release(&self) {
        self.state().since = None;
        self.running.store(false, Ordering::Release);
    }
}

/// What the clocks, the runs and the readers share.
#[derive(Debug)]
struct Shared {
    loaded: RwLock<Arc<Loaded>>,
    slots: Mutex<BTreeMap<String, Arc<Slot>>>,
    /// Changes with every record, count or next time, for the exporter's
    /// rendering cache.
    version: AtomicU64,
    /// One write of the state file at a time.
    writes: tokio::sync::Mutex<()>,
    /// The scheduler's own backup-folder jobs, one at a time: they queue
    /// behind each other instead of refusing each other the lock.
    folder: tokio::sync::Mutex<()>,
}

type Run = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Shared {
    fn loaded(&self) -> Arc<Loaded> {
        Arc::clone(&self.loaded.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn slots(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn slot(&self, name: &str) -> Option<Arc<Slot>> {
        self.slots().get(name).cloned()
    }

    fn touch(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self, slot: &Slot, result: RunResult) {
        slot.state().counts[result.index()] += 1;
        self.touch();
    }

    /// One tick of `name`'s clock, due at `at`.
    fn tick(self: &Arc<Self>, name: &str, at: SystemTime) {
        let Some(slot) = self.slot(name) else { return };
        slot.state().record.scheduled_through = Some(unix(at));
        if slot.claim() {
            let delay = task::jitter(self.loaded().config.schedule.jitter.get());
            tokio::spawn(Arc::clone(self).run_claimed(name.to_owned(), slot, delay));
        } else {
            tracing::warn!(job = name, "still running at its next time: that run is skipped");
            self.count(&slot, RunResult::SkippedOverlap);
            self.persist_later();
        }
    }

    /// Runs `name`, whose slot the caller claimed, after `delay`; then,
    /// after a success, the jobs that run after it.
    fn run_claimed(self: Arc<Self>, name: String, slot: Arc<Slot>, delay: Duration) -> Run {
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let loaded = self.loaded();
            let Some(job) = loaded.config.schedule.jobs.get(&name).cloned() else {
                slot.release();
                return;
            };
            let queue = if job.task.kind().uses_backup_folder() { Some(self.folder.lock().await) } else { None };
            let started = SystemTime::now();
            slot.state().since = Some(started);
            self.touch();
            tracing::info!(job = %name, run = %job.task.kind(), "job started");
            let clock = Instant::now();
            let ending = task::execute(Arc::clone(&loaded), &job.task).await;
            drop(queue);
            // The new record goes on disk before anyone sees it: a stop right
            // after the run (even kill -9) never makes the next start run it
            // again. Then record, count and the end of the run show at once.
            let mut record = slot.state().record.clone();
            let result = finish(&mut record, &ending, started, clock.elapsed());
            let saved = self.persist_with(Some((&name, &record))).await;
            {
                let mut state = slot.state();
                state.record = saved.map_or(record, |on_disk| state.record.merged(&on_disk));
                state.counts[result.index()] += 1;
                state.since = None;
            }
            slot.release();
            self.touch();
            match &ending {
                Ending::Ok(detail) => tracing::info!(job = %name, "job done: {detail}"),
                Ending::Failed(detail) => tracing::error!(job = %name, "job failed: {detail}"),
                Ending::Locked(detail) => tracing::warn!(job = %name, "job skipped: {detail}"),
            }
            if result == RunResult::Ok {
                let followers: Vec<String> = loaded.config.schedule.followers(&name).map(str::to_owned).collect();
                for follower in followers {
                    let Some(next) = self.slot(&follower) else { continue };
                    if next.claim() {
                        Arc::clone(&self).run_claimed(follower, next, Duration::ZERO).await;
                    } else {
                        tracing::warn!(job = %follower, "still running when `{name}` succeeded: that run is skipped");
                        self.count(&next, RunResult::SkippedOverlap);
                    }
                }
            }
        })
    }

    /// Merges every record into the state file, and what the file holds
    /// (a run of `ops-gen jobs run`) into the records.
    async fn persist(self: &Arc<Self>) {
        self.persist_with(None).await;
    }

    /// [`Self::persist`], with `pending`'s record (of a run that just
    /// ended) written in place of what its slot holds; that record, as the
    /// file then holds it, is returned for the caller to install rather
    /// than merged here.
    async fn persist_with(self: &Arc<Self>, pending: Option<(&str, &Record)>) -> Option<Record> {
        let _one = self.writes.lock().await;
        let path = self.loaded().config.schedule.state_path();
        let mut records: BTreeMap<String, Record> =
            self.slots().iter().map(|(name, slot)| (name.clone(), slot.state().record.clone())).collect();
        if records.is_empty() {
            // No jobs: nothing to keep, and no file to make.
            return None;
        }
        if let Some((name, record)) = pending {
            records.insert(name.to_owned(), record.clone());
        }
        let target = path.clone();
        match tokio::task::spawn_blocking(move || state::update(&target, &records)).await {
            Ok(Ok(on_disk)) => {
                for (name, slot) in self.slots().iter() {
                    if pending.is_some_and(|(p, _)| p == name) {
                        continue;
                    }
                    if let Some(record) = on_disk.jobs.get(name) {
                        let mut slot = slot.state();
                        slot.record = slot.record.merged(record);
                    }
                }
                self.touch();
                pending.and_then(|(name, _)| on_disk.jobs.get(name).cloned())
            }
            Ok(Err(e)) => {
                tracing::warn!("cannot write the jobs' state {}: {e}", path.display());
                None
            }
            Err(e) => {
                tracing::warn!("the write of the jobs' state stopped: {e}");
                None
            }
        }
    }

    fn persist_later(self: &Arc<Self>) {
        let shared = Arc::clone(self);
        tokio::spawn(async move { shared.persist().await });
    }

    /// Sets `name`'s next time (as its clock computed it).
    fn set_next(&self, name: &str, next: Option<SystemTime>) {
        if let Some(slot) = self.slot(name) {
            slot.state().next = next;
            self.touch();
        }
    }
}

/// `name`'s clock: sleeps until each match of `expression` in `zone`, in
/// steps of at most a minute so a wall clock that jumps (a suspended host,
/// a corrected time) is noticed, and ticks.
async fn clock(shared: Arc<Shared>, name: String, expression: Expression, zone: chrono_tz::Tz) {
    const STEP: Duration = Duration::from_secs(60);
    let mut next = expression.next_after(SystemTime::now(), zone);
    while let Some(at) = next {
        shared.set_next(&name, Some(at));
        while let Ok(left) = at.duration_since(SystemTime::now()) {
            if left.is_zero() {
                break;
            }
            tokio::time::sleep(left.min(STEP)).await;
        }
        shared.tick(&name, at);
        next = expression.next_after(SystemTime::now().max(at), zone);
    }
    shared.set_next(&name, None);
}

/// The running scheduler of `ops-gen serve`.
#[derive(Debug)]
pub struct Scheduler {
    shared: Arc<Shared>,
    clocks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        for clock in self.clocks.get_mut().unwrap_or_else(PoisonError::into_inner).drain(..) {
            clock.abort();
        }
    }
}

impl Scheduler {
    /// Reads the state file, counts the jobs whose time passed while
    /// ops-gen was down (and, with `catch_up`, runs them once, one after
    /// the other), and starts every job's clock. Needs a Tokio runtime.
    #[must_use]
    pub fn start(loaded: &Loaded) -> Self {
        let schedule = &loaded.config.schedule;
        let on_disk = State::read(&schedule.state_path());
        let now = SystemTime::now();
        let mut slots = BTreeMap::new();
        let mut missed = Vec::new();
        for (name, job) in &schedule.jobs {
            let mut record = on_disk.jobs.get(name).cloned().unwrap_or_default();
            if let Trigger::Cron(expression) = &job.trigger {
                match record.scheduled_through {
                    // Never seen: its schedule starts now.
                    None => record.scheduled_through = Some(unix(now)),
                    Some(through) => {
                        if let Some(due) = expression.previous_before(now, schedule.time_zone)
                            && unix(due) > through
                        {
                            record.scheduled_through = Some(unix(due));
                            missed.push((due, name.clone()));
                        }
                    }
                }
            }
            slots.insert(name.clone(), Arc::new(Slot::new(record)));
        }
        let shared = Arc::new(Shared {
            loaded: RwLock::new(Arc::new(loaded.clone())),
            slots: Mutex::new(slots),
            version: AtomicU64::new(0),
            writes: tokio::sync::Mutex::new(()),
            folder: tokio::sync::Mutex::new(()),
        });
        let scheduler = Self { shared, clocks: Mutex::new(Vec::new()) };
        missed.sort();
        let mut catch_up = Vec::new();
        for (due, name) in missed {
            tracing::warn!(job = %name, "its time ({}) passed while ops-gen was down", rfc3339(due));
            if let Some(slot) = scheduler.shared.slot(&name) {
                scheduler.shared.count(&slot, RunResult::Missed);
                catch_up.push((name, slot));
            }
        }
        if schedule.catch_up && !catch_up.is_empty() {
            let shared = Arc::clone(&scheduler.shared);
            let jitter = schedule.jitter.get();
            tokio::spawn(async move {
                for (name, slot) in catch_up {
                    if slot.claim() {
                        tracing::info!(job = %name, "catching up");
                        Arc::clone(&shared).run_claimed(name, slot, task::jitter(jitter)).await;
                    } else {
                        shared.count(&slot, RunResult::SkippedOverlap);
                    }
                }
            });
        }
        scheduler.start_clocks();
        scheduler.shared.persist_later();
        scheduler
    }

    /// Takes a reloaded config: the clocks start over from it; jobs keep
    /// their records, counters and runs under way; new jobs start now.
    pub fn reload(&self, loaded: &Loaded) {
        for clock in self.clocks.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
            clock.abort();
        }
        *self.shared.loaded.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded.clone());
        let schedule = &loaded.config.schedule;
        let on_disk = State::read(&schedule.state_path());
        let now = SystemTime::now();
        {
            let mut slots = self.shared.slots();
            let mut kept = BTreeMap::new();
            for (name, job) in &schedule.jobs {
                let slot = slots.remove(name).unwrap_or_else(|| {
                    let mut record = on_disk.jobs.get(name).cloned().unwrap_or_default();
                    if matches!(job.trigger, Trigger::Cron(_)) {
                        record.scheduled_through = Some(unix(now));
                    }
                    Arc::new(Slot::new(record))
                });
                if matches!(job.trigger, Trigger::After(_)) {
                    slot.state().next = None;
                }
                kept.insert(name.clone(), slot);
            }
            *slots = kept;
        }
        self.shared.touch();
        self.start_clocks();
        self.shared.persist_later();
    }

    fn start_clocks(&self) {
        let loaded = self.shared.loaded();
        let schedule = &loaded.config.schedule;
        let mut clocks = self.clocks.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, job) in &schedule.jobs {
            if let Trigger::Cron(expression) = &job.trigger {
                let task = clock(Arc::clone(&self.shared), name.clone(), expression.clone(), schedule.time_zone);
                clocks.push(tokio::spawn(task).abort_handle());
            }
        }
    }

    /// Runs `name` now, in the background (the API's "run now"), and the
    /// jobs after it on success.
    pub fn trigger(&self, name: &str) -> Result<(), RunError> {
        let loaded = self.shared.loaded();
        let slot = match self.shared.slot(name) {
            Some(slot) if loaded.config.schedule.jobs.contains_key(name) => slot,
            _ => return Err(RunError::unknown(&loaded.config.schedule, name)),
        };
        if !slot.claim() {
            return Err(RunError::Running(name.to_owned()));
        }
        tracing::info!(job = name, "run now, as asked");
        tokio::spawn(Arc::clone(&self.shared).run_claimed(name.to_owned(), slot, Duration::ZERO));
        Ok(())
    }

    /// Every configured job, by name, with what the scheduler knows now.
    #[must_use]
    pub fn list(&self) -> Vec<JobStatus> {
        let loaded = self.shared.loaded();
        let schedule = &loaded.config.schedule;
        let slots = self.shared.slots();
        slots
            .iter()
            .filter_map(|(name, slot)| {
                let state = slot.state();
                let live = Live {
                    running_since: state.since.map(rfc3339),
                    runs: RunResult::ALL.iter().map(|r| (*r, state.counts[r.index()])).collect(),
                };
                status(schedule, name, &state.record, state.next, Some(live))
            })
            .collect()
    }

    /// Changes whenever what [`Scheduler::list`] returns may have.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.shared.version.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_run_is_a_skip_that_keeps_the_last_run() {
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut record = Record::default();
        let took = Duration::from_secs(2);
        assert_eq!(finish(&mut record, &Ending::Ok("took a".into()), started, took), RunResult::Ok);
        assert_eq!((record.last_run, record.last_success), (Some(1002.0), Some(1002.0)));
        let later = started + Duration::from_secs(100);
        assert_eq!(finish(&mut record, &Ending::Locked("busy".into()), later, took), RunResult::SkippedLocked);
        assert_eq!((record.last_run, record.last_result), (Some(1002.0), Some(RunResult::SkippedLocked)));
        assert_eq!(finish(&mut record, &Ending::Failed("boom".into()), later, took), RunResult::Failed);
        assert_eq!((record.last_run, record.last_success), (Some(1102.0), Some(1002.0)));
        assert_eq!(record.last_detail.as_deref(), Some("boom"));
    }

    #[test]
    fn labels_are_the_documented_set() {
        let labels: Vec<&str> = RunResult::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels, ["ok", "failed", "skipped_overlap", "skipped_locked", "missed"]);
        for (i, r) in RunResult::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
