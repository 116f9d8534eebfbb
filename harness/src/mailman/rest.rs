//! Mailman 3's REST API (v3.1), over any transport that can make the call.
//!
//! The API listens on the server's loopback only. The container target calls
//! it from inside the container; a hosts target will call it over HTTP
//! (an SSH tunnel, typically). Both implement [`RestTransport`].

use super::held::{Decision, HeldMessage, OwnHeld};
use crate::scenario::{ListDecl, ModerationAction};
use crate::BoxFuture;

/// A REST call that failed: the transport, the status, or the answer.
/// Never carries credentials.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Mailman REST {method} {path}: {message}")]
pub struct RestError {
    pub method: String,
    pub path: String,
    pub message: String,
}

impl RestError {
    /// Mailman answered 5xx: worth asking again within a step's window.
    /// Seen on the container: `GET .../held` answered 500 while parallel
    /// scenarios moderated other lists (Mailman's REST over SQLite).
    pub fn is_server_error(&self) -> bool {
        self.message.starts_with("HTTP 5")
    }
}

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
    ) -> BoxFuture<'a, Result<RestResponse, RestError>>;
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
    ) -> Result<RestResponse, RestError> {
        let r = self.transport.call(method, path, form).await?;
        let is_already = already.iter().any(|(code, text)| r.status == *code && r.body.contains(text));
        if ok.contains(&r.status) || is_already {
            Ok(r)
        } else {
            Err(RestError {
                method: method.into(),
                path: path.into(),
                message: format!("HTTP {}: {}", r.status, r.body.trim()),
            })
        }
    }

    /// `GET /3.1/system/versions`: the API answers.
    pub async fn versions(&self) -> Result<String, RestError> {
        Ok(self.expect("GET", "/3.1/system/versions", &[], &[200], &[]).await?.body)
    }

    /// Creates a domain; an existing one is fine.
    pub async fn ensure_domain(&self, mail_host: &str) -> Result<(), RestError> {
        let form = [("mail_host", mail_host.to_string())];
        self.expect("POST", "/3.1/domains", &form, &[201], &[(400, "Duplicate")]).await.map(|_| ())
    }

    /// Creates a list; an existing one is fine.
    pub async fn ensure_list(&self, fqdn_listname: &str) -> Result<(), RestError> {
        let form = [("fqdn_listname", fqdn_listname.to_string())];
        self.expect("POST", "/3.1/lists", &form, &[201], &[(400, "exists")]).await.map(|_| ())
    }

    /// Subscribes an address without confirmation or welcome message.
    pub async fn ensure_member(&self, list_id: &str, subscriber: &str) -> Result<(), RestError> {
        self.ensure_role(list_id, subscriber, "member").await
    }

    /// Gives an address a role on the list (`member`, `owner`,
    /// `moderator`), without confirmation or welcome message.
    pub async fn ensure_role(&self, list_id: &str, subscriber: &str, role: &str) -> Result<(), RestError> {
        let form = [
            ("list_id", list_id.to_string()),
            ("subscriber", subscriber.to_string()),
            ("role", role.to_string()),
            ("pre_verified", "true".into()),
            ("pre_confirmed", "true".into()),
            ("pre_approved", "true".into()),
            ("send_welcome_message", "false".into()),
        ];
        self.expect("POST", "/3.1/members", &form, &[201], &[(409, "already")]).await.map(|_| ())
    }

    /// Sets list configuration values.
    pub async fn patch_config(&self, list_id: &str, values: &[(&str, String)]) -> Result<(), RestError> {
        let path = format!("/3.1/lists/{list_id}/config");
        self.expect("PATCH", &path, values, &[204], &[]).await.map(|_| ())
    }

    /// Applies a declared list's member moderation and delivery modes (its settings:
    /// [`super::settings::apply`]).
    pub async fn apply_member_moderation(&self, list: &ListDecl) -> Result<(), RestError> {
        for address in &list.moderated {
            self.set_member_moderation(&list.list_id(), address, "hold").await?;
        }
        for (address, mode) in &list.delivery {
            self.set_member_delivery(&list.list_id(), address, *mode).await?;
        }
        Ok(())
    }

    /// Sets a member's delivery: `PATCH /3.1/members/<id>/preferences` with
    /// `delivery_mode`, or `delivery_status = by_user` for no mail.
    pub async fn set_member_delivery(&self, list_id: &str, address: &str, mode: crate::scenario::DeliveryMode) -> Result<(), RestError> {
        let id = self.member_id(list_id, address).await?;
        let form = match mode {
            crate::scenario::DeliveryMode::Disabled => [("delivery_status", "by_user".to_string())],
            other => [("delivery_mode", other.as_str().to_string())],
        };
        self.expect("PATCH", &format!("/3.1/members/{id}/preferences"), &form, &[204], &[]).await.map(|_| ())
    }

    /// Sets a member's `moderation_action` (`hold`, `accept`, ...).
    pub async fn set_member_moderation(&self, list_id: &str, address: &str, action: &str) -> Result<(), RestError> {
        let id = self.member_id(list_id, address).await?;
        let member_path = format!("/3.1/members/{id}");
        let form = [("moderation_action", action.to_string())];
        self.expect("PATCH", &member_path, &form, &[204], &[]).await.map(|_| ())
    }

    /// The member id of `address` on the list.
    async fn member_id(&self, list_id: &str, address: &str) -> Result<String, RestError> {
        let path = format!("/3.1/lists/{list_id}/member/{address}");
        let r = self.expect("GET", &path, &[], &[200], &[]).await?;
        let member: serde_json::Value = serde_json::from_str(&r.body).map_err(|e| RestError {
            method: "GET".into(),
            path: path.clone(),
            message: format!("unexpected JSON: {e}"),
        })?;
        match member.get("member_id") {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            _ => Err(RestError { method: "GET".into(), path, message: "the member has no member_id".into() }),
        }
    }

    /// `GET /3.1/lists/<list_id>/held/count`: how many messages the list holds.
    pub async fn held_count(&self, list_id: &str) -> Result<u64, RestError> {
        let path = format!("/3.1/lists/{list_id}/held/count");
        let r = self.expect("GET", &path, &[], &[200], &[]).await?;
        parse_count(&r.body).map_err(|e| RestError { method: "GET".into(), path, message: format!("unexpected JSON: {e}") })
    }

    /// The newest held messages of the list: the last [`HELD_PAGES`] pages of
    /// [`HELD_PAGE_SIZE`]. A probe was held moments ago, so it is among the
    /// newest, while a production queue may hold hundreds of thousands of
    /// old requests that the harness has no business reading. Paging after
    /// `held/count` keeps each call small whatever the queue's size.
    pub async fn held(&self, list_id: &str) -> Result<Vec<HeldMessage>, RestError> {
        let total = self.held_count(list_id).await?;
        let mut out = Vec::new();
        for page in newest_pages(total) {
            let path = format!("/3.1/lists/{list_id}/held?count={HELD_PAGE_SIZE}&page={page}");
            let r = self.expect("GET", &path, &[], &[200], &[]).await?;
            let entries = parse_held(&r.body)
                .map_err(|e| RestError { method: "GET".into(), path, message: format!("unexpected JSON: {e}") })?;
            out.extend(entries);
        }
        Ok(out)
    }

    /// Acts on one held message: only one that passed [`super::select_own`].
    /// Right before acting it reads the request again and refuses when its
    /// Message-ID is no longer the probe's (request ids are reused once a
    /// request is gone, e.g. after a person moderated the probe meanwhile).
    pub async fn moderate(&self, held: &OwnHeld, decision: &Decision) -> Result<(), RestError> {
        let path = format!("/3.1/lists/{}/held/{}", held.list_id(), held.request_id());
        let current = self.transport.call("GET", &path, &[]).await?;
        let current_id = serde_json::from_str::<HeldMessage>(&current.body).ok().map(|h| h.message_id);
        if current.status != 200 || current_id.as_deref() != Some(held.message_id()) {
            return Err(RestError {
                method: "GET".into(),
                path,
                message: format!(
                    "request {} is no longer the probe {} (HTTP {}); not acting on it",
                    held.request_id(),
                    held.message_id(),
                    current.status
                ),
            });
        }
        let mut form = vec![("action", decision.action.as_str().to_string())];
        if let (ModerationAction::Reject, Some(comment)) = (decision.action, &decision.comment) {
            form.push(("comment", comment.clone()));
        }
        self.expect("POST", &path, &form, &[204], &[]).await.map(|_| ())
    }

    /// `GET /3.1/lists/<id>/archivers` and the list's `archive_policy`:
    /// which archivers are on for the list, and whether it archives at all.
    pub async fn archiving(&self, list_id: &str) -> Result<(Vec<(String, bool)>, Option<String>), RestError> {
        let json = |path: String, body: &str| {
            serde_json::from_str::<serde_json::Value>(body)
                .map_err(|e| RestError { method: "GET".into(), path, message: format!("unexpected JSON: {e}") })
        };
        let path = format!("/3.1/lists/{list_id}/archivers");
        let r = self.expect("GET", &path, &[], &[200], &[]).await?;
        let archivers = json(path, &r.body)?
            .as_object()
            .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_bool()?))).collect())
            .unwrap_or_default();
        let path = format!("/3.1/lists/{list_id}/config/archive_policy");
        let r = self.expect("GET", &path, &[], &[200], &[]).await?;
        let policy = json(path, &r.body)?.get("archive_policy").and_then(|p| p.as_str()).map(str::to_string);
        Ok((archivers, policy))
    }

    /// Deletes a list (used to break a target on purpose in tests).
    pub async fn delete_list(&self, list_id: &str) -> Result<(), RestError> {
        let path = format!("/3.1/lists/{list_id}");
        self.expect("DELETE", &path, &[], &[204], &[]).await.map(|_| ())
    }
}

/// The entries of a held-queue response; Mailman leaves out `entries` when
/// the queue is empty.
/// Held messages per REST page.
pub const HELD_PAGE_SIZE: u64 = 100;
/// How many of the newest pages are read.
pub const HELD_PAGES: u64 = 2;

/// The 1-based numbers of the newest pages of a queue of `total` entries.
fn newest_pages(total: u64) -> std::ops::RangeInclusive<u64> {
    let last = total.div_ceil(HELD_PAGE_SIZE);
    if last == 0 {
        // An empty range: nothing to read.
        #[allow(clippy::reversed_empty_ranges)]
        return 1..=0;
    }
    last.saturating_sub(HELD_PAGES - 1).max(1)..=last
}

/// `{"count": N, ...}`.
fn parse_count(body: &str) -> Result<u64, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Count {
        count: u64,
    }
    Ok(serde_json::from_str::<Count>(body)?.count)
}

pub(super) fn parse_held(body: &str) -> Result<Vec<HeldMessage>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Page {
        #[serde(default)]
        entries: Vec<HeldMessage>,
    }
    Ok(serde_json::from_str::<Page>(body)?.entries)
}

#[cfg(test)]
mod tests {
    //! Hand-made REST bodies, in the shape Mailman 3.3 answers with.
    use super::*;

    #[test]
    fn only_5xx_answers_are_worth_another_try() {
        let e = |message: &str| RestError { method: "GET".into(), path: "/3.1/lists/l.d/held".into(), message: message.into() };
        assert!(e("HTTP 500: {\"title\": \"500 Internal Server Error\"}").is_server_error());
        assert!(!e("HTTP 404: not found").is_server_error());
        assert!(!e("curl exit 7: connection refused").is_server_error());
    }

    #[test]
    fn count_and_newest_pages() {
        assert_eq!(parse_count(r#"{"count": 7, "http_etag": "\"f7\""}"#).unwrap(), 7);
        assert!(parse_count(r#"{"total_size": 7}"#).is_err());
        let pages = |total| newest_pages(total).collect::<Vec<u64>>();
        assert_eq!(pages(0), Vec::<u64>::new());
        assert_eq!(pages(1), vec![1]);
        assert_eq!(pages(100), vec![1]);
        assert_eq!(pages(101), vec![1, 2]);
        // Half a million held messages: only the two newest pages are read.
        assert_eq!(pages(500_000), vec![4999, 5000]);
        assert_eq!(pages(500_001), vec![5000, 5001]);
    }
}
