//! The capabilities a target may offer, one small trait each. Every method
//! returns facts; none prints or decides a verdict. A target that lacks one
//! returns `None` from the matching [`super::Target`] method.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::{ArchivedCopy, MailmanQueueFacts, PortAttempt, TargetError};
use crate::exim::Trace;
use crate::mailman::{Decision, HeldMessage, OwnHeld};
use crate::scenario::Protocol;
use crate::sink::Received;
use crate::BoxFuture;

/// Where the suite's subscriber addresses deliver: the harness's sink, or a
/// real mailbox (IMAP) on a hosts target.
pub trait Mailbox: Send + Sync {
    /// Copies of the message with this Message-ID (angle brackets included)
    /// that have arrived so far.
    fn copies<'a>(&'a self, message_id: &'a str) -> BoxFuture<'a, Result<Vec<Arc<Received>>, TargetError>>;
    /// Messages to `address` that arrived at or after `since` (notices, bounces).
    fn received_by<'a>(&'a self, address: &'a str, since: SystemTime) -> BoxFuture<'a, Result<Vec<Arc<Received>>, TargetError>>;
    /// A channel that changes whenever something may have arrived, for
    /// [`crate::check::within`] to wake on; `None` when the mailbox can only be polled.
    fn arrivals(&self) -> Option<watch::Receiver<u64>>;
}

/// Mailman's prototype archiver: a maildir per list on the server.
pub trait PrototypeArchive: Send + Sync {
    /// Looks once for the Message-ID in the list's archive.
    fn find<'a>(&'a self, list_address: &'a str, message_id: &'a str) -> BoxFuture<'a, Result<Option<ArchivedCopy>, TargetError>>;
}

/// Mailman's held queue (moderation).
pub trait HeldQueue: Send + Sync {
    /// The held messages of a list (by list id, `name.domain`).
    fn held<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<Vec<HeldMessage>, TargetError>>;
    /// Acts on one held message. Takes an [`OwnHeld`], which only
    /// [`crate::mailman::select_own`] makes: the harness acts on its own
    /// probes of this run and nothing else.
    fn moderate<'a>(&'a self, held: &'a OwnHeld, decision: &'a Decision) -> BoxFuture<'a, Result<(), TargetError>>;
}

/// The MTA's log, filtered on the server to the lines about one message.
pub trait MtaLog: Send + Sync {
    /// Every line about the queue ids whose arrival carries this
    /// Message-ID (exim's `exigrep` shape), never the whole log.
    fn trace<'a>(&'a self, message_id: &'a str) -> BoxFuture<'a, Result<Trace, TargetError>>;
}

/// Mailman's queue folders (shunt, bad, retry, ...) and its log.
pub trait MailmanQueues: Send + Sync {
    /// Where the Message-ID is among the queues, and the log lines about it.
    fn find<'a>(&'a self, message_id: &'a str) -> BoxFuture<'a, Result<MailmanQueueFacts, TargetError>>;
}

/// A shell on the list server: docker exec for containers, ssh for hosts.
pub trait Shell: Send + Sync {
    /// Runs `argv` (no shell parsing on this side); exit code, stdout, stderr.
    fn exec<'a>(&'a self, argv: &'a [&'a str]) -> BoxFuture<'a, Result<(i64, String, String), TargetError>>;
}

/// TCP reachability of the lists host from named vantage points.
pub trait Reachability: Send + Sync {
    /// The vantage points by name; always [`super::OUTSIDE`] (this machine) first.
    fn vantages(&self) -> Vec<String>;
    /// Tries `port` of the lists host from `vantage` once, giving up after
    /// `deadline` (then the port is filtered). An unknown vantage point is
    /// [`TargetError::NoVantage`].
    fn try_port<'a>(&'a self, vantage: &'a str, protocol: Protocol, port: u16, deadline: Duration) -> BoxFuture<'a, Result<PortAttempt, TargetError>>;
}
