//! The status page at `/` and the same data as JSON at `/status.json`: green,
//! yellow or red per app service (from the `docker` check) and per check,
//! backup ages against their thresholds, drift, the latest smoke result,
//! each scheduled job's last result and next run (with a "run now" button
//! for admins), links to the profile's tools and the runbooks.
//!
//! One renderer: the page is plain server-rendered HTML, and its small
//! inline script refreshes itself by fetching `/` again and swapping the
//! live part, when the events stream says something changed (with a token)
//! or every 10 s (without). So everything shown is escaped once, here. The
//! script keeps an API token in `sessionStorage` and sends it only in the
//! `Authorization` header of `/api/ops/` calls. No external assets; one
//! column under 600 px.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::metrics::BackupRow;
use crate::compose::Colour;
use crate::config::HumanDuration;
use crate::config::checks::Kind;
use crate::config::profile::Component;
use crate::probe::runner::Snapshot;

/// Everything the page shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub revision: &'static str,
    /// Where the config came from.
    pub config: String,
    /// RFC 3339.
    pub generated_at: String,
    /// The worst light on the page.
    pub overall: Colour,
    pub checks: Vec<CheckRow>,
    /// App services, when a `docker` check exists and has run.
    pub services: Vec<ServiceRow>,
    pub drift: Option<Drift>,
    pub backups: Vec<BackupAge>,
    /// `None`: no smoke run yet (or a result this version cannot read).
    pub smoke: Option<Smoke>,
    /// The jobs of `schedule:`.
    pub jobs: Vec<JobRow>,
    pub links: Vec<Link>,
    pub runbooks: Vec<Link>,
}

/// One check, from the exporter's latest results.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    pub name: String,
    pub kind: String,
    /// Yellow until its first result.
    pub state: Colour,
    /// `None` until its first result.
    pub success: Option<bool>,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// RFC 3339.
    pub last_run: Option<String>,
    pub age_seconds: Option<u64>,
}

/// One app service, from the `docker` check.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceRow {
    pub service: String,
    /// Red: down or unhealthy; yellow: drifting or restarted; else green.
    pub state: Colour,
    pub up: bool,
    pub healthy: bool,
    pub restarts: i64,
    pub drift: Vec<String>,
    pub notes: Vec<String>,
}

/// What the `docker` check says about the whole project.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub check: String,
    pub project: Option<String>,
    pub state: Colour,
    pub services: usize,
    pub drifting: usize,
    /// Why the check failed, when it did.
    pub message: Option<String>,
}

/// One backed-up target.
#[derive(Debug, Clone, Serialize)]
pub struct BackupAge {
    pub target: String,
    /// Red: never or older than the threshold; yellow: the newest set does
    /// not match its manifest.
    pub state: Colour,
    /// RFC 3339; `None` when it never succeeded.
    pub last_success: Option<String>,
    pub age_seconds: Option<u64>,
    pub max_age_seconds: u64,
    pub verified: Option<bool>,
}

/// The newest `ops-gen smoke` result.
#[derive(Debug, Clone, Serialize)]
pub struct Smoke {
    pub state: Colour,
    pub success: bool,
    pub last_run_at: String,
    pub reason: Option<String>,
    /// The last failure, kept after later successes.
    pub last_failure_at: Option<String>,
    pub last_failure_reason: Option<String>,
}

/// One scheduled job, as the scheduler knows it, with its light.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    #[serde(flatten)]
    pub job: crate::jobs::JobStatus,
    /// Red: its last run failed; yellow: skipped for a held lock; else green.
    pub state: Colour,
}

/// A link the page offers.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub name: String,
    pub url: String,
}

/// Whatever the status page reads, gathered by the exporter.
#[derive(Debug)]
pub(super) struct Inputs<'a> {
    pub snapshot: &'a Snapshot,
    /// The sets ops-gen takes (file checks' rows come from `snapshot`).
    pub backups: &'a [BackupRow],
    pub config: &'a crate::config::Config,
    pub source: String,
    /// `output/smoke/latest.json`, if it could be read.
    pub smoke: Option<crate::output::SmokeLatest>,
    pub jobs: Vec<crate::jobs::JobStatus>,
    pub now: SystemTime,
}

fn light(c: Colour) -> &'static str {
    match c {
        Colour::Green => "green",
        Colour::Yellow => "yellow",
        Colour::Red => "red",
    }
}

fn worst(colours: impl IntoIterator<Item = Colour>) -> Colour {
    colours.into_iter().fold(Colour::Green, |a, b| match (a, b) {
        (Colour::Red, _) | (_, Colour::Red) => Colour::Red,
        (Colour::Yellow, _) | (_, Colour::Yellow) => Colour::Yellow,
        _ => Colour::Green,
    })
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn unix(seconds: f64) -> Option<SystemTime> {
    (seconds.is_finite() && seconds > 0.0).then(|| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds))
}

impl Status {
    pub(super) fn gather(inputs: &Inputs<'_>) -> Self {
        let now = inputs.now;
        let since = |t: SystemTime| now.duration_since(t).map_or(0, |d| d.as_secs());
        let mut checks = Vec::new();
        let mut services = Vec::new();
        let mut drift = None;
        for (check, result) in &inputs.snapshot.entries {
            let row = match result {
                None => CheckRow {
                    name: check.name.clone(),
                    kind: check.kind().to_string(),
                    state: Colour::Yellow,
                    success: None,
                    reason: None,
                    message: None,
                    last_run: None,
                    age_seconds: None,
                },
                Some(r) => CheckRow {
                    name: check.name.clone(),
                    kind: check.kind().to_string(),
                    state: if r.outcome.failure.is_some() { Colour::Red } else { Colour::Green },
                    success: Some(r.outcome.failure.is_none()),
                    reason: r.outcome.failure.as_ref().map(|f| f.reason.to_string()),
                    message: r.outcome.failure.as_ref().map(|f| f.message.clone()),
                    last_run: Some(rfc3339(r.finished)),
                    age_seconds: Some(since(r.finished)),
                },
            };
            if check.kind() == Kind::Docker && drift.is_none() {
                let state = result.as_ref().and_then(|r| r.outcome.found::<crate::probe::docker::State>());
                if let Some(state) = state {
                    services = state.services.iter().map(service_row).collect();
                }
                drift = Some(Drift {
                    check: check.name.clone(),
                    project: state.map(|s| s.project.clone()),
                    state: row.state,
                    services: state.map_or(0, |s| s.services.len()),
                    drifting: state.map_or(0, crate::probe::docker::State::drifting),
                    message: row.message.clone(),
                });
            }
            checks.push(row);
        }
        let backups = super::metrics::file_backup_rows(inputs.snapshot)
            .chain(inputs.backups.iter().cloned())
            .map(|b| backup_age(&b, now))
            .collect::<Vec<_>>();
        let smoke = inputs.smoke.as_ref().and_then(smoke);
        let jobs: Vec<JobRow> = inputs.jobs.iter().map(job_row).collect();
        let overall = worst(
            checks
                .iter()
                .map(|c| c.state)
                .chain(services.iter().map(|s| s.state))
                .chain(backups.iter().map(|b| b.state))
                .chain(smoke.iter().map(|s| s.state))
                .chain(jobs.iter().map(|j| j.state)),
        );
        let profile = &inputs.config.profile;
        let links = [Component::Grafana, Component::Dozzle, Component::UptimeKuma]
            .into_iter()
            .filter(|c| profile.enabled(*c))
            .filter_map(|c| {
                let url = profile.public_url(c)?;
                Some(Link { name: c.title().to_owned(), url: format!("{url}{}", c.start_path()) })
            })
            .collect();
        let runbooks = crate::runbook::ALL
            .iter()
            .map(|r| Link { name: r.title().to_owned(), url: format!("/runbooks/{}", r.topic) })
            .collect();
        Self {
            version: crate::build_info::VERSION,
            revision: crate::build_info::REVISION,
            config: inputs.source.clone(),
            generated_at: rfc3339(now),
            overall,
            checks,
            services,
            drift,
            backups,
            smoke,
            jobs,
            links,
            runbooks,
        }
    }
}

fn job_row(job: &crate::jobs::JobStatus) -> JobRow {
    use crate::jobs::RunResult;
    let state = match job.last_result {
        Some(RunResult::Failed) => Colour::Red,
        Some(RunResult::SkippedLocked) => Colour::Yellow,
        _ => Colour::Green,
    };
    JobRow { job: job.clone(), state }
}

fn service_row(s: &crate::probe::docker::ServiceState) -> ServiceRow {
    let state = if !s.up || !s.healthy {
        Colour::Red
    } else if !s.drift.is_empty() || s.restarts > 0 {
        Colour::Yellow
    } else {
        Colour::Green
    };
    ServiceRow {
        service: s.service.clone(),
        state,
        up: s.up,
        healthy: s.healthy,
        restarts: s.restarts,
        drift: s.drift.iter().map(ToString::to_string).collect(),
        notes: s.notes.clone(),
    }
}

fn backup_age(b: &BackupRow, now: SystemTime) -> BackupAge {
    let last = unix(b.last_success_timestamp_seconds);
    let age = last.map(|t| now.duration_since(t).map_or(0, |d| d.as_secs()));
    let verified = b.sets.as_ref().filter(|s| s.sets > 0).map(|s| s.verified);
    let state = match age {
        Some(age) if (age as f64) <= b.max_age_seconds => {
            if verified == Some(false) {
                Colour::Yellow
            } else {
                Colour::Green
            }
        }
        _ => Colour::Red,
    };
    BackupAge {
        target: b.target.clone(),
        state,
        last_success: last.map(rfc3339),
        age_seconds: age,
        max_age_seconds: Duration::try_from_secs_f64(b.max_age_seconds).map_or(0, |d| d.as_secs()),
        verified,
    }
}

/// The smoke result as the page shows it; a result without a run time
/// reads as "no smoke run yet".
fn smoke(latest: &crate::output::SmokeLatest) -> Option<Smoke> {
    let text = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    Some(Smoke {
        state: if latest.success { Colour::Green } else { Colour::Red },
        success: latest.success,
        last_run_at: text(&latest.last_run_at)?,
        reason: latest.reason.as_deref().and_then(text),
        last_failure_at: latest.last_failure.as_ref().and_then(|f| text(&f.at)),
        last_failure_reason: latest.last_failure.as_ref().and_then(|f| text(&f.reason)),
    })
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `3m`, `5h 2m`, `2d 4h`: how long ago, for people.
fn ago(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn dot(c: Colour) -> String {
    format!("<span class=\"dot\" title=\"{0}\"></span><span class=\"sr\">{0}</span>", light(c))
}

impl Status {
    /// The page.
    #[must_use]
    pub fn html(&self) -> String {
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ops-gen status</title>
<style>{STYLE}</style></head><body>
<header><h1>ops-gen</h1>
<form id="login" autocomplete="off"><label for="token">API token</label> <input id="token" type="password" autocomplete="off" placeholder="API token" spellcheck="false"> <button type="submit">Use token</button></form>
<span id="who" hidden></span> <button id="forget" type="button" hidden>Forget token</button>
<button class="admin" type="button" data-action="bundle">Capture bundle</button>
</header>
<p id="outcome" role="status" aria-live="polite"></p>
{live}
<footer>Config: {source} · <a href="/metrics">/metrics</a> · <a href="/status.json">/status.json</a> · <a href="/-/ready">/-/ready</a> · <a href="/runbooks/">/runbooks/</a> · <span id="mode">updates every 10 s</span> · ops-gen {version} ({revision})</footer>
<script>{SCRIPT}</script>
</body></html>
"#,
            live = self.live(),
            source = esc(&self.config),
            version = esc(self.version),
            revision = esc(self.revision),
        )
    }

    /// The part of the page the script swaps on refresh.
    fn live(&self) -> String {
        let mut out = format!(
            "<main id=\"live\" data-overall=\"{o}\" data-generated=\"{g}\"><p class=\"overall {o}\">{dot} Overall: <b>{o}</b> <small>as of {g}</small></p><div class=\"grid\">",
            o = light(self.overall),
            g = esc(&self.generated_at),
            dot = dot(self.overall),
        );
        self.checks_html(&mut out);
        self.services_html(&mut out);
        self.backups_html(&mut out);
        self.smoke_html(&mut out);
        self.jobs_html(&mut out);
        self.links_html(&mut out);
        out.push_str("</div></main>");
        out
    }

    fn checks_html(&self, out: &mut String) {
        out.push_str("<section class=\"wide\"><h2>Checks</h2><table id=\"checks\"><thead><tr><th>Check</th><th>Kind</th><th>State</th><th>Last run</th><th>Detail</th></tr></thead><tbody>");
        for c in &self.checks {
            let (state, detail) = match (c.success, &c.reason, &c.message) {
                (None, ..) => ("pending", "not run yet".to_owned()),
                (Some(true), ..) => ("ok", String::new()),
                (Some(false), reason, message) => (
                    "failing",
                    format!("{}: {}", reason.as_deref().unwrap_or("error"), message.as_deref().unwrap_or_default()),
                ),
            };
            let age = c.age_seconds.map_or_else(|| "–".to_owned(), |s| format!("{} ago", ago(s)));
            let _ = write!(
                out,
                "<tr class=\"{l}\" data-check=\"{name}\" data-state=\"{l}\"><td>{name}</td><td>{kind}</td><td>{dot}{state}</td><td title=\"{at}\">{age}</td><td>{detail}</td></tr>",
                l = light(c.state),
                name = esc(&c.name),
                kind = esc(&c.kind),
                dot = dot(c.state),
                at = esc(c.last_run.as_deref().unwrap_or_default()),
                detail = esc(&detail),
            );
        }
        if self.checks.is_empty() {
            out.push_str("<tr><td colspan=\"5\">No checks configured.</td></tr>");
        }
        out.push_str("</tbody></table></section>");
    }

    fn services_html(&self, out: &mut String) {
        out.push_str("<section><h2>Services and drift</h2>");
        let Some(drift) = &self.drift else {
            out.push_str("<p class=\"muted\">No <code>docker</code> check: add one (with <code>stack</code>) to see the app's services and drift here.</p></section>");
            return;
        };
        let _ = write!(
            out,
            "<p id=\"drift\" class=\"{l}\" data-state=\"{l}\">{dot}Project <b>{project}</b>: {services} service(s), {drifting} drifting{message}</p>",
            l = light(drift.state),
            dot = dot(drift.state),
            project = esc(drift.project.as_deref().unwrap_or("?")),
            services = drift.services,
            drifting = drift.drifting,
            message = drift
                .message
                .as_deref()
                .map(|m| format!(" · check <b>{}</b> failing: {}", esc(&drift.check), esc(m)))
                .unwrap_or_default(),
        );
        if !self.services.is_empty() {
            out.push_str("<table id=\"services\"><thead><tr><th>Service</th><th>State</th><th>Restarts</th><th>Drift</th><th></th></tr></thead><tbody>");
            for s in &self.services {
                let state = match (s.up, s.healthy) {
                    (false, _) => "down",
                    (true, false) => "unhealthy",
                    (true, true) => "up",
                };
                let drift = if s.drift.is_empty() { "–".to_owned() } else { s.drift.join(", ") };
                let _ = write!(
                    out,
                    "<tr class=\"{l}\" data-service=\"{name}\" data-state=\"{l}\"><td>{name}</td><td>{dot}{state}</td><td>{restarts}</td><td title=\"{notes}\">{drift}</td><td><button class=\"admin\" type=\"button\" data-action=\"restart\" data-service=\"{name}\">restart</button></td></tr>",
                    l = light(s.state),
                    name = esc(&s.service),
                    dot = dot(s.state),
                    restarts = s.restarts,
                    notes = esc(&s.notes.join("; ")),
                    drift = esc(&drift),
                );
            }
            out.push_str("</tbody></table>");
        }
        out.push_str("</section>");
    }

    fn backups_html(&self, out: &mut String) {
        out.push_str("<section><h2>Backups</h2>");
        if self.backups.is_empty() {
            out.push_str("<p class=\"muted\">No backup targets configured.</p></section>");
            return;
        }
        out.push_str(
            "<table id=\"backups\"><thead><tr><th>Target</th><th>Age</th><th>Threshold</th></tr></thead><tbody>",
        );
        for b in &self.backups {
            let age = b.age_seconds.map_or_else(|| "never".to_owned(), ago);
            let verified = match b.verified {
                Some(false) => " (not verified)",
                _ => "",
            };
            let _ = write!(
                out,
                "<tr class=\"{l}\" data-backup=\"{target}\" data-state=\"{l}\"><td>{target}</td><td title=\"{at}\">{dot}{age}{verified}</td><td>{max}</td></tr>",
                l = light(b.state),
                target = esc(&b.target),
                at = esc(b.last_success.as_deref().unwrap_or_default()),
                dot = dot(b.state),
                max = HumanDuration(Duration::from_secs(b.max_age_seconds)),
            );
        }
        out.push_str("</tbody></table></section>");
    }

    fn smoke_html(&self, out: &mut String) {
        out.push_str("<section id=\"smoke\"><h2>Smoke</h2>");
        match &self.smoke {
            None => out.push_str(
                "<p class=\"muted\" data-state=\"none\">No smoke run yet: run <code>ops-gen smoke</code>.</p>",
            ),
            Some(s) => {
                let _ = write!(
                    out,
                    "<p class=\"{l}\" data-state=\"{l}\">{dot}{result} at {at}{reason}</p>",
                    l = light(s.state),
                    dot = dot(s.state),
                    result = if s.success { "passed" } else { "failed" },
                    at = esc(&s.last_run_at),
                    reason = s.reason.as_deref().map(|r| format!(": {}", esc(r))).unwrap_or_default(),
                );
                if let (true, Some(at), Some(reason)) = (s.success, &s.last_failure_at, &s.last_failure_reason) {
                    let _ = write!(out, "<p class=\"muted\">Last failure at {}: {}</p>", esc(at), esc(reason));
                }
            }
        }
        out.push_str("</section>");
    }

    fn jobs_html(&self, out: &mut String) {
        out.push_str("<section class=\"wide\" id=\"jobs\"><h2>Jobs</h2>");
        if self.jobs.is_empty() {
            out.push_str("<p class=\"muted\">No scheduled jobs: <code>schedule.jobs</code> in ops-gen.yml runs backups, verification, drills, smoke and storage clean from here.</p></section>");
            return;
        }
        out.push_str("<table id=\"job-table\"><thead><tr><th>Job</th><th>Schedule</th><th>Last result</th><th>Next run</th><th></th></tr></thead><tbody>");
        for row in &self.jobs {
            let j = &row.job;
            let running = j.live.as_ref().is_some_and(|l| l.running_since.is_some());
            let last = match (j.last_result, running) {
                (_, true) => "running…".to_owned(),
                (None, false) => "not run yet".to_owned(),
                (Some(result), false) => format!(
                    "{result} at {}{}",
                    j.last_result_at.as_deref().unwrap_or("?"),
                    j.last_detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
                ),
            };
            let _ = write!(
                out,
                "<tr class=\"{l}\" data-job=\"{name}\" data-state=\"{l}\"><td>{name} <small>({run})</small></td><td>{schedule}</td><td>{dot}{last}</td><td>{next}</td><td><button class=\"admin\" type=\"button\" data-action=\"job\" data-job=\"{name}\">run now</button></td></tr>",
                l = light(row.state),
                name = esc(&j.name),
                run = esc(&j.run.to_string()),
                schedule = esc(&j.schedule),
                dot = dot(row.state),
                last = esc(&last),
                next = esc(j.next_run_at.as_deref().unwrap_or("–")),
            );
        }
        out.push_str("</tbody></table></section>");
    }

    fn links_html(&self, out: &mut String) {
        out.push_str("<section><h2>Links</h2><ul id=\"links\">");
        for l in &self.links {
            let _ = write!(out, "<li><a href=\"{}\">{}</a></li>", esc(&l.url), esc(&l.name));
        }
        if self.links.is_empty() {
            out.push_str("<li class=\"muted\">Grafana, Dozzle and Uptime Kuma are not in the profile.</li>");
        }
        out.push_str("</ul><h3>Runbooks</h3><ul id=\"runbooks\">");
        for l in &self.runbooks {
            let _ = write!(out, "<li><a href=\"{}\">{}</a></li>", esc(&l.url), esc(&l.name));
        }
        out.push_str("</ul></section>");
    }
}

const STYLE: &str = include_str!("status.css");
const SCRIPT: &str = include_str!("status.js");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn smoke_results_are_read_defensively() {
        let failed = br#"{"success": false, "last_run_at": "2026-11-23T06:00:00Z", "last_run_timestamp_seconds": 1.0,
            "result": "output/smoke/x/result.json", "reason": "loki push and query: <timeout>", "future_field": [1]}"#;
        let s = crate::output::SmokeLatest::parse(failed).and_then(|l| smoke(&l)).unwrap();
        assert_eq!(
            (s.success, s.state, s.reason.as_deref()),
            (false, Colour::Red, Some("loki push and query: <timeout>"))
        );
        let passed = br#"{"success": true, "last_run_at": "2026-11-23T07:00:00Z",
            "last_failure": {"at": "2026-11-23T06:00:00Z", "reason": "grafana: 502"}}"#;
        let s = crate::output::SmokeLatest::parse(passed).and_then(|l| smoke(&l)).unwrap();
        assert_eq!((s.state, s.last_failure_reason.as_deref()), (Colour::Green, Some("grafana: 502")));
        for unreadable in [&b""[..], b"{", b"[]", br#"{"success": "yes", "last_run_at": "x"}"#, br#"{"success": true}"#]
        {
            assert!(
                crate::output::SmokeLatest::parse(unreadable).and_then(|l| smoke(&l)).is_none(),
                "{}",
                String::from_utf8_lossy(unreadable)
            );
        }
    }

    #[test]
    fn everything_from_config_and_checks_is_escaped() {
        let evil = "<script>alert('x')</script>";
        let status = Status {
            version: "1",
            revision: "r",
            config: evil.to_owned(),
            generated_at: evil.to_owned(),
            overall: Colour::Red,
            checks: vec![CheckRow {
                name: evil.to_owned(),
                kind: evil.to_owned(),
                state: Colour::Red,
                success: Some(false),
                reason: Some(evil.to_owned()),
                message: Some(evil.to_owned()),
                last_run: Some(evil.to_owned()),
                age_seconds: Some(1),
            }],
            services: vec![ServiceRow {
                service: evil.to_owned(),
                state: Colour::Yellow,
                up: true,
                healthy: true,
                restarts: 1,
                drift: vec![evil.to_owned()],
                notes: vec![evil.to_owned()],
            }],
            drift: Some(Drift {
                check: evil.to_owned(),
                project: Some(evil.to_owned()),
                state: Colour::Red,
                services: 1,
                drifting: 1,
                message: Some(evil.to_owned()),
            }),
            backups: vec![BackupAge {
                target: evil.to_owned(),
                state: Colour::Red,
                last_success: Some(evil.to_owned()),
                age_seconds: None,
                max_age_seconds: 60,
                verified: Some(false),
            }],
            smoke: Some(Smoke {
                state: Colour::Green,
                success: true,
                last_run_at: evil.to_owned(),
                reason: Some(evil.to_owned()),
                last_failure_at: Some(evil.to_owned()),
                last_failure_reason: Some(evil.to_owned()),
            }),
            jobs: vec![JobRow {
                job: crate::jobs::JobStatus {
                    name: evil.to_owned(),
                    run: crate::config::schedule::Kind::Backup,
                    schedule: evil.to_owned(),
                    last_result: Some(crate::jobs::RunResult::Failed),
                    last_result_at: Some(evil.to_owned()),
                    last_detail: Some(evil.to_owned()),
                    last_run_timestamp_seconds: 1.0,
                    last_success_timestamp_seconds: 0.0,
                    last_duration_seconds: 1.0,
                    next_run_timestamp_seconds: 0.0,
                    next_run_at: Some(evil.to_owned()),
                    live: None,
                },
                state: Colour::Red,
            }],
            links: vec![Link { name: evil.to_owned(), url: evil.to_owned() }],
            runbooks: vec![Link { name: evil.to_owned(), url: evil.to_owned() }],
        };
        let page = status.html();
        // The page's own script is the only one.
        assert_eq!(page.matches("<script>").count(), 1, "{page}");
        assert!(!page.contains("alert('x')"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), "{page}");
    }

    #[test]
    fn ages_read_like_people_write_them() {
        assert_eq!([ago(5), ago(125), ago(3 * 3600 + 120), ago(2 * 86_400 + 3600)], ["5s", "2m", "3h 2m", "2d 1h"]);
    }

    #[test]
    fn the_worst_light_wins() {
        assert_eq!(worst([]), Colour::Green);
        assert_eq!(worst([Colour::Green, Colour::Yellow]), Colour::Yellow);
        assert_eq!(worst([Colour::Yellow, Colour::Red, Colour::Green]), Colour::Red);
    }
}
