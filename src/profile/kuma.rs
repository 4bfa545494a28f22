//! `uptime-kuma/monitors.json`: the monitors to create in Uptime Kuma.
//!
//! The file is in Uptime Kuma's backup format (`version`,
//! `notificationList`, `monitorList`), so it loads through Settings →
//! Backup → Import. It holds one HTTP monitor per health endpoint of the
//! profile, one per app service that publishes a port (a Docker container
//! monitor for one that only has a healthcheck), and one per smoke check.
//!
//! Smoke checks are watched through the exporter's `/probe?check=NAME`
//! page with a keyword match on its success series, never by their own URL:
//! a check's URL, headers or body may hold credentials, and this file must
//! not.

use serde::Serialize;

use super::compose::DOCKER_PROXY;
use super::{Artifact, Component, Context};
use crate::config::checks::Kind;
use crate::series::CHECK_SUCCESS;

/// The generated file, relative to the output folder.
pub const FILE: &str = "uptime-kuma/monitors.json";

#[must_use]
pub fn artifacts(ctx: &Context<'_>) -> Vec<Artifact> {
    vec![Artifact::json(FILE, &backup(ctx))]
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Backup {
    version: &'static str,
    notification_list: Vec<()>,
    monitor_list: Vec<Monitor>,
}

/// The fields Uptime Kuma 1.23 reads when importing a monitor.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Monitor {
    id: usize,
    name: String,
    description: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    keyword: Option<String>,
    #[serde(rename = "docker_container", skip_serializing_if = "Option::is_none")]
    docker_container: Option<String>,
    #[serde(rename = "docker_host", skip_serializing_if = "Option::is_none")]
    docker_host: Option<u32>,
    interval: u32,
    retry_interval: u32,
    resend_interval: u32,
    maxretries: u32,
    timeout: u32,
    #[serde(rename = "accepted_statuscodes")]
    accepted_status_codes: Vec<&'static str>,
    active: bool,
    weight: u32,
    #[serde(rename = "ignoreTls")]
    ignore_tls: bool,
    #[serde(rename = "upsideDown")]
    upside_down: bool,
    maxredirects: u32,
}

impl Monitor {
    fn http(name: String, description: String, url: String) -> Self {
        Self {
            id: 0,
            name,
            description,
            kind: "http",
            url: Some(url),
            method: "GET",
            keyword: None,
            docker_container: None,
            docker_host: None,
            interval: 60,
            retry_interval: 60,
            resend_interval: 0,
            maxretries: 2,
            timeout: 48,
            accepted_status_codes: vec!["200-299"],
            active: true,
            weight: 2000,
            ignore_tls: false,
            upside_down: false,
            maxredirects: 10,
        }
    }
}

fn backup(ctx: &Context<'_>) -> Backup {
    let mut monitors = Vec::new();
    for c in ctx.components().filter(|c| *c != Component::UptimeKuma) {
        monitors.push(Monitor::http(
            format!("ops: {}", c.title()),
            format!("{} health endpoint", c.title()),
            format!("{}{}", ctx.internal_url(c), c.health_path()),
        ));
    }
    for (name, service) in ctx.app.monitored() {
        let description = format!("app service `{name}`");
        monitors.push(match service.port() {
            Some(port) => Monitor::http(format!("app: {name}"), description, format!("http://{name}:{port}/")),
            // Uptime Kuma refers to Docker engines by the id of an entry
            // under Settings → Docker Hosts: the first one, which the
            // README has you point at the socket proxy.
            None => Monitor {
                kind: "docker",
                url: None,
                docker_container: Some(format!("{}-{name}-1", ctx.project)),
                docker_host: Some(1),
                ..Monitor::http(
                    format!("app: {name}"),
                    format!("{description}; needs Docker host 1 = {DOCKER_PROXY} in Settings → Docker Hosts"),
                    String::new(),
                )
            },
        });
    }
    if ctx.enabled(Component::Exporter) {
        for check in ctx.probes_where(|s| s.kind() == Kind::Http) {
            let url = format!("{}/probe?check={check}", ctx.internal_url(Component::Exporter));
            monitors.push(Monitor {
                kind: "keyword",
                keyword: Some(format!("{CHECK_SUCCESS}{{check=\"{check}\",kind=\"http\"}} 1")),
                ..Monitor::http(format!("smoke: {check}"), format!("smoke check `{check}` run by ops-gen"), url)
            });
        }
    }
    for (i, monitor) in monitors.iter_mut().enumerate() {
        monitor.id = i + 1;
    }
    Backup { version: "1.23.16", notification_list: Vec::new(), monitor_list: monitors }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Settings;
    use crate::stack::app::{App, AppService};

    #[test]
    fn monitors_cover_components_app_services_and_smoke_checks_without_secrets() {
        let config = crate::config::Config::parse(
            "checks:\n  web:\n    kind: http\n    url: http://app:8080/health?token=s3cr3t-planted\n",
            "t",
        )
        .unwrap();
        let mut app = App::default();
        app.services.insert("web".to_owned(), AppService { ports: [8080].into(), ..AppService::default() });
        app.services.insert(
            "worker".to_owned(),
            AppService { healthcheck: true, networks: ["default".to_owned()].into(), ..AppService::default() },
        );
        app.services.insert("cron".to_owned(), AppService::default());
        let settings = Settings::default();
        let ctx = Context::for_tests(&config, &settings, &app);
        let text = &artifacts(&ctx)[0].contents;
        assert!(!text.contains("s3cr3t"), "{text}");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let names: Vec<&str> =
            v["monitorList"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"ops: Prometheus") && !names.contains(&"ops: Uptime Kuma"), "{names:?}");
        assert!(names.contains(&"app: web") && names.contains(&"app: worker") && !names.contains(&"app: cron"));
        assert!(names.contains(&"smoke: web"), "{names:?}");
        let worker = v["monitorList"].as_array().unwrap().iter().find(|m| m["name"] == "app: worker").unwrap();
        assert_eq!(worker["docker_container"], "demo-worker-1");
    }
}
