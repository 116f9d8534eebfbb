//! Exim's mainlog, parsed into what happened to one probe.
//!
//! Lines look like `2026-11-25 12:00:01 1tAbCd-000Ab1-Qz <= a@b H=... id=xyz`:
//! date, time, queue id, a flag (`<=` arrival, `=>` delivery, `->` extra
//! recipient of the same delivery, `==` deferral, `**` failure) or a word
//! (`Completed`, `Frozen`). Arrivals carry `id=<Message-ID without brackets>`,
//! which is how a probe's queue ids are found: the list's outgoing copy is a new
//! message with the same Message-ID and its own queue id.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Arrival,
    Delivery,
    Deferral,
    Failure,
    Completed,
    Frozen,
    Other,
}

/// One log line about one of the probe's queue ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub time: String,
    pub queue_id: String,
    pub kind: EventKind,
    /// The line after the queue id and flag.
    pub text: String,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.time, self.queue_id, self.text)
    }
}

/// Every line about the probe's messages, in log order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    pub events: Vec<Event>,
}

/// A parsed line: time, queue id and the rest.
fn split_line(line: &str) -> Option<(String, &str, &str)> {
    let mut parts = line.splitn(4, ' ');
    let (date, time, qid, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next().unwrap_or(""));
    if date.len() != 10 || !date.as_bytes()[4].eq(&b'-') || !is_queue_id(qid) {
        return None;
    }
    Some((format!("{date} {time}"), qid, rest))
}

/// Exim 4.97+ ids are `xxxxxx-xxxxxx-xxxx` (6-11-4 with longer middle in new
/// format); older ones `xxxxxx-xxxxxx-xx`. Accept both shapes.
fn is_queue_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 6
        && (6..=11).contains(&parts[1].len())
        && (2..=4).contains(&parts[2].len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn classify(rest: &str) -> (EventKind, &str) {
    for (flag, kind) in [
        ("<= ", EventKind::Arrival),
        ("=> ", EventKind::Delivery),
        ("-> ", EventKind::Delivery),
        ("*> ", EventKind::Delivery),
        ("== ", EventKind::Deferral),
        ("** ", EventKind::Failure),
    ] {
        if let Some(t) = rest.strip_prefix(flag) {
            return (kind, t);
        }
    }
    if rest.starts_with("Completed") {
        return (EventKind::Completed, rest);
    }
    if rest.starts_with("Frozen") || rest.contains("frozen") {
        return (EventKind::Frozen, rest);
    }
    (EventKind::Other, rest)
}

/// Finds every message with this Message-ID (with or without angle brackets)
/// and returns all lines about their queue ids.
pub fn trace(log: &str, message_id: &str) -> Trace {
    let bare = message_id.trim().trim_start_matches('<').trim_end_matches('>');
    let needle = format!("id={bare}");
    let mut qids: Vec<&str> = Vec::new();
    let mut events = Vec::new();
    for line in log.lines() {
        let Some((time, qid, rest)) = split_line(line) else { continue };
        let (kind, text) = classify(rest);
        if kind == EventKind::Arrival && text.split(' ').any(|w| w == needle) && !qids.contains(&qid) {
            qids.push(qid);
        }
        if qids.contains(&qid) {
            events.push(Event { time, queue_id: qid.to_string(), kind, text: text.to_string() });
        }
    }
    Trace { events }
}

impl Trace {
    /// Queue ids in order of arrival.
    pub fn queue_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for e in &self.events {
            if !ids.contains(&e.queue_id.as_str()) {
                ids.push(&e.queue_id);
            }
        }
        ids
    }

    /// Queue ids still without a `Completed` line: exim still holds them.
    pub fn pending(&self) -> Vec<&str> {
        self.queue_ids()
            .into_iter()
            .filter(|q| !self.events.iter().any(|e| e.queue_id == *q && e.kind == EventKind::Completed))
            .collect()
    }

    /// The latest deferral or failure that names a cause, the usual answer to
    /// "where did it stop". Exim's later "retry time not reached" lines only
    /// say that it is waiting, so an earlier line with the cause wins.
    pub fn last_problem(&self) -> Option<&Event> {
        let problems = || {
            self.events.iter().rev().filter(|e| matches!(e.kind, EventKind::Deferral | EventKind::Failure | EventKind::Frozen))
        };
        problems().find(|e| !e.text.contains("retry time not reached")).or_else(|| problems().next())
    }

    /// Host-level lines exim logs for a failed connection (`H=127.0.0.1
    /// [127.0.0.1]:8024 Connection refused`), which name the port that failed.
    pub fn host_errors(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(|e| e.kind == EventKind::Other && e.text.starts_with("H="))
    }

    /// One sentence on where the probe is according to exim.
    pub fn summary(&self) -> String {
        let ids = self.queue_ids();
        if ids.is_empty() {
            return "exim's mainlog has no arrival of this Message-ID".into();
        }
        let pending = self.pending();
        let delivered: Vec<&Event> = self.events.iter().filter(|e| e.kind == EventKind::Delivery).collect();
        let mut s = format!("exim received it as {}", ids.join(", then "));
        if !delivered.is_empty() {
            let last = delivered.last().expect("non-empty");
            s.push_str(&format!("; last delivery: {last}"));
        }
        match (self.last_problem(), pending.is_empty()) {
            (Some(p), false) => {
                let what = match p.kind {
                    EventKind::Failure => "failed",
                    EventKind::Frozen => "frozen",
                    _ => "deferred",
                };
                s.push_str(&format!("; {what} and still in exim's queue ({}): {p}", pending.join(", ")));
                if let Some(h) = self.host_errors().last() {
                    s.push_str(&format!(" [{}]", h.text));
                }
            }
            (Some(p), true) if p.kind == EventKind::Failure => s.push_str(&format!("; delivery failed: {p}")),
            (None, false) => s.push_str(&format!("; still in exim's queue ({}), no delivery attempt logged yet", pending.join(", "))),
            _ => {}
        }
        s
    }
}

#[cfg(test)]
mod tests {
    //! Hand-made log lines in exim's format.
    use super::*;

    const LOG: &str = "\
2026-11-25 12:00:00 exim 4.96 daemon started: pid=7, -q5s, listening for SMTP on port 25
2026-11-25 12:00:01 1tAbCd-000Ab1-Qz <= alice@probe.test H=(probe.test) [172.17.0.1] P=esmtp S=612 id=mailflow.r1.0@probe.test
2026-11-25 12:00:01 1tAbCd-000Ab1-Qz == probe-test@lists.example.test R=mailman3_router T=mailman3_transport defer (111): Connection refused
2026-11-25 12:00:01 1tZZZZ-000Ab1-Qz <= other@probe.test H=(probe.test) [172.17.0.1] P=esmtp S=612 id=someone-else@example.org
2026-11-25 12:00:01 H=(probe.test) [172.17.0.1] F=<a@probe.test> rejected RCPT <x@elsewhere.test>: relay not permitted
";

    #[test]
    fn deferral_to_lmtp_is_named() {
        let t = trace(LOG, "<mailflow.r1.0@probe.test>");
        assert_eq!(t.queue_ids(), vec!["1tAbCd-000Ab1-Qz"]);
        assert_eq!(t.events.len(), 2);
        let s = t.summary();
        assert!(s.contains("deferred and still in exim's queue"), "{s}");
        assert!(s.contains("Connection refused"), "{s}");
    }

    #[test]
    fn list_copy_is_followed_to_the_sink() {
        let log = format!(
            "{LOG}2026-11-25 12:00:05 1tAbCd-000Ab1-Qz => probe-test@lists.example.test R=mailman3_router T=mailman3_transport H=127.0.0.1 [127.0.0.1]:8024
2026-11-25 12:00:05 1tAbCd-000Ab1-Qz Completed
2026-11-25 12:00:06 1tAbCe-000Ab2-Qz <= probe-test-bounces@lists.example.test H=localhost [127.0.0.1] P=esmtp S=900 id=mailflow.r1.0@probe.test
2026-11-25 12:00:06 1tAbCe-000Ab2-Qz => alice@probe.test R=probe_sink T=remote_smtp H=172.17.0.1 [172.17.0.1]:40000
2026-11-25 12:00:06 1tAbCe-000Ab2-Qz -> bob@probe.test R=probe_sink T=remote_smtp H=172.17.0.1 [172.17.0.1]:40000
2026-11-25 12:00:06 1tAbCe-000Ab2-Qz Completed
"
        );
        let t = trace(&log, "mailflow.r1.0@probe.test");
        assert_eq!(t.queue_ids(), vec!["1tAbCd-000Ab1-Qz", "1tAbCe-000Ab2-Qz"]);
        assert!(t.pending().is_empty());
        assert!(t.summary().contains("last delivery"), "{}", t.summary());
    }

    #[test]
    fn unknown_message() {
        assert!(trace(LOG, "<nope@x>").summary().contains("no arrival"));
    }
}
