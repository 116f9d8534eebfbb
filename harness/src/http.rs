//! HTTP(S) observations of the lists host's web server: status, a piece of
//! the body, and where a redirect points.
//!
//! TLS verification is on: the client trusts the roots the target names
//! (for the container target, the lists image's own CA, read from the
//! container). A target may say verification is off; the report then says so.
//! Redirects are not followed, so that a redirect can be checked.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::scenario::Scheme;

/// How HTTPS certificates are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsTrust {
    /// Verify against these roots only (PEM text of one or more certificates).
    Roots(String),
    /// The target says not to verify (the report shows it).
    Off,
}

/// The lists host's web server as the harness reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebEndpoint {
    /// The host name in URLs and the certificate, e.g. `lists.example.test`.
    pub host: String,
    /// Where that name is reached (no DNS is asked).
    pub addr: IpAddr,
    pub http_port: u16,
    pub https_port: u16,
    pub tls: TlsTrust,
}

impl WebEndpoint {
    pub fn url(&self, scheme: Scheme, path: &str) -> String {
        let (name, default_port, port) = match scheme {
            Scheme::Http => ("http", 80, self.http_port),
            Scheme::Https => ("https", 443, self.https_port),
        };
        if port == default_port {
            format!("{name}://{}{path}", self.host)
        } else {
            format!("{name}://{}:{port}{path}", self.host)
        }
    }

    pub fn socket(&self, scheme: Scheme) -> SocketAddr {
        SocketAddr::new(self.addr, if scheme == Scheme::Http { self.http_port } else { self.https_port })
    }
}

/// What one request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The `Location` header, resolved against the request's URL.
    pub location: Option<String>,
    pub body: String,
}

/// A client for the endpoint: its host name pinned to its address, TLS
/// checked as the endpoint says, no redirects followed.
pub fn client(endpoint: &WebEndpoint, timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(&endpoint.tls)?)
        .redirect(reqwest::redirect::Policy::none())
        // Port 0: the URL's port (or the scheme's) is used.
        .resolve(&endpoint.host, SocketAddr::new(endpoint.addr, 0))
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// A client for an API (Mailman's REST, a hosts target's HyperKitty):
/// names resolved as usual, TLS checked as `trust` says, redirects not
/// followed, every request bounded by `timeout`.
pub fn api_client(trust: &TlsTrust, timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(trust)?)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// rustls with ring, trusting what `trust` says.
fn tls_config(trust: &TlsTrust) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let config = match trust {
        TlsTrust::Roots(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| format!("reading the target's root certificates: {e}"))?;
                roots.add(cert).map_err(|e| format!("adding a root certificate: {e}"))?;
            }
            if roots.is_empty() {
                return Err("the target named no root certificates".into());
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsTrust::Off => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// One GET. Errors carry the whole chain of causes (a TLS failure names
/// the certificate problem).
pub async fn get(client: &reqwest::Client, url: &str) -> Result<Response, String> {
    let response = client.get(url).send().await.map_err(|e| error_chain(&e))?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| resolve(url, l));
    let body = response.text().await.map_err(|e| error_chain(&e))?;
    Ok(Response { status, location, body })
}

/// A redirect target resolved against the URL asked for, so that
/// `/hyperkitty/` and `https://host/hyperkitty/` compare equal.
pub fn resolve(base: &str, location: &str) -> String {
    match reqwest::Url::parse(base).and_then(|b| b.join(location)) {
        Ok(url) => url.to_string(),
        Err(_) => location.to_string(),
    }
}

/// An error and its sources, `a: b: c`, each source once (reqwest and
/// hyper often repeat the inner error in the outer message).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Accepts any certificate, for targets that say verification is off. The
/// signatures are still checked, so that the handshake is a real one.
#[derive(Debug)]
pub(crate) struct NoVerification(pub(crate) Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_request() {
        let base = "https://lists.example.test/pipermail/probe-test/";
        assert_eq!(resolve(base, "/hyperkitty/"), "https://lists.example.test/hyperkitty/");
        assert_eq!(resolve(base, "https://lists.example.test/hyperkitty/"), "https://lists.example.test/hyperkitty/");
        assert_eq!(resolve(base, "2015-August/"), "https://lists.example.test/pipermail/probe-test/2015-August/");
    }

    #[test]
    fn urls_leave_out_default_ports() {
        let mut e = WebEndpoint {
            host: "lists.example.test".into(),
            addr: "172.31.7.2".parse().unwrap(),
            http_port: 80,
            https_port: 443,
            tls: TlsTrust::Off,
        };
        assert_eq!(e.url(Scheme::Https, "/"), "https://lists.example.test/");
        e.http_port = 8080;
        assert_eq!(e.url(Scheme::Http, "/x"), "http://lists.example.test:8080/x");
    }

    #[test]
    fn a_target_without_roots_is_an_error() {
        let e = WebEndpoint {
            host: "lists.example.test".into(),
            addr: "127.0.0.1".parse().unwrap(),
            http_port: 80,
            https_port: 443,
            tls: TlsTrust::Roots(String::new()),
        };
        assert_eq!(client(&e, Duration::from_secs(1)).err().as_deref(), Some("the target named no root certificates"));
    }
}
