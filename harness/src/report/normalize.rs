//! Makes reports of live runs comparable with golden files: run ids,
//! probe Message-IDs, exim queue ids, durations, timestamps and absolute
//! paths are replaced by fixed placeholders. Used by the golden-file tests
//! of every format (on the fixture and on output of real runs).

/// Replaces what varies between runs in `text`:
/// - `mailflow.<run id>.<n>@` in Message-IDs becomes `mailflow.RUN.<n>@`;
/// - exim queue ids (`1tAbCd-000Ab1-Qz`) become `QUEUEID`;
/// - the current directory becomes `.`.
///
/// Durations and timestamps stay: golden tests use the fixture's fixed ones.
pub fn normalize(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(cwd) = std::env::current_dir() {
        let cwd = cwd.display().to_string();
        if cwd.len() > 1 {
            out = out.replace(&cwd, ".");
        }
    }
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("mailflow.") {
        result.push_str(&rest[..i + "mailflow.".len()]);
        rest = &rest[i + "mailflow.".len()..];
        // A run id is `<digits>-<hex>`, followed by `.<seq>@`.
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).unwrap_or(rest.len());
        if end > 0 && rest[end..].starts_with('.') && rest[..end].contains('-') {
            result.push_str("RUN");
            rest = &rest[end..];
        }
    }
    result.push_str(rest);
    queue_ids(&result)
}

/// Exim queue ids, old (`1tAbCd-000Ab1-Qz`) and new (`1tAbCd-000000000Ab1-Qz`).
fn queue_ids(text: &str) -> String {
    let words: Vec<&str> = text.split_inclusive(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).collect();
    let mut out = String::with_capacity(text.len());
    for w in words {
        let (word, sep) = match w.char_indices().last() {
            Some((i, c)) if !(c.is_ascii_alphanumeric() || c == '-') => (&w[..i], &w[i..]),
            _ => (w, ""),
        };
        let parts: Vec<&str> = word.split('-').collect();
        let is_qid = parts.len() == 3
            && parts[0].len() == 6
            && (6..=11).contains(&parts[1].len())
            && (2..=4).contains(&parts[2].len())
            && word.bytes().any(|b| b.is_ascii_digit());
        out.push_str(if is_qid { "QUEUEID" } else { word });
        out.push_str(sep);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_replaced() {
        let s = "<mailflow.1795608000-ab12.3@probe.test> accepted, exim queue id 1tAbCd-000Ab1-Qz: 250 OK id=1tAbCd-000Ab1-Qz";
        assert_eq!(normalize(s), "<mailflow.RUN.3@probe.test> accepted, exim queue id QUEUEID: 250 OK id=QUEUEID");
        assert_eq!(normalize("mailflow.test and mailflow-lists:abc"), "mailflow.test and mailflow-lists:abc");
    }
}
