//! The `/metrics` exposition: every series of a [`Snapshot`], encoded with
//! prometheus-client as OpenMetrics, or as Prometheus text 0.0.4 for clients
//! that ask only for that.
//!
//! Series are produced fresh for every scrape from the snapshot by a
//! [`Collector`], so a check removed by a reload disappears, while every
//! configured check always has its success, duration and last-run series
//! (zero when it never ran), so alerts can fire on "never succeeded".

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::probe::Entry;
use crate::probe::file_freshness::Freshness;
use crate::probe::runner::{Completed, FailureLedger, Snapshot};
use crate::series;

/// `Content-Type` of the OpenMetrics answer.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the classic text answer.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition format a client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    /// Picks the format from an `Accept` header: OpenMetrics when the client
    /// accepts it at least as much as plain text, text otherwise (also when
    /// there is no header, as curl and old clients expect).
    #[must_use]
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Text;
        };
        let mut openmetrics = 0.0_f32;
        let mut text = 0.0_f32;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts.find_map(|p| p.strip_prefix("q=").and_then(|v| v.parse::<f32>().ok())).unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text { Self::OpenMetrics } else { Self::Text }
    }

    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Self::Text => TEXT_CONTENT_TYPE,
        }
    }
}

/// Facts about the process itself.
#[derive(Debug, Clone)]
pub struct SelfState {
    pub version: &'static str,
    pub revision: &'static str,
    pub config_last_reload_success: bool,
    pub config_last_reload_timestamp_seconds: f64,
    /// The latest `ops-gen smoke` result.
    pub smoke: crate::ops::smoke::Series,
    /// When the backup folder and the smoke result were last read (0: not
    /// yet).
    pub disk_read_timestamp_seconds: f64,
    /// The jobs of `schedule:`, as the scheduler knows them.
    pub jobs: Vec<crate::jobs::JobStatus>,
}

/// Every series but the per-scrape one, encoded once and served to every
/// scrape whose results it holds (see `Exporter::render`).
#[derive(Debug)]
pub struct Rendered {
    /// OpenMetrics, without the final `# EOF`.
    openmetrics: String,
    /// The text 0.0.4 form, made on first request.
    text: std::sync::OnceLock<String>,
}

const SCRAPE_DURATION_HELP: &str = "Time this scrape spent running or waiting for checks.";

impl Rendered {
    /// Encodes the snapshot's series (one pass of prometheus-client).
    #[must_use]
    /// `me` is `None` for `/probe` answers, which hold only the probed
    /// check's series.
    pub fn new(
        snapshot: Arc<Snapshot>,
        ledger: Arc<FailureLedger>,
        backups: Arc<Vec<BackupRow>>,
        me: Option<SelfState>,
    ) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Exposition { snapshot, ledger, backups, me }));
        let mut openmetrics = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut openmetrics, &registry);
        Self { openmetrics, text: std::sync::OnceLock::new() }
    }

    /// The full answer: the cached series, then this scrape's duration.
    #[must_use]
    pub fn body(&self, format: Format, scrape_duration: std::time::Duration) -> String {
        let prefix = match format {
            Format::OpenMetrics => &self.openmetrics,
            Format::Text => self.text.get_or_init(|| openmetrics_to_text(&self.openmetrics)),
        };
        let mut out = String::with_capacity(prefix.len() + 256);
        out.push_str(prefix);
        let seconds = scrape_duration.as_secs_f64();
        let name = series::SCRAPE_DURATION_SECONDS;
        let _ = writeln!(out, "# HELP {name} {SCRAPE_DURATION_HELP}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {seconds:?}");
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

#[derive(Debug)]
struct Exposition {
    snapshot: Arc<Snapshot>,
    ledger: Arc<FailureLedger>,
    backups: Arc<Vec<BackupRow>>,
    me: Option<SelfState>,
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn bool_gauge(b: bool) -> i64 {
    i64::from(b)
}

impl Exposition {
    fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        self.snapshot.entries.iter().map(|(c, r)| (c.as_ref(), r.as_deref()))
    }

    /// One gauge family over every check, labelled `check` and `kind`.
    fn check_gauge(
        &self,
        enc: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(Option<&Completed>) -> f64,
    ) -> std::fmt::Result {
        let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (check, result) in self.entries() {
            let labels = [("check", check.name.as_str()), ("kind", check.kind().as_str())];
            family.encode_family(&labels)?.encode_gauge(&value(result))?;
        }
        Ok(())
    }

    /// The backup series: of `file_freshness` checks (the newest matching
    /// file) and of the sets ops-gen takes itself, in the same families.
    fn backup_series(&self, enc: &mut DescriptorEncoder) -> std::fmt::Result {
        let rows: Vec<BackupRow> = file_backup_rows(&self.snapshot).chain(self.backups.iter().cloned()).collect();
        if rows.is_empty() {
            return Ok(());
        }
        let all: [BackupFamily; 11] = [
            (
                series::BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS,
                "When the newest successful backup finished (a set) or was written (a file), in Unix seconds; 0 when there is none.",
                |r| Some(r.last_success_timestamp_seconds),
            ),
            (
                series::BACKUP_MAX_AGE_SECONDS,
                "The configured freshness threshold of the backup, so alert rules need no hard-coded ages.",
                |r| Some(r.max_age_seconds),
            ),
            (series::BACKUP_SIZE_BYTES, "Size of the newest successful backup, in bytes.", |r| {
                Some(r.size_bytes as f64)
            }),
            (
                series::BACKUP_DURATION_SECONDS,
                "How long the newest successful backup of the target took (sets taken by ops-gen).",
                |r| r.sets.as_ref().map(|s| s.duration_seconds),
            ),
            (
                series::BACKUP_VERIFIED,
                "1 when the newest successful copy of the target passed `ops-gen backup verify` (sets taken by ops-gen).",
                |r| r.sets.as_ref().map(|s| f64::from(u8::from(s.verified))),
            ),
            (series::BACKUP_SETS, "Sets holding a successful backup of the target (sets taken by ops-gen).", |r| {
                r.sets.as_ref().map(|s| s.sets as f64)
            }),
            (
                series::BACKUP_LAST_FAILURE_TIMESTAMP_SECONDS,
                "When a backup of the target last failed (a run where every target failed writes no set, only a record), in Unix seconds; 0 when none did.",
                |r| r.sets.as_ref().map(|s| s.last_failure_timestamp_seconds),
            ),
            (
                series::BACKUP_RETENTION_BLOCKED,
                "1 while retention deletes nothing because the newest set's recorded time lies in the future (the clock was ahead); see the runbook backup-retention-blocked.",
                |r| r.sets.as_ref().map(|s| f64::from(u8::from(s.retention_blocked))),
            ),
            (
                series::RESTORE_DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS,
                "When a restore drill of the target last passed, in Unix seconds; 0 when none ever did.",
                |r| r.sets.as_ref().filter(|s| s.drillable).map(|s| s.drill_last_success_timestamp_seconds),
            ),
            (
                series::RESTORE_DRILL_SUCCESS,
                "Whether the newest restore drill of the target passed (0 also when never drilled).",
                |r| r.sets.as_ref().filter(|s| s.drillable).map(|s| f64::from(u8::from(s.drill_success))),
            ),
            (
                series::RESTORE_DRILL_DURATION_SECONDS,
                "The newest drill's measured restore time: start of a throwaway instance to restored data.",
                |r| r.sets.as_ref().filter(|s| s.drillable).map(|s| s.drill_duration_seconds),
            ),
        ];
        for (name, help, value) in all {
            if rows.iter().all(|r| value(r).is_none()) {
                continue;
            }
            let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for row in &rows {
                if let Some(v) = value(row) {
                    family.encode_family(&[("target", row.target.as_str())])?.encode_gauge(&v)?;
                }
            }
        }
        Ok(())
    }
}

/// Name, help and value (if the row has one) of a backup family.
type BackupFamily = (&'static str, &'static str, fn(&BackupRow) -> Option<f64>);

/// The backup rows of `file_freshness` checks (the newest matching file).
/// They always report, also before their first run, so "backup never
/// succeeded" can alert from the first scrape.
pub fn file_backup_rows(snapshot: &Snapshot) -> impl Iterator<Item = BackupRow> + '_ {
    snapshot.entries.iter().filter_map(|(check, result)| {
        let crate::config::checks::Spec::FileFreshness(spec) = &check.spec else {
            return None;
        };
        let (last, size) = result
            .as_ref()
            .and_then(|r| r.outcome.found::<Freshness>())
            .map_or((0.0, 0), |f| (f.last_success_timestamp_seconds, f.size_bytes));
        Some(BackupRow {
            target: check.name.clone(),
            last_success_timestamp_seconds: last,
            max_age_seconds: spec.max_age.get().as_secs_f64(),
            size_bytes: size,
            sets: None,
        })
    })
}

/// One target's backup series.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupRow {
    pub target: String,
    pub last_success_timestamp_seconds: f64,
    pub max_age_seconds: f64,
    pub size_bytes: u64,
    /// Facts only sets taken by ops-gen have.
    pub sets: Option<SetFacts>,
}

/// What ops-gen's own sets add to a backup row: independent facts, each
/// exported as its own 0/1 gauge.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::struct_excessive_bools)]
pub struct SetFacts {
    pub duration_seconds: f64,
    pub verified: bool,
    pub sets: u64,
    /// Whether the target can be drilled (an S3 target only when mirrored);
    /// the drill series are left out when it cannot.
    pub drillable: bool,
    /// When a restore drill of the target last passed (0: never).
    pub drill_last_success_timestamp_seconds: f64,
    /// Whether the newest drill passed.
    pub drill_success: bool,
    /// The newest drill's measured restore time (0: never drilled).
    pub drill_duration_seconds: f64,
    /// When a backup of the target last failed (0: never).
    pub last_failure_timestamp_seconds: f64,
    /// Whether retention is keeping every copy because the newest set lies
    /// in the future (a clock jump).
    pub retention_blocked: bool,
}

impl Collector for Exposition {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        self.check_series(&mut enc)?;
        let entries: Vec<Entry<'_>> = self.entries().collect();
        crate::probe::encode_series(&entries, &mut enc)?;
        self.backup_series(&mut enc)?;
        match &self.me {
            Some(me) => self_series(me, &mut enc),
            None => Ok(()),
        }
    }
}

impl Exposition {
    /// The standard series every check has, whatever its kind.
    fn check_series(&self, enc: &mut DescriptorEncoder) -> std::fmt::Result {
        self.check_gauge(
            enc,
            series::CHECK_SUCCESS,
            "Whether the check's last run succeeded (1) or not (0); 0 also when it never ran.",
            |r| r.map_or(0.0, |r| f64::from(u8::from(r.outcome.is_success()))),
        )?;
        self.check_gauge(enc, series::CHECK_DURATION_SECONDS, "How long the check's last run took.", |r| {
            r.map_or(0.0, |r| r.duration.as_secs_f64())
        })?;
        self.check_gauge(
            enc,
            series::CHECK_LAST_RUN_TIMESTAMP_SECONDS,
            "When the check last finished, in Unix seconds; 0 when it never ran.",
            |r| r.map_or(0.0, |r| unix_seconds(r.finished)),
        )?;

        let mut failures = enc.encode_descriptor(
            series::CHECK_FAILURES,
            "Failed runs of the check, by reason (timeout, connect, tls, auth, status, body, protocol, query, missing, stale, too_small, io, internal).",
            None,
            MetricType::Counter,
        )?;
        for (check, _) in self.entries() {
            for (reason, count) in self.ledger.counts(&check.name, check.kind()) {
                let labels =
                    [("check", check.name.as_str()), ("kind", check.kind().as_str()), ("reason", reason.as_str())];
                failures.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&count, None)?;
            }
        }

        Ok(())
    }
}

/// Facts about the exporter itself (not in `/probe` answers).
fn self_series(me: &SelfState, enc: &mut DescriptorEncoder) -> std::fmt::Result {
    enc.encode_descriptor(series::BUILD, "Version and git revision of this ops-gen binary.", None, MetricType::Info)?
        .encode_info(&[("version", me.version), ("revision", me.revision)])?;
    enc.encode_descriptor(
        series::CONFIG_LAST_RELOAD_SUCCESS,
        "Whether the last config (re)load succeeded; a failed reload keeps the previous config running.",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&bool_gauge(me.config_last_reload_success))?;
    enc.encode_descriptor(
        series::CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
        "When the config was last loaded successfully, in Unix seconds.",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&me.config_last_reload_timestamp_seconds)?;
    enc.encode_descriptor(
        series::SMOKE_SUCCESS,
        "Whether the last `ops-gen smoke` run passed every step (0 also when it never ran); from output/smoke/latest.json.",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&bool_gauge(me.smoke.success))?;
    enc.encode_descriptor(
        series::SMOKE_LAST_RUN_TIMESTAMP_SECONDS,
        "When `ops-gen smoke` last ran, in Unix seconds; 0 when it never ran. It runs after changes, not on a schedule.",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&me.smoke.last_run_timestamp_seconds)?;
    enc.encode_descriptor(
        series::DISK_READ_TIMESTAMP_SECONDS,
        "When the backup folder and the smoke result were last read for these series (every second, off the request path); falling behind means a folder hangs and the backup and smoke series are stale.",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&me.disk_read_timestamp_seconds)?;
    job_series(&me.jobs, enc)
}

/// Name, help and value of a job family.
type JobGauge = (&'static str, &'static str, fn(&crate::jobs::JobStatus) -> f64);

/// The scheduled jobs' series, when the config has jobs: every job has
/// every family, and its run counter every result, from the start.
fn job_series(jobs: &[crate::jobs::JobStatus], enc: &mut DescriptorEncoder) -> std::fmt::Result {
    if jobs.is_empty() {
        return Ok(());
    }
    let gauges: [JobGauge; 4] = [
        (
            series::JOB_LAST_RUN_TIMESTAMP_SECONDS,
            "When the job's last run (that succeeded or failed) finished, in Unix seconds; 0 when it never ran.",
            |j| j.last_run_timestamp_seconds,
        ),
        (
            series::JOB_LAST_SUCCESS_TIMESTAMP_SECONDS,
            "When the job last succeeded, in Unix seconds; 0 when it never did.",
            |j| j.last_success_timestamp_seconds,
        ),
        (
            series::JOB_NEXT_RUN_TIMESTAMP_SECONDS,
            "When the job's schedule runs it next, in Unix seconds (before the random jitter); 0 for a job that runs after another.",
            |j| j.next_run_timestamp_seconds,
        ),
        (series::JOB_DURATION_SECONDS, "How long the job's last run took; 0 when it never ran.", |j| {
            j.last_duration_seconds
        }),
    ];
    for (name, help, value) in gauges {
        let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for job in jobs {
            family.encode_family(&[("job", job.name.as_str())])?.encode_gauge(&value(job))?;
        }
    }
    let mut runs = enc.encode_descriptor(
        series::JOB_RUNS,
        "The job's times since ops-gen started, by result: ok, failed, skipped_overlap (still running at its next time), skipped_locked (another process held the backup folder), missed (due while ops-gen was down; run once at start with catch_up).",
        None,
        MetricType::Counter,
    )?;
    for job in jobs {
        for result in crate::jobs::RunResult::ALL {
            let count = job.live.as_ref().and_then(|l| l.runs.get(&result).copied()).unwrap_or(0);
            runs.encode_family(&[("job", job.name.as_str()), ("result", result.as_str())])?
                .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
        }
    }
    Ok(())
}

/// Rewrites OpenMetrics into the Prometheus text format 0.0.4: counter and
/// info families take their sample names, `# UNIT` and `# EOF` go.
fn openmetrics_to_text(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut pending_help: Option<(&str, &str)> = None;
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            pending_help = rest.split_once(' ').or(Some((rest, "")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "gauge" | "histogram" | "summary" => (name.to_owned(), kind),
                _ => (name.to_owned(), "untyped"),
            };
            if let Some((_, help)) = pending_help.take() {
                let _ = writeln!(out, "# HELP {name} {help}");
            }
            let _ = writeln!(out, "# TYPE {name} {kind}");
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_like_prometheus_expects() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("text/plain;version=0.0.4;q=1,*/*;q=0.1")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text;q=0")), Format::Text);
    }

    #[test]
    fn text_format_renames_counters_and_infos() {
        let om = "# HELP a_x Things.\n# TYPE a_x counter\na_x_total 3\n# HELP b Build.\n# TYPE b info\nb_info{v=\"1\"} 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om),
            "# HELP a_x_total Things.\n# TYPE a_x_total counter\na_x_total 3\n# HELP b_info Build.\n# TYPE b_info gauge\nb_info{v=\"1\"} 1\n"
        );
    }
}
