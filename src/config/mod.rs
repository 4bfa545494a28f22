//! The `ops-gen.yml` config: its shape, its defaults, and loading it.
//!
//! Loading is strict and happens once, before any work starts: unknown keys,
//! wrong types, bad URLs and unset `${ENV}` references are all refused here
//! with an error that names the file, the key and the fix ([`ConfigError`]).
//! A running exporter never discovers a bad value at scrape time.
//!
//! Parsing is two-phase. The document is read into `RawConfig`, where each
//! `targets`/`checks` entry is still a YAML value; each entry is then turned
//! into its kind's spec by `Spec::from_yaml`, which dispatches on `kind` and
//! tracks the path of every field, so an error says `targets.db.url` rather
//! than just `targets.db`.
//!
//! Without a config file the built-in defaults apply ([`Config::default`]):
//! the exporter serves its own metrics and watches the default backup folder.

pub mod auth;
pub mod backup;
pub mod checks;
mod duration;
mod env;
mod error;
pub mod notify;
pub mod profile;
pub mod redact;
pub mod schedule;
mod stack;
pub mod web;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strum::IntoEnumIterator as _;

pub use duration::HumanDuration;
pub use env::{MASK, Redact, Redacted, Secret, expand, mask_query, references as env_references, string as env_string};
pub use error::{ConfigError, Location};
pub use stack::{Stack, project_name_from};

use checks::{Kind, Spec};

/// The config file read when neither `--config` nor `OPS_GEN_CONFIG` is given.
pub const DEFAULT_PATH: &str = "ops-gen.yml";

/// Every default value, in one place.
pub mod defaults {
    use std::net::{Ipv4Addr, SocketAddr};

    use super::HumanDuration;

    /// Loopback only: the exporter is reachable from elsewhere only on purpose.
    pub const LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9743);
    /// The scrape deadline when Prometheus does not send one (its own default).
    pub const SCRAPE_TIMEOUT: HumanDuration = HumanDuration::from_secs(10);
    /// Results younger than this are served again instead of re-running a check.
    pub const MIN_INTERVAL: HumanDuration = HumanDuration::from_secs(5);
    /// The shortest scrape deadline a client's header may ask for: a shorter
    /// one would fail every check that needs a round trip.
    pub const MIN_SCRAPE_TIMEOUT: HumanDuration = HumanDuration::from_secs(1);
    /// The longest scrape deadline a client's header may ask for.
    pub const MAX_SCRAPE_TIMEOUT: HumanDuration = HumanDuration::from_secs(120);
    /// Kept free before the scrape deadline to encode and send the answer.
    pub const DEADLINE_MARGIN: HumanDuration = HumanDuration::from_millis(250);
    /// A single check's own time limit.
    pub const CHECK_TIMEOUT: HumanDuration = HumanDuration::from_secs(5);
    /// Where `ops-gen backup` writes its sets.
    pub const BACKUP_DIR: &str = "output/backups";
    /// A nightly backup plus two hours of slack.
    pub const BACKUP_MAX_AGE: HumanDuration = HumanDuration::from_secs(26 * 3600);
    /// The name of the built-in backup-folder check.
    pub const BACKUP_CHECK: &str = "backups";
}

/// A loaded, validated config.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Address `ops-gen serve` listens on.
    pub listen: SocketAddr,
    pub scrape: Scrape,
    /// Data stores of the stack (PostgreSQL, Redis), by name.
    pub targets: BTreeMap<String, Spec>,
    /// Smoke and freshness checks, by name.
    pub checks: BTreeMap<String, Spec>,
    /// Who hears about checks going red and green again.
    pub notify: notify::Settings,
    /// Who may call the ops API.
    pub auth: auth::Settings,
    /// Where and what `ops-gen backup` writes.
    pub backup: backup::Settings,
    /// Persistence canaries.
    pub canary: checks::canary::Settings,
    /// The app's compose project and files.
    pub stack: Stack,
    /// The ops profile `ops-gen compose` generates and runs.
    pub profile: profile::Settings,
    /// The jobs `ops-gen serve` runs on a schedule.
    pub schedule: schedule::Settings,
    /// The checks the `canary` section makes, by name (`canary-<target>`).
    #[serde(skip)]
    pub canaries: BTreeMap<String, Spec>,
}

/// How scrapes run checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scrape {
    /// The deadline when Prometheus does not send `X-Prometheus-Scrape-Timeout-Seconds`.
    #[serde(default = "Scrape::default_timeout")]
    pub timeout: HumanDuration,
    /// A result younger than this is reused by the next scrape.
    #[serde(default = "Scrape::default_min_interval")]
    pub min_interval: HumanDuration,
    /// Time kept free before the deadline to send the answer.
    #[serde(default = "Scrape::default_margin")]
    pub margin: HumanDuration,
    /// A header asking for less is raised to this (a client must not be
    /// able to make checks fail by asking for an impossible deadline).
    #[serde(default = "Scrape::default_min_timeout")]
    pub min_timeout: HumanDuration,
    /// A header asking for more is lowered to this.
    #[serde(default = "Scrape::default_max_timeout")]
    pub max_timeout: HumanDuration,
}

impl Scrape {
    fn default_timeout() -> HumanDuration {
        defaults::SCRAPE_TIMEOUT
    }
    fn default_min_interval() -> HumanDuration {
        defaults::MIN_INTERVAL
    }
    fn default_margin() -> HumanDuration {
        defaults::DEADLINE_MARGIN
    }
    fn default_min_timeout() -> HumanDuration {
        defaults::MIN_SCRAPE_TIMEOUT
    }
    fn default_max_timeout() -> HumanDuration {
        defaults::MAX_SCRAPE_TIMEOUT
    }
}

impl Scrape {
    /// The time checks get within one scrape: the scrape's own timeout (from
    /// Prometheus' header, kept between `min_timeout` and `max_timeout`, or
    /// `timeout`) less the margin.
    #[must_use]
    pub fn budget(&self, header: Option<std::time::Duration>) -> std::time::Duration {
        let timeout =
            header.map_or(self.timeout.get(), |asked| asked.clamp(self.min_timeout.get(), self.max_timeout.get()));
        let margin = self.margin.get();
        if timeout > margin * 2 { timeout.saturating_sub(margin) } else { timeout.mul_f32(0.8) }
    }
}

impl Default for Scrape {
    fn default() -> Self {
        Self {
            timeout: defaults::SCRAPE_TIMEOUT,
            min_interval: defaults::MIN_INTERVAL,
            margin: defaults::DEADLINE_MARGIN,
            min_timeout: defaults::MIN_SCRAPE_TIMEOUT,
            max_timeout: defaults::MAX_SCRAPE_TIMEOUT,
        }
    }
}

impl Default for Config {
    /// The embedded default: no targets, and one check that watches the
    /// default backup folder for a fresh, complete backup set.
    fn default() -> Self {
        let backups = checks::file_freshness::Spec::backup_folder(Path::new(defaults::BACKUP_DIR));
        Self {
            listen: defaults::LISTEN,
            scrape: Scrape::default(),
            targets: BTreeMap::new(),
            checks: BTreeMap::from([(defaults::BACKUP_CHECK.to_owned(), Spec::FileFreshness(backups))]),
            notify: notify::Settings::default(),
            auth: auth::Settings::default(),
            backup: backup::Settings::default(),
            canary: checks::canary::Settings::default(),
            stack: Stack::default(),
            profile: profile::Settings::default(),
            schedule: schedule::Settings::default(),
            canaries: BTreeMap::new(),
        }
    }
}

/// The document as written, before each entry is typed by its `kind`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "RawConfig::default_listen")]
    listen: String,
    #[serde(default)]
    scrape: Scrape,
    #[serde(default)]
    targets: BTreeMap<String, serde_norway::Value>,
    #[serde(default)]
    checks: BTreeMap<String, serde_norway::Value>,
    #[serde(default)]
    notify: notify::Settings,
    #[serde(default)]
    auth: auth::Settings,
    #[serde(default)]
    backup: backup::Settings,
    #[serde(default)]
    canary: checks::canary::Settings,
    #[serde(default)]
    stack: Stack,
    #[serde(default)]
    profile: profile::Settings,
    #[serde(default)]
    schedule: schedule::Raw,
}

impl RawConfig {
    fn default_listen() -> String {
        defaults::LISTEN.to_string()
    }
}

/// Where a config came from, for messages and for reloading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Defaults,
}

impl Source {
    /// How messages name this source.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Defaults => "<built-in defaults>".to_owned(),
        }
    }
}

/// A config together with where it was read from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub source: Source,
}

impl Loaded {
    /// Loads `path`, or `ops-gen.yml` in the current folder, or the built-in
    /// defaults when `path` is `None` and that file does not exist.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let explicit = path.is_some();
        let path = path.unwrap_or_else(|| Path::new(DEFAULT_PATH));
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let config = Config::parse(&text, &path.display().to_string())?;
                Ok(Self { config, source: Source::File(path.to_owned()) })
            }
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Self { config: Config::default(), source: Source::Defaults })
            }
            Err(source) => Err(ConfigError::Read { path: path.to_owned(), source }),
        }
    }

    /// Reads the same source again (used by reload).
    pub fn reload(&self) -> Result<Self, ConfigError> {
        match &self.source {
            Source::File(path) => Self::load(Some(path)),
            Source::Defaults => Self::load(None),
        }
    }
}

impl Config {
    /// Parses and validates a config document; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        Self::parse_document(text, file).map_err(|e| every_unset_variable(e, text))
    }

    fn parse_document(text: &str, file: &str) -> Result<Self, ConfigError> {
        // A file holding only comments is a valid, empty config.
        let text =
            if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) { "{}" } else { text };
        if let Some(error) = tab_indent(text, file) {
            return Err(error);
        }
        let raw: RawConfig = serde_path_to_error::deserialize(serde_norway::Deserializer::from_str(text))
            .map_err(|e| yaml_error(file, "", &e.path().to_string(), e.inner()))?;

        let listen = raw.listen.parse::<SocketAddr>().map_err(|_| {
            ConfigError::invalid(
                file,
                "listen",
                format!("`{}` is not an address with a port", raw.listen),
                Some("write it as `127.0.0.1:9743` (or `0.0.0.0:9743` to listen on every interface)".to_owned()),
            )
        })?;
        let targets = typed_entries(file, "targets", raw.targets)?;
        let mut checks = typed_entries(file, "checks", raw.checks)?;
        attach_stack(file, &raw.stack, &mut checks)?;
        let canaries = canary_checks(file, &raw.canary, &targets, &checks)?;
        let schedule = schedule::Settings::from_raw(file, raw.schedule)?;
        let config = Self {
            listen,
            scrape: raw.scrape,
            targets,
            checks,
            notify: raw.notify,
            auth: raw.auth,
            backup: raw.backup,
            canary: raw.canary,
            stack: raw.stack,
            profile: raw.profile,
            schedule,
            canaries,
        };
        config.validate(file)?;
        let mut config = config;
        if let Some(path) = &config.auth.web_config {
            config.auth.web = Some(web::WebConfig::load(path, file, "auth.web_config")?);
        }
        Ok(config)
    }

    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let positive = |key: &str, d: HumanDuration| {
            if d.get().is_zero() {
                Err(ConfigError::invalid(
                    file,
                    key,
                    "must be longer than zero",
                    Some("write a duration such as `10s`".to_owned()),
                ))
            } else {
                Ok(())
            }
        };
        positive("scrape.timeout", self.scrape.timeout)?;
        if self.scrape.min_timeout > self.scrape.max_timeout {
            return Err(ConfigError::invalid(
                file,
                "scrape.min_timeout",
                format!("{} is longer than scrape.max_timeout {}", self.scrape.min_timeout, self.scrape.max_timeout),
                Some("keep min_timeout at or below max_timeout (defaults `1s` and `2m`)".to_owned()),
            ));
        }
        if self.scrape.margin >= self.scrape.min_timeout {
            return Err(ConfigError::invalid(
                file,
                "scrape.margin",
                format!(
                    "{} leaves no time for checks within scrape.min_timeout {}",
                    self.scrape.margin, self.scrape.min_timeout
                ),
                Some("keep the margin well under the shortest deadline, e.g. `250ms`".to_owned()),
            ));
        }
        if self.scrape.margin >= self.scrape.timeout {
            return Err(ConfigError::invalid(
                file,
                "scrape.margin",
                format!(
                    "{} leaves no time for checks within scrape.timeout {}",
                    self.scrape.margin, self.scrape.timeout
                ),
                Some("keep the margin well under the timeout, e.g. `250ms`".to_owned()),
            ));
        }
        if self.notify.webhook.as_ref().is_some_and(|url| url.get().as_url().is_none()) {
            return Err(ConfigError::invalid(
                file,
                "notify.webhook",
                "`{{name}}` placeholders belong to http flows, not to the webhook",
                Some("write the webhook's full URL".to_owned()),
            ));
        }
        positive("notify.timeout", self.notify.timeout)?;
        self.auth.validate(file)?;
        self.backup.validate(self, file)?;
        self.profile.validate(file)?;
        for (section, entries, wants_target) in [("targets", &self.targets, true), ("checks", &self.checks, false)] {
            for (name, spec) in entries {
                let key = format!("{section}.{name}");
                validate_name(file, &key, name)?;
                if spec.kind().is_target() != wants_target {
                    let other = if wants_target { "checks" } else { "targets" };
                    return Err(ConfigError::invalid(
                        file,
                        format!("{key}.kind"),
                        format!("`{}` does not belong under `{section}`", spec.kind()),
                        Some(format!("move `{name}` under `{other}`")),
                    ));
                }
                if let Some(other) = (section == "checks").then(|| self.targets.get(name)).flatten() {
                    return Err(ConfigError::invalid(
                        file,
                        key,
                        format!("the name is already used by a {} target", other.kind()),
                        Some("give every target and check its own name".to_owned()),
                    ));
                }
                spec.validate().map_err(|invalid| {
                    ConfigError::invalid(file, format!("{key}.{}", invalid.key), invalid.message, Some(invalid.fix))
                })?;
                if let Some(timeout) = spec.common().timeout {
                    positive(&format!("{key}.timeout"), timeout)?;
                }
                if let Some(interval) = spec.common().interval {
                    positive(&format!("{key}.interval"), interval)?;
                }
            }
        }
        Ok(())
    }

    /// Every target and check, as one list in a stable order (targets first).
    pub fn probes(&self) -> impl Iterator<Item = (&str, &Spec)> {
        self.targets.iter().chain(&self.checks).chain(&self.canaries).map(|(name, spec)| (name.as_str(), spec))
    }
}

/// Gives the `docker` check its Compose project and files from `stack`:
/// the files resolve against the config's folder, which is also the
/// project folder (as for `ops-gen compose`).
fn attach_stack(file: &str, stack: &Stack, checks: &mut BTreeMap<String, Spec>) -> Result<(), ConfigError> {
    let base = Path::new(file).parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_owned());
    let mut seen: Option<&str> = None;
    for (name, spec) in checks.iter_mut() {
        let Spec::Docker(docker) = spec else { continue };
        if let Some(first) = seen {
            return Err(ConfigError::invalid(
                file,
                format!("checks.{name}.kind"),
                format!("`{first}` already watches the stack; its series are labelled by project, not by check"),
                Some(format!("keep one `docker` check (`{first}`)")),
            ));
        }
        seen = Some(name);
        if stack.files.is_empty() {
            return Err(ConfigError::invalid(
                file,
                format!("checks.{name}.kind"),
                "a `docker` check compares the running stack with its compose files, and `stack.files` lists none",
                Some("list the app's compose files under `stack.files`, e.g. `files: [docker-compose.yml]`".to_owned()),
            ));
        }
        docker.project = stack.project.clone().unwrap_or_else(|| project_name_from(&base));
        docker.files = stack.files.iter().map(|f| base.join(f)).collect();
        docker.dir.clone_from(&base);
    }
    Ok(())
}

/// The canary checks of the `canary` section, one per chosen target.
fn canary_checks(
    file: &str,
    settings: &checks::canary::Settings,
    targets: &BTreeMap<String, Spec>,
    checks: &BTreeMap<String, Spec>,
) -> Result<BTreeMap<String, Spec>, ConfigError> {
    use checks::canary;
    if !settings.enabled {
        return Ok(BTreeMap::new());
    }
    if !canary::valid_table(&settings.table) {
        return Err(ConfigError::invalid(
            file,
            "canary.table",
            format!("`{}` is not a plain table name", settings.table),
            Some("use lowercase letters, digits and `_`, starting with a letter or `_`".to_owned()),
        ));
    }
    let chosen: Vec<&String> = if settings.targets.is_empty() {
        targets
            .iter()
            .filter(|(_, s)| matches!(s, Spec::Postgres(_) | Spec::Redis(_) | Spec::S3(_)))
            .map(|(n, _)| n)
            .collect()
    } else {
        settings.targets.iter().collect()
    };
    let mut canaries = BTreeMap::new();
    for target in chosen {
        let store = match targets.get(target) {
            Some(Spec::Postgres(s)) => canary::Store::Postgres(s.clone()),
            Some(Spec::Redis(s)) => canary::Store::Redis(s.clone()),
            Some(Spec::S3(s)) => canary::Store::S3(s.clone()),
            _ => {
                return Err(ConfigError::invalid(
                    file,
                    "canary.targets",
                    format!("`{target}` is not a postgres, redis or s3 target"),
                    Some("list names from `targets`".to_owned()),
                ));
            }
        };
        let name = format!("canary-{target}");
        if checks.contains_key(&name) {
            return Err(ConfigError::invalid(
                file,
                format!("checks.{name}"),
                "the name is taken by the canary of a target",
                Some("rename the check".to_owned()),
            ));
        }
        let spec = canary::Spec {
            target: target.clone(),
            store,
            table: settings.table.clone(),
            key: settings.key.clone(),
            interval: settings.interval,
        };
        canaries.insert(name, Spec::Canary(spec));
    }
    Ok(canaries)
}

/// Names become label values and file names: keep them to a small alphabet.
fn validate_name(file: &str, key: &str, name: &str) -> Result<(), ConfigError> {
    let ok = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            file,
            key,
            format!("`{name}` is not a valid name"),
            Some("use 1 to 63 lowercase letters, digits, `-` or `_`, starting with a letter or digit".to_owned()),
        ))
    }
}

fn typed_entries(
    file: &str,
    section: &str,
    raw: BTreeMap<String, serde_norway::Value>,
) -> Result<BTreeMap<String, Spec>, ConfigError> {
    raw.into_iter()
        .map(|(name, value)| {
            let key = format!("{section}.{name}");
            Spec::from_yaml(value).map(|spec| (name, spec)).map_err(|e| match e {
                EntryError::Kind { message, fix } => {
                    ConfigError::invalid(file, format!("{key}.kind"), message, Some(fix))
                }
                EntryError::Field(e) => yaml_error(file, &key, &e.path().to_string(), e.inner()),
            })
        })
        .collect()
}

/// Why one `targets`/`checks` entry could not be typed.
#[derive(Debug)]
pub enum EntryError {
    /// `kind` is missing or names no known kind.
    Kind { message: String, fix: String },
    /// A field of the kind's spec is wrong.
    Field(serde_path_to_error::Error<serde_norway::Error>),
}

impl EntryError {
    pub(crate) fn missing_kind() -> Self {
        Self::Kind { message: "missing `kind`".to_owned(), fix: format!("add `kind:` with one of {}", Kind::list()) }
    }

    pub(crate) fn unknown_kind(found: &str) -> Self {
        let fix = match nearest(found, Kind::iter().filter(|k| k.is_writable()).map(Kind::as_str)) {
            Some(near) => format!("did you mean `{near}`? (kinds: {})", Kind::list()),
            None => format!("use one of {}", Kind::list()),
        };
        Self::Kind { message: format!("unknown kind `{found}`"), fix }
    }
}

/// Turns a YAML/serde error into a [`ConfigError`] naming the full key, with
/// a suggestion for misspelt keys and variants.
/// A line indented with a tab, which YAML refuses with a cryptic "found
/// character that cannot start any token": said in plain words, with the
/// top-level section it is in.
fn tab_indent(text: &str, file: &str) -> Option<ConfigError> {
    let mut section = String::new();
    for (n, line) in text.lines().enumerate() {
        if !line.starts_with([' ', '\t']) {
            if let Some((key, _)) = line.split_once(':')
                && !line.trim_start().starts_with('#')
            {
                key.trim().clone_into(&mut section);
            }
            continue;
        }
        let indent = &line[..line.len() - line.trim_start().len()];
        if let Some(column) = indent.find('\t') {
            return Some(ConfigError::Invalid {
                file: file.to_owned(),
                key: section,
                message: format!("line {} is indented with a tab; YAML indents with spaces only", n + 1),
                location: Some(Location { line: n + 1, column: column + 1 }),
                fix: Some("replace the tab with spaces (two per level, as in examples/ops-gen.yml)".to_owned()),
            });
        }
    }
    None
}

/// When an unset variable stopped loading, names every unset one at once
/// (with the line of its first use), so one run shows all there is to fix.
fn every_unset_variable(error: ConfigError, text: &str) -> ConfigError {
    let ConfigError::Invalid { file, key, message, location, fix } = error else { return error };
    let unset = env::unset(text);
    if !message.contains("is not set") || unset.len() < 2 {
        return ConfigError::Invalid { file, key, message, location, fix };
    }
    let names: Vec<String> = unset.iter().map(|(name, line)| format!("`{name}` (line {line})")).collect();
    let exports: Vec<String> = unset.iter().map(|(name, _)| format!("{name}=…")).collect();
    ConfigError::Invalid {
        file,
        key,
        message: format!("{} environment variables are not set: {}", unset.len(), names.join(", ")),
        location,
        fix: Some(format!(
            "export {} before starting ops-gen, or give each a default: `${{NAME:-default}}`",
            exports.join(" ")
        )),
    }
}

/// A serde type name as people say it, with an example value.
fn in_words(expected: &str) -> Option<(&'static str, &'static str)> {
    Some(match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" | "i64" | "i32" | "isize" | "a nonzero usize" => {
            ("a whole number", "`7`")
        }
        "f64" | "f32" => ("a number", "`0.5`"),
        "a boolean" => ("`true` or `false`", ""),
        "a sequence" => ("a list", "`[a, b]`, or one `- item` per line"),
        "a map" => ("a mapping", "`key: value` lines indented under it"),
        other if other.starts_with("struct ") => ("a mapping", "`key: value` lines indented under it"),
        _ => return None,
    })
}

fn yaml_error(file: &str, prefix: &str, path: &str, err: &serde_norway::Error) -> ConfigError {
    let location = err.location().map(|l| Location { line: l.line(), column: l.column() });
    // serde_norway prefixes its own partial path and appends the position;
    // we print both from structured data, so keep only the sentence itself.
    let mut message = err.to_string();
    if let Some(loc) = &location {
        let suffix = format!(" at line {} column {}", loc.line, loc.column);
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    if let Some((head, tail)) = message.split_once(": ")
        && !head.contains(' ')
        && !head.is_empty()
    {
        message = tail.to_owned();
    }

    let mut key = [prefix, path].iter().filter(|s| !s.is_empty() && **s != ".").copied().collect::<Vec<_>>().join(".");
    // serde_path_to_error's `?` stands for a key the YAML parser never read.
    while let Some(known) = key.strip_suffix(".?").or_else(|| (key == "?").then_some("")).map(str::len) {
        key.truncate(known);
    }
    if message.starts_with("did not find expected key")
        && let Some(loc) = &location
    {
        return ConfigError::Invalid {
            file: file.to_owned(),
            key,
            message: format!("line {} is not indented like the keys around it", loc.line),
            location,
            fix: Some("indent it with as many spaces as the keys at its level (two per level)".to_owned()),
        };
    }
    let mut fix = None;
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        if key.is_empty() {
            field.clone_into(&mut key);
        } else if !key.ends_with(field) {
            key = format!("{key}.{field}");
        }
        let candidates = backticked(expected);
        fix = Some(match nearest(field, candidates.iter().copied()) {
            Some(near) => format!("did you mean `{near}`? (valid keys here: {})", candidates.join(", ")),
            None => format!("remove it (valid keys here: {})", candidates.join(", ")),
        });
        message = format!("unknown key `{field}`");
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (variant, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates = backticked(expected);
        fix = Some(match nearest(variant, candidates.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("use one of {}", candidates.join(", ")),
        });
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        fix = Some(format!("add `{field}:` here"));
    } else if let Some((found, expected)) = message.split_once(", expected ")
        && let Some((noun, example)) = in_words(expected)
    {
        let found = found.strip_prefix("invalid type: ").unwrap_or(found);
        let found = match found.split_once(' ') {
            Some(("string", value)) => value.trim_matches('"').to_owned(),
            Some(("integer" | "floating", value)) => value.replace("point ", "").trim_matches('`').to_owned(),
            _ => found.to_owned(),
        };
        message = format!("`{found}` is not {noun}");
        fix = Some(if example.is_empty() { format!("write {noun}") } else { format!("write {noun}, e.g. {example}") });
    } else if let Some((_, expected)) = message.split_once(", expected ") {
        fix = Some(match expected {
            "a boolean" => "write `true` or `false`".to_owned(),
            "a string" => "write a text value (quote it if it looks like a number)".to_owned(),
            "a map" | "struct Scrape" => "write the settings as `key: value` lines indented under it".to_owned(),
            other => format!("write {other}"),
        });
    } else if location.is_some() && key.is_empty() || message.contains("while parsing") {
        fix = Some("correct the YAML syntax there (quote values that contain `: `, ` #`, `[` or `{`)".to_owned());
        if let Some((head, _)) = message.split_once(" at line ") {
            message = head.to_owned();
        }
    }
    ConfigError::Invalid { file: file.to_owned(), key, message, location, fix }
}

/// The words in backticks of a serde "expected `a`, `b` or `c`" list.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The candidate closest to `word`, if any is close enough to be a typo.
#[must_use]
pub fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text, "ops-gen.yml").unwrap_err().to_string()
    }

    #[test]
    fn empty_and_comment_only_files_are_valid() {
        assert!(Config::parse("", "f").unwrap().checks.is_empty());
        assert!(Config::parse("# nothing yet\n", "f").unwrap().targets.is_empty());
    }

    #[test]
    fn unknown_top_level_key_suggests_the_nearest() {
        let e = err("listn: 127.0.0.1:1\n");
        assert!(e.contains("at `listn`"), "{e}");
        assert!(e.contains("did you mean `listen`?"), "{e}");
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn unknown_key_inside_an_entry_names_the_full_path() {
        let e = err("targets:\n  db:\n    kind: postgres\n    urll: postgres://x@localhost/db\n");
        assert!(e.contains("at `targets.db.urll`"), "{e}");
        assert!(e.contains("did you mean `url`?"), "{e}");
    }

    #[test]
    fn misspelt_kind_is_suggested() {
        let e = err("targets:\n  db:\n    kind: postgress\n    url: postgres://x@localhost/db\n");
        assert!(e.contains("at `targets.db.kind`"), "{e}");
        assert!(e.contains("did you mean `postgres`?"), "{e}");
    }

    #[test]
    fn kind_in_the_wrong_section_says_where_it_goes() {
        let e = err("targets:\n  home:\n    kind: http\n    url: http://localhost/\n");
        assert!(e.contains("move `home` under `checks`"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = err("scrape:\n  timeout: 10\n");
        assert!(e.contains("at `scrape.timeout`"), "{e}");
    }

    #[test]
    fn names_are_restricted() {
        let e = err("checks:\n  Bad Name:\n    kind: file_freshness\n    path: /tmp/*.dump\n    max_age: 1h\n");
        assert!(e.contains("not a valid name"), "{e}");
    }

    #[test]
    fn bad_listen_address_has_a_fix() {
        let e = err("listen: localhost\n");
        assert!(e.contains("at `listen`") && e.contains("127.0.0.1:9743"), "{e}");
    }

    #[test]
    fn canaries_are_made_per_store_target_and_checked() {
        let base = "targets:\n  db:\n    kind: postgres\n    url: postgres://u@h/d\n  cache:\n    kind: redis\n    url: redis://h\nchecks:\n  web:\n    kind: http\n    url: http://h/\n";
        let c = Config::parse(&format!("{base}canary:\n  enabled: true\n"), "f").unwrap();
        assert_eq!(c.canaries.keys().collect::<Vec<_>>(), ["canary-cache", "canary-db"]);
        assert!(Config::parse(base, "f").unwrap().canaries.is_empty(), "off by default");
        let e = err(&format!("{base}canary:\n  enabled: true\n  targets: [web]\n"));
        assert!(e.contains("`web` is not a postgres, redis or s3 target"), "{e}");
        let e = err(&format!("{base}canary:\n  enabled: true\n  table: \"x; DROP TABLE y\"\n"));
        assert!(e.contains("at `canary.table`"), "{e}");
    }

    #[test]
    fn defaults_watch_the_backup_folder() {
        let c = Config::default();
        assert_eq!(c.listen, defaults::LISTEN);
        assert!(matches!(c.checks.get(defaults::BACKUP_CHECK), Some(Spec::FileFreshness(_))));
    }
}
