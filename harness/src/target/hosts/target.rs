//! The hosts target: a real list server as a target file describes it.
//! It offers what the file configures and nothing else: SMTP (with
//! STARTTLS and AUTH as asked), the IMAP mailbox, Mailman's held queue over
//! REST reached directly, HyperKitty over HTTP, reachability from this
//! machine, and the file's probe pace. Read-only unless `[allow]` says
//! otherwise: moderation of the run's own probes needs `moderate = true`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::config::{HostsConfig, MailboxConfig, RestReach};
use crate::mailbox::{ImapMailbox, MailboxError};
use crate::mailman::{Decision, HeldMessage, HttpRest, MailmanRest, OwnHeld};
use crate::scenario::Protocol;
use crate::sink::Received;
use crate::smtp::{Credentials, Pacer, Security, StartTls};
use crate::target::{HeldQueue, Mailbox, PortAttempt, Reachability, Target, TargetError, OUTSIDE};
use crate::web::Web;
use crate::BoxFuture;

/// A list server reached as the target file says.
pub struct HostsTarget {
    config: HostsConfig,
    probe_domain: String,
    security: Option<Security>,
    mailbox: Option<ImapBox>,
    rest: Option<HttpRest>,
    web: Option<Web>,
    pacer: Pacer,
    /// Why a configured part is not offered (REST through a shell, ...),
    /// for the description.
    notes: Vec<String>,
}

/// Each REST call and web request gives up after this long.
const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

impl HostsTarget {
    /// Reads the secrets the file names, prepares TLS, and logs in to the
    /// IMAP mailbox. Nothing is sent to the list server yet.
    pub async fn connect(config: HostsConfig, probe_domain: &str) -> Result<HostsTarget, TargetError> {
        HostsTarget::connect_with(config, probe_domain, false).await
    }

    /// [`HostsTarget::connect`]; with `dry_run` nothing is connected to (no
    /// IMAP login): the target can then only describe what a run would do.
    pub async fn connect_with(config: HostsConfig, probe_domain: &str, dry_run: bool) -> Result<HostsTarget, TargetError> {
        let start = |m: String| TargetError::Start(format!("{}: {m}", config.path.display()));
        let smtp = &config.smtp;
        let security = if smtp.starttls == StartTls::Off && smtp.auth.is_none() {
            None
        } else {
            let tls = match smtp.starttls {
                StartTls::Off => None,
                _ => Some(crate::tls::client_config(&smtp.verify).map_err(|e| start(format!("SMTP TLS: {e}")))?),
            };
            let auth = match &smtp.auth {
                Some(a) => Some(Credentials {
                    user: a.user.clone(),
                    password: a.password.read().map_err(|e| start(format!("SMTP AUTH password: {e}")))?.expose().to_string(),
                }),
                None => None,
            };
            Some(Security { starttls: smtp.starttls, tls, server_name: config.name.clone(), auth })
        };
        let mut notes = Vec::new();
        let rest = match &config.mailman {
            Some(m) if m.reach == RestReach::Direct => {
                let password = m.password.read().map_err(|e| start(format!("Mailman REST password: {e}")))?;
                // The REST URL is usually plain HTTP on a tunnel's loopback;
                // https is checked as the file's `verify` says.
                let client = if m.rest_url.starts_with("https:") {
                    let tls = crate::tls::client_config(&m.verify).map_err(|e| start(format!("REST TLS: {e}")))?;
                    reqwest::Client::builder()
                        .tls_backend_preconfigured((*tls).clone())
                        .no_proxy()
                        .timeout(HTTP_TIMEOUT)
                        .build()
                        .map_err(|e| start(format!("REST client: {e}")))?
                } else {
                    // Plain HTTP: no certificate is in play.
                    crate::http::api_client(&crate::http::TlsTrust::Off, HTTP_TIMEOUT).map_err(start)?
                };
                Some(HttpRest::new(&m.rest_url, &m.user, password.expose(), client))
            }
            Some(_) => {
                notes.push("Mailman's REST API through the shell is not available yet: held-queue steps are skipped".into());
                None
            }
            None => None,
        };
        let web = config.web.as_ref().map(|w| Web::new(w.hyperkitty_url.trim_end_matches('/').trim_end_matches("/hyperkitty")));
        let mailbox = match &config.mailbox {
            Some(MailboxConfig::Imap(_)) if dry_run => None,
            Some(MailboxConfig::Imap(imap)) => {
                let mb = ImapMailbox::connect(imap.clone()).await.map_err(|e| start(format!("IMAP mailbox: {e}")))?;
                Some(ImapBox(mb))
            }
            None => None,
        };
        let pacer = Pacer::per_minute(config.limits.probes_per_minute);
        Ok(HostsTarget { probe_domain: probe_domain.to_string(), security, mailbox, rest, web, pacer, notes, config })
    }

    /// The file the target came from.
    pub fn config(&self) -> &HostsConfig {
        &self.config
    }

    /// Deletes this run's probes from the IMAP mailbox (and nothing else);
    /// how many were deleted. `ids` are the run's probe Message-IDs.
    pub async fn delete_own_probes(&self, ids: &[String]) -> Result<usize, TargetError> {
        match &self.mailbox {
            Some(mb) if !ids.is_empty() => mb.0.delete_own(ids).await.map_err(imap_error),
            _ => Ok(0),
        }
    }
}

fn imap_error(e: MailboxError) -> TargetError {
    TargetError::Exec(format!("IMAP mailbox: {e}"))
}

/// The IMAP mailbox as the runner's [`Mailbox`] capability. It is polled
/// (no arrival channel): `within`'s backoff decides how often it is searched.
struct ImapBox(ImapMailbox);

impl Mailbox for ImapBox {
    fn copies<'a>(&'a self, message_id: &'a str) -> BoxFuture<'a, Result<Vec<Arc<Received>>, TargetError>> {
        Box::pin(async move { Ok(self.0.find(message_id, None).await.map_err(imap_error)?.into_iter().map(Arc::new).collect()) })
    }
    /// An IMAP `SEARCH HEADER` on the probe header, compared again here with
    /// white space folded.
    fn copies_by_probe_header<'a>(&'a self, header_value: &'a str) -> BoxFuture<'a, Result<Vec<Arc<Received>>, TargetError>> {
        Box::pin(async move {
            let found = self.0.find("", Some((crate::probe::PROBE_HEADER, header_value))).await.map_err(imap_error)?;
            Ok(found.into_iter().map(Arc::new).collect())
        })
    }
    fn received_by<'a>(&'a self, address: &'a str, since: SystemTime) -> BoxFuture<'a, Result<Vec<Arc<Received>>, TargetError>> {
        Box::pin(async move { Ok(self.0.messages_to(address, since).await.map_err(imap_error)?.into_iter().map(Arc::new).collect()) })
    }
    fn arrivals(&self) -> Option<watch::Receiver<u64>> {
        None
    }
}

impl Target for HostsTarget {
    fn describe(&self) -> String {
        let notes = if self.notes.is_empty() { String::new() } else { format!("; {}", self.notes.join("; ")) };
        format!("hosts: {} (SMTP {}, from {}){notes}", self.config.name, self.smtp_addr(), self.config.path.display())
    }
    fn probe_domain(&self) -> &str {
        &self.probe_domain
    }
    /// The first address the file lists.
    fn smtp_addr(&self) -> SocketAddr {
        self.config.smtp.addresses[0]
    }
    fn smtp_security(&self) -> Option<&Security> {
        self.security.as_ref()
    }
    fn mailbox(&self) -> Option<&dyn Mailbox> {
        self.mailbox.as_ref().map(|m| m as &dyn Mailbox)
    }
    fn held_queue(&self) -> Option<&dyn HeldQueue> {
        self.rest.as_ref().map(|_| self as &dyn HeldQueue)
    }
    fn reachability(&self) -> Option<&dyn Reachability> {
        Some(self)
    }
    fn web(&self) -> Option<&Web> {
        self.web.as_ref()
    }
    fn may_moderate(&self) -> bool {
        self.config.allow.moderate
    }
    /// Fault steps need `[allow] faults = true`, and a shell on the host.
    fn may_fault(&self) -> bool {
        self.config.allow.faults
    }
    fn pacer(&self) -> Option<&Pacer> {
        Some(&self.pacer)
    }
}

impl HeldQueue for HostsTarget {
    fn held<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<Vec<HeldMessage>, TargetError>> {
        Box::pin(async move {
            let rest = self.rest.as_ref().ok_or(TargetError::Unsupported(crate::target::Capability::HeldQueue))?;
            Ok(MailmanRest::new(rest).held(list_id).await?)
        })
    }
    fn moderate<'a>(&'a self, held: &'a OwnHeld, decision: &'a Decision) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            // Second guard behind the runner's: a read-only target never acts.
            if !self.config.allow.moderate {
                return Err(TargetError::NotAllowed("moderation".into()));
            }
            let rest = self.rest.as_ref().ok_or(TargetError::Unsupported(crate::target::Capability::HeldQueue))?;
            Ok(MailmanRest::new(rest).moderate(held, decision).await?)
        })
    }
}

impl Reachability for HostsTarget {
    /// Only this machine: a hosts target has no vantage containers.
    fn vantages(&self) -> Vec<String> {
        vec![OUTSIDE.to_string()]
    }
    fn try_port<'a>(&'a self, vantage: &'a str, protocol: Protocol, port: u16, deadline: Duration) -> BoxFuture<'a, Result<PortAttempt, TargetError>> {
        Box::pin(async move {
            match protocol {
                Protocol::Tcp => {}
            }
            if vantage != OUTSIDE {
                return Err(TargetError::NoVantage { wanted: vantage.to_string(), offered: OUTSIDE.to_string() });
            }
            let addr = SocketAddr::new(self.smtp_addr().ip(), port);
            let attempt = crate::reach::tcp_from_here(addr, deadline)
                .await
                .map_err(|e| TargetError::Exec(format!("connecting to {addr} from here: {e}")))?;
            Ok(PortAttempt { attempt, addr })
        })
    }
}
