//! Log tails of the stack's services through the Docker API: the last
//! lines of each container of a Compose project, timestamps normalised to
//! RFC 3339 UTC (milliseconds), merged in time order, every message
//! redacted. `ops-gen bundle` writes them as `log-tail.txt`; the ops API
//! (`/api/ops/logs`) serves the same entries as JSON or text.

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::redact::Redactor;
use crate::docker::{Docker, DockerError};

/// One log line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Entry {
    /// RFC 3339, UTC, milliseconds (`2026-11-23T05:36:26.123Z`); the
    /// engine's text when it could not be read.
    pub ts: String,
    /// The Compose service (the container name without the label).
    pub service: String,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    pub message: String,
}

/// The last `lines` lines of every container of `project` (or only of
/// `service`), oldest first. Containers are read concurrently.
pub async fn tail(
    docker: &Docker,
    project: &str,
    service: Option<&str>,
    lines: usize,
    redactor: &Redactor,
) -> Result<Vec<Entry>, DockerError> {
    let containers = docker.list_project(project).await?;
    let reads = containers.iter().filter(|c| service.is_none_or(|s| s == c.service)).map(|c| async move {
        let name = if c.service.is_empty() { c.id.chars().take(12).collect() } else { c.service.clone() };
        docker.logs(&c.id, lines).await.map(|got| (name, got))
    });
    let mut entries = Vec::new();
    for read in futures::future::join_all(reads).await {
        let (service, got) = read?;
        entries.extend(got.into_iter().map(|l| Entry {
            ts: normalise(&l.timestamp),
            service: service.clone(),
            stream: l.stream,
            message: redactor.text(&l.message),
        }));
    }
    // RFC 3339 UTC with a fixed width sorts as text; stable, so each
    // container keeps its own order.
    entries.sort_by(|a, b| a.ts.cmp(&b.ts));
    Ok(entries)
}

/// The engine's RFC 3339 timestamp (nanoseconds, any offset) as UTC with
/// milliseconds.
#[must_use]
pub fn normalise(ts: &str) -> String {
    humantime::parse_rfc3339_weak(ts.trim_end_matches('Z'))
        .ok()
        .filter(|_| ts.ends_with('Z'))
        .map_or_else(|| ts.to_owned(), |t| humantime::format_rfc3339_millis(t).to_string())
}

/// `TS SERVICE | message`, one line per entry, services padded to align.
#[must_use]
pub fn plain(entries: &[Entry]) -> String {
    let width = entries.iter().map(|e| e.service.len()).max().unwrap_or(0);
    let mut out = String::with_capacity(entries.iter().map(|e| e.message.len() + width + 30).sum());
    for e in entries {
        let _ = writeln!(out, "{} {:<width$} | {}", e.ts, e.service, e.message);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_become_utc_milliseconds() {
        assert_eq!(normalise("2026-11-23T05:36:26.123456789Z"), "2026-11-23T05:36:26.123Z");
        assert_eq!(normalise("2026-11-23T05:36:26Z"), "2026-11-23T05:36:26.000Z");
        assert_eq!(normalise("garbage"), "garbage");
    }

    #[test]
    fn plain_aligns_services() {
        let e = |service: &str, message: &str| Entry {
            ts: "2026-11-23T05:36:26.000Z".into(),
            service: service.into(),
            stream: "stdout",
            message: message.into(),
        };
        assert_eq!(
            plain(&[e("db", "ready"), e("web", "GET /")]),
            "2026-11-23T05:36:26.000Z db  | ready\n2026-11-23T05:36:26.000Z web | GET /\n"
        );
    }
}
