//! JUnit XML, for CI servers: a testsuite per scenario file, a testcase per
//! step. A failed step is a `<failure>` whose message holds the failed rows
//! ("property: expected X, observed Y") and whose text starts with the
//! step's file:line:col; a skipped step is `<skipped>` with its reason;
//! every step's observations (all rows, where the probe stopped, the
//! evidence, the hops) are in its `<system-out>`.
//!
//! The run itself is the testsuite `mailflow`: its properties name the run
//! and the target, and its testcases are what is not a step (a set-up that
//! failed, the run-wide clean-up, an interrupt). The XML is written whole,
//! after the last event. It validates against the Jenkins xunit plugin's
//! `junit-10.xsd` (`harness/tests-data/report/junit.xsd`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::human::{hops, secs, stop};
use super::Reporter;
use crate::check::{Outcome, Row};
use crate::run::{Event, Signal, StepResult};

/// The name of the run's own testsuite, and of the report.
const RUN_SUITE: &str = "mailflow";

/// The JUnit reporter: keeps the events and writes the XML to `path` on
/// [`Reporter::finish`].
pub struct Junit {
    path: PathBuf,
    events: Vec<Event>,
}

impl Junit {
    /// Writes to `path` when the run finishes (replacing what is there).
    pub fn new(path: PathBuf) -> Self {
        Junit { path, events: Vec::new() }
    }
}

impl Reporter for Junit {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        self.events.push(event.clone());
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        std::fs::write(&self.path, render(&self.events))
    }
}

/// The JUnit XML of a run (or of the part of it that `events` holds).
pub fn render(events: &[Event]) -> String {
    let mut suites = Suites::default();
    let mut report = Report::new(RUN_SUITE);
    let mut selected: Vec<PathBuf> = Vec::new();
    let mut setup_failed = false;
    let mut interrupted: Option<Signal> = None;
    for event in events {
        match event {
            Event::RunStarted { run_id, target, version, scenarios, .. } => {
                let run = suites.run();
                run.add_property(Property::new("run_id", run_id));
                run.add_property(Property::new("target", target));
                run.add_property(Property::new("mailflow_version", version));
                selected = scenarios.clone();
            }
            Event::TargetReady { description, versions, .. } => {
                let run = suites.run();
                run.add_property(Property::new("target_description", description));
                for (name, version) in versions {
                    run.add_property(Property::new(name, version));
                }
            }
            Event::SetupFailed { stage, error } => {
                setup_failed = true;
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(error).set_type(format!("set-up failed ({stage})"));
                let mut case = TestCase::new(format!("set-up ({stage})"), status);
                case.set_classname(RUN_SUITE);
                suites.run().add_test_case(case);
            }
            Event::ScenarioStarted { path, name } => {
                suites.scenario(path).add_property(Property::new("scenario", name));
            }
            Event::StepFinished { path, result } => {
                suites.scenario(path).add_test_case(step_case(path, result));
            }
            Event::ScenarioFinished(r) => {
                suites.scenario(&r.path).set_time(r.duration);
            }
            Event::Cleanup { discarded, error } => {
                let status = match error {
                    None => TestCaseStatus::success(),
                    Some(e) => {
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                        status.set_message(e).set_type("clean-up failed");
                        status
                    }
                };
                let mut case = TestCase::new("cleanup", status);
                case.set_classname(RUN_SUITE);
                if !discarded.is_empty() {
                    case.set_system_out(format!("discarded held probes:\n{}\n", discarded.join("\n")));
                }
                suites.run().add_test_case(case);
            }
            Event::Interrupted { signal } => {
                interrupted = Some(*signal);
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(format!("the run was {}", signal_words(*signal))).set_type("interrupted");
                let mut case = TestCase::new("interrupted", status);
                case.set_classname(RUN_SUITE);
                suites.run().add_test_case(case);
            }
            Event::RunFinished { duration, .. } => {
                report.set_time(*duration);
            }
        }
    }
    // Every selected scenario file shows, also one the run never reached
    // (a set-up that failed is the run suite's one error instead).
    if !setup_failed {
        for path in &selected {
            if !suites.has(path) {
                let why = match interrupted {
                    Some(signal) => format!("not run: the run was {}", signal_words(signal)),
                    None => "not run".to_string(),
                };
                let mut status = TestCaseStatus::skipped();
                status.set_message(why);
                let mut case = TestCase::new("not run", status);
                case.set_classname(display(path));
                suites.scenario(path).add_test_case(case);
            }
        }
    }
    report.add_test_suites(suites.into_suites());
    let xml = report.to_string().expect("JUnit XML serialises to a string");
    without_testsuites_skipped(xml)
}

/// The testsuites in the order they first appeared.
#[derive(Default)]
struct Suites {
    order: Vec<(Option<PathBuf>, TestSuite)>,
    index: HashMap<Option<PathBuf>, usize>,
}

impl Suites {
    /// The run's own suite, `mailflow`.
    fn run(&mut self) -> &mut TestSuite {
        self.get(None, RUN_SUITE.to_string())
    }
    fn scenario(&mut self, path: &Path) -> &mut TestSuite {
        self.get(Some(path.to_path_buf()), display(path))
    }
    fn has(&self, path: &Path) -> bool {
        self.index.contains_key(&Some(path.to_path_buf()))
    }
    fn get(&mut self, key: Option<PathBuf>, name: String) -> &mut TestSuite {
        let i = match self.index.get(&key) {
            Some(i) => *i,
            None => {
                self.order.push((key.clone(), TestSuite::new(name)));
                self.index.insert(key, self.order.len() - 1);
                self.order.len() - 1
            }
        };
        &mut self.order[i].1
    }
    fn into_suites(self) -> impl Iterator<Item = TestSuite> {
        self.order.into_iter().map(|(_, s)| s)
    }
}

/// One step as a testcase.
fn step_case(scenario: &Path, s: &StepResult) -> TestCase {
    let status = match s.outcome() {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let failed: Vec<String> = s.rows.iter().filter(|r| r.outcome == Outcome::Failed).map(failure_sentence).collect();
            let mut text = format!("at {}\n", s.location);
            for f in &failed {
                let _ = writeln!(text, "{f}");
            }
            if let Some(st) = &s.stop {
                let _ = writeln!(text, "the probe: {}", stop(st));
            }
            status
                .set_message(failed.join("; "))
                .set_type(s.stop.as_ref().map_or("failed", |st| st.kind()))
                .set_description(text);
            status
        }
        Outcome::Skipped(why) => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(why);
            status
        }
    };
    let name = if s.label.ends_with(s.key) { s.label.clone() } else { format!("{} {}", s.label, s.key) };
    let mut case = TestCase::new(name, status);
    case.set_classname(display(scenario)).set_time(s.duration).set_system_out(observations(s));
    case
}

/// Everything the step observed, one line each.
fn observations(s: &StepResult) -> String {
    let mut out = format!("{} at {}, {}\n", s.label, s.location, secs(s.duration));
    for r in &s.rows {
        let _ = writeln!(out, "{}", row_line(r));
    }
    if let Some(st) = &s.stop {
        let _ = writeln!(out, "the probe: {}", stop(st));
    }
    for e in &s.evidence {
        let _ = writeln!(out, "evidence: {e}");
    }
    if !s.hops.is_empty() {
        let _ = writeln!(out, "hops: {}", hops(&s.hops));
    }
    out
}

fn failure_sentence(r: &Row) -> String {
    if r.expected.is_empty() {
        format!("{}: {}", r.property, r.observed)
    } else {
        format!("{}: expected {}, observed {}", r.property, r.expected, r.observed)
    }
}

fn row_line(r: &Row) -> String {
    let took = r.took.map(|t| format!(" after {}", secs(t))).unwrap_or_default();
    match &r.outcome {
        Outcome::Passed => format!("ok   {}{took}", failure_sentence(r)),
        Outcome::Failed => format!("FAIL {}{took}", failure_sentence(r)),
        Outcome::Skipped(why) => format!("skip {}: {why}", r.property),
    }
}

fn signal_words(s: Signal) -> &'static str {
    match s {
        Signal::Interrupt => "interrupted (SIGINT)",
        Signal::Terminate => "terminated (SIGTERM)",
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// quick-junit always writes a `skipped` count on `<testsuites>`, which
/// `junit-10.xsd` (and the Jenkins xunit plugin that uses it) does not
/// allow there; each `<testsuite>` keeps its own count.
fn without_testsuites_skipped(xml: String) -> String {
    let Some(start) = xml.find("<testsuites") else { return xml };
    let Some(len) = xml[start..].find('>') else { return xml };
    let tag = &xml[start..start + len];
    let Some(attr) = tag.find(" skipped=\"") else { return xml };
    let value_start = start + attr + " skipped=\"".len();
    let Some(value_len) = xml[value_start..].find('"') else { return xml };
    let mut out = String::with_capacity(xml.len());
    out.push_str(&xml[..start + attr]);
    out.push_str(&xml[value_start + value_len + 1..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixture, golden};

    fn runs() -> [(&'static str, Vec<Event>); 3] {
        [
            ("junit.xml", fixture::events()),
            ("junit-interrupted.xml", fixture::interrupted_events()),
            ("junit-setup-failed.xml", fixture::setup_failed_events()),
        ]
    }

    fn temp_file(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("mailflow-{}-{name}", std::process::id()))
    }

    #[test]
    fn golden_runs() {
        for (name, events) in runs() {
            golden::check(name, &render(&events));
        }
    }

    /// Validates the fixture's reports with `xmllint --schema` against the
    /// published `junit-10.xsd`.
    #[test]
    fn valid_against_the_junit_xsd() {
        let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests-data/report/junit.xsd");
        for (name, events) in runs() {
            let file = temp_file(name);
            std::fs::write(&file, render(&events)).expect("write the report");
            let out = std::process::Command::new("xmllint").arg("--noout").arg("--schema").arg(&xsd).arg(&file).output();
            let _ = std::fs::remove_file(&file);
            let out = match out {
                Ok(out) => out,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    panic!("xmllint is not installed: install libxml2-utils (apt-get install libxml2-utils; scripts/ensure-docker does)")
                }
                Err(e) => panic!("running xmllint: {e}"),
            };
            assert!(
                out.status.success(),
                "{name} does not validate against junit.xsd:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn what_a_ci_server_reads() {
        let xml = render(&fixture::events());
        assert!(xml.contains(r#"<testsuite name="scenarios/pitfalls/no-boundary.toml" tests="3" skipped="1" errors="0" failures="1""#), "{xml}");
        assert!(xml.contains(r#"<testcase name="step 2 expect_delivered" classname="scenarios/pitfalls/no-boundary.toml" time="10.004">"#), "{xml}");
        assert!(xml.contains(r#"message="delivered to: expected alice@probe.test within 10.00s, observed nothing arrived at the sink" type="bounced""#), "{xml}");
        assert!(xml.contains("at scenarios/pitfalls/no-boundary.toml:11:1"), "{xml}");
        assert!(xml.contains(r#"<skipped message="not run: step 2 expect_delivered failed"/>"#), "{xml}");
        assert!(!xml[..xml.find("<testsuite ").expect("a suite")].contains("skipped="), "{xml}");

        let setup = render(&fixture::setup_failed_events());
        assert_eq!(setup.matches("<testsuite ").count(), 1, "{setup}");
        assert!(setup.contains(r#"<error message="starting the container target: Docker: connection refused""#), "{setup}");

        let interrupted = render(&fixture::interrupted_events());
        assert!(interrupted.contains(r#"<skipped message="not run: the run was interrupted (SIGINT)"/>"#), "{interrupted}");
    }

    #[test]
    fn finish_writes_the_file() {
        let file = temp_file("finish.xml");
        let mut junit = Junit::new(file.clone());
        for e in fixture::events() {
            junit.event(&e).expect("event");
        }
        junit.finish().expect("finish");
        let written = std::fs::read_to_string(&file).expect("the report");
        let _ = std::fs::remove_file(&file);
        assert_eq!(written, render(&fixture::events()));
    }

    #[test]
    fn only_the_testsuites_count_goes() {
        let xml = "<?xml?>\n<testsuites name=\"m\" tests=\"1\" skipped=\"0\" failures=\"0\">\n<testsuite name=\"a\" skipped=\"0\"/>".to_string();
        assert_eq!(
            without_testsuites_skipped(xml),
            "<?xml?>\n<testsuites name=\"m\" tests=\"1\" failures=\"0\">\n<testsuite name=\"a\" skipped=\"0\"/>"
        );
    }
}
