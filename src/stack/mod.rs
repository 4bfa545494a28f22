//! The app's Compose project: which compose file a folder holds, the app
//! model the profile generator reads from it ([`app`]), and the services as
//! Compose itself resolves the files ([`declared`], for the drift check).
//! `ops-gen init`, the generator, drift, doctor and smoke all read the
//! app's files through here.

pub mod app;
pub mod declared;

use std::path::{Path, PathBuf};

use docker_compose_types::Ports;

/// The file names Compose looks for in a folder, in its order.
pub const COMPOSE_FILES: [&str; 4] = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];

/// The compose file in `dir`, as Compose would pick it.
#[must_use]
pub fn compose_file(dir: &Path) -> Option<PathBuf> {
    COMPOSE_FILES.iter().map(|f| dir.join(f)).find(|p| p.is_file())
}

/// The container port a service publishes first (`"8080:80"` → 80), where
/// ops-gen reaches the app.
#[must_use]
pub fn first_target(ports: &Ports) -> Option<u16> {
    match ports {
        Ports::Short(items) => items.first().and_then(|i| i.split('/').next()?.rsplit(':').next()?.parse().ok()),
        Ports::Long(items) => items.first().map(|p| p.target),
    }
}
