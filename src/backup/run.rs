//! `ops-gen backup run`: take one set, then apply retention.
//!
//! Targets are dumped one after the other into a hidden temporary folder; a
//! target that fails is recorded in the manifest and the others still run.
//! Passwords reach `pg_dump` and `redis-cli` through their environment
//! (`PGPASSWORD`, `REDISCLI_AUTH`), never their arguments, which any user can
//! read in `ps`. One lock per backup folder (released by the kernel even on
//! `kill -9`) keeps two runs apart and makes cleaning up leftovers safe.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Instant, SystemTime};

use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::manifest::{FileEntry, Manifest, TargetOutcome, hash_file, hex, write_synced};
use super::{Job, jobs, set_name, sets};
use crate::config::Config;
use crate::probe::{Kind, Spec};

/// The file that says which set is the newest complete one.
pub const LATEST: &str = "latest.json";

/// Why no set could be taken at all (a failing target is not one of these:
/// it is recorded in the set).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot use the backup folder {dir}: {source} (fix: create it, or set `backup.dir` to a writable folder)")]
    Folder { dir: String, source: std::io::Error },
    #[error("another `ops-gen backup` is running on {dir}; wait for it to finish")]
    Busy { dir: String },
    #[error("nothing to back up: the config has no postgres or redis targets{only}")]
    NothingToDo { only: String },
    #[error("cannot write the set in {dir}: {source}")]
    Write { dir: String, source: std::io::Error },
}

/// What `backup run` did.
#[derive(Debug)]
pub struct Summary {
    /// The new set's folder.
    pub set: PathBuf,
    pub manifest: Manifest,
    /// Sets removed by retention.
    pub removed: Vec<String>,
}

impl Summary {
    #[must_use]
    pub fn success(&self) -> bool {
        self.manifest.targets.iter().all(|t| t.success)
    }
}

/// What `run` and `drill` report while they work; the CLI draws it on a
/// terminal.
pub trait Progress: Sync {
    fn started(&self, target: &str);
    fn finished(&self, target: &str);
}

/// No progress display (scripts, tests, the safety backup of a restore).
#[derive(Debug, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {
    fn started(&self, _: &str) {}
    fn finished(&self, _: &str) {}
}

/// Takes one set of every configured target (or only `only` kinds).
pub async fn run(config: &Config, only: &[Kind], progress: &dyn Progress) -> Result<Summary, RunError> {
    let dir = &config.backup.dir;
    let folder_err = |source| RunError::Folder { dir: dir.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(folder_err)?;
    let _lock = lock(dir)?;
    remove_leftovers(dir);

    let jobs: Vec<Job> =
        jobs(config).into_iter().filter(|j| only.is_empty() || only.contains(&j.spec.kind())).collect();
    if jobs.is_empty() {
        let only = if only.is_empty() {
            String::new()
        } else {
            format!(" of kind {}", only.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
        };
        return Err(RunError::NothingToDo { only });
    }

    let started_at = SystemTime::now();
    let started = Instant::now();
    let name = unique_name(dir, started_at);
    let tmp = dir.join(format!(".tmp-{name}"));
    let write_err = |source| RunError::Write { dir: dir.display().to_string(), source };
    std::fs::create_dir(&tmp).map_err(write_err)?;
    // Until the rename, any way out of here removes the partial set (on a
    // full disk, at once rather than at the next run).
    let partial = RemoveOnDrop(Some(tmp.clone()));

    let mut targets = Vec::with_capacity(jobs.len());
    for job in &jobs {
        tracing::info!(target = %job.target, "backing up");
        progress.started(&job.target);
        let begun = Instant::now();
        let result = match &job.spec {
            Spec::Postgres(spec) => dump_postgres(job, spec, &tmp).await,
            Spec::Redis(spec) => dump_redis(job, spec, &tmp).await,
            Spec::S3(spec) => dump_s3(job, spec, &tmp).await,
            _ => Err("not a kind that is backed up".to_owned()),
        };
        let (success, error, files) = match result {
            Ok(files) => (true, None, files),
            Err(e) => {
                tracing::error!(target = %job.target, "backup failed: {e}");
                (false, Some(e), Vec::new())
            }
        };
        progress.finished(&job.target);
        targets.push(TargetOutcome {
            target: job.target.clone(),
            kind: job.spec.kind().to_string(),
            success,
            error,
            duration_seconds: begun.elapsed().as_secs_f64(),
            mirrored: job.mirror,
            files,
        });
    }

    let finished_at = SystemTime::now();
    let manifest = Manifest {
        format: 1,
        set: name.clone(),
        ops_gen_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
        finished_at: humantime::format_rfc3339_seconds(finished_at).to_string(),
        finished_unix: finished_at.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
        duration_seconds: started.elapsed().as_secs_f64(),
        targets,
    };
    manifest.write(&tmp).map_err(write_err)?;
    let set = dir.join(&name);
    // The set exists under its real name only once complete.
    std::fs::rename(&tmp, &set).map_err(write_err)?;
    partial.disarm();
    let latest = serde_json::json!({"set": name, "finished_at": manifest.finished_at, "success": manifest.targets.iter().all(|t| t.success)});
    let latest_tmp = dir.join(format!(".{LATEST}.tmp"));
    write_synced(&latest_tmp, latest.to_string().as_bytes()).map_err(write_err)?;
    std::fs::rename(&latest_tmp, dir.join(LATEST)).map_err(write_err)?;

    let mut summary = Summary { set, manifest, removed: Vec::new() };
    if summary.success() {
        summary.removed = apply_retention(config, SystemTime::now());
    }
    Ok(summary)
}

/// Takes the backup folder's lock (an existing folder), held until the file
/// is dropped: one `backup run` or `storage clean` at a time.
pub fn lock(dir: &Path) -> Result<std::fs::File, RunError> {
    let lock = std::fs::File::create(dir.join(".lock"))
        .map_err(|source| RunError::Folder { dir: dir.display().to_string(), source })?;
    if lock.try_lock().is_err() {
        return Err(RunError::Busy { dir: dir.display().to_string() });
    }
    Ok(lock)
}

/// Removes a folder when dropped, unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// A set name that does not exist yet (two runs in the same second).
fn unique_name(dir: &Path, at: SystemTime) -> String {
    let base = set_name(at);
    (0..1000)
        .map(|n| if n == 0 { base.clone() } else { format!("{base}-{n}") })
        .find(|n| !dir.join(n).exists())
        .unwrap_or(base)
}

/// Removes temporary folders of runs that died (we hold the lock).
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            tracing::info!("removing {} left by an interrupted backup", entry.path().display());
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Deletes the sets [`retention_plan`] names; the names of those removed.
fn apply_retention(config: &Config, now: SystemTime) -> Vec<String> {
    retention_plan(config, now)
        .into_iter()
        .filter(|set| std::fs::remove_dir_all(set).is_ok())
        .map(|set| set.file_name().unwrap_or_default().to_string_lossy().into_owned())
        .collect()
}

/// The sets retention removes: beyond `keep_last`, older than `max_age`,
/// never the newest verified set (or, without one, the newest set). `backup
/// run` applies it after a good set; `storage clean` shows it, then applies
/// it under [`lock`].
#[must_use]
pub fn retention_plan(config: &Config, now: SystemTime) -> Vec<PathBuf> {
    let retention = &config.backup.retention;
    let Ok(all) = sets(&config.backup.dir) else { return Vec::new() };
    let protected =
        all.iter().rev().find(|s| super::verify::Record::read(s).is_some_and(|r| r.ok)).or(all.last()).cloned();
    let keep_from = all.len().saturating_sub(retention.keep_last.max(1));
    all[..keep_from]
        .iter()
        .filter(|set| Some(*set) != protected.as_ref())
        .filter(|set| {
            retention.max_age.is_none_or(|max| {
                Manifest::read(set).ok().is_none_or(|m| {
                    let finished =
                        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(m.finished_unix.max(0.0));
                    now.duration_since(finished).is_ok_and(|age| age > max.get())
                })
            })
        })
        .cloned()
        .collect()
}

/// The version a tool prints (`pg_dump (PostgreSQL) 15.18 …` → `15.18`).
async fn tool_version(program: &str, install: &str) -> Result<String, String> {
    let out = tokio::process::Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run `{program}` ({e}); install it: {install}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .map(|v| v.trim_end_matches(',').to_owned())
        .ok_or_else(|| format!("cannot read the version of `{program}` from {text:?}"))
}

/// Runs `command`, streaming its stdout into `path` while hashing it.
async fn stream_to_file(
    mut command: tokio::process::Command,
    path: &Path,
    what: &str,
) -> Result<(u64, String), String> {
    // Messages name the file, not the temporary folder it is written in.
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let errors = tokio::spawn(async move {
        let mut text = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut text).await;
        String::from_utf8_lossy(&text).into_owned()
    });
    let mut file = tokio::fs::File::create(path).await.map_err(|e| format!("cannot create {name}: {e}"))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = stdout.read(&mut buf).await.map_err(|e| format!("reading {what}: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).await.map_err(|e| format!("writing {name}: {e}"))?;
        size += n as u64;
    }
    file.sync_all().await.map_err(|e| format!("writing {name}: {e}"))?;
    let status = child.wait().await.map_err(|e| format!("{what}: {e}"))?;
    let errors = errors.await.unwrap_or_default();
    if !status.success() {
        let last = errors.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(format!("{what} failed ({status}): {}", last.trim()));
    }
    Ok((size, hex(&hasher.finalize())))
}

fn relative(set: &Path, path: &Path) -> String {
    path.strip_prefix(set).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

async fn dump_postgres(job: &Job, spec: &crate::probe::postgres::Spec, set: &Path) -> Result<Vec<FileEntry>, String> {
    let config = spec.url.get();
    let PgDumpFit { version, .. } = pg_dump_fits(spec).await?;
    let client = super::scratch::PgClient::new(spec)?;
    let databases = if job.databases.is_empty() {
        vec![config.get_dbname().unwrap_or(&client.user).to_owned()]
    } else {
        job.databases.clone()
    };
    let folder = set.join("postgres").join(&job.target);
    std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let mut files = Vec::new();
    for db in databases {
        let path = folder.join(format!("{db}.dump"));
        let mut command = client.command("pg_dump", &db, "ops-gen-backup");
        command.arg("--format=custom");
        let begun = Instant::now();
        let (size, sha256) = stream_to_file(command, &path, &format!("pg_dump of database `{db}`")).await?;
        files.push(FileEntry {
            path: relative(set, &path),
            size,
            sha256,
            tool: "pg_dump".to_owned(),
            tool_version: version.clone(),
            source: db,
            duration_seconds: begun.elapsed().as_secs_f64(),
        });
    }
    Ok(files)
}

/// The local `pg_dump` and the server it was checked against.
#[derive(Debug, Clone)]
pub struct PgDumpFit {
    /// What `pg_dump --version` prints, e.g. `15.18`.
    pub version: String,
    pub server_major: u32,
}

/// Checks that the local `pg_dump` can dump the target's server: it must be
/// installed and not older than the server (an older one refuses). The
/// error says what to install. `backup run` and `doctor` both ask this.
pub async fn pg_dump_fits(spec: &crate::probe::postgres::Spec) -> Result<PgDumpFit, String> {
    let (version, server_major) =
        tokio::join!(tool_version("pg_dump", "apt-get install postgresql-client"), server_major(spec));
    let (version, server_major) = (version?, server_major?);
    let client_major: u32 = version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if client_major < server_major {
        return Err(format!(
            "pg_dump {version} cannot dump a PostgreSQL {server_major} server; install postgresql-client-{server_major}"
        ));
    }
    Ok(PgDumpFit { version, server_major })
}

/// The server's major version, which `pg_dump` must not be older than.
async fn server_major(spec: &crate::probe::postgres::Spec) -> Result<u32, String> {
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(crate::probe::tls::client_config(spec.tls_verify)?);
    let mut config = spec.url.get().clone();
    config.connect_timeout(std::time::Duration::from_secs(10));
    let (client, connection) =
        config.connect(tls).await.map_err(|e| format!("cannot connect: {}", crate::probe::chain(&e)))?;
    let driver = tokio::spawn(connection);
    let row = client
        .query_one("SHOW server_version_num", &[])
        .await
        .map_err(|e| format!("cannot read the server version: {e}"));
    driver.abort();
    let number: u32 = row?.get::<_, String>(0).parse().map_err(|_| "unexpected server_version_num".to_owned())?;
    Ok(number / 10_000)
}

async fn dump_redis(job: &Job, spec: &crate::probe::redis::Spec, set: &Path) -> Result<Vec<FileEntry>, String> {
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
    std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
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
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
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
        .map_err(|e| format!("cannot connect: {}", crate::probe::chain(&e)))?;
    let mut sections = serde_json::Map::new();
    for section in ["server", "persistence", "keyspace"] {
        let text: String = redis::cmd("INFO")
            .arg(section)
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("INFO {section}: {}", crate::probe::chain(&e)))?;
        let fields: serde_json::Map<String, serde_json::Value> = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), serde_json::Value::String(v.trim().to_owned())))
            .collect();
        sections.insert(section.to_owned(), serde_json::Value::Object(fields));
    }
    Ok(serde_json::Value::Object(sections))
}

/// An S3 bucket: its listing, an integrity record (a round trip), and with
/// `mirror` a copy of every object, each file hashed into the manifest.
async fn dump_s3(job: &Job, spec: &crate::probe::s3::Spec, set: &Path) -> Result<Vec<FileEntry>, String> {
    use futures::StreamExt as _;
    use object_store::{ObjectStore as _, ObjectStoreExt as _};

    let probe = crate::probe::s3::S3Probe::new(spec)?;
    let folder = set.join("s3").join(&job.target);
    std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create the S3 folder: {e}"))?;
    let entry = |path: &Path, tool: &str, source: &str, seconds: f64| -> Result<FileEntry, String> {
        let (size, sha256) = hash_file(path).map_err(|e| format!("cannot read {}: {e}", relative(set, path)))?;
        Ok(FileEntry {
            path: relative(set, path),
            size,
            sha256,
            tool: tool.to_owned(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            source: source.to_owned(),
            duration_seconds: seconds,
        })
    };
    let mut files = Vec::new();

    let begun = Instant::now();
    let integrity = probe.roundtrip().await;
    let record = match &integrity {
        Ok(()) => {
            serde_json::json!({"bucket": spec.bucket, "roundtrip": "ok", "seconds": begun.elapsed().as_secs_f64()})
        }
        Err(f) => {
            serde_json::json!({"bucket": spec.bucket, "roundtrip": "failed", "reason": f.reason, "message": f.message})
        }
    };
    let path = folder.join("integrity.json");
    write_synced(&path, record.to_string().as_bytes())
        .map_err(|e| format!("cannot write the integrity record: {e}"))?;
    files.push(entry(&path, "ops-gen", "integrity", begun.elapsed().as_secs_f64())?);
    if let Err(f) = integrity {
        return Err(format!("the bucket failed its round trip ({}: {})", f.reason, f.message));
    }

    let begun = Instant::now();
    let mut listing = String::new();
    let mut keys = Vec::new();
    let mut stream = probe.store().list(None);
    while let Some(meta) = stream.next().await {
        let meta = meta.map_err(|e| format!("listing the bucket: {}", crate::probe::chain(&e)))?;
        let line = serde_json::json!({
            "key": meta.location.as_ref(),
            "size": meta.size,
            "etag": meta.e_tag,
            "last_modified": meta.last_modified.to_rfc3339(),
        });
        listing.push_str(&line.to_string());
        listing.push('\n');
        keys.push(meta.location);
    }
    let path = folder.join("listing.jsonl");
    write_synced(&path, listing.as_bytes()).map_err(|e| format!("cannot write the listing: {e}"))?;
    files.push(entry(&path, "ops-gen", "listing", begun.elapsed().as_secs_f64())?);

    if job.mirror {
        for key in keys {
            // Keys become paths: no empty, `.` or `..` parts may escape the set.
            let parts: Vec<&str> = key.as_ref().split('/').collect();
            if parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
                return Err(format!("object key {:?} cannot be mirrored to a file safely", key.as_ref()));
            }
            let begun = Instant::now();
            let path = parts.iter().fold(folder.join("objects"), |p, part| p.join(part));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("cannot create a mirror folder: {e}"))?;
            }
            // Streamed to disk while hashed: objects can be larger than memory.
            let mirrored =
                |e: &dyn std::error::Error| format!("mirroring {}: {}", key.as_ref(), crate::probe::chain(e));
            let mut body = probe.store().get(&key).await.map_err(|e| mirrored(&e))?.into_stream();
            let mut file =
                tokio::fs::File::create(&path).await.map_err(|e| format!("cannot write a mirrored object: {e}"))?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| mirrored(&e))?;
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(|e| format!("cannot write a mirrored object: {e}"))?;
                size += chunk.len() as u64;
            }
            file.sync_all().await.map_err(|e| format!("cannot write a mirrored object: {e}"))?;
            files.push(FileEntry {
                path: relative(set, &path),
                size,
                sha256: hex(&hasher.finalize()),
                tool: "ops-gen".to_owned(),
                tool_version: env!("CARGO_PKG_VERSION").to_owned(),
                source: key.as_ref().to_owned(),
                duration_seconds: begun.elapsed().as_secs_f64(),
            });
        }
    }
    Ok(files)
}
