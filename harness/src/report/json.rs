//! Machine-readable output: one JSON object per event and line (NDJSON),
//! closed by a `summary` line with the totals and each scenario's verdict.
//!
//! Every line is `{"event": "<kind>", ...}`. Durations are seconds as
//! numbers, in fields whose names end in `_s`; timestamps are RFC 3339 in
//! UTC; paths are strings as the runner got them. The schema is
//! `harness/tests-data/report/mailflow-events.schema.json` ([`schema`]),
//! described in README.md ("Machine-readable output: JSON").
//!
//! The lines are a view built here from the runner's events: the model
//! itself carries no serde derives.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::Reporter;
use crate::check::{Hop, HopKind, Outcome, Row, Stop};
use crate::run::{Event, ScenarioResult, Signal, StepResult, Totals};
use crate::scenario::Location;

/// The version of the line format, in `run_started` and `summary`. Raised
/// when a field changes meaning or goes away; new fields do not raise it.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema (draft 2020-12) every line of the output satisfies.
pub fn schema() -> &'static str {
    include_str!("../../tests-data/report/mailflow-events.schema.json")
}

/// The JSON reporter: one line per event on `out`, flushed as it goes, and
/// a `summary` line after `run_finished` or `setup_failed` (or, when the
/// run ended without either, on [`Reporter::finish`]).
pub struct Json<W: Write + Send> {
    out: W,
    summary: Summary,
    summary_written: bool,
}

impl<W: Write + Send> Json<W> {
    /// Writes to `out` (a file, or stdout).
    pub fn new(out: W) -> Self {
        Json { out, summary: Summary::default(), summary_written: false }
    }

    fn write_summary(&mut self) -> io::Result<()> {
        write_line(&mut self.out, &self.summary.view())?;
        self.summary_written = true;
        Ok(())
    }
}

impl<W: Write + Send> Reporter for Json<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        self.summary.add(event);
        write_line(&mut self.out, &line(event))?;
        let ends_run = match event {
            Event::RunFinished { .. } | Event::SetupFailed { .. } => true,
            Event::RunStarted { .. }
            | Event::TargetReady { .. }
            | Event::ScenarioStarted { .. }
            | Event::StepFinished { .. }
            | Event::ScenarioFinished(_)
            | Event::Cleanup { .. }
            | Event::Interrupted { .. } => false,
        };
        if ends_run && !self.summary_written {
            self.write_summary()?;
        }
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        if !self.summary_written {
            self.write_summary()?;
        }
        self.out.flush()
    }
}

fn write_line(out: &mut impl Write, line: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

/// The summary of a run (or of the part of it that `events` holds): the
/// same object as the report's last line, `{"event": "summary", ...}`.
pub fn summary(events: &[Event]) -> serde_json::Value {
    let mut s = Summary::default();
    for e in events {
        s.add(e);
    }
    serde_json::to_value(s.view()).expect("a summary serialises")
}

// ---------------------------------------------------------------------------
// The lines, one variant per event kind.

#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Line<'a> {
    RunStarted {
        schema_version: u32,
        run_id: &'a str,
        target: &'a str,
        version: &'a str,
        scenarios: Vec<String>,
        at: String,
    },
    TargetReady {
        description: &'a str,
        versions: Vec<VersionView<'a>>,
        phases: Vec<PhaseView<'a>>,
    },
    SetupFailed {
        stage: &'a str,
        error: &'a str,
    },
    ScenarioStarted {
        path: String,
        name: &'a str,
    },
    StepFinished(StepView<'a>),
    ScenarioFinished(ScenarioView),
    Cleanup {
        discarded: &'a [String],
        error: Option<&'a str>,
    },
    Interrupted {
        signal: &'static str,
    },
    RunFinished {
        totals: TotalsView,
        duration_s: f64,
        at: String,
    },
}

fn line(event: &Event) -> Line<'_> {
    match event {
        Event::RunStarted { run_id, target, version, scenarios, at } => Line::RunStarted {
            schema_version: SCHEMA_VERSION,
            run_id,
            target,
            version,
            scenarios: scenarios.iter().map(|p| path(p)).collect(),
            at: timestamp(*at),
        },
        Event::TargetReady { description, versions, phases } => Line::TargetReady {
            description,
            versions: versions.iter().map(|(name, version)| VersionView { name, version }).collect(),
            phases: phases.iter().map(|p| PhaseView { name: &p.name, took_s: secs(p.took) }).collect(),
        },
        Event::SetupFailed { stage, error } => Line::SetupFailed { stage, error },
        Event::ScenarioStarted { path: p, name } => Line::ScenarioStarted { path: path(p), name },
        Event::StepFinished { path: p, result } => Line::StepFinished(StepView::new(p, result)),
        Event::ScenarioFinished(r) => Line::ScenarioFinished(ScenarioView::finished(r)),
        Event::Cleanup { discarded, error } => Line::Cleanup { discarded, error: error.as_deref() },
        Event::Interrupted { signal } => Line::Interrupted { signal: signal_name(*signal) },
        Event::RunFinished { totals, duration, at } => {
            Line::RunFinished { totals: TotalsView::from(*totals), duration_s: secs(*duration), at: timestamp(*at) }
        }
    }
}

#[derive(Serialize)]
struct VersionView<'a> {
    name: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
struct PhaseView<'a> {
    name: &'a str,
    took_s: f64,
}

#[derive(Serialize)]
struct StepView<'a> {
    /// The scenario file.
    path: String,
    key: &'a str,
    label: &'a str,
    location: LocationView,
    outcome: &'static str,
    reason: Option<&'a str>,
    duration_s: f64,
    rows: Vec<RowView<'a>>,
    stop: Option<StopView<'a>>,
    evidence: &'a [String],
    hops: Vec<HopView<'a>>,
}

impl<'a> StepView<'a> {
    fn new(scenario: &Path, s: &'a StepResult) -> Self {
        let outcome = s.outcome();
        StepView {
            path: path(scenario),
            key: s.key,
            label: &s.label,
            location: LocationView::from(&s.location),
            outcome: outcome.as_str(),
            // The step's reason is its first row's: borrow it from there.
            reason: match outcome {
                Outcome::Skipped(_) => s.rows.first().and_then(skip_reason),
                Outcome::Passed | Outcome::Failed => None,
            },
            duration_s: secs(s.duration),
            rows: s.rows.iter().map(RowView::from).collect(),
            stop: s.stop.as_ref().map(StopView::from),
            evidence: &s.evidence,
            hops: s.hops.iter().map(HopView::from).collect(),
        }
    }
}

fn skip_reason(r: &Row) -> Option<&str> {
    match &r.outcome {
        Outcome::Skipped(why) => Some(why),
        Outcome::Passed | Outcome::Failed => None,
    }
}

#[derive(Serialize, Clone)]
struct LocationView {
    file: String,
    line: usize,
    column: usize,
}

impl From<&Location> for LocationView {
    fn from(l: &Location) -> Self {
        LocationView { file: path(&l.file), line: l.line, column: l.column }
    }
}

#[derive(Serialize)]
struct RowView<'a> {
    property: &'a str,
    expected: &'a str,
    observed: &'a str,
    outcome: &'static str,
    reason: Option<&'a str>,
    took_s: Option<f64>,
}

impl<'a> From<&'a Row> for RowView<'a> {
    fn from(r: &'a Row) -> Self {
        RowView {
            property: &r.property,
            expected: &r.expected,
            observed: &r.observed,
            outcome: r.outcome.as_str(),
            reason: skip_reason(r),
            took_s: r.took.map(secs),
        }
    }
}

/// `{"kind": "<Stop::kind>", ...the variant's fields}`.
#[derive(Serialize)]
struct StopView<'a> {
    kind: &'static str,
    #[serde(flatten)]
    fields: StopFields<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum StopFields<'a> {
    NotSent {
        error: &'a str,
    },
    Refused {
        stage: &'a str,
        command: Option<&'a str>,
        code: u16,
        enhanced: Option<&'a str>,
        text: &'a str,
    },
    /// Deferred and frozen.
    InMtaQueue {
        queue_id: &'a str,
        log_line: &'a str,
    },
    Bounced {
        status: Option<&'a str>,
        diagnostic: &'a str,
    },
    Held {
        list: &'a str,
        request_id: u64,
        reason: &'a str,
    },
    Shunted {
        queue_file: &'a str,
        log_line: Option<&'a str>,
    },
    InMailmanQueue {
        queues: &'a [String],
    },
    Delivered {
        to: &'a [String],
    },
    Archived {
        archive: &'a str,
        location: &'a str,
    },
    NotArchived {
        archive: &'a str,
        error: Option<&'a str>,
    },
    Lost {},
}

impl<'a> From<&'a Stop> for StopView<'a> {
    fn from(s: &'a Stop) -> Self {
        let fields = match s {
            Stop::NotSent { error } => StopFields::NotSent { error },
            Stop::RefusedAtSmtp { stage, command, code, enhanced, text } => StopFields::Refused {
                stage,
                command: command.as_deref(),
                code: *code,
                enhanced: enhanced.as_deref(),
                text,
            },
            Stop::Deferred { queue_id, log_line } | Stop::Frozen { queue_id, log_line } => {
                StopFields::InMtaQueue { queue_id, log_line }
            }
            Stop::Bounced { status, diagnostic } => StopFields::Bounced { status: status.as_deref(), diagnostic },
            Stop::Held { list, request_id, reason } => StopFields::Held { list, request_id: *request_id, reason },
            Stop::Shunted { queue_file, log_line } => StopFields::Shunted { queue_file, log_line: log_line.as_deref() },
            Stop::InMailmanQueue { queues } => StopFields::InMailmanQueue { queues },
            Stop::Delivered { to } => StopFields::Delivered { to },
            Stop::Archived { archive, location } => StopFields::Archived { archive, location },
            Stop::NotArchived { archive, error } => StopFields::NotArchived { archive, error: error.as_deref() },
            Stop::Lost => StopFields::Lost {},
        };
        StopView { kind: s.kind(), fields }
    }
}

#[derive(Serialize)]
struct HopView<'a> {
    hop: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    archive: Option<&'a str>,
    after_s: f64,
}

impl<'a> From<&'a Hop> for HopView<'a> {
    fn from(h: &'a Hop) -> Self {
        let (to, archive) = match &h.kind {
            HopKind::Delivered { to } => (Some(to.as_str()), None),
            HopKind::Archived { archive } => (None, Some(archive.as_str())),
            HopKind::Accepted | HopKind::HandedToMailman | HopKind::ResentByMailman => (None, None),
        };
        HopView { hop: h.kind.as_str(), to, archive, after_s: secs(h.after) }
    }
}

#[derive(Serialize, Clone, Copy, Default)]
struct TotalsView {
    passed: usize,
    failed: usize,
    skipped_steps: usize,
    not_run: usize,
}

impl From<Totals> for TotalsView {
    fn from(t: Totals) -> Self {
        TotalsView { passed: t.passed, failed: t.failed, skipped_steps: t.skipped_steps, not_run: t.not_run }
    }
}

/// How many of a scenario's steps passed, failed and were skipped.
#[derive(Serialize, Clone, Copy, Default)]
struct StepCounts {
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl StepCounts {
    fn add(&mut self, s: &StepResult) {
        match s.outcome() {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Skipped(_) => self.skipped += 1,
        }
    }
}

#[derive(Serialize, Clone)]
struct FailureView {
    label: String,
    location: LocationView,
}

/// A scenario's verdict: in `scenario_finished`, and per scenario in the summary.
#[derive(Serialize, Clone)]
struct ScenarioView {
    path: String,
    /// Unknown for a scenario that never started.
    name: Option<String>,
    /// `passed`, `failed` or `not_run`.
    verdict: &'static str,
    duration_s: Option<f64>,
    steps: StepCounts,
    first_failure: Option<FailureView>,
}

impl ScenarioView {
    fn finished(r: &ScenarioResult) -> Self {
        let mut steps = StepCounts::default();
        r.steps.iter().for_each(|s| steps.add(s));
        ScenarioView {
            path: path(&r.path),
            name: Some(r.name.clone()),
            verdict: if r.passed() { "passed" } else { "failed" },
            duration_s: Some(secs(r.duration)),
            steps,
            first_failure: r
                .first_failure()
                .map(|s| FailureView { label: s.label.clone(), location: LocationView::from(&s.location) }),
        }
    }
}

// ---------------------------------------------------------------------------
// The summary, folded from the events as they come.

#[derive(Serialize)]
#[serde(tag = "event", rename = "summary")]
struct SummaryView<'a> {
    schema_version: u32,
    run_id: Option<&'a str>,
    target: Option<&'a str>,
    version: Option<&'a str>,
    started_at: Option<String>,
    finished_at: Option<String>,
    duration_s: Option<f64>,
    /// `passed`, `failed`, `interrupted`, `setup_failed`, or `running`
    /// while the run goes on.
    verdict: &'static str,
    totals: TotalsView,
    setup_failed: Option<SetupFailedView<'a>>,
    interrupted: Option<&'static str>,
    cleanup_error: Option<&'a str>,
    scenarios: Vec<ScenarioView>,
}

#[derive(Serialize)]
struct SetupFailedView<'a> {
    stage: &'a str,
    error: &'a str,
}

/// What the summary needs from the events seen so far.
#[derive(Default)]
struct Summary {
    run_id: Option<String>,
    target: Option<String>,
    version: Option<String>,
    started_at: Option<SystemTime>,
    /// The selected scenarios, in order; scenarios seen without a
    /// `run_started` are added as they start.
    order: Vec<PathBuf>,
    names: HashMap<PathBuf, String>,
    /// Steps of scenarios that have not finished.
    partial: HashMap<PathBuf, StepCounts>,
    finished: HashMap<PathBuf, ScenarioView>,
    setup_failed: Option<(String, String)>,
    interrupted: Option<Signal>,
    cleanup_error: Option<String>,
    end: Option<(Totals, Duration, SystemTime)>,
}

impl Summary {
    fn add(&mut self, event: &Event) {
        match event {
            Event::RunStarted { run_id, target, version, scenarios, at } => {
                self.run_id = Some(run_id.clone());
                self.target = Some(target.clone());
                self.version = Some(version.clone());
                self.started_at = Some(*at);
                for p in scenarios {
                    self.see(p);
                }
            }
            Event::TargetReady { .. } => {}
            Event::SetupFailed { stage, error } => self.setup_failed = Some((stage.clone(), error.clone())),
            Event::ScenarioStarted { path, name } => {
                self.see(path);
                self.names.insert(path.clone(), name.clone());
            }
            Event::StepFinished { path, result } => {
                self.see(path);
                self.partial.entry(path.clone()).or_default().add(result);
            }
            Event::ScenarioFinished(r) => {
                self.see(&r.path);
                self.partial.remove(&r.path);
                self.finished.insert(r.path.clone(), ScenarioView::finished(r));
            }
            Event::Cleanup { error, .. } => {
                if let Some(e) = error {
                    self.cleanup_error = Some(e.clone());
                }
            }
            Event::Interrupted { signal } => self.interrupted = Some(*signal),
            Event::RunFinished { totals, duration, at } => self.end = Some((*totals, *duration, *at)),
        }
    }

    fn see(&mut self, p: &Path) {
        if !self.order.iter().any(|q| q == p) {
            self.order.push(p.to_path_buf());
        }
    }

    fn scenarios(&self) -> Vec<ScenarioView> {
        self.order
            .iter()
            .map(|p| match self.finished.get(p) {
                Some(v) => v.clone(),
                None => ScenarioView {
                    path: path(p),
                    name: self.names.get(p).cloned(),
                    verdict: "not_run",
                    duration_s: None,
                    steps: self.partial.get(p).copied().unwrap_or_default(),
                    first_failure: None,
                },
            })
            .collect()
    }

    fn view(&self) -> SummaryView<'_> {
        let scenarios = self.scenarios();
        let totals = match &self.end {
            Some((t, _, _)) => TotalsView::from(*t),
            // Counted from the scenarios so far.
            None => {
                let mut t = TotalsView::default();
                for s in &scenarios {
                    match s.verdict {
                        "passed" => t.passed += 1,
                        "failed" => t.failed += 1,
                        _ => t.not_run += 1,
                    }
                    t.skipped_steps += s.steps.skipped;
                }
                t
            }
        };
        let verdict = if self.setup_failed.is_some() {
            "setup_failed"
        } else if self.interrupted.is_some() {
            "interrupted"
        } else if self.end.is_none() {
            "running"
        } else if totals.failed > 0 {
            "failed"
        } else {
            "passed"
        };
        SummaryView {
            schema_version: SCHEMA_VERSION,
            run_id: self.run_id.as_deref(),
            target: self.target.as_deref(),
            version: self.version.as_deref(),
            started_at: self.started_at.map(timestamp),
            finished_at: self.end.map(|(_, _, at)| timestamp(at)),
            duration_s: self.end.map(|(_, d, _)| secs(d)),
            verdict,
            totals,
            setup_failed: self.setup_failed.as_ref().map(|(stage, error)| SetupFailedView { stage, error }),
            interrupted: self.interrupted.map(signal_name),
            cleanup_error: self.cleanup_error.as_deref(),
            scenarios,
        }
    }
}

// ---------------------------------------------------------------------------
// Values.

/// Seconds as a number, to the microsecond.
fn secs(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1e6
}

/// RFC 3339 in UTC, to the millisecond: `2026-11-25T12:00:00.000Z`.
fn timestamp(t: SystemTime) -> String {
    match jiff::Timestamp::try_from(t) {
        Ok(ts) => format!("{ts:.3}"),
        // Before 1970 or past 9999: not a clock this runs under.
        Err(_) => "1970-01-01T00:00:00.000Z".into(),
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn signal_name(s: Signal) -> &'static str {
    match s {
        Signal::Interrupt => "SIGINT",
        Signal::Terminate => "SIGTERM",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixture, golden};

    fn render(events: &[Event]) -> String {
        let mut out = Vec::new();
        let mut json = Json::new(&mut out);
        for e in events {
            json.event(e).expect("write");
        }
        json.finish().expect("finish");
        String::from_utf8(out).expect("utf-8")
    }

    fn runs() -> [(&'static str, Vec<Event>); 3] {
        [
            ("json.ndjson", fixture::events()),
            ("json-interrupted.ndjson", fixture::interrupted_events()),
            ("json-setup-failed.ndjson", fixture::setup_failed_events()),
        ]
    }

    fn validator() -> jsonschema::Validator {
        let schema: serde_json::Value = serde_json::from_str(schema()).expect("the schema is JSON");
        jsonschema::draft202012::meta::validate(&schema).expect("the schema is a valid draft 2020-12 schema");
        jsonschema::draft202012::options().should_validate_formats(true).build(&schema).expect("the schema compiles")
    }

    fn errors(validator: &jsonschema::Validator, line: &serde_json::Value) -> Vec<String> {
        validator.iter_errors(line).map(|e| format!("{} at {}", e, e.instance_path())).collect()
    }

    #[test]
    fn golden_runs() {
        for (name, events) in runs() {
            golden::check(name, &render(&events));
        }
    }

    #[test]
    fn every_line_satisfies_the_schema() {
        let validator = validator();
        for (name, events) in runs() {
            let out = render(&events);
            let mut kinds = Vec::new();
            for line in out.lines() {
                let value: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
                let errors = errors(&validator, &value);
                assert!(errors.is_empty(), "{name}: {line}\n{}", errors.join("\n"));
                kinds.push(value["event"].as_str().expect("event").to_string());
            }
            assert_eq!(kinds.last().map(String::as_str), Some("summary"), "{name}");
            assert_eq!(kinds.iter().filter(|k| *k == "summary").count(), 1, "{name}");
        }
    }

    #[test]
    fn every_stop_satisfies_the_schema() {
        let validator = validator();
        let stops = [
            Stop::NotSent { error: "connection refused".into() },
            Stop::RefusedAtSmtp {
                stage: "RCPT TO".into(),
                command: Some("RCPT TO:<nobody@lists.example.test>".into()),
                code: 550,
                enhanced: Some("5.1.1".into()),
                text: "Unrouteable address".into(),
            },
            Stop::Deferred { queue_id: "1tAbCd-000Ab1-Qz".into(), log_line: "== retry time not reached".into() },
            Stop::Frozen { queue_id: "1tAbCd-000Ab1-Qz".into(), log_line: "*** Frozen".into() },
            Stop::Bounced { status: None, diagnostic: "550 no such user".into() },
            Stop::Held { list: "probe-test.lists.example.test".into(), request_id: 7, reason: "Message has implicit destination".into() },
            Stop::Shunted { queue_file: "shunt/1795608002.pck".into(), log_line: None },
            Stop::InMailmanQueue { queues: vec!["pipeline".into(), "out".into()] },
            Stop::Delivered { to: vec!["alice@probe.test".into()] },
            Stop::Archived { archive: "prototype".into(), location: "/var/lib/mailman3/archives/x".into() },
            Stop::NotArchived { archive: "hyperkitty".into(), error: Some("HTTP 403".into()) },
            Stop::Lost,
        ];
        let kinds: std::collections::HashSet<&str> = stops.iter().map(Stop::kind).collect();
        assert_eq!(kinds.len(), stops.len(), "one stop of each kind");
        let scenario = fixture::failed_scenario();
        for stop in stops {
            let mut result = scenario.steps[1].clone();
            result.stop = Some(stop);
            let event = Event::StepFinished { path: scenario.path.clone(), result };
            let value = serde_json::to_value(line(&event)).expect("json");
            let errors = errors(&validator, &value);
            assert!(errors.is_empty(), "{value}\n{}", errors.join("\n"));
        }
    }

    #[test]
    fn the_readme_examples_satisfy_the_schema() {
        let readme = include_str!("../../../README.md");
        let section = &readme[readme.find("## Machine-readable output: JSON").expect("the README's JSON section")..];
        let block = &section[section.find("```json\n").expect("an example block") + "```json\n".len()..];
        let block = &block[..block.find("```").expect("the block's end")];
        let validator = validator();
        let mut kinds = std::collections::HashSet::new();
        for line in block.lines() {
            let value: serde_json::Value = serde_json::from_str(line).expect("each example is JSON");
            let errors = errors(&validator, &value);
            assert!(errors.is_empty(), "README: {line}\n{}", errors.join("\n"));
            kinds.insert(value["event"].as_str().expect("event").to_string());
        }
        assert_eq!(kinds.len(), 10, "one example per event kind and the summary: {kinds:?}");
    }

    #[test]
    fn a_wrong_type_fails_the_schema() {
        let validator = validator();
        let good = serde_json::json!({
            "event": "run_finished",
            "totals": {"passed": 1, "failed": 0, "skipped_steps": 0, "not_run": 0},
            "duration_s": 1.5,
            "at": "2026-11-25T12:00:01.500Z",
        });
        assert!(errors(&validator, &good).is_empty(), "{:?}", errors(&validator, &good));
        let mut bad = good.clone();
        bad["duration_s"] = serde_json::json!("1.5s");
        assert!(!validator.is_valid(&bad));
        let mut bad = good.clone();
        bad["totals"]["passed"] = serde_json::json!(-1);
        assert!(!validator.is_valid(&bad));
        let mut bad = good;
        bad["event"] = serde_json::json!("run_done");
        assert!(!validator.is_valid(&bad));
    }

    #[test]
    fn the_summary_is_the_last_line() {
        for (name, events) in runs() {
            let out = render(&events);
            let last: serde_json::Value = serde_json::from_str(out.lines().last().expect("lines")).expect("JSON");
            assert_eq!(last, summary(&events), "{name}");
        }
        let s = summary(&fixture::events());
        assert_eq!(s["verdict"], "failed");
        assert_eq!(s["scenarios"][1]["first_failure"]["label"], "step 2 expect_delivered");
        assert_eq!(summary(&fixture::interrupted_events())["scenarios"][1]["verdict"], "not_run");
        assert_eq!(summary(&fixture::setup_failed_events())["verdict"], "setup_failed");
        // Mid-run, as `mailflow serve` may ask.
        let running = summary(&fixture::events()[..5]);
        assert_eq!(running["verdict"], "running");
        assert_eq!(running["totals"]["not_run"], 2);
    }

    #[test]
    fn values() {
        assert_eq!(secs(Duration::from_millis(2380)), 2.38);
        assert_eq!(timestamp(fixture::epoch()), "2026-11-25T12:00:00.000Z");
        let stop = serde_json::to_value(StopView::from(&Stop::Lost)).expect("json");
        assert_eq!(stop, serde_json::json!({"kind": "lost"}));
        let stop = Stop::RefusedAtSmtp {
            stage: "RCPT TO".into(),
            command: None,
            code: 550,
            enhanced: Some("5.1.1".into()),
            text: "unknown".into(),
        };
        let stop = serde_json::to_value(StopView::from(&stop)).expect("json");
        assert_eq!(
            stop,
            serde_json::json!({"kind": "refused", "stage": "RCPT TO", "command": null, "code": 550, "enhanced": "5.1.1", "text": "unknown"})
        );
    }
}
