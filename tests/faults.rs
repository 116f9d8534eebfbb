//! Faults that prove nothing is lost, against a lists container of its own
//! (it stops Mailman and changes the sink's answers):
//! - the shipped scenario: Mailman stopped, the probe accepted and waiting
//!   in exim's queue for the LMTP deferral, Mailman started, a queue run,
//!   the probe delivered and archived;
//! - the same with the probe deleted from exim's queue (`exim -Mrm`) while
//!   Mailman is down: the scenario fails, naming exim's queue;
//! - the sink answering 4xx once: exim retries, the probe is delivered;
//! - the sink answering 5xx: exim gives up and its bounce goes to the
//!   envelope sender of the list's copy (Mailman's -bounces address).

use std::time::Duration;

use mailflow::probe::RunId;
use mailflow::report::human;
use mailflow::run::{run_scenario, Event};
use mailflow::scenario::{parse_scenario, Plan};
use mailflow::target::containers::ContainersTarget;

mod support;

fn mailman_down() -> Plan {
    support::shipped("scenarios/faults/mailman-down.toml")
}

/// The queue id in an `expect_queued` row's observed value (its first word).
fn queue_id(event: &Event) -> Option<String> {
    let Event::StepFinished { result, .. } = event else { return None };
    (result.key == "expect_queued").then(|| result.rows[0].observed.split_whitespace().next().unwrap_or_default().to_string())
}

#[test]
fn nothing_is_lost_while_mailman_is_down_unless_the_queue_loses_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = mailman_down();
    let scenario = &plan.scenarios[0];
    let run = RunId::new();
    rt.block_on(async {
        let target = ContainersTarget::start(&plan.suite).await.expect("container target starts");
        support::then_remove(&target, async {
            let healthy = run_scenario(&target, &plan.suite, scenario, &run, &|_| {}).await;
            let report = human::scenario(&healthy);
            assert!(healthy.passed(), "{report}");
            eprintln!("{report}");
            let queued = healthy.steps.iter().find(|s| s.key == "expect_queued").expect("an expect_queued step");
            assert!(queued.rows[0].observed.contains("Connection refused"), "{report}");
            assert!(healthy.steps.iter().all(|s| s.key != "cleanup"), "Mailman was started by the scenario itself: {report}");

            // The probe deleted from exim's queue while Mailman is down (by
            // its queue id, as expect_queued found it: this run's own probe).
            let id = target.container_id().to_string();
            let removed = std::sync::Mutex::new(None);
            let delete = |event: Event| {
                if let Some(qid) = queue_id(&event) {
                    let out = std::process::Command::new("docker").args(["exec", &id, "exim", "-Mrm", &qid]).output().expect("docker exec");
                    *removed.lock().unwrap() = Some((qid, out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned()));
                }
            };
            let mut impatient = scenario.clone();
            for step in &mut impatient.steps {
                if let mailflow::scenario::StepKind::ExpectDelivered(e) = &mut step.kind {
                    e.within = Duration::from_secs(15);
                }
            }
            let lost = run_scenario(&target, &plan.suite, &impatient, &run, &delete).await;
            let (qid, ok, out) = removed.lock().unwrap().clone().expect("expect_queued ran and the probe was deleted");
            assert!(ok, "exim -Mrm {qid}: {out}");
            let (label, message) = support::first_failure(&lost);
            assert!(label.contains("expect_delivered"), "{label}: {message}");
            assert!(message.contains("removed from exim's queue"), "{message}");
            assert!(message.contains(&qid), "{message}");
        })
        .await;
    });
}

fn sink_scenario(plan: &Plan, name: &str, src: &str) -> mailflow::scenario::Scenario {
    parse_scenario(std::path::Path::new(name), src, &plan.suite).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_sink_refusing_for_a_while_delays_and_refusing_for_good_bounces() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = mailman_down();
    let run = RunId::new();
    rt.block_on(async {
        let target = ContainersTarget::start(&plan.suite).await.expect("container target starts");
        support::then_remove(&target, async {
            let retried = sink_scenario(
                &plan,
                "sink-4xx.toml",
                r#"name = "the sink defers bob once: exim retries and delivers"
list = "probe-test"
[[step]]
sink_fault = { to = "bob@probe.test", reply = "451 4.3.0 mailflow fault: try again", times = 1 }
[[step]]
send = { from = "alice@probe.test", subject = "deferred once by the sink" }
expect_smtp = 250
[[step]]
expect_delivered = { to = ["alice@probe.test", "bob@probe.test"], within = "60s" }
"#,
            );
            let result = run_scenario(&target, &plan.suite, &retried, &run, &|_| {}).await;
            let report = human::scenario(&result);
            assert!(result.passed(), "{report}");
            // exim logged the sink's 451 for bob's copy, then delivered it.
            let (_, log, _) = target.exec(&["grep", "-F", "mailflow fault: try again", "/var/log/exim4/mainlog"]).await.expect("grep");
            assert!(log.contains("451"), "exim's mainlog has no deferral for the sink's 451:\n{log}\n{report}");
            let cleared = result.steps.iter().find(|s| s.key == "cleanup").expect("the fault is cleared at the end");
            assert!(cleared.rows.iter().any(|r| r.property == "the sink's faults"), "{report}");

            let refused = sink_scenario(
                &plan,
                "sink-5xx.toml",
                r#"name = "the sink refuses bob for good: exim bounces the list's copy"
list = "probe-test"
[[step]]
sink_fault = { to = "bob@probe.test", reply = "550 5.1.1 mailflow fault: no such user" }
[[step]]
send = { from = "alice@probe.test", subject = "refused by the sink" }
expect_smtp = 250
[[step]]
expect_delivered = { to = ["alice@probe.test"], within = "60s" }
"#,
            );
            let result = run_scenario(&target, &plan.suite, &refused, &run, &|_| {}).await;
            let report = human::scenario(&result);
            assert!(result.passed(), "{report}");
            // exim's failure line for bob's copy, and its bounce to the copy's
            // envelope sender, Mailman's -bounces address, over LMTP.
            let mut log = String::new();
            for _ in 0..40 {
                log = target.exec(&["exigrep", "mailflow fault: no such user", "/var/log/exim4/mainlog"]).await.expect("exigrep").1;
                if log.contains("** bob@probe.test") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            assert!(log.contains("** bob@probe.test"), "no failure for bob:\n{log}\n{report}");
            let bounce = target.exec(&["grep", "-E", "=> probe-test-bounces@lists.example.test", "/var/log/exim4/mainlog"]).await.expect("grep").1;
            assert!(!bounce.is_empty(), "the bounce did not reach Mailman's -bounces address:\n{log}");
        })
        .await;
    });
}
