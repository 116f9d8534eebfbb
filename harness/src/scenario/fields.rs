//! Readers for value kinds that several parts of the format share:
//! address lists, durations and header tables.

use std::time::Duration;

use super::reader::{entries_in_order, shown, Doc, Span, Value};
use super::values::{check_address, check_header_name, check_header_text, parse_duration};

/// An array of addresses. Bad entries and repeats are reported and left
/// out; `None` only when the value is not a usable array at all.
pub(crate) fn addresses(
    doc: &mut Doc,
    what: &str,
    value: &Value<'_>,
    allow_empty: bool,
) -> Option<Vec<String>> {
    let items = doc.array(what, value)?;
    if items.is_empty() && !allow_empty {
        doc.error(value.span(), "empty", format!("{what} must not be empty"));
        return None;
    }
    let mut found: Vec<String> = Vec::new();
    for item in items {
        let what_item = format!("each entry of {what}");
        let Some(address) = doc.checked_string(&what_item, "address", check_address, item) else {
            continue;
        };
        // Domains are case-insensitive and Mailman lowercases addresses, so
        // `Bob@x` and `bob@x` are the same recipient.
        if found.iter().any(|seen| seen.eq_ignore_ascii_case(&address)) {
            doc.error(
                item.span(),
                "repeated",
                format!("{what} lists `{address}` more than once"),
            );
            continue;
        }
        found.push(address);
    }
    Some(found)
}

/// A duration string like "30s"; `default` when the key is absent.
pub(crate) fn duration(
    doc: &mut Doc,
    what: &str,
    value: Option<&Value<'_>>,
    default: Duration,
) -> Option<Duration> {
    let Some(value) = value else {
        return Some(default);
    };
    let text = doc.string(what, value)?;
    match parse_duration(text) {
        Ok(duration) => Some(duration),
        Err(reason) => {
            doc.error(
                value.span(),
                "invalid duration",
                format!("invalid duration `{text}` in {what}: {reason}"),
            );
            None
        }
    }
}

/// One entry of a header table, handed to the caller's reader.
pub(crate) struct Header<'t, 'i> {
    /// How messages name the table, e.g. "`send.headers`".
    pub(crate) table: &'t str,
    pub(crate) name: &'t str,
    pub(crate) name_span: Span,
    pub(crate) value: &'t Value<'i>,
}

impl Header<'_, '_> {
    /// How messages name the value, e.g. "header `X-Extra` in `send.headers`".
    pub(crate) fn what(&self) -> String {
        format!("header `{}` in {}", self.name, self.table)
    }
}

/// A table of header names to values, in source order. Each name is checked
/// as an RFC 5322 field name; `read` turns a valid entry into what the
/// caller needs (and reports it when it can't).
pub(crate) fn headers<T>(
    doc: &mut Doc,
    what: &str,
    value: &Value<'_>,
    mut read: impl FnMut(&mut Doc, &Header<'_, '_>) -> Option<T>,
) -> Option<Vec<(String, T)>> {
    let table = doc.table(what, value)?;
    let mut found = Vec::new();
    for (name, name_span, value) in entries_in_order(table) {
        if let Err(reason) = check_header_name(name) {
            doc.error(
                name_span,
                "invalid header name",
                format!("invalid header name `{}` in {what}: {reason}", shown(name)),
            );
            continue;
        }
        let header = Header {
            table: what,
            name,
            name_span,
            value,
        };
        if let Some(read) = read(doc, &header) {
            found.push((name.to_string(), read));
        }
    }
    Some(found)
}

/// A header value to send: one line of text without NUL (see
/// [`header_line`]).
pub(crate) fn header_text(doc: &mut Doc, header: &Header<'_, '_>) -> Option<String> {
    header_line(doc, &header.what(), header.value)
}

/// A string that becomes (part of) a header of a probe: a line break would
/// end the header and start one of the file's choosing, so CR, LF and NUL
/// are refused at the value.
pub(crate) fn header_line(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<String> {
    let text = doc.string(what, value)?;
    if let Err(reason) = check_header_text(text) {
        doc.error(value.span(), "not a single line", format!("{what} {reason}"));
        return None;
    }
    Some(text.to_string())
}

/// A string naming one of `choices` (by `name`); reports the others when not.
pub(crate) fn one_of<T: Copy>(
    doc: &mut Doc,
    what: &str,
    noun: &str,
    value: &Value<'_>,
    choices: &[T],
    name: impl Fn(T) -> &'static str,
) -> Option<T> {
    let text = doc.string(what, value)?;
    let found = choices.iter().copied().find(|c| name(*c) == text);
    if found.is_none() {
        let names: Vec<&str> = choices.iter().map(|c| name(*c)).collect();
        doc.error(
            value.span(),
            format!("unknown {noun}"),
            format!(
                "unknown {noun} `{text}` in {what}; expected one of {}",
                names.join(", ")
            ),
        );
    }
    found
}
