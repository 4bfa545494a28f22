//! The operator's chores: commands that answer one question in one screen,
//! with exit codes a script can trust.
//!
//! - [`init`]: a first `ops-gen.yml` from the stack's compose file.
//! - [`runbook`]: recovery procedures, the same pages alerts link to.

pub mod init;
pub mod runbook;
