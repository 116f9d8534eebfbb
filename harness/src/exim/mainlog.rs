//! Exim's mainlog, parsed into what happened to one probe.
//!
//! Lines look like `2026-11-25 12:00:01 1tAbCd-000Ab1-Qz <= a@b H=... id=xyz`:
//! date, time, queue id, a flag (`<=` arrival, `=>` delivery, `->` extra
//! recipient of the same delivery, `==` deferral, `**` failure) or a word
//! (`Completed`, `Frozen`). Arrivals carry `id=<Message-ID without brackets>`,
//! which is how a probe's queue ids are found: the list's outgoing copy is a new
//! message with the same Message-ID and its own queue id.

use std::fmt;
use std::time::SystemTime;

use crate::check::{Hop, HopKind, Stop};
use crate::probe::{same_probe_header, ProbeKeys};

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
    /// The line's timestamp as written (`2026-11-25 12:00:01` or, with
    /// `log_selector = +millisec`, `2026-11-25 12:00:01.123`).
    pub time: String,
    /// The same moment, when it parses. Exim writes local time unless
    /// `log_timezone` adds an offset; without one it is read as UTC (the
    /// container target's zone).
    pub at: Option<SystemTime>,
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
    /// Queue ids of the bounces (DSNs) exim made for the probe's messages:
    /// their arrival is `<= <> R=<probe queue id>`. Their lines are in
    /// `events` too.
    pub bounces: Vec<String>,
}

/// The line the lists image's DATA ACL writes for every message that
/// carries the probe header (`logwrite`), before its `<=` line: how a probe
/// is followed through exim whatever its Message-ID.
pub const PROBE_HEADER_LINE: &str = "X-Mailflow-Probe: ";

/// A parsed line: time as written, the moment, queue id and the rest.
/// `log_timezone = true` puts an offset such as `+0100` after the time.
fn split_line(line: &str) -> Option<(String, Option<SystemTime>, &str, &str)> {
    let mut parts = line.splitn(4, ' ');
    let (date, time, mut qid, mut rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next().unwrap_or(""));
    if date.len() != 10 || !date.as_bytes()[4].eq(&b'-') {
        return None;
    }
    let mut offset = None;
    if qid.len() == 5 && (qid.starts_with('+') || qid.starts_with('-')) {
        offset = Some(qid);
        let mut more = rest.splitn(2, ' ');
        qid = more.next()?;
        rest = more.next().unwrap_or("");
    }
    if !is_queue_id(qid) {
        return None;
    }
    let written = match offset {
        Some(o) => format!("{date} {time} {o}"),
        None => format!("{date} {time}"),
    };
    Some((written, parse_time(date, time, offset), qid, rest))
}

/// `2026-11-25` and `12:00:01` or `12:00:01.123`, with an optional `+0100`.
fn parse_time(date: &str, time: &str, offset: Option<&str>) -> Option<SystemTime> {
    let civil: jiff::civil::DateTime = format!("{date}T{time}").parse().ok()?;
    let tz = match offset {
        None => jiff::tz::TimeZone::UTC,
        Some(o) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let hours: i32 = o.get(1..3)?.parse().ok()?;
            let minutes: i32 = o.get(3..5)?.parse().ok()?;
            jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()?)
        }
    };
    let zoned = civil.to_zoned(tz).ok()?;
    Some(SystemTime::from(zoned.timestamp()))
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

/// Finds every message of the probe, by the `id=` of its arrival line (any
/// of the probe's Message-IDs) or by the probe header line the image logs,
/// and the bounces exim made of them, and returns all their lines, ordered
/// by time (lines of one moment keep their order).
pub fn trace(log: &str, keys: &ProbeKeys) -> Trace {
    let needles: Vec<String> = keys.bare_ids().iter().map(|id| format!("id={id}")).collect();
    let mut lines: Vec<(String, Option<SystemTime>, &str, EventKind, &str)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for line in log.lines() {
        // The same line may come twice when several searches found its message.
        if !seen.insert(line) {
            continue;
        }
        let Some((time, at, qid, rest)) = split_line(line) else { continue };
        let (kind, text) = classify(rest);
        lines.push((time, at, qid, kind, text));
    }
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut qids: Vec<&str> = Vec::new();
    for (_, _, qid, kind, text) in &lines {
        let by_id = *kind == EventKind::Arrival && text.split(' ').any(|w| needles.iter().any(|n| n == w));
        let by_header = *kind == EventKind::Other
            && text.strip_prefix(PROBE_HEADER_LINE).zip(keys.probe_header.as_deref()).is_some_and(|(v, want)| same_probe_header(v, want));
        if (by_id || by_header) && !qids.contains(qid) {
            qids.push(qid);
        }
    }
    let mut bounces: Vec<&str> = Vec::new();
    for (_, _, qid, kind, text) in &lines {
        let bounce_of = text.strip_prefix("<> R=").and_then(|r| r.split(' ').next());
        if *kind == EventKind::Arrival && bounce_of.is_some_and(|of| qids.contains(&of)) && !bounces.contains(qid) && !qids.contains(qid) {
            bounces.push(qid);
        }
    }
    let events = lines
        .into_iter()
        .filter(|(_, _, qid, _, _)| qids.contains(qid) || bounces.contains(qid))
        .map(|(time, at, qid, kind, text)| Event { time, at, queue_id: qid.to_string(), kind, text: text.to_string() })
        .collect();
    Trace { events, bounces: bounces.into_iter().map(str::to_string).collect() }
}

impl Trace {
    /// Queue ids of the probe's own messages (not its bounces), in order of arrival.
    pub fn queue_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for e in &self.events {
            if !ids.contains(&e.queue_id.as_str()) && !self.is_bounce(&e.queue_id) {
                ids.push(&e.queue_id);
            }
        }
        ids
    }

    fn is_bounce(&self, qid: &str) -> bool {
        self.bounces.iter().any(|b| b == qid)
    }

    /// Queue ids still without a `Completed` line: exim still holds them.
    /// Bounces included.
    pub fn pending(&self) -> Vec<&str> {
        let mut ids = self.queue_ids();
        ids.extend(self.bounces.iter().map(String::as_str));
        ids.into_iter().filter(|q| !self.events.iter().any(|e| e.queue_id == *q && e.kind == EventKind::Completed)).collect()
    }

    /// The latest deferral or failure of the probe's own messages that
    /// names a cause, the usual answer to "where did it stop". Exim's later
    /// "retry time not reached" lines only say that it is waiting, so an
    /// earlier line with the cause wins.
    pub fn last_problem(&self) -> Option<&Event> {
        self.last_problem_of(|e| !self.is_bounce(&e.queue_id))
    }

    fn last_problem_of(&self, of: impl Fn(&Event) -> bool) -> Option<&Event> {
        let problems = || {
            self.events
                .iter()
                .rev()
                .filter(|e| of(e) && matches!(e.kind, EventKind::Deferral | EventKind::Failure | EventKind::Frozen))
        };
        problems().find(|e| !e.text.contains("retry time not reached")).or_else(|| problems().next())
    }

    /// Host-level lines exim logs for a failed connection (`H=127.0.0.1
    /// [127.0.0.1]:8024 Connection refused`), which name the port that failed.
    pub fn host_errors(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(|e| e.kind == EventKind::Other && e.text.starts_with("H="))
    }

    /// Where the bounce of a failed probe is, when exim still holds it: the
    /// sender was not told (exim freezes a bounce it cannot deliver).
    fn stuck_bounce(&self) -> Option<Stop> {
        let pending = self.pending();
        let p = self.last_problem_of(|e| self.is_bounce(&e.queue_id) && pending.contains(&e.queue_id.as_str()))?;
        let log_line = format!("the bounce to the sender: {p}");
        match p.kind {
            EventKind::Frozen => Some(Stop::Frozen { queue_id: p.queue_id.clone(), log_line }),
            _ => Some(Stop::Deferred { queue_id: p.queue_id.clone(), log_line }),
        }
    }

    /// Where exim's log says the probe stopped, when it says anything
    /// beyond "delivered": a failure (`**`: a bounce goes to the sender;
    /// frozen or deferred when that bounce is stuck in exim's queue), a
    /// deferral still pending (`==`), or a frozen message.
    pub fn stop(&self) -> Option<Stop> {
        let p = self.last_problem()?;
        let pending = self.pending();
        match p.kind {
            EventKind::Failure => {
                self.stuck_bounce().or_else(|| Some(Stop::Bounced { status: enhanced_code(&p.text), diagnostic: p.text.clone() }))
            }
            EventKind::Frozen if pending.contains(&p.queue_id.as_str()) => {
                Some(Stop::Frozen { queue_id: p.queue_id.clone(), log_line: p.to_string() })
            }
            EventKind::Deferral if pending.contains(&p.queue_id.as_str()) => {
                Some(Stop::Deferred { queue_id: p.queue_id.clone(), log_line: p.to_string() })
            }
            _ => None,
        }
    }

    /// The line saying one of the probe's own messages was removed from
    /// exim's queue (`exim -Mrm` logs `removed by <user>`).
    pub fn removed(&self) -> Option<&Event> {
        self.events.iter().find(|e| e.kind == EventKind::Other && e.text.starts_with("removed by ") && !self.is_bounce(&e.queue_id))
    }

    /// exim's failure line (`**`) for the probe's messages, if any.
    pub fn failure(&self) -> Option<&Event> {
        self.events.iter().rev().find(|e| e.kind == EventKind::Failure && !self.is_bounce(&e.queue_id))
    }

    /// The probe's hops as exim logged them, as times since `sent`:
    /// accepted (the first `<=`), handed to Mailman (the first delivery of
    /// that queue id) and re-sent by Mailman (the next queue id's `<=`).
    /// Lines without a parseable time are left out; a log clock behind
    /// `sent` counts as zero.
    pub fn hops(&self, sent: SystemTime) -> Vec<Hop> {
        let ids = self.queue_ids();
        let since = |e: &Event| e.at.map(|at| at.duration_since(sent).unwrap_or_default());
        let first = |qid: &str, kind: EventKind| self.events.iter().find(|e| e.queue_id == qid && e.kind == kind);
        let mut hops = Vec::new();
        let mut push = |kind: HopKind, e: Option<&Event>| {
            if let Some(after) = e.and_then(since) {
                hops.push(Hop { kind, after });
            }
        };
        if let Some(own) = ids.first() {
            push(HopKind::Accepted, first(own, EventKind::Arrival));
            push(HopKind::HandedToMailman, first(own, EventKind::Delivery));
        }
        if let Some(resent) = ids.get(1) {
            push(HopKind::ResentByMailman, first(resent, EventKind::Arrival));
        }
        hops
    }

    /// One sentence on where the probe is according to exim.
    pub fn summary(&self) -> String {
        let ids = self.queue_ids();
        if ids.is_empty() {
            return "exim's mainlog has no arrival of this probe (by its Message-ID or probe header)".into();
        }
        let pending = self.pending();
        let own_pending: Vec<&str> = pending.iter().copied().filter(|q| !self.is_bounce(q)).collect();
        let delivered: Vec<&Event> =
            self.events.iter().filter(|e| e.kind == EventKind::Delivery && !self.is_bounce(&e.queue_id)).collect();
        let mut s = format!("exim received it as {}", ids.join(", then "));
        if !delivered.is_empty() {
            let last = delivered.last().expect("non-empty");
            s.push_str(&format!("; last delivery: {last}"));
        }
        match (self.last_problem(), own_pending.is_empty()) {
            (Some(p), false) => {
                let what = match p.kind {
                    EventKind::Failure => "failed",
                    EventKind::Frozen => "frozen",
                    _ => "deferred",
                };
                s.push_str(&format!("; {what} and still in exim's queue ({}): {p}", own_pending.join(", ")));
                if let Some(h) = self.host_errors().last() {
                    s.push_str(&format!(" [{}]", h.text));
                }
            }
            (Some(p), true) if p.kind == EventKind::Failure => s.push_str(&format!("; delivery failed: {p}")),
            (None, false) => s.push_str(&format!("; still in exim's queue ({}), no delivery attempt logged yet", own_pending.join(", "))),
            // `exim -Mrm`: taken out of exim's queue by hand, never delivered.
            _ if self.removed().is_some() => {
                let e = self.removed().expect("checked");
                s.push_str(&format!("; removed from exim's queue before delivery: {e}"));
            }
            _ => {}
        }
        for bounce in &self.bounces {
            let delivered = self.events.iter().find(|e| &e.queue_id == bounce && e.kind == EventKind::Delivery);
            match (delivered, self.stuck_bounce()) {
                (Some(d), _) => s.push_str(&format!("; its bounce {bounce} went to the sender: {}", d.text)),
                (None, Some(_)) if pending.contains(&bounce.as_str()) => {
                    s.push_str(&format!("; its bounce {bounce} is stuck in exim's queue"))
                }
                _ => s.push_str(&format!("; exim made a bounce of it ({bounce})")),
            }
        }
        s
    }
}

/// The first RFC 3463 enhanced status code in a text (`5.6.0`), if any.
pub(crate) fn enhanced_code(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ':' || c == ';' || c == ',').find_map(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        let ok = parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..].iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
        ok.then(|| w.to_string())
    })
}

#[cfg(test)]
mod tests {
    //! Hand-made log lines in exim's format.
    use super::*;

    fn keys(message_id: &str) -> ProbeKeys {
        ProbeKeys { message_ids: vec![message_id.to_string()], probe_header: None }
    }

    const LOG: &str = "\
2026-11-25 12:00:00 exim 4.96 daemon started: pid=7, -q5s, listening for SMTP on port 25
2026-11-25 12:00:01 1tAbCd-000Ab1-Qz <= alice@probe.test H=(probe.test) [172.17.0.1] P=esmtp S=612 id=mailflow.r1.0@probe.test
2026-11-25 12:00:01 1tAbCd-000Ab1-Qz == probe-test@lists.example.test R=mailman3_router T=mailman3_transport defer (111): Connection refused
2026-11-25 12:00:01 1tZZZZ-000Ab1-Qz <= other@probe.test H=(probe.test) [172.17.0.1] P=esmtp S=612 id=someone-else@example.org
2026-11-25 12:00:01 H=(probe.test) [172.17.0.1] F=<a@probe.test> rejected RCPT <x@elsewhere.test>: relay not permitted
";

    #[test]
    fn deferral_to_lmtp_is_named() {
        let t = trace(LOG, &keys("<mailflow.r1.0@probe.test>"));
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
        let t = trace(&log, &keys("mailflow.r1.0@probe.test"));
        assert_eq!(t.queue_ids(), vec!["1tAbCd-000Ab1-Qz", "1tAbCe-000Ab2-Qz"]);
        assert!(t.pending().is_empty());
        assert!(t.summary().contains("last delivery"), "{}", t.summary());
    }

    #[test]
    fn followed_by_the_probe_header_and_into_its_bounce() {
        // An odd Message-ID: exim logs no `id=`; the image's DATA ACL logs the probe header.
        let log = "\
2026-11-25 12:00:01.100 1tAbCd-000Ab1-Qz X-Mailflow-Probe: run=r1; probe=s.toml step 1
2026-11-25 12:00:01.101 1tAbCd-000Ab1-Qz <= alice@probe.test H=(probe.test) [172.31.1.1] P=esmtp S=367
2026-11-25 12:00:01.200 1tZZZZ-000Ab1-Qz X-Mailflow-Probe: run=r1; probe=s.toml step 10
2026-11-25 12:00:01.201 1tZZZZ-000Ab1-Qz <= alice@probe.test H=(probe.test) [172.31.1.1] P=esmtp S=367
2026-11-25 12:00:01.300 1tAbCd-000Ab1-Qz ** probe-test@lists.example.test R=mailman3_router T=mailman3_lmtp H=127.0.0.1 [127.0.0.1]: LMTP error after DATA: 501 Message has defects
2026-11-25 12:00:01.310 1tAbCe-000Ab9-Qz <= <> R=1tAbCd-000Ab1-Qz U=Debian-exim P=local S=1824
2026-11-25 12:00:01.320 1tAbCd-000Ab1-Qz Completed
2026-11-25 12:00:01.400 1tAbCe-000Ab9-Qz => alice@probe.test R=probe_sink T=sink_smtp H=172.31.1.1 [172.31.1.1] C=\"250 kept\"
2026-11-25 12:00:01.410 1tAbCe-000Ab9-Qz Completed
";
        let keys = ProbeKeys { message_ids: vec!["<<mailflow.r1.0@probe.test>>".into()], probe_header: Some("run=r1;  probe=s.toml step 1".into()) };
        let t = trace(log, &keys);
        assert_eq!(t.queue_ids(), vec!["1tAbCd-000Ab1-Qz"]);
        assert_eq!(t.bounces, vec!["1tAbCe-000Ab9-Qz"]);
        assert!(t.pending().is_empty());
        match t.stop() {
            Some(Stop::Bounced { diagnostic, .. }) => assert!(diagnostic.contains("501 Message has defects"), "{diagnostic}"),
            other => panic!("{other:?}"),
        }
        let s = t.summary();
        assert!(s.contains("its bounce 1tAbCe-000Ab9-Qz went to the sender: alice@probe.test"), "{s}");

        // A bounce exim cannot deliver is frozen: the sender was never told.
        let frozen = log.replace(
            "2026-11-25 12:00:01.400 1tAbCe-000Ab9-Qz => alice@probe.test R=probe_sink T=sink_smtp H=172.31.1.1 [172.31.1.1] C=\"250 kept\"\n2026-11-25 12:00:01.410 1tAbCe-000Ab9-Qz Completed\n",
            "2026-11-25 12:00:01.400 1tAbCe-000Ab9-Qz ** alice@probe.test: Unrouteable address\n2026-11-25 12:00:01.410 1tAbCe-000Ab9-Qz Frozen (delivery error message)\n",
        );
        match trace(&frozen, &keys).stop() {
            Some(Stop::Frozen { queue_id, log_line }) => {
                assert_eq!(queue_id, "1tAbCe-000Ab9-Qz");
                assert!(log_line.starts_with("the bounce to the sender: "), "{log_line}");
            }
            other => panic!("{other:?}"),
        }
        assert!(trace(&frozen, &keys).summary().contains("is stuck in exim's queue"));
    }

    #[test]
    fn lines_found_twice_count_once_and_are_ordered_by_time() {
        let first = "2026-11-25 12:00:02 1tAbCd-000Ab1-Qz Completed\n";
        let second = "2026-11-25 12:00:01 1tAbCd-000Ab1-Qz <= a@probe.test id=x@probe.test\n2026-11-25 12:00:02 1tAbCd-000Ab1-Qz Completed\n";
        let t = trace(&format!("{first}{second}"), &keys("<x@probe.test>"));
        let kinds: Vec<EventKind> = t.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventKind::Arrival, EventKind::Completed]);
    }

    #[test]
    fn unknown_message() {
        assert!(trace(LOG, &keys("<nope@x>")).summary().contains("no arrival"));
    }

    #[test]
    fn millisecond_and_plain_timestamps_both_parse() {
        let plain = "2026-11-25 12:00:01 1tAbCd-000Ab1-Qz <= a@probe.test id=x@probe.test";
        let milli = "2026-11-25 12:00:01.250 1tAbCd-000Ab1-Qz <= a@probe.test id=x@probe.test";
        let zoned = "2026-11-25 13:00:01.250 +0100 1tAbCd-000Ab1-Qz <= a@probe.test id=x@probe.test";
        let at = |line: &str| trace(line, &keys("x@probe.test")).events[0].at.expect("parses");
        let base = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_608_001);
        assert_eq!(at(plain), base);
        assert_eq!(at(milli), base + std::time::Duration::from_millis(250));
        assert_eq!(at(zoned), base + std::time::Duration::from_millis(250));
        assert_eq!(trace(zoned, &keys("x@probe.test")).queue_ids(), vec!["1tAbCd-000Ab1-Qz"]);
    }

    #[test]
    fn hops_and_stops() {
        let log = "\
2026-11-25 12:00:01.100 1tAbCd-000Ab1-Qz <= alice@probe.test H=(probe.test) [172.17.0.1] P=esmtp S=612 id=p@probe.test
2026-11-25 12:00:01.300 1tAbCd-000Ab1-Qz => probe-test@lists.example.test R=mailman3_router T=mailman3_lmtp H=127.0.0.1 [127.0.0.1]:8024
2026-11-25 12:00:01.300 1tAbCd-000Ab1-Qz Completed
2026-11-25 12:00:02.900 1tAbCe-000Ab2-Qz <= probe-test-bounces@lists.example.test H=localhost [127.0.0.1] P=esmtp S=900 id=p@probe.test
";
        let sent = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_608_001);
        let hops = trace(log, &keys("p@probe.test")).hops(sent);
        let got: Vec<(&str, u128)> = hops.iter().map(|h| (h.kind.as_str(), h.after.as_millis())).collect();
        assert_eq!(got, vec![("accepted", 100), ("to_mailman", 300), ("resent", 1900)]);
        assert_eq!(trace(log, &keys("p@probe.test")).stop(), None);

        let failed = "\
2026-11-25 12:00:01 1tAbCd-000Ab1-Qz <= alice@probe.test id=p@probe.test
2026-11-25 12:00:01 1tAbCd-000Ab1-Qz ** probe-test@lists.example.test R=mailman3_router T=mailman3_lmtp H=127.0.0.1 [127.0.0.1]:8024: LMTP error after end of data: 501 5.5.4 Message has defects
";
        match trace(failed, &keys("p@probe.test")).stop() {
            Some(Stop::Bounced { status, diagnostic }) => {
                assert_eq!(status.as_deref(), Some("5.5.4"));
                assert!(diagnostic.contains("Message has defects"), "{diagnostic}");
            }
            other => panic!("{other:?}"),
        }
        match trace(LOG, &keys("mailflow.r1.0@probe.test")).stop() {
            Some(Stop::Deferred { queue_id, log_line }) => {
                assert_eq!(queue_id, "1tAbCd-000Ab1-Qz");
                assert!(log_line.contains("Connection refused"), "{log_line}");
            }
            other => panic!("{other:?}"),
        }
    }
}
