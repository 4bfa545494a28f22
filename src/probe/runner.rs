//! Running checks: time limits, concurrency, sharing and schedules.
//!
//! On a scrape every on-scrape check runs concurrently, each in its own task
//! under `min(its timeout, time left before the scrape deadline)`. A check
//! already running for another scrape is joined, not started again, and a
//! result younger than `scrape.min_interval` is reused, so any number of
//! concurrent scrapes costs one run per check. Checks with an `interval` run
//! on their own schedule and scrapes only read their last result.
//!
//! The scrape never waits past its deadline: a check still running then is
//! reported as a timeout for that scrape, and its task ends at its own limit,
//! so nothing outlives the work it was started for.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use super::{BuildError, Kind, Outcome, Probe, Reason, Spec};
use crate::config::{Config, HumanDuration};

/// One finished run of one check.
#[derive(Debug, Clone)]
pub struct Completed {
    pub outcome: Outcome,
    /// When the run ended (wall clock, for `_timestamp_seconds`).
    pub finished: SystemTime,
    pub duration: Duration,
    /// When the run ended (monotonic, for reuse).
    at: Instant,
}

impl Completed {
    fn timed_out(budget: Duration, started: Instant) -> Self {
        Self {
            outcome: Outcome::failed(Reason::Timeout, format!("no answer within {}", HumanDuration(round_ms(budget)))),
            finished: SystemTime::now(),
            duration: started.elapsed(),
            at: Instant::now(),
        }
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How long a scrape waits past its deadline for a run that ends exactly then.
/// Comes out of the scrape margin (`scrape.margin`, 250 ms by default).
const JOIN_GRACE: Duration = Duration::from_millis(20);

type SharedRun = Shared<BoxFuture<'static, Arc<Completed>>>;

#[derive(Default)]
struct State {
    last: Option<Arc<Completed>>,
    inflight: Option<SharedRun>,
}

/// Failure counts by check, kind and reason. Lives as long as the process,
/// across config reloads, so `opsgen_check_failures_total` stays monotonic.
#[derive(Debug, Default)]
pub struct FailureLedger {
    counts: Mutex<BTreeMap<(String, Kind, Reason), u64>>,
    /// Bumped on every change, so renderings can tell they are current.
    version: std::sync::atomic::AtomicU64,
}

impl FailureLedger {
    fn register(&self, name: &str, kind: Kind) {
        self.version.fetch_add(1, std::sync::atomic::Ordering::Release);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        for reason in super::reasons(kind) {
            counts.entry((name.to_owned(), kind, *reason)).or_insert(0);
        }
    }

    fn record(&self, name: &str, kind: Kind, reason: Reason) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry((name.to_owned(), kind, reason)).or_insert(0) += 1;
        self.version.fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// Changes whenever any count changes.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The counts of one check, by reason.
    #[must_use]
    pub fn counts(&self, name: &str, kind: Kind) -> Vec<(Reason, u64)> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.iter().filter(|((n, k, _), _)| n == name && *k == kind).map(|((_, _, r), c)| (*r, *c)).collect()
    }
}

/// A check turning red, or back to green, for notifications.
#[derive(Debug, Clone)]
pub struct StateChange {
    pub check: String,
    pub kind: Kind,
    /// The failure, or `None` when the check recovered.
    pub failure: Option<super::Failure>,
    pub at: SystemTime,
}

/// Where state changes go. Sends never wait: when the receiver lags, a change
/// is dropped (and logged) rather than delaying a check.
pub type StateChanges = tokio::sync::mpsc::Sender<StateChange>;

/// A configured check and its state.
pub struct Check {
    pub name: String,
    pub spec: Spec,
    probe: Probe,
    timeout: Duration,
    interval: Option<Duration>,
    ledger: Arc<FailureLedger>,
    changes: Option<StateChanges>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("name", &self.name).field("kind", &self.kind()).finish_non_exhaustive()
    }
}

impl Check {
    #[must_use]
    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }

    /// Whether this check runs on its own schedule rather than on scrape.
    #[must_use]
    pub fn is_scheduled(&self) -> bool {
        self.interval.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last finished run, if any.
    #[must_use]
    pub fn last(&self) -> Option<Arc<Completed>> {
        self.lock().last.clone()
    }

    /// The last result if it is younger than `max_age`.
    fn fresh(&self, max_age: Duration) -> Option<Arc<Completed>> {
        self.lock().last.as_ref().filter(|last| last.at.elapsed() < max_age).cloned()
    }

    /// The run in flight, or a new run. A run always gets the check's own
    /// timeout, whoever starts it: a caller that cannot wait that long stops
    /// waiting (and reports a timeout for itself alone), but the run goes on,
    /// so what is cached and shared is only ever a complete result.
    fn run(self: &Arc<Self>) -> SharedRun {
        let mut state = self.lock();
        if let Some(inflight) = &state.inflight {
            return inflight.clone();
        }
        let task = tokio::spawn(Arc::clone(self).execute(self.timeout));
        let check = Arc::clone(self);
        let started = Instant::now();
        let run = async move {
            // The task records its result itself. A JoinError means it ended
            // abnormally outside the probe (whose own panics are caught):
            // clear the slot so the next scrape starts a fresh run.
            task.await.unwrap_or_else(|_| {
                check.lock().inflight = None;
                Arc::new(Completed {
                    outcome: Outcome::failed(Reason::Internal, "the check's task ended abnormally"),
                    finished: SystemTime::now(),
                    duration: started.elapsed(),
                    at: Instant::now(),
                })
            })
        }
        .boxed()
        .shared();
        state.inflight = Some(run.clone());
        run
    }

    async fn execute(self: Arc<Self>, budget: Duration) -> Arc<Completed> {
        let started = Instant::now();
        let run = AssertUnwindSafe(self.probe.run()).catch_unwind();
        let completed = match tokio::time::timeout(budget, run).await {
            Ok(Ok(outcome)) => {
                Completed { outcome, finished: SystemTime::now(), duration: started.elapsed(), at: Instant::now() }
            }
            Ok(Err(_panic)) => Completed {
                outcome: Outcome::failed(Reason::Internal, "the check panicked; please report this as a bug"),
                finished: SystemTime::now(),
                duration: started.elapsed(),
                at: Instant::now(),
            },
            Err(_elapsed) => Completed::timed_out(budget, started),
        };
        let completed = Arc::new(completed);
        if let Some(failure) = &completed.outcome.failure {
            self.ledger.record(&self.name, self.kind(), failure.reason);
        }
        let previous = {
            let mut state = self.lock();
            state.inflight = None;
            state.last.replace(Arc::clone(&completed))
        };
        self.log_transition(previous.as_deref(), &completed);
        self.announce(previous.as_deref(), &completed);
        completed
    }

    /// Sends a state change: first failure, failing after ok, or recovery.
    fn announce(&self, previous: Option<&Completed>, now: &Completed) {
        let Some(sink) = &self.changes else { return };
        let is_change = match previous.map(|p| p.outcome.is_success()) {
            None => !now.outcome.is_success(),
            Some(was_ok) => was_ok != now.outcome.is_success(),
        };
        if !is_change {
            return;
        }
        let change = StateChange {
            check: self.name.clone(),
            kind: self.kind(),
            failure: now.outcome.failure.clone(),
            at: now.finished,
        };
        if sink.try_send(change).is_err() {
            tracing::warn!(check = %self.name, "state change not notified: the notifier is behind or stopped");
        }
    }

    /// Logs when a check changes state, not on every run.
    fn log_transition(&self, previous: Option<&Completed>, now: &Completed) {
        let was_ok = previous.map(|p| p.outcome.is_success());
        match (&now.outcome.failure, was_ok) {
            (Some(f), Some(true) | None) => {
                tracing::warn!(check = %self.name, kind = %self.kind(), reason = %f.reason, "check failing: {}", f.message);
            }
            (None, Some(false)) => {
                tracing::info!(check = %self.name, kind = %self.kind(), "check recovered");
            }
            (None, None) => tracing::debug!(check = %self.name, kind = %self.kind(), "check ok"),
            _ => {}
        }
    }
}

/// What one collection found: every check, with its result for this scrape
/// (`None` only for a scheduled check that has not run yet).
#[derive(Debug)]
pub struct Snapshot {
    pub entries: Vec<(Arc<Check>, Option<Arc<Completed>>)>,
    /// Time spent collecting.
    pub duration: Duration,
}

impl Snapshot {
    #[must_use]
    pub fn all_succeeded(&self) -> bool {
        self.entries.iter().all(|(_, c)| c.as_ref().is_some_and(|c| c.outcome.is_success()))
    }
}

/// How a collection treats reuse and schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A Prometheus scrape: reuse recent results; read scheduled checks.
    Scrape,
    /// `ops-gen probe`: run every check now.
    Everything,
}

/// All checks of one config.
#[derive(Debug)]
pub struct Runner {
    checks: Vec<Arc<Check>>,
    min_interval: Duration,
    schedules: Vec<tokio::task::JoinHandle<()>>,
    /// Runs of the previous config's checks still in flight at a reload,
    /// whose results the same checks here take over (by check name).
    adopted: BTreeMap<String, SharedRun>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        for task in &self.schedules {
            task.abort();
        }
    }
}

impl Runner {
    /// Builds every check's clients. Does not start schedules. State changes
    /// go to `changes` when given (for notifications).
    pub fn new(
        config: &Config,
        ledger: &Arc<FailureLedger>,
        changes: Option<&StateChanges>,
    ) -> Result<Self, BuildError> {
        let checks = config
            .probes()
            .map(|(name, spec)| {
                ledger.register(name, spec.kind());
                let common = spec.common();
                Ok(Arc::new(Check {
                    name: name.to_owned(),
                    spec: spec.clone(),
                    probe: Probe::build(name, spec)?,
                    timeout: common.timeout(),
                    interval: common.interval.map(HumanDuration::get),
                    ledger: Arc::clone(ledger),
                    changes: changes.cloned(),
                    state: Mutex::new(State::default()),
                }))
            })
            .collect::<Result<_, BuildError>>()?;
        Ok(Self {
            checks,
            min_interval: config.scrape.min_interval.get(),
            schedules: Vec::new(),
            adopted: BTreeMap::new(),
        })
    }

    #[must_use]
    pub fn checks(&self) -> &[Arc<Check>] {
        &self.checks
    }

    /// Takes over, from the runner of the previous config, the last result
    /// of each scheduled check that did not change (same name and the same
    /// settings as written out, secrets masked), so its schedule goes on
    /// where it was instead of running at once. A check that writes (the S3
    /// round trip, a canary) is not re-run by a reload; a changed secret
    /// alone is picked up at its next scheduled run.
    pub fn inherit(&mut self, previous: &Runner) {
        let same = |a: &Spec, b: &Spec| {
            a.kind() == b.kind()
                && serde_json::to_value(a).ok().is_some_and(|a| serde_json::to_value(b).ok() == Some(a))
        };
        for check in self.checks.iter().filter(|c| c.is_scheduled()) {
            let Some(old) = previous.checks.iter().find(|o| o.name == check.name && o.interval == check.interval)
            else {
                continue;
            };
            if !same(&check.spec, &old.spec) {
                continue;
            }
            let (last, inflight) = {
                let state = old.lock();
                (state.last.clone(), state.inflight.clone())
            };
            let mut state = check.lock();
            state.last = last;
            if let Some(run) = inflight {
                // Joined by anyone who asks before it ends, and taken over
                // by the next reload too.
                state.inflight = Some(run.clone());
                self.adopted.insert(check.name.clone(), run);
            }
        }
    }

    /// Starts the loops of scheduled checks (they stop when the runner
    /// drops). A check with a result (inherited on reload) next runs when
    /// its interval since that result is up.
    pub fn start_schedules(&mut self) {
        for check in self.checks.iter().filter(|c| c.is_scheduled()) {
            let check = Arc::clone(check);
            let interval = check.interval.unwrap_or(Duration::MAX);
            let adopted = self.adopted.remove(&check.name);
            self.schedules.push(tokio::spawn(async move {
                if let Some(run) = adopted {
                    let completed = run.await;
                    let mut state = check.lock();
                    state.last = Some(completed);
                    state.inflight = None;
                }
                let first = check.last().map_or(Duration::ZERO, |last| interval.saturating_sub(last.at.elapsed()));
                let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + first, interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticker.tick().await;
                    check.run().await;
                }
            }));
        }
    }

    /// Runs what needs running and returns every check's result, by `deadline`.
    pub async fn collect(&self, deadline: Instant, mode: Mode) -> Snapshot {
        self.collect_checks(&self.checks, deadline, mode).await
    }

    /// The same for the one check called `name` (for `/probe`); `None` when
    /// there is no such check.
    pub async fn collect_one(&self, name: &str, deadline: Instant, mode: Mode) -> Option<Snapshot> {
        let check = self.checks.iter().find(|c| c.name == name)?;
        Some(self.collect_checks(std::slice::from_ref(check), deadline, mode).await)
    }

    async fn collect_checks(&self, checks: &[Arc<Check>], deadline: Instant, mode: Mode) -> Snapshot {
        let started = Instant::now();
        let reuse = match mode {
            Mode::Scrape => self.min_interval,
            Mode::Everything => Duration::ZERO,
        };
        // What is known now: scheduled checks' last results and fresh ones.
        // When that is everything (the usual scrape), no task, timer or
        // future is made at all.
        let known: Vec<Option<Option<Arc<Completed>>>> = checks
            .iter()
            .map(|check| match mode {
                Mode::Scrape if check.is_scheduled() => Some(check.last()),
                _ => check.fresh(reuse).map(Some),
            })
            .collect();
        let entries = if known.iter().all(Option::is_some) {
            checks.iter().cloned().zip(known.into_iter().flatten()).collect()
        } else {
            let runs = checks.iter().zip(known).map(|(check, known)| {
                let check = Arc::clone(check);
                async move {
                    if let Some(result) = known {
                        return (check, result);
                    }
                    let run = check.run();
                    // The grace lets a run that ends exactly at the deadline
                    // (its own timeout) report its own result.
                    let completed = match tokio::time::timeout_at((deadline + JOIN_GRACE).into(), run).await {
                        Ok(completed) => completed,
                        // The run outlasts this caller's deadline: a timeout
                        // for this answer only; the run's own result is what
                        // the next callers get.
                        Err(_) => Arc::new(Completed::timed_out(deadline.saturating_duration_since(started), started)),
                    };
                    (check, Some(completed))
                }
            });
            futures::future::join_all(runs).await
        };
        Snapshot { entries, duration: started.elapsed() }
    }

    /// The latest known result of every check, without running anything.
    #[must_use]
    pub fn latest(&self) -> Snapshot {
        Snapshot { entries: self.checks.iter().map(|c| (Arc::clone(c), c.last())).collect(), duration: Duration::ZERO }
    }

    /// Whether every check has a result (the exporter's readiness).
    #[must_use]
    pub fn all_known(&self) -> bool {
        self.checks.iter().all(|c| c.last().is_some())
    }
}
