//! Where the system under test is, and what can be observed of it.
//!
//! One interface, [`Target`], two kinds: containers started by the harness
//! ([`containers`]) and, later, real hosts from a target file. A target offers
//! capabilities; a step that needs one the target lacks is reported as
//! skipped with the reason, never as passed.

pub mod containers;
pub mod docker;
pub mod images;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use crate::reach::Attempt;
use crate::scenario::Protocol;
use crate::sink::Sink;
use crate::web::WebEndpoint;

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
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Sink => "a sink for the list's deliveries",
            Capability::PrototypeArchive => "read access to Mailman's prototype archive",
            Capability::EximLog => "read access to exim's mainlog",
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
    /// The DNS server `expect_dns` asks when its step names none.
    fn dns_server(&self) -> Option<SocketAddr>;
    /// The lists host's web server, when the target has one to check.
    fn web(&self) -> Option<&WebEndpoint>;
    /// The vantage points reachability can be checked from, by name; always
    /// [`OUTSIDE`] (this machine) first.
    fn vantages(&self) -> Vec<String>;
    /// Tries `port` of the lists host from `vantage` once, giving up after
    /// `deadline` (then the port is filtered). An unknown vantage point is
    /// [`TargetError::NoVantage`].
    fn try_port<'a>(
        &'a self,
        vantage: &'a str,
        protocol: Protocol,
        port: u16,
        deadline: Duration,
    ) -> BoxFuture<'a, Result<PortAttempt, TargetError>>;
}

/// One reachability attempt, with the address that was tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAttempt {
    pub attempt: Attempt,
    /// The address tried, as the vantage point sees the lists host.
    pub addr: SocketAddr,
}
