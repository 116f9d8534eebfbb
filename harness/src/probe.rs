//! Probe mails: what the harness sends, and how it is recognised later.
//!
//! Each probe carries exactly one Message-ID, generated here under the probe
//! domain, and an `X-Mailflow-Probe` header naming the run, the scenario step
//! and that Message-ID. Both follow the probe (sink, exim's log, Mailman's
//! queues and archives; see [`ProbeKeys`]): the header also when a `send_raw`
//! message has an odd Message-ID, an empty one or none, or a server rewrote
//! it. Only the Message-ID entitles the harness to act on a message. Mailman
//! 3 shunts a message with two Message-IDs, so the harness never adds a
//! second one.
//!
//! `send` probes are built with mail-builder: it writes the Date, folds long
//! headers, encodes header text that cannot go as it is into RFC 2047 words
//! (printable ASCII goes as it is), and lays out the MIME parts (the text
//! body, then any attachments, as `multipart/mixed`). The loader
//! refuses header text with CR, LF or NUL and header names outside RFC 5322's
//! `ftext`; what reaches [`build`] anyway cannot start a header of its own.
//! `send_raw` probes are written as the scenario gives them.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use mail_builder::headers::address::Address;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::headers::HeaderType;
use mail_builder::MessageBuilder;

use crate::scenario::Attachment;

/// The header that names the probe and its run (`run=RUN; probe=LABEL;
/// id=MESSAGE-ID`), written by the harness and kept by Mailman.
pub const PROBE_HEADER: &str = "X-Mailflow-Probe";

/// Identifies one run of the harness; part of every probe's Message-ID.
///
/// Only ASCII letters, digits and `-`: it is written into Message-IDs (also
/// into `send_raw` messages, through `{message_id}`), so it can carry nothing
/// that would change a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunId(String);

impl RunId {
    /// A new id from the clock and the process id: unique enough across the
    /// runs that could share a list server, and readable in logs.
    pub fn new() -> Self {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        RunId(format!("{}-{:x}{:04x}", std::process::id(), now.as_secs(), now.subsec_micros() & 0xffff))
    }
    /// A given id (tests; a run that must recognise an earlier run's probes).
    /// Any character other than an ASCII letter, digit or `-` becomes `-`.
    pub fn from_string(id: impl Into<String>) -> Self {
        RunId(id.into().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a scenario asks to send. Header text is expected to be checked
/// already (see [`crate::scenario::SendSpec`]).
#[derive(Debug, Clone)]
pub struct ProbeSpec<'a> {
    /// Envelope sender and `From:`: a bare address.
    pub from: &'a str,
    /// Envelope recipients and `To:`.
    pub to: &'a [String],
    /// The Subject, unencoded.
    pub subject: &'a str,
    /// The text body; `None` for one line naming the probe's Message-ID.
    pub body: Option<&'a str>,
    /// Extra headers, written after the probe's own; a Message-ID among them
    /// is left out (the probe has its own, and only one).
    pub headers: &'a [(String, String)],
    /// Generated attachments (see [`attachment_content`]); with any, the
    /// probe is `multipart/mixed`.
    pub attachments: &'a [Attachment],
}

/// A built probe, ready to send.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The probe's own Message-ID, with angle brackets: generated for every
    /// probe, the key for the cleanup and the only one moderation acts on.
    /// `send` probes carry it as their Message-ID header; a `send_raw`
    /// probe carries it only where its data says `{message_id}`.
    pub message_id: String,
    /// The Message-ID header as sent, trimmed: [`Probe::message_id`] for
    /// `send` probes; for `send_raw` whatever the data made of it (doubled
    /// angle brackets, empty, ...); `None` when the message has none.
    pub sent_message_id: Option<String>,
    /// The value of the [`PROBE_HEADER`] as sent (`run=RUN; probe=LABEL`);
    /// `None` for a `send_raw` message without `{probe_header}`.
    pub probe_header: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The body text as given (before encoding and CRLF line ends).
    pub body: String,
    /// The message in wire form, CRLF line ends, not yet dot-stuffed.
    pub bytes: Vec<u8>,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Every Message-ID this process gave a probe, for the run-wide cleanup
/// (after the last scenario, and on Ctrl-C).
static ISSUED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn next_message_id(run: &RunId, probe_domain: &str) -> String {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    // The loader checks the probe domain; keep a bad one out of the header anyway.
    let domain: String =
        probe_domain.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' }).collect();
    let message_id = format!("<mailflow.{run}.{seq}@{domain}>");
    if let Ok(mut issued) = ISSUED.lock() {
        issued.push(message_id.clone());
    }
    message_id
}

/// The Message-IDs this process built for `run`'s probes so far.
pub fn issued_ids(run: &RunId) -> Vec<String> {
    let prefix = format!("<mailflow.{run}.");
    ISSUED.lock().map(|ids| ids.iter().filter(|id| id.starts_with(&prefix)).cloned().collect()).unwrap_or_default()
}

/// Builds a probe for `run`, named `label` in its probe header.
///
/// Headers, in order: From, To, Subject, Date, Message-ID, the probe header,
/// the extra headers, MIME-Version, then the body's Content-Type and
/// Content-Transfer-Encoding (7bit, quoted-printable or base64, whichever
/// the text needs).
pub fn build(run: &RunId, probe_domain: &str, label: &str, spec: &ProbeSpec<'_>) -> Probe {
    let message_id = next_message_id(run, probe_domain);
    let body = spec.body.map(str::to_string).unwrap_or_else(|| format!("mailflow probe {message_id}\n"));
    let mut text = body.clone();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let to: Vec<Address<'_>> = spec.to.iter().map(|a| Address::from(a.as_str())).collect();
    let bare_id = message_id.trim_start_matches('<').trim_end_matches('>');
    let mut message = MessageBuilder::new()
        .from(spec.from)
        .to(Address::new_list(to))
        .header("Subject", header_text(spec.subject))
        .date(Date::now())
        .message_id(bare_id)
        .header(PROBE_HEADER, header_text(probe_header_value(run, label, &message_id)))
        .text_body(text);
    for (name, value) in spec.headers {
        if name.eq_ignore_ascii_case("Message-ID") {
            continue;
        }
        message = message.header(header_name(name), header_text(value.as_str()));
    }
    for attachment in spec.attachments {
        let content_type = if is_mime_type(&attachment.content_type) {
            attachment.content_type.as_str()
        } else {
            "application/octet-stream"
        };
        message = message.attachment(content_type, attachment.name.as_str(), attachment_content(attachment.size));
    }
    // Writing into a Vec cannot fail.
    let bytes = message.write_to_vec().unwrap_or_default();
    Probe {
        sent_message_id: Some(message_id.clone()),
        probe_header: Some(probe_header_value(run, label, &message_id)),
        message_id,
        from: spec.from.to_string(),
        to: spec.to.to_vec(),
        subject: spec.subject.to_string(),
        body,
        bytes,
    }
}

/// `run=RUN; probe=LABEL; id=MESSAGE-ID` (the probe's own Message-ID
/// without angle brackets): unique per probe, also when one scenario runs
/// twice in a run. Control characters in the label become spaces.
fn probe_header_value(run: &RunId, label: &str, message_id: &str) -> String {
    let label: String = label.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let id = message_id.trim_start_matches('<').trim_end_matches('>');
    format!("run={run}; probe={label}; id={id}")
}

/// What a probe is followed by in mailboxes, logs, queues and archives:
/// every Message-ID it is known under (its own, the one sent, and those its
/// copies arrived with) and its probe header. Senders write odd
/// Message-IDs and servers rewrite some; the probe header survives both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeKeys {
    /// With angle brackets as written, trimmed; never empty, no repeats.
    pub message_ids: Vec<String>,
    /// The probe header's value, when the probe carries it.
    pub probe_header: Option<String>,
}

impl ProbeKeys {
    /// The probe's own Message-ID, the one it was sent with, and its probe header.
    pub fn of(probe: &Probe) -> ProbeKeys {
        let mut keys = ProbeKeys { message_ids: Vec::new(), probe_header: probe.probe_header.clone() };
        keys.add_id(&probe.message_id);
        if let Some(sent) = &probe.sent_message_id {
            keys.add_id(sent);
        }
        keys
    }

    /// Adds a Message-ID a copy arrived with (ignored when empty or known).
    pub fn add_id(&mut self, id: &str) {
        let id = id.trim();
        if !id.is_empty() && !self.message_ids.iter().any(|known| known == id) {
            self.message_ids.push(id.to_string());
        }
    }

    /// The Message-IDs without their outer angle brackets, as exim logs
    /// them (`id=...`) and as they appear inside other text; never empty.
    pub fn bare_ids(&self) -> Vec<&str> {
        self.message_ids
            .iter()
            .map(|id| {
                let id = id.strip_prefix('<').unwrap_or(id);
                id.strip_suffix('>').unwrap_or(id)
            })
            .filter(|id| !id.trim().is_empty())
            .collect()
    }
}

/// Whether two values of the probe header are the same probe's: equal but
/// for folding and runs of white space, which mail servers may change.
pub fn same_probe_header(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// Header text as a person would write it when it can be: printable ASCII
/// without leading or trailing spaces and without words too long for a line
/// is written as it is and folded at its spaces (as mail clients do; `grep`
/// finds it). Anything else becomes RFC 2047 encoded words. Either way,
/// unfolding and decoding give back `text` exactly, except that text which
/// already holds encoded words (`=?utf-8?q?...?=`) is sent as written, for
/// scenarios that want a pre-encoded header, and readers decode it.
fn header_text<'x>(text: impl Into<Cow<'x, str>>) -> HeaderType<'x> {
    let text = text.into();
    let plain = text.bytes().all(|b| (b' '..=b'~').contains(&b))
        && text.trim() == text
        && text.split(' ').all(|word| word.len() <= 76);
    if plain {
        Raw::new(text).into()
    } else {
        Text::new(text).into()
    }
}

/// The name as written. The loader accepts only RFC 5322 `ftext` (printable
/// ASCII except `:`); anything else that gets here becomes `-`, so a name can
/// never end the header line.
fn header_name(name: &str) -> Cow<'_, str> {
    let ftext = |c: char| c.is_ascii_graphic() && c != ':';
    if !name.is_empty() && name.chars().all(ftext) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(name.chars().map(|c| if ftext(c) { c } else { '-' }).collect())
    }
}

/// `type/subtype` in printable ASCII, without parameters (the loader checks
/// the token characters too).
fn is_mime_type(text: &str) -> bool {
    text.split_once('/').is_some_and(|(kind, subtype)| {
        !kind.is_empty() && !subtype.is_empty() && text.chars().all(|c| c.is_ascii_graphic() && c != ';')
    })
}

/// One line of an attachment's content: 62 printable characters and CRLF.
const FILLER_LINE: &[u8; 64] = b"mailflow attachment filler: the same 62 characters, every line\r\n";

/// The content of a generated attachment: exactly `size` bytes (the loader
/// allows at most [`crate::scenario::MAX_ATTACHMENT_SIZE`]), one 64-byte line
/// of ASCII text (62 characters and CRLF) repeated and cut off at `size`; the
/// same for every probe. A cut that would leave a bare CR at the end ends
/// with `.` instead.
pub fn attachment_content(size: u64) -> Vec<u8> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let mut content: Vec<u8> = FILLER_LINE.iter().copied().cycle().take(size).collect();
    if let Some(last) = content.last_mut().filter(|b| **b == b'\r') {
        *last = b'.';
    }
    content
}

/// A message sent as written (`send_raw`): every `{message_id}` in `data`
/// becomes this probe's Message-ID and `{probe_header}` (a line of its own
/// in the header section; the loader checks that) the probe header, named
/// by `label`; line ends become CRLF. Nothing else is added, so the text
/// decides which headers the message has. The Message-ID is made of the
/// run id and the probe domain only, neither of which can hold a line
/// break, and control characters in the label become spaces, so the
/// placeholders cannot add a header.
pub fn build_raw(run: &RunId, probe_domain: &str, label: &str, from: &str, to: &[String], data: &str) -> Probe {
    let message_id = next_message_id(run, probe_domain);
    let header = probe_header_value(run, label, &message_id);
    let has_header = data.contains(crate::scenario::PROBE_HEADER_PLACEHOLDER);
    let text = data
        .replace(crate::scenario::MESSAGE_ID_PLACEHOLDER, &message_id)
        .replace(crate::scenario::PROBE_HEADER_PLACEHOLDER, &format!("{PROBE_HEADER}: {header}"));
    let mut m = String::new();
    for line in text.lines() {
        m.push_str(line);
        m.push_str("\r\n");
    }
    let headers = mailparse::parse_headers(m.as_bytes()).map(|(hs, _)| hs).unwrap_or_default();
    let first = |name: &str| headers.iter().find(|h| h.get_key().eq_ignore_ascii_case(name)).map(|h| h.get_value());
    let subject = first("Subject").unwrap_or_default();
    let sent_message_id = first("Message-ID").map(|v| v.trim().to_string());
    let body = m.split_once("\r\n\r\n").map(|(_, b)| b.replace("\r\n", "\n")).unwrap_or_default();
    Probe {
        message_id,
        sent_message_id,
        probe_header: has_header.then_some(header),
        from: from.to_string(),
        to: to.to_vec(),
        subject,
        body,
        bytes: m.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailparse::{MailHeaderMap, ParsedMail};

    fn to(addresses: &[&str]) -> Vec<String> {
        addresses.iter().map(|a| a.to_string()).collect()
    }

    fn attachment(name: &str, content_type: &str, size: u64) -> Attachment {
        Attachment { name: name.into(), content_type: content_type.into(), size }
    }

    /// The values of every header named `name` (decoded), in order.
    fn values(mail: &ParsedMail<'_>, name: &str) -> Vec<String> {
        mail.get_headers().get_all_values(name)
    }

    /// The raw lines of the header `name` in the wire form: the first line
    /// and its continuation lines.
    fn raw_header_lines(bytes: &[u8], name: &str) -> Vec<String> {
        let text = String::from_utf8_lossy(bytes);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let mut lines = Vec::new();
        let mut inside = false;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if inside {
                    lines.push(line.to_string());
                }
                continue;
            }
            inside = line.split_once(':').is_some_and(|(n, _)| n.eq_ignore_ascii_case(name));
            if inside {
                lines.push(line.to_string());
            }
        }
        lines
    }

    /// Decodes a built probe with mailparse and checks that every part of the
    /// spec comes back exactly.
    fn assert_round_trips(case: &str, run: &RunId, label: &str, spec: &ProbeSpec<'_>, probe: &Probe) {
        let mail = mailparse::parse_mail(&probe.bytes).unwrap_or_else(|e| panic!("{case}: {e}"));
        let head_end = probe.bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a header section");
        let head = &probe.bytes[..head_end];
        assert!(head.is_ascii(), "{case}: the header section is not ASCII");
        for line in head.split(|b| *b == b'\n') {
            assert!(line.len() <= 998, "{case}: a header line of {} octets", line.len());
            assert!(!line.contains(&0), "{case}: NUL in a header line");
        }

        // Exactly one Message-ID, the probe's.
        assert_eq!(values(&mail, "Message-ID"), vec![probe.message_id.clone()], "{case}");
        assert!(probe.message_id.starts_with(&format!("<mailflow.{run}.")), "{case}");
        assert_eq!(values(&mail, "Subject"), vec![spec.subject.to_string()], "{case}: subject");
        assert_eq!(probe.subject, spec.subject, "{case}");
        assert_eq!(values(&mail, "From"), vec![format!("<{}>", spec.from)], "{case}: from");
        let to_header = values(&mail, "To");
        assert_eq!(to_header.len(), 1, "{case}: {to_header:?}");
        let addresses = mailparse::addrparse(&to_header[0]).unwrap_or_else(|e| panic!("{case}: To: {e}"));
        let parsed: Vec<String> = addresses
            .iter()
            .map(|a| match a {
                mailparse::MailAddr::Single(s) => s.addr.clone(),
                mailparse::MailAddr::Group(g) => panic!("{case}: a group in To: {}", g.group_name),
            })
            .collect();
        assert_eq!(parsed, spec.to, "{case}: to");
        let date = values(&mail, "Date");
        assert_eq!(date.len(), 1, "{case}: {date:?}");
        assert!(mailparse::dateparse(&date[0]).is_ok(), "{case}: Date {:?}", date[0]);
        let probe_header = values(&mail, PROBE_HEADER);
        let clean_label: String = label.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let bare_id = probe.message_id.trim_start_matches('<').trim_end_matches('>');
        assert_eq!(probe_header, vec![format!("run={run}; probe={clean_label}; id={bare_id}")], "{case}: probe header");
        for (name, value) in spec.headers.iter().filter(|(n, _)| !n.eq_ignore_ascii_case("Message-ID")) {
            assert_eq!(values(&mail, name), vec![value.clone()], "{case}: header {name}");
        }

        // The body: the text part, alone or first.
        let text_part = if spec.attachments.is_empty() {
            assert_eq!(mail.ctype.mimetype, "text/plain", "{case}");
            assert!(mail.subparts.is_empty(), "{case}");
            &mail
        } else {
            assert_eq!(mail.ctype.mimetype, "multipart/mixed", "{case}");
            assert_eq!(mail.subparts.len(), 1 + spec.attachments.len(), "{case}");
            &mail.subparts[0]
        };
        assert_eq!(text_part.ctype.mimetype, "text/plain", "{case}");
        let text = text_part.get_body().unwrap().replace("\r\n", "\n");
        assert_eq!(text.trim_end_matches('\n'), probe.body.trim_end_matches('\n'), "{case}: body");

        // Each attachment: name, type, size and content as stated.
        for (want, part) in spec.attachments.iter().zip(mail.subparts.iter().skip(1)) {
            let disposition = part.get_content_disposition();
            assert_eq!(disposition.disposition, mailparse::DispositionType::Attachment, "{case}: {}", want.name);
            assert_eq!(disposition.params.get("filename"), Some(&want.name), "{case}: filename");
            assert_eq!(part.ctype.mimetype, want.content_type, "{case}: {}", want.name);
            let content = part.get_body_raw().unwrap();
            assert_eq!(content.len() as u64, want.size, "{case}: size of {}", want.name);
            assert_eq!(content, attachment_content(want.size), "{case}: content of {}", want.name);
        }
    }

    #[test]
    fn every_send_probe_round_trips() {
        let long_ascii = format!(
            "A long subject  with double  spaces, kept exactly: {}",
            (1..=30).map(|n| format!("word{n}")).collect::<Vec<_>>().join(" ")
        );
        assert!(long_ascii.len() > 200, "{}", long_ascii.len());
        let long_utf8 = "Grüße aus Köln – 日本語のテスト – ".repeat(8);
        assert!(long_utf8.chars().count() > 200);
        let long_word = "x".repeat(250);
        let one = to(&["probe-test@lists.example.test"]);
        let many = to(&["probe-test@lists.example.test", "quiet@lists.example.test", "a.b+tag@probe.test"]);
        let extra = vec![
            ("X-Extra".to_string(), "value".to_string()),
            ("X-No-Archive".to_string(), "yes".to_string()),
            ("X-Unicode".to_string(), "Grüße, Köln".to_string()),
            ("X-Long".to_string(), "long value ".repeat(20).trim_end().to_string()),
            ("Reply-To".to_string(), "bob@probe.test".to_string()),
        ];
        let attachments = vec![
            attachment("report.pdf", "application/pdf", 1000),
            attachment("notes.txt", "text/plain", 64 * 1024),
            attachment("empty.bin", "application/octet-stream", 0),
            // 63 bytes would end in the CR of a filler line.
            attachment("cut.txt", "text/plain", 63),
            attachment("Grüße, 2024.txt", "text/csv", 5),
            attachment(&format!("{}.zip", "long name ".repeat(12)), "application/zip", 57),
        ];
        let none: &[(String, String)] = &[];
        let cases: Vec<(&str, ProbeSpec<'_>)> = vec![
            ("plain", ProbeSpec { from: "alice@probe.test", to: &one, subject: "hello", body: None, headers: none, attachments: &[] }),
            (
                "utf-8 subject and body",
                ProbeSpec { from: "bob@probe.test", to: &one, subject: "Grüße aus Köln – 日本語のテスト", body: Some("Ünïcödé body, too."), headers: none, attachments: &[] },
            ),
            ("long ascii subject", ProbeSpec { from: "alice@probe.test", to: &one, subject: &long_ascii, body: Some("x"), headers: none, attachments: &[] }),
            ("long utf-8 subject", ProbeSpec { from: "alice@probe.test", to: &one, subject: &long_utf8, body: Some("x"), headers: none, attachments: &[] }),
            ("one long word", ProbeSpec { from: "alice@probe.test", to: &one, subject: &long_word, body: Some("x"), headers: none, attachments: &[] }),
            (
                "extra headers and several recipients",
                ProbeSpec { from: "alice@probe.test", to: &many, subject: "s", body: Some("line 1\nline 2\n.\nline 4"), headers: &extra, attachments: &[] },
            ),
            (
                "attachments",
                ProbeSpec { from: "dora@probe.test", to: &one, subject: "with attachments", body: Some("See attached."), headers: &extra, attachments: &attachments },
            ),
        ];
        let run = RunId::from_string("7-round");
        for (case, spec) in &cases {
            let label = format!("s.toml step 1 ({case})");
            let probe = build(&run, "probe.test", &label, spec);
            assert_round_trips(case, &run, &label, spec, &probe);
        }

        // Folded: the long subjects take several lines of at most 78 characters.
        // Plain ASCII stays readable: folded at its spaces, not encoded.
        for subject in [&long_ascii, &long_utf8, &long_word] {
            let spec = ProbeSpec { from: "a@probe.test", to: &one, subject, body: None, headers: none, attachments: &[] };
            let lines = raw_header_lines(&build(&run, "probe.test", "l", &spec).bytes, "Subject");
            assert!(lines.len() > 2, "{lines:#?}");
            assert!(lines.iter().all(|l| l.len() <= 78), "{lines:#?}");
            assert_eq!(lines.iter().any(|l| l.contains("=?")), subject != &long_ascii, "{lines:#?}");
        }
    }

    #[test]
    fn shipped_send_steps_round_trip() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let plan = crate::scenario::load(&[root]).expect("the shipped scenarios load");
        let run = RunId::from_string("8-shipped");
        let mut sends = 0;
        for scenario in &plan.scenarios {
            for step in &scenario.steps {
                if let crate::scenario::StepKind::Send(send) = &step.kind {
                    let spec = ProbeSpec {
                        from: &send.from,
                        to: &send.to,
                        subject: &send.subject,
                        body: send.body.as_deref(),
                        headers: &send.headers,
                        attachments: &send.attachments,
                    };
                    let label = format!("{} {}", scenario.path.display(), step.label());
                    let probe = build(&run, &plan.suite.probe_domain, &label, &spec);
                    assert_round_trips(&label, &run, &label, &spec, &probe);
                    sends += 1;
                }
            }
        }
        assert!(sends >= 10, "{sends} send steps");
    }

    #[test]
    fn text_from_elsewhere_cannot_start_a_header() {
        // The loader refuses all of these; build must not be the weak link.
        let injected = "first\r\nBcc: leak@probe.test\r\n.\r\nQUIT";
        let one = to(&["probe-test@lists.example.test"]);
        let headers = vec![
            ("X-Evil\r\nBcc".to_string(), "leak@probe.test".to_string()),
            ("X-Value".to_string(), injected.to_string()),
            ("Message-Id".to_string(), "<second@probe.test>".to_string()),
        ];
        let attachments = vec![attachment(injected, "text/plain\r\nBcc: leak@probe.test", 10)];
        let spec = ProbeSpec { from: "alice@probe.test", to: &one, subject: injected, body: None, headers: &headers, attachments: &attachments };
        let probe = build(&RunId::new(), "probe.test", injected, &spec);
        let mail = mailparse::parse_mail(&probe.bytes).unwrap();
        let text = String::from_utf8(probe.bytes.clone()).unwrap();
        for part in std::iter::once(&mail).chain(mail.subparts.iter()) {
            assert!(part.get_headers().get_first_value("Bcc").is_none(), "{text}");
        }
        assert!(!text.lines().any(|l| l.trim_end() == "." || l.starts_with("QUIT") || l.starts_with("Bcc")), "{text}");
        assert_eq!(values(&mail, "Message-ID"), vec![probe.message_id.clone()], "{text}");
        assert_eq!(values(&mail, "Subject"), vec![injected.replace("\r\n", " ")], "{text}");
    }

    #[test]
    fn attachment_content_is_exact_and_the_same_each_time() {
        for size in [0, 1, 62, 63, 64, 65, 1000, 64 * 1024] {
            let content = attachment_content(size);
            assert_eq!(content.len() as u64, size);
            assert_eq!(content, attachment_content(size));
            assert!(content.iter().all(|b| b.is_ascii_graphic() || b" \r\n".contains(b)));
            assert_ne!(content.last(), Some(&b'\r'), "{size}");
        }
        assert_eq!(&attachment_content(128)[64..], FILLER_LINE);
    }

    #[test]
    fn raw_message_gets_the_probe_id_everywhere_asked() {
        let run = RunId::from_string("9-ab");
        let to = vec!["l@d.test".to_string()];
        let data = "From: x@probe.test\nSubject: two ids\nMessage-ID: {message_id}\nMessage-ID: {message_id}\n\nbody\n";
        let p = build_raw(&run, "probe.test", "s.toml step 1", "x@probe.test", &to, data);
        assert!(crate::mailman::is_probe_id_of_run(&run, &p.message_id), "{}", p.message_id);
        let text = String::from_utf8(p.bytes.clone()).unwrap();
        assert_eq!(text.matches(&p.message_id).count(), 2);
        assert!(!text.contains("{message_id}"));
        assert!(text.contains("\r\n\r\nbody\r\n"));
        assert_eq!(p.subject, "two ids");
        assert_eq!(issued_ids(&run), vec![p.message_id.clone()]);
        assert!(issued_ids(&RunId::from_string("9-a")).is_empty());
    }

    #[test]
    fn raw_messages_with_odd_message_ids_carry_the_probe_header() {
        let run = RunId::from_string("11-odd");
        let to = vec!["l@d.test".to_string()];
        let cases = [
            ("Message-ID: <{message_id}>\n{probe_header}\n\nbody\n", Some(true)),
            ("Message-ID:\n{probe_header}\n\nbody\n", Some(false)),
            ("Subject: none\n{probe_header}\n\nbody\n", None),
        ];
        for (data, has_id) in cases {
            let p = build_raw(&run, "probe.test", "s.toml step 2", "x@probe.test", &to, data);
            let header = p.probe_header.clone().expect("asked for");
            let bare_id = p.message_id.trim_start_matches('<').trim_end_matches('>');
            assert_eq!(header, format!("run=11-odd; probe=s.toml step 2; id={bare_id}"));
            let (headers, _) = mailparse::parse_headers(&p.bytes).unwrap();
            let value = headers.iter().find(|h| h.get_key() == PROBE_HEADER).map(|h| h.get_value());
            assert_eq!(value.as_deref(), Some(header.as_str()), "{data}");
            match has_id {
                Some(true) => assert_eq!(p.sent_message_id, Some(format!("<{}>", p.message_id)), "{data}"),
                Some(false) => assert_eq!(p.sent_message_id.as_deref(), Some(""), "{data}"),
                None => assert_eq!(p.sent_message_id, None, "{data}"),
            }
        }
        let plain = build_raw(&run, "probe.test", "s.toml step 3", "x@probe.test", &to, "Message-ID: {message_id}\n\nb\n");
        assert_eq!(plain.probe_header, None);
        assert_eq!(plain.sent_message_id.as_deref(), Some(plain.message_id.as_str()));
        assert!(same_probe_header("run=1; probe=a b  step 1", " run=1;\r\n probe=a b step 1"));
        assert!(!same_probe_header("run=1; probe=s step 1", "run=1; probe=s step 10"));
    }

    #[test]
    fn raw_placeholder_cannot_add_a_header() {
        // The Message-ID is made of the run id and the probe domain; neither
        // can carry a line break into the message.
        let run = RunId::from_string("10\r\nBcc: leak@probe.test");
        assert_eq!(run.as_str(), "10--Bcc--leak-probe-test");
        let to = vec!["l@d.test".to_string()];
        let data = "Subject: raw\nMessage-ID: {message_id}\n{probe_header}\n\nbody\n";
        let p = build_raw(&run, "probe.test\r\nBcc: leak@probe.test", "s.toml\r\nBcc: leak@probe.test", "x@probe.test", &to, data);
        assert!(!p.message_id.contains(['\r', '\n', ' ', ':']), "{:?}", p.message_id);
        let (headers, _) = mailparse::parse_headers(&p.bytes).unwrap();
        let names: Vec<String> = headers.iter().map(|h| h.get_key()).collect();
        assert_eq!(names, ["Subject", "Message-ID", PROBE_HEADER]);
        assert!(crate::mailman::is_probe_id_of_run(&run, &p.message_id), "{}", p.message_id);
    }
}
