//! Grafana's part of the ops profile: the provisioned datasources (Prometheus
//! and Loki) and dashboard provider (`provisioning.rs`), and five dashboards,
//! one file each: the ops cockpit (`cockpit.rs`), backups and drills
//! (`backups.rs`), containers and drift (`containers.rs`), the host
//! (`host.rs`), and logs (`logs.rs`).
//!
//! The dashboards are built from a small typed model of Grafana's dashboard
//! JSON (schema version 39), kept here with the builders every dashboard
//! shares, instead of exported JSON blobs, so each dashboard reads as a list
//! of panels (title, what it means, unit, query) and the rules every panel
//! follows live in one place: queries reach their datasource through a
//! dashboard variable (so the files also load into a Grafana whose
//! datasources have other uids), every panel has a unit, and every `rate`
//! spans `$__rate_interval`. Queries select by label rather than by
//! configured name, so the same dashboards serve any config; only the
//! cockpit reads it, to tell the profile's own services from the app's and to
//! link to the tools and runbooks that exist.

mod backups;
mod cockpit;
mod containers;
mod host;
mod logs;
mod provisioning;

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Artifact, Context};
use crate::runbook;

/// Where the compose file mounts `grafana/provisioning` (read-only).
pub const PROVISIONING_MOUNT: &str = "/etc/grafana/provisioning";

/// Where the compose file mounts `grafana/dashboards` (read-only); the
/// dashboard provider loads every file in it.
pub const DASHBOARDS_MOUNT: &str = "/var/lib/grafana/dashboards/ops-gen";

/// Prometheus' scrape interval in the profile. Grafana never makes
/// `$__rate_interval` shorter than four times this, so every rate spans
/// enough samples.
const SCRAPE_INTERVAL: &str = "15s";

/// The Grafana folder and dashboard provider, and the tag on every dashboard.
const FOLDER: &str = "ops-gen";

/// Grafana's grid is 24 columns wide.
const GRID_WIDTH: u32 = 24;

/// Each file of the profile's Grafana: two provisioning files, then the
/// dashboards.
#[must_use]
pub fn artifacts(ctx: &Context<'_>) -> Vec<Artifact> {
    let mut files = provisioning::artifacts(ctx);
    for (board, dashboard) in dashboards(ctx) {
        files.push(Artifact::json(format!("grafana/dashboards/{}.json", board.file), &dashboard));
    }
    files
}

// ---------------------------------------------------------------------------
// The dashboard model: the part of Grafana's JSON the profile uses.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dashboard {
    uid: &'static str,
    title: &'static str,
    description: &'static str,
    tags: [&'static str; 1],
    editable: bool,
    /// 1: a shared crosshair across panels.
    graph_tooltip: u8,
    refresh: &'static str,
    schema_version: u32,
    time: TimeRange,
    timezone: &'static str,
    templating: Templating,
    links: Vec<Link>,
    panels: Vec<Panel>,
}

#[derive(Serialize)]
struct TimeRange {
    from: &'static str,
    to: &'static str,
}

#[derive(Serialize)]
struct Templating {
    list: Vec<Variable>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Variable {
    name: &'static str,
    label: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    /// The datasource plugin for `datasource` variables, the query for
    /// `query` ones, the default text for a `textbox`.
    query: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    datasource: Option<DatasourceRef>,
    current: Current,
    /// 1: on dashboard load; 2: on time range change.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh: Option<u8>,
    include_all: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    all_value: Option<&'static str>,
    multi: bool,
    /// 1: alphabetical.
    #[serde(skip_serializing_if = "Option::is_none")]
    sort: Option<u8>,
}

#[derive(Serialize)]
struct Current {
    text: &'static str,
    value: &'static str,
}

/// A link in the dashboard's header.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Link {
    title: String,
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
    icon: &'static str,
    tooltip: String,
    target_blank: bool,
    /// Carry the time range over to the linked dashboard.
    keep_time: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Panel {
    id: u32,
    #[serde(rename = "type")]
    kind: Kind,
    title: &'static str,
    description: &'static str,
    grid_pos: GridPos,
    datasource: DatasourceRef,
    targets: Vec<Target>,
    field_config: FieldConfig,
    options: Options,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    transformations: Vec<Transformation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<PanelLink>,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
enum Kind {
    #[serde(rename = "stat")]
    Stat,
    #[serde(rename = "bargauge")]
    BarGauge,
    #[serde(rename = "timeseries")]
    TimeSeries,
    #[serde(rename = "state-timeline")]
    StateTimeline,
    #[serde(rename = "table")]
    Table,
    #[serde(rename = "logs")]
    Logs,
}

#[derive(Serialize)]
struct GridPos {
    h: u32,
    w: u32,
    x: u32,
    y: u32,
}

/// Which datasource a panel queries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Prometheus,
    Loki,
}

impl Source {
    /// The provisioned datasource's name.
    fn name(self) -> &'static str {
        match self {
            Self::Prometheus => "Prometheus",
            Self::Loki => "Loki",
        }
    }

    /// The plugin id, which is also the provisioned datasource's uid.
    fn plugin(self) -> &'static str {
        match self {
            Self::Prometheus => "prometheus",
            Self::Loki => "loki",
        }
    }

    /// The dashboard variable that picks the datasource.
    fn variable(self) -> &'static str {
        match self {
            Self::Prometheus => "datasource",
            Self::Loki => "loki_datasource",
        }
    }

    fn reference(self) -> DatasourceRef {
        DatasourceRef {
            kind: self.plugin(),
            uid: match self {
                Self::Prometheus => "${datasource}",
                Self::Loki => "${loki_datasource}",
            },
        }
    }
}

#[derive(Serialize, Clone, Copy)]
struct DatasourceRef {
    #[serde(rename = "type")]
    kind: &'static str,
    uid: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    ref_id: String,
    datasource: DatasourceRef,
    editor_mode: &'static str,
    expr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    legend_format: Option<&'static str>,
    #[serde(flatten)]
    mode: QueryMode,
}

#[derive(Serialize)]
#[serde(untagged)]
enum QueryMode {
    /// Graphs ask for a range; stats, bars and tables for the latest value.
    Prometheus {
        range: bool,
        instant: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        format: Option<&'static str>,
    },
    Loki {
        #[serde(rename = "queryType")]
        query_type: &'static str,
    },
}

#[derive(Serialize)]
struct FieldConfig {
    defaults: FieldDefaults,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FieldDefaults {
    unit: Unit,
    color: ColorMode,
    thresholds: Thresholds,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mappings: Vec<ValueMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    /// What a panel shows when its query returns nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    no_value: Option<&'static str>,
}

/// Grafana's unit ids, the ones the dashboards use.
#[derive(Serialize, Clone, Copy)]
enum Unit {
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "d")]
    Days,
    /// A Unix time in milliseconds, shown as a date.
    #[serde(rename = "dateTimeAsIso")]
    DateTime,
    #[serde(rename = "bytes")]
    Bytes,
    #[serde(rename = "Bps")]
    BytesPerSecond,
    /// A ratio, 1 = 100%.
    #[serde(rename = "percentunit")]
    Ratio,
    /// A count, scaled to k, M, …
    #[serde(rename = "short")]
    Count,
    #[serde(rename = "cps")]
    CountPerSecond,
    /// States shown through value mappings, label tables, log lines.
    #[serde(rename = "none")]
    Plain,
}

#[derive(Serialize)]
struct ColorMode {
    mode: &'static str,
}

#[derive(Serialize)]
struct Thresholds {
    mode: &'static str,
    steps: Vec<Step>,
}

#[derive(Serialize)]
struct Step {
    color: &'static str,
    /// `None` (JSON null) for the base step, as Grafana requires.
    value: Option<f64>,
}

#[derive(Serialize)]
struct ValueMap {
    #[serde(rename = "type")]
    kind: &'static str,
    options: BTreeMap<String, Mapped>,
}

#[derive(Serialize)]
struct Mapped {
    text: &'static str,
    color: &'static str,
    index: usize,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Options {
    #[serde(rename_all = "camelCase")]
    Stat {
        reduce_options: Reduce,
        color_mode: &'static str,
        graph_mode: &'static str,
        text_mode: &'static str,
        justify_mode: &'static str,
        orientation: &'static str,
    },
    #[serde(rename_all = "camelCase")]
    BarGauge { reduce_options: Reduce, orientation: &'static str, display_mode: &'static str, show_unfilled: bool },
    #[serde(rename_all = "camelCase")]
    TimeSeries { legend: Legend, tooltip: Tooltip },
    #[serde(rename_all = "camelCase")]
    StateTimeline {
        show_value: &'static str,
        merge_values: bool,
        row_height: f64,
        align_value: &'static str,
        legend: Legend,
        tooltip: Tooltip,
    },
    #[serde(rename_all = "camelCase")]
    Table { show_header: bool, cell_height: &'static str },
    #[serde(rename_all = "camelCase")]
    Logs {
        show_time: bool,
        wrap_log_message: bool,
        sort_order: &'static str,
        enable_log_details: bool,
        dedup_strategy: &'static str,
        prettify_log_message: bool,
        show_labels: bool,
        show_common_labels: bool,
    },
}

#[derive(Serialize)]
struct Reduce {
    calcs: [&'static str; 1],
    fields: &'static str,
    values: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Legend {
    display_mode: &'static str,
    placement: &'static str,
    #[serde(rename = "showLegend")]
    show: bool,
}

#[derive(Serialize)]
struct Tooltip {
    mode: &'static str,
    sort: &'static str,
}

/// Hides label columns of a table.
#[derive(Serialize)]
struct Transformation {
    id: &'static str,
    options: Organize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Organize {
    exclude_by_name: BTreeMap<&'static str, bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PanelLink {
    title: String,
    url: String,
    target_blank: bool,
}

// ---------------------------------------------------------------------------
// Builders: each dashboard below is a list of these.

const GREEN: &str = "green";
const YELLOW: &str = "yellow";
const RED: &str = "red";
/// For values that are facts, not verdicts (sizes, counts, plain ages).
const NEUTRAL: &str = "blue";

/// One query of a panel.
struct Query {
    source: Source,
    expr: String,
    legend: Option<&'static str>,
}

/// A Prometheus query; `legend` names each series, e.g. `{{target}}`.
fn promql(expr: impl Into<String>, legend: &'static str) -> Query {
    Query { source: Source::Prometheus, expr: expr.into(), legend: Some(legend) }
}

/// A Loki query.
fn logql(expr: impl Into<String>, legend: Option<&'static str>) -> Query {
    Query { source: Source::Loki, expr: expr.into(), legend }
}

impl Kind {
    /// Width and height unless the dashboard says otherwise.
    fn default_size(self) -> (u32, u32) {
        match self {
            Self::Stat => (6, 5),
            Self::BarGauge | Self::TimeSeries | Self::StateTimeline | Self::Table => (12, 8),
            Self::Logs => (24, 18),
        }
    }

    fn options(self) -> Options {
        let reduce = || Reduce { calcs: ["lastNotNull"], fields: "", values: false };
        let legend = || Legend { display_mode: "list", placement: "bottom", show: true };
        let tooltip = || Tooltip { mode: "multi", sort: "desc" };
        match self {
            Self::Stat => Options::Stat {
                reduce_options: reduce(),
                color_mode: "background",
                graph_mode: "none",
                text_mode: "auto",
                justify_mode: "auto",
                orientation: "auto",
            },
            Self::BarGauge => Options::BarGauge {
                reduce_options: reduce(),
                orientation: "horizontal",
                display_mode: "gradient",
                show_unfilled: true,
            },
            Self::TimeSeries => Options::TimeSeries { legend: legend(), tooltip: tooltip() },
            Self::StateTimeline => Options::StateTimeline {
                show_value: "never",
                merge_values: true,
                row_height: 0.9,
                align_value: "left",
                legend: legend(),
                tooltip: tooltip(),
            },
            Self::Table => Options::Table { show_header: true, cell_height: "sm" },
            Self::Logs => Options::Logs {
                show_time: true,
                wrap_log_message: true,
                sort_order: "Descending",
                enable_log_details: true,
                dedup_strategy: "none",
                prettify_log_message: false,
                show_labels: false,
                show_common_labels: false,
            },
        }
    }

    /// Stats, bars and tables show the latest value: an instant query.
    fn instant(self) -> bool {
        matches!(self, Self::Stat | Self::BarGauge | Self::Table)
    }
}

impl Panel {
    /// A panel of `kind` over `queries`, which share one datasource. Its id
    /// and position are set when the dashboard lays it out.
    fn new(kind: Kind, title: &'static str, description: &'static str, unit: Unit, queries: Vec<Query>) -> Self {
        let source = queries.first().map_or(Source::Prometheus, |q| q.source);
        let targets = queries
            .into_iter()
            .zip('A'..)
            .map(|(q, ref_id)| Target {
                ref_id: ref_id.to_string(),
                datasource: q.source.reference(),
                editor_mode: "code",
                expr: q.expr,
                legend_format: q.legend,
                mode: match q.source {
                    Source::Prometheus => QueryMode::Prometheus {
                        range: !kind.instant(),
                        instant: kind.instant(),
                        format: (kind == Kind::Table).then_some("table"),
                    },
                    Source::Loki => QueryMode::Loki { query_type: "range" },
                },
            })
            .collect();
        let (w, h) = kind.default_size();
        Self {
            id: 0,
            kind,
            title,
            description,
            grid_pos: GridPos { h, w, x: 0, y: 0 },
            datasource: source.reference(),
            targets,
            field_config: FieldConfig {
                defaults: FieldDefaults {
                    unit,
                    color: ColorMode { mode: if kind == Kind::TimeSeries { "palette-classic" } else { "thresholds" } },
                    thresholds: Thresholds { mode: "absolute", steps: vec![Step { color: NEUTRAL, value: None }] },
                    mappings: Vec::new(),
                    min: None,
                    max: None,
                    no_value: None,
                },
            },
            options: kind.options(),
            transformations: Vec::new(),
            links: Vec::new(),
        }
    }

    fn size(mut self, w: u32, h: u32) -> Self {
        self.grid_pos.w = w;
        self.grid_pos.h = h;
        self
    }

    /// Colours by value: `base` below the first step, then each step's
    /// colour from its value up.
    fn thresholds(mut self, base: &'static str, steps: &[(f64, &'static str)]) -> Self {
        let mut all = vec![Step { color: base, value: None }];
        all.extend(steps.iter().map(|&(value, color)| Step { color, value: Some(value) }));
        self.field_config.defaults.thresholds.steps = all;
        self
    }

    /// Names and colours the values of a state gauge, lowest value first;
    /// thresholds follow the same colours so graphs agree with the names.
    fn states(mut self, states: &[(f64, &'static str, &'static str)]) -> Self {
        let options = states
            .iter()
            .enumerate()
            .map(|(index, &(value, text, color))| (value.to_string(), Mapped { text, color, index }))
            .collect();
        self.field_config.defaults.mappings = vec![ValueMap { kind: "value", options }];
        let steps =
            states.iter().enumerate().map(|(i, &(value, _, color))| Step { color, value: (i > 0).then_some(value) });
        self.field_config.defaults.thresholds.steps = steps.collect();
        self
    }

    fn range(mut self, min: f64, max: f64) -> Self {
        self.field_config.defaults.min = Some(min);
        self.field_config.defaults.max = Some(max);
        self
    }

    fn no_value(mut self, text: &'static str) -> Self {
        self.field_config.defaults.no_value = Some(text);
        self
    }

    /// Hides columns of a table (the sample time, its value, scrape labels).
    fn hide(mut self, columns: &[&'static str]) -> Self {
        let exclude_by_name = columns.iter().map(|c| (*c, true)).collect();
        self.transformations.push(Transformation { id: "organize", options: Organize { exclude_by_name } });
        self
    }

    /// Links the panel to the runbook for what it shows going wrong.
    fn runbook(mut self, ctx: &Context<'_>, topic: &'static str) -> Self {
        let title = runbook::find(topic).map_or(topic, |r| r.title());
        self.links.push(PanelLink {
            title: format!("Runbook: {title}"),
            url: ctx.runbook_url(topic),
            target_blank: true,
        });
        self
    }
}

fn stat(title: &'static str, description: &'static str, unit: Unit, query: Query) -> Panel {
    Panel::new(Kind::Stat, title, description, unit, vec![query])
}

fn bars(title: &'static str, description: &'static str, unit: Unit, query: Query) -> Panel {
    Panel::new(Kind::BarGauge, title, description, unit, vec![query])
}

fn timeseries(title: &'static str, description: &'static str, unit: Unit, queries: Vec<Query>) -> Panel {
    Panel::new(Kind::TimeSeries, title, description, unit, queries)
}

fn timeline(title: &'static str, description: &'static str, query: Query) -> Panel {
    Panel::new(Kind::StateTimeline, title, description, Unit::Plain, vec![query])
}

fn table(title: &'static str, description: &'static str, query: Query) -> Panel {
    Panel::new(Kind::Table, title, description, Unit::Plain, vec![query])
}

/// Up (1) or down (0) with the words the panel's subject uses.
fn up_down(panel: Panel, up: &'static str, down: &'static str) -> Panel {
    panel.states(&[(0.0, down, RED), (1.0, up, GREEN)])
}

/// Which dashboard: its file name (without `.json`), uid and title. The uids
/// are fixed: links and bookmarks use them.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Board {
    file: &'static str,
    uid: &'static str,
    title: &'static str,
}

const COCKPIT: Board = Board { file: "ops-cockpit", uid: "opsgen-cockpit", title: "Ops cockpit" };
const BACKUPS: Board = Board { file: "backups", uid: "opsgen-backups", title: "Backups & drills" };
const CONTAINERS: Board = Board { file: "containers", uid: "opsgen-containers", title: "Containers & drift" };
const HOST: Board = Board { file: "host", uid: "opsgen-host", title: "Host" };
const LOGS: Board = Board { file: "logs", uid: "opsgen-logs", title: "Logs" };
const BOARDS: [Board; 5] = [COCKPIT, BACKUPS, CONTAINERS, HOST, LOGS];

impl Dashboard {
    /// A dashboard with the standard settings, the Prometheus datasource
    /// variable first, links to the other dashboards, and `panels` laid out
    /// left to right, top to bottom, in the order given.
    fn new(
        board: Board,
        description: &'static str,
        variables: Vec<Variable>,
        extra_links: Vec<Link>,
        mut panels: Vec<Panel>,
    ) -> Self {
        let (mut x, mut y, mut line_height) = (0, 0, 0);
        for (panel, id) in panels.iter_mut().zip(1..) {
            let GridPos { w, h, .. } = panel.grid_pos;
            if x + w > GRID_WIDTH {
                (x, y, line_height) = (0, y + line_height, 0);
            }
            panel.id = id;
            (panel.grid_pos.x, panel.grid_pos.y) = (x, y);
            x += w;
            line_height = line_height.max(h);
        }
        let mut links: Vec<Link> = BOARDS
            .iter()
            .filter(|other| **other != board)
            .map(|other| Link {
                title: other.title.to_owned(),
                kind: "link",
                url: format!("/d/{}", other.uid),
                icon: "dashboard",
                tooltip: format!("ops-gen dashboard: {}", other.title),
                target_blank: false,
                keep_time: true,
            })
            .collect();
        links.extend(extra_links);
        Self {
            uid: board.uid,
            title: board.title,
            description,
            tags: [FOLDER],
            editable: false,
            graph_tooltip: 1,
            refresh: "30s",
            schema_version: 39,
            time: TimeRange { from: "now-6h", to: "now" },
            timezone: "browser",
            templating: Templating {
                list: std::iter::once(datasource_variable(Source::Prometheus)).chain(variables).collect(),
            },
            links,
            panels,
        }
    }
}

/// The variable that picks a datasource, defaulting to the provisioned one.
fn datasource_variable(source: Source) -> Variable {
    Variable {
        name: source.variable(),
        label: source.name(),
        kind: "datasource",
        query: source.plugin().to_owned(),
        datasource: None,
        current: Current { text: source.name(), value: source.plugin() },
        refresh: Some(1),
        include_all: false,
        all_value: None,
        multi: false,
        sort: None,
    }
}

/// A variable listing label values, with "All" selected by default.
fn label_variable(name: &'static str, label: &'static str, source: Source, query: impl Into<String>) -> Variable {
    Variable {
        name,
        label,
        kind: "query",
        query: query.into(),
        datasource: Some(source.reference()),
        current: Current { text: "All", value: "$__all" },
        refresh: Some(2),
        include_all: true,
        // Loki refuses a stream selector whose every matcher accepts the
        // empty string, so its "All" must match at least one character.
        all_value: Some(if source == Source::Loki { ".+" } else { ".*" }),
        multi: false,
        sort: Some(1),
    }
}

fn external_link(title: String, url: String, icon: &'static str, tooltip: String) -> Link {
    Link { title, kind: "link", url, icon, tooltip, target_blank: true, keep_time: false }
}

fn dashboards(ctx: &Context<'_>) -> [(Board, Dashboard); 5] {
    [
        (COCKPIT, cockpit::dashboard(ctx)),
        (BACKUPS, backups::dashboard(ctx)),
        (CONTAINERS, containers::dashboard(ctx)),
        (HOST, host::dashboard(ctx)),
        (LOGS, logs::dashboard()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::profile::{App, Settings};
    use serde_json::Value;

    fn generate(profile: &Settings) -> Vec<Artifact> {
        let config = Config::default();
        let app = App::default();
        artifacts(&Context::for_tests(&config, profile, &app))
    }

    /// The dashboards as Grafana reads them, by file name.
    fn dashboards_json(profile: &Settings) -> BTreeMap<String, Value> {
        generate(profile)
            .into_iter()
            .filter_map(|a| {
                let name = a.path.strip_prefix("grafana/dashboards").ok()?.to_string_lossy().into_owned();
                Some((name, serde_json::from_str(&a.contents).unwrap()))
            })
            .collect()
    }

    fn panels(dashboard: &Value) -> &Vec<Value> {
        dashboard["panels"].as_array().unwrap()
    }

    /// Every Prometheus expression of a dashboard.
    fn promql_exprs(dashboard: &Value) -> Vec<String> {
        panels(dashboard)
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap())
            .filter(|t| t["datasource"]["type"] == "prometheus")
            .map(|t| t["expr"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The range selectors of `rate(`/`increase(` calls (`irate(` included)
    /// that are not `[$__rate_interval]`.
    fn fixed_rate_windows(expr: &str) -> Vec<String> {
        let mut found = Vec::new();
        for function in ["rate(", "increase("] {
            for (at, _) in expr.match_indices(function) {
                let rest = &expr[at..];
                let window =
                    rest.find('[').and_then(|open| rest[open..].find(']').map(|close| &rest[open..=open + close]));
                if window != Some("[$__rate_interval]") {
                    found.push(format!("{function}…{}", window.unwrap_or("(no range)")));
                }
            }
        }
        found
    }

    #[test]
    fn output_is_deterministic_and_lists_every_file() {
        let profile = Settings::default();
        let first = generate(&profile);
        assert_eq!(first, generate(&profile));
        let paths: Vec<String> = first.iter().map(|a| a.path.to_string_lossy().into_owned()).collect();
        assert_eq!(
            paths,
            [
                "grafana/provisioning/datasources/datasources.yml",
                "grafana/provisioning/dashboards/dashboards.yml",
                "grafana/dashboards/ops-cockpit.json",
                "grafana/dashboards/backups.json",
                "grafana/dashboards/containers.json",
                "grafana/dashboards/host.json",
                "grafana/dashboards/logs.json",
            ]
        );
    }

    #[test]
    fn dashboards_have_fixed_unique_uids() {
        let uids: BTreeMap<String, String> = dashboards_json(&Settings::default())
            .into_iter()
            .map(|(file, d)| (file, d["uid"].as_str().unwrap().to_owned()))
            .collect();
        let expected = [
            ("backups.json", "opsgen-backups"),
            ("containers.json", "opsgen-containers"),
            ("host.json", "opsgen-host"),
            ("logs.json", "opsgen-logs"),
            ("ops-cockpit.json", "opsgen-cockpit"),
        ];
        assert_eq!(uids, expected.into_iter().map(|(f, u)| (f.to_owned(), u.to_owned())).collect());
    }

    #[test]
    fn panels_reach_datasources_through_variables() {
        for (file, d) in dashboards_json(&Settings::default()) {
            let vars = d["templating"]["list"].as_array().unwrap();
            let var = |name: &str| vars.iter().find(|v| v["name"] == name);
            let ds = var("datasource").unwrap_or_else(|| panic!("{file}: no datasource variable"));
            assert_eq!(
                (&ds["type"], &ds["query"], &ds["current"]["value"]),
                (&"datasource".into(), &"prometheus".into(), &"prometheus".into()),
                "{file}"
            );
            for panel in panels(&d) {
                let kind = panel["datasource"]["type"].as_str().unwrap();
                let expected = match kind {
                    "prometheus" => "${datasource}",
                    "loki" => {
                        let loki = var("loki_datasource")
                            .unwrap_or_else(|| panic!("{file}: Loki panel without loki_datasource"));
                        assert_eq!((&loki["type"], &loki["query"]), (&"datasource".into(), &"loki".into()));
                        "${loki_datasource}"
                    }
                    other => panic!("{file}: panel {} uses datasource type {other}", panel["title"]),
                };
                assert_eq!(panel["datasource"]["uid"], expected, "{file}: {}", panel["title"]);
                for target in panel["targets"].as_array().unwrap() {
                    assert_eq!(target["datasource"], panel["datasource"], "{file}: {}", panel["title"]);
                    assert!(!target["expr"].as_str().unwrap().is_empty() && target["refId"].is_string());
                }
            }
        }
    }

    #[test]
    fn every_panel_has_a_unit_a_description_and_its_own_place() {
        let units = ["s", "d", "dateTimeAsIso", "bytes", "Bps", "percentunit", "short", "cps", "none"];
        for (file, d) in dashboards_json(&Settings::default()) {
            assert_eq!((d["schemaVersion"].as_u64(), d["refresh"].as_str()), (Some(39), Some("30s")), "{file}");
            assert_eq!((d["editable"].as_bool(), d["time"]["from"].as_str()), (Some(false), Some("now-6h")), "{file}");
            let mut ids = std::collections::BTreeSet::new();
            let mut cells = std::collections::BTreeSet::new();
            for panel in panels(&d) {
                let title = panel["title"].as_str().unwrap();
                let unit = panel["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("");
                assert!(units.contains(&unit), "{file}: {title} has unit {unit:?}");
                assert!(!panel["description"].as_str().unwrap_or("").is_empty(), "{file}: {title} undescribed");
                assert!(ids.insert(panel["id"].as_u64().unwrap()), "{file}: id of {title} repeats");
                let pos = |k: &str| panel["gridPos"][k].as_u64().unwrap();
                assert!(pos("x") + pos("w") <= 24, "{file}: {title} is wider than the grid");
                for x in pos("x")..pos("x") + pos("w") {
                    for y in pos("y")..pos("y") + pos("h") {
                        assert!(cells.insert((x, y)), "{file}: {title} overlaps another panel");
                    }
                }
            }
        }
    }

    #[test]
    fn rates_span_the_rate_interval() {
        assert_eq!(fixed_rate_windows("sum(irate(x[5m])) / increase(y[$__rate_interval])"), ["rate(…[5m]"]);
        let mut checked = 0;
        for (file, d) in dashboards_json(&Settings::default()) {
            for expr in promql_exprs(&d) {
                assert!(fixed_rate_windows(&expr).is_empty(), "{file}: {expr}");
                checked += usize::from(expr.contains("rate("));
            }
        }
        assert!(checked >= 8, "only {checked} rates found");
    }

    #[test]
    fn panel_runbook_links_name_known_topics() {
        let mut linked = 0;
        for (file, d) in dashboards_json(&Settings::default()) {
            for panel in panels(&d) {
                for link in panel["links"].as_array().into_iter().flatten() {
                    let url = link["url"].as_str().unwrap();
                    let topic = url.strip_prefix("http://127.0.0.1:9743/runbooks/").unwrap_or(url);
                    assert!(runbook::find(topic).is_ok(), "{file}: {} links {url}", panel["title"]);
                    linked += 1;
                }
            }
        }
        assert!(linked > 0);
    }
}
