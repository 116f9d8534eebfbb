//! Steps on Mailman's held queue, and the cleanup after each scenario.
//!
//! Every action on a held message goes through [`moderate_own`], which acts
//! only on what [`select_own`] picked: held entries whose Message-ID is
//! exactly one of this scenario's probe Message-IDs of this run.

use tokio::time::Instant;

use super::diagnose::{never_accepted, where_it_stopped};
use super::secs;
use super::verdict::{unsupported, Sent, Verdict};
use crate::check::{within, Look, Row, Waited};
use crate::mailman::{select_own, Decision, HeldMessage, OwnHeld};
use crate::probe::RunId;
use crate::scenario::{HeldExpectation, Moderation, Suite};
use crate::target::{Capability, Target, TargetError};

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
    let queue = target.held_queue().ok_or(TargetError::Unsupported(Capability::HeldQueue))?;
    if !target.may_moderate() {
        return Err(TargetError::NotAllowed("moderation".into()));
    }
    let held = queue.held(list_id).await?;
    let own = select_own(list_id, &held, run, probe_ids);
    for entry in &own {
        queue.moderate(entry, decision).await?;
    }
    Ok(own)
}

fn list_id(suite: &Suite, address: &str) -> String {
    suite.list(address).map(|l| l.list_id()).unwrap_or_else(|| address.replacen('@', ".", 1))
}

/// The mailbox has a copy of the probe: the list delivered it.
async fn delivered<T: Target + ?Sized>(target: &T, sent: &Sent) -> bool {
    match target.mailbox() {
        Some(m) => !super::follow::copies(m, &sent.probe).await.unwrap_or_default().messages.is_empty(),
        None => false,
    }
}

/// The held entry of this probe, if any (exact Message-ID).
fn find<'h>(held: &'h [HeldMessage], sent: &Sent) -> Option<&'h HeldMessage> {
    held.iter().find(|h| h.message_id == sent.probe.message_id)
}

pub(super) async fn expect_held<T: Target + ?Sized>(target: &T, suite: &Suite, sent: &Sent, exp: &HeldExpectation) -> Verdict {
    let property = format!("held on {}", exp.list);
    let expected = match &exp.reason_contains {
        Some(want) => format!("reason containing {want:?} within {}", secs(exp.within)),
        None => format!("within {}", secs(exp.within)),
    };
    if !sent.transcript.accepted() {
        return never_accepted(target, sent, &property, expected).await;
    }
    let list_id = list_id(suite, &exp.list);
    let Some(queue) = target.held_queue() else {
        return unsupported(&property, expected, Capability::HeldQueue);
    };
    let waited = within(sent.at, exp.within, None::<tokio::sync::watch::Receiver<()>>, || async {
        match queue.held(&list_id).await {
            Ok(held) => match find(&held, sent) {
                Some(entry) => Look::Ready(Some(entry.clone())),
                // A delivered probe will not be held any more: say so now.
                None if delivered(target, sent).await => Look::Ready(None),
                None => Look::NotYet,
            },
            // A 5xx now may be a 200 in a moment; it fails only if it lasts.
            Err(e) if e.is_transient() => Look::NotYet,
            Err(e) => Look::Abort(e),
        }
    })
    .await;
    match waited {
        Waited::Ready { value: Some(entry), after } => {
            let observed = format!("request {}: {}", entry.request_id, entry.reason);
            let ok = exp.reason_contains.as_ref().is_none_or(|want| entry.reason.contains(want.as_str()));
            let row = if ok { Row::passed(property, expected, observed) } else { Row::failed(property, expected, observed) };
            Verdict::row(row.took(after))
        }
        Waited::Aborted(e) => Verdict::row(Row::failed(property, expected, format!("could not read the held queue: {e}"))),
        Waited::Ready { value: None, after } => {
            let d = where_it_stopped(target, sent).await;
            Verdict::row(Row::failed(property, expected, format!("not held; delivered after {}", secs(after)))).stopped(d)
        }
        Waited::TimedOut { .. } => {
            let d = where_it_stopped(target, sent).await;
            Verdict::row(Row::failed(property, expected, "not held")).stopped(d)
        }
    }
}

pub(super) async fn moderate<T: Target + ?Sized>(target: &T, suite: &Suite, run: &RunId, sent: &Sent, m: &Moderation) -> Verdict {
    let property = format!("{} on {}", m.action, m.list);
    let expected = format!("the probe held within {}", secs(m.within));
    if !sent.transcript.accepted() {
        return never_accepted(target, sent, &property, expected).await;
    }
    if !target.may_moderate() {
        return Verdict::row(Row::skipped(property, expected, "the target does not allow moderation (`[allow] moderate = true` in the target file)"));
    }
    let list_id = list_id(suite, &m.list);
    let decision = Decision { action: m.action, comment: m.comment.clone() };
    let ids = std::slice::from_ref(&sent.probe.message_id);
    // Moderation waits for the hold; its clock starts with the step.
    let waited = within(Instant::now(), m.within, None::<tokio::sync::watch::Receiver<()>>, || async {
        match moderate_own(target, &list_id, run, ids, &decision).await {
            Ok(done) if !done.is_empty() => Look::Ready(done),
            Ok(_) => Look::NotYet,
            Err(e) if e.is_transient() => Look::NotYet,
            Err(e) => Look::Abort(e),
        }
    })
    .await;
    match waited {
        Waited::Ready { value: done, after } => {
            let requests: Vec<String> = done.iter().map(|h| h.request_id().to_string()).collect();
            Verdict::row(Row::passed(property, expected, format!("{} request {}", m.action, requests.join(", "))).took(after))
        }
        Waited::Aborted(TargetError::Unsupported(c)) => unsupported(&property, expected, c),
        Waited::Aborted(e) => Verdict::row(Row::failed(property, expected, format!("could not {} the probe: {e}", m.action))),
        Waited::TimedOut { .. } => {
            let d = where_it_stopped(target, sent).await;
            Verdict::row(Row::failed(property, expected, "nothing of this run held")).stopped(d)
        }
    }
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
    match cleanup_ids(target, run, list_ids, probe_ids).await {
        Ok(done) if done.is_empty() => Ok(None),
        Ok(done) => Ok(Some(format!("discarded held probes: {}", done.join(", ")))),
        Err((_, e)) => Err(e),
    }
}

/// Discards the held entries of `probe_ids` on `list_ids`; the ones
/// discarded (`Message-ID on list`), or those and what failed.
pub(super) async fn cleanup_ids<T: Target + ?Sized>(
    target: &T,
    run: &RunId,
    list_ids: &[String],
    probe_ids: &[String],
) -> Result<Vec<String>, (Vec<String>, String)> {
    if probe_ids.is_empty() {
        return Ok(Vec::new());
    }
    let decision = Decision { action: crate::scenario::ModerationAction::Discard, comment: None };
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for list_id in list_ids {
        match moderate_own(target, list_id, run, probe_ids, &decision).await {
            Ok(own) => done.extend(own.iter().map(|h| format!("{} on {list_id}", h.message_id()))),
            Err(TargetError::Unsupported(_) | TargetError::NotAllowed(_)) => return Ok(Vec::new()),
            Err(e) => errors.push(format!("{list_id}: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err((done, format!("could not clean up held probes: {}", errors.join("; "))));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    //! The moderation paths against a recording target: whatever is held,
    //! only this run's exact probe ids are acted on.
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use super::*;
    use crate::scenario::ModerationAction;
    use crate::target::BoxFuture;

    struct Recording {
        held: Vec<HeldMessage>,
        acted: Mutex<Vec<(String, u64, String, ModerationAction)>>,
        may_moderate: bool,
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
        fn held_queue(&self) -> Option<&dyn crate::target::HeldQueue> {
            Some(self)
        }
        fn may_moderate(&self) -> bool {
            self.may_moderate
        }
    }

    impl crate::target::HeldQueue for Recording {
        fn held<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<HeldMessage>, TargetError>> {
            Box::pin(async { Ok(self.held.clone()) })
        }
        fn moderate<'a>(&'a self, held: &'a OwnHeld, decision: &'a Decision) -> BoxFuture<'a, Result<(), TargetError>> {
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
            may_moderate: true,
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
        let target = Recording { held: vec![entry(1, "<foreign@example.org>")], acted: Mutex::new(Vec::new()), may_moderate: true };
        let ids = vec!["<mailflow.42-beef.0@probe.test>".to_string()];
        assert_eq!(cleanup(&target, &run, &["l.d".to_string()], &ids).await, Ok(None));
        assert_eq!(cleanup(&target, &run, &["l.d".to_string()], &[]).await, Ok(None));
        let decision = Decision { action: ModerationAction::Accept, comment: None };
        assert!(moderate_own(&target, "l.d", &run, &ids, &decision).await.unwrap().is_empty());
        assert!(target.acted.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_target_that_forbids_moderation_is_never_acted_on() {
        let run = RunId::from_string("42-beef");
        let mine = "<mailflow.42-beef.3@probe.test>".to_string();
        let target = Recording { held: vec![entry(3, &mine)], acted: Mutex::new(Vec::new()), may_moderate: false };
        let ids = vec![mine.clone()];
        assert_eq!(cleanup(&target, &run, &["l.d".to_string()], &ids).await, Ok(None));
        let decision = Decision { action: ModerationAction::Accept, comment: None };
        assert!(matches!(moderate_own(&target, "l.d", &run, &ids, &decision).await, Err(TargetError::NotAllowed(_))));
        assert!(target.acted.lock().unwrap().is_empty());
    }
}
