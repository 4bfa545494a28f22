//! `/api/ops/events`: a live stream (Server-Sent Events) of check state
//! changes, container events of the app's Compose project, and new browser
//! errors.
//!
//! Publishers never wait: the hub is a broadcast channel, and a subscriber
//! that falls behind skips what it missed (and is told how many). A comment
//! every 15 s keeps proxies from closing an idle stream.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::response::sse::{Event as Sse, KeepAlive};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::probe::runner::StateChange;

/// Events a slow subscriber may fall behind by before it skips some.
const BACKLOG: usize = 256;
/// How often an idle stream gets a keep-alive comment.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// One event of the stream; `type` names it (and the SSE event name).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A check went red, or back to green.
    Check {
        check: String,
        kind: String,
        /// `red` or `green`.
        state: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        at: String,
    },
    /// A container of the app started, died, restarted, changed health…
    Container { service: String, container: String, action: String, at: String },
    /// A browser error arrived through the beacon.
    Frontend { route: String, message: String, build_hash: String, at: String },
}

impl Event {
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Check { .. } => "check",
            Self::Container { .. } => "container",
            Self::Frontend { .. } => "frontend",
        }
    }

    #[must_use]
    pub fn from_change(change: &StateChange) -> Self {
        Self::Check {
            check: change.check.clone(),
            kind: change.kind.to_string(),
            state: if change.failure.is_some() { "red" } else { "green" },
            reason: change.failure.as_ref().map(|f| f.reason.to_string()),
            message: change.failure.as_ref().map(|f| f.message.clone()),
            at: humantime::format_rfc3339_millis(change.at).to_string(),
        }
    }

    #[must_use]
    pub fn from_container(event: crate::docker::ContainerEvent) -> Self {
        let at = u64::try_from(event.time)
            .ok()
            .map_or_else(SystemTime::now, |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        Self::Container {
            service: event.service,
            container: event.container,
            action: event.action,
            at: humantime::format_rfc3339_seconds(at).to_string(),
        }
    }

    #[must_use]
    pub fn from_frontend(event: &super::frontend::Event) -> Self {
        Self::Frontend {
            route: event.route.clone(),
            message: event.message.clone(),
            build_hash: event.build_hash.clone(),
            at: event.at.clone(),
        }
    }

    fn to_sse(&self) -> Sse {
        Sse::default().event(self.name()).data(serde_json::to_string(self).unwrap_or_default())
    }
}

/// Where events are published and subscribed to.
#[derive(Debug)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Event>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self { sender: broadcast::channel(BACKLOG).0 }
    }
}

impl Hub {
    /// Sends `event` to every subscriber now (none: it is dropped).
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(Arc::new(event));
    }

    #[must_use]
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// The SSE response of one subscriber. Healthchecks make the engine
    /// report `exec_create`, `exec_start` and `exec_die` for every service
    /// every few seconds: those are left out unless `with_exec`.
    pub fn stream(
        &self,
        with_exec: bool,
    ) -> axum::response::Sse<impl futures::Stream<Item = Result<Sse, std::convert::Infallible>> + use<>> {
        let receiver = self.sender.subscribe();
        let hello = Sse::default().event("hello").data("{\"type\":\"hello\"}");
        let stream = futures::stream::unfold((Some(hello), receiver), move |(first, mut receiver)| async move {
            if let Some(hello) = first {
                return Some((Ok(hello), (None, receiver)));
            }
            let sse = loop {
                match receiver.recv().await {
                    Ok(event) if !with_exec && event.is_exec() => {}
                    Ok(event) => break event.to_sse(),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        break Sse::default()
                            .event("lagged")
                            .data(format!("{{\"type\":\"lagged\",\"missed\":{missed}}}"));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            };
            Some((Ok(sse), (None, receiver)))
        });
        axum::response::Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
    }
}

impl Event {
    /// A container's exec event (`exec_create: …`, `exec_start: …`,
    /// `exec_die`), what every healthcheck run causes.
    #[must_use]
    pub fn is_exec(&self) -> bool {
        matches!(self, Self::Container { action, .. } if action.starts_with("exec_"))
    }
}

/// Publishes the container events of `project` while the hub lives,
/// reconnecting to the engine after a failure.
pub fn watch_containers(hub: &Arc<Hub>, project: String) {
    use futures::StreamExt as _;

    let hub = Arc::downgrade(hub);
    tokio::spawn(async move {
        loop {
            match crate::docker::Docker::connect().await {
                Ok(docker) => {
                    let mut events = std::pin::pin!(docker.project_events(&project));
                    while let Some(event) = events.next().await {
                        let Some(hub) = hub.upgrade() else { return };
                        match event {
                            Ok(event) => hub.publish(Event::from_container(event)),
                            Err(e) => {
                                tracing::debug!("container events of {project}: {e}");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!("no container events of {project}: {e}"),
            }
            if hub.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
}
