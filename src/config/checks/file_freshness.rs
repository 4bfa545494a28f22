//! Settings of a `file_freshness` check: a glob, an age and a size.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{HumanDuration, defaults, env_string};

/// Config of a `file_freshness` check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// A glob such as `/var/backups/app/*.dump`; `**` matches folders.
    #[serde(deserialize_with = "glob_pattern")]
    pub path: String,
    /// The newest match must be younger than this.
    pub max_age: HumanDuration,
    /// The newest match must be at least this big (`1KiB`, `10MB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<bytesize::ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
}

impl Spec {
    /// Watches ops-gen's own backup sets: a set where every target
    /// succeeded holds `complete.json` (a partial set does not, and a run
    /// where every target failed writes no set), so the check counts only
    /// successful copies.
    #[must_use]
    pub fn backup_folder(dir: &Path) -> Self {
        Self {
            path: dir.join("*").join(crate::output::SET_COMPLETE).display().to_string(),
            max_age: defaults::BACKUP_MAX_AGE,
            min_size: None,
            timeout: None,
            interval: None,
        }
    }
}

fn glob_pattern<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let pattern = env_string(deserializer)?;
    glob::Pattern::new(&pattern)
        .map_err(|e| serde::de::Error::custom(format!("`{pattern}` is not a valid glob ({e})")))?;
    Ok(pattern)
}
