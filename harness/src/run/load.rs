//! Load: many probes to one list, with bounded concurrency, optionally at a
//! fixed rate, and the latency percentiles of their delivery, end to end
//! and per hop. Each probe is an ordinary scenario (a `send`, then
//! `expect_delivered` to every member), so its events and reports are the
//! same as `run`'s; against hosts the target file's probe pace applies as
//! for every send.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{run_scenario, Event, ScenarioResult};
use crate::check::HopKind;
use crate::probe::RunId;
use crate::scenario::{DeliveryExpectation, Location, Scenario, SendSpec, Step, StepKind, Suite};
use crate::target::Target;

/// What `mailflow load` sends.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    /// The list, by name or address, as the suite declares it.
    pub list: String,
    /// The probes' sender; `None`: the list's first member.
    pub from: Option<String>,
    /// How many probes.
    pub count: usize,
    /// Probes started per second; `None`: as fast as `concurrency` allows.
    pub rate: Option<f64>,
    /// Probes in flight at most (sent and not yet delivered to every member).
    pub concurrency: usize,
    /// How long each probe may take to reach every member.
    pub within: Duration,
}

/// The probes as scenarios, one per probe, or why there are none.
pub fn probes(suite: &Suite, spec: &LoadSpec) -> Result<Vec<Scenario>, String> {
    let list = suite.list(&spec.list).ok_or_else(|| {
        let names: Vec<&str> = suite.lists.iter().map(|l| l.name.as_str()).collect();
        format!("unknown list `{}`; {} declares {}", spec.list, suite.path.display(), names.join(", "))
    })?;
    if list.members.is_empty() {
        return Err(format!("list `{}` has no members in {}: nothing would be delivered", list.name, suite.path.display()));
    }
    let from = spec.from.clone().unwrap_or_else(|| list.members[0].clone());
    Ok((1..=spec.count)
        .map(|i| {
            let path = PathBuf::from(format!("load/{}/{i:05}", list.name));
            let at = |line| Location { file: path.clone(), line, column: 1 };
            Scenario {
                path: path.clone(),
                name: format!("load probe {i} of {} to {}", spec.count, list.address()),
                list: Some(list.address()),
                steps: vec![
                    Step {
                        group: 1,
                        location: at(1),
                        kind: StepKind::Send(SendSpec {
                            from: from.clone(),
                            to: vec![list.address()],
                            subject: format!("mailflow load probe {i}/{}", spec.count),
                            body: None,
                            headers: Vec::new(),
                            attachments: Vec::new(),
                        }),
                    },
                    Step {
                        group: 2,
                        location: at(2),
                        kind: StepKind::ExpectDelivered(DeliveryExpectation {
                            to: list.regular_members(),
                            not_to: list.not_regular_members(),
                            headers: Vec::new(),
                            within: spec.within,
                        }),
                    },
                ],
            }
        })
        .collect())
}

/// When probe `index` (from 0) may start, after the load's start.
fn start_offset(index: usize, rate: Option<f64>) -> Duration {
    match rate {
        Some(r) if r > 0.0 => Duration::from_secs_f64(index as f64 / r),
        _ => Duration::ZERO,
    }
}

/// Runs the probes: each starts at its time (with a rate) once one of
/// `concurrency` slots is free. Results in the probes' order.
pub async fn run_load<T: Target + ?Sized>(
    target: &T,
    suite: &Suite,
    probes: &[Scenario],
    spec: &LoadSpec,
    run: &RunId,
    emit: &(dyn Fn(Event) + Send + Sync),
) -> Vec<ScenarioResult> {
    let slots = Semaphore::new(spec.concurrency.max(1));
    let origin = Instant::now();
    let slots = &slots;
    futures::future::join_all(probes.iter().enumerate().map(|(i, scenario)| async move {
        tokio::time::sleep_until(origin + start_offset(i, spec.rate)).await;
        let _slot = slots.acquire().await.expect("the semaphore is never closed");
        run_scenario(target, suite, scenario, run, emit).await
    }))
    .await
}

/// Latency percentiles of a set of durations (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub count: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    /// `None` for no samples.
    pub fn of(samples: &[Duration]) -> Option<Percentiles> {
        let mut sorted = samples.to_vec();
        sorted.sort();
        let n = sorted.len();
        let rank = |p: usize| sorted[(p * n).div_ceil(100).max(1) - 1];
        (n > 0).then(|| Percentiles { count: n, p50: rank(50), p90: rank(90), p99: rank(99), max: sorted[n - 1] })
    }
}

/// What a load run measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    pub sent: usize,
    /// Probes that reached every member within their window.
    pub delivered: usize,
    pub failed: usize,
    /// From sending to the last member's copy, over delivered probes.
    pub end_to_end: Option<Percentiles>,
    /// Per hop (`accepted`, `to_mailman`, `resent`, `delivered`), each
    /// measured from sending; `delivered` counts every member's copy.
    pub hops: Vec<(&'static str, Percentiles)>,
}

impl LoadSummary {
    pub fn of(results: &[ScenarioResult]) -> LoadSummary {
        let mut end_to_end = Vec::new();
        let mut hops: Vec<(&'static str, Vec<Duration>)> =
            ["accepted", "to_mailman", "resent", "delivered"].into_iter().map(|k| (k, Vec::new())).collect();
        let mut delivered = 0;
        for r in results {
            let Some(step) = r.steps.iter().find(|s| s.key == "expect_delivered") else { continue };
            if r.passed() {
                delivered += 1;
                let last = step.hops.iter().filter(|h| matches!(h.kind, HopKind::Delivered { .. })).map(|h| h.after).max();
                end_to_end.extend(last);
            }
            for hop in &step.hops {
                if let Some((_, samples)) = hops.iter_mut().find(|(k, _)| *k == hop.kind.as_str()) {
                    samples.push(hop.after);
                }
            }
        }
        LoadSummary {
            sent: results.len(),
            delivered,
            failed: results.iter().filter(|r| !r.passed()).count(),
            end_to_end: Percentiles::of(&end_to_end),
            hops: hops.into_iter().filter_map(|(k, s)| Percentiles::of(&s).map(|p| (k, p))).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).rev().map(ms).collect();
        let p = Percentiles::of(&samples).unwrap();
        assert_eq!((p.count, p.p50, p.p90, p.p99, p.max), (100, ms(50), ms(90), ms(99), ms(100)));
        let p = Percentiles::of(&[ms(7)]).unwrap();
        assert_eq!((p.p50, p.p99, p.max), (ms(7), ms(7), ms(7)));
        let p = Percentiles::of(&[ms(1), ms(2), ms(3)]).unwrap();
        assert_eq!((p.p50, p.p90), (ms(2), ms(3)));
        assert_eq!(Percentiles::of(&[]), None);
    }

    #[test]
    fn probes_go_to_the_list_and_its_members() {
        let suite = crate::scenario::parse_suite(
            std::path::Path::new("suite.toml"),
            "probe_domain = \"probe.test\"\n[[list]]\nname = \"probe-test\"\ndomain = \"lists.example.test\"\nmembers = [\"alice@probe.test\", \"bob@probe.test\"]\n[[list]]\nname = \"empty\"\ndomain = \"lists.example.test\"\n",
        )
        .unwrap();
        let spec = LoadSpec { list: "probe-test".into(), from: None, count: 3, rate: Some(2.0), concurrency: 2, within: Duration::from_secs(30) };
        let probes = probes(&suite, &spec).unwrap();
        assert_eq!(probes.len(), 3);
        let StepKind::Send(send) = &probes[2].steps[0].kind else { panic!() };
        assert_eq!((send.from.as_str(), send.to.as_slice()), ("alice@probe.test", &["probe-test@lists.example.test".to_string()][..]));
        assert_eq!(send.subject, "mailflow load probe 3/3");
        let StepKind::ExpectDelivered(d) = &probes[0].steps[1].kind else { panic!() };
        assert_eq!(d.to, ["alice@probe.test", "bob@probe.test"]);
        assert!(super::probes(&suite, &LoadSpec { list: "empty".into(), ..spec.clone() }).unwrap_err().contains("no members"));
        assert!(super::probes(&suite, &LoadSpec { list: "nope".into(), ..spec }).unwrap_err().starts_with("unknown list `nope`"));
        assert_eq!(start_offset(3, Some(2.0)), Duration::from_millis(1500));
        assert_eq!(start_offset(3, None), Duration::ZERO);
    }

    /// A hosts-like target: its pacer as a target file's `probes_per_minute`
    /// makes it, and an SMTP address where nothing listens (no peer: each
    /// send is refused by the kernel at once).
    struct Paced {
        pacer: crate::smtp::Pacer,
        smtp: std::net::SocketAddr,
    }

    impl Target for Paced {
        fn describe(&self) -> String {
            "paced".into()
        }
        fn probe_domain(&self) -> &str {
            "probe.test"
        }
        fn smtp_addr(&self) -> std::net::SocketAddr {
            self.smtp
        }
        fn pacer(&self) -> Option<&crate::smtp::Pacer> {
            Some(&self.pacer)
        }
    }

    /// When each probe's send finished, on tokio's paused clock (no wall
    /// time passes), from the load's start.
    async fn send_times(per_minute: u32, rate: Option<f64>) -> Vec<Duration> {
        // A port that was just free: nothing listens there.
        let smtp = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let target = Paced { pacer: crate::smtp::Pacer::per_minute(per_minute), smtp };
        let suite = crate::scenario::parse_suite(
            std::path::Path::new("suite.toml"),
            "probe_domain = \"probe.test\"\n[[list]]\nname = \"probe-test\"\ndomain = \"lists.example.test\"\nmembers = [\"alice@probe.test\"]\n",
        )
        .unwrap();
        let spec = LoadSpec { list: "probe-test".into(), from: None, count: 4, rate, concurrency: 4, within: Duration::from_secs(1) };
        let probes = probes(&suite, &spec).unwrap();
        let origin = Instant::now();
        let times = std::sync::Mutex::new(Vec::new());
        let emit = |e: Event| {
            if let Event::StepFinished { result, .. } = e {
                if result.key == "send" {
                    times.lock().unwrap().push(origin.elapsed());
                }
            }
        };
        let results = run_load(&target, &suite, &probes, &spec, &RunId::new(), &emit).await;
        assert_eq!(results.len(), 4);
        let mut times = times.into_inner().unwrap();
        times.sort();
        // Whole milliseconds: the refused connection takes no virtual time.
        times.into_iter().map(|t| Duration::from_millis(t.as_millis() as u64)).collect()
    }

    /// Against a target with a pacer (a hosts target: the target file's
    /// `probes_per_minute`), load's sends are spaced by it, however many
    /// probes are in flight; with `--rate` too, the slower of the two wins.
    #[tokio::test(start_paused = true)]
    async fn the_targets_pace_spaces_the_loads_sends() {
        let s = Duration::from_secs;
        assert_eq!(send_times(60, None).await, [s(0), s(1), s(2), s(3)]);
        assert_eq!(send_times(60, Some(0.5)).await, [s(0), s(2), s(4), s(6)]);
        assert_eq!(send_times(15, Some(2.0)).await, [s(0), s(4), s(8), s(12)]);
    }
}
