//! Mailboxes where delivery is observed on real hosts.
//!
//! In the container target the list delivers to the harness's own sink
//! ([`crate::sink`]); on real hosts the suite's subscriber addresses deliver
//! to a real mailbox that the harness reads over IMAP ([`imap`]). Both give
//! the same fact, a [`crate::sink::Received`] per message: envelope (as far
//! as the mailbox knows it), raw message, parsed headers, arrival time.
//!
//! Safety: the harness deletes from a real mailbox only messages whose
//! Message-ID is one of this run's probe Message-IDs
//! ([`imap::ImapMailbox::delete_own`]); there is no other way to remove or
//! change a message.

pub mod imap;

pub use imap::{ImapConfig, ImapMailbox, ImapTimeouts, ImapTls, MailboxError, News};
