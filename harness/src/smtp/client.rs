//! The probe sender: one SMTP transaction, every reply kept.
//!
//! Written directly on tokio rather than through mail-send or lettre: a probe
//! must record the reply to *each* command (including the greeting and the
//! 354), keep going past a refused recipient, and stop cleanly at the first
//! refusal of MAIL or DATA, which the general-purpose clients hide.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::reply::{MalformedReply, Reply, ReplyParser};
use super::security::{offers, offers_auth_plain, plain_token, Security, StartTls};

/// Where in the transaction a reply came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Connect,
    Ehlo,
    /// STARTTLS and, after the upgrade, the second EHLO.
    StartTls,
    Auth,
    Mail,
    Rcpt,
    Data,
    /// The reply to the final dot after the message body.
    Message,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::Ehlo => "ehlo",
            Stage::StartTls => "starttls",
            Stage::Auth => "auth",
            Stage::Mail => "mail",
            Stage::Rcpt => "rcpt",
            Stage::Data => "data",
            Stage::Message => "message",
        })
    }
}

/// One command and the reply it got.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub stage: Stage,
    /// What was sent (`None` for the greeting); the message body is not repeated.
    pub command: Option<String>,
    pub reply: Reply,
    /// Time from connecting to this reply.
    pub at: Duration,
}

/// Everything the server said during one send.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    pub exchanges: Vec<Exchange>,
}

impl Transcript {
    /// The reply that decided the transaction: the first refusal, or else the last reply.
    pub fn final_reply(&self) -> Option<&Exchange> {
        // A refused recipient ends the transaction only when every recipient was refused.
        let decisive = |e: &&Exchange| !e.reply.is_positive() && (e.stage != Stage::Rcpt || self.all_rcpt_refused());
        self.exchanges.iter().find(decisive).or(self.exchanges.last())
    }
    /// Replies at a given stage (several for RCPT).
    pub fn at(&self, stage: Stage) -> impl Iterator<Item = &Exchange> {
        self.exchanges.iter().filter(move |e| e.stage == stage)
    }
    /// Whether the message was accepted at the end of DATA.
    pub fn accepted(&self) -> bool {
        self.at(Stage::Message).any(|e| e.reply.is_positive())
    }
    /// Exim's queue id, from the reply to the end of data.
    pub fn queue_id(&self) -> Option<String> {
        self.at(Stage::Message).find_map(|e| e.reply.exim_queue_id())
    }
    fn all_rcpt_refused(&self) -> bool {
        let mut rcpts = self.at(Stage::Rcpt).peekable();
        rcpts.peek().is_some() && rcpts.all(|e| !e.reply.is_positive())
    }
}

/// What to send: envelope and the finished message bytes (CRLF line ends).
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub helo: &'a str,
    pub mail_from: &'a str,
    pub rcpt_to: &'a [String],
}

/// Per-reply and connect deadlines; every wait on the network has one.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub reply: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        // RFC 5321 allows minutes; a probe wants an answer sooner, and exim
        // answers within a second when healthy.
        Timeouts { connect: Duration::from_secs(10), reply: Duration::from_secs(60) }
    }
}

/// A send that did not complete: the transcript up to the failure is kept.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct SendError {
    pub kind: SendErrorKind,
    pub transcript: Transcript,
}

#[derive(Debug, thiserror::Error)]
pub enum SendErrorKind {
    #[error("could not connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: std::io::Error },
    #[error("no connection to {addr} within {after:?}")]
    ConnectTimeout { addr: SocketAddr, after: Duration },
    #[error("no reply at {stage} within {after:?}")]
    ReplyTimeout { stage: Stage, after: Duration },
    #[error("connection closed by the server at {stage}")]
    Closed { stage: Stage },
    #[error("i/o error at {stage}: {source}")]
    Io { stage: Stage, source: std::io::Error },
    #[error("at {stage}: {source}")]
    Malformed { stage: Stage, source: MalformedReply },
    /// STARTTLS is required and the server does not offer it.
    #[error("STARTTLS is required but the server does not offer it")]
    StartTlsNotOffered,
    /// AUTH is configured and the server offers no AUTH PLAIN.
    #[error("AUTH is configured but the server offers no AUTH PLAIN")]
    AuthNotOffered,
    /// AUTH is configured, STARTTLS did not happen, and a password is never sent in the clear.
    #[error("AUTH is configured but the conversation is not encrypted (the server did not take STARTTLS); no password was sent")]
    AuthWithoutTls,
    /// The TLS handshake failed (certificate, name, protocol).
    #[error("TLS after STARTTLS: {0}")]
    Tls(String),
}

impl SendErrorKind {
    /// No connection was made (refused, unreachable, or none within the
    /// deadline): nothing reached a server, so another address may be tried.
    pub fn is_no_connection(&self) -> bool {
        matches!(self, SendErrorKind::Connect { .. } | SendErrorKind::ConnectTimeout { .. })
    }
}

/// A TCP connection within the connect deadline.
async fn connect(addr: SocketAddr, timeouts: Timeouts) -> Result<TcpStream, SendError> {
    let failed = |kind| SendError { kind, transcript: Transcript::default() };
    match tokio::time::timeout(timeouts.connect, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(source)) => Err(failed(SendErrorKind::Connect { addr, source })),
        Err(_) => Err(failed(SendErrorKind::ConnectTimeout { addr, after: timeouts.connect })),
    }
}

/// Connects to `addr` and sends one message.
pub async fn send(
    addr: SocketAddr,
    envelope: &Envelope<'_>,
    message: &[u8],
    timeouts: Timeouts,
) -> Result<Transcript, SendError> {
    let stream = connect(addr, timeouts).await?;
    send_on(stream, envelope, message, timeouts).await
}

/// [`send`] with STARTTLS and AUTH as `security` says.
pub async fn send_secured(
    addr: SocketAddr,
    envelope: &Envelope<'_>,
    message: &[u8],
    timeouts: Timeouts,
    security: &Security,
) -> Result<Transcript, SendError> {
    let stream = connect(addr, timeouts).await?;
    send_on_secured(stream, envelope, message, timeouts, security).await
}

/// Connects to `addr` and reads its greeting, then says QUIT: the
/// transcript holds the greeting (the 220 banner, or a refusal).
pub async fn greeting(addr: SocketAddr, timeouts: Timeouts) -> Result<Transcript, SendError> {
    let stream = connect(addr, timeouts).await?;
    greeting_on(stream, timeouts).await
}

/// [`greeting`] on any stream.
pub async fn greeting_on<S: AsyncRead + AsyncWrite + Unpin>(stream: S, timeouts: Timeouts) -> Result<Transcript, SendError> {
    let mut session = Session { io: BufReader::new(stream), in_tls: false, started: Instant::now(), timeouts, transcript: Transcript::default() };
    let result = async {
        session.exchange(Stage::Connect, None).await?;
        session.quit().await
    }
    .await;
    match result {
        Ok(()) => Ok(session.transcript),
        Err(kind) => Err(SendError { kind, transcript: session.transcript }),
    }
}

/// Connects to `addr` and asks whether it would take mail from `mail_from`
/// to each of `rcpt_to`: greeting, EHLO, MAIL FROM, RCPT TO, then RSET and
/// QUIT. Never DATA: nothing is delivered even when a server accepts. The
/// transcript holds every reply (a refusal stops at its stage).
pub async fn try_rcpt(addr: SocketAddr, envelope: &Envelope<'_>, timeouts: Timeouts) -> Result<Transcript, SendError> {
    let stream = connect(addr, timeouts).await?;
    try_rcpt_on(stream, envelope, timeouts).await
}

/// [`try_rcpt`] on any stream.
pub async fn try_rcpt_on<S: AsyncRead + AsyncWrite + Unpin>(stream: S, envelope: &Envelope<'_>, timeouts: Timeouts) -> Result<Transcript, SendError> {
    let mut session = Session { io: BufReader::new(stream), in_tls: false, started: Instant::now(), timeouts, transcript: Transcript::default() };
    let result = async {
        if session.hello(envelope).await?.is_none() {
            return Ok(());
        }
        if session.exchange(Stage::Mail, Some(format!("MAIL FROM:<{}>", envelope.mail_from))).await?.is_positive() {
            for rcpt in envelope.rcpt_to {
                session.exchange(Stage::Rcpt, Some(format!("RCPT TO:<{rcpt}>"))).await?;
            }
        }
        // Ends the transaction; whatever RSET answers, QUIT follows.
        let _ = session.write(b"RSET\r\n", Stage::Rcpt).await;
        let _ = session.read_reply(Stage::Rcpt).await;
        session.quit().await
    }
    .await;
    match result {
        Ok(()) => Ok(session.transcript),
        Err(kind) => Err(SendError { kind, transcript: session.transcript }),
    }
}

/// The transaction on any stream, so that it can be driven in memory too.
pub async fn send_on<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    envelope: &Envelope<'_>,
    message: &[u8],
    timeouts: Timeouts,
) -> Result<Transcript, SendError> {
    let mut session = Session { io: BufReader::new(stream), in_tls: false, started: Instant::now(), timeouts, transcript: Transcript::default() };
    match session.run(envelope, message).await {
        Ok(()) => Ok(session.transcript),
        Err(kind) => Err(SendError { kind, transcript: session.transcript }),
    }
}

/// [`send_on`] with STARTTLS and AUTH: greeting and EHLO in the clear,
/// STARTTLS when asked for (and offered), then EHLO again, AUTH, and the
/// transaction inside TLS.
pub async fn send_on_secured<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: S,
    envelope: &Envelope<'_>,
    message: &[u8],
    timeouts: Timeouts,
    security: &Security,
) -> Result<Transcript, SendError> {
    if security.starttls == StartTls::Off && security.auth.is_none() {
        return send_on(stream, envelope, message, timeouts).await;
    }
    let mut plain = Session { io: BufReader::new(stream), in_tls: false, started: Instant::now(), timeouts, transcript: Transcript::default() };
    let fail = |kind, transcript| Err(SendError { kind, transcript });
    let ehlo = match plain.hello(envelope).await {
        Ok(Some(ehlo)) => ehlo,
        Ok(None) => return Ok(plain.transcript),
        Err(kind) => return fail(kind, plain.transcript),
    };
    let upgrade = match security.starttls {
        StartTls::Off => false,
        StartTls::Optional => offers(&ehlo.text, "STARTTLS"),
        StartTls::Required if offers(&ehlo.text, "STARTTLS") => true,
        StartTls::Required => {
            let _ = plain.quit().await;
            return fail(SendErrorKind::StartTlsNotOffered, plain.transcript);
        }
    };
    if !upgrade {
        return match plain.rest(envelope, message, security, &ehlo.text).await {
            Ok(()) => Ok(plain.transcript),
            Err(kind) => fail(kind, plain.transcript),
        };
    }
    match plain.exchange(Stage::StartTls, Some("STARTTLS".into())).await {
        Ok(r) if r.code == 220 => {}
        Ok(_) if security.starttls == StartTls::Optional => {
            // Refused: carry on in the clear, as an opportunistic sender would.
            return match plain.rest(envelope, message, security, &ehlo.text).await {
                Ok(()) => Ok(plain.transcript),
                Err(kind) => fail(kind, plain.transcript),
            };
        }
        Ok(_) => {
            let _ = plain.quit().await;
            return fail(SendErrorKind::StartTlsNotOffered, plain.transcript);
        }
        Err(kind) => return fail(kind, plain.transcript),
    }
    let Some(config) = security.tls.clone() else {
        return fail(SendErrorKind::Tls("no TLS settings were given".into()), plain.transcript);
    };
    let Session { io, started, transcript, .. } = plain;
    let name = match rustls::pki_types::ServerName::try_from(security.server_name.clone()) {
        Ok(n) => n,
        Err(e) => return fail(SendErrorKind::Tls(format!("server name {:?}: {e}", security.server_name)), transcript),
    };
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls = match tokio::time::timeout(timeouts.reply, connector.connect(name, io.into_inner())).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return fail(SendErrorKind::Tls(e.to_string()), transcript),
        Err(_) => return fail(SendErrorKind::ReplyTimeout { stage: Stage::StartTls, after: timeouts.reply }, transcript),
    };
    let mut secured = Session { io: BufReader::new(tls), in_tls: true, started, timeouts, transcript };
    let result = async {
        let ehlo = secured.exchange(Stage::StartTls, Some(format!("EHLO {}", envelope.helo))).await?;
        if !ehlo.is_positive() {
            return secured.quit().await;
        }
        secured.rest(envelope, message, security, &ehlo.text).await
    }
    .await;
    match result {
        Ok(()) => Ok(secured.transcript),
        Err(kind) => fail(kind, secured.transcript),
    }
}

struct Session<S> {
    io: BufReader<S>,
    /// The stream is TLS (after STARTTLS).
    in_tls: bool,
    started: Instant,
    timeouts: Timeouts,
    transcript: Transcript,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    /// Greeting and EHLO; the EHLO reply, or `None` when the server
    /// refused either (the session has said QUIT).
    async fn hello(&mut self, env: &Envelope<'_>) -> Result<Option<Reply>, SendErrorKind> {
        if !self.exchange(Stage::Connect, None).await?.is_positive() {
            self.quit().await?;
            return Ok(None);
        }
        let ehlo = self.exchange(Stage::Ehlo, Some(format!("EHLO {}", env.helo))).await?;
        if !ehlo.is_positive() {
            self.quit().await?;
            return Ok(None);
        }
        Ok(Some(ehlo))
    }

    /// AUTH when configured (only inside TLS unless STARTTLS is off by
    /// choice), then the transaction.
    async fn rest(&mut self, env: &Envelope<'_>, message: &[u8], security: &Security, ehlo_text: &str) -> Result<(), SendErrorKind> {
        if let Some(credentials) = &security.auth {
            if security.starttls != StartTls::Off && !self.in_tls {
                // Optional STARTTLS that did not happen: never send a password in the clear.
                self.quit().await?;
                return Err(SendErrorKind::AuthWithoutTls);
            }
            if !offers_auth_plain(ehlo_text) {
                self.quit().await?;
                return Err(SendErrorKind::AuthNotOffered);
            }
            // The transcript shows the command without the credentials.
            let line = format!("AUTH PLAIN {}\r\n", plain_token(credentials));
            self.write(line.as_bytes(), Stage::Auth).await?;
            let reply = self.read_reply(Stage::Auth).await?;
            let positive = reply.is_positive();
            self.transcript.exchanges.push(Exchange {
                stage: Stage::Auth,
                command: Some("AUTH PLAIN ***".into()),
                reply,
                at: self.started.elapsed(),
            });
            if !positive {
                return self.quit().await;
            }
        }
        self.transaction(env, message).await
    }

    async fn run(&mut self, env: &Envelope<'_>, message: &[u8]) -> Result<(), SendErrorKind> {
        if self.hello(env).await?.is_none() {
            return Ok(());
        }
        self.transaction(env, message).await
    }

    /// MAIL, RCPT, DATA, the message, QUIT.
    async fn transaction(&mut self, env: &Envelope<'_>, message: &[u8]) -> Result<(), SendErrorKind> {
        if !self.exchange(Stage::Mail, Some(format!("MAIL FROM:<{}>", env.mail_from))).await?.is_positive() {
            return self.quit().await;
        }
        let mut accepted = 0;
        for rcpt in env.rcpt_to {
            if self.exchange(Stage::Rcpt, Some(format!("RCPT TO:<{rcpt}>"))).await?.is_positive() {
                accepted += 1;
            }
        }
        if accepted == 0 {
            return self.quit().await;
        }
        if !self.exchange(Stage::Data, Some("DATA".into())).await?.is_positive() {
            return self.quit().await;
        }
        let body = dot_stuff(message);
        self.write(&body, Stage::Message).await?;
        self.exchange(Stage::Message, None).await?;
        self.quit().await
    }

    async fn exchange(&mut self, stage: Stage, command: Option<String>) -> Result<Reply, SendErrorKind> {
        if let Some(cmd) = &command {
            self.write(format!("{cmd}\r\n").as_bytes(), stage).await?;
        }
        let reply = self.read_reply(stage).await?;
        self.transcript.exchanges.push(Exchange { stage, command, reply: reply.clone(), at: self.started.elapsed() });
        Ok(reply)
    }

    async fn write(&mut self, bytes: &[u8], stage: Stage) -> Result<(), SendErrorKind> {
        let fut = async {
            self.io.get_mut().write_all(bytes).await?;
            self.io.get_mut().flush().await
        };
        match tokio::time::timeout(self.timeouts.reply, fut).await {
            Ok(r) => r.map_err(|source| SendErrorKind::Io { stage, source }),
            Err(_) => Err(SendErrorKind::ReplyTimeout { stage, after: self.timeouts.reply }),
        }
    }

    async fn read_reply(&mut self, stage: Stage) -> Result<Reply, SendErrorKind> {
        let deadline = tokio::time::Instant::now() + self.timeouts.reply;
        let mut parser = ReplyParser::default();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout_at(deadline, self.io.read_line(&mut line))
                .await
                .map_err(|_| SendErrorKind::ReplyTimeout { stage, after: self.timeouts.reply })?
                .map_err(|source| SendErrorKind::Io { stage, source })?;
            if n == 0 {
                return Err(SendErrorKind::Closed { stage });
            }
            if let Some(reply) = parser.push_line(&line).map_err(|source| SendErrorKind::Malformed { stage, source })? {
                return Ok(reply);
            }
        }
    }

    /// Says goodbye without waiting long: the transaction's outcome is already known.
    async fn quit(&mut self) -> Result<(), SendErrorKind> {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = self.io.get_mut().write_all(b"QUIT\r\n").await;
            let mut line = String::new();
            let _ = self.io.read_line(&mut line).await;
        })
        .await;
        Ok(())
    }
}

/// Normalises line ends to CRLF, doubles leading dots and appends the final dot.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    for line in message.split_inclusive(|b| *b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff(b"a\n.b\r\n..c"), b"a\r\n..b\r\n...c\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
    }

    /// A scripted server in memory: replies are hand-made, not a mock of exim.
    async fn scripted(replies: &'static str, rcpts: &[String]) -> (Result<Transcript, SendError>, String) {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let env = Envelope { helo: "probe.test", mail_from: "a@probe.test", rcpt_to: rcpts };
        let srv = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            server.write_all(replies.as_bytes()).await.unwrap();
            let mut seen = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(3), server.read_to_end(&mut seen)).await;
            String::from_utf8_lossy(&seen).into_owned()
        });
        let t = Timeouts { connect: Duration::from_secs(1), reply: Duration::from_millis(500) };
        let res = send_on(client, &env, b"Subject: x\r\n\r\nbody\r\n", t).await;
        (res, srv.await.unwrap())
    }

    #[tokio::test]
    async fn stops_after_all_recipients_refused() {
        let rcpts = vec!["x@elsewhere.test".to_string()];
        let (res, sent) = scripted("220 hi\r\n250 ok\r\n250 ok\r\n550 relay not permitted\r\n221 bye\r\n", &rcpts).await;
        let t = res.unwrap();
        assert!(!sent.contains("DATA"), "{sent}");
        let fin = t.final_reply().unwrap();
        assert_eq!((fin.stage, fin.reply.code), (Stage::Rcpt, 550));
        assert!(!t.accepted());
    }

    #[tokio::test]
    async fn one_refused_recipient_does_not_stop_the_send() {
        let rcpts = vec!["x@elsewhere.test".to_string(), "list@lists.test".to_string()];
        let (res, sent) = scripted(
            "220 hi\r\n250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n354 go\r\n250 OK id=1abc-000001-AB\r\n221 bye\r\n",
            &rcpts,
        )
        .await;
        let t = res.unwrap();
        assert!(sent.contains("DATA\r\n"), "{sent}");
        assert!(t.accepted());
        assert_eq!(t.queue_id().as_deref(), Some("1abc-000001-AB"));
        assert_eq!(t.final_reply().unwrap().stage, Stage::Message);
    }

    #[tokio::test]
    async fn silence_is_a_timeout_not_a_hang() {
        let rcpts = vec!["a@b.test".to_string()];
        let (res, _) = scripted("220 hi\r\n", &rcpts).await;
        let err = res.unwrap_err();
        assert!(matches!(err.kind, SendErrorKind::ReplyTimeout { stage: Stage::Ehlo, .. }), "{err}");
        assert_eq!(err.transcript.exchanges.len(), 1);
    }

    #[tokio::test]
    async fn try_rcpt_never_sends_data_even_when_accepted() {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let rcpts = vec!["list@lists.test".to_string()];
        let env = Envelope { helo: "probe.test", mail_from: "a@probe.test", rcpt_to: &rcpts };
        let srv = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            server.write_all(b"220 old host ESMTP\r\n250 ok\r\n250 ok\r\n250 Accepted\r\n250 Reset OK\r\n221 bye\r\n").await.unwrap();
            let mut seen = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(3), server.read_to_end(&mut seen)).await;
            String::from_utf8_lossy(&seen).into_owned()
        });
        let t = Timeouts { connect: Duration::from_secs(1), reply: Duration::from_millis(500) };
        let transcript = try_rcpt_on(client, &env, t).await.unwrap();
        let sent = srv.await.unwrap();
        assert!(!sent.contains("DATA"), "{sent}");
        assert!(sent.contains("RCPT TO:<list@lists.test>\r\nRSET\r\nQUIT\r\n"), "{sent}");
        let rcpt: Vec<u16> = transcript.at(Stage::Rcpt).map(|e| e.reply.code).collect();
        assert_eq!(rcpt, vec![250]);
    }

    #[tokio::test]
    async fn greeting_keeps_the_banner() {
        let (client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            server.write_all(b"220 lists.example.test ESMTP Exim 4.96\r\n221 bye\r\n").await.unwrap();
            let mut sink = Vec::new();
            use tokio::io::AsyncReadExt;
            let _ = tokio::time::timeout(Duration::from_secs(3), server.read_to_end(&mut sink)).await;
        });
        let t = Timeouts { connect: Duration::from_secs(1), reply: Duration::from_millis(500) };
        let transcript = greeting_on(client, t).await.unwrap();
        let g = &transcript.exchanges[0].reply;
        assert_eq!((g.code, g.text.as_str()), (220, "lists.example.test ESMTP Exim 4.96"));
    }
}
