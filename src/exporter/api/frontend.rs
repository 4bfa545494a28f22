//! Browser errors the beacon sends: validated, capped, kept in a bounded ring
//! (per route and overall) and in a local file, so a restart keeps the recent
//! ones.
//!
//! The file holds one JSON line per event, appended; when it holds twice the
//! ring's size it is rewritten from the ring (to a temporary name, then
//! renamed), so it stays bounded too.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Events kept in all.
pub const CAPACITY: usize = 1000;
/// Events kept per route: one noisy page cannot push out every other.
pub const PER_ROUTE: usize = 100;
/// The largest beacon body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// What the beacon posts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Beacon {
    #[serde(default)]
    pub build_hash: String,
    #[serde(default)]
    pub route: String,
    pub message: String,
    #[serde(default)]
    pub stack: String,
    #[serde(default)]
    pub browser: String,
    #[serde(default)]
    pub ws_state: String,
}

/// One stored browser error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unix seconds when it arrived.
    pub received: f64,
    /// RFC 3339 of the same.
    pub at: String,
    pub build_hash: String,
    pub route: String,
    pub message: String,
    pub stack: String,
    pub browser: String,
    pub ws_state: String,
}

/// Longest kept text per field: longer ones are cut (on a char boundary).
const SHORT: usize = 256;
const MESSAGE: usize = 4096;
const STACK: usize = 16 * 1024;

fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

impl Event {
    /// A stored event from a beacon body, or why the body is refused.
    pub fn from_body(body: &[u8], now: SystemTime) -> Result<Self, String> {
        let beacon: Beacon =
            serde_json::from_slice(body).map_err(|e| format!("not a beacon: {e} (send {{\"message\": …}} as JSON)"))?;
        if beacon.message.trim().is_empty() {
            return Err("not a beacon: `message` is empty".to_owned());
        }
        let route = if beacon.route.is_empty() { "/".to_owned() } else { beacon.route };
        Ok(Self {
            received: now.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
            at: humantime::format_rfc3339_millis(now).to_string(),
            build_hash: cut(beacon.build_hash, SHORT),
            route: cut(route, SHORT),
            message: cut(beacon.message, MESSAGE),
            stack: cut(beacon.stack, STACK),
            browser: cut(beacon.browser, SHORT),
            ws_state: cut(beacon.ws_state, SHORT),
        })
    }

    /// The event with every secret `redactor` knows or recognizes masked
    /// (a connection URL in a message, a password the config holds).
    #[must_use]
    pub fn redacted(&self, redactor: &crate::config::redact::Redactor) -> Self {
        Self {
            received: self.received,
            at: self.at.clone(),
            build_hash: redactor.text(&self.build_hash),
            route: redactor.text(&self.route),
            message: redactor.text(&self.message),
            stack: redactor.text(&self.stack),
            browser: redactor.text(&self.browser),
            ws_state: redactor.text(&self.ws_state),
        }
    }
}

/// The ring of recent browser errors, and its file.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    events: VecDeque<Arc<Event>>,
    per_route: HashMap<String, usize>,
    file: Option<PathBuf>,
    /// Lines in the file now.
    lines: usize,
}

impl Inner {
    fn push(&mut self, event: Arc<Event>) {
        let count = self.per_route.entry(event.route.clone()).or_default();
        if *count >= PER_ROUTE {
            if let Some(i) = self.events.iter().position(|e| e.route == event.route) {
                self.events.remove(i);
            }
        } else {
            *count += 1;
        }
        if self.events.len() >= CAPACITY
            && let Some(old) = self.events.pop_front()
            && let Some(n) = self.per_route.get_mut(&old.route)
        {
            *n -= 1;
            if *n == 0 {
                self.per_route.remove(&old.route);
            }
        }
        self.events.push_back(event);
    }
}

impl Store {
    /// A store kept in `file` (the recent events in it are loaded), or in
    /// memory only.
    #[must_use]
    pub fn open(file: Option<&Path>) -> Self {
        let mut inner = Inner { file: file.map(Path::to_owned), ..Inner::default() };
        if let Some(path) = file
            && let Ok(text) = std::fs::read_to_string(path)
        {
            for line in text.lines() {
                inner.lines += 1;
                if let Ok(event) = serde_json::from_str::<Event>(line) {
                    inner.push(Arc::new(event));
                }
            }
        }
        Self { inner: Mutex::new(inner) }
    }

    /// Keeps `event`, in the ring and the file.
    pub fn add(&self, event: Event) -> Arc<Event> {
        let event = Arc::new(event);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.push(Arc::clone(&event));
        if let Some(path) = inner.file.clone() {
            let written = if inner.lines + 1 >= 2 * CAPACITY {
                rewrite(&path, &inner.events).map(|()| inner.lines = inner.events.len())
            } else {
                append(&path, &event).map(|()| inner.lines += 1)
            };
            if let Err(e) = written {
                tracing::warn!("cannot keep browser errors in {}: {e}", path.display());
            }
        }
        event
    }

    /// Events that arrived at or after `since` (Unix seconds), oldest first.
    #[must_use]
    pub fn since(&self, since: f64) -> Vec<Arc<Event>> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.events.iter().filter(|e| e.received >= since).cloned().collect()
    }

    /// The newest event, if any: the last known state of the frontend.
    #[must_use]
    pub fn latest(&self) -> Option<Arc<Event>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).events.back().cloned()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).events.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn append(path: &Path, event: &Event) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
    line.push(b'\n');
    std::fs::OpenOptions::new().create(true).append(true).open(path)?.write_all(&line)
}

fn rewrite(path: &Path, events: &VecDeque<Arc<Event>>) -> std::io::Result<()> {
    let mut text = Vec::new();
    for event in events {
        serde_json::to_writer(&mut text, event.as_ref()).map_err(std::io::Error::other)?;
        text.push(b'\n');
    }
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, &text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(route: &str, n: usize) -> Event {
        let body = serde_json::json!({"route": route, "message": format!("boom {n}")}).to_string();
        Event::from_body(body.as_bytes(), SystemTime::now()).unwrap()
    }

    #[test]
    fn the_ring_is_bounded_per_route_and_overall() {
        let store = Store::open(None);
        for n in 0..(PER_ROUTE + 50) {
            store.add(event("/noisy", n));
        }
        store.add(event("/quiet", 0));
        let all = store.since(0.0);
        assert_eq!(all.iter().filter(|e| e.route == "/noisy").count(), PER_ROUTE);
        assert_eq!(all.last().unwrap().route, "/quiet");
        assert_eq!(all.iter().find(|e| e.route == "/noisy").unwrap().message, "boom 50", "the oldest went first");
        for n in 0..(2 * CAPACITY) {
            store.add(event(&format!("/page/{}", n % 40), n));
        }
        assert_eq!(store.len(), CAPACITY);
    }

    #[test]
    fn bad_bodies_are_refused_and_long_fields_cut() {
        assert!(Event::from_body(b"{", SystemTime::now()).is_err());
        assert!(Event::from_body(br#"{"message": ""}"#, SystemTime::now()).is_err());
        assert!(Event::from_body(br#"{"message": "x", "password": "y"}"#, SystemTime::now()).is_err());
        let long = serde_json::json!({"message": "é".repeat(10_000)}).to_string();
        let event = Event::from_body(long.as_bytes(), SystemTime::now()).unwrap();
        assert!(event.message.len() <= MESSAGE + '…'.len_utf8());
    }

    #[test]
    fn a_restart_keeps_recent_events_and_the_file_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frontend.jsonl");
        let store = Store::open(Some(&path));
        for n in 0..(3 * CAPACITY) {
            store.add(event(&format!("/r{}", n % 20), n));
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines < 2 * CAPACITY, "{lines} lines");
        let reopened = Store::open(Some(&path));
        assert_eq!(reopened.len(), CAPACITY);
        let message = |e: Option<Arc<Event>>| e.map(|e| e.message.clone());
        assert_eq!(message(reopened.latest()), message(store.latest()));
    }
}
