//! The shipped cutover suite (scenarios/cutover/) against two lists
//! containers: the new host (the target) and a second one playing the old
//! host. Phase by phase, as an operator runs them:
//! - before the switch: TTLs, empty queues, clean permissions, the banner;
//! - the old host is switched to refuse the list domain (the switch);
//! - during: the new host's exim holds the list domain's mail, the probe is
//!   seen held (in the queue, delivered to nobody), then released and
//!   delivered: nothing lost;
//! - after: the old host refuses RCPT TO for the list (never DATA), the new
//!   host delivers, queues empty.
//!
//! And failures for the right reason: the old host still accepting is
//! named (and got no message: no DATA was sent), and a post shunted by
//! Mailman makes the queue check name the shunt queue.

mod support;

use mailflow::probe::RunId;
use mailflow::report::human;
use mailflow::run::{run_scenario, ScenarioResult};
use mailflow::scenario::{parse_scenario, Plan, Scenario};
use mailflow::target::containers::{ContainersTarget, StartOptions};
use mailflow::target::Target;

const LIST_DOMAIN: &str = "lists.example.test";

fn phase<'p>(plan: &'p Plan, file: &str) -> &'p Scenario {
    plan.scenarios.iter().find(|s| s.path.ends_with(file)).unwrap_or_else(|| panic!("{file} in the cutover suite"))
}

/// The rows of the first step with this key, as `property: observed`.
fn observed(r: &ScenarioResult, key: &str) -> Vec<String> {
    r.steps.iter().filter(|s| s.key == key).flat_map(|s| s.rows.iter().map(|row| format!("{}: {}", row.property, row.observed))).collect()
}

async fn run(target: &ContainersTarget, plan: &Plan, scenario: &Scenario, run_id: &RunId) -> (ScenarioResult, String) {
    let result = run_scenario(target, &plan.suite, scenario, run_id, &|_| {}).await;
    let report = human::scenario(&result);
    eprintln!("{report}");
    (result, report)
}

#[test]
fn the_cutover_suite_holds_releases_and_loses_nothing_and_names_what_is_wrong() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = support::shipped("scenarios/cutover");
    let run_id = RunId::new();
    rt.block_on(async {
        // The web side is not needed: no archive is read over HTTP.
        let options = StartOptions { web: false, ssh: false };
        // One after the other: two Mailman start-ups at once on a busy
        // 2-core machine ran past the image's ready deadline.
        let mut new = ContainersTarget::start_with(&plan.suite, options).await.expect("the new host starts");
        let old = match ContainersTarget::start_with(&plan.suite, options).await {
            Ok(old) => old,
            Err(e) => {
                let _ = new.shutdown().await;
                panic!("the old host starts: {e}");
            }
        };
        new.set_old_host(vec![old.smtp_addr()]);
        let (new, old) = (&new, &old);
        support::then_remove(old, support::then_remove(new, async {
            // Before the switch.
            let (before, report) = run(new, &plan, phase(&plan, "1-before.toml"), &run_id).await;
            assert!(before.passed(), "{report}");
            let banner = observed(&before, "expect_banner");
            assert!(banner.iter().any(|r| r.contains("220 ") && r.contains("ESMTP")), "{banner:?}");
            let skipped = before.steps.iter().flat_map(|s| &s.rows).find(|r| r.property == "SMTP banner over ipv6").expect("an ipv6 row");
            assert!(format!("{:?}", skipped.outcome).contains("no ipv6 SMTP address"), "{skipped:?}");

            // The switch: the old host refuses the list domain from now on.
            old.refuse_domain(LIST_DOMAIN, true).await.expect("the old host refuses the list domain");

            // During: held, seen held, released, delivered.
            let (during, report) = run(new, &plan, phase(&plan, "2-during.toml"), &run_id).await;
            assert!(during.passed(), "{report}");
            let held = observed(&during, "expect_mta_queue");
            assert!(held[0].starts_with("mail for lists.example.test: ") && held[0].contains("in the queue; no copy delivered"), "{held:?}");
            let delivered = during.steps.iter().find(|s| s.key == "expect_delivered").expect("expect_delivered");
            assert!(delivered.rows.iter().any(|r| r.observed.contains("alice@probe.test") && r.observed.contains("bob@probe.test")), "alice and bob: {report}");
            assert!(!report.contains("left held"), "the scenario released what it held: {report}");
            let (_, hold_file, _) = new.exec(&["cat", "/etc/exim4/mailflow-hold-domains"]).await.unwrap();
            assert_eq!(hold_file.trim(), "", "released");

            // After: the old host refuses RCPT TO for the list.
            let (after, report) = run(new, &plan, phase(&plan, "3-after.toml"), &run_id).await;
            assert!(after.passed(), "{report}");
            let refused = observed(&after, "expect_old_host");
            assert_eq!(refused.len(), 1);
            assert!(refused[0].contains("refused at RCPT TO: 550") && refused[0].contains("no longer takes mail"), "{refused:?}");

            // The old host still accepting: named, and nothing was sent to it.
            old.refuse_domain(LIST_DOMAIN, false).await.expect("the old host takes the list domain again");
            let (wrong, report) = run(new, &plan, phase(&plan, "3-after.toml"), &run_id).await;
            let (label, failure) = support::first_failure(&wrong);
            assert!(label.ends_with("expect_old_host"), "{report}");
            assert!(failure.contains(&old.smtp_addr().to_string()) && failure.contains("accepted at RCPT TO: 250"), "{failure}");
            let (_, mainlog, _) = old.exec(&["cat", "/var/log/exim4/mainlog"]).await.unwrap();
            // Its refusals and the accepted RCPT are logged; an arrival (`<=`) never is.
            assert!(
                !mainlog.lines().any(|l| l.contains(" <= mailflow-cutover@probe.test")),
                "no message from the check reached the old host:\n{mainlog}"
            );
            assert!(old.sink().messages().is_empty(), "nothing was delivered from the old host");

            // A post Mailman shunts (a non-member's, held with two
            // Message-IDs; a member's is delivered): the queue check names
            // the shunt queue.
            let shunt = parse_scenario(
                std::path::Path::new("shunt.toml"),
                r#"name = "a post with two Message-IDs is shunted"
list = "probe-test"
[[step]]
send_raw = { from = "nm-shunt@probe.test", to = ["probe-test@lists.example.test"], data = """
From: nm-shunt@probe.test
To: probe-test@lists.example.test
Subject: two Message-IDs
Message-ID: {message_id}
Message-ID: {message_id}

Shunted on purpose by mailflow's cutover test.
""" }
expect_smtp = 250
expect_shunted = { within = "30s" }
"#,
                &plan.suite,
            )
            .expect("the inline scenario loads");
            let (shunted, report) = run(new, &plan, &shunt, &run_id).await;
            assert!(shunted.passed(), "{report}");
            let (queues, report) = run(new, &plan, phase(&plan, "1-before.toml"), &run_id).await;
            let (label, failure) = support::first_failure(&queues);
            assert!(label.ends_with("expect_mailman_queues"), "{report}");
            assert!(failure.contains("Mailman's shunt queue") && failure.contains("/var/lib/mailman3/queue/shunt"), "{failure}");
        }))
        .await;
    });
}
