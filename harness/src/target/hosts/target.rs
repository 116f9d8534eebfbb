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
use crate::target::cutover::{self, Cutover, MailmanLayout, Permissions, QueueFolder, QueueSummary};
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
    /// What is read on the host goes through this: the ssh shell (a
    /// recording shell in tests).
    shell: Option<Arc<dyn Shell>>,
    /// `[ssh] become`: the user the prototype archive is read as (sudo).
    become_user: Option<String>,
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
        let become_user = config.ssh.as_ref().and_then(|s| s.become_user.clone());
        let shell = ssh.clone().map(|s| s as Arc<dyn Shell>);
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
        Ok(HostsTarget {
            probe_domain: probe_domain.to_string(),
            security,
            mailbox,
            rest,
            ssh,
            shell,
            become_user,
            paths,
            web,
            mailman21,
            pacer,
            notes,
            config,
        })
    }

    /// Mailman's REST API as this target reaches it (directly or through the
    /// shell), for calls the capabilities do not make (tests, provisioning checks).
    pub fn rest(&self) -> Option<&dyn RestTransport> {
        self.rest.as_ref().map(|r| r as &dyn RestTransport)
    }

    /// The Mailman 2.1 web host (admin pages, pipermail), when the file
    /// says `version = "2.1"`.
    pub fn mailman21_site(&self) -> Option<&crate::mailman21::Site> {
        self.mailman21.as_ref()
    }

    /// The ssh shell, when the file configures one and the target is not a dry run.
    pub fn ssh(&self) -> Option<&SshShell> {
        self.ssh.as_deref()
    }

    fn shell_or_unsupported(&self, capability: crate::target::Capability) -> Result<&dyn Shell, TargetError> {
        self.shell.as_deref().ok_or(TargetError::Unsupported(capability))
    }

    /// Reads through `shell` instead of ssh: what the target asks of the
    /// host, recorded and answered by a test.
    #[cfg(test)]
    pub(crate) fn with_shell(mut self, shell: Arc<dyn Shell>) -> HostsTarget {
        self.shell = Some(shell);
        self
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
        let shell = match (&self.ssh, &self.shell) {
            (Some(s), _) => format!(", shell ssh {}", s.destination()),
            (None, Some(_)) => ", a shell".to_string(),
            (None, None) => String::new(),
        };
        let mailman = match &self.config.mailman21 {
            Some(m) if self.shell.is_some() => format!(", Mailman 2.1 at {} with qfiles and logs through the shell", m.web_url),
            Some(m) => format!(", Mailman 2.1 at {}", m.web_url),
            None => String::new(),
        };
        let smtp: Vec<String> = self.config.smtp.addresses.iter().map(SocketAddr::to_string).collect();
        format!("hosts: {} (SMTP {}{shell}{mailman}, from {}){notes}", self.config.name, smtp.join(" or "), self.config.path.display())
    }
    fn probe_domain(&self) -> &str {
        &self.probe_domain
    }
    /// The first address the file lists.
    fn smtp_addr(&self) -> SocketAddr {
        self.config.smtp.addresses[0]
    }
    /// Every address the file lists, in its order: a send that cannot
    /// connect to one tries the next (IPv4 and IPv6 listed separately; a
    /// migration's old and new service address).
    fn smtp_addrs(&self) -> Vec<SocketAddr> {
        self.config.smtp.addresses.clone()
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
        (self.shell.is_some() && self.mailman21.is_none()).then_some(self as &dyn PrototypeArchive)
    }
    fn mta_log(&self) -> Option<&dyn MtaLog> {
        self.shell.as_ref().map(|_| self as &dyn MtaLog)
    }
    /// Through the shell: Mailman 3's queue folders and log, or Mailman
    /// 2.1's `qfiles/` folders and `logs/` (with `[mailman] version = "2.1"`).
    fn mailman_queues(&self) -> Option<&dyn MailmanQueues> {
        self.shell.as_ref().map(|_| self as &dyn MailmanQueues)
    }
    fn shell(&self) -> Option<&dyn Shell> {
        self.shell.as_deref()
    }
    /// Read by `expect_settings` (GETs only: the suite's settings are
    /// compared on a real host, never applied).
    fn mailman_rest(&self) -> Option<&dyn crate::mailman::RestTransport> {
        self.rest.as_ref().map(|r| r as &dyn crate::mailman::RestTransport)
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
    fn cutover(&self) -> Option<&dyn crate::target::cutover::Cutover> {
        Some(self)
    }
    fn may_fault(&self) -> bool {
        self.config.allow.faults
    }
    /// Mailman 2.1 through the shell, Mailman 3 through REST.
    fn list_index(&self) -> Option<&dyn crate::target::ListIndex> {
        crate::target::list_index::hosts_can_list(self).then_some(self as &dyn crate::target::ListIndex)
    }
    /// The file's `[faults]` commands through the shell, with `[allow]
    /// faults = true` only (see [`super::faults`]).
    fn faults(&self) -> Option<&dyn crate::target::Faults> {
        (self.config.allow.faults && self.shell.is_some()).then_some(self as &dyn crate::target::Faults)
    }
    /// exim's queue through the shell, with exim's commands as the
    /// `[faults]` table says (they need its `become`): with `[allow] faults = true` only.
    fn mta_queue(&self) -> Option<&dyn crate::target::MtaQueue> {
        (self.config.allow.faults && self.shell.is_some()).then_some(self as &dyn crate::target::MtaQueue)
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
            match &self.become_user {
                // Mailman's maildirs are its user's alone: read them as that user.
                Some(user) => through_shell::prototype_find(&through_shell::As { shell, user }, &self.paths, list_address, keys).await,
                None => through_shell::prototype_find(shell, &self.paths, list_address, keys).await,
            }
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

impl HostsTarget {
    /// Which Mailman the file describes and where its files are.
    fn mailman_layout(&self) -> Result<MailmanLayout, TargetError> {
        match (&self.config.mailman21, &self.config.mailman) {
            (Some(m), _) => Ok(MailmanLayout::TwoOne(m.paths.clone())),
            (None, Some(_)) => Ok(MailmanLayout::Three {
                var_dir: self.paths.mailman_var_dir.clone(),
                user: self.become_user.clone().unwrap_or_else(|| "list".into()),
            }),
            (None, None) => Err(TargetError::Unsupported(crate::target::Capability::MailmanQueues)),
        }
    }
}

/// Through the ssh shell; held counts through REST on Mailman 3. Holding a
/// domain needs the host's exim to read [`crate::target::cutover::HOLD_FILE`]
/// (the line in containers/lists/exim4.conf), and the runner asks only when
/// the file allows fault steps.
impl Cutover for HostsTarget {
    fn mta_queue_summary(&self) -> BoxFuture<'_, Result<QueueSummary, TargetError>> {
        Box::pin(async move { cutover::queue_summary(self.shell_or_unsupported(crate::target::Capability::Shell)?).await })
    }
    fn mailman_queue_files<'a>(&'a self, names: &'a [String]) -> BoxFuture<'a, Result<Vec<QueueFolder>, TargetError>> {
        Box::pin(async move {
            let shell = self.shell_or_unsupported(crate::target::Capability::MailmanQueues)?;
            cutover::queue_folders(shell, &self.mailman_layout()?, names).await
        })
    }
    fn held_counts(&self) -> BoxFuture<'_, Result<Vec<(String, u64)>, TargetError>> {
        Box::pin(async move {
            match (&self.config.mailman21, &self.rest) {
                (Some(m), _) => cutover::held_counts_mm21(self.shell_or_unsupported(crate::target::Capability::Shell)?, &m.paths).await,
                (None, Some(rest)) => cutover::held_counts_mm3(rest).await,
                (None, None) => Err(TargetError::Unsupported(crate::target::Capability::HeldQueue)),
            }
        })
    }
    fn permissions(&self) -> BoxFuture<'_, Result<Permissions, TargetError>> {
        Box::pin(async move {
            let shell = self.shell_or_unsupported(crate::target::Capability::Shell)?;
            cutover::permissions(shell, &self.mailman_layout()?).await
        })
    }
    fn old_smtp(&self) -> Vec<SocketAddr> {
        self.config.cutover.old_smtp.clone()
    }
    fn set_hold<'a>(&'a self, domain: &'a str, hold: bool, deadline: Duration) -> BoxFuture<'a, Result<String, TargetError>> {
        Box::pin(async move {
            if !self.config.allow.faults {
                return Err(TargetError::NotAllowed("holding mail in exim's queue (`[allow] faults = true`)".into()));
            }
            cutover::set_hold(self.shell_or_unsupported(crate::target::Capability::Shell)?, domain, hold, deadline).await
        })
    }
}

impl MailmanQueues for HostsTarget {
    /// Mailman 3: its `queue/` folders and `mailman.log`. Mailman 2.1: the
    /// `qfiles/` folders (in, shunt, bad, retry, ...) and the entries of
    /// `logs/` (vette, post, smtp, error, bounce) that name the probe's
    /// Message-IDs ([`crate::mailman21::shell::find`]).
    fn find<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<MailmanQueueFacts, TargetError>> {
        Box::pin(async move {
            let shell = self.shell_or_unsupported(crate::target::Capability::MailmanQueues)?;
            match &self.config.mailman21 {
                Some(m) => crate::mailman21::shell::find(shell, &m.paths, keys).await,
                None => through_shell::mailman_queues(shell, &self.paths, keys).await,
            }
        })
    }
    /// Mailman 3's archivers' log entries and retry spools. Mailman 2.1
    /// archives in-process with pipermail and has neither (its ArchRunner's
    /// tracebacks in `logs/error` name no Message-ID): no facts.
    fn archiver_failures<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<ArchiverFacts, TargetError>> {
        Box::pin(async move {
            let shell = self.shell_or_unsupported(crate::target::Capability::MailmanQueues)?;
            if self.config.mailman21.is_some() {
                return Ok(ArchiverFacts::default());
            }
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
    /// Mailman 3's `queue/archive` through the shell; Mailman 2.1 or no
    /// shell: cannot tell.
    fn archive_queue_empty(&self) -> BoxFuture<'_, Result<Option<bool>, TargetError>> {
        Box::pin(async move {
            let Some(shell) = self.shell.as_deref() else { return Ok(None) };
            if self.config.mailman21.is_some() {
                return Ok(None);
            }
            through_shell::archive_queue_empty(shell, &self.paths).await.map(Some)
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
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    /// A shell that keeps every argv and answers by running it here, over
    /// a folder laid out like a Mailman 2.1 server from the recordings in
    /// `../shared/fixtures/mailman21` (README.md there).
    struct Recording {
        calls: Mutex<Vec<Vec<String>>>,
    }

    impl Shell for Recording {
        fn exec<'a>(&'a self, argv: &'a [&'a str]) -> BoxFuture<'a, Result<(i64, String, String), TargetError>> {
            self.calls.lock().unwrap().push(argv.iter().map(|a| a.to_string()).collect());
            Box::pin(async move {
                let out = tokio::process::Command::new(argv[0]).args(&argv[1..]).output().await?;
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                Ok((out.status.code().unwrap_or(-1).into(), text(&out.stdout), text(&out.stderr)))
            })
        }
    }

    fn fixtures() -> PathBuf {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/mailman21");
        assert!(dir.join("README.md").is_file(), "the Mailman 2.1 recordings are missing: expected {}", dir.display());
        dir
    }

    /// The server: `logs/` are the recorded logs; `qfiles/in` holds the
    /// message the recording found there while the qrunners were stopped
    /// (its text as `show_qfiles` printed it: grep finds a Message-ID in a
    /// pickle as in this text); `qfiles/shunt` holds a probe, made here.
    fn server(root: &Path) {
        let fx = fixtures();
        for q in crate::mailman21::shell::QUEUES {
            std::fs::create_dir_all(root.join("qfiles").join(q)).unwrap();
        }
        std::fs::create_dir_all(root.join("logs")).unwrap();
        for log in ["vette", "post", "smtp", "error"] {
            std::fs::copy(fx.join("logs").join(log), root.join("logs").join(log)).unwrap();
        }
        let shown = std::fs::read_to_string(fx.join("cmd/show_qfiles-in-queue.txt")).unwrap();
        let message: String = shown.lines().skip(1).filter(|l| !l.starts_with("rc=")).map(|l| format!("{l}\n")).collect();
        std::fs::write(root.join("qfiles/in/1795945895.489035+f2732f3117bce4f0d02f7d7ce09b8a94b4d88fc6.pck"), message).unwrap();
        std::fs::write(
            root.join("qfiles/shunt/1795950000.1+0123abcd.pck"),
            "From: alice@probe.test\nMessage-ID: <mailflow.r.7@probe.test>\nSubject: shunted probe\n\nbody\n",
        )
        .unwrap();
    }

    async fn mailman21_target(root: &Path) -> HostsTarget {
        let file = format!(
            "name = \"lists.example.test (Mailman 2.1)\"\n[smtp]\naddresses = [\"192.0.2.25\"]\n\
             [mailman]\nversion = \"2.1\"\nweb_url = \"https://lists.example.test\"\n\
             qfiles_dir = \"{root}/qfiles\"\nlogs_dir = \"{root}/logs\"\n\
             [ssh]\nhost = \"lists.example.test\"\n",
            root = root.display()
        );
        let config = crate::target::hosts::parse_hosts(&root.join("mm21.toml"), &file).unwrap_or_else(|e| panic!("{e:?}"));
        // A dry run connects nothing; the recording shell stands in for ssh.
        HostsTarget::connect_with(config, "probe.test", true).await.expect("the target")
    }

    fn keys(id: &str) -> ProbeKeys {
        ProbeKeys { message_ids: vec![id.to_string()], probe_header: None }
    }

    /// With `[mailman] version = "2.1"` and a shell, Mailman's queues are
    /// Mailman 2.1's: qfiles folders and logs, filtered on the server by the
    /// probe's Message-IDs, read with the mailman21 parsers.
    #[tokio::test]
    async fn mailman21_queues_and_logs_through_the_shell() {
        let root = tempfile::tempdir().unwrap();
        server(root.path());
        let dry = mailman21_target(root.path()).await;
        assert!(dry.mailman_queues().is_none(), "no shell (a dry run): no queues");
        let shell = Arc::new(Recording { calls: Mutex::new(Vec::new()) });
        let target = dry.with_shell(shell.clone());
        assert!(target.describe().contains("Mailman 2.1 at https://lists.example.test with qfiles and logs through the shell"), "{}", target.describe());
        assert!(target.prototype_archive().is_none(), "Mailman 2.1 has no prototype archive");
        let queues = target.mailman_queues().expect("Mailman 2.1's queues through the shell");
        let qfiles = root.path().join("qfiles").display().to_string();

        // The reply held in qfiles/in while the qrunners were stopped, then posted.
        let m5 = queues.find(&keys("<m5.reply-gruesse@probe.test>")).await.unwrap();
        assert_eq!(m5.queue_files, [format!("{qfiles}/in/1795945895.489035+f2732f3117bce4f0d02f7d7ce09b8a94b4d88fc6.pck")]);
        assert_eq!(m5.queues(), ["in"]);
        assert!(!m5.shunted());
        assert_eq!(
            m5.log_lines,
            [
                "Nov 29 09:51:37 2026 (779) post to probe-test from bob@probe.test, size=1339, message-id=<m5.reply-gruesse@probe.test>, success",
                "Nov 29 09:51:37 2026 (779) <m5.reply-gruesse@probe.test> smtp to probe-test for 2 recips, completed in 0.004 seconds",
            ]
        );
        // A held post: vette's entry names it; no queue file.
        let held = queues.find(&keys("<nm1.question@example.test>")).await.unwrap();
        assert!(held.queue_files.is_empty(), "{held:?}");
        assert_eq!(
            held.log_lines,
            ["Nov 29 09:49:36 2026 (206) Probe-test post from carol@example.test held, message-id=<nm1.question@example.test>: Post by non-member to a members-only list"]
        );
        // Found nowhere: no facts, not an error.
        assert_eq!(queues.find(&keys("<mailflow.r.404@probe.test>")).await.unwrap(), MailmanQueueFacts::default());
        // A probe in the shunt queue.
        let shunted = queues.find(&keys("<mailflow.r.7@probe.test>")).await.unwrap();
        assert!(shunted.shunted(), "{shunted:?}");
        assert_eq!(shunted.queue_files, [format!("{qfiles}/shunt/1795950000.1+0123abcd.pck")]);
        // Mailman 2.1 archives in-process: no archiver facts, no REST archiving settings.
        assert_eq!(queues.archiver_failures(&keys("<m5.reply-gruesse@probe.test>")).await.unwrap(), ArchiverFacts::default());
        assert!(queues.list_archiving("probe-test.lists.example.test").await.is_err());

        // What was asked of the server: grep over the named folders and
        // logs, the id an argument after -e, never a script.
        let calls = shell.calls.lock().unwrap().clone();
        assert!(calls.iter().all(|c| c[0] == "grep"), "{calls:?}");
        let first = &calls[0];
        assert_eq!(first[..5], ["grep", "-rlsF", "-e", "<m5.reply-gruesse@probe.test>", "--"]);
        for q in ["in", "shunt", "bad", "retry"] {
            assert!(first.contains(&format!("{qfiles}/{q}")), "{first:?}");
        }
        let logs = &calls[1];
        assert_eq!(logs[..6], ["grep", "-hsF", "-A4", "-e", "<m5.reply-gruesse@probe.test>", "--"]);
        for log in ["vette", "post", "error"] {
            assert!(logs.contains(&root.path().join("logs").join(log).display().to_string()), "{logs:?}");
        }
    }

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
