//! GNU Mailman 2.1 as its users and operators see it: the CGI pages under
//! `/mailman/` (admindb, listinfo, the private archive), pipermail's
//! archives under `/pipermail/`, and on the server the `bin/` commands, the
//! queue folders (`qfiles/`) and the logs.
//!
//! No Mailman 2.1 package exists for current systems, so every parser here
//! is written against pages, files and outputs recorded from a real Mailman
//! 2.1.39 (`fixtures/mailman21/` beside the repository, with a README of the
//! facts they show). The parsers do no I/O; [`Site`] is the HTTP side (one
//! web host, its CGI and pipermail paths, the lists' passwords), and
//! [`shell`] runs the `bin/` commands and greps through a
//! [`crate::target::Shell`].
//!
//! Safety: [`Site::moderate`] acts on one request only, the one an
//! [`crate::mailman::OwnHeld`] names (a probe of this run, by exact
//! Message-ID), with the form's `csrf_token`; it never sends admindb's
//! "discard all deferred" or per-sender fields, and reports success only
//! when the queue read again shows the request gone (or, for defer, still
//! there).

pub mod admin;
pub mod admindb;
pub mod cmd;
pub mod listinfo;
pub mod logs;
pub mod pipermail;
pub mod shell;

mod html;
mod site;

pub use site::{Fetched, ListAccess, Session, Site, SiteConfig};

/// Errors talking to a Mailman 2.1 site. Messages name URLs and lists,
/// never a password.
#[derive(Debug, thiserror::Error)]
pub enum Mm21Error {
    /// No answer (connection, TLS, timeout).
    #[error("{method} {url}: {message}")]
    Http { method: &'static str, url: String, message: String },
    /// An answer with a status the step did not expect.
    #[error("{method} {url} answered {status}: {excerpt}")]
    Status { method: &'static str, url: String, status: u16, excerpt: String },
    /// Mailman refused the password: 401, or its login form again.
    #[error("{url}: Mailman refused the {what} password (it answered {status} with its login form)")]
    BadPassword { url: String, what: &'static str, status: u16 },
    /// A page that does not have the shape Mailman 2.1 gives it.
    #[error("{url}: {what}")]
    Page { url: String, what: String },
    /// The target file names no password that opens this list's page.
    #[error("the target file names no {what} password for list `{list}` (nor a site password)")]
    NoCredentials { list: String, what: &'static str },
    /// The request was still in (or, for defer, gone from) the queue read
    /// again after acting: Mailman did not do what was asked.
    #[error("{action} of request {request} on {list}: {observed}")]
    NotDone { action: String, request: u64, list: String, observed: String },
}

impl Mm21Error {
    /// A 5xx: a poll looks again instead of failing.
    pub fn is_transient(&self) -> bool {
        matches!(self, Mm21Error::Status { status, .. } if *status >= 500)
    }
}

#[cfg(test)]
mod tests;
