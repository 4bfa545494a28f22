//! The ops API under `/api/ops/`: what a helper (a teammate, a script, an
//! AI agent) needs instead of SSH.
//!
//! Every route needs a bearer token of the right role ([`auth`]), is written
//! to the audit log, and is rate-limited per caller where it costs (logs,
//! bundles, actions) or can be flooded (the browser beacon). Bodies are
//! capped. The routes:
//!
//! - `GET /api/ops/context`: one JSON snapshot of the stack
//!   ([`crate::ops::context`], with the scheduled jobs) and the last known
//!   frontend state.
//! - `GET /api/ops/logs?service=&tail=&since=&format=json|plain`: a
//!   service's log tail ([`crate::ops::logs`]).
//! - `GET /api/ops/support-bundle`: the diagnostics bundle as a download
//!   ([`crate::ops::bundle`]); `POST /api/ops/actions/bundle` writes one
//!   into `output/ops/` and answers its index.
//! - `POST /api/ops/frontend-log`: a browser error from the beacon
//!   ([`frontend`]); `GET /api/ops/frontend-logs?since=5m` reads them back.
//! - `GET /api/ops/events`: Server-Sent Events ([`events`]).
//! - `POST /api/ops/actions/restart/{service}`: restart a service of the app.
//! - `GET /api/ops/jobs`: the scheduled jobs ([`crate::jobs`]) with their
//!   last result and next run; `POST /api/ops/jobs/{name}/run` starts one
//!   now (admin), answering at once while it runs.
//! - `GET /api/ops/whoami`: the caller's token name and role (for the status
//!   page's admin buttons).
//!
//! Everything that leaves through these routes from the stack (context,
//! logs, bundle) goes through the one [`crate::config::redact::Redactor`].
//! - `GET /api/ops/beacon.js`: the script an app includes (public: it holds
//!   no secret).

pub mod auth;
pub mod events;
pub mod frontend;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::{Quota, RateLimiter};

use crate::config::auth::Role;
use crate::exporter::Exporter;
use auth::{Caller, Denied};

/// The browser beacon's script.
const BEACON_JS: &str = include_str!("beacon.js");
/// The longest `since` a read accepts.
const MAX_SINCE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The most log lines one call returns.
const MAX_TAIL: usize = 10_000;

/// What the API keeps between requests.
#[derive(Debug)]
pub struct Ops {
    pub frontend: frontend::Store,
    pub hub: Arc<events::Hub>,
    audit: auth::Audit,
    limits: Limits,
}

impl Ops {
    /// The API's state; browser errors are kept in `frontend_log`.
    #[must_use]
    pub fn new(frontend_log: Option<&std::path::Path>) -> Self {
        Self {
            frontend: frontend::Store::open(frontend_log),
            hub: Arc::new(events::Hub::default()),
            audit: auth::Audit::default(),
            limits: Limits::new(),
        }
    }
}

type Keyed = RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    governor::clock::DefaultClock,
    governor::middleware::NoOpMiddleware,
>;
type Direct = governor::DefaultDirectRateLimiter;

/// Rate limits: per caller for what costs, overall for the beacon (one
/// token is shared by every browser), and per client address for calls
/// without a valid token (before anything is written).
#[derive(Debug)]
struct Limits {
    anonymous: crate::exporter::access::PerAddress,
    logs: Keyed,
    context: Keyed,
    bundle: Keyed,
    actions: Keyed,
    beacon: Direct,
    /// Beacons per client address, and per page route they report.
    beacon_clients: crate::exporter::access::PerAddress,
    beacon_routes: Keyed,
}

impl Limits {
    fn new() -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        let beacon = Quota::per_second(NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN));
        let anonymous = Quota::per_second(NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN));
        Self {
            anonymous: RateLimiter::keyed(anonymous),
            logs: RateLimiter::keyed(per_minute(60)),
            context: RateLimiter::keyed(per_minute(30)),
            bundle: RateLimiter::keyed(per_minute(6)),
            actions: RateLimiter::keyed(per_minute(12)),
            beacon: RateLimiter::direct(beacon),
            beacon_clients: RateLimiter::keyed(
                Quota::per_second(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN))
                    .allow_burst(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN)),
            ),
            beacon_routes: RateLimiter::keyed(
                Quota::per_second(NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN))
                    .allow_burst(NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN)),
            ),
        }
    }

    /// Whether `caller` may make one more call of `route` now.
    fn allow(&self, route: &str, caller: &str) -> bool {
        let keyed = if route == "/api/ops/frontend-log" {
            return self.beacon.check().is_ok();
        } else if route.starts_with("/api/ops/logs") {
            &self.logs
        } else if route == "/api/ops/context" {
            &self.context
        } else if route.contains("bundle") {
            &self.bundle
        } else if route.starts_with("/api/ops/actions/") || route == "/api/ops/jobs/{name}/run" {
            &self.actions
        } else {
            return true;
        };
        keyed.check_key(&caller.to_owned()).is_ok()
    }
}

/// The role a route needs.
fn required(method: &Method, route: &str) -> Role {
    if route == "/api/ops/frontend-log" {
        Role::Beacon
    } else if method == Method::POST {
        Role::Admin
    } else {
        Role::Read
    }
}

/// The `/api/ops` routes, nested into `ops-gen serve`'s router.
pub fn router(exporter: Arc<Exporter>) -> Router<Arc<Exporter>> {
    Router::new()
        .route("/context", get(context))
        .route("/logs", get(logs))
        .route("/support-bundle", get(support_bundle))
        .route("/actions/bundle", post(bundle_action))
        .route("/frontend-log", post(frontend_log).options(beacon_preflight))
        .route("/frontend-logs", get(frontend_logs))
        .route("/events", get(events))
        .route("/actions/restart/{service}", post(restart))
        .route("/whoami", get(whoami))
        .route("/jobs", get(jobs))
        .route("/jobs/{name}/run", post(run_job))
        // On matched routes only, so the guard sees the route's template.
        .route_layer(axum::middleware::from_fn_with_state(exporter, guard))
        .route("/beacon.js", get(beacon_js))
}

/// Authenticates, authorizes, rate-limits and audits every API call.
async fn guard(State(exporter): State<Arc<Exporter>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("?", MatchedPath::as_str).to_owned();
    let method = request.method().clone();
    let loaded = exporter.loaded();
    let settings = &loaded.config.auth;
    // The beacon cannot send headers (navigator.sendBeacon): its token may
    // come in the query string, on that route only.
    let presented = auth::bearer(request.headers())
        .map(str::to_owned)
        .or_else(|| (route == "/api/ops/frontend-log").then(|| query_token(request.uri().query())).flatten());
    let caller = auth::identify(settings, presented.as_deref());
    let client = crate::exporter::access::client(&request);
    // Calls without a valid token: a few per second per address, then 429
    // counted into one summary line a minute instead of a line each.
    if caller.is_none() && method != Method::OPTIONS && exporter.ops().limits.anonymous.check_key(&client).is_err() {
        exporter.ops().audit.refused(&settings.audit_path(), client);
        let mut response = problem(StatusCode::TOO_MANY_REQUESTS, "too many calls without a valid token; slow down");
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        return response;
    }
    let response = if method == Method::OPTIONS {
        next.run(request).await
    } else {
        match auth::authorize(caller.as_ref(), required(&method, &route)) {
            Err(denied) => refuse(denied, settings.tokens.is_empty()),
            Ok(()) if !exporter.ops().limits.allow(&route, caller.as_ref().map_or("-", |c| c.name.as_str())) => {
                let mut response = problem(StatusCode::TOO_MANY_REQUESTS, "too many requests; slow down");
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
                response
            }
            Ok(()) => {
                let mut request = request;
                request.extensions_mut().insert(Client(client));
                if let Some(caller) = caller.clone() {
                    request.extensions_mut().insert(caller);
                }
                next.run(request).await
            }
        }
    };
    exporter.ops().audit.record(
        &settings.audit_path(),
        caller.as_ref().map(|c| c.name.as_str()),
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

pub(crate) fn query_token(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned())
}

fn refuse(denied: Denied, no_tokens: bool) -> Response {
    match denied {
        Denied::Unauthenticated if no_tokens => problem(
            StatusCode::UNAUTHORIZED,
            "the ops API is off: no tokens are configured (add `auth.tokens` to ops-gen.yml)",
        ),
        Denied::Unauthenticated => {
            let mut response = problem(StatusCode::UNAUTHORIZED, "send a valid token: `Authorization: Bearer <token>`");
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        Denied::Forbidden => problem(StatusCode::FORBIDDEN, "this token's role may not do that"),
    }
}

/// An error answer: `{"error": "…"}`.
fn problem(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// The address of the client, as the guard saw it.
#[derive(Debug, Clone, Copy)]
struct Client(std::net::IpAddr);

/// CORS for the beacon: only configured origins, only on its route.
/// `Err(())` for an origin that is not configured, and, once origins are
/// configured, for a beacon that names none.
fn cors(exporter: &Exporter, headers: &HeaderMap) -> Result<Option<HeaderValue>, ()> {
    let origins = exporter.loaded().config.auth.beacon_origins.clone();
    let Some(origin) = headers.get(header::ORIGIN) else {
        return if origins.is_empty() { Ok(None) } else { Err(()) };
    };
    let allowed = origins.iter().any(|o| origin.as_bytes() == o.as_bytes());
    if allowed { Ok(Some(origin.clone())) } else { Err(()) }
}

/// 429 for a beacon over one of its limits.
fn too_many_beacons() -> Response {
    let mut response = problem(StatusCode::TOO_MANY_REQUESTS, "too many browser errors from here; slow down");
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
}

fn foreign_origin() -> Response {
    problem(StatusCode::FORBIDDEN, "this origin may not post browser errors (see auth.beacon_origins)")
}

async fn beacon_preflight(State(exporter): State<Arc<Exporter>>, headers: HeaderMap) -> Response {
    match cors(&exporter, &headers) {
        Err(()) => foreign_origin(),
        Ok(origin) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            if let Some(origin) = origin {
                let h = response.headers_mut();
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type, authorization"));
                h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
                h.insert(header::VARY, HeaderValue::from_static("origin"));
            }
            response
        }
    }
}

/// `POST /api/ops/frontend-log`: one browser error (≤ 64 KiB of JSON),
/// redacted before it is kept or passed on. Limited overall (in the guard),
/// per client address and per page route, so one holder of the public
/// beacon token can neither use up the budget nor flush the store.
async fn frontend_log(
    State(exporter): State<Arc<Exporter>>,
    axum::Extension(Client(client)): axum::Extension<Client>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(origin) = cors(&exporter, &headers) else { return foreign_origin() };
    if body.len() > frontend::MAX_BODY {
        return problem(StatusCode::PAYLOAD_TOO_LARGE, "a beacon is at most 64 KiB");
    }
    let ops = exporter.ops();
    if ops.limits.beacon_clients.check_key(&client).is_err() {
        return too_many_beacons();
    }
    let mut response = match frontend::Event::from_body(&body, SystemTime::now()) {
        Err(message) => problem(StatusCode::BAD_REQUEST, &message),
        Ok(event) if ops.limits.beacon_routes.check_key(&event.route).is_err() => too_many_beacons(),
        Ok(event) => {
            let event = ops.frontend.add(event.redacted(&exporter.redactor()));
            ops.hub.publish(events::Event::from_frontend(&event));
            StatusCode::NO_CONTENT.into_response()
        }
    };
    if let Some(origin) = origin {
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SinceQuery {
    since: Option<String>,
}

/// `since` as a Unix time: a duration back from now (`5m`, `2h`) or an RFC
/// 3339 time, at most [`MAX_SINCE`] ago.
fn since(raw: Option<&str>, now: SystemTime) -> Result<f64, String> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else { return Ok(0.0) };
    let at = match humantime::parse_duration(raw) {
        Ok(back) if back <= MAX_SINCE => now - back,
        Ok(_) => return Err(format!("`since` reaches back at most {}", humantime::format_duration(MAX_SINCE))),
        Err(_) => humantime::parse_rfc3339_weak(raw)
            .map_err(|_| format!("`since={raw}` is neither a duration (`5m`) nor a time (`2026-11-23T10:00:00Z`)"))?,
    };
    if now.duration_since(at).is_ok_and(|back| back > MAX_SINCE) {
        return Err(format!("`since` reaches back at most {}", humantime::format_duration(MAX_SINCE)));
    }
    Ok(at.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()))
}

/// `GET /api/ops/frontend-logs?since=5m`: `{"events": […]}`, oldest first.
async fn frontend_logs(
    State(exporter): State<Arc<Exporter>>,
    query: Result<Query<SinceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return problem(StatusCode::BAD_REQUEST, "malformed query; use ?since=5m");
    };
    match since(query.since.as_deref(), SystemTime::now()) {
        Err(message) => problem(StatusCode::BAD_REQUEST, &message),
        Ok(since) => {
            // Kept redacted; redacted again for events an older version kept.
            let redactor = exporter.redactor();
            let events: Vec<frontend::Event> =
                exporter.ops().frontend.since(since).iter().map(|e| e.redacted(&redactor)).collect();
            axum::Json(serde_json::json!({ "events": events })).into_response()
        }
    }
}

/// The stack's Compose project, or why its files cannot be read.
fn project(loaded: &crate::config::Loaded) -> Result<crate::compose::Project, String> {
    crate::compose::Project::load(loaded).map_err(|e| format!("cannot read the stack: {e}"))
}

/// How long the containers' environment may take to read for redaction.
const ENV_LIMIT: Duration = Duration::from_secs(10);

/// `GET /api/ops/context`: the stack's snapshot, plus the newest browser
/// error (`frontend`), redacted.
async fn context(State(exporter): State<Arc<Exporter>>) -> Response {
    let loaded = exporter.loaded();
    let project = match project(&loaded) {
        Ok(project) => project,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let docker = crate::docker::Docker::connect().await.ok();
    let (redactor, env) = crate::ops::context::redactor(&loaded, docker.as_ref(), &project.name, ENV_LIMIT).await;
    let latest = exporter.latest();
    let mut snapshot =
        crate::ops::context::collect(&loaded, &project, docker.as_ref(), &env, &redactor, Some(&latest)).await;
    snapshot.jobs = Some(serde_json::to_value(exporter.scheduler().list()).unwrap_or_default());
    // Field by field, like a bundle: errors and `backups.latest` too.
    let mut value = redactor.json(&serde_json::to_value(&snapshot).unwrap_or_default());
    if let Some(map) = value.as_object_mut() {
        let ops = exporter.ops();
        let frontend = serde_json::json!({
            "events_kept": ops.frontend.len(),
            "latest": ops.frontend.latest().map(|e| redactor.json(&serde_json::to_value(e.as_ref()).unwrap_or_default())),
        });
        map.insert("frontend".to_owned(), frontend);
    }
    axum::Json(value).into_response()
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    service: Option<String>,
    tail: Option<String>,
    since: Option<String>,
    format: Option<String>,
}

/// A log line's level, when its text says one (`ERROR …`, `level=warn`,
/// `"level":"info"`).
fn level(message: &str) -> Option<&'static str> {
    const LEVELS: [(&str, &str); 15] = [
        ("fatal", "error"),
        ("panic", "error"),
        ("emerg", "error"),
        ("alert", "error"),
        ("crit", "error"),
        ("critical", "error"),
        ("error", "error"),
        ("err", "error"),
        ("warning", "warn"),
        ("warn", "warn"),
        ("notice", "info"),
        ("info", "info"),
        ("log", "info"),
        ("debug", "debug"),
        ("trace", "debug"),
    ];
    // A whole word of `LEVELS` at the start of `s` (after brackets, quotes
    // and spaces).
    let word = |s: &str| {
        let s = s.trim_start_matches(['[', '"', '\'', ' ']);
        LEVELS
            .iter()
            .find(|(w, _)| {
                // `get`: the text is anyone's, and `w.len()` may fall inside a
                // multi-byte character.
                s.get(..w.len()).is_some_and(|head| head.eq_ignore_ascii_case(w))
                    && !s.get(w.len()..).is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_alphanumeric()))
            })
            .map(|(_, level)| *level)
    };
    let lower = message.to_ascii_lowercase();
    // Structured: JSON (`"level":`, `"severity":`, `"lvl":`) and logfmt.
    for key in ["\"level\":", "\"severity\":", "\"lvl\":", "level=", "severity=", "lvl="] {
        if let Some(found) = lower.split_once(key).and_then(|(_, rest)| word(rest)) {
            return Some(found);
        }
    }
    // A bare level word first (`ERROR db down`, `[warn] slow`), but not
    // prose (`information is power`): lowercase only in brackets.
    let tokens: Vec<&str> = message.split_whitespace().take(8).collect();
    let level_token = |token: &str| {
        let bracketed = token.starts_with('[') && token.ends_with(']');
        let bare = token.trim_matches(['[', ']', ':', '(', ')']);
        let shouted = !bare.is_empty() && bare.chars().all(|c| c.is_ascii_uppercase());
        (bracketed || shouted).then(|| word(bare)).flatten()
    };
    if let Some(first) = tokens.first()
        && let Some(found) = level_token(first).or_else(|| (first.starts_with('[')).then(|| word(first)).flatten())
    {
        return Some(found);
    }
    // Redis: `PID:ROLE DD Mon YYYY HH:MM:SS.mmm SYMBOL message`, where the
    // symbol is `.` debug, `-` verbose, `*` notice, `#` warning.
    if tokens.len() > 5
        && tokens[0]
            .split_once(':')
            .is_some_and(|(pid, role)| pid.chars().all(|c| c.is_ascii_digit()) && matches!(role, "M" | "S" | "C" | "X"))
    {
        return match tokens[5] {
            "." | "-" => Some("debug"),
            "*" => Some("info"),
            "#" => Some("warn"),
            _ => None,
        };
    }
    // After a timestamp and a pid: PostgreSQL (`… UTC [27] ERROR:  …`),
    // tracing (`2026-…Z ERROR target: …`), log4j, nginx (`… [error] 29#29:`).
    // Continuation lines of PostgreSQL (DETAIL, HINT, STATEMENT) have none.
    tokens.iter().skip(1).take(5).find_map(|t| level_token(t))
}

/// `GET /api/ops/logs`: the last `tail` (default 200) lines of one service,
/// optionally only those since `since`; `{"entries": [{ts, level, message}]}`
/// or, with `format=plain`, text.
async fn logs(
    State(exporter): State<Arc<Exporter>>,
    query: Result<Query<LogsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return problem(StatusCode::BAD_REQUEST, "malformed query; use ?service=NAME&tail=200&since=5m&format=json");
    };
    let Some(service) = query.service.filter(|s| !s.is_empty()) else {
        return problem(StatusCode::BAD_REQUEST, "name a service: ?service=NAME");
    };
    if !valid_service(&service) {
        return problem(StatusCode::BAD_REQUEST, "not a service name (letters, digits, `.`, `_`, `-`)");
    }
    let tail = match query.tail.as_deref().map(str::parse::<usize>) {
        None => 200,
        Some(Ok(n)) if (1..=MAX_TAIL).contains(&n) => n,
        Some(_) => return problem(StatusCode::BAD_REQUEST, &format!("`tail` is a number from 1 to {MAX_TAIL}")),
    };
    let since = match since(query.since.as_deref(), SystemTime::now()) {
        Ok(since) => since,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let plain = match query.format.as_deref() {
        None | Some("json") => false,
        Some("plain") => true,
        Some(_) => return problem(StatusCode::BAD_REQUEST, "`format` is json or plain"),
    };
    let loaded = exporter.loaded();
    let project = match project(&loaded) {
        Ok(project) => project,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let docker = match crate::docker::Docker::connect().await {
        Ok(docker) => docker,
        Err(e) => return problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let (redactor, _) = crate::ops::context::redactor(&loaded, Some(&docker), &project.name, ENV_LIMIT).await;
    let entries = match crate::ops::logs::tail(&docker, &project.name, Some(&service), tail, &redactor).await {
        Ok(entries) => entries,
        Err(e) => return problem(StatusCode::BAD_GATEWAY, &e.to_string()),
    };
    if entries.is_empty()
        && !docker.list_project(&project.name).await.is_ok_and(|c| c.iter().any(|c| c.service == service))
    {
        return problem(StatusCode::NOT_FOUND, &format!("project {} has no service `{service}`", project.name));
    }
    let entries: Vec<_> = entries
        .into_iter()
        .filter(|e| {
            since <= 0.0
                || humantime::parse_rfc3339_weak(e.ts.trim_end_matches('Z'))
                    .ok()
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .is_none_or(|t| t.as_secs_f64() >= since)
        })
        .collect();
    if plain {
        return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], crate::ops::logs::plain(&entries))
            .into_response();
    }
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "ts": e.ts, "level": level(&e.message), "stream": e.stream, "service": e.service, "message": e.message,
            })
        })
        .collect();
    axum::Json(serde_json::json!({ "service": service, "entries": rows })).into_response()
}

/// Collects a bundle with `options` (the metrics part asks this server).
async fn collect_bundle(
    exporter: &Exporter,
    options: crate::ops::bundle::Options,
) -> Result<crate::ops::bundle::BundleReport, Response> {
    let loaded = exporter.loaded();
    let project = project(&loaded).map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
    Box::pin(crate::ops::bundle::collect(&loaded, &project, &options))
        .await
        .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
}

/// `GET /api/ops/support-bundle`: a fresh bundle as a `.tar.gz` download
/// (made in a temporary folder, nothing kept).
async fn support_bundle(State(exporter): State<Arc<Exporter>>) -> Response {
    let Ok(scratch) = tempfile::Builder::new().prefix("ops-gen-bundle-").tempdir() else {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "cannot make a temporary folder for the bundle");
    };
    let options = crate::ops::bundle::Options { dir: scratch.path().to_owned(), ..Default::default() };
    let report = match collect_bundle(&exporter, options).await {
        Ok(report) => report,
        Err(response) => return response,
    };
    let Ok(archive) = tokio::fs::read(&report.archive).await else {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "the bundle's archive could not be read back");
    };
    let name = report.archive.file_name().and_then(|n| n.to_str()).unwrap_or("bundle.tar.gz").to_owned();
    let mut response = ([(header::CONTENT_TYPE, "application/gzip")], archive).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"ops-gen-{name}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(if report.complete { "complete" } else { "partial" }) {
        response.headers_mut().insert("x-ops-gen-bundle", value);
    }
    response
}

/// `POST /api/ops/actions/bundle`: writes a bundle into `output/ops/` on the
/// server and answers its index (admin).
async fn bundle_action(State(exporter): State<Arc<Exporter>>) -> Response {
    match collect_bundle(&exporter, crate::ops::bundle::Options::default()).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(response) => response,
    }
}

/// `GET /api/ops/events`: the live stream.
async fn events(
    State(exporter): State<Arc<Exporter>>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return problem(StatusCode::BAD_REQUEST, "malformed query; use ?exec=true to include healthcheck exec events");
    };
    exporter.ops().hub.stream(query.exec.unwrap_or(false)).into_response()
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// Include the engine's exec events (every healthcheck run makes three).
    exec: Option<bool>,
}

/// `GET /api/ops/whoami`: `{"name", "role"}` of the caller's token.
async fn whoami(caller: Option<axum::Extension<Caller>>) -> Response {
    match caller {
        Some(axum::Extension(caller)) => {
            axum::Json(serde_json::json!({ "name": caller.name, "role": caller.role.as_str() })).into_response()
        }
        None => problem(StatusCode::UNAUTHORIZED, "send a valid token: `Authorization: Bearer <token>`"),
    }
}

/// A Compose service name: what Compose itself accepts, nothing that could
/// walk a path or escape a filter.
fn valid_service(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
}

/// `POST /api/ops/actions/restart/{service}`: restarts the service's
/// containers (admin).
async fn restart(
    State(exporter): State<Arc<Exporter>>,
    caller: Option<axum::Extension<Caller>>,
    Path(service): Path<String>,
) -> Response {
    if !valid_service(&service) {
        return problem(StatusCode::BAD_REQUEST, "not a service name (letters, digits, `.`, `_`, `-`)");
    }
    let project = match project(&exporter.loaded()) {
        Ok(project) => project.name,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let docker = match crate::docker::Docker::connect().await {
        Ok(docker) => docker,
        Err(e) => return problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let by = caller.map_or_else(|| "-".to_owned(), |c| c.0.name);
    match docker.restart_service(&project, &service).await {
        Ok(0) => problem(StatusCode::NOT_FOUND, &format!("project {project} has no service `{service}`")),
        Ok(n) => {
            tracing::info!(%service, %project, by = %by, "restarted {n} container(s)");
            axum::Json(serde_json::json!({ "service": service, "project": project, "restarted": n })).into_response()
        }
        Err(e) => problem(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

/// `GET /api/ops/jobs`: `{"jobs": […]}`, every scheduled job with its last
/// result (redacted) and next run.
async fn jobs(State(exporter): State<Arc<Exporter>>) -> Response {
    let list = exporter.scheduler().list();
    let value = exporter.redactor().json(&serde_json::to_value(&list).unwrap_or_default());
    axum::Json(serde_json::json!({ "jobs": value })).into_response()
}

/// `POST /api/ops/jobs/{name}/run`: starts the job now (admin); 202 while it
/// runs, 409 when it is running already, 404 for a name that is no job.
async fn run_job(
    State(exporter): State<Arc<Exporter>>,
    caller: Option<axum::Extension<Caller>>,
    Path(name): Path<String>,
) -> Response {
    let by = caller.map_or_else(|| "-".to_owned(), |c| c.0.name);
    match exporter.scheduler().trigger(&name) {
        Ok(()) => {
            tracing::info!(job = %name, by = %by, "job run asked through the API");
            (StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "job": name, "started": true }))).into_response()
        }
        Err(e @ crate::jobs::RunError::Running(_)) => problem(StatusCode::CONFLICT, &e.to_string()),
        Err(e @ crate::jobs::RunError::Unknown { .. }) => problem(StatusCode::NOT_FOUND, &e.to_string()),
    }
}

async fn beacon_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")],
        BEACON_JS,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times_within_range() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        assert_eq!(since(None, now), Ok(0.0));
        assert_eq!(since(Some("5m"), now), Ok(2_000_000_000.0 - 300.0));
        assert!(since(Some("2033-05-18T03:33:20Z"), now).is_ok());
        assert!(since(Some("400d"), now).is_err());
        assert!(since(Some("1990-01-01T00:00:00Z"), now).is_err());
        assert!(since(Some("yesterday"), now).is_err());
    }

    #[test]
    fn service_names_cannot_walk_paths() {
        assert!(valid_service("web") && valid_service("api_1.v2-x"));
        for bad in ["", "..", "../etc", "a/b", "-x", "a b", "x%2F", &"a".repeat(200)] {
            assert!(!valid_service(bad), "{bad}");
        }
    }

    #[test]
    fn levels_are_read_from_common_log_shapes() {
        assert_eq!(level("ERROR db down"), Some("error"));
        assert_eq!(level("[warn] slow"), Some("warn"));
        assert_eq!(level("ts=1 level=info msg=up"), Some("info"));
        assert_eq!(level(r#"{"level":"debug","msg":"x"}"#), Some("debug"));
        assert_eq!(level(r#"{"severity":"ERROR","message":"x"}"#), Some("error"));
        assert_eq!(level("information is power"), None);
        assert_eq!(level("listening on :80"), None);
        assert_eq!(level("the error was handled"), None, "prose mentioning a level is not one");
        assert_eq!(level("[é] ÉRROR ✓ «warn»"), None, "multi-byte text is read, never sliced mid-character");
    }

    /// Lines as the real servers here write them (PostgreSQL 15, Redis 7,
    /// s3s-fs and ops-gen through tracing), and nginx's error-log format.
    #[test]
    fn levels_of_real_server_lines() {
        let cases = [
            (
                r#"2026-12-05 14:29:40.794 UTC [16430] ERROR:  syntax error at or near "selec" at character 1"#,
                Some("error"),
            ),
            ("2026-12-05 14:38:56.125 UTC [4208] FATAL:  connection to client lost", Some("error")),
            (
                "2026-12-05 14:28:25.060 UTC [10843] LOG:  listening on IPv4 address \"127.0.0.1\", port 55432",
                Some("info"),
            ),
            ("2026-12-05 14:29:40.794 UTC [16430] STATEMENT:  selec 1", None),
            ("10853:M 05 Dec 2026 14:28:25.159 * Running mode=standalone, port=56379.", Some("info")),
            ("10853:C 05 Dec 2026 14:28:25.157 # Configuration loaded", Some("warn")),
            ("  2026-12-05T17:17:14.627243Z ERROR s3s::ops: error: S3Error { code: AccessDenied, .. }", Some("error")),
            ("2026-12-05T19:13:54.909397Z  WARN check failing: error sending request", Some("warn")),
            ("2026-12-05T19:13:54.863943Z  INFO ops-gen 0.1.0 serving on http://127.0.0.1:19744/", Some("info")),
            (
                r#"2026/12/05 19:10:00 [error] 29#29: *5 open() "/srv/x" failed (2: No such file or directory)"#,
                Some("error"),
            ),
            ("2026-12-05 19:10:00,120 WARN  [main] com.example.App - disk almost full", Some("warn")),
        ];
        for (line, expected) in cases {
            assert_eq!(level(line), expected, "{line}");
        }
    }

    proptest::proptest! {
        // The parsers of what strangers send never panic, whatever arrives.
        #[test]
        fn beacons_of_any_bytes_are_stored_bounded_or_refused(body in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            if let Ok(event) = frontend::Event::from_body(&body, SystemTime::now()) {
                proptest::prop_assert!(event.message.len() <= 4096 + 3 && event.route.len() <= 256 + 3);
            }
        }

        #[test]
        fn beacons_of_any_json_shape_never_panic(
            message in "\\PC{0,300}",
            route in "\\PC{0,300}",
            extra in proptest::option::of("[a-z_]{1,12}"),
        ) {
            let mut value = serde_json::json!({"message": message, "route": route, "stack": "x".repeat(20_000)});
            if let Some(key) = extra {
                value[key] = serde_json::json!([1, {"a": null}]);
            }
            let _ = frontend::Event::from_body(value.to_string().as_bytes(), SystemTime::now());
        }

        #[test]
        fn queries_never_panic(text in "\\PC{0,120}") {
            let _ = since(Some(&text), SystemTime::now());
            let _ = level(&text);
            let _ = valid_service(&text);
            let _ = query_token(Some(&text));
            let _: Result<SinceQuery, _> = serde_urlencoded::from_str(&text);
            let _: Result<LogsQuery, _> = serde_urlencoded::from_str(&text);
        }

        #[test]
        fn authorization_headers_never_panic(value in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                let mut headers = HeaderMap::new();
                headers.insert(header::AUTHORIZATION, value);
                let token = auth::bearer(&headers);
                let settings = crate::config::auth::Settings::default();
                proptest::prop_assert!(auth::identify(&settings, token).is_none());
            }
        }
    }

    #[test]
    fn roles_follow_the_route() {
        assert_eq!(required(&Method::POST, "/api/ops/frontend-log"), Role::Beacon);
        assert_eq!(required(&Method::GET, "/api/ops/frontend-logs"), Role::Read);
        assert_eq!(required(&Method::POST, "/api/ops/actions/restart/{service}"), Role::Admin);
        assert_eq!(required(&Method::POST, "/api/ops/jobs/{name}/run"), Role::Admin);
        assert_eq!(required(&Method::GET, "/api/ops/jobs"), Role::Read);
    }
}
