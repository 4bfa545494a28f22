//! `ops-gen ctl`: the client of a remote `ops-gen serve`'s ops API, for
//! people and scripts without SSH. The server's URL comes from `--url` or
//! `OPS_GEN_URL`, the token only from `OPS_GEN_TOKEN` (never an argument, so
//! it stays out of shell history and `ps`). Answers are JSON by default, to
//! pipe into `jq`; `logs --plain` is text for a pager.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Secret;

/// How long one call may take (a bundle is collected on the server first).
const TIMEOUT: Duration = Duration::from_secs(120);

/// Why a call did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// No server or token to talk to: a usage error.
    #[error("{0}")]
    Setup(String),
    /// The server could not be reached.
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    /// The server answered with an error status.
    #[error("{status} from {route}: {message}")]
    Http { status: u16, route: String, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// A connection to one server.
#[derive(Debug)]
pub struct Client {
    base: url::Url,
    token: Secret,
    http: reqwest::Client,
}

/// One answer: its body, and the headers a caller may want.
#[derive(Debug)]
pub struct Answer {
    pub body: bytes::Bytes,
    pub content_type: String,
    pub disposition: Option<String>,
    pub bundle: Option<String>,
}

impl Client {
    /// A client of the server at `url` (else `OPS_GEN_URL`) with the token in
    /// `OPS_GEN_TOKEN`.
    pub fn from_env(url: Option<&str>) -> Result<Self, CtlError> {
        let url = match url {
            Some(url) => url.to_owned(),
            None => std::env::var("OPS_GEN_URL").map_err(|_| {
                CtlError::Setup(
                    "no server to talk to: set OPS_GEN_URL (e.g. https://ops.example.com) or pass --url".to_owned(),
                )
            })?,
        };
        let mut base = url::Url::parse(&url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| CtlError::Setup(format!("`{url}` is not an http(s) URL")))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let token = std::env::var("OPS_GEN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CtlError::Setup("no token: set OPS_GEN_TOKEN to an API token of the server".to_owned()))?;
        let http = crate::tls::http_client(|| reqwest::Client::builder().timeout(TIMEOUT))
            .map_err(|e| CtlError::Setup(format!("cannot set up HTTP: {e}")))?;
        Ok(Self { base, token: Secret::new(token), http })
    }

    /// `GET api/ops/<route>` with `query`.
    pub async fn get(&self, route: &str, query: &[(&str, String)]) -> Result<Answer, CtlError> {
        let mut url = self.base.join(&format!("api/ops/{route}")).map_err(|e| CtlError::Setup(e.to_string()))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let shown = format!("/api/ops/{route}");
        let response = self.http.get(url).bearer_auth(self.token.expose()).send().await.map_err(|e| {
            CtlError::Unreachable { url: self.base.to_string(), message: crate::errors::chain(&e.without_url()) }
        })?;
        let status = response.status();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let content_type = header("content-type").unwrap_or_default();
        let disposition = header("content-disposition");
        let bundle = header("x-ops-gen-bundle");
        let body = response.bytes().await.map_err(|e| CtlError::Unreachable {
            url: self.base.to_string(),
            message: crate::errors::chain(&e.without_url()),
        })?;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().chars().take(300).collect());
            return Err(CtlError::Http { status: status.as_u16(), route: shown, message });
        }
        Ok(Answer { body, content_type, disposition, bundle })
    }
}

/// Where a downloaded bundle goes: `out`, else the server's file name in the
/// current folder.
#[must_use]
pub fn bundle_path(out: Option<&Path>, disposition: Option<&str>) -> PathBuf {
    if let Some(out) = out {
        return out.to_owned();
    }
    let name = disposition
        .and_then(|d| d.split_once("filename=\"")?.1.split('"').next().map(str::to_owned))
        .filter(|n| !n.is_empty() && !n.contains(['/', '\\']) && !n.starts_with('.'))
        .unwrap_or_else(|| "ops-gen-bundle.tar.gz".to_owned());
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_lands_where_asked_or_under_a_safe_name() {
        assert_eq!(bundle_path(Some(Path::new("x.tgz")), None), PathBuf::from("x.tgz"));
        assert_eq!(
            bundle_path(None, Some("attachment; filename=\"ops-gen-20261123T0700Z.tar.gz\"")),
            PathBuf::from("ops-gen-20261123T0700Z.tar.gz")
        );
        for bad in ["attachment; filename=\"../../etc/x\"", "attachment; filename=\".hidden\"", "inline"] {
            assert_eq!(bundle_path(None, Some(bad)), PathBuf::from("ops-gen-bundle.tar.gz"), "{bad}");
        }
    }
}
