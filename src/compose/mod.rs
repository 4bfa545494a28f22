//! Running the ops profile: `ops-gen compose up | status | down | destroy |
//! restart | logs`.
//!
//! The Docker Compose CLI does the starting and stopping (v2's `docker
//! compose` plugin when present, else `docker-compose` 1.x); we never
//! re-implement Compose. Every call names the project, the project folder
//! and the files explicitly (`-p NAME --project-directory DIR -f <app files>
//! -f compose/docker-compose.ops.yml --profile ops`) and lists the profile's
//! services, so the app's own containers are never started, stopped or
//! recreated by a profile command. State comes from the Docker API
//! ([`crate::docker`]), which both CLIs agree on.
//!
//! - [`preflight`]: what must hold before `up` (engine, CLI, ports free,
//!   disk, memory), shared with `ops-gen doctor`.
//! - [`declared`]: the app's services as Compose resolves its files (for
//!   the drift check).

pub mod declared;
pub mod preflight;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::docker::{Container, Docker, DockerError};
use crate::profile::compose::{FILE, LABEL_PROFILE, PROFILE};
use crate::profile::{Component, Context};

/// Why a compose command could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(
        "no Docker Compose CLI found: neither `docker compose` (v2 plugin) nor `docker-compose` answers; install one (Debian: apt install docker-compose-plugin or docker-compose)"
    )]
    NoCli,
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed { command: String, status: String, stderr: String },
    #[error("cannot run `{program}`: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(
        "not healthy after {}s: {}; see `ops-gen compose logs SERVICE`",
        waited.as_secs(),
        pending.join(", ")
    )]
    NotHealthy { waited: Duration, pending: Vec<String> },
    #[error("`{0}` is not a service of this stack (ops services: {1})")]
    UnknownService(String, String),
}

/// Which Compose CLI runs the profile.
#[derive(Debug, Clone)]
pub struct ComposeCli {
    program: String,
    prefix: Vec<String>,
    /// What `version --short` printed.
    pub version: String,
}

impl ComposeCli {
    /// `docker compose` when the v2 plugin answers, else `docker-compose`.
    pub async fn detect() -> Result<Self, ComposeError> {
        for (program, prefix) in [("docker", vec!["compose"]), ("docker-compose", vec![])] {
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(&prefix).args(["version", "--short"]).stdin(Stdio::null()).kill_on_drop(true);
            let Ok(Ok(out)) = tokio::time::timeout(Duration::from_secs(10), cmd.output()).await else { continue };
            if out.status.success() {
                let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                return Ok(Self {
                    program: program.to_owned(),
                    prefix: prefix.into_iter().map(str::to_owned).collect(),
                    version,
                });
            }
        }
        Err(ComposeError::NoCli)
    }

    /// How the CLI is called, for messages.
    #[must_use]
    pub fn name(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.prefix.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The profile as Compose sees it: project, folder, files and services.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub dir: PathBuf,
    /// The app's files then the profile's, as passed to `-f`.
    pub files: Vec<PathBuf>,
    /// The profile's services, in start order.
    pub services: Vec<String>,
    /// The images the profile's services are configured with, by service.
    pub images: BTreeMap<String, String>,
    /// The app's services.
    pub app_services: Vec<String>,
}

impl Project {
    /// The project of `loaded`: the app's compose files and the profile, as
    /// `compose`, `bundle` and the ops API see it.
    pub fn load(loaded: &crate::config::Loaded) -> Result<Self, crate::profile::AppError> {
        let inputs = crate::profile::Inputs::load(loaded)?;
        Ok(Self::new(&inputs.context(&loaded.config), &inputs.base))
    }

    #[must_use]
    pub fn new(ctx: &Context<'_>, dir: &Path) -> Self {
        let mut files: Vec<PathBuf> = ctx.app.files.clone();
        files.push(PathBuf::from(FILE));
        Self {
            name: ctx.project.clone(),
            dir: dir.to_owned(),
            files,
            services: ctx.components().map(|c| c.name().to_owned()).collect(),
            images: ctx.components().map(|c| (c.name().to_owned(), ctx.profile.image(c).to_owned())).collect(),
            app_services: ctx.app.services.keys().cloned().collect(),
        }
    }

    fn args(&self) -> Vec<String> {
        project_args(&self.name, &self.dir, &self.files, &[PROFILE])
    }

    fn check_service(&self, service: &str) -> Result<(), ComposeError> {
        if self.services.iter().chain(&self.app_services).any(|s| s == service) {
            Ok(())
        } else {
            Err(ComposeError::UnknownService(service.to_owned(), self.services.join(", ")))
        }
    }
}

impl ComposeCli {
    /// Runs `<cli> PROJECT_ARGS ARGS` in `dir` to the end and returns its
    /// stdout; messages name the command by `ARGS` only. The child is killed
    /// if the future is dropped (a caller's timeout).
    pub(crate) async fn output(
        &self,
        dir: &Path,
        project_args: &[String],
        args: &[&str],
    ) -> Result<String, ComposeError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.prefix).args(project_args).args(args).current_dir(dir);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let out = cmd.output().await.map_err(|source| ComposeError::Spawn { program: self.name(), source })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Compose prints progress lines on stderr too; the cause is at the end.
        let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        Err(ComposeError::Failed {
            command: format!("{} {}", self.name(), args.join(" ")),
            status: out.status.to_string(),
            stderr: tail[tail.len().saturating_sub(5)..].join(" | "),
        })
    }

    /// The major version (1 for `docker-compose` 1.x, 2 for the plugin).
    #[must_use]
    pub fn major(&self) -> Option<u32> {
        major(&self.version)
    }
}

/// The major version of a version string such as `1.29.2` or `v2.24.1`.
#[must_use]
pub fn major(version: &str) -> Option<u32> {
    version.trim().trim_start_matches('v').split('.').next()?.parse().ok()
}

/// How every Compose call names its project: `-p NAME --project-directory
/// DIR -f FILE… --profile PROFILE…`, files relative to `dir` (or absolute).
fn project_args(name: &str, dir: &Path, files: &[PathBuf], profiles: &[&str]) -> Vec<String> {
    let mut args = vec!["-p".to_owned(), name.to_owned(), "--project-directory".to_owned()];
    args.push(dir.display().to_string());
    for f in files {
        args.push("-f".to_owned());
        args.push(dir.join(f).display().to_string());
    }
    for p in profiles {
        args.push("--profile".to_owned());
        args.push((*p).to_owned());
    }
    args
}

/// Runs one Compose command of the profile to the end, capturing its output.
async fn run(cli: &ComposeCli, project: &Project, args: &[&str]) -> Result<String, ComposeError> {
    cli.output(&project.dir, &project.args(), args).await
}

/// Starts the profile's services (never the app's) in the background.
pub async fn start(cli: &ComposeCli, project: &Project) -> Result<(), ComposeError> {
    let mut args = vec!["up", "-d"];
    args.extend(project.services.iter().map(String::as_str));
    run(cli, project, &args).await.map(drop)
}

/// Waits until every profile service runs and, when it has a healthcheck,
/// is healthy; `on_poll` sees each round's containers (for a progress
/// display).
pub async fn wait_healthy(
    docker: &Docker,
    project: &Project,
    timeout: Duration,
    mut on_poll: impl FnMut(&[Container]),
) -> Result<Vec<Container>, ComposeError> {
    let started = Instant::now();
    loop {
        let containers: Vec<Container> = docker
            .project_containers(&project.name)
            .await?
            .into_iter()
            .filter(|c| project.services.contains(&c.service))
            .collect();
        on_poll(&containers);
        let pending: Vec<String> = project
            .services
            .iter()
            .filter(|s| !containers.iter().any(|c| &c.service == *s && ready(c)))
            .map(|s| {
                let state = containers.iter().find(|c| &c.service == s).map_or("missing".to_owned(), describe);
                format!("{s} ({state})")
            })
            .collect();
        if pending.is_empty() {
            return Ok(containers);
        }
        if started.elapsed() >= timeout {
            return Err(ComposeError::NotHealthy { waited: started.elapsed(), pending });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn ready(c: &Container) -> bool {
    c.state == "running" && c.health.as_deref().is_none_or(|h| h == "healthy")
}

fn describe(c: &Container) -> String {
    match &c.health {
        Some(h) => format!("{}, {h}", c.state),
        None => c.state.clone(),
    }
}

/// Stops and removes the profile's containers; volumes and the app stay.
pub async fn down(cli: &ComposeCli, project: &Project) -> Result<(), ComposeError> {
    let mut args = vec!["rm", "--stop", "--force"];
    args.extend(project.services.iter().map(String::as_str));
    run(cli, project, &args).await.map(drop)
}

/// Restarts one service (of the profile or the app).
pub async fn restart(cli: &ComposeCli, project: &Project, service: &str) -> Result<(), ComposeError> {
    project.check_service(service)?;
    run(cli, project, &["restart", service]).await.map(drop)
}

/// The last `tail` log lines of one service.
pub async fn logs(cli: &ComposeCli, project: &Project, service: &str, tail: usize) -> Result<String, ComposeError> {
    project.check_service(service)?;
    run(cli, project, &["logs", "--no-color", "--tail", &tail.to_string(), service]).await
}

/// What `destroy` would delete.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Doomed {
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
}

/// Lists the profile's containers and volumes (by the profile's label and
/// the project's, never anything of the app's).
pub async fn doomed(docker: &Docker, project: &Project) -> Result<Doomed, ComposeError> {
    let containers = docker
        .project_containers(&project.name)
        .await?
        .into_iter()
        .filter(|c| c.labels.get(LABEL_PROFILE).is_some_and(|v| v == PROFILE))
        .map(|c| c.name)
        .collect();
    let volumes =
        docker.volumes(&[(LABEL_PROFILE, PROFILE), (crate::docker::LABEL_PROJECT, project.name.as_str())]).await?;
    Ok(Doomed { containers, volumes })
}

/// Removes the profile's containers, then its volumes.
pub async fn destroy(cli: &ComposeCli, docker: &Docker, project: &Project) -> Result<Doomed, ComposeError> {
    let doomed = doomed(docker, project).await?;
    down(cli, project).await?;
    for volume in &doomed.volumes {
        docker.remove_volume(volume).await?;
    }
    Ok(doomed)
}

/// One line of `compose status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub service: String,
    /// `ops` or `app`.
    pub role: &'static str,
    pub colour: Colour,
    pub state: String,
    pub health: Option<String>,
    pub restarts: i64,
    /// The container runs another image than its reference points at now.
    pub image_drift: bool,
}

/// Green: running and healthy. Yellow: starting, restarted, or running an
/// outdated image. Red: missing, stopped or unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Green,
    Yellow,
    Red,
}

/// One row per profile and app service.
pub async fn status(docker: &Docker, project: &Project) -> Result<Vec<Row>, ComposeError> {
    let containers = docker.project_containers(&project.name).await?;
    let mut rows = Vec::new();
    let expected = project.services.iter().map(|s| (s, "ops")).chain(project.app_services.iter().map(|s| (s, "app")));
    for (service, role) in expected {
        let Some(c) = containers.iter().find(|c| &c.service == service) else {
            rows.push(Row {
                service: service.clone(),
                role,
                colour: Colour::Red,
                state: "missing".to_owned(),
                health: None,
                restarts: 0,
                image_drift: false,
            });
            continue;
        };
        let reference = project.images.get(service).map_or(c.image.as_str(), String::as_str);
        let image_drift = docker.image_id(reference).await?.is_some_and(|id| id != c.image_id);
        let colour = match (c.state.as_str(), c.health.as_deref()) {
            ("running", Some("unhealthy")) | ("exited" | "dead" | "created" | "removing", _) => Colour::Red,
            ("running", Some("starting")) | ("restarting" | "paused", _) => Colour::Yellow,
            ("running", _) if image_drift || c.restarts > 0 => Colour::Yellow,
            ("running", _) => Colour::Green,
            _ => Colour::Red,
        };
        rows.push(Row {
            service: service.clone(),
            role,
            colour,
            state: c.state.clone(),
            health: c.health.clone(),
            restarts: c.restarts,
            image_drift,
        });
    }
    Ok(rows)
}

/// The URLs the operator opens after `up`.
#[must_use]
pub fn urls(ctx: &Context<'_>) -> Vec<(Component, String)> {
    ctx.components()
        .filter_map(|c| {
            let url = ctx.public_url(c)?;
            Some((c, format!("{url}{}", c.start_path())))
        })
        .collect()
}
