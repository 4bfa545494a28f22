//! The benchmark's ceiling: the fastest `/metrics` that ops-gen's HTTP stack
//! can serve. Same runtime (Tokio multi-thread, as `ops-gen serve` builds it),
//! same server (axum 0.8 on a Tokio listener), same middleware (request
//! timeout and body limit) and the same text-format `Content-Type`, but the
//! body is a fixed buffer: no checks, no encoding. The benchmark also uses it
//! as a tiny HTTP target for http checks.
//!
//!   cargo run --release --example ceiling -- --listen 127.0.0.1:9799 --size 4096
//!
//! Serves the same `--size` bytes at `/metrics` and at `/`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::routing::get;
use ops_gen::exporter::metrics::TEXT_CONTENT_TYPE;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// The same limits as `ops-gen serve`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_BODY: usize = 64 * 1024;

const USAGE: &str = "usage: ceiling --listen ADDR --size BYTES";

struct Args {
    listen: SocketAddr,
    size: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut size = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        let mut value =
            || inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                listen = Some(v.parse().map_err(|e| format!("--listen {v}: {e}"))?);
            }
            "--size" => {
                let v = value()?;
                size = Some(v.parse().map_err(|e| format!("--size {v}: {e}"))?);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args {
        listen: listen.ok_or_else(|| format!("--listen is required\n{USAGE}"))?,
        size: size.ok_or_else(|| format!("--size is required\n{USAGE}"))?,
    })
}

/// `size` bytes of exposition-looking text, ending in a newline.
fn fixed_body(size: usize) -> Bytes {
    const LINE: &[u8] = b"# ceiling: fixed body, no checks and no encoding\n";
    let mut body: Vec<u8> = LINE.iter().copied().cycle().take(size).collect();
    if let Some(last) = body.last_mut() {
        *last = b'\n';
    }
    Bytes::from(body)
}

fn router(body: Bytes) -> Router {
    let handler = move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], body) }
    };
    Router::new()
        .route("/", get(handler.clone()))
        .route("/metrics", get(handler))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // Built exactly as `ops-gen serve` builds its runtime.
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        eprintln!("ceiling: serving {} bytes on http://{}/metrics", args.size, listener.local_addr()?);
        axum::serve(listener, router(fixed_body(args.size))).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ceiling: {e}");
            ExitCode::from(3)
        }
    }
}
