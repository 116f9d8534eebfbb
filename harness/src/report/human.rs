//! The readable report: one block per scenario, one line per step with its
//! time, and on failure the message that says where the probe stopped.

use std::fmt::Write as _;

use crate::run::{display_path, secs, Event, Outcome, ScenarioResult, Totals};

/// Renders one finished scenario.
pub fn scenario(r: &ScenarioResult) -> String {
    let mut out = String::new();
    let verdict = if r.passed() { "PASS" } else { "FAIL" };
    let _ = writeln!(out, "{verdict} {} ({}) {}", display_path(&r.path).display(), r.name, secs(r.duration));
    let width = r.steps.iter().map(|s| s.label.len()).max().unwrap_or(0);
    for s in &r.steps {
        let (mark, text) = match &s.outcome {
            Outcome::Passed => ("ok  ", s.detail.clone().unwrap_or_default()),
            Outcome::Failed(m) => ("FAIL", m.clone()),
            Outcome::Skipped(m) => ("skip", m.clone()),
        };
        let _ = writeln!(out, "  {mark} {:width$} {:>7}  {text}", s.label, secs(s.duration));
        if matches!(s.outcome, Outcome::Failed(_)) {
            let _ = writeln!(out, "       at {}", s.location);
        }
    }
    out
}

/// The closing line.
pub fn totals(t: &Totals) -> String {
    let skipped = if t.skipped_steps > 0 { format!(", {} steps skipped", t.skipped_steps) } else { String::new() };
    format!("{} passed, {} failed{skipped}", t.passed, t.failed)
}

/// A reporter that prints each scenario when it finishes.
pub fn printer() -> impl Fn(Event) + Send + Sync {
    |e| {
        if let Event::ScenarioFinished(r) = e {
            print!("{}", scenario(&r));
        }
    }
}
