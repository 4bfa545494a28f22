//! `canary`: does data written to a store survive its restarts?
//!
//! The first lesson of many self-hosted outages is a volume that was not
//! persistent. A canary is a row in a small table (PostgreSQL), a key
//! (Redis) or an object under the target's prefix (S3, `<prefix>canary.json`)
//! holding when it was first written and the identity of the server run that
//! saw it last (`pg_postmaster_start_time()`, Redis' `run_id`; S3 has none,
//! so only a loss is seen there). On each run, on its own schedule:
//! - the canary is there and the server identity changed: the store restarted
//!   and the data survived;
//! - the canary is gone although this process wrote it: the data did not
//!   survive (`opsgen_canary_survived 0`), and a new canary starts;
//! - `opsgen_canary_age_seconds` is the time since the canary was first
//!   written: it keeps growing across restarts while data persists, and drops
//!   to zero when it is lost.
//!
//! Writes touch only the table, key or object the config names. These checks come
//! from the `canary` section, not from `checks`.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use futures::future::BoxFuture;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::{Outcome, Reason};
use crate::config::HumanDuration;
use crate::config::checks::canary::{Spec, Store};
use crate::series;

pub const REASONS: &[Reason] =
    &[Reason::Timeout, Reason::Connect, Reason::Tls, Reason::Auth, Reason::Query, Reason::Protocol, Reason::Internal];

/// What the canary check reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct State {
    /// The target whose data the canary watches.
    pub target: String,
    /// No loss seen: every restart observed kept the canary.
    pub survived: bool,
    /// Seconds since the canary was first written.
    pub age_seconds: f64,
}

/// What this process remembers between runs.
#[derive(Debug, Default)]
struct Memory {
    wrote: bool,
    survived: bool,
}

pub struct CanaryProbe {
    spec: Spec,
    /// The S3 client, for an S3 target.
    s3: Option<Box<super::s3::S3Probe>>,
    writer: String,
    memory: Mutex<Memory>,
}

impl fmt::Debug for CanaryProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanaryProbe").field("target", &self.spec.target).finish_non_exhaustive()
    }
}

/// A canary as stored: `(created_at, server identity)`, Unix seconds.
type Found = Option<(f64, String)>;

impl CanaryProbe {
    pub fn new(spec: &Spec) -> Result<Self, String> {
        let writer = format!("ops-gen@{}", std::process::id());
        let s3 = match &spec.store {
            Store::S3(s) => Some(Box::new(super::s3::S3Probe::new(s)?)),
            Store::Postgres(_) | Store::Redis(_) => None,
        };
        Ok(Self { spec: spec.clone(), s3, writer, memory: Mutex::new(Memory { wrote: false, survived: true }) })
    }

    pub async fn check(&self) -> Outcome {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let result = match &self.spec.store {
            Store::Postgres(spec) => self.postgres(spec, now).await,
            Store::Redis(spec) => self.redis(spec, now).await,
            Store::S3(spec) => self.s3(spec, now).await,
        };
        let (found, server) = match result {
            Ok(pair) => pair,
            Err(outcome) => return outcome,
        };
        let mut memory = self.memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (survived, created) = match found {
            // Still there; if the server restarted since, that is a survival.
            Some((created, seen_by)) => {
                if seen_by != server {
                    memory.survived = true;
                }
                (memory.survived, created)
            }
            // Gone although we wrote it: the data did not survive.
            None if memory.wrote => {
                memory.survived = false;
                (false, now)
            }
            None => (memory.survived, now),
        };
        memory.wrote = true;
        if !survived {
            tracing::warn!(target = %self.spec.target, "persistence canary lost: the store did not keep its data across a restart");
        }
        Outcome::ok(State { target: self.spec.target.clone(), survived, age_seconds: (now - created).max(0.0) })
    }

    /// Reads the canary and the server's identity, then writes the canary.
    async fn postgres(
        &self,
        spec: &crate::config::checks::postgres::Spec,
        now: f64,
    ) -> Result<(Found, String), Outcome> {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
            crate::tls::client_config(spec.tls_verify).map_err(|e| Outcome::failed(Reason::Tls, e))?,
        );
        let mut config = spec.url.get().clone();
        config.application_name("ops-gen-canary");
        let (client, connection) = config.connect(tls).await.map_err(|e| super::postgres::failure(&e))?;
        let driver = tokio::spawn(connection);
        let table = &self.spec.table;
        let result = async {
            client
                .batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {table} (id int PRIMARY KEY, created_at double precision NOT NULL, \
                     seen_at double precision NOT NULL, server text NOT NULL, writer text NOT NULL)"
                ))
                .await?;
            let server: String = client.query_one("SELECT pg_postmaster_start_time()::text", &[]).await?.get(0);
            let found = client
                .query_opt(&format!("SELECT created_at, server FROM {table} WHERE id = 1"), &[])
                .await?
                .map(|row| (row.get::<_, f64>(0), row.get::<_, String>(1)));
            client
                .execute(
                    &format!(
                        "INSERT INTO {table} (id, created_at, seen_at, server, writer) VALUES (1, $1, $1, $2, $3) \
                         ON CONFLICT (id) DO UPDATE SET seen_at = $1, server = $2, writer = $3"
                    ),
                    &[&now, &server, &self.writer],
                )
                .await?;
            Ok::<_, tokio_postgres::Error>((found, server))
        }
        .await;
        driver.abort();
        result.map_err(|e| {
            let mut outcome = super::postgres::failure(&e);
            if let Some(f) = outcome.failure.as_mut() {
                f.message = format!("canary table `{table}`: {}", f.message);
            }
            outcome
        })
    }

    async fn redis(&self, spec: &crate::config::checks::redis::Spec, now: f64) -> Result<(Found, String), Outcome> {
        let fail = |e: &redis::RedisError| super::redis::failure(e);
        let mut conn = spec.url.get().get_multiplexed_async_connection().await.map_err(|e| fail(&e))?;
        let info: String = redis::cmd("INFO").arg("server").query_async(&mut conn).await.map_err(|e| fail(&e))?;
        let server = info
            .lines()
            .find_map(|l| l.strip_prefix("run_id:"))
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| Outcome::failed(Reason::Protocol, "INFO server has no run_id"))?;
        let stored: Option<String> =
            redis::cmd("GET").arg(&self.spec.key).query_async(&mut conn).await.map_err(|e| fail(&e))?;
        let found = stored.and_then(|text| {
            let value: serde_json::Value = serde_json::from_str(&text).ok()?;
            Some((value["created_at"].as_f64()?, value["server"].as_str()?.to_owned()))
        });
        let created = found.as_ref().map_or(now, |(created, _)| *created);
        let canary =
            serde_json::json!({"created_at": created, "seen_at": now, "server": server, "writer": self.writer});
        let _: () = redis::cmd("SET")
            .arg(&self.spec.key)
            .arg(canary.to_string())
            .query_async(&mut conn)
            .await
            .map_err(|e| fail(&e))?;
        Ok((found, server))
    }
}

impl CanaryProbe {
    /// S3 keeps no server identity we could read: the canary object says
    /// only whether it is still there.
    async fn s3(&self, spec: &crate::config::checks::s3::Spec, now: f64) -> Result<(Found, String), Outcome> {
        use object_store::ObjectStoreExt as _;
        const SERVER: &str = "s3";
        let Some(client) = &self.s3 else {
            return Err(Outcome::failed(Reason::Internal, "the S3 client was not set up"));
        };
        let store = client.store();
        let path = object_store::path::Path::from(format!("{}canary.json", spec.prefix));
        let fail = |op: &str, e: &object_store::Error| Outcome {
            details: None,
            failure: Some(super::s3::failure(&format!("canary object `{path}`: {op}"), e)),
        };
        let found = match store.get(&path).await {
            Ok(got) => {
                let bytes = got.bytes().await.map_err(|e| fail("get", &e))?;
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v["created_at"].as_f64())
                    .map(|created| (created, SERVER.to_owned()))
            }
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(fail("get", &e)),
        };
        let created = found.as_ref().map_or(now, |(created, _)| *created);
        let canary = serde_json::json!({"created_at": created, "seen_at": now, "writer": self.writer});
        store.put(&path, canary.to_string().into_bytes().into()).await.map_err(|e| fail("put", &e))?;
        Ok((found, SERVER.to_owned()))
    }
}

impl super::Found for State {
    fn describe(&self, _now: std::time::SystemTime) -> String {
        let age = Duration::try_from_secs_f64(self.age_seconds).unwrap_or_default().as_secs();
        format!(
            "{} (canary {} old)",
            if self.survived { "data survived every restart seen" } else { "DATA LOST at a restart" },
            HumanDuration::from_secs(age)
        )
    }
}

/// Persistence canaries, labelled by the target they watch.
pub(crate) fn series(entries: &[super::Entry<'_>], enc: &mut DescriptorEncoder) -> fmt::Result {
    let states = super::details_of::<State>(entries);
    if states.is_empty() {
        return Ok(());
    }
    let mut family = enc.encode_descriptor(
        series::CANARY_SURVIVED,
        "1 while every restart of the target seen kept the canary written before it; 0 once one lost it (an ephemeral volume).",
        None,
        MetricType::Gauge,
    )?;
    for (_, s) in &states {
        family.encode_family(&[("target", s.target.as_str())])?.encode_gauge(&f64::from(u8::from(s.survived)))?;
    }
    let mut family = enc.encode_descriptor(
        series::CANARY_AGE_SECONDS,
        "Time since the target's canary was first written: grows across restarts while data persists, drops when it is lost.",
        None,
        MetricType::Gauge,
    )?;
    for (_, s) in &states {
        family.encode_family(&[("target", s.target.as_str())])?.encode_gauge(&s.age_seconds)?;
    }
    Ok(())
}

impl super::Run for CanaryProbe {
    fn run(&self) -> BoxFuture<'_, Outcome> {
        Box::pin(self.check())
    }
}
