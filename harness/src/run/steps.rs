//! One function per step kind: act or observe, then compare.

use std::time::{Duration, Instant, SystemTime};

use super::diagnose::where_it_stopped;
use super::events::Outcome;
use super::moderation;
use super::secs;
use crate::probe::{self, Probe, ProbeSpec, RunId};
use crate::scenario::{
    ArchiveExpectation, ArchiveKind, DeliveryExpectation, DnsExpectation, HeaderExpectation, HttpExpectation,
    NotArchivedExpectation, NoticeExpectation, PageExpectation, PortExpectation, PortState, RawSendSpec, Scenario,
    SendSpec, SmtpExpectation, SmtpStage, Step, StepKind, Suite, Window,
};
use crate::sink::Received;
use crate::smtp::{self, Envelope, Stage, Timeouts, Transcript};
use crate::target::{Capability, Target, TargetError};
use crate::web::{self, Web};
use crate::{dns, http};

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
        StepKind::ExpectPage(exp) => expect_page(target, exp).await,
        StepKind::ExpectPort(exp) => expect_port(target, exp).await,
        StepKind::ExpectHttp(exp) => expect_http(target, exp).await,
        StepKind::ExpectDns(exp) => expect_dns(target, exp).await,
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
        attachments: &spec.attachments,
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

/// A probe found in an archive: where, and what the archive says of it.
struct Found {
    location: String,
    /// Found in HyperKitty: its page and record still need comparing with the probe.
    over_http: bool,
}

/// Why looking in an archive could not give an answer.
enum LookError {
    /// The target lacks what this archive needs.
    Unsupported(String),
    Failed(String),
}

/// Looks once for the probe in one archive of the list.
async fn look_in_archive<T: Target + ?Sized>(target: &T, kind: ArchiveKind, list: &str, sent: &Sent) -> Result<Option<Found>, LookError> {
    match kind {
        ArchiveKind::Prototype => match target.find_in_prototype_archive(list, &sent.probe.message_id).await {
            Ok(copy) => Ok(copy.map(|c| Found { location: c.location, over_http: false })),
            Err(TargetError::Unsupported(c)) => Err(LookError::Unsupported(format!("needs {c}"))),
            Err(e) => Err(LookError::Failed(format!("could not read the prototype archive: {e}"))),
        },
        ArchiveKind::HyperKitty => {
            let Some(web) = target.web() else {
                return Err(LookError::Unsupported(format!("needs {}", Capability::Web)));
            };
            match web.hyperkitty_email(list, &sent.probe.message_id).await {
                Ok(Some(_)) => {
                    let page = Web::message_page_path(list, &sent.probe.message_id);
                    Ok(Some(Found { location: web.url(&page), over_http: true }))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(LookError::Failed(format!("could not read HyperKitty: {e}"))),
            }
        }
    }
}

/// Once HyperKitty has the probe: its message page answers, and subject,
/// sender and body (from the JSON API) match what was sent.
async fn check_hyperkitty(web: &Web, list: &str, sent: &Sent) -> Result<String, String> {
    let probe = &sent.probe;
    let page_path = Web::message_page_path(list, &probe.message_id);
    let page = web.get(&page_path).await.map_err(|e| format!("HyperKitty has the probe, but its message page does not answer: {e}"))?;
    if page.status != 200 {
        return Err(format!(
            "HyperKitty has the probe, but its message page {} answered {}: {}",
            page.url,
            page.status,
            web::excerpt(&page.body)
        ));
    }
    let email = match web.hyperkitty_email(list, &probe.message_id).await {
        Ok(Some(e)) => e,
        Ok(None) => return Err("HyperKitty's JSON API stopped finding the probe".into()),
        Err(e) => return Err(format!("could not read HyperKitty: {e}")),
    };
    let mut problems = Vec::new();
    if !email.subject.contains(probe.subject.as_str()) {
        problems.push(format!("subject is {:?}, which does not contain {:?}", email.subject, probe.subject));
    }
    if !web::same_address(&email.sender_address, &probe.from) {
        problems.push(format!("sender is {:?}, not {:?}", email.sender_address, probe.from));
    }
    let excerpt = body_excerpt(&probe.body);
    match &email.content {
        Some(content) if content.contains(excerpt.as_str()) => {}
        Some(content) => problems.push(format!("body {:?} does not contain {excerpt:?}", web::excerpt(content))),
        None => problems.push(format!("the JSON API at {} gives no body to compare", email.api_url)),
    }
    if problems.is_empty() {
        Ok(format!("subject {:?}, sender and body match", email.subject))
    } else {
        Err(format!("HyperKitty has the probe at {}, but its {}", page.url, problems.join("; ")))
    }
}

/// The first non-empty line of a body, trimmed: what an archive must show.
fn body_excerpt(body: &str) -> String {
    body.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_string()
}

async fn expect_archived<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &ArchiveExpectation) -> Verdict {
    if !sent.transcript.accepted() {
        let why = where_it_stopped(target, sent).await;
        return (Outcome::Failed(format!("the probe was never accepted, so nothing can be archived: {why}")), None);
    }
    let deadline = sent.at + exp.within;
    loop {
        match look_in_archive(target, exp.archive, &exp.list, sent).await {
            Ok(Some(found)) => {
                let took = sent.at.elapsed();
                let mut checked = String::new();
                if found.over_http {
                    let web = target.web().expect("found over HTTP");
                    match check_hyperkitty(web, &exp.list, sent).await {
                        Ok(c) => checked = format!("; {c}"),
                        Err(m) => return (Outcome::Failed(m), None),
                    }
                }
                return (
                    Outcome::Passed,
                    Some(format!("in the {} archive at {} {} after sending{checked}", exp.archive.as_str(), found.location, secs(took))),
                );
            }
            Ok(None) => {}
            Err(LookError::Unsupported(why)) => return (Outcome::Skipped(why), None),
            Err(LookError::Failed(m)) => return (Outcome::Failed(m), None),
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
    let message = if delivered {
        format!(
            "delivered to subscribers, but never reached the {} archive of {} within {} (Mailman processed it but did not archive it)",
            exp.archive.as_str(),
            exp.list,
            secs(exp.within)
        )
    } else {
        let why = where_it_stopped(target, sent).await;
        format!("not in the {} archive of {} within {}: {why}", exp.archive.as_str(), exp.list, secs(exp.within))
    };
    (Outcome::Failed(message), None)
}

/// The probe stays out of every named archive until `within` has passed
/// since it was sent. Archives the target cannot read are named as unchecked;
/// when none can be read, the step is skipped.
async fn expect_not_archived<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &NotArchivedExpectation) -> Verdict {
    let deadline = sent.at + exp.within;
    let mut kinds: Vec<ArchiveKind> = exp.archives.clone();
    let mut unchecked: Vec<String> = Vec::new();
    loop {
        let mut still = Vec::new();
        for kind in kinds {
            match look_in_archive(target, kind, &exp.list, sent).await {
                Ok(Some(found)) => {
                    return (
                        Outcome::Failed(format!(
                            "archived in the {} archive at {} {} after sending, but it should not be",
                            kind.as_str(),
                            found.location,
                            secs(sent.at.elapsed())
                        )),
                        None,
                    )
                }
                Ok(None) => still.push(kind),
                Err(LookError::Unsupported(why)) => unchecked.push(format!("{} ({why})", kind.as_str())),
                Err(LookError::Failed(m)) => return (Outcome::Failed(m), None),
            }
        }
        kinds = still;
        if kinds.is_empty() || Instant::now() + POLL_EVERY > deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    if kinds.is_empty() {
        return (Outcome::Skipped(format!("no archive could be read: {}", unchecked.join(", "))), None);
    }
    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let not_checked = if unchecked.is_empty() { String::new() } else { format!("; not checked: {}", unchecked.join(", ")) };
    (
        Outcome::Passed,
        Some(format!(
            "not in the {} archive{} of {} {} after sending{not_checked}",
            names.join(" and "),
            if names.len() > 1 { "s" } else { "" },
            exp.list,
            secs(sent.at.elapsed())
        )),
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

/// A list's named page answers with the expected status and body, retried
/// until `within` has passed since the step started.
async fn expect_page<T: Target + ?Sized>(target: &T, exp: &PageExpectation) -> Verdict {
    let Some(web) = target.web() else {
        return (Outcome::Skipped(format!("needs {}", Capability::Web)), None);
    };
    let started = Instant::now();
    let path = Web::page_path(exp.page, &exp.list);
    let mut last;
    loop {
        last = match web.get(&path).await {
            Ok(page) => {
                let status_ok = page.status == exp.status;
                let body_ok = exp.body_contains.as_ref().is_none_or(|n| page.body.contains(n.as_str()));
                if status_ok && body_ok {
                    let matched = exp.body_contains.as_ref().map(|n| format!(", body contains {n:?}")).unwrap_or_default();
                    return (
                        Outcome::Passed,
                        Some(format!("{} {} answered {}{matched} after {}", exp.page, page.url, page.status, secs(started.elapsed()))),
                    );
                }
                let wanted = match &exp.body_contains {
                    Some(n) => format!("{} with a body containing {n:?}", exp.status),
                    None => exp.status.to_string(),
                };
                format!("{} {} answered {} (expected {wanted}): {}", exp.page, page.url, page.status, web::excerpt(&page.body))
            }
            Err(e) => format!("{} page did not answer: {e}", exp.page),
        };
        if started.elapsed() + POLL_EVERY > exp.within {
            break;
        }
        tokio::time::sleep(POLL_EVERY * 2).await;
    }
    (Outcome::Failed(format!("{last} (within {})", secs(exp.within))), None)
}

/// One connection attempt from the vantage point, compared with the
/// expected verdict. A vantage point the target lacks skips the step.
async fn expect_port<T: Target + ?Sized>(target: &T, exp: &PortExpectation) -> Verdict {
    let what = format!("{}/{} from {}", exp.port, exp.protocol, exp.vantage);
    let offered = target.vantages();
    if !offered.iter().any(|v| v == &exp.vantage) {
        return (
            Outcome::Skipped(format!("{what}: this target offers no vantage point `{}` (it offers {})", exp.vantage, offered.join(", "))),
            None,
        );
    }
    let tried = match target.try_port(&exp.vantage, exp.protocol, exp.port, exp.within).await {
        Ok(tried) => tried,
        Err(TargetError::NoVantage { wanted, offered }) => {
            return (Outcome::Skipped(format!("{what}: this target offers no vantage point `{wanted}` (it offers {offered})")), None)
        }
        Err(e) => return (Outcome::Failed(format!("{what}: could not try the port: {e}")), None),
    };
    let observed = match tried.attempt.state {
        PortState::Open => format!("open (connected to {} in {})", tried.addr, secs(tried.attempt.took)),
        PortState::Refused => format!("refused ({} reset the connection in {})", tried.addr, secs(tried.attempt.took)),
        PortState::Filtered => format!("filtered (no answer from {} within {})", tried.addr, secs(exp.within)),
    };
    if tried.attempt.state == exp.verdict {
        (Outcome::Passed, Some(format!("{what}: {observed}")))
    } else {
        (Outcome::Failed(format!("{what}: expected {}, observed {observed}", exp.verdict)), None)
    }
}

/// GETs the path until the answer matches or `within` has passed; a failure
/// shows the last answer (or error) and what differed.
async fn expect_http<T: Target + ?Sized>(target: &T, exp: &HttpExpectation) -> Verdict {
    let Some(endpoint) = target.http_endpoint() else {
        return (Outcome::Skipped("this target offers no web server to check".into()), None);
    };
    let url = endpoint.url(exp.scheme, &exp.path);
    let what = format!("GET {url} ({})", endpoint.socket(exp.scheme));
    let tls_note = match (&endpoint.tls, exp.scheme) {
        (http::TlsTrust::Off, crate::scenario::Scheme::Https) => " (TLS verification off, as the target says)",
        _ => "",
    };
    let started = Instant::now();
    let deadline = started + exp.within;
    let mut last;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        last = match http::client(endpoint, remaining) {
            Ok(client) => match http::get(&client, &url).await {
                Ok(response) => match http_mismatch(&url, exp, &response) {
                    None => {
                        let redirect = response.location.map(|l| format!(", redirect to {l}")).unwrap_or_default();
                        return (
                            Outcome::Passed,
                            Some(format!("{what}: {}{redirect} in {}{tls_note}", response.status, secs(started.elapsed()))),
                        );
                    }
                    Some(problem) => problem,
                },
                Err(e) => format!("no answer: {e}"),
            },
            // A client that cannot be built will not be built on a retry either.
            Err(e) => return (Outcome::Failed(format!("{what}: {e}")), None),
        };
        if Instant::now() + POLL_EVERY >= deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    (Outcome::Failed(format!("{what}{tls_note}: not as expected within {}: {last}", secs(exp.within))), None)
}

/// What differs between the answer and the expectation, if anything.
fn http_mismatch(url: &str, exp: &HttpExpectation, r: &http::Response) -> Option<String> {
    if r.status != exp.status {
        let redirect = r.location.as_ref().map(|l| format!(" (redirect to {l})")).unwrap_or_default();
        return Some(format!("expected status {}, got {}{redirect}", exp.status, r.status));
    }
    if let Some(want) = &exp.redirect_to {
        let want = http::resolve(url, want);
        match &r.location {
            None => return Some(format!("expected a redirect to {want}, got no Location header")),
            Some(got) if *got != want => return Some(format!("expected a redirect to {want}, got one to {got}")),
            Some(_) => {}
        }
    }
    if let Some(needle) = &exp.body_contains {
        if !r.body.contains(needle.as_str()) {
            let mut start: String = r.body.chars().take(200).collect();
            if start.len() < r.body.len() {
                start.push_str("...");
            }
            return Some(format!("the body does not contain {needle:?}; it starts {start:?}"));
        }
    }
    None
}

/// Asks the DNS server until the answer matches or `within` has passed.
async fn expect_dns<T: Target + ?Sized>(target: &T, exp: &DnsExpectation) -> Verdict {
    let Some(server) = exp.server.or_else(|| target.dns_server()) else {
        return (Outcome::Skipped("the step names no `server` and this target offers no DNS server".into()), None);
    };
    let what = format!("{} {} at {server}", exp.name, exp.rtype);
    let started = Instant::now();
    let deadline = started + exp.within;
    let mut last;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(200));
        last = match dns::lookup(server, &exp.name, exp.rtype, remaining.min(Duration::from_secs(5))).await {
            Ok(answers) => match dns_mismatch(exp, &answers) {
                None => return (Outcome::Passed, Some(format!("{what}: {}", describe_answers(&answers)))),
                Some(problem) => problem,
            },
            Err(e) => e,
        };
        if Instant::now() + POLL_EVERY >= deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    (Outcome::Failed(format!("{what}: {last}")), None)
}

fn describe_answers(answers: &[dns::Answer]) -> String {
    if answers.is_empty() {
        return "no records".into();
    }
    answers.iter().map(|a| format!("{} (TTL {})", a.value, a.ttl)).collect::<Vec<_>>().join(", ")
}

fn dns_mismatch(exp: &DnsExpectation, answers: &[dns::Answer]) -> Option<String> {
    let got = describe_answers(answers);
    match &exp.values {
        None if answers.is_empty() => return Some("expected records, got none".into()),
        None => {}
        Some(values) => {
            let mut want: Vec<String> = values.iter().map(|v| dns::normalize(v)).collect();
            let mut have: Vec<String> = answers.iter().map(|a| a.value.clone()).collect();
            want.sort();
            have.sort();
            if want != have {
                return Some(format!("expected {}, got {got}", want.join(", ")));
            }
        }
    }
    if let Some(max) = exp.ttl_at_most {
        if let Some(a) = answers.iter().find(|a| a.ttl > max) {
            return Some(format!("expected TTLs of at most {max}s, got {} for {} ({got})", a.ttl, a.value));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reach::Attempt;
    use crate::scenario::Protocol;
    use crate::target::{ArchivedCopy, BoxFuture, PortAttempt, OUTSIDE};
    use crate::probe::ProbeSpec;
    use crate::scenario::PageKind;
    use std::net::SocketAddr;

    fn sent() -> Sent {
        let to = vec!["probe-test@lists.example.test".to_string()];
        let spec = ProbeSpec { from: "alice@probe.test", to: &to, subject: "s", body: None, headers: &[], attachments: &[] };
        Sent { probe: probe::build(&RunId::new(), "probe.test", "t", &spec), transcript: Transcript::default(), at: Instant::now(), wall: SystemTime::now() }
    }

    #[tokio::test]
    async fn web_steps_are_skipped_without_a_web_side() {
        let page = PageExpectation {
            list: "probe-test@lists.example.test".into(),
            page: PageKind::ListInfo,
            status: 200,
            body_contains: None,
            within: Duration::from_secs(1),
        };
        let (outcome, _) = expect_page(&OutsideOnly(PortState::Open), &page).await;
        assert!(matches!(&outcome, Outcome::Skipped(why) if why.contains("HyperKitty and Postorius")), "{outcome:?}");

        let not = NotArchivedExpectation {
            list: "probe-test@lists.example.test".into(),
            archives: ArchiveKind::ALL.to_vec(),
            within: Duration::from_millis(10),
        };
        let (outcome, _) = expect_not_archived(&OutsideOnly(PortState::Open), &sent(), &not).await;
        assert!(
            matches!(&outcome, Outcome::Skipped(why) if why.contains("prototype") && why.contains("hyperkitty")),
            "{outcome:?}"
        );
        match look_in_archive(&OutsideOnly(PortState::Open), ArchiveKind::HyperKitty, "probe-test@lists.example.test", &sent()).await {
            Err(LookError::Unsupported(why)) => assert!(why.contains("web side"), "{why}"),
            _ => panic!("expected unsupported"),
        }
    }

    #[test]
    fn body_excerpt_is_the_first_non_empty_line() {
        assert_eq!(body_excerpt("\n  Hello there.  \nmore"), "Hello there.");
        assert_eq!(body_excerpt(""), "");
    }

    /// A stand-in target that offers only "outside", like a hosts target
    /// will, answers every port with a fixed state, and has neither sink,
    /// archives nor web side: steps that need them are skipped.
    struct OutsideOnly(PortState);

    impl Target for OutsideOnly {
        fn describe(&self) -> String {
            "outside only".into()
        }
        fn probe_domain(&self) -> &str {
            "probe.test"
        }
        fn smtp_addr(&self) -> SocketAddr {
            "127.0.0.1:25".parse().unwrap()
        }
        fn sink(&self) -> Option<&crate::sink::Sink> {
            None
        }
        fn find_in_prototype_archive<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<Option<ArchivedCopy>, TargetError>> {
            Box::pin(async { Err(TargetError::Unsupported(Capability::PrototypeArchive)) })
        }
        fn exim_mainlog(&self) -> BoxFuture<'_, Result<String, TargetError>> {
            Box::pin(async { Err(TargetError::Unsupported(Capability::EximLog)) })
        }
        fn vantages(&self) -> Vec<String> {
            vec![OUTSIDE.into()]
        }
        fn try_port<'a>(&'a self, _: &'a str, _: Protocol, port: u16, deadline: Duration) -> BoxFuture<'a, Result<PortAttempt, TargetError>> {
            let state = self.0;
            Box::pin(async move {
                let took = if state == PortState::Filtered { deadline } else { Duration::from_millis(1) };
                Ok(PortAttempt { attempt: Attempt { state, took }, addr: SocketAddr::new([192, 0, 2, 25].into(), port) })
            })
        }
    }

    fn port(vantage: &str, verdict: PortState) -> PortExpectation {
        PortExpectation { port: 8001, protocol: Protocol::Tcp, vantage: vantage.into(), verdict, within: Duration::from_secs(2) }
    }

    #[tokio::test]
    async fn port_verdicts() {
        let (outcome, detail) = expect_port(&OutsideOnly(PortState::Filtered), &port("outside", PortState::Filtered)).await;
        assert_eq!(outcome, Outcome::Passed);
        assert_eq!(detail.as_deref(), Some("8001/tcp from outside: filtered (no answer from 192.0.2.25:8001 within 2.00s)"));

        let (outcome, _) = expect_port(&OutsideOnly(PortState::Open), &port("outside", PortState::Filtered)).await;
        assert_eq!(
            outcome,
            Outcome::Failed("8001/tcp from outside: expected filtered, observed open (connected to 192.0.2.25:8001 in 0.00s)".into())
        );

        let (outcome, _) = expect_port(&OutsideOnly(PortState::Open), &port("bastion", PortState::Open)).await;
        assert_eq!(
            outcome,
            Outcome::Skipped("8001/tcp from bastion: this target offers no vantage point `bastion` (it offers outside)".into())
        );
    }

    #[tokio::test]
    async fn web_and_dns_need_the_target_to_offer_them() {
        let http = HttpExpectation {
            scheme: crate::scenario::Scheme::Https,
            path: "/".into(),
            status: 200,
            body_contains: None,
            redirect_to: None,
            within: Duration::from_secs(1),
        };
        let (outcome, _) = expect_http(&OutsideOnly(PortState::Open), &http).await;
        assert!(matches!(outcome, Outcome::Skipped(_)), "{outcome:?}");
        let dns = DnsExpectation {
            name: "lists.example.test".into(),
            rtype: crate::scenario::DnsType::Mx,
            values: None,
            ttl_at_most: None,
            server: None,
            within: Duration::from_secs(1),
        };
        let (outcome, _) = expect_dns(&OutsideOnly(PortState::Open), &dns).await;
        assert!(matches!(outcome, Outcome::Skipped(_)), "{outcome:?}");
    }

    #[test]
    fn dns_answers_compare_as_sets_and_ttls_as_limits() {
        let exp = DnsExpectation {
            name: "lists.example.test".into(),
            rtype: crate::scenario::DnsType::A,
            values: Some(vec!["192.0.2.26".into(), "192.0.2.25".into()]),
            ttl_at_most: Some(300),
            server: None,
            within: Duration::from_secs(1),
        };
        let a = |value: &str, ttl| dns::Answer { value: value.into(), ttl };
        assert_eq!(dns_mismatch(&exp, &[a("192.0.2.25", 300), a("192.0.2.26", 60)]), None);
        assert_eq!(
            dns_mismatch(&exp, &[a("192.0.2.25", 3600), a("192.0.2.26", 60)]).as_deref(),
            Some("expected TTLs of at most 300s, got 3600 for 192.0.2.25 (192.0.2.25 (TTL 3600), 192.0.2.26 (TTL 60))")
        );
        assert_eq!(
            dns_mismatch(&exp, &[a("192.0.2.25", 300)]).as_deref(),
            Some("expected 192.0.2.25, 192.0.2.26, got 192.0.2.25 (TTL 300)")
        );
    }
}
