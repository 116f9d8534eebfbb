//! The list server's web side as people see it: HyperKitty's archive and
//! Postorius' list pages, over HTTP.
//!
//! [`Web`] is a small HTTP client bound to a base URL (the container's
//! address on port 80, or a real host). HyperKitty is read through its JSON
//! API where it has the data (subject, sender, body) and its HTML pages only
//! for "does the page a person would open answer".

pub mod hash;

use std::time::Duration;

pub use hash::message_id_hash;

use crate::scenario::PageKind;

/// What one GET returned.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: String,
    pub status: u16,
    pub body: String,
}

/// What one visit ([`Web::visit`]) saw.
#[derive(Debug, Clone)]
pub struct Visit {
    /// The URL asked for.
    pub url: String,
    /// Where redirects ended.
    pub final_url: String,
    pub status: u16,
    /// The body as text (lossy for binary answers such as an mbox.gz).
    pub body: String,
    /// The body's length in bytes.
    pub len: usize,
}

impl Visit {
    /// A login page: Django's (allauth's) `/accounts/login/`, or a form
    /// asking for a password.
    pub fn is_login_page(&self) -> bool {
        self.final_url.contains("/accounts/login") || self.body.contains("type=\"password\"")
    }

    /// Refused to an anonymous visitor: 401, 403, or a login page.
    pub fn is_refused(&self) -> bool {
        matches!(self.status, 401 | 403) || (self.status == 200 && self.is_login_page())
    }
}

/// A message as HyperKitty's JSON API describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchivedEmail {
    /// The JSON API URL it was read from.
    pub api_url: String,
    pub subject: String,
    /// The sender's address as HyperKitty shows it (it may obscure `@`).
    pub sender_address: String,
    pub sender_name: String,
    /// The message's text, when the API includes it.
    pub content: Option<String>,
}

/// Errors talking to the web side.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
    #[error("GET {url} answered {status}: {excerpt}")]
    Status { url: String, status: u16, excerpt: String },
    #[error("GET {url}: the JSON does not parse: {message}")]
    Json { url: String, message: String },
}

/// An HTTP client for one web host.
#[derive(Debug, Clone)]
pub struct Web {
    base: String,
    client: reqwest::Client,
    flavour: Flavour,
}

/// Which Mailman's web side a host serves: its pages live at different paths.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Flavour {
    /// Mailman 3: Postorius and HyperKitty.
    Three,
    /// Mailman 2.1: CGI programs under `cgi_path`, pipermail under `pipermail_path`.
    TwoOne { cgi_path: String, pipermail_path: String },
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// At most this many pages of a paged HyperKitty answer are read.
pub const HYPERKITTY_PAGES: usize = 1000;

impl Web {
    /// `base` like `http://172.17.0.2` (no trailing slash needed).
    pub fn new(base: &str) -> Web {
        // Plain HTTP to the lists host; a TLS set-up is still required by
        // reqwest, so it gets one with no roots (any https URL fails).
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring offers the default protocol versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .expect("a reqwest client with these settings builds");
        Web { base: base.trim_end_matches('/').to_string(), client, flavour: Flavour::Three }
    }

    /// A Mailman 2.1 web host reached with `client` (its TLS, its pinned
    /// address): pages under `cgi_path` (`/mailman/`) and `pipermail_path`
    /// (`/pipermail/`); no HyperKitty, no Postorius.
    pub fn mailman21(base: &str, client: reqwest::Client, cgi_path: &str, pipermail_path: &str) -> Web {
        let flavour = Flavour::TwoOne { cgi_path: cgi_path.to_string(), pipermail_path: pipermail_path.to_string() };
        Web { base: base.trim_end_matches('/').to_string(), client, flavour }
    }

    /// Whether the host serves HyperKitty (Mailman 3's web side).
    pub fn has_hyperkitty(&self) -> bool {
        self.flavour == Flavour::Three
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The full URL of a path on this host.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// One GET; any status is an answer.
    pub async fn get(&self, path: &str) -> Result<Page, WebError> {
        let url = self.url(path);
        let resp = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| WebError::Http { url: url.clone(), message: crate::http::error_chain(&e) })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| WebError::Http { url: url.clone(), message: crate::http::error_chain(&e) })?;
        Ok(Page { url, status, body })
    }

    /// One GET as a visitor: anonymous, or with a session cookie
    /// (`name=value`); redirects are followed and the page they end at is
    /// kept, so a login page is recognised wherever it lives.
    pub async fn visit(&self, path: &str, cookie: Option<&str>) -> Result<Visit, WebError> {
        let url = self.url(path);
        let mut request = self.client.get(&url);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        let resp = request.send().await.map_err(|e| WebError::Http { url: url.clone(), message: crate::http::error_chain(&e) })?;
        let status = resp.status().as_u16();
        let final_url = resp.url().to_string();
        let bytes = resp.bytes().await.map_err(|e| WebError::Http { url: url.clone(), message: crate::http::error_chain(&e) })?;
        Ok(Visit { url, final_url, status, body: String::from_utf8_lossy(&bytes).into_owned(), len: bytes.len() })
    }

    /// The path of a list's named page on this host; `None` when this
    /// Mailman does not have that page (a Postorius page on Mailman 2.1).
    pub fn page_path(&self, page: PageKind, list_address: &str) -> Option<String> {
        let name = list_address.split('@').next().unwrap_or_default().to_ascii_lowercase();
        match (&self.flavour, page) {
            // Postorius' list summary takes the list id (name.domain) or the address.
            (Flavour::Three, PageKind::ListInfo) => Some(format!("/postorius/lists/{}/", list_id(list_address))),
            (Flavour::Three, PageKind::ArchiveIndex) => Some(format!("/hyperkitty/list/{list_address}/")),
            (Flavour::TwoOne { cgi_path, .. }, PageKind::Mailman21Listinfo) => Some(format!("{cgi_path}listinfo/{name}")),
            (Flavour::TwoOne { pipermail_path, .. }, PageKind::PipermailIndex) => Some(format!("{pipermail_path}{name}/")),
            (Flavour::Three, PageKind::Mailman21Listinfo | PageKind::PipermailIndex) => None,
            (Flavour::TwoOne { .. }, PageKind::ListInfo | PageKind::ArchiveIndex) => None,
        }
    }

    /// HyperKitty's page for one message, as a person would open it.
    pub fn message_page_path(list_address: &str, message_id: &str) -> String {
        format!("/hyperkitty/list/{list_address}/message/{}/", message_id_hash(message_id))
    }

    /// The `date` of every message HyperKitty archived for the list, from
    /// its JSON API (`/hyperkitty/api/list/<address>/emails/`: one array
    /// on HyperKitty 1.3, which configures no paging; a paged answer's
    /// `next` links are followed, at most [`HYPERKITTY_PAGES`] pages).
    /// A private list answers 403 to anyone but its members: an error.
    pub async fn hyperkitty_dates(&self, list_address: &str) -> Result<Vec<String>, WebError> {
        let mut next = Some(self.url(&format!("/hyperkitty/api/list/{list_address}/emails/")));
        let mut dates = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > HYPERKITTY_PAGES {
                return Err(WebError::Http { url, message: format!("more than {HYPERKITTY_PAGES} pages of messages") });
            }
            let page = self.get_url(&url).await?;
            if page.status != 200 {
                return Err(WebError::Status { url: page.url, status: page.status, excerpt: excerpt(&page.body) });
            }
            let body: serde_json::Value =
                serde_json::from_str(&page.body).map_err(|e| WebError::Json { url: page.url.clone(), message: e.to_string() })?;
            let entries = match &body {
                serde_json::Value::Array(a) => a.clone(),
                paged => {
                    next = paged.get("next").and_then(serde_json::Value::as_str).map(str::to_string);
                    paged.get("results").and_then(serde_json::Value::as_array).cloned().unwrap_or_default()
                }
            };
            dates.extend(entries.iter().map(|e| e.get("date").and_then(serde_json::Value::as_str).unwrap_or_default().to_string()));
        }
        Ok(dates)
    }

    async fn get_url(&self, url: &str) -> Result<Page, WebError> {
        let resp = self.client.get(url).send().await.map_err(|e| WebError::Http { url: url.to_string(), message: crate::http::error_chain(&e) })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| WebError::Http { url: url.to_string(), message: crate::http::error_chain(&e) })?;
        Ok(Page { url: url.to_string(), status, body })
    }

    /// Looks the message up once in HyperKitty's JSON API: `None` when
    /// HyperKitty does not have it (404).
    pub async fn hyperkitty_email(&self, list_address: &str, message_id: &str) -> Result<Option<ArchivedEmail>, WebError> {
        let path = format!("/hyperkitty/api/list/{list_address}/email/{}/", message_id_hash(message_id));
        let page = self.get(&path).await?;
        match page.status {
            200 => parse_email(&page.url, &page.body).map(Some),
            404 => Ok(None),
            status => Err(WebError::Status { url: page.url, status, excerpt: excerpt(&page.body) }),
        }
    }
}

/// Mailman's list id from a posting address: `name@domain` → `name.domain`.
pub fn list_id(list_address: &str) -> String {
    list_address.replacen('@', ".", 1)
}

fn parse_email(url: &str, body: &str) -> Result<ArchivedEmail, WebError> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| WebError::Json { url: url.to_string(), message: e.to_string() })?;
    let s = |key: &str| v.get(key).and_then(|x| x.as_str()).unwrap_or_default().to_string();
    let sender = v.get("sender");
    let sender_address = sender
        .and_then(|x| x.get("address").and_then(|a| a.as_str()).or_else(|| x.as_str()))
        .unwrap_or_default()
        .to_string();
    Ok(ArchivedEmail {
        api_url: url.to_string(),
        subject: s("subject"),
        sender_address,
        sender_name: s("sender_name"),
        content: v.get("content").and_then(|x| x.as_str()).map(str::to_string),
    })
}

/// HyperKitty may show `alice@probe.test` as `alice (a) probe.test`; both
/// count as the address.
pub fn same_address(shown: &str, address: &str) -> bool {
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace(" (a) ", "@").replace(" at ", "@");
    norm(shown) == norm(address)
}

/// The start of a body for an error message, on one line.
pub fn excerpt(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 200 {
        format!("{}…", flat.chars().take(200).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let web = Web::new("http://lists.example.test");
        let page = |page| web.page_path(page, "probe-test@lists.example.test");
        assert_eq!(page(PageKind::ListInfo).as_deref(), Some("/postorius/lists/probe-test.lists.example.test/"));
        assert_eq!(page(PageKind::ArchiveIndex).as_deref(), Some("/hyperkitty/list/probe-test@lists.example.test/"));
        assert_eq!(page(PageKind::PipermailIndex), None);
        let web = Web::mailman21("http://lists.example.test", Web::new("http://x").client, "/cgi-bin/mailman/", "/pipermail/");
        let page = |page| web.page_path(page, "Probe-Test@lists.example.test");
        assert_eq!(page(PageKind::Mailman21Listinfo).as_deref(), Some("/cgi-bin/mailman/listinfo/probe-test"));
        assert_eq!(page(PageKind::PipermailIndex).as_deref(), Some("/pipermail/probe-test/"));
        assert_eq!(page(PageKind::ListInfo), None);
        assert!(!web.has_hyperkitty());
        assert_eq!(
            Web::message_page_path("l@d.test", "<ant>"),
            "/hyperkitty/list/l@d.test/message/MS6QLWERIJLGCRF44J7USBFDELMNT2BW/"
        );
    }

    #[test]
    fn parses_hyperkitty_email_json() {
        let body = r#"{"url":"x","mailinglist":"y","message_id":"ant","message_id_hash":"MS6Q","subject":"[Probe-test] hi",
            "sender":{"address":"alice (a) probe.test","mailman_id":"1"},"sender_name":"alice","content":"Hello.\n","date":"2026-01-01T00:00:00Z"}"#;
        let e = parse_email("u", body).unwrap();
        assert_eq!(e.subject, "[Probe-test] hi");
        assert!(same_address(&e.sender_address, "Alice@probe.test"));
        assert_eq!(e.content.as_deref(), Some("Hello.\n"));
        assert!(parse_email("u", "<html>").is_err());
    }
}
