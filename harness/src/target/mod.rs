//! Where the system under test is, and what can be observed of it.
//!
//! One interface, [`Target`], two kinds: containers started by the harness
//! ([`containers`]) and, later, real hosts from a target file. A target offers
//! capabilities; a step that needs one the target lacks is reported as
//! skipped with the reason, never as passed.

pub mod containers;
pub mod docker;
pub mod images;
mod rest_relay;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use crate::http::WebEndpoint;
use crate::mailman::{Decision, HeldMessage, OwnHeld};
use crate::reach::Attempt;
use crate::scenario::Protocol;
use crate::sink::Sink;
use crate::web::Web;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something a step may need from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// The sink that receives the list's deliveries to its subscribers.
    Sink,
    /// Mailman's prototype archiver maildir, read on the server.
    PrototypeArchive,
    /// Exim's mainlog, for diagnosis.
    EximLog,
    /// Mailman's held queue: list held messages and moderate them.
    HeldQueue,
    /// Mailman's queue folders (shunt, bad, retry, ...) and its log.
    MailmanQueues,
    /// The list server's web side over HTTP: HyperKitty's archive and Postorius' pages.
    Web,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Sink => "a sink for the list's deliveries",
            Capability::PrototypeArchive => "read access to Mailman's prototype archive",
            Capability::EximLog => "read access to exim's mainlog",
            Capability::HeldQueue => "access to Mailman's held queue",
            Capability::MailmanQueues => "read access to Mailman's queues and log",
            Capability::Web => "web side (HyperKitty and Postorius over HTTP; the container target starts it with MAILFLOW_WEB=1)",
        })
    }
}

/// Errors from a target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("this target offers no {0}")]
    Unsupported(Capability),
    #[error("Docker: {0}")]
    Docker(String),
    #[error("building image {image}: {message}")]
    ImageBuild { image: String, message: String },
    #[error("the lists container did not start: {0}")]
    Start(String),
    #[error("command in the container failed: {0}")]
    Exec(String),
    #[error("Mailman REST {method} {path}: {message}")]
    Rest { method: String, path: String, message: String },
    #[error("{what} did not answer within {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("this target offers no vantage point `{wanted}` (it offers {offered})")]
    NoVantage { wanted: String, offered: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The vantage point every target offers: the machine mailflow runs on.
pub const OUTSIDE: &str = "outside";

/// A copy of a probe found in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedCopy {
    /// Where it was found (a path on the server or a URL).
    pub location: String,
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

/// The system under test as the runner sees it.
pub trait Target: Send + Sync {
    /// One line for reports: which target, where.
    fn describe(&self) -> String;
    /// The domain whose mail reaches the sink; probe senders live there.
    fn probe_domain(&self) -> &str;
    /// Exim's SMTP listener.
    fn smtp_addr(&self) -> SocketAddr;
    /// The sink, when the target routes the probe domain to one.
    fn sink(&self) -> Option<&Sink>;
    /// Looks once for the Message-ID in the list's prototype archive.
    fn find_in_prototype_archive<'a>(
        &'a self,
        list_address: &'a str,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ArchivedCopy>, TargetError>>;
    /// Exim's mainlog (for diagnosis; may be the tail of a large log).
    fn exim_mainlog(&self) -> BoxFuture<'_, Result<String, TargetError>>;
    /// The held messages of a list (by list id, `name.domain`).
    fn held_messages<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<Vec<HeldMessage>, TargetError>> {
        let _ = list_id;
        Box::pin(async { Err(TargetError::Unsupported(Capability::HeldQueue)) })
    }
    /// Acts on one held message. Takes an [`OwnHeld`], which only
    /// [`crate::mailman::select_own`] makes: the harness acts on its own
    /// probes of this run and nothing else.
    fn moderate_held<'a>(&'a self, held: &'a OwnHeld, decision: &'a Decision) -> BoxFuture<'a, Result<(), TargetError>> {
        let _ = (held, decision);
        Box::pin(async { Err(TargetError::Unsupported(Capability::HeldQueue)) })
    }
    /// Looks for the Message-ID in Mailman's queue folders and log.
    fn mailman_queues<'a>(&'a self, message_id: &'a str) -> BoxFuture<'a, Result<MailmanQueueFacts, TargetError>> {
        let _ = message_id;
        Box::pin(async { Err(TargetError::Unsupported(Capability::MailmanQueues)) })
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
    /// The vantage points reachability can be checked from, by name; always
    /// [`OUTSIDE`] (this machine) first. A target without reachability
    /// checks offers none.
    fn vantages(&self) -> Vec<String> {
        Vec::new()
    }
    /// Tries `port` of the lists host from `vantage` once, giving up after
    /// `deadline` (then the port is filtered). An unknown vantage point is
    /// [`TargetError::NoVantage`].
    fn try_port<'a>(
        &'a self,
        vantage: &'a str,
        protocol: Protocol,
        port: u16,
        deadline: Duration,
    ) -> BoxFuture<'a, Result<PortAttempt, TargetError>> {
        let _ = (protocol, port, deadline);
        Box::pin(async move {
            Err(TargetError::NoVantage { wanted: vantage.to_string(), offered: self.vantages().join(", ") })
        })
    }
}

/// One reachability attempt, with the address that was tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAttempt {
    pub attempt: Attempt,
    /// The address tried, as the vantage point sees the lists host.
    pub addr: SocketAddr,

}
