//! The capabilities a target may offer, one small trait each. Every method
//! returns facts; none prints or decides a verdict. A target that lacks one
//! returns `None` from the matching [`super::Target`] method.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::{ArchivedCopy, ArchiverFacts, ListArchiving, MailmanQueueFacts, PortAttempt, TargetError};
use crate::exim::Trace;
use crate::mailman::{Decision, HeldMessage, OwnHeld};
use crate::probe::ProbeKeys;
use crate::scenario::{Protocol, Service};
use crate::sink::Received;
use crate::BoxFuture;

/// Where the suite's subscriber addresses deliver: the harness's sink, or a
/// real mailbox (IMAP) on a hosts target.
pub trait Mailbox: Send + Sync {
    /// Copies of the message with this Message-ID (angle brackets included)
    /// that have arrived so far.
    fn copies<'a>(&'a self, message_id: &'a str) -> BoxFuture<'a, Result<Vec<Arc<Received>>, TargetError>>;
    /// Messages that carry the probe header ([`crate::probe::PROBE_HEADER`])
    /// with this value, folding and white space aside: the copies of a
    /// probe whose Message-ID was odd, missing or rewritten. Steps ask it
    /// when no copy matches by Message-ID. The default finds nothing, for
    /// mailboxes that cannot search by header.
    fn copies_by_probe_header<'a>(&'a self, header_value: &'a str) -> BoxFuture<'a, Result<Vec<Arc<Received>>, TargetError>> {
        let _ = header_value;
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Messages to `address` that arrived at or after `since` (notices, bounces).
    fn received_by<'a>(&'a self, address: &'a str, since: SystemTime) -> BoxFuture<'a, Result<Vec<Arc<Received>>, TargetError>>;
    /// A channel that changes whenever something may have arrived, for
    /// [`crate::check::within`] to wake on; `None` when the mailbox can only be polled.
    fn arrivals(&self) -> Option<watch::Receiver<u64>>;
}

/// Mailman's prototype archiver: a maildir per list on the server.
pub trait PrototypeArchive: Send + Sync {
    /// Looks once for the probe in the list's archive: by its Message-IDs,
    /// then by its probe header.
    fn find<'a>(&'a self, list_address: &'a str, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<Option<ArchivedCopy>, TargetError>>;
}

/// Mailman 2.1's pipermail archive, read over HTTP.
pub trait PipermailArchive: Send + Sync {
    /// Looks once for the probe, by its Message-IDs, in the newest months
    /// of the list's archive; with its message page when one links back to it.
    fn find<'a>(&'a self, list_address: &'a str, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<Option<crate::mailman21::pipermail::ArchivedMessage>, TargetError>>;
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
    /// Every line about the probe's messages, found by the `id=` of their
    /// arrival (any of the probe's Message-IDs) or by the probe header line
    /// the server logs, and about the bounces made of them (exim's
    /// `exigrep` shape), never the whole log.
    fn trace<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<Trace, TargetError>>;
}

/// Mailman's queue folders (shunt, bad, retry, ...), its log, and its
/// archivers' state.
pub trait MailmanQueues: Send + Sync {
    /// Where the probe (by any of its Message-IDs) is among the queues, and
    /// the log lines about it.
    fn find<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<MailmanQueueFacts, TargetError>>;
    /// What the archivers say about the probe: their log entries about it
    /// (each with the failure the archiver logged just before), and the
    /// retry spool files that hold it.
    fn archiver_failures<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<ArchiverFacts, TargetError>>;
    /// Which archivers are on for a list (`GET /3.1/lists/<id>/archivers`)
    /// and its archive policy.
    fn list_archiving<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<ListArchiving, TargetError>>;
    /// Whether Mailman's archive queue (`queue/archive`) is empty: no
    /// message waiting (`.pck`) and none being archived (`.bak`, which the
    /// archive runner removes only after every archiver has had the
    /// message). `None` when the target cannot tell (Mailman 2.1, no shell).
    fn archive_queue_empty(&self) -> BoxFuture<'_, Result<Option<bool>, TargetError>> {
        Box::pin(async { Ok(None) })
    }
}

/// A shell on the list server: docker exec for containers, ssh for hosts.
pub trait Shell: Send + Sync {
    /// Runs `argv` (no shell parsing on this side); exit code, stdout, stderr.
    fn exec<'a>(&'a self, argv: &'a [&'a str]) -> BoxFuture<'a, Result<(i64, String, String), TargetError>>;
    /// [`Shell::exec`] for a command that may run longer than the shell's
    /// usual limit (stopping or starting a service), stopped after
    /// `deadline`. The default keeps the shell's own limit.
    fn exec_within<'a>(&'a self, argv: &'a [&'a str], deadline: Duration) -> BoxFuture<'a, Result<(i64, String, String), TargetError>> {
        let _ = deadline;
        self.exec(argv)
    }
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

/// Faults on the list server, to show that nothing is lost: services
/// stopped and started, the MTA's queue run by force. The container target
/// does them through its shell; a hosts target only when its file allows
/// fault steps ([`super::Target::may_fault`]).
pub trait Faults: Send + Sync {
    /// Stops `service` and returns once it is down; what was done, in words.
    fn stop<'a>(&'a self, service: Service) -> BoxFuture<'a, Result<String, TargetError>>;
    /// Starts `service` and returns once it answers; what was done, in words.
    fn start<'a>(&'a self, service: Service) -> BoxFuture<'a, Result<String, TargetError>>;
    /// A forced run over every message in the MTA's queue (`exim -qff`),
    /// returning when the run has ended or after `deadline`.
    fn queue_run<'a>(&'a self, deadline: Duration) -> BoxFuture<'a, Result<String, TargetError>>;
    /// Sets how the sink answers RCPT TO for one recipient; `None` when the
    /// target has no sink of its own (a real mailbox).
    fn sink_faults(&self) -> Option<&crate::sink::FaultPolicy> {
        None
    }
}

/// The MTA's queue, read on the server.
pub trait MtaQueue: Send + Sync {
    /// The probe's messages waiting in the queue, found by their
    /// Message-ID or probe header (`exim -bp`, then each one's header file
    /// with `exim -Mvh`), each with its latest deferral (`exim -Mvl`).
    fn queued<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<Vec<crate::exim::QueuedMessage>, TargetError>>;
}

/// Every list the server holds, for steps about all of them
/// (`expect_every_list_answers`). Mailman 3: its REST API, paged; Mailman
/// 2.1: the shell's `bin/list_lists` and each list's `host_name`
/// ([`super::list_index`]).
pub trait ListIndex: Send + Sync {
    /// Every list's posting address (`name@domain`, lower case), sorted.
    fn list_addresses<'a>(&'a self) -> BoxFuture<'a, Result<Vec<String>, TargetError>>;
}
