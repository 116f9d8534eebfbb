//! The run as a Nagios/Icinga plugin's output: one status line with
//! performance data, the details of what failed on the lines after it, and
//! the plugin's exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
//!
//! ```text
//! MAILFLOW OK - 16 scenarios passed | 'member-post'=2.9s;5;10;0 'member-post accepted'=0.04s;;;0 ... 'passed'=16;;;0 'failed'=0;;;0
//! ```
//!
//! The thresholds apply to each scenario's *probe latency*: the time from
//! sending its probe to the last hop it was seen to pass (its slowest hop:
//! the last subscriber's copy delivered, or the archive having it). That is
//! the time a list member waits for a post, which a nightly check watches;
//! a step's wall time also holds the runner's own waiting and would warn
//! about the harness rather than the server. Scenarios whose steps measure
//! no hops (refusals, network checks) have no latency and no thresholds.
//!
//! The state, worst first:
//! - CRITICAL (2): a scenario failed, or a latency is over `critical`. A
//!   failure seen before an interrupt is still CRITICAL: it is an answer.
//! - UNKNOWN (3): set-up failed (bad input, or a target that did not start),
//!   the run was interrupted, it ended without its totals, or no scenario ran.
//! - WARNING (1): a latency is over `warning`.
//! - OK (0): every scenario passed within the thresholds.
//!
//! Performance data follows the plugin guidelines,
//! `'label'=value[UOM];[warn];[crit];[min];[max]`, in seconds (`s`): per
//! scenario its latency (label: the file's name without `.toml`, or its
//! path when two files share a name) with the thresholds; per hop
//! (`'member-post delivered bob@probe.test'`); the run's wall time
//! (`'run'`); and the counts `passed`, `failed`, `not_run`, `skipped_steps`.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::human;
use super::summary::{seconds, signal_name, Summary};
use super::Reporter;
use crate::check::HopKind;
use crate::run::{display_path, Event, ScenarioResult};

/// Latency thresholds for the probe latency of each scenario (see the
/// module's documentation). A latency strictly over a threshold trips it;
/// `None` checks nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Thresholds {
    /// Over this: WARNING (exit 1).
    pub warning: Option<Duration>,
    /// Over this: CRITICAL (exit 2).
    pub critical: Option<Duration>,
}

/// The plugin's state and exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }
}

/// The plugin output for a run and its exit code (0 OK, 1 WARNING,
/// 2 CRITICAL, 3 UNKNOWN). The text ends with a line feed.
pub fn render(events: &[Event], t: &Thresholds) -> (String, u8) {
    check(&Summary::of(events), t)
}

/// A scenario as the check sees it: its short name and probe latency.
struct Checked<'a> {
    result: &'a ScenarioResult,
    name: String,
    latency: Option<Duration>,
}

fn check(s: &Summary, t: &Thresholds) -> (String, u8) {
    if let Some((stage, error)) = &s.setup_failed {
        let what = if stage == "input" { "bad input" } else { "set-up failed" };
        return (format!("MAILFLOW UNKNOWN - {what} ({stage}): {}\n", one_line(error)), State::Unknown as u8);
    }
    let names = short_names(&s.scenarios);
    let checked: Vec<Checked> = s
        .scenarios
        .iter()
        .zip(names)
        .map(|(result, name)| Checked { result, name, latency: result.steps.iter().flat_map(|st| &st.hops).map(|h| h.after).max() })
        .collect();
    let over = |limit: Option<Duration>| -> Vec<&Checked> {
        checked.iter().filter(|c| matches!((c.latency, limit), (Some(l), Some(max)) if l > max)).collect()
    };
    let critical = over(t.critical);
    let warning: Vec<&Checked> = over(t.warning).into_iter().filter(|c| !critical.iter().any(|k| std::ptr::eq(*k, *c))).collect();
    let failed: Vec<&Checked> = checked.iter().filter(|c| !c.result.passed()).collect();
    let totals = s.totals();
    let n = checked.len();

    let mut parts = Vec::new();
    let state = if !failed.is_empty() || !critical.is_empty() {
        if !failed.is_empty() {
            let names: Vec<&str> = failed.iter().map(|c| c.name.as_str()).collect();
            parts.push(format!("{} of {n} {} failed: {}", failed.len(), scenarios(n), names.join(", ")));
        }
        State::Critical
    } else if s.interrupted.is_some() || s.finished.is_none() {
        State::Unknown
    } else if n == 0 {
        parts.push("no scenario ran".to_string());
        State::Unknown
    } else {
        parts.push(format!("{n} {} passed", scenarios(n)));
        if warning.is_empty() {
            State::Ok
        } else {
            State::Warning
        }
    };
    if let Some(signal) = s.interrupted {
        parts.push(format!("interrupted by {}: {} passed, {} not run", signal_name(signal), totals.passed, totals.not_run));
    } else if s.finished.is_none() {
        parts.push(format!("the run ended without its totals after {n} {}", scenarios(n)));
    }
    if !critical.is_empty() {
        parts.push(slow(&critical, t.critical));
    }
    if !warning.is_empty() {
        parts.push(slow(&warning, t.warning));
    }

    let mut out = format!("MAILFLOW {} - {} | {}\n", state.name(), one_line(&parts.join("; ")), perfdata(&checked, s, t));
    for c in &failed {
        for st in c.result.steps.iter().filter(|st| st.failed()) {
            let _ = writeln!(out, "FAIL {} {}: {} (at {})", c.name, st.label, one_line(&human::failure(st)), st.location);
        }
    }
    (out, state as u8)
}

/// `slow: member-post 6.2s > 5s, ...`
fn slow(over: &[&Checked], limit: Option<Duration>) -> String {
    let limit = limit.map(seconds).unwrap_or_default();
    let each: Vec<String> = over.iter().map(|c| format!("{} {}s > {limit}s", c.name, c.latency.map(seconds).unwrap_or_default())).collect();
    format!("slow: {}", each.join(", "))
}

fn scenarios(n: usize) -> &'static str {
    if n == 1 {
        "scenario"
    } else {
        "scenarios"
    }
}

/// Each scenario's file name without `.toml`, or its whole path (without
/// `.toml`) when another scenario's file has the same name.
fn short_names(results: &[ScenarioResult]) -> Vec<String> {
    let stem = |r: &ScenarioResult| r.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    results
        .iter()
        .map(|r| {
            let name = stem(r);
            if results.iter().filter(|o| stem(o) == name).count() > 1 {
                display_path(&r.path.with_extension("")).display().to_string()
            } else {
                name
            }
        })
        .collect()
}

/// The performance data: per scenario its latency (with thresholds) and
/// its hops, then the run's wall time and counts.
fn perfdata(checked: &[Checked], s: &Summary, t: &Thresholds) -> String {
    let limit = |d: Option<Duration>| d.map(seconds).unwrap_or_default();
    let mut items: Vec<(String, String)> = Vec::new();
    for c in checked {
        if let Some(l) = c.latency {
            items.push((c.name.clone(), format!("{}s;{};{};0", seconds(l), limit(t.warning), limit(t.critical))));
        }
        let mut labels: Vec<String> = Vec::new();
        for h in c.result.steps.iter().flat_map(|st| &st.hops) {
            let hop = match &h.kind {
                HopKind::Delivered { to } => format!("delivered {to}"),
                HopKind::Archived { archive } => format!("archived {archive}"),
                HopKind::Accepted | HopKind::HandedToMailman | HopKind::ResentByMailman => h.kind.as_str().to_string(),
            };
            let base = format!("{} {hop}", c.name);
            let seen = labels.iter().filter(|l| **l == base).count();
            let label = if seen == 0 { base.clone() } else { format!("{base} #{}", seen + 1) };
            labels.push(base);
            items.push((label, format!("{}s;;;0", seconds(h.after))));
        }
    }
    if let Some((_, d)) = s.finished {
        items.push(("run".into(), format!("{}s;;;0", seconds(d))));
    }
    let t = s.totals();
    for (label, n) in [("passed", t.passed), ("failed", t.failed), ("not_run", t.not_run), ("skipped_steps", t.skipped_steps)] {
        items.push((label.into(), format!("{n};;;0")));
    }
    items.iter().map(|(label, value)| format!("'{}'={value}", perf_label(label))).collect::<Vec<_>>().join(" ")
}

/// A perfdata label: single quotes doubled, `=` (never allowed) as `_`.
fn perf_label(label: &str) -> String {
    one_line(label).replace('\'', "''").replace('=', "_")
}

/// Text on one line, without `|` (which would start the performance data).
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ").replace('|', "/")
}

/// The exit code, shared between the reporter and `main`: `None` until the
/// output has been written. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NagiosStatus(Arc<AtomicU8>);

const NOT_YET: u8 = u8::MAX;

impl NagiosStatus {
    fn new() -> NagiosStatus {
        NagiosStatus(Arc::new(AtomicU8::new(NOT_YET)))
    }
    fn set(&self, code: u8) {
        self.0.store(code, Ordering::SeqCst);
    }
    /// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; `None` before the output
    /// was written.
    pub fn exit_code(&self) -> Option<u8> {
        match self.0.load(Ordering::SeqCst) {
            NOT_YET => None,
            code => Some(code),
        }
    }
}

/// The Nagios reporter: collects the run and writes the plugin output to
/// `out` when the run is over (`RunFinished`), or when nothing could run
/// (`SetupFailed`); at `finish` when neither came (UNKNOWN). Writes once.
pub struct Nagios<W: Write + Send> {
    out: W,
    thresholds: Thresholds,
    summary: Summary,
    status: NagiosStatus,
}

impl<W: Write + Send> Nagios<W> {
    pub fn new(out: W, thresholds: Thresholds) -> Self {
        Nagios { out, thresholds, summary: Summary::default(), status: NagiosStatus::new() }
    }
    /// The exit code `main` should end with, once the output is written.
    pub fn status(&self) -> NagiosStatus {
        self.status.clone()
    }
    fn write(&mut self) -> io::Result<()> {
        if self.status.exit_code().is_some() {
            return Ok(());
        }
        let (text, code) = check(&self.summary, &self.thresholds);
        self.status.set(code);
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }
}

impl<W: Write + Send> Reporter for Nagios<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        self.summary.event(event);
        match event {
            Event::SetupFailed { .. } | Event::RunFinished { .. } => self.write(),
            Event::RunStarted { .. }
            | Event::TargetReady { .. }
            | Event::ScenarioStarted { .. }
            | Event::StepFinished { .. }
            | Event::ScenarioFinished(_)
            | Event::Cleanup { .. }
            | Event::Interrupted { .. } => Ok(()),
        }
    }
    fn finish(&mut self) -> io::Result<()> {
        self.write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixture, golden};
    use crate::run::{Signal, Totals};

    fn secs(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n))
    }

    /// The fixture without its failed scenario: every scenario passed.
    fn all_passed() -> Vec<Event> {
        let failed = fixture::failed_scenario().path;
        fixture::events()
            .into_iter()
            .filter(|e| match e {
                Event::ScenarioStarted { path, .. } | Event::StepFinished { path, .. } => *path != failed,
                Event::ScenarioFinished(r) => r.path != failed,
                _ => true,
            })
            .map(|e| match e {
                Event::RunFinished { duration, at, .. } => {
                    Event::RunFinished { totals: Totals { passed: 1, failed: 0, skipped_steps: 0, not_run: 0 }, duration, at }
                }
                e => e,
            })
            .collect()
    }

    /// A scenario file that does not validate.
    fn bad_input() -> Vec<Event> {
        let mut events: Vec<Event> = fixture::events().into_iter().take(1).collect();
        events.push(Event::SetupFailed {
            stage: "input".into(),
            error: "scenarios/delivery/member-post.toml:9:1: unknown step `expect_deliverd`\n  did you mean `expect_delivered`?".into(),
        });
        events
    }

    /// The whole fixture, then an interrupt: a failure was seen before it.
    fn failed_then_interrupted() -> Vec<Event> {
        let mut events = fixture::events();
        events.insert(events.len() - 1, Event::Interrupted { signal: Signal::Terminate });
        events
    }

    #[test]
    fn exit_codes() {
        let none = Thresholds::default();
        let slow = Thresholds { warning: secs(2), critical: secs(10) };
        let very_slow = Thresholds { warning: secs(1), critical: secs(2) };
        let cases: Vec<(&str, Vec<Event>, Thresholds, u8)> = vec![
            ("all passed", all_passed(), none, 0),
            ("all passed within the thresholds", all_passed(), Thresholds { warning: secs(5), critical: secs(10) }, 0),
            ("a latency over --warning", all_passed(), slow, 1),
            ("a latency over --critical", all_passed(), very_slow, 2),
            ("a failed scenario", fixture::events(), none, 2),
            ("a failed scenario, then an interrupt", failed_then_interrupted(), none, 2),
            ("bad input", bad_input(), none, 3),
            ("set-up failure", fixture::setup_failed_events(), none, 3),
            ("interrupted", fixture::interrupted_events(), none, 3),
            ("no totals", all_passed()[..all_passed().len() - 1].to_vec(), none, 3),
            ("no scenario", vec![fixture::events().remove(0), all_passed().pop().expect("last")], none, 3),
        ];
        for (name, events, t, code) in cases {
            let (text, got) = render(&events, &t);
            assert_eq!(got, code, "{name}: {text}");
            let state = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][code as usize];
            assert!(text.starts_with(&format!("MAILFLOW {state} - ")), "{name}: {text}");
            assert_eq!(text.lines().next().expect("line").matches('|').count(), usize::from(!name.contains("input") && !name.contains("set-up")), "{name}: {text}");
        }
    }

    #[test]
    fn golden_outputs() {
        let t = Thresholds { warning: secs(5), critical: secs(10) };
        golden::check("nagios-ok.txt", &render(&all_passed(), &t).0);
        golden::check("nagios-warning.txt", &render(&all_passed(), &Thresholds { warning: secs(2), critical: secs(10) }).0);
        golden::check("nagios-critical.txt", &render(&fixture::events(), &t).0);
        golden::check("nagios-unknown-setup-failed.txt", &render(&fixture::setup_failed_events(), &t).0);
        golden::check("nagios-unknown-interrupted.txt", &render(&fixture::interrupted_events(), &t).0);
    }

    #[test]
    fn perfdata_labels_are_quoted() {
        assert_eq!(perf_label("o'brien=x"), "o''brien_x");
        let (text, _) = render(&fixture::events(), &Thresholds { warning: secs(5), critical: secs(10) });
        let first = text.lines().next().expect("line");
        assert!(first.contains(" | 'member-post'=2.9s;5;10;0 'member-post accepted'=0.04s;;;0 "), "{first}");
        assert!(first.contains("'member-post delivered bob@probe.test'=2.38s;;;0"), "{first}");
        assert!(first.ends_with("'passed'=1;;;0 'failed'=1;;;0 'not_run'=0;;;0 'skipped_steps'=1;;;0"), "{first}");
    }

    #[test]
    fn the_reporter_writes_once_and_shares_its_code() {
        let mut out = Vec::new();
        let mut nagios = Nagios::new(&mut out, Thresholds::default());
        let status = nagios.status();
        let events = fixture::events();
        for e in &events[..events.len() - 1] {
            nagios.event(e).expect("event");
        }
        assert_eq!(status.exit_code(), None);
        nagios.event(events.last().expect("last")).expect("event");
        nagios.finish().expect("finish");
        assert_eq!(status.exit_code(), Some(2));
        drop(nagios);
        assert_eq!(String::from_utf8(out).expect("utf-8"), render(&events, &Thresholds::default()).0);
    }

    #[test]
    fn finish_without_totals_is_unknown() {
        let mut out = Vec::new();
        let mut nagios = Nagios::new(&mut out, Thresholds::default());
        let status = nagios.status();
        for e in fixture::events().iter().take(7) {
            nagios.event(e).expect("event");
        }
        nagios.finish().expect("finish");
        assert_eq!(status.exit_code(), Some(3));
        drop(nagios);
        assert!(String::from_utf8(out).expect("utf-8").starts_with("MAILFLOW UNKNOWN - the run ended without its totals after 1 scenario"));
    }
}
