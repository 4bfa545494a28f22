//! PostgreSQL targets: the dump, the drill and the restore side by side.
//!
//! - `dump`: the server's roles and tablespaces with
//!   `pg_dumpall --globals-only` into `postgres/<target>/globals.sql`
//!   ([`GLOBALS`]), then `pg_dump -Fc` of each database into
//!   `postgres/<target>/<database>.dump`. The local `pg_dump` must not be
//!   older than the server ([`pg_dump_fits`], which `doctor` asks too).
//! - `drill`: the set restored into a throwaway server, a local cluster
//!   (`initdb` + `pg_ctl`, as the `postgres` user when we run as root,
//!   since PostgreSQL refuses to run as root) listening on a private Unix
//!   socket only, or a container ([`super::container::PgContainer`]): the
//!   roles first, then every database with `pg_restore`; then the sanity
//!   checks from the config (expected tables, SQL queries with expected
//!   values or minimums).
//! - `restore`: `pg_restore --clean --if-exists` of each database in a
//!   single transaction (all or nothing), with `--with-roles` after
//!   applying `globals.sql`.
//!
//! The tools reach a target with the password in `PGPASSWORD`, never on
//! their command line, which any user can read in `ps`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::Job;
use super::container::PgContainer;
use super::drill::CheckResult;
use super::manifest::FileEntry;
use super::process::{error_line, last_line, stream_to_file, tool_version};
use super::run::relative;
use crate::config::backup::{Engine, EngineKind, Query, Sanity};

/// Dumps a PostgreSQL target into `set`: its globals, then each database
/// of the job (the URL's database when it names none).
pub(super) async fn dump(
    job: &Job,
    spec: &crate::config::checks::postgres::Spec,
    settings: &crate::config::backup::PostgresSettings,
    set: &Path,
) -> Result<Vec<FileEntry>, String> {
    let config = spec.url.get();
    let PgDumpFit { version, .. } = pg_dump_fits(spec).await?;
    let client = super::scratch::PgClient::new(spec)?;
    let databases = if job.databases.is_empty() {
        vec![config.get_dbname().unwrap_or(&client.user).to_owned()]
    } else {
        job.databases.clone()
    };
    let folder = set.join("postgres").join(&job.target);
    crate::output::create_private_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let mut files = Vec::new();
    // The roles and tablespaces the dumps' owners and grants name: without
    // them a restore onto a fresh server fails.
    let path = folder.join(GLOBALS);
    let first = databases.first().cloned().unwrap_or_default();
    let mut command = client.command("pg_dumpall", &first, "ops-gen-backup");
    command.arg("--globals-only");
    if !settings.role_passwords {
        command.arg("--no-role-passwords");
    }
    let begun = Instant::now();
    let (size, sha256) = stream_to_file(command, &path, "pg_dumpall --globals-only").await?;
    files.push(FileEntry {
        path: relative(set, &path),
        size,
        sha256,
        tool: "pg_dumpall".to_owned(),
        tool_version: version.clone(),
        source: "globals".to_owned(),
        duration_seconds: begun.elapsed().as_secs_f64(),
    });
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

/// The file of a PostgreSQL copy holding the server's roles and tablespaces
/// (`pg_dumpall --globals-only`).
pub const GLOBALS: &str = "globals.sql";

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
pub async fn pg_dump_fits(spec: &crate::config::checks::postgres::Spec) -> Result<PgDumpFit, String> {
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
async fn server_major(spec: &crate::config::checks::postgres::Spec) -> Result<u32, String> {
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(crate::tls::client_config(spec.tls_verify)?);
    let mut config = spec.url.get().clone();
    config.connect_timeout(std::time::Duration::from_secs(10));
    let (client, connection) =
        config.connect(tls).await.map_err(|e| format!("cannot connect: {}", crate::errors::chain(&e)))?;
    let driver = tokio::spawn(connection);
    let row = client
        .query_one("SHOW server_version_num", &[])
        .await
        .map_err(|e| format!("cannot read the server version: {e}"));
    driver.abort();
    let number: u32 = row?.get::<_, String>(0).parse().map_err(|_| "unexpected server_version_num".to_owned())?;
    Ok(number / 10_000)
}

/// Restores the dumps in `files` into a throwaway server of `engine`, runs
/// `sanity` against it, and removes it; the restore time and the checks.
pub(super) async fn drill(
    files: &[PathBuf],
    sanity: &Sanity,
    engine: &Engine,
) -> Result<(f64, Vec<CheckResult>), String> {
    let dumps: Vec<&PathBuf> = files.iter().filter(|f| f.extension().is_some_and(|e| e == "dump")).collect();
    let globals = files.iter().find(|f| f.file_name().is_some_and(|n| n == GLOBALS));
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

/// Whether this process runs as root (PostgreSQL refuses to).
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

/// What `psql` said while applying a `globals.sql`: roles that exist
/// already (the server's own superuser) are expected; any other error
/// fails, naming the first.
pub(super) fn globals_outcome(success: bool, stderr: &str) -> Result<(), String> {
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

/// Restores the dumps in `files` into the target (with `with_roles`, its
/// `globals.sql` first); says what was restored.
pub(super) async fn restore(
    spec: &crate::config::checks::postgres::Spec,
    files: &[PathBuf],
    with_roles: bool,
) -> Result<String, String> {
    let client = super::scratch::PgClient::new(spec)?;
    let dumps: Vec<&PathBuf> = files.iter().filter(|f| f.extension().is_some_and(|e| e == "dump")).collect();
    let mut done = Vec::new();
    if with_roles {
        let globals = files.iter().find(|f| f.file_name().is_some_and(|n| n == GLOBALS)).ok_or(
            "the set holds no globals.sql (it was taken before ops-gen dumped roles); restore without --with-roles",
        )?;
        let first = dumps.first().and_then(|d| d.file_stem()).and_then(|s| s.to_str()).unwrap_or("postgres");
        let mut psql = client.command("psql", first, "ops-gen-restore");
        psql.args(["--no-psqlrc", "--quiet", "--file"]).arg(globals);
        let out = psql.output().await.map_err(|e| format!("cannot run psql ({e}); install postgresql-client"))?;
        globals_outcome(out.status.success(), &String::from_utf8_lossy(&out.stderr))?;
    }
    for dump in dumps {
        let db = dump.file_stem().and_then(|s| s.to_str()).ok_or("a dump without a name")?.to_owned();
        let mut command = client.command("pg_restore", &db, "ops-gen-restore");
        command.args(["--clean", "--if-exists", "--single-transaction", "--exit-on-error"]);
        if !with_roles {
            // Objects become the connecting user's, whatever roles exist.
            command.arg("--no-owner");
        }
        command.arg(dump);
        let out =
            command.output().await.map_err(|e| format!("cannot run pg_restore ({e}); install postgresql-client"))?;
        if !out.status.success() {
            let why = last_line(&out.stderr);
            return Err(format!("pg_restore of database `{db}` failed, nothing of it changed: {why}"));
        }
        done.push(db);
    }
    let roles = if with_roles { "roles and " } else { "" };
    Ok(format!("{roles}database(s) {} restored", done.join(", ")))
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
