//! Settings of a `postgres` target: its connection string, printed without
//! its password.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tokio_postgres::config::{Host, SslMode};

use crate::config::{HumanDuration, MASK, Redact, Redacted};

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

pub(crate) fn redact(config: &tokio_postgres::Config) -> String {
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
