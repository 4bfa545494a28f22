//! `postgres`: connect, `SELECT 1`, report the server version.
//!
//! The connection is opened once and reused across runs; any error or a run
//! cut short by its time limit drops it (and aborts its driver task), so the
//! next run starts from a fresh connection.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;

use super::{Details, Outcome, Reason};
use crate::config::{HumanDuration, MASK, Redact, Redacted};
use crate::errors::{chain, chain_has};
use crate::tls;

pub const REASONS: &[Reason] =
    &[Reason::Timeout, Reason::Connect, Reason::Tls, Reason::Auth, Reason::Query, Reason::Protocol, Reason::Internal];

/// Config of a `postgres` target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// `postgres://user:${PASSWORD}@host:5432/db?sslmode=prefer`
    pub url: PostgresUrl,
    /// With TLS, also verify the server's certificate against the system roots.
    #[serde(default)]
    pub tls_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
}

/// A parsed connection string; prints without its password.
pub type PostgresUrl = Redacted<tokio_postgres::Config>;

impl Redact for tokio_postgres::Config {
    fn parse_redacted(raw: &str) -> Result<(Self, String), String> {
        let config = tokio_postgres::Config::from_str(raw).map_err(|e| {
            format!(
                "not a PostgreSQL connection string ({e}); write it as postgres://USER:${{PASSWORD_VAR}}@HOST:5432/DB"
            )
        })?;
        if config.get_hosts().is_empty() {
            return Err("the connection string names no host; write it as postgres://USER@HOST:5432/DB".to_owned());
        }
        let shown = redact(&config);
        Ok((config, shown))
    }
}

fn redact(config: &tokio_postgres::Config) -> String {
    let user = config.get_user().unwrap_or("");
    let auth = match (user.is_empty(), config.get_password().is_some()) {
        (true, _) => String::new(),
        (false, true) => format!("{user}:{MASK}@"),
        (false, false) => format!("{user}@"),
    };
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string().replace('/', "%2F"),
            };
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let db = config.get_dbname().unwrap_or("");
    let ssl = match config.get_ssl_mode() {
        SslMode::Disable => "disable",
        SslMode::Require => "require",
        _ => "prefer",
    };
    format!("postgres://{auth}{}/{db}?sslmode={ssl}", hosts.join(","))
}

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

    pub async fn run(&self) -> Outcome {
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
                    Some(server_version) => Outcome::ok(Details::Postgres(ServerInfo { server_version })),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_prints_without_password() {
        let url: PostgresUrl = "postgres://app:s3cret@db.local:6543/shop?sslmode=require".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db.local:6543/shop?sslmode=require");
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn url_without_host_is_refused() {
        assert!("postgres:///db".parse::<PostgresUrl>().unwrap_err().contains("no host"));
        assert!("not a url at all ===".parse::<PostgresUrl>().is_err());
    }
}
