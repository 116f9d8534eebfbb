//! Scenario files: read and validate a suite and its scenarios into typed,
//! ordered steps.
//!
//! A run's files live in one directory tree: `suite.toml` declares the lists
//! under test and where probe addresses live; every other `*.toml` below it
//! is a scenario. Format v1, in short:
//!
//! ```toml
//! # suite.toml
//! probe_domain = "probe.test"          # default "probe.test"
//! [[list]]
//! name = "probe-test"
//! domain = "lists.example.test"
//! members = ["alice@probe.test"]       # default []
//!
//! # any other *.toml: a scenario
//! name = "a member's post reaches the list"
//! list = "probe-test"                  # or "probe-test@lists.example.test"
//! [[step]]
//! send = { from = "alice@probe.test", subject = "probe" }   # to, body, headers, attachments
//! # attachments = [{ name = "big.bin", size = "64KB" }]       # content_type; size in bytes, or KB/MB of 1024
//! expect_smtp = 250                    # or { code, text_contains, at }
//! [[step]]
//! expect_delivered = { within = "30s" }                     # to, headers (default to: regular members)
//! expect_archived = { within = "30s" }                      # archive: prototype | hyperkitty
//! [[step]]
//! expect_not_archived = { within = "5s" }                   # archive (default: every kind)
//! [[step]]                             # these need no `send`
//! expect_page = { page = "list-info", body_contains = "probe-test" }  # status, list, within
//! expect_port = { port = 8001, vantage = "outside", verdict = "filtered", within = "3s" }  # protocol
//! expect_http = { scheme = "https", path = "/", status = 200, body_contains = "lists" }  # redirect_to, within
//! expect_dns = { name = "lists.example.test", type = "MX", values = ["10 lists.example.test"], ttl_at_most = 300 }  # server, within
//! ```
//!
//! Each key of a `[[step]]` is one [`Step`], in the order written.
//! Expectations are about the most recent `send`; without `to`, a delivery is
//! expected to every member of the list that `send` went to. Examples live
//! in `harness/tests-data/scenario/`.
//!
//! Files are parsed into a spanned TOML tree and walked by hand, so that
//! every problem in a file (syntax, unknown keys, wrong types, bad values,
//! steps out of order) is reported at once, each as `path:line:col: message`
//! with a labelled snippet when rendered through miette.
//!
//! Layout: `model` holds the validated values; `suite` and `scenario_file`
//! the format's rules; `reader`, `fields` and `values` the generic walking
//! helpers and value checks they use; `load` the file system side;
//! `select` which of the loaded scenarios run (`--filter`, `--partition`).

pub(crate) mod error;
pub(crate) mod fields;
mod cutover;
mod load;
mod faults;
mod model;
mod ports;
pub(crate) mod reader;
mod scenario_file;
pub mod select;
mod suite;
pub(crate) mod values;
pub mod sweep;

#[cfg(test)]
mod tests;

pub use error::{FileError, LoadErrors};
pub use load::{discover, load};
pub use model::{
    ArchiveExpectation, ArchiveKind, Attachment, BounceExpectation, DeliveryExpectation, DeliveryMode, DigestExpectation,
    DmarcAction, DnsExpectation, DnsType, Fate, FateExpectation, HeaderExpectation, HeldExpectation, HttpExpectation, ListDecl, ListSettings, Location, Setting, SettingValue,
    ModerationAction, Moderation, NotArchivedExpectation, NoticeExpectation, PageExpectation,
    PageKind, Plan, PortExpectation, PrivateExpectation, PortState, PostAction, Protocol, RawSendSpec, Scenario,
    Scheme, SendSpec, SettingsExpectation, SmtpExpectation, SmtpStage, StatusPattern, Step, StepKind, Suite, Window,
    MAX_ATTACHMENT_SIZE, MESSAGE_ID_PLACEHOLDER, PROBE_HEADER_PLACEHOLDER,
};
pub use cutover::{BannerExpectation, DnsTtlExpectation, Family, MailmanQueuesExpectation, MtaQueueExpectation, OldHostExpectation};
pub use faults::{QueueRun, QueuedExpectation, Service, SinkFault};
pub use ports::PortsExpectation;
pub use sweep::EveryListExpectation;
pub use scenario_file::parse_scenario;
pub use suite::parse_suite;
