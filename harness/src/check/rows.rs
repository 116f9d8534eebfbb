//! Result rows, Goss-style: one row per checked property, with what was
//! expected, what was observed, the verdict and how long the observation
//! took to become true.

use std::time::Duration;

use crate::scenario::Fate;

/// The verdict on one row, and on a step (the worst of its rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    /// The property could not be checked here: the target lacks a
    /// capability, or an earlier step failed. The reason says which.
    Skipped(String),
}

impl Outcome {
    /// `passed`, `failed` or `skipped`, as the machine formats spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Skipped(_) => "skipped",
        }
    }
}

/// One checked property of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// What was checked, e.g. `final reply`, `delivered to`, `25/tcp from outside`.
    pub property: String,
    /// What the scenario asked for, as a short value (`250`, `filtered`,
    /// `bob@probe.test within 10.00s`).
    pub expected: String,
    /// What the observers saw, as a short fact. Empty for skipped rows.
    pub observed: String,
    pub outcome: Outcome,
    /// How long after the step's clock origin (see [`crate::check::within`])
    /// the observation became true; `None` when nothing was waited for.
    pub took: Option<Duration>,
}

impl Row {
    pub fn passed(property: impl Into<String>, expected: impl Into<String>, observed: impl Into<String>) -> Row {
        Row { property: property.into(), expected: expected.into(), observed: observed.into(), outcome: Outcome::Passed, took: None }
    }
    pub fn failed(property: impl Into<String>, expected: impl Into<String>, observed: impl Into<String>) -> Row {
        Row { property: property.into(), expected: expected.into(), observed: observed.into(), outcome: Outcome::Failed, took: None }
    }
    pub fn skipped(property: impl Into<String>, expected: impl Into<String>, reason: impl Into<String>) -> Row {
        Row {
            property: property.into(),
            expected: expected.into(),
            observed: String::new(),
            outcome: Outcome::Skipped(reason.into()),
            took: None,
        }
    }
    /// The same row with the time the observation took to become true.
    pub fn took(mut self, took: Duration) -> Row {
        self.took = Some(took);
        self
    }
}

/// Where a probe stopped, as far as the target's observers can tell: the
/// probe's fate (DESIGN.md, "Every probe has a fate") and the hops between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// No SMTP verdict at all: the connection or the conversation failed.
    NotSent { error: String },
    /// The MTA refused it during the SMTP conversation.
    RefusedAtSmtp {
        /// `connect`, `EHLO`, `MAIL FROM`, `RCPT TO`, `DATA` or `end of data`.
        stage: String,
        command: Option<String>,
        code: u16,
        enhanced: Option<String>,
        text: String,
    },
    /// Accepted, then deferred: it waits in the MTA's queue. The log line
    /// names the cause (exim's `==` line).
    Deferred { queue_id: String, log_line: String },
    /// Frozen in the MTA's queue (exim freezes a bounce it cannot deliver).
    Frozen { queue_id: String, log_line: String },
    /// Accepted with 250, then failed: a delivery status notification went
    /// (or goes) to the sender. `status` is the DSN's or exim's enhanced
    /// status code when known (`5.6.0`), `diagnostic` its words.
    Bounced { status: Option<String>, diagnostic: String },
    /// Held for moderation on a list.
    Held { list: String, request_id: u64, reason: String },
    /// Mailman moved it to its shunt queue (an exception while processing).
    Shunted { queue_file: String, log_line: Option<String> },
    /// Waiting in one of Mailman's other queues (`in`, `pipeline`, `out`,
    /// `retry`, ...).
    InMailmanQueue { queues: Vec<String> },
    /// Delivered to these recipients.
    Delivered { to: Vec<String> },
    /// In an archive, at a path or URL.
    Archived { archive: String, location: String },
    /// Delivered but not in the archive; `error` is the archiver's failure
    /// when it can be read.
    NotArchived { archive: String, error: Option<String> },
    /// None of the above within the deadline.
    Lost,
}

impl Stop {
    /// The fate's one-word name, as the machine formats spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            Stop::NotSent { .. } => "not_sent",
            Stop::RefusedAtSmtp { .. } => "refused",
            Stop::Deferred { .. } => "deferred",
            Stop::Frozen { .. } => "frozen",
            Stop::Bounced { .. } => "bounced",
            Stop::Held { .. } => "held",
            Stop::Shunted { .. } => "shunted",
            Stop::InMailmanQueue { .. } => "queued_in_mailman",
            Stop::Delivered { .. } => "delivered",
            Stop::Archived { .. } => "archived",
            Stop::NotArchived { .. } => "not_archived",
            Stop::Lost => "lost",
        }
    }

    /// The probe's fate, as `expect_fate` names it: where it stopped, with
    /// archived or not counting as delivered, and "none of the fates within
    /// the deadline" (still deferred, frozen or queued somewhere) as lost.
    /// `None` when it was never sent.
    pub fn fate(&self) -> Option<Fate> {
        match self {
            Stop::NotSent { .. } => None,
            Stop::RefusedAtSmtp { .. } => Some(Fate::Refused),
            Stop::Bounced { .. } => Some(Fate::Bounced),
            Stop::Held { .. } => Some(Fate::Held),
            Stop::Shunted { .. } => Some(Fate::Shunted),
            Stop::Delivered { .. } | Stop::Archived { .. } | Stop::NotArchived { .. } => Some(Fate::Delivered),
            Stop::Deferred { .. } | Stop::Frozen { .. } | Stop::InMailmanQueue { .. } | Stop::Lost => Some(Fate::Lost),
        }
    }
}

/// One hop of a probe's way through the list server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HopKind {
    /// The MTA accepted the probe (the final reply to DATA; exim's `<=` line).
    Accepted,
    /// The MTA handed it to Mailman (exim's `=>` line on the LMTP or pipe transport).
    HandedToMailman,
    /// Mailman sent the list's copy back into the MTA (the second `<=` line).
    ResentByMailman,
    /// A subscriber's copy arrived in the mailbox (sink or IMAP).
    Delivered { to: String },
    /// The archive has it.
    Archived { archive: String },
}

impl HopKind {
    /// A short name for machine formats: `accepted`, `to_mailman`,
    /// `resent`, `delivered`, `archived`.
    pub fn as_str(&self) -> &'static str {
        match self {
            HopKind::Accepted => "accepted",
            HopKind::HandedToMailman => "to_mailman",
            HopKind::ResentByMailman => "resent",
            HopKind::Delivered { .. } => "delivered",
            HopKind::Archived { .. } => "archived",
        }
    }
}

/// When a probe passed a hop, counted from the moment it was sent (the
/// start of the SMTP conversation). Times from the MTA's log rely on the
/// host's clock agreeing with this machine's; the container target shares
/// its kernel clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub kind: HopKind,
    pub after: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stop_is_one_fate() {
        let fate = |s: Stop| s.fate();
        assert_eq!(fate(Stop::NotSent { error: "x".into() }), None);
        let refused = Stop::RefusedAtSmtp { stage: "message".into(), command: None, code: 550, enhanced: None, text: "no".into() };
        assert_eq!(fate(refused), Some(Fate::Refused));
        assert_eq!(fate(Stop::Bounced { status: None, diagnostic: "x".into() }), Some(Fate::Bounced));
        assert_eq!(fate(Stop::Held { list: "l".into(), request_id: 1, reason: "r".into() }), Some(Fate::Held));
        assert_eq!(fate(Stop::Shunted { queue_file: "f".into(), log_line: None }), Some(Fate::Shunted));
        assert_eq!(fate(Stop::Delivered { to: vec![] }), Some(Fate::Delivered));
        assert_eq!(fate(Stop::NotArchived { archive: "hyperkitty".into(), error: None }), Some(Fate::Delivered));
        for lost in [
            Stop::Deferred { queue_id: "q".into(), log_line: "l".into() },
            Stop::Frozen { queue_id: "q".into(), log_line: "l".into() },
            Stop::InMailmanQueue { queues: vec!["in".into()] },
            Stop::Lost,
        ] {
            assert_eq!(fate(lost), Some(Fate::Lost));
        }
    }
}
