//! The operator's chores: commands that answer one question in one screen,
//! with exit codes a script can trust.
//!
//! - [`runbook`]: recovery procedures, the same pages alerts link to.

pub mod runbook;
