//! `${ENV}` references in config values, and the [`Secret`] type they feed.
//!
//! Secrets never live in `ops-gen.yml`: the file says `${OPS_GEN_TOKEN}` and
//! the value is read from the environment once, at load. The syntax is the
//! subset of Compose interpolation people already know: `${VAR}`,
//! `${VAR:-default}` (default when unset or empty), `${VAR-default}` (default
//! when unset) and `$$` for a literal dollar. A bare `$` is left alone.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The value shown wherever a secret would be printed.
pub const MASK: &str = "***";

/// Expands every `${…}` reference in `raw`.
///
/// The error is a sentence that names the variable and the fix; it never
/// contains a value read from the environment.
pub fn expand(raw: &str) -> Result<String, String> {
    expand_with(raw, |name| std::env::var(name).ok())
}

/// The names of the variables `raw` references (`${NAME}`, with or
/// without a default), in order of appearance, each once.
#[must_use]
pub fn references(raw: &str) -> Vec<String> {
    let names = std::cell::RefCell::new(Vec::<String>::new());
    // Every reference resolves to an empty value, so nothing can fail but an
    // unclosed `${`, which loading the config reports on its own.
    let _ = expand_with(raw, |name| {
        let mut names = names.borrow_mut();
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        Some(String::new())
    });
    names.into_inner()
}

/// The variables `raw` references that are unset and have no default, each
/// with the line (from 1) of its first use; comment lines are skipped.
#[must_use]
pub fn unset(raw: &str) -> Vec<(String, usize)> {
    let mut found: Vec<(String, usize)> = Vec::new();
    for (n, line) in raw.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start..].find('}') else { break };
            let reference = &rest[start..=start + len];
            let name =
                reference[2..reference.len() - 1].split(":-").next().unwrap_or("").split('-').next().unwrap_or("");
            if expand(reference).is_err_and(|e| e.contains("is not set")) && !found.iter().any(|(f, _)| f == name) {
                found.push((name.to_owned(), n + 1));
            }
            rest = &rest[start + len + 1..];
        }
    }
    found
}

fn expand_with(raw: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in {raw:?}; write `${{NAME}}`, or `$$` for a literal dollar"))?;
            out.push_str(&resolve(&body[..end], &lookup)?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn resolve(reference: &str, lookup: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let (name, default, empty_is_unset) = if let Some((name, default)) = reference.split_once(":-") {
        (name, Some(default), true)
    } else if let Some((name, default)) = reference.split_once('-') {
        (name, Some(default), false)
    } else {
        (reference, None, false)
    };
    let valid_name = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(format!(
            "`${{{reference}}}` is not a valid reference; use `${{NAME}}` or `${{NAME:-default}}` with NAME made of letters, digits and `_`"
        ));
    }
    match (lookup(name), default) {
        (Some(value), Some(default)) if empty_is_unset && value.is_empty() => Ok(default.to_owned()),
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(format!(
            "environment variable `{name}` is not set (export {name}=… before starting ops-gen, or write `${{{name}:-default}}`)"
        )),
    }
}

/// `deserialize_with` for plain strings that may hold `${ENV}` references.
pub fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = String::deserialize(deserializer)?;
    expand(&raw).map_err(serde::de::Error::custom)
}

/// A value that must never be shown: a token, a password, a header value.
///
/// `Debug`, `Display` and `Serialize` all print [`MASK`]; the only way to the
/// value is [`Secret::expose`], which makes every use greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        string(deserializer).map(Secret)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

/// `url` as text with every query value replaced by [`MASK`]: query strings
/// carry API keys and tokens as often as user parts carry passwords.
#[must_use]
pub fn mask_query(url: &str) -> String {
    let Some((head, rest)) = url.split_once('?') else { return url.to_owned() };
    let (query, fragment) = match rest.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (rest, None),
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) => format!("{key}={MASK}"),
            None => pair.to_owned(),
        })
        .collect();
    let mut out = format!("{head}?{}", masked.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// A value parsed from config text that may carry credentials, such as a
/// connection URL. It keeps the parsed value for use and a redacted rendering
/// for everything that shows it: `Debug`, `Display` and `Serialize` print
/// only the redacted form. Deserializing expands `${ENV}` references first.
#[derive(Clone)]
pub struct Redacted<T> {
    value: T,
    shown: String,
}

/// How a type is parsed from config text and shown without its secrets.
pub trait Redact: Sized {
    /// Parses `raw`, returning the value and its redacted rendering. The
    /// error is a sentence with the fix, and never contains `raw`.
    fn parse_redacted(raw: &str) -> Result<(Self, String), String>;
}

impl<T> Redacted<T> {
    #[must_use]
    pub fn get(&self) -> &T {
        &self.value
    }
}

impl<T: Redact> std::str::FromStr for Redacted<T> {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        T::parse_redacted(raw).map(|(value, shown)| Self { value, shown })
    }
}

impl<T: PartialEq> PartialEq for Redacted<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl<'de, T: Redact> Deserialize<'de> for Redacted<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        expand(&raw).and_then(|s| s.parse()).map_err(serde::de::Error::custom)
    }
}

impl<T> Serialize for Redacted<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_references_and_defaults() {
        assert_eq!(expand_with("a ${SET} b", env).unwrap(), "a value b");
        assert_eq!(expand_with("${UNSET:-dflt}", env).unwrap(), "dflt");
        assert_eq!(expand_with("${EMPTY:-dflt}", env).unwrap(), "dflt");
        assert_eq!(expand_with("${EMPTY-dflt}", env).unwrap(), "");
        assert_eq!(expand_with("${UNSET-dflt}", env).unwrap(), "dflt");
        assert_eq!(expand_with("cost $$5 and $HOME", env).unwrap(), "cost $5 and $HOME");
    }

    #[test]
    fn references_are_listed_once() {
        assert_eq!(references("${A} $$B ${C:-x} ${A-y} $D"), ["A", "C"]);
    }

    #[test]
    fn unset_variable_names_itself_and_the_fix() {
        let err = expand_with("postgres://${UNSET}", env).unwrap_err();
        assert!(err.contains("`UNSET` is not set"), "{err}");
        assert!(err.contains("export UNSET="), "{err}");
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(expand_with("${SET", env).unwrap_err().contains("unclosed"));
        assert!(expand_with("${1X}", env).unwrap_err().contains("not a valid reference"));
        assert!(expand_with("${}", env).unwrap_err().contains("not a valid reference"));
    }

    #[test]
    fn query_values_are_masked() {
        assert_eq!(mask_query("http://h/p?key=abc&x&y=1#top"), "http://h/p?key=***&x&y=***#top");
        assert_eq!(mask_query("http://h/p"), "http://h/p");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
    }
}
