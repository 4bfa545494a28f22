//! `ops-gen compose generate | up | status | down | destroy | restart |
//! logs` and `ops-gen k8s generate`: writing the profile's files and running
//! them through [`crate::compose`], with the confirmation (and the backup)
//! before `destroy` and the reports for people and for `--json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::{Confirmation, Outcome, Spinners, block_on, confirm, inputs, load, print_report, print_text, usage};
use crate::backup::run::Progress as _;
use crate::cli::{Cli, DestroyArgs, GenerateArgs, LogsArgs, ServiceArgs, UpArgs};
use crate::compose::{self, ComposeError, Project};
use crate::config::Loaded;
use crate::config::profile::Component;
use crate::docker::Docker;
use crate::docker::compose_cli::ComposeCli;
use crate::profile;

/// What `generate` writes: the compose profile, or the Kubernetes manifests.
#[derive(Debug, Clone, Copy)]
pub enum Family {
    Compose,
    K8s,
}

/// Files that differ from what `generate --check` would write. Field order
/// is the JSON's.
#[derive(Debug, Serialize)]
struct Checked<'a> {
    drifted: Vec<Drift<'a>>,
}

/// One drifted file: its path and the unified diff to the generated text.
#[derive(Debug, Serialize)]
struct Drift<'a> {
    diff: &'a str,
    path: &'a Path,
}

/// What `generate` wrote. Field order is the JSON's.
#[derive(Debug, Serialize)]
struct Generated<'a> {
    dir: &'a Path,
    /// How many files the family has.
    files: usize,
    /// The ones that changed, relative to `dir`.
    written: &'a [PathBuf],
}

/// `compose generate` and `k8s generate`: write the files, or with
/// `--check` compare them with the ones on disk (exit 1 on a difference,
/// naming the command that fixes it).
pub fn generate(cli: &Cli, args: &GenerateArgs, family: Family) -> Result<Outcome> {
    let loaded = load(cli)?;
    let inputs = inputs(&loaded)?;
    let ctx = inputs.context(&loaded.config);
    let (files, command, what) = match family {
        Family::Compose => (profile::generate(&ctx), "ops-gen compose generate", "profile files"),
        Family::K8s => (profile::k8s::artifacts(&ctx), "ops-gen k8s generate", "manifests"),
    };
    let dir = args.out.clone().unwrap_or_else(|| inputs.base.clone());
    if args.check {
        let drifted = profile::check(&dir, &files).with_context(|| format!("cannot read {}", dir.display()))?;
        let checked = Checked { drifted: drifted.iter().map(|d| Drift { diff: &d.diff, path: &d.path }).collect() };
        print_report(cli, &checked, |_| {
            let mut text: String = checked.drifted.iter().map(|d| d.diff).collect();
            if checked.drifted.is_empty() {
                let _ = writeln!(text, "{} {what} in {} are up to date", files.len(), dir.display());
            }
            text
        })?;
        if drifted.is_empty() {
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
    let generated = Generated { dir: &dir, files: files.len(), written: &written };
    print_report(cli, &generated, |_| {
        let mut text = String::new();
        for path in generated.written {
            let _ = writeln!(text, "wrote {}", dir.join(path).display());
        }
        let _ = writeln!(text, "{} {what} in {} ({} changed)", generated.files, dir.display(), written.len());
        text
    })?;
    Ok(Outcome::Ok)
}

/// The profile running: its project, how long it took, its URLs. Field
/// order is the JSON's.
#[derive(Debug, Serialize)]
struct Started<'a> {
    project: &'a str,
    seconds: f64,
    services: &'a [String],
    /// By component name.
    #[serde(serialize_with = "urls_by_name")]
    urls: Vec<(Component, String)>,
    #[serde(skip)]
    compose_cli: &'a ComposeCli,
}

fn urls_by_name<S: serde::Serializer>(urls: &[(Component, String)], serializer: S) -> Result<S::Ok, S::Error> {
    urls.iter().map(|(c, url)| (c.name(), url)).collect::<BTreeMap<_, _>>().serialize(serializer)
}

/// `compose up`: the preflight checks, then regenerate, start the profile
/// and wait until every service is healthy.
pub fn up(cli: &Cli, args: &UpArgs) -> Result<Outcome> {
    use compose::preflight::{self, Status};
    block_on(async {
        let loaded = load(cli)?;
        let inputs = inputs(&loaded)?;
        let ctx = inputs.context(&loaded.config);
        let project = Project::new(&ctx, &inputs.base);
        let base = &project.dir;
        // The same checks as `ops-gen doctor`'s first lines, through the same code.
        let preflight = preflight::run(&ctx, &project).await;
        for finding in preflight.findings.iter().filter(|f| f.status != Status::Ok) {
            eprintln!("{finding}");
        }
        let (false, Some(docker), Some(compose_cli)) = (preflight.failed(), &preflight.docker, &preflight.compose)
        else {
            eprintln!("nothing started: fix the above and run `ops-gen compose up` again");
            return Ok(Outcome::ProblemsFound);
        };
        let files = profile::generate(&ctx);
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
            compose::start(compose_cli, &project).await?;
            let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
            compose::wait_healthy(docker, &project, Duration::from_secs(args.timeout), |containers| {
                for c in containers {
                    let state = compose::describe(c);
                    if seen.get(&c.service) != Some(&state) {
                        spinner.update("profile", &format!("{} {state}", c.service));
                        seen.insert(c.service.clone(), state);
                    }
                }
            })
            .await
        }
        .await;
        spinner.finished("profile");
        result?;
        let report = Started {
            project: &project.name,
            seconds: started.elapsed().as_secs_f64(),
            services: &project.services,
            urls: compose::urls(&ctx),
            compose_cli,
        };
        print_report(cli, &report, |_| render_started(&report))?;
        Ok(Outcome::Ok)
    })
}

fn render_started(report: &Started<'_>) -> String {
    let mut out = format!(
        "ops profile up: {} services healthy in {:.1} s (project {}, {} {})\n",
        report.services.len(),
        report.seconds,
        report.project,
        report.compose_cli.name(),
        report.compose_cli.version
    );
    for (c, url) in &report.urls {
        let _ = writeln!(out, "  {:<22} {url}", c.title());
    }
    out
}

/// What a command on the running profile talks to.
struct Stack {
    loaded: Loaded,
    project: Project,
    docker: Docker,
}

/// The profile's project and the Docker engine; `None` when the engine
/// cannot be reached, after saying so (a finding, exit 1, not a crash).
async fn stack(cli: &Cli) -> Result<Option<Stack>> {
    let loaded = load(cli)?;
    let project = Project::load(&loaded).map_err(usage)?;
    match Docker::connect().await {
        Ok(docker) => Ok(Some(Stack { loaded, project, docker })),
        Err(e) => Ok(unavailable(&e)),
    }
}

/// [`stack`] and the Compose CLI, or `None` when either is missing.
async fn stack_and_cli(cli: &Cli) -> Result<Option<(Stack, ComposeCli)>> {
    let Some(stack) = stack(cli).await? else { return Ok(None) };
    match ComposeCli::detect().await {
        Ok(compose_cli) => Ok(Some((stack, compose_cli))),
        Err(e) => Ok(unavailable(&e)),
    }
}

/// A missing engine or Compose CLI is a finding (exit 1), not a crash.
fn unavailable<T>(e: &dyn std::fmt::Display) -> Option<T> {
    eprintln!("error: {e}");
    None
}

/// `compose status`: one line per ops and app service; exit 1 on red.
pub fn status(cli: &Cli) -> Result<Outcome> {
    block_on(async {
        let Some(stack) = stack(cli).await? else { return Ok(Outcome::ProblemsFound) };
        let rows = compose::status(&stack.docker, &stack.project).await?;
        print_report(cli, &rows, |color| render_status(&rows, color))?;
        Ok(Outcome::of(!rows.iter().any(|r| r.colour == compose::Colour::Red)))
    })
}

fn render_status(rows: &[compose::Row], color: bool) -> String {
    let width = rows.iter().map(|r| r.service.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in rows {
        let health = r.health.as_deref().unwrap_or("-");
        let drift = if r.image_drift { "  image drift: the tag now points to another image" } else { "" };
        let _ = writeln!(
            out,
            "{} {:<width$}  {:<3}  {:<10} {:<10} restarts {}{drift}",
            paint(r.colour, color),
            r.service,
            r.role,
            r.state,
            health,
            r.restarts
        );
    }
    out
}

/// A status colour's word, padded, and painted in that colour when
/// `in_colour`.
fn paint(status: compose::Colour, in_colour: bool) -> String {
    let (word, code) = match status {
        compose::Colour::Green => ("green", "32"),
        compose::Colour::Yellow => ("yellow", "33"),
        compose::Colour::Red => ("red", "31"),
    };
    if in_colour { format!("\x1b[{code}m{word:<6}\x1b[0m") } else { format!("{word:<6}") }
}

/// `compose down`: stop and remove the profile's containers; volumes stay.
pub fn down(cli: &Cli) -> Result<Outcome> {
    block_on(async {
        let Some((stack, compose_cli)) = stack_and_cli(cli).await? else { return Ok(Outcome::ProblemsFound) };
        compose::down(&compose_cli, &stack.project).await?;
        compose::remove_networks(&stack.docker, &stack.project).await?;
        print_text("ops profile stopped; its volumes are kept (`ops-gen compose up` brings it back)\n")?;
        Ok(Outcome::Ok)
    })
}

/// `compose restart SERVICE`.
pub fn restart(cli: &Cli, args: &ServiceArgs) -> Result<Outcome> {
    block_on(async {
        let Some((stack, compose_cli)) = stack_and_cli(cli).await? else { return Ok(Outcome::ProblemsFound) };
        compose::restart(&compose_cli, &stack.project, &args.service).await.map_err(unknown_service_is_usage)?;
        print_text(&format!("restarted {}\n", args.service))?;
        Ok(Outcome::Ok)
    })
}

/// `compose logs SERVICE`: its last `--tail` lines.
pub fn logs(cli: &Cli, args: &LogsArgs) -> Result<Outcome> {
    block_on(async {
        let Some((stack, compose_cli)) = stack_and_cli(cli).await? else { return Ok(Outcome::ProblemsFound) };
        let text = compose::logs(&compose_cli, &stack.project, &args.service, args.tail)
            .await
            .map_err(unknown_service_is_usage)?;
        print_text(&text)?;
        Ok(Outcome::Ok)
    })
}

/// A service name that is not in the stack is the user's mistake (exit 2).
fn unknown_service_is_usage(e: ComposeError) -> anyhow::Error {
    match e {
        ComposeError::UnknownService(..) => usage(e),
        other => other.into(),
    }
}

/// `compose destroy`: show what goes, confirm (typing the project's name),
/// take a backup when there are targets, then delete the profile's
/// containers and volumes. The app is never touched.
pub fn destroy(cli: &Cli, args: &DestroyArgs) -> Result<Outcome> {
    block_on(async {
        let Some((stack, compose_cli)) = stack_and_cli(cli).await? else { return Ok(Outcome::ProblemsFound) };
        let Stack { loaded, project, docker } = &stack;
        let doomed = compose::doomed(docker, project).await?;
        let listed = |names: &[String]| if names.is_empty() { "none".to_owned() } else { names.join(", ") };
        print_text(&format!(
            "ops-gen compose destroy deletes, in project `{}`:\n  containers: {}\n  volumes:    {}\nThe app's containers and volumes are not touched.\n",
            project.name,
            listed(&doomed.containers),
            listed(&doomed.volumes)
        ))?;
        let question = format!("Type the project name ({}) to confirm: ", project.name);
        let confirmation = Confirmation {
            word: &project.name,
            question: &question,
            refusal: "refusing to destroy without a terminal to confirm; pass --yes",
            declined: "not confirmed; nothing deleted",
        };
        if !confirm(args.yes, &confirmation)? {
            return Ok(Outcome::ProblemsFound);
        }
        if !crate::backup::jobs(&loaded.config).is_empty() {
            print_text("taking a backup first…\n")?;
            if Box::pin(super::backup::take(cli, &crate::backup::run::Options::default())).await? != Outcome::Ok {
                eprintln!("the backup failed: nothing deleted");
                return Ok(Outcome::ProblemsFound);
            }
        }
        let gone = compose::destroy(&compose_cli, docker, project).await?;
        print_text(&format!("destroyed: {} containers, {} volumes\n", gone.containers.len(), gone.volumes.len()))?;
        Ok(Outcome::Ok)
    })
}
