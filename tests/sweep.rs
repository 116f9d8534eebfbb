//! The every-list probe (`mailflow sweep`) against its own container
//! target, started as `mailflow up --write-target` starts it (a Dovecot
//! mailbox that exim also delivers the probe domain's mail into, sshd
//! behind the bastion), through the written target file, by the `mailflow`
//! binary:
//!
//! - every list of the server answers: exit 0, one passed row per list
//!   (the lists read from Mailman's REST API, not from suite.toml), each
//!   with its latency; the answers were read in the IMAP mailbox;
//! - one list's folder removed under /var/lib/mailman3/lists (exim's router
//!   requires it): exit 1, that list's row says its `-request` address was
//!   refused at RCPT TO with exim's 550, every other list still answers;
//! - Mailman's command runner stopped: exit 1, every list's row says no
//!   answer within the deadline, and the evidence is exim's log over ssh
//!   (the message was handed to Mailman over LMTP).
//!
//! Also `--lists` with a glob that names one list, and the JUnit and TAP
//! outputs of the same rows.

mod support;

use std::path::Path;
use std::time::Duration;

use mailflow::target::containers::{ContainersTarget, StartOptions};
use mailflow::target::target_file::write_target_file;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(300);

#[test]
fn every_list_answers_and_a_broken_list_is_named() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = support::shipped("scenarios/delivery/member-post.toml");
    rt.block_on(async {
        let target = ContainersTarget::start_for_target_file(&plan.suite, StartOptions { web: false, ssh: true })
            .await
            .expect("the container target starts with a mailbox");
        support::then_remove(&target, async {
            let dir = support::Scratch::new("mailflow-sweep");
            let written = write_target_file(&target, &dir.0.join("t.toml")).expect("the target file is written");
            let file = written.file.display().to_string();
            let lists: Vec<String> = plan.suite.lists.iter().map(|l| l.address()).collect();

            // Healthy: every list answers.
            let (code, events, stderr) = sweep(&["--target", &file, "--within", "60s"]).await;
            let rows = rows_of(&events);
            assert_eq!(code, 0, "{}\n{stderr}", show(&rows));
            assert_eq!(rows.len(), lists.len(), "one row per list: {}", show(&rows));
            for list in &lists {
                let row = rows.iter().find(|r| r["property"] == format!("answer from {list}")).unwrap_or_else(|| panic!("no row for {list}: {}", show(&rows)));
                assert_eq!(row["outcome"], "passed", "{row}");
                assert!(row["observed"].as_str().unwrap().contains("The results of your email commands"), "{row}");
                assert!(row["took_s"].as_f64().is_some_and(|t| t > 0.0 && t < 60.0), "{row}");
            }

            // A glob naming one list probes that list only.
            let (code, events, stderr) = sweep(&["--target", &file, "--lists", "probe-t*", "--within", "60s"]).await;
            let rows = rows_of(&events);
            assert_eq!((code, rows.len()), (0, 1), "{}\n{stderr}", show(&rows));
            assert_eq!(rows[0]["property"], "answer from probe-test@lists.example.test");

            // The list's folder gone: exim no longer routes its addresses.
            let broken = "probe-test";
            support::exec_ok(&target, &["sh", "-c", &format!("mv /var/lib/mailman3/lists/{broken}.lists.example.test /var/lib/mailman3/{broken}.moved")]).await;
            let junit = dir.0.join("sweep.xml");
            let junit_arg = junit.display().to_string();
            let (code, events, stderr) = sweep(&["--target", &file, "--within", "60s", "--junit", &junit_arg]).await;
            let rows = rows_of(&events);
            assert_eq!(code, 1, "{}\n{stderr}", show(&rows));
            for row in &rows {
                let refused = row["property"] == format!("answer from {broken}@lists.example.test");
                if refused {
                    assert_eq!(row["outcome"], "failed", "{row}");
                    let observed = row["observed"].as_str().unwrap();
                    assert!(observed.starts_with("refused at RCPT TO: 550"), "{row}");
                    assert!(row["expected"].as_str().unwrap().contains(&format!("{broken}-request@lists.example.test")), "{row}");
                } else {
                    assert_eq!(row["outcome"], "passed", "{row}");
                }
            }
            let xml = std::fs::read_to_string(&junit).expect("the JUnit report");
            assert!(xml.contains(&format!("answer from {broken}@lists.example.test: expected")), "{xml}");
            support::exec_ok(&target, &["sh", "-c", &format!("mv /var/lib/mailman3/{broken}.moved /var/lib/mailman3/lists/{broken}.lists.example.test")]).await;

            // Mailman's command runner stopped (the master does not restart
            // a runner that ended on SIGTERM): exim hands the messages to
            // Mailman, and no answer comes.
            let (_, ps, _) = target.exec(&["ps", "-eo", "pid=,args="]).await.expect("ps");
            let pid = ps
                .lines()
                .find(|l| l.contains("--runner=command"))
                .and_then(|l| l.split_whitespace().next())
                .unwrap_or_else(|| panic!("no command runner in:\n{ps}"))
                .to_string();
            support::exec_ok(&target, &["kill", "-TERM", &pid]).await;
            let (code, events, stderr) = sweep(&["--target", &file, "--lists", "probe-held", "--within", "8s"]).await;
            let rows = rows_of(&events);
            assert_eq!((code, rows.len()), (1, 1), "{}\n{stderr}", show(&rows));
            assert_eq!(rows[0]["outcome"], "failed", "{}", rows[0]);
            assert!(rows[0]["observed"].as_str().unwrap().starts_with("no answer within 8.00s"), "{}", rows[0]);
            let step = events.iter().find(|e| e["event"] == "step_finished").expect("the step");
            let evidence: Vec<&str> = step["evidence"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            assert!(
                evidence.iter().any(|e| e.starts_with("probe-held@lists.example.test: exim received it as") && e.contains("mailman3_lmtp")),
                "{evidence:?}"
            );
        })
        .await;
    });
}

/// Runs `mailflow sweep ARGS --format json scenarios/`: exit code, the JSON events, stderr.
async fn sweep(args: &[&str]) -> (i32, Vec<Value>, String) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").display().to_string();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mailflow"));
    cmd.arg("sweep").args(args).args(["--format", "json", &shipped]).env("NO_COLOR", "1").stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(DEADLINE, cmd.output()).await.expect("mailflow sweep within its deadline").expect("run mailflow");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events = stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    (out.status.code().unwrap_or(-1), events, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The rows of the sweep step.
fn rows_of(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["event"] == "step_finished" && e["key"] == "expect_every_list_answers")
        .flat_map(|e| e["rows"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn show(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("\n  {} {}: expected {}, observed {}", r["outcome"], r["property"], r["expected"], r["observed"])).collect()
}
