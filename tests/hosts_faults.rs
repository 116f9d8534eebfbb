//! Fault steps through the hosts target: containers started the way
//! `mailflow up --write-target` starts them (sshd in the lists container
//! behind the bastion, the web side), the target file written, and
//! `mailflow run --target FILE` run by a process with docker out of its
//! reach, so that every fault goes over the file's ssh shell and sudo:
//!
//! - as written (read-only, like every target file by default) the shipped
//!   `faults/mailman-down` scenario is skipped: its `stop` step names the
//!   missing `[allow] faults = true`, and every later step names that step;
//!   Mailman is never stopped;
//! - with `[allow] faults = true` and a `[faults]` table naming the image's
//!   helper (`mailflow-mailman stop|start|web-stop|web-start` through `sudo
//!   -n -u root`, as sudoers-mailflow allows), the same scenario passes:
//!   Mailman stopped, the probe accepted and waiting in exim's queue for the
//!   LMTP deferral (read with `exim -bp`/`-Mvh`/`-Mvl` over ssh), Mailman
//!   started (the default ready check: LMTP's greeting), a forced queue run,
//!   the probe delivered and archived;
//! - the web side is stopped and started the same way.

mod support;

use std::path::Path;
use std::time::Duration;

use mailflow::target::containers::{ContainersTarget, StartOptions};
use mailflow::target::target_file::write_target_file;
use serde_json::Value;

const RUN_DEADLINE: Duration = Duration::from_secs(900);
const NOT_ALLOWED: &str = "the target file does not allow fault steps (`[allow] faults = true`)";

/// What the test adds to the written target file: faults allowed, and the
/// image's helper instead of Debian's systemctl (no systemd in a container).
const FAULTS: &str = "\n[faults]\nbecome = \"root\"\n\
    mailman_stop = [\"/usr/local/bin/mailflow-mailman\", \"stop\"]\n\
    mailman_start = [\"/usr/local/bin/mailflow-mailman\", \"start\"]\n\
    web_stop = [\"/usr/local/bin/mailflow-mailman\", \"web-stop\"]\n\
    web_start = [\"/usr/local/bin/mailflow-mailman\", \"web-start\"]\n";

#[test]
fn fault_steps_run_over_ssh_only_when_the_target_file_allows_them() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = support::shipped("scenarios");
    rt.block_on(async {
        let target = ContainersTarget::start_for_target_file(&plan.suite, StartOptions { web: true, ssh: true })
            .await
            .expect("the container target starts with ssh");
        support::then_remove(&target, async {
            let scratch = support::Scratch::new("mailflow-hosts-faults");
            let written = write_target_file(&target, &scratch.0.join("t.toml")).expect("the target file is written");
            skipped_and_named_when_not_allowed(&target, &written.file).await;
            let allowed = scratch.0.join("allowed.toml");
            let text = std::fs::read_to_string(&written.file).unwrap();
            assert!(text.contains("[allow]\nmoderate = true\n"), "{text}");
            let text = text.replace("[allow]\nmoderate = true\n", "[allow]\nmoderate = true\nfaults = true\n") + FAULTS;
            std::fs::write(&allowed, text).unwrap();
            mailman_down_passes_when_allowed(&allowed).await;
            the_web_side_stops_and_starts(&target, &allowed, &scratch.0).await;
        })
        .await;
    });
}

async fn skipped_and_named_when_not_allowed(target: &ContainersTarget, file: &Path) {
    let (code, steps, out) = run(file, &["--filter", "faults/mailman-down", &shipped()]).await;
    assert_eq!(code, 0, "a skipped scenario fails nothing\n{out}");
    assert_eq!(steps[0]["key"], "stop", "{out}");
    assert_eq!(steps[0]["outcome"], "skipped", "{out}");
    assert_eq!(steps[0]["reason"], NOT_ALLOWED, "{out}");
    for s in &steps[1..] {
        assert_eq!(s["outcome"], "skipped", "{s}");
        let reason = s["reason"].as_str().unwrap_or_default();
        assert!(reason.starts_with("not run: ") && reason.contains("was skipped") && reason.contains(NOT_ALLOWED), "{s}");
    }
    // Mailman was never stopped.
    let (code, out, _) = target.exec(&["mailflow-mailman", "status"]).await.expect("exec");
    assert_eq!(code, 0, "{out}");
}

async fn mailman_down_passes_when_allowed(file: &Path) {
    let (code, steps, out) = run(file, &["--filter", "faults/mailman-down", &shipped()]).await;
    assert_eq!(code, 0, "{out}");
    let keys: Vec<&str> = steps.iter().filter_map(|s| s["key"].as_str()).collect();
    for s in &steps {
        assert_eq!(s["outcome"], "passed", "{s}\n{out}");
    }
    for key in ["stop", "send", "expect_queued", "start", "mta_queue_run", "expect_delivered", "expect_archived"] {
        assert!(keys.contains(&key), "no `{key}` step passed: {keys:?}");
    }
    assert!(!keys.contains(&"cleanup"), "Mailman was started by the scenario itself: {keys:?}");
    let row = |key: &str| steps.iter().find(|s| s["key"] == key).map(|s| s["rows"][0]["observed"].as_str().unwrap_or_default().to_string()).unwrap();
    assert!(row("stop").starts_with("`/usr/local/bin/mailflow-mailman stop` on the host"), "{}", row("stop"));
    assert!(row("expect_queued").contains("T=mailman3_lmtp defer (111): Connection refused"), "{}", row("expect_queued"));
    // The default ready check ran after the start: LMTP greets.
    assert!(row("start").contains("; answering after "), "{}", row("start"));
    assert!(row("mta_queue_run").contains("message(s) in the queue before"), "{}", row("mta_queue_run"));
    eprintln!("mailman-down through the hosts target:\n{}", keys.join(", "));
}

async fn the_web_side_stops_and_starts(target: &ContainersTarget, file: &Path, dir: &Path) {
    let suite = dir.join("web");
    std::fs::create_dir_all(&suite).unwrap();
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/suite.toml"), suite.join("suite.toml")).unwrap();
    std::fs::write(suite.join("web.toml"), "name = \"web side down and up\"\n[[step]]\nstop = \"mailman-web\"\n[[step]]\nstart = \"mailman-web\"\n")
        .unwrap();
    let (code, steps, out) = run(file, &[&suite.display().to_string()]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(steps.len(), 2, "{out}");
    assert!(steps.iter().all(|s| s["outcome"] == "passed"), "{out}");
    assert!(steps[1]["rows"][0]["observed"].as_str().unwrap_or_default().contains("HyperKitty answers"), "{out}");
    let (_, status, _) = target.exec(&["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1/hyperkitty/"]).await.expect("exec");
    assert_eq!(status, "200");
}

/// `mailflow run --target FILE --format json ARGS` with docker out of
/// reach: the exit code, the step_finished lines, all of stdout and stderr.
async fn run(file: &Path, args: &[&str]) -> (i32, Vec<Value>, String) {
    let no_docker = support::NoDocker::new();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mailflow"));
    cmd.args(["run", "--target", &file.display().to_string(), "--format", "json"])
        .args(args)
        .env("NO_COLOR", "1")
        .env("PATH", no_docker.path())
        .env("DOCKER_HOST", "unix:///nonexistent")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(RUN_DEADLINE, cmd.output()).await.expect("mailflow run within its deadline").expect("run mailflow");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let steps = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v["event"] == "step_finished")
        .collect();
    (out.status.code().unwrap_or(-1), steps, format!("{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr)))
}

fn shipped() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").display().to_string()
}
