//! One snapshot of what a helper needs to know about the stack before
//! touching it: versions (ops-gen, the stack folder's git commit, Docker,
//! Compose), each container of the Compose project with its image digest
//! and (redacted) environment, the profile's drift from `compose status`,
//! the backup folder's `latest.json` and sets, every check's result, the
//! latest smoke result and, from a running `serve`, its scheduled jobs. `ops-gen bundle` writes it as `context.json`
//! (running every check once); the ops API (`/api/ops/context`) serves the
//! same with the server's latest results, so a call never runs a check
//! (never writes to S3 or a canary).
//!
//! Every part is bounded (Docker calls by their own limit, checks by their
//! `timeout`, git and the Compose CLI by [`TOOL_TIMEOUT`]); a part that
//! fails is named in `errors` and the rest is still reported.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::compose::{self, Project};
use crate::config::Loaded;
use crate::config::redact::Redactor;
use crate::docker::Docker;
use crate::docker::compose_cli::ComposeCli;

/// How long `git` and the Compose CLI may take to say their version.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(5);

/// The snapshot (`context.json`).
#[derive(Debug, Serialize)]
pub struct Context {
    pub ops_gen: Versions,
    /// The Compose project and its folder.
    pub project: String,
    pub folder: String,
    /// `HEAD` of the stack folder, when it is a git work tree.
    pub git_sha: Option<String>,
    pub docker: Option<crate::docker::Version>,
    /// `docker compose 2.x` or `docker-compose 1.29.2`.
    pub compose: Option<String>,
    pub containers: Vec<Container>,
    /// One row per profile and app service: state, health, restarts, image drift.
    pub drift: Vec<compose::Row>,
    pub backups: Backups,
    /// Every target and check, run once now (as `ops-gen probe --json`).
    pub checks: serde_json::Value,
    /// `output/smoke/latest.json`.
    pub smoke: Option<crate::output::SmokeLatest>,
    /// The scheduled jobs with their last result and next run, as the
    /// scheduler of a running `serve` passes them in (`crate::jobs` sits
    /// above this module); absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<serde_json::Value>,
    /// The parts that could not be read, and why.
    pub errors: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Versions {
    pub version: &'static str,
    pub revision: &'static str,
}

/// One container of the project.
#[derive(Debug, Serialize)]
pub struct Container {
    pub service: String,
    pub name: String,
    pub state: String,
    pub health: Option<String>,
    pub restarts: i64,
    pub image: String,
    /// The image's content digest (`sha256:…`).
    pub image_id: String,
    /// `KEY=value`, with secret-looking values masked.
    pub env: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Backups {
    pub dir: String,
    /// The backup folder's `latest.json`, as written by `backup run`.
    pub latest: Option<serde_json::Value>,
    /// Set names, oldest first.
    pub sets: Vec<String>,
}

/// The environment of each container of `project`, by container ID: the
/// values a [`Redactor`] must learn before anything of the stack is shown.
pub async fn container_env(docker: &Docker, project: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let listed = docker.list_project(project).await.map_err(|e| e.to_string())?;
    let reads = listed.iter().map(|c| async move { (c.id.clone(), docker.container_env(&c.id).await) });
    let mut env = BTreeMap::new();
    for (id, read) in futures::future::join_all(reads).await {
        env.insert(id, read.map_err(|e| e.to_string())?);
    }
    Ok(env)
}

/// A redactor that knows the config's secrets and the secret-looking
/// environment of `project`'s containers, with that environment (read
/// within `limit`; none without an engine).
pub async fn redactor(
    loaded: &Loaded,
    docker: Option<&Docker>,
    project: &str,
    limit: Duration,
) -> (Redactor, BTreeMap<String, Vec<String>>) {
    let mut redactor = Redactor::for_config(loaded);
    let env = match docker {
        Some(docker) => tokio::time::timeout(limit, container_env(docker, project))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default(),
        None => BTreeMap::new(),
    };
    for values in env.values() {
        redactor.add_env(values);
    }
    (redactor, env)
}

/// Collects the snapshot. `env` is what [`container_env`] read (shown
/// redacted); `docker` is `None` when the engine did not answer; `latest`
/// holds the checks' results to show (a running server's), or `None` to run
/// every check once now.
pub async fn collect(
    loaded: &Loaded,
    project: &Project,
    docker: Option<&Docker>,
    env: &BTreeMap<String, Vec<String>>,
    redactor: &Redactor,
    latest: Option<&crate::probe::runner::Snapshot>,
) -> Context {
    let config = &loaded.config;
    let mut errors = Vec::new();
    let docker_part = async {
        let Some(docker) = docker else {
            return (None, Vec::new(), Vec::new(), vec!["docker: the engine did not answer".to_owned()]);
        };
        let mut errors = Vec::new();
        let (version, containers, drift) =
            tokio::join!(docker.version(), docker.project_containers(&project.name), compose::status(docker, project));
        let version = version.map_err(|e| errors.push(format!("docker version: {e}"))).ok();
        let containers = containers
            .map_err(|e| errors.push(format!("containers: {e}")))
            .unwrap_or_default()
            .into_iter()
            .map(|c| Container {
                env: env.get(&c.id).map(|e| e.iter().map(|v| redactor.env_entry(v)).collect()).unwrap_or_default(),
                service: c.service,
                name: c.name,
                state: c.state,
                health: c.health,
                restarts: c.restarts,
                image: c.image,
                image_id: c.image_id,
            })
            .collect();
        let drift = drift.map_err(|e| errors.push(format!("drift: {e}"))).unwrap_or_default();
        (version, containers, drift, errors)
    };
    let checks = async {
        let report = |snapshot: &crate::probe::runner::Snapshot| {
            serde_json::to_value(crate::report::ProbeReport::new(snapshot)).unwrap_or_default()
        };
        match latest {
            Some(snapshot) => report(snapshot),
            None => match crate::ops::run_once(config).await {
                Ok(snapshot) => report(&snapshot),
                Err(e) => serde_json::json!({"error": e.to_string()}),
            },
        }
    };
    let ((docker_version, containers, drift, docker_errors), checks, compose, git_sha, files) =
        tokio::join!(docker_part, checks, compose_version(), git_sha(&project.dir), read_files(&config.backup.dir));
    errors.extend(docker_errors);
    let dir = &config.backup.dir;
    let (latest, sets, smoke) = files.unwrap_or_else(|e| {
        errors.push(e);
        (None, Vec::new(), None)
    });
    Context {
        ops_gen: Versions { version: crate::build_info::VERSION, revision: crate::build_info::REVISION },
        project: project.name.clone(),
        folder: std::path::absolute(&project.dir).unwrap_or_else(|_| project.dir.clone()).display().to_string(),
        git_sha,
        docker: docker_version,
        compose,
        containers,
        drift,
        backups: Backups { dir: dir.display().to_string(), latest, sets },
        checks: redactor.json(&checks),
        smoke,
        jobs: None,
        errors,
    }
}

/// What the snapshot reads from files.
type Files = (Option<serde_json::Value>, Vec<String>, Option<crate::output::SmokeLatest>);

/// The backup folder's `latest.json` and set names, and the smoke result,
/// read on the blocking pool within [`TOOL_TIMEOUT`]: a hung folder (NFS)
/// is an error in the snapshot, never a stuck worker thread.
async fn read_files(dir: &Path) -> Result<Files, String> {
    let dir = dir.to_owned();
    let read = tokio::task::spawn_blocking(move || {
        let latest =
            std::fs::read(dir.join(crate::backup::run::LATEST)).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let sets = crate::backup::sets(&dir)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        (latest, sets, crate::output::SmokeLatest::read(Path::new(crate::output::SMOKE_DIR)))
    });
    match tokio::time::timeout(TOOL_TIMEOUT, read).await {
        Ok(Ok(files)) => Ok(files),
        Ok(Err(e)) => Err(format!("backups: {e}")),
        Err(_) => Err(format!("backups: the folder did not answer within {}s", TOOL_TIMEOUT.as_secs())),
    }
}

/// How long the Compose CLI's version is reused: asking `docker-compose`
/// costs a Python start (~0.4 s), and the answer changes only on upgrades.
const COMPOSE_VERSION_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// The Compose CLI's name and version (`docker-compose 1.29.2`), asked at
/// most every [`COMPOSE_VERSION_TTL`] per process (the API serves context
/// on demand).
async fn compose_version() -> Option<String> {
    use std::sync::{Mutex, PoisonError};
    use std::time::Instant;
    static CACHE: Mutex<Option<(Instant, Option<String>)>> = Mutex::new(None);
    if let Some((at, version)) = CACHE.lock().unwrap_or_else(PoisonError::into_inner).clone()
        && at.elapsed() < COMPOSE_VERSION_TTL
    {
        return version;
    }
    let version = tokio::time::timeout(TOOL_TIMEOUT, ComposeCli::detect())
        .await
        .ok()
        .and_then(Result::ok)
        .map(|cli| format!("{} {}", cli.name(), cli.version));
    *CACHE.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), version.clone()));
    version
}

/// `git rev-parse HEAD` in `dir`, when it is a work tree.
async fn git_sha(dir: &Path) -> Option<String> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("-C").arg(dir).args(["rev-parse", "HEAD"]).stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(TOOL_TIMEOUT, cmd.output()).await.ok()?.ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
