//! The throwaway PostgreSQL and Redis containers of a restore drill with
//! `backup.drill.engine: docker`.
//!
//! A drill container holds a restored copy of production, so it exposes
//! nothing: it runs without any network (`network_mode: none`), publishes
//! no port, and ops-gen reaches it only through the Docker API. The dump
//! files are uploaded into it, and the image's own client tools
//! (`pg_isready`, `psql`, `pg_restore`, `redis-cli`) run inside it with
//! Docker exec. So the drill works the same with a remote `DOCKER_HOST`,
//! and this host needs no client tools of the dumped server's version.
//!
//! Each container still gets a fresh random password (PostgreSQL through
//! `POSTGRES_PASSWORD`, so the official image uses scram-sha-256 for host
//! connections instead of trust; Redis through `requirepass` in a config
//! file uploaded before the server starts): a network attached by hand
//! later still finds a locked server. The tools get the password through
//! the exec's environment (`PGPASSWORD`, `REDISCLI_AUTH`), never on a
//! command line, since the engine host's `ps` shows every container
//! process; and it is scrubbed from every message this module returns.
//!
//! A container that stops is reported at once, with its exit code and the
//! last lines of its log: after every failed readiness probe and every
//! failing command, the container's state is read, so an image that
//! refuses to start costs seconds, not the two-minute readiness wait.
//!
//! `backup.drill.env` ([`crate::config::backup::DrillEnv`]) passes extra variables to every drill
//! container (`POSTGRES_INITDB_ARGS`, a licence key of a custom image).

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::postgres::{FirstValue, globals_outcome};
use super::process::error_line;
use crate::config::MASK;
use crate::config::backup::Engine;
use crate::docker::{Docker, ExecOutput, ThrowawaySpec, Upload};

/// How long a fresh container may take to accept connections: the
/// official postgres image runs initdb on its first start.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Between two readiness probes.
const POLL: Duration = Duration::from_millis(200);
/// A readiness probe, a lookup, a `CREATE DATABASE`, a `redis-cli` call.
const QUICK: Duration = Duration::from_secs(60);
/// A sanity query, which may scan a large table.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Restoring a dump or applying the globals: as long as a big database
/// takes, but not forever if the engine hangs.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(6 * 60 * 60);
/// How many of a stopped container's last log lines a failure quotes.
const LOG_LINES: usize = 10;
/// Where uploaded files go inside a PostgreSQL container (exists in every image).
const PG_UPLOAD: &str = "/tmp/ops-gen-drill.upload";

/// A throwaway PostgreSQL server in a container, restored into through
/// Docker exec.
#[derive(Debug)]
pub struct PgContainer {
    inner: Throwaway,
    /// What `psql` prints for NULL: random, so no real value is mistaken
    /// for it.
    null: String,
}

impl PgContainer {
    /// Starts a container of `backup.drill.postgres_image` for PostgreSQL
    /// `major` and waits until the server accepts our connections (up to
    /// two minutes; at once with an error when the container stops).
    pub async fn start(engine: &Engine, major: &str) -> Result<Self, String> {
        let password = crate::output::random_hex(16);
        let mut env = engine.env.entries();
        env.push(format!("POSTGRES_PASSWORD={password}"));
        let image = engine.postgres_image.replace("{major}", major);
        let inner = Throwaway::start("pg", image, Vec::new(), env, &[], password).await?;
        ready(Self { inner, null: crate::output::random_hex(16) }).await
    }

    /// The container's name on the engine (for logs and tests).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The environment of every client tool: the password and superuser,
    /// never on the command line.
    fn env(&self) -> Vec<String> {
        vec![
            format!("PGPASSWORD={}", self.inner.password),
            "PGUSER=postgres".to_owned(),
            "PGCONNECT_TIMEOUT=10".to_owned(),
        ]
    }

    async fn psql(&self, args: &[&str], limit: Duration) -> Result<Ran, String> {
        self.inner.run(&[&["psql", "-X"], args].concat(), &self.env(), limit).await
    }

    /// Runs a `pg_dumpall --globals-only` file (roles, tablespaces) with
    /// `psql -f`, so a restore can give objects their owners and grants.
    /// `role … already exists` errors are expected (`postgres` is always
    /// there) and ignored; any other error fails, naming its first line.
    pub async fn apply_globals(&self, globals_sql: &Path) -> Result<(), String> {
        let what = format!("applying the globals {}", globals_sql.display());
        self.inner.upload(globals_sql, PG_UPLOAD).await.map_err(|e| format!("{what}: {e}"))?;
        // Without ON_ERROR_STOP, psql runs every statement; the errors are
        // read from its output.
        let ran = self.psql(&["-q", "-d", "postgres", "-f", PG_UPLOAD], RESTORE_TIMEOUT).await?;
        self.inner.forget(PG_UPLOAD).await;
        globals_outcome(ran.code == 0, &ran.stderr)
    }

    /// Restores a `pg_dump -Fc` file into database `db` (created when
    /// missing) with owners and privileges, stopping at the first error.
    pub async fn restore(&self, db: &str, dump: &Path) -> Result<(), String> {
        let lookup = format!("SELECT 1 FROM pg_database WHERE datname = {}", literal(db));
        if self.first_value("postgres", &lookup).await.map_err(|e| format!("looking up database {db}: {e}"))?
            == FirstValue::NoRow
        {
            let create = format!("CREATE DATABASE \"{}\"", db.replace('"', "\"\""));
            let ran = self.psql(&["-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", &create], QUICK).await?;
            if ran.code != 0 {
                return Err(format!("CREATE DATABASE {db}: {}", error_line(&ran.stderr)));
            }
        }
        self.inner.upload(dump, PG_UPLOAD).await.map_err(|e| format!("uploading the dump of {db}: {e}"))?;
        let restore = ["pg_restore", "--exit-on-error", "--dbname", db, PG_UPLOAD];
        let ran = self.inner.run(&restore, &self.env(), RESTORE_TIMEOUT).await;
        self.inner.forget(PG_UPLOAD).await;
        let ran = ran?;
        if ran.code != 0 {
            return Err(format!("pg_restore of {db} failed: {}", error_line(&ran.stderr)));
        }
        Ok(())
    }

    /// The first value of the first row `sql` returns in `db`. An SQL
    /// error is an `Err` with the server's message.
    pub async fn first_value(&self, db: &str, sql: &str) -> Result<FirstValue, String> {
        let null = format!("null={}", self.null);
        // Unaligned, tuples only, fields and rows ended by NUL bytes, which
        // no text value holds: the first field is everything up to the first.
        let args = ["-A", "-t", "-z", "-0", "-v", "ON_ERROR_STOP=1", "-P", &null, "-d", db, "-c", sql];
        let ran = self.psql(&args, QUERY_TIMEOUT).await?;
        if ran.code != 0 {
            return Err(error_line(&ran.stderr));
        }
        Ok(first_field(&ran.stdout, &self.null))
    }

    /// Removes the container and everything restored into it.
    pub async fn remove(self) {
        self.inner.remove().await;
    }
}

impl Ready for PgContainer {
    async fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        // Over TCP: on its first start the official image runs a temporary
        // server on the socket only, and restarts it once set up.
        let probe = ["pg_isready", "-h", "127.0.0.1", "-d", "postgres"];
        loop {
            let ran = self.inner.run(&probe, &self.env(), QUICK).await?;
            if ran.code == 0 {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the drill server of {} did not accept connections within {} s (pg_isready: {})",
                    self.inner.image,
                    READY_TIMEOUT.as_secs(),
                    error_line(&ran.stdout)
                ));
            }
            tokio::time::sleep(POLL).await;
        }
        // A server that answers but refuses us says why here.
        let ran = self.psql(&["-q", "-d", "postgres", "-c", "SELECT 1"], QUICK).await?;
        if ran.code != 0 {
            return Err(format!("the drill server of {} refuses psql: {}", self.inner.image, error_line(&ran.stderr)));
        }
        Ok(())
    }

    fn throwaway(self) -> Throwaway {
        self.inner
    }
}

/// A throwaway Redis server in a container, loaded from an RDB file at
/// start.
#[derive(Debug)]
pub struct RedisContainer {
    inner: Throwaway,
}

impl RedisContainer {
    /// Starts a container of `backup.drill.redis_image` for Redis `major`
    /// that loads `rdb`, and waits until it answers (an error at once when
    /// the container stops).
    pub async fn start(engine: &Engine, major: &str, rdb: &Path) -> Result<Self, String> {
        const CONF: &str = "/data/ops-gen-drill.conf";
        let password = crate::output::random_hex(16);
        // In a config file, not `--requirepass`: the engine host's `ps`
        // would show an argument.
        let conf = format!("requirepass {password}\n");
        let image = engine.redis_image.replace("{major}", major);
        let cmd = ["redis-server", CONF, "--dir", "/data", "--dbfilename", "dump.rdb", "--save", ""]
            .into_iter()
            .chain(["--appendonly", "no"])
            .map(str::to_owned)
            .collect();
        let files = [(Upload::File(rdb), "/data/dump.rdb"), (Upload::Bytes(conf.as_bytes()), CONF)];
        let inner = Throwaway::start("redis", image, cmd, engine.env.entries(), &files, password).await?;
        ready(Self { inner }).await
    }

    /// The container's name on the engine (for logs and tests).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    async fn run(&self, args: &[&str], limit: Duration) -> Result<Ran, String> {
        let env = [format!("REDISCLI_AUTH={}", self.inner.password)];
        self.inner.run(&[&["redis-cli"], args].concat(), &env, limit).await
    }

    /// What `redis-cli ARGS…` prints (raw), or its error.
    pub async fn cli(&self, args: &[&str]) -> Result<String, String> {
        let ran = self.run(args, QUERY_TIMEOUT).await?;
        let error = ["ERR", "WRONGTYPE", "NOAUTH", "WRONGPASS", "LOADING"]
            .iter()
            .any(|prefix| ran.stdout.starts_with(prefix) || ran.stdout.starts_with(&format!("(error) {prefix}")));
        if ran.code != 0 || error {
            let said = if ran.stderr.trim().is_empty() { &ran.stdout } else { &ran.stderr };
            return Err(format!("redis-cli {}: {}", args.first().unwrap_or(&""), error_line(said)));
        }
        Ok(ran.stdout)
    }

    /// Removes the container and the data loaded into it.
    pub async fn remove(self) {
        self.inner.remove().await;
    }
}

impl Ready for RedisContainer {
    async fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            // `LOADING` while the RDB is read, refused before it listens.
            let ran = self.run(&["PING"], QUICK).await?;
            if ran.code == 0 && ran.stdout.trim() == "PONG" {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let said = if ran.stdout.trim().is_empty() { &ran.stderr } else { &ran.stdout };
                return Err(format!(
                    "the drill server of {} did not answer within {} s (redis-cli: {})",
                    self.inner.image,
                    READY_TIMEOUT.as_secs(),
                    error_line(said)
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn throwaway(self) -> Throwaway {
        self.inner
    }
}

/// What makes a fresh drill container usable, so that [`ready`] serves
/// both kinds.
trait Ready: Sized {
    /// Waits until the server accepts our connections (up to
    /// [`READY_TIMEOUT`]; at once with an error when the container stops).
    async fn wait_ready(&self) -> Result<(), String>;

    /// The container itself, to remove.
    fn throwaway(self) -> Throwaway;
}

/// `container` once it is ready; one that never gets there is removed
/// before the error returns, so a failed start leaves nothing behind.
async fn ready<C: Ready>(container: C) -> Result<C, String> {
    match container.wait_ready().await {
        Ok(()) => Ok(container),
        Err(e) => {
            container.throwaway().remove().await;
            Err(e)
        }
    }
}

/// What a command inside the container printed (password scrubbed).
struct Ran {
    code: i64,
    stdout: String,
    stderr: String,
}

/// A started drill container, of either kind.
struct Throwaway {
    docker: Docker,
    made: crate::docker::Throwaway,
    name: String,
    image: String,
    password: String,
}

/// Names the container, never its password.
impl fmt::Debug for Throwaway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throwaway").field("name", &self.name).field("image", &self.image).finish_non_exhaustive()
    }
}

impl Throwaway {
    /// Pulls the image if the engine lacks it, and starts the container.
    async fn start(
        kind: &str,
        image: String,
        cmd: Vec<String>,
        env: Vec<String>,
        files: &[(Upload<'_>, &str)],
        password: String,
    ) -> Result<Self, String> {
        let scrub = |text: String| text.replace(&password, MASK);
        let docker = Docker::connect().await.map_err(|e| e.to_string())?;
        docker.ensure_image(&image).await.map_err(|e| format!("image {image}: {e}"))?;
        let name = super::drill::throwaway_name(kind);
        let spec = ThrowawaySpec { name: &name, image: &image, cmd, env, files: files.to_vec() };
        let made = docker
            .start_throwaway(&spec)
            .await
            .map_err(|e| scrub(format!("cannot start the drill container of {image}: {e}")))?;
        tracing::info!(container = %name, %image, "drill container started (no network, nothing published)");
        Ok(Self { docker, made, name, image, password })
    }

    fn scrub(&self, text: &str) -> String {
        text.replace(&self.password, MASK)
    }

    /// Runs `cmd` inside with `env` added. A failure of the container
    /// itself (it stopped, or it lacks the program) is an `Err`; the
    /// command's own failure is a non-zero `code`.
    async fn run(&self, cmd: &[&str], env: &[String], limit: Duration) -> Result<Ran, String> {
        let program = cmd.first().copied().unwrap_or_default();
        match self.docker.exec(&self.made.id, cmd, env, limit).await {
            Ok(out) if out.exit_code == 0 => Ok(self.ran(&out)),
            Ok(out) => {
                if let Some(stopped) = self.stopped().await {
                    return Err(stopped);
                }
                let ran = self.ran(&out);
                // The runtime's codes for a program it cannot find or run.
                if ran.code == 126 || ran.code == 127 {
                    let said = if ran.stderr.trim().is_empty() { &ran.stdout } else { &ran.stderr };
                    return Err(format!(
                        "the image {} cannot run `{program}` ({}): drills use the image's own client tools, so use the official image or one built on it",
                        self.image,
                        error_line(said)
                    ));
                }
                Ok(ran)
            }
            Err(e) => Err(match self.stopped().await {
                Some(stopped) => stopped,
                None => self.scrub(&format!("running {program} in the drill container of {}: {e}", self.image)),
            }),
        }
    }

    fn ran(&self, out: &ExecOutput) -> Ran {
        Ran {
            code: out.exit_code,
            stdout: self.scrub(&String::from_utf8_lossy(&out.stdout)),
            stderr: self.scrub(&String::from_utf8_lossy(&out.stderr)),
        }
    }

    /// When the container no longer runs: its exit code and last log lines,
    /// as one line.
    async fn stopped(&self) -> Option<String> {
        let code = self.docker.exit_code(&self.made.id).await.ok()??;
        let lines: Vec<String> = self
            .docker
            .logs(&self.made.id, LOG_LINES)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.message.trim().chars().take(300).collect::<String>())
            .filter(|l| !l.is_empty())
            .collect();
        let said = if lines.is_empty() { "it logged nothing".to_owned() } else { lines.join(" | ") };
        Some(self.scrub(&format!("the drill container of {} exited with code {code}: {said}", self.image)))
    }

    async fn upload(&self, file: &Path, inside: &str) -> Result<(), String> {
        self.docker.upload(&self.made.id, Upload::File(file), inside).await.map_err(|e| self.scrub(&e.to_string()))
    }

    /// Deletes an uploaded file, so the next one (or the restored data)
    /// has the disk space. Best effort: the container goes anyway.
    async fn forget(&self, inside: &str) {
        let _ = self.docker.exec(&self.made.id, &["rm", "-f", inside], &[], QUICK).await;
    }

    async fn remove(self) {
        if let Err(e) = self.docker.remove_throwaway(&self.made).await {
            tracing::warn!(container = %self.name, "cannot remove a drill container: {e}");
        }
    }
}

/// `text` as an SQL string literal (`standard_conforming_strings` is on in
/// every supported PostgreSQL).
pub(super) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The first field of `psql -A -t -z -0` output.
fn first_field(stdout: &str, null: &str) -> FirstValue {
    if stdout.is_empty() {
        return FirstValue::NoRow;
    }
    match stdout.split('\0').next().unwrap_or_default() {
        first if first == null => FirstValue::Null,
        first => FirstValue::Text(first.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_field_tells_no_row_from_null_and_empty() {
        assert_eq!(first_field("", "N"), FirstValue::NoRow);
        assert_eq!(first_field("N\0", "N"), FirstValue::Null);
        assert_eq!(first_field("\0", "N"), FirstValue::Text(String::new()));
        assert_eq!(first_field("a\nb\x002\0", "N"), FirstValue::Text("a\nb".to_owned()));
    }

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("it's"), "'it''s'");
    }
}
