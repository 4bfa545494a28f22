//! `prometheus/prometheus.yml`: what the profile's Prometheus scrapes.
//!
//! One job per ops service that serves metrics, named after the service,
//! and the `ops-gen` job for the exporter, whose checks cover the app's
//! targets (PostgreSQL, Redis, S3, HTTP smoke checks): the app's own
//! services are watched through it rather than scraped directly, so an app
//! without a `/metrics` endpoint adds no failing targets. Retention flags
//! live on the command line (see [`super::compose`]); rule files are read
//! from `rules/` next to this file, which is also how promtool resolves them.
//!
//! The `ops-gen-probe` job is the multi-target pattern (as for
//! `blackbox_exporter`): file-based discovery reads `targets/*.json`, whose
//! entries list target names from the config (never addresses) with the
//! exporter that probes them in the `__exporter__` label, and a `host`
//! label; relabelling turns each name into `/probe?target=NAME` on that
//! exporter with `instance` set to the name. Adding a host is adding an
//! entry. This profile's own targets are listed in
//! `targets/ops-gen.json`, and the `ops-gen` job drops their series from
//! `/metrics`, so each series (and alert) exists once.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Artifact, Component, Context};
use crate::series::PREFIX;

/// The exporter's scrape job; alert rules select on it.
pub const EXPORTER_JOB: &str = "ops-gen";
/// The host, as containers reach it (`extra_hosts: host-gateway`).
pub const HOST_GATEWAY: &str = "host.docker.internal";
/// How often Prometheus scrapes and evaluates rules.
pub const SCRAPE_INTERVAL: &str = "15s";

/// The multi-target job: `/probe` per target name, found by file SD.
pub const PROBE_JOB: &str = "ops-gen-probe";
/// The file-SD files the probe job reads, relative to prometheus.yml.
pub const PROBE_TARGET_FILES: &str = "targets/*.json";
/// This profile's own entry among them, relative to the output folder.
pub const PROBE_TARGETS_FILE: &str = "prometheus/targets/ops-gen.json";
/// The file-SD label naming the exporter that probes an entry's targets.
pub const EXPORTER_LABEL: &str = "__exporter__";

#[must_use]
pub fn artifacts(ctx: &Context<'_>) -> Vec<Artifact> {
    vec![
        Artifact::yaml("prometheus/prometheus.yml", &config(ctx)),
        Artifact::json(PROBE_TARGETS_FILE, &probe_targets(ctx)),
    ]
}

/// One file-SD entry: target names and the labels they share.
#[derive(Debug, Serialize)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<&'static str, String>,
}

/// The config's targets (its data stores), which `/probe` serves by name;
/// no entry at all when there are none.
fn probe_targets(ctx: &Context<'_>) -> Vec<TargetGroup> {
    let targets: Vec<String> = ctx.config.targets.keys().cloned().collect();
    if targets.is_empty() {
        return Vec::new();
    }
    let labels = BTreeMap::from([(EXPORTER_LABEL, exporter_address(ctx)), ("host", ctx.project.clone())]);
    vec![TargetGroup { targets, labels }]
}

/// Where Prometheus reaches the exporter: its service in the profile, or
/// `ops-gen serve` on the host.
fn exporter_address(ctx: &Context<'_>) -> String {
    if ctx.enabled(Component::Exporter) {
        format!("{}:{}", Component::Exporter.name(), Component::Exporter.container_port())
    } else {
        format!("{HOST_GATEWAY}:{}", ctx.config.listen.port())
    }
}

#[derive(Debug, Serialize)]
struct Config {
    global: Global,
    rule_files: Vec<&'static str>,
    scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Debug, Serialize)]
struct Global {
    scrape_interval: &'static str,
    scrape_timeout: &'static str,
    evaluation_interval: &'static str,
    external_labels: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
struct ScrapeConfig {
    job_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    scrape_interval: Option<&'static str>,
    metrics_path: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    static_configs: Vec<StaticConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    file_sd_configs: Vec<FileSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    metric_relabel_configs: Vec<RelabelConfig>,
}

impl ScrapeConfig {
    fn fixed(job_name: String, metrics_path: &'static str, address: String) -> Self {
        Self {
            job_name,
            scrape_interval: None,
            metrics_path,
            static_configs: vec![StaticConfig { targets: vec![address] }],
            file_sd_configs: Vec::new(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize)]
struct StaticConfig {
    targets: Vec<String>,
}

#[derive(Debug, Serialize)]
struct FileSdConfig {
    files: Vec<&'static str>,
}

/// A relabelling step; omitted fields take Prometheus' defaults (`regex:
/// (.*)`, `replacement: $1`, `action: replace`).
#[derive(Debug, Serialize)]
struct RelabelConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    source_labels: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    regex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_label: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
}

impl RelabelConfig {
    fn copy(from: &'static str, to: &'static str) -> Self {
        Self { source_labels: vec![from], regex: None, target_label: Some(to), action: None }
    }
}

/// The `/probe` job, as the README documents it.
fn probe_job() -> ScrapeConfig {
    ScrapeConfig {
        job_name: PROBE_JOB.to_owned(),
        scrape_interval: None,
        metrics_path: "/probe",
        static_configs: Vec::new(),
        file_sd_configs: vec![FileSdConfig { files: vec![PROBE_TARGET_FILES] }],
        relabel_configs: vec![
            RelabelConfig::copy("__address__", "__param_target"),
            RelabelConfig::copy("__param_target", "instance"),
            RelabelConfig::copy(EXPORTER_LABEL, "__address__"),
        ],
        metric_relabel_configs: Vec::new(),
    }
}

/// Drops from `/metrics` the series `/probe` serves for `targets`: their
/// check series, and their kind's own (`opsgen_postgres_*`, `opsgen_redis_*`,
/// `opsgen_s3_*`, labelled `target`). Backup and canary series stay.
fn drop_probed(targets: &[String]) -> Option<RelabelConfig> {
    if targets.is_empty() {
        return None;
    }
    let names = targets.join("|");
    Some(RelabelConfig {
        source_labels: vec!["__name__", "check", "target"],
        regex: Some(format!("{PREFIX}check_[a-z_]+;({names});|{PREFIX}(postgres|redis|s3)_[a-z_]+;;({names})")),
        target_label: None,
        action: Some("drop"),
    })
}

fn config(ctx: &Context<'_>) -> Config {
    let mut jobs = Vec::new();
    for c in ctx.components() {
        let Some(path) = c.metrics_path() else { continue };
        let address = match c {
            Component::Prometheus => format!("localhost:{}", c.container_port()),
            _ => format!("{}:{}", c.name(), c.container_port()),
        };
        let job_name = if c == Component::Exporter { EXPORTER_JOB.to_owned() } else { c.name().to_owned() };
        let mut job = ScrapeConfig::fixed(job_name, path, address);
        // cAdvisor refreshes every 30 s (its housekeeping interval).
        job.scrape_interval = (c == Component::Cadvisor).then_some("30s");
        jobs.push(job);
    }
    if !ctx.enabled(Component::Exporter) {
        // `ops-gen serve` runs on the host instead; it must listen on an
        // address the containers reach (see the README).
        jobs.insert(0, ScrapeConfig::fixed(EXPORTER_JOB.to_owned(), "/metrics", exporter_address(ctx)));
    }
    let targets: Vec<String> = ctx.config.targets.keys().cloned().collect();
    jobs[0].metric_relabel_configs.extend(drop_probed(&targets));
    jobs.insert(1, probe_job());
    Config {
        global: Global {
            scrape_interval: SCRAPE_INTERVAL,
            scrape_timeout: "10s",
            evaluation_interval: SCRAPE_INTERVAL,
            external_labels: BTreeMap::from([("project", ctx.project.clone())]),
        },
        rule_files: vec!["rules/*.yml"],
        scrape_configs: jobs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{App, Settings};

    #[test]
    fn one_job_per_metrics_endpoint_and_the_exporter_job() {
        let config = crate::config::Config::default();
        let app = App::default();
        let mut settings = Settings::default();
        let ctx = |s: &Settings| -> Vec<String> {
            let ctx = Context::for_tests(&config, s, &app);
            super::config(&ctx).scrape_configs.into_iter().map(|j| j.job_name).collect()
        };
        assert_eq!(
            ctx(&settings),
            ["ops-gen", "ops-gen-probe", "prometheus", "grafana", "loki", "alloy", "cadvisor", "node-exporter"]
        );
        settings.services.retain(|s| s != "grafana" && s != "ops-gen");
        let jobs = ctx(&settings);
        assert!(!jobs.contains(&"grafana".to_owned()));
        assert_eq!(jobs[0], "ops-gen", "the exporter on the host is still scraped");
    }
}
