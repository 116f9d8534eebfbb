//! The firewall is checked, not assumed: the shipped port-policy scenario
//! passes against a healthy lists container, and fails, naming port,
//! vantage point, expected and observed verdict, once a loopback-only port is
//! opened to all inside the running container. Runs against its own
//! container, since it changes the firewall.
//!
//! Mailman's REST API binds 127.0.0.1:8001 by itself, so opening 8001 in the
//! firewall turns "filtered" into "refused" from outside (the firewall hid a
//! closed port); the stub spamd on 783 binds every address, so opening 783
//! turns it into "open".

use std::time::{Duration, Instant};

use mailflow::probe::RunId;
use mailflow::report::human;
use mailflow::run::run_scenario;
use mailflow::scenario::{Plan, PortState, Protocol};
use mailflow::target::containers::ContainersTarget;
use mailflow::target::{Target, OUTSIDE, Reachability};

mod support;

fn port_policy() -> Plan {
    support::shipped("scenarios/network/port-policy.toml")
}

/// Inserts an ACCEPT for `port` ahead of ferm's rules (ferm loads through
/// iptables-legacy on bookworm).
async fn open_to_all(target: &ContainersTarget, port: u16) {
    let port = port.to_string();
    support::exec_ok(target, &["iptables-legacy", "-I", "INPUT", "-p", "tcp", "--dport", &port, "-j", "ACCEPT"]).await;
}

/// Runs the port policy, which must fail: the first failure's message and the report.
async fn first_failure(target: &ContainersTarget, plan: &Plan, run: &RunId) -> (String, String) {
    let result = run_scenario(target, &plan.suite, &plan.scenarios[0], run, &|_| {}).await;
    let report = human::scenario(&result);
    let failed = result.first_failure().unwrap_or_else(|| panic!("expected a failure, got:\n{report}"));
    (human::failure(failed), report)
}

#[test]
fn opened_loopback_ports_fail_the_port_policy_naming_port_vantage_and_verdicts() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = port_policy();
    let scenario = &plan.scenarios[0];
    let run = RunId::new();
    rt.block_on(async {
        let target = ContainersTarget::start(&plan.suite).await.expect("container target starts");
        support::then_remove(&target, async {
            // Healthy first, so that the failure below is the opened port's doing.
            let healthy = run_scenario(&target, &plan.suite, scenario, &run, &|_| {}).await;
            assert!(healthy.passed(), "{}", human::scenario(&healthy));
            // One row per port, and the ports tried at once: 13 filtered
            // ports at 2 s each would take 26 s one after the other.
            let rows: usize = healthy.steps.iter().map(|s| s.rows.len()).sum();
            assert_eq!(rows, 28, "{}", human::scenario(&healthy));
            assert!(healthy.duration < Duration::from_secs(8), "the port policy took {:?}", healthy.duration);

            // A filtered port is reported filtered, within its deadline and
            // not much later; a closed one refused, at once.
            let deadline = Duration::from_millis(1500);
            let started = Instant::now();
            let filtered = target.try_port(OUTSIDE, Protocol::Tcp, 8001, deadline).await.expect("try 8001");
            assert_eq!(filtered.attempt.state, PortState::Filtered);
            assert!(started.elapsed() < deadline + Duration::from_secs(1), "took {:?}", started.elapsed());
            let started = Instant::now();
            let closed = target.try_port("inside", Protocol::Tcp, 2525, Duration::from_secs(10)).await.expect("try 2525");
            assert_eq!(closed.attempt.state, PortState::Refused);
            assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());

            // TLS verification is really on: the image's CA vouches for
            // lists.example.test only, so another name is refused; with
            // verification off the same server answers.
            let web = target.http_endpoint().expect("the container target has a web server").clone();
            let other = mailflow::http::WebEndpoint { host: "other.example.test".into(), ..web.clone() };
            let client = mailflow::http::client(&other, Duration::from_secs(5)).expect("client");
            let err = mailflow::http::get(&client, "https://other.example.test/").await.expect_err("a name the certificate is not for");
            assert!(err.contains("certificate"), "{err}");
            let off = mailflow::http::WebEndpoint { tls: mailflow::http::TlsTrust::Off, ..other };
            let client = mailflow::http::client(&off, Duration::from_secs(5)).expect("client");
            let answer = mailflow::http::get(&client, "https://other.example.test/").await.expect("verification off");
            assert_eq!(answer.status, 200);

            // Open Mailman's REST API to all, ahead of ferm's rules.
            open_to_all(&target, 8001).await;
            let (message, report) = first_failure(&target, &plan, &run).await;
            assert!(message.starts_with("8001/tcp from outside: expected filtered, observed refused"), "{message}\n{report}");
            // The report points at the step in the file.
            assert!(report.contains("port-policy.toml:"), "{report}");

            // Open the stub spamd too: it listens on every address.
            open_to_all(&target, 783).await;
            let (message, report) = first_failure(&target, &plan, &run).await;
            assert!(message.starts_with("783/tcp from outside: expected filtered, observed open"), "{message}\n{report}");
        })
        .await;
    });
}
