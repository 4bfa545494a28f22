//! `ops-gen bundle`: a diagnostics bundle to hand to a helper, in seconds.
//!
//! `output/ops/<UTC timestamp>/` holds `metrics-summary.json` (the running
//! exporter's series, summarised), `log-tail.txt` (the last lines of every
//! container of the Compose project, [`super::logs`]), `health.json` (what
//! `ops-gen health --json` says), `context.json` ([`super::context`]) and
//! `bundle.json` (this index: each part's status, time and size, and what
//! the size cap cut); the same files go into one `.tar.gz` next to it.
//!
//! Secrets are redacted in every part by one [`crate::config::redact::Redactor`] that first learns
//! the config's secrets and the secret-looking environment of the stack's
//! containers. Parts are collected concurrently, each under
//! [`Options::part_timeout`]: a part that fails or hangs is recorded, the
//! others are still written, and the bundle is marked partial. The folder
//! is kept under [`Options::max_bytes`], cutting the oldest log lines first
//! and naming what was cut in `TRUNCATED.txt`.
//!
//! [`collect`] is the library entry point; the ops API serves the same
//! bundle over HTTP.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::compose::Project;
use crate::config::{HumanDuration, Loaded};
use crate::docker::Docker;

/// Where bundles are written (relative to the current folder).
pub const DIR: &str = "output/ops";
/// The index of a bundle.
pub const INDEX: &str = "bundle.json";
/// The note naming what the size cap cut.
pub const TRUNCATED: &str = "TRUNCATED.txt";

/// What to collect and how far to go.
#[derive(Debug, Clone)]
pub struct Options {
    /// The folder bundles go in ([`DIR`]).
    pub dir: PathBuf,
    /// The archive's path (default: `<dir>/<timestamp>.tar.gz`).
    pub out: Option<PathBuf>,
    /// Log lines per container.
    pub tail: usize,
    /// Each part's limit.
    pub part_timeout: Duration,
    /// The folder's size cap (the archive is smaller).
    pub max_bytes: u64,
    /// The exporter's `/metrics` [default: from the config, see [`metrics_url`]].
    pub metrics_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(DIR),
            out: None,
            tail: 1000,
            part_timeout: Duration::from_secs(10),
            max_bytes: 50 * 1024 * 1024,
            metrics_url: None,
        }
    }
}

/// How a part ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PartStatus {
    Ok,
    Failed,
    Timeout,
}

/// One part of the bundle, as `bundle.json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub file: &'static str,
    pub status: PartStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub seconds: f64,
    pub bytes: u64,
}

/// What [`collect`] made (`bundle.json`, and `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    /// Every part was collected in full (the size cap aside).
    pub complete: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub folder: PathBuf,
    pub archive: PathBuf,
    pub archive_bytes: u64,
    pub parts: Vec<Part>,
    /// What the size cap cut (also in `TRUNCATED.txt`).
    pub truncated: Vec<String>,
    pub duration_seconds: f64,
}

/// Why no bundle could be written at all.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot write the bundle in {}: {source} (make it writable, or choose another place with --out)", path.display())]
    Unwritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The exporter's `/metrics` on this host: the profile's published
/// exporter port, else the config's `listen` (0.0.0.0 asked at 127.0.0.1).
#[must_use]
pub fn metrics_url(loaded: &Loaded) -> String {
    use crate::config::profile::Component;
    let profile = &loaded.config.profile;
    let port = profile.enabled(Component::Exporter).then(|| profile.host_port(Component::Exporter)).flatten();
    let mut listen = loaded.config.listen;
    if let Some(port) = port {
        listen.set_port(port);
    }
    if listen.ip().is_unspecified() {
        listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{listen}/metrics")
}

/// A part's content, or why there is none.
type Collected = Result<Vec<u8>, String>;

/// Collects a bundle of the stack of `project` into `options.dir`.
pub async fn collect(loaded: &Loaded, project: &Project, options: &Options) -> Result<BundleReport, BundleError> {
    let started = Instant::now();
    let now = SystemTime::now();
    // Fail before any work when the bundle cannot be written.
    let unwritable = |path: &Path| {
        let path = path.to_owned();
        move |source| BundleError::Unwritable { path, source }
    };
    std::fs::create_dir_all(&options.dir).map_err(unwritable(&options.dir))?;
    let folder = super::unique_dir(&options.dir, &crate::backup::set_name(now)).map_err(unwritable(&options.dir))?;
    let name = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let archive = options.out.clone().unwrap_or_else(|| options.dir.join(format!("{name}.tar.gz")));

    let limit = options.part_timeout;
    let docker = tokio::time::timeout(limit, Docker::connect()).await.ok().and_then(Result::ok);
    let (redactor, env) = super::context::redactor(loaded, docker.as_ref(), &project.name, limit).await;
    let redactor = &redactor;
    let metrics_url = options.metrics_url.clone().unwrap_or_else(|| metrics_url(loaded));

    let metrics = part(limit, async {
        // When no exporter answers (which is when a bundle is most needed),
        // the checks run here, and the summary says so.
        let summary = match fetch(&metrics_url, limit.mul_f32(0.3)).await {
            Ok(text) => summarise(&metrics_url, &text),
            Err(unreachable) => {
                let snapshot = super::run_once(&loaded.config).await.map_err(|e| e.to_string())?;
                let source = format!("the checks, run by this bundle: {unreachable}");
                summarise(&source, &exposition(&snapshot))
            }
        };
        json(&redactor.json(&summary))
    });
    let logs = part(limit, async {
        let docker = docker.as_ref().ok_or("the Docker engine did not answer")?;
        let entries =
            super::logs::tail(docker, &project.name, None, options.tail, redactor).await.map_err(|e| e.to_string())?;
        Ok(super::logs::plain(&entries).into_bytes())
    });
    let health = part(limit, async {
        let report =
            super::health::run(&loaded.config, limit.min(Duration::from_secs(3))).await.map_err(|e| e.to_string())?;
        json(&redactor.json(&serde_json::to_value(&report).unwrap_or_default()))
    });
    let context = part(limit, async {
        let context = super::context::collect(loaded, project, docker.as_ref(), &env, redactor, None).await;
        json(&redactor.json(&serde_json::to_value(&context).unwrap_or_default()))
    });
    let (metrics, logs, health, context) = tokio::join!(metrics, logs, health, context);

    let mut files: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut parts = Vec::new();
    for (file, (result, seconds)) in
        [("metrics-summary.json", metrics), ("log-tail.txt", logs), ("health.json", health), ("context.json", context)]
    {
        let (status, error, bytes) = match result {
            Ok(Ok(bytes)) => (PartStatus::Ok, None, bytes),
            Ok(Err(e)) => (PartStatus::Failed, Some(redactor.text(&e)), Vec::new()),
            Err(()) => (PartStatus::Timeout, Some(format!("not done within {}", HumanDuration(limit))), Vec::new()),
        };
        // A part that could not be collected is still a file, saying why:
        // the helper sees what is missing without opening the index.
        let bytes = match &error {
            None => bytes,
            Some(why) if file != "log-tail.txt" => json(&serde_json::json!({ "error": why })).unwrap_or_default(),
            Some(why) => format!("not collected: {why}\n").into_bytes(),
        };
        parts.push(Part { file, status, error, seconds, bytes: bytes.len() as u64 });
        files.push((file, bytes));
    }
    let truncated = cap(&mut files, options.max_bytes);
    for part in &mut parts {
        if let Some((_, bytes)) = files.iter().find(|(f, _)| *f == part.file) {
            part.bytes = bytes.len() as u64;
        }
    }
    if !truncated.is_empty() {
        let note = format!(
            "This bundle was cut to stay under its size cap of {}:\n{}\n",
            bytesize::ByteSize::b(options.max_bytes),
            truncated.iter().map(|t| format!("- {t}")).collect::<Vec<_>>().join("\n")
        );
        files.push((TRUNCATED, note.into_bytes()));
    }
    let mut report = BundleReport {
        complete: parts.iter().all(|p| p.status == PartStatus::Ok),
        created_at: humantime::format_rfc3339_seconds(now).to_string(),
        folder: folder.clone(),
        archive: archive.clone(),
        archive_bytes: 0,
        parts,
        truncated,
        duration_seconds: 0.0,
    };
    report.duration_seconds = started.elapsed().as_secs_f64();
    files.push((INDEX, serde_json::to_vec_pretty(&report).unwrap_or_default()));
    for (file, bytes) in &files {
        std::fs::write(folder.join(file), bytes).map_err(unwritable(&folder))?;
    }
    report.archive_bytes = write_archive(&archive, &name, &files).map_err(unwritable(&archive))?;
    report.duration_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The text for people: one line per part, what the cap cut, the archive.
#[must_use]
pub fn render(report: &BundleReport) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    for p in &report.parts {
        let state = match p.status {
            PartStatus::Ok => "ok     ",
            PartStatus::Failed => "FAILED ",
            PartStatus::Timeout => "TIMEOUT",
        };
        let detail = p.error.clone().unwrap_or_else(|| bytesize::ByteSize::b(p.bytes).to_string());
        let _ = writeln!(text, "  {state} {:<22} {detail}", p.file);
    }
    for t in &report.truncated {
        let _ = writeln!(text, "  cut     {t}");
    }
    let _ = writeln!(
        text,
        "bundle {}: {} ({}) in {:.1} s; folder {}",
        if report.complete { "complete" } else { "PARTIAL" },
        report.archive.display(),
        bytesize::ByteSize::b(report.archive_bytes),
        report.duration_seconds,
        report.folder.display()
    );
    text
}

/// The standard series of every check of `snapshot`, as exposition text for
/// [`summarise`].
fn exposition(snapshot: &crate::probe::runner::Snapshot) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    for (check, result) in &snapshot.entries {
        let labels = format!("check=\"{}\",kind=\"{}\"", check.name, check.kind());
        let ok = result.as_ref().is_some_and(|r| r.outcome.is_success());
        let took = result.as_ref().map_or(0.0, |r| r.duration.as_secs_f64());
        let _ = writeln!(text, "{}{{{labels}}} {}", crate::series::CHECK_SUCCESS, u8::from(ok));
        let _ = writeln!(text, "{}{{{labels}}} {took}", crate::series::CHECK_DURATION_SECONDS);
    }
    text
}

/// Runs a part under `limit`: its content (or error), or `Err(())` when it
/// ran out of time; and how long it took.
async fn part(limit: Duration, work: impl Future<Output = Collected>) -> (Result<Collected, ()>, f64) {
    let started = Instant::now();
    let result = tokio::time::timeout(limit, work).await.map_err(|_| ());
    (result, started.elapsed().as_secs_f64())
}

fn json(value: &serde_json::Value) -> Collected {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    Ok(bytes)
}

async fn fetch(url: &str, limit: Duration) -> Result<String, String> {
    let client = crate::tls::http_client(|| reqwest::Client::builder().timeout(limit))?;
    let response = client.get(url).send().await.map_err(|e| {
        format!("the exporter at {url} did not answer (is `ops-gen serve` running?): {}", crate::errors::chain(&e))
    })?;
    if !response.status().is_success() {
        return Err(format!("the exporter at {url} answered {}", response.status()));
    }
    response.text().await.map_err(|e| crate::errors::chain(&e))
}

/// The exposition (text format) as JSON: per family its type, help and
/// series count, and up to 50 series with labels and value.
#[must_use]
pub fn summarise(source: &str, exposition: &str) -> serde_json::Value {
    const SAMPLES: usize = 50;
    let mut families: Vec<serde_json::Map<String, serde_json::Value>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut family = |name: &str, families: &mut Vec<serde_json::Map<String, serde_json::Value>>| -> usize {
        *index.entry(name.to_owned()).or_insert_with(|| {
            let mut map = serde_json::Map::new();
            map.insert("name".into(), name.into());
            map.insert("series".into(), 0.into());
            map.insert("samples".into(), serde_json::Value::Array(Vec::new()));
            families.push(map);
            families.len() - 1
        })
    };
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")) {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            let key = if line.starts_with("# HELP") { "help" } else { "type" };
            let i = family(name, &mut families);
            families[i].insert(key.into(), text.into());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or((line, ""));
        let (name, labels) = series.split_once('{').map_or((series, ""), |(n, l)| (n, l.trim_end_matches('}')));
        let i = family(name, &mut families);
        let count = families[i]["series"].as_u64().unwrap_or(0) + 1;
        families[i].insert("series".into(), count.into());
        if let Some(serde_json::Value::Array(samples)) = families[i].get_mut("samples")
            && samples.len() < SAMPLES
        {
            samples.push(serde_json::json!({"labels": labels, "value": value.parse::<f64>().ok()}));
        }
    }
    serde_json::json!({"source": source, "families": families})
}

/// Keeps `files` under `max` bytes: the oldest log lines go first, then
/// whole parts, largest first. Returns what was cut, in words.
fn cap(files: &mut [(&'static str, Vec<u8>)], max: u64) -> Vec<String> {
    // Room for the index and the note.
    let max = max.saturating_sub(16 * 1024);
    let total = |files: &[(&'static str, Vec<u8>)]| files.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
    let mut cut = Vec::new();
    let over = total(files).saturating_sub(max);
    if over == 0 {
        return cut;
    }
    if let Some((file, bytes)) = files.iter_mut().find(|(f, _)| *f == "log-tail.txt") {
        let lines = bytes.split(|b| *b == b'\n').count() - 1;
        let mut drop_to = usize::try_from(over).unwrap_or(usize::MAX).min(bytes.len());
        // Cut at a line boundary.
        while drop_to > 0 && drop_to < bytes.len() && bytes[drop_to - 1] != b'\n' {
            drop_to += 1;
        }
        let dropped = bytes[..drop_to].split(|b| *b == b'\n').count() - 1;
        bytes.drain(..drop_to);
        cut.push(format!("{file}: kept the newest {} of {lines} lines ({dropped} oldest cut)", lines - dropped));
    }
    while total(files) > max {
        let Some((file, bytes)) = files.iter_mut().filter(|(_, b)| !b.is_empty()).max_by_key(|(_, b)| b.len()) else {
            break;
        };
        cut.push(format!("{file}: left out ({} over the cap)", bytesize::ByteSize::b(bytes.len() as u64)));
        *bytes = b"{\"left_out\": \"over the size cap, see TRUNCATED.txt\"}\n".to_vec();
    }
    cut
}

/// Writes `files` under `name/` into a gzipped tar at `path` (through a
/// temporary file and a rename); returns its size.
fn write_archive(path: &Path, name: &str, files: &[(&'static str, Vec<u8>)]) -> std::io::Result<u64> {
    crate::output::replace_with(path, |file| {
        let gz = flate2::write::GzEncoder::new(&mut *file, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let mtime = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        for (file, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(mtime);
            tar.append_data(&mut header, format!("{name}/{file}"), bytes.as_slice())?;
        }
        tar.into_inner()?.finish()?;
        Ok(file.metadata()?.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_series_per_family() {
        let text =
            "# HELP a_x Things.\n# TYPE a_x gauge\na_x{k=\"1\"} 1\na_x{k=\"2\"} 0\n# TYPE b counter\nb_total 3\n";
        let s = summarise("u", text);
        assert_eq!(s["families"][0]["name"], "a_x");
        assert_eq!(s["families"][0]["series"], 2);
        assert_eq!(s["families"][0]["help"], "Things.");
        assert_eq!(s["families"][0]["samples"][1]["labels"], "k=\"2\"");
        assert_eq!(s["families"][2]["name"], "b_total");
    }

    #[test]
    fn the_cap_cuts_the_oldest_log_lines_first() {
        let log: Vec<u8> = (0..1000).flat_map(|i| format!("line {i:04} ....................\n").into_bytes()).collect();
        let mut files = vec![("log-tail.txt", log), ("health.json", b"{}".to_vec())];
        let cut = cap(&mut files, 16 * 1024 + 10_000);
        assert_eq!(cut.len(), 1, "{cut:?}");
        assert!(cut[0].starts_with("log-tail.txt: kept the newest "), "{cut:?}");
        let kept = String::from_utf8(files[0].1.clone()).unwrap();
        assert!(kept.ends_with("line 0999 ....................\n") && kept.starts_with("line "), "whole lines");
        assert!(kept.len() <= 10_000);
        assert_eq!(files[1].1, b"{}");
        assert!(cap(&mut files, 1 << 30).is_empty(), "under the cap: nothing cut");
    }
}
