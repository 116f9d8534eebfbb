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

#[cfg(test)]
mod tests {
    //! The moderation paths against a recording target: whatever is held,
    //! only this run's exact probe ids are acted on.
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use super::*;
    use crate::scenario::ModerationAction;
    use crate::sink::Sink;
    use crate::target::{ArchivedCopy, BoxFuture};

    struct Recording {
        held: Vec<HeldMessage>,
        acted: Mutex<Vec<(String, u64, String, ModerationAction)>>,
    }

    impl Target for Recording {
        fn describe(&self) -> String {
            "recording".into()
        }
        fn probe_domain(&self) -> &str {
            "probe.test"
        }
        fn smtp_addr(&self) -> SocketAddr {
            "127.0.0.1:25".parse().unwrap()
        }
        fn sink(&self) -> Option<&Sink> {
            None
        }
        fn find_in_prototype_archive<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<Option<ArchivedCopy>, TargetError>> {
            Box::pin(async { Ok(None) })
        }
        fn exim_mainlog(&self) -> BoxFuture<'_, Result<String, TargetError>> {
            Box::pin(async { Ok(String::new()) })
        }
        fn held_messages<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<HeldMessage>, TargetError>> {
            Box::pin(async { Ok(self.held.clone()) })
        }
        fn moderate_held<'a>(&'a self, held: &'a OwnHeld, decision: &'a Decision) -> BoxFuture<'a, Result<(), TargetError>> {
            Box::pin(async move {
                let entry = (held.list_id().to_string(), held.request_id(), held.message_id().to_string(), decision.action);
                self.acted.lock().unwrap().push(entry);
                Ok(())
            })
        }
    }

    fn entry(request_id: u64, message_id: &str) -> HeldMessage {
        HeldMessage {
            request_id,
            message_id: message_id.into(),
            subject: String::new(),
            sender: String::new(),
            reason: String::new(),
            hold_date: None,
        }
    }

    #[tokio::test]
    async fn cleanup_discards_only_this_scenarios_probes() {
        let run = RunId::from_string("42-beef");
        let mine = "<mailflow.42-beef.3@probe.test>".to_string();
        let target = Recording {
            held: vec![
                entry(1, "<foreign@example.org>"),
                entry(2, "<mailflow.42-beef.30@probe.test>"),
                entry(3, &mine),
                entry(4, "<mailflow.42-beefx.3@probe.test>"),
                entry(5, "<mailflow.41-beef.3@probe.test>"),
            ],
            acted: Mutex::new(Vec::new()),
        };
        // A foreign id slipped into the list of probe ids is still refused.
        let ids = vec![mine.clone(), "<foreign@example.org>".to_string()];
        let done = cleanup(&target, &run, &["l.d".to_string()], &ids).await.unwrap();
        assert!(done.unwrap().contains(&mine));
        let acted = target.acted.lock().unwrap().clone();
        assert_eq!(acted, vec![("l.d".to_string(), 3, mine, ModerationAction::Discard)]);
    }

    #[tokio::test]
    async fn nothing_of_ours_held_means_nothing_done() {
        let run = RunId::from_string("42-beef");
        let target = Recording { held: vec![entry(1, "<foreign@example.org>")], acted: Mutex::new(Vec::new()) };
        let ids = vec!["<mailflow.42-beef.0@probe.test>".to_string()];
        assert_eq!(cleanup(&target, &run, &["l.d".to_string()], &ids).await, Ok(None));
        assert_eq!(cleanup(&target, &run, &["l.d".to_string()], &[]).await, Ok(None));
        let decision = Decision { action: ModerationAction::Accept, comment: None };
        assert!(moderate_own(&target, "l.d", &run, &ids, &decision).await.unwrap().is_empty());
        assert!(target.acted.lock().unwrap().is_empty());
    }
}
