//! Helpers for walking a spanned TOML tree by hand.
//!
//! The format rules (`suite.rs`, `scenario_file.rs`) read values through
//! these so that every problem becomes one collected error at the right span,
//! instead of serde stopping at the first. Nothing here knows the format.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::{line_column, FileError, LoadErrors};
use super::model::Location;

pub(crate) type Span = Range<usize>;
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// One file being read: its text, and the errors found in it so far.
pub(crate) struct Doc {
    path: PathBuf,
    src: Arc<str>,
    errors: Vec<FileError>,
}

impl Doc {
    pub(crate) fn new(path: &Path, src: &str) -> Self {
        Doc {
            path: path.to_path_buf(),
            src: Arc::from(src),
            errors: Vec::new(),
        }
    }

    /// Parses the text into a spanned table. A syntax error is reported as
    /// one error: what follows it cannot be trusted.
    pub(crate) fn parse<'i>(&mut self, src: &'i str) -> Option<DeTable<'i>> {
        match DeTable::parse(src) {
            Ok(table) => Some(table.into_inner()),
            Err(err) => {
                let span = err.span().unwrap_or(0..0);
                self.error(
                    span,
                    "syntax error",
                    format!("TOML syntax error: {}", err.message()),
                );
                None
            }
        }
    }

    /// Records an error: `label` is the short text under the span in the
    /// rendered snippet, `message` the full sentence.
    pub(crate) fn error(
        &mut self,
        span: Span,
        label: impl Into<String>,
        message: impl Into<String>,
    ) {
        let error = FileError::at(&self.path, &self.src, span, label, message);
        self.errors.push(error);
    }

    /// The span of the `nth` (0-based) place where `needle` is written
    /// inside `span`, e.g. a placeholder inside a string value; `span`
    /// itself when the source does not hold it literally.
    pub(super) fn span_of(&self, span: &Span, needle: &str, nth: usize) -> Span {
        let Some(text) = self.src.get(span.clone()) else {
            return span.clone();
        };
        match text.match_indices(needle).nth(nth) {
            Some((at, _)) => span.start + at..span.start + at + needle.len(),
            None => span.clone(),
        }
    }

    pub(crate) fn location(&self, span: &Span) -> Location {
        let (line, column) = line_column(&self.src, span.start);
        Location {
            file: self.path.clone(),
            line,
            column,
        }
    }

    /// The errors in the order of their position in the file (the rules
    /// find them in another order: unknown keys come last).
    pub(crate) fn into_errors(mut self) -> Vec<FileError> {
        self.errors
            .sort_by_key(|error| (error.line(), error.column()));
        self.errors
    }

    /// `value` when no error was recorded, otherwise all the errors.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, LoadErrors> {
        let errors = self.into_errors();
        if errors.is_empty() {
            Ok(value)
        } else {
            Err(LoadErrors { errors })
        }
    }

    /// Reports that `what` has the wrong type.
    pub(crate) fn wrong_type(&mut self, what: &str, expected: &str, value: &Value<'_>) {
        self.error(
            value.span(),
            format!("expected {expected}"),
            format!(
                "{what} must be {expected}, found {}",
                type_name(value.get_ref())
            ),
        );
    }

    pub(crate) fn string<'v>(&mut self, what: &str, value: &'v Value<'_>) -> Option<&'v str> {
        let found = value.get_ref().as_str();
        if found.is_none() {
            self.wrong_type(what, "a string", value);
        }
        found
    }

    pub(crate) fn boolean(&mut self, what: &str, value: &Value<'_>) -> Option<bool> {
        let found = value.get_ref().as_bool();
        if found.is_none() {
            self.wrong_type(what, "true or false", value);
        }
        found
    }

    pub(crate) fn table<'v, 'i>(
        &mut self,
        what: &str,
        value: &'v Value<'i>,
    ) -> Option<&'v DeTable<'i>> {
        let found = value.get_ref().as_table();
        if found.is_none() {
            self.wrong_type(what, "a table", value);
        }
        found
    }

    pub(crate) fn array<'v, 'i>(
        &mut self,
        what: &str,
        value: &'v Value<'i>,
    ) -> Option<&'v [Value<'i>]> {
        let found = value.get_ref().as_array();
        if found.is_none() {
            self.wrong_type(what, "an array", value);
        }
        found.map(|array| &array[..])
    }

    /// A string that passes `check`; otherwise reports "invalid {noun}".
    pub(crate) fn checked_string(
        &mut self,
        what: &str,
        noun: &str,
        check: impl Fn(&str) -> Result<(), String>,
        value: &Value<'_>,
    ) -> Option<String> {
        let text = self.string(what, value)?;
        match check(text) {
            Ok(()) => Some(text.to_string()),
            Err(reason) => {
                self.error(
                    value.span(),
                    format!("invalid {noun}"),
                    format!("invalid {noun} `{}` in {what}: {reason}", shown(text)),
                );
                None
            }
        }
    }

    /// An integer in `range`; out-of-range values are reported too.
    pub(crate) fn integer_in(
        &mut self,
        what: &str,
        range: std::ops::RangeInclusive<i64>,
        value: &Value<'_>,
    ) -> Option<i64> {
        let Some(integer) = value.get_ref().as_integer() else {
            self.wrong_type(what, "an integer", value);
            return None;
        };
        let number = i64::from_str_radix(integer.as_str(), integer.radix())
            .ok()
            .filter(|n| range.contains(n));
        if number.is_none() {
            self.error(
                value.span(),
                "out of range",
                format!(
                    "{what} must be between {} and {}, found {integer}",
                    range.start(),
                    range.end()
                ),
            );
        }
        number
    }
}

/// `text` as an error message may quote it: control characters escaped
/// (`\r`, `\n`, `\u{0}`), so that a message stays on one line.
pub(super) fn shown(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

/// The type of a value as messages name it.
pub(crate) fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The entries of a table in source order, with their key spans. The parser
/// stores keys sorted by name; the format cares about the order they were
/// written in (steps run in that order).
pub(crate) fn entries_in_order<'t, 'i>(
    table: &'t DeTable<'i>,
) -> Vec<(&'t str, Span, &'t Value<'i>)> {
    let mut entries: Vec<_> = table
        .iter()
        .map(|(key, value)| (key.get_ref().as_ref(), key.span(), value))
        .collect();
    entries.sort_by_key(|(_, span, _)| span.start);
    entries
}

/// Reads the keys of one table and reports, in `finish`, those it does not
/// accept.
pub(crate) struct TableReader<'t, 'i> {
    /// How the table is named in messages: "" for the top level, a dotted
    /// path like "send" or "expect_smtp", or an array-of-tables header like
    /// "[[step]]" (whose keys are then named on their own).
    name: String,
    /// Where "missing key" errors point: the table's header or braces.
    span: Span,
    accepted: &'static [&'static str],
    entries: Vec<(&'t str, Span, &'t Value<'i>)>,
    used: Vec<bool>,
}

impl<'t, 'i> TableReader<'t, 'i> {
    pub(crate) fn new(
        name: impl Into<String>,
        table: &'t DeTable<'i>,
        span: Span,
        accepted: &'static [&'static str],
    ) -> Self {
        let entries = entries_in_order(table);
        let used = vec![false; entries.len()];
        TableReader {
            name: name.into(),
            span,
            accepted,
            entries,
            used,
        }
    }

    /// How messages name `key` of this table, e.g. "`send.from`".
    pub(crate) fn field(&self, key: &str) -> String {
        if self.name.is_empty() || self.name.starts_with('[') {
            format!("`{key}`")
        } else {
            format!("`{}.{key}`", self.name)
        }
    }

    /// "in `send`", "at the top level".
    fn whereabouts(&self) -> String {
        if self.name.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in `{}`", self.name)
        }
    }

    pub(crate) fn optional(&mut self, key: &str) -> Option<&'t Value<'i>> {
        debug_assert!(
            self.accepted.contains(&key),
            "`{key}` is not an accepted key"
        );
        let index = self.entries.iter().position(|(name, _, _)| *name == key)?;
        self.used[index] = true;
        Some(self.entries[index].2)
    }

    /// Like `optional`, and reports the key's absence at the table.
    pub(crate) fn required(&mut self, doc: &mut Doc, key: &str) -> Option<&'t Value<'i>> {
        let value = self.optional(key);
        if value.is_none() {
            doc.error(
                self.span.clone(),
                format!("`{key}` missing here"),
                format!("missing required key `{key}` {}", self.whereabouts()),
            );
        }
        value
    }

    /// Every accepted key present, in source order, with its key span; for
    /// tables where each key is an item of its own (a `[[step]]`).
    pub(crate) fn take_accepted(&mut self) -> Vec<(&'t str, Span, &'t Value<'i>)> {
        let mut taken = Vec::new();
        for (index, (key, span, value)) in self.entries.iter().enumerate() {
            if self.accepted.contains(key) {
                self.used[index] = true;
                taken.push((*key, span.clone(), *value));
            }
        }
        taken
    }

    /// Reports `key`, when present, with `message` instead of as an unknown
    /// key: for keys that are wrong for a reason worth saying (a literal
    /// password where only its source may be named). True when it was there.
    pub(crate) fn refuse(&mut self, doc: &mut Doc, key: &str, label: &str, message: impl Into<String>) -> bool {
        let Some(index) = self.entries.iter().position(|(name, _, _)| *name == key) else {
            return false;
        };
        let (_, span, _) = self.entries.remove(index);
        self.used.remove(index);
        doc.error(span, label, message);
        true
    }

    /// Reports every key that is not accepted here.
    pub(crate) fn finish(self, doc: &mut Doc) {
        for (index, (key, span, _)) in self.entries.iter().enumerate() {
            // An accepted key the rules never read is a bug in the rules,
            // not in the file: catch it in tests rather than blame the user.
            debug_assert!(
                self.used[index] || !self.accepted.contains(key),
                "accepted key `{key}` was never read"
            );
            if !self.accepted.contains(key) {
                doc.error(
                    span.clone(),
                    "unknown key",
                    format!(
                        "unknown key `{key}` {}; accepted keys: {}",
                        self.whereabouts(),
                        self.accepted.join(", ")
                    ),
                );
            }
        }
    }
}
