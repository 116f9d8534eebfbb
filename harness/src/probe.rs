//! Probe mails: what the harness sends, and how it is recognised later.
//!
//! Each probe carries exactly one Message-ID, generated here under the probe
//! domain, and an `X-Mailflow-Probe` header naming the run and the scenario.
//! The Message-ID is the correlation key everywhere (sink, exim's log,
//! Mailman's queues and archives) and the only thing that entitles the harness
//! to act on a message: Mailman 3 shunts a message with two Message-IDs, so the
//! harness never adds a second one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The header that names the probe and its run.
pub const PROBE_HEADER: &str = "X-Mailflow-Probe";

/// Identifies one run of the harness; part of every probe's Message-ID.
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
    pub fn from_string(id: impl Into<String>) -> Self {
        RunId(id.into())
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

/// What a scenario asks to send.
#[derive(Debug, Clone)]
pub struct ProbeSpec<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub body: Option<&'a str>,
    pub headers: &'a [(String, String)],
}

/// A built probe, ready to send.
#[derive(Debug, Clone)]
pub struct Probe {
    /// With angle brackets, as it appears in the header.
    pub message_id: String,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The body text as sent (before line ends were made CRLF).
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
    let message_id = format!("<mailflow.{run}.{seq}@{probe_domain}>");
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
pub fn build(run: &RunId, probe_domain: &str, label: &str, spec: &ProbeSpec<'_>) -> Probe {
    let message_id = next_message_id(run, probe_domain);
    let mut m = String::new();
    let mut h = |name: &str, value: &str| {
        m.push_str(name);
        m.push_str(": ");
        m.push_str(value);
        m.push_str("\r\n");
    };
    h("From", spec.from);
    h("To", &spec.to.join(", "));
    h("Subject", &encode_word(spec.subject));
    h("Date", &rfc2822_now());
    h("Message-ID", &message_id);
    h(PROBE_HEADER, &format!("run={run}; probe={}", sanitize(label)));
    h("MIME-Version", "1.0");
    h("Content-Type", "text/plain; charset=utf-8");
    h("Content-Transfer-Encoding", "8bit");
    for (name, value) in spec.headers {
        h(name, &encode_word(value));
    }
    m.push_str("\r\n");
    let body = spec.body.map(str::to_string).unwrap_or_else(|| format!("mailflow probe {message_id}\r\n"));
    for line in body.lines() {
        m.push_str(line);
        m.push_str("\r\n");
    }
    Probe {
        message_id,
        from: spec.from.to_string(),
        to: spec.to.to_vec(),
        subject: spec.subject.to_string(),
        body,
        bytes: m.into_bytes(),
    }
}

/// A message sent as written (`send_raw`): every `{message_id}` in `data`
/// becomes this probe's Message-ID; line ends become CRLF. Nothing else is
/// added, so the text decides which headers the message has.
pub fn build_raw(run: &RunId, probe_domain: &str, from: &str, to: &[String], data: &str) -> Probe {
    let message_id = next_message_id(run, probe_domain);
    let text = data.replace(crate::scenario::MESSAGE_ID_PLACEHOLDER, &message_id);
    let mut m = String::new();
    for line in text.lines() {
        m.push_str(line);
        m.push_str("\r\n");
    }
    let subject = mailparse::parse_headers(m.as_bytes())
        .ok()
        .and_then(|(hs, _)| hs.iter().find(|h| h.get_key().eq_ignore_ascii_case("Subject")).map(|h| h.get_value()))
        .unwrap_or_default();
    let body = m.split_once("\r\n\r\n").map(|(_, b)| b.replace("\r\n", "\n")).unwrap_or_default();
    Probe { message_id, from: from.to_string(), to: to.to_vec(), subject, body, bytes: m.into_bytes() }
}

/// RFC 2047 encoded-word (base64) for non-ASCII header text; ASCII as is.
fn encode_word(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    // Chunk on char boundaries so that each encoded word stays under 75 chars.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    words.iter().map(|w| format!("=?utf-8?b?{}?=", base64(w.as_bytes()))).collect::<Vec<_>>().join("\r\n ")
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Labels go into a header: keep them on one line and printable.
fn sanitize(label: &str) -> String {
    label.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn rfc2822_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let days = secs / 86400;
    let (h, mi, s) = (secs % 86400 / 3600, secs % 3600 / 60, secs % 60);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!("{}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} +0000", DAYS[(days % 7) as usize], MONTHS[(m - 1) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_id_and_probe_header() {
        let run = RunId::new();
        let to = vec!["probe-test@lists.example.test".to_string()];
        let spec = ProbeSpec { from: "alice@probe.test", to: &to, subject: "hello", body: None, headers: &[] };
        let a = build(&run, "probe.test", "s1 step 1", &spec);
        let b = build(&run, "probe.test", "s1 step 1", &spec);
        assert_ne!(a.message_id, b.message_id);
        let (headers, _) = mailparse::parse_headers(&a.bytes).unwrap();
        let ids: Vec<_> = headers.iter().filter(|h| h.get_key().eq_ignore_ascii_case("message-id")).collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].get_value(), a.message_id);
        assert!(a.message_id.ends_with("@probe.test>"));
        let probe = headers.iter().find(|h| h.get_key() == PROBE_HEADER).unwrap().get_value();
        assert!(probe.contains(run.as_str()) && probe.contains("s1 step 1"), "{probe}");
        // The Date header parses.
        let date = headers.iter().find(|h| h.get_key() == "Date").unwrap().get_value();
        assert!(mailparse::dateparse(&date).is_ok(), "{date}");
    }

    #[test]
    fn non_ascii_subject_round_trips() {
        let to = vec!["l@d.test".to_string()];
        let subject = "Grüße aus Köln – ünïcödé test with a fairly long subject line";
        let spec = ProbeSpec { from: "a@probe.test", to: &to, subject, body: Some("x"), headers: &[] };
        let p = build(&RunId::new(), "probe.test", "u", &spec);
        let (headers, _) = mailparse::parse_headers(&p.bytes).unwrap();
        let got = headers.iter().find(|h| h.get_key() == "Subject").unwrap().get_value();
        assert_eq!(got, subject);
        assert!(p.bytes.is_ascii() || !String::from_utf8_lossy(&p.bytes).lines().next().unwrap().contains('ü'));
    }

    #[test]
    fn raw_message_gets_the_probe_id_everywhere_asked() {
        let run = RunId::from_string("9-ab");
        let to = vec!["l@d.test".to_string()];
        let data = "From: x@probe.test\nSubject: two ids\nMessage-ID: {message_id}\nMessage-ID: {message_id}\n\nbody\n";
        let p = build_raw(&run, "probe.test", "x@probe.test", &to, data);
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
    fn base64_vectors() {
        for (i, o) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
