//! `ops-gen backup run | verify | list | restore | drill`: the backup verbs
//! of [`crate::backup`], with their spinners, the confirmation before a
//! restore, and their reports for people and for `--json`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::{Confirmation, Outcome, Spinners, UsageError, block_on, confirm, load, print_report, sorted_keys, usage};
use crate::backup::{self, manifest::Manifest, verify::Problem};
use crate::cli::{BackupDrillArgs, BackupKind, BackupRestoreArgs, BackupRunArgs, BackupVerifyArgs, Cli};
use crate::config::HumanDuration;
use crate::config::checks::Kind;

/// `backup run`: one set of the configured targets (`--only` some kinds).
pub fn run(cli: &Cli, args: &BackupRunArgs) -> Result<Outcome> {
    let only = args
        .only
        .iter()
        .map(|k| match k {
            BackupKind::Postgres => Kind::Postgres,
            BackupKind::Redis => Kind::Redis,
            BackupKind::S3 => Kind::S3,
        })
        .collect();
    let options = backup::run::Options { only, tag: args.tag.clone() };
    block_on(take(cli, &options))
}

/// What `backup run` took. Field order is the JSON's (sorted, as it has
/// always been).
#[derive(Debug, Serialize)]
struct Taken<'a> {
    failure_record: Option<&'a Path>,
    #[serde(serialize_with = "sorted_keys")]
    manifest: &'a Manifest,
    removed: &'a [String],
    retention_blocked: Option<&'a str>,
    set: Option<&'a Path>,
}

/// Takes a set and shows it: `backup run`, and `compose destroy` before
/// it deletes anything.
pub(super) async fn take(cli: &Cli, options: &backup::run::Options) -> Result<Outcome> {
    let loaded = load(cli)?;
    let spinner = Spinners::for_cli(cli, "backing up");
    let summary = match backup::run::run(&loaded.config, options, &spinner).await {
        Ok(summary) => summary,
        Err(e @ (backup::run::RunError::NothingToDo { .. } | backup::run::RunError::BadTag(..))) => {
            return Err(usage(e));
        }
        Err(e) => return Err(e.into()),
    };
    let taken = Taken {
        failure_record: summary.failure_record.as_deref(),
        manifest: &summary.manifest,
        removed: &summary.removed,
        retention_blocked: summary.retention_blocked.as_deref(),
        set: summary.set.as_deref(),
    };
    print_report(cli, &taken, |_| render_taken(&taken))?;
    Ok(Outcome::of(summary.success()))
}

fn render_taken(taken: &Taken<'_>) -> String {
    let mut out = String::new();
    match (taken.set, taken.failure_record) {
        (Some(set), _) => {
            let _ = writeln!(out, "backup set {}", set.display());
        }
        (None, Some(record)) => {
            let _ = writeln!(out, "no backup set: every target failed (recorded in {})", record.display());
        }
        (None, None) => {}
    }
    for t in &taken.manifest.targets {
        let size: u64 = t.files.iter().map(|f| f.size).sum();
        let _ = match &t.error {
            None => writeln!(
                out,
                "  ok    {:<16} {:>10}  {:.1} s",
                t.target,
                bytesize::ByteSize::b(size).to_string(),
                t.duration_seconds
            ),
            Some(e) => writeln!(out, "  FAIL  {:<16} {e}", t.target),
        };
    }
    if !taken.removed.is_empty() {
        let _ = writeln!(out, "retention removed: {}", taken.removed.join(", "));
    }
    if let Some(why) = taken.retention_blocked {
        let _ = writeln!(out, "warning: {why}");
    }
    out
}

/// The set a command names (`None`: the newest): exit 2 for a name that
/// is no set, exit 1 when there is none yet.
fn find_set(dir: &Path, name: Option<&Path>) -> Result<Option<PathBuf>> {
    match backup::find(dir, name) {
        Ok(set) => Ok(Some(set)),
        Err(e @ backup::FindError::NoSet(_)) => {
            eprintln!("error: {e}");
            Ok(None)
        }
        Err(e) => Err(usage(e)),
    }
}

/// What `backup verify` found. Field order is the JSON's.
#[derive(Debug, Serialize)]
struct Verified {
    /// Targets whose newest backup is too old (with `--freshness`).
    #[serde(serialize_with = "sorted_keys")]
    freshness: Vec<Problem>,
    ok: bool,
    set: PathBuf,
    #[serde(serialize_with = "sorted_keys")]
    verification: backup::verify::Record,
    #[serde(skip)]
    freshness_checked: bool,
}

/// `backup verify`: re-hash and read a set, and with `--freshness` check
/// every target's newest backup against its `max_age`.
pub fn verify(cli: &Cli, args: &BackupVerifyArgs) -> Result<Outcome> {
    use backup::verify::VerifyError;
    block_on(async {
        let loaded = load(cli)?;
        let dir = &loaded.config.backup.dir;
        let Some(set) = find_set(dir, args.set.as_deref())? else { return Ok(Outcome::ProblemsFound) };
        let record = match backup::verify::verify(dir, &set).await {
            Ok(record) => record,
            Err(e @ VerifyError::NotASet(_)) => return Err(usage(e)),
            Err(e) => return Err(e.into()),
        };
        let stale = if args.freshness {
            backup::verify::freshness(dir, &backup::jobs(&loaded.config), SystemTime::now())
        } else {
            Vec::new()
        };
        let verified = Verified {
            ok: record.ok && stale.is_empty(),
            freshness: stale,
            set,
            verification: record,
            freshness_checked: args.freshness,
        };
        print_report(cli, &verified, |_| render_verified(&verified))?;
        Ok(Outcome::of(verified.ok))
    })
}

fn render_verified(verified: &Verified) -> String {
    let record = &verified.verification;
    let mut out = format!(
        "{} {}: {} file(s) checked\n",
        if record.ok { "ok  " } else { "FAIL" },
        verified.set.display(),
        record.files_checked
    );
    for p in record.problems.iter().chain(&verified.freshness) {
        let _ = writeln!(out, "  FAIL  {}: {}", p.subject, p.problem);
    }
    for w in &record.warnings {
        let _ = writeln!(out, "  warn  {}: {}", w.subject, w.problem);
    }
    if verified.freshness_checked && verified.freshness.is_empty() {
        out.push_str("ok   every target's newest backup is fresh\n");
    }
    out
}

/// One line of `backup list`. Field order is the JSON's.
#[derive(Debug, Serialize)]
struct Listed {
    /// Whole seconds since the set finished; 0 for a set from the future
    /// (a clock that was ahead).
    age_seconds: u64,
    set: String,
    size_bytes: u64,
    tag: Option<String>,
    targets: String,
    /// `yes`, `partly`, `FAILED` or `never`.
    verified: &'static str,
}

/// `backup list`: the sets, newest first.
pub fn list(cli: &Cli) -> Result<Outcome> {
    let loaded = load(cli)?;
    let dir = &loaded.config.backup.dir;
    let sets = backup::catalog(dir).with_context(|| format!("cannot read the backup folder {}", dir.display()))?;
    let now = SystemTime::now();
    let rows: Vec<Listed> = sets
        .iter()
        .rev()
        .map(|entry| {
            let (size_bytes, targets, age_seconds, tag) = match &entry.manifest {
                Some(m) => {
                    let size: u64 = m.files().map(|f| f.size).sum();
                    let targets: Vec<String> = m
                        .targets
                        .iter()
                        .map(|t| if t.success { t.target.clone() } else { format!("{} (FAILED)", t.target) })
                        .collect();
                    let age = m.finished().and_then(|at| now.duration_since(at).ok()).map_or(0, |d| d.as_secs());
                    (size, targets.join(", "), age, m.tag.clone().filter(|t| !t.is_empty()))
                }
                None => (0, "unreadable manifest".to_owned(), 0, None),
            };
            let verified = match backup::verify::Record::read(&entry.path) {
                Some(r) if r.ok => "yes",
                Some(r) if r.damaged().is_empty() => "partly",
                Some(_) => "FAILED",
                None => "never",
            };
            Listed { age_seconds, set: entry.name.clone(), size_bytes, tag, targets, verified }
        })
        .collect();
    print_report(cli, &rows, |_| render_listed(&rows, dir))?;
    Ok(Outcome::Ok)
}

fn render_listed(rows: &[Listed], dir: &Path) -> String {
    if rows.is_empty() {
        return format!("no backup sets in {} yet; take one with `ops-gen backup run`\n", dir.display());
    }
    // Tags are up to 40 characters: the column is as wide as the longest.
    let tag = rows.iter().filter_map(|r| r.tag.as_deref()).map(str::len).max().unwrap_or(0).max("TAG".len());
    let mut out =
        format!("{:<18}  {:>10}  {:>10}  {:<8}  {:<tag$}  TARGETS\n", "SET", "AGE", "SIZE", "VERIFIED", "TAG");
    for row in rows {
        let _ = writeln!(
            out,
            "{:<18}  {:>10}  {:>10}  {:<8}  {:<tag$}  {}",
            row.set,
            HumanDuration(Duration::from_secs(row.age_seconds)).to_string(),
            bytesize::ByteSize::b(row.size_bytes).to_string(),
            row.verified,
            row.tag.as_deref().unwrap_or(""),
            row.targets
        );
    }
    out
}

/// `backup restore`: put a set back into the real targets, after the user
/// confirms (or `--yes`); the restore takes a safety set first.
pub fn restore(cli: &Cli, args: &BackupRestoreArgs) -> Result<Outcome> {
    use backup::restore::RestoreError;
    use backup::verify::VerifyError;
    block_on(async {
        let loaded = load(cli)?;
        let Some(set) = find_set(&loaded.config.backup.dir, Some(&args.from))? else {
            return Ok(Outcome::ProblemsFound);
        };
        let plan = match backup::restore::plan(&loaded.config, &set) {
            Ok(plan) => plan,
            Err(RestoreError::Verify(VerifyError::Manifest(_) | VerifyError::NotASet(_))) => {
                return Err(UsageError(format!(
                    "{} is not a backup set (it has no readable manifest.json)",
                    set.display()
                ))
                .into());
            }
            Err(e) => return Err(usage(e)),
        };
        let targets: Vec<&str> = plan.iter().map(|t| t.target.as_str()).collect();
        let question = format!(
            "This REPLACES the data of {} with the set {}.\nA backup of the current state is taken first. Type `restore` to continue:\n",
            targets.join(", "),
            set.display()
        );
        let confirmation = Confirmation {
            word: "restore",
            question: &question,
            refusal: "refusing to restore without confirmation: run it in a terminal, or pass --yes",
            declined: "aborted; nothing was changed",
        };
        if !confirm(args.yes, &confirmation)? {
            return Ok(Outcome::ProblemsFound);
        }
        let options = backup::restore::Options { with_roles: args.with_roles };
        let summary = match backup::restore::restore(&loaded.config, &set, options).await {
            Ok(summary) => summary,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(Outcome::ProblemsFound);
            }
        };
        print_report(cli, &summary, |_| render_restored(&summary))?;
        Ok(Outcome::of(summary.targets.iter().all(|t| t.success)))
    })
}

fn render_restored(summary: &backup::restore::Summary) -> String {
    let mut out = format!("restored from {} (the state before is in {})\n", summary.set, summary.safety_set);
    for t in &summary.targets {
        let _ = writeln!(
            out,
            "  {}  {:<16} {} ({:.1} s)",
            if t.success { "ok  " } else { "FAIL" },
            t.target,
            t.detail,
            t.seconds
        );
    }
    out
}

/// `backup drill`: restore a set into throwaway instances and check it.
pub fn drill(cli: &Cli, args: &BackupDrillArgs) -> Result<Outcome> {
    use backup::drill::DrillError;
    use backup::verify::VerifyError;
    block_on(async {
        let loaded = load(cli)?;
        let Some(set) = find_set(&loaded.config.backup.dir, args.from.as_deref())? else {
            return Ok(Outcome::ProblemsFound);
        };
        let spinner = Spinners::for_cli(cli, "restoring");
        let summary = match backup::drill::drill(&loaded.config, &set, &spinner).await {
            Ok(summary) => summary,
            Err(DrillError::Verify(e @ VerifyError::NotASet(_))) => return Err(usage(e)),
            Err(e @ DrillError::Damaged { .. }) => {
                eprintln!("error: {e}");
                return Ok(Outcome::ProblemsFound);
            }
            Err(e) => return Err(e.into()),
        };
        print_report(cli, &summary, |_| render_drilled(&summary, &set))?;
        Ok(Outcome::of(summary.success))
    })
}

fn render_drilled(summary: &backup::drill::Summary, set: &Path) -> String {
    let mut out = format!("restore drill of {}\n", set.display());
    for t in &summary.targets {
        let state = if t.success { "ok  " } else { "FAIL" };
        let _ = match &t.error {
            Some(e) => writeln!(out, "  {state}  {}: {e}", t.target),
            None => writeln!(out, "  {state}  {:<16} restored in {:.2} s", t.target, t.restore_seconds),
        };
        for c in &t.checks {
            let _ = writeln!(out, "        {} {}: {}", if c.ok { "ok  " } else { "FAIL" }, c.check, c.detail);
        }
    }
    out
}
