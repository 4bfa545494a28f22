//! What must hold before the profile starts, checked without side effects:
//! each port the profile publishes is free (or already held by the
//! profile's own container), the disk holds the budget, memory holds the
//! limits. `compose up` refuses on a failure; `doctor` prints them all.
//!
//! A taken port names its holder when it can: the listening socket's inode
//! from `/proc/net/tcp*`, matched against `/proc/<pid>/fd` (readable for
//! our own processes, and all of them as root).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use bytesize::ByteSize;

use crate::profile::Context;

/// One finding: what was checked, whether it holds, and the fix.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Checks the ports of every enabled component. `running` lists the
/// services whose container already runs (their ports are theirs).
#[must_use]
pub fn ports(ctx: &Context<'_>, running: &[String]) -> Vec<Finding> {
    ctx.components()
        .filter_map(|c| Some((c, ctx.profile.host_port(c)?)))
        .map(|(c, port)| {
            let check = format!("port {port} for {}", c.name());
            if running.iter().any(|s| s == c.name()) {
                return Finding {
                    check,
                    ok: true,
                    detail: "held by the profile's own container".to_owned(),
                    fix: None,
                };
            }
            match TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))) {
                Ok(_) => Finding { check, ok: true, detail: "free".to_owned(), fix: None },
                Err(e) => {
                    let holder = holder(port).map_or_else(String::new, |h| format!(" by {h}"));
                    Finding {
                        check,
                        ok: false,
                        detail: format!("taken{holder} ({e})"),
                        fix: Some(format!(
                            "stop that process, or move {} with `profile.ports.{}: <free port>` in ops-gen.yml",
                            c.title(),
                            c.name()
                        )),
                    }
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
pub fn disk(ctx: &Context<'_>, dir: &Path) -> Finding {
    let budget = ctx.profile.disk_budget;
    let check = format!("disk for the {budget} budget");
    match rustix::fs::statvfs(dir) {
        Ok(st) => {
            let free = ByteSize::b(st.f_bavail.saturating_mul(st.f_frsize));
            if free >= budget {
                Finding { check, ok: true, detail: format!("{free} free"), fix: None }
            } else {
                Finding {
                    check,
                    ok: false,
                    detail: format!("only {free} free under {}", dir.display()),
                    fix: Some(
                        "free some space, or lower `profile.disk_budget` (Prometheus keeps half of it)".to_owned(),
                    ),
                }
            }
        }
        Err(e) => Finding { check, ok: false, detail: format!("cannot read {}: {e}", dir.display()), fix: None },
    }
}

/// Available memory against the sum of the profile's memory limits.
#[must_use]
pub fn memory(ctx: &Context<'_>) -> Finding {
    let limits = ByteSize::b(ctx.components().map(|c| ctx.profile.memory(c).as_u64()).sum());
    let check = format!("memory for the profile's {limits} of limits");
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(ByteSize::kib(kib))
    });
    match available {
        Some(free) if free >= limits => Finding { check, ok: true, detail: format!("{free} available"), fix: None },
        Some(free) => Finding {
            check,
            ok: false,
            detail: format!("only {free} available"),
            fix: Some("disable services with `profile.services`, or lower `profile.memory`".to_owned()),
        },
        None => Finding { check, ok: true, detail: "not measurable here (no /proc/meminfo)".to_owned(), fix: None },
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
