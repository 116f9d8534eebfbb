//! Mailman 3, through its REST API: provisioning the suite's lists, and the
//! held queue (see [`held`] for the safety rule); and its archivers' log
//! read for why a message was not archived ([`archiver`]); a suite's list
//! settings applied or compared ([`settings`]).

pub mod archiver;
pub mod held;
pub mod rest;
pub mod rest_http;
pub mod settings;

pub use held::{is_probe_id, is_probe_id_of_run, select_own, Decision, HeldMessage, OwnHeld};
pub use rest::{MailmanRest, RestError, RestResponse, RestTransport};
pub use rest_http::HttpRest;
