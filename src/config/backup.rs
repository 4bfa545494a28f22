//! The `backup` section: where sets go, which targets, how many copies are
//! kept, where restore drills run and what they check. Checked against the
//! targets when the config loads.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::checks::{Kind, Spec};
use super::{Config, ConfigError, HumanDuration, MASK, defaults, env_string};

/// The `backup` section of `ops-gen.yml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where sets are written.
    #[serde(default = "Settings::default_dir", deserialize_with = "path")]
    pub dir: PathBuf,
    /// Which targets to back up, by name; every `postgres` and `redis`
    /// target when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, TargetSettings>,
    #[serde(default)]
    pub retention: Retention,
    /// Where `backup drill` starts its throwaway instances.
    #[serde(default)]
    pub drill: Engine,
    /// How PostgreSQL targets are dumped.
    #[serde(default)]
    pub postgres: PostgresSettings,
}

/// `backup.postgres`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSettings {
    /// Include the roles' password hashes in `globals.sql` (needs a
    /// superuser); by default roles are dumped without passwords, so a
    /// set restored elsewhere asks for new ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub role_passwords: bool,
}

/// Per-target backup settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    /// The newest successful backup must be younger than this (default 26h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<HumanDuration>,
    /// PostgreSQL: the databases to dump (default: the URL's database).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<String>,
    /// Sanity checks `backup drill` runs against the restored copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<Sanity>,
    /// S3: copy every object of the bucket into the set, not only its listing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mirror: bool,
}

/// Which copies `backup run` keeps, per target: the scheduled ones (no
/// tag) by `keep_last` and `max_age`, and each tag's by its own rule under
/// `tags` (the same numbers when a tag has none).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Keep at least this many newest copies of each target.
    #[serde(default = "Retention::default_keep_last")]
    pub keep_last: usize,
    /// Delete copies older than this, beyond `keep_last` (never by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<HumanDuration>,
    /// Rules for tagged copies (`pre-restore`, `backup run --tag NAME`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, TagRetention>,
}

/// `backup.retention.tags.<tag>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRetention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<HumanDuration>,
}

impl Retention {
    fn default_keep_last() -> usize {
        7
    }

    /// The rule for copies with `tag` (none: scheduled copies).
    #[must_use]
    pub fn rule(&self, tag: Option<&str>) -> (usize, Option<HumanDuration>) {
        let own = tag.and_then(|t| self.tags.get(t));
        let keep_last = own.and_then(|r| r.keep_last).unwrap_or(self.keep_last).max(1);
        let max_age = own.and_then(|r| r.max_age).or(self.max_age);
        (keep_last, max_age)
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self { keep_last: Self::default_keep_last(), max_age: None, tags: BTreeMap::new() }
    }
}

/// Whether `tag` can name a tag: 1 to 40 lowercase letters, digits, `-`
/// and `_`, starting with a letter or digit (it is shown in lists and
/// metrics, and written into file names of nobody's choosing).
#[must_use]
pub fn valid_tag(tag: &str) -> bool {
    (1..=40).contains(&tag.len())
        && tag.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && tag.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl Settings {
    fn default_dir() -> PathBuf {
        PathBuf::from(defaults::BACKUP_DIR)
    }

    /// Checks the section against the targets of the config.
    pub(crate) fn validate(&self, config: &Config, file: &str) -> Result<(), ConfigError> {
        if let Some(tag) = self.retention.tags.keys().find(|t| !valid_tag(t)) {
            return Err(ConfigError::invalid(
                file,
                format!("backup.retention.tags.{tag}"),
                "a tag is 1 to 40 lowercase letters, digits, `-` and `_`",
                Some("rename the tag (for example `pre-migration`)".to_owned()),
            ));
        }
        self.drill.env.validate(file)?;
        for (name, settings) in &self.targets {
            let key = format!("backup.targets.{name}");
            let kind = config.targets.get(name).map(Spec::kind);
            let drill = settings.drill.clone().unwrap_or_default();
            let sql = !drill.tables.is_empty() || !drill.queries.is_empty();
            let s3 = drill.min_objects.is_some() || drill.bucket.is_some();
            let wrong = match kind {
                Some(Kind::Postgres) if drill.min_keys.is_some() || !drill.keys.is_empty() || s3 => {
                    Some("min_keys`, `keys`, `min_objects` and `bucket")
                }
                Some(Kind::Redis) if sql || s3 => Some("tables`, `queries`, `min_objects` and `bucket"),
                Some(Kind::S3) if sql || drill.min_keys.is_some() => Some("tables`, `queries` and `min_keys"),
                _ => None,
            };
            if let Some(fields) = wrong {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.drill"),
                    format!("`{fields}` do not apply to a {} target", kind.map_or("", Kind::as_str)),
                    Some(
                        "use tables/queries for postgres, min_keys/keys for redis, keys/min_objects/bucket for s3"
                            .to_owned(),
                    ),
                ));
            }
            if kind == Some(Kind::S3) && settings.drill.is_some() && !settings.mirror {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.drill"),
                    "only a mirrored S3 target can be drilled (a set without its objects has nothing to restore)",
                    Some(format!("set `{key}.mirror: true`, or remove `drill`")),
                ));
            }
            if settings.mirror && kind != Some(Kind::S3) {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.mirror"),
                    "only S3 targets are mirrored",
                    Some("remove `mirror` here".to_owned()),
                ));
            }
            match kind {
                Some(Kind::Postgres) => {}
                Some(Kind::S3 | Kind::Redis) if settings.databases.is_empty() => {}
                Some(kind @ (Kind::S3 | Kind::Redis)) => {
                    return Err(ConfigError::invalid(
                        file,
                        format!("{key}.databases"),
                        format!("`databases` does not apply to a {kind} target: it is backed up whole"),
                        Some("remove `databases` here".to_owned()),
                    ));
                }
                Some(other) => {
                    return Err(ConfigError::invalid(
                        file,
                        key,
                        format!("`{other}` targets are not backed up"),
                        Some("list postgres and redis targets".to_owned()),
                    ));
                }
                None => {
                    let known = backupable(config).map(|(n, _)| n).collect::<Vec<_>>().join(", ");
                    return Err(ConfigError::invalid(
                        file,
                        key,
                        format!("no target named `{name}`"),
                        Some(format!(
                            "use a name from `targets` ({})",
                            if known.is_empty() { "none yet" } else { &known }
                        )),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            dir: Self::default_dir(),
            targets: BTreeMap::new(),
            retention: Retention::default(),
            drill: Engine::default(),
            postgres: PostgresSettings::default(),
        }
    }
}

fn path<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
    env_string(deserializer).map(PathBuf::from)
}

pub(crate) fn backupable(config: &Config) -> impl Iterator<Item = (&str, &Spec)> {
    config
        .targets
        .iter()
        .filter(|(_, s)| matches!(s.kind(), Kind::Postgres | Kind::Redis | Kind::S3))
        .map(|(n, s)| (n.as_str(), s))
}

/// Sanity checks of a restored target (`backup.targets.<name>.drill`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sanity {
    /// PostgreSQL: tables that must exist (`schema.table` or `table`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    /// PostgreSQL: queries whose first value must equal `equals` or be at least `min`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<Query>,
    /// Redis: at least this many keys in all databases together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_keys: Option<u64>,
    /// Redis: keys that must exist (in database 0); S3: object keys that
    /// must exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// S3: at least this many objects restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_objects: Option<u64>,
    /// S3: an existing bucket to restore into (under a prefix of the drill's
    /// own, removed afterwards); by default a bucket is created for the drill
    /// and deleted after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
}

/// `backup.drill`: where throwaway instances run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    /// `local`: `initdb`/`pg_ctl` and `redis-server` on this host; `docker`:
    /// containers of the images below on the Docker engine (`DOCKER_HOST`).
    #[serde(default)]
    pub engine: EngineKind,
    /// The PostgreSQL image; `{major}` becomes the dumped server's major version.
    #[serde(default = "Engine::default_postgres_image")]
    pub postgres_image: String,
    /// The Redis image; `{major}` becomes the backed-up server's major version.
    #[serde(default = "Engine::default_redis_image")]
    pub redis_image: String,
    /// Environment variables for every drill container (`docker` only).
    #[serde(default, skip_serializing_if = "DrillEnv::is_empty")]
    pub env: DrillEnv,
}

/// Where a drill's throwaway instances run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    #[default]
    Local,
    Docker,
}

impl Engine {
    fn default_postgres_image() -> String {
        "postgres:{major}".to_owned()
    }
    fn default_redis_image() -> String {
        "redis:{major}".to_owned()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self {
            engine: EngineKind::Local,
            postgres_image: Self::default_postgres_image(),
            redis_image: Self::default_redis_image(),
            env: DrillEnv::default(),
        }
    }
}

/// One sanity query.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Run against this database of the target (default: the first dumped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    pub sql: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
}

/// Variables ops-gen sets itself in every PostgreSQL drill container.
const RESERVED: [&str; 3] = ["POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_HOST_AUTH_METHOD"];

/// `backup.drill.env`: environment variables for every drill container,
/// by name. Values may be `${ENV}` references, resolved at load. `config
/// check` shows a value masked when its name looks secret or it comes from
/// a secret-looking variable, and masks passwords in URLs of the others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DrillEnv(BTreeMap<String, EnvValue>);

/// One value of [`DrillEnv`]: the resolved text, and whether it came from a
/// variable whose name looks secret.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvValue {
    value: String,
    from_secret: bool,
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        let from_secret = super::env_references(&raw).iter().any(|n| super::redact::is_secret_key(n));
        let value = super::expand(&raw).map_err(serde::de::Error::custom)?;
        Ok(Self { value, from_secret })
    }
}

/// Never the value: the name it belongs to decides whether it is secret,
/// and a debug print knows no name.
impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for DrillEnv {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let redactor = super::redact::Redactor::default();
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            if value.from_secret || super::redact::is_secret_key(name) {
                map.serialize_entry(name, MASK)?;
            } else {
                map.serialize_entry(name, &redactor.text(&value.value))?;
            }
        }
        map.end()
    }
}

impl DrillEnv {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `NAME=value` entries, as a container's environment takes them.
    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.iter().map(|(name, value)| format!("{name}={}", value.value)).collect()
    }

    /// Checks every name is a variable name, and none is one ops-gen sets.
    pub(crate) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        for name in self.0.keys() {
            let key = format!("backup.drill.env.{name}");
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ConfigError::invalid(
                    file,
                    key,
                    format!("`{name}` is not an environment variable name"),
                    Some("use letters, digits and `_`, not starting with a digit (e.g. `POSTGRES_INITDB_ARGS`)".into()),
                ));
            }
            if RESERVED.contains(&name.as_str()) {
                return Err(ConfigError::invalid(
                    file,
                    key,
                    format!(
                        "ops-gen sets `{name}` itself in every drill container (a fresh random password for the `postgres` superuser, with password authentication)"
                    ),
                    Some(format!("remove `{name}` from `backup.drill.env`")),
                ));
            }
        }
        Ok(())
    }
}
