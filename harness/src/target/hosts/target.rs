//! The hosts target: a real list server as a target file describes it.
//! It offers what the file configures and nothing else: SMTP (with
//! STARTTLS and AUTH as asked), the IMAP mailbox, Mailman's held queue over
//! REST (reached directly, or with curl on the host through the shell),
//! HyperKitty over HTTP, reachability from this machine, and the file's
//! probe pace; with `[ssh]`, a shell on the host and what is read through
//! it (exim's log, Mailman's queues and prototype archive; see
//! [`crate::target::through_shell`]). Read-only unless `[allow]` says
//! otherwise: moderation of the run's own probes needs `moderate = true`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::config::{HostsConfig, MailboxConfig, RestReach};
use super::ssh::SshShell;
use crate::exim;
use crate::mailbox::{ImapMailbox, MailboxError};
use crate::mailman::{Decision, HeldMessage, HttpRest, MailmanRest, OwnHeld, RestError, RestResponse, RestTransport};
use crate::scenario::Protocol;
use crate::probe::ProbeKeys;
use crate::secret::Secret;
use crate::sink::Received;
use crate::smtp::{Credentials, Pacer, Security, StartTls};
use crate::target::through_shell::{self, ServerPaths};
use crate::target::{ArchiverFacts, ListArchiving, 
    ArchivedCopy, HeldQueue, Mailbox, MailmanQueueFacts, MailmanQueues, MtaLog, PortAttempt, PrototypeArchive, Reachability,
    Shell, Target, TargetError, OUTSIDE,
};
use crate::tls::Verify;
use crate::web::Web;
use crate::BoxFuture;

/// A list server reached as the target file says.
pub struct HostsTarget {
    config: HostsConfig,
    probe_domain: String,
    security: Option<Security>,
    mailbox: Option<ImapBox>,
    rest: Option<Rest>,
    /// The shell on the host, when the file has `[ssh]` (not in a dry run).
    ssh: Option<Arc<SshShell>>,
    /// Where the shell finds exim's log and Mailman's folders.
    paths: ServerPaths,
    web: Option<Web>,
    /// Mailman 2.1's web host (admindb, pipermail), when the file says `version = "2.1"`.
    mailman21: Option<crate::mailman21::Site>,
    pacer: Pacer,
    /// Why a configured part is not offered (REST through a shell, ...),
    /// for the description.
    notes: Vec<String>,
}

/// Each REST call and web request gives up after this long.
const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

impl HostsTarget {
    /// Reads the secrets the file names, prepares TLS, logs in to the IMAP
    /// mailbox and opens the ssh connection. Nothing is sent to the list
    /// server yet. An ssh host key that is unknown or changed stops here
    /// ([`TargetError::Ssh`]).
    pub async fn connect(config: HostsConfig, probe_domain: &str) -> Result<HostsTarget, TargetError> {
        HostsTarget::connect_with(config, probe_domain, false).await
    }

    /// [`HostsTarget::connect`]; with `dry_run` nothing is connected to (no
    /// IMAP login, no ssh): the target can then only describe what a run would do.
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
        let notes = Vec::new();
        let ssh = match &config.ssh {
            Some(ssh) if !dry_run => Some(Arc::new(SshShell::connect(ssh).await?)),
            _ => None,
        };
        let paths = config.ssh.as_ref().map(|s| s.paths.clone()).unwrap_or_default();
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
                Some(Rest::Direct(HttpRest::new(&m.rest_url, &m.user, password.expose(), client)))
            }
            Some(m) => match &ssh {
                Some(shell) => {
                    let password = m.password.read().map_err(|e| start(format!("Mailman REST password: {e}")))?;
                    let insecure = match &m.verify {
                        Verify::SystemRoots => false,
                        Verify::Off => true,
                        Verify::CaFile(path) => {
                            return Err(start(format!(
                                "`mailman.ca_file` ({}) is a file on this machine, but through the shell curl runs on the \
                                 host with the host's CA certificates; leave it out (or set `verify = false`)",
                                path.display()
                            )))
                        }
                    };
                    Some(Rest::Shell(ShellRest {
                        shell: shell.clone(),
                        base: m.rest_url.trim_end_matches('/').to_string(),
                        user: m.user.clone(),
                        password,
                        insecure,
                    }))
                }
                // A dry run connects to nothing: the REST calls it would make are described, not made.
                None => None,
            },
            None => None,
        };
        let mut web = config.web.as_ref().map(|w| Web::new(w.hyperkitty_url.trim_end_matches('/').trim_end_matches("/hyperkitty")));
        let mailman21 = match &config.mailman21 {
            Some(m) => {
                let site = mailman21_site(m).map_err(start)?;
                // listinfo and pipermail-index pages, through the same pinned client.
                let client = site.session().map_err(|e| start(e.to_string()))?.client().clone();
                web = Some(Web::mailman21(&m.web_url, client, &m.cgi_path, &m.pipermail_path));
                Some(site)
            }
            None => None,
        };
        let mailbox = match &config.mailbox {
            Some(MailboxConfig::Imap(_)) if dry_run => None,
            Some(MailboxConfig::Imap(imap)) => {
                let mb = ImapMailbox::connect(imap.clone()).await.map_err(|e| start(format!("IMAP mailbox: {e}")))?;
                Some(ImapBox(mb))
            }
            None => None,
        };
        let pacer = Pacer::per_minute(config.limits.probes_per_minute);
        Ok(HostsTarget { probe_domain: probe_domain.to_string(), security, mailbox, rest, ssh, paths, web, mailman21, pacer, notes, config })
    }

    /// Mailman's REST API as this target reaches it (directly or through the
    /// shell), for calls the capabilities do not make (tests, provisioning checks).
    pub fn rest(&self) -> Option<&dyn RestTransport> {
        self.rest.as_ref().map(|r| r as &dyn RestTransport)
    }

    /// The ssh shell, when the file configures one and the target is not a dry run.
    pub fn ssh(&self) -> Option<&SshShell> {
        self.ssh.as_deref()
    }

    fn shell_or_unsupported(&self, capability: crate::target::Capability) -> Result<&SshShell, TargetError> {
        self.ssh.as_deref().ok_or(TargetError::Unsupported(capability))
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

/// The Mailman 2.1 site of the file, its secrets read now.
fn mailman21_site(m: &crate::target::hosts::Mailman21Config) -> Result<crate::mailman21::Site, String> {
    let read = |what: &str, source: &crate::secret::SecretSource| source.read().map_err(|e| format!("Mailman 2.1 {what}: {e}"));
    let mut lists = Vec::new();
    for list in &m.lists {
        let admin_password = match &list.password {
            Some(source) => Some(read(&format!("password of list {}", list.name), source)?),
            None => None,
        };
        let archive_login = match &list.archive_login {
            Some((user, source)) => Some((user.clone(), read(&format!("archive password of list {}", list.name), source)?)),
            None => None,
        };
        lists.push(crate::mailman21::ListAccess { name: list.name.clone(), admin_password, archive_login });
    }
    let site_password = match &m.site_password {
        Some(source) => Some(read("site password", source)?),
        None => None,
    };
    crate::mailman21::Site::new(crate::mailman21::SiteConfig {
        web_url: m.web_url.clone(),
        cgi_path: m.cgi_path.clone(),
        pipermail_path: m.pipermail_path.clone(),
        address: m.address,
        verify: m.verify.clone(),
        site_password,
        lists,
        timeout: HTTP_TIMEOUT,
    })
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
        let shell = self.ssh.as_ref().map(|s| format!(", shell ssh {}", s.destination())).unwrap_or_default();
        format!("hosts: {} (SMTP {}{shell}, from {}){notes}", self.config.name, self.smtp_addr(), self.config.path.display())
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
        (self.rest.is_some() || self.mailman21.is_some()).then_some(self as &dyn HeldQueue)
    }
    fn pipermail(&self) -> Option<&dyn crate::target::PipermailArchive> {
        self.mailman21.as_ref().map(|site| site as &dyn crate::target::PipermailArchive)
    }
    /// Mailman 3's prototype maildir, through the shell; not on Mailman 2.1.
    fn prototype_archive(&self) -> Option<&dyn PrototypeArchive> {
        (self.ssh.is_some() && self.mailman21.is_none()).then_some(self as &dyn PrototypeArchive)
    }
    fn mta_log(&self) -> Option<&dyn MtaLog> {
        self.ssh.as_ref().map(|_| self as &dyn MtaLog)
    }
    /// Mailman 3's queue folders and log, through the shell; Mailman 2.1's
    /// (`qfiles/`, `logs/`) are not wired to this capability yet.
    fn mailman_queues(&self) -> Option<&dyn MailmanQueues> {
        (self.ssh.is_some() && self.mailman21.is_none()).then_some(self as &dyn MailmanQueues)
    }
    fn shell(&self) -> Option<&dyn Shell> {
        self.ssh.as_deref().map(|s| s as &dyn Shell)
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
            if let Some(site) = &self.mailman21 {
                return Ok(site.held(list_id).await?.into_iter().map(HeldMessage::from).collect());
            }
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
            if let Some(site) = &self.mailman21 {
                return Ok(site.moderate(held, decision).await?);
            }
            let rest = self.rest.as_ref().ok_or(TargetError::Unsupported(crate::target::Capability::HeldQueue))?;
            Ok(MailmanRest::new(rest).moderate(held, decision).await?)
        })
    }
}

impl PrototypeArchive for HostsTarget {
    fn find<'a>(&'a self, list_address: &'a str, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<Option<ArchivedCopy>, TargetError>> {
        Box::pin(async move {
            let shell = self.shell_or_unsupported(crate::target::Capability::PrototypeArchive)?;
            through_shell::prototype_find(shell, &self.paths, list_address, keys).await
        })
    }
}

impl MtaLog for HostsTarget {
    /// `exigrep` on the host's mainlog through ssh: only the probe's lines come back.
    fn trace<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<exim::Trace, TargetError>> {
        Box::pin(async move {
            let shell = self.shell_or_unsupported(crate::target::Capability::MtaLog)?;
            through_shell::mta_trace(shell, &self.paths, keys).await
        })
    }
}

impl MailmanQueues for HostsTarget {
    fn find<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<MailmanQueueFacts, TargetError>> {
        Box::pin(async move {
            let shell = self.shell_or_unsupported(crate::target::Capability::MailmanQueues)?;
            through_shell::mailman_queues(shell, &self.paths, keys).await
        })
    }
    fn archiver_failures<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<ArchiverFacts, TargetError>> {
        Box::pin(async move {
            let shell = self.shell_or_unsupported(crate::target::Capability::MailmanQueues)?;
            through_shell::archiver_failures(shell, &self.paths, keys).await
        })
    }
    /// Through Mailman's REST API, when the file gives one.
    fn list_archiving<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<ListArchiving, TargetError>> {
        Box::pin(async move {
            let rest = self.rest.as_ref().ok_or(TargetError::Unsupported(crate::target::Capability::MailmanQueues))?;
            let (archivers, policy) = MailmanRest::new(rest).archiving(list_id).await?;
            Ok(ListArchiving { archivers, policy })
        })
    }
}

/// How Mailman's REST API is reached.
enum Rest {
    Direct(HttpRest),
    Shell(ShellRest),
}

impl RestTransport for Rest {
    fn call<'a>(&'a self, method: &'a str, path: &'a str, form: &'a [(&'a str, String)]) -> BoxFuture<'a, Result<RestResponse, RestError>> {
        match self {
            Rest::Direct(http) => http.call(method, path, form),
            Rest::Shell(shell) => shell.call(method, path, form),
        }
    }
}

/// Mailman's REST API called with curl on the host, through the ssh shell:
/// the API listens on the host's loopback. The credentials reach curl as a
/// config file on its stdin (`-K -`), so they are in no argv (`ps` on
/// either machine) and in no output.
struct ShellRest {
    shell: Arc<SshShell>,
    /// `rest_url` without a trailing `/`, as the host sees it.
    base: String,
    user: String,
    password: Secret,
    /// `verify = false` for an https `rest_url`.
    insecure: bool,
}

/// Each call gives up after this long on the host (curl's `--max-time`).
const CURL_MAX_TIME_SECS: u32 = 20;

impl ShellRest {
    /// curl's arguments for one call; no credentials among them (see [`curl_user_line`]).
    fn argv(&self, method: &str, path: &str, form: &[(&str, String)]) -> Vec<String> {
        curl_argv(&self.base, self.insecure, method, path, form)
    }
}

/// curl's arguments for one call to `base` + `path`: the config (with the
/// credentials) read from stdin, the status code on a last line of its own.
fn curl_argv(base: &str, insecure: bool, method: &str, path: &str, form: &[(&str, String)]) -> Vec<String> {
    let max_time = CURL_MAX_TIME_SECS.to_string();
    let mut argv: Vec<String> =
        ["curl", "-sS", "--max-time", &max_time, "-K", "-", "-w", r"\n%{http_code}", "-X", method].map(String::from).to_vec();
    if insecure {
        argv.push("--insecure".into());
    }
    for (k, v) in form {
        argv.push("--data-urlencode".into());
        argv.push(format!("{k}={v}"));
    }
    argv.push(format!("{base}{path}"));
    argv
}

/// The curl config line that carries the credentials (curl's quoted-string
/// escapes for `\`, `"` and line ends).
fn curl_user_line(user: &str, password: &Secret) -> String {
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\r', "\\r");
    format!("user = \"{}:{}\"\n", quote(user), quote(password.expose()))
}

impl RestTransport for ShellRest {
    fn call<'a>(&'a self, method: &'a str, path: &'a str, form: &'a [(&'a str, String)]) -> BoxFuture<'a, Result<RestResponse, RestError>> {
        Box::pin(async move {
            let failed = |message: String| RestError { method: method.into(), path: path.into(), message };
            let argv = self.argv(method, path, form);
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            let input = curl_user_line(&self.user, &self.password);
            let (code, out, err) = self.shell.exec_with_input(&args, input.as_bytes()).await.map_err(|e| failed(e.to_string()))?;
            if code != 0 {
                return Err(failed(format!("curl on the host exited {code}: {}", err.trim())));
            }
            let (body, status) = out.rsplit_once('\n').unwrap_or(("", out.as_str()));
            let status = status.trim().parse().map_err(|_| failed("no HTTP status in curl's output".to_string()))?;
            Ok(RestResponse { status, body: body.to_string() })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_password_goes_to_curl_on_stdin_quoted_never_in_argv() {
        let password = Secret::new(r#"pa"ss\wo:rd"#);
        assert_eq!(curl_user_line("restadmin", &password), "user = \"restadmin:pa\\\"ss\\\\wo:rd\"\n");
        let argv = curl_argv("http://127.0.0.1:8001", false, "POST", "/3.1/lists/l.d/held/7", &[("action", "discard".into())]);
        assert_eq!(
            argv,
            [
                "curl", "-sS", "--max-time", "20", "-K", "-", "-w", r"\n%{http_code}", "-X", "POST", "--data-urlencode", "action=discard",
                "http://127.0.0.1:8001/3.1/lists/l.d/held/7"
            ]
        );
    }
}
