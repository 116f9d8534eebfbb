//! `expect_digest`: the list's digest, sent now through the target's shell,
//! reaches its digest members with the probe in it.

use std::time::SystemTime;

use tokio::time::Instant;

use super::secs;
use super::verdict::{unsupported, Sent, Verdict};
use crate::check::{within, Look, Row, Waited};
use crate::scenario::DigestExpectation;
use crate::target::{Capability, Target};

/// Mailman's command to send a list's digest now, as the `list` user with the
/// container's configuration (Debian's layout).
fn send_command(list_id: &str) -> Vec<String> {
    ["runuser", "-u", "list", "--", "env", "MAILMAN_VAR_DIR=/var/lib/mailman3", "mailman", "-C", "/etc/mailman3/mailman.cfg", "digests", "--send", "-l", list_id]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

pub(super) async fn expect_digest<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &DigestExpectation) -> Verdict {
    let expected = format!("a digest holding the probe within {}", secs(exp.within));
    let property = |to: &str| format!("digest to {to}");
    let first = exp.to.first().map(String::as_str).unwrap_or("");
    let Some(shell) = target.shell() else {
        return unsupported(&property(first), expected, Capability::Shell);
    };
    let Some(mailbox) = target.mailbox() else {
        return unsupported(&property(first), expected, Capability::Mailbox);
    };
    if !target.may_send_digests() {
        return Verdict::row(Row::skipped(property(first), expected, "sending a digest reaches every digest member: not on this target"));
    }
    let started = Instant::now();
    let since = SystemTime::now();
    let argv = send_command(&exp.list_id);
    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
    match shell.exec(&args).await {
        Ok((0, _, _)) => {}
        Ok((code, out, err)) => {
            return Verdict::row(Row::failed(property(first), expected, format!("`mailman digests --send` exited {code}: {}", format!("{out}{err}").trim())));
        }
        Err(e) => return Verdict::row(Row::failed(property(first), expected, format!("could not send the digest: {e}"))),
    }
    let probe = &sent.probe;
    let bare_id = probe.message_id.trim_start_matches('<').trim_end_matches('>').to_string();
    let mut rows = Vec::new();
    for to in &exp.to {
        let waited = within(started, exp.within, mailbox.arrivals(), || async {
            match mailbox.received_by(to, since).await {
                Ok(ms) => ms
                    .into_iter()
                    .find(|m| {
                        // The digest, not a copy of the probe itself: it holds the probe inside.
                        m.message_id() != Some(probe.message_id.as_str())
                            && super::steps::texts(m).iter().any(|t| t.contains(&bare_id) || t.contains(probe.subject.as_str()))
                    })
                    .map_or(Look::NotYet, Look::Ready),
                Err(e) => Look::Abort(e),
            }
        })
        .await;
        rows.push(match waited {
            Waited::Ready { value: m, after } => {
                Row::passed(property(to), &expected, format!("{:?} from {}", m.header("Subject").unwrap_or(""), m.mail_from)).took(after)
            }
            Waited::TimedOut { .. } => Row::failed(property(to), &expected, format!("no digest holding the probe reached {to}")),
            Waited::Aborted(e) => Row::failed(property(to), &expected, format!("could not read the mailbox: {e}")),
        });
    }
    Verdict::rows(rows)
}
