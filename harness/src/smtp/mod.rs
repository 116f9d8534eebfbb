//! SMTP on the sending side: replies and the probe sender.

pub mod client;
pub mod pace;
pub mod reply;

pub use client::{send, Envelope, Exchange, SendError, Stage, Timeouts, Transcript};
pub use pace::Pacer;
pub use reply::Reply;
