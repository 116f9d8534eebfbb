//! `expect_every_list_answers`: the safe probe of every list. One message
//! asking for `help` goes to each list's `-request` address; Mailman
//! answers the sender, so exim's routing, Mailman's command runner and its
//! outgoing mail are proven for every list, and no subscriber or moderator
//! sees anything. About the server, not a probe: it needs no `send`.
//!
//! ```toml
//! [[step]]
//! expect_every_list_answers = { lists = "probe-*", within = "60s", concurrency = 4 }
//! ```

use std::time::Duration;

use super::fields;
use super::reader::{Doc, TableReader, Value};

/// Every list the server holds (or those `lists` names) answers a `help`
/// sent to its `-request` address within `within` of that message's
/// sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EveryListExpectation {
    /// A glob (`*` matches any run of characters) over each list's name and
    /// posting address (`name@domain`); a list matches when either does.
    /// `None`: every list.
    pub lists: Option<String>,
    /// How long each list's answer may take, from its own message's sending.
    pub within: Duration,
    /// SMTP conversations under way at once (the target's probe pace still
    /// applies); the answers are all waited for together.
    pub concurrency: usize,
}

/// How long a list may take to answer by default: Mailman's command runner
/// answered within seconds on the container target; a busy host's runner
/// and queue take longer.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(60);
/// SMTP conversations at once by default: small, as the step may meet a
/// production server with hundreds of lists.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// The most SMTP conversations at once a file may ask for.
pub const MAX_CONCURRENCY: i64 = 64;

const KEYS: &[&str] = &["lists", "within", "concurrency"];

/// `expect_every_list_answers = {}` or `{ lists = "GLOB", within = "60s", concurrency = 4 }`.
pub(super) fn read_expect_every_list_answers(doc: &mut Doc, value: &Value<'_>) -> Option<EveryListExpectation> {
    let table = doc.table("`expect_every_list_answers`", value)?;
    let mut reader = TableReader::new("expect_every_list_answers", table, value.span(), KEYS);
    // Every key is read before giving up, so that all its errors are reported.
    let lists = match reader.optional("lists") {
        Some(v) => doc.checked_string(&reader.field("lists"), "glob", check_glob, v).map(Some),
        None => Some(None),
    };
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_WITHIN);
    let concurrency = match reader.optional("concurrency") {
        Some(v) => doc.integer_in(&reader.field("concurrency"), 1..=MAX_CONCURRENCY, v).map(|n| n as usize),
        None => Some(DEFAULT_CONCURRENCY),
    };
    reader.finish(doc);
    Some(EveryListExpectation { lists: lists?, within: within?, concurrency: concurrency? })
}

/// A list glob: not empty, no white space or control characters (list
/// names and addresses have none, so such a glob could match nothing).
pub fn check_glob(glob: &str) -> Result<(), String> {
    if glob.is_empty() {
        return Err("empty (leave `lists` out for every list)".into());
    }
    if let Some(c) = glob.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("contains {c:?}; list names and addresses have no white space"));
    }
    Ok(())
}

/// Whether `glob` names the list with posting address `address`: by the
/// whole address or by its local part (the list's name), case-insensitive.
pub fn glob_names(glob: &str, address: &str) -> bool {
    let glob = glob.to_ascii_lowercase();
    let address = address.to_ascii_lowercase();
    let name = address.split('@').next().unwrap_or(&address);
    star_match(&glob, &address) || star_match(&glob, name)
}

/// `*` matches any run of characters; everything else itself (the
/// sweep's list globs, and the allowed differences of `mailflow compare`).
pub(crate) fn star_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if text.len() < first.len() + last.len() || !text.starts_with(first) || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{parse_scenario, parse_suite, StepKind};
    use std::path::Path;

    fn load(src: &str) -> Result<StepKind, Vec<String>> {
        let suite = parse_suite(Path::new("suite.toml"), "[[list]]\nname = \"probe-test\"\ndomain = \"lists.example.test\"\n").unwrap();
        match parse_scenario(Path::new("s.toml"), src, &suite) {
            Ok(s) => Ok(s.steps[0].kind.clone()),
            Err(e) => Err(e.errors.iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn the_step_reads_with_defaults_and_errors_point_into_the_file() {
        let every = load("name = \"n\"\n[[step]]\nexpect_every_list_answers = {}\n").unwrap();
        assert_eq!(every, StepKind::ExpectEveryListAnswers(EveryListExpectation { lists: None, within: DEFAULT_WITHIN, concurrency: DEFAULT_CONCURRENCY }));
        let some = load("name = \"n\"\n[[step]]\nexpect_every_list_answers = { lists = \"probe-*\", within = \"5s\", concurrency = 2 }\n").unwrap();
        assert_eq!(some, StepKind::ExpectEveryListAnswers(EveryListExpectation { lists: Some("probe-*".into()), within: Duration::from_secs(5), concurrency: 2 }));
        let errors = load("name = \"n\"\n[[step]]\nexpect_every_list_answers = { lists = \"a b\", within = \"soon\", concurrency = 0, list = \"x\" }\n").unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(errors[0].starts_with("s.toml:3:39: invalid glob `a b`"), "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with("s.toml:3:55: invalid duration `soon`")), "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with("s.toml:3:77: `expect_every_list_answers.concurrency` must be between 1 and 64")), "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with("s.toml:3:80: unknown key `list`")), "{errors:#?}");
    }

    #[test]
    fn globs_name_lists_by_name_or_address() {
        assert!(glob_names("probe-*", "probe-test@lists.example.test"));
        assert!(glob_names("*@lists.example.test", "probe-test@lists.example.test"));
        assert!(glob_names("Probe-Test", "probe-test@lists.example.test"));
        assert!(!glob_names("probe-*", "announce@lists.example.test"));
        assert!(!glob_names("probe", "probe-test@lists.example.test"));
        assert!(glob_names("*", "x@y"));
        assert!(!glob_names("ab*ba", "aba@x") && glob_names("a*ba", "aba@x"));
        assert!(check_glob("").is_err() && check_glob("a b").is_err() && check_glob("a*").is_ok());
    }
}
