//! Host: the machine under the stack, from `node_exporter`: CPU, load,
//! memory, filesystems (and when they fill up), disk and network.

use super::{Dashboard, GREEN, HOST, Panel, RED, Unit, YELLOW, bars, promql, stat, timeseries};
use crate::profile::{Context, REAL_FILESYSTEMS};

/// Share of CPU time not idle, per machine.
const CPU_BUSY: &str = "1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[$__rate_interval]))";

pub(super) fn dashboard(ctx: &Context<'_>) -> Dashboard {
    let fs = REAL_FILESYSTEMS;
    let mut panels = host_verdicts(ctx);
    panels.extend([
        timeseries(
            "CPU busy",
            "Share of CPU time not idle, over all cores.",
            Unit::Ratio,
            vec![promql(CPU_BUSY, "{{instance}}")],
        ),
        timeseries(
            "Load average",
            "Runnable and waiting tasks, averaged over 1, 5 and 15 minutes.",
            Unit::Count,
            vec![
                promql("node_load1", "1m {{instance}}"),
                promql("node_load5", "5m {{instance}}"),
                promql("node_load15", "15m {{instance}}"),
            ],
        ),
        timeseries(
            "Memory",
            "Memory in use and still available (including reclaimable caches).",
            Unit::Bytes,
            vec![
                promql("node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes", "used {{instance}}"),
                promql("node_memory_MemAvailable_bytes", "available {{instance}}"),
            ],
        ),
        bars(
            "Filesystem used",
            "Share of each filesystem in use.",
            Unit::Ratio,
            promql(
                format!("1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}"),
                "{{mountpoint}}",
            ),
        )
        .thresholds(GREEN, &[(0.8, YELLOW), (0.9, RED)])
        .range(0.0, 1.0)
        .size(6, 8)
        .runbook(ctx, "disk-full"),
        bars(
            "Filesystem free",
            "Space left on each filesystem for unprivileged users.",
            Unit::Bytes,
            promql(format!("node_filesystem_avail_bytes{{{fs}}}"), "{{mountpoint}}"),
        )
        .size(6, 8),
        timeseries(
            "Disk I/O",
            "Bytes read from and written to each disk.",
            Unit::BytesPerSecond,
            vec![
                promql("rate(node_disk_read_bytes_total[$__rate_interval])", "{{device}} read"),
                promql("rate(node_disk_written_bytes_total[$__rate_interval])", "{{device}} written"),
            ],
        ),
        timeseries(
            "Network",
            "Bytes received and sent per physical interface (loopback and container bridges left out).",
            Unit::BytesPerSecond,
            vec![
                promql(
                    "rate(node_network_receive_bytes_total{device!~\"lo|veth.+|docker.+|br-.+\"}[$__rate_interval])",
                    "{{device}} rx",
                ),
                promql(
                    "rate(node_network_transmit_bytes_total{device!~\"lo|veth.+|docker.+|br-.+\"}[$__rate_interval])",
                    "{{device}} tx",
                ),
            ],
        ),
    ]);
    Dashboard::new(
        HOST,
        "The machine under the stack (node_exporter): CPU, load, memory, filesystems, disk and network.",
        Vec::new(),
        Vec::new(),
        panels,
    )
}

/// The host dashboard's top row: is the machine busy, full or filling?
fn host_verdicts(ctx: &Context<'_>) -> Vec<Panel> {
    let fs = REAL_FILESYSTEMS;
    vec![
        stat("CPU busy", "Share of CPU time not idle, over all cores.", Unit::Ratio, promql(CPU_BUSY, "{{instance}}"))
            .thresholds(GREEN, &[(0.8, YELLOW), (0.95, RED)]),
        stat(
            "Memory used",
            "Share of memory not available to new processes (MemAvailable counts reclaimable caches as free).",
            Unit::Ratio,
            promql("1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes", "{{instance}}"),
        )
        .thresholds(GREEN, &[(0.8, YELLOW), (0.95, RED)]),
        stat(
            "Load per core",
            "1-minute load average divided by the number of cores: above 1 means work waits for CPU or disk.",
            Unit::Count,
            promql(
                "node_load1 / on (instance) count by (instance) (node_cpu_seconds_total{mode=\"idle\"})",
                "{{instance}}",
            ),
        )
        .thresholds(GREEN, &[(1.0, YELLOW), (2.0, RED)]),
        stat(
            "Days until disk full",
            "For each filesystem losing space, free space divided by what it lost per day by the trend of the last 6 hours (predict_linear).",
            Unit::Days,
            promql(
                format!(
                    "node_filesystem_avail_bytes{{{fs}}} / ((node_filesystem_avail_bytes{{{fs}}} - predict_linear(node_filesystem_avail_bytes{{{fs}}}[6h], 86400)) > 0)"
                ),
                "{{mountpoint}}",
            ),
        )
        .thresholds(RED, &[(3.0, YELLOW), (7.0, GREEN)])
        .no_value("not filling")
        .runbook(ctx, "disk-full"),
    ]
}
