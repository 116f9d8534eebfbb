//! Breaking the real system on purpose makes the right step fail, and the
//! failure says where the probe stopped. Runs the shipped member-post
//! scenario against its own lists container (not shared with the scenario
//! trials, since it stops Mailman and deletes the list).

use std::time::{Duration, Instant};

use mailflow::mailman::MailmanRest;
use mailflow::probe::RunId;
use mailflow::run::run_scenario;
use mailflow::scenario::{Plan, Scenario, StepKind};
use mailflow::target::containers::ContainersTarget;

mod support;

fn member_post() -> Plan {
    support::shipped("scenarios/delivery/member-post.toml")
}

/// The same scenario with shorter deadlines: a broken system is expected to
/// miss them, and the test should not wait out the full 30 s.
fn impatient(s: &Scenario) -> Scenario {
    let mut s = s.clone();
    for step in &mut s.steps {
        match &mut step.kind {
            StepKind::ExpectDelivered(e) => e.within = Duration::from_secs(8),
            StepKind::ExpectArchived(e) => e.within = Duration::from_secs(8),
            _ => {}
        }
    }
    s
}

async fn wait_for_rest(target: &ContainersTarget) {
    let started = Instant::now();
    while MailmanRest::new(target).versions().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(90), "Mailman's REST API did not come back");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[test]
fn stopped_mailman_and_missing_list_fail_the_right_steps() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = member_post();
    let scenario = impatient(&plan.scenarios[0]);
    let run = RunId::new();
    rt.block_on(async {
        let target = ContainersTarget::start(&plan.suite).await.expect("container target starts");
        support::then_remove(&target, async {
            // Healthy first, so that the failures below are the breakage's doing.
            let healthy = run_scenario(&target, &plan.suite, &scenario, &run, &|_| {}).await;
            assert!(healthy.passed(), "{}", mailflow::report::human::scenario(&healthy));

            // Mailman stopped (the image's watchdog is told it is on purpose):
            // exim accepts the post and defers its delivery over LMTP.
            support::exec_ok(&target, &["sh", "-c", "mkdir -p /run/mailflow && touch /run/mailflow/maintenance && mailflow-mailman stop"]).await;
            let stopped = run_scenario(&target, &plan.suite, &scenario, &run, &|_| {}).await;
            let (label, message) = support::first_failure(&stopped);
            assert!(label.contains("expect_delivered"), "{label}: {message}");
            assert!(message.contains("deferred"), "{message}");
            // The image names its LMTP transport `mailman3_lmtp`; exim quotes it.
            assert!(message.contains("T=mailman3_lmtp"), "{message}");
            assert!(message.contains("Connection refused"), "{message}");

            // Mailman back, the list deleted: exim refuses the post with 550.
            support::exec_ok(&target, &["sh", "-c", "mailflow-mailman start && rm -f /run/mailflow/maintenance"]).await;
            wait_for_rest(&target).await;
            MailmanRest::new(&target).delete_list("probe-test.lists.example.test").await.expect("delete the list");
            let removed = run_scenario(&target, &plan.suite, &scenario, &run, &|_| {}).await;
            let (label, message) = support::first_failure(&removed);
            assert!(label.contains("expect_smtp"), "{label}: {message}");
            assert!(message.contains("550"), "{message}");
        })
        .await;
    });
}
