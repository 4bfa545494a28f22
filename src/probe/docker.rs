//! `docker`: does the running stack match its compose files?
//!
//! The declared state is what Compose resolves from the files in
//! `stack.files` ([`crate::stack::declared`]); the running state is what
//! the engine lists under the project's `com.docker.compose.project` label
//! (one-off `compose run` containers and the ops profile's own services
//! left out). Each service can drift in five ways:
//! - `missing`: declared, but no container of it runs;
//! - `extra`: a container runs in the project that no file declares;
//! - `image`: a container runs another image than the declared reference
//!   resolves to on this host now (pulled or rebuilt but not recreated, or
//!   the tag changed in the file);
//! - `config`: a container was created from another version of its
//!   definition (Compose's config hash differs);
//! - `replicas`: some, but not the declared number of, containers run.
//!
//! It runs on its own schedule (`interval`, default 30s) and does as little
//! as it can each time: one list of the project's containers, one of the
//! images and one read of the container events since the last run; an
//! inspect only for a container with an event or a changed state; the
//! Compose CLI only when a compose file, `.env` or a local image changed.
//! Services seen once stay in the series (at 0) for the life of the process,
//! so a service that vanishes shows as down instead of disappearing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::{Hash as _, Hasher as _};

use serde::Serialize;

use futures::future::BoxFuture;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::{Failure, Outcome, Reason};
use crate::config::checks::docker::Spec;
use crate::docker::LABEL_PROFILE;
use crate::docker::compose_cli::{CliError, ComposeCli};
use crate::docker::{Docker, DockerError, Inspected, LABEL_COMPOSE_VERSION, LABEL_CONFIG_HASH, LABEL_ONEOFF, Listed};
use crate::series;
use crate::stack::declared::{self, AppProject, Declared};

pub const REASONS: &[Reason] =
    &[Reason::Timeout, Reason::Connect, Reason::Auth, Reason::Missing, Reason::Invalid, Reason::Io, Reason::Drift];

/// The project as [`declared`] resolves it.
fn app_project(spec: &Spec) -> AppProject {
    AppProject {
        name: spec.project.clone(),
        dir: spec.dir.clone(),
        files: spec.files.clone(),
        profiles: spec.profiles.clone(),
    }
}

/// The ways a service can differ from its declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    Missing,
    Extra,
    Image,
    Config,
    Replicas,
}

impl DriftKind {
    pub const ALL: [Self; 5] = [Self::Missing, Self::Extra, Self::Image, Self::Config, Self::Replicas];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Extra => "extra",
            Self::Image => "image",
            Self::Config => "config",
            Self::Replicas => "replicas",
        }
    }
}

impl fmt::Display for DriftKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One service, declared or found running.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceState {
    pub service: String,
    /// A compose file declares it (for the active profiles).
    pub declared: bool,
    /// Containers declared (0 when not declared).
    pub replicas: u64,
    /// Containers running.
    pub running: u64,
    pub up: bool,
    /// Up, and every running container is healthy or has no healthcheck.
    pub healthy: bool,
    /// Restarts of its containers (by their restart policy), summed.
    pub restarts: i64,
    pub drift: Vec<DriftKind>,
    /// What differs and how to fix it, for people.
    pub notes: Vec<String>,
}

/// What the `docker` check reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct State {
    pub project: String,
    pub services: Vec<ServiceState>,
}

impl State {
    /// Services with any drift.
    #[must_use]
    pub fn drifting(&self) -> usize {
        self.services.iter().filter(|s| !s.drift.is_empty()).count()
    }
}

/// What the probe keeps between runs.
#[derive(Default)]
struct Memory {
    docker: Option<Docker>,
    cli: Option<ComposeCli>,
    /// The declared state and the fingerprint of what it was resolved from.
    declared: Option<(u64, Declared)>,
    /// Declared image references resolved to IDs, and the image list's
    /// fingerprint they hold for.
    images: Option<(u64, BTreeMap<String, Option<String>>)>,
    /// Inspected containers by ID, with the state they were inspected in.
    inspected: HashMap<String, (String, Inspected)>,
    /// Up to when (Unix seconds) the engine's container events were read.
    events_until: Option<u64>,
    /// Every service seen since start.
    known: BTreeSet<String>,
}

pub struct DriftProbe {
    app: AppProject,
    memory: tokio::sync::Mutex<Memory>,
}

impl fmt::Debug for DriftProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriftProbe").field("project", &self.app.name).finish_non_exhaustive()
    }
}

fn docker_failure(e: &DockerError) -> Failure {
    let message = e.to_string();
    let reason = match e {
        DockerError::Timeout { .. } | DockerError::TooLong { .. } => Reason::Timeout,
        _ if message.to_lowercase().contains("permission denied") => Reason::Auth,
        DockerError::Unreachable { .. } => Reason::Connect,
        DockerError::Api { .. } | DockerError::Http { .. } => Reason::Protocol,
    };
    let message = if reason == Reason::Auth {
        format!("{message}; let this user read the socket (the `docker` group) or point DOCKER_HOST at a socket proxy")
    } else {
        message
    };
    Failure::new(reason, message)
}

fn compose_failure(e: &CliError) -> Failure {
    match e {
        CliError::NoCli | CliError::Spawn { .. } => Failure::new(Reason::Missing, e.to_string()),
        CliError::Failed { .. } => Failure::new(Reason::Invalid, format!("the compose files do not resolve: {e}")),
    }
}

impl DriftProbe {
    #[must_use]
    pub fn new(spec: &Spec) -> Self {
        Self { app: app_project(spec), memory: tokio::sync::Mutex::new(Memory::default()) }
    }

    /// Docker API calls made so far (for the benchmark).
    pub async fn api_calls(&self) -> u64 {
        self.memory.lock().await.docker.as_ref().map_or(0, Docker::calls)
    }

    pub async fn check(&self) -> Outcome {
        let mut memory = self.memory.lock().await;
        match self.observe(&mut memory).await {
            Ok(state) => {
                let drifting: Vec<String> = state
                    .services
                    .iter()
                    .filter(|s| !s.drift.is_empty())
                    .map(|s| {
                        let kinds: Vec<&str> = s.drift.iter().map(|k| k.as_str()).collect();
                        format!("{} ({})", s.service, kinds.join(", "))
                    })
                    .collect();
                let failure = (!drifting.is_empty()).then(|| {
                    Failure::new(
                        Reason::Drift,
                        format!(
                            "{} of {} services drift: {}",
                            drifting.len(),
                            state.services.len(),
                            drifting.join("; ")
                        ),
                    )
                });
                Outcome::with(state, failure)
            }
            Err(failure) => Outcome { details: None, failure: Some(failure) },
        }
    }

    async fn observe(&self, memory: &mut Memory) -> Result<State, Failure> {
        let docker = if let Some(d) = &memory.docker {
            d.clone()
        } else {
            let d = Docker::connect().await.map_err(|e| docker_failure(&e))?;
            memory.docker = Some(d.clone());
            d
        };
        let result = self.observe_with(memory, &docker).await;
        if result.as_ref().is_err_and(|f| matches!(f.reason, Reason::Connect | Reason::Timeout)) {
            // Reconnect next time: the engine may have restarted elsewhere.
            memory.docker = None;
        }
        result
    }

    async fn observe_with(&self, memory: &mut Memory, docker: &Docker) -> Result<State, Failure> {
        let cli = if let Some(c) = &memory.cli {
            c.clone()
        } else {
            let c = ComposeCli::detect().await.map_err(|e| compose_failure(&e))?;
            memory.cli = Some(c.clone());
            c
        };
        let listed: Vec<Listed> = docker
            .list_project(&self.app.name)
            .await
            .map_err(|e| docker_failure(&e))?
            .into_iter()
            .filter(|c| c.labels.get(LABEL_ONEOFF).is_none_or(|v| !v.eq_ignore_ascii_case("true")))
            .filter(|c| !c.labels.contains_key(LABEL_PROFILE))
            .collect();
        let images = docker.images_fingerprint().await.map_err(|e| docker_failure(&e))?;

        // `docker-compose` 1.x puts the image ID into its config hash, so a
        // pulled image changes the declaration's hash too.
        let fingerprint = self.files_fingerprint(images)?;
        let declared = match &memory.declared {
            Some((fp, declared)) if *fp == fingerprint => declared.clone(),
            _ => {
                let declared = declared::resolve(&cli, &self.app).await.map_err(|e| compose_failure(&e))?;
                memory.declared = Some((fingerprint, declared.clone()));
                declared
            }
        };

        let references: BTreeSet<&String> = declared.services.values().filter_map(|s| s.image.as_ref()).collect();
        let resolved = match &memory.images {
            Some((fp, known)) if *fp == images && references.iter().all(|r| known.contains_key(*r)) => known.clone(),
            _ => {
                let mut resolved = BTreeMap::new();
                for reference in references {
                    let id = docker.image_id(reference).await.map_err(|e| docker_failure(&e))?;
                    resolved.insert(reference.clone(), id);
                }
                memory.images = Some((images, resolved.clone()));
                resolved
            }
        };

        // Inspect only what changed since the last look: a container with
        // an event since then (a restart between two runs leaves its state
        // `running`), or whose state or health reads differently.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let evented = match memory.events_until {
            // One second of overlap: the engine counts whole seconds.
            Some(until) => Some(
                docker
                    .container_events(&self.app.name, until.saturating_sub(1), now)
                    .await
                    .map_err(|e| docker_failure(&e))?,
            ),
            None => None,
        };
        memory.inspected.retain(|id, _| listed.iter().any(|c| &c.id == id));
        for c in &listed {
            let key = format!("{}|{}", c.state, health_of(&c.status));
            let changed = evented.as_ref().is_none_or(|ids| ids.contains(&c.id));
            if changed || memory.inspected.get(&c.id).is_none_or(|(seen, _)| *seen != key) {
                let inspected = docker.inspect(&c.id).await.map_err(|e| docker_failure(&e))?;
                memory.inspected.insert(c.id.clone(), (key, inspected));
            }
        }
        memory.events_until = Some(now);

        memory.known.extend(declared.services.keys().cloned());
        memory.known.extend(listed.iter().map(|c| c.service.clone()));
        let observed = Observed { listed: &listed, inspected: &memory.inspected, cli: &cli };
        let services = memory.known.iter().map(|name| observed.service(name, &declared, &resolved)).collect();
        Ok(State { project: self.app.name.clone(), services })
    }

    /// A digest of everything the declaration is resolved from.
    fn files_fingerprint(&self, images: u64) -> Result<u64, Failure> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for path in &self.app.files {
            let text = std::fs::read(path).map_err(|e| {
                Failure::new(Reason::Io, format!("cannot read the compose file {} (stack.files): {e}", path.display()))
            })?;
            (path, text).hash(&mut hasher);
        }
        std::fs::read(self.app.dir.join(".env")).ok().hash(&mut hasher);
        (&self.app.profiles, images).hash(&mut hasher);
        Ok(hasher.finish())
    }
}

/// The running side of one comparison.
struct Observed<'a> {
    listed: &'a [Listed],
    inspected: &'a HashMap<String, (String, Inspected)>,
    cli: &'a ComposeCli,
}

impl Observed<'_> {
    fn service(&self, name: &str, declared: &Declared, resolved: &BTreeMap<String, Option<String>>) -> ServiceState {
        let containers: Vec<&Listed> = self.listed.iter().filter(|c| c.service == name).collect();
        let running: Vec<&Listed> = containers.iter().copied().filter(|c| c.state == "running").collect();
        let inspected = |c: &Listed| self.inspected.get(&c.id).map(|(_, i)| i);
        let restarts = containers.iter().filter_map(|c| inspected(c)).map(|i| i.restarts).sum();
        let healthy = !running.is_empty()
            && running.iter().all(|c| inspected(c).is_some_and(|i| i.health.as_deref().is_none_or(|h| h == "healthy")));
        let spec = declared.services.get(name);
        let mut state = ServiceState {
            service: name.to_owned(),
            declared: spec.is_some(),
            replicas: spec.map_or(0, |s| s.replicas),
            running: running.len() as u64,
            up: !running.is_empty(),
            healthy,
            restarts,
            drift: Vec::new(),
            notes: Vec::new(),
        };
        let recreate = format!("recreate it with `{} up -d {name}`", self.cli.name());
        let Some(spec) = spec else {
            if state.up {
                state.drift.push(DriftKind::Extra);
                let names: Vec<&str> = running.iter().filter_map(|c| inspected(c)).map(|i| i.name.as_str()).collect();
                state.notes.push(format!(
                    "runs ({}) but no compose file declares it: declare it, or remove it with `docker rm -f {}`",
                    names.join(", "),
                    names.join(" ")
                ));
            }
            return state;
        };
        if state.running == 0 {
            if spec.replicas > 0 {
                state.drift.push(DriftKind::Missing);
                let stopped = containers.len();
                state.notes.push(format!(
                    "declared but not running{}: start it with `{} up -d {name}`",
                    if stopped > 0 { format!(" ({stopped} stopped)") } else { String::new() },
                    self.cli.name()
                ));
            }
            return state;
        }
        if let Some(reference) = &spec.image {
            let wanted = resolved.get(reference).cloned().flatten();
            let off: Vec<&&Listed> = running.iter().filter(|c| wanted.as_ref() != Some(&c.image_id)).collect();
            if let Some(c) = off.first() {
                state.drift.push(DriftKind::Image);
                state.notes.push(match &wanted {
                    Some(id) => {
                        format!("runs image {} but `{reference}` is now {}: {recreate}", short(&c.image_id), short(id))
                    }
                    None => format!(
                        "runs image {} but `{reference}` is not on this host: pull or build it, then {recreate}",
                        short(&c.image_id)
                    ),
                });
            }
        }
        if let Some(hash) = &spec.hash {
            let comparable = |c: &Listed| {
                let made_by = c.labels.get(LABEL_COMPOSE_VERSION).and_then(|v| crate::docker::compose_cli::major(v));
                made_by.is_none() || made_by == self.cli.major()
            };
            if running.iter().filter(|c| comparable(c)).any(|c| c.labels.get(LABEL_CONFIG_HASH) != Some(hash)) {
                state.drift.push(DriftKind::Config);
                state.notes.push(format!("was created from an older definition in the compose files: {recreate}"));
            }
            if !running.iter().all(|c| comparable(c)) {
                state.notes.push(format!(
                    "created by another major version of Compose than {} {}, whose config hash differs: config drift is not checked",
                    self.cli.name(),
                    self.cli.version
                ));
            }
        }
        if state.running != spec.replicas {
            state.drift.push(DriftKind::Replicas);
            state.notes.push(format!(
                "{} of {} declared containers run: `{} up -d {name}` restores the count",
                state.running,
                spec.replicas,
                self.cli.name()
            ));
        }
        state
    }
}

/// The health part of a status text (`Up 2 minutes (healthy)` →
/// `(healthy)`); the uptime around it changes by itself.
fn health_of(status: &str) -> &str {
    match status.rfind('(') {
        Some(i) if status.ends_with(')') => &status[i..],
        _ => "",
    }
}

/// An image ID as people read it: the first 12 hex digits.
fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

impl super::Found for State {
    fn describe(&self, _now: std::time::SystemTime) -> String {
        let up = self.services.iter().filter(|s| s.up).count();
        let total = self.services.len();
        match self.drifting() {
            0 => format!("project {}: {up} of {total} services up, all as declared", self.project),
            n => format!("project {}: {up} of {total} services up, {n} drifting", self.project),
        }
    }
}

/// A per-service gauge: name, help, value.
type ServiceFamily = (&'static str, &'static str, fn(&ServiceState) -> f64);

/// Compose drift and service state, labelled by project and service. Every
/// service seen since start keeps its series.
pub(crate) fn series(entries: &[super::Entry<'_>], enc: &mut DescriptorEncoder) -> fmt::Result {
    let states = super::details_of::<State>(entries);
    if states.is_empty() {
        return Ok(());
    }
    let services: Vec<(&str, &ServiceState)> =
        states.iter().flat_map(|(_, st)| st.services.iter().map(|s| (st.project.as_str(), s))).collect();
    let families: [ServiceFamily; 3] = [
        (series::SERVICE_UP, "1 while at least one container of the Compose service runs.", |s| {
            f64::from(u8::from(s.up))
        }),
        (
            series::SERVICE_HEALTHY,
            "1 while the service runs and each running container is healthy or has no healthcheck.",
            |s| f64::from(u8::from(s.healthy)),
        ),
        (
            series::SERVICE_RESTARTS,
            "Restarts of the service's containers by their restart policy, summed (watch it with changes()).",
            |s| s.restarts as f64,
        ),
    ];
    for (name, help, value) in families {
        let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (project, s) in &services {
            family.encode_family(&[("project", *project), ("service", s.service.as_str())])?.encode_gauge(&value(s))?;
        }
    }
    let mut family = enc.encode_descriptor(
        series::DRIFT,
        "1 while the service differs from its compose files in this way (missing, extra, image, config, replicas); checked on its own schedule.",
        None,
        MetricType::Gauge,
    )?;
    for (project, s) in &services {
        for kind in DriftKind::ALL {
            let labels = [("project", *project), ("service", s.service.as_str()), ("kind", kind.as_str())];
            family.encode_family(&labels)?.encode_gauge(&i64::from(s.drift.contains(&kind)))?;
        }
    }
    let mut family = enc.encode_descriptor(
        series::DRIFT_SERVICES,
        "Services of the Compose project that differ from its compose files.",
        None,
        MetricType::Gauge,
    )?;
    for (_, st) in &states {
        family.encode_family(&[("project", st.project.as_str())])?.encode_gauge(&(st.drifting() as f64))?;
    }
    Ok(())
}

impl super::Run for DriftProbe {
    fn run(&self) -> BoxFuture<'_, Outcome> {
        Box::pin(self.check())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_part_of_a_status_ignores_the_uptime() {
        assert_eq!(health_of("Up 2 minutes (healthy)"), "(healthy)");
        assert_eq!(health_of("Up 3 hours (health: starting)"), "(health: starting)");
        assert_eq!(health_of("Up 5 seconds"), "");
        assert_eq!(health_of("Exited (1) 2 minutes ago"), "");
        assert_eq!(short("sha256:0123456789abcdef0123"), "0123456789ab");
    }
}
