//! `ops-gen serve`: the exporter's HTTP surface.
//!
//! [`Exporter`] holds the active config and its [`Runner`], and swaps both
//! atomically on reload (`SIGHUP` or `POST /-/reload`); a bad new config keeps
//! the old one running and sets `opsgen_config_last_reload_success 0`. It
//! also runs the jobs of `schedule:` ([`crate::jobs::Scheduler`]), whose
//! clocks a reload rebuilds while runs under way go on.
//! [`serve`] takes an already-bound listener and a shutdown future, so tests
//! bind `127.0.0.1:0` and run many servers side by side.

pub mod access;
pub mod api;
pub mod metrics;
pub mod status;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::config::{ConfigError, Loaded};
use crate::notify::Notifier;
use crate::probe::BuildError;
use crate::probe::runner::{Completed, FailureLedger, Mode, Runner, Snapshot};

/// Any request is cut off after this (a scrape ends at its own deadline first).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Request bodies larger than this are refused.
const MAX_BODY: usize = 64 * 1024;
/// Header by which Prometheus tells its scrape timeout.
const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// A config and the checks built from it.
#[derive(Debug)]
struct Active {
    loaded: Loaded,
    runner: Runner,
    /// What the backup folder and the smoke result say, kept fresh by
    /// `refresher`.
    disk: tokio::sync::watch::Receiver<Arc<DiskView>>,
    refresher: tokio::task::JoinHandle<()>,
    /// The secrets this config knows, for what the server keeps or shows.
    redactor: crate::config::redact::Redactor,
}

impl Drop for Active {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

/// What `serve` shows from files: the backup folder's summary and the latest
/// smoke result. A background task reads them (off the async workers, one
/// read at a time), never a request: a slow or hung folder (NFS) makes them
/// stale, which `opsgen_disk_read_timestamp_seconds` shows, and never holds
/// a scrape or a page.
#[derive(Debug, Default)]
struct DiskView {
    backups: Arc<Vec<metrics::BackupRow>>,
    /// When the backup folder was last read, and the modification time of
    /// its `latest.json` then.
    backups_read_at: Option<SystemTime>,
    backups_marker: Option<SystemTime>,
    smoke: Option<crate::output::SmokeLatest>,
    /// When these were last read; `None` until the first read ends.
    read_at: Option<SystemTime>,
}

/// How long a request waits for the very first read of the files after a
/// start or reload, before answering without them.
const FIRST_READ_WAIT: Duration = Duration::from_secs(1);

/// What a rendering of `/metrics` depends on. Results are compared by
/// identity: a new run always makes a new `Completed`.
#[derive(Debug)]
struct RenderKey {
    active: Arc<Active>,
    backups: Arc<Vec<metrics::BackupRow>>,
    disk_read_at: Option<SystemTime>,
    results: Vec<Option<Arc<Completed>>>,
    ledger: u64,
    reload: ReloadStatus,
    smoke: crate::ops::smoke::Series,
    jobs: u64,
}

impl PartialEq for RenderKey {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: &Option<Arc<Completed>>, b: &Option<Arc<Completed>>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        Arc::ptr_eq(&self.active, &other.active)
            && Arc::ptr_eq(&self.backups, &other.backups)
            && self.disk_read_at == other.disk_read_at
            && self.ledger == other.ledger
            && self.reload == other.reload
            && self.smoke == other.smoke
            && self.jobs == other.jobs
            && self.results.len() == other.results.len()
            && self.results.iter().zip(&other.results).all(|(a, b)| same(a, b))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct ReloadStatus {
    success: bool,
    last_success: SystemTime,
}

/// Why a reload was refused (the previous config keeps running).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// The running exporter: active config, checks, and process-wide state.
#[derive(Debug)]
pub struct Exporter {
    active: RwLock<Arc<Active>>,
    ledger: Arc<FailureLedger>,
    reload_status: Mutex<ReloadStatus>,
    reloading: tokio::sync::Mutex<()>,
    rendered: Mutex<Option<(RenderKey, Arc<metrics::Rendered>)>>,
    notifier: Notifier,
    /// Where checks send their state changes: on to the notifier and the
    /// events stream.
    changes: crate::probe::runner::StateChanges,
    ops: crate::exporter::api::Ops,
    access: access::Access,
    scheduler: crate::jobs::Scheduler,
}

impl Exporter {
    /// Builds the checks and starts their schedules. [`serve`] then runs a
    /// first collection, so the exporter becomes ready without waiting for a
    /// scrape. Needs a Tokio runtime.
    pub fn start(loaded: Loaded) -> Result<Arc<Self>, BuildError> {
        let ledger = Arc::new(FailureLedger::default());
        let notifier = Notifier::start(loaded.config.notify.clone());
        let ops = crate::exporter::api::Ops::new(Some(&loaded.config.auth.frontend_path()));
        let changes = fan_out(notifier.changes().clone(), Arc::downgrade(&ops.hub));
        if let Ok(project) = crate::compose::Project::load(&loaded) {
            crate::exporter::api::events::watch_containers(&ops.hub, project.name);
        }
        let active = Self::activate(loaded, &ledger, &changes, None)?;
        let scheduler = crate::jobs::Scheduler::start(&active.loaded);
        let active = Arc::new(active);
        Ok(Arc::new(Self {
            active: RwLock::new(active),
            ledger,
            reload_status: Mutex::new(ReloadStatus { success: true, last_success: SystemTime::now() }),
            reloading: tokio::sync::Mutex::new(()),
            rendered: Mutex::new(None),
            notifier,
            changes,
            ops,
            access: access::Access::default(),
            scheduler,
        }))
    }

    /// Builds the checks of `loaded` and starts their schedules; on a
    /// reload, scheduled checks that did not change keep their last result
    /// and their rhythm from `previous` (a reload never re-fires the S3
    /// round trip or the canary writes).
    fn activate(
        loaded: Loaded,
        ledger: &Arc<FailureLedger>,
        changes: &crate::probe::runner::StateChanges,
        previous: Option<&Runner>,
    ) -> Result<Active, BuildError> {
        let mut runner = Runner::new(&loaded.config, ledger, Some(changes))?;
        if let Some(previous) = previous {
            runner.inherit(previous);
        }
        runner.start_schedules();
        let (disk, refresher) = start_disk_reads(Arc::new(loaded.config.clone()));
        let redactor = crate::config::redact::Redactor::for_config(&loaded);
        Ok(Active { loaded, runner, disk, refresher, redactor })
    }

    fn active(&self) -> Arc<Active> {
        Arc::clone(&self.active.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The active config and where it came from.
    #[must_use]
    pub fn loaded(&self) -> Loaded {
        self.active().loaded.clone()
    }

    /// The authentication layer's state.
    pub(crate) fn access(&self) -> &access::Access {
        &self.access
    }

    /// The ops API's state.
    #[must_use]
    pub fn ops(&self) -> &crate::exporter::api::Ops {
        &self.ops
    }

    /// The jobs of `schedule:`, as they run.
    #[must_use]
    pub fn scheduler(&self) -> &crate::jobs::Scheduler {
        &self.scheduler
    }

    /// Runs the on-scrape checks once in the background to warm results up.
    fn warm_up(self: &Arc<Self>) {
        let exporter = Arc::clone(self);
        tokio::spawn(async move {
            exporter.scrape(None).await;
        });
    }

    /// Re-reads the config from where it came from, swaps it in and warms up
    /// its checks.
    pub async fn reload(self: &Arc<Self>) -> Result<(), ReloadError> {
        let _one_at_a_time = self.reloading.lock().await;
        let current = self.active();
        let result = current.loaded.reload().map_err(ReloadError::from).and_then(|loaded| {
            Self::activate(loaded, &self.ledger, &self.changes, Some(&current.runner)).map_err(ReloadError::from)
        });
        let mut status = self.reload_status.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(active) => {
                if active.loaded.config.listen != current.loaded.config.listen {
                    tracing::warn!(
                        "`listen` changed to {}; it takes effect at the next restart",
                        active.loaded.config.listen
                    );
                }
                self.notifier.update(active.loaded.config.notify.clone());
                self.scheduler.reload(&active.loaded);
                *self.active.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(active);
                // The cached rendering holds the old runner: let it go now.
                *self.rendered.lock().unwrap_or_else(PoisonError::into_inner) = None;
                *status = ReloadStatus { success: true, last_success: SystemTime::now() };
                tracing::info!(source = %current.loaded.source.label(), "config reloaded");
                drop(status);
                self.warm_up();
                Ok(())
            }
            Err(e) => {
                status.success = false;
                tracing::error!("config reload failed, keeping the previous config: {e}");
                Err(e)
            }
        }
    }

    /// Collects every check for one scrape. `timeout` is the scrape's own
    /// timeout (from Prometheus' header), or the configured default.
    pub async fn scrape(&self, timeout: Option<Duration>) -> Arc<Snapshot> {
        self.collect(timeout).await.1
    }

    async fn collect(&self, timeout: Option<Duration>) -> (Arc<Active>, Arc<Snapshot>, Arc<DiskView>) {
        let active = self.active();
        let budget = active.loaded.config.scrape.budget(timeout);
        let deadline = Instant::now() + budget;
        let (snapshot, disk) = tokio::join!(
            active.runner.collect(deadline, Mode::Scrape),
            Self::disk(&active, FIRST_READ_WAIT.min(budget))
        );
        (active, Arc::new(snapshot), disk)
    }

    /// `/probe`: collects the one check `target` names (its `kind` must
    /// match `check` when given), under the scrape deadline.
    pub async fn probe(
        &self,
        target: &str,
        kind: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Arc<Snapshot>, String> {
        let active = self.active();
        let known = || active.runner.checks().iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
        let Some(check) = active.runner.checks().iter().find(|c| c.name == target) else {
            return Err(format!("unknown target `{target}`; configured targets and checks: {}", known()));
        };
        if let Some(kind) = kind
            && kind != check.kind().as_str()
        {
            return Err(format!("target `{target}` is a `{}` check, not `{kind}`", check.kind()));
        }
        let deadline = Instant::now() + active.loaded.config.scrape.budget(timeout);
        let snapshot = active.runner.collect_one(target, deadline, Mode::Scrape).await;
        snapshot.map(Arc::new).ok_or_else(|| format!("unknown target `{target}`"))
    }

    /// What the files say for `active`, waiting up to `wait` for the first
    /// read after a start or reload (never longer: a hung folder must not
    /// hold a request).
    async fn disk(active: &Active, wait: Duration) -> Arc<DiskView> {
        let mut disk = active.disk.clone();
        let _ = tokio::time::timeout(wait, disk.wait_for(|view| view.read_at.is_some())).await;
        Arc::clone(&disk.borrow())
    }

    /// The encoded series of `snapshot`: the previous rendering when it holds
    /// exactly these results (most scrapes, thanks to `min_interval`), else a
    /// new one.
    fn render(&self, active: &Arc<Active>, snapshot: &Arc<Snapshot>, disk: &DiskView) -> Arc<metrics::Rendered> {
        let smoke = crate::ops::smoke::Series::from(disk.smoke.as_ref());
        let key = RenderKey {
            active: Arc::clone(active),
            backups: Arc::clone(&disk.backups),
            disk_read_at: disk.read_at,
            results: snapshot.entries.iter().map(|(_, r)| r.clone()).collect(),
            ledger: self.ledger.version(),
            reload: *self.reload_status.lock().unwrap_or_else(PoisonError::into_inner),
            smoke,
            jobs: self.scheduler.version(),
        };
        let mut cache = self.rendered.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((cached_key, rendered)) = cache.as_ref()
            && *cached_key == key
        {
            return Arc::clone(rendered);
        }
        let rendered = Arc::new(metrics::Rendered::new(
            Arc::clone(snapshot),
            Arc::clone(&self.ledger),
            Arc::clone(&disk.backups),
            Some(self.self_state(smoke, disk.read_at)),
        ));
        *cache = Some((key, Arc::clone(&rendered)));
        rendered
    }

    fn self_state(&self, smoke: crate::ops::smoke::Series, disk_read_at: Option<SystemTime>) -> metrics::SelfState {
        let status = *self.reload_status.lock().unwrap_or_else(PoisonError::into_inner);
        metrics::SelfState {
            version: crate::build_info::VERSION,
            revision: crate::build_info::REVISION,
            config_last_reload_success: status.success,
            config_last_reload_timestamp_seconds: status
                .last_success
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            smoke,
            disk_read_timestamp_seconds: disk_read_at
                .and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64()),
            jobs: self.scheduler.list(),
        }
    }
}

/// Starts the task that reads the files `serve` shows: the smoke result
/// every second; the backup folder every `scrape.min_interval`, and at
/// once when its `latest.json` changes (a `backup run` just ended). Each
/// read runs on the blocking pool and is awaited before the next, so a hung
/// folder holds one thread and nothing else.
fn start_disk_reads(
    config: Arc<crate::config::Config>,
) -> (tokio::sync::watch::Receiver<Arc<DiskView>>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(DiskView::default()));
    let task = tokio::spawn(async move {
        loop {
            let previous = Arc::clone(&tx.borrow());
            let config = Arc::clone(&config);
            let Ok(view) = tokio::task::spawn_blocking(move || read_disk(&config, &previous)).await else {
                return;
            };
            if tx.send(Arc::new(view)).is_err() {
                return;
            }
            tokio::time::sleep(DISK_TICK).await;
        }
    });
    (rx, task)
}

/// How often the smoke result is read, and the backup folder's
/// `latest.json` looked at.
const DISK_TICK: Duration = Duration::from_secs(1);

/// One read of the files `serve` shows. The backup folder is read again
/// only when `scrape.min_interval` has passed or its `latest.json` changed;
/// the previous rows' `Arc` is kept when nothing changed, so renderings are
/// reused.
fn read_disk(config: &crate::config::Config, previous: &DiskView) -> DiskView {
    let smoke = crate::output::SmokeLatest::read(std::path::Path::new(crate::output::SMOKE_DIR));
    let marker = std::fs::metadata(config.backup.dir.join(crate::backup::run::LATEST)).and_then(|m| m.modified()).ok();
    let due = previous.backups_read_at.is_none_or(|at| {
        at.elapsed().unwrap_or(Duration::MAX) >= config.scrape.min_interval.get() || marker != previous.backups_marker
    });
    if !due {
        return DiskView {
            backups: Arc::clone(&previous.backups),
            backups_read_at: previous.backups_read_at,
            backups_marker: previous.backups_marker,
            smoke,
            read_at: Some(SystemTime::now()),
        };
    }
    let jobs = crate::backup::jobs(config);
    let names: Vec<&str> = jobs.iter().map(|j| j.target.as_str()).collect();
    let sets = crate::backup::catalog(&config.backup.dir).unwrap_or_default();
    let states = crate::backup::inventory_of(&config.backup.dir, &sets, &names);
    let retention_blocked = crate::backup::retention::blocked(&sets, SystemTime::now()).is_some();
    let rows: Vec<metrics::BackupRow> = jobs
        .iter()
        .map(|job| {
            let state = states.get(&job.target).cloned().unwrap_or_default();
            metrics::BackupRow {
                target: job.target.clone(),
                last_success_timestamp_seconds: state.last_success.unwrap_or(0.0),
                max_age_seconds: job.max_age.get().as_secs_f64(),
                size_bytes: state.size_bytes,
                sets: Some(metrics::SetFacts {
                    duration_seconds: state.duration_seconds,
                    verified: state.verified,
                    sets: state.sets,
                    drillable: job.drillable(),
                    drill_last_success_timestamp_seconds: state.drill_last_success.unwrap_or(0.0),
                    drill_success: state.drill.is_some_and(|(_, ok, _)| ok),
                    drill_duration_seconds: state.drill.map_or(0.0, |(_, _, d)| d),
                    last_failure_timestamp_seconds: state.last_failure.unwrap_or(0.0),
                    retention_blocked,
                }),
            }
        })
        .collect();
    let backups = if *previous.backups == rows { Arc::clone(&previous.backups) } else { Arc::new(rows) };
    let now = SystemTime::now();
    DiskView { backups, backups_read_at: Some(now), backups_marker: marker, smoke, read_at: Some(now) }
}

/// The routes of `ops-gen serve`.
pub fn router(exporter: Arc<Exporter>) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/status.json", get(status_json))
        .route("/metrics", get(metrics_handler))
        .route("/-/healthy", get(healthy))
        .route("/healthz", get(healthy))
        .route("/-/ready", get(ready))
        .route("/readyz", get(ready))
        .route("/-/reload", post(reload_handler))
        .route("/probe", get(probe_handler))
        .route("/runbooks/", get(runbook_index))
        .route("/runbooks/{topic}", get(runbook_page))
        .nest("/api/ops", crate::exporter::api::router(Arc::clone(&exporter)))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&exporter), access::authenticate))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .with_state(exporter)
}

/// A sender whose state changes go on to `notifier` (never waiting) and
/// to the events stream, from one task.
fn fan_out(
    notifier: crate::probe::runner::StateChanges,
    hub: std::sync::Weak<crate::exporter::api::events::Hub>,
) -> crate::probe::runner::StateChanges {
    let (changes, mut received) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move {
        while let Some(change) = received.recv().await {
            if let Some(hub) = hub.upgrade() {
                hub.publish(crate::exporter::api::events::Event::from_change(&change));
            }
            if notifier.try_send(change).is_err() {
                tracing::warn!("state change not notified: the notifier is behind or stopped");
            }
        }
    });
    changes
}

/// Serves until `shutdown` resolves, then drains open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    exporter: Arc<Exporter>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    exporter.warm_up();
    let tls = exporter.active().loaded.config.auth.web.as_ref().and_then(|w| w.tls.clone());
    let Some(tls) = tls else {
        let app = router(exporter).into_make_service_with_connect_info::<std::net::SocketAddr>();
        return axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    };
    // TLS from the web config (read at start; a reload keeps the listener).
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(REQUEST_TIMEOUT));
    });
    let config = axum_server::tls_rustls::RustlsConfig::from_config(tls);
    axum_server::tls_rustls::from_tcp_rustls(listener.into_std()?, config)?
        .handle(handle)
        .serve(router(exporter).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .await
}

/// Reloads the config on every `SIGHUP` until the process ends.
#[cfg(unix)]
pub fn reload_on_sighup(exporter: &Arc<Exporter>) -> std::io::Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let exporter = Arc::downgrade(exporter);
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let Some(exporter) = exporter.upgrade() else {
                break;
            };
            tracing::info!("SIGHUP: reloading the config");
            // The outcome is logged and exported by `reload` itself.
            let _ = exporter.reload().await;
        }
    });
    Ok(())
}

/// The scrape timeout Prometheus sent, if any (kept within
/// `scrape.min_timeout` and `max_timeout` by [`crate::config::Scrape::budget`]).
fn scrape_timeout(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(SCRAPE_TIMEOUT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
}

fn format_of(headers: &HeaderMap) -> metrics::Format {
    metrics::Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()))
}

async fn metrics_handler(State(exporter): State<Arc<Exporter>>, headers: HeaderMap) -> Response {
    let format = format_of(&headers);
    let (active, snapshot, disk) = exporter.collect(scrape_timeout(&headers)).await;
    let body = exporter.render(&active, &snapshot, &disk).body(format, snapshot.duration);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

/// `/probe?target=NAME[&check=KIND]`: the multi-target pattern. Targets come
/// only from the config: the query names one, it never supplies an address.
#[derive(Debug, serde::Deserialize)]
struct ProbeQuery {
    target: Option<String>,
    check: Option<String>,
}

async fn probe_handler(
    State(exporter): State<Arc<Exporter>>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<ProbeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let bad_request = |message: String| (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response();
    let Ok(axum::extract::Query(query)) = query else {
        return bad_request("malformed query; use /probe?target=NAME[&check=KIND]".to_owned());
    };
    let Some(target) = query.target.filter(|t| !t.is_empty()) else {
        return bad_request(
            "missing `target`; use /probe?target=NAME with NAME a target or check from the config".to_owned(),
        );
    };
    let format = format_of(&headers);
    match exporter.probe(&target, query.check.as_deref(), scrape_timeout(&headers)).await {
        Ok(snapshot) => {
            let body =
                metrics::Rendered::new(Arc::clone(&snapshot), Arc::clone(&exporter.ledger), Arc::default(), None)
                    .body(format, snapshot.duration);
            ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
        }
        Err(message) => bad_request(message),
    }
}

/// The runbooks alerts and dashboards link to, as plain Markdown text.
async fn runbook_index() -> Response {
    let text: String = std::iter::once("# Runbooks\n\n".to_owned())
        .chain(crate::runbook::ALL.iter().map(|r| format!("- [{}]({}): {}\n", r.topic, r.topic, r.title())))
        .collect();
    ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], text).into_response()
}

async fn runbook_page(axum::extract::Path(topic): axum::extract::Path<String>) -> Response {
    match crate::runbook::find(&topic) {
        Ok(r) => ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], r.text).into_response(),
        Err(message) => (StatusCode::NOT_FOUND, format!("{message}\n")).into_response(),
    }
}

async fn healthy() -> &'static str {
    "OK\n"
}

async fn ready(State(exporter): State<Arc<Exporter>>) -> Response {
    let active = exporter.active();
    if active.runner.all_known() {
        return (StatusCode::OK, "ready\n").into_response();
    }
    let waiting: Vec<&str> =
        active.runner.checks().iter().filter(|c| c.last().is_none()).map(|c| c.name.as_str()).collect();
    (StatusCode::SERVICE_UNAVAILABLE, format!("waiting for the first result of: {}\n", waiting.join(", ")))
        .into_response()
}

async fn reload_handler(State(exporter): State<Arc<Exporter>>) -> Response {
    match exporter.reload().await {
        Ok(()) => (StatusCode::OK, "config reloaded\n").into_response(),
        Err(e) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("reload failed, previous config kept: {e}\n")).into_response()
        }
    }
}

impl Exporter {
    /// The active config's redactor (its secret values learned at load).
    #[must_use]
    pub fn redactor(&self) -> crate::config::redact::Redactor {
        self.active().redactor.clone()
    }

    /// Every check's latest result (nothing runs).
    #[must_use]
    pub fn latest(&self) -> Snapshot {
        self.active().runner.latest()
    }

    /// What the status page shows, from the latest results (nothing runs).
    #[must_use]
    pub fn status(&self) -> status::Status {
        let active = self.active();
        let disk = Arc::clone(&active.disk.borrow());
        status::Status::gather(&status::Inputs {
            snapshot: &active.runner.latest(),
            backups: &disk.backups,
            config: &active.loaded.config,
            source: active.loaded.source.label(),
            smoke: disk.smoke.clone(),
            jobs: self.scheduler.list(),
            now: SystemTime::now(),
        })
    }
}

/// `/`: the status page.
async fn status_page(State(exporter): State<Arc<Exporter>>) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Html(exporter.status().html())).into_response()
}

/// `/status.json`: the status page's data.
async fn status_json(State(exporter): State<Arc<Exporter>>) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(exporter.status())).into_response()
}
