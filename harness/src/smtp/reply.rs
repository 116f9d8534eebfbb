//! SMTP replies kept whole: code, enhanced status code and text.

use std::fmt;

/// One complete (possibly multi-line) SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// RFC 3463 enhanced status code such as `5.1.1`, when the server sent one.
    pub enhanced: Option<String>,
    /// The text of every line, without code and enhanced code, joined by "\n".
    pub text: String,
}

impl Reply {
    /// 2xx and 3xx: the command was accepted.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
    /// 4xx: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
    /// 5xx: refused for good.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
    /// Exim's queue id from the reply to the end of data (`250 OK id=1tABCd-000123-Xy`).
    pub fn exim_queue_id(&self) -> Option<String> {
        let pos = self.text.find("id=")?;
        let id: String = self.text[pos + 3..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        (!id.is_empty()).then_some(id)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(e) = &self.enhanced {
            write!(f, " {e}")?;
        }
        write!(f, " {}", self.text.replace('\n', " / "))
    }
}

/// Why a reply could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed SMTP reply line {line:?}")]
pub struct MalformedReply {
    pub line: String,
}

/// Incremental reply parser: feed it lines, it says when the reply is complete.
#[derive(Debug, Default)]
pub struct ReplyParser {
    code: Option<u16>,
    enhanced: Option<String>,
    lines: Vec<String>,
}

impl ReplyParser {
    /// Feed one line (CRLF or LF stripped or not). Returns the reply once its last
    /// line (`NNN ` rather than `NNN-`) has been seen.
    pub fn push_line(&mut self, raw: &str) -> Result<Option<Reply>, MalformedReply> {
        let line = raw.trim_end_matches(['\r', '\n']);
        let bad = || MalformedReply { line: line.to_string() };
        let bytes = line.as_bytes();
        if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let code: u16 = line[..3].parse().map_err(|_| bad())?;
        if !(200..600).contains(&code) || self.code.is_some_and(|c| c != code) {
            return Err(bad());
        }
        let (last, rest) = match bytes.get(3) {
            None => (true, ""),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return Err(bad()),
        };
        // RFC 2034: a reply with enhanced codes has one on every line. When
        // the first line has none, what looks like one later is text.
        let (enhanced, text) = if self.code.is_none() || self.enhanced.is_some() { split_enhanced(rest, code) } else { (None, rest) };
        if self.code.is_none() {
            self.enhanced = enhanced.map(str::to_string);
        }
        self.code = Some(code);
        self.lines.push(text.to_string());
        if !last {
            return Ok(None);
        }
        let reply = Reply {
            code,
            enhanced: self.enhanced.take(),
            text: std::mem::take(&mut self.lines).join("\n"),
        };
        self.code = None;
        Ok(Some(reply))
    }
}

/// Splits a leading enhanced status code (`5.7.1 text`) whose class matches the reply's.
fn split_enhanced(rest: &str, code: u16) -> (Option<&str>, &str) {
    let (head, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let parts: Vec<&str> = head.split('.').collect();
    let well_formed = parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[0] == (code / 100).to_string();
    if well_formed {
        (Some(head), tail)
    } else {
        (None, rest)
    }
}

#[cfg(test)]
mod tests {
    //! Table tests on hand-made replies.
    use super::*;

    fn parse_all(lines: &[&str]) -> Result<Vec<Reply>, MalformedReply> {
        let mut p = ReplyParser::default();
        let mut out = vec![];
        for l in lines {
            if let Some(r) = p.push_line(l)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    #[test]
    fn replies() {
        let cases: &[(&[&str], u16, Option<&str>, &str)] = &[
            (&["250 OK id=1tAbCd-000Ab1-Qz\r\n"], 250, None, "OK id=1tAbCd-000Ab1-Qz"),
            (&["550 5.1.1 Unrouteable address"], 550, Some("5.1.1"), "Unrouteable address"),
            (&["250-lists.example.test Hello", "250-SIZE 52428800", "250 HELP"], 250, None, "lists.example.test Hello\nSIZE 52428800\nHELP"),
            (&["451 4.3.0 try later"], 451, Some("4.3.0"), "try later"),
            // An enhanced code of another class is text, not a status code.
            (&["550 4.3.0 odd"], 550, None, "4.3.0 odd"),
            (&["354"], 354, None, ""),
            // Found by fuzzing: without an enhanced code on the first line,
            // a later line's leading "2.0.250" is text and stays in it.
            (&["250-a", "250 2.0.250 2.0.0 b"], 250, None, "a\n2.0.250 2.0.0 b"),
            (&["250-2.0.0 a", "250 2.0.0 b"], 250, Some("2.0.0"), "a\nb"),
        ];
        for (lines, code, enhanced, text) in cases {
            let r = parse_all(lines).unwrap();
            assert_eq!(r.len(), 1, "{lines:?}");
            assert_eq!(r[0].code, *code);
            assert_eq!(r[0].enhanced.as_deref(), *enhanced);
            assert_eq!(r[0].text, *text);
        }
    }

    #[test]
    fn malformed() {
        for bad in ["", "25", "abc def", "250x", "199 too low", "700 too high"] {
            assert!(parse_all(&[bad]).is_err(), "{bad:?}");
        }
        // Codes must agree across the lines of one reply.
        assert!(parse_all(&["250-a", "251 b"]).is_err());
    }

    #[test]
    fn queue_id_and_classes() {
        let r = parse_all(&["250 OK id=1tAbCd-000Ab1-Qz"]).unwrap().remove(0);
        assert_eq!(r.exim_queue_id().as_deref(), Some("1tAbCd-000Ab1-Qz"));
        assert!(r.is_positive() && !r.is_permanent());
        let r = parse_all(&["550 relay not permitted"]).unwrap().remove(0);
        assert_eq!(r.exim_queue_id(), None);
        assert!(r.is_permanent());
        assert_eq!(r.to_string(), "550 relay not permitted");
    }
}
