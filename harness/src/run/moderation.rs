//! Steps on Mailman's held queue, and the cleanup after each scenario.
//!
//! Every action on a held message goes through [`moderate_own`], which acts
//! only on what [`select_own`] picked: held entries whose Message-ID is
//! exactly one of this scenario's probe Message-IDs of this run.

use std::time::Instant;

use super::diagnose::where_it_stopped;
use super::events::Outcome;
use super::secs;
use super::steps::{Sent, Verdict, POLL_EVERY};
use crate::mailman::{select_own, Decision, HeldMessage, OwnHeld};
use crate::probe::RunId;
use crate::scenario::{HeldExpectation, Moderation, Suite};
use crate::target::{Target, TargetError};

/// The one path to acting on held messages: lists the list's held queue,
/// keeps the entries whose Message-ID is exactly one of `probe_ids` (each
/// of which must be a probe id of `run`), and applies `decision` to those
/// and only those. Returns what it acted on.
pub(crate) async fn moderate_own<T: Target + ?Sized>(
    target: &T,
    list_id: &str,
    run: &RunId,
    probe_ids: &[String],
    decision: &Decision,
) -> Result<Vec<OwnHeld>, TargetError> {
    let held = target.held_messages(list_id).await?;
    let own = select_own(list_id, &held, run, probe_ids);
    for entry in &own {
        target.moderate_held(entry, decision).await?;
    }
    Ok(own)
}

fn list_id(suite: &Suite, address: &str) -> String {
    suite.list(address).map(|l| l.list_id()).unwrap_or_else(|| address.replacen('@', ".", 1))
}

/// The sink has a copy of the probe: the list delivered it.
fn delivered<T: Target + ?Sized>(target: &T, sent: &Sent) -> bool {
    target.sink().is_some_and(|s| s.messages().iter().any(|m| m.message_id() == Some(sent.probe.message_id.as_str())))
}

/// The held entry of this probe, if any (exact Message-ID).
fn find<'h>(held: &'h [HeldMessage], sent: &Sent) -> Option<&'h HeldMessage> {
    held.iter().find(|h| h.message_id == sent.probe.message_id)
}

pub(super) async fn expect_held<T: Target + ?Sized>(target: &T, suite: &Suite, sent: &Sent, exp: &HeldExpectation) -> Verdict {
    if !sent.transcript.accepted() {
        let why = where_it_stopped(target, sent).await;
        return (Outcome::Failed(format!("the probe was never accepted, so it cannot be held: {why}")), None);
    }
    let list_id = list_id(suite, &exp.list);
    let deadline = sent.at + exp.within;
    loop {
        match target.held_messages(&list_id).await {
            Ok(held) => {
                if let Some(entry) = find(&held, sent) {
                    let elapsed = secs(sent.at.elapsed());
                    return match &exp.reason_contains {
                        Some(want) if !entry.reason.contains(want.as_str()) => (
                            Outcome::Failed(format!(
                                "held on {} (request {}), but the reason is {:?}, which does not contain {want:?}",
                                exp.list, entry.request_id, entry.reason
                            )),
                            None,
                        ),
                        _ => (
                            Outcome::Passed,
                            Some(format!("held on {} as request {} {elapsed} after sending: {}", exp.list, entry.request_id, entry.reason)),
                        ),
                    };
                }
            }
            Err(TargetError::Unsupported(c)) => return (Outcome::Skipped(format!("needs {c}")), None),
            Err(e) => return (Outcome::Failed(format!("could not read the held queue of {}: {e}", exp.list)), None),
        }
        // A delivered probe will not be held any more: say so now.
        if delivered(target, sent) {
            break;
        }
        if Instant::now() + POLL_EVERY > deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let why = where_it_stopped(target, sent).await;
    let when = if delivered(target, sent) { format!("after {}", secs(sent.at.elapsed())) } else { format!("within {}", secs(exp.within)) };
    (Outcome::Failed(format!("not held on {} {when}: {why}", exp.list)), None)
}

pub(super) async fn moderate<T: Target + ?Sized>(target: &T, suite: &Suite, run: &RunId, sent: &Sent, m: &Moderation) -> Verdict {
    if !sent.transcript.accepted() {
        let why = where_it_stopped(target, sent).await;
        return (Outcome::Failed(format!("the probe was never accepted, so there is nothing to moderate: {why}")), None);
    }
    let list_id = list_id(suite, &m.list);
    let decision = Decision { action: m.action, comment: m.comment.clone() };
    let ids = std::slice::from_ref(&sent.probe.message_id);
    let started = Instant::now();
    let deadline = started + m.within;
    loop {
        match moderate_own(target, &list_id, run, ids, &decision).await {
            Ok(done) if !done.is_empty() => {
                let requests: Vec<String> = done.iter().map(|h| h.request_id().to_string()).collect();
                return (Outcome::Passed, Some(format!("{} request {} on {}", m.action, requests.join(", "), m.list)));
            }
            Ok(_) => {}
            Err(TargetError::Unsupported(c)) => return (Outcome::Skipped(format!("needs {c}")), None),
            Err(e) => return (Outcome::Failed(format!("could not {} the probe on {}: {e}", m.action, m.list)), None),
        }
        if Instant::now() + POLL_EVERY > deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let why = where_it_stopped(target, sent).await;
    (Outcome::Failed(format!("nothing to {}: the probe was not held on {} within {}: {why}", m.action, m.list, secs(m.within))), None)
}

/// After a scenario, passed or failed: discards whatever of its probes is
/// still held on the lists they were sent to. `Ok(None)` when nothing was
/// held; `Err` names what could not be cleaned.
pub(super) async fn cleanup<T: Target + ?Sized>(
    target: &T,
    run: &RunId,
    list_ids: &[String],
    probe_ids: &[String],
) -> Result<Option<String>, String> {
    if probe_ids.is_empty() {
        return Ok(None);
    }
    let decision = Decision { action: crate::scenario::ModerationAction::Discard, comment: None };
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for list_id in list_ids {
        match moderate_own(target, list_id, run, probe_ids, &decision).await {
            Ok(own) => done.extend(own.iter().map(|h| format!("{} on {list_id}", h.message_id()))),
            Err(TargetError::Unsupported(_)) => return Ok(None),
            Err(e) => errors.push(format!("{list_id}: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(format!("could not clean up held probes: {}", errors.join("; ")));
    }
    Ok((!done.is_empty()).then(|| format!("discarded held probes: {}", done.join(", "))))
}
