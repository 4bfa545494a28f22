//! `ops-gen health`: is each running piece up right now, asked the way it
//! answers for itself?
//!
//! One line per enabled component of the ops profile that is published on
//! the host, from its own health endpoint ([`Component::health_path`]) on
//! 127.0.0.1 at the port the profile gives it (`profile.ports`), and one
//! line per target, from the target's own check. The endpoints are asked
//! through the `http` check kind and everything runs through the probe
//! runner: concurrently, each request under the one per-request limit,
//! targets under their own `timeout`. A hung component is down after that
//! limit and never stalls the answer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::checks::{Kind, Spec};
use crate::config::profile::Component;
use crate::config::{Config, HumanDuration};
use crate::probe::runner::Completed;
use crate::probe::{BuildError, Reason};

/// One component or target.
#[derive(Debug, Serialize)]
pub struct Line {
    /// The compose service (`prometheus`) or the target's name.
    pub name: String,
    /// How people call it (`Prometheus`), or the target's name and kind.
    pub title: String,
    /// `component`, or the target's kind.
    pub kind: String,
    /// The health endpoint asked (components only: targets' addresses can
    /// hold credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub up: bool,
    pub latency_seconds: f64,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// What it said, or why it is down.
    pub detail: String,
}

/// What `ops-gen health` found (`--json` prints this).
#[derive(Debug, Serialize)]
pub struct Report {
    /// Every component and target is up.
    pub success: bool,
    pub components: Vec<Line>,
    pub targets: Vec<Line>,
}

/// The health endpoints of the enabled, published components, in
/// [`Component::ALL`] order.
#[must_use]
pub fn endpoints(config: &Config) -> Vec<(Component, String)> {
    Component::ALL
        .into_iter()
        .filter(|c| config.profile.enabled(*c))
        .filter_map(|c| Some((c, format!("http://127.0.0.1:{}{}", config.profile.host_port(c)?, c.health_path()))))
        .collect()
}

/// Asks every component (each request under `timeout`) and every target,
/// all at once.
pub async fn run(config: &Config, timeout: Duration) -> Result<Report, BuildError> {
    let endpoints = endpoints(config);
    let mut run = config.clone();
    run.checks = endpoints
        .iter()
        .map(|(c, url)| {
            let spec = serde_json::json!({"url": url, "timeout": HumanDuration(timeout).to_string()});
            let spec = serde_json::from_value(spec)
                .map_err(|e| BuildError { name: c.name().to_owned(), message: e.to_string() })?;
            Ok((c.name().to_owned(), Spec::Http(spec)))
        })
        .collect::<Result<_, BuildError>>()?;
    run.canaries.clear();
    let snapshot = crate::ops::run_once(&run).await?;
    let now = SystemTime::now();
    let mut components: BTreeMap<Component, Line> = BTreeMap::new();
    let mut targets = Vec::new();
    for (check, result) in &snapshot.entries {
        let (up, latency_seconds, reason, detail) = outcome(result.as_deref(), now);
        if check.kind() == Kind::Http
            && let Some((c, url)) = endpoints.iter().find(|(c, _)| c.name() == check.name)
        {
            let line = Line {
                name: c.name().to_owned(),
                title: c.title().to_owned(),
                kind: "component".to_owned(),
                url: Some(url.clone()),
                up,
                latency_seconds,
                reason,
                detail,
            };
            components.insert(*c, line);
        } else {
            targets.push(Line {
                name: check.name.clone(),
                title: format!("{} ({})", check.name, check.kind()),
                kind: check.kind().to_string(),
                url: None,
                up,
                latency_seconds,
                reason,
                detail,
            });
        }
    }
    let components: Vec<Line> = components.into_values().collect();
    let success = components.iter().chain(&targets).all(|l| l.up);
    Ok(Report { success, components, targets })
}

fn outcome(result: Option<&Completed>, now: SystemTime) -> (bool, f64, Option<Reason>, String) {
    match result {
        None => (false, 0.0, None, "did not run".to_owned()),
        Some(r) => match &r.outcome.failure {
            None => (true, r.duration.as_secs_f64(), None, r.outcome.describe(now)),
            Some(f) => (false, r.duration.as_secs_f64(), Some(f.reason), format!("{}: {}", f.reason, f.message)),
        },
    }
}

/// The text for people: one aligned line per component, then per target,
/// then what to do when something is down.
#[must_use]
pub fn render(report: &Report, color: bool) -> String {
    use crate::compose::preflight::Status;
    let lines: Vec<&Line> = report.components.iter().chain(&report.targets).collect();
    let width = lines.iter().map(|l| l.title.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for l in &lines {
        let mark = super::doctor::paint(if l.up { Status::Ok } else { Status::Fail }, color);
        let latency = crate::report::format_ms(Duration::from_secs_f64(l.latency_seconds));
        let said = match (&l.url, l.detail.is_empty()) {
            (Some(url), true) => url.clone(),
            (Some(url), false) => format!("{url}: {}", l.detail),
            (None, _) => l.detail.clone(),
        };
        let state = if l.up { "up" } else { "DOWN" };
        let _ = writeln!(out, "{mark} {:<width$}  {state:<4}  {latency:>8}  {said}", l.title);
    }
    if lines.is_empty() {
        out.push_str("(no component enabled and no target configured)\n");
    }
    let down = lines.iter().filter(|l| !l.up).count();
    if down > 0 {
        let _ = writeln!(
            out,
            "health: {down} of {} down; see `ops-gen compose status` and `ops-gen compose logs SERVICE`",
            lines.len()
        );
    }
    out
}
