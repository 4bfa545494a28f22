//! `prometheus/prometheus.yml`: what the profile's Prometheus scrapes.
//!
//! One job per ops service that serves metrics, named after the service,
//! and the `ops-gen` job for the exporter, whose checks cover the app's
//! targets (PostgreSQL, Redis, S3, HTTP smoke checks): the app's own
//! services are watched through it rather than scraped directly, so an app
//! without a `/metrics` endpoint adds no failing targets. Retention flags
//! live on the command line (see [`super::compose`]); rule files are read
//! from `rules/` next to this file, which is also how promtool resolves them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Artifact, Component, Context};

/// The exporter's scrape job; alert rules select on it.
pub const EXPORTER_JOB: &str = "ops-gen";
/// The host, as containers reach it (`extra_hosts: host-gateway`).
pub const HOST_GATEWAY: &str = "host.docker.internal";
/// How often Prometheus scrapes and evaluates rules.
pub const SCRAPE_INTERVAL: &str = "15s";

#[must_use]
pub fn artifacts(ctx: &Context<'_>) -> Vec<Artifact> {
    vec![Artifact::yaml("prometheus/prometheus.yml", &config(ctx))]
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
    static_configs: Vec<StaticConfig>,
}

#[derive(Debug, Serialize)]
struct StaticConfig {
    targets: Vec<String>,
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
        jobs.push(ScrapeConfig {
            job_name,
            // cAdvisor refreshes every 30 s (its housekeeping interval).
            scrape_interval: (c == Component::Cadvisor).then_some("30s"),
            metrics_path: path,
            static_configs: vec![StaticConfig { targets: vec![address] }],
        });
    }
    if !ctx.enabled(Component::Exporter) {
        // `ops-gen serve` runs on the host instead; it must listen on an
        // address the containers reach (see the README).
        jobs.insert(
            0,
            ScrapeConfig {
                job_name: EXPORTER_JOB.to_owned(),
                scrape_interval: None,
                metrics_path: "/metrics",
                static_configs: vec![StaticConfig {
                    targets: vec![format!("{HOST_GATEWAY}:{}", ctx.config.listen.port())],
                }],
            },
        );
    }
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
        assert_eq!(ctx(&settings), ["ops-gen", "prometheus", "grafana", "loki", "alloy", "cadvisor", "node-exporter"]);
        settings.services.retain(|s| s != "grafana" && s != "ops-gen");
        let jobs = ctx(&settings);
        assert!(!jobs.contains(&"grafana".to_owned()));
        assert_eq!(jobs[0], "ops-gen", "the exporter on the host is still scraped");
    }
}
