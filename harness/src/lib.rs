//! mailflow: verifies mail flow through an Exim + Mailman list server.
//!
//! The stages are modules, named by what they hold:
//! - [`scenario`]: read and validate suite and scenario files into typed steps.
//! - [`probe`]: the probe mails and their Message-IDs.
//! - [`smtp`]: the probe sender, keeping every SMTP reply.
//! - [`sink`]: the SMTP sink the list delivers to.
//! - [`target`]: where the system under test is (containers), and what it offers.
//! - [`mailman`]: Mailman 3's REST API.
//! - [`exim`]: exim's mainlog, for diagnosis.
//! - [`web`]: HyperKitty and Postorius over HTTP (archive and list pages).
//! - [`reach`]: TCP reachability of a port (open, refused, filtered).
//! - [`http`]: HTTP(S) requests to the lists host's web server (`expect_http`).
//! - [`dns`]: DNS answers and their TTLs from a named server.
//! - [`run`]: executes steps and emits events.
//! - [`report`]: renders events for people (and later machines).

pub mod dns;
pub mod exim;
pub mod http;
pub mod mailman;
pub mod probe;
/// Properties for the fuzz targets (`fuzz/`) and their in-tree runs.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod props;
pub mod reach;
pub mod report;
pub mod run;
pub mod scenario;
pub mod sink;
pub mod smtp;
pub mod target;
pub mod web;
