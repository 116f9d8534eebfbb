//! Delivery status notifications (RFC 3464) that reach a probe's sender:
//! how "accepted with 250, then bounced" shows at the sink.

use crate::check::Stop;
use crate::sink::Received;

/// When `m` is a bounce to `sender` about the message `message_id`, the
/// bounce as a [`Stop`]: the DSN's `Status:` (or the first enhanced status
/// code in it) and its `Diagnostic-Code:` (or exim's explanation line).
/// A bounce has the null MAIL FROM (RFC 5321, 4.5.5).
pub fn dsn_about(m: &Received, sender: &str, message_id: &str) -> Option<Stop> {
    let to_sender = m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(sender));
    let null_sender = m.mail_from.is_empty() || m.mail_from == "<>";
    if !to_sender || !null_sender || m.message_id() == Some(message_id) {
        return None;
    }
    let text = String::from_utf8_lossy(&m.data);
    let bare = message_id.trim().trim_start_matches('<').trim_end_matches('>');
    if !text.contains(bare) {
        return None;
    }
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let status = field("Status").or_else(|| super::mainlog::enhanced_code(&text));
    // Exim's own bounce text puts the reason on the line after the address.
    let diagnostic = field("Diagnostic-Code")
        .or_else(|| text.lines().map(str::trim).find(|l| l.contains("error") || l.contains("failed")).map(String::from))
        .unwrap_or_else(|| m.header("Subject").unwrap_or("a delivery status notification").to_string());
    Some(Stop::Bounced { status, diagnostic })
}

#[cfg(test)]
mod tests {
    //! A hand-made DSN in the shape exim sends.
    use super::*;

    fn received(mail_from: &str, to: &str, data: &str) -> Received {
        Received::for_test(mail_from, &[to], data.as_bytes())
    }

    #[test]
    fn a_bounce_to_the_sender_names_status_and_diagnostic() {
        let data = "From: Mail Delivery System <Mailer-Daemon@lists.example.test>\r\nTo: alice@probe.test\r\nSubject: Mail delivery failed\r\nMessage-ID: <b1@lists.example.test>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n\r\nAn error occurred.\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\nStatus: 5.0.0\r\nDiagnostic-Code: X-LMTP; 501 Message has defects\r\n--x\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <p1@probe.test>\r\n--x--\r\n";
        let stop = dsn_about(&received("", "alice@probe.test", data), "alice@probe.test", "<p1@probe.test>");
        assert_eq!(stop, Some(Stop::Bounced { status: Some("5.0.0".into()), diagnostic: "X-LMTP; 501 Message has defects".into() }));
        // Not about this probe, not to its sender, or not from the null sender: no bounce.
        assert_eq!(dsn_about(&received("", "alice@probe.test", data), "alice@probe.test", "<p2@probe.test>"), None);
        assert_eq!(dsn_about(&received("", "bob@probe.test", data), "alice@probe.test", "<p1@probe.test>"), None);
        assert_eq!(dsn_about(&received("x@lists.example.test", "alice@probe.test", data), "alice@probe.test", "<p1@probe.test>"), None);
    }
}
