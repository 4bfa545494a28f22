//! The `ops-gen` binary: parse arguments, set up logging, dispatch to
//! [`ops_gen::commands`], and map the outcome to an exit code (0 ok, 1 a
//! check found problems, 2 usage or config error, 3 runtime failure).

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser as _;
use ops_gen::cli::{
    BackupCommand, Cli, Command, ComposeCommand, ConfigCommand, JobsCommand, K8sCommand, StorageCommand,
};
use ops_gen::commands::compose::Family;
use ops_gen::commands::{self, Outcome, UsageError};
use ops_gen::config::ConfigError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    match dispatch(&cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::ProblemsFound) => ExitCode::from(1),
        // `ops-gen … | head` closing the pipe early is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let code = if e.downcast_ref::<ConfigError>().is_some() || e.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                3
            };
            eprintln!("error: {}", ops_gen::errors::chain(&*e));
            ExitCode::from(code)
        }
    }
}

/// Hands the command to its family in [`ops_gen::commands`].
fn dispatch(cli: &Cli) -> Result<Outcome> {
    use ops_gen::commands::{backup, compose, config, ctl, jobs, ops, probe, serve};
    match &cli.command {
        Command::Init(args) => config::init(cli, args),
        Command::Config(ConfigCommand::Check) => config::check(cli),
        Command::Runbook(args) => config::runbook(cli, args),
        Command::Completions(args) => config::completions(args),
        Command::Man => config::man(),
        Command::Serve(args) => serve::serve(cli, args),
        Command::Healthcheck(args) => serve::healthcheck(args),
        Command::Probe(args) => probe::probe(cli, args),
        Command::Backup(BackupCommand::Run(args)) => backup::run(cli, args),
        Command::Backup(BackupCommand::Verify(args)) => backup::verify(cli, args),
        Command::Backup(BackupCommand::List) => backup::list(cli),
        Command::Backup(BackupCommand::Drill(args)) => backup::drill(cli, args),
        Command::Backup(BackupCommand::Restore(args)) => backup::restore(cli, args),
        Command::Compose(ComposeCommand::Generate(args)) => compose::generate(cli, args, Family::Compose),
        Command::K8s(K8sCommand::Generate(args)) => compose::generate(cli, args, Family::K8s),
        Command::Compose(ComposeCommand::Up(args)) => compose::up(cli, args),
        Command::Compose(ComposeCommand::Status) => compose::status(cli),
        Command::Compose(ComposeCommand::Down) => compose::down(cli),
        Command::Compose(ComposeCommand::Destroy(args)) => compose::destroy(cli, args),
        Command::Compose(ComposeCommand::Restart(args)) => compose::restart(cli, args),
        Command::Compose(ComposeCommand::Logs(args)) => compose::logs(cli, args),
        Command::Doctor => ops::doctor(cli),
        Command::Health(args) => ops::health(cli, args),
        Command::Smoke(args) => ops::smoke(cli, args),
        Command::Bundle(args) => ops::bundle(cli, args),
        Command::Storage(StorageCommand::Status) => ops::storage_status(cli),
        Command::Storage(StorageCommand::Clean(args)) => ops::storage_clean(cli, args),
        Command::Jobs(args) => match &args.command {
            None => jobs::list(cli),
            Some(JobsCommand::Run(args)) => jobs::run(cli, args),
        },
        Command::Ctl(args) => ctl::ctl(args),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| c.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind))
            == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn init_tracing(cli: &Cli) {
    let default = match (cli.quiet, cli.verbose, &cli.command) {
        (false, 0, Command::Serve(_)) => "info",
        (true, _, _) | (false, 0, _) => "error",
        (false, 1, _) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPS_GEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("ops_gen={default},warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(commands::color_allowed(cli) && std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
