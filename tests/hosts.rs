//! The hosts target pointed at the container target as if it were a real
//! server: a target file naming only its SMTP listener. Refusals are judged
//! the same way; steps that need what the file does not configure (a
//! mailbox, Mailman's REST, a web side) are skipped with their reasons, never
//! passed; nothing is moderated.

mod support;

use mailflow::check::Outcome;
use mailflow::probe::RunId;
use mailflow::report::human;
use mailflow::run::run_all;
use mailflow::target::containers::{ContainersTarget, StartOptions};
use mailflow::target::hosts::{parse_hosts, HostsTarget};
use mailflow::target::Target;

#[test]
fn refusals_pass_and_what_the_file_lacks_is_skipped() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = support::shipped("scenarios");
    let chosen: Vec<_> = plan
        .scenarios
        .iter()
        .filter(|s| s.path.ends_with("refusal/relay.toml") || s.path.ends_with("delivery/member-post.toml"))
        .cloned()
        .collect();
    assert_eq!(chosen.len(), 2);
    rt.block_on(async {
        let containers = ContainersTarget::start_with(&plan.suite, StartOptions { web: false, ssh: false })
            .await
            .expect("container target starts");
        support::then_remove(&containers, async {
            let file = format!(
                "name = \"lists.example.test\"\n[smtp]\naddresses = [\"{}\"]\nstarttls = \"off\"\n[limits]\nprobes_per_minute = 600\n",
                containers.smtp_addr()
            );
            let config = parse_hosts(std::path::Path::new("containers-as-hosts.toml"), &file).expect("the target file parses");
            let hosts = HostsTarget::connect(config, &plan.suite.probe_domain).await.expect("hosts target");
            assert!(hosts.describe().starts_with("hosts: lists.example.test"), "{}", hosts.describe());
            let results = run_all(&hosts, &plan.suite, &chosen, &RunId::new(), &|_| {}).await;
            let report: String = results.iter().map(human::scenario).collect();
            for r in &results {
                assert!(r.passed(), "{report}");
            }
            // The member post was sent and accepted, but delivery needs a mailbox.
            let post = results.iter().find(|r| r.path.ends_with("member-post.toml")).unwrap();
            let delivered = post.steps.iter().find(|s| s.key == "expect_delivered").expect("a delivery step");
            assert!(matches!(delivered.outcome(), Outcome::Skipped(why) if why.contains("mailbox")), "{report}");
            let archived = post.steps.iter().find(|s| s.key == "expect_archived").expect("an archive step");
            assert!(matches!(archived.outcome(), Outcome::Skipped(_)), "{report}");
        })
        .await;
    });
}
