//! `ops-gen init`: a first `ops-gen.yml` for the stack in the current folder.
//!
//! Reads the compose file, recognises PostgreSQL and Redis from their images
//! (and S3 stores, for which it says what to add), and writes a commented config with a
//! target per store, an `http` check per other service that publishes a port,
//! the backup section and, when there is a store to back up, the schedules
//! `ops-gen serve` runs: a nightly backup, its verification after each
//! backup, and a weekly restore drill. Secrets are never copied: a password the compose
//! file takes from a variable is referenced by that variable; one written
//! there literally gets a variable of its own name, for you to export.
//!
//! The file is a document for people, with comments, so it is written as
//! text; the tests load every output back through the real config parser.

use std::fmt::Write as _;
use std::path::Path;

use docker_compose_types::{Compose, Environment, Ports, PublishedPort, SingleValue};

/// Why no config could be written.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("no compose file here (looked for {}); run `ops-gen init` in the stack's folder", crate::stack::COMPOSE_FILES.join(", "))]
    NoComposeFile,
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a valid compose file: {message}")]
    Parse { path: String, message: String },
}

/// What a service is to ops-gen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Postgres { user: String, db: String, password: Option<Secret> },
    Redis { password: Option<Secret> },
    ObjectStore,
    App,
}

/// Where a password comes from, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// The compose file reads it from this variable.
    Variable(String),
    /// The compose file holds it literally; this variable should carry it.
    Literal(String),
}

impl Secret {
    fn variable(&self) -> &str {
        match self {
            Self::Variable(v) | Self::Literal(v) => v,
        }
    }
}

/// One service of the stack, as `init` understands it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The compose service name.
    pub service: String,
    /// A valid ops-gen name for it.
    pub name: String,
    pub image: String,
    pub role: Role,
    /// `(host address, host port)` the container port is published on.
    pub published: Option<(String, u16)>,
    /// The port inside the stack's network.
    pub port: Option<u16>,
}

/// Reads the stack's services from `file`.
pub fn detect(file: &Path) -> Result<Vec<Found>, InitError> {
    let text =
        std::fs::read_to_string(file).map_err(|source| InitError::Read { path: file.display().to_string(), source })?;
    let compose: Compose = serde_norway::from_str(&text)
        .map_err(|e| InitError::Parse { path: file.display().to_string(), message: e.to_string() })?;
    let mut found = Vec::new();
    for (service, definition) in &compose.services.0 {
        let Some(definition) = definition else { continue };
        let image = definition.image.clone().unwrap_or_default();
        let env = environment(&definition.environment);
        let command = match &definition.command {
            Some(docker_compose_types::Command::Simple(c)) => c.clone(),
            Some(docker_compose_types::Command::Args(args)) => args.join(" "),
            None => String::new(),
        };
        let upper = service.to_ascii_uppercase().replace(['-', '.'], "_");
        let (role, port) = match image_kind(&image) {
            Some("postgres") => {
                let user =
                    env.iter().find(|(k, _)| k == "POSTGRES_USER").map_or("postgres".to_owned(), |(_, v)| v.clone());
                let db = env.iter().find(|(k, _)| k == "POSTGRES_DB").map_or(user.clone(), |(_, v)| v.clone());
                let password = secret(&env, "POSTGRES_PASSWORD", &format!("{upper}_PASSWORD"));
                (Role::Postgres { user, db, password }, 5432)
            }
            Some("redis") => {
                let password = command
                    .split_whitespace()
                    .skip_while(|w| *w != "--requirepass")
                    .nth(1)
                    .map(|p| secret_value(p, &format!("{upper}_PASSWORD")))
                    .or_else(|| secret(&env, "REDIS_PASSWORD", &format!("{upper}_PASSWORD")));
                (Role::Redis { password }, 6379)
            }
            Some(_) => (Role::ObjectStore, 9000),
            None => (Role::App, 0),
        };
        let published = published(&definition.ports, port);
        let port = if role == Role::App { crate::stack::first_target(&definition.ports) } else { Some(port) };
        found.push(Found { service: service.clone(), name: ops_name(service), image, role, published, port });
    }
    Ok(found)
}

/// `postgres`, `redis` or `s3` for images we know, by their last path part.
pub(crate) fn image_kind(image: &str) -> Option<&'static str> {
    let name = image.rsplit('/').next().unwrap_or(image).split([':', '@']).next().unwrap_or("");
    match name {
        "postgres" | "postgis" | "postgresql" | "timescaledb" | "timescaledb-ha" | "pgvector" => Some("postgres"),
        "redis" | "valkey" | "redis-stack" | "redis-stack-server" | "keydb" => Some("redis"),
        "minio" | "garage" | "seaweedfs" | "localstack" => Some("s3"),
        _ => None,
    }
}

fn environment(env: &Environment) -> Vec<(String, String)> {
    match env {
        Environment::List(items) => items
            .iter()
            .map(|i| i.split_once('=').map_or((i.clone(), String::new()), |(k, v)| (k.to_owned(), v.to_owned())))
            .collect(),
        Environment::KvPair(map) => map
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Some(SingleValue::String(s)) => s.clone(),
                    Some(SingleValue::Bool(b)) => b.to_string(),
                    Some(SingleValue::Unsigned(n)) => n.to_string(),
                    Some(SingleValue::Signed(n)) => n.to_string(),
                    Some(SingleValue::Float(f)) => f.to_string(),
                    None => String::new(),
                };
                (k.clone(), v)
            })
            .collect(),
    }
}

fn secret(env: &[(String, String)], key: &str, fallback: &str) -> Option<Secret> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| secret_value(v, fallback))
}

/// A `${VAR}`/`$VAR` value names its variable; anything else is a literal.
fn secret_value(value: &str, fallback: &str) -> Secret {
    let inner = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')).or_else(|| value.strip_prefix('$'));
    match inner.map(|v| v.split([':', '-', '?']).next().unwrap_or(v)) {
        Some(var) if !var.is_empty() && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Secret::Variable(var.to_owned())
        }
        _ => Secret::Literal(fallback.to_owned()),
    }
}

pub(crate) fn published(ports: &Ports, container: u16) -> Option<(String, u16)> {
    match ports {
        Ports::Short(items) => items.iter().find_map(|item| {
            // `[ADDRESS:]HOST_PORT:CONTAINER_PORT[/PROTOCOL]`
            let spec = item.split('/').next().unwrap_or(item);
            let fields: Vec<&str> = spec.rsplitn(3, ':').collect();
            let (target, host_port) = (fields.first()?, fields.get(1)?);
            if !target_matches(target, container) {
                return None;
            }
            Some((host_address(fields.get(2).copied().unwrap_or("")), host_port.parse().ok()?))
        }),
        Ports::Long(items) => items.iter().find_map(|p| {
            if container != 0 && p.target != container {
                return None;
            }
            let port = match &p.published {
                Some(PublishedPort::Single(n)) => *n,
                Some(PublishedPort::Range(r)) => r.parse().ok()?,
                None => return None,
            };
            Some((host_address(p.host_ip.as_deref().unwrap_or("")), port))
        }),
    }
}

fn target_matches(target: &str, container: u16) -> bool {
    container == 0 || target.parse::<u16>().is_ok_and(|t| t == container)
}

/// Where ops-gen on the host reaches a published port.
fn host_address(address: &str) -> String {
    match address.trim_matches(['[', ']']) {
        "" | "0.0.0.0" | "::" => "127.0.0.1".to_owned(),
        other => other.to_owned(),
    }
}

/// A compose service name as an ops-gen name (lowercase, `a-z0-9-_`).
fn ops_name(service: &str) -> String {
    let name: String = service
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' })
        .collect();
    let name = name.trim_start_matches(['-', '_']).chars().take(63).collect::<String>();
    if name.is_empty() { "service".to_owned() } else { name }
}

/// The commented `ops-gen.yml` for what was found.
#[must_use]
pub fn render(compose: &Path, found: &[Found]) -> String {
    let mut out = String::new();
    let file = compose.file_name().map_or_else(|| compose.display().to_string(), |f| f.to_string_lossy().into_owned());
    let _ = writeln!(out, "# ops-gen.yml, written by `ops-gen init` from {file}.");
    out.push_str("# Secrets are ${VAR} references, read from the environment when ops-gen starts:\n");
    out.push_str("# export them (or source your .env) first. Check it with `ops-gen config check`,\n");
    out.push_str("# try it with `ops-gen probe`. Every key is explained in examples/ops-gen.yml.\n\n");
    out.push_str("listen: 127.0.0.1:9743\n");

    let mut secrets: Vec<String> = Vec::new();
    let stores: Vec<&Found> =
        found.iter().filter(|f| matches!(f.role, Role::Postgres { .. } | Role::Redis { .. })).collect();
    out.push_str("\ntargets:");
    if stores.is_empty() {
        out.push_str(" {}\n  # no PostgreSQL or Redis service found\n");
    } else {
        out.push('\n');
    }
    for f in &stores {
        let (host, port, reach) = match &f.published {
            Some((address, port)) => (address.clone(), *port, format!("published on {address}:{port}")),
            None => (
                f.service.clone(),
                f.port.unwrap_or(0),
                "not published to the host: this works when ops-gen runs in the stack's network; \
                 to run it on the host, publish the port (e.g. 127.0.0.1:PORT:PORT)"
                    .to_owned(),
            ),
        };
        let _ = writeln!(out, "  # service `{}` (image {}), {reach}", f.service, f.image);
        let (kind, url) = match &f.role {
            Role::Postgres { user, db, password } => {
                let auth = password.as_ref().map_or_else(|| user.clone(), |s| format!("{user}:${{{}}}", s.variable()));
                ("postgres", format!("postgres://{auth}@{host}:{port}/{db}"))
            }
            Role::Redis { password } => {
                let auth = password.as_ref().map_or_else(String::new, |s| format!("default:${{{}}}@", s.variable()));
                ("redis", format!("redis://{auth}{host}:{port}/0"))
            }
            Role::ObjectStore | Role::App => continue,
        };
        if let Role::Postgres { password: Some(secret), .. } | Role::Redis { password: Some(secret) } = &f.role {
            note_secret(&mut out, secret, &mut secrets);
        }
        let _ = writeln!(out, "  {}:\n    kind: {kind}\n    url: {url}", f.name);
    }

    let apps: Vec<&Found> = found.iter().filter(|f| f.role == Role::App && f.published.is_some()).collect();
    out.push_str("\nchecks:\n");
    for f in &apps {
        if let Some((address, port)) = &f.published {
            let _ = writeln!(
                out,
                "  # service `{}` publishes {address}:{port}; point the URL at its health endpoint",
                f.service
            );
            let _ = writeln!(out, "  {}:\n    kind: http\n    url: http://{address}:{port}/\n    timeout: 5s", f.name);
        }
    }
    out.push_str("  # the sets `ops-gen backup run` writes: alert when none is fresh\n");
    out.push_str("  backups:\n    kind: file_freshness\n    path: output/backups/*/complete.json\n    max_age: 26h\n");
    for f in found.iter().filter(|f| f.role == Role::ObjectStore) {
        let _ = writeln!(
            out,
            "  # service `{}` (image {}) is an S3 store: add a `kind: s3` target with its endpoint, bucket and keys (see examples/ops-gen.yml)",
            f.service, f.image
        );
    }
    for f in found.iter().filter(|f| f.role == Role::App && f.published.is_none()) {
        let _ = writeln!(out, "  # service `{}` publishes no port: nothing to check from the host", f.service);
    }

    out.push_str("\n# `ops-gen backup run` backs up every postgres and redis target above.\n");
    out.push_str("backup:\n  dir: output/backups\n  retention:\n    keep_last: 7\n");
    if stores.is_empty() {
        out.push_str(
            "\n# `schedule:` lets `ops-gen serve` take, verify and drill backups by itself once a target exists\n\
             # (see examples/ops-gen.yml).\n",
        );
    } else {
        out.push_str(SCHEDULE);
    }
    if !secrets.is_empty() {
        let _ = write!(out, "\n# Variables to export before starting ops-gen: {}\n", secrets.join(", "));
    }
    out
}

/// The default schedules: a nightly backup, its verification, a weekly drill.
const SCHEDULE: &str = "
# The jobs `ops-gen serve` runs by itself (`ops-gen jobs` lists them, `ops-gen jobs run NAME`
# runs one now). Times are read in `time_zone`; each run starts within `jitter` of its time.
schedule:
  time_zone: UTC
  jitter: 5m
  jobs:
    nightly-backup:
      cron: \"0 30 2 * * *\"
      run: backup
    # after each successful backup
    verify:
      after: nightly-backup
      run: verify
    # restore the newest set into throwaway instances, Sundays
    weekly-drill:
      cron: \"0 0 4 * * SUN\"
      run: drill
";

fn note_secret(out: &mut String, secret: &Secret, secrets: &mut Vec<String>) {
    match secret {
        Secret::Variable(v) => {
            let _ = writeln!(out, "  # the password comes from ${{{v}}}, as in the compose file");
        }
        Secret::Literal(v) => {
            let _ = writeln!(
                out,
                "  # the compose file holds this password literally: export it as {v} (and better, move it out of the compose file too)"
            );
        }
    }
    if !secrets.contains(&secret.variable().to_owned()) {
        secrets.push(secret.variable().to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_images_and_secret_sources() {
        assert_eq!(image_kind("postgres:16-alpine"), Some("postgres"));
        assert_eq!(image_kind("docker.io/bitnami/redis:7.2"), Some("redis"));
        assert_eq!(image_kind("quay.io/minio/minio@sha256:abc"), Some("s3"));
        assert_eq!(image_kind("ghcr.io/acme/web:1"), None);
        assert_eq!(secret_value("${DB_PASSWORD}", "X"), Secret::Variable("DB_PASSWORD".into()));
        assert_eq!(secret_value("${DB_PASSWORD:-changeme}", "X"), Secret::Variable("DB_PASSWORD".into()));
        assert_eq!(secret_value("hunter2", "DB_PASSWORD"), Secret::Literal("DB_PASSWORD".into()));
        assert_eq!(ops_name("My.Web_App"), "my-web_app");
    }
}
