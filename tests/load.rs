//! `mailflow load` end to end: the real binary against the container
//! target it starts itself (real exim, Mailman and the sink), with
//! `--format json`.
//!
//! - N probes with bounded concurrency: every stdout line is JSON; every
//!   probe is a scenario that passed; the `{"load": ...}` line accounts for
//!   every probe (sent = delivered = N, none failed), and its percentiles,
//!   end to end and per hop (`accepted`, `to_mailman`, `resent`,
//!   `delivered`), are present, ordered (p50 <= p90 <= p99 <= max) and
//!   follow the probe's way (a later hop never earlier than the one before);
//! - R per second for a duration: R x D probes, their sends spread over the
//!   duration (the last one no earlier than (N - 1) / R after the first),
//!   all delivered.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Container start, provisioning and the probes, on a busy 2-core machine.
const DEADLINE: Duration = Duration::from_secs(900);
const HOPS: [&str; 4] = ["accepted", "to_mailman", "resent", "delivered"];

/// Runs `mailflow load ARGS --format json` on the shipped suite; each
/// stdout line with the time it arrived (events are flushed one by one),
/// the exit status and stderr. Nothing of the run is left in Docker.
fn load(args: &[&str]) -> (Vec<(Duration, Value)>, Option<i32>, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailflow"))
        .arg("load")
        .args(args)
        .args(["--format", "json", "scenarios"])
        .current_dir(&root)
        .env("MAILFLOW_WEB", "0")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailflow load");
    let pid = child.id();
    // stderr on a thread of its own, so that neither pipe fills up.
    let mut stderr = child.stderr.take().expect("stderr");
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).ok();
        s
    });
    let start = Instant::now();
    let mut lines = Vec::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).expect("read stdout") == 0 {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "mailflow load ran past {DEADLINE:?}");
        let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        lines.push((start.elapsed(), value));
    }
    let status = child.wait().expect("wait").code();
    let stderr = err.join().expect("stderr thread");
    let label = format!("label=org.mailflow.owner-pid={pid}");
    let left = Command::new("docker").args(["ps", "-aq", "--filter", &label]).output().expect("docker ps");
    assert!(left.stdout.is_empty(), "containers of the load run left behind");
    (lines, status, stderr)
}

/// The `{"load": ...}` line.
fn summary(lines: &[(Duration, Value)]) -> &Value {
    let found: Vec<&Value> = lines.iter().map(|(_, v)| v).filter(|v| v.get("load").is_some()).collect();
    assert_eq!(found.len(), 1, "one load line");
    &found[0]["load"]
}

fn ms(p: &Value, key: &str) -> f64 {
    p[key].as_f64().unwrap_or_else(|| panic!("no `{key}` in {p}"))
}

/// Count and percentiles present; p50 <= p90 <= p99 <= max, all above zero.
fn ordered(name: &str, p: &Value, count: u64) {
    assert_eq!(p["count"], count, "{name}: {p}");
    let [p50, p90, p99, max] = ["p50", "p90", "p99", "max"].map(|k| ms(p, k));
    assert!(0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max, "{name} out of order: {p}");
}

/// Every scenario (probe) passed, and the summary accounts for all `n`.
/// The lines that say why a run could not start, for a failure message.
fn setup(lines: &[(Duration, Value)]) -> String {
    lines.iter().map(|(_, v)| v).filter(|v| v["event"] == "setup_failed").map(|v| v.to_string()).collect::<Vec<_>>().join("\n")
}

fn every_probe_delivered(lines: &[(Duration, Value)], n: u64, stderr: &str) {
    let finished: Vec<&Value> = lines.iter().map(|(_, v)| v).filter(|v| v["event"] == "scenario_finished").collect();
    let failed: Vec<&&Value> = finished.iter().filter(|v| v["verdict"] != "passed").collect();
    assert!(failed.is_empty(), "probes that did not pass: {failed:?}\nstderr:\n{stderr}");
    assert_eq!(finished.len() as u64, n, "one scenario per probe");
    let load = summary(lines);
    assert_eq!((load["sent"].as_u64(), load["delivered"].as_u64(), load["failed"].as_u64()), (Some(n), Some(n), Some(0)), "{load}");
    let run_end = lines.iter().map(|(_, v)| v).find(|v| v["event"] == "summary").expect("the run's summary line");
    assert_eq!(run_end["verdict"], "passed", "{run_end}");
    assert_eq!(run_end["totals"]["passed"], n, "{run_end}");
}

#[test]
fn n_probes_with_bounded_concurrency_and_r_per_second_for_a_duration() {
    // N probes, at most 4 in flight; probe-test has two members.
    let n = 12;
    let (lines, status, stderr) = load(&["--list", "probe-test", "--count", &n.to_string(), "--concurrency", "4"]);
    assert_eq!(status, Some(0), "{}\nstderr:\n{stderr}", setup(&lines));
    every_probe_delivered(&lines, n, &stderr);
    let s = summary(&lines);
    ordered("end to end", &s["end_to_end_ms"], n);
    for hop in HOPS {
        // `delivered` counts every member's copy.
        ordered(hop, &s["hops_ms"][hop], if hop == "delivered" { 2 * n } else { n });
    }
    // The probe's way, hop after hop: exim's log has millisecond times.
    for pair in HOPS.windows(2) {
        for k in ["p50", "max"] {
            let (a, b) = (ms(&s["hops_ms"][pair[0]], k), ms(&s["hops_ms"][pair[1]], k));
            assert!(a <= b + 2.0, "{k} of {} ({a} ms) after {} ({b} ms): {s}", pair[0], pair[1]);
        }
    }
    // End to end is the last member's copy: the delivered hop's maximum.
    assert_eq!(ms(&s["end_to_end_ms"], "max"), ms(&s["hops_ms"]["delivered"], "max"), "{s}");
    eprintln!("count mode: {s}");

    // R per second for a duration: 2/s for 5 s is 10 probes.
    let (lines, status, stderr) = load(&["--list", "probe-test", "--rate", "2", "--duration", "5s", "--concurrency", "10"]);
    assert_eq!(status, Some(0), "{}\nstderr:\n{stderr}", setup(&lines));
    every_probe_delivered(&lines, 10, &stderr);
    let sends: Vec<Duration> =
        lines.iter().filter(|(_, v)| v["event"] == "step_finished" && v["key"] == "send").map(|(t, _)| *t).collect();
    assert_eq!(sends.len(), 10);
    let spread = *sends.last().unwrap() - sends[0];
    // The schedule puts the tenth send 4.5 s after the first; a send is
    // never early, and each one's own time (well under a second) can only
    // shorten the spread that little.
    assert!(spread >= Duration::from_millis(3500), "10 sends at 2/s spread over only {spread:?}");
    eprintln!("rate mode: sends spread over {spread:?}: {}", summary(&lines));
}
