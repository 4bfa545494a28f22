//! The `profile` section: which services the ops profile runs, with which
//! images, ports, memory and retention. [`Component`] is the closed set of
//! those services and their pinned defaults; `crate::profile` generates the
//! files from them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use super::{ConfigError, HumanDuration};

/// One service of the ops profile. The set is closed: each has a pinned
/// image, a port, a memory limit and a healthcheck in `crate::profile::compose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    /// `ops-gen serve` itself.
    Exporter,
    Prometheus,
    Grafana,
    Loki,
    /// The default log shipper.
    Alloy,
    /// The log shipper when `profile.log_shipper: promtail`.
    Promtail,
    Cadvisor,
    NodeExporter,
    Dozzle,
    UptimeKuma,
    /// Read-only Docker API for Dozzle, Alloy, Promtail and the exporter:
    /// nothing in the profile mounts the Docker socket but this.
    SocketProxy,
}

impl Component {
    pub const ALL: [Self; 11] = [
        Self::Exporter,
        Self::Prometheus,
        Self::Grafana,
        Self::Loki,
        Self::Alloy,
        Self::Promtail,
        Self::Cadvisor,
        Self::NodeExporter,
        Self::Dozzle,
        Self::UptimeKuma,
        Self::SocketProxy,
    ];

    /// The compose service name (also the DNS name inside the network).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Exporter => "ops-gen",
            Self::Prometheus => "prometheus",
            Self::Grafana => "grafana",
            Self::Loki => "loki",
            Self::Alloy => "alloy",
            Self::Promtail => "promtail",
            Self::Cadvisor => "cadvisor",
            Self::NodeExporter => "node-exporter",
            Self::Dozzle => "dozzle",
            Self::UptimeKuma => "uptime-kuma",
            Self::SocketProxy => "socket-proxy",
        }
    }

    /// The page an operator opens first (Grafana: the cockpit dashboard).
    #[must_use]
    pub fn start_path(self) -> &'static str {
        match self {
            Self::Grafana => "/d/opsgen-cockpit",
            Self::Prometheus => "/alerts",
            _ => "/",
        }
    }

    /// How people call it.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Self::Exporter => "ops-gen exporter",
            Self::Prometheus => "Prometheus",
            Self::Grafana => "Grafana",
            Self::Loki => "Loki",
            Self::Alloy => "Grafana Alloy",
            Self::Promtail => "Promtail",
            Self::Cadvisor => "cAdvisor",
            Self::NodeExporter => "node_exporter",
            Self::Dozzle => "Dozzle",
            Self::UptimeKuma => "Uptime Kuma",
            Self::SocketProxy => "Docker socket proxy",
        }
    }

    /// The pinned image, used unless `profile.images` overrides it.
    #[must_use]
    pub fn default_image(self) -> &'static str {
        match self {
            Self::Exporter => "ghcr.io/ops-gen/ops-gen:0.1.0",
            Self::Prometheus => "prom/prometheus:v3.5.0",
            Self::Grafana => "grafana/grafana:12.2.1",
            Self::Loki => "grafana/loki:3.7.2",
            Self::Alloy => "grafana/alloy:v1.11.3",
            Self::Promtail => "grafana/promtail:3.6.0",
            Self::Cadvisor => "gcr.io/cadvisor/cadvisor:v0.52.1",
            Self::NodeExporter => "prom/node-exporter:v1.9.1",
            Self::Dozzle => "amir20/dozzle:v8.14.6",
            Self::UptimeKuma => "louislam/uptime-kuma:1.23.16",
            Self::SocketProxy => "tecnativa/docker-socket-proxy:0.3.0",
        }
    }

    /// The port the service listens on inside its container.
    #[must_use]
    pub fn container_port(self) -> u16 {
        match self {
            Self::Exporter => 9743,
            Self::Prometheus => 9090,
            Self::Grafana => 3000,
            Self::Loki => 3100,
            Self::Alloy => 12345,
            Self::Promtail => 9080,
            Self::Cadvisor | Self::Dozzle => 8080,
            Self::NodeExporter => 9100,
            Self::UptimeKuma => 3001,
            Self::SocketProxy => 2375,
        }
    }

    /// The port published on 127.0.0.1 unless `profile.ports` moves it;
    /// `None` for the socket proxy, which only the profile reaches.
    #[must_use]
    pub fn default_host_port(self) -> Option<u16> {
        match self {
            Self::SocketProxy => None,
            // 8080 is the port every app wants; keep clear of it.
            Self::Cadvisor => Some(8081),
            Self::Dozzle => Some(8888),
            other => Some(other.container_port()),
        }
    }

    /// The memory limit unless `profile.memory` changes it.
    #[must_use]
    pub fn default_memory(self) -> ByteSize {
        match self {
            Self::Prometheus | Self::Loki => ByteSize::mib(1024),
            Self::Grafana | Self::Alloy | Self::UptimeKuma => ByteSize::mib(512),
            Self::Promtail | Self::Cadvisor => ByteSize::mib(256),
            Self::Exporter | Self::NodeExporter | Self::Dozzle => ByteSize::mib(128),
            Self::SocketProxy => ByteSize::mib(64),
        }
    }

    /// The path of its own health endpoint (what `ops-gen health` and the
    /// Uptime Kuma monitors call).
    #[must_use]
    pub fn health_path(self) -> &'static str {
        match self {
            Self::Exporter => "/-/healthy",
            Self::Prometheus | Self::Alloy => "/-/ready",
            Self::Grafana => "/api/health",
            Self::Loki | Self::Promtail => "/ready",
            Self::Cadvisor => "/healthz",
            Self::NodeExporter => "/metrics",
            Self::Dozzle => "/healthcheck",
            Self::UptimeKuma => "/api/entry-page",
            Self::SocketProxy => "/_ping",
        }
    }

    /// The path its own metrics are served on, for those Prometheus scrapes.
    #[must_use]
    pub fn metrics_path(self) -> Option<&'static str> {
        match self {
            Self::Exporter
            | Self::Prometheus
            | Self::Grafana
            | Self::Loki
            | Self::Alloy
            | Self::Promtail
            | Self::Cadvisor
            | Self::NodeExporter => Some("/metrics"),
            Self::Dozzle | Self::UptimeKuma | Self::SocketProxy => None,
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which log shipper runs in the profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogShipper {
    /// Grafana Alloy (Promtail reached end of life in March 2026).
    #[default]
    Alloy,
    Promtail,
}

/// The `profile` section: what the ops profile runs and how much it keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The services to run [default: all of them, with the chosen log shipper].
    #[serde(default = "Settings::default_services")]
    pub services: Vec<String>,
    /// Image overrides by service, e.g. to pin another version or pull from
    /// a private registry mirror.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    /// Host ports (bound to 127.0.0.1) by service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, u16>,
    /// Memory limits by service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub memory: BTreeMap<String, ByteSize>,
    #[serde(default)]
    pub retention: Retention,
    /// The disk the profile may use in all; Prometheus gets half of it as
    /// its size-based retention.
    #[serde(default = "Settings::default_disk_budget")]
    pub disk_budget: ByteSize,
    #[serde(default)]
    pub log_shipper: LogShipper,
    /// Keep the profile's data in bind mounts under this folder instead of
    /// named volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Where alert `runbook_url`s and dashboard links point; the topic's
    /// name is appended [default: the exporter's own `/runbooks/` pages].
    #[serde(default = "Settings::default_runbook_url")]
    pub runbook_url: String,
}

/// How long the profile keeps metrics and logs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Prometheus' `--storage.tsdb.retention.time`.
    #[serde(default = "Retention::default_metrics")]
    pub metrics: HumanDuration,
    /// Loki's compactor retention (at least 24h).
    #[serde(default = "Retention::default_logs")]
    pub logs: HumanDuration,
}

impl Retention {
    fn default_metrics() -> HumanDuration {
        HumanDuration::from_secs(15 * 86_400)
    }
    fn default_logs() -> HumanDuration {
        HumanDuration::from_secs(7 * 86_400)
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self { metrics: Self::default_metrics(), logs: Self::default_logs() }
    }
}

impl Settings {
    fn default_services() -> Vec<String> {
        Component::ALL.iter().filter(|c| **c != Component::Promtail).map(|c| c.name().to_owned()).collect()
    }
    fn default_disk_budget() -> ByteSize {
        ByteSize::gib(20)
    }
    fn default_runbook_url() -> String {
        format!("http://127.0.0.1:{}/runbooks/", Component::Exporter.container_port())
    }

    /// Checks names, ports, images and budgets; called by config loading.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let names = || Component::ALL.iter().map(|c| c.name());
        let known = |key: String, name: &str| match Component::parse(name) {
            Some(c) => Ok(c),
            None => Err(ConfigError::invalid(
                file,
                key,
                format!("`{name}` is not a service of the ops profile"),
                Some(match crate::config::nearest(name, names()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("use one of {}", names().collect::<Vec<_>>().join(", ")),
                }),
            )),
        };
        for (i, name) in self.services.iter().enumerate() {
            let c = known(format!("profile.services[{i}]"), name)?;
            let other = match (c, self.log_shipper) {
                (Component::Alloy, LogShipper::Promtail) => Some("promtail"),
                (Component::Promtail, LogShipper::Alloy) => Some("alloy"),
                _ => None,
            };
            if let Some(shipper) = other {
                return Err(ConfigError::invalid(
                    file,
                    format!("profile.services[{i}]"),
                    format!("`{name}` is not the chosen log shipper"),
                    Some(format!("set `profile.log_shipper: {name}`, or list `{shipper}` instead")),
                ));
            }
        }
        for (name, image) in &self.images {
            known(format!("profile.images.{name}"), name)?;
            if !valid_image(image) {
                return Err(ConfigError::invalid(
                    file,
                    format!("profile.images.{name}"),
                    format!("`{image}` is not an image reference"),
                    Some("write it as `[registry/]repository:tag` or `…@sha256:digest`, e.g. `mirror.local:5000/prom/prometheus:v3.5.0`".to_owned()),
                ));
            }
        }
        let mut taken: BTreeMap<u16, &str> = BTreeMap::new();
        for c in Component::ALL {
            if let Some(port) = self.ports.get(c.name()).copied().or(c.default_host_port())
                && self.enabled(c)
                && let Some(other) = taken.insert(port, c.name())
            {
                return Err(ConfigError::invalid(
                    file,
                    format!("profile.ports.{}", c.name()),
                    format!("port {port} is also {other}'s"),
                    Some("give each service its own port".to_owned()),
                ));
            }
        }
        for (name, port) in &self.ports {
            let c = known(format!("profile.ports.{name}"), name)?;
            if *port == 0 || c == Component::SocketProxy {
                return Err(ConfigError::invalid(
                    file,
                    format!("profile.ports.{name}"),
                    if *port == 0 {
                        "port 0 cannot be published".to_owned()
                    } else {
                        "the socket proxy is never published".to_owned()
                    },
                    Some("remove it, or choose a port from 1 to 65535".to_owned()),
                ));
            }
        }
        for (name, limit) in &self.memory {
            known(format!("profile.memory.{name}"), name)?;
            if limit.as_u64() < 6 * 1024 * 1024 {
                return Err(ConfigError::invalid(
                    file,
                    format!("profile.memory.{name}"),
                    format!("{limit} is below Docker's minimum of 6 MiB"),
                    Some("write a size such as `256MiB`".to_owned()),
                ));
            }
        }
        self.validate_limits(file)
    }

    /// Retention, budget and links.
    fn validate_limits(&self, file: &str) -> Result<(), ConfigError> {
        if self.retention.logs.get() < std::time::Duration::from_secs(86_400) {
            return Err(ConfigError::invalid(
                file,
                "profile.retention.logs",
                format!("{} is shorter than Loki's 24h index period", self.retention.logs),
                Some("write `24h` or longer".to_owned()),
            ));
        }
        if self.retention.metrics.get() < std::time::Duration::from_secs(3600) {
            return Err(ConfigError::invalid(
                file,
                "profile.retention.metrics",
                format!("{} would leave dashboards and alerts blind", self.retention.metrics),
                Some("write `2h` or longer (default `15d`)".to_owned()),
            ));
        }
        if self.disk_budget < ByteSize::gib(1) {
            return Err(ConfigError::invalid(
                file,
                "profile.disk_budget",
                format!("{} cannot hold Prometheus' and Loki's working set", self.disk_budget),
                Some("give it at least `1GiB` (default `20GiB`)".to_owned()),
            ));
        }
        if url::Url::parse(&self.runbook_url).is_err() || !self.runbook_url.ends_with('/') {
            return Err(ConfigError::invalid(
                file,
                "profile.runbook_url",
                format!("`{}` is not a URL ending in `/`", self.runbook_url),
                Some(
                    "write the folder URL the topics are appended to, e.g. `https://wiki.example.com/runbooks/`"
                        .to_owned(),
                ),
            ));
        }
        Ok(())
    }

    /// Whether the component runs in the profile.
    #[must_use]
    pub fn enabled(&self, c: Component) -> bool {
        self.services.iter().any(|s| s == c.name())
    }

    /// The image the component runs.
    #[must_use]
    pub fn image(&self, c: Component) -> &str {
        self.images.get(c.name()).map_or(c.default_image(), String::as_str)
    }

    /// The host port, on 127.0.0.1.
    #[must_use]
    pub fn host_port(&self, c: Component) -> Option<u16> {
        self.ports.get(c.name()).copied().or(c.default_host_port())
    }

    /// The address the operator's browser reaches `c` at (the host port,
    /// on 127.0.0.1), when published.
    #[must_use]
    pub fn public_url(&self, c: Component) -> Option<String> {
        self.host_port(c).map(|port| format!("http://127.0.0.1:{port}"))
    }

    /// The memory limit.
    #[must_use]
    pub fn memory(&self, c: Component) -> ByteSize {
        self.memory.get(c.name()).copied().unwrap_or(c.default_memory())
    }

    /// Prometheus' `--storage.tsdb.retention.size`: half the disk budget,
    /// in Prometheus' units (`MB` is 2^20 bytes there).
    #[must_use]
    pub fn metrics_size(&self) -> String {
        format!("{}MB", self.disk_budget.as_u64() / 2 / (1024 * 1024))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            services: Self::default_services(),
            images: BTreeMap::new(),
            ports: BTreeMap::new(),
            memory: BTreeMap::new(),
            retention: Retention::default(),
            disk_budget: Self::default_disk_budget(),
            log_shipper: LogShipper::default(),
            data_dir: None,
            runbook_url: Self::default_runbook_url(),
        }
    }
}

/// `[registry[:port]/]path[:tag][@sha256:hex]`, the shape Docker accepts.
fn valid_image(image: &str) -> bool {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest
        && !d.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return false;
    }
    let (path, tag) = match name.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, Some(t)),
        _ => (name, None),
    };
    if tag.is_some_and(|t| {
        t.is_empty() || t.len() > 128 || !t.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    }) {
        return false;
    }
    !path.is_empty()
        && path.split('/').enumerate().all(|(i, part)| {
            !part.is_empty()
                && (i == 0 && path.contains('/') && (part.contains('.') || part.contains(':') || part == "localhost")
                    || part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        for ok in [
            "prom/prometheus:v3.5.0",
            "grafana/loki:3.5.7",
            "mirror.local:5000/prom/prometheus:v3.5.0",
            "localhost/x",
            "busybox",
            "ghcr.io/ops-gen/ops-gen@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(valid_image(ok), "{ok}");
        }
        for bad in ["", "Prom/Prometheus", "prom/prometheus:", "prom//x", "x@sha256:12", "a b", "x:tag with space"] {
            assert!(!valid_image(bad), "{bad}");
        }
    }
}
