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

type LineSink = Box<dyn Fn(&str) + Send + Sync>;

/// Where log lines go instead of stderr, while progress bars are drawn.
static REDIRECT: std::sync::RwLock<Option<LineSink>> = std::sync::RwLock::new(None);

/// Sends log lines (each with its `mailflow: ` prefix, without the final
/// line break) to `sink` instead of stderr until the returned guard is dropped:
/// the progress bars print them above themselves, so neither garbles the
/// other.
pub fn redirect(sink: impl Fn(&str) + Send + Sync + 'static) -> Redirected {
    *REDIRECT.write().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(sink));
    Redirected(())
}

/// Log lines go to stderr again when this is dropped.
#[must_use = "log lines go back to stderr when this is dropped"]
pub struct Redirected(());

impl Drop for Redirected {
    fn drop(&mut self) {
        *REDIRECT.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn line(message: &str) {
    write(&format!("mailflow: {message}"));
}

/// Writes `text` and a line break to stderr, or to the redirect.
fn write(text: &str) {
    if let Some(sink) = REDIRECT.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        sink(text);
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// Every error in the scenario files, sorted by file, line and column; each
/// as miette renders it: the plain `file:line:col: message`, then the snippet.
pub fn load_errors(errors: &crate::scenario::LoadErrors) {
    let mut sorted: Vec<_> = errors.errors.iter().collect();
    sorted.sort_by_key(|e| (e.path().to_path_buf(), e.line(), e.column()));
    for e in sorted {
        write(&format!("{:?}", miette::Report::new(e.clone())));
    }
    line(&format!("{} error(s) in the scenario files; nothing was run", errors.errors.len()));
}

/// Why nothing runs: every error in the scenario files (as [`load_errors`]),
/// or which selection kept no scenario.
pub fn plan_error(e: &crate::scenario::select::PlanError) {
    match e {
        crate::scenario::select::PlanError::Load(errors) => load_errors(errors),
        crate::scenario::select::PlanError::NothingSelected(nothing) => error(&nothing.to_string()),
    }
}
