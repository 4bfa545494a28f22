//! The `notify` section: where `ops-gen serve` sends word of a check going
//! red or green again (a webhook, a command), and how often.

use serde::{Deserialize, Serialize};

use super::checks::http::HttpUrl;
use super::{HumanDuration, env_string};

/// The `notify` section of `ops-gen.yml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// POST a JSON payload here (`${ENV}` references welcome; never shown).
    /// Empty (`${NOTIFY_URL:-}` with the variable unset) means none.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_url")]
    pub webhook: Option<HttpUrl>,
    /// Run this program with these arguments, plus the one-line summary as
    /// the last argument, and `OPS_GEN_CHECK`, `OPS_GEN_KIND`,
    /// `OPS_GEN_STATE`, `OPS_GEN_REASON`, `OPS_GEN_MESSAGE` in its
    /// environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "argv")]
    pub command: Vec<String>,
    /// At most one notification per check in this window.
    #[serde(default = "Settings::default_debounce")]
    pub debounce: HumanDuration,
    /// Limit of one webhook call or command.
    #[serde(default = "Settings::default_timeout")]
    pub timeout: HumanDuration,
}

impl Settings {
    fn default_debounce() -> HumanDuration {
        HumanDuration::from_secs(60)
    }
    fn default_timeout() -> HumanDuration {
        HumanDuration::from_secs(10)
    }

    /// Whether anything is configured to receive notifications.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.webhook.is_some() || !self.command.is_empty()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            webhook: None,
            command: Vec::new(),
            debounce: Self::default_debounce(),
            timeout: Self::default_timeout(),
        }
    }
}

fn optional_url<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<HttpUrl>, D::Error> {
    let text = env_string(deserializer)?;
    if text.trim().is_empty() { Ok(None) } else { text.parse().map(Some).map_err(serde::de::Error::custom) }
}

fn argv<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct Arg(#[serde(deserialize_with = "env_string")] String);
    let args = Vec::<Arg>::deserialize(deserializer)?;
    if args.first().is_some_and(|a| a.0.trim().is_empty()) {
        return Err(serde::de::Error::custom("the command's first word must name a program"));
    }
    Ok(args.into_iter().map(|a| a.0).collect())
}
