//! Pipermail, Mailman 2.1's archiver: the archive index, the month's text
//! file (`YYYY-Month.txt`, or `.txt.gz` with `GZIP_ARCHIVE_TXT_FILES`), the
//! month's `date.html` and the message pages (`NNNNNN.html`).
//!
//! Facts (recorded from Mailman 2.1.39, `fixtures/mailman21/archives`,
//! `web/18`..`31`):
//! - public archives are `/pipermail/<list>/`; private ones are only
//!   served by the `private` CGI (`/mailman/private/<list>/`), which posts
//!   `username` and `password` and sets `<list>+user+<address with @ as
//!   --at-->`; without the cookie every page is the login form with
//!   status 200, a wrong password 401; `/pipermail/<private list>/` is 404;
//! - message pages do not print the Message-ID: it is only URL-quoted in
//!   the reply `mailto:` link's `In-Reply-To`; the month's text file keeps
//!   it verbatim (addresses obscured as `alice at probe.test`, subjects
//!   as sent, RFC 2047 words included, non-ASCII body bytes as `?`);
//! - pages are `us-ascii` with non-ASCII as numeric entities; the subject
//!   keeps the list's prefix.

use std::io::Read;

use scraper::Html;

use super::html::{sel, squash, text};
use super::{Fetched, Mm21Error, Session, Site};

/// One month of an archive index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Month {
    /// The folder, e.g. `2026-November`.
    pub name: String,
    /// The month's text file as the index links it: `2026-November.txt`
    /// or `2026-November.txt.gz`.
    pub text_file: Option<String>,
}

/// A message of a month's text file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextMessage {
    /// With angle brackets.
    pub message_id: Option<String>,
    /// RFC 2047 words decoded.
    pub subject: String,
    /// The From header, obscured by pipermail: `alice at probe.test (Alice Example)`.
    pub from: String,
    pub body: String,
}

/// A message page (`NNNNNN.html`) as a reader sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessagePage {
    /// The heading, with the list's subject prefix.
    pub subject: String,
    /// The author's name in bold above the address.
    pub author: String,
    /// The address as shown (obscured: `alice at probe.test`).
    pub address: String,
    /// The message's own Message-ID, from the reply link's `In-Reply-To`.
    pub message_id: Option<String>,
    /// The text between `<!--beginarticle-->` and `<!--endarticle-->`,
    /// entities decoded.
    pub body: String,
}

/// A probe found in a pipermail archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMessage {
    /// The Message-ID it was found under.
    pub message_id: String,
    /// The month's text file it is in.
    pub text_url: String,
    pub text: TextMessage,
    /// Its message page and what it shows; `None` when no page of the
    /// month links back to the Message-ID.
    pub page: Option<(String, MessagePage)>,
}

/// The months of an archive index, newest first (as pipermail lists them).
pub fn parse_index(html: &str) -> Vec<Month> {
    let doc = Html::parse_document(html);
    let mut months: Vec<Month> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    for link in doc.select(&sel("a[href]")) {
        let href = link.value().attr("href").unwrap_or_default();
        if let Some(name) = href.strip_suffix("/date.html") {
            if !name.contains('/') && !months.iter().any(|m| m.name == name) {
                months.push(Month { name: name.to_string(), text_file: None });
            }
        } else if (href.ends_with(".txt") || href.ends_with(".txt.gz")) && !href.contains('/') {
            texts.push(href.to_string());
        }
    }
    for month in &mut months {
        month.text_file = texts.iter().find(|t| t.strip_prefix(month.name.as_str()).is_some_and(|r| r.starts_with(".txt"))).cloned();
    }
    months
}

/// A pipermail month's `date.html`: "Messages: N".
pub fn date_index_count(html: &str) -> Option<u64> {
    let doc = Html::parse_document(html);
    for b in doc.select(&sel("b")) {
        if text(b) == "Messages:" {
            let after: String = b.next_siblings().take(1).filter_map(|n| n.value().as_text().map(|t| t.to_string())).collect();
            return squash(&after).parse().ok();
        }
    }
    None
}

/// `2026-November` is `2026-11`; any other volume name stays as it is.
pub fn pipermail_month(stem: &str) -> String {
    const MONTHS: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    if let Some((year, month)) = stem.split_once('-') {
        if year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()) {
            if let Some(i) = MONTHS.iter().position(|m| *m == month) {
                return format!("{year}-{:02}", i + 1);
            }
        }
    }
    stem.to_string()
}

/// True for the private archive's login form (what it answers, with 200,
/// to any page asked without its cookie).
pub fn is_login_form(html: &str) -> bool {
    let doc = Html::parse_document(html);
    doc.select(&sel(r#"input[name="password"]"#)).next().is_some() && doc.select(&sel(r#"input[name="username"]"#)).next().is_some()
}

/// The bytes of a month's text file, gunzipped when they are gzip (a
/// `.txt.gz`, unless the web server already decoded it).
pub fn month_text(bytes: &[u8]) -> Result<String, String> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).map_err(|e| format!("gunzip: {e}"))?;
        return Ok(String::from_utf8_lossy(&out).into_owned());
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// The messages of a month's text file (an mbox: each message starts with
/// a `From ` line after a blank line, or at the top).
pub fn parse_month_text(text: &str) -> Vec<TextMessage> {
    let mut chunks: Vec<String> = Vec::new();
    let mut previous_blank = true;
    for line in text.split_inclusive('\n') {
        if previous_blank && line.starts_with("From ") {
            chunks.push(String::new());
        } else if let Some(chunk) = chunks.last_mut() {
            chunk.push_str(line);
        }
        previous_blank = line.trim_end_matches(['\r', '\n']).is_empty();
    }
    chunks.iter().map(|c| text_message(c)).collect()
}

fn text_message(chunk: &str) -> TextMessage {
    let Ok((headers, end)) = mailparse::parse_headers(chunk.as_bytes()) else {
        return TextMessage { body: chunk.to_string(), ..TextMessage::default() };
    };
    let header = |name: &str| headers.iter().find(|h| h.get_key_ref().eq_ignore_ascii_case(name)).map(|h| h.get_value());
    TextMessage {
        message_id: header("Message-ID").map(|v| squash(&v)).filter(|v| !v.is_empty()),
        subject: header("Subject").map(|v| squash(&v)).unwrap_or_default(),
        from: header("From").map(|v| squash(&v)).unwrap_or_default(),
        body: chunk.get(end..).unwrap_or_default().trim_end().to_string(),
    }
}

/// The message pages a month's `date.html` links: (file, subject shown),
/// in the page's order (oldest first).
pub fn parse_date_index(html: &str) -> Vec<(String, String)> {
    let doc = Html::parse_document(html);
    doc.select(&sel("li > a[href]"))
        .filter_map(|a| {
            let href = a.value().attr("href")?;
            let digits = href.strip_suffix(".html")?;
            (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())).then(|| (href.to_string(), text(a)))
        })
        .collect()
}

/// Reads a message page.
pub fn parse_message_page(html: &str) -> MessagePage {
    let doc = Html::parse_document(html);
    let subject = doc.select(&sel("h1")).next().map(text).unwrap_or_default();
    let author = doc.select(&sel("body > b")).next().map(text).unwrap_or_default();
    let reply = doc.select(&sel(r#"a[href^="mailto:"]"#)).find(|a| a.value().attr("href").is_some_and(|h| h.contains("In-Reply-To=")));
    let address = reply.map(text).unwrap_or_default();
    let message_id = reply.and_then(|a| a.value().attr("href")).and_then(in_reply_to);
    let body = match (html.find("<!--beginarticle-->"), html.find("<!--endarticle-->")) {
        (Some(start), Some(end)) if start < end => {
            let fragment = Html::parse_fragment(&html[start + "<!--beginarticle-->".len()..end]);
            fragment.root_element().text().collect::<String>().trim().to_string()
        }
        _ => String::new(),
    };
    MessagePage { subject, author, address, message_id, body }
}

/// The `In-Reply-To` of a reply `mailto:` link, URL-unquoted.
fn in_reply_to(href: &str) -> Option<String> {
    let query = href.split_once('?')?.1;
    let url = reqwest::Url::parse(&format!("http://x/?{query}")).ok()?;
    url.query_pairs().find(|(k, _)| k == "In-Reply-To").map(|(_, v)| v.into_owned())
}

/// How pipermail obscures an address by default: `alice at probe.test`.
pub fn obscured(address: &str) -> String {
    address.replacen('@', " at ", 1)
}

/// At most this many months are searched, newest first: a probe is recent
/// (two covers a probe sent just before a month's end).
const MONTHS_SEARCHED: usize = 2;
/// At most this many message pages are opened to find the probe's page.
const PAGES_OPENED: usize = 30;

impl Site {
    /// Where a list's archive is read, with a session that may read it:
    /// `/pipermail/<list>/`, or for a list whose file gives an archive
    /// login, the private CGI after logging in.
    pub async fn archive_session(&self, list: &str) -> Result<(Session, String), Mm21Error> {
        let session = self.session()?;
        let Some((user, password)) = self.archive_login(list) else {
            return Ok((session, self.pipermail_path(list)));
        };
        let base = format!("{}/", self.cgi_path("private", list));
        let form = vec![("username".to_string(), user.to_string()), ("password".to_string(), password.expose().to_string())];
        let page = session.post(self, &base, &form).await?;
        match page.status {
            200 if !is_login_form(&page.text()) => Ok((session, base)),
            200 | 401 => Err(Mm21Error::BadPassword { url: page.url, what: "private archive", status: page.status }),
            _ => Err(page.unexpected("POST")),
        }
    }

    /// Looks once for a message in a list's archive by any of
    /// `message_ids`: in the newest months' text files, then its message
    /// page among the month's pages. `None`: not archived (yet). An index
    /// that answers 404 is an error ([`Mm21Error::Page`]): there is no
    /// archive there to look in.
    pub async fn find_archived(&self, list: &str, message_ids: &[String]) -> Result<Option<ArchivedMessage>, Mm21Error> {
        let list = self.list_name(list);
        let (session, base) = self.archive_session(&list).await?;
        // Mailman 2.1 writes an archive's index when it creates the list
        // (an "empty archive" page until the first post), so a 404 is no
        // archive to read, never "not archived yet": a private list asked
        // at its public URL, or no such list.
        let Some(index) = archive_page(&session, self, &base).await? else {
            let what = if self.archive_login(&list).is_some() {
                format!("404: no archive of list `{list}` here")
            } else {
                format!(
                    "404: no public archive of list `{list}` here (a private archive is read through {}: give `archive_user` and its password under `[mailman.lists.{list}]` in the target file)",
                    self.cgi_path("private", &list)
                )
            };
            return Err(Mm21Error::Page { url: self.url(&base), what });
        };
        for month in parse_index(&index.text()).into_iter().take(MONTHS_SEARCHED) {
            let Some(file) = &month.text_file else { continue };
            let Some(text) = archive_page(&session, self, &format!("{base}{file}")).await? else { continue };
            let content = month_text(&text.body).map_err(|what| Mm21Error::Page { url: text.url.clone(), what })?;
            let messages = parse_month_text(&content);
            let Some((id, found)) = message_ids
                .iter()
                .find_map(|id| messages.iter().rev().find(|m| m.message_id.as_deref() == Some(id)).map(|m| (id.clone(), m.clone())))
            else {
                continue;
            };
            let page = self.message_page(&session, &format!("{base}{}/", month.name), &id, &found.subject).await?;
            return Ok(Some(ArchivedMessage { message_id: id, text_url: text.url, text: found, page }));
        }
        Ok(None)
    }

    /// The month's page of `message_id`: the pages `date.html` lists,
    /// those whose subject matches first, newest first, until one's reply
    /// link carries the Message-ID.
    async fn message_page(&self, session: &Session, month: &str, message_id: &str, subject: &str) -> Result<Option<(String, MessagePage)>, Mm21Error> {
        let Some(date) = archive_page(session, self, &format!("{month}date.html")).await? else { return Ok(None) };
        let mut pages = parse_date_index(&date.text());
        pages.reverse();
        let wanted = squash(subject.trim_start_matches("Re: "));
        pages.sort_by_key(|(_, shown)| !wanted.ends_with(shown.as_str()) && !shown.ends_with(wanted.as_str()));
        for (file, _) in pages.into_iter().take(PAGES_OPENED) {
            let Some(page) = archive_page(session, self, &format!("{month}{file}")).await? else { continue };
            let parsed = parse_message_page(&page.text());
            if parsed.message_id.as_deref() == Some(message_id) {
                return Ok(Some((page.url, parsed)));
            }
        }
        Ok(None)
    }
}

impl Site {
    /// Messages per month of a list's archive, read as its readers reach
    /// it (public, or the private CGI with the file's archive login): the
    /// index's months, each month's `date.html` "Messages: N". Months by
    /// [`pipermail_month`] (`2026-11`). An
    /// index that answers 404 is an error: no archive there.
    pub async fn month_counts(&self, list: &str) -> Result<std::collections::BTreeMap<String, u64>, Mm21Error> {
        let (session, base) = self.archive_session(list).await?;
        let Some(index) = archive_page(&session, self, &base).await? else {
            return Err(Mm21Error::Page { url: self.url(&base), what: format!("404: no archive of list `{list}` here") });
        };
        let mut counts = std::collections::BTreeMap::new();
        for month in parse_index(&index.text()) {
            let url = format!("{base}{}/date.html", month.name);
            let Some(page) = archive_page(&session, self, &url).await? else { continue };
            let n = date_index_count(&page.text()).ok_or_else(|| Mm21Error::Page { url: page.url.clone(), what: "no \"Messages: N\" on the month's date index".into() })?;
            *counts.entry(pipermail_month(&month.name)).or_insert(0) += n;
        }
        Ok(counts)
    }
}

/// A GET of an archive file: `None` for 404 (no archive, no such month
/// yet); the private archive's login form instead of the file is an error.
async fn archive_page(session: &Session, site: &Site, path: &str) -> Result<Option<Fetched>, Mm21Error> {
    let page = session.get(site, path).await?;
    match page.status {
        200 => {
            let html = page.content_type.as_deref().is_some_and(|t| t.starts_with("text/html"));
            if html && is_login_form(&page.text()) {
                return Err(Mm21Error::BadPassword { url: page.url, what: "private archive", status: 200 });
            }
            Ok(Some(page))
        }
        404 => Ok(None),
        _ => Err(page.unexpected("GET")),
    }
}

impl crate::target::PipermailArchive for Site {
    fn find<'a>(
        &'a self,
        list_address: &'a str,
        keys: &'a crate::probe::ProbeKeys,
    ) -> crate::BoxFuture<'a, Result<Option<ArchivedMessage>, crate::target::TargetError>> {
        Box::pin(async move { Ok(self.find_archived(list_address, &keys.message_ids).await?) })
    }
}
