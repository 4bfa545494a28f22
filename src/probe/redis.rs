//! `redis`: `PING`, plus live persistence state from `INFO persistence`.
//!
//! The persistence series tell whether Redis could write its snapshot lately
//! (`rdb_last_bgsave_status`), when it last did, and how many changes would be
//! lost by a crash now. One multiplexed connection is reused across runs and
//! dropped after any error or cancelled run.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::Mutex;

use futures::future::BoxFuture;
use prometheus_client::encoding::DescriptorEncoder;

use super::{Outcome, Reason};
use crate::config::HumanDuration;
use crate::config::checks::redis::Spec;
use crate::errors::chain;
use crate::series;

pub const REASONS: &[Reason] = &[Reason::Timeout, Reason::Connect, Reason::Auth, Reason::Protocol, Reason::Internal];

/// The live persistence state from `INFO persistence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Persistence {
    /// Unix time of the last successful RDB save.
    pub last_save_timestamp_seconds: i64,
    /// Whether the last background save succeeded.
    pub last_bgsave_success: bool,
    /// Writes since the last save: what a crash would lose.
    pub changes_since_last_save: i64,
}

impl Persistence {
    /// Reads the fields we need from an `INFO persistence` answer.
    fn parse(info: &str) -> Result<Self, String> {
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
                .map(str::trim)
                .ok_or_else(|| format!("INFO persistence has no `{name}` field"))
        };
        let number = |name: &str| field(name)?.parse::<i64>().map_err(|_| format!("`{name}` is not a number"));
        Ok(Self {
            last_save_timestamp_seconds: number("rdb_last_save_time")?,
            last_bgsave_success: field("rdb_last_bgsave_status")? == "ok",
            changes_since_last_save: number("rdb_changes_since_last_save")?,
        })
    }
}

pub struct RedisProbe {
    client: redis::Client,
    redacted: String,
    connection: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl fmt::Debug for RedisProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisProbe").field("url", &self.redacted).finish_non_exhaustive()
    }
}

impl RedisProbe {
    #[must_use]
    pub fn new(spec: &Spec) -> Self {
        Self { client: spec.url.get().clone(), redacted: spec.url.to_string(), connection: Mutex::new(None) }
    }

    pub async fn check(&self) -> Outcome {
        let mut slot = self.connection.lock().await;
        let mut conn = if let Some(conn) = slot.take() {
            conn
        } else {
            {
                // The runner's deadline is the real limit; these only keep a
                // dead socket from lingering after a cancelled run.
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(30)))
                    .set_response_timeout(Some(Duration::from_secs(30)));
                match self.client.get_multiplexed_async_connection_with_config(&config).await {
                    Ok(conn) => conn,
                    Err(e) => return failure(&e),
                }
            }
        };
        let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
        match pong {
            Ok(pong) if pong == "PONG" => {}
            Ok(other) => {
                return Outcome::failed(Reason::Protocol, format!("PING answered {other:?}"));
            }
            Err(e) => return failure(&e),
        }
        let info: String = match redis::cmd("INFO").arg("persistence").query_async(&mut conn).await {
            Ok(info) => info,
            Err(e) => return failure(&e),
        };
        *slot = Some(conn);
        match Persistence::parse(&info) {
            Ok(p) => Outcome::ok(p),
            Err(message) => Outcome::failed(Reason::Protocol, message),
        }
    }
}

pub(crate) fn failure(e: &redis::RedisError) -> Outcome {
    let reason = match (e.kind(), e.code()) {
        (redis::ErrorKind::AuthenticationFailed, _) | (_, Some("NOAUTH" | "WRONGPASS" | "NOPERM")) => Reason::Auth,
        _ if e.is_timeout() => Reason::Timeout,
        _ if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() => Reason::Connect,
        _ => Reason::Protocol,
    };
    Outcome::failed(reason, chain(e))
}

impl super::Found for Persistence {
    fn describe(&self, now: SystemTime) -> String {
        format!(
            "last save {}, {} change(s) since, last bgsave {}",
            HumanDuration::ago(self.last_save_timestamp_seconds as f64, now),
            self.changes_since_last_save,
            if self.last_bgsave_success { "ok" } else { "FAILED" }
        )
    }
}

/// Redis' persistence series, labelled `target`.
pub(crate) fn series(entries: &[super::Entry<'_>], enc: &mut DescriptorEncoder) -> fmt::Result {
    let rows = super::details_of::<Persistence>(entries);
    super::target_gauge(
        enc,
        (series::REDIS_LAST_SAVE_TIMESTAMP_SECONDS, "When Redis last saved its RDB snapshot, in Unix seconds."),
        &rows,
        |p| p.last_save_timestamp_seconds as f64,
    )?;
    super::target_gauge(
        enc,
        (series::REDIS_LAST_BGSAVE_SUCCESS, "Whether Redis' last background save succeeded."),
        &rows,
        |p| f64::from(u8::from(p.last_bgsave_success)),
    )?;
    super::target_gauge(
        enc,
        (series::REDIS_CHANGES_SINCE_LAST_SAVE, "Writes to Redis since its last save: what a crash now would lose."),
        &rows,
        |p| p.changes_since_last_save as f64,
    )
}

impl super::Run for RedisProbe {
    fn run(&self) -> BoxFuture<'_, Outcome> {
        Box::pin(self.check())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_info_persistence() {
        let info = "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:42\r\nrdb_bgsave_in_progress:0\r\n\
                    rdb_last_save_time:1700000000\r\nrdb_last_bgsave_status:err\r\n";
        let p = Persistence::parse(info).unwrap();
        assert_eq!(p.changes_since_last_save, 42);
        assert_eq!(p.last_save_timestamp_seconds, 1_700_000_000);
        assert!(!p.last_bgsave_success);
        assert!(Persistence::parse("loading:0\r\n").unwrap_err().contains("rdb_last_save_time"));
    }
}
