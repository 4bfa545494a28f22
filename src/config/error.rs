//! Errors found while loading a config file.
//!
//! Every error names the file, the key (as a dotted path such as
//! `targets.db.url`) and, where we can tell, the fix. The binary maps all of
//! them to exit code 2; nothing starts on a bad config.

use std::fmt;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Where in the config a problem sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// A config that cannot be used, with enough context to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}", Invalid::render(file, key, message, location.as_ref(), fix.as_deref()))]
    Invalid {
        /// The file as the user named it, or `<built-in defaults>`.
        file: String,
        /// Dotted path of the offending key; empty for the whole document.
        key: String,
        message: String,
        location: Option<Location>,
        fix: Option<String>,
    },
}

impl ConfigError {
    pub(crate) fn invalid(file: &str, key: impl Into<String>, message: impl Into<String>, fix: Option<String>) -> Self {
        Self::Invalid { file: file.to_owned(), key: key.into(), message: message.into(), location: None, fix }
    }
}

/// Rendering of [`ConfigError::Invalid`] on one line.
struct Invalid;

impl Invalid {
    fn render(file: &str, key: &str, message: &str, location: Option<&Location>, fix: Option<&str>) -> String {
        let mut out = format!("invalid config {file}");
        if !key.is_empty() {
            let _ = write!(out, " at `{key}`");
        }
        if let Some(loc) = location {
            let _ = write!(out, " (line {}, column {})", loc.line, loc.column);
        }
        out.push_str(": ");
        out.push_str(message);
        if let Some(fix) = fix {
            out.push_str("; fix: ");
            out.push_str(fix);
        }
        out
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}
