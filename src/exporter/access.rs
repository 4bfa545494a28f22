//! Who may reach which route of `ops-gen serve`: the one authentication
//! layer, in front of every route.
//!
//! | route | no basic auth | `auth.web_config` lists users |
//! |---|---|---|
//! | `/-/healthy`, `/healthz`, `/api/ops/beacon.js` | open | open |
//! | `/api/ops/…` | the API's tokens ([`super::api::auth`]) | a valid API token, or basic auth (the API then asks for its token) |
//! | `POST /-/reload` | an admin token when tokens are configured; always a non-simple request | basic auth or an admin token, and a non-simple request |
//! | everything else (`/`, `/status.json`, `/metrics`, `/probe`, `/-/ready`, `/runbooks/`) | open | basic auth, or a valid API token |
//!
//! A non-simple request carries `Content-Type: application/json` or an
//! `X-Requested-By` header: no HTML form can send either, so no web page
//! the operator visits can make the exporter reload.
//!
//! Basic auth runs bcrypt (slow on purpose) on the blocking pool, one check
//! at a time, and only for credentials not verified before; each client
//! address may try [`BCRYPT_PER_MINUTE`] unverified credentials a minute,
//! and gets 429 after that without any bcrypt at all. So a flood of bad
//! logins costs at most one core and never slows `/healthz` or a scrape.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{Quota, RateLimiter};

use super::Exporter;
use crate::config::auth::Role;
use crate::config::web::WebConfig;

/// Unverified basic-auth credentials one client address may have checked
/// per minute (each costs a bcrypt run).
pub const BCRYPT_PER_MINUTE: u32 = 10;

/// The header that, like a JSON body, makes a request one no form can send.
const REQUESTED_BY: &str = "x-requested-by";

/// A rate limit kept per client address.
pub type PerAddress = RateLimiter<
    IpAddr,
    governor::state::keyed::DefaultKeyedStateStore<IpAddr>,
    governor::clock::DefaultClock,
    governor::middleware::NoOpMiddleware,
>;

/// What the layer keeps between requests.
#[derive(Debug)]
pub struct Access {
    /// Unverified credentials checked, per client address.
    attempts: PerAddress,
    /// One bcrypt at a time, whoever asks.
    bcrypt: tokio::sync::Semaphore,
}

impl Default for Access {
    fn default() -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(BCRYPT_PER_MINUTE).unwrap_or(NonZeroU32::MIN));
        Self { attempts: RateLimiter::keyed(quota), bcrypt: tokio::sync::Semaphore::new(1) }
    }
}

/// The client's address, when the server recorded it.
pub fn client(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip())
}

/// The layer itself (see the module's table).
pub async fn authenticate(State(exporter): State<Arc<Exporter>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if matches!(path.as_str(), "/-/healthy" | "/healthz" | "/api/ops/beacon.js") {
        return next.run(request).await;
    }
    let loaded = exporter.loaded();
    let auth = &loaded.config.auth;
    let basic = auth.web.as_ref().filter(|web| web.wants_basic_auth()).cloned();
    // Only where a token decides something here (not on every open scrape).
    let caller = if path == "/-/reload" || basic.is_some() {
        let token = super::api::auth::bearer(request.headers()).map(str::to_owned).or_else(|| {
            (path == "/api/ops/frontend-log").then(|| super::api::query_token(request.uri().query())).flatten()
        });
        super::api::auth::identify(auth, token.as_deref())
    } else {
        None
    };

    if path == "/-/reload" {
        if !non_simple(request.headers()) {
            return refuse(
                StatusCode::FORBIDDEN,
                "send the reload with `Content-Type: application/json` or an `X-Requested-By` header (so no web page can trigger it)",
            );
        }
        let admin = caller.as_ref().is_some_and(|c| c.role >= Role::Admin);
        let needs_proof = basic.is_some() || !auth.tokens.is_empty();
        if !needs_proof || admin {
            return next.run(request).await;
        }
        if basic.is_none() {
            return refuse(StatusCode::UNAUTHORIZED, "send an admin token: `Authorization: Bearer <token>`");
        }
    }
    let Some(web) = basic else {
        return next.run(request).await;
    };
    // A valid API token is proof enough; the API then checks its role.
    if caller.is_some() {
        return next.run(request).await;
    }
    let presented = WebConfig::credentials(request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    match check_basic(&exporter, &web, presented, client(&request)).await {
        Verdict::Allowed => next.run(request).await,
        Verdict::Denied => {
            (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic realm=\"ops-gen\"")], "Unauthorized\n")
                .into_response()
        }
        Verdict::Throttled => {
            let mut response = refuse(StatusCode::TOO_MANY_REQUESTS, "too many login attempts; wait a minute");
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            response
        }
    }
}

enum Verdict {
    Allowed,
    Denied,
    Throttled,
}

/// Basic auth: a credential verified before passes at once; any other costs
/// the client one attempt and a bcrypt run on the blocking pool.
async fn check_basic(
    exporter: &Exporter,
    web: &WebConfig,
    presented: Option<(String, String)>,
    client: IpAddr,
) -> Verdict {
    let Some((user, password)) = presented else {
        return Verdict::Denied;
    };
    if web.verified_before(&user, &password) {
        return Verdict::Allowed;
    }
    let access = exporter.access();
    if access.attempts.check_key(&client).is_err() {
        return Verdict::Throttled;
    }
    let Ok(_one_at_a_time) = access.bcrypt.acquire().await else {
        return Verdict::Denied;
    };
    let web = web.clone();
    let ok = tokio::task::spawn_blocking(move || web.verify(&user, &password)).await.unwrap_or(false);
    if ok { Verdict::Allowed } else { Verdict::Denied }
}

/// Whether a request is one no HTML form (and no `navigator.sendBeacon`)
/// can send across sites.
fn non_simple(headers: &HeaderMap) -> bool {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    json || headers.contains_key(REQUESTED_BY)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}
