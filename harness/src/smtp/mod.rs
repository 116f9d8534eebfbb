//! SMTP on the sending side: replies and the probe sender.

pub mod client;
pub mod pace;
pub mod reply;
pub mod security;

pub use client::{greeting, send, send_secured, try_rcpt, Envelope, Exchange, SendError, Stage, Timeouts, Transcript};
pub use security::{Credentials, Security, StartTls};
pub use pace::Pacer;
pub use reply::Reply;
