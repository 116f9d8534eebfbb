//! The run as TAP version 13 (testanything.org), for CI systems and
//! `prove`-style consumers: one test point per step, streamed as steps
//! finish, the plan at the end.
//!
//! ```text
//! TAP version 13
//! ok 1 - scenarios/delivery/member-post.toml step 1 send
//! not ok 5 - scenarios/pitfalls/no-boundary.toml step 2 expect_delivered
//!   ---
//!   message: "delivered to: expected alice@probe.test within 10.00s, observed nothing arrived at the sink"
//!   severity: fail
//!   at: "scenarios/pitfalls/no-boundary.toml:11:1"
//!   ...
//! ok 6 - scenarios/pitfalls/no-boundary.toml step 3 expect_archived # SKIP not run: step 2 expect_delivered failed
//! 1..6
//! ```
//!
//! A failed step carries a YAML block: its failed rows as a sentence
//! (`message`), where the step is written (`at`), where the probe stopped
//! (`stop`, `probe`), every row, the evidence, and its wall time in seconds.
//! Set-up failures and interrupts end the stream with `Bail out!` and no plan.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::human;
use super::summary::{seconds, signal_name};
use super::Reporter;
use crate::check::Outcome;
use crate::run::{display_path, Event, StepResult};

/// The TAP reporter: writes to `out` as events arrive.
pub struct Tap<W: Write + Send> {
    out: W,
    /// `TAP version 13` was written.
    started: bool,
    /// Test points written so far.
    points: usize,
    /// After `Bail out!` nothing more is written.
    bailed: bool,
}

impl<W: Write + Send> Tap<W> {
    pub fn new(out: W) -> Self {
        Tap { out, started: false, points: 0, bailed: false }
    }

    /// Writes `text` after the version line (writing that first if needed).
    fn write(&mut self, text: &str) -> io::Result<()> {
        if self.bailed {
            return Ok(());
        }
        if !self.started {
            self.started = true;
            writeln!(self.out, "TAP version 13")?;
        }
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }

    fn bail_out(&mut self, reason: &str) -> io::Result<()> {
        self.write(&format!("Bail out! {}\n", one_line(reason)))?;
        self.bailed = true;
        Ok(())
    }
}

impl<W: Write + Send> Reporter for Tap<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::RunStarted { run_id, target, scenarios, .. } => {
                self.write(&format!("# run {run_id} of {} scenario(s) against {}\n", scenarios.len(), one_line(target)))
            }
            Event::TargetReady { description, .. } => self.write(&format!("# target ready: {}\n", one_line(description))),
            Event::SetupFailed { stage, error } => self.bail_out(&format!("set-up failed ({stage}): {error}")),
            Event::ScenarioStarted { .. } | Event::ScenarioFinished(_) => Ok(()),
            Event::StepFinished { path, result } => {
                let n = self.points + 1;
                let text = test_point(n, &display_path(path).display().to_string(), result);
                self.write(&text)?;
                self.points = n;
                Ok(())
            }
            Event::Cleanup { discarded, error } => {
                let mut text = String::new();
                if !discarded.is_empty() {
                    let _ = writeln!(text, "# cleanup: discarded held probes: {}", one_line(&discarded.join(", ")));
                }
                if let Some(e) = error {
                    let _ = writeln!(text, "# cleanup failed: {}", one_line(e));
                }
                self.write(&text)
            }
            Event::Interrupted { signal } => self.bail_out(&format!("interrupted by {}", signal_name(*signal))),
            Event::RunFinished { totals, duration, .. } => {
                let plan = format!("1..{}\n# {} in {}\n", self.points, human::totals(totals), human::secs(*duration));
                self.write(&plan)
            }
        }
    }
}

/// `ok N - path step label`, `not ok N - ...` with its YAML block, or
/// `ok N - ... # SKIP reason`.
fn test_point(n: usize, path: &str, s: &StepResult) -> String {
    let description = escape_description(&format!("{path} {}", s.label));
    match s.outcome() {
        Outcome::Passed => format!("ok {n} - {description}\n"),
        Outcome::Skipped(why) => format!("ok {n} - {description} # SKIP {}\n", one_line(&why)),
        Outcome::Failed => format!("not ok {n} - {description}\n{}", diagnostic(s)),
    }
}

/// The YAML block of a failed step, indented two spaces.
fn diagnostic(s: &StepResult) -> String {
    let mut y = String::from("  ---\n");
    let _ = writeln!(y, "  message: {}", yaml(&human::failed_rows(s)));
    let _ = writeln!(y, "  severity: fail");
    let _ = writeln!(y, "  at: {}", yaml(&s.location.to_string()));
    if let Some(stop) = &s.stop {
        let _ = writeln!(y, "  stop: {}", stop.kind());
        let _ = writeln!(y, "  probe: {}", yaml(&human::stop(stop)));
    }
    let _ = writeln!(y, "  rows:");
    for r in &s.rows {
        let _ = writeln!(y, "    - property: {}", yaml(&r.property));
        let _ = writeln!(y, "      expected: {}", yaml(&r.expected));
        let _ = writeln!(y, "      observed: {}", yaml(&r.observed));
        let _ = writeln!(y, "      outcome: {}", r.outcome.as_str());
    }
    if !s.evidence.is_empty() {
        let _ = writeln!(y, "  evidence:");
        for e in &s.evidence {
            let _ = writeln!(y, "    - {}", yaml(e));
        }
    }
    let _ = writeln!(y, "  duration_seconds: {}", seconds(s.duration));
    y.push_str("  ...\n");
    y
}

/// A YAML double-quoted scalar (a JSON string is one).
fn yaml(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// A test point's description: on one line, `#` escaped (it would start a
/// directive).
fn escape_description(text: &str) -> String {
    one_line(&text.replace('\\', r"\\").replace('#', r"\#"))
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;
    use crate::report::{fixture, golden};

    fn render(events: &[Event]) -> String {
        let mut out = Vec::new();
        let mut tap = Tap::new(&mut out);
        for e in events {
            tap.event(e).expect("write");
        }
        tap.finish().expect("finish");
        String::from_utf8(out).expect("utf-8")
    }

    /// What Perl's TAP::Parser makes of `text`: `passed failed skipped
    /// planned parse-errors bailed-out yaml-blocks`, then the parse errors.
    /// Fails when TAP::Parser is missing.
    fn parse(text: &str) -> String {
        let script = r#"
            use TAP::Parser;
            my $p = TAP::Parser->new({ tap => do { local $/; <STDIN> } });
            my ($bailed, $yaml) = (0, 0);
            while (my $r = $p->next) {
                $bailed = 1 if $r->is_bailout;
                $yaml++ if $r->is_yaml && ref $r->data eq "HASH" && exists $r->data->{message};
            }
            my @errors = $p->parse_errors;
            print join(" ", scalar($p->passed), scalar($p->failed), scalar($p->skipped),
                $p->tests_planned // "none", scalar(@errors), $bailed, $yaml), "\n";
            print STDERR "$_\n" for @errors;
        "#;
        let child = Command::new("perl").args(["-e", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::NotFound => panic!("perl is not installed: install Debian's perl package (TAP::Parser checks the output)"),
            Err(e) => panic!("running perl: {e}"),
        };
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to perl");
        let out = child.wait_with_output().expect("perl");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "perl TAP::Parser: {} {stderr} (Debian's perl package has TAP::Parser)", out.status);
        format!("{}{stderr}", String::from_utf8_lossy(&out.stdout)).trim().to_string()
    }

    #[test]
    fn golden_runs() {
        golden::check("tap.txt", &render(&fixture::events()));
        golden::check("tap-interrupted.txt", &render(&fixture::interrupted_events()));
        golden::check("tap-setup-failed.txt", &render(&fixture::setup_failed_events()));
    }

    #[test]
    fn tap_parser_reads_it() {
        // passed (skips count as passed), failed, skipped, planned, parse errors, bailed out, YAML blocks
        assert_eq!(parse(&render(&fixture::events())), "5 1 1 6 0 0 1");
        assert_eq!(parse(&render(&fixture::interrupted_events())), "3 0 0 none 1 1 0\nNo plan found in TAP output");
        assert_eq!(parse(&render(&fixture::setup_failed_events())), "0 0 0 none 1 1 0\nNo plan found in TAP output");
    }

    #[test]
    fn descriptions_escape_the_directive_mark() {
        let mut s = fixture::passed_scenario().steps[0].clone();
        s.label = "step 1 send # not a directive\nreally".into();
        assert_eq!(test_point(1, "a\\b.toml", &s), "ok 1 - a\\\\b.toml step 1 send \\# not a directive really\n");
    }
}
