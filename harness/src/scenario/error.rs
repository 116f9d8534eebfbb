//! Load errors: one [`FileError`] per problem, all of a run's in [`LoadErrors`].
//!
//! Display is a plain `path:line:col: message` line so errors read well in
//! test output and logs; the [`miette::Diagnostic`] impls add the labelled
//! source snippet for terminals.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};

use super::model::Location;

/// One problem in one file: a position in its text, or (for I/O errors) just
/// the path.
#[derive(Debug, Clone)]
pub struct FileError {
    path: PathBuf,
    /// 1-based; 0 when the error has no position.
    line: usize,
    column: usize,
    message: String,
    label: String,
    span: Option<SourceSpan>,
    source_code: Option<NamedSource<Arc<str>>>,
}

impl FileError {
    /// An error about `span` of `src`, the whole text of `path`.
    pub(crate) fn at(
        path: &Path,
        src: &Arc<str>,
        span: Range<usize>,
        label: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_column(src, span.start);
        FileError {
            path: path.to_path_buf(),
            line,
            column,
            message: message.into(),
            label: label.into(),
            span: Some(SourceSpan::from(span)),
            source_code: Some(NamedSource::new(
                path.display().to_string(),
                Arc::clone(src),
            )),
        }
    }

    /// An error about the file as a whole (missing, unreadable, ...).
    pub(crate) fn whole_file(path: &Path, message: impl Into<String>) -> Self {
        FileError {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
            label: String::new(),
            span: None,
            source_code: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 1-based line, or 0 when the error is about the whole file.
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column (in characters), or 0 when the error is about the whole file.
    pub fn column(&self) -> usize {
        self.column
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error's position, if it has one.
    pub fn location(&self) -> Option<Location> {
        (self.line > 0).then(|| Location {
            file: self.path.clone(),
            line: self.line,
            column: self.column,
        })
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location() {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for FileError {}

impl Diagnostic for FileError {
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source_code.as_ref().map(|src| src as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span?;
        let label = LabeledSpan::new_with_span(Some(self.label.clone()), span);
        Some(Box::new(std::iter::once(label)))
    }
}

/// Every error found while loading, in file order and, within a file, in the
/// order they were found.
#[derive(Debug, Clone)]
pub struct LoadErrors {
    pub errors: Vec<FileError>,
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

impl Diagnostic for LoadErrors {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(
            self.errors.iter().map(|error| error as &dyn Diagnostic),
        ))
    }
}

impl From<Vec<FileError>> for LoadErrors {
    fn from(errors: Vec<FileError>) -> Self {
        LoadErrors { errors }
    }
}

/// 1-based line and column (in characters) of a byte offset in `src`.
pub(crate) fn line_column(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
