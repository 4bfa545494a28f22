//! The check kinds' settings: what a `targets` or `checks` entry holds, typed
//! by its `kind`.
//!
//! [`Spec`] is the one enum of kinds: each variant carries its kind's
//! settings, and [`Kind`] (the bare names, for labels and messages) is
//! derived from it, so the compiler keeps every `match` over kinds, the list
//! of names and the parsing of `kind:` in step. What a kind does lives in
//! `crate::probe`, in the file of the same name.

pub mod canary;
pub mod docker;
pub mod file_freshness;
pub mod http;
pub mod postgres;
pub mod redis;
pub mod s3;

use std::time::Duration;

use serde::Serialize;
use strum::IntoEnumIterator as _;

use super::{EntryError, HumanDuration, defaults};

/// One configured check, typed by its `kind`.
#[derive(Debug, Clone, Serialize, strum::EnumDiscriminants)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[strum_discriminants(
    name(Kind),
    doc = "The closed set of check kinds, as labels and messages name them.",
    derive(Hash, PartialOrd, Ord, Serialize, strum::IntoStaticStr, strum::EnumString, strum::EnumIter),
    serde(rename_all = "snake_case"),
    strum(serialize_all = "snake_case")
)]
pub enum Spec {
    Postgres(postgres::Spec),
    Redis(redis::Spec),
    S3(s3::Spec),
    Http(http::Spec),
    FileFreshness(file_freshness::Spec),
    /// Compose drift, service state and restarts of the `stack`.
    Docker(docker::Spec),
    /// Persistence canaries, made from the `canary` section (not writable in
    /// `targets` or `checks`).
    Canary(canary::Spec),
}

impl Kind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Data stores of the stack go under `targets`; everything else under `checks`.
    #[must_use]
    pub const fn is_target(self) -> bool {
        matches!(self, Self::Postgres | Self::Redis | Self::S3)
    }

    /// Whether an entry of `targets` or `checks` may name this kind (the
    /// canaries come from their own section).
    #[must_use]
    pub const fn is_writable(self) -> bool {
        !matches!(self, Self::Canary)
    }

    /// The kinds an entry may name, for messages.
    pub(crate) fn list() -> String {
        Self::iter().filter(|k| k.is_writable()).map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings every kind shares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Common {
    /// The check's own time limit (the scrape deadline may cut it shorter).
    pub timeout: Option<HumanDuration>,
    /// Run on this schedule instead of on scrape.
    pub interval: Option<HumanDuration>,
}

impl Common {
    #[must_use]
    pub fn timeout(self) -> Duration {
        self.timeout.unwrap_or(defaults::CHECK_TIMEOUT).get()
    }
}

impl Spec {
    #[must_use]
    pub fn kind(&self) -> Kind {
        self.into()
    }

    #[must_use]
    pub fn common(&self) -> Common {
        let (timeout, interval) = match self {
            Self::Postgres(s) => (s.timeout, s.interval),
            Self::Redis(s) => (s.timeout, s.interval),
            Self::Http(s) => (s.timeout, s.interval),
            Self::FileFreshness(s) => (s.timeout, s.interval),
            Self::S3(s) => (s.timeout, Some(s.interval)),
            Self::Docker(s) => (Some(s.timeout), Some(s.interval)),
            Self::Canary(s) => (None, Some(s.interval)),
        };
        Common { timeout, interval }
    }

    /// Types one `targets`/`checks` entry by its `kind`, tracking field paths.
    pub(crate) fn from_yaml(value: serde_norway::Value) -> Result<Self, EntryError> {
        let serde_norway::Value::Mapping(mut map) = value else {
            return Err(EntryError::Kind {
                message: "expected a mapping of settings".to_owned(),
                fix: format!("write `kind:` and the kind's settings under the name (kinds: {})", Kind::list()),
            });
        };
        let Some(serde_norway::Value::String(name)) = map.remove("kind") else {
            return Err(EntryError::missing_kind());
        };
        let kind = name.parse::<Kind>().ok().filter(|k| k.is_writable());
        let rest = serde_norway::Value::Mapping(map);
        Ok(match kind {
            Some(Kind::Postgres) => Self::Postgres(typed(rest)?),
            Some(Kind::Redis) => Self::Redis(typed(rest)?),
            Some(Kind::Http) => Self::Http(typed(rest)?),
            Some(Kind::FileFreshness) => Self::FileFreshness(typed(rest)?),
            Some(Kind::S3) => Self::S3(typed(rest)?),
            Some(Kind::Docker) => Self::Docker(typed(rest)?),
            Some(Kind::Canary) | None => return Err(EntryError::unknown_kind(&name)),
        })
    }

    /// Checks rules that span fields, after each field parsed on its own.
    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            Self::Http(s) => s.validate(),
            Self::Postgres(_)
            | Self::Redis(_)
            | Self::FileFreshness(_)
            | Self::S3(_)
            | Self::Docker(_)
            | Self::Canary(_) => Ok(()),
        }
    }
}

fn typed<T: serde::de::DeserializeOwned>(v: serde_norway::Value) -> Result<T, EntryError> {
    serde_path_to_error::deserialize(v).map_err(EntryError::Field)
}

/// A problem one field cannot show, found by a kind's `validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The key inside the entry, such as `steps[1].url`.
    pub key: String,
    pub message: String,
    pub fix: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_from_their_labels() {
        for kind in Kind::iter() {
            assert_eq!(kind.as_str().parse::<Kind>().ok(), Some(kind));
        }
        assert_eq!(Kind::FileFreshness.as_str(), "file_freshness");
        assert!(!Kind::list().contains("canary"));
    }
}
