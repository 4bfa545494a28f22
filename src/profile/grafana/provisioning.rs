//! Grafana's provisioning files: the Prometheus and Loki datasources and the
//! file provider that loads the dashboards, read-only, from
//! [`super::DASHBOARDS_MOUNT`].

use serde::Serialize;

use super::{DASHBOARDS_MOUNT, FOLDER, SCRAPE_INTERVAL, Source};
use crate::profile::{Artifact, Component, Context};

/// The datasources and the dashboard provider, as Grafana provisions them.
pub(super) fn artifacts(ctx: &Context<'_>) -> Vec<Artifact> {
    vec![
        Artifact::yaml("grafana/provisioning/datasources/datasources.yml", &datasources(ctx)),
        Artifact::yaml("grafana/provisioning/dashboards/dashboards.yml", &providers()),
    ]
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Datasources {
    api_version: u8,
    datasources: Vec<Datasource>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Datasource {
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    uid: &'static str,
    access: &'static str,
    url: String,
    is_default: bool,
    /// Provisioned datasources are read-only: the files are the truth.
    editable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    json_data: Option<PrometheusSettings>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PrometheusSettings {
    /// The scrape interval, from which Grafana derives `$__rate_interval`.
    time_interval: &'static str,
}

fn datasources(ctx: &Context<'_>) -> Datasources {
    Datasources {
        api_version: 1,
        datasources: vec![
            Datasource {
                name: Source::Prometheus.name(),
                kind: Source::Prometheus.plugin(),
                uid: Source::Prometheus.plugin(),
                access: "proxy",
                url: ctx.internal_url(Component::Prometheus),
                is_default: true,
                editable: false,
                json_data: Some(PrometheusSettings { time_interval: SCRAPE_INTERVAL }),
            },
            Datasource {
                name: Source::Loki.name(),
                kind: Source::Loki.plugin(),
                uid: Source::Loki.plugin(),
                access: "proxy",
                url: ctx.internal_url(Component::Loki),
                is_default: false,
                editable: false,
                json_data: None,
            },
        ],
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Providers {
    api_version: u8,
    providers: Vec<Provider>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Provider {
    name: &'static str,
    org_id: u32,
    folder: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    disable_deletion: bool,
    /// Changes made in the UI would be lost at the next generate; refuse them.
    allow_ui_updates: bool,
    /// How often Grafana rereads the folder, so regenerated dashboards show
    /// up without a restart.
    update_interval_seconds: u32,
    options: ProviderOptions,
}

#[derive(Serialize)]
struct ProviderOptions {
    path: &'static str,
}

fn providers() -> Providers {
    Providers {
        api_version: 1,
        providers: vec![Provider {
            name: FOLDER,
            org_id: 1,
            folder: FOLDER,
            kind: "file",
            disable_deletion: true,
            allow_ui_updates: false,
            update_interval_seconds: 30,
            options: ProviderOptions { path: DASHBOARDS_MOUNT },
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::profile::{App, Settings};

    #[test]
    fn datasources_and_provider_point_at_the_profile() {
        let (config, profile, app) = (Config::default(), Settings::default(), App::default());
        let files = artifacts(&Context::for_tests(&config, &profile, &app));
        let yaml = |i: usize| serde_norway::from_str::<serde_norway::Value>(&files[i].contents).unwrap();
        let ds = yaml(0);
        assert_eq!(ds["apiVersion"], serde_norway::Value::from(1));
        let prometheus = &ds["datasources"][0];
        assert_eq!(prometheus["uid"].as_str(), Some("prometheus"));
        assert_eq!(prometheus["url"].as_str(), Some("http://prometheus:9090"));
        assert_eq!(prometheus["isDefault"].as_bool(), Some(true));
        assert_eq!(prometheus["jsonData"]["timeInterval"].as_str(), Some("15s"));
        let loki = &ds["datasources"][1];
        assert_eq!((loki["uid"].as_str(), loki["url"].as_str()), (Some("loki"), Some("http://loki:3100")));
        assert!(ds["datasources"].as_sequence().unwrap().iter().all(|d| d["editable"].as_bool() == Some(false)));
        let provider = &yaml(1)["providers"][0];
        assert_eq!(provider["options"]["path"].as_str(), Some(DASHBOARDS_MOUNT));
        assert_eq!(provider["allowUiUpdates"].as_bool(), Some(false));
        assert_eq!(provider["folder"].as_str(), Some("ops-gen"));
    }
}
