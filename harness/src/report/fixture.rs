//! A fixed run, as events, for the reporters' golden-file tests: two
//! scenarios (one passed with hops, one failed with a bounced probe and a
//! skipped step), a run-wide clean-up and the totals. Times and ids are
//! fixed here; what a live run adds is normalised by [`super::normalize`].

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::check::{Hop, HopKind, Outcome, Row, Stop};
use crate::run::{Event, Phase, ScenarioResult, Signal, StepResult, Totals};
use crate::scenario::Location;

/// 2026-11-25T12:00:00Z, the fixture's start.
pub fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at(file: &str, line: usize, column: usize) -> Location {
    Location { file: PathBuf::from(file), line, column }
}

fn step(key: &'static str, group: usize, line: usize, rows: Vec<Row>, duration: Duration) -> StepResult {
    StepResult {
        key,
        label: format!("step {group} {key}"),
        location: at(DELIVERY, line, 1),
        rows,
        stop: None,
        evidence: Vec::new(),
        hops: Vec::new(),
        duration,
    }
}

const DELIVERY: &str = "scenarios/delivery/member-post.toml";
const PITFALL: &str = "scenarios/pitfalls/no-boundary.toml";

/// The passed scenario: a member post delivered to two subscribers and archived.
pub fn passed_scenario() -> ScenarioResult {
    let mut send = step(
        "send",
        1,
        5,
        vec![Row::passed(
            "SMTP conversation",
            "<mailflow.RUN.0@probe.test> sent to 172.18.0.2:25",
            "<mailflow.RUN.0@probe.test> accepted, exim queue id 1tAbCd-000Ab1-Qz: 250 OK id=1tAbCd-000Ab1-Qz at end of data",
        )
        .took(ms(42))],
        ms(43),
    );
    send.location = at(DELIVERY, 5, 1);
    let mut delivered = step(
        "expect_delivered",
        2,
        9,
        vec![
            Row::passed("delivered to", "alice@probe.test, bob@probe.test within 10.00s", "alice@probe.test, bob@probe.test")
                .took(ms(2380)),
            Row::passed("header List-Id", "contains \"probe-test\"", "\"<probe-test.lists.example.test>\""),
        ],
        ms(2340),
    );
    delivered.hops = vec![
        Hop { kind: HopKind::Accepted, after: ms(40) },
        Hop { kind: HopKind::HandedToMailman, after: ms(310) },
        Hop { kind: HopKind::ResentByMailman, after: ms(2100) },
        Hop { kind: HopKind::Delivered { to: "alice@probe.test".into() }, after: ms(2380) },
        Hop { kind: HopKind::Delivered { to: "bob@probe.test".into() }, after: ms(2380) },
    ];
    let mut archived = step(
        "expect_archived",
        3,
        12,
        vec![Row::passed(
            "in the prototype archive",
            "probe-test@lists.example.test within 15.00s",
            "/var/lib/mailman3/archives/prototype/probe-test@lists.example.test/new/1795608002.M1P2.lists",
        )
        .took(ms(2900))],
        ms(520),
    );
    archived.hops = vec![Hop { kind: HopKind::Archived { archive: "prototype".into() }, after: ms(2900) }];
    ScenarioResult {
        path: PathBuf::from(DELIVERY),
        name: "member post reaches subscribers & the archive".into(),
        steps: vec![send, delivered, archived],
        duration: ms(2910),
    }
}

/// The failed scenario: accepted with 250, then bounced; the archive step
/// after it skipped.
pub fn failed_scenario() -> ScenarioResult {
    let mut send = step("send_raw", 1, 4, vec![Row::passed("SMTP conversation", "<mailflow.RUN.1@probe.test> sent to 172.18.0.2:25", "250 OK at end of data").took(ms(30))], ms(31));
    send.location = at(PITFALL, 4, 1);
    let mut delivered = step(
        "expect_delivered",
        2,
        11,
        vec![Row::failed("delivered to", "alice@probe.test within 10.00s", "nothing arrived at the sink")],
        ms(10_004),
    );
    delivered.location = at(PITFALL, 11, 1);
    delivered.stop = Some(Stop::Bounced { status: Some("5.0.0".into()), diagnostic: "X-LMTP; 501 Message has defects <a&b>".into() });
    delivered.evidence = vec![
        "exim received it as 1tAbCf-000Ab3-Qz; delivery failed: 2026-11-25 12:00:03.120 1tAbCf-000Ab3-Qz ** probe-test@lists.example.test R=mailman3_router T=mailman3_lmtp: LMTP error after end of data: 501 Message has defects".into(),
    ];
    let mut skipped = step(
        "expect_archived",
        3,
        14,
        vec![Row::skipped("expect_archived", "", "not run: step 2 expect_delivered failed")],
        ms(0),
    );
    skipped.location = at(PITFALL, 14, 1);
    ScenarioResult {
        path: PathBuf::from(PITFALL),
        name: "multipart without a boundary \"bounces\"".into(),
        steps: vec![send, delivered, skipped],
        duration: ms(10_040),
    }
}

/// Every event of the fixed run, in order.
pub fn events() -> Vec<Event> {
    let passed = passed_scenario();
    let failed = failed_scenario();
    let mut events = vec![
        Event::RunStarted {
            run_id: "1795608000-abcd".into(),
            target: "containers".into(),
            version: "0.1.0".into(),
            scenarios: vec![passed.path.clone(), failed.path.clone()],
            at: epoch(),
        },
        Event::TargetReady {
            description: "containers: lists 172.18.0.2 (exim, Mailman 3, web side)".into(),
            versions: vec![("mailman_version".into(), "GNU Mailman 3.3.8 (Tom Sawyer)".into()), ("api_version".into(), "3.1".into())],
            phases: vec![
                Phase { name: "image mailflow-lists:0123abcd reused".into(), took: ms(150) },
                Phase { name: "container start".into(), took: ms(9_800) },
                Phase { name: "provisioning".into(), took: ms(1_200) },
            ],
        },
    ];
    for r in [&passed, &failed] {
        events.push(Event::ScenarioStarted { path: r.path.clone(), name: r.name.clone() });
        for s in &r.steps {
            events.push(Event::StepFinished { path: r.path.clone(), result: s.clone() });
        }
        events.push(Event::ScenarioFinished(r.clone()));
    }
    events.push(Event::Cleanup { discarded: vec!["<mailflow.RUN.1@probe.test> on probe-test.lists.example.test".into()], error: None });
    events.push(Event::RunFinished {
        totals: Totals { passed: 1, failed: 1, skipped_steps: 1, not_run: 0 },
        duration: ms(23_500),
        at: epoch() + ms(23_500),
    });
    events
}

/// A run interrupted after the passed scenario.
pub fn interrupted_events() -> Vec<Event> {
    let mut events: Vec<Event> = events().into_iter().take(7).collect();
    events.push(Event::Cleanup { discarded: Vec::new(), error: None });
    events.push(Event::Interrupted { signal: Signal::Interrupt });
    events.push(Event::RunFinished {
        totals: Totals { passed: 1, failed: 0, skipped_steps: 0, not_run: 1 },
        duration: ms(5_000),
        at: epoch() + ms(5_000),
    });
    events
}

/// A run whose target did not start.
pub fn setup_failed_events() -> Vec<Event> {
    let mut events: Vec<Event> = events().into_iter().take(1).collect();
    events.push(Event::SetupFailed { stage: "target".into(), error: "starting the container target: Docker: connection refused".into() });
    events
}

#[test]
fn the_fixture_is_what_it_says() {
    let e = events();
    assert!(matches!(e.first(), Some(Event::RunStarted { .. })));
    assert!(matches!(e.last(), Some(Event::RunFinished { .. })));
    assert!(passed_scenario().passed());
    assert!(!failed_scenario().passed());
    assert_eq!(failed_scenario().steps[2].outcome(), Outcome::Skipped("not run: step 2 expect_delivered failed".into()));
}
