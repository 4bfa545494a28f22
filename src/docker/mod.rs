//! The one wrapper around the Docker API (bollard).
//!
//! Everything ops-gen asks the engine goes through here: is it reachable
//! and which version, which containers belong to a Compose project (state,
//! health, restarts, image), which volumes carry the profile's label, and
//! removing those volumes, and how much disk each volume uses. Compose
//! itself still starts and stops services; this module only reads, except
//! [`Docker::remove_volume`], [`Docker::restart_service`] and the throwaway
//! containers of restore drills (created without a network, given files,
//! run commands in with Docker exec, removed).
//!
//! The engine is found as the Docker CLI finds it: `DOCKER_HOST`, else the
//! local socket. The API version is negotiated, so Debian's 20.10 engine
//! and current ones both answer. Every call is bounded by a timeout: a hung
//! engine is an error, never a hung command.

pub mod compose_cli;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::query_parameters::{
    EventsOptions, InspectContainerOptions, ListContainersOptions, ListImagesOptions, ListNetworksOptions,
    ListVolumesOptions, LogsOptions, RemoveVolumeOptions,
};

use futures::TryStreamExt as _;

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The labels Docker Compose puts on what it creates.
pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
/// Compose's hash of the service config a container was created from.
pub const LABEL_CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// The Compose version that created a container.
pub const LABEL_COMPOSE_VERSION: &str = "com.docker.compose.version";
/// `True` on containers of `docker compose run`.
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";

/// Why a Docker call failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot reach the Docker engine at {host}: {message} (is dockerd running? set DOCKER_HOST to its socket, e.g. unix:///var/run/docker.sock)"
    )]
    Unreachable { host: String, message: String },
    #[error("the Docker engine did not answer {what} within {}s", CALL_TIMEOUT.as_secs())]
    Timeout { what: &'static str },
    #[error("{what} did not finish within {seconds}s")]
    TooLong { what: &'static str, seconds: u64 },
    #[error("Docker API {what}: {message}")]
    Http { what: &'static str, message: String },
    #[error("Docker API {what}: {source}")]
    Api {
        what: &'static str,
        #[source]
        source: bollard::errors::Error,
    },
}

/// A connected engine.
#[derive(Debug, Clone)]
pub struct Docker {
    client: bollard::Docker,
    /// `DOCKER_HOST` or the default socket, for messages.
    pub host: String,
    /// API calls made through this connection (and its clones).
    calls: Arc<AtomicU64>,
}

/// The engine's version, from `/version`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Version {
    pub version: String,
    pub api_version: String,
}

/// One container of a Compose project.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// The Compose service it runs.
    pub service: String,
    /// `running`, `exited`, `restarting`, …
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or `None` without a healthcheck.
    pub health: Option<String>,
    pub restarts: i64,
    /// The image reference it was created from.
    pub image: String,
    /// The image ID it runs.
    pub image_id: String,
    /// All its labels.
    #[serde(skip)]
    pub labels: HashMap<String, String>,
}

/// A Compose project's container as the list call shows it, without an
/// inspect.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: String,
    /// The Compose service it runs (empty without the label).
    pub service: String,
    /// `running`, `exited`, …
    pub state: String,
    /// The engine's status text (`Up 2 minutes (healthy)`): it changes when
    /// the container restarts or its health changes.
    pub status: String,
    /// The image reference it was created from.
    pub image: String,
    /// The image ID it runs.
    pub image_id: String,
    pub labels: HashMap<String, String>,
}

/// One line a container wrote, as the engine stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The engine's timestamp (RFC 3339 with nanoseconds, UTC).
    pub timestamp: String,
    /// `stdout` or `stderr` (`console` for a TTY).
    pub stream: &'static str,
    pub message: String,
}

/// What only an inspect tells of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    pub name: String,
    /// `healthy`, `unhealthy`, `starting`, or `None` without a healthcheck.
    pub health: Option<String>,
    pub restarts: i64,
}

impl Docker {
    /// One API call, bounded by [`CALL_TIMEOUT`] and counted.
    async fn bounded<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, DockerError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(result) => result.map_err(|source| DockerError::Api { what, source }),
            Err(_) => Err(DockerError::Timeout { what }),
        }
    }

    /// API calls made so far through this connection.
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Connects and checks the engine answers.
    pub async fn connect() -> Result<Self, DockerError> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned());
        let unreachable = |message: String| DockerError::Unreachable { host: host.clone(), message };
        let client = bollard::Docker::connect_with_defaults().map_err(|e| unreachable(crate::errors::chain(&e)))?;
        let client = match tokio::time::timeout(CALL_TIMEOUT, client.negotiate_version()).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(unreachable(crate::errors::chain(&e))),
            Err(_) => return Err(unreachable(format!("no answer within {}s", CALL_TIMEOUT.as_secs()))),
        };
        Ok(Self { client, host, calls: Arc::new(AtomicU64::new(1)) })
    }

    pub async fn version(&self) -> Result<Version, DockerError> {
        let v = self.bounded("version", self.client.version()).await?;
        Ok(Version { version: v.version.unwrap_or_default(), api_version: v.api_version.unwrap_or_default() })
    }

    /// The project's containers, running or not, sorted by service.
    pub async fn project_containers(&self, project: &str) -> Result<Vec<Container>, DockerError> {
        let mut containers = Vec::new();
        for listed in self.list_project(project).await? {
            let inspected = self.inspect(&listed.id).await?;
            containers.push(Container {
                id: listed.id,
                name: inspected.name,
                service: listed.service,
                state: listed.state,
                health: inspected.health,
                restarts: inspected.restarts,
                image: listed.image,
                image_id: listed.image_id,
                labels: listed.labels,
            });
        }
        containers.sort_by(|a, b| a.service.cmp(&b.service).then_with(|| a.name.cmp(&b.name)));
        Ok(containers)
    }

    /// The project's containers, running or not, from one list call.
    pub async fn list_project(&self, project: &str) -> Result<Vec<Listed>, DockerError> {
        let filters = HashMap::from([("label".to_owned(), vec![format!("{LABEL_PROJECT}={project}")])]);
        let options = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let summaries = self.bounded("list containers", self.client.list_containers(Some(options))).await?;
        Ok(summaries
            .into_iter()
            .filter_map(|summary| {
                let labels = summary.labels.unwrap_or_default();
                Some(Listed {
                    id: summary.id?,
                    service: labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
                    state: summary.state.map(|s| s.to_string()).unwrap_or_default(),
                    status: summary.status.unwrap_or_default(),
                    image: summary.image.unwrap_or_default(),
                    image_id: summary.image_id.unwrap_or_default(),
                    labels,
                })
            })
            .collect())
    }

    /// Name, health and restart count of one container.
    pub async fn inspect(&self, id: &str) -> Result<Inspected, DockerError> {
        let inspect = self
            .bounded("inspect container", self.client.inspect_container(id, None::<InspectContainerOptions>))
            .await?;
        let state = inspect.state.unwrap_or_default();
        Ok(Inspected {
            name: inspect.name.unwrap_or_default().trim_start_matches('/').to_owned(),
            health: state.health.and_then(|h| h.status).map(|s| s.to_string()).filter(|s| s != "none"),
            restarts: inspect.restart_count.unwrap_or(0),
        })
    }

    /// The last `tail` lines of a container's log, oldest first, each with
    /// the engine's timestamp. Bounded like every call: a container with a
    /// huge log costs at most the call timeout (10 s).
    pub async fn logs(&self, id: &str, tail: usize) -> Result<Vec<LogLine>, DockerError> {
        use bollard::container::LogOutput;
        let options =
            LogsOptions { stdout: true, stderr: true, timestamps: true, tail: tail.to_string(), ..Default::default() };
        let chunks = self.client.logs(id, Some(options)).try_collect::<Vec<LogOutput>>();
        let chunks = self.bounded("container logs", chunks).await?;
        let mut lines = Vec::new();
        for chunk in chunks {
            let (stream, bytes) = match chunk {
                LogOutput::StdErr { message } => ("stderr", message),
                LogOutput::StdOut { message } | LogOutput::StdIn { message } => ("stdout", message),
                LogOutput::Console { message } => ("console", message),
            };
            for line in String::from_utf8_lossy(&bytes).lines() {
                let (timestamp, message) = line.split_once(' ').unwrap_or((line, ""));
                lines.push(LogLine { timestamp: timestamp.to_owned(), stream, message: message.to_owned() });
            }
        }
        Ok(lines)
    }

    /// A container's environment (`KEY=value` entries) as created: callers
    /// must redact it before showing it ([`crate::config::redact`]).
    pub async fn container_env(&self, id: &str) -> Result<Vec<String>, DockerError> {
        let inspect = self
            .bounded("inspect container", self.client.inspect_container(id, None::<InspectContainerOptions>))
            .await?;
        Ok(inspect.config.and_then(|c| c.env).unwrap_or_default())
    }

    /// IDs of the project's containers that had an event (start, die,
    /// restart, health change, …) between `since` and `until` (Unix
    /// seconds), from one call that ends at `until`.
    pub async fn container_events(
        &self,
        project: &str,
        since: u64,
        until: u64,
    ) -> Result<HashSet<String>, DockerError> {
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            ("label".to_owned(), vec![format!("{LABEL_PROJECT}={project}")]),
        ]);
        let options =
            EventsOptions { since: Some(since.to_string()), until: Some(until.to_string()), filters: Some(filters) };
        let ids = self
            .client
            .events(Some(options))
            .try_filter_map(|event| std::future::ready(Ok(event.actor.and_then(|a| a.id))))
            .try_collect::<HashSet<String>>();
        self.bounded("events", ids).await
    }

    /// A digest of every local image's ID and tags, from one list call: it
    /// changes when an image is pulled, built, tagged or removed.
    pub async fn images_fingerprint(&self) -> Result<u64, DockerError> {
        use std::hash::{Hash as _, Hasher as _};
        let images = self.bounded("list images", self.client.list_images(None::<ListImagesOptions>)).await?;
        let mut rows: Vec<(String, Vec<String>)> = images.into_iter().map(|i| (i.id, i.repo_tags)).collect();
        rows.sort();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        rows.hash(&mut hasher);
        Ok(hasher.finish())
    }

    /// The ID the image reference points at now, if the engine has it.
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>, DockerError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(CALL_TIMEOUT, self.client.inspect_image(reference)).await {
            Ok(Ok(image)) => Ok(image.id),
            Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => Ok(None),
            Ok(Err(source)) => Err(DockerError::Api { what: "inspect image", source }),
            Err(_) => Err(DockerError::Timeout { what: "inspect image" }),
        }
    }

    /// Names of the volumes carrying every `label=value` pair given.
    pub async fn volumes(&self, labels: &[(&str, &str)]) -> Result<Vec<String>, DockerError> {
        let wanted = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let options = ListVolumesOptions { filters: Some(HashMap::from([("label".to_owned(), wanted)])) };
        let list = self.bounded("list volumes", self.client.list_volumes(Some(options))).await?;
        let mut names: Vec<String> = list.volumes.unwrap_or_default().into_iter().map(|v| v.name).collect();
        names.sort();
        Ok(names)
    }

    /// Disk use of every volume, by name: bytes, or `None` where the volume
    /// driver cannot tell (only `local` volumes are measured), from
    /// `/system/df`.
    ///
    /// bollard's typed answer only knows the current layout
    /// (`VolumeUsage.Items`) and drops the top-level `Volumes` list that
    /// engines before API 1.44 (Debian's 20.10 among them) send, so this one
    /// call is made with a plain HTTP client on the same socket and both
    /// layouts are read. The engine measures every volume, which takes a
    /// while on a big host: it gets two minutes, not the ten seconds of other calls.
    pub async fn volume_sizes(&self) -> Result<HashMap<String, Option<u64>>, DockerError> {
        const WHAT: &str = "system df";
        let http = |message: String| DockerError::Http { what: WHAT, message };
        let version = self.client.client_version();
        let path = format!("/v{}.{}/system/df?type=volume", version.major_version, version.minor_version);
        let builder = || reqwest::Client::builder().timeout(DF_TIMEOUT);
        let (builder, url): (Box<dyn Fn() -> reqwest::ClientBuilder>, String) =
            if let Some(socket) = self.host.strip_prefix("unix://") {
                let socket = socket.to_owned();
                (Box::new(move || builder().unix_socket(socket.clone())), format!("http://docker{path}"))
            } else if let Some(address) = self.host.strip_prefix("tcp://").or_else(|| self.host.strip_prefix("http://"))
                && std::env::var_os("DOCKER_TLS_VERIFY").is_none_or(|v| v.is_empty())
            {
                (Box::new(builder), format!("http://{address}{path}"))
            } else {
                return Err(http(format!(
                    "volume sizes are read over a unix socket or plain tcp, not {}; run ops-gen on the Docker host",
                    self.host
                )));
            };
        let client = crate::tls::http_client(builder).map_err(http)?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let response = client.get(&url).send().await.map_err(|e| {
            if e.is_timeout() { DockerError::Timeout { what: WHAT } } else { http(crate::errors::chain(&e)) }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(http(format!("the engine answered {status}")));
        }
        let body: serde_json::Value = response.json().await.map_err(|e| http(crate::errors::chain(&e)))?;
        Ok(volume_usage(&body))
    }

    /// Names of the networks carrying every `label=value` pair given.
    pub async fn networks(&self, labels: &[(&str, &str)]) -> Result<Vec<String>, DockerError> {
        let wanted = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let options = ListNetworksOptions { filters: Some(HashMap::from([("label".to_owned(), wanted)])) };
        let list = self.bounded("list networks", self.client.list_networks(Some(options))).await?;
        let mut names: Vec<String> = list.into_iter().filter_map(|n| n.name).collect();
        names.sort();
        Ok(names)
    }

    /// Deletes a network (refused by the engine while a container uses it).
    pub async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        self.bounded("remove network", self.client.remove_network(name)).await
    }

    /// Deletes a volume (it must not be in use).
    pub async fn remove_volume(&self, name: &str) -> Result<(), DockerError> {
        self.bounded("remove volume", self.client.remove_volume(name, Some(RemoveVolumeOptions { force: false }))).await
    }

    /// The engine's clock, as `/info` reports it (RFC 3339, in the engine's
    /// time zone), for `doctor`'s clock check.
    pub async fn system_time(&self) -> Result<Option<String>, DockerError> {
        Ok(self.bounded("info", self.client.info()).await?.system_time)
    }
}

/// How long `/system/df` may take (the engine walks every volume).
const DF_TIMEOUT: Duration = Duration::from_secs(120);

/// Volume sizes from a `/system/df` answer, in the layout before API 1.44
/// (`Volumes`) or after (`VolumeUsage.Items`). A size of -1 is the
/// engine's "not available".
fn volume_usage(body: &serde_json::Value) -> HashMap<String, Option<u64>> {
    let items = body
        .get("Volumes")
        .and_then(serde_json::Value::as_array)
        .or_else(|| body.pointer("/VolumeUsage/Items").and_then(serde_json::Value::as_array));
    items
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let name = v.get("Name")?.as_str()?.to_owned();
            let size =
                v.pointer("/UsageData/Size").and_then(serde_json::Value::as_i64).and_then(|s| u64::try_from(s).ok());
            Some((name, size))
        })
        .collect()
}

/// How long pulling a missing image may take.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);

/// A container a restore drill starts, restores into and removes.
#[derive(Debug, Clone)]
pub struct ThrowawaySpec<'a> {
    /// The container's name.
    pub name: &'a str,
    pub image: &'a str,
    /// The command; empty for the image's own.
    pub cmd: Vec<String>,
    /// `KEY=value` entries. They may hold secrets: the engine keeps them in
    /// the container's config (readable by whoever can use its API, who
    /// could read the restored data anyway) and never on a command line.
    pub env: Vec<String>,
    /// Put into the container before it starts, each at its path inside
    /// (in a folder that exists in the image).
    pub files: Vec<(Upload<'a>, &'a str)>,
}

/// What to put into a container: a host file, streamed, or a few bytes
/// made in memory (a config file with a password, which so never touches
/// this host's disk).
#[derive(Debug, Clone, Copy)]
pub enum Upload<'a> {
    File(&'a std::path::Path),
    Bytes(&'a [u8]),
}

/// A started throwaway container.
#[derive(Debug, Clone)]
pub struct Throwaway {
    pub id: String,
}

/// Set to `ops` on every service and volume of the ops profile (the
/// generator writes it; `compose`, drift and storage select by it).
pub const LABEL_PROFILE: &str = "dev.ops-gen.profile";

/// The label on every throwaway container.
pub const LABEL_DRILL: &str = "dev.ops-gen.drill";

/// What a command run inside a container with [`Docker::exec`] printed, and
/// its exit code. Each stream keeps its first [`EXEC_OUTPUT_LIMIT`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit code; -1 when the engine could not tell.
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// How much of each output stream of an exec is kept: enough for any
/// error message and a first row, bounded if a query prints a whole table.
pub const EXEC_OUTPUT_LIMIT: usize = 1 << 20;

impl Docker {
    /// Pulls `image` unless the engine has it.
    pub async fn ensure_image(&self, image: &str) -> Result<(), DockerError> {
        if self.image_id(image).await?.is_some() {
            return Ok(());
        }
        let options =
            bollard::query_parameters::CreateImageOptions { from_image: Some(image.to_owned()), ..Default::default() };
        let pull = self.client.create_image(Some(options), None, None).try_collect::<Vec<_>>();
        self.calls.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(PULL_TIMEOUT, pull).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(source)) => Err(DockerError::Api { what: "pull image", source }),
            Err(_) => Err(DockerError::Timeout { what: "pull image" }),
        }
    }

    /// Creates a container without any network (`network_mode: none`: it
    /// publishes nothing and nothing can connect to it; only Docker exec
    /// reaches it), puts the files into it and starts it. Whatever was made
    /// is removed again when a step fails.
    pub async fn start_throwaway(&self, spec: &ThrowawaySpec<'_>) -> Result<Throwaway, DockerError> {
        use bollard::models::{ContainerCreateBody, HostConfig};

        let labels = HashMap::from([(LABEL_DRILL.to_owned(), spec.name.to_owned())]);
        let mut made = Throwaway { id: String::new() };
        let body = ContainerCreateBody {
            image: Some(spec.image.to_owned()),
            cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
            env: Some(spec.env.clone()),
            labels: Some(labels),
            host_config: Some(HostConfig { network_mode: Some("none".to_owned()), ..Default::default() }),
            ..Default::default()
        };
        let options = bollard::query_parameters::CreateContainerOptions {
            name: Some(spec.name.to_owned()),
            ..Default::default()
        };
        let started = async {
            made.id = self.bounded("create container", self.client.create_container(Some(options), body)).await?.id;
            for (content, inside) in &spec.files {
                self.upload(&made.id, *content, inside).await?;
            }
            self.bounded("start container", self.client.start_container(&made.id, None)).await
        }
        .await;
        match started {
            Ok(()) => Ok(made),
            Err(e) => {
                let _ = self.remove_throwaway(&made).await;
                Err(e)
            }
        }
    }

    /// Removes the container, running or not, with its anonymous volumes.
    pub async fn remove_throwaway(&self, made: &Throwaway) -> Result<(), DockerError> {
        if made.id.is_empty() {
            return Ok(());
        }
        let options = bollard::query_parameters::RemoveContainerOptions { force: true, v: true, link: false };
        self.bounded("remove container", self.client.remove_container(&made.id, Some(options))).await
    }

    /// `None` while the container runs; once it stopped, its exit code.
    pub async fn exit_code(&self, id: &str) -> Result<Option<i64>, DockerError> {
        let inspect = self
            .bounded("inspect container", self.client.inspect_container(id, None::<InspectContainerOptions>))
            .await?;
        let state = inspect.state.unwrap_or_default();
        Ok((!state.running.unwrap_or(false)).then(|| state.exit_code.unwrap_or(-1)))
    }

    /// Runs `cmd` inside the running container `id` (as the image's user)
    /// with `env` added to the container's environment, and waits for it,
    /// up to `limit`. `env` is the place for secrets: unlike `cmd`, the
    /// engine shows it neither in `ps` nor in the exec's inspect.
    pub async fn exec(
        &self,
        id: &str,
        cmd: &[&str],
        env: &[String],
        limit: Duration,
    ) -> Result<ExecOutput, DockerError> {
        use bollard::container::LogOutput;
        use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};

        let options = CreateExecOptions {
            attach_stdin: Some(false),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            cmd: Some(cmd.iter().map(|&a| a.to_owned()).collect()),
            env: Some(env.to_vec()),
            ..Default::default()
        };
        let created = self.bounded("create exec", self.client.create_exec(id, options)).await?;
        let mut output = ExecOutput { exit_code: -1, stdout: Vec::new(), stderr: Vec::new() };
        let run = async {
            let start = StartExecOptions { detach: false, tty: false, output_capacity: None };
            if let StartExecResults::Attached { output: mut stream, .. } =
                self.client.start_exec(&created.id, Some(start)).await?
            {
                while let Some(chunk) = stream.try_next().await? {
                    let (into, bytes) = match chunk {
                        LogOutput::StdErr { message } => (&mut output.stderr, message),
                        LogOutput::StdOut { message }
                        | LogOutput::Console { message }
                        | LogOutput::StdIn { message } => (&mut output.stdout, message),
                    };
                    let room = EXEC_OUTPUT_LIMIT.saturating_sub(into.len());
                    into.extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
            }
            Ok::<_, bollard::errors::Error>(())
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(limit, run).await {
            Ok(result) => result.map_err(|source| DockerError::Api { what: "run in container", source })?,
            Err(_) => return Err(DockerError::TooLong { what: "a command in a container", seconds: limit.as_secs() }),
        }
        // The stream ends when the process does; the engine may take a
        // moment more to record its exit code.
        for _ in 0..50 {
            let inspect = self.bounded("inspect exec", self.client.inspect_exec(&created.id)).await?;
            if inspect.running != Some(true) {
                output.exit_code = inspect.exit_code.unwrap_or(-1);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(output)
    }

    /// Streams one file into a container (running or not) as a one-entry
    /// tar archive; `inside` is its path there, in a folder that exists.
    pub async fn upload(&self, id: &str, content: Upload<'_>, inside: &str) -> Result<(), DockerError> {
        use futures::StreamExt as _;
        use tokio::io::AsyncReadExt as _;

        let io = |what: &'static str, e: std::io::Error| DockerError::Api { what, source: e.into() };
        let (folder, name) = inside.rsplit_once('/').unwrap_or(("/", inside));
        let (size, body) = match content {
            Upload::File(file) => {
                let opened = tokio::fs::File::open(file).await.map_err(|e| io("read the file to upload", e))?;
                let size = opened.metadata().await.map_err(|e| io("read the file to upload", e))?.len();
                let body = futures::stream::try_unfold(opened, |mut f| async move {
                    let mut chunk = vec![0u8; 1 << 16];
                    let n = f.read(&mut chunk).await?;
                    chunk.truncate(n);
                    Ok::<_, std::io::Error>((n > 0).then(|| (bytes::Bytes::from(chunk), f)))
                });
                (size, body.boxed())
            }
            Upload::Bytes(bytes) => {
                let chunk = bytes::Bytes::copy_from_slice(bytes);
                (chunk.len() as u64, futures::stream::once(async move { Ok::<_, std::io::Error>(chunk) }).boxed())
            }
        };
        let mut header = tar::Header::new_gnu();
        header.set_path(name).map_err(|e| io("name the file to upload", e))?;
        header.set_size(size);
        header.set_mode(0o644);
        header.set_cksum();
        // Header, content, zeros up to a 512-byte block, two empty blocks.
        let padding = usize::try_from((512 - size % 512) % 512).unwrap_or(0) + 1024;
        let head =
            futures::stream::once(
                async move { Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(header.as_bytes())) },
            );
        let tail =
            futures::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from(vec![0u8; padding])) });
        let options = bollard::query_parameters::UploadToContainerOptions {
            path: if folder.is_empty() { "/".to_owned() } else { folder.to_owned() },
            ..Default::default()
        };
        let archive = bollard::body_try_stream(head.chain(body).chain(tail));
        // As long as the file takes: bounded by the pull timeout, not a call's.
        match tokio::time::timeout(PULL_TIMEOUT, self.client.upload_to_container(id, Some(options), archive)).await {
            Ok(result) => result.map_err(|source| DockerError::Api { what: "upload to container", source }),
            Err(_) => Err(DockerError::Timeout { what: "upload to container" }),
        }
    }
}

/// One container event of a project, as the live events stream shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerEvent {
    pub service: String,
    pub container: String,
    /// `start`, `die`, `restart`, `health_status: unhealthy`, …
    pub action: String,
    /// Unix seconds, as the engine reports it.
    pub time: i64,
}

impl Docker {
    /// Restarts every container of `service` in `project` (10 s to stop
    /// each); how many there were (0: no such service).
    pub async fn restart_service(&self, project: &str, service: &str) -> Result<usize, DockerError> {
        let containers: Vec<Listed> = self
            .list_project(project)
            .await?
            .into_iter()
            .filter(|c| c.service == service && c.labels.get(LABEL_ONEOFF).is_none_or(|v| v != "True"))
            .collect();
        for container in &containers {
            let options = bollard::query_parameters::RestartContainerOptions { t: Some(10), signal: None };
            self.calls.fetch_add(1, Ordering::Relaxed);
            // Stopping may take its 10 s, starting a few more.
            match tokio::time::timeout(
                Duration::from_secs(30),
                self.client.restart_container(&container.id, Some(options)),
            )
            .await
            {
                Ok(result) => result.map_err(|source| DockerError::Api { what: "restart container", source })?,
                Err(_) => return Err(DockerError::Timeout { what: "restart container" }),
            }
        }
        Ok(containers.len())
    }

    /// The project's container events from now on, until the engine closes
    /// the stream (or the caller drops it).
    pub fn project_events(
        &self,
        project: &str,
    ) -> impl futures::Stream<Item = Result<ContainerEvent, DockerError>> + Send + use<> {
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            ("label".to_owned(), vec![format!("{LABEL_PROJECT}={project}")]),
        ]);
        let options = EventsOptions { filters: Some(filters), ..Default::default() };
        self.client.events(Some(options)).map_err(|source| DockerError::Api { what: "events", source }).try_filter_map(
            |event| {
                let actor = event.actor.unwrap_or_default();
                let attributes = actor.attributes.unwrap_or_default();
                let found = event.action.map(|action| ContainerEvent {
                    service: attributes.get(LABEL_SERVICE).cloned().unwrap_or_default(),
                    container: attributes.get("name").cloned().unwrap_or_default(),
                    action,
                    time: event.time.unwrap_or_default(),
                });
                std::future::ready(Ok(found))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::volume_usage;

    #[test]
    fn reads_volume_sizes_from_both_df_layouts() {
        let old = serde_json::json!({"Volumes": [
            {"Name": "a", "UsageData": {"Size": 300, "RefCount": 0}},
            {"Name": "b", "UsageData": {"Size": -1, "RefCount": 0}},
        ]});
        let new =
            serde_json::json!({"VolumeUsage": {"Items": [{"Name": "a", "UsageData": {"Size": 7, "RefCount": 1}}]}});
        let sizes = volume_usage(&old);
        assert_eq!((sizes["a"], sizes["b"]), (Some(300), None));
        assert_eq!(volume_usage(&new)["a"], Some(7));
        assert!(volume_usage(&serde_json::json!({})).is_empty());
    }
}
