//! What the sink keeps: the newest messages, within a count and a size, with
//! indexes by Message-ID and by probe header.
//!
//! Every message gets a sequence number at arrival (0, 1, 2, ... for the
//! sink's life). The kept messages are the contiguous range
//! `first_seq..next_seq`, oldest first, so a sequence number finds its
//! message by subtraction, and the indexes hold sequence numbers. When a new
//! message would exceed a limit, the oldest go first, each counted as
//! dropped, and leave the indexes with it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::Received;

/// How much the sink keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At most this many messages.
    pub max_messages: usize,
    /// At most this many bytes, counted by [`Received::footprint`].
    pub max_bytes: usize,
}

impl Default for Limits {
    /// 10,000 messages or 64 MiB, whichever is reached first: far more than
    /// any suite sends in a run (a few dozen messages), and a bound on what
    /// `mailflow up` left running for days holds.
    fn default() -> Self {
        Limits { max_messages: 10_000, max_bytes: 64 * 1024 * 1024 }
    }
}

/// Counts for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages received since the sink started.
    pub received: u64,
    /// Messages kept now.
    pub kept: usize,
    /// Bytes kept now.
    pub kept_bytes: usize,
    /// Messages dropped to stay within the limits, oldest first.
    pub dropped: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    limits: Limits,
    messages: VecDeque<Arc<Received>>,
    first_seq: u64,
    bytes: usize,
    dropped: u64,
    by_message_id: HashMap<Box<str>, Keyed>,
    by_probe: HashMap<Box<str>, Keyed>,
}

/// The sequence numbers of the kept messages with one key, oldest first.
/// Almost always one or two (one copy per subscriber connection).
type Keyed = VecDeque<u64>;

impl Store {
    pub(crate) fn new(limits: Limits) -> Store {
        Store { limits, ..Store::default() }
    }

    /// The sequence number the next message will get.
    pub(crate) fn next_seq(&self) -> u64 {
        self.first_seq + self.messages.len() as u64
    }

    /// Keeps `r` (its `seq` already set to [`Store::next_seq`]), dropping the
    /// oldest messages as needed.
    pub(crate) fn push(&mut self, r: Arc<Received>) {
        debug_assert_eq!(r.seq, self.next_seq());
        let size = r.footprint();
        while !self.messages.is_empty()
            && (self.messages.len() + 1 > self.limits.max_messages || self.bytes + size > self.limits.max_bytes)
        {
            self.drop_oldest();
        }
        if let Some(id) = r.message_id() {
            self.by_message_id.entry(id.into()).or_default().push_back(r.seq);
        }
        if let Some(p) = r.probe() {
            self.by_probe.entry(probe_key(p).into()).or_default().push_back(r.seq);
        }
        self.bytes += size;
        self.messages.push_back(r);
    }

    fn drop_oldest(&mut self) {
        let Some(old) = self.messages.pop_front() else { return };
        self.first_seq += 1;
        self.bytes -= old.footprint();
        self.dropped += 1;
        if let Some(id) = old.message_id() {
            unindex(&mut self.by_message_id, id, old.seq);
        }
        if let Some(p) = old.probe() {
            unindex(&mut self.by_probe, &probe_key(p), old.seq);
        }
    }

    pub(crate) fn all(&self) -> Vec<Arc<Received>> {
        self.messages.iter().cloned().collect()
    }

    /// Kept messages with `seq >= from`, oldest first.
    pub(crate) fn since(&self, from: u64) -> impl Iterator<Item = &Arc<Received>> {
        let skip = from.saturating_sub(self.first_seq).min(self.messages.len() as u64) as usize;
        self.messages.range(skip..)
    }

    pub(crate) fn first_seq(&self) -> u64 {
        self.first_seq
    }

    pub(crate) fn by_message_id(&self, message_id: &str) -> Vec<Arc<Received>> {
        self.lookup(&self.by_message_id, message_id.trim())
    }

    pub(crate) fn by_probe(&self, probe: &str) -> Vec<Arc<Received>> {
        self.lookup(&self.by_probe, &probe_key(probe))
    }

    fn lookup(&self, index: &HashMap<Box<str>, Keyed>, key: &str) -> Vec<Arc<Received>> {
        let Some(seqs) = index.get(key) else { return Vec::new() };
        seqs.iter().filter_map(|s| self.messages.get((s - self.first_seq) as usize)).cloned().collect()
    }

    pub(crate) fn counts(&self) -> Counts {
        Counts { received: self.next_seq(), kept: self.messages.len(), kept_bytes: self.bytes, dropped: self.dropped }
    }
}

fn unindex(index: &mut HashMap<Box<str>, Keyed>, key: &str, seq: u64) {
    if let Some(seqs) = index.get_mut(key) {
        // The oldest message is the first of its key.
        if seqs.front() == Some(&seq) {
            seqs.pop_front();
        } else {
            seqs.retain(|s| *s != seq);
        }
        if seqs.is_empty() {
            index.remove(key);
        }
    }
}

/// The probe header's value as an index key: runs of white space (which a
/// relay may refold) count as one space.
pub(crate) fn probe_key(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::PROBE_HEADER;

    fn message(seq: u64, id: &str, probe: &str, body: usize) -> Arc<Received> {
        let text = format!("Message-ID: {id}\r\n{PROBE_HEADER}: {probe}\r\n\r\n{}", "x".repeat(body));
        let mut r = Received::new("a@b".into(), vec!["c@probe.test".into()], text.into_bytes(), "127.0.0.1:1".parse().unwrap());
        r.seq = seq;
        Arc::new(r)
    }

    #[test]
    fn finds_by_either_key_and_forgets_what_it_drops() {
        let mut s = Store::new(Limits { max_messages: 3, max_bytes: usize::MAX });
        for (i, id) in ["<a@p>", "<b@p>", "<a@p>", "<c@p>"].iter().enumerate() {
            s.push(message(i as u64, id, &format!("run=r; probe=step  {}", i % 2), 10));
        }
        // The first <a@p> (seq 0) was dropped for the fourth message.
        assert_eq!(s.counts().dropped, 1);
        assert_eq!(s.counts().kept, 3);
        assert_eq!(s.by_message_id("<a@p>").iter().map(|m| m.seq).collect::<Vec<_>>(), [2]);
        assert_eq!(s.by_message_id(" <c@p> ").len(), 1);
        assert!(s.by_message_id("<zz@p>").is_empty());
        // Refolded white space finds the same probe.
        assert_eq!(s.by_probe("run=r;  probe=step 1").iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(s.by_probe("run=r; probe=step 0").iter().map(|m| m.seq).collect::<Vec<_>>(), [2]);
        assert_eq!(s.since(2).map(|m| m.seq).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(s.since(0).count(), 3);
        assert_eq!(s.since(9).count(), 0);
    }

    #[test]
    fn byte_limit_drops_oldest_first() {
        let one = message(0, "<a@p>", "p", 1000).footprint();
        let mut s = Store::new(Limits { max_messages: 100, max_bytes: one * 2 + one / 2 });
        for i in 0..5 {
            s.push(message(i, &format!("<{i}@p>"), "p", 1000));
        }
        let c = s.counts();
        assert_eq!((c.received, c.kept, c.dropped), (5, 2, 3));
        assert!(c.kept_bytes <= one * 2 + one / 2);
        assert_eq!(s.by_probe("p").iter().map(|m| m.seq).collect::<Vec<_>>(), [3, 4]);
        // A single message larger than the limit is still kept, alone.
        s.push(message(5, "<big@p>", "p", 10_000));
        assert_eq!(s.counts().kept, 1);
        assert!(s.by_probe("p").iter().all(|m| m.seq == 5));
    }
}
