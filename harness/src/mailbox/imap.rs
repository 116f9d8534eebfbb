//! A real mailbox read over IMAP: where the suite's subscriber addresses
//! deliver on real hosts.
//!
//! One connection, one selected folder, kept for the mailbox's lifetime and
//! opened again after any failure. Every network wait has a deadline
//! ([`ImapTimeouts`]). Messages are read with `BODY.PEEK[]`, so reading marks
//! nothing as seen; the only change the harness ever makes is
//! [`ImapMailbox::delete_own`], for this run's own probes.
//!
//! The facts are [`Received`] values, as the sink builds them. A mailbox has
//! no SMTP envelope, so it is taken from what the delivering MTA wrote at the
//! top of the message: the sender from `Return-Path`, the recipient from the
//! topmost `Delivered-To`, else `X-Original-To`, else `Envelope-to`, else the
//! mailbox's own address ([`ImapConfig::address`]). The arrival time is the
//! message's IMAP `INTERNALDATE` (whole seconds).

use std::collections::HashSet;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{Response, Status};
use async_imap::types::{Fetch, UnsolicitedResponse};
use async_imap::{Client, Session};
use futures::TryStreamExt as _;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, MutexGuard};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::mailman::is_probe_id;
use crate::secret::{SecretError, SecretSource};
use crate::sink::Received;
use crate::tls::{self, Verify};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapTls {
    /// TLS from the first byte (port 993).
    Imaps,
    /// Plain connection upgraded with `STARTTLS` before logging in (port 143).
    StartTls,
    /// No TLS at all: the password crosses the network in clear. For tests
    /// on loopback or the project's own containers only.
    Plain,
}

impl ImapTls {
    pub const ALL: [ImapTls; 3] = [ImapTls::Imaps, ImapTls::StartTls, ImapTls::Plain];

    /// The name a target file uses: `imaps`, `starttls`, `plain`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImapTls::Imaps => "imaps",
            ImapTls::StartTls => "starttls",
            ImapTls::Plain => "plain",
        }
    }

    /// The IANA port of the mode: 993 for imaps, 143 otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            ImapTls::Imaps => 993,
            ImapTls::StartTls | ImapTls::Plain => 143,
        }
    }
}

impl fmt::Display for ImapTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Deadlines for every network wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImapTimeouts {
    /// TCP connect and the TLS handshake, each.
    pub connect: Duration,
    /// One command and its complete answer (a FETCH of all matches counts
    /// as one), and the greeting.
    pub command: Duration,
}

impl Default for ImapTimeouts {
    fn default() -> Self {
        ImapTimeouts { connect: Duration::from_secs(10), command: Duration::from_secs(30) }
    }
}

/// Where the mailbox is and how to log in. `Debug` shows where the password
/// comes from, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapConfig {
    /// Host name or IP address: connected to, and the name the server's
    /// certificate must be for.
    pub host: String,
    pub port: u16,
    pub tls: ImapTls,
    /// How the certificate is checked (ignored with [`ImapTls::Plain`]).
    pub verify: Verify,
    pub user: String,
    pub password: SecretSource,
    /// The folder the deliveries land in, e.g. `INBOX`.
    pub folder: String,
    /// The mailbox's own address: the recipient of a message that names none
    /// in `Delivered-To`, `X-Original-To` or `Envelope-to`.
    pub address: Option<String>,
    pub timeouts: ImapTimeouts,
}

impl ImapConfig {
    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// What [`ImapMailbox::wait_for_news`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum News {
    /// The folder changed (a message arrived or went): look again.
    Changed,
    /// Nothing changed before the deadline.
    Quiet,
    /// The server does not offer IDLE: the caller polls instead.
    NoIdle,
}

/// Errors of the IMAP mailbox. None of them carries the password.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("cannot connect to IMAP server {server}: {source}")]
    Connect { server: String, source: std::io::Error },
    #[error("IMAP server {server}: {what} took longer than {after:?}")]
    Timeout { server: String, what: String, after: Duration },
    #[error("TLS with IMAP server {server}: {message}")]
    Tls { server: String, message: String },
    #[error("IMAP server {server} did not greet with OK: {greeting}")]
    Greeting { server: String, greeting: String },
    #[error("IMAP login as {user} at {server} failed: {message}")]
    Login { server: String, user: String, message: String },
    #[error("IMAP server {server}: {what}: {message}")]
    Imap { server: String, what: String, message: String },
    #[error("IMAP password: {0}")]
    Secret(#[from] SecretError),
    #[error("`{0}` is not a mailflow probe Message-ID (<mailflow.RUN.N@domain>): nothing was deleted")]
    NotAProbeId(String),
    #[error("cannot search for `{0}`: IMAP search strings here are printable ASCII on one line")]
    InvalidSearch(String),
    #[error(
        "IMAP server {server} offers no UIDPLUS and {others} other message(s) are marked \\Deleted: \
         expunging would remove them too, so the probes were left in place"
    )]
    UnsafeExpunge { server: String, others: usize },
}

impl MailboxError {
    /// True when the server did not answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, MailboxError::Timeout { .. })
    }
}

/// The connection: plain TCP (plain, or before STARTTLS) or TLS over it.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type ImapSession = Session<Stream>;

/// What the server offers that changes how the mailbox works.
#[derive(Debug, Clone, Copy)]
struct Offers {
    idle: bool,
    uidplus: bool,
}

/// A logged-in IMAP connection with the delivery folder selected.
pub struct ImapMailbox {
    config: ImapConfig,
    offers: Offers,
    /// `None` after a failure left the connection in an unknown state; the
    /// next call opens a new one.
    session: Mutex<Option<ImapSession>>,
}

impl fmt::Debug for ImapMailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapMailbox").field("config", &self.config).field("offers", &self.offers).finish()
    }
}

impl ImapMailbox {
    /// Connects, protects the connection as `config.tls` says, logs in (the
    /// password is read from its source now) and selects the folder.
    pub async fn connect(config: ImapConfig) -> Result<ImapMailbox, MailboxError> {
        let (session, offers) = open(&config).await?;
        Ok(ImapMailbox { config, offers, session: Mutex::new(Some(session)) })
    }

    pub fn config(&self) -> &ImapConfig {
        &self.config
    }

    /// Whether the server offers IDLE, so that [`ImapMailbox::wait_for_news`]
    /// waits rather than returning at once.
    pub fn supports_idle(&self) -> bool {
        self.offers.idle
    }

    /// The messages in the folder whose Message-ID is exactly `message_id`
    /// (with angle brackets), or whose `probe_header` (name, value) has that
    /// value (whitespace runs compared as one space): the probe header finds
    /// a probe whose Message-ID was rewritten on the way. Oldest first.
    pub async fn find(
        &self,
        message_id: &str,
        probe_header: Option<(&str, &str)>,
    ) -> Result<Vec<Received>, MailboxError> {
        let message_id = message_id.trim();
        let by_id = if message_id.is_empty() { None } else { Some(format!("HEADER Message-ID {}", quoted(message_id)?)) };
        let by_header = match probe_header {
            Some((name, value)) => Some(format!("HEADER {} {}", quoted(name)?, quoted(value)?)),
            None => None,
        };
        let query = match (by_id, by_header) {
            (Some(id), Some(header)) => format!("OR {id} {header}"),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => return Err(MailboxError::InvalidSearch(String::new())),
        };
        let mut conn = self.connection().await?;
        let found = async {
            sync(conn.session(), &self.config).await?;
            let uids = search(conn.session(), &self.config, &query).await?;
            fetch_received(conn.session(), &self.config, &uids).await
        }
        .await;
        let found = conn.keep_if_ok(found)?;
        let wanted = probe_header.map(|(name, value)| (name, squeeze(value)));
        Ok(found
            .into_iter()
            .filter(|r| {
                r.message_id() == Some(message_id) && !message_id.is_empty()
                    || wanted
                        .as_ref()
                        .is_some_and(|(name, value)| r.header(name).is_some_and(|v| squeeze(v) == *value))
            })
            .collect())
    }

    /// The messages for `address` (by envelope recipient, `To` or `Cc`) that
    /// arrived at `since` or later (to the second): list notices, bounces.
    /// Oldest first.
    pub async fn messages_to(&self, address: &str, since: SystemTime) -> Result<Vec<Received>, MailboxError> {
        let q = quoted(address)?;
        // SINCE compares dates only, in the server's time zone: ask from the
        // day before and compare exactly here.
        let day_before = since.checked_sub(Duration::from_secs(86_400)).unwrap_or(SystemTime::UNIX_EPOCH);
        let query = format!(
            "SINCE {} OR OR TO {q} CC {q} OR HEADER Delivered-To {q} HEADER X-Original-To {q}",
            imap_date(day_before)
        );
        let mut conn = self.connection().await?;
        let found = async {
            sync(conn.session(), &self.config).await?;
            let uids = search(conn.session(), &self.config, &query).await?;
            fetch_received(conn.session(), &self.config, &uids).await
        }
        .await;
        let found = conn.keep_if_ok(found)?;
        let since = whole_seconds(since);
        let wanted = address.to_ascii_lowercase();
        let mentions = |r: &Received| {
            r.rcpt_to.iter().any(|a| a.eq_ignore_ascii_case(address))
                || ["To", "Cc"].iter().any(|h| {
                    r.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case(h) && v.to_ascii_lowercase().contains(&wanted))
                })
        };
        Ok(found.into_iter().filter(|r| r.received_at >= since && mentions(r)).collect())
    }

    /// Waits until the folder changes or `deadline` passes. With IDLE, the
    /// server says when mail arrives; without it, returns [`News::NoIdle`] at
    /// once and the caller polls. Changes the server reported during earlier
    /// commands count too, so an arrival between a look and this wait is not
    /// missed.
    pub async fn wait_for_news(&self, deadline: tokio::time::Instant) -> Result<News, MailboxError> {
        let mut conn = self.connection().await?;
        if drain_changes(conn.session()) {
            return Ok(News::Changed);
        }
        let noop = step(&self.config, "NOOP", self.config.timeouts.command, conn.session().noop()).await;
        conn.keep_if_ok(noop)?;
        if drain_changes(conn.session()) {
            return Ok(News::Changed);
        }
        if !self.offers.idle {
            return Ok(News::NoIdle);
        }
        let now = tokio::time::Instant::now();
        if deadline <= now {
            return Ok(News::Quiet);
        }
        let session = conn.take();
        let mut idle = session.idle();
        step(&self.config, "IDLE", self.config.timeouts.command, idle.init()).await?;
        let heard = {
            let (wait, _stop) = idle.wait_with_timeout(deadline - now);
            tokio::time::timeout_at(deadline, wait).await
        };
        let session = step(&self.config, "DONE (ending IDLE)", self.config.timeouts.command, idle.done()).await?;
        conn.put(session);
        match heard {
            Ok(Ok(IdleResponse::NewData(_))) => Ok(News::Changed),
            Ok(Ok(IdleResponse::Timeout | IdleResponse::ManualInterrupt)) | Err(_) => Ok(News::Quiet),
            Ok(Err(e)) => {
                conn.drop_session();
                Err(imap_error(&self.config, "IDLE", e))
            }
        }
    }

    /// Deletes the messages whose Message-ID is exactly one of
    /// `run_message_ids` and returns how many. Every id must have the shape
    /// of a mailflow probe Message-ID (`<mailflow.RUN.N@domain>`), else
    /// nothing is deleted ([`MailboxError::NotAProbeId`]); the caller passes
    /// this run's own ids. A message is deleted only when every Message-ID
    /// header it has equals the id. Expunging is limited to those messages
    /// (`UID EXPUNGE`); a server without UIDPLUS is expunged only when no
    /// other message is marked `\Deleted`.
    pub async fn delete_own(&self, run_message_ids: &[String]) -> Result<usize, MailboxError> {
        for id in run_message_ids {
            if !is_probe_id(id) {
                return Err(MailboxError::NotAProbeId(id.clone()));
            }
            quoted(id)?;
        }
        if run_message_ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.connection().await?;
        let result = async {
            sync(conn.session(), &self.config).await?;
            let mut mine: Vec<u32> = Vec::new();
            for id in run_message_ids {
                let uids = search(conn.session(), &self.config, &format!("HEADER Message-ID {}", quoted(id)?)).await?;
                for (uid, ids) in fetch_message_ids(conn.session(), &self.config, &uids).await? {
                    if !ids.is_empty() && ids.iter().all(|found| found == id) && !mine.contains(&uid) {
                        mine.push(uid);
                    }
                }
            }
            if mine.is_empty() {
                return Ok(0);
            }
            mine.sort_unstable();
            let set = uid_set(&mine);
            store(conn.session(), &self.config, &set, "+FLAGS.SILENT (\\Deleted)").await?;
            if self.offers.uidplus {
                let command = self.config.timeouts.command;
                let session = conn.session();
                let expunged = step(&self.config, "UID EXPUNGE", command, async {
                    session.uid_expunge(&set).await?.try_collect::<Vec<_>>().await
                })
                .await?;
                return Ok(expunged.len());
            }
            let marked = search(conn.session(), &self.config, "DELETED").await?;
            let others = marked.iter().filter(|uid| !mine.contains(uid)).count();
            if others > 0 {
                store(conn.session(), &self.config, &set, "-FLAGS.SILENT (\\Deleted)").await?;
                return Err(MailboxError::UnsafeExpunge { server: self.config.server(), others });
            }
            let session = conn.session();
            let expunged = step(&self.config, "EXPUNGE", self.config.timeouts.command, async {
                session.expunge().await?.try_collect::<Vec<_>>().await
            })
            .await?;
            Ok(expunged.len())
        }
        .await;
        conn.keep_if_ok(result)
    }

    /// Logs out and closes the connection (dropping the mailbox closes it too,
    /// without the goodbye).
    pub async fn logout(self) -> Result<(), MailboxError> {
        let Some(mut session) = self.session.into_inner() else { return Ok(()) };
        step(&self.config, "LOGOUT", self.config.timeouts.command, session.logout()).await
    }

    /// The connection, opened again if an earlier failure dropped it.
    async fn connection(&self) -> Result<Connection<'_>, MailboxError> {
        let mut guard = self.session.lock().await;
        if guard.is_none() {
            let (session, _) = open(&self.config).await?;
            *guard = Some(session);
        }
        Ok(Connection(guard))
    }
}

/// The locked connection of one call. A failed step leaves the protocol state
/// unknown, so the session is dropped on error and reopened by the next call.
struct Connection<'a>(MutexGuard<'a, Option<ImapSession>>);

impl Connection<'_> {
    fn session(&mut self) -> &mut ImapSession {
        self.0.as_mut().expect("connection() always leaves a session")
    }
    fn take(&mut self) -> ImapSession {
        self.0.take().expect("connection() always leaves a session")
    }
    fn put(&mut self, session: ImapSession) {
        *self.0 = Some(session);
    }
    fn drop_session(&mut self) {
        *self.0 = None;
    }
    fn keep_if_ok<T>(&mut self, result: Result<T, MailboxError>) -> Result<T, MailboxError> {
        // A refused search string never reached the server: the session is fine.
        if matches!(&result, Err(e) if !matches!(e, MailboxError::InvalidSearch(_) | MailboxError::UnsafeExpunge { .. })) {
            self.drop_session();
        }
        result
    }
}

/// Connects, greets, secures, logs in, learns the capabilities and selects
/// the folder.
async fn open(config: &ImapConfig) -> Result<(ImapSession, Offers), MailboxError> {
    let server = config.server();
    let limits = config.timeouts;
    let tcp = match tokio::time::timeout(limits.connect, TcpStream::connect((config.host.as_str(), config.port))).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(source)) => return Err(MailboxError::Connect { server, source }),
        Err(_) => return Err(MailboxError::Timeout { server, what: "connecting".into(), after: limits.connect }),
    };
    let client = match config.tls {
        ImapTls::Imaps => {
            let tls = tls_wrap(config, tcp).await?;
            let mut client = Client::new(Stream::Tls(Box::new(tls)));
            greeting(config, &mut client).await?;
            client
        }
        ImapTls::StartTls => {
            let mut client = Client::new(Stream::Plain(tcp));
            greeting(config, &mut client).await?;
            step(config, "STARTTLS", limits.command, client.run_command_and_check_ok("STARTTLS", None)).await?;
            let Stream::Plain(tcp) = client.into_inner() else { unreachable!("the stream was plain before STARTTLS") };
            let tls = tls_wrap(config, tcp).await?;
            // No greeting follows STARTTLS.
            Client::new(Stream::Tls(Box::new(tls)))
        }
        ImapTls::Plain => {
            let mut client = Client::new(Stream::Plain(tcp));
            greeting(config, &mut client).await?;
            client
        }
    };
    let password = config.password.read()?;
    let login = tokio::time::timeout(limits.command, client.login(&config.user, password.expose())).await;
    let mut session = match login {
        Ok(Ok(session)) => session,
        Ok(Err((e, _))) => {
            return Err(MailboxError::Login { server, user: config.user.clone(), message: e.to_string() })
        }
        Err(_) => return Err(MailboxError::Timeout { server, what: "LOGIN".into(), after: limits.command }),
    };
    let capabilities = step(config, "CAPABILITY", limits.command, session.capabilities()).await?;
    let offers = Offers { idle: capabilities.has_str("IDLE"), uidplus: capabilities.has_str("UIDPLUS") };
    let folder = config.folder.clone();
    step(config, &format!("SELECT {folder}"), limits.command, session.select(&folder)).await?;
    Ok((session, offers))
}

async fn tls_wrap(config: &ImapConfig, tcp: TcpStream) -> Result<TlsStream<TcpStream>, MailboxError> {
    let server = config.server();
    let client_config = tls::client_config(&config.verify)
        .map_err(|e| MailboxError::Tls { server: server.clone(), message: e.to_string() })?;
    let name = ServerName::try_from(config.host.clone())
        .map_err(|e| MailboxError::Tls { server: server.clone(), message: format!("`{}` as a TLS name: {e}", config.host) })?;
    let handshake = TlsConnector::from(client_config).connect(name, tcp);
    match tokio::time::timeout(config.timeouts.connect, handshake).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(MailboxError::Tls { server, message: crate::http::error_chain(&e) }),
        Err(_) => Err(MailboxError::Timeout { server, what: "the TLS handshake".into(), after: config.timeouts.connect }),
    }
}

/// Reads the server's greeting, which must be `* OK`.
async fn greeting(config: &ImapConfig, client: &mut Client<Stream>) -> Result<(), MailboxError> {
    let server = config.server();
    let after = config.timeouts.command;
    let response = match tokio::time::timeout(after, client.read_response()).await {
        Ok(Ok(Some(response))) => response,
        Ok(Ok(None)) => return Err(MailboxError::Greeting { server, greeting: "(connection closed)".into() }),
        Ok(Err(e)) => return Err(MailboxError::Connect { server, source: e }),
        Err(_) => return Err(MailboxError::Timeout { server, what: "the greeting".into(), after }),
    };
    match response.parsed() {
        Response::Data { status: Status::Ok, .. } => Ok(()),
        other => Err(MailboxError::Greeting { server, greeting: format!("{other:?}") }),
    }
}

/// Runs one IMAP step with a deadline.
async fn step<T>(
    config: &ImapConfig,
    what: &str,
    after: Duration,
    future: impl std::future::Future<Output = async_imap::error::Result<T>>,
) -> Result<T, MailboxError> {
    match tokio::time::timeout(after, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(imap_error(config, what, e)),
        Err(_) => Err(MailboxError::Timeout { server: config.server(), what: what.into(), after }),
    }
}

fn imap_error(config: &ImapConfig, what: &str, e: async_imap::error::Error) -> MailboxError {
    MailboxError::Imap { server: config.server(), what: what.into(), message: e.to_string() }
}

async fn search(session: &mut ImapSession, config: &ImapConfig, query: &str) -> Result<Vec<u32>, MailboxError> {
    let uids: HashSet<u32> = step(config, &format!("UID SEARCH {query}"), config.timeouts.command, session.uid_search(query)).await?;
    let mut uids: Vec<u32> = uids.into_iter().collect();
    uids.sort_unstable();
    Ok(uids)
}

async fn store(session: &mut ImapSession, config: &ImapConfig, set: &str, flags: &str) -> Result<(), MailboxError> {
    step(config, &format!("UID STORE {set} {flags}"), config.timeouts.command, async {
        session.uid_store(set, flags).await?.try_collect::<Vec<_>>().await
    })
    .await
    .map(drop)
}

/// The messages with these UIDs as [`Received`], oldest first.
async fn fetch_received(session: &mut ImapSession, config: &ImapConfig, uids: &[u32]) -> Result<Vec<Received>, MailboxError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uid_set(uids);
    let fetches: Vec<Fetch> = step(config, &format!("UID FETCH {set}"), config.timeouts.command, async {
        session.uid_fetch(&set, "(UID INTERNALDATE BODY.PEEK[])").await?.try_collect().await
    })
    .await?;
    let mut found: Vec<(u32, Received)> = fetches
        .iter()
        .filter_map(|fetch| {
            let data = fetch.body()?.to_vec();
            let received_at = fetch.internal_date().map(SystemTime::from).unwrap_or_else(SystemTime::now);
            let (mail_from, rcpt_to) = envelope_of(&data, config.address.as_deref());
            Some((fetch.uid.unwrap_or(0), Received::from_message(mail_from, rcpt_to, data, received_at)))
        })
        .collect();
    found.sort_by_key(|(uid, _)| *uid);
    Ok(found.into_iter().map(|(_, r)| r).collect())
}

/// Each message's UID and the values of all its Message-ID headers, trimmed.
async fn fetch_message_ids(
    session: &mut ImapSession,
    config: &ImapConfig,
    uids: &[u32],
) -> Result<Vec<(u32, Vec<String>)>, MailboxError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uid_set(uids);
    let fetches: Vec<Fetch> = step(config, &format!("UID FETCH {set}"), config.timeouts.command, async {
        session.uid_fetch(&set, "(UID BODY.PEEK[HEADER])").await?.try_collect().await
    })
    .await?;
    Ok(fetches
        .iter()
        .filter_map(|fetch| {
            let uid = fetch.uid?;
            let (headers, _) = mailparse::parse_headers(fetch.header()?).ok()?;
            let ids = headers
                .iter()
                .filter(|h| h.get_key_ref().eq_ignore_ascii_case("Message-ID"))
                .map(|h| h.get_value().trim().to_string())
                .collect();
            Some((uid, ids))
        })
        .collect())
}

/// Brings the session's view of the folder up to date (a server such as
/// Dovecot shows new messages to a search only after the session synced, at
/// the end of a command): a NOOP. The changes it reports are what this look
/// sees, so they are not news for [`ImapMailbox::wait_for_news`] any more.
async fn sync(session: &mut ImapSession, config: &ImapConfig) -> Result<(), MailboxError> {
    step(config, "NOOP", config.timeouts.command, session.noop()).await?;
    drain_changes(session);
    Ok(())
}

/// Whether the server reported a change (new or removed messages) since the
/// last look; empties the queue of unsolicited responses.
fn drain_changes(session: &mut ImapSession) -> bool {
    let mut changed = false;
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        changed |= matches!(
            response,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_) | UnsolicitedResponse::Expunge(_)
        );
    }
    changed
}

/// Envelope sender and recipients as the delivering MTA recorded them.
fn envelope_of(data: &[u8], own_address: Option<&str>) -> (String, Vec<String>) {
    let headers = mailparse::parse_headers(data).map(|(hs, _)| hs).unwrap_or_default();
    let first = |name: &str| {
        headers
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case(name))
            .map(|h| h.get_value().trim().trim_start_matches('<').trim_end_matches('>').trim().to_string())
    };
    let mail_from = first("Return-Path").unwrap_or_default();
    let rcpt = ["Delivered-To", "X-Original-To", "Envelope-to"]
        .iter()
        .find_map(|name| first(name).filter(|v| !v.is_empty()))
        .or_else(|| own_address.map(str::to_string));
    (mail_from, rcpt.into_iter().collect())
}

/// An IMAP quoted string; only printable ASCII on one line is accepted (no
/// literals, no CHARSET), which covers Message-IDs, header names and probe
/// header values.
fn quoted(text: &str) -> Result<String, MailboxError> {
    if !text.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return Err(MailboxError::InvalidSearch(text.to_string()));
    }
    Ok(format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// Whitespace runs as one space, ends trimmed: header values compare equal
/// however they were folded.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A UID set: `1,5,7`.
fn uid_set(uids: &[u32]) -> String {
    uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// An IMAP date (`5-Mar-2026`), in UTC.
fn imap_date(at: SystemTime) -> String {
    let timestamp = jiff::Timestamp::try_from(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    timestamp.to_zoned(jiff::tz::TimeZone::UTC).strftime("%-d-%b-%Y").to_string()
}

fn whole_seconds(at: SystemTime) -> SystemTime {
    let since_epoch = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    SystemTime::UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs())
}

#[cfg(test)]
mod tests {
    //! The pure parts; the protocol runs against a real Dovecot in
    //! `tests/imap.rs`.
    use super::*;

    #[test]
    fn envelope_from_the_delivering_mta() {
        /// (message, the mailbox's own address, (sender, recipients) expected)
        type Case<'a> = (&'a str, Option<&'a str>, (&'a str, &'a [&'a str]));
        let table: &[Case] = &[
            (
                "Return-Path: <list-bounces@lists.test>\r\nDelivered-To: alice@probe.test\r\nDelivered-To: old@elsewhere\r\nX-Original-To: x@y\r\n\r\nbody",
                Some("own@probe.test"),
                ("list-bounces@lists.test", &["alice@probe.test"]),
            ),
            ("Return-Path: <>\r\nX-Original-To: <bob@probe.test>\r\n\r\n", None, ("", &["bob@probe.test"])),
            ("Envelope-to: carol@probe.test\r\n\r\n", None, ("", &["carol@probe.test"])),
            ("Subject: none\r\n\r\n", Some("own@probe.test"), ("", &["own@probe.test"])),
            ("Subject: none\r\n\r\n", None, ("", &[])),
        ];
        for (message, own, (from, rcpts)) in table {
            let (got_from, got_rcpts) = envelope_of(message.as_bytes(), *own);
            assert_eq!((got_from.as_str(), got_rcpts), (*from, rcpts.iter().map(|r| r.to_string()).collect::<Vec<_>>()), "{message}");
        }
    }

    #[test]
    fn search_strings() {
        assert_eq!(quoted("<mailflow.1-a.0@probe.test>").unwrap(), "\"<mailflow.1-a.0@probe.test>\"");
        assert_eq!(quoted(r#"a "b" \c"#).unwrap(), r#""a \"b\" \\c""#);
        for bad in ["a\r\nb", "caf\u{e9}", "tab\there"] {
            assert!(matches!(quoted(bad), Err(MailboxError::InvalidSearch(_))), "{bad:?}");
        }
        assert_eq!(squeeze(" run=1;\r\n\tprobe=x  y "), "run=1; probe=x y");
        assert_eq!(uid_set(&[3, 9, 12]), "3,9,12");
    }

    #[test]
    fn dates_and_seconds() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_772_668_800_500); // 2026-03-05T00:00:00.5Z
        assert_eq!(imap_date(at), "5-Mar-2026");
        assert_eq!(whole_seconds(at), SystemTime::UNIX_EPOCH + Duration::from_secs(1_772_668_800));
    }

    #[tokio::test]
    async fn deleting_refuses_foreign_ids_before_connecting() {
        // No server at all: the ids are refused before any connection is made.
        let config = ImapConfig {
            host: "127.0.0.1".into(),
            port: 9,
            tls: ImapTls::Plain,
            verify: Verify::Off,
            user: "u".into(),
            password: SecretSource::Given(crate::secret::Secret::new("p")),
            folder: "INBOX".into(),
            address: None,
            timeouts: ImapTimeouts::default(),
        };
        let mailbox = ImapMailbox { config, offers: Offers { idle: false, uidplus: true }, session: Mutex::new(None) };
        let ids = vec!["<mailflow.1-a.0@probe.test>".to_string(), "<foreign@example.test>".to_string()];
        let err = mailbox.delete_own(&ids).await.unwrap_err();
        assert_eq!(err.to_string(), "`<foreign@example.test>` is not a mailflow probe Message-ID (<mailflow.RUN.N@domain>): nothing was deleted");
        assert_eq!(mailbox.delete_own(&[]).await.unwrap(), 0);
    }
}
