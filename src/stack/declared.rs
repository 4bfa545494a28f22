//! The app's declared state: its services as Compose itself resolves the
//! compose files (`docker compose config`), for the drift check.
//!
//! Asking the CLI instead of reading the YAML ourselves gets everything
//! Compose does right by construction: `${VAR:-default}` interpolation from
//! the environment and the project's `.env`, merging of `-f` files,
//! `extends`, and the config hash Compose stamps on every container it
//! creates (`com.docker.compose.config-hash`), which is the only faithful
//! way to tell that a container no longer matches its declaration. Profiles
//! are applied here: `docker-compose` 1.x lists services of inactive
//! profiles in `config` (the plugin does not).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Deserialize;

use crate::docker::compose_cli::{CliError, ComposeCli, project_args};

/// The app's Compose project, as the drift check names it to the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppProject {
    pub name: String,
    /// The project folder (where `.env` is read from).
    pub dir: PathBuf,
    /// The compose files, absolute, in `-f` order.
    pub files: Vec<PathBuf>,
    /// The Compose profiles taken as active.
    pub profiles: Vec<String>,
}

impl AppProject {
    fn args(&self) -> Vec<String> {
        let profiles: Vec<&str> = self.profiles.iter().map(String::as_str).collect();
        project_args(&self.name, &self.dir, &self.files, &profiles)
    }
}

/// One declared service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredService {
    /// The image reference after interpolation; `None` for a service that
    /// is only built.
    pub image: Option<String>,
    /// How many containers should run (`scale`, else `deploy.replicas`, else 1).
    pub replicas: u64,
    /// Compose's config hash of the service, as `config --hash` prints it.
    pub hash: Option<String>,
}

/// The services the compose files declare for the active profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    pub services: BTreeMap<String, DeclaredService>,
}

/// What we read of `config`'s output; everything else is ignored.
#[derive(Debug, Deserialize)]
struct Resolved {
    #[serde(default)]
    services: BTreeMap<String, ResolvedService>,
}

#[derive(Debug, Deserialize)]
struct ResolvedService {
    image: Option<String>,
    scale: Option<u64>,
    deploy: Option<Deploy>,
    #[serde(default)]
    profiles: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Deploy {
    replicas: Option<u64>,
}

/// Resolves the project's declared services with the Compose CLI: one
/// `config` and one `config --hash '*'`.
pub async fn resolve(cli: &ComposeCli, project: &AppProject) -> Result<Declared, CliError> {
    let args = project.args();
    let text = cli.output(&project.dir, &args, &["config"]).await?;
    let hashes = cli.output(&project.dir, &args, &["config", "--hash", "*"]).await?;
    parse(&text, &hashes, &project.profiles).map_err(|message| CliError::Failed {
        command: format!("{} config", cli.name()),
        status: "unreadable output".to_owned(),
        stderr: message,
    })
}

/// Builds the declared state from `config` and `config --hash '*'` output.
fn parse(config: &str, hashes: &str, profiles: &[String]) -> Result<Declared, String> {
    let resolved: Resolved = serde_norway::from_str(config).map_err(|e| e.to_string())?;
    let hashes: BTreeMap<&str, &str> = hashes.lines().filter_map(|l| l.trim().split_once(' ')).collect();
    let active: BTreeSet<&str> = profiles.iter().map(String::as_str).collect();
    let services = resolved
        .services
        .into_iter()
        .filter(|(_, s)| s.profiles.is_empty() || s.profiles.iter().any(|p| active.contains(p.as_str())))
        .map(|(name, s)| {
            let replicas = s.scale.or(s.deploy.and_then(|d| d.replicas)).unwrap_or(1);
            let hash = hashes.get(name.as_str()).map(|h| h.trim().to_owned());
            (name, DeclaredService { image: s.image, replicas, hash })
        })
        .collect();
    Ok(Declared { services })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_scale_replicas_and_hashes_are_read() {
        let config = "services:\n  web:\n    image: app:1\n  worker:\n    image: app:1\n    scale: 3\n  \
                      api:\n    build: .\n    deploy:\n      replicas: 2\n  debug:\n    image: busybox\n    \
                      profiles: [debug]\n";
        let hashes = "web 1111\nworker 2222\napi 3333\n";
        let d = parse(config, hashes, &[]).unwrap();
        assert_eq!(d.services.keys().collect::<Vec<_>>(), ["api", "web", "worker"]);
        assert_eq!(d.services["worker"].replicas, 3);
        assert_eq!(d.services["api"], DeclaredService { image: None, replicas: 2, hash: Some("3333".to_owned()) });
        assert_eq!(d.services["web"].hash.as_deref(), Some("1111"));
        let with_debug = parse(config, hashes, &["debug".to_owned()]).unwrap();
        assert_eq!(with_debug.services["debug"].hash, None);
        assert!(parse("services: [", "", &[]).is_err());
    }
}
