//! Properties that must hold for any input, checked by the fuzz targets in
//! `fuzz/` (cargo-fuzz builds with `--cfg fuzzing`) and by this crate's
//! unit tests over seeds, pseudo-random inputs and every input a fuzzer
//! once crashed (`fuzz/regressions/<target>/`). Each function panics when
//! a property fails; it never returns an error.

use std::path::Path;
use std::sync::Arc;

use crate::scenario::{parse_scenario, parse_suite, LoadErrors};
use crate::sink::session::{Delivery, Flow, Policy, Session, MAX_COMMAND_LINE};
use crate::smtp::reply::ReplyParser;

/// The scenario loader: a suite file and a scenario file made of `data`
/// parse or give errors, never panic; each error points into the text and
/// renders (miette's labelled snippet) without panicking.
pub fn scenario(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else { return };
    if let Err(errors) = parse_suite(Path::new("fuzz/suite.toml"), src) {
        check_errors(src, &errors);
    }
    let suite = parse_suite(Path::new("fuzz/suite.toml"), SUITE).expect("the fixed suite parses");
    if let Err(errors) = parse_scenario(Path::new("fuzz/scenario.toml"), src, &suite) {
        check_errors(src, &errors);
    }
}

const SUITE: &str = "probe_domain = \"probe.test\"\n[[list]]\nname = \"probe-test\"\ndomain = \"lists.example.test\"\nmembers = [\"alice@probe.test\", \"bob@probe.test\"]\n";

fn check_errors(src: &str, errors: &LoadErrors) {
    assert!(!errors.errors.is_empty(), "an Err with no errors");
    let lines = src.split('\n').count();
    for e in &errors.errors {
        assert!(e.line() >= 1 && e.line() <= lines, "line {} of {lines}: {e}", e.line());
        let line_chars = src.split('\n').nth(e.line() - 1).map_or(0, |l| l.chars().count());
        assert!(e.column() >= 1 && e.column() <= line_chars + 1, "column {} of {line_chars}: {e}", e.column());
        let _ = format!("{e}");
        let _ = format!("{:?}", miette::Report::new(e.clone()));
    }
}

/// The SMTP reply parser: lines from `data` parse into replies with a code
/// in 200..600, an enhanced code of the reply's class, and a text that
/// written back as reply lines parses into the same reply.
pub fn smtp_reply(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parser = ReplyParser::default();
    for line in text.split('\n') {
        match parser.push_line(line) {
            Ok(Some(reply)) => {
                assert!((200..600).contains(&reply.code), "{reply:?}");
                if let Some(e) = &reply.enhanced {
                    let parts: Vec<&str> = e.split('.').collect();
                    assert_eq!(parts.len(), 3, "{reply:?}");
                    assert_eq!(parts[0], (reply.code / 100).to_string(), "{reply:?}");
                    assert!(parts.iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())), "{reply:?}");
                }
                let classes = [reply.is_positive(), reply.is_transient(), reply.is_permanent()];
                assert_eq!(classes.iter().filter(|c| **c).count(), 1, "{reply:?}");
                assert!(reply.to_string().starts_with(&reply.code.to_string()));
                let _ = reply.exim_queue_id();
                // Written back as lines, it parses into the same reply.
                let mut again = ReplyParser::default();
                let lines: Vec<&str> = reply.text.split('\n').collect();
                let mut reparsed = None;
                for (i, l) in lines.iter().enumerate() {
                    let sep = if i + 1 == lines.len() { ' ' } else { '-' };
                    let enhanced = reply.enhanced.as_deref().map(|e| format!("{e} ")).unwrap_or_default();
                    let written = format!("{}{sep}{enhanced}{l}\r\n", reply.code);
                    reparsed = again.push_line(&written).unwrap_or_else(|e| panic!("{written:?} of {reply:?}: {e}"));
                }
                assert_eq!(reparsed.as_ref(), Some(&reply), "{text:?}");
            }
            Ok(None) => {}
            // The client gives up on a malformed reply; start afresh.
            Err(_) => parser = ReplyParser::default(),
        }
    }
}

/// The sink's session: `data[0]` picks the size of the reads the rest is
/// cut into. Fed in those pieces or whole, the session answers the same
/// and keeps the same messages; it never holds more than a command line of
/// unconsumed input; every reply line is a well-formed SMTP reply; every
/// kept message has recipients, all in the probe domain, and fits the limit.
pub fn sink_session(data: &[u8]) {
    let Some((&step, input)) = data.split_first() else { return };
    let policy = Arc::new(Policy { probe_domain: Some("probe.test".into()), max_message: 200, faults: Default::default() });
    let whole = feed(&policy, input, input.len().max(1));
    let pieces = feed(&policy, input, usize::from(step).max(1));
    assert_eq!(whole, pieces, "fed whole and in pieces of {step}");
    let (replies, kept, _) = whole;
    let mut parser = ReplyParser::default();
    for line in replies.split_inclusive("\r\n") {
        assert!(line.ends_with("\r\n"), "{line:?}");
        parser.push_line(line).unwrap_or_else(|e| panic!("{e} in {replies:?}"));
    }
    for d in &kept {
        assert!(!d.rcpt_to.is_empty());
        assert!(d.rcpt_to.iter().all(|r| r.to_ascii_lowercase().ends_with("@probe.test")), "{:?}", d.rcpt_to);
        assert!(d.data.len() <= policy.max_message);
    }
    assert_eq!(kept.len(), replies.matches("250 2.0.0 kept").count());
}

fn feed(policy: &Arc<Policy>, input: &[u8], step: usize) -> (String, Vec<Delivery>, Flow) {
    let mut session = Session::new(policy.clone());
    let (mut out, mut kept, mut buf) = (Vec::new(), Vec::new(), Vec::new());
    let mut flow = Flow::More;
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        let (used, f) = session.feed(&buf, &mut out, &mut |d| kept.push(d));
        assert!(used <= buf.len());
        buf.drain(..used);
        flow = f;
        if f == Flow::Close {
            break;
        }
        // What the session leaves unconsumed is at most one command line.
        assert!(buf.len() <= MAX_COMMAND_LINE, "{} bytes left unconsumed", buf.len());
    }
    (String::from_utf8(out).expect("replies are ASCII"), kept, flow)
}

#[cfg(test)]
mod tests {
    //! The properties over seeds, pseudo-random mutations of them (a bounded,
    //! deterministic stand-in for the fuzzer that runs with every `cargo
    //! test`), and every input a fuzzer crashed on.
    use super::*;

    const SEEDS_SESSION: &[&[u8]] = &[
        b"\x07EHLO x\r\nMAIL FROM:<a@l.test> SIZE=10\r\nRCPT TO:<b@probe.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\nSubject: s\r\n\r\n..d\r\n.\r\nRSET\r\nQUIT\r\n",
        b"\x01HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<b@PROBE.test>\r\nDATA\r\na\n.\r\n.\r\nNOOP\r\n",
        b"\x03LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<\"q\"@probe.test>\r\nDATA\r\n.\r\n",
    ];
    const SEEDS_REPLY: &[&[u8]] = &[
        b"250-lists.example.test Hello\r\n250-SIZE 52428800\r\n250 HELP\r\n",
        b"550 5.7.606 Access denied\r\n451 4.3.0 later\n354\n250 OK id=1tAbCd-000Ab1-Qz",
        b"250 2.0.0\r\n250-a\r\n250 2.0.0 b\r\n550 4.3.0 odd\r\n",
    ];
    const SEEDS_SCENARIO: &[&str] = &[
        "name = \"n\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_smtp = 250\n[[step]]\nexpect_delivered = { within = \"30s\" }\n",
        "name = \"n\"\nlist = \"probe-test\"\n[[step]]\nexpect_port = { port = 8001, vantage = \"outside\", verdict = \"filtered\", within = \"3s\" }\n",
        "probe_domain = \"probe.test\"\n[[list]]\nname = \"x\"\ndomain = \"d.test\"\nmembers = [\"a@probe.test\"]\n",
        "name = \"é\"\nlist = 3\n[[step]]\nsend = { from = \"\u{1F600}\", subject = \"s\" }\nexpect_held = { within = \"-1s\" }\n",
    ];

    /// xorshift64*: the same inputs on every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Byte flips, insertions of interesting bytes, deletions, duplications.
    fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
        const BYTES: &[u8] = b"\r\n.:<>@ \"=\\\x00\xff-[]{}#";
        let mut v = seed.to_vec();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(v.len() + 1);
            match rng.below(5) {
                0 if at < v.len() => v[at] ^= 1 << rng.below(8),
                1 => v.insert(at, BYTES[rng.below(BYTES.len())]),
                2 if at < v.len() => {
                    v.remove(at);
                }
                3 => {
                    let end = (at + rng.below(16)).min(v.len());
                    let copy = v[at..end].to_vec();
                    v.splice(at..at, copy);
                }
                _ => v.insert(at, rng.next() as u8),
            }
        }
        v
    }

    fn run(seeds: &[&[u8]], target: &str, check: fn(&[u8])) {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for seed in seeds {
            check(seed);
            for _ in 0..300 {
                check(&mutate(&mut rng, seed));
            }
        }
        // Every input a fuzzer once crashed on stays fixed.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target);
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            check(&std::fs::read(entry.path()).unwrap());
        }
    }

    #[test]
    fn sink_session_properties() {
        run(SEEDS_SESSION, "sink_session", sink_session);
    }

    #[test]
    fn smtp_reply_properties() {
        run(SEEDS_REPLY, "smtp_reply", smtp_reply);
    }

    #[test]
    fn scenario_properties() {
        let seeds: Vec<&[u8]> = SEEDS_SCENARIO.iter().map(|s| s.as_bytes()).collect();
        run(&seeds, "scenario", scenario);
    }
}
