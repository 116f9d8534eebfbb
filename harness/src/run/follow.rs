//! Following a probe: by its own Message-ID first, by its probe header when
//! no copy carries that id (senders write odd Message-IDs, or none, and
//! servers rewrite some), and then by the Message-IDs its copies arrived
//! with.

use std::sync::Arc;

use super::verdict::Sent;
use crate::probe::{Probe, ProbeKeys, PROBE_HEADER};
use crate::sink::Received;
use crate::target::{Mailbox, Target, TargetError};

/// The probe's copies in a mailbox, and how they were found.
#[derive(Debug, Clone, Default)]
pub(super) struct Copies {
    pub messages: Vec<Arc<Received>>,
    /// Found by the probe header, not by the probe's Message-ID.
    pub by_header: bool,
}

impl Copies {
    /// Every recipient a copy reached.
    pub fn to(&self) -> Vec<String> {
        self.messages.iter().flat_map(|m| m.rcpt_to.iter().cloned()).collect()
    }

    /// The Message-IDs the copies arrived with, in order, without repeats
    /// (`None` for a copy without one).
    pub fn arrived_ids(&self) -> Vec<Option<String>> {
        let mut ids: Vec<Option<String>> = Vec::new();
        for m in &self.messages {
            let id = m.message_id().map(str::to_string);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// When the copies were found by the probe header: what it was sent
    /// with and what it arrived as, for the row (`sent as X, arrived as Y`).
    pub fn arrived_as(&self, probe: &Probe) -> Option<String> {
        if !self.by_header || self.messages.is_empty() {
            return None;
        }
        let sent = match probe.sent_message_id.as_deref() {
            None => "sent without a Message-ID".to_string(),
            Some("") => "sent with an empty Message-ID".to_string(),
            Some(id) => format!("sent as {id}"),
        };
        let arrived: Vec<String> = self
            .arrived_ids()
            .into_iter()
            .map(|id| id.map_or_else(|| "no Message-ID".to_string(), |id| if id.is_empty() { "an empty Message-ID".into() } else { id }))
            .collect();
        Some(format!("followed by its {PROBE_HEADER} header: {sent}, arrived as {}", arrived.join(" and ")))
    }
}

/// Copies of the probe: those with its Message-ID, else those with its
/// probe header.
pub(super) async fn copies(mailbox: &dyn Mailbox, probe: &Probe) -> Result<Copies, TargetError> {
    let by_id = mailbox.copies(&probe.message_id).await?;
    if !by_id.is_empty() {
        return Ok(Copies { messages: by_id, by_header: false });
    }
    let Some(header) = probe.probe_header.as_deref() else {
        return Ok(Copies::default());
    };
    let by_header = mailbox.copies_by_probe_header(header).await?;
    // Bounces carry the probe's headers inside, never as their own.
    let messages: Vec<Arc<Received>> = by_header.into_iter().filter(|m| !m.mail_from.is_empty() && m.mail_from != "<>").collect();
    Ok(Copies { by_header: !messages.is_empty(), messages })
}

/// Whether `m` is a copy of the probe (by Message-ID or probe header),
/// not a message about it.
pub(super) fn is_copy(m: &Received, probe: &Probe) -> bool {
    m.message_id() == Some(probe.message_id.as_str())
        || probe
            .probe_header
            .as_deref()
            .is_some_and(|h| m.header(PROBE_HEADER).is_some_and(|v| crate::probe::same_probe_header(v, h)))
}

/// What the probe is known by now: its own Message-ID, the one it was sent
/// with, its probe header, and the Message-IDs its copies arrived with (in
/// the mailbox, else, for a probe sent without its own Message-ID, in the
/// prototype archive of the list it was sent to).
pub(super) async fn keys<T: Target + ?Sized>(target: &T, sent: &Sent) -> ProbeKeys {
    let mut keys = ProbeKeys::of(&sent.probe);
    if keys.probe_header.is_none() {
        return keys;
    }
    if let Some(mailbox) = target.mailbox() {
        if let Ok(c) = copies(mailbox, &sent.probe).await {
            for id in c.arrived_ids().into_iter().flatten() {
                keys.add_id(&id);
            }
            if c.by_header {
                return keys;
            }
        }
    }
    // A probe sent with its own, well-formed Message-ID keeps it; asking the
    // archive for another costs a search on the server at every look.
    let odd = sent.probe.sent_message_id.as_deref() != Some(sent.probe.message_id.as_str());
    if let Some(archive) = target.prototype_archive().filter(|_| odd) {
        for list in &sent.probe.to {
            if let Ok(Some(copy)) = archive.find(list, &keys).await {
                if let Some(id) = copy.message_id {
                    keys.add_id(&id);
                }
            }
        }
    }
    keys
}

#[cfg(test)]
pub(super) mod tests {
    //! Following probes through a mailbox made by hand.
    use std::time::{Duration, SystemTime};

    use tokio::time::Instant;

    use super::*;
    use crate::probe::{build_raw, RunId};
    use crate::smtp::{Exchange, Reply, Stage, Transcript};
    use crate::target::BoxFuture;

    /// A mailbox holding fixed messages, searched like the sink.
    pub(in crate::run) struct Held(pub Vec<Arc<Received>>);

    impl Mailbox for Held {
        fn copies<'a>(&'a self, message_id: &'a str) -> BoxFuture<'a, Result<Vec<Arc<Received>>, TargetError>> {
            let found = self.0.iter().filter(|m| m.message_id() == Some(message_id)).cloned().collect();
            Box::pin(async move { Ok(found) })
        }
        fn copies_by_probe_header<'a>(&'a self, value: &'a str) -> BoxFuture<'a, Result<Vec<Arc<Received>>, TargetError>> {
            let found = self
                .0
                .iter()
                .filter(|m| m.header(PROBE_HEADER).is_some_and(|v| crate::probe::same_probe_header(v, value)))
                .cloned()
                .collect();
            Box::pin(async move { Ok(found) })
        }
        fn received_by<'a>(&'a self, address: &'a str, _: SystemTime) -> BoxFuture<'a, Result<Vec<Arc<Received>>, TargetError>> {
            let found = self.0.iter().filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(address))).cloned().collect();
            Box::pin(async move { Ok(found) })
        }
        fn arrivals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
            None
        }
    }

    /// A raw probe with a doubled-bracket Message-ID, accepted with 250.
    pub(in crate::run) fn odd_probe() -> Sent {
        let to = vec!["probe-pitfalls@lists.example.test".to_string()];
        let data = "From: db@probe.test\nSubject: odd\nMessage-ID: <{message_id}>\n{probe_header}\n\nbody\n";
        let probe = build_raw(&RunId::from_string("12-follow"), "probe.test", "s.toml step 1", "db@probe.test", &to, data);
        let reply = Reply { code: 250, enhanced: None, text: "OK id=1xXdh4-00007w-10".into() };
        let transcript = Transcript {
            exchanges: vec![Exchange { stage: Stage::Message, command: None, reply, at: Duration::from_millis(20) }],
        };
        Sent { probe, transcript, at: Instant::now(), wall: SystemTime::now() - Duration::from_secs(1) }
    }

    /// A list's copy of the probe: its data with Mailman's headers on top.
    pub(in crate::run) fn list_copy(sent: &Sent, to: &[&str]) -> Arc<Received> {
        let mut data = b"List-Id: <probe-pitfalls.lists.example.test>\r\n".to_vec();
        data.extend_from_slice(&sent.probe.bytes);
        Arc::new(Received::for_test("probe-pitfalls-bounces@lists.example.test", to, &data))
    }

    #[tokio::test]
    async fn an_odd_message_id_is_followed_by_the_probe_header() {
        let sent = odd_probe();
        let dsn = Received::for_test("", &["db@probe.test"], &sent.probe.bytes);
        let mailbox = Held(vec![list_copy(&sent, &["pat@probe.test", "quinn@probe.test"]), Arc::new(dsn)]);
        let c = copies(&mailbox, &sent.probe).await.unwrap();
        assert!(c.by_header);
        // A bounce carrying the probe's headers is no copy.
        assert_eq!(c.to(), ["pat@probe.test", "quinn@probe.test"]);
        let id = sent.probe.sent_message_id.clone().unwrap();
        assert!(id.starts_with("<<mailflow.12-follow."), "{id}");
        assert_eq!(
            c.arrived_as(&sent.probe).unwrap(),
            format!("followed by its X-Mailflow-Probe header: sent as {id}, arrived as {id}")
        );
        assert!(is_copy(&c.messages[0], &sent.probe));

        // Found by the probe's own Message-ID: nothing to say.
        let plain_to = vec!["l@d.test".to_string()];
        let plain = build_raw(&RunId::from_string("12-follow"), "probe.test", "s", "a@probe.test", &plain_to, "Message-ID: {message_id}\n\nb\n");
        let mailbox = Held(vec![Arc::new(Received::for_test("l-bounces@d.test", &["a@probe.test"], &plain.bytes))]);
        let c = copies(&mailbox, &plain).await.unwrap();
        assert!(!c.by_header);
        assert_eq!(c.arrived_as(&plain), None);
    }
}
