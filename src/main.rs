//! The `ops-gen` binary: parse arguments, set up logging, dispatch to the
//! library, and map the outcome to an exit code (0 ok, 1 a check found
//! problems, 2 usage or config error, 3 runtime failure).

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};
use clap::{CommandFactory as _, Parser as _};
use ops_gen::backup;
use ops_gen::cli::{
    BackupCommand, BackupKind, BundleArgs, Cli, Command, ComposeCommand, ConfigCommand, CtlArgs, CtlCommand,
    DestroyArgs, GenerateArgs, HealthArgs, HealthcheckArgs, InitArgs, K8sCommand, ProbeArgs, RunbookArgs, ServeArgs,
    SmokeArgs, StorageCleanArgs, StorageCommand, UpArgs,
};
use ops_gen::compose;
use ops_gen::config::{ConfigError, Loaded};
use ops_gen::exporter::{self, Exporter};
use ops_gen::probe::Kind;
use ops_gen::report;
use ops_gen::runbook;

/// How a command ended, when it ran to the end.
enum Outcome {
    Ok,
    ProblemsFound,
}

/// A spinner per target on a terminal's stderr; nothing when piped, with
/// `--json` or `-q`.
struct Spinners {
    verb: &'static str,
    show: bool,
    bars: std::sync::Mutex<Vec<(String, indicatif::ProgressBar)>>,
}

impl Spinners {
    fn for_cli(cli: &Cli, verb: &'static str) -> Self {
        let show = !cli.json && !cli.quiet && std::io::stderr().is_terminal();
        Self { verb, show, bars: std::sync::Mutex::new(Vec::new()) }
    }
}

impl backup::run::Progress for Spinners {
    fn started(&self, target: &str) {
        if !self.show {
            return;
        }
        let bar = indicatif::ProgressBar::new_spinner().with_message(format!("{} {target}…", self.verb));
        bar.enable_steady_tick(Duration::from_millis(100));
        self.bars.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((target.to_owned(), bar));
    }

    fn finished(&self, target: &str) {
        let mut bars = self.bars.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(i) = bars.iter().position(|(t, _)| t == target) {
            bars.remove(i).1.finish_and_clear();
        }
    }
}

/// A bad request from the user (not the config): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    match run(&cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::ProblemsFound) => ExitCode::from(1),
        // `ops-gen … | head` closing the pipe early is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let code = if e.downcast_ref::<ConfigError>().is_some() || e.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                3
            };
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", dedup_chain(&chain));
            ExitCode::from(code)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| c.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind))
            == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Joins an error chain on one line, skipping causes already quoted.
fn dedup_chain(chain: &[String]) -> String {
    let mut line = String::new();
    for part in chain {
        if !line.contains(part.as_str()) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(part);
        }
    }
    line
}

fn init_tracing(cli: &Cli) {
    let default = match (cli.quiet, cli.verbose, &cli.command) {
        (false, 0, Command::Serve(_)) => "info",
        (true, _, _) | (false, 0, _) => "error",
        (false, 1, _) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPS_GEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("ops_gen={default},warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color_allowed(cli) && std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn color_allowed(cli: &Cli) -> bool {
    !cli.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn run(cli: &Cli) -> Result<Outcome> {
    match &cli.command {
        Command::Completions(args) => {
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "ops-gen", &mut script);
            std::io::stdout().write_all(&script)?;
            Ok(Outcome::Ok)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            std::io::stdout().write_all(&page)?;
            Ok(Outcome::Ok)
        }
        Command::Init(args) => cmd_init(cli, args),
        Command::Config(ConfigCommand::Check) => cmd_config_check(cli),
        Command::Runbook(args) => cmd_runbook(cli, args),
        Command::Compose(ComposeCommand::Generate(args)) => cmd_generate(cli, args, Family::Compose),
        Command::K8s(K8sCommand::Generate(args)) => cmd_generate(cli, args, Family::K8s),
        Command::Compose(command) => runtime()?.block_on(cmd_compose(cli, command)),
        Command::Doctor => runtime()?.block_on(cmd_doctor(cli)),
        Command::Health(args) => runtime()?.block_on(cmd_health(cli, args)),
        Command::Smoke(args) => runtime()?.block_on(cmd_smoke(cli, args)),
        Command::Bundle(args) => runtime()?.block_on(cmd_bundle(cli, args)),
        Command::Storage(StorageCommand::Status) => runtime()?.block_on(cmd_storage_status(cli)),
        Command::Storage(StorageCommand::Clean(args)) => cmd_storage_clean(cli, args),
        Command::Ctl(args) => runtime()?.block_on(cmd_ctl(args)),
        Command::Healthcheck(args) => runtime()?.block_on(cmd_healthcheck(args)),
        Command::Backup(BackupCommand::Run(args)) => {
            let only: Vec<Kind> = args
                .only
                .iter()
                .map(|k| match k {
                    BackupKind::Postgres => Kind::Postgres,
                    BackupKind::Redis => Kind::Redis,
                    BackupKind::S3 => Kind::S3,
                })
                .collect();
            let options = backup::run::Options { only, tag: args.tag.clone() };
            runtime()?.block_on(cmd_backup_run(cli, &options))
        }
        Command::Backup(BackupCommand::Verify(args)) => {
            runtime()?.block_on(cmd_backup_verify(cli, args.set.as_deref(), args.freshness))
        }
        Command::Backup(BackupCommand::List) => cmd_backup_list(cli),
        Command::Backup(BackupCommand::Restore(args)) => {
            let options = backup::restore::Options { with_roles: args.with_roles };
            runtime()?.block_on(cmd_backup_restore(cli, &args.from, args.yes, options))
        }
        Command::Backup(BackupCommand::Drill(args)) => runtime()?.block_on(cmd_backup_drill(cli, args.from.as_deref())),
        Command::Serve(args) => runtime()?.block_on(cmd_serve(cli, args)),
        Command::Probe(args) => runtime()?.block_on(cmd_probe(cli, args)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn load(cli: &Cli) -> Result<Loaded> {
    let loaded = Loaded::load(cli.config.as_deref())?;
    if loaded.source == ops_gen::config::Source::Defaults
        && let Some(compose) = ops_gen::stack::compose_file(std::path::Path::new("."))
    {
        eprintln!(
            "note: no ops-gen.yml here, using the built-in defaults; `ops-gen init` writes one from {}",
            compose.display()
        );
    }
    Ok(loaded)
}

async fn cmd_backup_run(cli: &Cli, options: &backup::run::Options) -> Result<Outcome> {
    let loaded = load(cli)?;
    let spinner = Spinners::for_cli(cli, "backing up");
    let summary = match backup::run::run(&loaded.config, options, &spinner).await {
        Ok(summary) => summary,
        Err(e @ (backup::run::RunError::NothingToDo { .. } | backup::run::RunError::BadTag(..))) => {
            return Err(UsageError(e.to_string()).into());
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    if cli.json {
        let json = serde_json::json!({
            "set": summary.set,
            "failure_record": summary.failure_record,
            "manifest": summary.manifest,
            "removed": summary.removed,
            "retention_blocked": summary.retention_blocked,
        });
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
    } else {
        match (&summary.set, &summary.failure_record) {
            (Some(set), _) => writeln!(out, "backup set {}", set.display())?,
            (None, Some(record)) => {
                writeln!(out, "no backup set: every target failed (recorded in {})", record.display())?;
            }
            (None, None) => {}
        }
        for t in &summary.manifest.targets {
            let size: u64 = t.files.iter().map(|f| f.size).sum();
            match &t.error {
                None => writeln!(
                    out,
                    "  ok    {:<16} {:>10}  {:.1} s",
                    t.target,
                    bytesize::ByteSize::b(size).to_string(),
                    t.duration_seconds
                )?,
                Some(e) => writeln!(out, "  FAIL  {:<16} {e}", t.target)?,
            }
        }
        if !summary.removed.is_empty() {
            writeln!(out, "retention removed: {}", summary.removed.join(", "))?;
        }
        if let Some(why) = &summary.retention_blocked {
            writeln!(out, "warning: {why}")?;
        }
    }
    Ok(if summary.success() { Outcome::Ok } else { Outcome::ProblemsFound })
}

/// The set a command names (`None`: the newest): exit 2 for a name that
/// is no set, exit 1 when there is none yet.
fn find_set(dir: &std::path::Path, name: Option<&std::path::Path>) -> Result<Option<std::path::PathBuf>> {
    match backup::find(dir, name) {
        Ok(set) => Ok(Some(set)),
        Err(e @ backup::FindError::NoSet(_)) => {
            eprintln!("error: {e}");
            Ok(None)
        }
        Err(e) => Err(UsageError(e.to_string()).into()),
    }
}

async fn cmd_backup_verify(cli: &Cli, set: Option<&std::path::Path>, freshness: bool) -> Result<Outcome> {
    use backup::verify::{self, VerifyError};
    let loaded = load(cli)?;
    let dir = &loaded.config.backup.dir;
    let Some(set) = find_set(dir, set)? else { return Ok(Outcome::ProblemsFound) };
    let record = match verify::verify(dir, &set).await {
        Ok(record) => record,
        Err(e @ VerifyError::NotASet(_)) => return Err(UsageError(e.to_string()).into()),
        Err(e) => return Err(e.into()),
    };
    let stale =
        if freshness { verify::freshness(dir, &backup::jobs(&loaded.config), SystemTime::now()) } else { Vec::new() };
    let ok = record.ok && stale.is_empty();
    let mut out = std::io::stdout().lock();
    if cli.json {
        let json = serde_json::json!({"ok": ok, "set": set, "verification": record, "freshness": stale});
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{} {}: {} file(s) checked",
            if record.ok { "ok  " } else { "FAIL" },
            set.display(),
            record.files_checked
        )?;
        for p in record.problems.iter().chain(&stale) {
            writeln!(out, "  FAIL  {}: {}", p.subject, p.problem)?;
        }
        for w in &record.warnings {
            writeln!(out, "  warn  {}: {}", w.subject, w.problem)?;
        }
        if freshness && stale.is_empty() {
            writeln!(out, "ok   every target's newest backup is fresh")?;
        }
    }
    Ok(if ok { Outcome::Ok } else { Outcome::ProblemsFound })
}

async fn cmd_backup_restore(
    cli: &Cli,
    set: &std::path::Path,
    yes: bool,
    options: backup::restore::Options,
) -> Result<Outcome> {
    use backup::restore::{self, RestoreError};
    use backup::verify::VerifyError;
    let loaded = load(cli)?;
    let Some(set) = find_set(&loaded.config.backup.dir, Some(set))? else { return Ok(Outcome::ProblemsFound) };
    let plan = match restore::plan(&loaded.config, &set) {
        Ok(plan) => plan,
        Err(RestoreError::Verify(VerifyError::Manifest(_) | VerifyError::NotASet(_))) => {
            return Err(UsageError(format!(
                "{} is not a backup set (it has no readable manifest.json)",
                set.display()
            ))
            .into());
        }
        Err(e) => return Err(UsageError(e.to_string()).into()),
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(UsageError(
                "refusing to restore without confirmation: run it in a terminal, or pass --yes".to_owned(),
            )
            .into());
        }
        let targets: Vec<&str> = plan.iter().map(|t| t.target.as_str()).collect();
        eprintln!(
            "This REPLACES the data of {} with the set {}.\nA backup of the current state is taken first. Type `restore` to continue:",
            targets.join(", "),
            set.display()
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "restore" {
            eprintln!("aborted; nothing was changed");
            return Ok(Outcome::ProblemsFound);
        }
    }
    let summary = match restore::restore(&loaded.config, &set, options).await {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Outcome::ProblemsFound);
        }
    };
    let mut out = std::io::stdout().lock();
    if cli.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        writeln!(out, "restored from {} (the state before is in {})", summary.set, summary.safety_set)?;
        for t in &summary.targets {
            writeln!(
                out,
                "  {}  {:<16} {} ({:.1} s)",
                if t.success { "ok  " } else { "FAIL" },
                t.target,
                t.detail,
                t.seconds
            )?;
        }
    }
    Ok(if summary.targets.iter().all(|t| t.success) { Outcome::Ok } else { Outcome::ProblemsFound })
}

async fn cmd_backup_drill(cli: &Cli, from: Option<&std::path::Path>) -> Result<Outcome> {
    use backup::verify::VerifyError;
    let loaded = load(cli)?;
    let Some(set) = find_set(&loaded.config.backup.dir, from)? else { return Ok(Outcome::ProblemsFound) };
    let spinner = Spinners::for_cli(cli, "restoring");
    let summary = match backup::drill::drill(&loaded.config, &set, &spinner).await {
        Ok(summary) => summary,
        Err(backup::drill::DrillError::Verify(e @ VerifyError::NotASet(_))) => {
            return Err(UsageError(e.to_string()).into());
        }
        Err(e @ backup::drill::DrillError::Damaged { .. }) => {
            eprintln!("error: {e}");
            return Ok(Outcome::ProblemsFound);
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    if cli.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        writeln!(out, "restore drill of {}", set.display())?;
        for t in &summary.targets {
            let state = if t.success { "ok  " } else { "FAIL" };
            match &t.error {
                Some(e) => writeln!(out, "  {state}  {}: {e}", t.target)?,
                None => writeln!(out, "  {state}  {:<16} restored in {:.2} s", t.target, t.restore_seconds)?,
            }
            for c in &t.checks {
                writeln!(out, "        {} {}: {}", if c.ok { "ok  " } else { "FAIL" }, c.check, c.detail)?;
            }
        }
    }
    Ok(if summary.success { Outcome::Ok } else { Outcome::ProblemsFound })
}

fn cmd_backup_list(cli: &Cli) -> Result<Outcome> {
    let loaded = load(cli)?;
    let dir = &loaded.config.backup.dir;
    let sets = backup::catalog(dir).with_context(|| format!("cannot read the backup folder {}", dir.display()))?;
    let now = SystemTime::now();
    let mut rows = Vec::new();
    for entry in sets.iter().rev() {
        let (size, targets, age, tag) = match &entry.manifest {
            Some(m) => {
                let size: u64 = m.files().map(|f| f.size).sum();
                let targets: Vec<String> = m
                    .targets
                    .iter()
                    .map(|t| if t.success { t.target.clone() } else { format!("{} (FAILED)", t.target) })
                    .collect();
                // A set from the future (a clock that was ahead) shows age 0.
                let age = m
                    .finished()
                    .and_then(|at| now.duration_since(at).ok())
                    .map(|d| Duration::from_secs(d.as_secs()))
                    .unwrap_or_default();
                (size, targets.join(", "), age, m.tag.clone().unwrap_or_default())
            }
            None => (0, "unreadable manifest".to_owned(), Duration::ZERO, String::new()),
        };
        let verified = match backup::verify::Record::read(&entry.path) {
            Some(r) if r.ok => "yes",
            Some(r) if r.damaged().is_empty() => "partly",
            Some(_) => "FAILED",
            None => "never",
        };
        rows.push((entry.name.clone(), age, size, verified, tag, targets));
    }
    let mut out = std::io::stdout().lock();
    if cli.json {
        let json: Vec<_> = rows
            .iter()
            .map(|(name, age, size, verified, tag, targets)| {
                serde_json::json!({"set": name, "age_seconds": age.as_secs(), "size_bytes": size, "verified": verified, "tag": (!tag.is_empty()).then_some(tag), "targets": targets})
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
    } else if rows.is_empty() {
        writeln!(out, "no backup sets in {} yet; take one with `ops-gen backup run`", dir.display())?;
    } else {
        writeln!(out, "{:<18}  {:>10}  {:>10}  {:<8}  {:<12}  TARGETS", "SET", "AGE", "SIZE", "VERIFIED", "TAG")?;
        for (name, age, size, verified, tag, targets) in rows {
            let age = ops_gen::config::HumanDuration(age).to_string();
            writeln!(
                out,
                "{name:<18}  {age:>10}  {:>10}  {verified:<8}  {tag:<12}  {targets}",
                bytesize::ByteSize::b(size).to_string()
            )?;
        }
    }
    Ok(Outcome::Ok)
}

/// What `generate` writes: the compose profile, or the Kubernetes manifests.
#[derive(Debug, Clone, Copy)]
enum Family {
    Compose,
    K8s,
}

fn cmd_generate(cli: &Cli, args: &GenerateArgs, family: Family) -> Result<Outcome> {
    use ops_gen::profile;
    let loaded = load(cli)?;
    let inputs = profile::Inputs::load(&loaded).map_err(|e| UsageError(e.to_string()))?;
    let ctx = inputs.context(&loaded.config);
    let (files, command, what) = match family {
        Family::Compose => (profile::generate(&ctx), "ops-gen compose generate", "profile files"),
        Family::K8s => (profile::k8s::artifacts(&ctx), "ops-gen k8s generate", "manifests"),
    };
    let dir = args.out.clone().unwrap_or_else(|| inputs.base.clone());
    let mut out = std::io::stdout().lock();
    if args.check {
        let drifted = profile::check(&dir, &files).with_context(|| format!("cannot read {}", dir.display()))?;
        if cli.json {
            let list: Vec<_> = drifted.iter().map(|d| serde_json::json!({"path": d.path, "diff": d.diff})).collect();
            serde_json::to_writer_pretty(&mut out, &serde_json::json!({"drifted": list}))?;
            writeln!(out)?;
        } else {
            for d in &drifted {
                out.write_all(d.diff.as_bytes())?;
            }
        }
        if drifted.is_empty() {
            if !cli.json {
                writeln!(out, "{} {what} in {} are up to date", files.len(), dir.display())?;
            }
            return Ok(Outcome::Ok);
        }
        let fix = match &args.out {
            Some(d) => format!("{command} --out {}", d.display()),
            None => command.to_owned(),
        };
        eprintln!("{} of {} {what} differ from the config; run `{fix}` to rewrite them", drifted.len(), files.len());
        return Ok(Outcome::ProblemsFound);
    }
    let written =
        profile::write(&dir, &files).with_context(|| format!("cannot write the {what} into {}", dir.display()))?;
    if cli.json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({"dir": dir, "written": written, "files": files.len()}),
        )?;
        writeln!(out)?;
    } else {
        for path in &written {
            writeln!(out, "wrote {}", dir.join(path).display())?;
        }
        writeln!(out, "{} {what} in {} ({} changed)", files.len(), dir.display(), written.len())?;
    }
    Ok(Outcome::Ok)
}

/// Prints a colour word when colours are allowed.
fn paint(cli: &Cli, colour: compose::Colour) -> String {
    let (word, code) = match colour {
        compose::Colour::Green => ("green", "32"),
        compose::Colour::Yellow => ("yellow", "33"),
        compose::Colour::Red => ("red", "31"),
    };
    if color_allowed(cli) && std::io::stdout().is_terminal() {
        format!("\x1b[{code}m{word:<6}\x1b[0m")
    } else {
        format!("{word:<6}")
    }
}

/// A missing engine or Compose CLI is a finding (exit 1), not a crash.
fn unavailable(e: &dyn std::fmt::Display) -> Outcome {
    eprintln!("error: {e}");
    Outcome::ProblemsFound
}

async fn cmd_compose(cli: &Cli, command: &ComposeCommand) -> Result<Outcome> {
    use ops_gen::docker::Docker;
    use ops_gen::profile;
    let loaded = load(cli)?;
    let inputs = profile::Inputs::load(&loaded).map_err(|e| UsageError(e.to_string()))?;
    let ctx = inputs.context(&loaded.config);
    let project = compose::Project::new(&ctx, &inputs.base);
    if let ComposeCommand::Up(args) = command {
        return compose_up(cli, args, &ctx, &project).await;
    }
    let docker = match Docker::connect().await {
        Ok(d) => d,
        Err(e) => return Ok(unavailable(&e)),
    };
    let needs_cli = !matches!(command, ComposeCommand::Status);
    let compose_cli = if needs_cli {
        match ops_gen::docker::compose_cli::ComposeCli::detect().await {
            Ok(c) => Some(c),
            Err(e) => return Ok(unavailable(&e)),
        }
    } else {
        None
    };
    let compose_cli = compose_cli.as_ref();
    let mut out = std::io::stdout().lock();
    match command {
        ComposeCommand::Generate(_) => unreachable!("handled without a runtime"),
        ComposeCommand::Up(_) => unreachable!("handled before connecting"),
        ComposeCommand::Status => {
            let rows = compose::status(&docker, &project).await?;
            if cli.json {
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
            } else {
                let width = rows.iter().map(|r| r.service.len()).max().unwrap_or(0);
                for r in &rows {
                    let health = r.health.as_deref().unwrap_or("-");
                    let drift = if r.image_drift { "  image drift: the tag now points to another image" } else { "" };
                    writeln!(
                        out,
                        "{} {:<width$}  {:<3}  {:<10} {:<10} restarts {}{drift}",
                        paint(cli, r.colour),
                        r.service,
                        r.role,
                        r.state,
                        health,
                        r.restarts
                    )?;
                }
            }
            let red = rows.iter().any(|r| r.colour == compose::Colour::Red);
            Ok(if red { Outcome::ProblemsFound } else { Outcome::Ok })
        }
        ComposeCommand::Down => {
            compose::down(compose_cli.expect("detected above"), &project).await?;
            writeln!(out, "ops profile stopped; its volumes are kept (`ops-gen compose up` brings it back)")?;
            Ok(Outcome::Ok)
        }
        ComposeCommand::Destroy(args) => {
            drop(out);
            compose_destroy(cli, args, &loaded, &project, &docker, compose_cli.expect("detected above")).await
        }
        ComposeCommand::Restart(args) => {
            compose::restart(compose_cli.expect("detected above"), &project, &args.service).await.map_err(
                |e| match e {
                    compose::ComposeError::UnknownService(..) => anyhow::Error::from(UsageError(e.to_string())),
                    other => other.into(),
                },
            )?;
            writeln!(out, "restarted {}", args.service)?;
            Ok(Outcome::Ok)
        }
        ComposeCommand::Logs(args) => {
            let text = compose::logs(compose_cli.expect("detected above"), &project, &args.service, args.tail)
                .await
                .map_err(|e| match e {
                    compose::ComposeError::UnknownService(..) => anyhow::Error::from(UsageError(e.to_string())),
                    other => other.into(),
                })?;
            out.write_all(text.as_bytes())?;
            Ok(Outcome::Ok)
        }
    }
}

async fn compose_up(
    cli: &Cli,
    args: &UpArgs,
    ctx: &ops_gen::profile::Context<'_>,
    project: &compose::Project,
) -> Result<Outcome> {
    use ops_gen::backup::run::Progress as _;
    use ops_gen::compose::preflight::{self, Status};
    use ops_gen::profile;
    let base = &project.dir;
    // The same checks as `ops-gen doctor`'s first lines, through the same code.
    let preflight = preflight::run(ctx, project).await;
    for finding in preflight.findings.iter().filter(|f| f.status != Status::Ok) {
        eprintln!("{finding}");
    }
    let (false, Some(docker), Some(compose_cli)) = (preflight.failed(), &preflight.docker, &preflight.compose) else {
        eprintln!("nothing started: fix the above and run `ops-gen compose up` again");
        return Ok(Outcome::ProblemsFound);
    };
    let mut out = std::io::stdout().lock();
    let files = profile::generate(ctx);
    profile::write(base, &files).with_context(|| format!("cannot write the profile into {}", base.display()))?;
    // Bind-mounted folders must exist before Docker creates them as root.
    let backups = base.join(&ctx.config.backup.dir);
    std::fs::create_dir_all(&backups).with_context(|| format!("cannot create {}", backups.display()))?;
    if let Some(data) = &ctx.config.profile.data_dir {
        for c in ctx.components() {
            let dir = base.join(data).join(c.name());
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    let started = Instant::now();
    let spinner = Spinners::for_cli(cli, "starting");
    spinner.started("profile");
    let result = async {
        compose::start(compose_cli, project).await?;
        compose::wait_healthy(docker, project, Duration::from_secs(args.timeout), |_| {}).await
    }
    .await;
    spinner.finished("profile");
    result?;
    if cli.json {
        let urls: BTreeMap<_, _> = compose::urls(ctx).into_iter().map(|(c, u)| (c.name(), u)).collect();
        let json = serde_json::json!({"project": project.name, "services": project.services, "seconds": started.elapsed().as_secs_f64(), "urls": urls});
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "ops profile up: {} services healthy in {:.1} s (project {}, {} {})",
            project.services.len(),
            started.elapsed().as_secs_f64(),
            project.name,
            compose_cli.name(),
            compose_cli.version
        )?;
        for (c, url) in compose::urls(ctx) {
            writeln!(out, "  {:<22} {url}", c.title())?;
        }
    }
    Ok(Outcome::Ok)
}

async fn compose_destroy(
    cli: &Cli,
    args: &DestroyArgs,
    loaded: &Loaded,
    project: &compose::Project,
    docker: &ops_gen::docker::Docker,
    compose_cli: &ops_gen::docker::compose_cli::ComposeCli,
) -> Result<Outcome> {
    let mut out = std::io::stdout().lock();
    let doomed = compose::doomed(docker, project).await?;
    writeln!(out, "ops-gen compose destroy deletes, in project `{}`:", project.name)?;
    writeln!(
        out,
        "  containers: {}",
        if doomed.containers.is_empty() { "none".to_owned() } else { doomed.containers.join(", ") }
    )?;
    writeln!(
        out,
        "  volumes:    {}",
        if doomed.volumes.is_empty() { "none".to_owned() } else { doomed.volumes.join(", ") }
    )?;
    writeln!(out, "The app's containers and volumes are not touched.")?;
    out.flush()?;
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(UsageError("refusing to destroy without a terminal to confirm; pass --yes".to_owned()).into());
        }
        write!(out, "Type the project name ({}) to confirm: ", project.name)?;
        out.flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != project.name {
            writeln!(out, "not confirmed; nothing deleted")?;
            return Ok(Outcome::ProblemsFound);
        }
    }
    if !backup::jobs(&loaded.config).is_empty() {
        writeln!(out, "taking a backup first…")?;
        drop(out);
        if !matches!(Box::pin(cmd_backup_run(cli, &backup::run::Options::default())).await?, Outcome::Ok) {
            eprintln!("the backup failed: nothing deleted");
            return Ok(Outcome::ProblemsFound);
        }
        out = std::io::stdout().lock();
    }
    let gone = compose::destroy(compose_cli, docker, project).await?;
    writeln!(out, "destroyed: {} containers, {} volumes", gone.containers.len(), gone.volumes.len())?;
    Ok(Outcome::Ok)
}

async fn cmd_doctor(cli: &Cli) -> Result<Outcome> {
    use ops_gen::ops::doctor;
    use ops_gen::profile;
    let loaded = load(cli)?;
    let inputs = profile::Inputs::load(&loaded).map_err(|e| UsageError(e.to_string()))?;
    let ctx = inputs.context(&loaded.config);
    let project = compose::Project::new(&ctx, &inputs.base);
    let report = doctor::run(&loaded, &ctx, &project).await;
    print_report(cli, &report, |color| doctor::render(&report, color))?;
    Ok(if report.success { Outcome::Ok } else { Outcome::ProblemsFound })
}

async fn cmd_health(cli: &Cli, args: &HealthArgs) -> Result<Outcome> {
    use ops_gen::ops::health;
    let loaded = load(cli)?;
    let report = health::run(&loaded.config, Duration::from_secs(args.timeout)).await?;
    print_report(cli, &report, |color| health::render(&report, color))?;
    Ok(if report.success { Outcome::Ok } else { Outcome::ProblemsFound })
}

async fn cmd_smoke(cli: &Cli, args: &SmokeArgs) -> Result<Outcome> {
    use ops_gen::ops::smoke;
    let loaded = load(cli)?;
    let inputs = ops_gen::profile::Inputs::load(&loaded).map_err(|e| UsageError(e.to_string()))?;
    let ctx = inputs.context(&loaded.config);
    let report = smoke::run(&ctx, &smoke::Options { step_timeout: Duration::from_secs(args.timeout) }).await;
    let written = smoke::record(std::path::Path::new(smoke::DIR), &report).map_err(|e| UsageError(e.to_string()))?;
    print_report(cli, &report, |color| smoke::render(&report, color))?;
    if !cli.json {
        println!("result: {}", written.display());
    }
    Ok(if report.success { Outcome::Ok } else { Outcome::ProblemsFound })
}

async fn cmd_bundle(cli: &Cli, args: &BundleArgs) -> Result<Outcome> {
    use ops_gen::ops::bundle;
    let loaded = load(cli)?;
    let project = compose::Project::load(&loaded).map_err(|e| UsageError(e.to_string()))?;
    let options = bundle::Options {
        out: args.out.clone(),
        tail: args.tail,
        part_timeout: Duration::from_secs(args.timeout),
        max_bytes: args.max_size.as_u64(),
        ..bundle::Options::default()
    };
    let report = Box::pin(bundle::collect(&loaded, &project, &options)).await.map_err(|e| UsageError(e.to_string()))?;
    print_report(cli, &report, |_| bundle::render(&report))?;
    Ok(if report.complete { Outcome::Ok } else { Outcome::ProblemsFound })
}

/// The config, the folders it writes and the Compose project's name.
fn storage_inputs(cli: &Cli) -> Result<(Loaded, ops_gen::ops::storage::Folders, String)> {
    let loaded = load(cli)?;
    let inputs = ops_gen::profile::Inputs::load(&loaded).map_err(|e| UsageError(e.to_string()))?;
    let folders = ops_gen::ops::storage::Folders::of(&loaded.config, &inputs.base);
    Ok((loaded, folders, inputs.project))
}

async fn cmd_storage_status(cli: &Cli) -> Result<Outcome> {
    use ops_gen::ops::storage;
    let (loaded, folders, project) = storage_inputs(cli)?;
    let report = storage::status(&project, &folders, loaded.config.profile.disk_budget).await;
    print_report(cli, &report, |_| storage::render_status(&report))?;
    Ok(if report.within_budget { Outcome::Ok } else { Outcome::ProblemsFound })
}

fn cmd_storage_clean(cli: &Cli, args: &StorageCleanArgs) -> Result<Outcome> {
    use ops_gen::ops::storage;
    let (loaded, folders, _) = storage_inputs(cli)?;
    let keep = usize::try_from(args.keep).unwrap_or(usize::MAX);
    let plan = storage::plan(&loaded.config, &folders, keep, SystemTime::now());
    if args.dry_run || plan.removals.is_empty() {
        print_report(cli, &plan, |_| storage::render_plan(&plan))?;
        return Ok(Outcome::Ok);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            eprint!("{}", storage::render_plan(&plan));
            return Err(UsageError(
                "refusing to delete without confirmation: run it in a terminal, or pass --yes (--dry-run only shows)"
                    .to_owned(),
            )
            .into());
        }
        eprint!("{}Type `clean` to delete these: ", storage::render_plan(&plan));
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "clean" {
            eprintln!("not confirmed; nothing deleted");
            return Ok(Outcome::ProblemsFound);
        }
    } else if !cli.json {
        print!("{}", storage::render_plan(&plan));
    }
    let report = storage::clean(&loaded.config, &folders, plan);
    print_report(cli, &report, |_| storage::render_clean(&report))?;
    Ok(if report.failed.is_empty() { Outcome::Ok } else { Outcome::ProblemsFound })
}

async fn cmd_ctl(args: &CtlArgs) -> Result<Outcome> {
    use ops_gen::ctl::{Client, CtlError};
    let client = match Client::from_env(args.url.as_deref()) {
        Ok(client) => client,
        Err(e) => return Err(UsageError(e.to_string()).into()),
    };
    let answer = match &args.command {
        CtlCommand::Summary => client.get("context", &[]).await,
        CtlCommand::Logs(logs) => {
            let mut query = vec![("service", logs.service.clone()), ("tail", logs.tail.to_string())];
            if let Some(since) = &logs.since {
                query.push(("since", since.clone()));
            }
            query.push(("format", if logs.plain { "plain" } else { "json" }.to_owned()));
            client.get("logs", &query).await
        }
        CtlCommand::FrontendLogs(since) => {
            let query: Vec<(&str, String)> = since.since.iter().map(|s| ("since", s.clone())).collect();
            client.get("frontend-logs", &query).await
        }
        CtlCommand::Bundle(bundle) => match client.get("support-bundle", &[]).await {
            Ok(answer) => {
                let path = ops_gen::ctl::bundle_path(bundle.out.as_deref(), answer.disposition.as_deref());
                let written = std::fs::write(&path, &answer.body)
                    .map_err(|source| CtlError::Write { path: path.clone(), source });
                written.map(|()| {
                    let complete = answer.bundle.as_deref() != Some("partial");
                    let summary = serde_json::json!({"file": path, "bytes": answer.body.len(), "complete": complete});
                    ops_gen::ctl::Answer { body: summary.to_string().into(), ..answer }
                })
            }
            Err(e) => Err(e),
        },
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Outcome::ProblemsFound);
        }
    };
    let mut out = std::io::stdout().lock();
    if answer.content_type.starts_with("text/plain") {
        out.write_all(&answer.body)?;
    } else {
        // Pretty on a terminal, one line in a pipe (jq reads either).
        let value: serde_json::Value =
            serde_json::from_slice(&answer.body).context("the server's answer is not JSON")?;
        if std::io::stdout().is_terminal() {
            serde_json::to_writer_pretty(&mut out, &value)?;
        } else {
            serde_json::to_writer(&mut out, &value)?;
        }
        writeln!(out)?;
    }
    Ok(Outcome::Ok)
}

/// Prints `report` as JSON with `--json`, else the text `render` makes
/// (told whether to colour it: on a terminal, unless colours are off).
fn print_report(cli: &Cli, report: &impl serde::Serialize, render: impl FnOnce(bool) -> String) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if cli.json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
    } else {
        out.write_all(render(color_allowed(cli) && std::io::stdout().is_terminal()).as_bytes())?;
    }
    Ok(())
}

async fn cmd_healthcheck(args: &HealthcheckArgs) -> Result<Outcome> {
    ops_gen::tls::init();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout))
        .build()
        .context("cannot build the HTTP client")?;
    match client.get(&args.url).send().await {
        Ok(response) if response.status().is_success() => Ok(Outcome::Ok),
        Ok(response) => {
            eprintln!("{} answered {}", args.url, response.status());
            Ok(Outcome::ProblemsFound)
        }
        Err(e) => {
            eprintln!("{}: {}", args.url, ops_gen::errors::chain(&e));
            Ok(Outcome::ProblemsFound)
        }
    }
}

fn cmd_runbook(cli: &Cli, args: &RunbookArgs) -> Result<Outcome> {
    let mut out = std::io::stdout().lock();
    match &args.topic {
        None if cli.json => {
            let list: Vec<_> = runbook::ALL
                .iter()
                .map(|r| serde_json::json!({"topic": r.topic, "title": r.title(), "when": r.when()}))
                .collect();
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
        None => {
            let width = runbook::ALL.iter().map(|r| r.topic.len()).max().unwrap_or(0);
            for r in runbook::ALL {
                writeln!(out, "{:<width$}  {}", r.topic, r.title())?;
            }
            writeln!(out, "\nPrint one with: ops-gen runbook TOPIC")?;
        }
        Some(topic) => {
            let r = runbook::find(topic).map_err(UsageError)?;
            if cli.json {
                let page = serde_json::json!({"topic": r.topic, "title": r.title(), "when": r.when(), "text": r.text});
                serde_json::to_writer_pretty(&mut out, &page)?;
                writeln!(out)?;
            } else {
                out.write_all(r.text.as_bytes())?;
            }
        }
    }
    Ok(Outcome::Ok)
}

fn cmd_init(cli: &Cli, args: &InitArgs) -> Result<Outcome> {
    use ops_gen::ops::init::{self, Role};
    let target = cli.config.clone().unwrap_or_else(|| ops_gen::config::DEFAULT_PATH.into());
    if target.exists() && !args.force {
        return Err(UsageError(format!("{} exists; pass --force to overwrite it", target.display())).into());
    }
    let compose = match &args.file {
        Some(file) => file.clone(),
        None => ops_gen::stack::compose_file(std::path::Path::new("."))
            .ok_or_else(|| UsageError(init::InitError::NoComposeFile.to_string()))?,
    };
    let found = init::detect(&compose).map_err(|e| UsageError(e.to_string()))?;
    let text = init::render(&compose, &found);
    std::fs::write(&target, text).with_context(|| format!("cannot write {}", target.display()))?;
    let mut out = std::io::stdout().lock();
    for f in &found {
        let what = match (&f.role, &f.published) {
            (Role::Postgres { .. }, _) => "PostgreSQL target",
            (Role::Redis { .. }, _) => "Redis target",
            (Role::ObjectStore, _) => "S3 store: add a kind: s3 target (bucket and keys are yours)",
            (Role::App, Some(_)) => "http check",
            (Role::App, None) => "no published port, skipped",
        };
        writeln!(out, "  {:<20} {what}", f.service)?;
    }
    writeln!(
        out,
        "wrote {} from {}; next: ops-gen config check, then ops-gen probe",
        target.display(),
        compose.display()
    )?;
    Ok(Outcome::Ok)
}

fn cmd_config_check(cli: &Cli) -> Result<Outcome> {
    let loaded = load(cli)?;
    let mut out = std::io::stdout().lock();
    if cli.json {
        serde_json::to_writer_pretty(&mut out, &loaded.config).context("cannot print the config")?;
        writeln!(out)?;
    } else {
        writeln!(out, "# {}: valid. Resolved config, secrets masked:", loaded.source.label())?;
        out.write_all(serde_norway::to_string(&loaded.config).context("cannot print the config")?.as_bytes())?;
    }
    Ok(Outcome::Ok)
}

async fn cmd_serve(cli: &Cli, args: &ServeArgs) -> Result<Outcome> {
    let loaded = load(cli)?;
    let listen = args.listen.unwrap_or(loaded.config.listen);
    let source = loaded.source.label();
    let scheme = if loaded.config.auth.web.as_ref().is_some_and(|w| w.tls.is_some()) { "https" } else { "http" };
    let exporter = Exporter::start(loaded)?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
        format!("cannot listen on {listen} (is another process using it? change `listen` or pass --listen)")
    })?;
    let address = listener.local_addr()?;
    #[cfg(unix)]
    exporter::reload_on_sighup(&exporter).context("cannot watch for SIGHUP")?;
    tracing::info!(config = %source, "ops-gen {} serving on {scheme}://{address}/ (metrics at /metrics)", ops_gen::build_info::VERSION);
    exporter::serve(listener, exporter, shutdown_signal()).await.context("the HTTP server failed")?;
    tracing::info!("stopped");
    Ok(Outcome::Ok)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

async fn cmd_probe(cli: &Cli, args: &ProbeArgs) -> Result<Outcome> {
    let mut loaded = load(cli)?;
    if !args.names.is_empty() {
        let config = &mut loaded.config;
        let known: Vec<String> = config.probes().map(|(name, _)| name.to_owned()).collect();
        if let Some(unknown) = args.names.iter().find(|n| !known.contains(n)) {
            return Err(UsageError(format!(
                "no target or check named `{unknown}` in {}; configured: {}",
                loaded.source.label(),
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ))
            .into());
        }
        config.targets.retain(|name, _| args.names.contains(name));
        config.checks.retain(|name, _| args.names.contains(name));
    }
    let snapshot = ops_gen::ops::run_once(&loaded.config).await?;

    print_report(cli, &report::ProbeReport::new(&snapshot), |color| {
        report::table(&snapshot, color, SystemTime::now())
    })?;
    Ok(if snapshot.all_succeeded() { Outcome::Ok } else { Outcome::ProblemsFound })
}
