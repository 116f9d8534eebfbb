//! One function per step kind: act or observe, then compare.

use std::time::{Duration, Instant, SystemTime};

use super::diagnose::where_it_stopped;
use super::events::Outcome;
use super::moderation;
use super::secs;
use crate::probe::{self, Probe, ProbeSpec, RunId};
use crate::scenario::{
    ArchiveExpectation, DeliveryExpectation, HeaderExpectation, NotArchivedExpectation, NoticeExpectation, RawSendSpec,
    Scenario, SendSpec, SmtpExpectation, SmtpStage, Step, StepKind, Suite, Window,
};
use crate::sink::Received;
use crate::smtp::{self, Envelope, Stage, Timeouts, Transcript};
use crate::target::{Capability, Target, TargetError};

/// How often observers without notifications (archives, held queue) look again.
pub(super) const POLL_EVERY: Duration = Duration::from_millis(250);

/// What earlier steps left for later ones.
#[derive(Default)]
pub(super) struct State {
    pub last: Option<Sent>,
    /// Every probe Message-ID this scenario sent, for the cleanup.
    pub probe_ids: Vec<String>,
    /// The list ids those probes were sent to, for the cleanup.
    pub list_ids: Vec<String>,
}

/// A probe that was sent, with everything exim said.
pub(super) struct Sent {
    pub probe: Probe,
    pub transcript: Transcript,
    pub at: Instant,
    /// The same moment by the wall clock, to compare with arrival times.
    pub wall: SystemTime,
}

pub(super) type Verdict = (Outcome, Option<String>);

pub(super) async fn execute<T: Target + ?Sized>(
    target: &T,
    suite: &Suite,
    scenario: &Scenario,
    step: &Step,
    run: &RunId,
    state: &mut State,
) -> Verdict {
    match &step.kind {
        StepKind::Send(spec) => send(target, suite, scenario, step, spec, run, state).await,
        StepKind::ExpectSmtp(exp) => match &state.last {
            Some(sent) => expect_smtp(sent, exp),
            None => no_probe(),
        },
        StepKind::ExpectDelivered(exp) => match &state.last {
            Some(sent) => expect_delivered(target, sent, exp).await,
            None => no_probe(),
        },
        StepKind::ExpectArchived(exp) => match &state.last {
            Some(sent) => expect_archived(target, sent, exp).await,
            None => no_probe(),
        },
        StepKind::SendRaw(spec) => send_raw(target, suite, spec, run, state).await,
        StepKind::ExpectHeld(exp) => match &state.last {
            Some(sent) => moderation::expect_held(target, suite, sent, exp).await,
            None => no_probe(),
        },
        StepKind::Moderate(m) => match &state.last {
            Some(sent) => moderation::moderate(target, suite, run, sent, m).await,
            None => no_probe(),
        },
        StepKind::ExpectNotDelivered(w) => match &state.last {
            Some(sent) => expect_not_delivered(target, sent, w).await,
            None => no_probe(),
        },
        StepKind::ExpectNotArchived(exp) => match &state.last {
            Some(sent) => expect_not_archived(target, sent, exp).await,
            None => no_probe(),
        },
        StepKind::ExpectNotice(exp) => match &state.last {
            Some(sent) => expect_notice(target, sent, exp).await,
            None => no_probe(),
        },
        StepKind::ExpectShunted(w) => match &state.last {
            Some(sent) => expect_shunted(target, sent, w).await,
            None => no_probe(),
        },
    }
}

/// The parser rejects expectations before any send; this only guards the invariant.
fn no_probe() -> Verdict {
    (Outcome::Failed("no probe was sent before this step".into()), None)
}

async fn send<T: Target + ?Sized>(
    target: &T,
    suite: &Suite,
    scenario: &Scenario,
    step: &Step,
    spec: &SendSpec,
    run: &RunId,
    state: &mut State,
) -> Verdict {
    let label = format!("{} {}", scenario.path.display(), step.label());
    let probe_spec = ProbeSpec {
        from: &spec.from,
        to: &spec.to,
        subject: &spec.subject,
        body: spec.body.as_deref(),
        headers: &spec.headers,
    };
    let probe = probe::build(run, &suite.probe_domain, &label, &probe_spec);
    submit(target, suite, probe, state).await
}

async fn send_raw<T: Target + ?Sized>(target: &T, suite: &Suite, spec: &RawSendSpec, run: &RunId, state: &mut State) -> Verdict {
    let probe = probe::build_raw(run, &suite.probe_domain, &spec.from, &spec.to, &spec.data);
    submit(target, suite, probe, state).await
}

/// Sends a built probe and records it for later steps and the cleanup.
async fn submit<T: Target + ?Sized>(target: &T, suite: &Suite, probe: Probe, state: &mut State) -> Verdict {
    state.probe_ids.push(probe.message_id.clone());
    for to in &probe.to {
        if let Some(list) = suite.list(to) {
            if !state.list_ids.contains(&list.list_id()) {
                state.list_ids.push(list.list_id());
            }
        }
    }
    let helo = format!("mailflow.{}", suite.probe_domain);
    let envelope = Envelope { helo: &helo, mail_from: &probe.from, rcpt_to: &probe.to };
    let at = Instant::now();
    let wall = SystemTime::now();
    match smtp::send(target.smtp_addr(), &envelope, &probe.bytes, Timeouts::default()).await {
        Ok(transcript) => {
            let detail = describe_send(&probe, &transcript);
            state.last = Some(Sent { probe, transcript, at, wall });
            (Outcome::Passed, Some(detail))
        }
        Err(e) => {
            let msg = format!("sending {} to {}: {e}", probe.message_id, target.smtp_addr());
            state.last = Some(Sent { probe, transcript: e.transcript, at, wall });
            (Outcome::Failed(msg), None)
        }
    }
}

fn describe_send(probe: &Probe, t: &Transcript) -> String {
    let fin = t.final_reply().map(|e| format!("{} at {}", e.reply, e.stage)).unwrap_or_default();
    match t.queue_id() {
        Some(q) => format!("{} accepted, exim queue id {q}: {fin}", probe.message_id),
        None => format!("{}: {fin}", probe.message_id),
    }
}

fn stage_of(s: SmtpStage) -> Stage {
    match s {
        SmtpStage::Connect => Stage::Connect,
        SmtpStage::Ehlo => Stage::Ehlo,
        SmtpStage::Mail => Stage::Mail,
        SmtpStage::Rcpt => Stage::Rcpt,
        SmtpStage::Data => Stage::Data,
        SmtpStage::Message => Stage::Message,
    }
}

fn expect_smtp(sent: &Sent, exp: &SmtpExpectation) -> Verdict {
    let t = &sent.transcript;
    let replies: Vec<&smtp::Exchange> = match exp.at {
        Some(stage) => t.at(stage_of(stage)).collect(),
        None => t.final_reply().into_iter().collect(),
    };
    let where_ = exp.at.map(|s| format!("at {}", s.as_str())).unwrap_or_else(|| "as the final reply".into());
    if replies.is_empty() {
        let reached = t.final_reply().map(|e| format!("; the transaction ended at {} with {}", e.stage, e.reply)).unwrap_or_default();
        return (Outcome::Failed(format!("expected {} {where_}, but there was no reply there{reached}", exp.code)), None);
    }
    for e in &replies {
        let code_ok = e.reply.code == exp.code;
        let text_ok = exp.text_contains.as_ref().is_none_or(|needle| e.reply.text.contains(needle.as_str()));
        if !(code_ok && text_ok) {
            let wanted = match &exp.text_contains {
                Some(n) => format!("{} containing {n:?}", exp.code),
                None => exp.code.to_string(),
            };
            let cmd = e.command.as_deref().map(|c| format!(" to `{c}`")).unwrap_or_default();
            return (Outcome::Failed(format!("expected {wanted} {where_}, got {}{cmd} at {}", e.reply, e.stage)), None);
        }
    }
    let observed = replies.iter().map(|e| format!("{} at {}", e.reply, e.stage)).collect::<Vec<_>>().join("; ");
    (Outcome::Passed, Some(observed))
}

async fn expect_delivered<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &DeliveryExpectation) -> Verdict {
    let Some(sink) = target.sink() else {
        return (Outcome::Skipped(format!("needs {}", Capability::Sink)), None);
    };
    if !sent.transcript.accepted() {
        let why = where_it_stopped(target, sent).await;
        return (Outcome::Failed(format!("the probe was never accepted, so nothing can be delivered: {why}")), None);
    }
    let id = sent.probe.message_id.clone();
    let remaining = exp.within.saturating_sub(sent.at.elapsed());
    let copies = |ms: &[std::sync::Arc<Received>]| -> Vec<std::sync::Arc<Received>> {
        ms.iter().filter(|m| m.message_id() == Some(id.as_str())).cloned().collect()
    };
    let wanted = &exp.to;
    let waited = sink
        .wait_for(remaining, |ms| {
            let c = copies(ms);
            let got: Vec<&String> = c.iter().flat_map(|m| m.rcpt_to.iter()).collect();
            wanted.iter().all(|w| got.iter().any(|g| g.eq_ignore_ascii_case(w))).then_some(c)
        })
        .await;
    let elapsed = sent.at.elapsed();
    let copies = match waited {
        Ok(c) => c,
        Err(_) => {
            let c = copies(&sink.messages());
            let got: Vec<String> = c.iter().flat_map(|m| m.rcpt_to.iter().cloned()).collect();
            let missing: Vec<&String> = wanted.iter().filter(|w| !got.iter().any(|g| g.eq_ignore_ascii_case(w))).collect();
            let so_far = if got.is_empty() { "nothing arrived at the sink".to_string() } else { format!("only {} arrived", got.join(", ")) };
            let why = where_it_stopped(target, sent).await;
            let missing = missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            return (
                Outcome::Failed(format!("not delivered to {missing} within {}: {so_far}; {why}", secs(exp.within))),
                None,
            );
        }
    };
    // Every copy carries the headers the scenario asks for.
    for m in &copies {
        for (name, want) in &exp.headers {
            let value = m.header(name);
            let problem = match (want, value) {
                (HeaderExpectation::Present, None) => Some("is missing".to_string()),
                (HeaderExpectation::Absent, Some(v)) => Some(format!("is present ({v:?}) but should not be")),
                (HeaderExpectation::Contains(s), None) => Some(format!("is missing (expected it to contain {s:?})")),
                (HeaderExpectation::Contains(s), Some(v)) if !v.contains(s.as_str()) => {
                    Some(format!("is {v:?}, which does not contain {s:?}"))
                }
                _ => None,
            };
            if let Some(p) = problem {
                return (
                    Outcome::Failed(format!("delivered to {}, but header {name} {p}", m.rcpt_to.join(", "))),
                    None,
                );
            }
        }
    }
    let to: Vec<String> = copies.iter().flat_map(|m| m.rcpt_to.iter().cloned()).collect();
    (Outcome::Passed, Some(format!("delivered to {} {} after sending", to.join(", "), secs(elapsed))))
}

async fn expect_archived<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &ArchiveExpectation) -> Verdict {
    if !sent.transcript.accepted() {
        let why = where_it_stopped(target, sent).await;
        return (Outcome::Failed(format!("the probe was never accepted, so nothing can be archived: {why}")), None);
    }
    let deadline = sent.at + exp.within;
    loop {
        match target.find_in_prototype_archive(&exp.list, &sent.probe.message_id).await {
            Ok(Some(copy)) => {
                return (
                    Outcome::Passed,
                    Some(format!("in the {} archive at {} {} after sending", exp.archive.as_str(), copy.location, secs(sent.at.elapsed()))),
                )
            }
            Ok(None) => {}
            Err(TargetError::Unsupported(c)) => return (Outcome::Skipped(format!("needs {c}")), None),
            Err(e) => return (Outcome::Failed(format!("could not read the archive: {e}")), None),
        }
        if Instant::now() + POLL_EVERY > deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let delivered = target
        .sink()
        .map(|s| s.messages().iter().any(|m| m.message_id() == Some(sent.probe.message_id.as_str())))
        .unwrap_or(false);
    let why = if delivered {
        "it was delivered to subscribers, so Mailman processed it but did not archive it".to_string()
    } else {
        where_it_stopped(target, sent).await
    };
    (
        Outcome::Failed(format!(
            "not in the {} archive of {} within {}: {why}",
            exp.archive.as_str(),
            exp.list,
            secs(exp.within)
        )),
        None,
    )
}

/// Copies of the probe itself (by Message-ID) at the sink.
fn copies_of(ms: &[std::sync::Arc<Received>], sent: &Sent) -> Vec<std::sync::Arc<Received>> {
    ms.iter().filter(|m| m.message_id() == Some(sent.probe.message_id.as_str())).cloned().collect()
}

async fn expect_not_delivered<T: Target + ?Sized>(target: &T, sent: &Sent, w: &Window) -> Verdict {
    let Some(sink) = target.sink() else {
        return (Outcome::Skipped(format!("needs {}", Capability::Sink)), None);
    };
    if !sent.transcript.accepted() {
        return (Outcome::Passed, Some("the probe was never accepted".into()));
    }
    match sink.wait_for(w.within, |ms| Some(copies_of(ms, sent)).filter(|c| !c.is_empty())).await {
        Ok(copies) => {
            let to: Vec<String> = copies.iter().flat_map(|m| m.rcpt_to.iter().cloned()).collect();
            (Outcome::Failed(format!("delivered to {} {} after sending, but it should not have been", to.join(", "), secs(sent.at.elapsed()))), None)
        }
        Err(_) => (Outcome::Passed, Some(format!("nothing delivered in {}", secs(w.within)))),
    }
}

async fn expect_not_archived<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &NotArchivedExpectation) -> Verdict {
    if !sent.transcript.accepted() {
        return (Outcome::Passed, Some("the probe was never accepted".into()));
    }
    let deadline = Instant::now() + exp.within;
    loop {
        match target.find_in_prototype_archive(&exp.list, &sent.probe.message_id).await {
            Ok(Some(copy)) => {
                return (
                    Outcome::Failed(format!("archived in the {} archive of {} at {}, but it should not have been", exp.archive, exp.list, copy.location)),
                    None,
                )
            }
            Ok(None) => {}
            Err(TargetError::Unsupported(c)) => return (Outcome::Skipped(format!("needs {c}")), None),
            Err(e) => return (Outcome::Failed(format!("could not read the archive: {e}")), None),
        }
        if Instant::now() + POLL_EVERY > deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    (Outcome::Passed, Some(format!("not in the {} archive of {} after {}", exp.archive, exp.list, secs(exp.within))))
}

/// The message's text, raw and with each part decoded, for "does it mention".
fn texts(m: &Received) -> Vec<String> {
    let mut out = vec![String::from_utf8_lossy(&m.data).into_owned()];
    if let Ok(parsed) = mailparse::parse_mail(&m.data) {
        let mut stack = vec![&parsed];
        while let Some(part) = stack.pop() {
            if let Ok(body) = part.get_body() {
                out.push(body);
            }
            stack.extend(part.subparts.iter());
        }
    }
    out
}

/// A notice about the probe: sent to `to` after the probe, not the probe
/// itself, and mentioning the probe's subject or Message-ID.
async fn expect_notice<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &NoticeExpectation) -> Verdict {
    let Some(sink) = target.sink() else {
        return (Outcome::Skipped(format!("needs {}", Capability::Sink)), None);
    };
    let to = exp.to.clone().unwrap_or_else(|| sent.probe.from.clone());
    let probe = &sent.probe;
    let bare_id = probe.message_id.trim_start_matches('<').trim_end_matches('>').to_string();
    let is_notice = |m: &Received| {
        m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(&to))
            && m.message_id() != Some(probe.message_id.as_str())
            && m.received_at >= sent.wall
            && exp.subject_contains.as_ref().is_none_or(|s| m.header("Subject").is_some_and(|v| v.contains(s.as_str())))
            && texts(m).iter().any(|t| t.contains(&bare_id) || (!probe.subject.is_empty() && t.contains(probe.subject.as_str())))
    };
    let remaining = exp.within.saturating_sub(sent.at.elapsed());
    match sink.wait_for(remaining, |ms| ms.iter().find(|m| is_notice(m.as_ref())).cloned()).await {
        Ok(m) => (
            Outcome::Passed,
            Some(format!("notice to {to} from {} {} after sending: {:?}", m.mail_from, secs(sent.at.elapsed()), m.header("Subject").unwrap_or(""))),
        ),
        Err(_) => {
            let others: Vec<String> = sink
                .messages()
                .iter()
                .filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(&to)) && m.received_at >= sent.wall)
                .map(|m| format!("{:?}", m.header("Subject").unwrap_or("")))
                .collect();
            let seen = if others.is_empty() {
                format!("nothing reached {to} after the probe was sent")
            } else {
                format!("{to} got only {} (none about this probe with the expected subject)", others.join(", "))
            };
            let why = where_it_stopped(target, sent).await;
            (Outcome::Failed(format!("no notice to {to} within {}: {seen}; the probe: {why}", secs(exp.within))), None)
        }
    }
}

async fn expect_shunted<T: Target + ?Sized>(target: &T, sent: &Sent, w: &Window) -> Verdict {
    if !sent.transcript.accepted() {
        let why = where_it_stopped(target, sent).await;
        return (Outcome::Failed(format!("the probe was never accepted, so Mailman never saw it: {why}")), None);
    }
    let deadline = sent.at + w.within;
    loop {
        match target.mailman_queues(&sent.probe.message_id).await {
            Ok(facts) if facts.shunted() => {
                let file = facts.queue_files.iter().find(|f| f.contains("/shunt/")).cloned().unwrap_or_default();
                let log = facts.log_lines.iter().rev().find(|l| l.contains("SHUNTING") || l.contains("Error")).or(facts.log_lines.last());
                let log = log.map(|l| format!("; mailman.log: {}", l.trim())).unwrap_or_default();
                return (Outcome::Passed, Some(format!("shunted by Mailman {} after sending: {file}{log}", secs(sent.at.elapsed()))));
            }
            Ok(_) => {}
            Err(TargetError::Unsupported(c)) => return (Outcome::Skipped(format!("needs {c}")), None),
            Err(e) => return (Outcome::Failed(format!("could not look in Mailman's queues: {e}")), None),
        }
        if Instant::now() + POLL_EVERY > deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let why = where_it_stopped(target, sent).await;
    (Outcome::Failed(format!("not shunted within {}: {why}", secs(w.within))), None)
}
