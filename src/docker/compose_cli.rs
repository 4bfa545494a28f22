//! The Docker Compose CLI: which one this host has (v2's `docker compose`
//! plugin, else `docker-compose` 1.x), and running it with a project named
//! explicitly (`-p NAME --project-directory DIR -f FILE… --profile P…`).
//! ops-gen never re-implements Compose; `compose` (the profile) and `stack`
//! (the app's declared model) both call it through here.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// Why a Compose CLI call failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(
        "no Docker Compose CLI found: neither `docker compose` (v2 plugin) nor `docker-compose` answers; install one (Debian: apt install docker-compose-plugin or docker-compose)"
    )]
    NoCli,
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed { command: String, status: String, stderr: String },
    #[error("cannot run `{program}`: {source}")]
    Spawn { program: String, source: std::io::Error },
}

/// Which Compose CLI runs the profile.
#[derive(Debug, Clone)]
pub struct ComposeCli {
    program: String,
    prefix: Vec<String>,
    /// What `version --short` printed.
    pub version: String,
}

impl ComposeCli {
    /// `docker compose` when the v2 plugin answers, else `docker-compose`.
    pub async fn detect() -> Result<Self, CliError> {
        for (program, prefix) in [("docker", vec!["compose"]), ("docker-compose", vec![])] {
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(&prefix).args(["version", "--short"]).stdin(Stdio::null()).kill_on_drop(true);
            let Ok(Ok(out)) = tokio::time::timeout(Duration::from_secs(10), cmd.output()).await else { continue };
            if out.status.success() {
                let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                return Ok(Self {
                    program: program.to_owned(),
                    prefix: prefix.into_iter().map(str::to_owned).collect(),
                    version,
                });
            }
        }
        Err(CliError::NoCli)
    }

    /// How the CLI is called, for messages.
    #[must_use]
    pub fn name(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.prefix.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl ComposeCli {
    /// Runs `<cli> PROJECT_ARGS ARGS` in `dir` to the end and returns its
    /// stdout; messages name the command by `ARGS` only. The child is killed
    /// if the future is dropped (a caller's timeout).
    pub(crate) async fn output(&self, dir: &Path, project_args: &[String], args: &[&str]) -> Result<String, CliError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.prefix).args(project_args).args(args).current_dir(dir);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let out = cmd.output().await.map_err(|source| CliError::Spawn { program: self.name(), source })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Compose prints progress lines on stderr too; the cause is at the end.
        let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        Err(CliError::Failed {
            command: format!("{} {}", self.name(), args.join(" ")),
            status: out.status.to_string(),
            stderr: tail[tail.len().saturating_sub(5)..].join(" | "),
        })
    }

    /// The major version (1 for `docker-compose` 1.x, 2 for the plugin).
    #[must_use]
    pub fn major(&self) -> Option<u32> {
        major(&self.version)
    }
}

/// The major version of a version string such as `1.29.2` or `v2.24.1`.
#[must_use]
pub fn major(version: &str) -> Option<u32> {
    version.trim().trim_start_matches('v').split('.').next()?.parse().ok()
}

/// How every Compose call names its project: `-p NAME --project-directory
/// DIR -f FILE… --profile PROFILE…`, files relative to `dir` (or absolute).
#[must_use]
pub fn project_args(name: &str, dir: &Path, files: &[PathBuf], profiles: &[&str]) -> Vec<String> {
    let mut args = vec!["-p".to_owned(), name.to_owned(), "--project-directory".to_owned()];
    args.push(dir.display().to_string());
    for f in files {
        args.push("-f".to_owned());
        args.push(dir.join(f).display().to_string());
    }
    for p in profiles {
        args.push("--profile".to_owned());
        args.push((*p).to_owned());
    }
    args
}
