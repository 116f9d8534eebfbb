//! One line per message arriving at the sink, as `mailflow up` prints them:
//!
//! ```text
//! 12:00:06.412Z from list-bounces@lists.example.test to alice@probe.test subject "[Probe-test] hello" id <mailflow.1-ab.0@probe.test> latency 1.4-2.4s
//! ```
//!
//! Time of arrival (UTC), MAIL FROM, RCPT TO, Subject, Message-ID and, for a
//! probe, its latency from sending to arrival.
//!
//! The latency comes from the probe's Date header. A probe's Message-ID
//! (`<mailflow.RUN.SEQ@domain>`) names its run and a sequence number but no
//! time, and the run id's clock part is when the run started, not when the
//! probe was sent; the Date header is the only send time a copy carries (and
//! Mailman keeps it). It has whole seconds, written truncated, so the true
//! latency lies in the printed range of one second. Messages that are not
//! probes (Mailman's notices) get no latency: their Date is when Mailman
//! wrote them, which says nothing about a probe.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sink::{Received, Sink};

/// The line for one arrival.
pub fn line(r: &Received) -> String {
    let mut s = format!(
        "{} from {} to {} subject {:?} id {}",
        time_of_day(r.received_at),
        if r.mail_from.is_empty() { "<>" } else { r.mail_from.as_str() },
        r.rcpt_to.join(", "),
        r.header("Subject").unwrap_or(""),
        r.message_id().unwrap_or("-"),
    );
    if let Some((low, high)) = latency(r) {
        s.push_str(&format!(" latency {:.1}-{:.1}s", low.as_secs_f64(), high.as_secs_f64()));
    }
    s
}

/// Sending to arrival, as a range of one second (the Date header's
/// resolution), for a probe whose Date parses and is not after its arrival.
pub fn latency(r: &Received) -> Option<(Duration, Duration)> {
    r.probe()?;
    let date = mailparse::dateparse(r.header("Date")?).ok()?;
    let sent = UNIX_EPOCH + Duration::from_secs(u64::try_from(date).ok()?);
    let high = r.received_at.duration_since(sent).ok()?;
    Some((high.saturating_sub(Duration::from_secs(1)), high))
}

/// `HH:MM:SS.mmmZ`, UTC.
fn time_of_day(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let s = since.as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}.{:03}Z", s / 3600, s % 3600 / 60, s % 60, since.subsec_millis())
}

/// Writes a line for every message the sink has kept, then for each new
/// arrival, until the sink goes away or writing fails.
pub async fn follow(sink: &Sink, out: &mut impl Write) -> std::io::Result<()> {
    let mut arrivals = sink.arrivals();
    let mut next = 0;
    loop {
        arrivals.borrow_and_update();
        for m in sink.since(next) {
            writeln!(out, "{}", line(&m))?;
            next = m.seq + 1;
        }
        out.flush()?;
        if arrivals.changed().await.is_err() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::PROBE_HEADER;

    fn received(headers: &[(&str, &str)], at_secs: u64, at_millis: u64) -> Received {
        Received {
            mail_from: "probe-test-bounces@lists.example.test".into(),
            rcpt_to: vec!["alice@probe.test".into(), "bob@probe.test".into()],
            data: Vec::new(),
            received_at: UNIX_EPOCH + Duration::from_millis(at_secs * 1000 + at_millis),
            peer: "172.31.1.2:40000".parse().unwrap(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            seq: 0,
        }
    }

    // 2026-11-25 12:00:04 UTC
    const SENT: u64 = 1_795_608_004;
    const DATE: &str = "Wed, 25 Nov 2026 12:00:04 +0000";

    #[test]
    fn a_probe_copy_with_its_latency() {
        let r = received(
            &[
                ("Subject", "[Probe-test] hello"),
                ("Date", DATE),
                ("Message-ID", "<mailflow.1-ab.0@probe.test>"),
                (PROBE_HEADER, "run=1-ab; probe=member post step 1"),
            ],
            SENT + 2,
            412,
        );
        assert_eq!(
            line(&r),
            "12:00:06.412Z from probe-test-bounces@lists.example.test to alice@probe.test, bob@probe.test \
             subject \"[Probe-test] hello\" id <mailflow.1-ab.0@probe.test> latency 1.4-2.4s"
        );
    }

    #[test]
    fn a_notice_has_no_latency_and_missing_fields_show() {
        let mut r = received(&[("Date", DATE)], SENT + 1, 5);
        r.mail_from.clear();
        assert_eq!(line(&r), "12:00:05.005Z from <> to alice@probe.test, bob@probe.test subject \"\" id -");
        // A probe whose Date is in the future (a skewed sender clock) gets none either.
        let r = received(&[("Date", DATE), (PROBE_HEADER, "run=1; probe=p")], SENT - 3, 0);
        assert_eq!(latency(&r), None);
        // Within the Date's own second: the range starts at zero.
        let r = received(&[("Date", DATE), (PROBE_HEADER, "run=1; probe=p")], SENT, 300);
        assert_eq!(latency(&r), Some((Duration::ZERO, Duration::from_millis(300))));
    }

    #[tokio::test]
    async fn follow_prints_what_arrives() {
        let sink = Sink::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let rcpts = vec!["alice@probe.test".to_string()];
        let env = crate::smtp::Envelope { helo: "x", mail_from: "a@lists.test", rcpt_to: &rcpts };
        let msg = b"Subject: first\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n";
        crate::smtp::send(sink.addr(), &env, msg, crate::smtp::Timeouts::default()).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_millis(200), follow(&sink, &mut out)).await;
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("from a@lists.test to alice@probe.test subject \"first\" id <1@x>\n"), "{text}");
    }
}
