//! `http`: one request, or a flow of steps, checked against the expected
//! status, a body substring and/or a value at a JSON pointer.
//!
//! A flow (`steps:`) runs its requests in order, sharing cookies (one jar per
//! run, so nothing leaks between runs), and can capture a value from a JSON
//! answer into later steps as `{{name}}` in a URL, header or body (log in →
//! call the API with the token → fetch an asset). The first failing step is
//! named in the result. A single request is a flow of one step.
//!
//! Failures say why in the `reason` label: `connect`, `tls`, `timeout`,
//! `status`, `body`, or `protocol` when the answer is not HTTP at all. The
//! client (and its connection pool) is built once per check.

use std::collections::HashMap;
use std::fmt;

use futures::future::BoxFuture;
use reqwest::cookie::CookieStore as _;

use super::{Failure, Outcome, Reason};
use crate::config::checks::http::{Spec, Step, parse_http_url, render};
use crate::errors::{chain, chain_has};

pub const REASONS: &[Reason] =
    &[Reason::Timeout, Reason::Connect, Reason::Tls, Reason::Status, Reason::Body, Reason::Protocol, Reason::Internal];

/// The most of a body we read to check it; larger bodies are cut there.
const MAX_BODY: usize = 1024 * 1024;

/// A step ready to send: header names parsed once, values kept as templates.
struct Prepared {
    step: Step,
    headers: Vec<(reqwest::header::HeaderName, String)>,
}

pub struct HttpProbe {
    client: reqwest::Client,
    steps: Vec<Prepared>,
    /// Name steps in failures (a flow), or not (one request).
    is_flow: bool,
}

impl fmt::Debug for HttpProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<String> = self.steps.iter().map(|p| p.step.url.to_string()).collect();
        f.debug_struct("HttpProbe").field("urls", &urls).finish_non_exhaustive()
    }
}

impl HttpProbe {
    pub fn new(spec: &Spec) -> Result<Self, String> {
        crate::tls::init();
        let steps = spec
            .requests()
            .into_iter()
            .map(|step| {
                let headers = step
                    .headers
                    .iter()
                    .map(|(name, value)| {
                        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                            .map_err(|_| format!("`{name}` is not a valid header name"))?;
                        Ok((name, value.expose().to_owned()))
                    })
                    .collect::<Result<_, String>>()?;
                Ok(Prepared { step, headers })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let client = crate::tls::http_client(|| {
            reqwest::Client::builder()
                .user_agent(concat!("ops-gen/", env!("CARGO_PKG_VERSION")))
                .tls_danger_accept_invalid_certs(!spec.tls_verify)
        })
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client, is_flow: !spec.steps.is_empty(), steps })
    }

    pub async fn check(&self) -> Outcome {
        let cookies = reqwest::cookie::Jar::default();
        let mut captured = HashMap::new();
        for (i, prepared) in self.steps.iter().enumerate() {
            if let Err(mut failure) = self.run_step(prepared, &cookies, &mut captured).await {
                if self.is_flow {
                    failure.message = format!("step {} `{}`: {}", i + 1, prepared.step.name, failure.message);
                }
                return Outcome { details: None, failure: Some(failure) };
            }
        }
        Outcome::success()
    }

    async fn run_step(
        &self,
        prepared: &Prepared,
        cookies: &reqwest::cookie::Jar,
        captured: &mut HashMap<String, String>,
    ) -> Result<(), Failure> {
        let step = &prepared.step;
        let url = parse_http_url(&render(step.url.get().template(), captured))
            .map_err(|e| Failure::new(Reason::Body, format!("the URL made from captured values is invalid: {e}")))?;
        let mut headers = reqwest::header::HeaderMap::with_capacity(prepared.headers.len() + 1);
        for (name, value) in &prepared.headers {
            let mut value = reqwest::header::HeaderValue::from_str(&render(value, captured)).map_err(|_| {
                Failure::new(Reason::Body, format!("the value of header `{name}` made from captured values is invalid"))
            })?;
            value.set_sensitive(true);
            headers.insert(name.clone(), value);
        }
        if let Some(cookie) = cookies.cookies(&url) {
            headers.insert(reqwest::header::COOKIE, cookie);
        }
        let mut request = self.client.request(step.method.get_ref().clone(), url).headers(headers);
        if let Some(body) = &step.body {
            request = request.body(render(body.expose(), captured));
        }
        let mut response = request.send().await.map_err(failure)?;
        cookies.set_cookies(&mut response.headers().get_all(reqwest::header::SET_COOKIE).iter(), response.url());

        let status = response.status();
        let status_ok = if step.expect_status.is_empty() {
            status.is_success()
        } else {
            step.expect_status.contains(&status.as_u16())
        };
        if !status_ok {
            let expected = if step.expect_status.is_empty() {
                "a 2xx status".to_owned()
            } else {
                format!("{:?}", step.expect_status)
            };
            return Err(Failure::new(Reason::Status, format!("answered {status}, expected {expected}")));
        }
        if step.body_contains.is_none() && step.json.is_none() && step.capture.is_empty() {
            return Ok(());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failure)? {
            body.extend_from_slice(&chunk[..chunk.len().min(MAX_BODY - body.len())]);
            if body.len() >= MAX_BODY {
                break;
            }
        }
        check_body(step, &body, captured)
    }
}

/// Checks a step's body and takes its captures.
fn check_body(step: &Step, body: &[u8], captured: &mut HashMap<String, String>) -> Result<(), Failure> {
    let fail = |message: String| Err(Failure::new(Reason::Body, message));
    if let Some(needle) = &step.body_contains
        && !String::from_utf8_lossy(body).contains(needle.as_str())
    {
        return fail(format!("body does not contain {needle:?}"));
    }
    if step.json.is_none() && step.capture.is_empty() {
        return Ok(());
    }
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return fail(format!("body is not JSON ({e})")),
    };
    if let Some(expect) = &step.json {
        match value.pointer(&expect.pointer) {
            Some(found) if *found == expect.equals => {}
            Some(found) => {
                return fail(format!("{} is {}, expected {}", expect.pointer, short(found), short(&expect.equals)));
            }
            None => return fail(format!("{} is not in the body", expect.pointer)),
        }
    }
    for (name, pointer) in &step.capture {
        let text = match value.pointer(pointer) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => {
                return fail(format!("cannot capture `{name}`: {pointer} is not in the body"));
            }
            Some(other) => other.to_string(),
        };
        captured.insert(name.clone(), text);
    }
    Ok(())
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

fn failure(e: reqwest::Error) -> Failure {
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
    Failure::new(reason, chain(&e))
}

impl super::Run for HttpProbe {
    fn run(&self) -> BoxFuture<'_, Outcome> {
        Box::pin(self.check())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Spec {
        serde_norway::from_str(yaml).unwrap()
    }

    fn body_check(yaml: &str, body: &[u8]) -> Result<HashMap<String, String>, Failure> {
        let steps = spec(yaml).requests();
        let mut captured = HashMap::new();
        check_body(&steps[0], body, &mut captured).map(|()| captured)
    }

    #[test]
    fn json_pointer_mismatch_says_what_was_found() {
        let yaml = "url: http://x/\njson: {pointer: /status, equals: ok}\n";
        let err = body_check(yaml, br#"{"status":"degraded"}"#).unwrap_err();
        assert_eq!(err.message, r#"/status is "degraded", expected "ok""#);
        assert!(body_check(yaml, br#"{"status":"ok"}"#).is_ok());
        assert_eq!(body_check(yaml, b"<html>").unwrap_err().reason, Reason::Body);
    }

    #[test]
    fn captures_strings_as_is_and_other_values_as_json() {
        let yaml = "steps:\n  - name: a\n    url: http://x/\n    capture: {token: /t, n: /n}\n";
        let got = body_check(yaml, br#"{"t":"abc","n":42}"#).unwrap();
        assert_eq!((got["token"].as_str(), got["n"].as_str()), ("abc", "42"));
        let err = body_check(yaml, br#"{"t":"abc"}"#).unwrap_err();
        assert_eq!(err.message, "cannot capture `n`: /n is not in the body");
    }
}
