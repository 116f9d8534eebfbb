//! SMTP on the sending side: replies and the probe sender.

pub mod client;
pub mod reply;

pub use client::{send, Envelope, Exchange, SendError, Stage, Timeouts, Transcript};
pub use reply::Reply;
