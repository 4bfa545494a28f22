//! The `stack` section: the app's Compose project that ops-gen sits next
//! to, and the name Compose gives a project by default. What is done with
//! the app's files (reading them, resolving them with the Compose CLI) is
//! [`crate::stack`]'s.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The `stack` section: the app the profile sits next to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    /// The compose project name [default: the name of the folder holding
    /// the config, as Docker Compose derives it].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The app's compose files, relative to the config's folder, in the
    /// order they are passed to `docker compose -f`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
}

/// The compose project name Docker Compose would derive from a folder:
/// lowercase letters, digits, `-` and `_`, starting with a letter or digit.
#[must_use]
pub fn project_name_from(dir: &Path) -> String {
    let base = dir.file_name().and_then(|n| n.to_str()).unwrap_or("ops");
    let name: String = base
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .collect();
    if name.is_empty() { "ops".to_owned() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_follow_compose() {
        assert_eq!(project_name_from(Path::new("/srv/My App")), "myapp");
        assert_eq!(project_name_from(Path::new("/srv/_x.y-1")), "xy-1");
        assert_eq!(project_name_from(Path::new("/")), "ops");
    }
}
