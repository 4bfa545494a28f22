//! Small TCP and HTTP servers on 127.0.0.1:0 that behave badly on purpose,
//! and a counting HTTP app for the `http` check. Each lives as long as its
//! handle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Aborts the server's task when dropped.
pub struct Server {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    /// Connections currently open (for the hung server).
    pub open: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

#[derive(Clone, Copy)]
enum Behaviour {
    Hang,
    Reset,
    Garbage,
}

async fn spawn(behaviour: Behaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let (acc, op) = (accepted.clone(), open.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            acc.fetch_add(1, Ordering::SeqCst);
            let op = op.clone();
            match behaviour {
                Behaviour::Hang => {
                    op.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        // Read and discard until the client goes away; never answer.
                        let mut buf = [0u8; 4096];
                        while let Ok(n) = sock.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                        op.fetch_sub(1, Ordering::SeqCst);
                    });
                }
                Behaviour::Reset => {
                    let _ = sock.set_zero_linger();
                    drop(sock);
                }
                Behaviour::Garbage => {
                    tokio::spawn(async move {
                        let mut buf = [0u8; 1024];
                        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), sock.read(&mut buf)).await;
                        let _ = sock
                            .write_all(b"\x00\xffSSH-2.0-definitely-not-what-you-expected\r\n\x13\x37garbage\n")
                            .await;
                        let _ = sock.shutdown().await;
                    });
                }
            }
        }
    });
    Server { addr, accepted, open, task }
}

/// Serves `app` (a stand-in of some component) on 127.0.0.1:0.
pub async fn router(app: axum::Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { addr, accepted: Arc::new(AtomicUsize::new(0)), open: Arc::new(AtomicUsize::new(0)), task }
}

/// Accepts connections and never answers.
pub async fn hung() -> Server {
    spawn(Behaviour::Hang).await
}

/// Accepts connections and resets them at once.
pub async fn resetting() -> Server {
    spawn(Behaviour::Reset).await
}

/// Answers every connection with bytes of no known protocol.
pub async fn garbage() -> Server {
    spawn(Behaviour::Garbage).await
}

/// An address where nothing listens.
pub async fn refused() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A small HTTP app: `/ok` 200 "all good", `/json` a JSON health document,
/// `/status/{code}`, `/slow` (answers after 30 s); counts hits of `/count`.
pub async fn http_app() -> Server {
    use axum::Router;
    use axum::extract::Path;
    use axum::http::StatusCode;
    use axum::routing::get;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let hits = accepted.clone();
    let app = Router::new()
        .route("/ok", get(|| async { "all good" }))
        .route(
            "/json",
            get(|| async {
                ([("content-type", "application/json")], r#"{"status":"ok","checks":[{"name":"db","up":true}]}"#)
            }),
        )
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move { StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route(
            "/wait/{ms}",
            get(|axum::extract::Path(ms): axum::extract::Path<u64>| async move {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                "done"
            }),
        )
        .route(
            "/count",
            get(move || {
                let hits = hits.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    // Long enough for concurrent scrapes to overlap.
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    "counted"
                }
            }),
        );
    let app = app.merge(login_flow());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { addr, accepted, open: Arc::new(AtomicUsize::new(0)), task }
}

/// A login flow: `POST /login` with `{"user":"smoke","password":"pw"}` sets a
/// session cookie and answers a token and an asset path; `GET /me` needs both
/// the cookie and `Authorization: Bearer <token>`.
fn login_flow() -> axum::Router {
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::routing::{get, post};

    const SESSION: &str = "session=s3ss10n";
    const TOKEN: &str = "tok-42";
    axum::Router::new()
        .route(
            "/login",
            post(|body: String| async move {
                let creds: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                if creds["user"] != "smoke" || creds["password"] != "pw" {
                    return (StatusCode::UNAUTHORIZED, HeaderMap::new(), "bad credentials".to_owned());
                }
                let mut headers = HeaderMap::new();
                headers.insert(header::SET_COOKIE, format!("{SESSION}; Path=/; HttpOnly").parse().unwrap());
                let body = serde_json::json!({"token": TOKEN, "asset": "/static/app.js"}).to_string();
                (StatusCode::OK, headers, body)
            }),
        )
        .route(
            "/me",
            get(|headers: HeaderMap| async move {
                let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("");
                let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
                if cookie.contains(SESSION) && auth == format!("Bearer {TOKEN}") {
                    (StatusCode::OK, r#"{"name":"smoke"}"#)
                } else {
                    (StatusCode::UNAUTHORIZED, r#"{"error":"who are you?"}"#)
                }
            }),
        )
        .route("/static/app.js", get(|| async { "console.log('app')" }))
}

/// A webhook endpoint that keeps every JSON body posted to `/hook`.
pub async fn webhook() -> (Server, Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push(serde_json::from_str(&body).unwrap_or(serde_json::Value::Null));
                "ok"
            }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (Server { addr, accepted: Arc::new(AtomicUsize::new(0)), open: Arc::new(AtomicUsize::new(0)), task }, received)
}

/// A stand-in for a component's health endpoint: `GET path` answers 200
/// `body`; every other path 404.
pub async fn answering(path: &str, body: &'static str) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let hits = accepted.clone();
    let app = axum::Router::new().route(
        path,
        axum::routing::get(move || {
            hits.fetch_add(1, Ordering::SeqCst);
            async move { body }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { addr, accepted, open: Arc::new(AtomicUsize::new(0)), task }
}

/// An app whose `/health` answers 200 while the switch is on and 503 while
/// it is off.
pub async fn switchable() -> (Server, Arc<std::sync::atomic::AtomicBool>) {
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let switch = healthy.clone();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let up = switch.load(Ordering::SeqCst);
            async move { if up { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE } }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (Server { addr, accepted: Arc::new(AtomicUsize::new(0)), open: Arc::new(AtomicUsize::new(0)), task }, healthy)
}
