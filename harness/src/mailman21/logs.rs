//! Mailman 2.1's logs (`logs/vette`, `post`, `smtp`, `error`, `qrunner`,
//! ...): one entry per line `Mon DD HH:MM:SS YYYY (pid) text`, with
//! continuation lines indented by a tab (vette's "Discarded posting:"
//! block). Recorded from 2.1.39 in `fixtures/mailman21/logs/`.

/// One log entry: its first line and any continuation lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// `Nov 29 09:49:36 2026`, the server's local time.
    pub stamp: String,
    pub pid: u32,
    /// The text after `(pid) `, continuation lines joined with `\n`.
    pub text: String,
}

/// The entries of a log; lines before the first entry are dropped.
pub fn entries(log: &str) -> Vec<LogEntry> {
    let mut found: Vec<LogEntry> = Vec::new();
    for line in log.lines() {
        match entry_start(line) {
            Some(entry) => found.push(entry),
            None if line.starts_with([' ', '\t']) => {
                if let Some(last) = found.last_mut() {
                    last.text.push('\n');
                    last.text.push_str(line.trim());
                }
            }
            None => {}
        }
    }
    found
}

fn entry_start(line: &str) -> Option<LogEntry> {
    // "Nov 29 09:49:36 2026 (206) text": five fields before the pid.
    let open = line.find(" (")?;
    let stamp = &line[..open];
    let fields: Vec<&str> = stamp.split_whitespace().collect();
    let well_formed = fields.len() == 4
        && fields[0].len() == 3
        && fields[2].len() == 8
        && fields[2].matches(':').count() == 2
        && fields[3].len() == 4
        && fields[3].chars().all(|c| c.is_ascii_digit());
    if !well_formed {
        return None;
    }
    let rest = &line[open + 2..];
    let (pid, text) = rest.split_once(") ")?;
    Some(LogEntry { stamp: stamp.to_string(), pid: pid.parse().ok()?, text: text.to_string() })
}

/// The entries that name any of `message_ids` (angle brackets included).
pub fn about<'a>(entries: &'a [LogEntry], message_ids: &[String]) -> Vec<&'a LogEntry> {
    entries.iter().filter(|e| message_ids.iter().any(|id| !id.is_empty() && e.text.contains(id.as_str()))).collect()
}

/// A hold in `logs/vette`: `<List> post from <sender> held, message-id=<id>: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub list: String,
    pub sender: String,
    pub message_id: String,
    pub reason: String,
}

/// Reads a vette entry that records a hold.
pub fn hold(entry: &LogEntry) -> Option<Hold> {
    let (list, rest) = entry.text.split_once(" post from ")?;
    let (sender, rest) = rest.split_once(" held, message-id=")?;
    let (message_id, reason) = rest.split_once(": ")?;
    Some(Hold { list: list.into(), sender: sender.into(), message_id: message_id.into(), reason: reason.into() })
}

/// A post in `logs/post`: `post to <list> from <sender>, size=N, message-id=<id>, success`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub list: String,
    pub sender: String,
    pub size: u64,
    pub message_id: String,
    /// `success`, or what went wrong.
    pub outcome: String,
}

/// Reads a post-log entry.
pub fn post(entry: &LogEntry) -> Option<Post> {
    let rest = entry.text.strip_prefix("post to ")?;
    let (list, rest) = rest.split_once(" from ")?;
    let (sender, rest) = rest.split_once(", size=")?;
    let (size, rest) = rest.split_once(", message-id=")?;
    let (message_id, outcome) = rest.rsplit_once(", ")?;
    Some(Post { list: list.into(), sender: sender.into(), size: size.parse().ok()?, message_id: message_id.into(), outcome: outcome.into() })
}
