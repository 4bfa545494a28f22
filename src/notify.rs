//! Notifications: when a check goes red, or back to green, `ops-gen serve`
//! POSTs a JSON payload to a webhook and/or runs a command (`notify-send` on
//! a desktop), so an operator without Alertmanager still learns in time that
//! backups stopped.
//!
//! Checks hand their state changes to a bounded channel and never wait on it.
//! One notifier task debounces per check: the first change goes out at once;
//! changes within `debounce` of the last notification are coalesced and the
//! state at the end of the window is sent, only if it differs from the last
//! one sent. Each webhook call or command runs in its own task under
//! `timeout`. The notifier outlives config reloads: it remembers what it last
//! sent per check name, and reads its settings from the active config.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::config::notify::Settings;
use crate::probe::runner::{StateChange, StateChanges};

/// How many state changes may wait for the notifier before new ones drop.
const QUEUE: usize = 256;

/// What a webhook receives.
#[derive(Debug, Clone, Serialize)]
pub struct Payload {
    pub check: String,
    pub kind: String,
    /// `red` or `green`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// RFC 3339, UTC.
    pub at: String,
    /// `ops-gen@HOSTNAME`.
    pub source: String,
    /// One line for people: `db (postgres) is red: connect: …`.
    pub summary: String,
}

impl Payload {
    fn new(change: &StateChange, source: &str) -> Self {
        let state = if change.failure.is_some() { "red" } else { "green" };
        let summary = match &change.failure {
            Some(f) => format!("{} ({}) is red: {}: {}", change.check, change.kind, f.reason, f.message),
            None => format!("{} ({}) is green again", change.check, change.kind),
        };
        Self {
            check: change.check.clone(),
            kind: change.kind.to_string(),
            state,
            reason: change.failure.as_ref().map(|f| f.reason.to_string()),
            message: change.failure.as_ref().map(|f| f.message.clone()),
            at: humantime::format_rfc3339_seconds(change.at).to_string(),
            source: source.to_owned(),
            summary,
        }
    }
}

/// The running notifier: feed it state changes, update its settings on reload.
#[derive(Debug)]
pub struct Notifier {
    changes: StateChanges,
    settings: watch::Sender<Settings>,
}

impl Notifier {
    /// Starts the notifier task. Needs a Tokio runtime.
    #[must_use]
    pub fn start(settings: Settings) -> Self {
        let (changes, received) = mpsc::channel(QUEUE);
        let (settings, watched) = watch::channel(settings);
        tokio::spawn(run(received, watched));
        Self { changes, settings }
    }

    /// Where checks send their state changes.
    #[must_use]
    pub fn changes(&self) -> &StateChanges {
        &self.changes
    }

    /// Takes the settings of a reloaded config.
    pub fn update(&self, settings: Settings) {
        self.settings.send_if_modified(|current| {
            let changed = *current != settings;
            *current = settings;
            changed
        });
    }
}

#[derive(Default)]
struct PerCheck {
    /// Whether the last notification said green; `None` before the first.
    sent_green: Option<bool>,
    last_sent: Option<Instant>,
    pending: Option<StateChange>,
}

async fn run(mut received: mpsc::Receiver<StateChange>, settings: watch::Receiver<Settings>) {
    let source = format!("ops-gen@{}", hostname());
    let http = match crate::tls::http_client(reqwest::Client::builder) {
        Ok(http) => http,
        Err(e) => {
            tracing::error!("notifications are off: cannot build the HTTP client: {e}");
            return;
        }
    };
    let mut checks: HashMap<String, PerCheck> = HashMap::new();
    loop {
        let debounce = settings.borrow().debounce.get();
        let due =
            checks.values().filter(|c| c.pending.is_some()).filter_map(|c| c.last_sent.map(|t| t + debounce)).min();
        tokio::select! {
            change = received.recv() => {
                let Some(change) = change else { return };
                let entry = checks.entry(change.check.clone()).or_default();
                entry.pending = Some(change);
                if entry.last_sent.is_none_or(|t| t.elapsed() >= debounce) {
                    flush(entry, &settings.borrow(), &http, &source);
                }
            }
            () = sleep_until(due) => {
                for entry in checks.values_mut().filter(|c| c.last_sent.is_some_and(|t| t.elapsed() >= debounce)) {
                    flush(entry, &settings.borrow(), &http, &source);
                }
            }
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due.into()).await,
        None => std::future::pending().await,
    }
}

/// Sends the pending change of one check if it differs from the last sent.
fn flush(entry: &mut PerCheck, settings: &Settings, http: &reqwest::Client, source: &str) {
    let Some(change) = entry.pending.take() else { return };
    let green = change.failure.is_none();
    if entry.sent_green == Some(green) || (entry.sent_green.is_none() && green) {
        return;
    }
    entry.sent_green = Some(green);
    entry.last_sent = Some(Instant::now());
    if !settings.is_enabled() {
        return;
    }
    let payload = Payload::new(&change, source);
    tracing::info!(check = %payload.check, state = payload.state, "notifying");
    let timeout = settings.timeout.get();
    if let Some(url) = settings.webhook.as_ref().and_then(|u| u.get().as_url()) {
        let request = http.post(url).timeout(timeout).json(&payload);
        let check = payload.check.clone();
        tokio::spawn(async move {
            match request.send().await.and_then(reqwest::Response::error_for_status) {
                Ok(_) => tracing::debug!(%check, "webhook notified"),
                // Never the URL: it may carry a token.
                Err(e) => {
                    tracing::warn!(%check, "webhook notification failed: {}", crate::errors::chain(&e.without_url()));
                }
            }
        });
    }
    if let Some((program, args)) = settings.command.split_first() {
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .arg(&payload.summary)
            .env("OPS_GEN_CHECK", &payload.check)
            .env("OPS_GEN_KIND", &payload.kind)
            .env("OPS_GEN_STATE", payload.state)
            .env("OPS_GEN_REASON", payload.reason.as_deref().unwrap_or(""))
            .env("OPS_GEN_MESSAGE", payload.message.as_deref().unwrap_or(""))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let program = program.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(timeout, command.status()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => tracing::warn!("notify command `{program}` exited with {status}"),
                Ok(Err(e)) => tracing::warn!("cannot run notify command `{program}`: {e}"),
                Err(_) => tracing::warn!("notify command `{program}` did not finish within {timeout:?}; killed"),
            }
        });
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
