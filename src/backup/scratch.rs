//! Pieces `run`, `drill` and `restore` share: how PostgreSQL client programs
//! reach a target, and a throwaway `redis-server` loaded from an RDB.

use std::path::Path;
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
    pub fn new(spec: &crate::probe::postgres::Spec) -> Result<Self, String> {
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
        command
            .args(["--no-password", "--host", &self.host, "--port", &self.port, "--username", &self.user])
            .args(["--dbname", db])
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

/// A `redis-server` on a free loopback port that loaded an RDB file, in a
/// scratch folder; stopped and removed when dropped.
pub struct ScratchRedis {
    pub port: u16,
    pub conn: redis::aio::MultiplexedConnection,
    server: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for ScratchRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchRedis").field("port", &self.port).finish_non_exhaustive()
    }
}

impl ScratchRedis {
    /// Starts the server on a copy of `rdb` and waits until it has loaded it.
    pub async fn load(rdb: &Path, prefix: &str) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(|e| format!("cannot create a scratch folder: {e}"))?;
        std::fs::copy(rdb, dir.path().join("dump.rdb")).map_err(|e| format!("cannot copy the RDB: {e}"))?;
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let mut server = tokio::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--dbfilename", "dump.rdb"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run redis-server ({e}); install it: apt-get install redis-server"))?;
        match wait_for_redis(port, Some(&mut server)).await {
            Ok(conn) => Ok(Self { port, conn, server, _dir: dir }),
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

/// A connection to the Redis on `port` once it has loaded its RDB (up to
/// 60 s); `server`, when it is our child, must not exit meanwhile.
pub async fn wait_for_redis(
    port: u16,
    mut server: Option<&mut tokio::process::Child>,
) -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).map_err(|e| e.to_string())?;
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
