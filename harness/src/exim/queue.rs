//! Exim's queue, read on the server: which of the probe's messages wait
//! there, and why.
//!
//! [`QUEUE_SCRIPT`] runs on the list server (through the target's shell):
//! for every message `exim -bp` lists, it prints the listing line, the
//! message's header file (`exim -Mvh`) and its message log (`exim -Mvl`,
//! or the message's lines of the mainlog when message logs are off).
//! [`parse_queue`] reads that and keeps the probe's own messages, found by
//! their Message-ID or probe header, never by anything else.

use crate::probe::{same_probe_header, ProbeKeys, PROBE_HEADER};

/// One of the probe's messages waiting in exim's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub queue_id: String,
    /// How long it has waited, as `exim -bp` writes it (`5m`, `2h`).
    pub age: String,
    /// Frozen (`*** frozen ***`): exim will not try it again by itself.
    pub frozen: bool,
    /// The latest deferral (`==`) line of its message log that names a
    /// cause, e.g. `probe-test@lists.example.test R=mailman3_router
    /// T=mailman3_lmtp defer (111): Connection refused`; `None` when it was
    /// never tried.
    pub deferral: Option<String>,
}

/// Prints every queued message's listing line, header file and message
/// log, in sections that [`parse_queue`] reads. `$1` is the mainlog, for
/// hosts without message logs. Queue ids come from exim's own listing.
pub const QUEUE_SCRIPT: &str = r#"exim -bp | while IFS= read -r line; do
  set -- $line
  [ $# -ge 3 ] || continue
  case "$1" in [0-9]*[smhdw]) ;; *) continue ;; esac
  printf '=== %s\n' "$line"
  exim -Mvh "$3" 2>/dev/null
  printf -- '--- log\n'
  exim -Mvl "$3" 2>/dev/null || grep -F " $3 " "$MAINLOG" 2>/dev/null || true
done"#;

/// One message line of `exim -bp`'s listing: `<age> <size> <queue id>
/// <sender> [*** frozen ***]` (the recipient lines under it, indented by
/// ten spaces, are not message lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedMessage<'a> {
    /// The whole line, trailing white space removed.
    pub line: &'a str,
    /// Time in the queue: exim writes whole seconds, minutes, hours, days
    /// or weeks (`45s`, `5m`, `2h`, `3d`, `1w`).
    pub age: std::time::Duration,
    pub queue_id: &'a str,
    pub frozen: bool,
}

/// The message lines of `exim -bp`'s listing, in its order.
pub fn listed_messages(listing: &str) -> Vec<ListedMessage<'_>> {
    listing
        .lines()
        .filter(|line| !(line.starts_with([' ', '\t']) && line.trim_start().len() + 10 < line.len()))
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (age, queue_id) = (parse_age(words.first()?)?, *words.get(2)?);
            Some(ListedMessage { line: line.trim_end(), age, queue_id, frozen: line.contains("*** frozen ***") })
        })
        .collect()
}

/// exim's age column: a number and a unit (`s`, `m`, `h`, `d`, `w`).
fn parse_age(text: &str) -> Option<std::time::Duration> {
    let (number, unit) = text.split_at(text.len().checked_sub(1)?);
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(number.parse::<u64>().ok()? * unit))
}

/// Reads [`QUEUE_SCRIPT`]'s output; keeps the messages that are the probe's.
pub fn parse_queue(text: &str, keys: &ProbeKeys) -> Vec<QueuedMessage> {
    let mut found = Vec::new();
    for section in text.split("=== ").skip(1) {
        let mut lines = section.lines();
        let Some(listing) = lines.next() else { continue };
        let words: Vec<&str> = listing.split_whitespace().collect();
        let (Some(age), Some(queue_id)) = (words.first(), words.get(2)) else { continue };
        let mut headers: Vec<String> = Vec::new();
        let mut log: Vec<&str> = Vec::new();
        let mut in_log = false;
        for line in lines {
            if line == "--- log" {
                in_log = true;
            } else if in_log {
                log.push(line);
            } else if let Some(header) = header_start(line) {
                headers.push(header.to_string());
            } else if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.push(' ');
                    last.push_str(line.trim());
                }
            }
        }
        if !headers.iter().any(|h| is_probes(h, keys)) {
            continue;
        }
        let deferrals = || log.iter().filter_map(|l| deferral_of(l));
        let deferral = deferrals()
            .rev()
            .find(|d| !d.contains("retry time not reached"))
            .or_else(|| deferrals().next_back())
            .map(str::to_string);
        found.push(QueuedMessage { queue_id: queue_id.to_string(), age: age.to_string(), frozen: listing.contains("*** frozen ***"), deferral });
    }
    found
}

/// The deferral a log line records, after its time (and queue id): the
/// mainlog's `== ` lines, and the message log's, which carry neither the
/// queue id nor the flag but say `defer (<errno>)`.
fn deferral_of(line: &str) -> Option<&str> {
    if let Some((_, rest)) = line.split_once(" == ") {
        return Some(rest.trim());
    }
    line.contains(" defer (").then(|| line.splitn(3, ' ').nth(2).unwrap_or(line).trim())
}

/// A header line of exim's header file (`-H`): three digits of length, a
/// flag character (space, or `*` for a deleted header, `I` for
/// Message-ID, ...), a space, then the header.
fn header_start(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    (b.len() > 5 && b[..3].iter().all(u8::is_ascii_digit) && b[4] == b' ').then(|| &line[5..])
}

/// Whether a header (`Name: value`, unfolded) is the probe's Message-ID or
/// probe header.
fn is_probes(header: &str, keys: &ProbeKeys) -> bool {
    let Some((name, value)) = header.split_once(':') else { return false };
    let value = value.trim();
    if name.eq_ignore_ascii_case("Message-ID") {
        return keys.message_ids.iter().any(|id| id == value);
    }
    name.eq_ignore_ascii_case(PROBE_HEADER) && keys.probe_header.as_deref().is_some_and(|p| same_probe_header(p, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In the shape of the lists container's queue with Mailman stopped
    /// (hand-made): two messages queued, the probe (found by its
    /// Message-ID) and someone else's; the second one's log from the
    /// mainlog (`==` lines with the queue id).
    const QUEUE: &str = "=== 0m   1.2K 1vP0aB-000123-Xy <alice@probe.test>
1vP0aB-000123-Xy-H
Debian-exim 101 101
<alice@probe.test>
1795952508 0
-received_time_usec .123456
-ident Debian-exim
-aclm 0 0
XX
1
probe-test@lists.example.test

221P Received: from [172.31.7.1] (helo=mailflow)
\tby lists.example.test with esmtp (Exim 4.96)
\tid 1vP0aB-000123-Xy
048I Message-ID: <run1.probe1@probe.test>
059  X-Mailflow-Probe: run=run1;
  probe=probe1
024  Subject: waits for Mailman
--- log
2026-11-29 13:50:01.123 Received from alice@probe.test H=(mailflow) [172.31.7.1] P=esmtp S=1234 id=run1.probe1@probe.test
2026-11-29 13:50:01.130 probe-test@lists.example.test R=mailman3_router T=mailman3_lmtp defer (111): Connection refused
2026-11-29 13:50:06.200 probe-test@lists.example.test R=mailman3_router T=mailman3_lmtp defer (-53): retry time not reached for any host for 'lists.example.test'
=== 2m    500 1vP0aC-000456-Zz <bob@probe.test> *** frozen ***
1vP0aC-000456-Zz-H
048I Message-ID: <someone.else@probe.test>
--- log
2026-11-29 13:48:00.000 1vP0aC-000456-Zz == bob@probe.test R=sink T=sink_smtp defer (-44): SMTP error from remote mail server after RCPT TO:<bob@probe.test>: 451 4.3.0 fault
";

    fn keys(ids: &[&str], header: Option<&str>) -> ProbeKeys {
        let mut k = ProbeKeys { message_ids: Vec::new(), probe_header: header.map(str::to_string) };
        for id in ids {
            k.add_id(id);
        }
        k
    }

    #[test]
    fn the_probes_message_with_its_cause_and_nobody_elses() {
        let found = parse_queue(QUEUE, &keys(&["<run1.probe1@probe.test>"], None));
        assert_eq!(
            found,
            vec![QueuedMessage {
                queue_id: "1vP0aB-000123-Xy".into(),
                age: "0m".into(),
                frozen: false,
                deferral: Some("probe-test@lists.example.test R=mailman3_router T=mailman3_lmtp defer (111): Connection refused".into()),
            }]
        );
        // By the probe header alone (an odd Message-ID), folded as sent.
        let by_header = parse_queue(QUEUE, &keys(&["<rewritten@x>"], Some("run=run1; probe=probe1")));
        assert_eq!(by_header.len(), 1);
        assert!(parse_queue(QUEUE, &keys(&["<run1.probe2@probe.test>"], Some("run=run1; probe=probe2"))).is_empty());
        let frozen = parse_queue(QUEUE, &keys(&["<someone.else@probe.test>"], None));
        assert!(frozen[0].frozen, "{frozen:?}");
        assert_eq!(
            frozen[0].deferral.as_deref(),
            Some("bob@probe.test R=sink T=sink_smtp defer (-44): SMTP error from remote mail server after RCPT TO:<bob@probe.test>: 451 4.3.0 fault")
        );
        assert!(parse_queue("", &keys(&["<a@b>"], None)).is_empty());
    }

    /// Hand-made in exim 4.96's `-bp` shape: message lines, a frozen one,
    /// indented recipient lines (one delivered, `D`), a blank line.
    #[test]
    fn listed_messages_are_the_message_lines_with_age_and_id() {
        let listing = " 0m   1.2K 1vP0aB-000123-Xy <alice@probe.test>\n          probe-test@lists.example.test\n\n\
25h   900 1vP0aC-000124-Ab <> *** frozen ***\n        D bob@probe.test\n          carol@probe.test\n\n\
 2w    12 1vP0aD-000125-Cd <x@y>\n";
        let listed = listed_messages(listing);
        let got: Vec<_> = listed.iter().map(|m| (m.age.as_secs(), m.queue_id, m.frozen)).collect();
        assert_eq!(got, [(0, "1vP0aB-000123-Xy", false), (25 * 3600, "1vP0aC-000124-Ab", true), (2 * 604_800, "1vP0aD-000125-Cd", false)]);
        assert_eq!(listed[1].line, "25h   900 1vP0aC-000124-Ab <> *** frozen ***");
        assert!(listed_messages("no queue\n").is_empty());
    }
}
