//! The hosts target: a real list server, described by a target file.
//!
//! A target file (TOML) says where the host's SMTP listeners are, which
//! Mailman it runs and how its REST API is reached, where the web side is,
//! which mailbox the suite's subscriber addresses deliver to, how to get a
//! shell on it, what the harness may change there and how fast it may probe.
//! Secrets are never in the file: it names an environment variable or a file
//! for each. [`parse_hosts`] and [`load_hosts`] read it into a
//! [`HostsConfig`], reporting every error at once with file, line and column,
//! as scenario files do. The format is documented in README.md ("Target
//! files").
//!
//! Layout: `config` holds the validated values, `file` the format's rules,
//! `ssh` the shell on the host, `target` the [`HostsTarget`] itself,
//! `faults` its fault steps and exim's queue through the shell.

mod config;
mod faults;
mod file;
mod ssh;
mod target;

#[cfg(test)]
mod tests;

pub use config::{
    Allow, Cutover, FaultCommands, HostsConfig, Limits, MailboxConfig, Mailman21Config, Mailman21List, MailmanConfig, MailmanVersion, RestReach, SmtpAuth, SmtpConfig, SshConfig,
    StartTls, WebConfig,
};
pub use file::{load_hosts, parse_hosts};
pub use ssh::{SshError, SshShell};
pub use target::HostsTarget;
