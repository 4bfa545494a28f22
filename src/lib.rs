//! ops-gen: the ops desk for a self-hosted docker compose stack.
//!
//! The binary (`src/main.rs`) only parses arguments, sets up logging,
//! dispatches to [`commands`] and maps errors to exit codes; everything it
//! does lives here so tests can call it.
//!
//! - [`config`] reads and validates `ops-gen.yml` (strict keys, `${ENV}`
//!   secrets, durations, defaults in one place). Nothing runs on a bad config.
//! - [`probe`] is the check framework: the closed set of check kinds (one file
//!   each), and the [`probe::runner`] that runs them under time limits,
//!   concurrently, sharing runs between concurrent scrapes.
//! - [`backup`] takes, verifies and lists backup sets (`ops-gen backup`),
//!   written so that an interrupted run never replaces the last good set.
//! - [`exporter`] is `ops-gen serve`: `/metrics` (OpenMetrics or text),
//!   health and readiness, the status page, and config reload; [`exporter::api`] is
//!   its token-gated ops API under `/api/ops/`.
//! - [`notify`] tells people when a check goes red or green again (webhook,
//!   command), debounced, off the checks' path.
//! - [`profile`] generates the optional ops profile (`ops-gen compose
//!   generate`): compose file, Prometheus config and rules, Grafana
//!   dashboards, Loki and log shipper configs, Uptime Kuma monitors.
//! - [`series`] holds the names of every series ops-gen exports, one
//!   constant each, so the exporter, the alert rules and the dashboards
//!   cannot disagree on a name.
//! - [`compose`] runs the profile through the Docker Compose CLI (`ops-gen
//!   compose up|status|down|destroy|restart|logs`); [`docker`] is the one
//!   wrapper around the Docker API.
//! - [`ops`] holds the operator's chores (`ops-gen init`, `doctor`, `health`,
//!   `smoke`, `bundle`, `storage`).
//! - [`runbook`] holds the recovery procedures (`ops-gen runbook`), the pages
//!   alerts, dashboards and the exporter link to.
//! - [`redact`] takes secrets out of everything a bundle, a log tail or a
//!   context snapshot shows.
//! - [`report`] shows check results to people (`ops-gen probe`).
//! - [`output`] writes files durably and owner-only (atomic replace,
//!   folder flush, private modes).
//! - [`cli`] holds the command-line types; [`commands`] turns them into
//!   calls into the modules above, one file per command family, and shows
//!   what they return: text for people or `--json` from the same typed
//!   report, the one typed confirmation before a destructive step, progress
//!   spinners.

pub mod backup;
pub mod build_info;
pub mod cli;
pub mod commands;
pub mod compose;
pub mod config;
pub mod ctl;
pub mod docker;
pub mod errors;
pub mod exporter;
pub mod notify;
pub mod ops;
pub mod output;
pub mod probe;
pub mod profile;
pub mod redact;
pub mod report;
pub mod runbook;
pub mod series;
pub mod stack;
pub mod tls;
