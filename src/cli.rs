//! Command-line arguments. clap types stay here; [`crate::commands`] turns
//! them into calls into the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The ops desk for a self-hosted docker compose stack: Prometheus metrics for
/// backups and checks, and the operator's chores.
#[derive(Debug, Parser)]
#[command(name = "ops-gen", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = "Exit codes: 0 ok, 1 a check found problems, 2 usage or config error, 3 runtime failure.")]
pub struct Cli {
    /// Config file [default: ops-gen.yml in the current folder; built-in defaults when it does not exist]
    #[arg(long, global = true, env = "OPS_GEN_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// More log output (-v debug, -vv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors in the log output
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// No colours (also when NO_COLOR is set)
    #[arg(long, global = true)]
    pub no_color: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a first ops-gen.yml from the compose file in this folder
    Init(InitArgs),
    /// Check and show the config
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Serve /metrics, health and readiness endpoints, the status page and the ops API
    Serve(ServeArgs),
    /// Run checks once and print the results; exit 1 if any fails
    Probe(ProbeArgs),
    /// Take, verify and list backup sets
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Generate and run the ops profile (Prometheus, Grafana, Loki, …) next to the app
    #[command(subcommand)]
    Compose(ComposeCommand),
    /// Manifests for kube-prometheus-stack: exporter, rules, dashboards, backup jobs
    #[command(subcommand)]
    K8s(K8sCommand),
    /// Preflight: Docker, Compose CLI, ports, disk, memory, config, targets, backups, clock
    ///
    /// One line per check, marked ✓ (ok), ! (worth knowing) or ✗ (failed, with the fix). The
    /// Docker, Compose, port, disk and memory checks are the ones `compose up` runs first. Exit 1
    /// when a check fails, 2 on a bad config.
    Doctor,
    /// Ask each ops component and target at its own health endpoint; exit 1 if any is down
    Health(HealthArgs),
    /// End-to-end validation: containers, targets, rules, Grafana, Loki, app checks
    ///
    /// One line per step, ✓ or ✗ with the fix. Writes `output/smoke/<timestamp>/result.json` and
    /// `output/smoke/latest.json` (which keeps the last failure). Exit 1 when a step fails, 2 on a
    /// bad config.
    Smoke(SmokeArgs),
    /// Diagnostics bundle (metrics, logs, health, context), redacted, in one .tar.gz
    ///
    /// Writes `output/ops/<timestamp>/` and `<timestamp>.tar.gz` next to it. Exit 0 when complete, 1
    /// when a part failed or timed out (the rest is still written), 2 on a bad config or an
    /// unwritable output.
    Bundle(BundleArgs),
    /// Disk use of the profile's volumes and output folders, and retention over them
    #[command(subcommand)]
    Storage(StorageCommand),
    /// The scheduled jobs `serve` runs: last result, next run; `jobs run NAME` runs one now
    ///
    /// Without a subcommand, one line per job of `schedule.jobs` with its schedule, last result
    /// and next run, from the state file `serve` keeps (output/jobs/state.json).
    Jobs(JobsArgs),
    /// Client of a remote `ops-gen serve`: summary, logs, bundle, frontend logs
    ///
    /// The server comes from --url or `OPS_GEN_URL`, the token from `OPS_GEN_TOKEN`. Answers are JSON
    /// (pipe them into jq) unless --plain. Exit 1 when the server answers an error or cannot be
    /// reached, 2 without a URL or token.
    Ctl(CtlArgs),
    /// Exit 0 when the exporter at URL answers healthy (for container healthchecks)
    Healthcheck(HealthcheckArgs),
    /// Recovery procedures: list them, or print one
    Runbook(RunbookArgs),
    /// Print shell completions
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    Man,
}

#[derive(Debug, Subcommand)]
pub enum ComposeCommand {
    /// Write the profile's files (compose, Prometheus, Grafana, Loki, shipper, Uptime Kuma)
    Generate(GenerateArgs),
    /// Preflight, regenerate, start the profile and wait until every service is healthy
    Up(UpArgs),
    /// One line per ops and app service: green/yellow/red, health, restarts, image drift; exit 1 on red
    Status,
    /// Stop and remove the profile's containers; volumes (data) and the app stay
    Down,
    /// Delete the profile's containers and volumes, after a backup and a confirmation
    Destroy(DestroyArgs),
    /// Restart one service of the profile or the app
    Restart(ServiceArgs),
    /// Print the last log lines of one service
    Logs(LogsArgs),
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Size of each profile volume and output folder, the total against `profile.disk_budget`
    ///
    /// One line per volume and folder, a total line and the free space. Exit 1 over the budget.
    Status,
    /// Delete old bundles, smoke results and backup sets, after showing them and a confirmation
    ///
    /// Keeps the newest --keep bundles (output/ops) and smoke results (output/smoke, never the
    /// ones latest.json points to), and backup sets as `backup.retention` says (never the newest
    /// verified set). Exit 1 when a deletion failed, 2 without a terminal and without --yes.
    Clean(StorageCleanArgs),
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    pub command: Option<JobsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Run one job now, here, as the scheduler does (then the jobs that run after it)
    ///
    /// Takes the backup folder's lock like the scheduler: when another process holds it the job
    /// is skipped. The run is recorded in the state file. Exit 1 when a run failed or was
    /// skipped, 2 for a name that is no job.
    Run(JobRunArgs),
}

#[derive(Debug, Args)]
pub struct JobRunArgs {
    /// The job, a name from `schedule.jobs`
    #[arg(value_name = "NAME")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct StorageCleanArgs {
    /// Bundles and smoke results to keep, newest first
    #[arg(long, value_name = "N", default_value_t = crate::ops::storage::DEFAULT_KEEP, value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: u64,
    /// Do not ask (needed without a terminal)
    #[arg(long)]
    pub yes: bool,
    /// Only print what would be deleted
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum K8sCommand {
    /// Write the manifests under k8s/: exporter, scrape config, rules, dashboards, backup jobs
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Give up waiting for healthy services after this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Do not ask (needed without a terminal)
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// The compose service
    #[arg(value_name = "SERVICE")]
    pub service: String,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The compose service
    #[arg(value_name = "SERVICE")]
    pub service: String,
    /// How many lines from the end
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub tail: usize,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output folder [default: the config file's folder]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write nothing; exit 1 with a diff when the files on disk differ
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The exporter's health endpoint
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9743/-/healthy")]
    pub url: String,
    /// Give up after this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 3)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Give each component's health request this many seconds (targets keep their own `timeout`)
    #[arg(long, value_name = "SECONDS", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// Give each step this many seconds (a hung component fails its step)
    #[arg(long, value_name = "SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The archive to write (default: `output/ops/<timestamp>.tar.gz`)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Log lines per container
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub tail: usize,
    /// Give each part this many seconds (a hung one is recorded and left out)
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Keep the bundle under this size, cutting the oldest log lines first
    #[arg(long, value_name = "SIZE", default_value = "50MiB")]
    pub max_size: bytesize::ByteSize,
}

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The server [default: `$OPS_GEN_URL`], e.g. `https://ops.example.com`
    #[arg(long, value_name = "URL", global = true)]
    pub url: Option<String>,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// The stack's snapshot: versions, containers, drift, backups, checks, smoke, frontend
    Summary,
    /// A service's recent log lines
    Logs(CtlLogsArgs),
    /// Download a fresh diagnostics bundle (.tar.gz)
    Bundle(CtlBundleArgs),
    /// Browser errors the beacon reported
    FrontendLogs(CtlSinceArgs),
}

#[derive(Debug, Args)]
pub struct CtlLogsArgs {
    /// The Compose service
    pub service: String,
    /// How many lines
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub tail: usize,
    /// Only lines since then: a duration back (5m, 2h) or an RFC 3339 time
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// `TS SERVICE | message` text instead of JSON
    #[arg(long)]
    pub plain: bool,
}

#[derive(Debug, Args)]
pub struct CtlBundleArgs {
    /// Where to write it [default: the server's file name, in this folder]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CtlSinceArgs {
    /// Only those since then: a duration back (5m, 2h) or an RFC 3339 time
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the config; print it resolved, with secrets masked
    Check,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: `listen` from the config, 127.0.0.1:9743]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Only these targets or checks [default: all]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct RunbookArgs {
    /// The runbook to print [default: list them all]
    #[arg(value_name = "TOPIC")]
    pub topic: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take one set of every PostgreSQL, Redis and S3 target; exit 1 if one failed
    Run(BackupRunArgs),
    /// Re-hash and read the newest set (or SET); exit 1 on any problem
    Verify(BackupVerifyArgs),
    /// The sets, newest first: age, size, targets, verification
    List,
    /// Restore the newest set (or --from) into throwaway instances and check it; exit 1 on failure
    Drill(BackupDrillArgs),
    /// Restore a set into the real targets, after confirmation and a backup of the current state
    Restore(BackupRestoreArgs),
}

#[derive(Debug, Args)]
pub struct BackupRestoreArgs {
    /// The set to restore: a name from `backup list`, `latest`, or a folder
    #[arg(long, value_name = "SET", required = true)]
    pub from: PathBuf,
    /// Do not ask for confirmation (needed without a terminal)
    #[arg(long)]
    pub yes: bool,
    /// PostgreSQL: create the set's roles first (globals.sql) and restore with the original owners and grants
    #[arg(long)]
    pub with_roles: bool,
}

#[derive(Debug, Args)]
pub struct BackupDrillArgs {
    /// The set: a name from `backup list`, `latest`, or a folder [default: the newest set]
    #[arg(long, value_name = "SET")]
    pub from: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupRunArgs {
    /// Only these kinds of targets
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KIND,…")]
    pub only: Vec<BackupKind>,
    /// Tag the set (for example `pre-migration` from a deploy script); each tag has its own retention
    #[arg(long, value_name = "NAME")]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackupKind {
    Postgres,
    Redis,
    S3,
}

#[derive(Debug, Args)]
pub struct BackupVerifyArgs {
    /// The set: a name from `backup list`, `latest`, or a folder [default: the newest set]
    #[arg(value_name = "SET")]
    pub set: Option<PathBuf>,
    /// Also check that every target's newest backup is younger than its `max_age`
    #[arg(long)]
    pub freshness: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The compose file to read [default: compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml here]
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Overwrite an existing config file
    #[arg(long)]
    pub force: bool,
}
