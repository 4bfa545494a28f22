//! Redaction: text and JSON with every secret replaced by [`MASK`] before
//! it leaves the process in a bundle, a log tail or a context snapshot.
//!
//! One [`Redactor`] is built per bundle (or request) and applied to every
//! part, so all of them follow the same rules:
//! - the values of every secret the config knows: each `${VAR}` the config
//!   references whose name looks secret, and every password inside a URL
//!   of the config (after `${…}` expansion), plus values added at run time
//!   (the secret-looking environment of the stack's containers);
//! - passwords in URLs (`scheme://user:***@host`);
//! - bearer and basic credentials (`Authorization: Bearer ***`);
//! - `KEY=value`, `KEY: value` and `"KEY": "value"` where KEY looks secret
//!   ([`is_secret_key`]).
//!
//! Values shorter than [`MIN_SECRET_LEN`] are not replaced as free text
//! (they would mangle every word that contains them); the structural rules
//! above still catch them next to their key or in a URL.

use super::{Loaded, MASK, Source};

/// Known secret values shorter than this are only redacted by the
/// structural rules, never as free substrings.
pub const MIN_SECRET_LEN: usize = 4;

/// Parts of a key name that mark its value as secret. A webhook's address
/// is its credential (whoever has it can post), and so is a DSN.
const SECRET_WORDS: [&str; 11] =
    ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "AUTH", "PRIVATE", "COOKIE", "WEBHOOK", "DSN"];

/// Hosts whose URL paths carry the credential, and how much of the path
/// stays readable: Slack and Discord webhooks, Telegram bots, ntfy topics.
const SECRET_PATH_HOSTS: [(&str, &str); 5] = [
    ("hooks.slack.com", "/services/"),
    ("discord.com", "/api/webhooks/"),
    ("discordapp.com", "/api/webhooks/"),
    ("api.telegram.org", "/bot"),
    ("ntfy.sh", "/"),
];

/// A path segment at least this long, of letters, digits, `-` and `_` only,
/// is taken for a token (Mattermost, Rocket.Chat and most webhook URLs).
const TOKEN_SEGMENT: usize = 24;

/// Whether an environment variable or field named `key` holds a secret
/// (`DB_PASSWORD`, `api_key`, `AWS_SECRET_ACCESS_KEY`, `authToken`).
#[must_use]
pub fn is_secret_key(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// Applies the rules above; cheap to clone and share.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Known secret values, longest first (so a secret containing another
    /// is replaced whole).
    values: Vec<String>,
}

impl Redactor {
    /// The secrets `loaded` knows: values of secret-looking `${VAR}`s it
    /// references and passwords of the URLs it holds.
    #[must_use]
    pub fn for_config(loaded: &Loaded) -> Self {
        let mut redactor = Self::default();
        let Source::File(path) = &loaded.source else { return redactor };
        let Ok(text) = std::fs::read_to_string(path) else { return redactor };
        for name in super::env_references(&text) {
            if let Ok(value) = std::env::var(&name) {
                if is_secret_key(&name) {
                    redactor.add(value.clone());
                }
                redactor.add_all(url_passwords(&value));
            }
        }
        if let Ok(expanded) = super::expand(&text) {
            redactor.add_all(url_passwords(&expanded));
        }
        redactor
    }

    /// Adds a known secret value.
    pub fn add(&mut self, value: impl Into<String>) {
        let value = value.into();
        if value.len() >= MIN_SECRET_LEN && !self.values.contains(&value) {
            self.values.push(value);
            self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    pub fn add_all(&mut self, values: impl IntoIterator<Item = String>) {
        for v in values {
            self.add(v);
        }
    }

    /// Adds the secret values of `KEY=value` environment entries (a
    /// container's `Config.Env`), and the passwords of URLs in any of them.
    pub fn add_env(&mut self, env: &[String]) {
        for entry in env {
            let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
            if is_secret_key(key) {
                self.add(value.to_owned());
            }
            self.add_all(url_passwords(value));
        }
    }

    /// `text` with every secret replaced.
    #[must_use]
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), MASK);
            }
        }
        let out = mask_urls(&out);
        let out = mask_auth_schemes(&out);
        mask_key_values(&out)
    }

    /// One `KEY=value` environment entry: the value masked when the key
    /// looks secret, else the value's text redacted.
    #[must_use]
    pub fn env_entry(&self, entry: &str) -> String {
        match entry.split_once('=') {
            Some((key, _)) if is_secret_key(key) => format!("{key}={MASK}"),
            Some((key, value)) => format!("{key}={}", self.text(value)),
            None => self.text(entry),
        }
    }

    /// `value` with secret-looking keys' values masked and every string
    /// redacted, recursively.
    #[must_use]
    pub fn json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(_) | Value::Number(_) if is_secret_key(k) => Value::String(MASK.to_owned()),
                            other => self.json(other),
                        };
                        (self.text(k), v)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// Characters that end a URL or a token in free text.
fn ends_token(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | ',' | ';' | ')' | ']' | '}')
}

/// The passwords of every `scheme://user:password@host` in `text`.
fn url_passwords(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let after = &rest[pos + 3..];
        let authority_end = after.find(|c: char| ends_token(c) || c == '/').unwrap_or(after.len());
        let authority = &after[..authority_end];
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
            && !password.is_empty()
            && password != MASK
        {
            found.push(password.to_owned());
            // Percent-encoded in the URL, plain where a program prints it.
            let pair = format!("p={password}");
            let decoded = url::form_urlencoded::parse(pair.as_bytes()).next().map(|(_, v)| v.into_owned());
            if let Some(decoded) = decoded.filter(|d| d != password) {
                found.push(decoded);
            }
        }
        rest = &after[authority_end..];
    }
    found
}

/// One URL as it may be shown: the password (or a user part that is a
/// token) masked, every query value masked, and the path masked where it
/// holds the credential (a known webhook host, or a token-like segment).
/// Text that is not a URL comes back as it is.
#[must_use]
pub fn mask_url(url: &str) -> String {
    let masked = super::mask_query(&mask_url_passwords(url));
    let Some(scheme_end) = masked.find("://") else { return masked };
    let after = scheme_end + 3;
    let path_start = masked[after..].find('/').map_or(masked.len(), |i| after + i);
    let path_end = masked[path_start..].find(['?', '#']).map_or(masked.len(), |i| path_start + i);
    let host = masked[after..path_start].rsplit('@').next().unwrap_or("");
    let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    let path = &masked[path_start..path_end];
    let shown_path = match SECRET_PATH_HOSTS.iter().find(|(h, _)| host == *h || host.ends_with(&format!(".{h}"))) {
        Some((_, keep)) if path.len() > keep.len() && path.starts_with(keep) => format!("{keep}{MASK}"),
        Some(_) => path.to_owned(),
        None => path
            .split('/')
            .map(|segment| {
                let token = segment.len() >= TOKEN_SEGMENT
                    && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    && segment.chars().any(|c| c.is_ascii_digit());
                if token { MASK } else { segment }
            })
            .collect::<Vec<_>>()
            .join("/"),
    };
    format!("{}{shown_path}{}", &masked[..path_start], &masked[path_end..])
}

/// Every URL in free text through [`mask_url`].
fn mask_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let start = rest[..pos]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
            .map_or(0, |i| i + 1);
        let end = rest[pos + 3..].find(ends_token).map_or(rest.len(), |i| pos + 3 + i);
        out.push_str(&rest[..start]);
        out.push_str(&mask_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `scheme://user:password@host` → `scheme://user:***@host`, everywhere.
fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        out.push_str(&rest[..pos + 3]);
        let after = &rest[pos + 3..];
        let authority_end = after.find(|c: char| ends_token(c) || c == '/').unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                    }
                    // A user part alone can be a token (`https://TOKEN@host`).
                    None if userinfo.len() >= 20 => out.push_str(MASK),
                    None => out.push_str(userinfo),
                }
                out.push('@');
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

/// `Bearer TOKEN`, `Basic CREDENTIALS` and `Token TOKEN` (any case) →
/// the scheme followed by `***`.
fn mask_auth_schemes(text: &str) -> String {
    const SCHEMES: [&str; 3] = ["bearer ", "basic ", "token "];
    let lower = text.to_ascii_lowercase();
    if !SCHEMES.iter().any(|s| lower.contains(s)) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hit = SCHEMES.iter().find(|s| {
            lower[i..].starts_with(**s) && (i == 0 || !text[..i].chars().next_back().is_some_and(char::is_alphanumeric))
        });
        if let Some(scheme) = hit {
            let start = i + scheme.len();
            let token_len = text[start..].find(ends_token).unwrap_or(text.len() - start);
            // "basic auth", "token is" …: prose, not a credential.
            let token = &text[start..start + token_len];
            out.push_str(&text[i..start]);
            if token.len() >= 8 || token.chars().any(|c| c.is_ascii_digit()) {
                out.push_str(MASK);
            } else {
                out.push_str(token);
            }
            i = start + token_len;
        } else {
            let c = text[i..].chars().next().expect("i is a char boundary");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `KEY=value`, `KEY: value`, `"KEY": "value"` and `KEY="value"` where KEY
/// looks secret → the value masked.
fn mask_key_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.';
        if is_ident(bytes[i]) && (i == 0 || !is_ident(bytes[i - 1])) {
            let mut end = i;
            while end < bytes.len() && is_ident(bytes[end]) {
                end += 1;
            }
            let key = &text[i..end];
            // Optional closing quote of a JSON key, then `=` or `:`, then spaces and an opening quote.
            let mut j = end;
            if j < bytes.len() && bytes[j] == b'"' {
                j += 1;
            }
            let separated = j < bytes.len() && (bytes[j] == b'=' || bytes[j] == b':');
            if separated && is_secret_key(key) {
                j += 1;
                while j < bytes.len() && bytes[j] == b' ' {
                    j += 1;
                }
                // `Authorization: Bearer ***`: the scheme stays readable.
                let rest = text[j..].get(..7).unwrap_or("").to_ascii_lowercase();
                if let Some(scheme) = ["bearer ", "basic ", "token "].iter().find(|s| rest.starts_with(**s)) {
                    j += scheme.len();
                }
                let quote = (j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'')).then(|| bytes[j]);
                if quote.is_some() {
                    j += 1;
                }
                let value_end = match quote {
                    Some(q) => text[j..].find(q as char).map_or(text.len(), |n| j + n),
                    None => text[j..].find(|c: char| ends_token(c) || c == '&').map_or(text.len(), |n| j + n),
                };
                out.push_str(&text[i..j]);
                if value_end > j {
                    out.push_str(MASK);
                }
                i = value_end;
                continue;
            }
            out.push_str(key);
            i = end;
            continue;
        }
        let c = text[i..].chars().next().expect("i is a char boundary");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_keys() {
        for k in ["DB_PASSWORD", "api_key", "AWS_SECRET_ACCESS_KEY", "authToken", "GF_SECURITY_ADMIN_PASSWORD"] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["PATH", "HOME", "POSTGRES_DB", "HOSTNAME"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn url_passwords_are_masked_and_collected() {
        let r = Redactor::default();
        assert_eq!(
            r.text("connect postgres://app:s3cr3t@db:5432/app failed"),
            "connect postgres://app:***@db:5432/app failed"
        );
        assert_eq!(r.text("http://host/path?x=1"), "http://host/path?x=***", "query values may be keys");
        assert_eq!(r.text("redis://:pw1234@cache:6379"), "redis://:***@cache:6379");
        assert_eq!(url_passwords("a postgres://u:p%40ss@h/d b"), ["p%40ss", "p@ss"]);
    }

    #[test]
    fn urls_lose_every_credential_they_carry() {
        let cases = [
            ("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX", "https://hooks.slack.com/services/***"),
            ("https://discord.com/api/webhooks/123/abcDEF-ghi", "https://discord.com/api/webhooks/***"),
            ("https://api.telegram.org/bot123456:AAE-xyz/sendMessage", "https://api.telegram.org/bot***"),
            ("https://ntfy.sh/my-secret-topic", "https://ntfy.sh/***"),
            ("https://ghp_0123456789abcdefghij0123456789abcdef@git.example.com/x", "https://***@git.example.com/x"),
            ("https://chat.example.com/hooks/k3n8xq0w5mf9rj2yb7tdl4ahve", "https://chat.example.com/hooks/***"),
            ("https://u:pw@host/p?token=abc", "https://u:***@host/p?token=***"),
            ("http://127.0.0.1:9743/-/healthy", "http://127.0.0.1:9743/-/healthy"),
            ("https://example.com/api/v1/notifications/status", "https://example.com/api/v1/notifications/status"),
        ];
        for (url, shown) in cases {
            assert_eq!(mask_url(url), shown, "{url}");
        }
        assert!(is_secret_key("OPS_GEN_NOTIFY_WEBHOOK") && is_secret_key("SENTRY_DSN"));
    }

    #[test]
    fn bearer_and_key_values() {
        let r = Redactor::default();
        assert_eq!(r.text("Authorization: Bearer abc.def-123"), "Authorization: Bearer ***");
        assert_eq!(r.text("uses basic auth"), "uses basic auth");
        assert_eq!(r.text("DB_PASSWORD=hunter2 next"), "DB_PASSWORD=*** next");
        assert_eq!(r.text(r#"{"api_token": "xyz", "user": "bob"}"#), r#"{"api_token": "***", "user": "bob"}"#);
        assert_eq!(r.text("secret: 'abc' ok"), "secret: '***' ok");
        assert_eq!(r.text("?token=abc&x=1"), "?token=***&x=1");
        assert_eq!(r.text("the token expired"), "the token expired");
    }

    #[test]
    fn known_values_anywhere() {
        let mut r = Redactor::default();
        r.add("pl4nted");
        r.add("abc");
        r.add_env(&["APP_SECRET=zz-top-99".to_owned(), "HOME=/root".to_owned()]);
        assert_eq!(r.text("saw pl4nted and zz-top-99 and abc"), "saw *** and *** and abc");
        assert_eq!(r.env_entry("APP_SECRET=zz-top-99"), "APP_SECRET=***");
        assert_eq!(r.env_entry("HOME=/root"), "HOME=/root");
        let json = serde_json::json!({"password": 12, "nested": [{"url": "http://u:pl4nted@h"}]});
        assert_eq!(r.json(&json), serde_json::json!({"password": "***", "nested": [{"url": "http://u:***@h"}]}));
    }
}
