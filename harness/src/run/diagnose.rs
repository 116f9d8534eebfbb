//! Where did the probe stop? Facts gathered from every observer the target
//! has, turned into one sentence for the failure message.

use super::steps::Sent;
use crate::exim;
use crate::target::{Target, TargetError};

pub(super) async fn where_it_stopped<T: Target + ?Sized>(target: &T, sent: &Sent) -> String {
    let t = &sent.transcript;
    if !t.accepted() {
        return match t.final_reply() {
            Some(e) => {
                let cmd = e.command.as_deref().map(|c| format!(" `{c}`")).unwrap_or_default();
                format!("refused at SMTP {}{cmd}: {}", e.stage, e.reply)
            }
            None => "no SMTP conversation took place".into(),
        };
    }
    let mut facts = Vec::new();
    // What Mailman did with it: delivered, held, shunted or still queued.
    if let Some(sink) = target.sink() {
        let to: Vec<String> = sink
            .messages()
            .iter()
            .filter(|m| m.message_id() == Some(sent.probe.message_id.as_str()))
            .flat_map(|m| m.rcpt_to.iter().cloned())
            .collect();
        if !to.is_empty() {
            facts.push(format!("it was delivered to {} (the sink has it)", to.join(", ")));
        }
    }
    for to in &sent.probe.to {
        let list_id = to.replacen('@', ".", 1);
        if let Ok(held) = target.held_messages(&list_id).await {
            if let Some(h) = held.iter().find(|h| h.message_id == sent.probe.message_id) {
                facts.push(format!("it is held for moderation on {to} (request {}): {}", h.request_id, h.reason));
            }
        }
    }
    match target.mailman_queues(&sent.probe.message_id).await {
        Ok(q) if q.shunted() => {
            let log = q.log_lines.iter().rev().find(|l| l.contains("SHUNTING") || l.contains("Error")).or(q.log_lines.last());
            let log = log.map(|l| format!("; mailman.log: {}", l.trim())).unwrap_or_default();
            facts.push(format!("Mailman shunted it ({}){log}", q.queue_files.join(", ")));
        }
        Ok(q) if !q.queue_files.is_empty() => {
            facts.push(format!("it is in Mailman's {} queue ({})", q.queues().join(", "), q.queue_files.join(", ")));
        }
        Ok(_) | Err(TargetError::Unsupported(_)) => {}
        Err(e) => facts.push(format!("Mailman's queues could not be read: {e}")),
    }
    match target.exim_mainlog().await {
        Ok(log) => facts.push(exim::trace(&log, &sent.probe.message_id).summary()),
        Err(TargetError::Unsupported(_)) => {}
        Err(e) => facts.push(format!("exim's log could not be read: {e}")),
    }
    if let Some(sink) = target.sink() {
        let n = sink.messages().iter().filter(|m| m.message_id() == Some(sent.probe.message_id.as_str())).count();
        if n == 0 {
            facts.push("no copy reached the sink".into());
        }
    }
    if facts.is_empty() {
        "this target offers nothing more to look at".into()
    } else {
        facts.join("; ")
    }
}
