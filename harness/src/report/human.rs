//! The readable report: one block per scenario, one line per step with its
//! time, the rows of steps that check more than one property, and on
//! failure where the probe stopped, the evidence and the file position.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use super::Reporter;
use crate::check::{Hop, HopKind, Outcome, Row, Stop};
use crate::run::{display_path, Event, ScenarioResult, Signal, StepResult, Totals};

/// Seconds with two decimals (`2.41s`).
pub fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// Terminal styles, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    pub const PLAIN: Style = Style { colour: false };

    /// Colour when `stream` is a terminal and `NO_COLOR` is unset or empty
    /// (no-color.org).
    pub fn for_terminal(is_terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style { colour: is_terminal && !no_color }
    }
    fn paint(&self, style: anstyle::Style, text: &str) -> String {
        if self.colour {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }
    fn red(&self, text: &str) -> String {
        self.paint(anstyle::AnsiColor::Red.on_default().bold(), text)
    }
    fn green(&self, text: &str) -> String {
        self.paint(anstyle::AnsiColor::Green.on_default(), text)
    }
    fn yellow(&self, text: &str) -> String {
        self.paint(anstyle::AnsiColor::Yellow.on_default(), text)
    }
    fn dim(&self, text: &str) -> String {
        self.paint(anstyle::Style::new().dimmed(), text)
    }
}

/// Renders one finished scenario, without colour.
pub fn scenario(r: &ScenarioResult) -> String {
    scenario_styled(r, Style::PLAIN)
}

/// Renders one finished scenario.
pub fn scenario_styled(r: &ScenarioResult, style: Style) -> String {
    let mut out = String::new();
    let verdict = if r.passed() { style.green("PASS") } else { style.red("FAIL") };
    let _ = writeln!(out, "{verdict} {} ({}) {}", display_path(&r.path).display(), r.name, secs(r.duration));
    let width = r.steps.iter().map(|s| s.label.len()).max().unwrap_or(0);
    for s in &r.steps {
        let (mark, text) = match s.outcome() {
            Outcome::Passed => (style.green("ok  "), passed_text(s)),
            Outcome::Failed => (style.red("FAIL"), failed_rows(s)),
            Outcome::Skipped(why) => (style.yellow("skip"), why),
        };
        let _ = writeln!(out, "  {mark} {:width$} {:>7}  {text}", s.label, secs(s.duration));
        // Steps with several rows show each (except a lone failure, already on the line).
        if s.rows.len() > 1 {
            for row in &s.rows {
                let _ = writeln!(out, "         {}", row_line(row, style));
            }
        }
        // Accepted, then bounced stands out even where a step expected it.
        let bounced = matches!(s.stop, Some(Stop::Bounced { .. }));
        if s.failed() || bounced {
            if let Some(stop) = &s.stop {
                let _ = writeln!(out, "         the probe: {}", stop_styled(stop, style));
            }
            for e in &s.evidence {
                let _ = writeln!(out, "         {}", style.dim(e));
            }
        }
        if s.failed() {
            let _ = writeln!(out, "       at {}", s.location);
        }
        if !s.hops.is_empty() {
            let _ = writeln!(out, "         {}", style.dim(&format!("hops: {}", hops(&s.hops))));
        }
    }
    out
}

/// The line for a passed step: its first row's observation and how long it took.
fn passed_text(s: &StepResult) -> String {
    match s.rows.as_slice() {
        [row] => observed_with_time(row),
        rows => {
            let passed = rows.iter().filter(|r| r.outcome == Outcome::Passed).count();
            format!("{passed} of {} checks passed", rows.len())
        }
    }
}

fn observed_with_time(row: &Row) -> String {
    match row.took {
        Some(t) => format!("{}: {} after {}", row.property, row.observed, secs(t)),
        None => format!("{}: {}", row.property, row.observed),
    }
}

/// The failed rows of a step, one sentence each.
pub(crate) fn failed_rows(s: &StepResult) -> String {
    let failed: Vec<String> = s.rows.iter().filter(|r| r.outcome == Outcome::Failed).map(failure_sentence).collect();
    failed.join("; ")
}

fn failure_sentence(r: &Row) -> String {
    if r.expected.is_empty() {
        format!("{}: {}", r.property, r.observed)
    } else {
        format!("{}: expected {}, observed {}", r.property, r.expected, r.observed)
    }
}

fn row_line(r: &Row, style: Style) -> String {
    match &r.outcome {
        Outcome::Passed => format!("{} {}", style.green("ok  "), observed_with_time(r)),
        Outcome::Failed => format!("{} {}", style.red("FAIL"), failure_sentence(r)),
        Outcome::Skipped(why) => format!("{} {}: {why}", style.yellow("skip"), r.property),
    }
}

/// Everything a failed step says, without colour: its failed rows, where
/// the probe stopped, and the evidence. What tests read as the failure.
pub fn failure(s: &StepResult) -> String {
    let mut text = failed_rows(s);
    if let Some(stop) = &s.stop {
        let _ = write!(text, "; the probe: {}", stop_styled(stop, Style::PLAIN));
    }
    for e in &s.evidence {
        let _ = write!(text, "; {e}");
    }
    text
}

/// Where the probe stopped, in words.
pub fn stop(s: &Stop) -> String {
    stop_styled(s, Style::PLAIN)
}

fn stop_styled(s: &Stop, style: Style) -> String {
    match s {
        Stop::NotSent { error } => format!("never sent: {error}"),
        Stop::RefusedAtSmtp { stage, command, code, enhanced, text } => {
            let cmd = command.as_deref().map(|c| format!(" `{c}`")).unwrap_or_default();
            let enhanced = enhanced.as_deref().map(|e| format!(" {e}")).unwrap_or_default();
            format!("refused at SMTP {stage}{cmd}: {code}{enhanced} {text}")
        }
        Stop::Deferred { queue_id, log_line } => format!("deferred and still in exim's queue as {queue_id}: {log_line}"),
        Stop::Frozen { queue_id, log_line } => format!("frozen in exim's queue as {queue_id}: {log_line}"),
        // The failure lists hide from their senders: made to stand out.
        Stop::Bounced { status, diagnostic } => {
            let status = status.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
            style.red(&format!("ACCEPTED, THEN BOUNCED{status}: {diagnostic}"))
        }
        Stop::Held { list, request_id, reason } => format!("held for moderation on {list} (request {request_id}): {reason}"),
        Stop::Shunted { queue_file, log_line } => {
            let log = log_line.as_deref().map(|l| format!("; mailman.log: {l}")).unwrap_or_default();
            format!("shunted by Mailman ({queue_file}){log}")
        }
        Stop::InMailmanQueue { queues } => format!("waiting in Mailman's {} queue", queues.join(", ")),
        Stop::Delivered { to } => format!("delivered to {}", to.join(", ")),
        Stop::Archived { archive, location } => format!("in the {archive} archive at {location}"),
        Stop::NotArchived { archive, error } => match error {
            Some(e) => format!("delivered, never archived in {archive}: {e}"),
            None => format!("delivered, never archived in {archive}"),
        },
        Stop::Lost => "lost: not refused, held, shunted, bounced or delivered".into(),
    }
}

/// `accepted +0.02s, to Mailman +0.30s, delivered bob@probe.test +2.38s`.
pub fn hops(hops: &[Hop]) -> String {
    hops.iter()
        .map(|h| {
            let what = match &h.kind {
                HopKind::Accepted => "accepted".to_string(),
                HopKind::HandedToMailman => "to Mailman".to_string(),
                HopKind::ResentByMailman => "resent by Mailman".to_string(),
                HopKind::Delivered { to } => format!("delivered to {to}"),
                HopKind::Archived { archive } => format!("in the {archive} archive"),
            };
            format!("{what} +{}", secs(h.after))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closing line.
pub fn totals(t: &Totals) -> String {
    let skipped = if t.skipped_steps > 0 { format!(", {} steps skipped", t.skipped_steps) } else { String::new() };
    let not_run = if t.not_run > 0 { format!(", {} not run", t.not_run) } else { String::new() };
    format!("{} passed, {} failed{skipped}{not_run}", t.passed, t.failed)
}

/// The human report: scenario blocks on `out` as they finish, the run's
/// frame (target, clean-up, interrupt, totals) around them.
pub struct Human<W: Write + Send> {
    out: W,
    style: Style,
}

impl<W: Write + Send> Human<W> {
    pub fn new(out: W, style: Style) -> Self {
        Human { out, style }
    }
}

impl<W: Write + Send> Reporter for Human<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::RunStarted { run_id, target, scenarios, .. } => {
                writeln!(self.out, "run {run_id} of {} scenario(s) against {target}", scenarios.len())
            }
            Event::TargetReady { description, versions, phases } => {
                let versions: Vec<String> = versions.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let phases: Vec<String> = phases.iter().map(|p| format!("{} {:.1}s", p.name, p.took.as_secs_f64())).collect();
                writeln!(self.out, "target ready: {description}")?;
                if !versions.is_empty() {
                    writeln!(self.out, "  runs {}", versions.join(", "))?;
                }
                if !phases.is_empty() {
                    writeln!(self.out, "  {}", self.style.dim(&phases.join(", ")))?;
                }
                Ok(())
            }
            Event::SetupFailed { stage, error } => writeln!(self.out, "{} ({stage}): {error}", self.style.red("SET-UP FAILED")),
            Event::ScenarioStarted { .. } | Event::StepFinished { .. } => Ok(()),
            Event::ScenarioFinished(r) => write!(self.out, "{}", scenario_styled(r, self.style)),
            Event::Cleanup { discarded, error } => {
                if !discarded.is_empty() {
                    writeln!(self.out, "cleanup: discarded held probes: {}", discarded.join(", "))?;
                }
                match error {
                    Some(e) => writeln!(self.out, "{} {e}", self.style.red("cleanup:")),
                    None => Ok(()),
                }
            }
            Event::Interrupted { signal } => {
                let name = match signal {
                    Signal::Interrupt => "interrupted (SIGINT)",
                    Signal::Terminate => "terminated (SIGTERM)",
                };
                writeln!(self.out, "{}", self.style.red(name))
            }
            Event::RunFinished { totals: t, duration, .. } => writeln!(self.out, "{} in {}", totals(t), secs(*duration)),
        }?;
        self.out.flush()
    }
}

/// One line of `mailflow list`: the scenario file and its name.
pub fn list_line(path: &std::path::Path, name: &str) -> String {
    format!("{}  {name}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixture, golden};

    fn render(events: &[Event]) -> String {
        let mut out = Vec::new();
        let mut human = Human::new(&mut out, Style::PLAIN);
        for e in events {
            human.event(e).expect("write");
        }
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn golden_runs() {
        golden::check("human.txt", &render(&fixture::events()));
        golden::check("human-interrupted.txt", &render(&fixture::interrupted_events()));
        golden::check("human-setup-failed.txt", &render(&fixture::setup_failed_events()));
    }

    #[test]
    fn an_expected_bounce_still_stands_out() {
        let mut r = fixture::failed_scenario();
        let step = r.steps.iter_mut().find(|s| s.failed()).expect("a failed step");
        step.rows = vec![Row::passed("bounce to alice@probe.test", "a DSN within 30.00s", "from Mail Delivery System")];
        let text = scenario_styled(&r, Style::PLAIN);
        assert!(text.contains("the probe: ACCEPTED, THEN BOUNCED (5.0.0)"), "{text}");
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = scenario_styled(&fixture::failed_scenario(), Style::PLAIN);
        let coloured = scenario_styled(&fixture::failed_scenario(), Style { colour: true });
        assert!(!plain.contains('\u{1b}'));
        assert!(coloured.contains("\u{1b}["));
        assert!(plain.contains("ACCEPTED, THEN BOUNCED (5.0.0)"), "{plain}");
    }
}
