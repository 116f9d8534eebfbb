//! How a probe's SMTP conversation is protected and authenticated:
//! STARTTLS (RFC 3207) with the server's certificate checked as the target
//! says, and AUTH PLAIN (RFC 4954) with credentials that never reach the
//! transcript.

use std::sync::Arc;

/// Whether STARTTLS is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StartTls {
    /// The server must offer STARTTLS and the upgrade must succeed.
    Required,
    /// Used when the server offers it.
    Optional,
    /// Never used (the container target: exim there advertises no TLS).
    #[default]
    Off,
}

impl StartTls {
    pub const ALL: [StartTls; 3] = [StartTls::Required, StartTls::Optional, StartTls::Off];

    /// The name a target file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            StartTls::Required => "required",
            StartTls::Optional => "optional",
            StartTls::Off => "off",
        }
    }
}

/// SMTP AUTH credentials; `Debug` hides the password.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &"***").finish()
    }
}

/// TLS and AUTH for one send. The default is plain SMTP without AUTH.
#[derive(Debug, Clone, Default)]
pub struct Security {
    pub starttls: StartTls,
    /// The TLS settings (roots or verification off); needed unless `starttls` is off.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The name the certificate must be for (the MX host's name).
    pub server_name: String,
    /// AUTH PLAIN after EHLO (after STARTTLS when it is used).
    pub auth: Option<Credentials>,
}

/// `AUTH PLAIN`'s argument: base64 of `\0user\0password` (RFC 4616).
pub(crate) fn plain_token(c: &Credentials) -> String {
    let mut raw = Vec::with_capacity(c.user.len() + c.password.len() + 2);
    raw.push(0);
    raw.extend_from_slice(c.user.as_bytes());
    raw.push(0);
    raw.extend_from_slice(c.password.as_bytes());
    data_encoding::BASE64.encode(&raw)
}

/// Whether an EHLO reply advertises a keyword (one per line, first word).
pub(crate) fn offers(ehlo_text: &str, keyword: &str) -> bool {
    ehlo_text.lines().any(|l| l.split_whitespace().next().is_some_and(|w| w.eq_ignore_ascii_case(keyword)))
}

/// Whether an EHLO reply offers AUTH with the PLAIN mechanism.
pub(crate) fn offers_auth_plain(ehlo_text: &str) -> bool {
    ehlo_text.lines().any(|l| {
        let mut words = l.split_whitespace();
        words.next().is_some_and(|w| w.eq_ignore_ascii_case("AUTH")) && words.any(|m| m.eq_ignore_ascii_case("PLAIN"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_token_is_rfc_4616() {
        // RFC 4616's example shape: "\0tim\0tanstaaftanstaaf".
        let c = Credentials { user: "tim".into(), password: "tanstaaftanstaaf".into() };
        assert_eq!(plain_token(&c), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
        assert!(!format!("{c:?}").contains("tanstaaf"));
    }

    #[test]
    fn keywords() {
        let ehlo = "mx.example.test Hello\nSIZE 52428800\nSTARTTLS\nAUTH LOGIN PLAIN\nHELP";
        assert!(offers(ehlo, "starttls"));
        assert!(!offers(ehlo, "PIPELINING"));
        assert!(offers_auth_plain(ehlo));
        assert!(!offers_auth_plain("x\nAUTH LOGIN CRAM-MD5"));
    }

    /// A scripted server on an in-memory stream: STARTTLS with a throwaway
    /// certificate for `mx.example.test`, then AUTH and one message.
    async fn server(stream: tokio::io::DuplexStream, cert: rcgen::CertifiedKey<rcgen::KeyPair>, offer_tls: bool) -> Vec<String> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let mut seen = Vec::new();
        let mut io = BufReader::new(stream);
        io.get_mut().write_all(b"220 mx.example.test ESMTP\r\n").await.unwrap();
        let mut line = String::new();
        io.read_line(&mut line).await.unwrap();
        seen.push(line.trim_end().to_string());
        let extensions = if offer_tls { "250-mx.example.test\r\n250-STARTTLS\r\n250 SIZE 1000000\r\n" } else { "250-mx.example.test\r\n250 SIZE 1000000\r\n" };
        io.get_mut().write_all(extensions.as_bytes()).await.unwrap();
        line.clear();
        io.read_line(&mut line).await.unwrap();
        seen.push(line.trim_end().to_string());
        if !offer_tls {
            io.get_mut().write_all(b"221 bye\r\n").await.unwrap();
            return seen;
        }
        io.get_mut().write_all(b"220 go ahead\r\n").await.unwrap();
        let der = rustls::pki_types::CertificateDer::from(cert.cert.der().to_vec());
        let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der], key)
            .unwrap();
        let tls = tokio_rustls::TlsAcceptor::from(Arc::new(config)).accept(io.into_inner()).await.unwrap();
        let mut io = BufReader::new(tls);
        let replies: [&[u8]; 7] = [
            b"250-mx.example.test\r\n250 AUTH PLAIN LOGIN\r\n",
            b"235 2.7.0 Authentication succeeded\r\n",
            b"250 OK\r\n",
            b"250 Accepted\r\n",
            b"354 Enter message\r\n",
            b"250 OK id=1tAbCd-000Ab1-Qz\r\n",
            b"221 bye\r\n",
        ];
        for reply in replies {
            loop {
                line.clear();
                if io.read_line(&mut line).await.unwrap() == 0 {
                    return seen;
                }
                let l = line.trim_end().to_string();
                let in_body = seen.last().is_some_and(|s| s == "DATA") && l != ".";
                if !in_body || l == "." {
                    seen.push(l);
                    break;
                }
            }
            io.get_mut().write_all(reply).await.unwrap();
        }
        seen
    }

    fn trusting(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(rustls::pki_types::CertificateDer::from(cert.cert.der().to_vec())).unwrap();
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    fn envelope() -> (String, Vec<String>) {
        ("alice@probe.test".into(), vec!["probe-test@lists.example.test".into()])
    }

    #[tokio::test]
    async fn starttls_then_auth_then_the_message_and_no_password_in_the_transcript() {
        let cert = rcgen::generate_simple_self_signed(vec!["mx.example.test".into()]).unwrap();
        let security = Security {
            starttls: StartTls::Required,
            tls: Some(trusting(&cert)),
            server_name: "mx.example.test".into(),
            auth: Some(Credentials { user: "prober".into(), password: "hunter2".into() }),
        };
        let (client_end, server_end) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(server(server_end, cert, true));
        let (from, to) = envelope();
        let env = crate::smtp::Envelope { helo: "mailflow.probe.test", mail_from: &from, rcpt_to: &to };
        let t = crate::smtp::client::send_on_secured(client_end, &env, b"Subject: s\r\n\r\nbody\r\n", Default::default(), &security)
            .await
            .unwrap();
        assert!(t.accepted(), "{t:?}");
        let seen = server.await.unwrap();
        assert_eq!(seen[..3], ["EHLO mailflow.probe.test", "STARTTLS", "EHLO mailflow.probe.test"]);
        assert!(seen[3].starts_with("AUTH PLAIN "), "{seen:?}");
        let transcript = format!("{t:?}");
        assert!(transcript.contains("AUTH PLAIN ***") && !transcript.contains("hunter2"), "{transcript}");
        assert!(!transcript.contains(&plain_token(security.auth.as_ref().unwrap())), "{transcript}");
    }

    #[tokio::test]
    async fn required_starttls_not_offered_is_an_error_and_nothing_is_sent() {
        let cert = rcgen::generate_simple_self_signed(vec!["mx.example.test".into()]).unwrap();
        let security =
            Security { starttls: StartTls::Required, tls: Some(trusting(&cert)), server_name: "mx.example.test".into(), auth: None };
        let (client_end, server_end) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(server(server_end, cert, false));
        let (from, to) = envelope();
        let env = crate::smtp::Envelope { helo: "mailflow.probe.test", mail_from: &from, rcpt_to: &to };
        let e = crate::smtp::client::send_on_secured(client_end, &env, b"x\r\n", Default::default(), &security).await.unwrap_err();
        assert!(matches!(e.kind, crate::smtp::client::SendErrorKind::StartTlsNotOffered), "{e}");
        let seen = server.await.unwrap();
        assert!(!seen.iter().any(|l| l.starts_with("MAIL")), "{seen:?}");
    }

    #[tokio::test]
    async fn a_certificate_for_another_name_fails_the_handshake() {
        let cert = rcgen::generate_simple_self_signed(vec!["mx.example.test".into()]).unwrap();
        let security =
            Security { starttls: StartTls::Required, tls: Some(trusting(&cert)), server_name: "other.example.test".into(), auth: None };
        let (client_end, server_end) = tokio::io::duplex(64 * 1024);
        let _server = tokio::spawn(server(server_end, cert, true));
        let (from, to) = envelope();
        let env = crate::smtp::Envelope { helo: "mailflow.probe.test", mail_from: &from, rcpt_to: &to };
        let e = crate::smtp::client::send_on_secured(client_end, &env, b"x\r\n", Default::default(), &security).await.unwrap_err();
        assert!(matches!(&e.kind, crate::smtp::client::SendErrorKind::Tls(m) if m.contains("certificate")), "{e}");
    }
}
