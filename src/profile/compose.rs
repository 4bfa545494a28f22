//! `compose/docker-compose.ops.yml`: the ops profile's services.
//!
//! Built with docker-compose-types' structs, so the file is whatever the
//! Compose spec types allow, serialized in a fixed order. Every service:
//! - sits under `profiles: [ops]`, so the app's own `docker compose up` never
//!   starts it, and carries the `dev.ops-gen.*` labels that `status` and
//!   `destroy` select by;
//! - runs a pinned image (overridable per service, e.g. for a registry
//!   mirror), publishes only on 127.0.0.1, has a healthcheck using the
//!   image's own tooling, `restart: unless-stopped`, rotated `json-file`
//!   logs and a memory limit (`mem_limit`, which every Compose CLI
//!   applies; Swarm refuses it, so [`super::swarm`] renders the same
//!   services with `deploy.resources.limits.memory` instead);
//! - keeps its data in a named volume (or a bind mount under
//!   `profile.data_dir`), so `down` loses nothing.
//!
//! Only the socket proxy mounts the Docker socket, read-only, and it only
//! forwards read requests (`POST=0`); Dozzle, Alloy, cAdvisor and the
//! exporter talk to it over the profile's network.
//!
//! Paths are relative to the project folder (where `ops-gen.yml` lives):
//! `ops-gen compose` always passes `--project-directory`, because Compose
//! would otherwise resolve them against the first `-f` file's folder.

use std::collections::BTreeSet;

use docker_compose_types::{
    AdvancedNetworkSettings, AdvancedNetworks, Command, Compose, ComposeNetworks, ComposeVolume, DependsCondition,
    DependsOnOptions, Environment, Healthcheck, HealthcheckTest, Labels, LoggingParameters, MapOrEmpty,
    NetworkSettings, Networks, Ports, Service, Services, SingleValue, Tmpfs, TopLevelVolumes, Volumes,
};

use super::{Artifact, Component, Context};
use crate::config::defaults;
use crate::docker::LABEL_PROFILE;

/// The generated compose file, relative to the output folder.
pub const FILE: &str = "compose/docker-compose.ops.yml";
/// The Compose profile every ops service belongs to.
pub const PROFILE: &str = "ops";
/// The profile's own network.
pub const NETWORK: &str = "ops";
/// The component a service or volume belongs to.
pub const LABEL_COMPONENT: &str = "dev.ops-gen.component";
/// Where the exporter service finds the config file.
pub const CONFIG_MOUNT: &str = "/etc/ops-gen/ops-gen.yml";
/// The exporter service's working folder; relative paths in the config
/// (the backup folder) resolve under it.
pub const EXPORTER_WORKDIR: &str = "/data";
/// The socket proxy's address on the profile network.
pub const DOCKER_PROXY: &str = "tcp://socket-proxy:2375";

#[must_use]
pub fn artifacts(ctx: &Context<'_>) -> Vec<Artifact> {
    vec![Artifact::yaml(FILE, &compose(ctx))]
}

/// The whole compose document.
#[must_use]
pub fn compose(ctx: &Context<'_>) -> Compose {
    let services = ctx.components().map(|c| (c.name().to_owned(), Some(service(ctx, c)))).collect();
    let volumes = ctx
        .components()
        .filter(|_| ctx.profile.data_dir.is_none())
        .filter_map(|c| data_path(c).map(|_| c))
        .map(|c| {
            let volume = ComposeVolume {
                driver: None,
                driver_opts: std::iter::empty().collect(),
                external: None,
                labels: labels(c),
                name: None,
            };
            (volume_name(c), MapOrEmpty::Map(volume))
        })
        .collect();
    let networks =
        [(NETWORK.to_owned(), MapOrEmpty::Map(NetworkSettings { labels: profile_label(), ..Default::default() }))]
            .into_iter()
            .collect();
    Compose {
        services: Services(services),
        volumes: TopLevelVolumes(volumes),
        networks: ComposeNetworks(networks),
        ..Compose::default()
    }
}

/// The named volume of a component's data.
#[must_use]
pub fn volume_name(c: Component) -> String {
    format!("{}-data", c.name())
}

/// Where a component keeps state that must survive `down`, if anywhere.
fn data_path(c: Component) -> Option<&'static str> {
    match c {
        Component::Prometheus => Some("/prometheus"),
        Component::Grafana => Some("/var/lib/grafana"),
        Component::Loki => Some("/loki"),
        Component::Alloy => Some("/var/lib/alloy/data"),
        Component::Promtail => Some("/var/lib/promtail"),
        Component::UptimeKuma => Some("/app/data"),
        Component::Exporter
        | Component::Cadvisor
        | Component::NodeExporter
        | Component::Dozzle
        | Component::SocketProxy => None,
    }
}

fn profile_label() -> Labels {
    Labels::Map([(LABEL_PROFILE.to_owned(), PROFILE.to_owned())].into_iter().collect())
}

fn labels(c: Component) -> Labels {
    Labels::Map(
        [(LABEL_PROFILE.to_owned(), PROFILE.to_owned()), (LABEL_COMPONENT.to_owned(), c.name().to_owned())]
            .into_iter()
            .collect(),
    )
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn service(ctx: &Context<'_>, c: Component) -> Service {
    let profile = ctx.profile;
    let mut volumes: Vec<Volumes> = Vec::new();
    if let Some(path) = data_path(c) {
        let source = match &profile.data_dir {
            Some(dir) => format!("{}/{}", dir.display(), c.name()),
            None => volume_name(c),
        };
        volumes.push(Volumes::Simple(format!("{source}:{path}")));
    }
    let ports =
        profile.host_port(c).map(|host| vec![format!("127.0.0.1:{host}:{}", c.container_port())]).unwrap_or_default();
    let mut service = Service {
        image: Some(profile.image(c).to_owned()),
        profiles: vec![PROFILE.to_owned()],
        restart: Some("unless-stopped".to_owned()),
        ports: Ports::Short(ports),
        healthcheck: Some(healthcheck(c)),
        logging: Some(LoggingParameters {
            driver: Some("json-file".to_owned()),
            options: Some(
                [
                    ("max-size".to_owned(), SingleValue::String("10m".to_owned())),
                    ("max-file".to_owned(), SingleValue::String("3".to_owned())),
                ]
                .into_iter()
                .collect(),
            ),
        }),
        mem_limit: Some(format!("{}m", profile.memory(c).as_u64().div_ceil(1024 * 1024))),
        labels: labels(c),
        networks: networks(ctx, c),
        depends_on: depends_on(ctx, c),
        ..Service::default()
    };
    specialise(ctx, c, &mut service, &mut volumes);
    service.volumes = volumes;
    service
}

/// What sets one component apart: command, mounts, environment.
fn specialise(ctx: &Context<'_>, c: Component, service: &mut Service, volumes: &mut Vec<Volumes>) {
    let profile = ctx.profile;
    match c {
        Component::Exporter => exporter(ctx, service, volumes),
        Component::Prometheus => {
            volumes.push(Volumes::Simple("./prometheus:/etc/prometheus:ro".to_owned()));
            service.command = Some(Command::Args(vec![
                "--config.file=/etc/prometheus/prometheus.yml".to_owned(),
                "--storage.tsdb.path=/prometheus".to_owned(),
                format!("--storage.tsdb.retention.time={}", profile.retention.metrics),
                format!("--storage.tsdb.retention.size={}", profile.metrics_size()),
            ]));
            if !ctx.enabled(Component::Exporter) {
                service.extra_hosts = vec![format!("{}:host-gateway", super::prometheus::HOST_GATEWAY)];
            }
            // Lets the TSDB close its head block cleanly on `down`.
            service.stop_grace_period = Some("60s".to_owned());
        }
        Component::Grafana => {
            volumes.push(Volumes::Simple(format!("./grafana/provisioning:{}:ro", super::grafana::PROVISIONING_MOUNT)));
            volumes.push(Volumes::Simple(format!("./grafana/dashboards:{}:ro", super::grafana::DASHBOARDS_MOUNT)));
            service.environment = env(&[
                // The password comes from the environment `compose up` runs in;
                // with the default Grafana asks for a new one at first login.
                ("GF_SECURITY_ADMIN_PASSWORD", "${OPS_GEN_GRAFANA_PASSWORD:-admin}"),
                ("GF_AUTH_ANONYMOUS_ENABLED", "true"),
                ("GF_AUTH_ANONYMOUS_ORG_ROLE", "Viewer"),
                ("GF_ANALYTICS_REPORTING_ENABLED", "false"),
                ("GF_ANALYTICS_CHECK_FOR_UPDATES", "false"),
                ("GF_NEWS_NEWS_FEED_ENABLED", "false"),
                (
                    "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH",
                    &format!("{}/ops-cockpit.json", super::grafana::DASHBOARDS_MOUNT),
                ),
            ]);
        }
        Component::Loki => {
            volumes.push(Volumes::Simple(format!("./loki:{}:ro", super::loki::CONFIG_DIR)));
            service.command = Some(Command::Args(vec![format!("-config.file={}", super::loki::CONFIG_PATH)]));
            service.stop_grace_period = Some("60s".to_owned());
        }
        Component::Alloy => {
            volumes.push(Volumes::Simple("./alloy:/etc/alloy:ro".to_owned()));
            service.command = Some(Command::Args(vec![
                "run".to_owned(),
                format!("--server.http.listen-addr=0.0.0.0:{}", c.container_port()),
                "--storage.path=/var/lib/alloy/data".to_owned(),
                "--disable-reporting".to_owned(),
                "/etc/alloy/config.alloy".to_owned(),
            ]));
        }
        Component::Promtail => {
            volumes.push(Volumes::Simple("./promtail:/etc/promtail:ro".to_owned()));
            service.command = Some(Command::Args(vec!["-config.file=/etc/promtail/promtail.yml".to_owned()]));
        }
        Component::Cadvisor => cadvisor(service, volumes),
        Component::NodeExporter => {
            // The host's filesystems and processes, read-only. Not `rslave`:
            // Docker refuses it where `/` is a private mount (containers,
            // some VPS kernels), and the root filesystem is what matters.
            service.pid = Some("host".to_owned());
            volumes.push(Volumes::Simple("/:/host:ro".to_owned()));
            service.command = Some(Command::Args(args(&[
                "--path.rootfs=/host",
                "--collector.filesystem.mount-points-exclude=^/(dev|proc|run|sys|var/lib/docker/.+)($$|/)",
            ])));
        }
        Component::Dozzle => {
            service.environment = env(&[
                ("DOCKER_HOST", DOCKER_PROXY),
                ("DOZZLE_NO_ANALYTICS", "true"),
                ("DOZZLE_ENABLE_ACTIONS", "false"),
            ]);
        }
        Component::UptimeKuma => {}
        Component::SocketProxy => {
            volumes.push(Volumes::Simple("/var/run/docker.sock:/var/run/docker.sock:ro".to_owned()));
            // Read-only API: listing, inspecting, logs and events; every POST,
            // PUT and DELETE is refused by the proxy.
            service.environment = env(&[
                ("CONTAINERS", "1"),
                ("EVENTS", "1"),
                ("IMAGES", "1"),
                ("INFO", "1"),
                ("NETWORKS", "1"),
                ("PING", "1"),
                ("VERSION", "1"),
                ("VOLUMES", "1"),
                ("POST", "0"),
                ("LOG_LEVEL", "warning"),
            ]);
            service.read_only = true;
            service.tmpfs = Some(Tmpfs::List(vec!["/run".to_owned()]));
        }
    }
}

fn exporter(ctx: &Context<'_>, service: &mut Service, volumes: &mut Vec<Volumes>) {
    let listen = format!("0.0.0.0:{}", Component::Exporter.container_port());
    service.command = Some(Command::Args(vec!["serve".to_owned(), "--listen".to_owned(), listen]));
    service.working_dir = Some(EXPORTER_WORKDIR.to_owned());
    // Through the read-only socket proxy when the profile runs it; without
    // it the exporter has no Docker engine (no socket is mounted), and its
    // drift check says so.
    let mut environment = Vec::new();
    if ctx.enabled(Component::SocketProxy) {
        environment.push(("DOCKER_HOST".to_owned(), DOCKER_PROXY.to_owned()));
    }
    if let Some(file) = &ctx.config_file {
        volumes.push(Volumes::Simple(format!("./{}:{CONFIG_MOUNT}:ro", file.display())));
        environment.push(("OPS_GEN_CONFIG".to_owned(), CONFIG_MOUNT.to_owned()));
    }
    // The backup folder, read-only: the exporter reports on it, `ops-gen
    // backup` on the host writes it.
    let dir = &ctx.config.backup.dir;
    let inside = if dir.is_absolute() { dir.clone() } else { std::path::Path::new(EXPORTER_WORKDIR).join(dir) };
    let outside = if dir.is_absolute() { dir.display().to_string() } else { format!("./{}", dir.display()) };
    volumes.push(Volumes::Simple(format!("{outside}:{}:ro", inside.display())));
    // The latest `ops-gen smoke` result, read-only, for `opsgen_smoke_*`.
    let smoke = crate::output::SMOKE_DIR;
    volumes.push(Volumes::Simple(format!(
        "./{smoke}:{}:ro",
        std::path::Path::new(EXPORTER_WORKDIR).join(smoke).display()
    )));
    let mut list: Vec<String> = environment.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    // Names only: Compose passes each variable's value from its own
    // environment, so no secret is ever written into this file.
    list.extend(ctx.env_vars.iter().cloned());
    service.environment = Environment::List(list);
    debug_assert_eq!(defaults::LISTEN.port(), Component::Exporter.container_port());
}

fn cadvisor(service: &mut Service, volumes: &mut Vec<Volumes>) {
    // cAdvisor reads cgroups and the Docker data root directly; container
    // metadata comes through the socket proxy instead of the socket.
    for mount in ["/:/rootfs:ro", "/sys:/sys:ro", "/var/lib/docker/:/var/lib/docker:ro", "/dev/disk/:/dev/disk:ro"] {
        volumes.push(Volumes::Simple(mount.to_owned()));
    }
    service.privileged = true;
    service.devices = vec!["/dev/kmsg".to_owned()];
    // Low overhead: housekeeping every 30 s, Docker containers only, and
    // none of the per-CPU, per-process or network-protocol series.
    service.command = Some(Command::Args(args(&[
        "--docker=tcp://socket-proxy:2375",
        "--docker_only=true",
        "--housekeeping_interval=30s",
        "--max_housekeeping_interval=60s",
        "--store_container_labels=false",
        "--whitelisted_container_labels=com.docker.compose.project,com.docker.compose.service",
        "--disable_metrics=advtcp,cpu_topology,cpuset,hugetlb,memory_numa,percpu,process,referenced_memory,resctrl,sched,tcp,udp",
    ])));
}

fn env(pairs: &[(&str, &str)]) -> Environment {
    Environment::KvPair(
        pairs.iter().map(|(k, v)| ((*k).to_owned(), Some(SingleValue::String((*v).to_owned())))).collect(),
    )
}

/// A check with the image's own tools: busybox `wget` where the image has
/// it, the binary's own health command where it is distroless, bash's
/// `/dev/tcp` where there is neither.
fn healthcheck(c: Component) -> Healthcheck {
    let url = format!("http://127.0.0.1:{}{}", c.container_port(), c.health_path());
    let test = match c {
        Component::Exporter => args(&["CMD", "/usr/local/bin/ops-gen", "healthcheck"]),
        Component::Loki => args(&["CMD", "/usr/bin/loki", "-health"]),
        Component::Dozzle => args(&["CMD", "/dozzle", "healthcheck"]),
        Component::UptimeKuma => args(&["CMD", "extra/healthcheck"]),
        Component::Alloy => vec![
            "CMD".to_owned(),
            "bash".to_owned(),
            "-c".to_owned(),
            format!(
                "exec 3<>/dev/tcp/127.0.0.1/{} && printf 'GET {} HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '",
                c.container_port(),
                c.health_path()
            ),
        ],
        Component::Prometheus
        | Component::Grafana
        | Component::Promtail
        | Component::Cadvisor
        | Component::NodeExporter
        | Component::SocketProxy => {
            vec!["CMD".to_owned(), "wget".to_owned(), "-q".to_owned(), "--spider".to_owned(), url]
        }
    };
    Healthcheck {
        test: Some(HealthcheckTest::Multiple(test)),
        interval: Some("10s".to_owned()),
        timeout: Some("5s".to_owned()),
        retries: 5,
        start_period: Some(if c == Component::UptimeKuma { "60s" } else { "20s" }.to_owned()),
        ..Healthcheck::default()
    }
}

/// The profile network, plus the app's networks for the services that talk
/// to app services (the exporter's checks, Prometheus' app scrapes, Uptime
/// Kuma's monitors).
fn networks(ctx: &Context<'_>, c: Component) -> Networks {
    let mut names = BTreeSet::from([NETWORK.to_owned()]);
    if matches!(c, Component::Exporter | Component::Prometheus | Component::UptimeKuma) {
        names.extend(ctx.app.networks_to_join());
    }
    if names.len() == 1 {
        return Networks::Simple(names.into_iter().collect());
    }
    Networks::Advanced(AdvancedNetworks(
        names.into_iter().map(|n| (n, MapOrEmpty::<AdvancedNetworkSettings>::Empty)).collect(),
    ))
}

/// Start order: what a service reads from must be healthy first.
fn depends_on(ctx: &Context<'_>, c: Component) -> DependsOnOptions {
    let deps: &[Component] = match c {
        Component::Grafana => &[Component::Prometheus, Component::Loki],
        Component::Alloy | Component::Promtail => &[Component::Loki, Component::SocketProxy],
        Component::Dozzle | Component::Cadvisor | Component::Exporter => &[Component::SocketProxy],
        _ => &[],
    };
    let enabled: Vec<Component> = deps.iter().copied().filter(|d| ctx.enabled(*d)).collect();
    if enabled.is_empty() {
        return DependsOnOptions::Simple(Vec::new());
    }
    DependsOnOptions::Conditional(
        enabled.into_iter().map(|d| (d.name().to_owned(), DependsCondition::service_healthy())).collect(),
    )
}
