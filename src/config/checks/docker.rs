//! Settings of a `docker` (Compose drift) check; the project and its files
//! come from the `stack` section.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::HumanDuration;

/// Config of a `docker` check. The project and its files come from the
/// `stack` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Compose profiles taken as active, as `--profile` would [default: none].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(default = "Spec::default_interval")]
    pub interval: HumanDuration,
    #[serde(default = "Spec::default_timeout")]
    pub timeout: HumanDuration,
    /// The Compose project (`stack.project`, else the config folder's name).
    #[serde(skip_deserializing)]
    pub project: String,
    /// The app's compose files (`stack.files`), absolute.
    #[serde(skip_deserializing)]
    pub files: Vec<PathBuf>,
    /// The project folder: the config's.
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Spec {
    fn default_interval() -> HumanDuration {
        HumanDuration::from_secs(30)
    }
    fn default_timeout() -> HumanDuration {
        // `docker-compose` 1.x needs about half a second per `config`.
        HumanDuration::from_secs(20)
    }
}
