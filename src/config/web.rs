//! TLS and basic auth for `ops-gen serve`, from a web config file in the
//! Prometheus exporter-toolkit format (`auth.web_config`), so the same file
//! works for ops-gen and the exporters next to it, and `promtool check
//! web-config` checks it:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt      # relative to this file's folder
//!   key_file: server.key
//! basic_auth_users:
//!   prometheus: $2y$10$…       # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//! ```
//!
//! TLS covers every route; basic auth guards `/metrics` and `/probe` (the
//! ops API has its own tokens, the health routes stay open for probes).
//! Keys of the format that ops-gen does not implement are refused by name,
//! never ignored: a config that looks protected must be.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::config::ConfigError;

/// The parts of the exporter-toolkit format ops-gen implements.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    tls_server_config: Option<TlsFile>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
}

/// A loaded web config.
/// The SHA-256 of a user's password last verified, and when.
type Verified = ([u8; 32], std::time::Instant);

/// How long a verified password is taken without bcrypt again.
pub const VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The TLS server config, when the file asks for TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    users: BTreeMap<String, String>,
    /// Passwords already checked against their bcrypt hash (bcrypt costs
    /// tens of milliseconds on purpose; a scrape every 15 s should not).
    verified: Arc<Mutex<BTreeMap<String, Verified>>>,
}

impl WebConfig {
    /// Reads and checks `path`; `file` and `key` name the config and its key
    /// in errors.
    pub fn load(path: &Path, file: &str, key: &str) -> Result<Self, ConfigError> {
        let fail = |message: String, fix: &str| ConfigError::invalid(file, key, message, Some(fix.to_owned()));
        let text = std::fs::read_to_string(path).map_err(|e| {
            fail(format!("cannot read {}: {e}", path.display()), "point it at a readable web config file")
        })?;
        let parsed: File = serde_norway::from_str(&text).map_err(|e| {
            fail(
                format!("{} is not a web config ops-gen supports: {e}", path.display()),
                "use tls_server_config.cert_file/key_file and basic_auth_users (exporter-toolkit format)",
            )
        })?;
        for (user, hash) in &parsed.basic_auth_users {
            if !hash.starts_with("$2") || bcrypt::verify("", hash).is_err() {
                return Err(fail(
                    format!("basic_auth_users.{user} in {} is not a bcrypt hash", path.display()),
                    "write a bcrypt hash, e.g. from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`",
                ));
            }
        }
        let folder = path.parent().unwrap_or(Path::new("."));
        let tls = match &parsed.tls_server_config {
            None => None,
            Some(tls) => Some(Arc::new(
                server_config(&folder.join(&tls.cert_file), &folder.join(&tls.key_file))
                    .map_err(|e| fail(format!("{} (from {})", e, path.display()), "give a PEM certificate and key"))?,
            )),
        };
        Ok(Self { tls, users: parsed.basic_auth_users, verified: Arc::default() })
    }

    /// Whether routes need basic auth.
    #[must_use]
    pub fn wants_basic_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// The user and password of an `Authorization: Basic …` header.
    #[must_use]
    pub fn credentials(header: Option<&str>) -> Option<(String, String)> {
        use base64::Engine as _;
        header
            .and_then(|h| h.strip_prefix("Basic ").or_else(|| h.strip_prefix("basic ")))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|text| text.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
    }

    /// Whether `user` and `password` were verified within [`VERIFIED_TTL`]
    /// (no bcrypt): the SHA-256 of the password is kept per user after a
    /// successful check.
    #[must_use]
    pub fn verified_before(&self, user: &str, password: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        verified.get(user).is_some_and(|(d, at)| {
            at.elapsed() < VERIFIED_TTL && bool::from(subtle::ConstantTimeEq::ct_eq(&d[..], &digest[..]))
        })
    }

    /// Checks `password` against the user's bcrypt hash (slow on purpose:
    /// call it off the async workers), remembering a success.
    #[must_use]
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            // The same cost as a known user, so timing does not tell users apart.
            let _ = bcrypt::verify(password, DUMMY_HASH);
            return false;
        };
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
            let now = std::time::Instant::now();
            self.verified.lock().unwrap_or_else(PoisonError::into_inner).insert(user.to_owned(), (digest, now));
        }
        ok
    }
}

/// A bcrypt hash of nothing in particular, for unknown users.
const DUMMY_HASH: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";

fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    crate::tls::init();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect)
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("cannot read the key {}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not make a TLS config: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
