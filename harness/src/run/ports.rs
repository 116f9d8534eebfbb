//! `expect_ports`: every port of a vantage point's policy tried at once,
//! with a bound on the connection attempts in flight; one row per port.
//! Consecutive `expect_ports` steps run together, so a port policy over
//! several vantage points takes about one deadline, not their sum.

use std::collections::VecDeque;
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use super::secs;
use super::verdict::{unsupported, Verdict};
use crate::check::{within, Look, Row, Waited};
use crate::scenario::{PortState, PortsExpectation, Step, StepKind};
use crate::target::{Capability, PortAttempt, Reachability, Target, TargetError};

/// The most connection attempts in flight at once, over every
/// `expect_ports` step that runs together. A filtered port holds its slot
/// for its whole deadline; from a container vantage point each attempt is a
/// `docker exec`.
pub const ATTEMPTS_AT_ONCE: usize = 16;

/// The shortest deadline an attempt gets, even at the end of its window: a
/// connect on loopback or a bridge takes milliseconds, not nothing.
const MIN_ATTEMPT: Duration = Duration::from_millis(100);

/// Runs the `expect_ports` steps at the head of `steps` together, sharing
/// one bound on attempts in flight. Empty when the first step is not an
/// `expect_ports`. Each verdict comes with the time its own step took.
pub(super) async fn run_together<T: Target + ?Sized>(target: &T, steps: &[Step]) -> VecDeque<(Verdict, Duration)> {
    let batch: Vec<&PortsExpectation> = steps
        .iter()
        .map_while(|s| match &s.kind {
            StepKind::ExpectPorts(exp) => Some(exp),
            _ => None,
        })
        .collect();
    let limit = Semaphore::new(ATTEMPTS_AT_ONCE);
    let limit = &limit;
    join_all(batch.into_iter().map(|exp| async move {
        let t0 = Instant::now();
        let verdict = expect_ports(target, exp, limit).await;
        (verdict, t0.elapsed())
    }))
    .await
    .into_iter()
    .collect()
}

/// Tries every port of `exp` at once (at most `limit`'s permits in flight)
/// and compares each with its expected state: one row per port, in the
/// step's order. A vantage point the target lacks skips every row.
pub(super) async fn expect_ports<T: Target + ?Sized>(target: &T, exp: &PortsExpectation, limit: &Semaphore) -> Verdict {
    let property = |port: u16| format!("{port}/{} from {}", exp.protocol, exp.vantage);
    let skip_all = |reason: String| {
        Verdict::rows(exp.ports.iter().map(|(port, state)| Row::skipped(property(*port), state.to_string(), reason.clone())).collect())
    };
    let Some(reach) = target.reachability() else {
        let first = exp.ports.first().map(|(p, s)| (property(*p), s.to_string())).unwrap_or_default();
        return unsupported(&first.0, first.1, Capability::Reachability);
    };
    let offered = reach.vantages();
    if !offered.iter().any(|v| v == &exp.vantage) {
        return skip_all(no_vantage(&exp.vantage, &offered.join(", ")));
    }
    let rows = join_all(exp.ports.iter().map(|&(port, expected)| async move {
        // The port's window starts when it gets a slot, so a port that
        // waited for one is not judged filtered for want of time.
        let _slot = limit.acquire().await.expect("the semaphore is never closed");
        one_port(reach, exp, port, expected).await
    }))
    .await;
    if let Some(offered) = rows.iter().find_map(|r| match r {
        Err(TargetError::NoVantage { offered, .. }) => Some(offered.clone()),
        _ => None,
    }) {
        return skip_all(no_vantage(&exp.vantage, &offered));
    }
    Verdict::rows(
        rows.into_iter()
            .zip(&exp.ports)
            .map(|(row, (port, expected))| {
                row.unwrap_or_else(|e| Row::failed(property(*port), expected.to_string(), format!("could not try the port: {e}")))
            })
            .collect(),
    )
}

fn no_vantage(wanted: &str, offered: &str) -> String {
    format!("this target offers no vantage point `{wanted}` (it offers {offered})")
}

/// Tries one port until it is in the expected state or its window has
/// passed (see [`within`]). An open or refused port is tried again (a
/// service may be starting, a rule loading); an attempt that found it
/// filtered has waited out the window, so it is the answer.
async fn one_port(reach: &dyn Reachability, exp: &PortsExpectation, port: u16, expected: PortState) -> Result<Row, TargetError> {
    let property = format!("{port}/{} from {}", exp.protocol, exp.vantage);
    let origin = Instant::now();
    let end = origin + exp.within;
    let last: std::cell::RefCell<Option<PortAttempt>> = Default::default();
    let waited = within(origin, exp.within, None::<watch::Receiver<()>>, || {
        let last = &last;
        async move {
            let left = end.saturating_duration_since(Instant::now()).max(MIN_ATTEMPT);
            match reach.try_port(&exp.vantage, exp.protocol, port, left).await {
                Ok(tried) if tried.attempt.state == expected => Look::Ready(tried),
                Ok(tried) => {
                    let filtered = tried.attempt.state == PortState::Filtered;
                    *last.borrow_mut() = Some(tried);
                    if filtered {
                        Look::Abort(None)
                    } else {
                        Look::NotYet
                    }
                }
                Err(e) => Look::Abort(Some(e)),
            }
        }
    })
    .await;
    let expected_text = expected.to_string();
    Ok(match waited {
        Waited::Ready { value, after } => Row::passed(property, expected_text, observed(&value, exp.within)).took(after),
        Waited::Aborted(Some(e)) => return Err(e),
        Waited::Aborted(None) | Waited::TimedOut { .. } => {
            let tried = last.into_inner().expect("a look that did not match kept its attempt");
            let took = origin.elapsed();
            Row::failed(property, expected_text, observed(&tried, exp.within)).took(took)
        }
    })
}

/// What an attempt found, as a row's observed value; starts with the state.
fn observed(tried: &PortAttempt, window: Duration) -> String {
    match tried.attempt.state {
        PortState::Open => format!("open (connected to {} in {})", tried.addr, secs(tried.attempt.took)),
        PortState::Refused => format!("refused ({} reset the connection in {})", tried.addr, secs(tried.attempt.took)),
        PortState::Filtered => format!("filtered (no answer from {} within {})", tried.addr, secs(window)),
    }
}

#[cfg(test)]
mod tests {
    //! On tokio's paused clock, against a target whose ports answer from a
    //! table: filtered ports take their whole deadline, so a policy of many
    //! filtered ports shows whether they were tried at once.
    use std::net::SocketAddr;

    use super::*;
    use crate::check::Outcome;
    use crate::reach::Attempt;
    use crate::scenario::Protocol;
    use crate::target::OUTSIDE;
    use crate::BoxFuture;

    /// Ports 1 to 99 are filtered, 100 to 199 refused, the rest open.
    struct Table {
        in_flight: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
    }

    impl Target for Table {
        fn describe(&self) -> String {
            "table".into()
        }
        fn probe_domain(&self) -> &str {
            "probe.test"
        }
        fn smtp_addr(&self) -> SocketAddr {
            "127.0.0.1:25".parse().unwrap()
        }
        fn reachability(&self) -> Option<&dyn Reachability> {
            Some(self)
        }
    }

    impl Reachability for Table {
        fn vantages(&self) -> Vec<String> {
            vec![OUTSIDE.into(), "inside".into()]
        }
        fn try_port<'a>(&'a self, _: &'a str, _: Protocol, port: u16, deadline: Duration) -> BoxFuture<'a, Result<PortAttempt, TargetError>> {
            use std::sync::atomic::Ordering::SeqCst;
            Box::pin(async move {
                let now = self.in_flight.fetch_add(1, SeqCst) + 1;
                self.most.fetch_max(now, SeqCst);
                let (state, took) = match port {
                    1..=99 => (PortState::Filtered, deadline),
                    100..=199 => (PortState::Refused, Duration::from_millis(2)),
                    _ => (PortState::Open, Duration::from_millis(2)),
                };
                tokio::time::sleep(took).await;
                self.in_flight.fetch_sub(1, SeqCst);
                Ok(PortAttempt { attempt: Attempt { state, took }, addr: SocketAddr::new([192, 0, 2, 25].into(), port) })
            })
        }
    }

    fn table() -> Table {
        Table { in_flight: 0.into(), most: 0.into() }
    }

    fn ports(vantage: &str, ports: &[(u16, PortState)]) -> PortsExpectation {
        PortsExpectation { vantage: vantage.into(), protocol: Protocol::Tcp, ports: ports.to_vec(), within: Duration::from_secs(2) }
    }

    #[tokio::test(start_paused = true)]
    async fn one_row_per_port_in_order_and_in_about_one_deadline() {
        use PortState::*;
        let target = table();
        let exp = ports(OUTSIDE, &[(25, Filtered), (2525, Open), (22, Filtered), (873, Filtered), (150, Refused), (80, Open)]);
        let started = Instant::now();
        let verdict = expect_ports(&target, &exp, &Semaphore::new(ATTEMPTS_AT_ONCE)).await;
        let took = started.elapsed();
        assert!(took < Duration::from_millis(2500), "took {took:?}");
        let rows: Vec<(String, Outcome, String)> = verdict.rows.into_iter().map(|r| (r.property, r.outcome, r.observed)).collect();
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0], ("25/tcp from outside".into(), Outcome::Passed, "filtered (no answer from 192.0.2.25:25 within 2.00s)".into()));
        assert_eq!(rows[1].0, "2525/tcp from outside");
        assert_eq!(rows[1].1, Outcome::Passed);
        assert_eq!(rows[4].0, "150/tcp from outside");
        // 80 is open where the policy says open; 80 here is filtered by the table.
        assert_eq!(rows[5].1, Outcome::Failed);
        assert!(rows[5].2.starts_with("filtered"), "{}", rows[5].2);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_in_flight_stay_bounded_and_every_port_gets_its_window() {
        let target = table();
        let many: Vec<(u16, PortState)> = (1..=40).map(|p| (p, PortState::Filtered)).collect();
        let started = Instant::now();
        let verdict = expect_ports(&target, &ports(OUTSIDE, &many), &Semaphore::new(16)).await;
        assert!(verdict.rows.iter().all(|r| r.outcome == Outcome::Passed));
        assert_eq!(target.most.load(std::sync::atomic::Ordering::SeqCst), 16);
        // 40 filtered ports, 16 at a time: three rounds of 2 s.
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(6) && took < Duration::from_millis(6500), "took {took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_mismatch_names_what_was_seen_and_an_unknown_vantage_skips() {
        let target = table();
        let verdict = expect_ports(&target, &ports(OUTSIDE, &[(8001, PortState::Filtered)]), &Semaphore::new(4)).await;
        let row = &verdict.rows[0];
        assert_eq!(row.outcome, Outcome::Failed);
        assert_eq!(row.observed, "open (connected to 192.0.2.25:8001 in 0.00s)");

        let verdict = expect_ports(&target, &ports("bastion", &[(22, PortState::Open), (25, PortState::Open)]), &Semaphore::new(4)).await;
        assert_eq!(verdict.rows.len(), 2);
        for row in &verdict.rows {
            assert_eq!(row.outcome, Outcome::Skipped("this target offers no vantage point `bastion` (it offers outside, inside)".into()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_steps_run_together() {
        use crate::scenario::Location;
        let step = |exp| Step { group: 1, location: Location { file: "p.toml".into(), line: 1, column: 1 }, kind: StepKind::ExpectPorts(exp) };
        let steps = vec![
            step(ports(OUTSIDE, &[(22, PortState::Filtered), (25, PortState::Filtered)])),
            step(ports("inside", &[(73, PortState::Filtered), (2525, PortState::Open)])),
            Step { kind: StepKind::ExpectShunted(crate::scenario::Window { within: Duration::from_secs(1) }), ..step(ports(OUTSIDE, &[])) },
            step(ports(OUTSIDE, &[(23, PortState::Filtered)])),
        ];
        let started = Instant::now();
        let done = run_together(&table(), &steps).await;
        assert_eq!(done.len(), 2, "stops at the first step of another kind");
        assert!(started.elapsed() < Duration::from_millis(2500), "took {:?}", started.elapsed());
        assert!(done.iter().all(|(v, _)| v.rows.iter().all(|r| r.outcome == Outcome::Passed)));
    }
}
