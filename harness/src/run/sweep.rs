//! `expect_every_list_answers` and `mailflow sweep`: the safe probe of
//! every list.
//!
//! One message to each list's `-request` address, Subject and body `help`,
//! from a sender address of its own in the probe domain
//! (`sweep-<run id>-<n>@<probe domain>`), so each answer belongs to one
//! list without doubt and each (list, sender) pair sees one message per run.
//! Mailman's command runner answers the sender; no subscriber, owner or
//! moderator sees anything.
//!
//! What the answer looks like (where each fact comes from):
//! - Mailman 3.3.8 (read in `mailman/runners/command.py` on the lists
//!   image, and seen at the sink): `From:` the list's `-bounces` address,
//!   the envelope sender the same, `To:` the sender, Subject `The results of
//!   your email commands` (translated into the list's language), no
//!   In-Reply-To or References; the body quotes the command message's
//!   `Message-ID:` under "Original message details".
//! - Mailman 2.1 (its `Mailman/Queue/CommandRunner.py`, public source; not
//!   among the 2.1.39 recordings): `From:` the list's `-owner` address, the
//!   same Subject, `multipart/mixed` with the command message attached
//!   (`message/rfc822`, Message-ID included) at the default
//!   `RESPONSE_INCLUDE_LEVEL`.
//!
//! So an answer is matched by its recipient (the list's own sender address)
//! and the command message's Message-ID anywhere in its text; one with an
//! empty envelope sender is a delivery status notification, not an answer.
//!
//! Mailman 2.1 answers a sender at most `MAX_AUTORESPONSES_PER_DAY` times a
//! day per list (default 10; `autorespondToSender`); Mailman 3.3.8 does not
//! count command results against `[mta] max_autoresponses_per_day` (it
//! counts hold notices), but a list with `autorespond_requests` set also
//! sends its own autoresponse. A fresh sender per list and run keeps every
//! pair at one message a day however often the sweep runs.
//!
//! Sends go `concurrency` at a time and through the target's pace (a hosts
//! target's `probes_per_minute`); the answers are all waited for together,
//! so a sweep takes the sending time plus about one answer deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::stream::{self, StreamExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::diagnose::where_it_stopped;
use super::secs;
use super::verdict::{unsupported, Sent, Verdict};
use crate::check::{within, Look, Row, Stop};
use crate::probe::{self, Probe, ProbeSpec, RunId};
use crate::scenario::{EveryListExpectation, Location, Scenario, Step, StepKind, Suite};
use crate::sink::Received;
use crate::smtp::{self, Envelope, Transcript};
use crate::target::{Capability, Target};

/// The Subject and body of every sweep message: Mailman's `help` command.
pub const COMMAND: &str = "help";
/// Unanswered lists diagnosed at most (exim's log, Mailman's queues): each
/// costs several reads on the server.
pub const MAX_DIAGNOSED: usize = 20;
/// Mailbox reads under way at once while waiting for answers.
const LOOKS_AT_ONCE: usize = 8;

/// Sender numbers, over the whole process: two sweeps in one run never
/// share a sender.
static SENDERS: AtomicU64 = AtomicU64::new(0);

/// The scenario `mailflow sweep` runs: this one step.
pub fn scenario(exp: EveryListExpectation) -> Scenario {
    let path = std::path::PathBuf::from("sweep");
    Scenario {
        path: path.clone(),
        name: "every list answers a help request at its -request address".into(),
        list: None,
        steps: vec![Step { group: 1, location: Location { file: path, line: 1, column: 1 }, kind: StepKind::ExpectEveryListAnswers(exp) }],
    }
}

/// A list's `-request` address: `name-request@domain`.
pub fn request_address(list: &str) -> String {
    match list.split_once('@') {
        Some((name, domain)) => format!("{name}-request@{domain}"),
        None => format!("{list}-request"),
    }
}

/// One list's sweep message and how its sending went.
struct Probed {
    list: String,
    sent: Sent,
    /// The SMTP failure (no conversation, or a refusal) when not accepted.
    failed: Option<String>,
}

/// How one list's answer turned out.
enum Answer {
    /// Mailman's answer: the message and how long after sending it arrived.
    Answered(Arc<Received>, Duration),
    /// A delivery status notification about the command message instead.
    Bounced(Arc<Received>),
}

pub(super) async fn expect_every_list_answers<T: Target + ?Sized>(
    target: &T,
    suite: &Suite,
    scenario: &Scenario,
    step: &Step,
    run: &RunId,
    exp: &EveryListExpectation,
) -> Verdict {
    let which = exp.lists.as_deref().map_or("every list".to_string(), |g| format!("the lists matching {g:?}"));
    let expected = format!("{which} answers help at its -request address within {}", secs(exp.within));
    let Some(index) = target.list_index() else {
        return unsupported("lists", expected, Capability::ListIndex);
    };
    let Some(mailbox) = target.mailbox() else {
        return unsupported("lists", expected, Capability::Mailbox);
    };
    let all = match index.list_addresses().await {
        Ok(all) => all,
        Err(e) => return Verdict::row(Row::failed("lists", expected, format!("could not read the server's lists: {e}"))),
    };
    let lists: Vec<String> = all.iter().filter(|a| exp.lists.as_deref().is_none_or(|g| crate::scenario::sweep::glob_names(g, a))).cloned().collect();
    if lists.is_empty() {
        let observed = match &exp.lists {
            Some(g) => format!("no list of the {} on the server matches {g:?}", all.len()),
            None => "the server has no lists".to_string(),
        };
        return Verdict::row(Row::failed("lists", expected, observed));
    }

    let label = format!("{} {}", scenario.path.display(), step.label());
    let slots = Semaphore::new(exp.concurrency.max(1));
    let slots = &slots;
    let label = label.as_str();
    let probed: Vec<Probed> = futures::future::join_all(lists.iter().map(|list| async move {
        let _slot = slots.acquire().await.expect("the semaphore is never closed");
        send_one(target, suite, run, label, list).await
    }))
    .await;

    // Every accepted message's answer, waited for together. Each list's
    // window counts from its own sending; the wait ends when every list
    // has answered or the last window has passed.
    let waiting: Vec<&Probed> = probed.iter().filter(|p| p.failed.is_none()).collect();
    let mut answers: Vec<Option<Answer>> = waiting.iter().map(|_| None).collect();
    if let Some(last) = waiting.iter().map(|p| p.sent.at).max() {
        let answers = std::cell::RefCell::new(&mut answers);
        let _ = within(last, exp.within, mailbox.arrivals(), || {
            let answers = &answers;
            let waiting = &waiting;
            async move {
                let pending: Vec<usize> = answers.borrow().iter().enumerate().filter(|(_, a)| a.is_none()).map(|(i, _)| i).collect();
                let found: Vec<(usize, Option<Answer>)> = stream::iter(pending)
                    .map(|i| async move {
                        let p = waiting[i];
                        let got = mailbox.received_by(&p.sent.probe.from, p.sent.wall).await.unwrap_or_default();
                        (i, answer_in(&got, &p.sent))
                    })
                    .buffer_unordered(LOOKS_AT_ONCE)
                    .collect()
                    .await;
                let mut answers = answers.borrow_mut();
                for (i, a) in found {
                    if a.is_some() {
                        answers[i] = a;
                    }
                }
                if answers.iter().all(Option::is_some) { Look::Ready(()) } else { Look::<(), ()>::NotYet }
            }
        })
        .await;
    }

    let mut verdict = Verdict::default();
    let mut answered = answers.into_iter();
    let mut diagnosed = 0;
    for p in &probed {
        let property = format!("answer from {}", p.list);
        let expected = format!("help to {} answered to {} within {}", request_address(&p.list), p.sent.probe.from, secs(exp.within));
        if let Some(failure) = &p.failed {
            if verdict.stop.is_none() {
                verdict.stop = Some(smtp_stop(&p.sent.transcript, failure));
            }
            verdict.rows.push(Row::failed(property, expected, failure.clone()));
            continue;
        }
        let row = match answered.next().flatten() {
            Some(Answer::Answered(m, after)) if after <= exp.within => Row::passed(property, expected, describe_answer(&m)).took(after),
            Some(Answer::Answered(m, after)) => {
                Row::failed(property, expected, format!("answered after {}, too late: {}", secs(after), describe_answer(&m))).took(after)
            }
            Some(Answer::Bounced(m)) => {
                let subject = m.header("Subject").unwrap_or("");
                verdict.evidence.push(format!("{}: a delivery status notification came back instead of an answer: {subject:?}", p.list));
                Row::failed(property, expected, format!("bounced: a delivery status notification {subject:?} instead of an answer"))
            }
            None => {
                let mut observed = format!("no answer within {}", secs(exp.within));
                if diagnosed < MAX_DIAGNOSED {
                    diagnosed += 1;
                    let d = where_it_stopped(target, &p.sent).await;
                    observed.push_str(&format!("; the command message: {}", d.stop.kind()));
                    if target.mta_log().is_none() {
                        verdict.evidence.push(format!("{}: exim's log is not readable on this target (no shell); look for {} in it", p.list, p.sent.probe.message_id));
                    }
                    verdict.evidence.extend(d.evidence.iter().map(|e| format!("{}: {e}", p.list)));
                    if verdict.stop.is_none() {
                        verdict.stop = Some(d.stop);
                    }
                } else {
                    observed.push_str(&format!("; not diagnosed (only the first {MAX_DIAGNOSED} are): look for {} in exim's log", p.sent.probe.message_id));
                }
                Row::failed(property, expected, observed)
            }
        };
        verdict.rows.push(row);
    }
    verdict
}

/// Builds and sends one list's message: paced, each listed SMTP address in
/// turn until one connects.
async fn send_one<T: Target + ?Sized>(target: &T, suite: &Suite, run: &RunId, label: &str, list: &str) -> Probed {
    let n = SENDERS.fetch_add(1, Ordering::Relaxed);
    let from = format!("sweep-{run}-{n}@{}", suite.probe_domain);
    let to = [request_address(list)];
    let spec = ProbeSpec { from: &from, to: &to, subject: COMMAND, body: Some(COMMAND), headers: &[], attachments: &[] };
    let probe = probe::build(run, &suite.probe_domain, &format!("{label} {list}"), &spec);
    let helo = format!("mailflow.{}", suite.probe_domain);
    let envelope = Envelope { helo: &helo, mail_from: &probe.from, rcpt_to: &probe.to };
    if let Some(pacer) = target.pacer() {
        pacer.wait_turn().await;
    }
    let at = Instant::now();
    let wall = SystemTime::now();
    let (_, result, unreachable) = super::steps::send_to_target(target, &envelope, &probe.bytes).await;
    let (transcript, failed) = match result {
        Ok(t) if t.accepted() => (t, None),
        Ok(t) => {
            let reply = t.final_reply().map(refusal).unwrap_or_else(|| "refused".into());
            (t, Some(reply))
        }
        Err(e) => {
            let mut words = unreachable;
            words.push(e.to_string());
            let failed = match e.transcript.final_reply() {
                Some(x) if !x.reply.is_positive() => refusal(x),
                _ => format!("not sent: {}", words.join("; ")),
            };
            (e.transcript, Some(failed))
        }
    };
    Probed { list: list.to_string(), sent: Sent { probe, transcript, at, wall }, failed }
}

/// `refused at RCPT TO: 550 ...`: the command (or stage) and the whole reply.
fn refusal(e: &smtp::Exchange) -> String {
    let at = match e.stage {
        smtp::Stage::Mail => "MAIL FROM".to_string(),
        smtp::Stage::Rcpt => "RCPT TO".to_string(),
        smtp::Stage::Data => "DATA".to_string(),
        smtp::Stage::Message => "end of data".to_string(),
        other => other.to_string(),
    };
    format!("refused at {at}: {}", e.reply)
}

/// Mailman's answer to `sent`, or a DSN about it, among messages to its sender.
fn answer_in(got: &[Arc<Received>], sent: &Sent) -> Option<Answer> {
    let bare = sent.probe.message_id.trim_start_matches('<').trim_end_matches('>');
    let about = |m: &Received| m.received_at >= sent.wall.checked_sub(Duration::from_secs(1)).unwrap_or(sent.wall) && mentions(m, &sent.probe, bare);
    let answer = got.iter().find(|m| about(m) && !m.mail_from.is_empty());
    if let Some(m) = answer {
        let after = m.received_at.duration_since(sent.wall).unwrap_or_default();
        return Some(Answer::Answered(m.clone(), after));
    }
    got.iter().find(|m| about(m) && m.mail_from.is_empty()).map(|m| Answer::Bounced(m.clone()))
}

/// Whether `m` is about the probe: its Message-ID in the text (Mailman 3
/// quotes it, Mailman 2.1 attaches the message), and not the probe itself.
fn mentions(m: &Received, probe: &Probe, bare_id: &str) -> bool {
    m.message_id() != Some(probe.message_id.as_str()) && super::steps::texts(m).iter().any(|t| t.contains(bare_id))
}

/// The answer in a few words; its latency is the row's `took`.
fn describe_answer(m: &Received) -> String {
    let from = m.header("From").unwrap_or(&m.mail_from);
    format!("{:?} from {from}", m.header("Subject").unwrap_or(""))
}

/// Where a message that was not accepted stopped: refused (the reply) or never sent.
fn smtp_stop(t: &Transcript, failure: &str) -> Stop {
    match t.final_reply() {
        Some(e) if !e.reply.is_positive() => Stop::RefusedAtSmtp {
            stage: e.stage.to_string(),
            command: e.command.clone(),
            code: e.reply.code,
            enhanced: e.reply.enhanced.clone(),
            text: e.reply.text.clone(),
        },
        _ => Stop::NotSent { error: failure.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(from: &str) -> Sent {
        let to = [request_address("probe-test@lists.example.test")];
        let spec = ProbeSpec { from, to: &to, subject: COMMAND, body: Some(COMMAND), headers: &[], attachments: &[] };
        let probe = probe::build(&RunId::from_string("t1"), "probe.test", "sweep test", &spec);
        Sent { probe, transcript: Transcript::default(), at: Instant::now(), wall: SystemTime::now() - Duration::from_secs(5) }
    }

    #[test]
    fn request_addresses() {
        assert_eq!(request_address("probe-test@lists.example.test"), "probe-test-request@lists.example.test");
    }

    #[test]
    fn answers_are_matched_by_recipient_and_message_id() {
        let s = sent("sweep-t1-0@probe.test");
        let id = s.probe.message_id.clone();
        // Mailman 3's shape: the Message-ID quoted in the body.
        let mm3 = format!(
            "From: probe-test-bounces@lists.example.test\r\nTo: sweep-t1-0@probe.test\r\nSubject: The results of your email commands\r\nMessage-ID: <x@lists>\r\n\r\nThe results of your email command are provided below.\r\n\r\n- Original message details:\r\n    Message-ID: {id}\r\n"
        );
        let m = Arc::new(Received::for_test("probe-test-bounces@lists.example.test", &["sweep-t1-0@probe.test"], mm3.as_bytes()));
        assert!(matches!(answer_in(&[m], &s), Some(Answer::Answered(_, _))));
        // An answer to another command message is not this one's.
        let other = Arc::new(Received::for_test("probe-test-bounces@lists.example.test", &["sweep-t1-0@probe.test"], b"Subject: x\r\n\r\nMessage-ID: <mailflow.other@probe.test>\r\n"));
        assert!(answer_in(&[other], &s).is_none());
        // A DSN (empty envelope sender) about it is a bounce, not an answer.
        let dsn = format!("Subject: Mail delivery failed\r\n\r\nMessage-ID: {id}\r\n");
        let dsn = Arc::new(Received::for_test("", &["sweep-t1-0@probe.test"], dsn.as_bytes()));
        assert!(matches!(answer_in(&[dsn], &s), Some(Answer::Bounced(_))));
        // Mailman 2.1's shape: the command message attached.
        let mm21 = format!(
            "From: probe-test-owner@lists.example.test\r\nSubject: The results of your email commands\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n- Results:\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: {id}\r\nSubject: help\r\n\r\nhelp\r\n--b--\r\n"
        );
        let m = Arc::new(Received::for_test("mailman-bounces@lists.example.test", &["sweep-t1-0@probe.test"], mm21.as_bytes()));
        assert!(matches!(answer_in(&[m], &s), Some(Answer::Answered(_, _))));
    }
}
