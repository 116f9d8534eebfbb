//! Checks for the scalar values of the format: durations, addresses, domains,
//! list names, header names. Pure functions on text; each error is the reason
//! only, the caller names the value and its position.

use std::time::Duration;

use super::model::StatusPattern;

/// The longest `within` a step may wait: a scenario is a quick probe, and a
/// typo like "30m" for "30s" should not stall a run.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60 * 60);

/// Parses "500ms", "30s", "2m", "1h", "1m30s": numbers with units, each unit
/// at most once and largest first.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    if text.is_empty() {
        return Err("expected a number with a unit, like \"30s\" or \"1m30s\"".into());
    }
    let mut rest = text;
    let mut millis: u64 = 0;
    // Index into UNITS of the last unit seen; the next must come later.
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err("expected a number with a unit, like \"30s\" or \"1m30s\"".into());
        }
        let (number, after) = rest.split_at(digits);
        let letters = after.len()
            - after
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let (unit, after) = after.split_at(letters);
        if let Some(c) = after.chars().next().filter(|_| unit.is_empty()) {
            return Err(format!(
                "unexpected `{c}`: write whole numbers with units, like \"1m30s\""
            ));
        }
        if unit.is_empty() {
            return Err(format!("`{number}` has no unit (use ms, s, m or h)"));
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!("unknown unit `{unit}` (use ms, s, m or h)"));
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err("each unit may appear once, largest first (like \"1m30s\")".into());
        }
        last_unit = Some(index);
        let value = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(UNITS[index].1))
            .and_then(|ms| ms.checked_add(millis));
        millis = value.ok_or("the number is too large")?;
        rest = after;
    }
    let duration = Duration::from_millis(millis);
    if duration.is_zero() {
        return Err("must be greater than zero".into());
    }
    if duration > MAX_WAIT {
        return Err("must be at most 1h".into());
    }
    Ok(duration)
}

/// A mailbox as used in SMTP envelopes: `local@domain`, no display name.
pub(crate) fn check_address(text: &str) -> Result<(), String> {
    check_header_text(text)?;
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>,;".contains(c))
    {
        return Err("must be a bare address without spaces or any of `<>,;`".into());
    }
    let mut parts = text.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("must contain exactly one `@`".into());
    };
    if local.is_empty() {
        return Err("the part before `@` is empty".into());
    }
    if domain.is_empty() {
        return Err("the part after `@` is empty".into());
    }
    Ok(())
}

/// A lowercase DNS name, as Mailman stores list domains.
pub(crate) fn check_domain(text: &str) -> Result<(), String> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if text.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(
            "must be a domain name: lowercase letters, digits and `-`, in labels separated by `.`"
                .into(),
        )
    }
}

/// A list's local part, in the characters Mailman accepts for list names.
pub(crate) fn check_list_name(text: &str) -> Result<(), String> {
    let char_ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
    if !text.is_empty() && text.chars().all(char_ok) {
        Ok(())
    } else {
        Err("must be lowercase letters, digits, `-`, `_` or `.`".into())
    }
}

/// Text that becomes part of a header: one line, since CR or LF would end
/// the header and start another (`Subject: x\r\nBcc: ...`), and no NUL,
/// which mail cannot carry.
pub(super) fn check_header_text(text: &str) -> Result<(), String> {
    let reason = |c: char| match c {
        '\r' => Some("a carriage return (CR) would end the header and start another"),
        '\n' => Some("a line feed (LF) would end the header and start another"),
        '\0' => Some("a NUL character cannot be sent in a header"),
        _ => None,
    };
    match text.chars().find_map(reason) {
        Some(reason) => Err(format!("must be a single line without NUL: {reason}")),
        None => Ok(()),
    }
}

/// A MIME type without parameters: `type/subtype`, each an RFC 2045 token.
pub(super) fn check_mime_type(text: &str) -> Result<(), String> {
    check_header_text(text)?;
    let token_ok = |part: &str| {
        !part.is_empty() && part.chars().all(|c| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?=".contains(c))
    };
    match text.split_once('/') {
        Some((kind, subtype)) if token_ok(kind) && token_ok(subtype) => Ok(()),
        _ => Err("must be a MIME type like \"application/pdf\": `type/subtype`, no spaces or parameters".into()),
    }
}

/// An attachment size written as a string: a whole number with `KB` or
/// `MB`, where (as in Mailman's `max_message_size`) 1 KB is 1024 bytes and
/// 1 MB is 1024 KB. Plain byte counts are written as TOML integers.
pub(super) fn parse_size(text: &str) -> Result<u64, String> {
    const HINT: &str = "write a whole number of bytes (an integer), or a string like \"64KB\" or \"2MB\" (1 KB = 1024 bytes)";
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    let factor: u64 = match unit {
        "KB" => 1024,
        "MB" => 1024 * 1024,
        _ => return Err(HINT.into()),
    };
    if number.is_empty() {
        return Err(HINT.into());
    }
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| "the number is too large".to_string())
}

/// An RFC 5322 field name: printable ASCII except `:`.
pub(crate) fn check_header_name(text: &str) -> Result<(), String> {
    let char_ok = |c: char| c.is_ascii_graphic() && c != ':';
    if !text.is_empty() && text.chars().all(char_ok) {
        Ok(())
    } else {
        Err("a header name must be printable ASCII without spaces or `:`".into())
    }
}

/// An enhanced status code to expect (RFC 3463): a class alone (`5`), or
/// `class.subject.detail` where subject and detail are numbers of one to
/// three digits or `x` (any): `5.6.0`, `5.1.x`, `5.x.x`.
pub(super) fn parse_status_pattern(text: &str) -> Result<StatusPattern, String> {
    const HINT: &str = "write a class (\"5\") or an enhanced status code like \"5.6.0\", with `x` for any subject or detail (\"5.x.x\")";
    let parts: Vec<&str> = text.split('.').collect();
    let class = match parts[0] {
        "2" => 2,
        "4" => 4,
        "5" => 5,
        _ => return Err(format!("the class must be 2, 4 or 5; {HINT}")),
    };
    let number = |part: &str| -> Result<Option<u16>, String> {
        if part.eq_ignore_ascii_case("x") {
            return Ok(None);
        }
        if (1..=3).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit()) {
            return part.parse().map(Some).map_err(|_| HINT.to_string());
        }
        Err(HINT.into())
    };
    match parts.as_slice() {
        [_] => Ok(StatusPattern { class, subject: None, detail: None }),
        [_, subject, detail] => Ok(StatusPattern { class, subject: number(subject)?, detail: number(detail)? }),
        _ => Err(HINT.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patterns() {
        let p = |class, subject, detail| StatusPattern { class, subject, detail };
        assert_eq!(parse_status_pattern("5"), Ok(p(5, None, None)));
        assert_eq!(parse_status_pattern("5.x.x"), Ok(p(5, None, None)));
        assert_eq!(parse_status_pattern("5.6.0"), Ok(p(5, Some(6), Some(0))));
        assert_eq!(parse_status_pattern("4.1.X"), Ok(p(4, Some(1), None)));
        assert_eq!(parse_status_pattern("5.7.606"), Ok(p(5, Some(7), Some(606))));
        for bad in ["", "3", "5.6", "5.6.0.1", "5..0", "5.6.1000", "5.a.0", " 5", "5.6.0 "] {
            assert!(parse_status_pattern(bad).is_err(), "{bad:?}");
        }
        assert!(p(5, None, None).matches("5.0.0"));
        assert!(p(5, Some(6), None).matches("5.6.12"));
        assert!(!p(5, Some(6), None).matches("5.7.1"));
        assert!(!p(5, None, None).matches("4.0.0"));
        assert!(!p(5, None, None).matches("5.0"));
        assert_eq!(p(5, None, None).to_string(), "5.x.x");
        assert_eq!(p(5, Some(1), None).to_string(), "5.1.x");
        assert_eq!(p(5, Some(6), Some(0)).to_string(), "5.6.0");
    }

    #[test]
    fn durations() {
        let ok = [
            ("500ms", 500),
            ("30s", 30_000),
            ("2m", 120_000),
            ("1m30s", 90_000),
            ("1h", 3_600_000),
            ("1m0s500ms", 60_500),
        ];
        for (text, millis) in ok {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
        let bad = [
            ("", "expected a number with a unit"),
            ("30", "`30` has no unit"),
            ("30 s", "unexpected ` `"),
            ("3x", "unknown unit `x`"),
            ("1.5s", "unexpected `.`"),
            ("s", "expected a number"),
            ("-1s", "expected a number"),
            ("30s1m", "largest first"),
            ("1m1m", "largest first"),
            ("0s", "greater than zero"),
            ("0ms", "greater than zero"),
            ("61m", "at most 1h"),
            ("1h1ms", "at most 1h"),
            ("99999999999999999999s", "too large"),
        ];
        for (text, reason) in bad {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn addresses() {
        for ok in [
            "alice@probe.test",
            "a.b+tag@x",
            "list-bounces@lists.example.test",
        ] {
            assert_eq!(check_address(ok), Ok(()), "{ok}");
        }
        let bad = [
            ("alice", "exactly one `@`"),
            ("a@b@c", "exactly one `@`"),
            ("@probe.test", "before `@` is empty"),
            ("alice@", "after `@` is empty"),
            ("Alice <alice@probe.test>", "bare address"),
            ("alice@probe.test,bob@probe.test", "bare address"),
            ("", "exactly one `@`"),
        ];
        for (text, reason) in bad {
            let err = check_address(text).expect_err(text);
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn domains_names_and_headers() {
        assert!(check_domain("lists.example.test").is_ok());
        assert!(check_domain("probe-1.test").is_ok());
        for bad in ["", "Lists.example.test", "a..b", "a.b.", "a_b.test", "a b"] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
        assert!(check_list_name("probe-test_1.x").is_ok());
        for bad in ["", "Probe", "probe test", "probe@x"] {
            assert!(check_list_name(bad).is_err(), "{bad}");
        }
        assert!(check_header_name("X-Mailman-Version").is_ok());
        for bad in ["", "X Extra", "X:Extra", "X-Ünicode", "X\r\nBcc", "X\0"] {
            assert!(check_header_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_text_and_mime_types() {
        for ok in ["", "plain", "Grüße – 日本語", "tab\tinside", "=?utf-8?q?x?="] {
            assert_eq!(check_header_text(ok), Ok(()), "{ok:?}");
        }
        for (bad, reason) in [("a\rb", "(CR)"), ("a\nb", "(LF)"), ("a\r\nBcc: x", "(CR)"), ("a\0", "NUL")] {
            let err = check_header_text(bad).expect_err(bad);
            assert!(err.contains(reason), "{bad:?}: {err}");
        }
        for ok in ["application/pdf", "text/plain", "application/vnd.ms-excel", "image/svg+xml"] {
            assert_eq!(check_mime_type(ok), Ok(()), "{ok}");
        }
        for bad in ["", "pdf", "text/", "/plain", "text/plain; charset=utf-8", "text /plain", "text/pl\nain", "a/b/c"] {
            assert!(check_mime_type(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes() {
        for (text, bytes) in [("0KB", 0), ("1KB", 1024), ("64KB", 65_536), ("2MB", 2_097_152), ("100MB", 104_857_600)] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in ["", "64", "KB", "64kb", "64 KB", "1.5MB", "-1KB", "2GB", "64KiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_size("99999999999999999999MB"), Err("the number is too large".into()));
    }
}
