//! The app's own compose files (`stack.files`), as the profile needs them:
//! which services publish a port or have a healthcheck (each gets an Uptime
//! Kuma monitor and a smoke target), and which networks they sit on (the
//! profile's services that talk to the app join them).
//!
//! Later files override earlier ones as in `docker compose -f a -f b`: a
//! service's ports and networks add up, a healthcheck anywhere counts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use docker_compose_types::{Compose, Networks};

/// The app as the profile sees it.
#[derive(Debug, Clone, Default)]
pub struct App {
    /// The files read, as given in the config (relative to its folder).
    pub files: Vec<PathBuf>,
    /// Services by name.
    pub services: BTreeMap<String, AppService>,
    /// The app's own top-level networks.
    pub networks: BTreeSet<String>,
}

/// One app service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppService {
    pub image: Option<String>,
    /// Ports inside the network that the service exposes to the host.
    pub ports: BTreeSet<u16>,
    pub healthcheck: bool,
    /// Networks it joins (`default` when the file names none).
    pub networks: BTreeSet<String>,
}

impl AppService {
    /// Worth a monitor: it publishes a port or declares a healthcheck.
    #[must_use]
    pub fn monitored(&self) -> bool {
        !self.ports.is_empty() || self.healthcheck
    }

    /// The port to reach it on inside the network, if it has one.
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        self.ports.first().copied()
    }
}

/// Why the app's compose files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot read the app's compose file {path} (stack.files): {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}{}: `{key}`: {message}; fix the compose file (check it with `docker compose -f {} config`)",
        line.map(|l| format!(" line {l}")).unwrap_or_default(), path.display())]
    Parse { path: PathBuf, key: String, line: Option<usize>, message: String },
    #[error(
        "{path} uses `include:`, which docker-compose 1.x cannot load; list the included files in stack.files instead"
    )]
    Include { path: PathBuf },
}

impl App {
    /// Reads `files`, relative to `base` (the config's folder).
    pub fn load(base: &Path, files: &[PathBuf]) -> Result<Self, AppError> {
        let mut app = Self { files: files.to_vec(), ..Self::default() };
        for file in files {
            let path = base.join(file);
            let text =
                std::fs::read_to_string(&path).map_err(|source| AppError::Read { path: path.clone(), source })?;
            let compose: Compose = serde_path_to_error::deserialize(serde_norway::Deserializer::from_str(&text))
                .map_err(|e| {
                    let line = e.inner().location().map(|l| l.line());
                    let key = e.path().to_string();
                    let message = e.inner().to_string();
                    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
                    AppError::Parse { path: file.clone(), key, line, message }
                })?;
            if compose.includes.is_some() {
                return Err(AppError::Include { path: file.clone() });
            }
            app.networks.extend(compose.networks.0.keys().cloned());
            for (name, service) in compose.services.0 {
                let entry = app.services.entry(name).or_default();
                let Some(service) = service else { continue };
                if service.image.is_some() {
                    entry.image = service.image;
                }
                entry.healthcheck |= service.healthcheck.is_some_and(|h| !h.disable);
                entry.ports.extend(super::first_target(&service.ports));
                match service.networks {
                    Networks::Simple(names) => entry.networks.extend(names),
                    Networks::Advanced(adv) => entry.networks.extend(adv.0.into_keys()),
                }
            }
        }
        for service in app.services.values_mut() {
            if service.networks.is_empty() {
                service.networks.insert("default".to_owned());
            }
        }
        Ok(app)
    }

    /// The networks the profile joins to reach the monitored services.
    #[must_use]
    pub fn networks_to_join(&self) -> BTreeSet<String> {
        self.services.values().filter(|s| s.monitored()).flat_map(|s| s.networks.iter().cloned()).collect()
    }

    /// The services with a published port or a healthcheck.
    pub fn monitored(&self) -> impl Iterator<Item = (&str, &AppService)> {
        self.services.iter().filter(|(_, s)| s.monitored()).map(|(n, s)| (n.as_str(), s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)]) -> Result<App, AppError> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        App::load(dir.path(), &files.iter().map(|(n, _)| PathBuf::from(n)).collect::<Vec<_>>())
    }

    #[test]
    fn merges_files_and_finds_monitored_services() {
        let app = load(&[
            ("a.yml", "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n  worker:\n    image: app\n"),
            (
                "b.yml",
                "services:\n  worker:\n    networks: [back]\n    healthcheck:\n      test: [CMD, 'true']\nnetworks:\n  back: {}\n",
            ),
        ])
        .unwrap();
        assert_eq!(app.services["web"].port(), Some(80));
        assert!(app.services["worker"].healthcheck);
        assert_eq!(app.monitored().map(|(n, _)| n).collect::<Vec<_>>(), ["web", "worker"]);
        assert_eq!(app.networks_to_join().into_iter().collect::<Vec<_>>(), ["back", "default"]);
    }

    #[test]
    fn errors_name_the_file_key_and_line() {
        let e = load(&[("c.yml", "services:\n  web:\n    image: nginx\n    ports: 8080\n")]).unwrap_err().to_string();
        assert!(e.contains("c.yml line ") && e.contains("`services.web.ports`"), "{e}");
        let e = load(&[("d.yml", "include: [x.yml]\n")]).unwrap_err().to_string();
        assert!(e.contains("include"), "{e}");
    }
}
