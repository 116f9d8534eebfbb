//! The safety rule, tested against the real thing: the harness moderates
//! only held messages whose Message-ID it generated in this run.
//!
//! Starts its own lists container with the shipped suite, puts foreign
//! held messages in the held queues (sent with the SMTP client directly,
//! not through the probe machinery, with hand-made Message-IDs that include
//! near-misses of this run's probe ids), runs every moderation scenario plus
//! one that fails on purpose, and then checks that every foreign message is
//! still held, unchanged, and that no probe of this run is left held.

use std::time::{Duration, Instant};

use mailflow::mailman::{is_probe_id_of_run, HeldMessage};
use mailflow::probe::RunId;
use mailflow::check::Outcome;
use mailflow::run::run_all;
use mailflow::scenario::{Plan, Scenario, StepKind};
use mailflow::smtp::{self, Envelope, Timeouts};
use mailflow::target::containers::ContainersTarget;
use mailflow::target::Target;

mod support;

const LISTS: &[&str] = &[
    "probe-held.lists.example.test",
    "probe-small.lists.example.test",
    "probe-modmember.lists.example.test",
    "probe-emergency.lists.example.test",
    "probe-test.lists.example.test",
];

fn shipped() -> Plan {
    support::shipped("scenarios")
}

/// A copy of the discard scenario whose hold reason cannot match: it fails
/// at `expect_held` with its probe held, which the cleanup must still remove.
fn failing(plan: &Plan) -> Scenario {
    let base = plan
        .scenarios
        .iter()
        .find(|s| s.path.ends_with("moderation/nonmember-discard.toml"))
        .expect("the discard scenario is shipped");
    let mut s = base.clone();
    s.name = "fails on purpose: impossible hold reason".into();
    for step in &mut s.steps {
        if let StepKind::ExpectHeld(e) = &mut step.kind {
            e.reason_contains = Some("a reason Mailman never gives".into());
        }
    }
    s
}

/// Foreign Message-IDs for one list: someone else's, another run's probe,
/// and near-misses of this run's probe ids.
fn foreign_ids(run: &RunId, list_index: usize) -> Vec<String> {
    vec![
        format!("<someone-else.{list_index}@example.org>"),
        format!("<mailflow.1-other.{list_index}@probe.test>"),
        format!("<mailflow.{run}.{list_index}@elsewhere.test>"),
        format!("<mailflow.{run}x.{list_index}@probe.test>"),
        format!("<x-mailflow.{run}.{list_index}@probe.test>"),
    ]
}

async fn send_foreign(target: &ContainersTarget, list_id: &str, message_id: &str) {
    let address = list_id.replacen('.', "@", 1);
    let rcpt = vec![address.clone()];
    let envelope = Envelope { helo: "stranger.example.org", mail_from: "stranger@probe.test", rcpt_to: &rcpt };
    let data = format!(
        "From: stranger@probe.test\r\nTo: {address}\r\nSubject: foreign held message {message_id}\r\nMessage-ID: {message_id}\r\n\r\nNot a mailflow probe.\r\n"
    );
    let t = smtp::send(target.smtp_addr(), &envelope, data.as_bytes(), Timeouts::default()).await.expect("foreign message sent");
    assert!(t.accepted(), "foreign message to {address} refused: {t:?}");
}

async fn held(target: &ContainersTarget, list_id: &str) -> Vec<HeldMessage> {
    mailflow::target::HeldQueue::held(target, list_id).await.unwrap_or_else(|e| panic!("held queue of {list_id}: {e}"))
}

#[test]
fn foreign_held_messages_survive_the_whole_suite_and_no_probe_stays_held() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = shipped();
    let run = RunId::new();
    let mut scenarios: Vec<Scenario> =
        plan.scenarios.iter().filter(|s| s.path.components().any(|c| c.as_os_str() == "moderation")).cloned().collect();
    assert!(scenarios.len() >= 6, "expected the shipped moderation scenarios, found {}", scenarios.len());
    scenarios.push(failing(&plan));

    rt.block_on(async {
        let target = ContainersTarget::start(&plan.suite).await.expect("container target starts");
        support::then_remove(&target, async {
            // Foreign messages, held before the suite runs.
            let mut expected_foreign: Vec<(String, String)> = Vec::new();
            for (i, list_id) in LISTS.iter().enumerate() {
                for id in foreign_ids(&run, i) {
                    send_foreign(&target, list_id, &id).await;
                    expected_foreign.push((list_id.to_string(), id));
                }
            }
            let started = Instant::now();
            let before: Vec<(String, HeldMessage)> = loop {
                let mut found = Vec::new();
                for list_id in LISTS {
                    for h in held(&target, list_id).await {
                        if expected_foreign.iter().any(|(l, id)| l == list_id && *id == h.message_id) {
                            found.push((list_id.to_string(), h));
                        }
                    }
                }
                if found.len() == expected_foreign.len() {
                    break found;
                }
                assert!(started.elapsed() < Duration::from_secs(60), "only {} of {} foreign messages were held", found.len(), expected_foreign.len());
                tokio::time::sleep(Duration::from_millis(500)).await;
            };

            let results = run_all(&target, &plan.suite, &scenarios, &run, &|_| {}).await;
            let report: String = results.iter().map(mailflow::report::human::scenario).collect();
            // Every foreign message is still held, unchanged; no probe of this run is.
            for list_id in LISTS {
                let now = held(&target, list_id).await;
                for (l, h) in before.iter().filter(|(l, _)| l == list_id) {
                    assert!(now.contains(h), "foreign held message {} on {l} was touched or removed; held now: {now:#?}\n{report}", h.message_id);
                }
                // (The foreign near-misses include ids of this run's shape
                // under another domain: they are foreign, and must stay.)
                let left: Vec<&HeldMessage> = now
                    .iter()
                    .filter(|h| is_probe_id_of_run(&run, &h.message_id))
                    .filter(|h| !expected_foreign.iter().any(|(_, id)| *id == h.message_id))
                    .collect();
                assert!(left.is_empty(), "probes of this run still held on {list_id}: {left:#?}\n{report}");
            }
            for r in &results {
                let should_fail = r.name.starts_with("fails on purpose");
                assert_eq!(r.passed(), !should_fail, "unexpected verdict:\n{report}");
                if should_fail {
                    let f = r.first_failure().expect("a failure");
                    assert!(f.label.contains("expect_held"), "{report}");
                    assert!(f.rows.iter().any(|r| r.outcome == Outcome::Failed && r.expected.contains("reason containing")), "{report}");
                }
            }

            println!("{report}");
            println!("{} foreign held messages untouched", before.len());
        })
        .await;
    });
}
