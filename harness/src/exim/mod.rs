//! Exim, observed for diagnosis: its main log, read as facts about one probe.

pub mod mainlog;

pub use mainlog::{trace, Event, EventKind, Trace};
