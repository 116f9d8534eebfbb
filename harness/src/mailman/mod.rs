//! Mailman 3, through its REST API: provisioning the suite's lists.

pub mod rest;

pub use rest::{MailmanRest, RestResponse, RestTransport};
