//! The one place that writes log lines to stderr: progress of slow set-up
//! work and problems that are not part of any report. Each line starts with
//! `mailflow: `.

use std::io::Write as _;

/// Something worth knowing while it happens (an image build starts).
pub fn note(message: &str) {
    line(message);
}

/// Something went wrong outside the scenarios' verdicts.
pub fn error(message: &str) {
    line(message);
}

fn line(message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "mailflow: {message}");
}

/// Every error in the scenario files, sorted by file, line and column; each
/// as miette renders it: the plain `file:line:col: message`, then the snippet.
pub fn load_errors(errors: &crate::scenario::LoadErrors) {
    let mut sorted: Vec<_> = errors.errors.iter().collect();
    sorted.sort_by_key(|e| (e.path().to_path_buf(), e.line(), e.column()));
    let mut err = std::io::stderr().lock();
    for e in sorted {
        let _ = writeln!(err, "{:?}", miette::Report::new(e.clone()));
    }
    let _ = writeln!(err, "mailflow: {} error(s) in the scenario files; nothing was run", errors.errors.len());
}
