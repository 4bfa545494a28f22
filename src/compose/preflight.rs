//! What must hold before the profile starts, checked without side effects:
//! the Docker engine answers, a Compose CLI is installed, each port the
//! profile publishes is free (or already held by the profile's own
//! container), the disk holds the budget, memory holds the limits.
//!
//! [`run`] is the one code path `compose up` and `doctor` share: `compose
//! up` refuses to start on any failure, `doctor` prints every finding next
//! to its own checks. So the two cannot disagree about the host.
//!
//! A taken port names its holder when it can: the listening socket's inode
//! from `/proc/net/tcp*`, matched against `/proc/<pid>/fd` (readable for
//! our own processes, and all of them as root).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use bytesize::ByteSize;

use super::Project;
use crate::docker::Docker;
use crate::docker::compose_cli::ComposeCli;
use crate::profile::Context;

/// How one finding came out: `ok` and `warn` let `compose up` go on,
/// `fail` stops it (and makes `doctor` exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Worth knowing, not blocking.
    Warn,
    Fail,
}

impl Status {
    /// The mark a line starts with: ✓, ! or ✗.
    #[must_use]
    pub fn mark(self) -> &'static str {
        match self {
            Self::Ok => "✓",
            Self::Warn => "!",
            Self::Fail => "✗",
        }
    }
}

/// One finding: what was checked, how it came out, and the fix.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub check: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { check: check.into(), status: Status::Ok, detail: detail.into(), fix: None }
    }

    pub fn warn(check: impl Into<String>, detail: impl Into<String>, fix: Option<String>) -> Self {
        Self { check: check.into(), status: Status::Warn, detail: detail.into(), fix }
    }

    pub fn fail(check: impl Into<String>, detail: impl Into<String>, fix: Option<String>) -> Self {
        Self { check: check.into(), status: Status::Fail, detail: detail.into(), fix }
    }

    #[must_use]
    pub fn failed(&self) -> bool {
        self.status == Status::Fail
    }
}

impl fmt::Display for Finding {
    /// `✗ check: detail; fix: …` on one line (the fix only when there is one).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.mark(), self.check, self.detail)?;
        match &self.fix {
            Some(fix) => write!(f, "; fix: {fix}"),
            None => Ok(()),
        }
    }
}

/// What [`run`] found, and the engine and CLI it found them with (for the
/// caller to go on with, when they answered).
#[derive(Debug)]
pub struct Preflight {
    /// The engine, the Compose CLI, each port, the disk, memory; in that order.
    pub findings: Vec<Finding>,
    pub docker: Option<Docker>,
    pub compose: Option<ComposeCli>,
}

impl Preflight {
    #[must_use]
    pub fn failed(&self) -> bool {
        self.findings.iter().any(Finding::failed)
    }
}

/// Every check `compose up` needs before it starts anything. The engine
/// and the CLI are asked concurrently; each call is bounded by its own
/// timeout (see [`crate::docker`] and [`ComposeCli::detect`]).
pub async fn run(ctx: &Context<'_>, project: &Project) -> Preflight {
    let (engine, compose) = tokio::join!(engine(&project.name), ComposeCli::detect());
    let (engine, docker, running) = engine;
    let compose_finding = match &compose {
        Ok(cli) => Finding::ok("Compose CLI", format!("{} {}", cli.name(), cli.version)),
        Err(e) => Finding::fail("Compose CLI", e.to_string(), None),
    };
    let mut findings = vec![engine, compose_finding];
    findings.extend(ports(ctx, &running));
    findings.push(disk(ctx, &project.dir));
    findings.push(memory(ctx));
    Preflight { findings, docker, compose: compose.ok() }
}

/// The engine's version, and which of the project's services run now
/// (their ports are theirs).
async fn engine(project: &str) -> (Finding, Option<Docker>, Vec<String>) {
    const CHECK: &str = "Docker engine";
    let docker = match Docker::connect().await {
        Ok(docker) => docker,
        Err(e) => return (Finding::fail(CHECK, e.to_string(), None), None, Vec::new()),
    };
    let (version, containers) = tokio::join!(docker.version(), docker.project_containers(project));
    let finding = match (&version, &containers) {
        (Ok(v), Ok(_)) => Finding::ok(CHECK, format!("{} (API {}) at {}", v.version, v.api_version, docker.host)),
        (Err(e), _) | (_, Err(e)) => Finding::fail(CHECK, format!("{} answers, but: {e}", docker.host), None),
    };
    let running = containers
        .map(|cs| cs.into_iter().filter(|c| c.state == "running").map(|c| c.service).collect())
        .unwrap_or_default();
    (finding, Some(docker), running)
}

/// Checks the ports of every enabled component. `running` lists the
/// services whose container already runs (their ports are theirs).
#[must_use]
fn ports(ctx: &Context<'_>, running: &[String]) -> Vec<Finding> {
    ctx.components()
        .filter_map(|c| Some((c, ctx.profile.host_port(c)?)))
        .map(|(c, port)| {
            let check = format!("port {port} for {}", c.name());
            if running.iter().any(|s| s == c.name()) {
                return Finding::ok(check, "held by the profile's own container");
            }
            match TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))) {
                Ok(_) => Finding::ok(check, "free"),
                Err(e) => {
                    let holder = holder(port).map_or_else(String::new, |h| format!(" by {h}"));
                    Finding::fail(
                        check,
                        format!("taken{holder} ({e})"),
                        Some(format!(
                            "stop that process, or move {} with `profile.ports.{}: <free port>` in ops-gen.yml",
                            c.title(),
                            c.name()
                        )),
                    )
                }
            }
        })
        .collect()
}

/// `pid NNN (name)` of the process listening on a TCP port, when visible.
#[must_use]
pub fn holder(port: u16) -> Option<String> {
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let local_port = fields.get(1)?.rsplit(':').next()?;
                    let listening = *fields.get(3)? == "0A";
                    (listening && u16::from_str_radix(local_port, 16).ok()? == port)
                        .then(|| fields.get(9).map(|s| (*s).to_owned()))?
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| wanted.iter().any(|w| l.as_os_str() == w.as_str())) {
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                return Some(format!("pid {pid} ({})", comm.trim()));
            }
        }
    }
    None
}

/// Free space where the profile keeps its data, against the budget.
#[must_use]
fn disk(ctx: &Context<'_>, dir: &Path) -> Finding {
    let budget = ctx.profile.disk_budget;
    let check = format!("disk for the {budget} budget");
    match rustix::fs::statvfs(dir) {
        Ok(st) => {
            let free = ByteSize::b(st.f_bavail.saturating_mul(st.f_frsize));
            if free >= budget {
                Finding::ok(check, format!("{free} free"))
            } else {
                Finding::fail(
                    check,
                    format!("only {free} free under {}", dir.display()),
                    Some("free some space, or lower `profile.disk_budget` (Prometheus keeps half of it)".to_owned()),
                )
            }
        }
        Err(e) => Finding::fail(check, format!("cannot read {}: {e}", dir.display()), None),
    }
}

/// Available memory against the sum of the profile's memory limits.
#[must_use]
fn memory(ctx: &Context<'_>) -> Finding {
    let limits = ByteSize::b(ctx.components().map(|c| ctx.profile.memory(c).as_u64()).sum());
    let check = format!("memory for the profile's {limits} of limits");
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(ByteSize::kib(kib))
    });
    match available {
        Some(free) if free >= limits => Finding::ok(check, format!("{free} available")),
        Some(free) => Finding::fail(
            check,
            format!("only {free} available"),
            Some("disable services with `profile.services`, or lower `profile.memory`".to_owned()),
        ),
        None => Finding::warn(check, "not measurable here (no /proc/meminfo)", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_holder_of_a_taken_port() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let holder = holder(port).expect("our own socket is visible");
        assert!(holder.contains(&format!("pid {}", std::process::id())), "{holder}");
    }
}
