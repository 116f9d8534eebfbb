//! Delivery status notifications (RFC 3464) that reach a probe's sender:
//! how "accepted with 250, then bounced" shows at the sink.

use crate::check::Stop;
use crate::probe::{same_probe_header, ProbeKeys, PROBE_HEADER};
use crate::sink::Received;

/// When `m` is a bounce to `sender` about the probe `keys` follows, the
/// bounce as a [`Stop`]: the DSN's `Status:` (or the first enhanced status
/// code in it) and its `Diagnostic-Code:` (or, without one, exim's
/// explanation under the failed address). A bounce has the null MAIL FROM
/// (RFC 5321, 4.5.5) and names the probe: one of its Message-IDs, or its
/// probe header in the returned headers.
pub fn dsn_about(m: &Received, sender: &str, keys: &ProbeKeys) -> Option<Stop> {
    let to_sender = m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(sender));
    let null_sender = m.mail_from.is_empty() || m.mail_from == "<>";
    let a_copy = m.message_id().is_some_and(|id| keys.message_ids.iter().any(|k| k == id)) || m.header(PROBE_HEADER).is_some();
    if !to_sender || !null_sender || a_copy {
        return None;
    }
    let text = String::from_utf8_lossy(&m.data);
    let names_id = keys.bare_ids().iter().any(|id| text.contains(id));
    let names_header =
        keys.probe_header.as_deref().is_some_and(|h| probe_headers_in(&text).iter().any(|v| same_probe_header(v, h)));
    if !names_id && !names_header {
        return None;
    }
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let status = field("Status").or_else(|| super::mainlog::enhanced_code(&text));
    let diagnostic = field("Diagnostic-Code")
        .or_else(|| exim_explanation(&text))
        .or_else(|| text.lines().map(str::trim).find(|l| l.contains("error") || l.contains("failed")).map(String::from))
        .unwrap_or_else(|| m.header("Subject").unwrap_or("a delivery status notification").to_string());
    Some(Stop::Bounced { status, diagnostic })
}

/// The values of every probe header line in `text` (the returned message
/// or its headers inside a DSN), unfolded.
fn probe_headers_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else { continue };
        if !name.eq_ignore_ascii_case(PROBE_HEADER) {
            continue;
        }
        let mut value = value.to_string();
        while let Some(more) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
            value.push(' ');
            value.push_str(more);
        }
        found.push(value);
    }
    found
}

/// Exim's words in its own bounce text: the indented lines under the
/// failed address, after "The following address(es) failed:", joined
/// with "; " (`host 127.0.0.1 [127.0.0.1]; LMTP error after DATA: 501
/// Message has defects`, or `message has lines too long for transport`).
fn exim_explanation(text: &str) -> Option<String> {
    let mut lines = text.lines().skip_while(|l| !l.contains("address(es) failed:")).skip(1);
    let mut words = Vec::new();
    // Blank lines, then the address (indented two spaces), then its reasons (indented more).
    for line in lines.by_ref() {
        if !line.trim().is_empty() {
            break;
        }
    }
    for line in lines {
        let indent = line.len() - line.trim_start().len();
        if line.trim().is_empty() || indent <= 2 {
            break;
        }
        words.push(line.trim().to_string());
    }
    (!words.is_empty()).then(|| words.join("; "))
}

#[cfg(test)]
mod tests {
    //! A hand-made DSN in the shape exim sends.
    use super::*;

    fn received(mail_from: &str, to: &str, data: &str) -> Received {
        Received::for_test(mail_from, &[to], data.as_bytes())
    }

    fn keys(id: &str) -> ProbeKeys {
        ProbeKeys { message_ids: vec![id.to_string()], probe_header: None }
    }

    #[test]
    fn a_bounce_to_the_sender_names_status_and_diagnostic() {
        let data = "From: Mail Delivery System <Mailer-Daemon@lists.example.test>\r\nTo: alice@probe.test\r\nSubject: Mail delivery failed\r\nMessage-ID: <b1@lists.example.test>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n\r\nAn error occurred.\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\nStatus: 5.0.0\r\nDiagnostic-Code: X-LMTP; 501 Message has defects\r\n--x\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <p1@probe.test>\r\n--x--\r\n";
        let stop = dsn_about(&received("", "alice@probe.test", data), "alice@probe.test", &keys("<p1@probe.test>"));
        assert_eq!(stop, Some(Stop::Bounced { status: Some("5.0.0".into()), diagnostic: "X-LMTP; 501 Message has defects".into() }));
        // Not about this probe, not to its sender, or not from the null sender: no bounce.
        assert_eq!(dsn_about(&received("", "alice@probe.test", data), "alice@probe.test", &keys("<p2@probe.test>")), None);
        assert_eq!(dsn_about(&received("", "bob@probe.test", data), "alice@probe.test", &keys("<p1@probe.test>")), None);
        assert_eq!(dsn_about(&received("x@lists.example.test", "alice@probe.test", data), "alice@probe.test", &keys("<p1@probe.test>")), None);
    }

    /// Exim's bounce as the lists image sent it for a 1500-character line
    /// (no Diagnostic-Code: exim itself refused the transport), about a
    /// probe sent without a Message-ID: found by the probe header in the
    /// returned headers, which exim may fold.
    #[test]
    fn exims_own_words_and_the_probe_header() {
        let data = "From: Mail Delivery System <Mailer-Daemon@lists.example.test>\r\nTo: alice@probe.test\r\nSubject: Mail delivery failed: returning message to sender\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-type: text/plain; charset=us-ascii\r\n\r\nThis message was created automatically by mail delivery software.\r\n\r\nA message that you sent could not be delivered to one or more of its\r\nrecipients. This is a permanent error. The following address(es) failed:\r\n\r\n  probe-test@lists.example.test\r\n    message has lines too long for transport\r\n\r\n--b\r\nContent-type: message/delivery-status\r\n\r\nReporting-MTA: dns; lists.example.test\r\n\r\nAction: failed\r\nFinal-Recipient: rfc822;probe-test@lists.example.test\r\nStatus: 5.0.0\r\n\r\n--b\r\nContent-type: text/rfc822-headers\r\n\r\nFrom: alice@probe.test\r\nX-Mailflow-Probe: run=r1;\r\n probe=s.toml step 1\r\n\r\n--b--\r\n";
        let keys = ProbeKeys { message_ids: vec!["<mailflow.r1.0@probe.test>".into()], probe_header: Some("run=r1; probe=s.toml step 1".into()) };
        let stop = dsn_about(&received("", "alice@probe.test", data), "alice@probe.test", &keys);
        assert_eq!(stop, Some(Stop::Bounced { status: Some("5.0.0".into()), diagnostic: "message has lines too long for transport".into() }));
        for other in ["run=r1; probe=s.toml step 2", "run=r1; probe=s.toml step"] {
            let other = ProbeKeys { probe_header: Some(other.into()), ..keys.clone() };
            assert_eq!(dsn_about(&received("", "alice@probe.test", data), "alice@probe.test", &other), None);
        }
        let explained = data.replace("    message has lines too long for transport", "    host 127.0.0.1 [127.0.0.1]\r\n    LMTP error after DATA: 501 Message has defects");
        assert_eq!(exim_explanation(&explained).as_deref(), Some("host 127.0.0.1 [127.0.0.1]; LMTP error after DATA: 501 Message has defects"));
    }
}
