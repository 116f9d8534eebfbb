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
