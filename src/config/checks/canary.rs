//! The `canary` section and the canary checks it makes, one per chosen
//! target.

use serde::{Deserialize, Serialize};

use crate::config::HumanDuration;

/// The `canary` section of `ops-gen.yml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Write and watch canaries (off by default: it writes to your stores).
    #[serde(default)]
    pub enabled: bool,
    /// Which postgres/redis targets; all of them when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    #[serde(default = "Settings::default_interval")]
    pub interval: HumanDuration,
    /// The PostgreSQL table (in the target's database).
    #[serde(default = "Settings::default_table")]
    pub table: String,
    /// The Redis key.
    #[serde(default = "Settings::default_key")]
    pub key: String,
}

impl Settings {
    fn default_interval() -> HumanDuration {
        HumanDuration::from_secs(60)
    }
    fn default_table() -> String {
        "ops_gen_canary".to_owned()
    }
    fn default_key() -> String {
        "ops-gen:canary".to_owned()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            enabled: false,
            targets: Vec::new(),
            interval: Self::default_interval(),
            table: Self::default_table(),
            key: Self::default_key(),
        }
    }
}

/// The store a canary lives in.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Store {
    Postgres(super::postgres::Spec),
    Redis(super::redis::Spec),
    S3(super::s3::Spec),
}

/// One target's canary check, made from the `canary` section.
#[derive(Debug, Clone, Serialize)]
pub struct Spec {
    pub target: String,
    #[serde(skip)]
    pub store: Store,
    pub table: String,
    pub key: String,
    pub interval: HumanDuration,
}

/// Keeps the canary's table name a plain identifier (it is put into SQL).
#[must_use]
pub fn valid_table(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
