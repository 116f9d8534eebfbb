//! The run as Prometheus metrics, in the text exposition format (0.0.4):
//! for node_exporter's textfile collector after a nightly run, and for
//! `mailflow serve` at `/metrics`. Every metric is a gauge describing the
//! last run; times are in seconds. No sample carries a timestamp (the
//! textfile collector refuses them).
//!
//! | metric | labels | value |
//! |---|---|---|
//! | `mailflow_run_timestamp_seconds` | | when the run started, Unix time |
//! | `mailflow_run_duration_seconds` | | the run's wall time (absent when set-up failed) |
//! | `mailflow_setup_failed` | | 1 when nothing could run (bad input, target did not start) |
//! | `mailflow_run_interrupted` | | 1 when SIGINT or SIGTERM ended the run |
//! | `mailflow_scenarios` | `outcome` | scenarios `passed`, `failed`, `not_run` |
//! | `mailflow_steps` | `outcome` | steps `passed`, `failed`, `skipped` |
//! | `mailflow_scenario_success` | `scenario` | 1 passed, 0 failed |
//! | `mailflow_scenario_duration_seconds` | `scenario` | the scenario's wall time |
//! | `mailflow_step_duration_seconds` | `scenario`, `step`, `key` | the step's wall time |
//! | `mailflow_hop_seconds` | `scenario`, `step`, `hop`, `to` or `archive` | when the probe passed the hop, since it was sent |
//!
//! `scenario` is the scenario file's path, `step` the step's label
//! (`step 2 expect_delivered`), `key` its TOML key, `hop` one of
//! `accepted`, `to_mailman`, `resent`, `delivered` (with `to`, the
//! recipient) and `archived` (with `archive`).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::summary::{seconds, Summary};
use super::Reporter;
use crate::check::{HopKind, Outcome};
use crate::run::{display_path, Event};

/// Writes the run's metrics to a file when the run is over, replacing it
/// whole: the text goes to a temporary file in the same folder (named
/// `.<name>.<pid>.tmp`, which the textfile collector ignores), which is
/// then renamed over `path`, so a scrape never reads half a file.
pub struct Prometheus {
    path: PathBuf,
    summary: Summary,
}

impl Prometheus {
    /// `path` is the `.prom` file, e.g. in node_exporter's
    /// `--collector.textfile.directory`.
    pub fn new(path: PathBuf) -> Prometheus {
        Prometheus { path, summary: Summary::default() }
    }
}

impl Reporter for Prometheus {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        self.summary.event(event);
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        write_replacing(&self.path, &exposition(&self.summary))
    }
}

/// The metrics of a run, from its events, in the text exposition format.
pub fn render(events: &[Event]) -> String {
    exposition(&Summary::of(events))
}

/// A sample's labels, in order, and its value.
type Sample = (Vec<(&'static str, String)>, String);

fn exposition(s: &Summary) -> String {
    let mut out = String::new();
    let flag = |b: bool| if b { "1" } else { "0" }.to_string();

    if let Some(at) = s.started {
        let since_epoch = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        family(&mut out, "mailflow_run_timestamp_seconds", "When the run started, in seconds since the Unix epoch.", vec![(vec![], seconds(since_epoch))]);
    }
    if let Some((_, duration)) = s.finished {
        family(&mut out, "mailflow_run_duration_seconds", "How long the run took, in seconds.", vec![(vec![], seconds(duration))]);
    }
    family(
        &mut out,
        "mailflow_setup_failed",
        "1 when nothing could run: bad input (scenario or target files) or a target that did not start.",
        vec![(vec![], flag(s.setup_failed.is_some()))],
    );
    family(&mut out, "mailflow_run_interrupted", "1 when SIGINT or SIGTERM ended the run early.", vec![(vec![], flag(s.interrupted.is_some()))]);

    let t = s.totals();
    family(
        &mut out,
        "mailflow_scenarios",
        "Scenarios in the run by outcome: passed, failed (a step failed), not_run (an interrupt).",
        [("passed", t.passed), ("failed", t.failed), ("not_run", t.not_run)]
            .into_iter()
            .map(|(o, n)| (vec![("outcome", o.to_string())], n.to_string()))
            .collect(),
    );
    let steps = s.scenarios.iter().flat_map(|r| &r.steps);
    let count = |o: &str| steps.clone().filter(|st| st.outcome().as_str() == o).count().to_string();
    family(
        &mut out,
        "mailflow_steps",
        "Steps of the finished scenarios by outcome: passed, failed, skipped.",
        [Outcome::Passed.as_str(), Outcome::Failed.as_str(), "skipped"].into_iter().map(|o| (vec![("outcome", o.to_string())], count(o))).collect(),
    );

    let name = |r: &crate::run::ScenarioResult| display_path(&r.path).display().to_string();
    family(
        &mut out,
        "mailflow_scenario_success",
        "1 when the scenario passed (no step failed), 0 when it failed.",
        s.scenarios.iter().map(|r| (vec![("scenario", name(r))], flag(r.passed()))).collect(),
    );
    family(
        &mut out,
        "mailflow_scenario_duration_seconds",
        "How long the scenario took, in seconds.",
        s.scenarios.iter().map(|r| (vec![("scenario", name(r))], seconds(r.duration))).collect(),
    );
    family(
        &mut out,
        "mailflow_step_duration_seconds",
        "How long the step took in the runner, in seconds.",
        s.scenarios
            .iter()
            .flat_map(|r| r.steps.iter().map(move |st| (vec![("scenario", name(r)), ("step", st.label.clone()), ("key", st.key.to_string())], seconds(st.duration))))
            .collect(),
    );
    let mut hops = Vec::new();
    for r in &s.scenarios {
        for st in &r.steps {
            for h in &st.hops {
                let mut labels = vec![("scenario", name(r)), ("step", st.label.clone()), ("hop", h.kind.as_str().to_string())];
                match &h.kind {
                    HopKind::Delivered { to } => labels.push(("to", to.clone())),
                    HopKind::Archived { archive } => labels.push(("archive", archive.clone())),
                    HopKind::Accepted | HopKind::HandedToMailman | HopKind::ResentByMailman => {}
                }
                hops.push((labels, seconds(h.after)));
            }
        }
    }
    family(&mut out, "mailflow_hop_seconds", "When the probe passed the hop, in seconds since it was sent.", hops);
    out
}

/// One metric family: HELP, TYPE (gauge) and its samples; nothing when it
/// has no samples. A series that repeats (same labels) is written once,
/// the first time.
fn family(out: &mut String, name: &str, help: &str, samples: Vec<Sample>) {
    if samples.is_empty() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} gauge");
    let mut seen: Vec<&Vec<(&str, String)>> = Vec::new();
    for (labels, value) in &samples {
        if seen.contains(&labels) {
            continue;
        }
        seen.push(labels);
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v))).collect();
            let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
        }
    }
}

/// A label value as the exposition format quotes it: backslash, double
/// quote and line feed escaped.
pub fn escape_label_value(v: &str) -> String {
    v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

/// HELP text: backslash and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

/// Writes `text` to a temporary file beside `path`, then renames it over `path`.
fn write_replacing(path: &Path, text: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} names no file", path.display())));
    };
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    let result = written.and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;
    use crate::check::Hop;
    use crate::report::{fixture, golden};

    /// Runs `promtool check metrics` on `text`; fails when promtool is
    /// missing rather than passing without having checked.
    fn promtool_check(text: &str) {
        let child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                panic!("promtool is not installed: install Debian's prometheus package (scripts/ensure-docker does) to check the metrics")
            }
            Err(e) => panic!("running promtool: {e}"),
        };
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to promtool");
        let out = child.wait_with_output().expect("promtool");
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "promtool check metrics: {}\n{}{}\n--- the metrics\n{text}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The fixture with a scenario whose path and recipient need escaping.
    fn awkward_events() -> Vec<Event> {
        let mut r = fixture::passed_scenario();
        r.path = PathBuf::from("scenarios/we\"ird\\na\nme.toml");
        r.steps[1].hops.push(Hop { kind: HopKind::Delivered { to: "\"o'brien\"@probe.test".into() }, after: std::time::Duration::from_millis(2400) });
        let mut events = fixture::events();
        events.insert(events.len() - 2, Event::ScenarioFinished(r));
        events
    }

    #[test]
    fn golden_run() {
        golden::check("prometheus.prom", &render(&fixture::events()));
    }

    #[test]
    fn promtool_accepts_every_run() {
        promtool_check(&render(&fixture::events()));
        promtool_check(&render(&fixture::interrupted_events()));
        promtool_check(&render(&fixture::setup_failed_events()));
        promtool_check(&render(&awkward_events()));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
        let text = render(&awkward_events());
        assert!(text.contains(r#"mailflow_scenario_success{scenario="scenarios/we\"ird\\na\nme.toml"} 1"#), "{text}");
        assert!(text.contains(r#"to="\"o'brien\"@probe.test"} 2.4"#), "{text}");
    }

    #[test]
    fn interrupted_and_setup_failed_runs_say_so() {
        let text = render(&fixture::interrupted_events());
        assert!(text.contains("mailflow_run_interrupted 1\n"), "{text}");
        assert!(text.contains("mailflow_scenarios{outcome=\"not_run\"} 1\n"), "{text}");
        let text = render(&fixture::setup_failed_events());
        assert!(text.contains("mailflow_setup_failed 1\n"), "{text}");
        assert!(!text.contains("mailflow_run_duration_seconds"), "{text}");
        assert!(text.contains("mailflow_run_timestamp_seconds 1795608000\n"), "{text}");
    }

    #[test]
    fn the_file_is_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("mailflow-prometheus-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("mailflow.prom");
        fs::write(&path, "old\n").expect("old file");
        let mut p = Prometheus::new(path.clone());
        for e in fixture::events() {
            p.event(&e).expect("event");
        }
        p.finish().expect("finish");
        assert_eq!(fs::read_to_string(&path).expect("read"), render(&fixture::events()));
        let left: Vec<_> = fs::read_dir(&dir).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("mailflow.prom")], "no temporary file is left");
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
