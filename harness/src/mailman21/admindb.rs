//! admindb, Mailman 2.1's held queue over HTTP: `/mailman/admindb/<list>`.
//!
//! Facts (recorded from Mailman 2.1.39, `fixtures/mailman21/web/04`..`17`):
//! - login posts `adminpw` and `admlogin`; a wrong password answers 401
//!   with the login form again; success sets `<list>+admin` (or
//!   `+moderator`) with path `/mailman/`;
//! - the summary lists each held post by sender with Subject, Size (of the
//!   held file, not the message), Reason and Received, and a link
//!   `?msgid=N`; `?details=all` and `?msgid=N` show each request's headers
//!   (Message-ID included) in a `headers-N` textarea;
//! - every form carries a hidden `csrf_token`; a request's radio is named by
//!   its id, values 0 defer, 1 approve, 2 reject, 3 discard; `comment-N` is
//!   the rejection text. A POST without the token answers 200 with "The form
//!   lifetime has expired" and does nothing; "Database Updated..." also heads
//!   plain views, so only reading the queue again tells what happened;
//! - the page also offers `senderaction-*` (act on every post of a sender)
//!   and `discardalldefersp` (discard everything deferred): the harness
//!   never sends those;
//! - an empty queue says "There are no pending requests."
//!
//! Hold reasons seen: "Post by non-member to a members-only list",
//! "Message body is too big: 6411 bytes with a limit of 1 KB" (Mailman
//! breaks the latter across lines; white space is folded here).

use scraper::Html;

use super::html::{ancestor, labelled_rows, sel, squash, text};
use super::{Mm21Error, Session, Site};
use crate::mailman::{Decision, HeldMessage, OwnHeld};
use crate::scenario::ModerationAction;

/// One held post as admindb shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldRequest {
    /// The request id (`?msgid=N`, the radio's name).
    pub id: u64,
    /// The sender's address as admindb shows it.
    pub sender: String,
    pub subject: String,
    /// The hold reason, white space folded.
    pub reason: String,
    /// When Mailman held it, as the page prints it (`Sun Nov 29 09:49:36 2026`,
    /// the server's local time).
    pub received: String,
    /// With angle brackets, from the request's headers; `None` on the
    /// summary page, which does not show headers.
    pub message_id: Option<String>,
}

impl From<HeldRequest> for HeldMessage {
    /// A request without a Message-ID gets an empty one, which
    /// [`crate::mailman::select_own`] never selects.
    fn from(r: HeldRequest) -> HeldMessage {
        HeldMessage {
            request_id: r.id,
            message_id: r.message_id.unwrap_or_default(),
            subject: r.subject,
            sender: r.sender,
            reason: r.reason,
            hold_date: (!r.received.is_empty()).then_some(r.received),
        }
    }
}

/// What an admindb page is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminDbPage {
    /// The login form (not logged in, or the password was refused).
    Login,
    /// "There are no pending requests."
    Empty,
    /// Held posts (summary, `?details=all`, `?msgid=N` or `?sender=...`).
    Requests {
        requests: Vec<HeldRequest>,
        /// The form's `csrf_token`, needed by any POST.
        csrf_token: Option<String>,
        /// An error Mailman printed above the page, e.g. "The form lifetime
        /// has expired. (request forgery check)".
        error: Option<String>,
    },
}

impl AdminDbPage {
    /// The held requests on the page; none for a login form or an empty queue.
    pub fn requests(&self) -> &[HeldRequest] {
        match self {
            AdminDbPage::Requests { requests, .. } => requests,
            _ => &[],
        }
    }
}

/// Reads an admindb page. An error names what was missing.
pub fn parse_page(html: &str) -> Result<AdminDbPage, String> {
    let doc = Html::parse_document(html);
    if doc.select(&sel(r#"input[name="adminpw"]"#)).next().is_some() {
        return Ok(AdminDbPage::Login);
    }
    let whole = squash(&doc.root_element().text().collect::<String>());
    if whole.contains("There are no pending requests") {
        return Ok(AdminDbPage::Empty);
    }
    let csrf_token = doc
        .select(&sel(r#"input[name="csrf_token"]"#))
        .next()
        .and_then(|e| e.value().attr("value"))
        .map(str::to_string);
    let error = doc.select(&sel("h3 em")).next().map(text).filter(|t| !t.is_empty());
    let mut requests = detailed(&doc);
    if requests.is_empty() {
        requests = summarised(&doc);
    }
    if requests.is_empty() && csrf_token.is_none() {
        return Err("neither held requests, nor \"There are no pending requests\", nor a login form".into());
    }
    Ok(AdminDbPage::Requests { requests, csrf_token, error })
}

/// Requests shown with their headers: one table per request around a
/// `headers-N` textarea.
fn detailed(doc: &Html) -> Vec<HeldRequest> {
    let mut found = Vec::new();
    for area in doc.select(&sel(r#"textarea[name^="headers-"]"#)) {
        let Some(id) = area.value().attr("name").and_then(|n| n.strip_prefix("headers-")).and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Some(table) = ancestor(area, "table") else { continue };
        let mut request = HeldRequest { id, ..HeldRequest::default() };
        fill(&mut request, &labelled_rows(table));
        // The textarea's own text keeps its line breaks (headers, folding).
        let headers: String = area.text().collect();
        request.message_id = message_id_of(&headers);
        found.push(request);
    }
    found
}

/// Requests on the summary: a table per request around its `?msgid=N`
/// link; the sender is the name of the hidden field beside it.
fn summarised(doc: &Html) -> Vec<HeldRequest> {
    let hidden = sel(r#"input[type="hidden"]"#);
    let mut found = Vec::new();
    for link in doc.select(&sel(r#"a[href*="msgid="]"#)) {
        let href = link.value().attr("href").unwrap_or_default();
        let Some(id) = href.rsplit_once("msgid=").and_then(|(_, n)| n.parse().ok()) else { continue };
        let Some(table) = ancestor(link, "table") else { continue };
        let mut request = HeldRequest { id, ..HeldRequest::default() };
        fill(&mut request, &labelled_rows(table));
        if let Some(field) = table.select(&hidden).find(|h| h.value().attr("value") == Some(&id.to_string())) {
            let name = field.value().attr("name").unwrap_or_default();
            request.sender = percent_decode(name);
        }
        found.push(request);
    }
    found
}

fn fill(request: &mut HeldRequest, rows: &[(String, String)]) {
    for (label, value) in rows {
        match label.as_str() {
            "From" => request.sender = value.clone(),
            "Subject" => request.subject = value.clone(),
            "Reason" => request.reason = value.clone(),
            "Received" => request.received = value.clone(),
            _ => {}
        }
    }
}

/// The Message-ID header of a header block, angle brackets kept, trimmed.
pub fn message_id_of(headers: &str) -> Option<String> {
    let text = format!("{}\n\n", headers.trim_end());
    let (parsed, _) = mailparse::parse_headers(text.as_bytes()).ok()?;
    parsed
        .iter()
        .find(|h| h.get_key_ref().eq_ignore_ascii_case("message-id"))
        .map(|h| squash(&String::from_utf8_lossy(h.get_value_raw())))
        .filter(|id| !id.is_empty())
}

fn percent_decode(s: &str) -> String {
    reqwest::Url::parse(&format!("http://x/?{s}"))
        .ok()
        .and_then(|u| u.query_pairs().next().map(|(k, _)| k.into_owned()))
        .unwrap_or_else(|| s.to_string())
}

/// admindb's value for an action on one request.
pub fn action_code(action: ModerationAction) -> &'static str {
    match action {
        ModerationAction::Defer => "0",
        ModerationAction::Accept => "1",
        ModerationAction::Reject => "2",
        ModerationAction::Discard => "3",
    }
}

/// The form that applies `decision` to the one request `held` names, and
/// nothing else: the token, `<id>=<code>`, and for a reject with a comment
/// `comment-<id>`. Never a `senderaction-*` or `discardalldefersp` field.
pub fn action_form(csrf_token: &str, held: &OwnHeld, decision: &Decision) -> Vec<(String, String)> {
    let id = held.request_id();
    let mut form = vec![("csrf_token".to_string(), csrf_token.to_string()), (id.to_string(), action_code(decision.action).to_string())];
    if let (ModerationAction::Reject, Some(comment)) = (decision.action, &decision.comment) {
        form.push((format!("comment-{id}"), comment.clone()));
    }
    form
}

/// Judges the queue read again after acting: the request must be gone
/// after accept, reject or discard, and still there after defer.
pub fn confirm(action: ModerationAction, request: u64, after: &AdminDbPage) -> Result<(), String> {
    let present = after.requests().iter().any(|r| r.id == request);
    match (action, present) {
        (ModerationAction::Defer, true) | (ModerationAction::Accept | ModerationAction::Reject | ModerationAction::Discard, false) => {
            if *after == AdminDbPage::Login {
                return Err("the queue read again showed the login form".into());
            }
            Ok(())
        }
        (ModerationAction::Defer, false) => Err(format!("request {request} left the queue although it was only deferred")),
        (_, true) => {
            let why = match after {
                AdminDbPage::Requests { error: Some(e), .. } => format!(" (Mailman said: {e})"),
                _ => String::new(),
            };
            Err(format!("the queue read again still holds request {request}{why}"))
        }
    }
}

impl Site {
    /// Logs in to a list's admindb with its admin (or moderator) password,
    /// else the site password.
    async fn admindb_login(&self, list: &str) -> Result<Session, Mm21Error> {
        let password = self.admin_password(list)?;
        let session = self.session()?;
        let path = self.cgi_path("admindb", list);
        let form = vec![("adminpw".to_string(), password.expose().to_string()), ("admlogin".to_string(), "Let me in...".to_string())];
        let page = session.post(self, &path, &form).await?;
        let refused = |status| Mm21Error::BadPassword { url: page.url.clone(), what: "admindb", status };
        match page.status {
            200 => match parse_page(&page.text()) {
                Ok(AdminDbPage::Login) => Err(refused(200)),
                _ => Ok(session),
            },
            401 => Err(refused(401)),
            _ => Err(page.unexpected("POST")),
        }
    }

    async fn admindb_read(&self, session: &Session, list: &str, query: &str) -> Result<AdminDbPage, Mm21Error> {
        let path = format!("{}{query}", self.cgi_path("admindb", list));
        let page = session.get(self, &path).await?;
        if page.status != 200 {
            return Err(page.unexpected("GET"));
        }
        match parse_page(&page.text()) {
            Ok(AdminDbPage::Login) => Err(Mm21Error::BadPassword { url: page.url, what: "admindb", status: 200 }),
            Ok(read) => Ok(read),
            Err(what) => Err(Mm21Error::Page { url: page.url, what }),
        }
    }

    /// Logs out (`/mailman/admindb/<list>/logout`); a failure here changes nothing.
    async fn admindb_logout(&self, session: &Session, list: &str) {
        let _ = session.get(self, &format!("{}/logout", self.cgi_path("admindb", list))).await;
    }

    /// The held posts of a list (a list id, a posting address or a name),
    /// each with its Message-ID, from `?details=all`. Logs in and out.
    pub async fn held(&self, list: &str) -> Result<Vec<HeldRequest>, Mm21Error> {
        let list = self.list_name(list);
        let session = self.admindb_login(&list).await?;
        let read = self.admindb_read(&session, &list, "?details=all").await;
        self.admindb_logout(&session, &list).await;
        Ok(read?.requests().to_vec())
    }

    /// Applies `decision` to the one request `held` names: reads the
    /// request again and checks it still holds the same Message-ID, posts
    /// the form with the page's `csrf_token`, then reads the queue again
    /// and succeeds only if the request is gone (accept, reject, discard)
    /// or still there (defer). Logs in and out.
    pub async fn moderate(&self, held: &OwnHeld, decision: &Decision) -> Result<(), Mm21Error> {
        let list = self.list_name(held.list_id());
        let session = self.admindb_login(&list).await?;
        let done = self.moderate_in(&session, &list, held, decision).await;
        self.admindb_logout(&session, &list).await;
        done
    }

    async fn moderate_in(&self, session: &Session, list: &str, held: &OwnHeld, decision: &Decision) -> Result<(), Mm21Error> {
        let not_done = |observed: String| Mm21Error::NotDone {
            action: decision.action.to_string(),
            request: held.request_id(),
            list: list.to_string(),
            observed,
        };
        let before = self.admindb_read(session, list, "?details=all").await?;
        let Some(current) = before.requests().iter().find(|r| r.id == held.request_id()) else {
            return Err(not_done("the request was no longer held when the harness came to act on it".into()));
        };
        // Request ids are not reused by Mailman 2.1, but a mismatch must stop
        // the harness anyway: it acts only on its own probe.
        if current.message_id.as_deref() != Some(held.message_id()) {
            return Err(not_done(format!(
                "request {} now holds {}, not the probe {}: left alone",
                held.request_id(),
                current.message_id.as_deref().unwrap_or("a message without Message-ID"),
                held.message_id()
            )));
        }
        let AdminDbPage::Requests { csrf_token: Some(token), .. } = &before else {
            return Err(Mm21Error::Page {
                url: self.url(&self.cgi_path("admindb", list)),
                what: "the held-messages form carries no csrf_token".into(),
            });
        };
        let form = action_form(token, held, decision);
        let posted = session.post(self, &self.cgi_path("admindb", list), &form).await?;
        if posted.status != 200 {
            return Err(posted.unexpected("POST"));
        }
        let after = self.admindb_read(session, list, "").await?;
        confirm(decision.action, held.request_id(), &after).map_err(not_done)
    }
}
