//! What a step yields before the runner adds its place and duration, and
//! the sent probe that steps about it look at.

use std::time::SystemTime;

use tokio::time::Instant;

use crate::check::{Hop, Row, Stop};
use crate::probe::Probe;
use crate::smtp::Transcript;

use super::diagnose::Diagnosis;

/// A probe that was sent, with everything exim said.
pub(super) struct Sent {
    pub probe: Probe,
    pub transcript: Transcript,
    /// The clock origin of every step about this probe (see [`within`]).
    pub at: Instant,
    /// The same moment by the wall clock, to compare with arrival times.
    pub wall: SystemTime,
}

/// What one step yielded, before the runner adds its place and duration.
#[derive(Debug, Default)]
pub(super) struct Verdict {
    pub rows: Vec<Row>,
    pub stop: Option<Stop>,
    pub evidence: Vec<String>,
    pub hops: Vec<Hop>,
}

impl Verdict {
    pub fn row(row: Row) -> Verdict {
        Verdict { rows: vec![row], ..Verdict::default() }
    }
    pub fn rows(rows: Vec<Row>) -> Verdict {
        Verdict { rows, ..Verdict::default() }
    }
    /// Adds where the probe stopped.
    pub fn stopped(mut self, d: Diagnosis) -> Verdict {
        self.stop = Some(d.stop);
        self.evidence = d.evidence;
        self
    }
}

/// A step that needs a capability the target lacks: one skipped row.
pub(super) fn unsupported(property: &str, expected: String, what: impl std::fmt::Display) -> Verdict {
    Verdict::row(Row::skipped(property, expected, format!("needs {what}")))
}
