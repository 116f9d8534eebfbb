//! Where the system under test is, and what can be observed of it.
//!
//! One interface, [`Target`], two kinds: containers started by the harness
//! ([`containers`]) and, later, real hosts from a target file. A target is a
//! description plus the capabilities it offers, each a small trait that
//! returns facts ([`Mailbox`], [`PrototypeArchive`], [`HeldQueue`],
//! [`MtaLog`], [`MailmanQueues`], [`Shell`], [`Reachability`]). A step that
//! needs one the target lacks is skipped with the reason, one way: a
//! skipped row naming the [`Capability`].

// The container target and its Docker side: the default `containers`
// feature (a build for real hosts only leaves out testcontainers).
#[cfg(feature = "containers")]
pub mod containers;
#[cfg(feature = "containers")]
pub mod docker;
pub mod hosts;
#[cfg(feature = "containers")]
pub mod images;
#[cfg(feature = "containers")]
mod rest_relay;
/// Connection attempts from inside a container through one long-lived exec.
#[cfg(feature = "containers")]
mod port_prober;
#[cfg(feature = "containers")]
pub mod run_ssh;
pub mod through_shell;
#[cfg(feature = "containers")]
pub mod target_file;

mod capability;
pub mod list_index;
pub mod cutover;
#[cfg(feature = "containers")]
mod container_faults;
#[cfg(feature = "containers")]
mod container_cutover;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

pub use capability::{Faults, HeldQueue, ListIndex, Mailbox, MailmanQueues, MtaLog, MtaQueue, PipermailArchive, PrototypeArchive, Reachability, Shell};
pub use crate::BoxFuture;

use crate::http::WebEndpoint;
use crate::reach::Attempt;
use crate::web::Web;

/// Something a step may need from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Where the list's deliveries to its subscribers are read (sink, IMAP).
    Mailbox,
    /// Mailman's prototype archiver maildir, read on the server.
    PrototypeArchive,
    /// The MTA's log (exim's mainlog), filtered on the server, for diagnosis.
    MtaLog,
    /// Mailman's held queue: list held messages and moderate them.
    HeldQueue,
    /// Mailman's queue folders (shunt, bad, retry, ...) and its log.
    MailmanQueues,
    /// A shell on the list server (docker exec, ssh).
    Shell,
    /// Reachability checks from vantage points.
    Reachability,
    /// The list server's web side over HTTP: HyperKitty's archive and Postorius' pages.
    Web,
    /// Mailman 2.1's pipermail archive over HTTP.
    Pipermail,
    /// Fault steps: stop and start services, force a queue run.
    Faults,
    /// The MTA's queue, read on the server.
    MtaQueue,
    /// Every list the server holds (Mailman 3's REST API, Mailman 2.1's shell).
    ListIndex,
    /// The cutover steps' facts (queues, held counts, permissions, the old
    /// host) and the hold switch.
    Cutover,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Mailbox => "a mailbox for the list's deliveries",
            Capability::PrototypeArchive => "read access to Mailman's prototype archive",
            Capability::MtaLog => "read access to the MTA's log",
            Capability::HeldQueue => "access to Mailman's held queue",
            Capability::MailmanQueues => "read access to Mailman's queues and log",
            Capability::Shell => "a shell on the list server",
            Capability::Reachability => "reachability checks from vantage points",
            Capability::Faults => "fault steps (stopping services, forcing a queue run)",
            Capability::MtaQueue => "read access to the MTA's queue",
            Capability::ListIndex => "a way to read every list of the server (Mailman 3's REST API, or Mailman 2.1's `bin/list_lists` through a shell)",
            Capability::Cutover => "cutover checks (the MTA's and Mailman's queues, held counts, permissions, the old host)",
            Capability::Web => "web side (HyperKitty and Postorius over HTTP; the container target starts it with MAILFLOW_WEB=1)",
            Capability::Pipermail => "Mailman 2.1 pipermail archive (a hosts target with `[mailman] version = \"2.1\"`)",
        })
    }
}

/// Errors from a target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("this target offers no {0}")]
    Unsupported(Capability),
    /// The target file does not allow this change (read-only by default).
    #[error("the target file does not allow {0}")]
    NotAllowed(String),
    #[error("Docker: {0}")]
    Docker(String),
    #[error("building image {image}: {message}")]
    ImageBuild { image: String, message: String },
    #[error("the lists container did not start: {0}")]
    Start(String),
    #[error("command on the list server failed: {0}")]
    Exec(String),
    /// The ssh shell of a hosts target: connecting, host keys, a command's deadline.
    #[error(transparent)]
    Ssh(#[from] hosts::SshError),
    #[error(transparent)]
    Rest(#[from] crate::mailman::RestError),
    #[error("Mailman 2.1: {0}")]
    Mailman21(#[from] crate::mailman21::Mm21Error),
    /// The suite asks for something the server refuses (a list setting):
    /// `file:line:col: ...` of the suite file.
    #[error("{0}")]
    Suite(String),
    #[error("{what} did not answer within {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("this target offers no vantage point `{wanted}` (it offers {offered})")]
    NoVantage { wanted: String, offered: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl TargetError {
    /// An answer that may be different on the next try (a 5xx from
    /// Mailman's REST API): waits look again instead of failing.
    pub fn is_transient(&self) -> bool {
        match self {
            TargetError::Rest(e) => e.is_server_error(),
            TargetError::Mailman21(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// The vantage point every target offers: the machine mailflow runs on.
pub const OUTSIDE: &str = "outside";

/// A copy of a probe found in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedCopy {
    /// Where it was found (a path on the server or a URL).
    pub location: String,
    /// The Message-ID the archive holds it under, when it was found by
    /// its probe header (it may differ from the one sent).
    pub message_id: Option<String>,
}

/// What Mailman's archivers logged and kept about a probe (diagnosis of
/// "delivered but not archived").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiverFacts {
    /// Log entries (a line and its continuation lines) of the archivers
    /// about the probe, oldest first: `Could not archive the message with
    /// id ...`, each with the entry its process logged just before (the
    /// failure: `HyperKitty failure on <url>: <answer> (<status>)`).
    pub log_entries: Vec<String>,
    /// Retry spool files holding the probe, e.g.
    /// `/var/lib/mailman3/archives/hyperkitty/spool/1795952508.2+50363b.pck`.
    pub spool_files: Vec<String>,
    /// How many times HyperKitty answered an archiving of the probe with an
    /// HTTP error ([`crate::mailman::archiver::refusals`]): 2 or more means
    /// a retry from the spool was refused again, so the message itself is
    /// what HyperKitty refuses.
    pub refusals: usize,
}

/// A list's archiving settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListArchiving {
    /// Each archiver the site offers and whether it is on for the list.
    pub archivers: Vec<(String, bool)>,
    /// `archive_policy`: `public`, `private` or `never`.
    pub policy: Option<String>,
}

/// Where a message was found among Mailman's queues (for diagnosis and
/// `expect_shunted`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailmanQueueFacts {
    /// Queue files that contain the Message-ID, e.g.
    /// `/var/lib/mailman3/queue/shunt/1700000000.1+abc.pck`.
    pub queue_files: Vec<String>,
    /// Lines of Mailman's log that mention the message (or, for a shunt,
    /// the lines that say so).
    pub log_lines: Vec<String>,
}

impl MailmanQueueFacts {
    /// The queue folders the message is in (`shunt`, `bad`, `in`, ...).
    pub fn queues(&self) -> Vec<&str> {
        let mut queues: Vec<&str> = self
            .queue_files
            .iter()
            .filter_map(|f| f.rsplit('/').nth(1))
            .collect();
        queues.dedup();
        queues
    }
    pub fn shunted(&self) -> bool {
        self.queues().contains(&"shunt")
    }
}

/// The system under test as the runner sees it: what it is, where its MTA
/// listens, and the capabilities it offers (`None`: not offered).
pub trait Target: Send + Sync {
    /// One line for reports: which target, where.
    fn describe(&self) -> String;
    /// The domain whose mail reaches the mailbox; probe senders live there.
    fn probe_domain(&self) -> &str;
    /// The MTA's SMTP listener.
    fn smtp_addr(&self) -> SocketAddr;
    /// Every address the MTA answers on, in the order a send tries them
    /// (on to the next only when no connection could be made); the first
    /// is [`Target::smtp_addr`].
    fn smtp_addrs(&self) -> Vec<SocketAddr> {
        vec![self.smtp_addr()]
    }
    /// STARTTLS and AUTH for probes; `None`: plain SMTP (the container target).
    fn smtp_security(&self) -> Option<&crate::smtp::Security> {
        None
    }
    /// Where subscribers' copies (and notices, and bounces) are read.
    fn mailbox(&self) -> Option<&dyn Mailbox> {
        None
    }
    /// Mailman's prototype archiver's maildir.
    fn prototype_archive(&self) -> Option<&dyn PrototypeArchive> {
        None
    }
    /// Mailman 2.1's pipermail archive.
    fn pipermail(&self) -> Option<&dyn PipermailArchive> {
        None
    }
    /// Mailman's held queue.
    fn held_queue(&self) -> Option<&dyn HeldQueue> {
        None
    }
    /// The MTA's log, filtered on the server.
    fn mta_log(&self) -> Option<&dyn MtaLog> {
        None
    }
    /// Mailman's queue folders and log.
    fn mailman_queues(&self) -> Option<&dyn MailmanQueues> {
        None
    }
    /// A shell on the list server.
    fn shell(&self) -> Option<&dyn Shell> {
        None
    }
    /// Reachability checks from vantage points.
    fn reachability(&self) -> Option<&dyn Reachability> {
        None
    }
    /// The web side (HyperKitty, Postorius) over HTTP, when the target has one.
    fn web(&self) -> Option<&Web> {
        None
    }
    /// The DNS server `expect_dns` asks when its step names none.
    fn dns_server(&self) -> Option<SocketAddr> {
        None
    }
    /// The lists host's web server for `expect_http`, when the target has one to check.
    fn http_endpoint(&self) -> Option<&WebEndpoint> {
        None
    }
    /// Whether the harness may act on held messages (its own probes only,
    /// always). Containers: yes. Hosts: only when the target file allows it.
    fn may_moderate(&self) -> bool {
        true
    }
    /// A logged-in web session for the account of `address` (a list
    /// member), as a `Cookie` header value (`sessionid=...`): the container
    /// target creates the account and its session in Django for the run.
    /// `None`: this target cannot log in as a member.
    fn web_session<'a>(&'a self, _address: &'a str) -> Option<BoxFuture<'a, Result<String, TargetError>>> {
        None
    }
    /// Mailman's REST API, for reading list settings (`expect_settings`).
    fn mailman_rest(&self) -> Option<&dyn crate::mailman::RestTransport> {
        None
    }
    /// Whether `expect_digest` may send a list's digest now (to every
    /// digest member): the container target, never a read-only host.
    fn may_send_digests(&self) -> bool {
        false
    }
    /// Fault steps: stopping services, forcing a queue run, the sink's answers.
    fn faults(&self) -> Option<&dyn Faults> {
        None
    }
    /// Whether fault steps may run here. Containers: yes. Hosts: only when
    /// the target file says `[allow] faults = true`.
    fn may_fault(&self) -> bool {
        true
    }
    /// The MTA's queue, read on the server.
    fn mta_queue(&self) -> Option<&dyn MtaQueue> {
        None
    }
    /// Every list the server holds.
    fn list_index(&self) -> Option<&dyn ListIndex> {
        None
    }
    /// The cutover steps' facts and the hold switch ([`cutover::Cutover`]).
    fn cutover(&self) -> Option<&dyn cutover::Cutover> {
        None
    }
    /// Spaces probes to this host (hosts targets); `None` sends at once.
    fn pacer(&self) -> Option<&crate::smtp::Pacer> {
        None
    }
}

/// One reachability attempt, with the address that was tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAttempt {
    pub attempt: Attempt,
    /// The address tried, as the vantage point sees the lists host.
    pub addr: SocketAddr,
}
