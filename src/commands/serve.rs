//! `ops-gen serve` and `ops-gen healthcheck`: binding the listener and
//! running the exporter until SIGINT or SIGTERM, and the probe a container
//! healthcheck runs against it.

use std::time::Duration;

use anyhow::{Context as _, Result};

use super::{Outcome, block_on, load};
use crate::cli::{Cli, HealthcheckArgs, ServeArgs};
use crate::exporter::{self, Exporter};

/// `serve`: `/metrics`, health, the status page and the ops API, until a
/// signal asks it to stop (in-flight requests finish first).
pub fn serve(cli: &Cli, args: &ServeArgs) -> Result<Outcome> {
    block_on(async {
        let loaded = load(cli)?;
        let listen = args.listen.unwrap_or(loaded.config.listen);
        let source = loaded.source.label();
        let scheme = if loaded.config.auth.web.as_ref().is_some_and(|w| w.tls.is_some()) { "https" } else { "http" };
        let exporter = Exporter::start(loaded)?;
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
            format!("cannot listen on {listen} (is another process using it? change `listen` or pass --listen)")
        })?;
        let address = listener.local_addr()?;
        #[cfg(unix)]
        exporter::reload_on_sighup(&exporter).context("cannot watch for SIGHUP")?;
        tracing::info!(config = %source, "ops-gen {} serving on {scheme}://{address}/ (metrics at /metrics)", crate::build_info::VERSION);
        exporter::serve(listener, exporter, shutdown_signal()).await.context("the HTTP server failed")?;
        tracing::info!("stopped");
        Ok(Outcome::Ok)
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// `healthcheck`: exit 0 when the exporter at `--url` answers with a
/// success status, else 1 with what it answered.
pub fn healthcheck(args: &HealthcheckArgs) -> Result<Outcome> {
    block_on(async {
        let client = crate::tls::http_client(|| reqwest::Client::builder().timeout(Duration::from_secs(args.timeout)))
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))?;
        match client.get(&args.url).send().await {
            Ok(response) if response.status().is_success() => Ok(Outcome::Ok),
            Ok(response) => {
                eprintln!("{} answered {}", args.url, response.status());
                Ok(Outcome::ProblemsFound)
            }
            Err(e) => {
                eprintln!("{}: {}", args.url, crate::errors::chain(&e));
                Ok(Outcome::ProblemsFound)
            }
        }
    })
}
