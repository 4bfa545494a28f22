//! The ops API under `/api/ops/`: what a helper (a teammate, a script, an
//! AI agent) needs instead of SSH.
//!
//! Every route needs a bearer token of the right role ([`auth`]), is written
//! to the audit log, and is rate-limited per caller where it costs (logs,
//! bundles, actions) or can be flooded (the browser beacon). Bodies are
//! capped. The routes:
//!
//! - `POST /api/ops/frontend-log`: a browser error from the beacon
//!   ([`frontend`]); `GET /api/ops/frontend-logs?since=5m` reads them back.
//! - `GET /api/ops/events`: Server-Sent Events ([`events`]).
//! - `POST /api/ops/actions/restart/{service}`: restart a service of the app.
//! - `GET /api/ops/whoami`: the caller's token name and role (for the status
//!   page's admin buttons).
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

use crate::exporter::Exporter;
use auth::{Caller, Denied, Role};

/// The browser beacon's script.
const BEACON_JS: &str = include_str!("beacon.js");
/// The longest `since` a read accepts.
const MAX_SINCE: Duration = Duration::from_secs(30 * 24 * 3600);

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
/// token is shared by every browser).
#[derive(Debug)]
struct Limits {
    logs: Keyed,
    bundle: Keyed,
    actions: Keyed,
    beacon: Direct,
}

impl Limits {
    fn new() -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        let beacon = Quota::per_second(NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN));
        Self {
            logs: RateLimiter::keyed(per_minute(60)),
            bundle: RateLimiter::keyed(per_minute(6)),
            actions: RateLimiter::keyed(per_minute(12)),
            beacon: RateLimiter::direct(beacon),
        }
    }

    /// Whether `caller` may make one more call of `route` now.
    fn allow(&self, route: &str, caller: &str) -> bool {
        let keyed = if route == "/api/ops/frontend-log" {
            return self.beacon.check().is_ok();
        } else if route.starts_with("/api/ops/logs") {
            &self.logs
        } else if route.contains("bundle") {
            &self.bundle
        } else if route.starts_with("/api/ops/actions/") {
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
        .route("/frontend-log", post(frontend_log).options(beacon_preflight))
        .route("/frontend-logs", get(frontend_logs))
        .route("/events", get(events))
        .route("/actions/restart/{service}", post(restart))
        .route("/whoami", get(whoami))
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

fn query_token(query: Option<&str>) -> Option<String> {
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

/// CORS for the beacon: only configured origins, only on its route.
/// `Err(())` for an origin that is not configured.
fn cors(exporter: &Exporter, headers: &HeaderMap) -> Result<Option<HeaderValue>, ()> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(None) };
    let allowed = exporter.loaded().config.auth.beacon_origins.iter().any(|o| origin.as_bytes() == o.as_bytes());
    if allowed { Ok(Some(origin.clone())) } else { Err(()) }
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

/// `POST /api/ops/frontend-log`: one browser error (≤ 64 KiB of JSON).
async fn frontend_log(State(exporter): State<Arc<Exporter>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(origin) = cors(&exporter, &headers) else { return foreign_origin() };
    if body.len() > frontend::MAX_BODY {
        return problem(StatusCode::PAYLOAD_TOO_LARGE, "a beacon is at most 64 KiB");
    }
    let mut response = match frontend::Event::from_body(&body, SystemTime::now()) {
        Err(message) => problem(StatusCode::BAD_REQUEST, &message),
        Ok(event) => {
            let ops = exporter.ops();
            let event = ops.frontend.add(event);
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
            let events = exporter.ops().frontend.since(since);
            let events: Vec<&frontend::Event> = events.iter().map(AsRef::as_ref).collect();
            axum::Json(serde_json::json!({ "events": events })).into_response()
        }
    }
}

/// `GET /api/ops/events`: the live stream.
async fn events(State(exporter): State<Arc<Exporter>>) -> Response {
    exporter.ops().hub.stream().into_response()
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
    let Some(project) = exporter.loaded().app_project() else {
        return problem(StatusCode::NOT_FOUND, "no app stack is configured (set `stack.files` in ops-gen.yml)");
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
    fn roles_follow_the_route() {
        assert_eq!(required(&Method::POST, "/api/ops/frontend-log"), Role::Beacon);
        assert_eq!(required(&Method::GET, "/api/ops/frontend-logs"), Role::Read);
        assert_eq!(required(&Method::POST, "/api/ops/actions/restart/{service}"), Role::Admin);
    }
}
