//! The ops cockpit: green, yellow or red for the whole stack at once
//! (exporter, alerts, drift, smoke test, config, checks, services, backups),
//! with links to Dozzle, Uptime Kuma and every runbook.

use super::backups::{backup_age, backup_age_ratio};
use super::{
    COCKPIT, Dashboard, GREEN, Link, Panel, RED, Unit, YELLOW, external_link, promql, stat, table, timeline, up_down,
};
use crate::profile::{Component, Context};
use crate::runbook;
use crate::series::{
    CHECK_SUCCESS, CONFIG_LAST_RELOAD_SUCCESS, DRIFT_SERVICES, SERVICE_HEALTHY, SERVICE_UP,
    SMOKE_LAST_RUN_TIMESTAMP_SECONDS, SMOKE_SUCCESS,
};

/// Green, yellow or red for everything at once; the other dashboards hold
/// the detail.
pub(super) fn dashboard(ctx: &Context<'_>) -> Dashboard {
    let mut panels = cockpit_verdicts(ctx);
    panels.extend([
        up_down(
            stat(
                "Checks",
                "Each configured check's last result; a check that never ran counts as down.",
                Unit::Plain,
                promql(CHECK_SUCCESS, "{{check}}"),
            ),
            "up",
            "down",
        )
        .size(12, 6)
        .no_value("no checks")
        .runbook(ctx, "check-failing"),
        backup_age_ratio(ctx).size(12, 6),
        service_states(
            ctx,
            "Ops services",
            "The profile's own services: green running and healthy, yellow running but not healthy, red not running.",
            "=~",
        ),
        service_states(
            ctx,
            "App services",
            "The app's compose services: green running and healthy, yellow running but not healthy, red not running.",
            "!~",
        ),
        backup_age().size(12, 6),
        table(
            "Alerts firing",
            "Each firing alert with its labels; its runbook_url annotation says what to do.",
            promql("ALERTS{alertstate=\"firing\"}", "{{alertname}}"),
        )
        .hide(&["Time", "Value", "__name__", "alertstate"])
        .size(12, 6),
        up_down(
            timeline(
                "Check history",
                "Each check's result over time: when it failed and for how long.",
                promql(CHECK_SUCCESS, "{{check}}"),
            ),
            "up",
            "down",
        )
        .size(24, 8),
    ]);
    Dashboard::new(
        COCKPIT,
        "The stack at a glance: checks, services, backups, drift, smoke test, exporter and alerts.",
        Vec::new(),
        cockpit_links(ctx),
        panels,
    )
}

/// The cockpit's top row: one tile per thing that must be green.
fn cockpit_verdicts(ctx: &Context<'_>) -> Vec<Panel> {
    vec![
        up_down(
            stat(
                "Exporter",
                "Whether Prometheus scrapes ops-gen (job `ops-gen`). Every other panel depends on it.",
                Unit::Plain,
                promql("up{job=\"ops-gen\"}", "{{instance}}"),
            ),
            "up",
            "down",
        )
        .size(4, 5)
        .no_value("not scraped")
        .runbook(ctx, "restart-service"),
        stat(
            "Alerts firing",
            "Prometheus alerts firing now; the table below names them.",
            Unit::Count,
            promql("count(ALERTS{alertstate=\"firing\"}) or vector(0)", "firing"),
        )
        .thresholds(GREEN, &[(1.0, RED)])
        .size(4, 5),
        stat(
            "Services drifting",
            "Compose services whose running state differs from the compose files (missing, extra, other image, config or replicas).",
            Unit::Count,
            promql(DRIFT_SERVICES, "{{project}}"),
        )
        .thresholds(GREEN, &[(1.0, YELLOW)])
        .size(4, 5),
        up_down(
            stat(
                "Last smoke test",
                "Result of the latest `ops-gen smoke` run; its failure reason is in output/smoke/latest.json.",
                Unit::Plain,
                promql(SMOKE_SUCCESS, "smoke"),
            ),
            "passed",
            "failed",
        )
        .size(4, 5)
        .no_value("never run"),
        stat(
            "Since last smoke test",
            "Time since `ops-gen smoke` last ran. It runs after changes, not on a schedule; an old result may no longer describe the stack.",
            Unit::Seconds,
            promql(format!("time() - ({SMOKE_LAST_RUN_TIMESTAMP_SECONDS} > 0)"), "smoke"),
        )
        .thresholds(GREEN, &[(7.0 * 86_400.0, YELLOW)])
        .size(4, 5)
        .no_value("never run"),
        up_down(
            stat(
                "Config",
                "Whether the exporter's last config (re)load succeeded; after a failed reload it keeps running the previous config.",
                Unit::Plain,
                promql(CONFIG_LAST_RELOAD_SUCCESS, "config"),
            ),
            "loaded",
            "reload failed",
        )
        .size(4, 5),
    ]
}

/// The project's services, either the profile's own (`matcher` `=~`) or the
/// app's (`!~`): green running and healthy, yellow running but unhealthy,
/// red down.
fn service_states(ctx: &Context<'_>, title: &'static str, description: &'static str, matcher: &str) -> Panel {
    let ops = ctx.components().map(Component::name).collect::<Vec<_>>().join("|");
    let expr = format!("{SERVICE_UP}{{service{matcher}\"{ops}\"}} + {SERVICE_HEALTHY}{{service{matcher}\"{ops}\"}}");
    stat(title, description, Unit::Plain, promql(expr, "{{service}}"))
        .states(&[(0.0, "down", RED), (1.0, "unhealthy", YELLOW), (2.0, "healthy", GREEN)])
        .size(12, 6)
        .no_value("no services")
        .runbook(ctx, "restart-service")
}

/// Dozzle and Uptime Kuma when the profile runs them, and every runbook.
fn cockpit_links(ctx: &Context<'_>) -> Vec<Link> {
    let mut links = Vec::new();
    for (c, what) in [(Component::Dozzle, "live container logs"), (Component::UptimeKuma, "uptime monitors and status")]
    {
        if let Some(url) = ctx.public_url(c).filter(|_| ctx.enabled(c)) {
            links.push(external_link(c.title().to_owned(), url, "external link", format!("{}: {what}", c.title())));
        }
    }
    for page in runbook::ALL {
        links.push(external_link(
            format!("Runbook: {}", page.title()),
            ctx.runbook_url(page.topic),
            "doc",
            format!("When: {}", page.when()),
        ));
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::profile::{App, Settings};
    use serde_json::Value;

    fn cockpit_json(profile: &Settings) -> Value {
        let (config, app) = (Config::default(), App::default());
        serde_json::to_value(dashboard(&Context::for_tests(&config, profile, &app))).unwrap()
    }

    #[test]
    fn cockpit_links_follow_the_enabled_components() {
        let link_urls = |profile: &Settings| -> Vec<String> {
            let cockpit = cockpit_json(profile);
            cockpit["links"].as_array().unwrap().iter().map(|l| l["url"].as_str().unwrap().to_owned()).collect()
        };
        let all = link_urls(&Settings::default());
        assert!(all.contains(&"http://127.0.0.1:8888".to_owned()), "{all:?}");
        assert!(all.contains(&"http://127.0.0.1:3001".to_owned()), "{all:?}");
        for uid in ["opsgen-backups", "opsgen-containers", "opsgen-host", "opsgen-logs"] {
            assert!(all.contains(&format!("/d/{uid}")), "{uid}: {all:?}");
        }
        for page in runbook::ALL {
            assert!(all.contains(&format!("http://127.0.0.1:9743/runbooks/{}", page.topic)), "{}", page.topic);
        }

        let mut without = Settings::default();
        without.services.retain(|s| s != "dozzle" && s != "uptime-kuma");
        let rest = link_urls(&without);
        assert_eq!(rest.len(), all.len() - 2);
        assert!(!rest.iter().any(|u| u.ends_with(":8888") || u.ends_with(":3001")), "{rest:?}");
    }

    #[test]
    fn the_cockpit_splits_ops_services_from_the_app() {
        let cockpit = cockpit_json(&Settings::default());
        let exprs: Vec<&str> = cockpit["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap())
            .map(|t| t["expr"].as_str().unwrap())
            .collect();
        let ops = exprs.iter().find(|e| e.starts_with(&format!("{SERVICE_UP}{{service=~"))).unwrap();
        assert!(
            ops.contains(
                "\"ops-gen|prometheus|grafana|loki|alloy|cadvisor|node-exporter|dozzle|uptime-kuma|socket-proxy\""
            ),
            "{ops}"
        );
        assert!(exprs.iter().any(|e| e.starts_with(&format!("{SERVICE_UP}{{service!~"))));
    }
}
