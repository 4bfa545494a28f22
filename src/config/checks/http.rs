//! Settings of an `http` check: one request or a flow of steps, their
//! expectations, and the URL templates a flow fills in from captured values.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Invalid;
use crate::config::{HumanDuration, Redact, Redacted, Secret};

/// Config of an `http` check: either one request (`url` and the request
/// keys at this level) or a flow (`steps`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<HttpUrl>,
    #[serde(default = "Method::get")]
    pub method: Method,
    /// Request headers; values may be `${ENV}` references and are never shown.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// Request body, sent as is; may hold secrets, so it is never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Secret>,
    /// Accepted status codes; any 2xx when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
    pub expect_status: Vec<u16>,
    /// The body must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// The JSON body must hold this value at this pointer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<JsonExpectation>,
    /// A flow: requests run in order, sharing cookies and captured values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// Verify the server's certificate (on by default).
    #[serde(default = "Spec::default_tls_verify")]
    pub tls_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
}

/// One request of a flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// How the result names this step when it fails.
    pub name: String,
    pub url: HttpUrl,
    #[serde(default = "Method::get")]
    pub method: Method,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Secret>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
    pub expect_status: Vec<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<JsonExpectation>,
    /// Values to take from this step's JSON answer for later steps:
    /// `name: /json/pointer`, used as `{{name}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capture: BTreeMap<String, String>,
}

impl Spec {
    fn default_tls_verify() -> bool {
        true
    }

    /// The requests to run: the steps, or the one request at the top level.
    #[must_use]
    pub fn requests(&self) -> Vec<Step> {
        match &self.url {
            Some(url) if self.steps.is_empty() => vec![Step {
                name: "request".to_owned(),
                url: url.clone(),
                method: self.method.clone(),
                headers: self.headers.clone(),
                body: self.body.clone(),
                expect_status: self.expect_status.clone(),
                body_contains: self.body_contains.clone(),
                json: self.json.clone(),
                capture: BTreeMap::new(),
            }],
            _ => self.steps.clone(),
        }
    }

    /// Checks what one field cannot: one request or a flow, not both; step
    /// names unique; every `{{name}}` captured by an earlier step.
    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |key: String, message: String, fix: &str| Invalid { key, message, fix: fix.to_owned() };
        match (&self.url, self.steps.is_empty()) {
            (None, true) => {
                return Err(invalid("url".into(), "missing `url`".into(), "add `url:`, or `steps:` for a flow"));
            }
            (Some(_), false) => {
                return Err(invalid(
                    "steps".into(),
                    "both `url` and `steps` are set".into(),
                    "keep `url` for one request, or move it into the first step",
                ));
            }
            (None, false) => {
                let top_level = [
                    ("headers", !self.headers.is_empty()),
                    ("body", self.body.is_some()),
                    ("expect_status", !self.expect_status.is_empty()),
                    ("body_contains", self.body_contains.is_some()),
                    ("json", self.json.is_some()),
                    ("method", self.method.0 != reqwest::Method::GET),
                ];
                if let Some((key, _)) = top_level.iter().find(|(_, set)| *set) {
                    return Err(invalid(
                        (*key).to_owned(),
                        format!("`{key}` is set next to `steps`"),
                        "move it into the step it belongs to",
                    ));
                }
            }
            (Some(_), true) => {}
        }
        let mut captured: Vec<String> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let is_flow = !self.steps.is_empty();
        for (i, step) in self.requests().iter().enumerate() {
            let at = |field: &str| if is_flow { format!("steps[{i}].{field}") } else { field.to_owned() };
            if names.contains(&step.name) {
                return Err(invalid(
                    at("name"),
                    format!("two steps are named `{}`", step.name),
                    "give each step its own name",
                ));
            }
            names.push(step.name.clone());
            let mut texts = vec![("url", step.url.to_string())];
            texts.extend(step.headers.values().map(|v| ("headers", v.expose().to_owned())));
            texts.extend(step.body.iter().map(|b| ("body", b.expose().to_owned())));
            for (field, text) in texts {
                for name in placeholders(&text) {
                    if !captured.iter().any(|c| c == name) {
                        return Err(invalid(
                            at(field),
                            format!("`{{{{{name}}}}}` is not captured by an earlier step"),
                            &format!("capture it with `capture: {{{name}: /json/pointer}}` in a step before this one"),
                        ));
                    }
                }
            }
            for (name, pointer) in &step.capture {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(invalid(
                        at("capture"),
                        format!("`{name}` is not a valid capture name"),
                        "use letters, digits and `_`",
                    ));
                }
                if !pointer.is_empty() && !pointer.starts_with('/') {
                    return Err(invalid(
                        at("capture"),
                        format!("`{pointer}` is not a JSON pointer"),
                        "write it like `/data/token` (RFC 6901)",
                    ));
                }
                captured.push(name.clone());
            }
        }
        Ok(())
    }
}

/// The `{{name}}` placeholders in `text`.
pub(crate) fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else { break };
        out.push(rest[start + 2..start + 2 + len].trim());
        rest = &rest[start + 2 + len + 2..];
    }
    out
}

/// `text` with every `{{name}}` replaced by its captured value.
pub(crate) fn render(text: &str, values: &HashMap<String, String>) -> String {
    if !text.contains("{{") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else { break };
        out.push_str(&rest[..start]);
        let name = rest[start + 2..start + 2 + len].trim();
        out.push_str(values.get(name).map_or("", String::as_str));
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

/// `json: {pointer: /status, equals: ok}`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonExpectation {
    /// An RFC 6901 pointer such as `/checks/0/status`.
    pub pointer: String,
    pub equals: serde_json::Value,
}

/// An `http(s)` URL that may hold `{{name}}` placeholders; prints without a
/// password in its user part.
pub type HttpUrl = Redacted<UrlTemplate>;

/// The text of a URL, checked at load with its placeholders filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate(String);

impl UrlTemplate {
    /// The text as written, placeholders kept.
    #[must_use]
    pub fn template(&self) -> &str {
        &self.0
    }

    /// The URL itself, when it has no `{{name}}` placeholders.
    #[must_use]
    pub fn as_url(&self) -> Option<url::Url> {
        if placeholders(&self.0).is_empty() { parse_http_url(&self.0).ok() } else { None }
    }
}

impl Redact for UrlTemplate {
    fn parse_redacted(raw: &str) -> Result<(Self, String), String> {
        // A placeholder may stand for a word or for a whole path: the URL must
        // parse with one of the two.
        let fill =
            |with: &str| render(raw, &placeholders(raw).into_iter().map(|n| (n.to_owned(), with.to_owned())).collect());
        parse_http_url(&fill("x")).or_else(|e| parse_http_url(&fill("")).map_err(|_| e))?;
        Ok((Self(raw.to_owned()), crate::config::redact::mask_url(raw)))
    }
}

pub(crate) fn parse_http_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL ({e}); write it as http://HOST:PORT/PATH"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("unsupported scheme `{}`; use http:// or https://", url.scheme()));
    }
    if url.host().is_none() {
        return Err("the URL names no host".to_owned());
    }
    Ok(url)
}

/// An HTTP method from the usual set.
#[derive(Debug, Clone)]
pub struct Method(reqwest::Method);

impl Method {
    fn get() -> Self {
        Self(reqwest::Method::GET)
    }

    #[must_use]
    pub fn get_ref(&self) -> &reqwest::Method {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        match raw.to_ascii_uppercase().as_str() {
            "GET" => Ok(Self(reqwest::Method::GET)),
            "HEAD" => Ok(Self(reqwest::Method::HEAD)),
            "POST" => Ok(Self(reqwest::Method::POST)),
            "PUT" => Ok(Self(reqwest::Method::PUT)),
            "PATCH" => Ok(Self(reqwest::Method::PATCH)),
            "DELETE" => Ok(Self(reqwest::Method::DELETE)),
            "OPTIONS" => Ok(Self(reqwest::Method::OPTIONS)),
            _ => Err(serde::de::Error::custom(format!(
                "`{raw}` is not an HTTP method; use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"
            ))),
        }
    }
}

impl Serialize for Method {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(u16),
        Many(Vec<u16>),
    }
    let codes = match OneOrMany::deserialize(deserializer) {
        Ok(OneOrMany::One(code)) => vec![code],
        Ok(OneOrMany::Many(codes)) => codes,
        Err(_) => {
            return Err(serde::de::Error::custom("expected a status code such as 200, or a list such as [200, 204]"));
        }
    };
    if let Some(bad) = codes.iter().find(|c| !(100..=599).contains(*c)) {
        return Err(serde::de::Error::custom(format!("{bad} is not an HTTP status code (100 to 599)")));
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Spec {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn status_accepts_one_or_many_codes() {
        assert_eq!(spec("url: http://x/\nexpect_status: 204\n").expect_status, vec![204]);
        assert_eq!(spec("url: http://x/\nexpect_status: [200, 301]\n").expect_status, vec![200, 301]);
        let err = serde_norway::from_str::<Spec>("url: http://x/\nexpect_status: 999\n").unwrap_err().to_string();
        assert!(err.contains("not an HTTP status code"), "{err}");
    }

    #[test]
    fn templates_fill_captured_values() {
        let values = HashMap::from([("id".to_owned(), "42".to_owned())]);
        assert_eq!(render("http://x/items/{{id}}?q={{ id }}", &values), "http://x/items/42?q=42");
        assert_eq!(placeholders("a {{x}} b {{ y }}"), ["x", "y"]);
    }

    #[test]
    fn flows_are_validated_at_load() {
        let err = |yaml: &str| spec(yaml).validate().unwrap_err();
        assert_eq!(err("method: GET\n").key, "url");
        assert_eq!(err("url: http://x/\nsteps:\n  - {name: a, url: http://x/}\n").key, "steps");
        assert_eq!(err("body_contains: ok\nsteps:\n  - {name: a, url: http://x/}\n").key, "body_contains");
        let e = err("steps:\n  - {name: a, url: 'http://x/{{id}}'}\n");
        assert_eq!(e.key, "steps[0].url");
        assert!(e.message.contains("`{{id}}` is not captured"), "{}", e.message);
        assert_eq!(err("steps:\n  - {name: a, url: http://x/}\n  - {name: a, url: http://x/}\n").key, "steps[1].name");
        assert_eq!(err("url: 'http://x/{{id}}'\n").key, "url");
        let ok = "steps:\n  - {name: a, url: http://x/, capture: {id: /id}}\n  - {name: b, url: 'http://x/{{id}}'}\n";
        assert!(spec(ok).validate().is_ok());
    }

    #[test]
    fn url_password_is_masked_with_placeholders_kept() {
        let url: HttpUrl = "https://admin:pw@example.test/health".parse().unwrap();
        assert_eq!(url.to_string(), "https://admin:***@example.test/health");
        let url: HttpUrl = "https://admin:pw@example.test/items/{{id}}".parse().unwrap();
        assert_eq!(url.to_string(), "https://admin:***@example.test/items/{{id}}");
        let url: HttpUrl = "https://example.test/health?api_key=abc123".parse().unwrap();
        assert_eq!(url.to_string(), "https://example.test/health?api_key=***");
        assert!("ftp://example.test/".parse::<HttpUrl>().unwrap_err().contains("unsupported scheme"));
    }
}
