//! `postgres`: connect, `SELECT 1`, report the server version.
//!
//! The connection is opened once and reused across runs; any error or a run
//! cut short by its time limit drops it (and aborts its driver task), so the
//! next run starts from a fresh connection.

use std::fmt;

use serde::Serialize;
use tokio::sync::Mutex;
use tokio_postgres::error::SqlState;

use futures::future::BoxFuture;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::{Outcome, Reason};
use crate::config::checks::postgres::{Spec, redact};
use crate::errors::{chain, chain_has};
use crate::series;
use crate::tls;

pub const REASONS: &[Reason] =
    &[Reason::Timeout, Reason::Connect, Reason::Tls, Reason::Auth, Reason::Query, Reason::Protocol, Reason::Internal];

/// What the server says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerInfo {
    pub server_version: String,
}

/// A live connection and the task that drives it.
struct Connection {
    client: tokio_postgres::Client,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The driver would otherwise wait on a hung server forever.
        self.driver.abort();
    }
}

pub struct PostgresProbe {
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    connection: Mutex<Option<Connection>>,
}

impl fmt::Debug for PostgresProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresProbe").field("url", &redact(&self.config)).finish_non_exhaustive()
    }
}

impl PostgresProbe {
    pub fn new(spec: &Spec) -> Result<Self, String> {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls::client_config(spec.tls_verify)?);
        let mut config = spec.url.get().clone();
        config.application_name("ops-gen");
        Ok(Self { config, tls, connection: Mutex::new(None) })
    }

    pub async fn check(&self) -> Outcome {
        let mut slot = self.connection.lock().await;
        // Taken out while in use: if this run is cancelled or fails, the
        // connection is dropped instead of being reused in an unknown state.
        let conn = match slot.take() {
            Some(conn) if !conn.client.is_closed() => conn,
            _ => match self.connect().await {
                Ok(conn) => conn,
                Err(e) => return failure(&e),
            },
        };
        match conn.client.simple_query("SELECT 1, current_setting('server_version')").await {
            Ok(messages) => {
                let version = messages.iter().find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => row.get(1).map(str::to_owned),
                    _ => None,
                });
                *slot = Some(conn);
                match version {
                    Some(server_version) => Outcome::ok(ServerInfo { server_version }),
                    None => Outcome::failed(Reason::Protocol, "SELECT 1 returned no row"),
                }
            }
            Err(e) => failure(&e),
        }
    }

    async fn connect(&self) -> Result<Connection, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "postgres connection closed");
            }
        });
        Ok(Connection { client, driver })
    }
}

pub(crate) fn failure(e: &tokio_postgres::Error) -> Outcome {
    let reason = if let Some(db) = e.as_db_error() {
        match *db.code() {
            SqlState::INVALID_PASSWORD | SqlState::INVALID_AUTHORIZATION_SPECIFICATION => Reason::Auth,
            SqlState::INVALID_CATALOG_NAME | SqlState::TOO_MANY_CONNECTIONS | SqlState::CANNOT_CONNECT_NOW => {
                Reason::Connect
            }
            _ => Reason::Query,
        }
    } else if chain_has::<rustls::Error>(e).is_some() || e.to_string().contains("TLS") {
        Reason::Tls
    } else if chain_has::<std::io::Error>(e).is_some() || e.is_closed() || e.to_string().starts_with("error connecting")
    {
        Reason::Connect
    } else {
        Reason::Protocol
    };
    Outcome::failed(reason, chain(e))
}

impl super::Found for ServerInfo {
    fn describe(&self, _now: std::time::SystemTime) -> String {
        format!("PostgreSQL {}", self.server_version)
    }
}

/// `opsgen_postgres_server_info{target, version}`, from the last successful runs.
pub(crate) fn series(entries: &[super::Entry<'_>], enc: &mut DescriptorEncoder) -> fmt::Result {
    let versions = super::details_of::<ServerInfo>(entries);
    if versions.is_empty() {
        return Ok(());
    }
    let mut family = enc.encode_descriptor(
        series::POSTGRES_SERVER,
        "PostgreSQL server version, from the last successful check.",
        None,
        MetricType::Info,
    )?;
    for (target, info) in versions {
        family.encode_info(&[("target", target), ("version", info.server_version.as_str())])?;
    }
    Ok(())
}

impl super::Run for PostgresProbe {
    fn run(&self) -> BoxFuture<'_, Outcome> {
        Box::pin(self.check())
    }
}
