//! `compose/docker-stack.ops.yml`: the ops profile for `docker stack deploy`.
//!
//! Swarm reads Compose files with its own, older loader (the v3 schema of
//! docker/cli), and the Compose file cannot serve both: Swarm refuses
//! `profiles`, `mem_limit` and `depends_on` conditions outright, and it
//! silently widens `127.0.0.1:PORT:PORT` to every interface of every node
//! (its ingress mesh has no host IP). So this second rendering starts from
//! the very [`compose::compose`] document and changes only what Swarm
//! handles differently:
//! - the memory limit moves to `deploy.resources.limits.memory`, `restart`
//!   to `deploy.restart_policy` (`any`, like `unless-stopped`); start order
//!   (`depends_on`) goes, as Swarm has none: a component that exits because
//!   what it reads from is not up yet is restarted by that policy;
//! - no port is published. Publishing would put Prometheus, Loki, Dozzle and
//!   an anonymous Grafana on every node's public interfaces; instead the
//!   `ops` overlay network is attachable, so a reverse proxy (or a one-off
//!   loopback-published forwarder) reaches the services by name;
//! - every service is pinned to the node labelled `ops-gen=true`: the bind
//!   mounts (configs, backups) and named volumes live on that node, and the
//!   socket proxy reads that node's engine. Watching more hosts is the
//!   `/probe` path, not more replicas;
//! - cAdvisor runs unprivileged and without `/dev/kmsg` (Swarm has neither
//!   setting: no OOM-kill events, container metrics stay), `node_exporter`
//!   without `pid: host`, so it reads the host's `/proc` and `/sys` through
//!   its read-only root mount (`/proc/1/mounts` must be the host's for the
//!   filesystem collector);
//! - paths are relative to this file's folder (`../prometheus`), as
//!   `docker stack deploy` resolves them against the first `-c` file, and
//!   the app's networks are external: `<stack.project>_<network>`, as
//!   Swarm names the networks of the app's own stack.
//!
//! `version: "3.8"` keeps it loadable by every Docker CLI since 19.03.

use docker_compose_types::{
    Command, Compose, ComposeNetwork, DependsOnOptions, Deploy, Limits, MapOrEmpty, NetworkSettings, Placement, Ports,
    Resources, RestartPolicy, Service, Volumes,
};

use super::{Artifact, Component, Context, compose};

/// The generated stack file, relative to the output folder.
pub const FILE: &str = "compose/docker-stack.ops.yml";
/// The Compose file version the stack file declares.
pub const VERSION: &str = "3.8";
/// The node every ops service runs on: `docker node update --label-add
/// ops-gen=true NODE`.
pub const PLACEMENT: &str = "node.labels.ops-gen == true";

#[must_use]
pub fn artifacts(ctx: &Context<'_>) -> Vec<Artifact> {
    vec![Artifact::yaml(FILE, &stack(ctx))]
}

/// The whole stack document.
#[must_use]
pub fn stack(ctx: &Context<'_>) -> Compose {
    let mut doc = compose::compose(ctx);
    doc.version = Some(VERSION.to_owned());
    for c in ctx.components() {
        if let Some(Some(service)) = doc.services.0.get_mut(c.name()) {
            swarm_service(c, service);
        }
    }
    for (name, network) in &mut doc.networks.0 {
        if name == compose::NETWORK
            && let MapOrEmpty::Map(settings) = network
        {
            settings.driver = Some("overlay".to_owned());
            settings.attachable = true;
        }
    }
    // The app's networks, created by the app's own stack.
    doc.networks.0.extend(ctx.app.networks_to_join().into_iter().map(|n| {
        let settings = NetworkSettings {
            external: Some(ComposeNetwork::Bool(true)),
            name: Some(format!("{}_{n}", ctx.project)),
            ..NetworkSettings::default()
        };
        (n, MapOrEmpty::Map(settings))
    }));
    doc
}

fn swarm_service(c: Component, service: &mut Service) {
    service.profiles.clear();
    service.ports = Ports::Short(Vec::new());
    service.depends_on = DependsOnOptions::Simple(Vec::new());
    service.restart = None;
    service.privileged = false;
    service.devices.clear();
    service.pid = None;
    for volume in &mut service.volumes {
        if let Volumes::Simple(spec) = volume
            && let Some(rest) = spec.strip_prefix("./")
        {
            *spec = format!("../{rest}");
        }
    }
    if c == Component::NodeExporter
        && let Some(Command::Args(args)) = &mut service.command
    {
        args.extend(["--path.procfs=/host/proc".to_owned(), "--path.sysfs=/host/sys".to_owned()]);
    }
    service.deploy = Some(Deploy {
        resources: Some(Resources {
            limits: Some(Limits { memory: service.mem_limit.take(), ..Limits::default() }),
            reservations: None,
        }),
        restart_policy: Some(RestartPolicy {
            condition: Some("any".to_owned()),
            delay: Some("5s".to_owned()),
            ..RestartPolicy::default()
        }),
        placement: Some(Placement { constraints: vec![PLACEMENT.to_owned()], preferences: Vec::new() }),
        ..Deploy::default()
    });
}
