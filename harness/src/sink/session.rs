//! One SMTP session of the sink, as a state machine without I/O.
//!
//! [`Session::feed`] takes whatever bytes the client has sent so far,
//! consumes every complete command (and any DATA it can), appends the
//! replies to an output buffer and hands each finished message out. The
//! caller writes the replies once `feed` has used up the complete input,
//! which is all RFC 2920 asks of a PIPELINING server, so the sink offers it.
//! Nothing here allocates per line: command lines are parsed in place, DATA
//! collects in one buffer per session, and a message's text is copied once,
//! into an exactly sized buffer that is kept.

use smtp_proto::Request;

/// Longest command line; a longer one is answered with 500 and skipped.
pub const MAX_COMMAND_LINE: usize = 4096;
/// A session keeps a DATA buffer up to this size for its next message.
const KEEP_BUFFER: usize = 1024 * 1024;

/// What a session accepts.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Recipients must be in this domain (case-insensitive, exact); others
    /// are refused at RCPT with 550. `None` accepts every recipient.
    pub probe_domain: Option<String>,
    /// A message whose text is larger is refused with 552 after its final dot.
    pub max_message: usize,
    /// Recipients answered with a refusal instead of 250 (fault steps).
    pub faults: super::FaultPolicy,
}

/// A message the client finished sending, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The text as sent, dot-unstuffed, without the final dot line.
    pub data: Vec<u8>,
}

/// What the caller does after a call to [`Session::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Write the replies, then read more input.
    More,
    /// Write the replies, then close the connection (QUIT was answered).
    Close,
}

#[derive(Debug)]
enum State {
    Command,
    /// Skipping the rest of an over-long command line.
    SkipLine,
    Data(DataState),
}

/// Where the DATA reader is within the current line.
#[derive(Debug, Default)]
struct DataState {
    /// At the start of a line (after LF, or right after the 354).
    line_start: bool,
    /// The previous line ended in CRLF: a `.` CRLF line here ends the data.
    after_crlf: bool,
    /// The last byte taken was CR (for a CRLF split across reads).
    last_cr: bool,
    /// Bytes of text seen, kept or not.
    size: usize,
    too_big: bool,
}

/// One client's session. Lenient where exim never tests it (MAIL before
/// EHLO is accepted); strict where a mistake would lose or invent mail.
#[derive(Debug)]
pub struct Session {
    policy: std::sync::Arc<Policy>,
    state: State,
    from: Option<String>,
    rcpts: Vec<String>,
    data: Vec<u8>,
}

pub const GREETING: &[u8] = b"220 mailflow-sink ESMTP ready\r\n";

impl Session {
    pub fn new(policy: std::sync::Arc<Policy>) -> Session {
        Session { policy, state: State::Command, from: None, rcpts: Vec::new(), data: Vec::new() }
    }

    /// Consumes complete commands and DATA from `input`, appends replies to
    /// `out`, and passes each finished message to `deliver`. Returns how
    /// many bytes of `input` were consumed (the rest is an incomplete line
    /// to present again with more bytes after it) and what to do next.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, deliver: &mut impl FnMut(Delivery)) -> (usize, Flow) {
        let mut at = 0;
        while at < input.len() {
            let rest = &input[at..];
            match &mut self.state {
                State::Data(d) => {
                    let (used, done) = data_step(d, rest, &mut self.data, self.policy.max_message);
                    at += used;
                    if let Some(done) = done {
                        self.state = State::Command;
                        self.finish_data(done, out, deliver);
                    } else if used == 0 {
                        break;
                    }
                }
                State::SkipLine => match memchr::memchr(b'\n', rest) {
                    Some(pos) => {
                        at += pos + 1;
                        self.state = State::Command;
                        out.extend_from_slice(b"500 5.5.2 line too long\r\n");
                    }
                    None => at = input.len(),
                },
                State::Command => {
                    let Some(pos) = memchr::memchr(b'\n', rest) else {
                        if rest.len() > MAX_COMMAND_LINE {
                            self.state = State::SkipLine;
                            at = input.len();
                        }
                        break;
                    };
                    let line = &rest[..=pos];
                    at += pos + 1;
                    if line.len() > MAX_COMMAND_LINE {
                        out.extend_from_slice(b"500 5.5.2 line too long\r\n");
                    } else if self.command(line, out) == Flow::Close {
                        return (at, Flow::Close);
                    }
                }
            }
        }
        (at, Flow::More)
    }

    /// The client closed the connection: a transaction in progress is lost,
    /// as it is for any SMTP server.
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data(_))
    }

    fn command(&mut self, line: &[u8], out: &mut Vec<u8>) -> Flow {
        let reply: &[u8] = match Request::parse(&mut line.iter()) {
            Ok(Request::Ehlo { .. }) => {
                self.reset();
                out.extend_from_slice(b"250-mailflow-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE ");
                out.extend_from_slice(self.policy.max_message.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                return Flow::More;
            }
            Ok(Request::Helo { .. }) | Ok(Request::Lhlo { .. }) => {
                self.reset();
                b"250 mailflow-sink\r\n"
            }
            Ok(Request::Mail { .. }) if self.from.is_some() => b"503 5.5.1 nested MAIL command\r\n",
            Ok(Request::Mail { from }) => {
                if from.size > self.policy.max_message {
                    b"552 5.3.4 message too big for the sink\r\n"
                } else {
                    self.from = Some(from.address.into_owned());
                    b"250 2.1.0 sender ok\r\n"
                }
            }
            Ok(Request::Rcpt { .. }) if self.from.is_none() => b"503 5.5.1 MAIL first\r\n",
            Ok(Request::Rcpt { to }) => {
                if let Some(reply) = self.policy.faults.answer(&to.address) {
                    out.extend_from_slice(reply.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    return Flow::More;
                }
                if self.accepts(&to.address) {
                    self.rcpts.push(to.address.into_owned());
                    b"250 2.1.5 recipient ok\r\n"
                } else {
                    // Only the refusal allocates: it names the domain kept.
                    let domain = self.policy.probe_domain.as_deref().unwrap_or_default();
                    out.extend_from_slice(format!("550 5.7.1 this sink keeps only mail for {domain}\r\n").as_bytes());
                    return Flow::More;
                }
            }
            Ok(Request::Data) if self.from.is_none() => b"503 5.5.1 MAIL first\r\n",
            Ok(Request::Data) if self.rcpts.is_empty() => b"554 5.5.1 no valid recipients\r\n",
            Ok(Request::Data) => {
                self.state = State::Data(DataState { line_start: true, after_crlf: true, ..DataState::default() });
                self.data.clear();
                b"354 end with <CRLF>.<CRLF>\r\n"
            }
            Ok(Request::Rset) => {
                self.reset();
                b"250 2.0.0 reset\r\n"
            }
            Ok(Request::Noop { .. }) => b"250 2.0.0 ok\r\n",
            Ok(Request::Quit) => {
                out.extend_from_slice(b"221 2.0.0 bye\r\n");
                return Flow::Close;
            }
            Ok(_) => b"502 5.5.1 not implemented\r\n",
            Err(_) => b"500 5.5.2 syntax error\r\n",
        };
        out.extend_from_slice(reply);
        Flow::More
    }

    fn accepts(&self, address: &str) -> bool {
        match &self.policy.probe_domain {
            None => true,
            Some(domain) => address.rsplit_once('@').is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain)),
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
    }

    fn finish_data(&mut self, too_big: bool, out: &mut Vec<u8>, deliver: &mut impl FnMut(Delivery)) {
        if too_big {
            self.reset();
            self.data = Vec::new();
            out.extend_from_slice(b"552 5.3.4 message too big for the sink\r\n");
            return;
        }
        let delivery = Delivery {
            mail_from: self.from.take().unwrap_or_default(),
            rcpt_to: std::mem::take(&mut self.rcpts),
            // The kept copy is exactly as long as the text; the session's
            // buffer is used again for the next message.
            data: self.data.as_slice().to_vec(),
        };
        self.data.clear();
        if self.data.capacity() > KEEP_BUFFER {
            self.data = Vec::new();
        }
        deliver(delivery);
        out.extend_from_slice(b"250 2.0.0 kept by mailflow-sink\r\n");
    }
}

/// Takes DATA text from `input`: unstuffs leading dots, stops after the
/// `.` CRLF line. Returns the bytes used and, once the final line was seen,
/// whether the message was too big. Uses nothing only when `input` is a
/// prefix of the final line, which needs more bytes to tell.
fn data_step(d: &mut DataState, input: &[u8], data: &mut Vec<u8>, max: usize) -> (usize, Option<bool>) {
    let mut at = 0;
    while at < input.len() {
        let rest = &input[at..];
        if d.line_start && rest[0] == b'.' {
            if d.after_crlf {
                match rest {
                    [b'.', b'\r', b'\n', ..] => return (at + 3, Some(d.too_big)),
                    [b'.'] | [b'.', b'\r'] => return (at, None),
                    _ => {}
                }
            }
            // A stuffed dot: drop it.
            at += 1;
            d.line_start = false;
            d.last_cr = false;
            continue;
        }
        let (take, line_end) = match memchr::memchr(b'\n', rest) {
            Some(pos) => (pos + 1, true),
            None => (rest.len(), false),
        };
        let chunk = &rest[..take];
        d.size += take;
        if d.size > max {
            if !d.too_big {
                d.too_big = true;
                *data = Vec::new();
            }
        } else {
            data.extend_from_slice(chunk);
        }
        if line_end {
            d.after_crlf = if take >= 2 { chunk[take - 2] == b'\r' } else { d.last_cr };
            d.line_start = true;
            d.last_cr = false;
        } else {
            d.line_start = false;
            d.last_cr = chunk.last() == Some(&b'\r');
        }
        at += take;
    }
    (at, None)
}

#[cfg(test)]
mod tests {
    //! Tables of (client bytes, replies, messages), fed whole and byte by byte.
    use super::*;
    use std::sync::Arc;

    fn policy(domain: Option<&str>, max: usize) -> Arc<Policy> {
        Arc::new(Policy { probe_domain: domain.map(str::to_string), max_message: max, faults: Default::default() })
    }

    /// Feeds `input` in pieces of `step` bytes (as reads would), as the I/O
    /// loop does: unconsumed bytes are presented again with the next piece.
    pub(crate) fn run(policy: Arc<Policy>, input: &[u8], step: usize) -> (String, Vec<Delivery>, Flow) {
        let mut s = Session::new(policy);
        let mut out = Vec::new();
        let mut got = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut flow = Flow::More;
        for piece in input.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            let (used, f) = s.feed(&buf, &mut out, &mut |d| got.push(d));
            assert!(used <= buf.len());
            buf.drain(..used);
            flow = f;
            if f == Flow::Close {
                break;
            }
        }
        (String::from_utf8_lossy(&out).into_owned(), got, flow)
    }

    fn codes(replies: &str) -> Vec<&str> {
        replies.lines().filter(|l| l.as_bytes().get(3) != Some(&b'-')).map(|l| &l[..3]).collect()
    }

    const ONE: &[u8] = b"EHLO x\r\nMAIL FROM:<a@lists.test>\r\nRCPT TO:<b@probe.test>\r\nDATA\r\nSubject: s\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n";

    #[test]
    fn one_message_whole_and_in_pieces() {
        for step in [1, 2, 3, 7, 64, ONE.len()] {
            let (replies, got, flow) = run(policy(Some("probe.test"), 1000), ONE, step);
            assert_eq!(codes(&replies), ["250", "250", "250", "354", "250", "221"], "step {step}: {replies}");
            assert_eq!(flow, Flow::Close);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].mail_from, "a@lists.test");
            assert_eq!(got[0].rcpt_to, ["b@probe.test"]);
            assert_eq!(got[0].data, b"Subject: s\r\n\r\n.dot\r\nbody\r\n", "step {step}");
        }
    }

    /// Client bytes, the reply codes expected, the message bodies kept.
    type Case<'a> = (&'a [u8], &'a [&'a str], &'a [&'a [u8]]);

    #[test]
    fn table() {
        let p = policy(Some("probe.test"), 32);
        let cases: &[Case] = &[
            // Recipients outside the probe domain are refused; the others kept.
            (
                b"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<x@elsewhere.test>\r\nRCPT TO:<y@PROBE.test>\r\nDATA\r\nhi\r\n.\r\n",
                &["250", "250", "550", "250", "354", "250"],
                &[b"hi\r\n"],
            ),
            // Only refused recipients: DATA is refused.
            (b"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<x@elsewhere.test>\r\nDATA\r\n", &["250", "250", "550", "554"], &[]),
            // Order of commands.
            (b"RCPT TO:<y@probe.test>\r\nDATA\r\nMAIL FROM:<>\r\nMAIL FROM:<>\r\n", &["503", "503", "250", "503"], &[]),
            // An empty message, then a second transaction on the same session.
            (
                b"MAIL FROM:<>\r\nRCPT TO:<y@probe.test>\r\nDATA\r\n.\r\nMAIL FROM:<z@q>\r\nRCPT TO:<y@probe.test>\r\nDATA\r\na\r\n.\r\n",
                &["250", "250", "354", "250", "250", "250", "354", "250"],
                &[b"", b"a\r\n"],
            ),
            // Too big (over 32 bytes): refused after the final dot, session goes on.
            (
                b"MAIL FROM:<>\r\nRCPT TO:<y@probe.test>\r\nDATA\r\n0123456789\r\n0123456789\r\n0123456789\r\n.\r\nNOOP\r\n",
                &["250", "250", "354", "552", "250"],
                &[],
            ),
            // SIZE above the limit is refused at MAIL.
            (b"MAIL FROM:<> SIZE=100\r\n", &["552"], &[]),
            // A bare LF before ".\r\n" does not end the data; the dot line is unstuffed text.
            (
                b"MAIL FROM:<>\r\nRCPT TO:<y@probe.test>\r\nDATA\r\na\n.\r\nb\r\n.\r\n",
                &["250", "250", "354", "250"],
                &[b"a\n\r\nb\r\n"],
            ),
            // RSET forgets the envelope; garbage is a syntax error; unknown verbs 502 or 500.
            (b"MAIL FROM:<>\r\nRSET\r\nDATA\r\n\x00\xff\r\nVRFY x\r\n", &["250", "250", "503", "500", "502"], &[]),
        ];
        for (input, want, messages) in cases {
            for step in [1, 5, input.len()] {
                let (replies, got, _) = run(p.clone(), input, step);
                assert_eq!(codes(&replies), *want, "{:?} step {step}:\n{replies}", String::from_utf8_lossy(input));
                let data: Vec<&[u8]> = got.iter().map(|d| d.data.as_slice()).collect();
                assert_eq!(data, *messages, "{:?} step {step}", String::from_utf8_lossy(input));
            }
        }
    }

    #[test]
    fn long_command_line_is_refused_and_skipped() {
        let mut input = b"NOOP ".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_COMMAND_LINE * 2));
        input.extend_from_slice(b"\r\nNOOP\r\n");
        for step in [100, 5000, input.len()] {
            let (replies, _, _) = run(policy(None, 100), &input, step);
            assert_eq!(codes(&replies), ["500", "250"], "step {step}");
        }
    }

    #[test]
    fn a_fault_refuses_one_recipient_and_then_lets_it_through() {
        let policy = policy(Some("probe.test"), 100);
        policy.faults.set(super::super::RcptFault { address: "bob@probe.test".into(), reply: "451 4.3.0 fault".into(), left: Some(1) });
        let tx = b"MAIL FROM:<>\r\nRCPT TO:<bob@probe.test>\r\nRCPT TO:<carol@probe.test>\r\nDATA\r\nx\r\n.\r\n";
        let (replies, got, _) = run(policy.clone(), tx, 7);
        assert_eq!(codes(&replies), ["250", "451", "250", "354", "250"], "{replies}");
        assert_eq!(got[0].rcpt_to, ["carol@probe.test"]);
        let (replies, got, _) = run(policy, tx, 7);
        assert_eq!(codes(&replies), ["250", "250", "250", "354", "250"], "{replies}");
        assert_eq!(got[0].rcpt_to, ["bob@probe.test", "carol@probe.test"]);
    }

    #[test]
    fn without_a_probe_domain_everything_is_accepted() {
        let (replies, got, _) = run(policy(None, 100), b"MAIL FROM:<>\r\nRCPT TO:<x@any.where>\r\nDATA\r\nx\r\n.\r\n", 3);
        assert_eq!(codes(&replies), ["250", "250", "354", "250"]);
        assert_eq!(got[0].rcpt_to, ["x@any.where"]);
    }
}
