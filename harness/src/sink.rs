//! The SMTP sink: where the list delivers to its subscribers.
//!
//! Exim's probe-domain router hands every message for the probe domain to this
//! server, so delivery is observed for real, envelope and all. The sink accepts
//! everything, keeps each message with its envelope and arrival time, and wakes
//! waiters on every arrival (no polling). It speaks plain ESMTP without
//! PIPELINING or STARTTLS: exim then sends one command at a time, which keeps
//! the server a simple line loop, and nothing secret crosses this link.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use smtp_proto::request::receiver::DataReceiver;
use smtp_proto::Request;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Largest message the sink keeps; larger ones are refused with 552.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// A client silent this long is dropped (exim's own timeouts are shorter).
const IDLE: Duration = Duration::from_secs(300);

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
}

impl Received {
    fn new(mail_from: String, rcpt_to: Vec<String>, data: Vec<u8>, peer: SocketAddr) -> Self {
        let headers = match mailparse::parse_headers(&data) {
            Ok((hs, _)) => hs.iter().map(|h| (h.get_key(), h.get_value())).collect(),
            Err(_) => Vec::new(),
        };
        Received { mail_from, rcpt_to, data, received_at: SystemTime::now(), peer, headers }
    }
    /// A message observed somewhere other than the sink (an IMAP mailbox):
    /// envelope as far as the mailbox knows it, the raw message, and when it
    /// arrived there. Headers are parsed as the sink parses them. `peer` is
    /// unspecified (`0.0.0.0:0`): a mailbox does not say who delivered.
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
}

struct Store {
    messages: Mutex<Vec<Arc<Received>>>,
    arrivals: watch::Sender<usize>,
}

/// A running sink; dropping it stops the listener.
pub struct Sink {
    store: Arc<Store>,
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
    /// Listens on `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Sink> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (arrivals, _) = watch::channel(0);
        let store = Arc::new(Store { messages: Mutex::new(Vec::new()), arrivals });
        let accept_store = store.clone();
        let accept_task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else { continue };
                let store = accept_store.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(3600), serve(stream, peer, store)).await;
                });
            }
        });
        Ok(Sink { store, addr, accept_task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything received so far, in arrival order.
    pub fn messages(&self) -> Vec<Arc<Received>> {
        self.store.messages.lock().expect("sink store poisoned").clone()
    }

    /// A channel that changes on every arrival: what [`crate::check::within`]
    /// waits on instead of polling.
    pub fn arrivals(&self) -> watch::Receiver<usize> {
        self.store.arrivals.subscribe()
    }

    /// Waits until `check` finds what it wants among the received messages, or
    /// the deadline passes. `check` runs now and again after each arrival.
    pub async fn wait_for<T>(
        &self,
        within: Duration,
        mut check: impl FnMut(&[Arc<Received>]) -> Option<T>,
    ) -> Result<T, WaitTimedOut> {
        let deadline = tokio::time::Instant::now() + within;
        let mut rx = self.store.arrivals.subscribe();
        loop {
            rx.borrow_and_update();
            if let Some(found) = check(&self.messages()) {
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
        keep(&self.store, r)
    }
}

fn keep(store: &Store, r: Received) {
    let n = {
        let mut m = store.messages.lock().expect("sink store poisoned");
        m.push(Arc::new(r));
        m.len()
    };
    store.arrivals.send_replace(n);
}

async fn serve(stream: TcpStream, peer: SocketAddr, store: Arc<Store>) -> std::io::Result<()> {
    let mut io = BufReader::new(stream);
    io.get_mut().write_all(b"220 mailflow-sink ESMTP ready\r\n").await?;
    let mut from: Option<String> = None;
    let mut rcpts: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(IDLE, io.read_until(b'\n', &mut line)).await.map_err(|_| std::io::ErrorKind::TimedOut)??;
        if n == 0 {
            return Ok(());
        }
        let reply: &[u8] = match Request::parse(&mut line.iter()) {
            Ok(Request::Ehlo { host: _ }) => {
                b"250-mailflow-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 67108864\r\n"
            }
            Ok(Request::Helo { host: _ }) | Ok(Request::Lhlo { host: _ }) => b"250 mailflow-sink\r\n",
            Ok(Request::Mail { from: f }) => {
                from = Some(f.address.into_owned());
                rcpts.clear();
                b"250 2.1.0 sender ok\r\n"
            }
            Ok(Request::Rcpt { to }) if from.is_some() => {
                rcpts.push(to.address.into_owned());
                b"250 2.1.5 recipient ok\r\n"
            }
            Ok(Request::Rcpt { .. }) => b"503 5.5.1 MAIL first\r\n",
            Ok(Request::Data) if rcpts.is_empty() => b"503 5.5.1 RCPT first\r\n",
            Ok(Request::Data) => {
                io.get_mut().write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                match read_data(&mut io).await? {
                    Some(data) => {
                        let r = Received::new(from.take().unwrap_or_default(), std::mem::take(&mut rcpts), data, peer);
                        keep(&store, r);
                        b"250 2.0.0 kept by mailflow-sink\r\n"
                    }
                    None => {
                        from = None;
                        rcpts.clear();
                        b"552 5.3.4 message too big for the sink\r\n"
                    }
                }
            }
            Ok(Request::Rset) => {
                from = None;
                rcpts.clear();
                b"250 2.0.0 reset\r\n"
            }
            Ok(Request::Noop { .. }) => b"250 2.0.0 ok\r\n",
            Ok(Request::Quit) => {
                io.get_mut().write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            Ok(_) => b"502 5.5.1 not implemented\r\n",
            Err(_) => b"500 5.5.2 syntax error\r\n",
        };
        io.get_mut().write_all(reply).await?;
    }
}

/// Reads a DATA body up to the final dot; `None` when it exceeded MAX_MESSAGE
/// (the rest is still consumed so the session stays in step).
async fn read_data(io: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut receiver = DataReceiver::new();
    let mut data = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut too_big = false;
    // Bytes already buffered by the line reader come first.
    let buffered = io.buffer().to_vec();
    io.consume(buffered.len());
    let mut pending = buffered;
    loop {
        let mut iter = pending.iter();
        let done = receiver.ingest(&mut iter, &mut data);
        if data.len() > MAX_MESSAGE {
            too_big = true;
            data.clear();
        }
        if done {
            // Anything after the final dot is the next command; none is
            // expected without PIPELINING, so it is dropped.
            return Ok((!too_big).then_some(data));
        }
        let n = tokio::time::timeout(IDLE, io.read(&mut chunk)).await.map_err(|_| std::io::ErrorKind::TimedOut)??;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        pending = chunk[..n].to_vec();
    }
}

impl crate::target::Mailbox for Sink {
    fn copies<'a>(&'a self, message_id: &'a str) -> crate::BoxFuture<'a, Result<Vec<Arc<Received>>, crate::target::TargetError>> {
        let found = self.messages().into_iter().filter(|m| m.message_id() == Some(message_id)).collect();
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

    fn arrivals(&self) -> Option<watch::Receiver<usize>> {
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
    }

    #[tokio::test]
    async fn wait_times_out() {
        let sink = Sink::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let r = sink.wait_for(Duration::from_millis(100), |ms| ms.first().cloned()).await;
        assert!(r.is_err());
        sink.keep(Received::new("a@b".into(), vec!["c@d".into()], b"X: y\r\n\r\n".to_vec(), sink.addr()));
        assert!(sink.wait_for(Duration::from_millis(100), |ms| ms.first().cloned()).await.is_ok());
    }
}
