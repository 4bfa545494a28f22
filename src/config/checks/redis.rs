//! Settings of a `redis` target: its URL, printed without its password.

use serde::{Deserialize, Serialize};

use crate::config::{HumanDuration, MASK, Redact, Redacted, mask_query};

/// Config of a `redis` target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// `redis://[USER][:${PASSWORD}]@HOST:6379[/DB]`
    pub url: RedisUrl,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
}

/// A parsed Redis URL; prints without its password.
pub type RedisUrl = Redacted<redis::Client>;

impl Redact for redis::Client {
    fn parse_redacted(raw: &str) -> Result<(Self, String), String> {
        const FORM: &str = "write it as redis://[:${PASSWORD_VAR}@]HOST:6379[/DB]";
        let mut url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e}); {FORM}"))?;
        match url.scheme() {
            "redis" | "redis+unix" | "unix" => {}
            "rediss" => {
                return Err(
                    "rediss:// (Redis over TLS) is not supported yet; use redis:// on a trusted network".to_owned()
                );
            }
            other => return Err(format!("unsupported scheme `{other}`; {FORM}")),
        }
        let client = redis::Client::open(url.as_str()).map_err(|_| format!("not a valid Redis URL; {FORM}"))?;
        if url.password().is_some() {
            // Cannot fail: the URL has a host, or it would not have a password.
            let _ = url.set_password(Some(MASK));
        }
        Ok((client, mask_query(url.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_prints_without_password() {
        let url: RedisUrl = "redis://:hunter2@cache:6380/2".parse().unwrap();
        assert_eq!(url.to_string(), "redis://:***@cache:6380/2");
        assert!("http://cache".parse::<RedisUrl>().unwrap_err().contains("unsupported scheme"));
    }
}
