//! The SMTP sink: where the list delivers to its subscribers.
//!
//! Exim's probe-domain router hands every message for the probe domain to this
//! server, so delivery is observed for real, envelope and all. The sink keeps
//! each message with its envelope and arrival time, indexes it by Message-ID
//! and by probe header, and wakes waiters on every arrival (no polling).
//!
//! - Only the probe domain: a recipient outside it is refused at RCPT with
//!   550 (see [`SinkOptions::probe_domain`]). Refusing rather than accepting
//!   and dropping is what a test double of the subscribers' MTA should do:
//!   exim only routes the probe domain here, so another domain means a
//!   misrouting, and a 550 makes it visible (a bounce and a `**` line in
//!   exim's mainlog) instead of a message that silently vanished. A message
//!   with only refused recipients never reaches DATA.
//! - Bounded: at most [`Limits`] messages and bytes; the oldest go first and
//!   are counted ([`Sink::dropped`]).
//! - Indexed: [`Sink::copies_of`] (Message-ID) and [`Sink::by_probe`] (the
//!   probe header, which survives a rewritten Message-ID) look up without
//!   scanning; [`Sink::arrivals`] lets a wait elsewhere be woken on arrival.
//!
//! It speaks plain ESMTP with PIPELINING and without STARTTLS: nothing secret
//! crosses this link. The protocol lives in [`session`] without I/O; this
//! file holds the store and the socket loop.

mod fault;
pub mod session;
mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::probe::PROBE_HEADER;
pub use fault::{FaultPolicy, RcptFault};
use session::{Delivery, Flow, Policy, Session};
pub use store::{Counts, Limits};
use store::Store;

/// Largest message the sink keeps; larger ones are refused with 552.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// A client silent this long is dropped (exim's own timeouts are shorter).
const IDLE: Duration = Duration::from_secs(300);
/// The longest a session may last.
const SESSION: Duration = Duration::from_secs(3600);
/// Bookkeeping counted per kept message besides its text and header values
/// (the `Received`, its `Arc`, two index entries and their keys), for the
/// byte limit; with the per-field figures in [`Received::footprint`], the
/// count matches the resident size the sink was measured to grow by.
const OVERHEAD: usize = 512;

/// One message as delivered to the sink.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
    pub received_at: SystemTime,
    pub peer: SocketAddr,
    /// Header fields in order, values decoded (RFC 2047) and unfolded.
    pub headers: Vec<(String, String)>,
    /// Arrival number at this sink, from 0; see [`Sink::since`].
    pub seq: u64,
}

impl Received {
    fn new(mail_from: String, rcpt_to: Vec<String>, data: Vec<u8>, peer: SocketAddr) -> Self {
        let headers = match mailparse::parse_headers(&data) {
            Ok((hs, _)) => hs.iter().map(|h| (h.get_key(), h.get_value())).collect(),
            Err(_) => Vec::new(),
        };
        Received { mail_from, rcpt_to, data, received_at: SystemTime::now(), peer, headers, seq: 0 }
    }
    /// A message read from somewhere other than the sink (an IMAP mailbox):
    /// parsed the same way, with the time it arrived there; no peer.
    pub fn from_message(mail_from: String, rcpt_to: Vec<String>, data: Vec<u8>, received_at: SystemTime) -> Self {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        Received { received_at, ..Received::new(mail_from, rcpt_to, data, unspecified) }
    }
    /// A received message made by hand, for unit tests of code that reads them.
    #[cfg(test)]
    pub(crate) fn for_test(mail_from: &str, rcpt_to: &[&str], data: &[u8]) -> Self {
        let rcpt_to = rcpt_to.iter().map(|r| r.to_string()).collect();
        Received::new(mail_from.to_string(), rcpt_to, data.to_vec(), "127.0.0.1:25".parse().expect("address"))
    }
    /// The first value of a header field, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// The Message-ID with its angle brackets, trimmed.
    pub fn message_id(&self) -> Option<&str> {
        self.header("Message-ID").map(str::trim)
    }
    /// The probe header's value (`run=...; probe=...`), when the message is a probe.
    pub fn probe(&self) -> Option<&str> {
        self.header(PROBE_HEADER).map(str::trim)
    }
    /// Bytes this message counts against [`Limits::max_bytes`]: its text,
    /// envelope and decoded header fields, and a fixed overhead.
    pub fn footprint(&self) -> usize {
        self.data.len()
            + self.mail_from.len()
            + self.rcpt_to.iter().map(|r| r.len() + 48).sum::<usize>()
            + self.headers.iter().map(|(k, v)| k.len() + v.len() + 96).sum::<usize>()
            + OVERHEAD
    }
}

/// How a sink is set up.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Only recipients in this domain are accepted; `None` accepts any.
    pub probe_domain: Option<String>,
    pub limits: Limits,
}

struct Shared {
    store: Mutex<Store>,
    /// The next arrival's sequence number, i.e. how many have arrived.
    arrivals: watch::Sender<u64>,
    policy: Arc<Policy>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().expect("sink store poisoned")
    }

    fn keep(&self, mut r: Received) {
        let next = {
            let mut store = self.store();
            r.seq = store.next_seq();
            store.push(Arc::new(r));
            store.next_seq()
        };
        self.arrivals.send_replace(next);
    }
}

/// A running sink; dropping it stops the listener.
pub struct Sink {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept_task: JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// A wait that reached its deadline.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("nothing matching arrived at the sink within {0:?}")]
pub struct WaitTimedOut(pub Duration);

impl Sink {
    /// Listens on `addr` (port 0 picks a free port), accepting every
    /// recipient, with the default [`Limits`].
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Sink> {
        Self::bind_with(addr, SinkOptions::default()).await
    }

    /// Listens on `addr` with `options` (probe domain, limits).
    pub async fn bind_with(addr: SocketAddr, options: SinkOptions) -> std::io::Result<Sink> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (arrivals, _) = watch::channel(0);
        let policy = Policy { probe_domain: options.probe_domain, max_message: MAX_MESSAGE.min(options.limits.max_bytes), faults: FaultPolicy::default() };
        let shared = Arc::new(Shared { store: Mutex::new(Store::new(options.limits)), arrivals, policy: Arc::new(policy) });
        let accept_shared = shared.clone();
        let accept_task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(c) => c,
                    // Out of file descriptors and the like: wait, not spin.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let shared = accept_shared.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(SESSION, serve(stream, peer, shared)).await;
                });
            }
        });
        Ok(Sink { shared, addr, accept_task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The sink's fault modes: RCPT TO answered with a 4xx or 5xx for chosen recipients.
    pub fn faults(&self) -> &FaultPolicy {
        &self.shared.policy.faults
    }

    /// Everything kept, in arrival order (a copy of the list: O(kept)).
    pub fn messages(&self) -> Vec<Arc<Received>> {
        self.shared.store().all()
    }

    /// The kept copies with this Message-ID (angle brackets included, as in
    /// the header), oldest first. An index lookup.
    pub fn copies_of(&self, message_id: &str) -> Vec<Arc<Received>> {
        self.shared.store().by_message_id(message_id)
    }

    /// The kept messages whose probe header (`X-Mailflow-Probe`) has this
    /// value, oldest first; white space runs compare as one space. An index
    /// lookup; it finds a probe whose Message-ID was rewritten on the way.
    pub fn by_probe(&self, probe: &str) -> Vec<Arc<Received>> {
        self.shared.store().by_probe(probe)
    }

    /// Kept messages that arrived as number `seq` or later, oldest first.
    /// With the value from [`Sink::arrivals`], a follower sees each arrival
    /// once (unless it was dropped before the follower looked).
    pub fn since(&self, seq: u64) -> Vec<Arc<Received>> {
        self.shared.store().since(seq).cloned().collect()
    }

    /// A handle that changes on every arrival; its value is the number of
    /// messages received so far (the next arrival's `seq`). For waits that
    /// live outside the sink: `changed().await`, then look up by index.
    pub fn arrivals(&self) -> watch::Receiver<u64> {
        self.shared.arrivals.subscribe()
    }

    /// How many messages were dropped (oldest first) to stay within the limits.
    pub fn dropped(&self) -> u64 {
        self.shared.store().counts().dropped
    }

    /// Received, kept and dropped so far.
    pub fn counts(&self) -> Counts {
        self.shared.store().counts()
    }

    /// Waits until `check` finds what it wants among the received messages, or
    /// the deadline passes. `check` runs now and again after each arrival,
    /// on every kept message; prefer [`Sink::wait_until`] with an indexed
    /// lookup when waiting for one probe.
    pub async fn wait_for<T>(
        &self,
        within: Duration,
        mut check: impl FnMut(&[Arc<Received>]) -> Option<T>,
    ) -> Result<T, WaitTimedOut> {
        // The messages seen so far, brought up to date on each wake-up with
        // the new arrivals only (and without those dropped meanwhile).
        let mut seen: Vec<Arc<Received>> = Vec::new();
        let mut next = 0;
        self.wait_until(within, |_| {
            {
                let store = self.shared.store();
                let gone = seen.partition_point(|m| m.seq < store.first_seq());
                seen.drain(..gone);
                seen.extend(store.since(next).cloned());
                next = store.next_seq();
            }
            check(&seen)
        })
        .await
    }

    /// Waits until `check` returns something, or the deadline passes.
    /// `check` runs now and after each arrival, with the sink to look in
    /// (e.g. [`Sink::copies_of`]): no scan of every message per arrival.
    pub async fn wait_until<T>(&self, within: Duration, mut check: impl FnMut(&Sink) -> Option<T>) -> Result<T, WaitTimedOut> {
        let deadline = tokio::time::Instant::now() + within;
        let mut rx = self.arrivals();
        loop {
            rx.borrow_and_update();
            if let Some(found) = check(self) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                // Sender gone cannot happen while self lives; treat like a timeout.
                Ok(Err(_)) | Err(_) => return Err(WaitTimedOut(within)),
            }
        }
    }

    #[cfg(test)]
    fn keep(&self, r: Received) {
        self.shared.keep(r)
    }
}

/// Reads at least this much at a time.
const READ_CHUNK: usize = 16 * 1024;

async fn serve(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> std::io::Result<()> {
    // Replies are single small writes, each answering what was read: no
    // reason to let Nagle hold one back.
    stream.set_nodelay(true)?;
    stream.write_all(session::GREETING).await?;
    let mut session = Session::new(shared.policy.clone());
    let mut input: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(512);
    let mut deliver = |d: Delivery| shared.keep(Received::new(d.mail_from, d.rcpt_to, d.data, peer));
    loop {
        if input.capacity() - input.len() < READ_CHUNK / 4 {
            input.reserve(READ_CHUNK);
        }
        let n = tokio::time::timeout(IDLE, stream.read_buf(&mut input)).await.map_err(|_| std::io::ErrorKind::TimedOut)??;
        if n == 0 {
            return Ok(());
        }
        let (used, flow) = session.feed(&input, &mut out, &mut deliver);
        input.drain(..used);
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if flow == Flow::Close {
            return Ok(());
        }
    }
}

impl crate::target::Mailbox for Sink {
    /// Through the sink's index by Message-ID.
    fn copies<'a>(&'a self, message_id: &'a str) -> crate::BoxFuture<'a, Result<Vec<Arc<Received>>, crate::target::TargetError>> {
        let found = self.copies_of(message_id);
        Box::pin(async move { Ok(found) })
    }

    /// Through the sink's index by probe header (white space folded).
    fn copies_by_probe_header<'a>(
        &'a self,
        header_value: &'a str,
    ) -> crate::BoxFuture<'a, Result<Vec<Arc<Received>>, crate::target::TargetError>> {
        let found = self.by_probe(header_value);
        Box::pin(async move { Ok(found) })
    }

    fn received_by<'a>(
        &'a self,
        address: &'a str,
        since: SystemTime,
    ) -> crate::BoxFuture<'a, Result<Vec<Arc<Received>>, crate::target::TargetError>> {
        let found = self
            .messages()
            .into_iter()
            .filter(|m| m.received_at >= since && m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(address)))
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn arrivals(&self) -> Option<watch::Receiver<u64>> {
        Some(Sink::arrivals(self))
    }
}

#[cfg(test)]
mod tests {
    //! The probe sender against the sink, in process on loopback.
    use super::*;
    use crate::smtp::{self, Envelope, Timeouts};

    #[tokio::test]
    async fn keeps_envelope_and_body_and_wakes_waiters() {
        let sink = Sink::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = sink.addr();
        let waiter = sink.wait_for(Duration::from_secs(5), |ms| {
            ms.iter().find(|m| m.message_id() == Some("<p1@probe.test>")).cloned()
        });
        let rcpts = vec!["alice@probe.test".to_string(), "bob@probe.test".to_string()];
        let env = Envelope { helo: "probe.test", mail_from: "list-bounces@lists.test", rcpt_to: &rcpts };
        let msg = b"Message-ID: <p1@probe.test>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\n.leading dot\r\nend\r\n";
        let (t, got) = tokio::join!(smtp::send(addr, &env, msg, Timeouts::default()), waiter);
        let t = t.unwrap();
        assert!(t.accepted());
        let got = got.unwrap();
        assert_eq!(got.rcpt_to, rcpts);
        assert_eq!(got.mail_from, "list-bounces@lists.test");
        assert_eq!(got.header("subject"), Some("café"));
        assert!(got.data.ends_with(b"\r\n.leading dot\r\nend\r\n"), "{:?}", String::from_utf8_lossy(&got.data));
        assert_eq!(sink.messages().len(), 1);
        assert_eq!(sink.copies_of("<p1@probe.test>").len(), 1);
    }

    #[tokio::test]
    async fn wait_times_out() {
        let sink = Sink::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let r = sink.wait_for(Duration::from_millis(100), |ms| ms.first().cloned()).await;
        assert!(r.is_err());
        sink.keep(Received::new("a@b".into(), vec!["c@d".into()], b"X: y\r\n\r\n".to_vec(), sink.addr()));
        assert!(sink.wait_for(Duration::from_millis(100), |ms| ms.first().cloned()).await.is_ok());
    }

    fn probe_text(id: &str, probe: &str) -> Vec<u8> {
        format!("Message-ID: {id}\r\n{PROBE_HEADER}: {probe}\r\nSubject: s\r\n\r\nbody\r\n").into_bytes()
    }

    #[tokio::test]
    async fn refuses_other_domains_and_indexes_by_probe_header() {
        let options = SinkOptions { probe_domain: Some("probe.test".into()), limits: Limits::default() };
        let sink = Sink::bind_with("127.0.0.1:0".parse().unwrap(), options).await.unwrap();
        let outside = vec!["someone@elsewhere.test".to_string()];
        let env = Envelope { helo: "x", mail_from: "a@lists.test", rcpt_to: &outside };
        let t = smtp::send(sink.addr(), &env, &probe_text("<o@x>", "run=r; probe=p0"), Timeouts::default()).await.unwrap();
        assert!(!t.accepted());
        assert_eq!(t.at(smtp::Stage::Rcpt).map(|e| e.reply.code).collect::<Vec<_>>(), [550]);

        let inside = vec!["alice@probe.test".to_string()];
        let env = Envelope { helo: "x", mail_from: "a@lists.test", rcpt_to: &inside };
        let mut rx = sink.arrivals();
        // Mailman 3.3.9 and later may rewrite the Message-ID: the probe header still finds it.
        let t = smtp::send(sink.addr(), &env, &probe_text("<rewritten@lists.test>", "run=r; probe=p1"), Timeouts::default()).await.unwrap();
        assert!(t.accepted());
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), 1);
        assert_eq!(sink.by_probe("run=r; probe=p1").len(), 1);
        assert_eq!(sink.copies_of("<rewritten@lists.test>").len(), 1);
        assert!(sink.by_probe("run=r; probe=p0").is_empty());
        let found = sink.wait_until(Duration::from_secs(1), |s| s.by_probe("run=r;   probe=p1").pop()).await.unwrap();
        assert_eq!(found.seq, 0);
        assert_eq!(sink.since(0).len(), 1);
    }

    #[tokio::test]
    async fn keeps_the_newest_within_the_limits_and_counts_the_dropped() {
        let options = SinkOptions { probe_domain: None, limits: Limits { max_messages: 3, max_bytes: usize::MAX } };
        let sink = Sink::bind_with("127.0.0.1:0".parse().unwrap(), options).await.unwrap();
        // A waiter that started early still sees only what is kept.
        let waiter = sink.wait_for(Duration::from_secs(5), |ms| (ms.last().map(|m| m.seq) == Some(4)).then(|| ms.to_vec()));
        let feed = async {
            for i in 0..5 {
                sink.keep(Received::new("a@b".into(), vec!["c@d".into()], probe_text(&format!("<{i}@p>"), "x"), sink.addr()));
                tokio::task::yield_now().await;
            }
        };
        let (got, ()) = tokio::join!(waiter, feed);
        let got = got.unwrap();
        assert_eq!(got.iter().map(|m| m.seq).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(sink.dropped(), 2);
        assert_eq!(sink.counts(), Counts { received: 5, kept: 3, kept_bytes: sink.counts().kept_bytes, dropped: 2 });
        assert!(sink.copies_of("<0@p>").is_empty());
        assert_eq!(sink.by_probe("x").len(), 3);
    }
}
