//! `http`: one request, checked against the expected status, a body
//! substring and/or a value at a JSON pointer.
//!
//! Failures say why in the `reason` label: `connect`, `tls`, `timeout`,
//! `status`, `body`, or `protocol` when the answer is not HTTP at all. The
//! client (and its connection pool) is built once per check.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Details, Outcome, Reason, chain, chain_has};
use crate::config::{HumanDuration, MASK, Redact, Redacted, Secret};

pub const REASONS: &[Reason] =
    &[Reason::Timeout, Reason::Connect, Reason::Tls, Reason::Status, Reason::Body, Reason::Protocol, Reason::Internal];

/// The most of a body we read to check it; larger bodies are cut there.
const MAX_BODY: usize = 1024 * 1024;

/// Config of an `http` check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub url: HttpUrl,
    #[serde(default = "Spec::default_method")]
    pub method: Method,
    /// Request headers; values may be `${ENV}` references and are never shown.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// Request body, sent as is.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_string")]
    pub body: Option<String>,
    /// Accepted status codes; any 2xx when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
    pub expect_status: Vec<u16>,
    /// The body must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// The JSON body must hold this value at this pointer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<JsonExpectation>,
    /// Verify the server's certificate (on by default).
    #[serde(default = "Spec::default_tls_verify")]
    pub tls_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
}

impl Spec {
    fn default_method() -> Method {
        Method(reqwest::Method::GET)
    }
    fn default_tls_verify() -> bool {
        true
    }
}

/// `json: {pointer: /status, equals: ok}`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonExpectation {
    /// An RFC 6901 pointer such as `/checks/0/status`.
    pub pointer: String,
    pub equals: serde_json::Value,
}

/// An `http(s)` URL; prints without a password in its user part.
pub type HttpUrl = Redacted<url::Url>;

impl Redact for url::Url {
    fn parse_redacted(raw: &str) -> Result<(Self, String), String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e}); write it as http://HOST:PORT/PATH"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("unsupported scheme `{}`; use http:// or https://", url.scheme()));
        }
        if url.host().is_none() {
            return Err("the URL names no host".to_owned());
        }
        let mut shown = url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some(MASK));
        }
        Ok((url, shown.to_string()))
    }
}

/// An HTTP method from the usual set.
#[derive(Debug, Clone)]
pub struct Method(reqwest::Method);

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

fn optional_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    crate::config::env_string(deserializer).map(Some)
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

pub struct HttpProbe {
    client: reqwest::Client,
    spec: Spec,
    headers: reqwest::header::HeaderMap,
}

impl fmt::Debug for HttpProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProbe").field("url", &self.spec.url).finish_non_exhaustive()
    }
}

impl HttpProbe {
    pub fn new(spec: &Spec) -> Result<Self, String> {
        super::tls::init();
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &spec.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a valid header name"))?;
            let mut value = reqwest::header::HeaderValue::from_str(value.expose())
                .map_err(|_| format!("the value of header `{name}` is not valid in HTTP"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("ops-gen/", env!("CARGO_PKG_VERSION")))
            .tls_danger_accept_invalid_certs(!spec.tls_verify)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", chain(&e.without_url())))?;
        Ok(Self { client, spec: spec.clone(), headers })
    }

    pub async fn run(&self) -> Outcome {
        let mut request =
            self.client.request(self.spec.method.0.clone(), self.spec.url.get().clone()).headers(self.headers.clone());
        if let Some(body) = &self.spec.body {
            request = request.body(body.clone());
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return failure(e),
        };
        let status = response.status();
        let status_ok = if self.spec.expect_status.is_empty() {
            status.is_success()
        } else {
            self.spec.expect_status.contains(&status.as_u16())
        };
        if !status_ok {
            let expected = if self.spec.expect_status.is_empty() {
                "a 2xx status".to_owned()
            } else {
                format!("{:?}", self.spec.expect_status)
            };
            return Outcome::failed(Reason::Status, format!("answered {status}, expected {expected}"));
        }
        if self.spec.body_contains.is_none() && self.spec.json.is_none() {
            return Outcome::ok(Details::None);
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk[..chunk.len().min(MAX_BODY - body.len())]);
                    if body.len() >= MAX_BODY {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return failure(e),
            }
        }
        self.check_body(&body)
    }

    fn check_body(&self, body: &[u8]) -> Outcome {
        if let Some(needle) = &self.spec.body_contains
            && !String::from_utf8_lossy(body).contains(needle.as_str())
        {
            return Outcome::failed(Reason::Body, format!("body does not contain {needle:?}"));
        }
        if let Some(expect) = &self.spec.json {
            let value: serde_json::Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return Outcome::failed(Reason::Body, format!("body is not JSON ({e})")),
            };
            match value.pointer(&expect.pointer) {
                Some(found) if *found == expect.equals => {}
                Some(found) => {
                    return Outcome::failed(
                        Reason::Body,
                        format!("{} is {}, expected {}", expect.pointer, short(found), short(&expect.equals)),
                    );
                }
                None => {
                    return Outcome::failed(Reason::Body, format!("{} is not in the body", expect.pointer));
                }
            }
        }
        Outcome::ok(Details::None)
    }
}

/// A JSON value, cut to a length fit for a one-line message.
fn short(v: &serde_json::Value) -> String {
    let mut s = v.to_string();
    if s.len() > 80 {
        let cut = (0..=77).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn failure(e: reqwest::Error) -> Outcome {
    // The URL may carry credentials: never let it into a message.
    let e = e.without_url();
    let reason = if e.is_timeout() {
        Reason::Timeout
    } else if chain_has::<rustls::Error>(&e).is_some() {
        Reason::Tls
    } else if e.is_connect() {
        Reason::Connect
    } else if let Some(io) = chain_has::<std::io::Error>(&e) {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
        if matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof) {
            Reason::Connect
        } else {
            Reason::Protocol
        }
    } else {
        Reason::Protocol
    };
    Outcome::failed(reason, chain(&e))
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
    fn json_pointer_mismatch_says_what_was_found() {
        let probe = HttpProbe::new(&spec("url: http://x/\njson: {pointer: /status, equals: ok}\n")).unwrap();
        let out = probe.check_body(br#"{"status":"degraded"}"#);
        assert_eq!(out.failure.unwrap().message, r#"/status is "degraded", expected "ok""#);
        assert!(probe.check_body(br#"{"status":"ok"}"#).is_success());
        assert_eq!(probe.check_body(b"<html>").failure.unwrap().reason, Reason::Body);
    }

    #[test]
    fn url_password_is_masked() {
        let url: HttpUrl = "https://admin:pw@example.test/health".parse().unwrap();
        assert_eq!(url.to_string(), "https://admin:***@example.test/health");
        assert!("ftp://example.test/".parse::<HttpUrl>().unwrap_err().contains("unsupported scheme"));
    }
}
