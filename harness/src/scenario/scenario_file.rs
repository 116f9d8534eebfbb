//! The scenario file's rules: a name, an optional default list, and the
//! `[[step]]` tables, flattened into steps in source order.

use std::path::Path;
use std::time::Duration;

use toml::de::DeValue;

use super::error::LoadErrors;
use super::fields::{self, Header};
use super::model::{
    ArchiveExpectation, ArchiveKind, Attachment, BounceExpectation, DeliveryExpectation,
    DnsExpectation, DnsType, Fate, FateExpectation, HeaderExpectation, HeldExpectation, HttpExpectation, ListDecl, Moderation, ModerationAction,
    NotArchivedExpectation, NoticeExpectation, PageExpectation, PageKind, PortExpectation, PrivateExpectation, DigestExpectation, SettingsExpectation,
    PortState, Protocol, RawSendSpec, Scenario, Scheme, SendSpec, SmtpExpectation, SmtpStage,
    Step, StepKind, Suite, Window, MAX_ATTACHMENT_SIZE, MESSAGE_ID_PLACEHOLDER,
    PROBE_HEADER_PLACEHOLDER,
};
use super::reader::{self, Doc, Span, TableReader, Value};
use super::values::{check_address, check_domain, check_mime_type, parse_size, parse_status_pattern};

const TOP_KEYS: &[&str] = &["name", "list", "step"];
const STEP_KEYS: &[&str] = &[
    "send",
    "send_raw",
    "expect_smtp",
    "expect_delivered",
    "expect_archived",
    "expect_held",
    "moderate",
    "expect_not_delivered",
    "expect_not_archived",
    "expect_notice",
    "expect_shunted",
    "expect_bounced",
    "expect_fate",
    "expect_page",
    "expect_private",
    "expect_digest",
    "expect_settings",
    "expect_port",
    "expect_ports",
    "expect_http",
    "expect_dns",
    "stop",
    "start",
    "mta_queue_run",
    "expect_queued",
    "sink_fault",
    "expect_every_list_answers",
    "expect_mta_queue",
    "expect_mailman_queues",
    "expect_dns_ttl",
    "expect_banner",
    "expect_old_host",
    "expect_permissions_clean",
    "mta_hold",
    "mta_release",
];
const SEND_RAW_KEYS: &[&str] = &["from", "to", "data"];
const HELD_KEYS: &[&str] = &["reason_contains", "within"];
const MODERATE_KEYS: &[&str] = &["action", "comment", "within"];
const WINDOW_KEYS: &[&str] = &["within"];
const NOT_ARCHIVED_KEYS: &[&str] = &["within", "archive"];
const PRIVATE_KEYS: &[&str] = &["member", "within"];
const DIGEST_KEYS: &[&str] = &["to", "within"];
const SETTINGS_STEP_KEYS: &[&str] = &["list"];
const NOTICE_KEYS: &[&str] = &["to", "subject_contains", "body_contains", "within"];
const BOUNCED_KEYS: &[&str] = &["status", "diagnostic_contains", "within"];
const FATE_KEYS: &[&str] = &["fate", "within"];
/// How long an "it does not happen" step watches by default.
const DEFAULT_ABSENCE: Duration = Duration::from_secs(10);


const SEND_KEYS: &[&str] = &["from", "to", "subject", "body", "headers", "attachments"];
const ATTACHMENT_KEYS: &[&str] = &["name", "content_type", "size"];
/// The type of an attachment whose file does not name one.
const DEFAULT_ATTACHMENT_TYPE: &str = "application/octet-stream";
const SMTP_KEYS: &[&str] = &["code", "text_contains", "at"];
const DELIVERED_KEYS: &[&str] = &["to", "headers", "within"];
const ARCHIVED_KEYS: &[&str] = &["within", "archive"];
const PAGE_KEYS: &[&str] = &["page", "list", "status", "body_contains", "within"];

const DEFAULT_WITHIN: Duration = Duration::from_secs(60);
/// How long a page may take to answer as expected (it is retried until then).
const DEFAULT_PAGE_WITHIN: Duration = Duration::from_secs(10);
/// HTTP status codes a page can be expected to answer with.
const HTTP_CODES: std::ops::RangeInclusive<i64> = 100..=599;
const HTTP_KEYS: &[&str] = &["scheme", "path", "status", "body_contains", "redirect_to", "within"];
const DEFAULT_HTTP_WITHIN: Duration = Duration::from_secs(10);
const DNS_KEYS: &[&str] = &["name", "type", "values", "ttl_at_most", "server", "within"];
const DEFAULT_DNS_WITHIN: Duration = Duration::from_secs(10);
const PORT_KEYS: &[&str] = &["port", "protocol", "vantage", "verdict", "within"];

/// How long a connection attempt may take before the port counts as filtered.
const DEFAULT_PORT_WITHIN: Duration = Duration::from_secs(5);
/// A connection attempt needs some time even on loopback; shorter deadlines
/// would report open ports as filtered.
const MIN_PORT_WITHIN: Duration = Duration::from_millis(100);
const MAX_PORT_WITHIN: Duration = Duration::from_secs(60);

/// SMTP reply codes that can be expected: 2xx to 5xx (1xx is never a reply
/// the client sees as final).
const SMTP_CODES: std::ops::RangeInclusive<i64> = 200..=599;

/// Parses and checks a scenario file against its suite.
pub fn parse_scenario(path: &Path, src: &str, suite: &Suite) -> Result<Scenario, LoadErrors> {
    let mut doc = Doc::new(path, src);
    let Some(root) = doc.parse(src) else {
        return Err(LoadErrors {
            errors: doc.into_errors(),
        });
    };
    let mut top = TableReader::new("", &root, 0..0, TOP_KEYS);

    let name = top.required(&mut doc, "name").and_then(|value| {
        let name = doc.string("`name`", value)?;
        if name.trim().is_empty() {
            doc.error(value.span(), "empty", "`name` must not be empty");
        }
        Some(name.to_string())
    });
    let list_value = top.optional("list");
    let list = list_value.and_then(|value| resolve_list(&mut doc, suite, value));
    let defaults = Defaults {
        list,
        list_written: list_value.is_some(),
    };
    let steps = match top.optional("step") {
        Some(value) => read_steps(&mut doc, suite, defaults, value),
        None => {
            // A scenario that checks nothing would always pass.
            doc.error(0..0, "no steps", "a scenario needs at least one `[[step]]`");
            Vec::new()
        }
    };
    top.finish(&mut doc);

    doc.finish(Scenario {
        path: path.to_path_buf(),
        name: name.unwrap_or_default(),
        list: list.map(ListDecl::address),
        steps,
    })
}

/// The suite's list named by `value`, by name or by full address.
fn resolve_list<'s>(doc: &mut Doc, suite: &'s Suite, value: &Value<'_>) -> Option<&'s ListDecl> {
    let wanted = doc.string("`list`", value)?;
    if let Some(list) = suite.list(wanted) {
        return Some(list);
    }
    let declared = if suite.lists.is_empty() {
        format!("{} declares no lists", suite.path.display())
    } else {
        let names: Vec<String> = suite
            .lists
            .iter()
            .map(|list| format!("{} ({})", list.name, list.address()))
            .collect();
        format!("declared lists: {}", names.join(", "))
    };
    doc.error(
        value.span(),
        "not declared in the suite",
        format!("unknown list `{wanted}`; {declared}"),
    );
    None
}

/// What steps take from the scenario when they do not say.
#[derive(Clone, Copy)]
struct Defaults<'s> {
    list: Option<&'s ListDecl>,
    /// True when a `list` was written, even if it did not resolve (that was
    /// reported already; its absence should not be reported again).
    list_written: bool,
}

/// What the expectations after a `send` need to know about it.
#[derive(Clone, Copy)]
struct LastSend<'s> {
    /// The list the probe went to, for default recipients and the archive.
    list: Option<&'s ListDecl>,
    /// False when the `send` itself had errors: then later "no list" errors
    /// would only repeat them.
    valid: bool,
}

/// Flattens the `[[step]]` tables into steps, in the order their keys are
/// written, and checks each against the `send` before it.
fn read_steps<'s>(
    doc: &mut Doc,
    suite: &'s Suite,
    defaults: Defaults<'s>,
    value: &Value<'_>,
) -> Vec<Step> {
    let Some(tables) = value.get_ref().as_array() else {
        doc.wrong_type("`step`", "an array of tables (`[[step]]`)", value);
        return Vec::new();
    };
    if tables.is_empty() {
        doc.error(
            value.span(),
            "no steps",
            "a scenario needs at least one `[[step]]`",
        );
    }
    // (group, key, key span, value), in execution order.
    let mut items = Vec::new();
    for (index, item) in tables.iter().enumerate() {
        let Some(table) = doc.table("each `[[step]]`", item) else {
            continue;
        };
        if table.is_empty() {
            doc.error(
                item.span(),
                "empty step",
                format!(
                    "empty `[[step]]`: give it one or more of {}",
                    STEP_KEYS.join(", ")
                ),
            );
            continue;
        }
        let mut reader = TableReader::new("[[step]]", table, item.span(), STEP_KEYS);
        let taken = reader.take_accepted();
        reader.finish(doc);
        for (key, key_span, value) in taken {
            items.push((index + 1, key, key_span, value));
        }
    }

    let mut steps = Vec::new();
    let mut last_send: Option<LastSend<'s>> = None;
    // The most recent probe's sender: `expect_private`'s default member.
    let mut last_sender: Option<String> = None;
    for (group, key, key_span, value) in items {
        let kind = match key {
            "send" => {
                let send = read_send(doc, value, defaults);
                last_sender = send.as_ref().map(|s| s.from.clone());
                last_send = Some(LastSend {
                    list: send
                        .as_ref()
                        .and_then(|send| list_of_send(suite, send))
                        .or(defaults.list),
                    valid: send.is_some(),
                });
                send.map(StepKind::Send)
            }
            "send_raw" => {
                let send = read_send_raw(doc, value, defaults);
                last_sender = send.as_ref().map(|s| s.from.clone());
                last_send = Some(LastSend {
                    list: send
                        .as_ref()
                        .and_then(|send| list_of(suite, &send.to))
                        .or(defaults.list),
                    valid: send.is_some(),
                });
                send.map(StepKind::SendRaw)
            }
            "expect_held" => {
                let sent = require_send(doc, key, &key_span, last_send);
                read_expect_held(doc, &key_span, value, sent).map(StepKind::ExpectHeld)
            }
            "moderate" => {
                let sent = require_send(doc, key, &key_span, last_send);
                read_moderate(doc, &key_span, value, sent).map(StepKind::Moderate)
            }
            "expect_not_delivered" => {
                require_send(doc, key, &key_span, last_send);
                read_window(doc, key, value, DEFAULT_ABSENCE).map(StepKind::ExpectNotDelivered)
            }
            "expect_not_archived" => {
                let sent = require_send(doc, key, &key_span, last_send);
                read_expect_not_archived(doc, &key_span, value, sent)
                    .map(StepKind::ExpectNotArchived)
            }
            "expect_notice" => {
                let sent = require_send(doc, key, &key_span, last_send);
                read_expect_notice(doc, value, sent).map(StepKind::ExpectNotice)
            }
            "expect_shunted" => {
                require_send(doc, key, &key_span, last_send);
                read_window(doc, key, value, DEFAULT_WITHIN).map(StepKind::ExpectShunted)
            }
            "expect_bounced" => {
                require_send(doc, key, &key_span, last_send);
                read_expect_bounced(doc, value).map(StepKind::ExpectBounced)
            }
            "expect_fate" => {
                require_send(doc, key, &key_span, last_send);
                read_expect_fate(doc, value).map(StepKind::ExpectFate)
            }
            "expect_smtp" => {
                require_send(doc, key, &key_span, last_send);
                read_expect_smtp(doc, value).map(StepKind::ExpectSmtp)
            }
            "expect_delivered" => {
                let sent = require_send(doc, key, &key_span, last_send);
                read_expect_delivered(doc, value, sent).map(StepKind::ExpectDelivered)
            }
            "expect_archived" => {
                let sent = require_send(doc, key, &key_span, last_send);
                read_expect_archived(doc, &key_span, value, sent).map(StepKind::ExpectArchived)
            }
            "expect_private" => {
                let sent = require_send(doc, key, &key_span, last_send);
                read_expect_private(doc, &key_span, value, sent, last_sender.as_deref()).map(StepKind::ExpectPrivate)
            }
            "expect_digest" => {
                let sent = require_send(doc, key, &key_span, last_send);
                read_expect_digest(doc, &key_span, value, sent).map(StepKind::ExpectDigest)
            }
            "expect_settings" => read_expect_settings(doc, suite, defaults, &key_span, value).map(StepKind::ExpectSettings),
            "expect_page" => {
                read_expect_page(doc, suite, defaults, &key_span, value).map(StepKind::ExpectPage)
            }

            // Reachability is about the host, not a probe: no `send` needed.
            "expect_port" => read_expect_port(doc, value).map(StepKind::ExpectPort),
            "expect_ports" => super::ports::read_expect_ports(doc, value).map(StepKind::ExpectPorts),
            "expect_http" => read_expect_http(doc, value).map(StepKind::ExpectHttp),
            "expect_dns" => read_expect_dns(doc, value).map(StepKind::ExpectDns),

            "stop" => super::faults::read_service(doc, key, value).map(StepKind::Stop),
            "start" => super::faults::read_service(doc, key, value).map(StepKind::Start),
            "mta_queue_run" => super::faults::read_queue_run(doc, value).map(StepKind::MtaQueueRun),
            "sink_fault" => super::faults::read_sink_fault(doc, value).map(StepKind::SinkFault),
            "expect_queued" => {
                require_send(doc, key, &key_span, last_send);
                super::faults::read_expect_queued(doc, value).map(StepKind::ExpectQueued)
            }

            "expect_every_list_answers" => super::sweep::read_expect_every_list_answers(doc, value).map(StepKind::ExpectEveryListAnswers),
            // Cutover: about the host, not a probe, but for `holds_domain`.
            "expect_mta_queue" => {
                let exp = super::cutover::read_expect_mta_queue(doc, value);
                if exp.as_ref().is_some_and(|e| e.holds_domain.is_some()) {
                    require_send(doc, key, &key_span, last_send);
                }
                exp.map(StepKind::ExpectMtaQueue)
            }
            "expect_mailman_queues" => super::cutover::read_expect_mailman_queues(doc, value).map(StepKind::ExpectMailmanQueues),
            "expect_dns_ttl" => super::cutover::read_expect_dns_ttl(doc, value).map(StepKind::ExpectDnsTtl),
            "expect_banner" => super::cutover::read_expect_banner(doc, value).map(StepKind::ExpectBanner),
            "expect_old_host" => {
                super::cutover::read_expect_old_host(doc, suite, defaults.list, &key_span, value).map(StepKind::ExpectOldHost)
            }
            "expect_permissions_clean" => super::cutover::read_expect_permissions_clean(doc, value).map(|()| StepKind::ExpectPermissionsClean),
            "mta_hold" => super::cutover::read_hold_domain(doc, key, value).map(StepKind::MtaHold),
            "mta_release" => super::cutover::read_hold_domain(doc, key, value).map(StepKind::MtaRelease),

            other => unreachable!("`{other}` is not in STEP_KEYS"),
        };
        if let Some(kind) = kind {
            let location = doc.location(&key_span);
            steps.push(Step {
                group,
                location,
                kind,
            });
        }
    }
    steps
}

/// Expectations are about the most recent `send`; report when there is none.
fn require_send<'s>(
    doc: &mut Doc,
    key: &str,
    key_span: &Span,
    last_send: Option<LastSend<'s>>,
) -> Option<LastSend<'s>> {
    if last_send.is_none() {
        doc.error(
            key_span.clone(),
            "no `send` before this",
            format!("`{key}` must come after a `send`: it checks the most recent one"),
        );
    }
    last_send
}

/// The declared list a probe was addressed to, when it went to exactly one.
fn list_of_send<'s>(suite: &'s Suite, send: &SendSpec) -> Option<&'s ListDecl> {
    list_of(suite, &send.to)
}

fn list_of<'s>(suite: &'s Suite, to: &[String]) -> Option<&'s ListDecl> {
    match to {
        [only] => suite.list(only),
        _ => None,
    }
}

fn read_send(doc: &mut Doc, value: &Value<'_>, defaults: Defaults<'_>) -> Option<SendSpec> {
    let table = doc.table("`send`", value)?;
    let mut reader = TableReader::new("send", table, value.span(), SEND_KEYS);
    let from = reader.required(doc, "from").and_then(|value| {
        doc.checked_string(&reader.field("from"), "address", check_address, value)
    });
    let subject = reader
        .required(doc, "subject")
        .and_then(|value| fields::header_line(doc, &reader.field("subject"), value));
    let body = reader
        .optional("body")
        .and_then(|value| doc.string(&reader.field("body"), value))
        .map(str::to_string);
    let to = match (reader.optional("to"), defaults.list) {
        (Some(value), _) => fields::addresses(doc, &reader.field("to"), value, false),
        (None, Some(list)) => Some(vec![list.address()]),
        (None, None) if defaults.list_written => None,
        (None, None) => {
            doc.error(
                value.span(),
                "no recipient",
                "`send` has no `to` and the scenario has no `list`: add one of them",
            );
            None
        }
    };
    let headers = match reader.optional("headers") {
        Some(value) => fields::headers(doc, &reader.field("headers"), value, read_send_header),
        None => Some(Vec::new()),
    };
    let attachments = match reader.optional("attachments") {
        Some(value) => read_attachments(doc, &reader.field("attachments"), value),
        None => Some(Vec::new()),
    };
    reader.finish(doc);
    Some(SendSpec {
        from: from?,
        to: to?,
        subject: subject?,
        body,
        headers: headers?,
        attachments: attachments?,
    })
}

/// `attachments = [{ name = "a.pdf", content_type = "application/pdf", size = "64KB" }]`.
/// Every entry is checked; `None` when any of them is wrong.
fn read_attachments(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<Vec<Attachment>> {
    let items = doc.array(what, value)?;
    let mut found = Vec::new();
    let mut all_valid = true;
    for item in items {
        match read_attachment(doc, item) {
            Some(attachment) => found.push(attachment),
            None => all_valid = false,
        }
    }
    all_valid.then_some(found)
}

fn read_attachment(doc: &mut Doc, value: &Value<'_>) -> Option<Attachment> {
    let table = doc.table("each entry of `send.attachments`", value)?;
    let mut reader = TableReader::new("send.attachments", table, value.span(), ATTACHMENT_KEYS);
    let name = reader.required(doc, "name").and_then(|value| {
        let what = reader.field("name");
        let name = fields::header_line(doc, &what, value)?;
        if name.trim().is_empty() {
            doc.error(value.span(), "empty", format!("{what} must not be empty"));
            return None;
        }
        Some(name)
    });
    let content_type = match reader.optional("content_type") {
        Some(value) => {
            doc.checked_string(&reader.field("content_type"), "content type", check_mime_type, value)
        }
        None => Some(DEFAULT_ATTACHMENT_TYPE.to_string()),
    };
    let size = reader
        .required(doc, "size")
        .and_then(|value| read_size(doc, &reader.field("size"), value));
    reader.finish(doc);
    Some(Attachment {
        name: name?,
        content_type: content_type?,
        size: size?,
    })
}

/// A size in bytes: an integer, or a string like "64KB" or "2MB" (KB and MB
/// of 1024, as Mailman counts); at most [`MAX_ATTACHMENT_SIZE`].
fn read_size(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<u64> {
    let max = MAX_ATTACHMENT_SIZE as i64;
    let bytes = match value.get_ref() {
        DeValue::Integer(_) => doc.integer_in(what, 0..=max, value)? as u64,
        DeValue::String(text) => match parse_size(text) {
            Ok(bytes) => bytes,
            Err(reason) => {
                doc.error(
                    value.span(),
                    "invalid size",
                    format!("invalid size `{}` in {what}: {reason}", reader::shown(text)),
                );
                return None;
            }
        },
        _ => {
            doc.wrong_type(what, "an integer (bytes) or a string like \"64KB\"", value);
            return None;
        }
    };
    if bytes > MAX_ATTACHMENT_SIZE {
        doc.error(
            value.span(),
            "too large",
            format!("{what} must be at most 100MB ({MAX_ATTACHMENT_SIZE} bytes)"),
        );
        return None;
    }
    Some(bytes)
}

/// A header to send. Message-ID is refused: the harness sets exactly one per
/// probe to correlate it, and Mailman shunts a message that carries two.
fn read_send_header(doc: &mut Doc, header: &Header<'_, '_>) -> Option<String> {
    if header.name.eq_ignore_ascii_case("Message-ID") {
        doc.error(
            header.name_span.clone(),
            "set by the harness",
            format!(
                "{} cannot set `{}`: the harness gives each probe its own Message-ID",
                header.table, header.name
            ),
        );
        return None;
    }
    fields::header_text(doc, header)
}

fn read_expect_smtp(doc: &mut Doc, value: &Value<'_>) -> Option<SmtpExpectation> {
    let table = match value.get_ref() {
        DeValue::Integer(_) => {
            let code = doc.integer_in("`expect_smtp`", SMTP_CODES, value)?;
            return Some(SmtpExpectation {
                code: code as u16,
                text_contains: None,
                at: None,
            });
        }
        DeValue::Table(table) => table,
        _ => {
            doc.wrong_type("`expect_smtp`", "an integer or a table", value);
            return None;
        }
    };
    let mut reader = TableReader::new("expect_smtp", table, value.span(), SMTP_KEYS);
    let code = reader
        .required(doc, "code")
        .and_then(|value| doc.integer_in(&reader.field("code"), SMTP_CODES, value));
    // A bad optional value is reported and left as None: the file then
    // fails anyway, and the remaining keys still get checked.
    let text_contains = reader
        .optional("text_contains")
        .and_then(|value| doc.string(&reader.field("text_contains"), value))
        .map(str::to_string);
    let at = reader
        .optional("at")
        .and_then(|value| read_stage(doc, &reader.field("at"), value));
    reader.finish(doc);
    Some(SmtpExpectation {
        code: code? as u16,
        text_contains,
        at,
    })
}

fn read_stage(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<SmtpStage> {
    fields::one_of(doc, what, "SMTP stage", value, &SmtpStage::ALL, SmtpStage::as_str)
}

fn read_expect_delivered(
    doc: &mut Doc,
    value: &Value<'_>,
    sent: Option<LastSend<'_>>,
) -> Option<DeliveryExpectation> {
    let table = doc.table("`expect_delivered`", value)?;
    let mut reader = TableReader::new("expect_delivered", table, value.span(), DELIVERED_KEYS);
    let to = match reader.optional("to") {
        Some(value) => fields::addresses(doc, &reader.field("to"), value, false),
        None => default_recipients(doc, value, sent),
    };
    let headers = match reader.optional("headers") {
        Some(value) => fields::headers(
            doc,
            &reader.field("headers"),
            value,
            read_header_expectation,
        ),
        None => Some(Vec::new()),
    };
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_WITHIN);
    reader.finish(doc);
    let to = to?;
    // Members whose delivery is a digest or off must not get the post as sent.
    let not_to = sent
        .and_then(|s| s.list)
        .map(|list| list.not_regular_members().into_iter().filter(|m| !to.iter().any(|t| t.eq_ignore_ascii_case(m))).collect())
        .unwrap_or_default();
    Some(DeliveryExpectation {
        to,
        not_to,
        headers: headers?,
        within: within?,
    })
}

/// Without `to`, a delivery is expected to every member of the list the
/// probe was sent to.
fn default_recipients(
    doc: &mut Doc,
    value: &Value<'_>,
    sent: Option<LastSend<'_>>,
) -> Option<Vec<String>> {
    let sent = sent.filter(|sent| sent.valid)?;
    let Some(list) = sent.list else {
        doc.error(
            value.span(),
            "no recipients",
            "`expect_delivered` has no `to`, and the probe was not sent to a declared list \
             whose members could be expected: add `to`",
        );
        return None;
    };
    let regular = list.regular_members();
    if regular.is_empty() {
        // An empty expectation would pass without checking anything.
        doc.error(
            value.span(),
            "no recipients",
            format!(
                "`expect_delivered` has no `to`, and list `{}` has no members with regular delivery in the suite: add `to` or members",
                list.name
            ),
        );
        return None;
    }
    Some(regular)
}

/// `"text"`: present and contains it; `true`: present; `false`: absent.
fn read_header_expectation(doc: &mut Doc, header: &Header<'_, '_>) -> Option<HeaderExpectation> {
    let value = header.value;
    match value.get_ref() {
        DeValue::String(text) => Some(HeaderExpectation::Contains(text.to_string())),
        DeValue::Boolean(true) => Some(HeaderExpectation::Present),
        DeValue::Boolean(false) => Some(HeaderExpectation::Absent),
        _ => {
            doc.wrong_type(&header.what(), "a string, true or false", value);
            None
        }
    }
}

fn read_expect_archived(
    doc: &mut Doc,
    key_span: &Span,
    value: &Value<'_>,
    sent: Option<LastSend<'_>>,
) -> Option<ArchiveExpectation> {
    let table = doc.table("`expect_archived`", value)?;
    let mut reader = TableReader::new("expect_archived", table, value.span(), ARCHIVED_KEYS);
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_WITHIN);
    let archive = match reader.optional("archive") {
        Some(value) => read_archive_kind(doc, &reader.field("archive"), value),
        None => Some(ArchiveKind::Prototype),
    };
    reader.finish(doc);
    let list = sent_list(doc, "expect_archived", key_span, sent)?;
    Some(ArchiveExpectation {
        list: list.address(),
        archive: archive?,
        within: within?,
    })
}

/// `expect_private = { member = "pia@probe.test", within = "60s" }`.
fn read_expect_private(
    doc: &mut Doc,
    key_span: &Span,
    value: &Value<'_>,
    sent: Option<LastSend<'_>>,
    sender: Option<&str>,
) -> Option<PrivateExpectation> {
    let table = doc.table("`expect_private`", value)?;
    let mut reader = TableReader::new("expect_private", table, value.span(), PRIVATE_KEYS);
    let member_value = reader.optional("member");
    let member = match member_value {
        Some(value) => doc.checked_string(&reader.field("member"), "address", check_address, value),
        None => sender.map(str::to_string),
    };
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_WITHIN);
    reader.finish(doc);
    let list = sent_list(doc, "expect_private", key_span, sent)?;
    let member = member?;
    if !list.members.iter().any(|m| m.eq_ignore_ascii_case(&member)) {
        let span = member_value.map(|v| v.span()).unwrap_or(key_span.clone());
        doc.error(
            span,
            "not a member",
            format!("`expect_private` needs a member of `{}` to look as: `{member}` is not in its `members` (give `member`)", list.name),
        );
        return None;
    }
    Some(PrivateExpectation { list: list.address(), member, within: within? })
}

/// `expect_digest = { to = ["dig@probe.test"], within = "60s" }`.
fn read_expect_digest(doc: &mut Doc, key_span: &Span, value: &Value<'_>, sent: Option<LastSend<'_>>) -> Option<DigestExpectation> {
    let table = doc.table("`expect_digest`", value)?;
    let mut reader = TableReader::new("expect_digest", table, value.span(), DIGEST_KEYS);
    let to = reader.optional("to").map(|value| fields::addresses(doc, &reader.field("to"), value, false));
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_WITHIN);
    reader.finish(doc);
    let list = sent_list(doc, "expect_digest", key_span, sent)?;
    let to = match to {
        Some(to) => to?,
        None => {
            let digest = list.digest_members();
            if digest.is_empty() {
                doc.error(
                    key_span.clone(),
                    "no digest members",
                    format!("`expect_digest` has no `to`, and list `{}` has no digest members in the suite: give a member `delivery = \"mime_digests\"`", list.name),
                );
                return None;
            }
            digest
        }
    };
    Some(DigestExpectation { list_id: list.list_id(), to, within: within? })
}

/// `expect_settings = {}` (the scenario's list) or `{ list = "..." }`:
/// about a list, not a probe, so it needs no `send` before it.
fn read_expect_settings(doc: &mut Doc, suite: &Suite, defaults: Defaults<'_>, key_span: &Span, value: &Value<'_>) -> Option<SettingsExpectation> {
    let table = doc.table("`expect_settings`", value)?;
    let mut reader = TableReader::new("expect_settings", table, value.span(), SETTINGS_STEP_KEYS);
    let list_value = reader.optional("list");
    let list = match list_value {
        Some(value) => resolve_list(doc, suite, value),
        None => defaults.list,
    };
    reader.finish(doc);
    if list.is_none() && list_value.is_none() && !defaults.list_written {
        doc.error(key_span.clone(), "which list?", "`expect_settings` needs a list: give the scenario a `list`, or give the step one");
    }
    let list = list?;
    if list.settings.values.is_empty() && list.archivers.is_empty() {
        doc.error(key_span.clone(), "nothing to compare", format!("list `{}` declares no `settings` or `archivers` in the suite", list.name));
        return None;
    }
    Some(SettingsExpectation { list: list.address() })
}

fn read_archive_kind(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<ArchiveKind> {
    fields::one_of(doc, what, "archive", value, &ArchiveKind::ALL, ArchiveKind::as_str)
}

/// The list the most recent probe went to, for steps that look at a list's
/// archive or held queue; reported when there is none.
fn sent_list<'s>(
    doc: &mut Doc,
    key: &str,
    key_span: &Span,
    sent: Option<LastSend<'s>>,
) -> Option<&'s ListDecl> {
    let sent = sent.filter(|sent| sent.valid)?;
    if sent.list.is_none() {
        doc.error(
            key_span.clone(),
            "which list?",
            format!("`{key}` needs a list: give the scenario a `list`, or send to exactly one declared list"),
        );
    }
    sent.list
}

fn read_send_raw(doc: &mut Doc, value: &Value<'_>, defaults: Defaults<'_>) -> Option<RawSendSpec> {
    let table = doc.table("`send_raw`", value)?;
    let mut reader = TableReader::new("send_raw", table, value.span(), SEND_RAW_KEYS);
    let from = reader.required(doc, "from").and_then(|value| {
        doc.checked_string(&reader.field("from"), "address", check_address, value)
    });
    let to = match (reader.optional("to"), defaults.list) {
        (Some(value), _) => fields::addresses(doc, &reader.field("to"), value, false),
        (None, Some(list)) => Some(vec![list.address()]),
        (None, None) if defaults.list_written => None,
        (None, None) => {
            doc.error(
                value.span(),
                "no recipient",
                "`send_raw` has no `to` and the scenario has no `list`: add one of them",
            );
            None
        }
    };
    let data = reader
        .required(doc, "data")
        .and_then(|value| read_raw_data(doc, &reader.field("data"), value));
    reader.finish(doc);
    Some(RawSendSpec {
        from: from?,
        to: to?,
        data: data?,
    })
}

/// The text of `send_raw.data`: it must let the harness follow the probe,
/// by `{message_id}` (in a Message-ID header), by `{probe_header}` (the
/// `X-Mailflow-Probe` header, on a line of its own in the header section,
/// at most once), or both.
fn read_raw_data(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<String> {
    let data = doc.string(what, value)?;
    let header_lines = data.lines().take_while(|line| !line.trim_end_matches('\r').is_empty());
    let as_header = header_lines.filter(|line| line.trim_end_matches('\r') == PROBE_HEADER_PLACEHOLDER).count();
    let written = data.matches(PROBE_HEADER_PLACEHOLDER).count();
    if !data.contains(MESSAGE_ID_PLACEHOLDER) && written == 0 {
        // Without either, nothing could be observed, and the harness could
        // never tell its message from anyone else's.
        doc.error(
            value.span(),
            "nothing to follow the probe by",
            format!(
                "{what} must contain `{MESSAGE_ID_PLACEHOLDER}` (in a Message-ID header) or `{PROBE_HEADER_PLACEHOLDER}` \
                 (a line of its own in the header section): the harness follows the probe by them"
            ),
        );
        return None;
    }
    if written > 1 {
        let span = doc.span_of(&value.span(), PROBE_HEADER_PLACEHOLDER, 1);
        doc.error(
            span,
            "a second probe header",
            format!("{what} may contain `{PROBE_HEADER_PLACEHOLDER}` only once: a probe has one probe header"),
        );
        return None;
    }
    if written == 1 && as_header == 0 {
        let span = doc.span_of(&value.span(), PROBE_HEADER_PLACEHOLDER, 0);
        doc.error(
            span,
            "not a header line",
            format!(
                "`{PROBE_HEADER_PLACEHOLDER}` in {what} must be a line of its own in the header section \
                 (before the first empty line): it becomes the `{}` header",
                crate::probe::PROBE_HEADER
            ),
        );
        return None;
    }
    Some(data.to_string())
}

/// `expect_bounced = { status = "5.x.x", diagnostic_contains = "...", within = "30s" }`.
fn read_expect_bounced(doc: &mut Doc, value: &Value<'_>) -> Option<BounceExpectation> {
    let table = doc.table("`expect_bounced`", value)?;
    let mut reader = TableReader::new("expect_bounced", table, value.span(), BOUNCED_KEYS);
    // `Some(None)`: written, but wrong (reported).
    let status = reader.optional("status").map(|value| {
        let what = reader.field("status");
        let text = doc.string(&what, value)?;
        match parse_status_pattern(text) {
            Ok(pattern) => Some(pattern),
            Err(reason) => {
                doc.error(
                    value.span(),
                    "invalid status",
                    format!("invalid status `{}` in {what}: {reason}", reader::shown(text)),
                );
                None
            }
        }
    });
    let diagnostic_contains = reader
        .optional("diagnostic_contains")
        .and_then(|value| doc.string(&reader.field("diagnostic_contains"), value))
        .map(str::to_string);
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_WITHIN);
    reader.finish(doc);
    let status = match status {
        Some(None) => return None,
        Some(found) => found,
        None => None,
    };
    Some(BounceExpectation { status, diagnostic_contains, within: within? })
}

/// `expect_fate = "bounced"` or `expect_fate = { fate = "bounced", within = "30s" }`.
fn read_expect_fate(doc: &mut Doc, value: &Value<'_>) -> Option<FateExpectation> {
    let read_fate = |doc: &mut Doc, what: &str, value: &Value<'_>| fields::one_of(doc, what, "fate", value, &Fate::ALL, Fate::as_str);
    let (fate, within) = match value.get_ref() {
        DeValue::String(_) => (read_fate(doc, "`expect_fate`", value), Some(DEFAULT_WITHIN)),
        DeValue::Table(table) => {
            let mut reader = TableReader::new("expect_fate", table, value.span(), FATE_KEYS);
            let fate = reader.required(doc, "fate").and_then(|value| read_fate(doc, &reader.field("fate"), value));
            let within_value = reader.optional("within");
            let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_WITHIN);
            reader.finish(doc);
            (fate, within)
        }
        _ => {
            doc.wrong_type("`expect_fate`", "a string or a table", value);
            return None;
        }
    };
    Some(FateExpectation { fate: fate?, within: within? })
}

fn read_expect_held(
    doc: &mut Doc,
    key_span: &Span,
    value: &Value<'_>,
    sent: Option<LastSend<'_>>,
) -> Option<HeldExpectation> {
    let table = doc.table("`expect_held`", value)?;
    let mut reader = TableReader::new("expect_held", table, value.span(), HELD_KEYS);
    let reason_contains = reader
        .optional("reason_contains")
        .and_then(|value| doc.string(&reader.field("reason_contains"), value))
        .map(str::to_string);
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_WITHIN);
    reader.finish(doc);
    let list = sent_list(doc, "expect_held", key_span, sent)?;
    Some(HeldExpectation {
        list: list.address(),
        reason_contains,
        within: within?,
    })
}

/// `moderate = "discard"` or `moderate = { action = "reject", comment = "..." }`.
fn read_moderate(
    doc: &mut Doc,
    key_span: &Span,
    value: &Value<'_>,
    sent: Option<LastSend<'_>>,
) -> Option<Moderation> {
    let read_action = |doc: &mut Doc, what: &str, value: &Value<'_>| {
        fields::one_of(
            doc,
            what,
            "moderation action",
            value,
            &ModerationAction::ALL,
            ModerationAction::as_str,
        )
    };
    let (action, comment, within) = match value.get_ref() {
        DeValue::String(_) => (
            read_action(doc, "`moderate`", value),
            None,
            Some(DEFAULT_WITHIN),
        ),
        DeValue::Table(table) => {
            let mut reader = TableReader::new("moderate", table, value.span(), MODERATE_KEYS);
            let action = reader
                .required(doc, "action")
                .and_then(|value| read_action(doc, &reader.field("action"), value));
            let comment_value = reader.optional("comment");
            let comment = comment_value
                .and_then(|value| doc.string(&reader.field("comment"), value))
                .map(str::to_string);
            if let (Some(value), Some(action)) = (comment_value, action) {
                if action != ModerationAction::Reject {
                    doc.error(
                        value.span(),
                        "only with reject",
                        format!("`moderate.comment` is the reason sent to the sender of a rejected post; it cannot go with `{action}`"),
                    );
                }
            }
            let within_value = reader.optional("within");
            let within =
                fields::duration(doc, &reader.field("within"), within_value, DEFAULT_WITHIN);
            reader.finish(doc);
            (action, comment, within)
        }
        _ => {
            doc.wrong_type("`moderate`", "a string or a table", value);
            return None;
        }
    };
    let list = sent_list(doc, "moderate", key_span, sent)?;
    Some(Moderation {
        list: list.address(),
        action: action?,
        comment,
        within: within?,
    })
}

/// `{ within = "..." }`.
fn read_window(doc: &mut Doc, key: &str, value: &Value<'_>, default: Duration) -> Option<Window> {
    let table = doc.table(&format!("`{key}`"), value)?;
    let mut reader = TableReader::new(key, table, value.span(), WINDOW_KEYS);
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, default);
    reader.finish(doc);
    Some(Window { within: within? })
}

fn read_expect_not_archived(
    doc: &mut Doc,
    key_span: &Span,
    value: &Value<'_>,
    sent: Option<LastSend<'_>>,
) -> Option<NotArchivedExpectation> {
    let table = doc.table("`expect_not_archived`", value)?;
    let mut reader = TableReader::new(
        "expect_not_archived",
        table,
        value.span(),
        NOT_ARCHIVED_KEYS,
    );
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_ABSENCE);
    // Without `archive`: every kind the target can read.
    let archives = match reader.optional("archive") {
        Some(value) => read_archive_kind(doc, &reader.field("archive"), value).map(|kind| vec![kind]),
        None => Some(ArchiveKind::ALL.to_vec()),
    };
    reader.finish(doc);
    let list = sent_list(doc, "expect_not_archived", key_span, sent)?;
    Some(NotArchivedExpectation {
        list: list.address(),
        archives: archives?,
        within: within?,
    })
}

/// `to` is an address, or `"owner"` / `"moderator"`: every owner (or
/// moderator) the suite declares for the list the probe went to.
fn read_expect_notice(doc: &mut Doc, value: &Value<'_>, sent: Option<LastSend<'_>>) -> Option<NoticeExpectation> {
    let table = doc.table("`expect_notice`", value)?;
    let mut reader = TableReader::new("expect_notice", table, value.span(), NOTICE_KEYS);
    // `Some(None)`: written, but not usable (reported).
    let to = reader.optional("to").map(|value| -> Option<(Vec<String>, Option<String>)> {
        let what = reader.field("to");
        let text = doc.string(&what, value)?;
        let role = match text {
            "owner" => "owners",
            "moderator" => "moderators",
            _ => return doc.checked_string(&what, "address", check_address, value).map(|a| (vec![a], None)),
        };
        // The send's own errors were reported already.
        let sent = sent.filter(|s| s.valid)?;
        let Some(list) = sent.list else {
            doc.error(value.span(), "no list", format!("{what} is `{text}`, but the probe was not sent to a declared list whose {role} could be expected"));
            return None;
        };
        let addresses = if text == "owner" { &list.owners } else { &list.moderators };
        if addresses.is_empty() {
            doc.error(value.span(), format!("no {role}"), format!("{what} is `{text}`, but list `{}` declares no {role} in the suite: add `{role}`", list.name));
            return None;
        }
        Some((addresses.clone(), Some(text.to_string())))
    });
    let subject_contains = reader
        .optional("subject_contains")
        .and_then(|value| doc.string(&reader.field("subject_contains"), value))
        .map(str::to_string);
    let body_contains = reader
        .optional("body_contains")
        .and_then(|value| doc.string(&reader.field("body_contains"), value))
        .map(str::to_string);
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_WITHIN);
    reader.finish(doc);
    let (to, role) = match to {
        Some(None) => return None,
        Some(Some(found)) => found,
        None => (Vec::new(), None),
    };
    Some(NoticeExpectation {
        to,
        role,
        subject_contains,
        body_contains,
        within: within?,
    })
}

/// `expect_page = { page = "list-info", body_contains = "...", status = 200 }`:
/// about a list, not a probe, so it needs no `send` before it.
fn read_expect_page(
    doc: &mut Doc,
    suite: &Suite,
    defaults: Defaults<'_>,
    key_span: &Span,
    value: &Value<'_>,
) -> Option<PageExpectation> {
    let table = doc.table("`expect_page`", value)?;
    let mut reader = TableReader::new("expect_page", table, value.span(), PAGE_KEYS);
    let page = reader
        .required(doc, "page")
        .and_then(|value| read_page_kind(doc, &reader.field("page"), value));
    let list_value = reader.optional("list");
    let list = match list_value {
        Some(value) => resolve_list(doc, suite, value),
        None => defaults.list,
    };
    let status = match reader.optional("status") {
        Some(value) => doc.integer_in(&reader.field("status"), HTTP_CODES, value),
        None => Some(200),
    };
    let body_contains = reader
        .optional("body_contains")
        .and_then(|value| doc.string(&reader.field("body_contains"), value))
        .map(str::to_string);
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_PAGE_WITHIN);
    reader.finish(doc);
    if list.is_none() && list_value.is_none() && !defaults.list_written {
        doc.error(
            key_span.clone(),
            "which list?",
            "`expect_page` needs a list: give the scenario a `list`, or give the step one",
        );
    }
    Some(PageExpectation {
        list: list?.address(),
        page: page?,
        status: status? as u16,
        body_contains,
        within: within?,
    })
}

fn read_page_kind(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<PageKind> {
    fields::one_of(doc, what, "page", value, &PageKind::ALL, PageKind::as_str)
}

fn read_expect_port(doc: &mut Doc, value: &Value<'_>) -> Option<PortExpectation> {
    let table = doc.table("`expect_port`", value)?;
    let mut reader = TableReader::new("expect_port", table, value.span(), PORT_KEYS);
    let port = reader
        .required(doc, "port")
        .and_then(|value| doc.integer_in(&reader.field("port"), 1..=65535, value));
    let protocol = match reader.optional("protocol") {
        Some(value) => read_protocol(doc, &reader.field("protocol"), value),
        None => Some(Protocol::Tcp),
    };
    let vantage = reader.required(doc, "vantage").and_then(|value| read_vantage(doc, &reader.field("vantage"), value));
    let verdict = reader
        .required(doc, "verdict")
        .and_then(|value| read_port_state(doc, &reader.field("verdict"), value));
    let within_value = reader.optional("within");
    let within = port_within(doc, &reader.field("within"), within_value, value);
    reader.finish(doc);
    Some(PortExpectation {
        port: port? as u16,
        protocol: protocol?,
        vantage: vantage?,
        verdict: verdict?,
        within: within?,
    })
}

/// A vantage point's name: any non-blank string (the target says which exist).
pub(super) fn read_vantage(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<String> {
    let name = doc.string(what, value)?;
    if name.trim().is_empty() {
        doc.error(value.span(), "empty", format!("{what} must name a vantage point, like \"outside\""));
        return None;
    }
    Some(name.to_string())
}

/// How long a connection attempt may take: 100ms to 60s, 5s when not written.
pub(super) fn port_within(doc: &mut Doc, what: &str, within_value: Option<&Value<'_>>, table: &Value<'_>) -> Option<Duration> {
    fields::duration(doc, what, within_value, DEFAULT_PORT_WITHIN).filter(|within| {
        let ok = (MIN_PORT_WITHIN..=MAX_PORT_WITHIN).contains(within);
        if !ok {
            let span = within_value.map(Value::span).unwrap_or_else(|| table.span());
            doc.error(span, "out of range", format!("{what} must be between 100ms and 60s: it is how long a connection attempt may take"));
        }
        ok
    })
}

pub(super) fn read_protocol(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<Protocol> {
    let name = doc.string(what, value)?;
    let protocol = Protocol::ALL.into_iter().find(|p| p.as_str() == name);
    if protocol.is_none() {
        let names: Vec<&str> = Protocol::ALL.iter().map(|p| p.as_str()).collect();
        doc.error(
            value.span(),
            "unsupported protocol",
            format!(
                "unsupported protocol `{name}` in {what}; supported: {} (UDP cannot tell a filtered port from an open one that does not answer)",
                names.join(", ")
            ),
        );
    }
    protocol
}

fn read_port_state(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<PortState> {
    fields::one_of(doc, what, "verdict", value, &PortState::ALL, PortState::as_str)
}

fn read_expect_http(doc: &mut Doc, value: &Value<'_>) -> Option<HttpExpectation> {
    let table = doc.table("`expect_http`", value)?;
    let mut reader = TableReader::new("expect_http", table, value.span(), HTTP_KEYS);
    let scheme = match reader.optional("scheme") {
        Some(value) => read_scheme(doc, &reader.field("scheme"), value),
        None => Some(Scheme::Https),
    };
    let path = match reader.optional("path") {
        Some(value) => read_path(doc, &reader.field("path"), value),
        None => Some("/".to_string()),
    };
    let status = match reader.optional("status") {
        Some(value) => doc.integer_in(&reader.field("status"), 100..=599, value),
        None => Some(200),
    };
    let body_contains = reader
        .optional("body_contains")
        .and_then(|value| doc.string(&reader.field("body_contains"), value))
        .map(str::to_string);
    let redirect_to = reader
        .optional("redirect_to")
        .and_then(|value| doc.string(&reader.field("redirect_to"), value))
        .map(str::to_string);
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_HTTP_WITHIN);
    reader.finish(doc);
    Some(HttpExpectation {
        scheme: scheme?,
        path: path?,
        status: status? as u16,
        body_contains,
        redirect_to,
        within: within?,
    })
}

fn read_scheme(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<Scheme> {
    let name = doc.string(what, value)?;
    let scheme = Scheme::ALL.into_iter().find(|s| s.as_str() == name);
    if scheme.is_none() {
        doc.error(
            value.span(),
            "unknown scheme",
            format!("unknown scheme `{name}` in {what}; expected http or https"),
        );
    }
    scheme
}

/// A path on the web server: starts with `/`, no spaces or control characters.
fn read_path(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<String> {
    let path = doc.string(what, value)?;
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        doc.error(
            value.span(),
            "invalid path",
            format!("invalid path `{path}` in {what}: it must start with `/` and contain no spaces"),
        );
        return None;
    }
    Some(path.to_string())
}

fn read_expect_dns(doc: &mut Doc, value: &Value<'_>) -> Option<DnsExpectation> {
    let table = doc.table("`expect_dns`", value)?;
    let mut reader = TableReader::new("expect_dns", table, value.span(), DNS_KEYS);
    let name = reader.required(doc, "name").and_then(|value| {
        doc.checked_string(&reader.field("name"), "domain", check_domain, value)
    });
    let rtype = reader.required(doc, "type").and_then(|value| {
        let text = doc.string(&reader.field("type"), value)?;
        let found = DnsType::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(text));
        if found.is_none() {
            let names: Vec<&str> = DnsType::ALL.iter().map(|t| t.as_str()).collect();
            doc.error(
                value.span(),
                "unsupported type",
                format!("unsupported record type `{text}` in {}; expected one of {}", reader.field("type"), names.join(", ")),
            );
        }
        found
    });
    let values = match reader.optional("values") {
        Some(value) => {
            let what = reader.field("values");
            doc.array(&what, value).map(|items| {
                items
                    .iter()
                    .filter_map(|item| doc.string(&format!("each entry of {what}"), item).map(str::to_string))
                    .collect::<Vec<_>>()
            })
        }
        None => None,
    };
    let ttl_at_most = reader
        .optional("ttl_at_most")
        .and_then(|value| doc.integer_in(&reader.field("ttl_at_most"), 0..=i64::from(i32::MAX), value))
        .map(|ttl| ttl as u32);
    let server = reader.optional("server").and_then(|value| {
        let text = doc.string(&reader.field("server"), value)?;
        let parsed = text
            .parse::<std::net::SocketAddr>()
            .ok()
            .or_else(|| text.parse::<std::net::IpAddr>().ok().map(|ip| std::net::SocketAddr::new(ip, 53)));
        if parsed.is_none() {
            doc.error(
                value.span(),
                "invalid server",
                format!("invalid server `{text}` in {}: write an IP address, or IP:port", reader.field("server")),
            );
        }
        parsed
    });
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_DNS_WITHIN);
    reader.finish(doc);
    Some(DnsExpectation {
        name: name?,
        rtype: rtype?,
        values,
        ttl_at_most,
        server,
        within: within?,
    })
}
