//! `ops-gen backup drill [--from SET]`: prove a set restores.
//!
//! Each target of the set is restored into a throwaway instance on a free
//! loopback port in a temporary folder: PostgreSQL into a fresh cluster
//! (`initdb` + `pg_ctl`, as the `postgres` user when we run as root, since
//! PostgreSQL refuses to run as root) with `pg_restore`, Redis into a
//! `redis-server` that loads the RDB at start. The sanity checks from the
//! config run against it (SQL queries with expected values or minimums,
//! expected tables; minimum key counts, expected keys), the measured restore
//! time is recorded, and everything is torn down. The outcome is written to
//! `restore-drill-summary.json` in the set, which `/metrics` reads.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::container::{PgContainer, RedisContainer};
use super::manifest::{Manifest, TargetOutcome, write_synced};
use super::objects;
use super::process::{error_line, last_line};
use crate::config::Config;
use crate::config::backup::{Engine, EngineKind, Query, Sanity};

/// The file a drill writes into the set.
pub const SUMMARY: &str = "restore-drill-summary.json";

/// One sanity check's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

/// One target's drill.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetDrill {
    pub target: String,
    pub kind: String,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From start of the throwaway instance to restored data: the measured
    /// recovery time.
    pub restore_seconds: f64,
    pub checks: Vec<CheckResult>,
}

/// `restore-drill-summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub set: String,
    /// RFC 3339.
    pub drilled_at: String,
    pub drilled_unix: f64,
    pub success: bool,
    pub duration_seconds: f64,
    pub targets: Vec<TargetDrill>,
}

impl Summary {
    /// The last drill of `set`, if any.
    #[must_use]
    pub fn read(set: &Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(set.join(SUMMARY)).ok()?).ok()
    }
}

/// Why a drill could not start.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error(transparent)]
    Verify(#[from] super::verify::VerifyError),
    #[error("the set {set} does not match its manifest ({problems}); drill an intact set")]
    Damaged { set: String, problems: String },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// Restores every successful target of `set` into throwaway instances and
/// runs the sanity checks.
pub async fn drill(config: &Config, set: &Path, progress: &dyn super::run::Progress) -> Result<Summary, DrillError> {
    crate::output::private_umask();
    // Shared: other drills and verifications may run, retention may not.
    let _lock = super::lock::lock(&config.backup.dir, super::lock::Mode::Shared, "backup drill")
        .map_err(super::verify::VerifyError::from)?;
    let record = super::verify::verify_set(set).await?;
    let damaged = record.damaged();
    if !damaged.is_empty() {
        return Err(DrillError::Damaged { set: set.display().to_string(), problems: damaged.join(", ") });
    }
    let manifest = Manifest::read(set).map_err(super::verify::VerifyError::from)?;
    let started = Instant::now();
    let mut targets = Vec::new();
    // An S3 target without its objects in the set has nothing to restore
    // (its listing and round trip are checked by `verify`).
    for outcome in manifest.targets.iter().filter(|t| t.success && (t.kind != "s3" || t.mirrored)) {
        let sanity = config.backup.targets.get(&outcome.target).and_then(|t| t.drill.clone()).unwrap_or_default();
        let files: Vec<PathBuf> = outcome.files.iter().map(|f| set.join(&f.path)).collect();
        tracing::info!(target = %outcome.target, "restore drill");
        progress.started(&outcome.target);
        let begun = Instant::now();
        let result = match outcome.kind.as_str() {
            "postgres" => drill_postgres(&files, &sanity, &config.backup.drill).await,
            "redis" => drill_redis(&files, &sanity, &config.backup.drill).await,
            "s3" => {
                let spec = match config.targets.get(&outcome.target) {
                    Some(crate::config::checks::Spec::S3(spec)) => Some(spec),
                    _ => None,
                };
                drill_s3(set, outcome, spec, &sanity).await
            }
            other => Err(format!("no drill for `{other}` targets")),
        };
        progress.finished(&outcome.target);
        let elapsed = begun.elapsed().as_secs_f64();
        let drilled = match result {
            Ok((restore_seconds, checks)) => TargetDrill {
                target: outcome.target.clone(),
                kind: outcome.kind.clone(),
                success: checks.iter().all(|c| c.ok),
                error: None,
                restore_seconds,
                checks,
            },
            Err(error) => TargetDrill {
                target: outcome.target.clone(),
                kind: outcome.kind.clone(),
                success: false,
                error: Some(error),
                restore_seconds: elapsed,
                checks: Vec::new(),
            },
        };
        targets.push(drilled);
    }
    let now = SystemTime::now();
    let summary = Summary {
        set: manifest.set.clone(),
        drilled_at: humantime::format_rfc3339_seconds(now).to_string(),
        drilled_unix: now.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
        success: !targets.is_empty() && targets.iter().all(|t| t.success),
        duration_seconds: started.elapsed().as_secs_f64(),
        targets,
    };
    let path = set.join(SUMMARY);
    let json = serde_json::to_vec_pretty(&summary)
        .map_err(|e| DrillError::Write { path: path.display().to_string(), source: std::io::Error::other(e) })?;
    write_synced(&path, &json).map_err(|source| DrillError::Write { path: path.display().to_string(), source })?;
    Ok(summary)
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Uid:")).map(|ids| ids.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

/// A PostgreSQL server program of `major` (Debian's versioned folder), or
/// the one on `PATH`.
fn pg_program(name: &str, major: Option<&str>) -> PathBuf {
    major
        .map(|m| PathBuf::from(format!("/usr/lib/postgresql/{m}/bin/{name}")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Runs a PostgreSQL server program, as `postgres` when we are root.
async fn pg_command(program: &Path, args: &[&str]) -> Result<(), String> {
    let mut command = if running_as_root() {
        let mut c = tokio::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        tokio::process::Command::new(program)
    };
    let out = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&out.stderr);
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        Err(format!("{} failed: {}", program.display(), last.trim()))
    }
}

/// A throwaway folder, removed when dropped (with the instance it held).
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new(prefix: &str) -> Result<Self, String> {
        let dir = crate::output::private_tempdir(prefix).map_err(|e| format!("cannot create a scratch folder: {e}"))?;
        Ok(Self(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

async fn drill_postgres(
    files: &[PathBuf],
    sanity: &Sanity,
    engine: &Engine,
) -> Result<(f64, Vec<CheckResult>), String> {
    let dumps: Vec<&PathBuf> = files.iter().filter(|f| f.extension().is_some_and(|e| e == "dump")).collect();
    let globals = files.iter().find(|f| f.file_name().is_some_and(|n| n == super::run::GLOBALS));
    let major = dump_major(dumps.first().ok_or("the set holds no dump")?).await;
    let started = Instant::now();
    let instance = match engine.engine {
        EngineKind::Local => PgInstance::Local(LocalPg::start(major.as_deref()).await?),
        EngineKind::Docker => {
            let major = major.as_deref().ok_or("cannot tell which PostgreSQL version the dump came from")?;
            PgInstance::Container(PgContainer::start(engine, major).await?)
        }
    };
    let result = async {
        // Roles first, then every database with its owners and grants: a
        // role the globals do not create fails the drill, as it would fail
        // a restore onto a new server.
        if let Some(globals) = globals {
            instance.apply_globals(globals).await?;
        }
        let mut databases = Vec::new();
        for dump in &dumps {
            let db = dump.file_stem().and_then(|s| s.to_str()).ok_or("a dump without a name")?.to_owned();
            instance.restore(&db, dump, major.as_deref()).await?;
            databases.push(db);
        }
        let restore_seconds = started.elapsed().as_secs_f64();
        let first = databases.first().cloned().unwrap_or_else(|| "postgres".to_owned());
        let mut checks = Vec::new();
        for table in &sanity.tables {
            let sql = format!("SELECT to_regclass({})::text", super::container::literal(table));
            let found =
                instance.first_value(&first, &sql).await.map_err(|e| format!("looking up table {table}: {e}"))?;
            let exists = matches!(found, FirstValue::Text(_));
            checks.push(CheckResult {
                check: format!("table {table}"),
                ok: exists,
                detail: if exists { "exists".to_owned() } else { "missing".to_owned() },
            });
        }
        for query in &sanity.queries {
            let db = query.database.clone().unwrap_or_else(|| first.clone());
            checks.push(check_query(query, instance.first_value(&db, &query.sql).await));
        }
        Ok((restore_seconds, checks))
    }
    .await;
    instance.stop().await;
    result
}

/// The name of the throwaway clusters' superuser: not `postgres`, so the
/// roles of the dumped server (which usually has one) are created as they
/// were, and a dump's `ALTER ROLE` cannot take the drill's own rights away.
pub const DRILL_SUPERUSER: &str = "ops_gen_drill";

/// A throwaway PostgreSQL server: a local cluster, or a container.
enum PgInstance {
    Local(LocalPg),
    Container(PgContainer),
}

impl PgInstance {
    async fn apply_globals(&self, globals: &Path) -> Result<(), String> {
        match self {
            Self::Local(pg) => pg.apply_globals(globals).await,
            Self::Container(pg) => pg.apply_globals(globals).await,
        }
    }

    async fn restore(&self, db: &str, dump: &Path, major: Option<&str>) -> Result<(), String> {
        match self {
            Self::Local(pg) => pg.restore(db, dump, major).await,
            Self::Container(pg) => pg.restore(db, dump).await,
        }
    }

    /// The first value of the first row `sql` returns in `db`.
    async fn first_value(&self, db: &str, sql: &str) -> Result<FirstValue, String> {
        match self {
            Self::Local(pg) => pg.first_value(db, sql).await,
            Self::Container(pg) => pg.first_value(db, sql).await,
        }
    }

    /// Stops the server and removes its files (also after errors).
    async fn stop(self) {
        match self {
            Self::Local(pg) => pg.stop().await,
            Self::Container(pg) => pg.remove().await,
        }
    }
}

/// A cluster made by `initdb` in an owner-only scratch folder (as
/// `postgres` when we are root, since PostgreSQL refuses to run as root),
/// listening on a Unix socket in that folder only, never on TCP, with a
/// random password for its superuser.
struct LocalPg {
    pg_ctl: PathBuf,
    data: String,
    socket_dir: PathBuf,
    password: String,
    _scratch: Scratch,
}

/// The port in the socket's name (`.s.PGSQL.5432`); nothing listens on it.
const SOCKET_PORT: u16 = 5432;

impl LocalPg {
    /// `initdb` and `pg_ctl start` of the dump's major version.
    async fn start(major: Option<&str>) -> Result<Self, String> {
        let scratch = Scratch::new("ops-gen-drill-pg-")?;
        let root = running_as_root();
        let password = crate::output::random_hex(16);
        let pwfile = scratch.path().join("pwfile");
        crate::output::write_private(&pwfile, password.as_bytes())
            .map_err(|e| format!("cannot write the drill's password file: {e}"))?;
        if root {
            // The folder stays 0700: only postgres (and root) can enter it.
            let chown = tokio::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(scratch.path())
                .status()
                .await;
            if !chown.is_ok_and(|s| s.success()) {
                return Err("cannot hand the scratch folder to the postgres user".to_owned());
            }
        }
        let data = scratch.path().join("data").display().to_string();
        let pwfile_arg = format!("--pwfile={}", pwfile.display());
        let initdb = pg_command(
            &pg_program("initdb", major),
            &["-D", &data, "-A", "scram-sha-256", "-U", DRILL_SUPERUSER, &pwfile_arg, "--no-sync", "-E", "UTF8"],
        )
        .await;
        let _ = std::fs::remove_file(&pwfile);
        initdb?;
        let socket_dir = scratch.path().to_owned();
        // pg_ctl hands the options to a shell: quote the folder.
        let options = format!(
            "-c listen_addresses='' -p {SOCKET_PORT} -c unix_socket_directories='{}' -c unix_socket_permissions=0700 -c fsync=off -c full_page_writes=off",
            socket_dir.display().to_string().replace('\'', "")
        );
        let log = scratch.path().join("server.log").display().to_string();
        let pg_ctl = pg_program("pg_ctl", major);
        pg_command(&pg_ctl, &["-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start"]).await?;
        Ok(Self { pg_ctl, data, socket_dir, password, _scratch: scratch })
    }

    /// A client program (`psql`, `pg_restore`) pointed at the socket, the
    /// password in its environment.
    fn client(&self, program: PathBuf, db: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program);
        command
            .arg("--host")
            .arg(&self.socket_dir)
            .args(["--port", &SOCKET_PORT.to_string(), "--username", DRILL_SUPERUSER, "--dbname", db])
            .env("PGPASSWORD", &self.password)
            .env_remove("PGSERVICE")
            .stdin(Stdio::null());
        command
    }

    async fn connect(&self, db: &str) -> Result<tokio_postgres::Client, String> {
        let (client, conn) = tokio_postgres::Config::new()
            .host_path(&self.socket_dir)
            .port(SOCKET_PORT)
            .user(DRILL_SUPERUSER)
            .password(&self.password)
            .dbname(db)
            .connect_timeout(Duration::from_secs(10))
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect to the drill server: {}", crate::errors::chain(&e)))?;
        tokio::spawn(conn);
        Ok(client)
    }

    async fn apply_globals(&self, globals: &Path) -> Result<(), String> {
        let mut psql = self.client(pg_program("psql", None), "postgres");
        psql.args(["--no-psqlrc", "--quiet", "--file"]).arg(globals);
        let out = psql.output().await.map_err(|e| format!("cannot run psql ({e}); install postgresql-client"))?;
        globals_outcome(out.status.success(), &String::from_utf8_lossy(&out.stderr))
    }

    async fn restore(&self, db: &str, dump: &Path, major: Option<&str>) -> Result<(), String> {
        let admin = self.connect("postgres").await?;
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
            .await
            .map_err(|e| format!("looking up database {db}: {}", crate::errors::chain(&e)))?
            .is_some();
        if !exists {
            admin
                .batch_execute(&format!("CREATE DATABASE \"{}\"", db.replace('"', "\"\"")))
                .await
                .map_err(|e| format!("CREATE DATABASE {db}: {}", crate::errors::chain(&e)))?;
        }
        let mut command = self.client(pg_program("pg_restore", major), db);
        command.arg("--exit-on-error").arg(dump);
        let out = command.output().await.map_err(|e| format!("cannot run pg_restore: {e}"))?;
        if !out.status.success() {
            return Err(format!("pg_restore of {db} failed: {}", last_line(&out.stderr)));
        }
        Ok(())
    }

    async fn first_value(&self, db: &str, sql: &str) -> Result<FirstValue, String> {
        let client = self.connect(db).await?;
        let messages = client.simple_query(sql).await.map_err(|e| format!("failed: {}", crate::errors::chain(&e)))?;
        Ok(FirstValue::of(messages))
    }

    async fn stop(self) {
        let _ = pg_command(&self.pg_ctl, &["-D", &self.data, "-m", "immediate", "-w", "stop"]).await;
    }
}

/// What `psql` said while applying a `globals.sql`: roles that exist
/// already (the server's own superuser) are expected; any other error
/// fails, naming the first.
pub(crate) fn globals_outcome(success: bool, stderr: &str) -> Result<(), String> {
    if let Some(line) = stderr.lines().find(|l| l.contains("ERROR:") && !role_exists(l)) {
        return Err(format!("the roles (globals.sql) did not apply: {}", line.trim()));
    }
    if !success {
        return Err(format!("the roles (globals.sql) did not apply: psql failed: {}", error_line(stderr)));
    }
    Ok(())
}

/// `psql: …: ERROR:  role "x" already exists`: expected when applying globals.
fn role_exists(line: &str) -> bool {
    line.contains("ERROR:  role ") && line.trim_end().ends_with("already exists")
}

/// A name for a drill's container and network, unique on the engine.
pub(super) fn throwaway_name(kind: &str) -> String {
    format!("ops-gen-drill-{kind}-{}", unique_suffix())
}

/// Six hex digits from the clock and the process: concurrent drills (of
/// the same set, from other processes) do not pick the same names.
fn unique_suffix() -> String {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{:06x}", (nanos ^ std::process::id()) & 0x00ff_ffff)
}

/// What a query returned in the first column of its first row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstValue {
    NoRow,
    Null,
    Text(String),
}

impl FirstValue {
    /// From the messages of a simple query.
    fn of(messages: Vec<tokio_postgres::SimpleQueryMessage>) -> Self {
        messages
            .into_iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    Some(row.get(0).map_or(Self::Null, |v| Self::Text(v.to_owned())))
                }
                _ => None,
            })
            .unwrap_or(Self::NoRow)
    }
}

/// A sanity query's check, from the first value it returned.
fn check_query(query: &Query, value: Result<FirstValue, String>) -> CheckResult {
    let label = format!("query {}", query.sql);
    let value = match value {
        Ok(FirstValue::Text(value)) => value,
        Ok(FirstValue::Null) => String::new(),
        Ok(FirstValue::NoRow) => {
            return CheckResult { check: label, ok: false, detail: "returned no row".to_owned() };
        }
        Err(e) => return CheckResult { check: label, ok: false, detail: e },
    };
    let mut ok = true;
    let mut detail = format!("returned {value:?}");
    if let Some(expected) = &query.equals {
        ok &= value == *expected;
        let _ = write!(detail, ", expected {expected:?}");
    }
    if let Some(min) = query.min {
        ok &= value.trim().parse::<f64>().is_ok_and(|v| v >= min);
        let _ = write!(detail, ", expected at least {min}");
    }
    CheckResult { check: label, ok, detail }
}

/// The PostgreSQL major version a dump came from (`pg_restore --list` header).
async fn dump_major(dump: &Path) -> Option<String> {
    let out = tokio::process::Command::new("pg_restore").arg("--list").arg(dump).output().await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("Dumped from database version:"))?;
    let version = line.rsplit(':').next()?.trim();
    version.split('.').next().map(str::to_owned)
}

async fn drill_redis(files: &[PathBuf], sanity: &Sanity, engine: &Engine) -> Result<(f64, Vec<CheckResult>), String> {
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

/// Puts a mirrored set's objects into a scratch bucket on the target's
/// server, checks every object came back whole, and removes the bucket.
async fn drill_s3(
    set: &Path,
    outcome: &TargetOutcome,
    spec: Option<&crate::config::checks::s3::Spec>,
    sanity: &Sanity,
) -> Result<(f64, Vec<CheckResult>), String> {
    let spec = spec.ok_or("the target is no longer in the config, so there is no server to restore into")?;
    let objects = objects::mirrored(set, outcome);
    let expected = objects::listing(set, &outcome.target)?;
    let started = Instant::now();
    let scratch = objects::Scratch::open(spec, sanity.bucket.as_deref(), &scratch_tag(set)).await?;
    let result = async {
        objects::upload(&scratch.store, &scratch.prefix, &objects).await?;
        let restore_seconds = started.elapsed().as_secs_f64();
        let found = objects::list(&scratch.store, &scratch.prefix).await?;
        let mut checks = Vec::new();
        let missing: Vec<&str> =
            expected.iter().filter(|(key, size)| found.get(*key) != Some(size)).map(|(key, _)| key.as_str()).collect();
        checks.push(CheckResult {
            check: format!("every object back in {}", scratch.bucket()),
            ok: missing.is_empty(),
            detail: if missing.is_empty() {
                format!("{} object(s), sizes as listed at backup time", expected.len())
            } else {
                format!("{} of {} missing or of another size: {}", missing.len(), expected.len(), some(&missing))
            },
        });
        let differ = objects::compare(&scratch.store, &scratch.prefix, &objects).await?;
        checks.push(CheckResult {
            check: "content".to_owned(),
            ok: differ.is_empty(),
            detail: if differ.is_empty() {
                format!("{} object(s) read back with the sha256 of the set", objects.len())
            } else {
                format!("{} object(s) differ from the set: {}", differ.len(), some(&differ))
            },
        });
        if let Some(min) = sanity.min_objects {
            checks.push(CheckResult {
                check: format!("at least {min} objects"),
                ok: found.len() as u64 >= min,
                detail: format!("{} objects", found.len()),
            });
        }
        for key in &sanity.keys {
            let exists = found.contains_key(key);
            checks.push(CheckResult {
                check: format!("object {key}"),
                ok: exists,
                detail: if exists { "exists".to_owned() } else { "missing".to_owned() },
            });
        }
        Ok::<_, String>((restore_seconds, checks))
    }
    .await;
    let bucket = scratch.bucket().to_owned();
    let cleanup = scratch.remove().await;
    match (result, cleanup) {
        (Ok((seconds, mut checks)), Err(e)) => {
            checks.push(CheckResult { check: format!("{bucket} cleaned up"), ok: false, detail: e });
            Ok((seconds, checks))
        }
        (Err(e), Err(cleanup)) => Err(format!("{e} (and the scratch bucket was not cleaned up: {cleanup})")),
        (result, Ok(())) => result,
    }
}

/// The first few of `items`, for a one-line detail.
fn some<S: AsRef<str>>(items: &[S]) -> String {
    const SHOWN: usize = 5;
    let mut text = items.iter().take(SHOWN).map(AsRef::as_ref).collect::<Vec<_>>().join(", ");
    if items.len() > SHOWN {
        let _ = write!(text, " and {} more", items.len() - SHOWN);
    }
    text
}

/// A name part for the scratch bucket (3 to 63 lowercase letters, digits and
/// hyphens in all): the set, and a few hex digits so concurrent drills of
/// the same set do not meet.
fn scratch_tag(set: &Path) -> String {
    let name: String = set
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("set")
        .chars()
        .take(30)
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    format!("{name}-{}", unique_suffix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_existing_roles_are_expected_errors() {
        assert!(role_exists("psql:/tmp/g.sql:3: ERROR:  role \"postgres\" already exists"));
        assert!(!role_exists("psql:/tmp/g.sql:4: ERROR:  syntax error at or near \"CREAT\""));
        assert!(!role_exists("psql:/tmp/g.sql:5: ERROR:  tablespace \"x\" already exists"));
    }
}
