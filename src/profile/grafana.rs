//! (in progress)

use super::{Artifact, Context};

#[must_use]
pub fn artifacts(_ctx: &Context<'_>) -> Vec<Artifact> {
    Vec::new()
}

/// Where the compose file mounts `grafana/provisioning`.
pub const PROVISIONING_MOUNT: &str = "/etc/grafana/provisioning";
/// Where the compose file mounts `grafana/dashboards`.
pub const DASHBOARDS_MOUNT: &str = "/var/lib/grafana/dashboards/ops-gen";
