//! SIGINT and SIGTERM in the middle of `mailflow run`: no panic and no
//! backtrace, held probes cleaned, every container and the run network of
//! that process removed, exit status 130 (SIGINT) or 143 (SIGTERM).
//! Runs the real binary against the real container target.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Docker objects labelled with this process id as their owner.
fn left_behind(pid: u32) -> String {
    let label = format!("label=org.mailflow.owner-pid={pid}");
    let containers = Command::new("docker").args(["ps", "-aq", "--filter", &label]).output().expect("docker ps");
    let networks = Command::new("docker").args(["network", "ls", "-q", "--filter", &label]).output().expect("docker network ls");
    format!("{}{}", String::from_utf8_lossy(&containers.stdout).trim(), String::from_utf8_lossy(&networks.stdout).trim())
}

/// Starts `mailflow run` on the moderation scenarios (they wait for holds,
/// so the run is still going when the signal arrives), sends `signal` once
/// the first scenario has started, and returns exit status, stdout, stderr.
fn interrupt_run(signal: &str) -> (Option<i32>, String, String, u32) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailflow"))
        .args(["run", "scenarios/moderation"])
        .current_dir(&root)
        .env("MAILFLOW_WEB", "0")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailflow");
    let pid = child.id();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    // The target is ready when its line appears; then the scenarios run.
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        if stdout.read_line(&mut line).expect("read stdout") == 0 {
            break;
        }
        seen.push_str(&line);
        if line.starts_with("target ready") {
            break;
        }
    }
    assert!(seen.contains("target ready"), "the run never got its target ready:\n{seen}");
    std::thread::sleep(Duration::from_secs(2));
    let status = Command::new("kill").args([signal, &pid.to_string()]).status().expect("kill");
    assert!(status.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("read the rest of stdout");
    seen.push_str(&rest);
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read stderr");
    let code = child.wait().expect("wait").code();
    (code, seen, stderr, pid)
}

/// One after the other: two lists containers at once on a small machine
/// slow each other's start more than the test needs.
#[test]
fn sigint_and_sigterm_mid_run_exit_cleanly() {
    for (signal, code, said) in [("-INT", 130, "interrupted (SIGINT)"), ("-TERM", 143, "terminated (SIGTERM)")] {
        let (status, out, err, pid) = interrupt_run(signal);
        assert_eq!(status, Some(code), "stdout:\n{out}\nstderr:\n{err}");
        assert!(out.contains(said), "{out}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
        assert_eq!(left_behind(pid), "", "containers or networks of the run are left");
    }
}
