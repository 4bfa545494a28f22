//! `ops-gen smoke`: the full validation after a change. Does the ops
//! profile not only run, but do its job end to end?
//!
//! One step per promise of the profile, each a line with ✓/✗ and the fix:
//! the profile's containers run and are healthy (Docker API, through
//! [`crate::docker`]); every Prometheus target is up; a `PromQL` query returns
//! an exporter series; every alert rule ops-gen generates is loaded; Grafana
//! has the generated datasources and dashboards (its HTTP API, as `admin`
//! with the password the profile gives Grafana); a log line pushed to Loki
//! comes back from a query; and each check of the config's `checks`
//! passes (through the probe runner, [`super::run_once`]). What is expected
//! is read from the files `compose generate` writes for this config, so
//! smoke and profile never disagree.
//!
//! Steps run concurrently, each under its own limit ([`Options::step_timeout`]):
//! a hung component is a failed step, never a hung command. Steps that
//! depend on the first scrape or on Loki's ingestion retry until their limit.
//!
//! Every run is written to `output/smoke/<UTC timestamp>/result.json`, and
//! `output/smoke/latest.json` (replaced atomically) holds the newest result
//! and the last failure's reason and time, kept across later successes.
//! The exporter reads that file off the request path ([`Series`]) for
//! `opsgen_smoke_success` and `opsgen_smoke_last_run_timestamp_seconds`.

use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::profile::Component;
use crate::config::{Config, HumanDuration, Secret};
use crate::output::{SmokeFailure, SmokeLatest};
use crate::profile::Context;

/// Where results are written ([`crate::output::SMOKE_DIR`]).
pub const DIR: &str = crate::output::SMOKE_DIR;
/// The newest result, with the last failure.
/// The Grafana user smoke signs in as (the profile's admin).
pub const GRAFANA_USER: &str = "admin";
/// The variable the profile's Grafana reads its admin password from
/// (`admin` when unset, as in the generated compose file).
pub const GRAFANA_PASSWORD_VAR: &str = "OPS_GEN_GRAFANA_PASSWORD";
/// The stream label smoke's own Loki line carries.
pub const LOKI_SERVICE: &str = "ops-gen-smoke";

/// How a run is bounded.
#[derive(Debug, Clone)]
pub struct Options {
    /// Each step's limit.
    pub step_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { step_timeout: Duration::from_secs(15) }
    }
}

/// One step's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub ok: bool,
    /// What it found, or why it failed.
    pub detail: String,
    /// What to do when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    pub seconds: f64,
}

/// One run (`result.json`, and `--json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub success: bool,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_timestamp_seconds: f64,
    pub duration_seconds: f64,
    pub steps: Vec<Step>,
}

impl Report {
    /// The failed steps, as `name: detail` joined by `; `.
    #[must_use]
    pub fn reason(&self) -> Option<String> {
        let failed: Vec<String> =
            self.steps.iter().filter(|s| !s.ok).map(|s| format!("{}: {}", s.name, s.detail)).collect();
        (!failed.is_empty()).then(|| failed.join("; "))
    }
}

/// The smoke series of `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Series {
    pub success: bool,
    /// 0 when smoke never ran.
    pub last_run_timestamp_seconds: f64,
}

impl From<Option<&SmokeLatest>> for Series {
    fn from(latest: Option<&SmokeLatest>) -> Self {
        latest.map_or_else(Self::default, |l| Self {
            success: l.success,
            last_run_timestamp_seconds: l.last_run_timestamp_seconds,
        })
    }
}

/// Why a result could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the smoke result in {}: {source} (make the folder writable, or run ops-gen where `output/` may be written)", dir.display())]
pub struct WriteError {
    pub dir: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A failed step's detail and fix.
struct Failed {
    detail: String,
    fix: Option<String>,
}

impl Failed {
    fn new(detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { detail: detail.into(), fix: Some(fix.into()) }
    }
}

type StepFuture<'a> = Pin<Box<dyn Future<Output = Step> + Send + 'a>>;

/// Runs every step that applies to the profile of `ctx`.
pub async fn run(ctx: &Context<'_>, options: &Options) -> Report {
    crate::tls::init();
    let started = SystemTime::now();
    let clock = Instant::now();
    let limit = options.step_timeout;
    // Requests end with their step (its limit names the hang); this only
    // stops a leaked request.
    let http = match crate::tls::http_client(|| reqwest::Client::builder().timeout(limit + Duration::from_secs(1))) {
        Ok(http) => http,
        Err(e) => {
            let step = Step {
                name: "http client".to_owned(),
                ok: false,
                detail: format!("cannot build the HTTP client: {e}"),
                fix: None,
                seconds: 0.0,
            };
            return Report {
                success: false,
                started_at: humantime::format_rfc3339_seconds(started).to_string(),
                finished_timestamp_seconds: unix(SystemTime::now()),
                duration_seconds: clock.elapsed().as_secs_f64(),
                steps: vec![step],
            };
        }
    };
    let expected = Expected::from_profile(ctx);
    let mut steps: Vec<StepFuture<'_>> = Vec::new();
    if ctx.components().next().is_some() {
        steps.push(Box::pin(step("containers", limit, containers(ctx))));
    }
    let base = |c: Component| ctx.enabled(c).then(|| ctx.public_url(c)).flatten();
    if let Some(prometheus) = base(Component::Prometheus) {
        let deadline = clock + limit;
        steps.push(Box::pin(step(
            "prometheus targets",
            limit,
            prometheus_targets(http.clone(), prometheus.clone(), deadline),
        )));
        steps.push(Box::pin(step("promql query", limit, promql(http.clone(), prometheus.clone(), deadline))));
        steps.push(Box::pin(step("alert rules", limit, rules(http.clone(), prometheus, expected.alerts.clone()))));
    }
    if let Some(grafana) = base(Component::Grafana) {
        let password = Secret::new(std::env::var(GRAFANA_PASSWORD_VAR).unwrap_or_else(|_| "admin".to_owned()));
        steps.push(Box::pin(step(
            "grafana datasources",
            limit,
            grafana_datasources(http.clone(), grafana.clone(), password.clone(), expected.datasources.clone()),
        )));
        steps.push(Box::pin(step(
            "grafana dashboards",
            limit,
            grafana_dashboards(http.clone(), grafana, password, expected.dashboards.clone()),
        )));
    }
    if let Some(loki) = base(Component::Loki) {
        steps.push(Box::pin(step(
            "loki push and query",
            limit,
            loki_roundtrip(http.clone(), loki, ctx.project.clone(), clock + limit),
        )));
    }
    let (mut lines, checks) = tokio::join!(futures::future::join_all(steps), app_checks(ctx.config));
    lines.extend(checks);
    let finished = SystemTime::now();
    Report {
        success: lines.iter().all(|s| s.ok),
        started_at: humantime::format_rfc3339_seconds(started).to_string(),
        finished_timestamp_seconds: unix(finished),
        duration_seconds: clock.elapsed().as_secs_f64(),
        steps: lines,
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Runs one step under `limit`.
async fn step(name: &str, limit: Duration, work: impl Future<Output = Result<String, Failed>>) -> Step {
    let started = Instant::now();
    let result = match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(Failed::new(
            format!("no answer within {}", HumanDuration(limit)),
            "it hangs: see `ops-gen health` and `ops-gen compose logs SERVICE`; `--timeout` if only slow",
        )),
    };
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(detail) => Step { name: name.to_owned(), ok: true, detail, fix: None, seconds },
        Err(f) => Step { name: name.to_owned(), ok: false, detail: f.detail, fix: f.fix, seconds },
    }
}

/// Retries `attempt` every half second until it succeeds or `deadline`
/// (less a margin, so the last failure is reported rather than a timeout).
async fn retrying<F, Fut>(deadline: Instant, mut attempt: F) -> Result<String, Failed>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<String, Failed>>,
{
    let deadline = deadline.checked_sub(Duration::from_millis(600)).unwrap_or(deadline);
    loop {
        let result = attempt().await;
        if result.is_ok() || Instant::now() + Duration::from_millis(500) >= deadline {
            return result;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What the profile's generated files promise.
#[derive(Debug, Clone, Default)]
struct Expected {
    alerts: Vec<String>,
    /// Datasource uids.
    datasources: Vec<String>,
    /// Dashboard uid and title.
    dashboards: Vec<(String, String)>,
}

impl Expected {
    fn from_profile(ctx: &Context<'_>) -> Self {
        let mut expected = Self::default();
        for file in crate::profile::generate(ctx) {
            let path = file.path.to_string_lossy();
            if path.starts_with("prometheus/rules/") {
                let doc: serde_norway::Value = serde_norway::from_str(&file.contents).unwrap_or_default();
                for group in doc["groups"].as_sequence().into_iter().flatten() {
                    for rule in group["rules"].as_sequence().into_iter().flatten() {
                        if let Some(alert) = rule["alert"].as_str() {
                            expected.alerts.push(alert.to_owned());
                        }
                    }
                }
            } else if path.starts_with("grafana/provisioning/datasources/") {
                let doc: serde_norway::Value = serde_norway::from_str(&file.contents).unwrap_or_default();
                for ds in doc["datasources"].as_sequence().into_iter().flatten() {
                    if let Some(uid) = ds["uid"].as_str() {
                        expected.datasources.push(uid.to_owned());
                    }
                }
            } else if path.starts_with("grafana/dashboards/") {
                let doc: serde_json::Value = serde_json::from_str(&file.contents).unwrap_or_default();
                if let (Some(uid), Some(title)) = (doc["uid"].as_str(), doc["title"].as_str()) {
                    expected.dashboards.push((uid.to_owned(), title.to_owned()));
                }
            }
        }
        expected
    }
}

async fn containers(ctx: &Context<'_>) -> Result<String, Failed> {
    let docker = crate::docker::Docker::connect()
        .await
        .map_err(|e| Failed::new(e.to_string(), "start Docker, or point DOCKER_HOST at it"))?;
    let running = docker
        .project_containers(&ctx.project)
        .await
        .map_err(|e| Failed::new(e.to_string(), "see `ops-gen doctor`"))?;
    let mut problems = Vec::new();
    let mut fine = 0;
    for c in ctx.components() {
        let service = c.name();
        let mine: Vec<_> = running.iter().filter(|r| r.service == service).collect();
        match mine.iter().find(|r| r.state != "running" || r.health.as_deref().is_some_and(|h| h != "healthy")) {
            _ if mine.is_empty() => problems.push(format!("{service} missing")),
            Some(bad) => problems.push(format!(
                "{service} {}{}",
                bad.state,
                bad.health.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
            )),
            None => fine += 1,
        }
    }
    if problems.is_empty() {
        Ok(format!("{fine} service(s) of project {} running and healthy", ctx.project))
    } else {
        Err(Failed::new(
            format!("project {}: {}", ctx.project, problems.join(", ")),
            "`ops-gen compose up` starts what is missing; `ops-gen compose logs SERVICE` shows why one is unhealthy",
        ))
    }
}

/// `url` with the pairs as its (encoded) query string.
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    format!("{url}?{query}")
}

/// `GET url` as JSON, failing with the status or the error chain.
async fn get_json(request: reqwest::RequestBuilder, fix: &str) -> Result<serde_json::Value, Failed> {
    let response = request.send().await.map_err(|e| Failed::new(crate::errors::chain(&e), fix))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Failed::new(format!("answered {status}"), fix));
    }
    response.json().await.map_err(|e| Failed::new(format!("not JSON: {}", crate::errors::chain(&e)), fix))
}

async fn prometheus_targets(http: reqwest::Client, base: String, deadline: Instant) -> Result<String, Failed> {
    let fix = "open Prometheus' /targets page; `ops-gen compose logs SERVICE` for the job that is down";
    retrying(deadline, || async {
        let json = get_json(http.get(format!("{base}/api/v1/targets?state=active")), fix).await?;
        let targets = json["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            return Err(Failed::new(
                "no active targets",
                "check prometheus/prometheus.yml (`ops-gen compose generate`)",
            ));
        }
        let down: Vec<String> = targets
            .iter()
            .filter(|t| t["health"] != "up")
            .map(|t| {
                let job = t["labels"]["job"].as_str().unwrap_or("?");
                match t["lastError"].as_str().filter(|e| !e.is_empty()) {
                    Some(e) => format!("{job} {} ({e})", t["health"].as_str().unwrap_or("?")),
                    None => format!("{job} {}", t["health"].as_str().unwrap_or("?")),
                }
            })
            .collect();
        if down.is_empty() {
            Ok(format!("{} target(s) up", targets.len()))
        } else {
            Err(Failed::new(format!("{} of {} not up: {}", down.len(), targets.len(), down.join(", ")), fix))
        }
    })
    .await
}

/// The exporter's own series, through `PromQL`.
pub const PROMQL: &str = "opsgen_build_info";

async fn promql(http: reqwest::Client, base: String, deadline: Instant) -> Result<String, Failed> {
    let fix = "is the ops-gen job up in Prometheus? `ops-gen health` asks the exporter";
    retrying(deadline, || async {
        let json = get_json(http.get(with_query(&format!("{base}/api/v1/query"), &[("query", PROMQL)])), fix).await?;
        if json["status"] != "success" {
            return Err(Failed::new(format!("query failed: {}", json["error"]), fix));
        }
        match json["data"]["result"].as_array().and_then(|r| r.first()) {
            Some(series) => {
                Ok(format!("{PROMQL} answered (ops-gen {})", series["metric"]["version"].as_str().unwrap_or("?")))
            }
            None => Err(Failed::new(format!("{PROMQL} returned no series"), fix)),
        }
    })
    .await
}

async fn rules(http: reqwest::Client, base: String, expected: Vec<String>) -> Result<String, Failed> {
    let fix = "check prometheus/rules/ (`promtool check rules`), regenerate with `ops-gen compose generate` and restart prometheus";
    let json = get_json(http.get(format!("{base}/api/v1/rules")), fix).await?;
    let mut loaded = Vec::new();
    let mut broken = Vec::new();
    for group in json["data"]["groups"].as_array().into_iter().flatten() {
        for rule in group["rules"].as_array().into_iter().flatten() {
            let name = rule["name"].as_str().unwrap_or_default().to_owned();
            if rule["health"] == "err" {
                broken.push(format!("{name} ({})", rule["lastError"].as_str().unwrap_or("error")));
            }
            loaded.push(name);
        }
    }
    let missing: Vec<&String> = expected.iter().filter(|a| !loaded.contains(a)).collect();
    if !broken.is_empty() {
        return Err(Failed::new(format!("failing: {}", broken.join(", ")), fix));
    }
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return Err(Failed::new(
            format!("{} of {} not loaded: {}", missing.len(), expected.len(), names.join(", ")),
            fix,
        ));
    }
    Ok(format!("{} rule(s) loaded, the {} generated alerts among them", loaded.len(), expected.len()))
}

fn grafana_fix(status_401: bool) -> String {
    if status_401 {
        format!("export {GRAFANA_PASSWORD_VAR} with the Grafana admin password")
    } else {
        "check grafana/provisioning/ (`ops-gen compose generate`) and `ops-gen compose logs grafana`".to_owned()
    }
}

async fn grafana_get(http: &reqwest::Client, url: String, password: &Secret) -> Result<serde_json::Value, Failed> {
    let response = http
        .get(url)
        .basic_auth(GRAFANA_USER, Some(password.expose()))
        .send()
        .await
        .map_err(|e| Failed::new(crate::errors::chain(&e), grafana_fix(false)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Failed::new(format!("answered {status}"), grafana_fix(status.as_u16() == 401)));
    }
    response
        .json()
        .await
        .map_err(|e| Failed::new(format!("not JSON: {}", crate::errors::chain(&e)), grafana_fix(false)))
}

async fn grafana_datasources(
    http: reqwest::Client,
    base: String,
    password: Secret,
    expected: Vec<String>,
) -> Result<String, Failed> {
    let json = grafana_get(&http, format!("{base}/api/datasources"), &password).await?;
    let have: Vec<&str> = json.as_array().into_iter().flatten().filter_map(|d| d["uid"].as_str()).collect();
    let missing: Vec<&str> = expected.iter().map(String::as_str).filter(|u| !have.contains(u)).collect();
    if missing.is_empty() {
        Ok(format!("provisioned: {}", expected.join(", ")))
    } else {
        Err(Failed::new(format!("not provisioned: {}", missing.join(", ")), grafana_fix(false)))
    }
}

async fn grafana_dashboards(
    http: reqwest::Client,
    base: String,
    password: Secret,
    expected: Vec<(String, String)>,
) -> Result<String, Failed> {
    let json = grafana_get(&http, format!("{base}/api/search?type=dash-db"), &password).await?;
    let have: Vec<&str> = json.as_array().into_iter().flatten().filter_map(|d| d["uid"].as_str()).collect();
    let missing: Vec<&str> =
        expected.iter().filter(|(uid, _)| !have.contains(&uid.as_str())).map(|(_, title)| title.as_str()).collect();
    if missing.is_empty() {
        Ok(format!("{} dashboard(s) provisioned", expected.len()))
    } else {
        Err(Failed::new(format!("not provisioned: {}", missing.join(", ")), grafana_fix(false)))
    }
}

async fn loki_roundtrip(
    http: reqwest::Client,
    base: String,
    project: String,
    deadline: Instant,
) -> Result<String, Failed> {
    let fix = "see `ops-gen compose logs loki`; is its volume full? (`ops-gen storage status`)";
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let marker = format!("ops-gen smoke {}", now.as_nanos());
    let push = serde_json::json!({"streams": [{
        "stream": {"compose_project": project, "compose_service": LOKI_SERVICE, "container": LOKI_SERVICE, "stream": "stdout"},
        "values": [[now.as_nanos().to_string(), marker]],
    }]});
    let response = http
        .post(format!("{base}/loki/api/v1/push"))
        .json(&push)
        .send()
        .await
        .map_err(|e| Failed::new(format!("push: {}", crate::errors::chain(&e)), fix))?;
    if !response.status().is_success() {
        return Err(Failed::new(format!("push answered {}", response.status()), fix));
    }
    let query = format!("{{compose_service=\"{LOKI_SERVICE}\"}} |= \"{marker}\"");
    let start = (now.as_nanos() - 60_000_000_000).to_string();
    let end = (now.as_nanos() + 60_000_000_000).to_string();
    retrying(deadline, || async {
        let request = http.get(with_query(
            &format!("{base}/loki/api/v1/query_range"),
            &[("query", query.as_str()), ("start", start.as_str()), ("end", end.as_str()), ("limit", "10")],
        ));
        let json = get_json(request, fix).await?;
        let found = json["data"]["result"].as_array().into_iter().flatten().any(|stream| {
            stream["values"].as_array().into_iter().flatten().any(|v| v[1].as_str() == Some(marker.as_str()))
        });
        if found {
            Ok("a pushed line was read back".to_owned())
        } else {
            Err(Failed::new("the pushed line did not come back from query_range", fix))
        }
    })
    .await
}

/// One step per check of the config's `checks` (the app's smoke checks),
/// through the probe runner.
async fn app_checks(config: &Config) -> Vec<Step> {
    let mut checks = config.clone();
    checks.targets.clear();
    checks.canaries.clear();
    if checks.checks.is_empty() {
        return Vec::new();
    }
    let snapshot = match super::run_once(&checks).await {
        Ok(snapshot) => snapshot,
        Err(e) => {
            return vec![Step {
                name: "checks".to_owned(),
                ok: false,
                detail: e.to_string(),
                fix: Some("fix that check in ops-gen.yml".to_owned()),
                seconds: 0.0,
            }];
        }
    };
    let now = SystemTime::now();
    snapshot
        .entries
        .iter()
        .map(|(check, result)| {
            let name = format!("check {} ({})", check.name, check.kind());
            match result.as_deref() {
                Some(r) => match &r.outcome.failure {
                    None => Step {
                        name,
                        ok: true,
                        detail: Some(r.outcome.describe(now))
                            .filter(|d| !d.is_empty())
                            .unwrap_or_else(|| format!("passed in {}", crate::report::format_ms(r.duration))),
                        fix: None,
                        seconds: r.duration.as_secs_f64(),
                    },
                    Some(f) => Step {
                        name,
                        ok: false,
                        detail: format!("{}: {}", f.reason, f.message),
                        fix: Some(format!(
                            "`ops-gen probe {}` shows it alone; see `ops-gen runbook check-failing`",
                            check.name
                        )),
                        seconds: r.duration.as_secs_f64(),
                    },
                },
                None => Step { name, ok: false, detail: "did not run".to_owned(), fix: None, seconds: 0.0 },
            }
        })
        .collect()
}

/// Writes `dir/<timestamp>/result.json` and replaces `dir/latest.json`,
/// keeping the last failure. Returns the result file.
pub fn record(dir: &Path, report: &Report) -> Result<PathBuf, WriteError> {
    let error = |source| WriteError { dir: dir.to_owned(), source };
    std::fs::create_dir_all(dir).map_err(error)?;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(report.finished_timestamp_seconds);
    let run_dir = super::unique_dir(dir, &crate::backup::set_name(at)).map_err(error)?;
    let result = run_dir.join("result.json");
    crate::output::write_atomically(&result, &serde_json::to_vec_pretty(report).unwrap_or_default()).map_err(error)?;
    let previous = SmokeLatest::read(dir).and_then(|l| l.last_failure);
    let reason = report.reason();
    let last_failure = match &reason {
        Some(reason) => Some(SmokeFailure {
            at: humantime::format_rfc3339_seconds(at).to_string(),
            timestamp_seconds: report.finished_timestamp_seconds,
            reason: reason.clone(),
            result: result.clone(),
        }),
        None => previous,
    };
    let latest = SmokeLatest {
        success: report.success,
        last_run_at: humantime::format_rfc3339_seconds(at).to_string(),
        last_run_timestamp_seconds: report.finished_timestamp_seconds,
        result: result.clone(),
        reason,
        last_failure,
    };
    crate::output::write_atomically(
        &dir.join(crate::output::SMOKE_LATEST),
        &serde_json::to_vec_pretty(&latest).unwrap_or_default(),
    )
    .map_err(error)?;
    Ok(result)
}

/// The text for people: one line per step, with the fix under a failure.
#[must_use]
pub fn render(report: &Report, color: bool) -> String {
    use crate::compose::preflight::Status;
    let mut out = String::new();
    let width = report.steps.iter().map(|s| s.name.chars().count()).max().unwrap_or(0);
    for s in &report.steps {
        let mark = super::doctor::paint(if s.ok { Status::Ok } else { Status::Fail }, color);
        let _ = write!(out, "{mark} {:<width$}  {}", s.name, s.detail);
        if let Some(fix) = &s.fix {
            let _ = write!(out, "; fix: {fix}");
        }
        out.push('\n');
    }
    if report.steps.is_empty() {
        out.push_str("(nothing to check: no ops component enabled and no checks configured)\n");
    }
    let failed = report.steps.iter().filter(|s| !s.ok).count();
    if failed == 0 {
        let _ = writeln!(out, "smoke: all {} steps passed in {:.1} s", report.steps.len(), report.duration_seconds);
    } else {
        let _ = writeln!(out, "smoke: {failed} of {} steps failed", report.steps.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ok: bool, at: f64) -> Report {
        Report {
            success: ok,
            started_at: String::new(),
            finished_timestamp_seconds: at,
            duration_seconds: 0.1,
            steps: vec![Step { name: "loki push and query".into(), ok, detail: "d".into(), fix: None, seconds: 0.1 }],
        }
    }

    #[test]
    fn latest_keeps_the_last_failure_after_a_success() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Series::from(SmokeLatest::read(dir.path()).as_ref()), Series::default(), "never ran");
        let failed = record(dir.path(), &report(false, 1_800_000_000.0)).unwrap();
        let latest = SmokeLatest::read(dir.path()).unwrap();
        assert!(!latest.success);
        assert_eq!(latest.reason.as_deref(), Some("loki push and query: d"));
        record(dir.path(), &report(true, 1_800_000_000.0)).unwrap();
        let latest = SmokeLatest::read(dir.path()).unwrap();
        assert!(latest.success && latest.reason.is_none());
        let last = latest.last_failure.unwrap();
        assert_eq!((last.reason.as_str(), last.result), ("loki push and query: d", failed));
        assert_eq!(last.at, "2027-01-15T08:00:00Z");
        assert_eq!(
            Series::from(SmokeLatest::read(dir.path()).as_ref()),
            Series { success: true, last_run_timestamp_seconds: 1_800_000_000.0 }
        );
        let runs: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(runs.len(), 3, "two runs in the same second and latest.json, no temporary left: {runs:?}");
    }
}
