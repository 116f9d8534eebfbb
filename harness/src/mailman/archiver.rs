//! Why Mailman did not archive a message, from its archivers' log and
//! retry spool: the facts a "delivered but never archived" probe is
//! reported with.
//!
//! Mailman 3 logs to `mailman.log` in entries that start with
//! `Nov 29 11:41:48 2026 (64) ` (time, then the process id in brackets); a
//! message may continue on the lines after it (HyperKitty's HTML error
//! page does). When HyperKitty refuses a message, the archiver
//! (`mailman_hyperkitty`) logs the answer first and the Message-ID after:
//!
//! ```text
//! Nov 29 11:41:48 2026 (64) HyperKitty failure on http://127.0.0.1/hyperkitty/api/mailman/archive: {"error": "..."} (400)
//! Nov 29 11:41:48 2026 (64) Could not archive the message with id <ew1@probe.test>
//! Nov 29 11:41:48 2026 (64) archiving failed, re-queuing (mailing-list probe-test.lists.example.test, message <ew1@probe.test>)
//! ```
//!
//! and keeps the message in its retry spool
//! (`archives/hyperkitty/spool/*.pck`), retrying it whenever it archives
//! another message.

use super::super::web::excerpt;

/// One log entry: the process that wrote it and its text (first line and
/// continuation lines, joined with newlines).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    pid: Option<String>,
    text: String,
}

/// The process id of a line that starts an entry (`Nov 29 11:41:48 2026
/// (64) ...` → `64`), `Some(None)` for a line that starts an entry of the
/// REST server's access log (`[29/Nov/2026:...]`), `None` for a
/// continuation line.
fn entry_start(line: &str) -> Option<Option<String>> {
    if line.starts_with('[') {
        return Some(None);
    }
    let (stamp, rest) = (line.get(..20)?, line.get(20..)?);
    let b = stamp.as_bytes();
    let stamp_ok = b[..3].iter().all(u8::is_ascii_alphabetic) && b[16..20].iter().all(u8::is_ascii_digit) && b[6] == b' ';
    let pid = rest.strip_prefix(" (")?.split_once(") ")?.0;
    (stamp_ok && !pid.is_empty() && pid.bytes().all(|c| c.is_ascii_digit())).then(|| Some(pid.to_string()))
}

fn entries(log: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for line in log.lines() {
        // grep's separator between groups of context lines.
        if line == "--" {
            continue;
        }
        match entry_start(line) {
            Some(pid) => out.push(Entry { pid, text: line.to_string() }),
            None => {
                if let Some(last) = out.last_mut() {
                    last.text.push('\n');
                    last.text.push_str(line);
                }
            }
        }
    }
    out
}

/// Entries that say an archiver gave up on one of `bare_ids` for now.
fn is_archive_failure(text: &str, bare_ids: &[&str]) -> bool {
    (text.contains("Could not archive the message with id") || text.contains("Could not render the message with id"))
        && bare_ids.iter().any(|id| text.contains(id))
}

/// From an excerpt of Mailman's log (grep's lines with their context
/// before), the entries about archiving the message with one of `bare_ids`
/// (its Message-IDs without angle brackets), each after the entry its
/// process wrote just before it, oldest first; at most the last `keep`
/// such pairs.
pub fn archiver_entries(log: &str, bare_ids: &[&str], keep: usize) -> Vec<String> {
    let all = entries(log);
    let mut pairs: Vec<(Option<&Entry>, &Entry)> = Vec::new();
    for (i, entry) in all.iter().enumerate() {
        if !is_archive_failure(&entry.text, bare_ids) {
            continue;
        }
        let before = all[..i].iter().rev().find(|e| e.pid.is_some() && e.pid == entry.pid);
        pairs.push((before, entry));
    }
    let skip = pairs.len().saturating_sub(keep);
    let mut out = Vec::new();
    for (before, entry) in pairs.into_iter().skip(skip) {
        if let Some(b) = before.filter(|b| !is_archive_failure(&b.text, bare_ids)) {
            out.push(b.text.clone());
        }
        out.push(entry.text.clone());
    }
    out
}

/// How many times HyperKitty answered an archiving of one of `bare_ids`
/// with an HTTP error (a `HyperKitty failure on <url>: ... (<status>)`
/// entry, then `Could not archive the message with id` from the same
/// process). Connection failures do not count: they say nothing about the
/// message. Each retry from the spool that fails again adds one.
pub fn refusals(log: &str, bare_ids: &[&str]) -> usize {
    let all = entries(log);
    all.iter()
        .enumerate()
        .filter(|(i, entry)| {
            is_archive_failure(&entry.text, bare_ids)
                && all[..*i].iter().rev().find(|e| e.pid.is_some() && e.pid == entry.pid).is_some_and(|b| message(&b.text).starts_with("HyperKitty failure on "))
        })
        .count()
}

/// The text of an entry after its time and process id.
fn message(entry: &str) -> &str {
    entry.get(20..).and_then(|rest| rest.split_once(") ")).map(|(_, m)| m).unwrap_or(entry)
}

/// HyperKitty's answer in a failure line, in a few words: an HTML page is
/// named by its title (Django's error pages are HTML, not the JSON the
/// archiver expects), anything else is quoted.
fn answer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if lower.contains("<html") || lower.contains("<!doctype") {
        let title = lower
            .find("<title>")
            .and_then(|start| {
                let rest = &text[start + 7..];
                rest.find("</").map(|end| rest[..end].trim().to_string())
            })
            .filter(|t| !t.is_empty());
        return match title {
            Some(t) => format!("an HTML page ({t:?}), not JSON"),
            None => "an HTML page, not JSON".into(),
        };
    }
    excerpt(text.trim())
}

/// One sentence on why the archiver did not archive the message, from
/// [`archiver_entries`]' output (the newest failure wins), or `None` when
/// they say nothing about it.
pub fn failure_cause(entries: &[String]) -> Option<String> {
    entries.iter().rev().find_map(|entry| {
        let m = message(entry);
        if let Some(rest) = m.strip_prefix("HyperKitty failure on ") {
            // `<url>: <answer> (<status>)`; the answer may span lines.
            let (url, body) = rest.split_once(": ").unwrap_or((rest, ""));
            let body = body.trim_end();
            let (body, status) = match body.rsplit_once(" (") {
                Some((b, s)) if s.ends_with(')') && s[..s.len() - 1].bytes().all(|c| c.is_ascii_digit()) => (b, &s[..s.len() - 1]),
                _ => (body, "?"),
            };
            return Some(format!("HyperKitty ({url}) answered {status}: {}", answer(body)));
        }
        if let Some(rest) = m.strip_prefix("Connection to HyperKitty failed: ") {
            return Some(format!("Mailman could not reach HyperKitty: {}", excerpt(rest)));
        }
        if let Some(rest) = m.strip_prefix("Invalid response from HyperKitty on ") {
            return Some(format!("HyperKitty's answer is not JSON ({})", excerpt(rest)));
        }
        if m.starts_with("Could not render the message with id") {
            return Some(format!("Mailman could not render the message for the archiver: {}", excerpt(m)));
        }
        None
    })
}

#[cfg(test)]
mod tests {
    //! Log lines as Mailman 3.3.8 and mailman_hyperkitty 1.2.1 wrote them on
    //! the lists image.
    use super::*;

    const NON_ASCII: &str = r#"Nov 29 11:41:45 2026 (67) ACCEPT: <ew1@probe.test>
Nov 29 11:41:48 2026 (64) HyperKitty failure on http://127.0.0.1/hyperkitty/api/mailman/archive: {"error": "('Non-ascii sender address', <email.message.EmailMessage object at 0x7f4ed846e110>)"} (400)
Nov 29 11:41:48 2026 (64) Could not archive the message with id <ew1@probe.test>
Nov 29 11:41:48 2026 (64) archiving failed, re-queuing (mailing-list probe-test.lists.example.test, message <ew1@probe.test>)
Nov 29 11:41:48 2026 (64) Exception in the HyperKitty archiver: {"error": "('Non-ascii sender address', <email.message.EmailMessage object at 0x7f4ed846e110>)"}
Nov 29 11:41:48 2026 (64) Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/mailman_hyperkitty/__init__.py", line 158, in _archive_message
    url = self._send_message(mlist, msg)
[29/Nov/2026:11:41:51 +0000] "GET /3.1/lists/probe-test@lists.example.test HTTP/1.1" 200 396 "-" "GNU Mailman REST client v3.3.5"
"#;

    const HTML: &str = "Nov 29 11:42:09 2026 (64) HyperKitty failure on http://127.0.0.1/hyperkitty/api/mailman/archive: \n\n<!DOCTYPE html>\n<html lang=\"en\">\n  <head>\n    <title>Server Error</title>\n  </head>\n  <body>\n      <h1>Server error</h1>\n  </body>\n</html>\n (500)\nNov 29 11:42:09 2026 (67) ACCEPT: <mailflow probe <sp1@probe.test>>\nNov 29 11:42:09 2026 (64) Could not archive the message with id <<db1@probe.test>>\n";

    #[test]
    fn the_failure_before_the_message_id_is_its_cause() {
        let found = archiver_entries(NON_ASCII, &["ew1@probe.test"], 3);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("HyperKitty failure on"), "{found:#?}");
        assert_eq!(
            failure_cause(&found).as_deref(),
            Some("HyperKitty (http://127.0.0.1/hyperkitty/api/mailman/archive) answered 400: {\"error\": \"('Non-ascii sender address', <email.message.EmailMessage object at 0x7f4ed846e110>)\"}")
        );
        assert!(archiver_entries(NON_ASCII, &["other@probe.test"], 3).is_empty());
    }

    #[test]
    fn an_html_answer_is_named_by_its_title() {
        // Another process wrote a line in between: the failure is the same process's.
        let found = archiver_entries(HTML, &["db1@probe.test"], 3);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(
            failure_cause(&found).as_deref(),
            Some("HyperKitty (http://127.0.0.1/hyperkitty/api/mailman/archive) answered 500: an HTML page (\"Server Error\"), not JSON")
        );
    }

    #[test]
    fn refusals_count_http_answers_not_connection_failures() {
        assert_eq!(refusals(NON_ASCII, &["ew1@probe.test"]), 1);
        assert_eq!(refusals(&NON_ASCII.repeat(3), &["ew1@probe.test"]), 3);
        assert_eq!(refusals(HTML, &["db1@probe.test"]), 1);
        assert_eq!(refusals(NON_ASCII, &["other@probe.test"]), 0);
        let refused = "Nov 29 11:41:48 2026 (64) Connection to HyperKitty failed: refused\nNov 29 11:41:48 2026 (64) Could not archive the message with id <ew1@probe.test>\n";
        assert_eq!(refusals(refused, &["ew1@probe.test"]), 0);
    }

    #[test]
    fn only_the_last_failures_are_kept() {
        let log = NON_ASCII.repeat(5);
        assert_eq!(archiver_entries(&log, &["ew1@probe.test"], 2).len(), 4);
    }

    #[test]
    fn other_causes() {
        let line = |m: &str| vec![format!("Nov 29 11:41:48 2026 (64) {m}")];
        assert_eq!(
            failure_cause(&line("Connection to HyperKitty failed: HTTPConnectionPool(host='127.0.0.1', port=80): refused")).as_deref(),
            Some("Mailman could not reach HyperKitty: HTTPConnectionPool(host='127.0.0.1', port=80): refused")
        );
        assert_eq!(
            failure_cause(&line("Invalid response from HyperKitty on http://x/archive: Expecting value: line 1 column 1 (char 0)")).as_deref(),
            Some("HyperKitty's answer is not JSON (http://x/archive: Expecting value: line 1 column 1 (char 0))")
        );
        assert_eq!(failure_cause(&line("ACCEPT: <x@y>")), None);
    }
}
