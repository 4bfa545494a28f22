//! Logs: container logs from Loki by compose project and service, with a
//! search, and whether Loki receives them.

use super::{
    Current, Dashboard, Kind, LOGS, Panel, Source, Unit, Variable, datasource_variable, label_variable, logql, promql,
    timeseries,
};

pub(super) fn dashboard() -> Dashboard {
    // Alloy (or Promtail) labels every stream with its compose project and
    // service, container and stream (stdout or stderr).
    let selector = "{compose_project=~\"$project\", compose_service=~\"$service\"} |~ \"$search\"";
    let panels = vec![
        timeseries(
            "Log volume",
            "Log lines per service and interval that match the filters.",
            Unit::Count,
            vec![logql(
                format!("sum by (compose_service) (count_over_time({selector} [$__auto]))"),
                Some("{{compose_service}}"),
            )],
        ),
        timeseries(
            "Lines received by Loki",
            "Log lines Loki accepts per second from the log shipper; flat at zero means logs are not shipped.",
            Unit::CountPerSecond,
            vec![promql("sum(rate(loki_distributor_lines_received_total[$__rate_interval]))", "received")],
        )
        .size(6, 8),
        timeseries(
            "Lines discarded by Loki",
            "Log lines Loki refused per second, by reason (rate limits, too old, too long).",
            Unit::CountPerSecond,
            vec![promql("sum by (reason) (rate(loki_discarded_samples_total[$__rate_interval]))", "{{reason}}")],
        )
        .size(6, 8),
        Panel::new(
            Kind::Logs,
            "Logs",
            "Log lines of the chosen project and service matching the search (a regular expression), newest first.",
            Unit::Plain,
            vec![logql(selector, None)],
        ),
    ];
    Dashboard::new(
        LOGS,
        "Container logs from Loki, by compose project and service, with a search.",
        vec![
            datasource_variable(Source::Loki),
            label_variable("project", "Project", Source::Loki, "label_values(compose_project)"),
            label_variable(
                "service",
                "Service",
                Source::Loki,
                "label_values({compose_project=~\"$project\"}, compose_service)",
            ),
            Variable {
                name: "search",
                label: "Search (regex)",
                kind: "textbox",
                query: String::new(),
                datasource: None,
                current: Current { text: "", value: "" },
                refresh: None,
                include_all: false,
                all_value: None,
                multi: false,
                sort: None,
            },
        ],
        Vec::new(),
        panels,
    )
}
