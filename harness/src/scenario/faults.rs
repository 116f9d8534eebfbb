//! Fault steps: break the list server on purpose and show that nothing is
//! lost. `stop`/`start` a service, `mta_queue_run` (exim -qff), and
//! `expect_queued` (the probe waits in exim's queue, deferred for a reason).
//!
//! ```toml
//! [[step]]
//! stop = "mailman"
//! [[step]]
//! send = { from = "alice@probe.test", subject = "waits for Mailman" }
//! expect_smtp = 250
//! expect_queued = { reason_contains = "Connection refused", within = "30s" }
//! [[step]]
//! start = "mailman"
//! mta_queue_run = {}
//! expect_delivered = { within = "60s" }
//! ```

use std::fmt;
use std::time::Duration;

use super::fields;
use super::reader::{Doc, TableReader, Value};

/// A service of the list server that fault steps stop and start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Mailman 3's master and its runners (REST, LMTP, archiver, ...).
    Mailman,
    /// Mailman's web side: Postorius and HyperKitty under uwsgi.
    MailmanWeb,
}

impl Service {
    pub const ALL: [Service; 2] = [Service::Mailman, Service::MailmanWeb];

    /// The name used in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Mailman => "mailman",
            Service::MailmanWeb => "mailman-web",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `mta_queue_run = {}`: a forced queue run over every message (`exim
/// -qff`), waited for up to `within`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueRun {
    pub within: Duration,
}

/// The most recent probe waits in exim's queue within `within` of sending,
/// deferred (exim's `==` line) for a reason containing `reason_contains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedExpectation {
    pub reason_contains: Option<String>,
    pub within: Duration,
}

/// `sink_fault = { to, reply, times }`: the sink answers RCPT TO for `to`
/// with `reply` (a 4xx or 5xx) `times` times, then accepts again; without
/// `times`, until the scenario ends. The container target's sink only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkFault {
    pub to: String,
    /// 400 to 599.
    pub code: u16,
    /// The reply's text after the code, e.g. `4.3.0 try again later`.
    pub text: String,
    pub times: Option<u32>,
}

const SINK_FAULT_KEYS: &[&str] = &["to", "reply", "times"];
const QUEUE_RUN_KEYS: &[&str] = &["within"];
const QUEUED_KEYS: &[&str] = &["reason_contains", "within"];
/// How long a forced queue run may take.
const DEFAULT_QUEUE_RUN: Duration = Duration::from_secs(60);
/// exim tries a new message at once; its deferral is logged within seconds.
const DEFAULT_QUEUED: Duration = Duration::from_secs(30);

/// `stop = "mailman"` or `start = "mailman-web"`.
pub(super) fn read_service(doc: &mut Doc, key: &str, value: &Value<'_>) -> Option<Service> {
    fields::one_of(doc, &format!("`{key}`"), "service", value, &Service::ALL, Service::as_str)
}

/// `mta_queue_run = {}` or `mta_queue_run = { within = "2m" }`.
pub(super) fn read_queue_run(doc: &mut Doc, value: &Value<'_>) -> Option<QueueRun> {
    let table = doc.table("`mta_queue_run`", value)?;
    let mut reader = TableReader::new("mta_queue_run", table, value.span(), QUEUE_RUN_KEYS);
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_QUEUE_RUN);
    reader.finish(doc);
    Some(QueueRun { within: within? })
}

/// `expect_queued = { reason_contains = "...", within = "30s" }`.
pub(super) fn read_expect_queued(doc: &mut Doc, value: &Value<'_>) -> Option<QueuedExpectation> {
    let table = doc.table("`expect_queued`", value)?;
    let mut reader = TableReader::new("expect_queued", table, value.span(), QUEUED_KEYS);
    let reason_contains = reader
        .optional("reason_contains")
        .and_then(|v| doc.string(&reader.field("reason_contains"), v))
        .map(str::to_string);
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_QUEUED);
    reader.finish(doc);
    Some(QueuedExpectation { reason_contains, within: within? })
}

/// `sink_fault = { to = "bob@probe.test", reply = "451 4.3.0 try later", times = 1 }`.
pub(super) fn read_sink_fault(doc: &mut Doc, value: &Value<'_>) -> Option<SinkFault> {
    let table = doc.table("`sink_fault`", value)?;
    let mut reader = TableReader::new("sink_fault", table, value.span(), SINK_FAULT_KEYS);
    let to = reader
        .required(doc, "to")
        .and_then(|v| doc.checked_string(&reader.field("to"), "address", super::values::check_address, v));
    let reply = reader.required(doc, "reply").and_then(|v| {
        let what = reader.field("reply");
        let text = doc.string(&what, v)?;
        let code = text.get(..3).and_then(|c| c.parse::<u16>().ok()).filter(|c| (400..=599).contains(c));
        let rest = text.get(3..).unwrap_or("");
        match code {
            Some(code) if (rest.is_empty() || rest.starts_with(' ')) && !text.chars().any(char::is_control) => {
                Some((code, rest.trim().to_string()))
            }
            _ => {
                doc.error(
                    v.span(),
                    "not a refusal",
                    format!("{what} must be a 4xx or 5xx SMTP reply on one line, like \"451 4.3.0 try again later\""),
                );
                None
            }
        }
    });
    let times = reader.optional("times").and_then(|v| doc.integer_in(&reader.field("times"), 1..=1000, v)).map(|n| n as u32);
    reader.finish(doc);
    let (code, text) = reply?;
    Some(SinkFault { to: to?, code, text, times })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::StepKind;

    use crate::scenario::tests::parsed_steps as parsed;

    #[test]
    fn fault_steps_in_order() {
        let kinds = parsed(
            r#"name = "x"
list = "probe-test"
[[step]]
stop = "mailman"
[[step]]
send = { from = "alice@probe.test", subject = "s" }
expect_queued = { reason_contains = "Connection refused" }
[[step]]
start = "mailman-web"
mta_queue_run = { within = "2m" }
sink_fault = { to = "bob@probe.test", reply = "451 4.3.0 try later", times = 1 }
"#,
        )
        .unwrap();
        assert_eq!(kinds[0], StepKind::Stop(Service::Mailman));
        assert_eq!(
            kinds[2],
            StepKind::ExpectQueued(QueuedExpectation { reason_contains: Some("Connection refused".into()), within: Duration::from_secs(30) })
        );
        assert_eq!(kinds[3], StepKind::Start(Service::MailmanWeb));
        assert_eq!(kinds[4], StepKind::MtaQueueRun(QueueRun { within: Duration::from_secs(120) }));
        assert_eq!(
            kinds[5],
            StepKind::SinkFault(SinkFault { to: "bob@probe.test".into(), code: 451, text: "4.3.0 try later".into(), times: Some(1) })
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let cases: &[(&str, &[&str])] = &[
            ("name = \"x\"\n[[step]]\nstop = \"exim\"\n", &["s.toml:3:8: unknown service `exim` in `stop`; expected one of mailman, mailman-web"]),
            ("name = \"x\"\n[[step]]\nstart = 1\n", &["s.toml:3:9: `start` must be a string, found an integer"]),
            ("name = \"x\"\n[[step]]\nmta_queue_run = { now = true }\n", &["s.toml:3:19: unknown key `now` in `mta_queue_run`; accepted keys: within"]),
            (
                "name = \"x\"\n[[step]]\nexpect_queued = {}\n",
                &["s.toml:3:1: `expect_queued` must come after a `send`: it checks the most recent one"],
            ),
            (
                "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"a@probe.test\", subject = \"s\" }\nexpect_queued = { within = \"soon\" }\n",
                &["s.toml:5:28: invalid duration `soon` in `expect_queued.within`: expected a number with a unit, like \"30s\" or \"1m30s\""],
            ),
            (
                "name = \"x\"\n[[step]]\nsink_fault = { to = \"bob@probe.test\", reply = \"250 ok\", times = 0 }\n",
                &[
                    "s.toml:3:47: `sink_fault.reply` must be a 4xx or 5xx SMTP reply on one line, like \"451 4.3.0 try again later\"",
                    "s.toml:3:65: `sink_fault.times` must be between 1 and 1000, found 0",
                ],
            ),
        ];
        for (src, expected) in cases {
            assert_eq!(parsed(src).expect_err(src), *expected, "{src}");
        }
    }
}
