//! Redis targets: the dump, the drill and the restore side by side.
//!
//! - `dump`: a snapshot taken through the replication stream with
//!   `redis-cli --rdb` into `redis/<target>.rdb` (the password in
//!   `REDISCLI_AUTH`, never on the command line), and next to it
//!   `redis/<target>.json`, the server's `INFO server`, `persistence` and
//!   `keyspace` at backup time.
//! - `drill`: the RDB loaded at start by a throwaway server, a local
//!   `redis-server` on a private Unix socket or a container
//!   ([`super::container::RedisContainer`]) of the snapshot's major
//!   version; then the sanity checks from the config (minimum key count,
//!   expected keys).
//! - `restore`: Redis cannot be given a file remotely, so the RDB is loaded
//!   into a throwaway `redis-server` and its keys are moved into the target
//!   with `MIGRATE` (TTLs kept) after the target is flushed: this works for
//!   a Redis in a container or on another host alike.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::Job;
use super::container::RedisContainer;
use super::drill::CheckResult;
use super::manifest::{FileEntry, hash_file, write_synced};
use super::process::{stream_to_file, tool_version};
use super::run::relative;
use crate::config::backup::{Engine, EngineKind, Sanity};

/// Dumps a Redis target into `set`: its RDB and the metadata that goes with it.
pub(super) async fn dump(
    job: &Job,
    spec: &crate::config::checks::redis::Spec,
    set: &Path,
) -> Result<Vec<FileEntry>, String> {
    let client = spec.url.get();
    let info = client.get_connection_info();
    let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
        return Err("only Redis over plain TCP can be backed up".to_owned());
    };
    // Ask Redis itself first: a clear error for a wrong password or a down
    // server, and the metadata that goes with the snapshot.
    let metadata = redis_metadata(client).await?;
    let version = tool_version("redis-cli", "apt-get install redis-tools").await?;
    let folder = set.join("redis");
    crate::output::create_private_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let rdb = folder.join(format!("{}.rdb", job.target));
    let mut command = tokio::process::Command::new("redis-cli");
    command.args(["-h", host, "-p", &port.to_string()]);
    let settings = info.redis_settings();
    if let Some(user) = settings.username() {
        command.args(["--user", user]);
    }
    match settings.password() {
        Some(password) => command.env("REDISCLI_AUTH", password),
        None => command.env_remove("REDISCLI_AUTH"),
    };
    // redis-cli writes the file itself; its stdout only says how it went.
    command.args(["--rdb"]).arg(&rdb);
    let begun = Instant::now();
    let sink = folder.join(format!(".{}.log", job.target));
    let streamed = stream_to_file(command, &sink, "redis-cli --rdb").await;
    // Not part of the set, whether redis-cli succeeded or not.
    let _ = std::fs::remove_file(&sink);
    streamed?;
    let duration = begun.elapsed().as_secs_f64();
    let (size, sha256) = hash_file(&rdb).map_err(|e| format!("cannot read the RDB redis-cli wrote: {e}"))?;
    let meta_path = folder.join(format!("{}.json", job.target));
    let meta = serde_json::to_vec_pretty(&metadata).map_err(|e| e.to_string())?;
    write_synced(&meta_path, &meta).map_err(|e| format!("cannot write the Redis metadata: {e}"))?;
    let (meta_size, meta_sha) = hash_file(&meta_path).map_err(|e| e.to_string())?;
    Ok(vec![
        FileEntry {
            path: relative(set, &rdb),
            size,
            sha256,
            tool: "redis-cli".to_owned(),
            tool_version: version,
            source: "rdb".to_owned(),
            duration_seconds: duration,
        },
        FileEntry {
            path: relative(set, &meta_path),
            size: meta_size,
            sha256: meta_sha,
            tool: "ops-gen".to_owned(),
            tool_version: crate::build_info::VERSION.to_owned(),
            source: "metadata".to_owned(),
            duration_seconds: 0.0,
        },
    ])
}

/// `INFO server`, `persistence` and `keyspace`, as written next to the RDB.
async fn redis_metadata(client: &redis::Client) -> Result<serde_json::Value, String> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(10)))
        .set_response_timeout(Some(std::time::Duration::from_secs(10)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| format!("cannot connect: {}", crate::errors::chain(&e)))?;
    let mut sections = serde_json::Map::new();
    for section in ["server", "persistence", "keyspace"] {
        let text: String = redis::cmd("INFO")
            .arg(section)
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("INFO {section}: {}", crate::errors::chain(&e)))?;
        let fields: serde_json::Map<String, serde_json::Value> = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), serde_json::Value::String(v.trim().to_owned())))
            .collect();
        sections.insert(section.to_owned(), serde_json::Value::Object(fields));
    }
    Ok(serde_json::Value::Object(sections))
}

/// Loads the RDB in `files` into a throwaway server of `engine`, runs
/// `sanity` against it, and removes it; the restore time and the checks.
pub(super) async fn drill(
    files: &[PathBuf],
    sanity: &Sanity,
    engine: &Engine,
) -> Result<(f64, Vec<CheckResult>), String> {
    let rdb = files.iter().find(|f| f.extension().is_some_and(|e| e == "rdb")).ok_or("the set holds no RDB file")?;
    let started = Instant::now();
    let instance = match engine.engine {
        EngineKind::Local => {
            RedisInstance::Local(super::scratch::ScratchRedis::load(rdb, "ops-gen-drill-redis-").await?)
        }
        EngineKind::Docker => {
            let major =
                files.iter().find(|f| f.extension().is_some_and(|e| e == "json")).and_then(|f| redis_major(f)).ok_or(
                    "cannot tell which Redis version the snapshot came from (its metadata file is unreadable)",
                )?;
            RedisInstance::Container(RedisContainer::start(engine, &major, rdb).await?)
        }
    };
    let restore_seconds = started.elapsed().as_secs_f64();
    let result = async {
        let mut checks = Vec::new();
        if let Some(min) = sanity.min_keys {
            let total = keyspace_keys(&instance.keyspace().await?);
            checks.push(CheckResult {
                check: format!("at least {min} keys"),
                ok: total >= min,
                detail: format!("{total} keys"),
            });
        }
        for key in &sanity.keys {
            let exists = instance.exists(key).await?;
            checks.push(CheckResult {
                check: format!("key {key}"),
                ok: exists,
                detail: if exists { "exists".to_owned() } else { "missing".to_owned() },
            });
        }
        Ok((restore_seconds, checks))
    }
    .await;
    // Stopped whatever the checks found.
    instance.stop().await;
    result
}

/// A throwaway Redis of a drill: a local `redis-server` on a private
/// socket, or a container reached through Docker exec.
enum RedisInstance {
    Local(super::scratch::ScratchRedis),
    Container(RedisContainer),
}

impl RedisInstance {
    /// `INFO keyspace`.
    async fn keyspace(&self) -> Result<String, String> {
        match self {
            Self::Local(scratch) => {
                let mut conn = scratch.conn.clone();
                redis::cmd("INFO").arg("keyspace").query_async(&mut conn).await.map_err(|e| e.to_string())
            }
            Self::Container(container) => container.cli(&["INFO", "keyspace"]).await,
        }
    }

    /// Whether `key` exists in database 0.
    async fn exists(&self, key: &str) -> Result<bool, String> {
        match self {
            Self::Local(scratch) => {
                let mut conn = scratch.conn.clone();
                redis::cmd("EXISTS").arg(key).query_async(&mut conn).await.map_err(|e| e.to_string())
            }
            Self::Container(container) => Ok(container.cli(&["EXISTS", key]).await?.trim() == "1"),
        }
    }

    async fn stop(self) {
        match self {
            Self::Local(scratch) => scratch.stop().await,
            Self::Container(container) => container.remove().await,
        }
    }
}

/// The keys of all databases together, from `INFO keyspace`.
fn keyspace_keys(info: &str) -> u64 {
    info.lines().filter_map(|l| l.split_once("keys=")?.1.split(',').next()?.parse::<u64>().ok()).sum()
}

/// The major version in a snapshot's metadata (`INFO server` at backup time).
fn redis_major(metadata: &Path) -> Option<String> {
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(metadata).ok()?).ok()?;
    info["server"]["redis_version"].as_str()?.split('.').next().map(str::to_owned)
}

/// Replaces the target's keys with those of the RDB in `files`; says how
/// many were restored.
pub(super) async fn restore(spec: &crate::config::checks::redis::Spec, files: &[PathBuf]) -> Result<String, String> {
    let rdb = files.iter().find(|f| f.extension().is_some_and(|e| e == "rdb")).ok_or("the set holds no RDB file")?;
    let target = spec.url.get();
    let info = target.get_connection_info();
    let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
        return Err("only Redis over plain TCP can be restored".to_owned());
    };
    let (host, port) = (host.clone(), *port);
    let settings = info.redis_settings();
    let (username, password) = (settings.username().map(str::to_owned), settings.password().map(str::to_owned));

    let mut scratch = super::scratch::ScratchRedis::load(rdb, "ops-gen-restore-redis-").await?;
    let src = &mut scratch.conn;

    let mut dst = target
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("cannot connect: {}", crate::errors::chain(&e)))?;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut dst).await.map_err(|e| format!("FLUSHALL: {e}"))?;

    let keyspace: String = redis::cmd("INFO").arg("keyspace").query_async(src).await.map_err(|e| e.to_string())?;
    let dbs: Vec<i64> =
        keyspace.lines().filter_map(|l| l.strip_prefix("db")?.split(':').next()?.parse().ok()).collect();
    let mut moved = 0usize;
    for db in dbs {
        let _: () = redis::cmd("SELECT").arg(db).query_async(src).await.map_err(|e| e.to_string())?;
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(src)
                .await
                .map_err(|e| e.to_string())?;
            if !keys.is_empty() {
                // The scratch server pushes the keys to the target itself.
                let mut migrate = redis::cmd("MIGRATE");
                migrate.arg(&host).arg(port).arg("").arg(db).arg(60_000).arg("REPLACE");
                match (&username, &password) {
                    (Some(user), Some(pass)) => {
                        migrate.arg("AUTH2").arg(user).arg(pass);
                    }
                    (None, Some(pass)) => {
                        migrate.arg("AUTH").arg(pass);
                    }
                    _ => {}
                }
                migrate.arg("KEYS").arg(&keys);
                let _: String = migrate.query_async(src).await.map_err(|e| format!("MIGRATE to the target: {e}"))?;
                moved += keys.len();
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    scratch.stop().await;
    Ok(format!("{moved} key(s) restored"))
}
