//! Every probe's fate, against its own lists container with the web side
//! on: the shipped pitfalls, and the same inputs with the expectation a
//! naive suite would write, whose failures must name the fate and quote
//! exim's, Mailman's or HyperKitty's words.
//!
//! - a doubled-bracket Message-ID and a missing one: followed to delivery,
//!   the row naming the id each arrived with;
//! - no boundary: `expect_delivered` fails, the probe accepted, then bounced
//!   with Mailman's "Message has defects";
//! - a 1500-character line: `expect_delivered` fails, the probe refused at
//!   DATA with exim's reason;
//! - an encoded word as the sender's local part (and a doubled-bracket
//!   Message-ID): `expect_archived` in HyperKitty fails quoting HyperKitty's
//!   answer from Mailman's log and naming the archiver's retry spool.

use std::path::Path;

use mailflow::check::Stop;
use mailflow::probe::RunId;
use mailflow::run::{run_scenario, ScenarioResult};
use mailflow::scenario::{parse_scenario, Plan, Scenario};
use mailflow::target::containers::{ContainersTarget, StartOptions};

mod support;

fn pitfall(name: &str) -> (Plan, String) {
    let rel = format!("scenarios/pitfalls/{name}");
    let plan = support::shipped(&rel);
    let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(&rel)).expect("read the pitfall");
    (plan, src)
}

/// A pitfall's file with one text replaced, loaded against its suite.
fn changed(name: &str, from: &str, to: &str) -> (Plan, Scenario) {
    let (plan, src) = pitfall(name);
    assert!(src.contains(from), "{name} no longer contains {from:?}");
    let scenario = parse_scenario(Path::new(name), &src.replace(from, to), &plan.suite).unwrap_or_else(|e| panic!("{e}"));
    (plan, scenario)
}

/// The text of the row `property` of the step `key`.
fn observed(r: &ScenarioResult, key: &str, property: &str) -> String {
    let step = r.steps.iter().find(|s| s.key == key).unwrap_or_else(|| panic!("no {key} step"));
    step.rows.iter().find(|row| row.property == property).map(|row| row.observed.clone()).unwrap_or_default()
}

#[test]
fn fates_against_the_container() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let run = RunId::new();
    let (plan, _) = pitfall("doubled-brackets.toml");
    rt.block_on(async {
        let target = ContainersTarget::start_with(&plan.suite, StartOptions { web: true, ..StartOptions::default() }).await.expect("container target starts");
        support::then_remove(&target, async {
            let report = |r: &ScenarioResult| eprintln!("{}", mailflow::report::human::scenario(r));

            // Followed whatever the Message-ID: the shipped pitfalls pass and name the id.
            for (name, arrived) in [("doubled-brackets.toml", "arrived as <<mailflow."), ("no-message-id.toml", "sent without a Message-ID, arrived as <")] {
                let (plan, _) = pitfall(name);
                let r = run_scenario(&target, &plan.suite, &plan.scenarios[0], &run, &|_| {}).await;
                report(&r);
                assert!(r.passed(), "{name}: {}", mailflow::report::human::scenario(&r));
                let row = observed(&r, "expect_delivered", "delivered to");
                assert!(row.contains(arrived), "{name}: {row}");
            }

            // No boundary: a naive expect_delivered fails, naming the bounce and Mailman's words.
            let (plan, s) = changed(
                "no-boundary.toml",
                "expect_bounced = { status = \"5\", diagnostic_contains = \"Message has defects\", within = \"30s\" }\nexpect_fate = { fate = \"bounced\", within = \"30s\" }\nexpect_not_delivered = { within = \"3s\" }",
                "expect_delivered = { within = \"10s\" }",
            );
            let r = run_scenario(&target, &plan.suite, &s, &run, &|_| {}).await;
            report(&r);
            let (label, message) = support::first_failure(&r);
            assert!(label.contains("expect_delivered"), "{label}: {message}");
            assert!(message.contains("ACCEPTED, THEN BOUNCED (5.0.0)"), "{message}");
            assert!(message.contains("501 Message has defects"), "{message}");
            let failed = r.first_failure().unwrap();
            assert!(matches!(&failed.stop, Some(Stop::Bounced { .. })), "{:?}", failed.stop);

            // A 1500-character line: refused at DATA, with exim's reason.
            let (plan, s) = changed(
                "long-line.toml",
                "expect_smtp = { code = 550, text_contains = \"RFC 5322 allows 998\", at = \"message\" }\nexpect_fate = \"refused\"",
                "expect_delivered = { within = \"10s\" }",
            );
            let r = run_scenario(&target, &plan.suite, &s, &run, &|_| {}).await;
            report(&r);
            let (label, message) = support::first_failure(&r);
            assert!(label.contains("expect_delivered"), "{label}: {message}");
            assert!(message.contains("refused at SMTP message"), "{message}");
            assert!(message.contains("550 5.6.0 line of 1500 characters; RFC 5322 allows 998"), "{message}");

            // Delivered, never archived in HyperKitty: the failure quotes why.
            let (plan, s) = changed(
                "encoded-word-sender.toml",
                "expect_not_archived = { archive = \"hyperkitty\", within = \"15s\" }",
                "expect_archived = { archive = \"hyperkitty\", within = \"15s\" }",
            );
            let r = run_scenario(&target, &plan.suite, &s, &run, &|_| {}).await;
            report(&r);
            let (label, message) = support::first_failure(&r);
            assert!(label.contains("expect_archived"), "{label}: {message}");
            assert!(message.contains("never reached the hyperkitty archive"), "{message}");
            assert!(message.contains("answered 400"), "{message}");
            assert!(message.contains("Non-ascii sender address"), "{message}");
            assert!(message.contains("retry spool"), "{message}");
            let failed = r.first_failure().unwrap();
            match &failed.stop {
                Some(Stop::NotArchived { error: Some(e), .. }) => assert!(e.contains("Non-ascii sender address"), "{e}"),
                other => panic!("{other:?}"),
            }

            let (plan, s) = changed(
                "doubled-brackets.toml",
                "expect_not_archived = { archive = \"hyperkitty\", within = \"15s\" }",
                "expect_archived = { archive = \"hyperkitty\", within = \"15s\" }",
            );
            let r = run_scenario(&target, &plan.suite, &s, &run, &|_| {}).await;
            report(&r);
            let (label, message) = support::first_failure(&r);
            assert!(label.contains("expect_archived"), "{label}: {message}");
            assert!(message.contains("answered 500: an HTML page (\"Server Error\"), not JSON"), "{message}");
        })
        .await;
    });
}
