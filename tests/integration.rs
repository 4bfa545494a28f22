//! The integration suite: one binary, topic files, real services.
//!
//! PostgreSQL and Redis must be running (`scripts/services.sh up`), and
//! promtool/prometheus installed; a missing service fails its tests with a
//! message saying how to start it. Nothing is skipped.

mod util;

mod api;
mod architecture;
mod backup;
mod bundle;
mod canary;
mod checks;
mod cli;
mod compose;
mod deploy;
mod doctor;
mod drift;
mod health;
mod image;
mod jobs;
mod k8s;
mod notify;
mod profile;
mod s3;
mod secrets;
mod serve;
mod smoke;
mod status_page;
mod storage;
