//! mailflow: verifies mail flow through an Exim + Mailman list server.
//!
//! The stages are modules, named by what they hold:
//! - [`scenario`]: read and validate suite and scenario files into typed steps.
//! - [`probe`]: the probe mails and their Message-IDs.
//! - [`smtp`]: the probe sender, keeping every SMTP reply.
//! - [`sink`]: the SMTP sink the list delivers to.
//! - [`mailbox`]: a real mailbox read over IMAP, where delivery is seen on real hosts.
//! - [`target`]: where the system under test is (containers), and what it offers.
//! - [`mailman`]: Mailman 3's REST API.
//! - [`exim`]: exim's mainlog, for diagnosis.
//! - [`web`]: HyperKitty and Postorius over HTTP (archive and list pages).
//! - [`reach`]: TCP reachability of a port (open, refused, filtered).
//! - [`http`]: HTTP(S) requests to the lists host's web server (`expect_http`).
//! - [`dns`]: DNS answers and their TTLs from a named server.
//! - [`secret`]: passwords from the environment or files, never printed.
//! - [`tls`]: how TLS clients verify real hosts (system roots, a CA file, off).
//! - [`check`]: result rows, where a probe stopped, and `within`, the one wait.
//! - [`run`]: executes steps and emits events.
//! - [`report`]: renders events for people and machines; the only place that prints.
//! - [`serve`]: runs the suite on an interval and serves the latest results over HTTP.

pub mod check;
pub mod dns;
pub mod exim;
pub mod http;
pub mod mailbox;
pub mod mailman;
pub mod mailman21;
pub mod migration;
pub mod probe;
/// Properties for the fuzz targets (`fuzz/`) and their in-tree runs.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod props;
pub mod reach;
pub mod report;
pub mod run;
pub mod scenario;
pub mod secret;
pub mod serve;
pub mod sink;
pub mod smtp;
pub mod target;
pub mod tls;
pub mod web;

/// A boxed future, for the object-safe async methods of the capability traits.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
