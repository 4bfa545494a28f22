//! Grafana's part of the ops profile: the provisioned datasources (Prometheus
//! and Loki), the dashboard provider, and five dashboards: the ops cockpit,
//! backups and drills, containers and drift, the host, and logs.
//!
//! The dashboards are built from a small typed model of Grafana's dashboard
//! JSON (schema version 39) instead of exported JSON blobs, so each dashboard
//! reads as a list of panels (title, what it means, unit, query) and the
//! rules every panel follows live in one place: queries reach their
//! datasource through a dashboard variable (so the files also load into a
//! Grafana whose datasources have other uids), every panel has a unit, and
//! every `rate` spans `$__rate_interval`. Queries select by label rather than
//! by configured name, so the same dashboards serve any config; only the
//! cockpit reads it, to tell the profile's own services from the app's and to
//! link to the tools and runbooks that exist.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Artifact, Component, Context};
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
    let mut files = vec![
        Artifact::yaml("grafana/provisioning/datasources/datasources.yml", &datasources(ctx)),
        Artifact::yaml("grafana/provisioning/dashboards/dashboards.yml", &providers()),
    ];
    for (board, dashboard) in dashboards(ctx) {
        files.push(Artifact::json(format!("grafana/dashboards/{}.json", board.file), &dashboard));
    }
    files
}

// ---------------------------------------------------------------------------
// Provisioning

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
    query: &'static str,
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

/// A dashboard with the standard settings, the Prometheus datasource
/// variable first, links to the other dashboards, and `panels` laid out left
/// to right, top to bottom, in the order given.
fn dashboard(
    board: Board,
    description: &'static str,
    variables: Vec<Variable>,
    extra_links: Vec<Link>,
    mut panels: Vec<Panel>,
) -> Dashboard {
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
    Dashboard {
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

/// The variable that picks a datasource, defaulting to the provisioned one.
fn datasource_variable(source: Source) -> Variable {
    Variable {
        name: source.variable(),
        label: source.name(),
        kind: "datasource",
        query: source.plugin(),
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
fn label_variable(name: &'static str, label: &'static str, source: Source, query: &'static str) -> Variable {
    Variable {
        name,
        label,
        kind: "query",
        query,
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
    [(COCKPIT, cockpit(ctx)), (BACKUPS, backups(ctx)), (CONTAINERS, containers(ctx)), (HOST, host(ctx)), (LOGS, logs())]
}

// ---------------------------------------------------------------------------
// The dashboards

/// Green, yellow or red for everything at once; the other dashboards hold
/// the detail.
fn cockpit(ctx: &Context<'_>) -> Dashboard {
    let mut panels = cockpit_verdicts(ctx);
    panels.extend([
        up_down(
            stat(
                "Checks",
                "Each configured check's last result; a check that never ran counts as down.",
                Unit::Plain,
                promql("opsgen_check_success", "{{check}}"),
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
                promql("opsgen_check_success", "{{check}}"),
            ),
            "up",
            "down",
        )
        .size(24, 8),
    ]);
    dashboard(
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
            promql("opsgen_drift_services", "{{project}}"),
        )
        .thresholds(GREEN, &[(1.0, YELLOW)])
        .size(4, 5),
        up_down(
            stat(
                "Last smoke test",
                "Result of the latest `ops-gen smoke` run; its failure reason is in output/smoke/latest.json.",
                Unit::Plain,
                promql("opsgen_smoke_success", "smoke"),
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
            promql("time() - (opsgen_smoke_last_run_timestamp_seconds > 0)", "smoke"),
        )
        .thresholds(GREEN, &[(7.0 * 86_400.0, YELLOW)])
        .size(4, 5)
        .no_value("never run"),
        up_down(
            stat(
                "Config",
                "Whether the exporter's last config (re)load succeeded; after a failed reload it keeps running the previous config.",
                Unit::Plain,
                promql("opsgen_config_last_reload_success", "config"),
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
    let expr =
        format!("opsgen_service_up{{service{matcher}\"{ops}\"}} + opsgen_service_healthy{{service{matcher}\"{ops}\"}}");
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

/// Each target's backup age against its configured maximum: the bar turns
/// yellow at 80% and red past it (also when no backup ever succeeded).
fn backup_age_ratio(ctx: &Context<'_>) -> Panel {
    bars(
        "Backup age / max age",
        "Age of each target's newest successful backup as a share of its configured max age: red past 100%, also when none ever succeeded.",
        Unit::Ratio,
        promql(
            "(time() - opsgen_backup_last_success_timestamp_seconds) / opsgen_backup_max_age_seconds",
            "{{target}}",
        ),
    )
    .thresholds(GREEN, &[(0.8, YELLOW), (1.0, RED)])
    .range(0.0, 1.5)
    .runbook(ctx, "backup-stale")
}

fn backup_age() -> Panel {
    stat(
        "Backup age",
        "Time since each target's newest successful backup; a target that never had one is missing here and red in \"Backup age / max age\".",
        Unit::Seconds,
        promql("time() - (opsgen_backup_last_success_timestamp_seconds > 0)", "{{target}}"),
    )
    .no_value("none yet")
}

fn backups(ctx: &Context<'_>) -> Dashboard {
    let mut panels = backup_panels(ctx);
    panels.extend(drill_panels(ctx));
    panels.extend(persistence_panels());
    panels.extend(s3_panels());
    dashboard(
        BACKUPS,
        "Backups, restore drills and the persistence of PostgreSQL, Redis and S3: is the data safe, and can it come back?",
        Vec::new(),
        Vec::new(),
        panels,
    )
}

/// Freshness, verification and size of each target's backups.
fn backup_panels(ctx: &Context<'_>) -> Vec<Panel> {
    vec![
        backup_age_ratio(ctx).size(8, 6),
        backup_age().size(6, 6),
        stat(
            "Max age",
            "The configured freshness threshold per target (backup.freshness, or the check's max_age).",
            Unit::Seconds,
            promql("opsgen_backup_max_age_seconds", "{{target}}"),
        )
        .size(4, 6),
        stat(
            "Last successful backup",
            "When each target's newest successful backup finished.",
            Unit::DateTime,
            promql("(opsgen_backup_last_success_timestamp_seconds > 0) * 1000", "{{target}}"),
        )
        .size(6, 6)
        .no_value("never"),
        up_down(
            stat(
                "Verified",
                "Whether the newest backup set holding the target matches its manifest (`ops-gen backup verify`).",
                Unit::Plain,
                promql("opsgen_backup_verified", "{{target}}"),
            ),
            "verified",
            "not verified",
        )
        .size(4, 8)
        .no_value("no sets")
        .runbook(ctx, "backup-stale"),
        stat(
            "Sets kept",
            "Backup sets holding a successful backup of the target, after retention.",
            Unit::Count,
            promql("opsgen_backup_sets", "{{target}}"),
        )
        .size(4, 8)
        .no_value("no sets"),
        timeseries(
            "Backup size",
            "Size of each target's newest successful backup; a sudden drop can mean lost data upstream.",
            Unit::Bytes,
            vec![promql("opsgen_backup_size_bytes", "{{target}}")],
        )
        .size(8, 8),
        timeseries(
            "Backup duration",
            "How long each target's newest successful backup took.",
            Unit::Seconds,
            vec![promql("opsgen_backup_duration_seconds", "{{target}}")],
        )
        .size(8, 8),
    ]
}

/// Restore drills: did the newest pass, when did one last pass, how long a
/// restore takes.
fn drill_panels(ctx: &Context<'_>) -> Vec<Panel> {
    vec![
        up_down(
            stat(
                "Restore drill",
                "Whether the newest restore drill of the target passed; red also when it was never drilled.",
                Unit::Plain,
                promql("opsgen_restore_drill_success", "{{target}}"),
            ),
            "passed",
            "failed",
        )
        .size(6, 8)
        .no_value("no sets")
        .runbook(ctx, "restore-from-backup"),
        stat(
            "Since last passing drill",
            "Time since a restore drill of the target last passed: how long ago a restore was proven to work.",
            Unit::Seconds,
            promql("time() - (opsgen_restore_drill_last_success_timestamp_seconds > 0)", "{{target}}"),
        )
        .size(6, 8)
        .no_value("never passed"),
        timeseries(
            "Recovery time (restore drill)",
            "The newest drill's measured restore time, from starting a throwaway instance to restored data: what a real restore would take.",
            Unit::Seconds,
            vec![promql("opsgen_restore_drill_duration_seconds", "{{target}}")],
        )
        .size(12, 8),
    ]
}

/// Whether data survives: Redis' own snapshots and the persistence canaries.
fn persistence_panels() -> Vec<Panel> {
    vec![
        stat(
            "Redis: since last save",
            "Time since Redis last wrote its RDB snapshot.",
            Unit::Seconds,
            promql("time() - opsgen_redis_last_save_timestamp_seconds", "{{target}}"),
        )
        .size(8, 5)
        .no_value("no redis target"),
        up_down(
            stat(
                "Redis: last background save",
                "Whether Redis' last background save (BGSAVE) succeeded.",
                Unit::Plain,
                promql("opsgen_redis_last_bgsave_success", "{{target}}"),
            ),
            "ok",
            "failed",
        )
        .size(8, 5)
        .no_value("no redis target"),
        up_down(
            stat(
                "Persistence canaries",
                "Whether the canary written before each target's last restart was still there after it; lost means the data lives on an ephemeral volume.",
                Unit::Plain,
                promql("opsgen_canary_survived", "{{target}}"),
            ),
            "survived",
            "lost",
        )
        .size(8, 5)
        .no_value("canaries off"),
        timeseries(
            "Redis: writes since last save",
            "Writes Redis would lose if it crashed now.",
            Unit::Count,
            vec![promql("opsgen_redis_changes_since_last_save", "{{target}}")],
        ),
        timeseries(
            "Canary age",
            "Time since each target's canary was first written: it grows across restarts while data persists and drops when data is lost.",
            Unit::Seconds,
            vec![promql("opsgen_canary_age_seconds", "{{target}}")],
        ),
    ]
}

/// The object store: round trips through each bucket and what it holds.
fn s3_panels() -> Vec<Panel> {
    vec![
        up_down(
            stat(
                "S3 round trip",
                "Whether the last put, get, sha256 compare and delete of a test object succeeded (on its own schedule).",
                Unit::Plain,
                promql("opsgen_s3_roundtrip_success", "{{target}} {{bucket}}"),
            ),
            "ok",
            "failed",
        )
        .size(6, 8)
        .no_value("no s3 target"),
        timeseries(
            "S3 round trip duration",
            "Time of the last successful round trip per bucket.",
            Unit::Seconds,
            vec![promql("opsgen_s3_roundtrip_duration_seconds", "{{target}} {{bucket}}")],
        )
        .size(6, 8),
        timeseries(
            "S3 objects",
            "Objects in each bucket, from the last listing.",
            Unit::Count,
            vec![promql("opsgen_s3_objects", "{{target}} {{bucket}}")],
        )
        .size(6, 8),
        timeseries(
            "S3 bytes",
            "Bytes in each bucket, from the last listing.",
            Unit::Bytes,
            vec![promql("opsgen_s3_bytes", "{{target}} {{bucket}}")],
        )
        .size(6, 8),
    ]
}

fn containers(ctx: &Context<'_>) -> Dashboard {
    let project = "project=~\"$project\"";
    // cAdvisor labels containers by name, and carries the compose project
    // as a container label.
    let cadvisor = "name!=\"\", container_label_com_docker_compose_project=~\"$project\"";
    let panels = vec![
        up_down(
            timeline(
                "Running",
                "Whether each compose service has a running container.",
                promql(format!("opsgen_service_up{{{project}}}"), "{{service}}"),
            ),
            "running",
            "down",
        )
        .runbook(ctx, "restart-service"),
        up_down(
            timeline(
                "Healthy",
                "Whether each compose service passes its healthcheck.",
                promql(format!("opsgen_service_healthy{{{project}}}"), "{{service}}"),
            ),
            "healthy",
            "not healthy",
        )
        .runbook(ctx, "restart-service"),
        timeseries(
            "Restart count",
            "Docker's restart count per service; a rising line is a restart loop.",
            Unit::Count,
            vec![promql(format!("opsgen_service_restarts{{{project}}}"), "{{service}}")],
        )
        .size(8, 8)
        .runbook(ctx, "restart-service"),
        stat(
            "Services drifting",
            "Services whose running state differs from the compose files.",
            Unit::Count,
            promql(format!("opsgen_drift_services{{{project}}}"), "{{project}}"),
        )
        .thresholds(GREEN, &[(1.0, YELLOW)])
        .size(4, 8),
        table(
            "Drift",
            "Each drifting service and how: missing, extra, image, config or replicas. Empty when all matches.",
            promql(format!("opsgen_drift{{{project}}} == 1"), "{{service}} {{kind}}"),
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
    dashboard(
        CONTAINERS,
        "Compose services against their definition (running, healthy, restarts, drift) and what each container uses.",
        vec![label_variable("project", "Project", Source::Prometheus, "label_values(opsgen_service_up, project)")],
        Vec::new(),
        panels,
    )
}

/// Real filesystems: tmpfs is memory, overlay is each container's view of
/// a disk already counted.
const FILESYSTEMS: &str = "fstype!~\"tmpfs|overlay\"";

/// Share of CPU time not idle, per machine.
const CPU_BUSY: &str = "1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[$__rate_interval]))";

fn host(ctx: &Context<'_>) -> Dashboard {
    let fs = FILESYSTEMS;
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
    dashboard(
        HOST,
        "The machine under the stack (node_exporter): CPU, load, memory, filesystems, disk and network.",
        Vec::new(),
        Vec::new(),
        panels,
    )
}

/// The host dashboard's top row: is the machine busy, full or filling?
fn host_verdicts(ctx: &Context<'_>) -> Vec<Panel> {
    let fs = FILESYSTEMS;
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

fn logs() -> Dashboard {
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
    dashboard(
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
                query: "",
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
    fn datasources_and_provider_point_at_the_profile() {
        let files = generate(&Settings::default());
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
    fn cockpit_links_follow_the_enabled_components() {
        let link_urls = |profile: &Settings| -> Vec<String> {
            let cockpit = &dashboards_json(profile)["ops-cockpit.json"];
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

    #[test]
    fn the_cockpit_splits_ops_services_from_the_app() {
        let cockpit = &dashboards_json(&Settings::default())["ops-cockpit.json"];
        let exprs = promql_exprs(cockpit);
        let ops = exprs.iter().find(|e| e.starts_with("opsgen_service_up{service=~")).unwrap();
        assert!(
            ops.contains(
                "\"ops-gen|prometheus|grafana|loki|alloy|cadvisor|node-exporter|dozzle|uptime-kuma|socket-proxy\""
            ),
            "{ops}"
        );
        assert!(exprs.iter().any(|e| e.starts_with("opsgen_service_up{service!~")));
    }
}
