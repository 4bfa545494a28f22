//! TLS for every client of ops-gen (probes, notifications, `ctl`, Docker
//! over HTTPS): one crypto provider for the process, and the client configs
//! PostgreSQL needs.
//!
//! We build rustls with the `ring` provider (no C toolchain beyond `cc`, fast
//! builds) and install it once as the process default, which reqwest picks up.

use std::sync::{Arc, Once};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::BuilderVerifierExt;

/// Installs the process-wide crypto provider; safe to call many times.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Fails only when another provider was installed first, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An HTTP client from `builder` (called again for a second try). On a host
/// without a CA bundle (a minimal container image, `SSL_CERT_FILE` pointing
/// nowhere), reqwest cannot load the system's roots and refuses to build;
/// then the client is built trusting no CA, so plain `http://` works and an
/// `https://` request fails with a certificate error where it is made (and
/// a warning says why, once), never a failed start.
pub fn http_client(builder: impl Fn() -> reqwest::ClientBuilder) -> Result<reqwest::Client, String> {
    static WARNED: Once = Once::new();
    init();
    match builder().build() {
        Ok(client) => Ok(client),
        Err(e) if crate::errors::chain(&e).contains("No CA certificates") => {
            WARNED.call_once(|| {
                tracing::warn!(
                    "no CA certificates on this system (install ca-certificates, or set SSL_CERT_FILE): HTTPS requests will fail certificate checks"
                );
            });
            builder().tls_certs_only([]).build().map_err(|e| crate::errors::chain(&e.without_url()))
        }
        Err(e) => Err(crate::errors::chain(&e.without_url())),
    }
}

/// A client config that verifies the server against the system's roots, or,
/// with `verify` off, encrypts without checking who answers (libpq's
/// `sslmode=require` behaviour, common with self-signed database certs).
pub fn client_config(verify: bool) -> Result<ClientConfig, String> {
    init();
    let builder = ClientConfig::builder();
    let config = if verify {
        builder
            .with_platform_verifier()
            .map_err(|e| format!("cannot load the system's TLS roots: {e}"))?
            .with_no_client_auth()
    } else {
        let provider = builder.crypto_provider().clone();
        builder.dangerous().with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))).with_no_client_auth()
    };
    Ok(config)
}

/// Accepts any certificate but still checks that the handshake is signed by
/// it, so the session is encrypted end to end with whoever holds the key.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
