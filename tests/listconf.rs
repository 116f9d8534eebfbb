//! Lists configured as in production, against the real lists container:
//! a list setting Mailman does not have, or a value it refuses, stops
//! provisioning at the suite file's line; and the private-archive scenario,
//! which passes as shipped, fails naming the URL that showed the probe once
//! the list's archive is switched to public through Mailman's REST API,
//! and the settings comparison then reports that one setting.
//! Each test starts its own container(s), removed whatever happens.

use std::path::Path;

use mailflow::mailman::RestTransport;
use mailflow::probe::RunId;
use mailflow::run::run_scenario;
use mailflow::scenario::parse_suite;
use mailflow::target::containers::{ContainersTarget, StartOptions};

mod support;

/// A suite of one list whose settings end with `extra` (written on line 9).
fn suite_with(extra: &str) -> mailflow::scenario::Suite {
    let text = format!(
        "probe_domain = \"probe.test\"\n\n[[list]]\nname = \"probe-conf\"\ndomain = \"lists.example.test\"\nmembers = [\"tara@probe.test\"]\n\n[list.settings]\n{extra}\n"
    );
    parse_suite(Path::new("scenarios/suite.toml"), &text).expect("the suite parses: the server is what refuses it")
}

#[test]
fn a_setting_mailman_lacks_or_refuses_fails_provisioning_at_its_line() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let unknown = suite_with("archive_polcy = \"private\"");
        let refused = suite_with("bounce_score_threshold = \"high\"");
        // Both at once: each start is its own container and network.
        let (a, b) = tokio::join!(ContainersTarget::start(&unknown), ContainersTarget::start(&refused));
        async fn message(r: Result<ContainersTarget, mailflow::target::TargetError>) -> String {
            match r {
                Ok(target) => {
                    let _ = target.shutdown().await;
                    panic!("provisioning accepted a setting Mailman should refuse");
                }
                Err(e) => e.to_string(),
            }
        }
        let a = message(a).await;
        assert!(a.starts_with("scenarios/suite.toml:9:1: list `probe-conf.lists.example.test`, setting `archive_polcy`: Mailman has no list setting `archive_polcy`"), "{a}");
        assert!(a.contains("did you mean `archive_policy`?"), "{a}");
        let b = message(b).await;
        assert!(b.starts_with("scenarios/suite.toml:9:1: list `probe-conf.lists.example.test`, setting `bounce_score_threshold`: Mailman refused it (HTTP 400"), "{b}");
    });
}

#[test]
fn a_private_archive_switched_to_public_fails_naming_the_url() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = support::shipped("scenarios/listconf/private-archive.toml");
    let scenario = &plan.scenarios[0];
    let run = RunId::new();
    rt.block_on(async {
        let target = ContainersTarget::start_with(&plan.suite, StartOptions { web: true, ..StartOptions::default() }).await.expect("container target starts");
        support::then_remove(&target, async {
            let private = run_scenario(&target, &plan.suite, scenario, &run, &|_| {}).await;
            eprintln!("{}", mailflow::report::human::scenario(&private));
            assert!(private.passed(), "{}", mailflow::report::human::scenario(&private));

            let r = target
                .call("PATCH", "/3.1/lists/probe-private.lists.example.test/config", &[("archive_policy", "public".to_string())])
                .await
                .expect("PATCH archive_policy");
            assert_eq!(r.status, 204, "PATCH archive_policy answered {}: {}", r.status, r.body);
            // HyperKitty reads the policy after the next archived post, in a
            // task of its own; ask for it now, so the run below sees it.
            target.sync_hyperkitty(&["probe-private@lists.example.test".to_string()]).await.expect("HyperKitty reads the lists");

            let public = run_scenario(&target, &plan.suite, scenario, &run, &|_| {}).await;
            eprintln!("{}", mailflow::report::human::scenario(&public));
            let (label, message) = support::first_failure(&public);
            assert!(label.contains("expect_private"), "{label}: {message}");
            assert!(message.contains("anonymous message page"), "{message}");
            assert!(message.contains("/hyperkitty/list/probe-private@lists.example.test/message/"), "{message}");
            assert!(message.contains("showed the probe"), "{message}");

            // The settings comparison (what a read-only hosts target runs)
            // names the one setting that changed on the server.
            let settings = support::shipped("scenarios/listconf/settings.toml");
            let compared = run_scenario(&target, &settings.suite, &settings.scenarios[0], &run, &|_| {}).await;
            eprintln!("{}", mailflow::report::human::scenario(&compared));
            let (label, message) = support::first_failure(&compared);
            assert!(label.starts_with("step 2 expect_settings"), "{label}: {message}");
            assert!(message.contains("setting archive_policy of probe-private.lists.example.test"), "{message}");
            assert!(message.contains("\"private\" (as at "), "{message}");
            assert!(message.contains("\"public\" on the server"), "{message}");
            let failed: Vec<_> = compared.steps.iter().flat_map(|s| s.rows.iter()).filter(|r| r.outcome == mailflow::check::Outcome::Failed).collect();
            assert_eq!(failed.len(), 1, "one row per differing setting: {failed:?}");
        })
        .await;
    });
}
