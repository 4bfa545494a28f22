//! The `schedule` section: the jobs `ops-gen serve` runs by itself (take a
//! backup, verify it, drill it, run smoke, clean storage), when, and how.
//!
//! A job runs on a cron expression (five fields, or six with seconds
//! first; `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`) in the
//! section's `time_zone`, or `after` another job: then after each of that
//! job's successful runs ("verify after each backup"). Its `run` is one of
//! a closed set of kinds, each with its own options ([`Task`]). Everything
//! is checked here, at load: a bad expression, an unknown time zone, an
//! option of another kind, an `after` that names no job or waits in a
//! circle are refused with the key and the fix, so a running scheduler
//! never meets one. What a job does lives in `crate::jobs`.
//!
//! Expressions are parsed by croner (seconds optional, no year field) and
//! evaluated in the IANA zone from chrono-tz, so a 02:30 job follows the
//! zone's daylight saving time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::SystemTime;

use serde::{Deserialize, Serialize, Serializer};

use super::{ConfigError, HumanDuration, nearest, validate_name};

/// The `schedule` section of `ops-gen.yml`, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// The zone cron expressions are read in (default `UTC`).
    #[serde(serialize_with = "zone_name")]
    pub time_zone: chrono_tz::Tz,
    /// Each scheduled run starts after a random delay within this window,
    /// so hosts sharing a store do not start together (default none).
    pub jitter: HumanDuration,
    /// After downtime, run a job whose time passed once at start (default on).
    pub catch_up: bool,
    /// Where each job's last run is kept (default `output/jobs/state.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<PathBuf>,
    /// The jobs, by name.
    pub jobs: BTreeMap<String, Job>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            time_zone: chrono_tz::Tz::UTC,
            jitter: HumanDuration::from_secs(0),
            catch_up: true,
            state: None,
            jobs: BTreeMap::new(),
        }
    }
}

/// One job: when it runs and what it does.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    #[serde(flatten)]
    pub trigger: Trigger,
    #[serde(flatten)]
    pub task: Task,
}

/// When a job runs.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// On the clock.
    Cron(Expression),
    /// After each successful run of the named job.
    After(String),
}

/// What a job does, with the options of its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "run", rename_all = "kebab-case")]
pub enum Task {
    /// `backup run`: one set of the configured targets.
    Backup {
        /// Only targets of these kinds (all when empty).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        only: Vec<Store>,
        /// The set's tag (`None`: a scheduled copy, kept by the main rule).
        #[serde(skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
    },
    /// `backup verify` of the newest set.
    Verify,
    /// `backup drill` of the newest set.
    Drill,
    /// `ops-gen smoke`.
    Smoke {
        /// Each step's limit (default as `ops-gen smoke`).
        #[serde(skip_serializing_if = "Option::is_none")]
        step_timeout: Option<HumanDuration>,
    },
    /// `storage clean --yes`.
    StorageClean {
        /// Bundles and smoke results to keep (default as `storage clean`).
        #[serde(skip_serializing_if = "Option::is_none")]
        keep: Option<u64>,
    },
}

impl Task {
    /// The kind's name, as `run:` takes it.
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Self::Backup { .. } => Kind::Backup,
            Self::Verify => Kind::Verify,
            Self::Drill => Kind::Drill,
            Self::Smoke { .. } => Kind::Smoke,
            Self::StorageClean { .. } => Kind::StorageClean,
        }
    }
}

/// The kinds of job (`run:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::Display)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Kind {
    Backup,
    Verify,
    Drill,
    Smoke,
    StorageClean,
}

impl Kind {
    /// Whether the job works in the backup folder and so takes its lock.
    #[must_use]
    pub fn uses_backup_folder(self) -> bool {
        !matches!(self, Self::Smoke)
    }
}

/// A kind of store a backup job may be limited to (`only:`), as `backup
/// run --only` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    Postgres,
    Redis,
    S3,
}

/// A cron expression, parsed once at load.
#[derive(Debug, Clone)]
pub struct Expression {
    text: String,
    cron: Box<croner::Cron>,
}

impl Expression {
    /// Parses `text`: five fields, or six with seconds first, or an
    /// `@hourly`-style shortcut.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build();
        let cron = parser.parse(text).map_err(|e| e.to_string())?;
        Ok(Self { text: text.trim().to_owned(), cron: Box::new(cron) })
    }

    /// The expression as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first time the expression matches strictly after `after`, read
    /// in `zone`; `None` when it never matches again.
    #[must_use]
    pub fn next_after(&self, after: SystemTime, zone: chrono_tz::Tz) -> Option<SystemTime> {
        let from = chrono::DateTime::<chrono::Utc>::from(after).with_timezone(&zone);
        self.cron.find_next_occurrence(&from, false).ok().map(SystemTime::from)
    }

    /// The last time the expression matched strictly before `before`.
    #[must_use]
    pub fn previous_before(&self, before: SystemTime, zone: chrono_tz::Tz) -> Option<SystemTime> {
        let from = chrono::DateTime::<chrono::Utc>::from(before).with_timezone(&zone);
        self.cron.find_previous_occurrence(&from, false).ok().map(SystemTime::from)
    }
}

impl Serialize for Expression {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `serialize_with` passes a reference
fn zone_name<S: Serializer>(zone: &chrono_tz::Tz, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(zone.name())
}

impl Settings {
    /// Where the jobs' last runs are kept.
    #[must_use]
    pub fn state_path(&self) -> PathBuf {
        self.state.clone().unwrap_or_else(|| PathBuf::from(crate::output::JOBS_STATE))
    }

    /// The jobs that run after each successful run of `job`, by name.
    pub fn followers<'a>(&'a self, job: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.jobs
            .iter()
            .filter(move |(_, j)| matches!(&j.trigger, Trigger::After(a) if a == job))
            .map(|(n, _)| n.as_str())
    }

    /// When `job` runs next after `now`; `None` for a job that runs after
    /// another (and for an unknown name).
    #[must_use]
    pub fn next_run(&self, job: &str, now: SystemTime) -> Option<SystemTime> {
        match &self.jobs.get(job)?.trigger {
            Trigger::Cron(expression) => expression.next_after(now, self.time_zone),
            Trigger::After(_) => None,
        }
    }

    /// How `job`'s schedule reads for people: `0 30 2 * * * (Europe/Berlin)`
    /// or `after nightly-backup`.
    #[must_use]
    pub fn describe(&self, job: &Job) -> String {
        match &job.trigger {
            Trigger::Cron(expression) => format!("{} ({})", expression.as_str(), self.time_zone.name()),
            Trigger::After(other) => format!("after {other}"),
        }
    }
}

/// The section as written, before it is checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    jitter: Option<HumanDuration>,
    #[serde(default)]
    catch_up: Option<bool>,
    #[serde(default)]
    state: Option<PathBuf>,
    #[serde(default)]
    jobs: BTreeMap<String, RawJob>,
}

/// One job as written: every kind's options, checked against its `run`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    #[serde(default)]
    cron: Option<String>,
    #[serde(default)]
    after: Option<String>,
    run: Kind,
    #[serde(default)]
    only: Option<Vec<Store>>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    step_timeout: Option<HumanDuration>,
    #[serde(default)]
    keep: Option<u64>,
}

/// The shortcuts croner reads, for messages.
const SHORTCUTS: &str = "`@hourly`, `@daily`, `@weekly`, `@monthly`";

impl Settings {
    /// Checks the section as written; `file` names the config in errors.
    pub(super) fn from_raw(file: &str, raw: Raw) -> Result<Self, ConfigError> {
        let time_zone = match raw.time_zone.as_deref() {
            None => chrono_tz::Tz::UTC,
            Some(name) => chrono_tz::Tz::from_str(name.trim()).map_err(|_| {
                let names = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name());
                let fix = match nearest(name, names) {
                    Some(near) => format!("did you mean `{near}`? (IANA names such as `Europe/Berlin` or `UTC`)"),
                    None => "write an IANA zone name such as `Europe/Berlin`, `America/New_York` or `UTC`".to_owned(),
                };
                ConfigError::invalid(file, "schedule.time_zone", format!("`{name}` is not a time zone"), Some(fix))
            })?,
        };
        let mut jobs = BTreeMap::new();
        for (name, job) in &raw.jobs {
            let key = format!("schedule.jobs.{name}");
            validate_name(file, &key, name)?;
            let trigger = trigger(file, &key, name, job, &raw.jobs, time_zone)?;
            let task = task(file, &key, job)?;
            jobs.insert(name.clone(), Job { trigger, task });
        }
        let settings = Self {
            time_zone,
            jitter: raw.jitter.unwrap_or(HumanDuration::from_secs(0)),
            catch_up: raw.catch_up.unwrap_or(true),
            state: raw.state,
            jobs,
        };
        settings.refuse_circles(file)?;
        Ok(settings)
    }

    /// Jobs that run `after` each other in a circle never start: refused.
    fn refuse_circles(&self, file: &str) -> Result<(), ConfigError> {
        for start in self.jobs.keys() {
            let mut chain = vec![start.as_str()];
            let mut at = start.as_str();
            while let Some(Trigger::After(parent)) = self.jobs.get(at).map(|j| &j.trigger) {
                if chain.contains(&parent.as_str()) {
                    return Err(ConfigError::invalid(
                        file,
                        format!("schedule.jobs.{start}.after"),
                        format!("{} wait for each other: none of them ever starts", chain.join(" → ")),
                        Some(format!("give one of them a `cron` instead of `after` (`{start}` waits for `{parent}`)")),
                    ));
                }
                chain.push(parent);
                at = parent;
            }
        }
        Ok(())
    }
}

fn trigger(
    file: &str,
    key: &str,
    name: &str,
    job: &RawJob,
    all: &BTreeMap<String, RawJob>,
    zone: chrono_tz::Tz,
) -> Result<Trigger, ConfigError> {
    let example = "`cron: \"@daily\"` (or `after: OTHER-JOB`, to run after each success of another job)";
    match (&job.cron, &job.after) {
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            file,
            format!("{key}.after"),
            "a job runs on its `cron` or after another job, not both",
            Some("keep one of `cron` and `after`".to_owned()),
        )),
        (None, None) => Err(ConfigError::invalid(
            file,
            key,
            "the job has neither `cron` nor `after`: it would never run",
            Some(format!("add {example}")),
        )),
        (Some(text), None) => {
            let fix = format!(
                "write 5 fields (minute hour day month weekday), or 6 with seconds first, e.g. `0 30 2 * * *`; or one of {SHORTCUTS}"
            );
            let expression = Expression::parse(text).map_err(|why| {
                ConfigError::invalid(
                    file,
                    format!("{key}.cron"),
                    format!("`{text}` is not a cron expression ({why})"),
                    Some(fix.clone()),
                )
            })?;
            if expression.next_after(SystemTime::now(), zone).is_none() {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.cron"),
                    format!("`{text}` never matches (a day that does not exist?)"),
                    Some(fix),
                ));
            }
            Ok(Trigger::Cron(expression))
        }
        (None, Some(parent)) if parent == name => Err(ConfigError::invalid(
            file,
            format!("{key}.after"),
            "a job cannot run after itself",
            Some(format!("name another job, or give `{name}` a `cron`")),
        )),
        (None, Some(parent)) if !all.contains_key(parent) => {
            let others = all.keys().filter(|k| *k != name).map(|k| format!("`{k}`")).collect::<Vec<_>>();
            let candidates = || all.keys().map(String::as_str).filter(|k| *k != name);
            let near = candidates().find(|k| k.starts_with(parent.as_str())).or_else(|| nearest(parent, candidates()));
            let fix = match near {
                Some(near) => format!("did you mean `{near}`?"),
                None if others.is_empty() => format!("add the job it should follow, or give `{name}` a `cron`"),
                None => format!("name one of {}", others.join(", ")),
            };
            Err(ConfigError::invalid(
                file,
                format!("{key}.after"),
                format!("`{parent}` is not a job of `schedule.jobs`"),
                Some(fix),
            ))
        }
        (None, Some(parent)) => Ok(Trigger::After(parent.clone())),
    }
}

fn task(file: &str, key: &str, job: &RawJob) -> Result<Task, ConfigError> {
    let kind = job.run;
    let misplaced = |option: &str, owner: Kind| {
        ConfigError::invalid(
            file,
            format!("{key}.{option}"),
            format!("`{option}` is an option of `{owner}` jobs, not of `{kind}`"),
            Some("remove it".to_owned()),
        )
    };
    if kind != Kind::Backup {
        if job.only.is_some() {
            return Err(misplaced("only", Kind::Backup));
        }
        if job.tag.is_some() {
            return Err(misplaced("tag", Kind::Backup));
        }
    }
    if kind != Kind::Smoke && job.step_timeout.is_some() {
        return Err(misplaced("step_timeout", Kind::Smoke));
    }
    if kind != Kind::StorageClean && job.keep.is_some() {
        return Err(misplaced("keep", Kind::StorageClean));
    }
    Ok(match kind {
        Kind::Backup => {
            if let Some(tag) = &job.tag
                && (!super::backup::valid_tag(tag) || tag == "pre-restore")
            {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.tag"),
                    format!("`{tag}` is not a tag for scheduled sets"),
                    Some(
                        "use 1 to 40 lowercase letters, digits, `-` and `_` (not `pre-restore`, which restores use), or leave it out"
                            .to_owned(),
                    ),
                ));
            }
            Task::Backup { only: job.only.clone().unwrap_or_default(), tag: job.tag.clone() }
        }
        Kind::Verify => Task::Verify,
        Kind::Drill => Task::Drill,
        Kind::Smoke => {
            if job.step_timeout.is_some_and(|t| t.get().is_zero()) {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.step_timeout"),
                    "must be longer than zero",
                    Some("write a duration such as `15s`".to_owned()),
                ));
            }
            Task::Smoke { step_timeout: job.step_timeout }
        }
        Kind::StorageClean => {
            if job.keep == Some(0) {
                return Err(ConfigError::invalid(
                    file,
                    format!("{key}.keep"),
                    "keeping 0 would delete every bundle and smoke result",
                    Some("keep at least 1 (default 5)".to_owned()),
                ));
            }
            Task::StorageClean { keep: job.keep }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Config;

    fn err(text: &str) -> String {
        Config::parse(text, "ops-gen.yml").unwrap_err().to_string()
    }

    fn at(rfc3339: &str) -> std::time::SystemTime {
        humantime::parse_rfc3339(rfc3339).unwrap()
    }

    #[test]
    fn the_example_shape_loads_with_its_defaults() {
        let c = Config::parse(
            "schedule:\n  time_zone: Europe/Berlin\n  jitter: 5m\n  jobs:\n    nightly-backup: {cron: \"0 30 2 * * *\", run: backup, only: [postgres], tag: null}\n    verify: {after: nightly-backup, run: verify}\n    weekly-drill: {cron: \"@weekly\", run: drill}\n    smoke: {cron: \"*/15 * * * *\", run: smoke, step_timeout: 20s}\n    clean: {cron: \"@daily\", run: storage-clean, keep: 3}\n",
            "f",
        )
        .unwrap();
        let s = &c.schedule;
        assert_eq!(s.time_zone, chrono_tz::Tz::Europe__Berlin);
        assert_eq!(s.jitter.get(), Duration::from_secs(300));
        assert!(s.catch_up);
        assert_eq!(s.followers("nightly-backup").collect::<Vec<_>>(), ["verify"]);
        assert_eq!(s.describe(&s.jobs["verify"]), "after nightly-backup");
        assert_eq!(s.describe(&s.jobs["nightly-backup"]), "0 30 2 * * * (Europe/Berlin)");
        assert!(s.next_run("verify", at("2026-11-23T00:00:00Z")).is_none());
        assert_eq!(s.state_path(), std::path::Path::new("output/jobs/state.json"));
        let defaults = Config::parse("", "f").unwrap().schedule;
        assert_eq!(
            (defaults.time_zone, defaults.jitter.get(), defaults.catch_up),
            (chrono_tz::Tz::UTC, Duration::ZERO, true)
        );
    }

    #[test]
    fn expressions_follow_the_zone_and_its_summer_time() {
        let c = Config::parse(
            "schedule:\n  time_zone: Europe/Berlin\n  jobs:\n    b: {cron: \"30 2 * * *\", run: backup}\n    s: {cron: \"0 */15 * * * *\", run: smoke}\n    w: {cron: \"@weekly\", run: drill}\n",
            "f",
        )
        .unwrap();
        let s = &c.schedule;
        // 02:30 in Berlin is 01:30 UTC in winter.
        assert_eq!(s.next_run("b", at("2026-11-23T00:00:00Z")), Some(at("2026-11-23T01:30:00Z")));
        // … and 00:30 UTC in summer.
        assert_eq!(s.next_run("b", at("2026-07-01T00:00:00Z")), Some(at("2026-07-01T00:30:00Z")));
        assert_eq!(s.next_run("s", at("2026-11-23T10:07:00Z")), Some(at("2026-11-23T10:15:00Z")));
        // @weekly: Sunday midnight, Berlin time.
        assert_eq!(s.next_run("w", at("2026-11-23T12:00:00Z")), Some(at("2026-11-28T23:00:00Z")));
        let Some(super::Job { trigger: super::Trigger::Cron(e), .. }) = s.jobs.get("s") else { panic!() };
        assert_eq!(e.previous_before(at("2026-11-23T10:15:00Z"), s.time_zone), Some(at("2026-11-23T10:00:00Z")));
    }

    #[test]
    fn bad_schedules_name_the_key_and_the_fix() {
        let job = |body: &str| format!("schedule:\n  jobs:\n    {body}\n");
        let e = err(&job("b: {cron: \"0 61 * * *\", run: backup}"));
        assert!(e.contains("at `schedule.jobs.b.cron`") && e.contains("6 with seconds first"), "{e}");
        let e = err(&job("b: {cron: \"0 0 31 2 *\", run: backup}"));
        assert!(e.contains("never matches"), "{e}");
        let e = err(&job("b: {cron: \"@daily\", run: bakup}"));
        assert!(e.contains("at `schedule.jobs.b.run`") && e.contains("did you mean `backup`?"), "{e}");
        let e = err(&job("b: {cron: \"@daily\", run: backup, only: [mysql]}"));
        assert!(e.contains("schedule.jobs.b.only"), "{e}");
        let e = err(&job("b: {run: backup}"));
        assert!(e.contains("at `schedule.jobs.b`") && e.contains("neither `cron` nor `after`"), "{e}");
        let e = err(&job("b: {cron: \"@daily\", after: c, run: backup}"));
        assert!(e.contains("not both"), "{e}");
        let e = err(&job("v: {after: nightly, run: verify}\n    nightly-backup: {cron: \"@daily\", run: backup}"));
        assert!(e.contains("at `schedule.jobs.v.after`") && e.contains("did you mean `nightly-backup`?"), "{e}");
        let e = err(&job("a: {after: b, run: verify}\n    b: {after: a, run: drill}"));
        assert!(e.contains("wait for each other") && e.contains("give one of them a `cron`"), "{e}");
        let e = err(&job("a: {after: a, run: verify}"));
        assert!(e.contains("cannot run after itself"), "{e}");
        let e = err(&job("v: {cron: \"@daily\", run: verify, keep: 3}"));
        assert!(e.contains("`keep` is an option of `storage-clean` jobs, not of `verify`"), "{e}");
        let e = err(&job("b: {cron: \"@daily\", run: backup, tag: pre-restore}"));
        assert!(e.contains("schedule.jobs.b.tag"), "{e}");
        let e = err(&job("B: {cron: \"@daily\", run: backup}"));
        assert!(e.contains("not a valid name"), "{e}");
        let e = err(&job("b: {crn: \"@daily\", run: backup}"));
        assert!(e.contains("schedule.jobs.b.crn") && e.contains("did you mean `cron`?"), "{e}");
        let e = err("schedule:\n  time_zone: Europe/Berln\n");
        assert!(e.contains("at `schedule.time_zone`") && e.contains("did you mean `Europe/Berlin`?"), "{e}");
    }
}
