//! Mailman 3's held queue, and the one rule for touching it.
//!
//! **Safety rule**: the harness moderates only held messages whose Message-ID
//! it generated in this run. [`select_own`] is the only way to obtain an
//! [`OwnHeld`], and acting on a held message ([`MailmanRest::moderate`],
//! [`crate::target::Target::moderate_held`]) takes an `OwnHeld`: there is no
//! way to moderate a request id that did not pass the check, and no "act on
//! everything" operation at all.
//!
//! [`MailmanRest::moderate`]: super::MailmanRest::moderate

use serde::Deserialize;

use crate::probe::RunId;
use crate::scenario::ModerationAction;

/// One entry of `GET /3.1/lists/<list_id>/held`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HeldMessage {
    pub request_id: u64,
    /// With angle brackets, as in the message's header.
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub sender: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub hold_date: Option<String>,
}

/// A held message the harness may act on: its Message-ID is exactly one of
/// this run's probe Message-IDs. Only [`select_own`] makes these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnHeld {
    list_id: String,
    request_id: u64,
    message_id: String,
}

impl OwnHeld {
    pub fn list_id(&self) -> &str {
        &self.list_id
    }
    pub fn request_id(&self) -> u64 {
        self.request_id
    }
    pub fn message_id(&self) -> &str {
        &self.message_id
    }
}

/// A moderator's decision, ready for the REST call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: ModerationAction,
    /// The reason sent to the sender; only used with `reject`.
    pub comment: Option<String>,
}

/// True when `message_id` has the exact shape of a probe Message-ID of any
/// run: `<mailflow.RUN.N@domain>` with a non-empty RUN, N decimal digits, and
/// no spaces, `@`, `<` or `>` inside the parts. For callers that hold the
/// run's ids rather than its [`RunId`] and still refuse anything else.
pub fn is_probe_id(message_id: &str) -> bool {
    let Some(rest) = message_id.strip_prefix("<mailflow.").and_then(|r| r.strip_suffix('>')) else {
        return false;
    };
    let Some((local, domain)) = rest.split_once('@') else {
        return false;
    };
    let Some((run, seq)) = local.rsplit_once('.') else {
        return false;
    };
    let clean = |part: &str| !part.is_empty() && !part.contains(['@', '<', '>', ' ']);
    clean(run) && clean(domain) && seq.chars().all(|c| c.is_ascii_digit()) && !seq.is_empty()
}

/// True when `message_id` has the exact shape of a probe Message-ID of
/// `run`: `<mailflow.RUN.N@domain>` with N decimal digits.
pub fn is_probe_id_of_run(run: &RunId, message_id: &str) -> bool {
    let prefix = format!("<mailflow.{}.", run.as_str());
    let Some(rest) = message_id.strip_prefix(prefix.as_str()) else {
        return false;
    };
    let Some(rest) = rest.strip_suffix('>') else {
        return false;
    };
    let Some((seq, domain)) = rest.split_once('@') else {
        return false;
    };
    !seq.is_empty()
        && seq.chars().all(|c| c.is_ascii_digit())
        && !domain.is_empty()
        && !domain.contains(['@', '<', '>', ' '])
}

/// THE safety check. The entries of `held` (one list's queue, `list_id`)
/// that the harness may act on: those whose Message-ID equals, exactly, one
/// of `probe_ids`, each of which must itself be a probe Message-ID of `run`.
/// Anything else (another sender's message, another run's probe, a
/// near-miss) is never selected.
pub fn select_own(list_id: &str, held: &[HeldMessage], run: &RunId, probe_ids: &[String]) -> Vec<OwnHeld> {
    let ours: Vec<&str> = probe_ids
        .iter()
        .map(String::as_str)
        .filter(|id| is_probe_id_of_run(run, id))
        .collect();
    held.iter()
        .filter(|entry| ours.contains(&entry.message_id.as_str()))
        .map(|entry| OwnHeld {
            list_id: list_id.to_string(),
            request_id: entry.request_id,
            message_id: entry.message_id.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(request_id: u64, message_id: &str) -> HeldMessage {
        HeldMessage {
            request_id,
            message_id: message_id.into(),
            subject: "s".into(),
            sender: "someone@example.test".into(),
            reason: "The message is not from a list member".into(),
            hold_date: None,
        }
    }

    #[test]
    fn probe_id_shape() {
        let run = RunId::from_string("123-abc");
        let yes = ["<mailflow.123-abc.0@probe.test>", "<mailflow.123-abc.42@probe.test>"];
        for id in yes {
            assert!(is_probe_id_of_run(&run, id), "{id}");
        }
        let no = [
            "",
            "mailflow.123-abc.0@probe.test",        // no brackets
            "<mailflow.123-abc.0@probe.test",       // no closing bracket
            "<mailflow.123-abc.0@probe.test> ",     // trailing text
            " <mailflow.123-abc.0@probe.test>",     // leading text
            "<mailflow.123-abcd.0@probe.test>",     // another run, same prefix
            "<mailflow.123-ab.0@probe.test>",       // another run, shorter
            "<mailflow.999-abc.0@probe.test>",      // another run
            "<mailflow.123-abc.@probe.test>",       // no sequence number
            "<mailflow.123-abc.x1@probe.test>",     // not a number
            "<mailflow.123-abc.1@>",                // no domain
            "<mailflow.123-abc.1@a@b>",             // two @
            "<MAILFLOW.123-abc.1@probe.test>",      // case differs
            "<foreign.1@example.test>",
        ];
        for id in no {
            assert!(!is_probe_id_of_run(&run, id), "{id}");
        }
    }

    #[test]
    fn probe_id_shape_of_any_run() {
        for id in ["<mailflow.123-abc.0@probe.test>", "<mailflow.999-x.42@probe.test>", "<mailflow.a.b.7@p>"] {
            assert!(is_probe_id(id), "{id}");
        }
        let no = [
            "",
            "mailflow.123-abc.0@probe.test",
            "<mailflow.123-abc.0@probe.test> ",
            "<mailflow.123-abc.@probe.test>",
            "<mailflow.123-abc.x1@probe.test>",
            "<mailflow.7@probe.test>",         // no run
            "<mailflow..7@probe.test>",        // empty run
            "<mailflow.123-abc.1@>",
            "<mailflow.123-abc.1@a@b>",
            "<mailflow.1 2.1@probe.test>",
            "<MAILFLOW.123-abc.1@probe.test>",
            "<foreign.1@example.test>",
        ];
        for id in no {
            assert!(!is_probe_id(id), "{id}");
        }
    }

    #[test]
    fn selects_only_this_runs_exact_probe_ids() {
        let run = RunId::from_string("123-abc");
        let mine = "<mailflow.123-abc.7@probe.test>".to_string();
        let other_probe_of_mine = "<mailflow.123-abc.8@probe.test>".to_string();
        let held = vec![
            entry(1, "<foreign.1@example.test>"),
            entry(2, "<mailflow.999-abc.7@probe.test>"),  // another run, same sequence
            entry(3, "<mailflow.123-abc.70@probe.test>"), // near miss: a prefix of it is mine
            entry(4, "<mailflow.123-abc.7@probe.test.evil>"),
            entry(5, "mailflow.123-abc.7@probe.test"),     // no brackets
            entry(6, ""),
            entry(7, &mine),
            entry(8, &other_probe_of_mine), // this run's, but not asked for
        ];
        let got = select_own("l.d", &held, &run, std::slice::from_ref(&mine));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].request_id(), 7);
        assert_eq!(got[0].message_id(), mine);
        assert_eq!(got[0].list_id(), "l.d");

        // Several probes of the run: each exact match, nothing else.
        let got = select_own("l.d", &held, &run, &[mine.clone(), other_probe_of_mine.clone()]);
        let ids: Vec<u64> = got.iter().map(OwnHeld::request_id).collect();
        assert_eq!(ids, vec![7, 8]);
    }

    #[test]
    fn a_foreign_id_passed_as_a_probe_id_is_still_refused() {
        // Even if a caller hands in an id that is not this run's probe id,
        // nothing is selected.
        let run = RunId::from_string("123-abc");
        let held = vec![entry(1, "<foreign.1@example.test>"), entry(2, "<mailflow.999-abc.1@probe.test>")];
        let asked = vec!["<foreign.1@example.test>".to_string(), "<mailflow.999-abc.1@probe.test>".to_string()];
        assert!(select_own("l.d", &held, &run, &asked).is_empty());
        // And no probe ids at all selects nothing, whatever is held.
        assert!(select_own("l.d", &held, &run, &[]).is_empty());
    }

    #[test]
    fn parses_mailman_held_json() {
        let body = r#"{"start": 0, "total_size": 1, "entries": [{"extra": 7, "hold_date": "2026-11-25T12:00:00", "msg": "x", "reason": "The message is not from a list member", "request_id": 3, "sender": "outsider@probe.test", "subject": "held probe", "type": "held message", "message_id": "<mailflow.1-a.0@probe.test>", "self_link": "http://localhost:8001/3.1/lists/p.l/held/3", "http_etag": "\"x\""}]}"#;
        let entries = super::super::rest::parse_held(body).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].request_id, 3);
        assert_eq!(entries[0].message_id, "<mailflow.1-a.0@probe.test>");
        assert_eq!(super::super::rest::parse_held(r#"{"start": 0, "total_size": 0}"#).unwrap(), vec![]);
    }
}
