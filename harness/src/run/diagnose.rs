//! Where did the probe stop? Facts gathered from every observer the target
//! has, turned into one [`Stop`] and the evidence for it.

use super::follow;
use super::secs;
use super::verdict::{Sent, Verdict};
use crate::check::{Row, Stop};
use crate::exim;
use crate::scenario::ArchiveKind;
use crate::sink::Received;
use crate::target::{Target, TargetError};

/// Where the probe stopped, with the log lines and facts that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Diagnosis {
    pub stop: Stop,
    pub evidence: Vec<String>,
}

/// Looks at everything the target offers, once. The fate is the first of:
/// refused at SMTP, held, shunted, bounced (a DSN at the sink, or exim's
/// `**` line), delivered, waiting in a Mailman queue, deferred or frozen in
/// exim's queue (a failed probe whose bounce is stuck there too); lost when
/// none of these shows. The probe is followed by its Message-IDs and its
/// probe header ([`follow`]).
pub(super) async fn where_it_stopped<T: Target + ?Sized>(target: &T, sent: &Sent) -> Diagnosis {
    let t = &sent.transcript;
    if !t.accepted() {
        let stop = match t.final_reply() {
            Some(e) => Stop::RefusedAtSmtp {
                stage: e.stage.to_string(),
                command: e.command.clone(),
                code: e.reply.code,
                enhanced: e.reply.enhanced.clone(),
                text: e.reply.text.clone(),
            },
            None => Stop::NotSent { error: "no SMTP conversation took place".into() },
        };
        return Diagnosis { stop, evidence: Vec::new() };
    }
    let keys = follow::keys(target, sent).await;
    let mut evidence = Vec::new();
    let mut held = None;
    for to in &sent.probe.to {
        let list_id = to.replacen('@', ".", 1);
        let Some(queue) = target.held_queue() else { break };
        if let Ok(entries) = queue.held(&list_id).await {
            if let Some(h) = entries.iter().find(|h| keys.message_ids.contains(&h.message_id)) {
                held = Some(Stop::Held { list: to.clone(), request_id: h.request_id, reason: h.reason.clone() });
            }
        }
    }
    let mut queued = None;
    let mut shunted = None;
    let queues = match target.mailman_queues() {
        Some(q) => q.find(&keys).await,
        None => Err(TargetError::Unsupported(crate::target::Capability::MailmanQueues)),
    };
    match queues {
        Ok(q) if q.shunted() => {
            let log = q.log_lines.iter().rev().find(|l| l.contains("SHUNTING") || l.contains("Error")).or(q.log_lines.last());
            let file = q.queue_files.iter().find(|f| f.contains("/shunt/")).cloned().unwrap_or_default();
            shunted = Some(Stop::Shunted { queue_file: file, log_line: log.map(|l| l.trim().to_string()) });
        }
        Ok(q) if !q.queue_files.is_empty() => {
            evidence.push(format!("Mailman's queue files: {}", q.queue_files.join(", ")));
            queued = Some(Stop::InMailmanQueue { queues: q.queues().into_iter().map(String::from).collect() });
        }
        Ok(_) | Err(TargetError::Unsupported(_)) => {}
        Err(e) => evidence.push(format!("Mailman's queues could not be read: {e}")),
    }
    let mut mta = None;
    let trace = match target.mta_log() {
        Some(log) => log.trace(&keys).await,
        None => Err(TargetError::Unsupported(crate::target::Capability::MtaLog)),
    };
    match trace {
        Ok(trace) => {
            evidence.push(trace.summary());
            mta = trace.stop();
        }
        Err(TargetError::Unsupported(_)) => {}
        Err(e) => evidence.push(format!("exim's log could not be read: {e}")),
    }
    let (delivered, dsn) = match target.mailbox() {
        Some(mailbox) => {
            let copies = follow::copies(mailbox, &sent.probe).await.unwrap_or_default();
            let to = copies.to();
            if to.is_empty() {
                evidence.push("no copy reached the mailbox".into());
            }
            if let Some(note) = copies.arrived_as(&sent.probe) {
                evidence.push(note);
            }
            let to_sender = mailbox.received_by(&sent.probe.from, sent.wall).await.unwrap_or_default();
            let dsn = to_sender.iter().find_map(|m| {
                let stop = exim::dsn_about(m, &sent.probe.from, &keys)?;
                evidence.push(dsn_evidence(m, sent));
                Some(stop)
            });
            ((!to.is_empty()).then_some(Stop::Delivered { to }), dsn)
        }
        None => (None, None),
    };
    // A DSN at the sender is a bounce; exim's `**` line is one only when its
    // bounce is not stuck in exim's queue (then `mta` says frozen or deferred).
    let bounced = dsn.or_else(|| mta.clone().filter(|s| matches!(s, Stop::Bounced { .. })));
    let stop = held
        .or(shunted)
        .or(bounced)
        .or(delivered)
        .or(queued)
        .or(mta)
        .unwrap_or(Stop::Lost);
    Diagnosis { stop, evidence }
}

/// The DSN that reached the sender, for the evidence: who sent it, when,
/// and its subject.
pub(super) fn dsn_evidence(m: &Received, sent: &Sent) -> String {
    let after = m.received_at.duration_since(sent.wall).map(|d| format!(" {} after sending", secs(d))).unwrap_or_default();
    format!(
        "a bounce from {} reached {}{after}: {:?}",
        m.header("From").unwrap_or("the null sender"),
        sent.probe.from,
        m.header("Subject").unwrap_or("")
    )
}

/// Why a delivered probe is not in `archive`, when the target can tell:
/// the list's archiver switched off or the list never archiving, the
/// archiver's failure from Mailman's log (HyperKitty's status and answer),
/// the probe waiting in the archiver's retry spool, or an `X-No-Archive`
/// header.
pub(super) async fn why_not_archived<T: Target + ?Sized>(target: &T, sent: &Sent, archive: ArchiveKind, list: &str) -> Option<String> {
    let mut causes = Vec::new();
    if let Some(queues) = target.mailman_queues() {
        if let Ok(settings) = queues.list_archiving(&list.replacen('@', ".", 1)).await {
            if settings.policy.as_deref() == Some("never") {
                causes.push(format!("the list's archive_policy is \"never\": {list} archives nothing"));
            }
            match settings.archivers.iter().find(|(name, _)| name == archive.as_str()) {
                Some((_, false)) => causes.push(format!("the {archive} archiver is off for {list} (GET /3.1/lists/<id>/archivers)")),
                Some((_, true)) => {}
                None => causes.push(format!("Mailman offers no {archive} archiver for {list} (GET /3.1/lists/<id>/archivers)")),
            }
        }
        let keys = follow::keys(target, sent).await;
        if let Ok(facts) = queues.archiver_failures(&keys).await {
            if let Some(cause) = crate::mailman::archiver::failure_cause(&facts.log_entries) {
                causes.push(cause);
            }
            for file in facts.spool_files.iter().filter(|f| f.contains(&format!("/{}/", archive.as_str()))) {
                causes.push(format!("it waits in the {archive} archiver's retry spool ({file}), retried with every message archived after it"));
            }
        }
    }
    let no_archive = mailparse::parse_headers(&sent.probe.bytes).ok().and_then(|(hs, _)| {
        hs.iter()
            .find(|h| h.get_key().eq_ignore_ascii_case("X-No-Archive") || h.get_key().eq_ignore_ascii_case("Archive"))
            .map(|h| format!("{}: {}", h.get_key(), h.get_value()))
    });
    if let Some(h) = no_archive {
        causes.push(format!("the probe asks not to be archived ({h})"));
    }
    (!causes.is_empty()).then(|| causes.join("; "))
}

/// The same verdict for every step about a probe that was never accepted.
pub(super) async fn never_accepted<T: Target + ?Sized>(target: &T, sent: &Sent, property: &str, expected: String) -> Verdict {
    let d = where_it_stopped(target, sent).await;
    Verdict::row(Row::failed(property, expected, "the probe was never accepted")).stopped(d)
}
