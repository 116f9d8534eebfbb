//! One Mailman 2.1 web host: its base URL, where its CGI programs and
//! pipermail live, the Host name to send, and the passwords per list.
//!
//! Each login is its own [`Session`] (a fresh cookie jar): admindb's
//! `<list>+admin` cookie and the private archive's `<list>+user+...` cookie
//! live as long as one observation and are never shared between lists.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::CookieStore;

use super::Mm21Error;
use crate::secret::Secret;
use crate::tls::Verify;

/// What [`Site::new`] needs: the target file's `[mailman]` table for 2.1,
/// with its secrets read.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// `scheme://host[:port]`, no path: the list's web host as people reach
    /// it. Its host name is the Host header sent (the list overview filters
    /// by it) and the TLS name checked.
    pub web_url: String,
    /// Where the CGI programs are, e.g. `/mailman/` (leading and trailing `/`).
    pub cgi_path: String,
    /// Where public archives are, e.g. `/pipermail/` (leading and trailing `/`).
    pub pipermail_path: String,
    /// Connect here instead of asking DNS for the web host (during a
    /// migration the name may still point at the old server).
    pub address: Option<IpAddr>,
    pub verify: Verify,
    /// The site password (`bin/mmsitepass`): opens every list's admindb.
    pub site_password: Option<Secret>,
    pub lists: Vec<ListAccess>,
    /// Every request gives up after this long.
    pub timeout: Duration,
}

/// The passwords for one list.
#[derive(Debug, Clone)]
pub struct ListAccess {
    /// The list's name (the posting address's local part), lower case.
    pub name: String,
    /// The list's admin or moderator password, for admindb.
    pub admin_password: Option<Secret>,
    /// A member's address and password, for a private archive.
    pub archive_login: Option<(String, Secret)>,
}

/// A Mailman 2.1 web host.
#[derive(Debug, Clone)]
pub struct Site {
    config: SiteConfig,
    tls: Arc<rustls::ClientConfig>,
}

/// One answer, body as bytes (pipermail's `.txt` may hold any bytes).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Fetched {
    /// The body as text; bytes that are not UTF-8 become U+FFFD.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// An error for an answer the caller did not expect, with the start of the body.
    pub fn unexpected(&self, method: &'static str) -> Mm21Error {
        Mm21Error::Status { method, url: self.url.clone(), status: self.status, excerpt: crate::web::excerpt(&self.text()) }
    }
}

/// A client with its own cookie jar: one login.
pub struct Session {
    client: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
}

impl Site {
    /// Prepares TLS; nothing is sent yet.
    pub fn new(mut config: SiteConfig) -> Result<Site, String> {
        config.web_url = config.web_url.trim_end_matches('/').to_string();
        let tls = crate::tls::client_config(&config.verify).map_err(|e| format!("Mailman 2.1 web TLS: {e}"))?;
        for list in &mut config.lists {
            list.name = list.name.to_ascii_lowercase();
        }
        Ok(Site { config, tls })
    }

    pub fn config(&self) -> &SiteConfig {
        &self.config
    }

    /// A fresh session: no cookies, redirects not followed, the web host's
    /// name pinned to `address` when the file gives one.
    pub fn session(&self) -> Result<Session, Mm21Error> {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured((*self.tls).clone())
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(self.config.timeout)
            .timeout(self.config.timeout);
        if let (Some(ip), Some(host)) = (self.config.address, self.host()) {
            // Port 0: the URL's port is used.
            builder = builder.resolve(&host, SocketAddr::new(ip, 0));
        }
        let client = builder.build().map_err(|e| Mm21Error::Http {
            method: "GET",
            url: self.config.web_url.clone(),
            message: format!("HTTP client: {e}"),
        })?;
        Ok(Session { client, jar })
    }

    /// The web host's name, as sent in the Host header.
    pub fn host(&self) -> Option<String> {
        reqwest::Url::parse(&self.config.web_url).ok().and_then(|u| u.host_str().map(str::to_string))
    }

    /// The URL of a path (absolute, starting with `/`) on this host.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.web_url)
    }

    /// The path of a CGI program for a list: `/mailman/admindb/probe-test`.
    pub fn cgi_path(&self, program: &str, list: &str) -> String {
        format!("{}{program}/{list}", self.config.cgi_path)
    }

    /// The path of a public archive: `/pipermail/probe-test/`.
    pub fn pipermail_path(&self, list: &str) -> String {
        format!("{}{list}/", self.config.pipermail_path)
    }

    /// The list name Mailman 2.1 knows a list by, from a posting address
    /// (`probe-test@lists.example.test`) or a list id
    /// (`probe-test.lists.example.test`): the longest configured list name
    /// the id starts with, else the part before the first dot.
    pub fn list_name(&self, list: &str) -> String {
        let list = list.to_ascii_lowercase();
        if let Some((local, _)) = list.split_once('@') {
            return local.to_string();
        }
        let configured = self
            .config
            .lists
            .iter()
            .map(|l| l.name.as_str())
            .filter(|name| list.starts_with(&format!("{name}.")))
            .max_by_key(|name| name.len());
        match configured {
            Some(name) => name.to_string(),
            None => list.split('.').next().unwrap_or_default().to_string(),
        }
    }

    fn access(&self, list: &str) -> Option<&ListAccess> {
        self.config.lists.iter().find(|l| l.name == list)
    }

    /// The password that opens a list's admindb: its own, else the site's.
    pub fn admin_password(&self, list: &str) -> Result<&Secret, Mm21Error> {
        self.access(list)
            .and_then(|l| l.admin_password.as_ref())
            .or(self.config.site_password.as_ref())
            .ok_or_else(|| Mm21Error::NoCredentials { list: list.to_string(), what: "admin or moderator" })
    }

    /// The member login of a list's private archive, if the file gives one.
    pub fn archive_login(&self, list: &str) -> Option<(&str, &Secret)> {
        self.access(list).and_then(|l| l.archive_login.as_ref()).map(|(u, p)| (u.as_str(), p))
    }
}

impl Session {
    /// The underlying client (its cookie jar included).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// One GET of a path or a full URL.
    pub async fn get(&self, site: &Site, path_or_url: &str) -> Result<Fetched, Mm21Error> {
        let url = absolute(site, path_or_url);
        let sent = self.client.get(&url).send().await;
        fetched("GET", url, sent).await
    }

    /// One form POST (`application/x-www-form-urlencoded`).
    pub async fn post(&self, site: &Site, path_or_url: &str, form: &[(String, String)]) -> Result<Fetched, Mm21Error> {
        let url = absolute(site, path_or_url);
        let sent = self.client.post(&url).form(form).send().await;
        fetched("POST", url, sent).await
    }

    /// The names of the cookies this session would send to `path` (values
    /// are credentials: never shown).
    pub fn cookie_names(&self, site: &Site, path: &str) -> Vec<String> {
        let Ok(url) = reqwest::Url::parse(&site.url(path)) else { return Vec::new() };
        let Some(header) = self.jar.cookies(&url) else { return Vec::new() };
        let text = header.to_str().unwrap_or_default();
        text.split(';').filter_map(|c| c.split_once('=').map(|(n, _)| n.trim().to_string())).collect()
    }
}

fn absolute(site: &Site, path_or_url: &str) -> String {
    if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
        path_or_url.to_string()
    } else {
        site.url(path_or_url)
    }
}

async fn fetched(
    method: &'static str,
    url: String,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<Fetched, Mm21Error> {
    let http = |e: reqwest::Error, url: &str| Mm21Error::Http { method, url: url.to_string(), message: crate::http::error_chain(&e) };
    let response = sent.map_err(|e| http(e, &url))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.bytes().await.map_err(|e| http(e, &url))?.to_vec();
    Ok(Fetched { url, status, content_type, body })
}
