//! Where did the probe stop? Facts gathered from every observer the target
//! has, turned into one [`Stop`] and the evidence for it.

use super::verdict::{Sent, Verdict};
use crate::check::{Row, Stop};
use crate::exim;
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
/// exim's queue; lost when none of these shows.
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
    let id = sent.probe.message_id.as_str();
    let mut evidence = Vec::new();
    let mut held = None;
    for to in &sent.probe.to {
        let list_id = to.replacen('@', ".", 1);
        let Some(queue) = target.held_queue() else { break };
        if let Ok(entries) = queue.held(&list_id).await {
            if let Some(h) = entries.iter().find(|h| h.message_id == id) {
                held = Some(Stop::Held { list: to.clone(), request_id: h.request_id, reason: h.reason.clone() });
            }
        }
    }
    let mut queued = None;
    let mut shunted = None;
    let queues = match target.mailman_queues() {
        Some(q) => q.find(id).await,
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
        Some(log) => log.trace(id).await,
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
            let copies = mailbox.copies(id).await.unwrap_or_default();
            let to: Vec<String> = copies.iter().flat_map(|m| m.rcpt_to.iter().cloned()).collect();
            if to.is_empty() {
                evidence.push("no copy reached the mailbox".into());
            }
            let to_sender = mailbox.received_by(&sent.probe.from, sent.wall).await.unwrap_or_default();
            let dsn = to_sender.iter().find_map(|m| exim::dsn_about(m, &sent.probe.from, id));
            ((!to.is_empty()).then_some(Stop::Delivered { to }), dsn)
        }
        None => (None, None),
    };
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

/// The same verdict for every step about a probe that was never accepted.
pub(super) async fn never_accepted<T: Target + ?Sized>(target: &T, sent: &Sent, property: &str, expected: String) -> Verdict {
    let d = where_it_stopped(target, sent).await;
    Verdict::row(Row::failed(property, expected, "the probe was never accepted")).stopped(d)
}
