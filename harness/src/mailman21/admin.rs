//! The list admin pages (`/mailman/admin/<list>/<category>`), read for an
//! inventory where there is no shell: the members page and the settings
//! forms.
//!
//! Facts (recorded from Mailman 2.1.39, `web/32`..`36`): the login form
//! posts `adminpw` and `admlogin` to `/mailman/admin/<list>`; a wrong
//! password answers 401 with the form again; a good one sets the
//! `<list>+admin` cookie and answers with the General Options page. Each
//! setting is a form widget named as `config_list` names it: text inputs
//! (`subject_prefix`, `max_message_size`), radio groups whose checked
//! button holds the value (`emergency`, `generic_nonmember_action`), and
//! textareas with one address a line (`owner`, `moderator`). The members
//! page (`/members`) says "N members total" and gives each member listed
//! a hidden `user` input with the URL-quoted address. Past
//! `admin_member_chunksize` (30 by default) members it lists one letter's
//! chunk at a time, linking the others as `members?letter=X` and
//! `members?letter=X&chunk=N` (Mailman's `admin.py`; no recording has a
//! list that long, see `tests.rs`).

use std::collections::BTreeMap;

use scraper::Html;

use super::html::{sel, squash, text};

/// What one settings page gives: the widget's name and its value as
/// `config_list -o -` would write it (a Python literal: numbers bare,
/// text quoted, textareas as a list of strings), so one reader serves both.
pub fn form_values(html: &str) -> BTreeMap<String, String> {
    let doc = Html::parse_document(html);
    let mut out = BTreeMap::new();
    for input in doc.select(&sel("input[name]")) {
        let e = input.value();
        let name = e.attr("name").unwrap_or_default();
        let value = e.attr("value").unwrap_or_default();
        match e.attr("type").map(str::to_ascii_lowercase).as_deref() {
            Some("text") => {
                let literal = if value.parse::<i64>().is_ok() { value.to_string() } else { py_quote(value) };
                out.insert(name.to_string(), literal);
            }
            Some("radio") if e.attr("checked").is_some() => {
                out.insert(name.to_string(), value.to_string());
            }
            _ => {}
        }
    }
    for area in doc.select(&sel("textarea[name]")) {
        let name = area.value().attr("name").unwrap_or_default();
        let body: String = area.text().collect();
        let lines: Vec<String> = body.lines().map(str::trim).filter(|l| !l.is_empty()).map(py_quote).collect();
        out.insert(name.to_string(), format!("[{}]", lines.join(", ")));
    }
    out
}

/// A Python string literal of `s` (single quotes, `\\` and `\'` escaped).
fn py_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// One members page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembersPage {
    /// "N members total": every member of the list, on any page.
    pub total: Option<u64>,
    /// The members this page lists, lower case.
    pub addresses: Vec<String>,
    /// The other pages it links (`members?letter=...`, with `&chunk=N`),
    /// as written (relative to `/mailman/admin/<list>/`).
    pub other_pages: Vec<String>,
}

/// Reads a members page.
pub fn parse_members(html: &str) -> MembersPage {
    let doc = Html::parse_document(html);
    let mut page = MembersPage::default();
    for em in doc.select(&sel("em")) {
        let t = text(em);
        if let Some(n) = t.strip_suffix(" members total").or_else(|| t.strip_suffix(" member total")) {
            page.total = squash(n).parse().ok();
        }
    }
    for input in doc.select(&sel(r#"input[name="user"]"#)) {
        if let Some(v) = input.value().attr("value") {
            let address = percent_decode(v).trim().to_ascii_lowercase();
            if !address.is_empty() && !page.addresses.contains(&address) {
                page.addresses.push(address);
            }
        }
    }
    for a in doc.select(&sel("a[href]")) {
        let href = a.value().attr("href").unwrap_or_default();
        let Some((_, query)) = href.split_once("members?") else { continue };
        if query.starts_with("letter=") || query.starts_with("chunk=") {
            let link = format!("members?{query}");
            if !page.other_pages.contains(&link) {
                page.other_pages.push(link);
            }
        }
    }
    page
}

/// `%40` and other `%XX` escapes decoded (form values are URL-quoted).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// At most this many members pages are read per list (letters × chunks):
/// 30 members a page, so about 6,000 members.
const MEMBER_PAGES: usize = 200;

/// A list read through its admin pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminRead {
    /// Every widget of the pages read ([`form_values`]), by name.
    pub settings: BTreeMap<String, String>,
    /// "N members total".
    pub total: u64,
    /// Every member's address, lower case, sorted.
    pub addresses: Vec<String>,
}

/// The settings pages read: General Options (the login's answer), then
/// these categories.
pub const SETTINGS_PAGES: [&str; 3] = ["privacy/sender", "privacy/recipient", "archive"];

impl super::Site {
    /// Logs in to a list's admin pages with its admin password (else the
    /// site password) and returns the session and the General Options page
    /// Mailman answers the login with.
    async fn admin_login(&self, list: &str) -> Result<(super::Session, String), super::Mm21Error> {
        let password = self.admin_password(list)?;
        let session = self.session()?;
        let path = self.cgi_path("admin", list);
        let form = vec![("adminpw".to_string(), password.expose().to_string()), ("admlogin".to_string(), "Let me in...".to_string())];
        let page = session.post(self, &path, &form).await?;
        let refused = |status| super::Mm21Error::BadPassword { url: page.url.clone(), what: "list admin", status };
        match page.status {
            200 if is_admin_login_form(&page.text()) => Err(refused(200)),
            200 => Ok((session, page.text())),
            401 => Err(refused(401)),
            _ => Err(page.unexpected("POST")),
        }
    }

    async fn admin_get(&self, session: &super::Session, list: &str, rel: &str) -> Result<String, super::Mm21Error> {
        let page = session.get(self, &format!("{}/{rel}", self.cgi_path("admin", list))).await?;
        match page.status {
            200 if is_admin_login_form(&page.text()) => Err(super::Mm21Error::BadPassword { url: page.url, what: "list admin", status: 200 }),
            200 => Ok(page.text()),
            _ => Err(page.unexpected("GET")),
        }
    }

    /// A list's settings and members through its admin pages (logs in and
    /// out; changes nothing). Every members page is read, letter by letter
    /// and chunk by chunk, until the addresses found make the page's total.
    pub async fn admin_read(&self, list: &str) -> Result<AdminRead, super::Mm21Error> {
        let (session, general) = self.admin_login(list).await?;
        let read = self.admin_read_in(&session, list, &general).await;
        let _ = session.get(self, &format!("{}/logout", self.cgi_path("admin", list))).await;
        read
    }

    async fn admin_read_in(&self, session: &super::Session, list: &str, general: &str) -> Result<AdminRead, super::Mm21Error> {
        let mut settings = form_values(general);
        for category in SETTINGS_PAGES {
            settings.extend(form_values(&self.admin_get(session, list, category).await?));
        }
        let first = parse_members(&self.admin_get(session, list, "members").await?);
        let members_url = || self.url(&format!("{}/members", self.cgi_path("admin", list)));
        let total = first.total.ok_or_else(|| super::Mm21Error::Page { url: members_url(), what: "no \"N members total\" on the members page".into() })?;
        let mut addresses: std::collections::BTreeSet<String> = first.addresses.into_iter().collect();
        let mut queue: std::collections::VecDeque<String> = first.other_pages.into_iter().collect();
        let mut seen: std::collections::BTreeSet<String> = queue.iter().cloned().collect();
        let mut read = 1;
        while (addresses.len() as u64) < total {
            let Some(next) = queue.pop_front() else { break };
            if read >= MEMBER_PAGES {
                break;
            }
            read += 1;
            let page = parse_members(&self.admin_get(session, list, &next).await?);
            addresses.extend(page.addresses);
            for link in page.other_pages {
                if seen.insert(link.clone()) {
                    queue.push_back(link);
                }
            }
        }
        if addresses.len() as u64 != total {
            return Err(super::Mm21Error::Page {
                url: members_url(),
                what: format!("the members pages ({read} read) list {} addresses of the {total} the page counts", addresses.len()),
            });
        }
        Ok(AdminRead { settings, total, addresses: addresses.into_iter().collect() })
    }
}

/// The admin login form (what Mailman answers to a page asked without the
/// cookie, or with a wrong password).
pub fn is_admin_login_form(html: &str) -> bool {
    let doc = Html::parse_document(html);
    doc.select(&sel(r#"input[name="adminpw"]"#)).next().is_some()
}
