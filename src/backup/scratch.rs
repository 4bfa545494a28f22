//! Clients a store uses in more than one verb: how PostgreSQL client
//! programs reach a target (the dump and the restore of
//! [`super::postgres`]), and a throwaway `redis-server` loaded from an RDB
//! (the drill and the restore of [`super::redis`]).
//!
//! Throwaway servers hold a copy of production data, so nobody else on the
//! host may reach them: they listen on a Unix socket only (no TCP port), in
//! a fresh owner-only (0700) folder, and ask for a random password even
//! there.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio_postgres::config::{Host, SslMode};

/// How `pg_dump` and `pg_restore` reach a target. The password goes through
/// `PGPASSWORD`, never the command line (which `ps` shows to everyone).
#[derive(Debug, Clone)]
pub struct PgClient {
    host: String,
    port: String,
    pub user: String,
    password: Option<String>,
    sslmode: &'static str,
}

impl PgClient {
    pub fn new(spec: &crate::config::checks::postgres::Spec) -> Result<Self, String> {
        let config = spec.url.get();
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => return Err("the URL names no host".to_owned()),
        };
        let sslmode = match (config.get_ssl_mode(), spec.tls_verify) {
            (SslMode::Disable, _) => "disable",
            (_, true) => "verify-full",
            (SslMode::Require, false) => "require",
            _ => "prefer",
        };
        Ok(Self {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432).to_string(),
            user: config.get_user().unwrap_or("postgres").to_owned(),
            password: config.get_password().map(|p| String::from_utf8_lossy(p).into_owned()),
            sslmode,
        })
    }

    /// `program` with the connection arguments and environment set, for
    /// database `db`; `app` names the connection in `pg_stat_activity`.
    pub fn command(&self, program: &str, db: &str, app: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program);
        // pg_dumpall reads `--dbname` as a connection string; its database
        // to connect to is `--database`.
        let db_flag = if program == "pg_dumpall" { "--database" } else { "--dbname" };
        command
            .args(["--no-password", "--host", &self.host, "--port", &self.port, "--username", &self.user])
            .args([db_flag, db])
            .env("PGSSLMODE", self.sslmode)
            .env("PGCONNECT_TIMEOUT", "10")
            .env("PGAPPNAME", app)
            .stdin(Stdio::null());
        match &self.password {
            Some(password) => command.env("PGPASSWORD", password),
            None => command.env_remove("PGPASSWORD"),
        };
        command
    }
}

/// A `redis-server` that loaded an RDB file, listening only on a Unix
/// socket in an owner-only scratch folder, with a random password; stopped
/// and removed when dropped.
pub struct ScratchRedis {
    pub conn: redis::aio::MultiplexedConnection,
    /// The socket, in the scratch folder.
    pub socket: PathBuf,
    server: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for ScratchRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchRedis").field("socket", &self.socket).finish_non_exhaustive()
    }
}

/// The `redis-server` configuration of a throwaway instance: fed on its
/// standard input (`redis-server -`), so the password is in no command line.
fn scratch_config(dir: &Path, password: &str) -> String {
    format!(
        "port 0\nunixsocket {}\nunixsocketperm 700\nrequirepass {password}\ndir {}\ndbfilename dump.rdb\nsave \"\"\nappendonly no\n",
        dir.join("redis.sock").display(),
        dir.display()
    )
}

impl ScratchRedis {
    /// Starts the server on a copy of `rdb` and waits until it has loaded it.
    pub async fn load(rdb: &Path, prefix: &str) -> Result<Self, String> {
        use tokio::io::AsyncWriteExt as _;
        let dir = crate::output::private_tempdir(prefix).map_err(|e| format!("cannot create a scratch folder: {e}"))?;
        std::fs::copy(rdb, dir.path().join("dump.rdb")).map_err(|e| format!("cannot copy the RDB: {e}"))?;
        let password = crate::output::random_hex(16);
        let socket = dir.path().join("redis.sock");
        let mut server = tokio::process::Command::new("redis-server")
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run redis-server ({e}); install it: apt-get install redis-server"))?;
        let config = scratch_config(dir.path(), &password);
        if let Some(mut stdin) = server.stdin.take() {
            stdin.write_all(config.as_bytes()).await.map_err(|e| format!("cannot configure redis-server: {e}"))?;
            // Closing stdin is what makes redis-server read its config.
        }
        match wait_for_redis(&socket, &password, Some(&mut server)).await {
            Ok(conn) => Ok(Self { conn, socket, server, _dir: dir }),
            Err(e) => {
                let _ = server.kill().await;
                Err(e)
            }
        }
    }

    /// Stops the server and removes its folder.
    pub async fn stop(mut self) {
        let _ = self.server.kill().await;
    }
}

/// A connection to the throwaway Redis on `socket` once it has loaded its
/// RDB (up to 60 s); `server`, when it is our child, must not exit meanwhile.
pub async fn wait_for_redis(
    socket: &Path,
    password: &str,
    mut server: Option<&mut tokio::process::Child>,
) -> Result<redis::aio::MultiplexedConnection, String> {
    use redis::IntoConnectionInfo as _;
    let info = redis::ConnectionAddr::Unix(socket.to_owned())
        .into_connection_info()
        .map_err(|e| e.to_string())?
        .set_redis_settings(redis::RedisConnectionInfo::default().set_password(password));
    let client = redis::Client::open(info).map_err(|e| e.to_string())?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Some(Ok(Some(status))) = server.as_mut().map(|s| s.try_wait()) {
            return Err(format!("redis-server could not load the RDB ({status})"));
        }
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await
            // PING answers LOADING while the RDB is being read.
            && redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
        {
            return Ok(conn);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("redis-server did not load the RDB within 60 s".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty RDB: the magic and version, EOF, and a zero checksum
    /// (which Redis does not check).
    const EMPTY_RDB: &[u8] = b"REDIS0009\xff\0\0\0\0\0\0\0\0";

    #[tokio::test]
    async fn a_throwaway_redis_is_unreachable_for_other_users_and_without_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let rdb = dir.path().join("dump.rdb");
        std::fs::write(&rdb, EMPTY_RDB).unwrap();
        let mut scratch = ScratchRedis::load(&rdb, "ops-gen-test-redis-").await.unwrap();
        // No TCP port at all.
        let port: Vec<String> =
            redis::cmd("CONFIG").arg("GET").arg("port").query_async(&mut scratch.conn).await.unwrap();
        assert_eq!(port[1], "0");
        // The socket answers only with the password.
        let no_password = redis::Client::open(format!("unix://{}", scratch.socket.display())).unwrap();
        let mut conn = no_password.get_multiplexed_async_connection().await.unwrap();
        let denied = redis::cmd("PING").query_async::<String>(&mut conn).await.unwrap_err();
        assert!(denied.to_string().contains("NOAUTH"), "{denied}");
        // Another local user cannot even reach the socket.
        let folder = scratch.socket.parent().unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(folder).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o700);
        let root = std::fs::read_to_string("/proc/self/status").unwrap().lines().any(|l| l.starts_with("Uid:\t0\t"));
        if root {
            let out = std::process::Command::new("runuser")
                .args(["-u", "nobody", "--", "redis-cli", "-s"])
                .arg(&scratch.socket)
                .arg("ping")
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
            assert!(!said.contains("PONG") && !said.contains("NOAUTH"), "nobody reached the socket: {said}");
        } else {
            assert!(std::env::var("CI").is_err(), "CI runs as root: the other-user check must run");
            eprintln!("not root: the other-user check needs root (runuser)");
        }
        scratch.stop().await;
    }
}
