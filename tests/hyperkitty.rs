//! HyperKitty over HTTP: with the list's HyperKitty archiver switched off
//! through Mailman's REST API, the shipped HyperKitty scenario fails at
//! `expect_archived`, saying the probe was delivered but never reached the
//! archive within its deadline, and why: the archiver is off for the list. Runs against its own lists container with
//! the web side on (not shared with the scenario trials, since it changes the
//! list), removed whatever happens.

use std::time::Duration;

use mailflow::mailman::RestTransport;
use mailflow::probe::RunId;
use mailflow::run::run_scenario;
use mailflow::scenario::{Plan, Scenario, StepKind};
use mailflow::target::containers::{ContainersTarget, StartOptions};

mod support;

fn hyperkitty_post() -> Plan {
    support::shipped("scenarios/archive/hyperkitty-member-post.toml")
}

/// The same scenario with a shorter archive deadline: a broken archive is
/// expected to miss it, and the test should not wait out the full 30 s.
fn impatient(s: &Scenario) -> Scenario {
    let mut s = s.clone();
    for step in &mut s.steps {
        if let StepKind::ExpectArchived(e) = &mut step.kind {
            e.within = Duration::from_secs(15);
        }
    }
    s
}

#[test]
fn disabled_hyperkitty_archiver_fails_expect_archived() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = hyperkitty_post();
    let scenario = impatient(&plan.scenarios[0]);
    let run = RunId::new();
    rt.block_on(async {
        let target = ContainersTarget::start_with(&plan.suite, StartOptions { web: true, ssh: false }).await.expect("container target starts");
        support::then_remove(&target, async {
            // Healthy first, so that the failure below is the breakage's doing.
            let healthy = run_scenario(&target, &plan.suite, &scenario, &run, &|_| {}).await;
            assert!(healthy.passed(), "{}", mailflow::report::human::scenario(&healthy));
            eprintln!("{}", mailflow::report::human::scenario(&healthy));

            // The list's HyperKitty archiver off; the prototype archiver stays on.
            let r = target
                .call("PATCH", "/3.1/lists/probe-test.lists.example.test/archivers", &[("hyperkitty", "false".to_string())])
                .await
                .expect("PATCH archivers");
            assert_eq!(r.status, 204, "PATCH archivers answered {}: {}", r.status, r.body);

            let broken = run_scenario(&target, &plan.suite, &scenario, &run, &|_| {}).await;
            eprintln!("{}", mailflow::report::human::scenario(&broken));
            let (label, message) = support::first_failure(&broken);
            assert!(label.contains("expect_archived"), "{label}: {message}");
            assert!(message.contains("delivered to subscribers"), "{message}");
            assert!(message.contains("never reached the hyperkitty archive"), "{message}");
            assert!(message.contains("within 15.00s"), "{message}");
            assert!(message.contains("the hyperkitty archiver is off for probe-test@lists.example.test"), "{message}");
        })
        .await;
    });
}
