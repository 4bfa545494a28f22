//! `ops-gen doctor`: is this host ready for the stack's ops? One finding per
//! thing that must hold, each with its fix when it does not.
//!
//! The host half (Docker engine, Compose CLI, ports, disk, memory) is
//! [`crate::compose::preflight`], the very code `compose up` runs before it
//! starts anything, so the two never disagree. The doctor adds what `up`
//! does not need but an operator does: the config, every target reached
//! through its own check (the probe framework, each under its `timeout`),
//! the backup folder writable, `pg_dump` fit for each PostgreSQL server it
//! backs up, and this host's clock against the Docker engine's.
//!
//! Everything runs concurrently and every part is bounded (Docker calls and
//! the Compose CLI by their own limits, targets and `pg_dump` by the
//! target's `timeout`), so the doctor takes about as long as its slowest
//! check when all is up, and a hung service costs its limit, not forever.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::backup;
use crate::compose::Project;
use crate::compose::preflight::{self, Finding, Status};
use crate::config::checks::Spec;
use crate::config::{Config, HumanDuration, Loaded, Source, defaults};
use crate::docker::Docker;
use crate::probe::Reason;
use crate::profile::Context;

/// A clock further than this from the reference fails: backup ages,
/// freshness alerts, log timestamps and certificates all read it.
pub const MAX_SKEW: Duration = Duration::from_secs(5);

/// What the doctor found (`--json` prints this).
#[derive(Debug, Serialize)]
pub struct Report {
    /// No finding failed (warnings do not count).
    pub success: bool,
    /// In the order printed: engine, Compose CLI, ports, disk, memory,
    /// clock, config, targets, backup folder, `pg_dump`.
    pub checks: Vec<Finding>,
}

/// Runs every check of the doctor.
pub async fn run(loaded: &Loaded, ctx: &Context<'_>, project: &Project) -> Report {
    let config = &loaded.config;
    let host = async {
        let preflight = preflight::run(ctx, project).await;
        let clock = clock(preflight.docker.as_ref()).await;
        (preflight.findings, clock)
    };
    let ((mut checks, clock), targets, pg_dump) = tokio::join!(host, targets(config), pg_dump(config));
    checks.push(clock);
    checks.push(config_finding(loaded));
    checks.extend(targets);
    checks.push(backup_folder(&config.backup.dir));
    checks.extend(pg_dump);
    Report { success: !checks.iter().any(Finding::failed), checks }
}

/// The text for people: one line per finding, then a summary.
#[must_use]
pub fn render(report: &Report, color: bool) -> String {
    let mut out = String::new();
    for f in &report.checks {
        let line = f.to_string();
        let rest = line.strip_prefix(f.status.mark()).unwrap_or(&line);
        out.push_str(&paint(f.status, color));
        out.push_str(rest);
        out.push('\n');
    }
    let count = |s: Status| report.checks.iter().filter(|f| f.status == s).count();
    let (failed, warned) = (count(Status::Fail), count(Status::Warn));
    let warnings = match warned {
        0 => String::new(),
        1 => ", 1 warning".to_owned(),
        n => format!(", {n} warnings"),
    };
    if failed == 0 {
        let _ = writeln!(out, "doctor: all {} checks passed{warnings}", report.checks.len());
    } else {
        let _ = writeln!(out, "doctor: {failed} of {} checks failed{warnings}", report.checks.len());
    }
    out
}

/// The status mark, green, yellow or red on a terminal.
#[must_use]
pub fn paint(status: Status, color: bool) -> String {
    let code = match status {
        Status::Ok => "32",
        Status::Warn => "33",
        Status::Fail => "31;1",
    };
    if color { format!("\x1b[{code}m{}\x1b[0m", status.mark()) } else { status.mark().to_owned() }
}

fn config_finding(loaded: &Loaded) -> Finding {
    let c = &loaded.config;
    match &loaded.source {
        Source::File(path) => Finding::ok(
            "config",
            format!(
                "{} is valid: {} target(s), {} check(s)",
                path.display(),
                c.targets.len(),
                c.checks.len() + c.canaries.len()
            ),
        ),
        Source::Defaults => Finding::warn(
            "config",
            "no ops-gen.yml here: the built-in defaults apply (no targets)",
            Some("`ops-gen init` writes one from your compose file".to_owned()),
        ),
    }
}

/// One finding per target, from its own check.
async fn targets(config: &Config) -> Vec<Finding> {
    let snapshot = match crate::ops::run_targets(config).await {
        Ok(snapshot) => snapshot,
        Err(e) => return vec![Finding::fail("targets", e.to_string(), Some("fix that target in ops-gen.yml".into()))],
    };
    let now = SystemTime::now();
    snapshot
        .entries
        .iter()
        .map(|(check, result)| {
            let name = format!("target {} ({})", check.name, check.kind());
            match result.as_deref().map(|r| (r, &r.outcome.failure)) {
                Some((r, None)) => Finding::ok(
                    name,
                    format!("reachable in {}: {}", crate::report::format_ms(r.duration), r.outcome.describe(now)),
                ),
                Some((_, Some(f))) => {
                    Finding::fail(name, format!("{}: {}", f.reason, f.message), Some(target_fix(&check.name, f.reason)))
                }
                None => Finding::fail(name, "did not run", None),
            }
        })
        .collect()
}

fn target_fix(name: &str, reason: Reason) -> String {
    match reason {
        Reason::Auth => format!("check the user and password in `targets.{name}` (and the variables it reads)"),
        Reason::Connect => format!("is it running? check the host and port in `targets.{name}`"),
        Reason::Timeout => {
            format!(
                "it did not answer in time: is it overloaded or firewalled? (`targets.{name}.timeout` if only slow)"
            )
        }
        Reason::Tls => format!("check `sslmode` or `tls_verify` of `targets.{name}`"),
        _ => "see `ops-gen runbook check-failing`".to_owned(),
    }
}

/// Whether `backup run` can write its sets: a file is created and removed
/// in the folder, or in the nearest one that exists (`backup run` creates
/// the rest). Nothing is left behind.
fn backup_folder(dir: &Path) -> Finding {
    let check = format!("backup folder {}", dir.display());
    let existing = dir
        .ancestors()
        .map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p })
        .find(|p| p.exists())
        .unwrap_or(Path::new("."));
    if !existing.is_dir() {
        return Finding::fail(
            check,
            format!("{} is not a folder", existing.display()),
            Some("set `backup.dir` to a folder".to_owned()),
        );
    }
    let written = tempfile::Builder::new()
        .prefix(".ops-gen-doctor-")
        .tempfile_in(existing)
        .and_then(tempfile::NamedTempFile::close);
    match written {
        Ok(()) if existing == dir => {
            use std::os::unix::fs::PermissionsExt as _;
            let mode_of = |p: &Path| std::fs::metadata(p).map_or(0o700, |m| m.permissions().mode() & 0o777);
            let mode = mode_of(dir);
            // A set others can enter exposes the stack's data: a failure. An
            // open folder alone exposes only set names (sets are 0700), and
            // the next `backup run` closes it: worth knowing.
            let open_set = crate::backup::sets(dir).unwrap_or_default().into_iter().find(|s| mode_of(s) & 0o077 != 0);
            let fix = Some(format!("chmod -R go-rwx {} (`backup run` also tightens the folder)", dir.display()));
            if let Some(set) = open_set {
                Finding::fail(
                    check,
                    format!(
                        "set {} is readable by other users (mode {:o}): backups hold the stack's data and secrets",
                        set.file_name().unwrap_or_default().to_string_lossy(),
                        mode_of(&set)
                    ),
                    fix,
                )
            } else if mode & 0o077 != 0 {
                Finding::warn(check, format!("writable, but readable by other users (mode {mode:o})"), fix)
            } else {
                Finding::ok(check, "writable, owner-only (0700)")
            }
        }
        Ok(()) => {
            Finding::ok(check, format!("not there yet; `backup run` creates it in {} (writable)", existing.display()))
        }
        Err(e) => Finding::fail(
            check,
            format!("cannot write in {}: {e}", existing.display()),
            Some("make it writable for the user ops-gen runs as, or set `backup.dir` to a writable folder".to_owned()),
        ),
    }
}

/// For each PostgreSQL target `backup run` dumps: the same check it makes
/// before dumping (installed, not older than the server).
async fn pg_dump(config: &Config) -> Vec<Finding> {
    let checks = backup::jobs(config).into_iter().filter_map(|job| match job.spec {
        Spec::Postgres(spec) => Some(async move {
            let check = format!("pg_dump for {}", job.target);
            let limit = spec.timeout.unwrap_or(defaults::CHECK_TIMEOUT).get();
            match tokio::time::timeout(limit, backup::postgres::pg_dump_fits(&spec)).await {
                Ok(Ok(fit)) => {
                    Finding::ok(check, format!("pg_dump {} can dump its PostgreSQL {}", fit.version, fit.server_major))
                }
                Ok(Err(e)) => Finding::fail(check, e, None),
                Err(_) => Finding::fail(
                    check,
                    format!("the server did not say its version within {}", HumanDuration(limit)),
                    Some(target_fix(&job.target, Reason::Timeout)),
                ),
            }
        }),
        _ => None,
    });
    futures::future::join_all(checks).await
}

/// This host's clock against the Docker engine's (`/info`): the same
/// machine's clock for a local engine, a VM's for Docker Desktop, another
/// host's for a remote `DOCKER_HOST`.
async fn clock(docker: Option<&Docker>) -> Finding {
    const CHECK: &str = "clock";
    let not_compared = |why: String| Finding::warn(CHECK, format!("not compared: {why}"), None);
    let Some(docker) = docker else {
        return not_compared("the Docker engine, the reference clock, did not answer".to_owned());
    };
    let before = SystemTime::now();
    let answer = docker.system_time().await;
    let after = SystemTime::now();
    let text = match answer {
        Ok(Some(text)) => text,
        Ok(None) => return not_compared("the Docker engine did not say its time".to_owned()),
        Err(e) => return not_compared(e.to_string()),
    };
    let Some(reference) = parse_rfc3339(&text) else {
        return not_compared(format!("cannot read the Docker engine's time `{text}`"));
    };
    // The engine read its clock somewhere between our two readings.
    let local = before + after.duration_since(before).unwrap_or_default() / 2;
    skew_finding(local, reference, "the Docker engine's")
}

/// Compares two clocks' readings of the same moment.
fn skew_finding(local: SystemTime, reference: SystemTime, whose: &str) -> Finding {
    let (skew, direction) = match reference.duration_since(local) {
        Ok(d) => (d, "behind"),
        Err(e) => (e.duration(), "ahead of"),
    };
    let shown = HumanDuration(Duration::from_millis(u64::try_from(skew.as_millis()).unwrap_or(u64::MAX)));
    if skew <= MAX_SKEW {
        Finding::ok("clock", format!("within {shown} of {whose}"))
    } else {
        Finding::fail(
            "clock",
            format!("this host's clock is {shown} {direction} {whose} (more than {})", HumanDuration(MAX_SKEW)),
            Some(
                "sync the clock with NTP (`timedatectl set-ntp true`, or chrony); with Docker Desktop, restart it"
                    .to_owned(),
            ),
        )
    }
}

/// RFC 3339 with `Z` or a numeric offset (`2026-11-23T05:36:26.1+01:00`),
/// as Go's `time.RFC3339Nano` writes it.
fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if let Some(utc) = text.strip_suffix('Z').or_else(|| text.strip_suffix("+00:00")) {
        return humantime::parse_rfc3339_weak(utc).ok();
    }
    let split = text.len().checked_sub(6)?;
    let (local, offset) = (text.get(..split)?, text.get(split..)?);
    let (sign, hours, minutes) = (offset.as_bytes()[0], offset.get(1..3)?, offset.get(4..6)?);
    if offset.as_bytes()[3] != b':' || !matches!(sign, b'+' | b'-') {
        return None;
    }
    let offset = Duration::from_secs(hours.parse::<u64>().ok()? * 3600 + minutes.parse::<u64>().ok()? * 60);
    let local = humantime::parse_rfc3339_weak(local).ok()?;
    // Local time = UTC + offset.
    if sign == b'+' { local.checked_sub(offset) } else { local.checked_add(offset) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_engines_time_in_any_zone() {
        let utc = parse_rfc3339("2026-11-23T05:36:26.5Z").unwrap();
        assert_eq!(humantime::format_rfc3339_millis(utc).to_string(), "2026-11-23T05:36:26.500Z");
        assert_eq!(parse_rfc3339("2026-11-23T06:36:26.5+01:00"), Some(utc));
        assert_eq!(parse_rfc3339("2026-11-23T00:36:26.500000000-05:00"), Some(utc));
        assert_eq!(parse_rfc3339("2026-11-23T05:36:26.5+00:00"), Some(utc));
        for bad in ["", "yesterday", "2026-11-23T05:36:26+0100", "2026-11-23T05:36:26*01:00"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_clock_off_by_more_than_a_few_seconds_fails() {
        let now = SystemTime::now();
        let close = skew_finding(now, now + Duration::from_millis(1500), "the reference's");
        assert_eq!(close.status, Status::Ok, "{close}");
        let behind = skew_finding(now, now + Duration::from_secs(42), "the reference's");
        assert_eq!(behind.status, Status::Fail);
        assert!(behind.detail.contains("42s behind the reference's"), "{behind}");
        let ahead = skew_finding(now + Duration::from_secs(600), now, "the reference's");
        assert!(ahead.detail.contains("10m ahead of"), "{ahead}");
        assert!(ahead.fix.as_deref().is_some_and(|f| f.contains("NTP")));
    }

    #[test]
    fn backup_folder_is_probed_without_leaving_anything() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let f = backup_folder(dir.path());
        assert_eq!((f.status, f.detail.as_str()), (Status::Ok, "writable, owner-only (0700)"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing left behind");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = backup_folder(dir.path());
        assert_eq!(f.status, Status::Warn);
        assert!(f.detail.contains("readable by other users (mode 755)"), "{f}");
        assert!(f.fix.as_deref().is_some_and(|fix| fix.contains("chmod -R go-rwx")), "{f}");
        let set = dir.path().join("20261205T000000Z");
        std::fs::create_dir(&set).unwrap();
        std::fs::set_permissions(&set, std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = backup_folder(dir.path());
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("set 20261205T000000Z is readable by other users (mode 755)"), "{f}");
        std::fs::remove_dir(&set).unwrap();

        let missing = dir.path().join("not/yet");
        let f = backup_folder(&missing);
        assert_eq!(f.status, Status::Ok);
        assert!(f.detail.contains("creates it in"), "{f}");
        assert!(!missing.exists() && std::fs::read_dir(dir.path()).unwrap().count() == 0);

        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let f = backup_folder(&file.join("sets"));
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("is not a folder"), "{f}");
    }
}
