//! Mailman 3's REST API called over HTTP, for a hosts target whose operator
//! exposes it (directly, or through an SSH tunnel to the host's loopback).
//! Basic auth as user `restadmin` (or the configured user); the password is
//! held here and never appears in an error or a log line.

use std::time::Duration;

use super::rest::{RestError, RestResponse, RestTransport};
use crate::BoxFuture;

/// A REST transport over HTTP(S) to a base URL such as
/// `http://127.0.0.1:8001` (the API's own paths start with `/3.1/`).
pub struct HttpRest {
    base: String,
    user: String,
    password: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for HttpRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRest").field("base", &self.base).field("user", &self.user).field("password", &"***").finish()
    }
}

/// Each call gives up after this long.
const TIMEOUT: Duration = Duration::from_secs(20);

impl HttpRest {
    /// `client` carries the TLS settings (roots or verification off) the
    /// target file asks for; see [`crate::http::api_client`].
    pub fn new(base: &str, user: &str, password: &str, client: reqwest::Client) -> HttpRest {
        HttpRest { base: base.trim_end_matches('/').to_string(), user: user.to_string(), password: password.to_string(), client }
    }

    /// The base URL calls go to.
    pub fn base(&self) -> &str {
        &self.base
    }
}

impl RestTransport for HttpRest {
    fn call<'a>(&'a self, method: &'a str, path: &'a str, form: &'a [(&'a str, String)]) -> BoxFuture<'a, Result<RestResponse, RestError>> {
        Box::pin(async move {
            let failed = |message: String| RestError { method: method.into(), path: path.into(), message };
            let method_value = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| failed(e.to_string()))?;
            let mut request = self
                .client
                .request(method_value, format!("{}{path}", self.base))
                .basic_auth(&self.user, Some(&self.password))
                .timeout(TIMEOUT);
            if !form.is_empty() {
                request = request.form(form);
            }
            // reqwest's errors name the URL, never the credentials.
            let response = request.send().await.map_err(|e| failed(e.to_string()))?;
            let status = response.status().as_u16();
            let body = response.text().await.map_err(|e| failed(e.to_string()))?;
            Ok(RestResponse { status, body })
        })
    }
}

#[cfg(test)]
mod tests {
    //! Against a one-shot HTTP server on loopback that records the request.
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn form_and_basic_auth_reach_the_server_and_errors_hold_no_password() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            // Headers and the short form body arrive together or soon after.
            while !String::from_utf8_lossy(&got).contains("action=") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await.unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        let rest = HttpRest::new(&format!("http://{addr}/"), "restadmin", "s3cret", crate::http::api_client(&crate::http::TlsTrust::Off, Duration::from_secs(5)).unwrap());
        let form = [("action", "discard".to_string())];
        let r = rest.call("POST", "/3.1/lists/l.d/held/7", &form).await.unwrap();
        assert_eq!(r.status, 204);
        let request = server.await.unwrap();
        assert!(request.starts_with("POST /3.1/lists/l.d/held/7 HTTP/1.1"), "{request}");
        // base64("restadmin:s3cret")
        assert!(request.contains("cmVzdGFkbWluOnMzY3JldA=="), "{request}");
        assert!(request.ends_with("action=discard"), "{request}");
        assert!(!format!("{rest:?}").contains("s3cret"));

        // A server that is not there: the error names the call, not the password.
        let gone = HttpRest::new("http://127.0.0.1:9", "restadmin", "s3cret", crate::http::api_client(&crate::http::TlsTrust::Off, Duration::from_secs(5)).unwrap());
        let e = gone.call("GET", "/3.1/system/versions", &[]).await.unwrap_err();
        assert!(e.to_string().contains("GET /3.1/system/versions"), "{e}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
