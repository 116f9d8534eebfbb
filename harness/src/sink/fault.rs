//! Fault modes of the sink: for a scenario, answer RCPT TO for one
//! recipient with a 4xx or 5xx instead of accepting it, a number of times
//! or until cleared. A 4xx makes exim defer and retry; a 5xx makes it give
//! up and send a bounce to the message's envelope sender.

use std::sync::{Arc, Mutex};

/// One recipient's refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptFault {
    /// Compared case-insensitively.
    pub address: String,
    /// The whole reply line without CRLF, e.g. `451 4.3.0 try again later`.
    pub reply: String,
    /// How many more RCPT TO for the address get the reply; `None`: every one.
    pub left: Option<u32>,
}

/// The sink's fault modes, shared by every session (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct FaultPolicy(Arc<Mutex<Vec<RcptFault>>>);

impl FaultPolicy {
    /// Sets (or replaces) the fault for `fault.address`.
    pub fn set(&self, fault: RcptFault) {
        let mut faults = self.0.lock().unwrap_or_else(|e| e.into_inner());
        faults.retain(|f| !f.address.eq_ignore_ascii_case(&fault.address));
        faults.push(fault);
    }

    /// Back to accepting every recipient. Returns how many faults were set.
    pub fn clear(&self) -> usize {
        let mut faults = self.0.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *faults).len()
    }

    /// The reply for a RCPT TO of `address`, when a fault applies; counts
    /// it down. Without faults this takes a lock and finds nothing.
    pub(crate) fn answer(&self, address: &str) -> Option<String> {
        let mut faults = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let at = faults.iter().position(|f| f.address.eq_ignore_ascii_case(address))?;
        let fault = &mut faults[at];
        let reply = fault.reply.clone();
        match &mut fault.left {
            Some(1) => {
                faults.remove(at);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_down_then_gone_and_permanent_until_cleared() {
        let p = FaultPolicy::default();
        p.set(RcptFault { address: "bob@probe.test".into(), reply: "451 4.3.0 later".into(), left: Some(2) });
        p.set(RcptFault { address: "carol@probe.test".into(), reply: "550 5.1.1 no".into(), left: None });
        assert_eq!(p.answer("BOB@probe.test").as_deref(), Some("451 4.3.0 later"));
        assert_eq!(p.answer("bob@probe.test").as_deref(), Some("451 4.3.0 later"));
        assert_eq!(p.answer("bob@probe.test"), None);
        for _ in 0..3 {
            assert_eq!(p.answer("carol@probe.test").as_deref(), Some("550 5.1.1 no"));
        }
        assert_eq!(p.answer("alice@probe.test"), None);
        assert_eq!(p.clear(), 1);
        assert_eq!(p.answer("carol@probe.test"), None);
    }
}
