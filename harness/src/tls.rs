//! TLS client settings for connections to real hosts (IMAP, and later SMTP
//! STARTTLS): how the server's certificate is verified.
//!
//! rustls with the ring provider, like the rest of the project; no OpenSSL.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// How a server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Verify {
    /// Against the machine's trusted roots (the system certificate store,
    /// as `rustls-native-certs` finds it).
    #[default]
    SystemRoots,
    /// Against the CA certificates (PEM) in this file only: a site's own CA.
    CaFile(PathBuf),
    /// Not at all: any certificate is accepted (the handshake's signatures
    /// are still checked). For a target file that says `verify = false`.
    Off,
}

/// Why a TLS client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read CA file {path}: {source}")]
    CaFile { path: PathBuf, source: std::io::Error },
    #[error("CA file {path}: {message}")]
    BadCa { path: PathBuf, message: String },
    #[error("the system's trusted roots: {0}")]
    SystemRoots(String),
    #[error("TLS set-up: {0}")]
    Setup(String),
}

/// A rustls client configuration (ring provider, TLS 1.2 and 1.3) that
/// verifies servers as `verify` says.
pub fn client_config(verify: &Verify) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let config = match verify {
        Verify::SystemRoots => {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found.errors.first().map(ToString::to_string).unwrap_or_else(|| "none found".into());
                return Err(TlsError::SystemRoots(why));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Verify::CaFile(path) => {
            let pem = std::fs::read(path).map_err(|source| TlsError::CaFile { path: path.clone(), source })?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| TlsError::BadCa { path: path.clone(), message: e.to_string() })?;
                roots.add(cert).map_err(|e| TlsError::BadCa { path: path.clone(), message: e.to_string() })?;
            }
            if roots.is_empty() {
                return Err(TlsError::BadCa { path: path.clone(), message: "no PEM certificate in it".into() });
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Verify::Off => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::http::NoVerification(provider)))
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("mailflow-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = client_config(&Verify::CaFile(empty.clone())).unwrap_err();
        assert_eq!(err.to_string(), format!("CA file {}: no PEM certificate in it", empty.display()));
        let err = client_config(&Verify::CaFile(dir.join("missing.pem"))).unwrap_err();
        assert!(matches!(err, TlsError::CaFile { .. }), "{err}");
        assert!(client_config(&Verify::Off).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
