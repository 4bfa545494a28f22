//! ops-gen: the ops desk for a self-hosted docker compose stack.
//!
//! The binary (`src/main.rs`) only parses arguments, sets up logging,
//! dispatches to [`commands`] and maps errors to exit codes; everything it
//! does lives here so tests can call it.
//!
//! The modules come in layers, each using only the ones below it (see
//! ARCHITECTURE.md; `tests/architecture.rs` keeps it so), bottom first:
//!
//! 1. Leaves. [`config`] reads and validates `ops-gen.yml` (strict keys,
//!    `${ENV}` secrets, durations, defaults in one place; every section's
//!    types, the check kinds' settings in [`config::checks`]); nothing runs
//!    on a bad config. It also knows what a secret looks like:
//!    [`config::redact`] takes secrets out of what a bundle, a log tail or
//!    a context shows. [`errors`] renders an error chain on one line; [`tls`] is
//!    the one crypto provider; [`build_info`] says which build this is;
//!    [`output`] writes files durably and owner-only; [`runbook`] holds the
//!    recovery procedures alerts link to; [`series`] names every exported
//!    series once, so the exporter, the alert rules and the dashboards
//!    cannot disagree.
//! 2. [`docker`] is the one wrapper around the Docker API and the Compose
//!    CLI; [`stack`] is the app's Compose project (its compose file, the app
//!    model, the services as Compose resolves them).
//! 3. [`probe`] is the check framework: the closed set of check kinds (one
//!    file each) and the [`probe::runner`] that runs them under time limits,
//!    sharing runs between concurrent scrapes. [`backup`] takes, verifies,
//!    drills and restores backup sets, so that nothing ever loses the last
//!    good copy. [`profile`] generates the optional ops profile (compose
//!    file, Prometheus config and rules, Grafana dashboards, Loki, the log
//!    shipper, Uptime Kuma). [`notify`] tells people when a check changes;
//!    [`report`] shows check results to people.
//! 4. [`compose`] runs the profile through the Compose CLI; [`ops`] holds
//!    the operator's chores (`init`, `doctor`, `health`, `smoke`, `bundle`,
//!    `storage`); [`jobs`] runs them on the schedules of `schedule:` (for
//!    `serve`, and `ops-gen jobs`); [`ctl`] is the client of a remote
//!    `serve`.
//! 5. [`exporter`] is `ops-gen serve`: `/metrics`, health and readiness,
//!    the status page, config reload, and [`exporter::api`], the
//!    token-gated ops API under `/api/ops/`.
//! 6. [`cli`] holds the command-line types; [`commands`] turns them into
//!    calls into the modules above, one file per command family, and shows
//!    what they return: text for people or `--json` from the same typed
//!    report, the one typed confirmation before a destructive step, progress
//!    spinners.

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
pub mod jobs;
pub mod notify;
pub mod ops;
pub mod output;
pub mod probe;
pub mod profile;
pub mod report;
pub mod runbook;
pub mod series;
pub mod stack;
pub mod tls;
