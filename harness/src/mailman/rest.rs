//! Mailman 3's REST API (v3.1), over any transport that can make the call.
//!
//! The API listens on the server's loopback only. The container target calls
//! it from inside the container; a hosts target will call it over HTTP
//! (an SSH tunnel, typically). Both implement [`RestTransport`].

use crate::target::{BoxFuture, TargetError};

/// A response: status and body text.
#[derive(Debug, Clone)]
pub struct RestResponse {
    pub status: u16,
    pub body: String,
}

/// Makes one REST call with form-encoded parameters. Implementations add the
/// credentials themselves and never put them in errors.
pub trait RestTransport: Send + Sync {
    fn call<'a>(
        &'a self,
        method: &'a str,
        path: &'a str,
        form: &'a [(&'a str, String)],
    ) -> BoxFuture<'a, Result<RestResponse, TargetError>>;
}

/// Typed operations on top of a transport.
pub struct MailmanRest<'a, T: RestTransport + ?Sized> {
    transport: &'a T,
}

impl<'a, T: RestTransport + ?Sized> MailmanRest<'a, T> {
    pub fn new(transport: &'a T) -> Self {
        MailmanRest { transport }
    }

    async fn expect(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, String)],
        ok: &[u16],
        already: &[(u16, &str)],
    ) -> Result<RestResponse, TargetError> {
        let r = self.transport.call(method, path, form).await?;
        let is_already = already.iter().any(|(code, text)| r.status == *code && r.body.contains(text));
        if ok.contains(&r.status) || is_already {
            Ok(r)
        } else {
            Err(TargetError::Rest {
                method: method.into(),
                path: path.into(),
                message: format!("HTTP {}: {}", r.status, r.body.trim()),
            })
        }
    }

    /// `GET /3.1/system/versions`: the API answers.
    pub async fn versions(&self) -> Result<String, TargetError> {
        Ok(self.expect("GET", "/3.1/system/versions", &[], &[200], &[]).await?.body)
    }

    /// Creates a domain; an existing one is fine.
    pub async fn ensure_domain(&self, mail_host: &str) -> Result<(), TargetError> {
        let form = [("mail_host", mail_host.to_string())];
        self.expect("POST", "/3.1/domains", &form, &[201], &[(400, "Duplicate")]).await.map(|_| ())
    }

    /// Creates a list; an existing one is fine.
    pub async fn ensure_list(&self, fqdn_listname: &str) -> Result<(), TargetError> {
        let form = [("fqdn_listname", fqdn_listname.to_string())];
        self.expect("POST", "/3.1/lists", &form, &[201], &[(400, "exists")]).await.map(|_| ())
    }

    /// Subscribes an address without confirmation or welcome message.
    pub async fn ensure_member(&self, list_id: &str, subscriber: &str) -> Result<(), TargetError> {
        let form = [
            ("list_id", list_id.to_string()),
            ("subscriber", subscriber.to_string()),
            ("pre_verified", "true".into()),
            ("pre_confirmed", "true".into()),
            ("pre_approved", "true".into()),
            ("send_welcome_message", "false".into()),
        ];
        self.expect("POST", "/3.1/members", &form, &[201], &[(409, "already")]).await.map(|_| ())
    }

    /// Sets list configuration values.
    pub async fn patch_config(&self, list_id: &str, values: &[(&str, String)]) -> Result<(), TargetError> {
        let path = format!("/3.1/lists/{list_id}/config");
        self.expect("PATCH", &path, values, &[204], &[]).await.map(|_| ())
    }

    /// Deletes a list (used to break a target on purpose in tests).
    pub async fn delete_list(&self, list_id: &str) -> Result<(), TargetError> {
        let path = format!("/3.1/lists/{list_id}");
        self.expect("DELETE", &path, &[], &[204], &[]).await.map(|_| ())
    }
}
