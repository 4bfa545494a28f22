//! Containers & drift: each compose service against its definition
//! (running, healthy, restarts, drift) and what each container uses
//! (cAdvisor), for the project picked in the dashboard.

use super::{
    CONTAINERS, Dashboard, GREEN, Source, Unit, YELLOW, label_variable, promql, stat, table, timeline, timeseries,
    up_down,
};
use crate::profile::Context;
use crate::series::{DRIFT, DRIFT_SERVICES, SERVICE_HEALTHY, SERVICE_RESTARTS, SERVICE_UP};

pub(super) fn dashboard(ctx: &Context<'_>) -> Dashboard {
    let project = "project=~\"$project\"";
    // cAdvisor labels containers by name, and carries the compose project
    // as a container label.
    let cadvisor = "name!=\"\", container_label_com_docker_compose_project=~\"$project\"";
    let panels = vec![
        up_down(
            timeline(
                "Running",
                "Whether each compose service has a running container.",
                promql(format!("{SERVICE_UP}{{{project}}}"), "{{service}}"),
            ),
            "running",
            "down",
        )
        .runbook(ctx, "restart-service"),
        up_down(
            timeline(
                "Healthy",
                "Whether each compose service passes its healthcheck.",
                promql(format!("{SERVICE_HEALTHY}{{{project}}}"), "{{service}}"),
            ),
            "healthy",
            "not healthy",
        )
        .runbook(ctx, "restart-service"),
        timeseries(
            "Restart count",
            "Docker's restart count per service; a rising line is a restart loop.",
            Unit::Count,
            vec![promql(format!("{SERVICE_RESTARTS}{{{project}}}"), "{{service}}")],
        )
        .size(8, 8)
        .runbook(ctx, "restart-service"),
        stat(
            "Services drifting",
            "Services whose running state differs from the compose files.",
            Unit::Count,
            promql(format!("{DRIFT_SERVICES}{{{project}}}"), "{{project}}"),
        )
        .thresholds(GREEN, &[(1.0, YELLOW)])
        .size(4, 8),
        table(
            "Drift",
            "Each drifting service and how: missing, extra, image, config or replicas. Empty when all matches.",
            promql(format!("{DRIFT}{{{project}}} == 1"), "{{service}} {{kind}}"),
        )
        .hide(&["Time", "Value", "__name__", "job", "instance"])
        .no_value("no drift"),
        timeseries(
            "CPU",
            "CPU time per container per second (cAdvisor): 100% is one full core.",
            Unit::Ratio,
            vec![promql(
                format!("sum by (name) (rate(container_cpu_usage_seconds_total{{{cadvisor}}}[$__rate_interval]))"),
                "{{name}}",
            )],
        ),
        timeseries(
            "Memory working set",
            "Memory per container that the kernel cannot reclaim: what counts against the container's memory limit (cAdvisor).",
            Unit::Bytes,
            vec![promql(format!("sum by (name) (container_memory_working_set_bytes{{{cadvisor}}})"), "{{name}}")],
        ),
        timeseries(
            "Network",
            "Bytes received and sent per container (cAdvisor).",
            Unit::BytesPerSecond,
            vec![
                promql(
                    format!(
                        "sum by (name) (rate(container_network_receive_bytes_total{{{cadvisor}}}[$__rate_interval]))"
                    ),
                    "{{name}} rx",
                ),
                promql(
                    format!(
                        "sum by (name) (rate(container_network_transmit_bytes_total{{{cadvisor}}}[$__rate_interval]))"
                    ),
                    "{{name}} tx",
                ),
            ],
        ),
        timeseries(
            "Container starts in the last hour",
            "How often each container's start time changed in the hour before each point (cAdvisor): its restarts.",
            Unit::Count,
            vec![promql(format!("changes(container_start_time_seconds{{{cadvisor}}}[1h])"), "{{name}}")],
        )
        .runbook(ctx, "restart-service"),
    ];
    Dashboard::new(
        CONTAINERS,
        "Compose services against their definition (running, healthy, restarts, drift) and what each container uses.",
        vec![label_variable("project", "Project", Source::Prometheus, format!("label_values({SERVICE_UP}, project)"))],
        Vec::new(),
        panels,
    )
}
