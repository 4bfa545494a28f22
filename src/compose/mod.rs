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
//!
//! The Compose CLI itself is [`crate::docker::compose_cli`]; the app's own
//! project (its files and declared services) is [`crate::stack`].

pub mod preflight;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::profile::Component;
use crate::docker::LABEL_PROFILE;
use crate::docker::compose_cli::{CliError, ComposeCli, project_args};
use crate::docker::{Container, Docker, DockerError};
use crate::profile::Context;
use crate::profile::compose::{FILE, PROFILE};

/// Why a compose command could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Cli(#[from] CliError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(
        "not healthy after {}s: {}; see `ops-gen compose logs SERVICE`{}",
        waited.as_secs(),
        pending.join(", "),
        last_lines(logs)
    )]
    NotHealthy {
        waited: Duration,
        pending: Vec<String>,
        /// The last log lines of each service that failed, redacted.
        logs: Vec<(String, Vec<String>)>,
    },
    #[error("`{0}` is not a service of this stack (ops services: {1})")]
    UnknownService(String, String),
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
    pub fn load(loaded: &crate::config::Loaded) -> Result<Self, crate::stack::app::AppError> {
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

/// Runs one Compose command of the profile to the end, capturing its output.
async fn run(cli: &ComposeCli, project: &Project, args: &[&str]) -> Result<String, ComposeError> {
    Ok(cli.output(&project.dir, &project.args(), args).await?)
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
        // A container that stopped, or restarts over and over, will not
        // become healthy by waiting: say so now, not at the timeout.
        let failed: Vec<&Container> =
            containers.iter().filter(|c| matches!(c.state.as_str(), "exited" | "dead") || c.restarts >= 3).collect();
        if !failed.is_empty() || started.elapsed() >= timeout {
            let stuck: Vec<&Container> =
                if failed.is_empty() { containers.iter().filter(|c| !ready(c)).collect() } else { failed };
            let redactor = crate::config::redact::Redactor::default();
            let mut logs = Vec::new();
            for c in stuck {
                let lines = docker.logs(&c.id, LOG_LINES).await.unwrap_or_default();
                logs.push((c.service.clone(), lines.iter().map(|l| redactor.text(&l.message)).collect()));
            }
            return Err(ComposeError::NotHealthy { waited: started.elapsed(), pending, logs });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn ready(c: &Container) -> bool {
    c.state == "running" && c.health.as_deref().is_none_or(|h| h == "healthy")
}

/// How many of a failed service's last log lines an error quotes.
const LOG_LINES: usize = 10;

/// The quoted log lines of failed services, for the error message.
fn last_lines(logs: &[(String, Vec<String>)]) -> String {
    let mut out = String::new();
    for (service, lines) in logs.iter().filter(|(_, lines)| !lines.is_empty()) {
        let _ = write!(out, "\n  last lines of {service}:");
        for line in lines {
            let _ = write!(out, "\n    {line}");
        }
    }
    out
}

/// A container's state in a few words: `running, starting`, `restarting (3
/// restarts)`.
#[must_use]
pub fn describe(c: &Container) -> String {
    let state = match &c.health {
        Some(h) => format!("{}, {h}", c.state),
        None => c.state.clone(),
    };
    match c.restarts {
        0 => state,
        1 => format!("{state} (1 restart)"),
        n => format!("{state} ({n} restarts)"),
    }
}

/// Removes the profile's own networks (labelled as the profile's, in this
/// project) once its containers are gone; the app's networks stay.
pub async fn remove_networks(docker: &Docker, project: &Project) -> Result<(), ComposeError> {
    let labels = [("com.docker.compose.project", project.name.as_str()), (LABEL_PROFILE, PROFILE)];
    for network in docker.networks(&labels).await? {
        docker.remove_network(&network).await?;
    }
    Ok(())
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
    remove_networks(docker, project).await?;
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
/// outdated image. Red: missing, stopped, restarting or unhealthy.
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
            ("running", Some("unhealthy")) | ("exited" | "dead" | "created" | "removing" | "restarting", _) => {
                Colour::Red
            }
            ("running", Some("starting")) | ("paused", _) => Colour::Yellow,
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
