//! Exim, observed for diagnosis: its main log, read as facts about one
//! probe, and the bounces (DSNs) it sends to a probe's sender.

mod dsn;
pub mod mainlog;
pub mod queue;

pub use dsn::dsn_about;
pub use mainlog::{trace, Event, EventKind, Trace};
pub use queue::QueuedMessage;
