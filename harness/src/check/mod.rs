//! Checks: what every step yields ([`Row`]s, where the probe stopped as a
//! [`Stop`], per-hop latency as [`Hop`]s) and the one wait, [`within`].
//!
//! Observers return facts; the runner compares them with the scenario's
//! expectations and writes rows. Reporters render rows; nothing here prints.

mod rows;
pub mod within;

pub use rows::{Hop, HopKind, Outcome, Row, Stop};
pub use within::{within, Look, Waited};
