//! Executing scenarios: steps in order, under deadlines, correlated by the
//! probe's Message-ID and its probe header. The runner never prints; it emits [`Event`]s that
//! reporters consume.

mod cutover;
mod diagnose;
mod digest;
pub mod events;
mod faults;
mod follow;
pub mod load;
mod moderation;
mod ports;
mod private;
mod settings;
mod steps;
pub mod sweep;
mod verdict;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use events::{Event, Phase, ScenarioResult, Signal, StepResult, Totals};

use crate::check::Row;
use crate::probe::RunId;
use crate::scenario::{Scenario, Suite};
use crate::target::Target;

/// How many scenarios run at once against one target. Probes are told apart
/// by Message-ID, so scenarios do not disturb each other's observations.
pub const PARALLEL_SCENARIOS: usize = 4;

/// How a run behaves beyond its scenarios.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Send nothing and call nothing: every step is reported as skipped with
    /// what it would have done (the probe's envelope and Message-ID for sends).
    pub dry_run: bool,
}

/// Runs one scenario against the target, step by step. After a failed
/// step the rest are skipped (the probe's state is unknown); whatever
/// happened, the scenario's held probes are discarded at the end.
pub async fn run_scenario<T: Target + ?Sized>(
    target: &T,
    suite: &Suite,
    scenario: &Scenario,
    run: &RunId,
    emit: &(dyn Fn(Event) + Send + Sync),
) -> ScenarioResult {
    run_scenario_with(target, suite, scenario, run, RunOptions::default(), emit).await
}

/// [`run_scenario`] with options.
pub async fn run_scenario_with<T: Target + ?Sized>(
    target: &T,
    suite: &Suite,
    scenario: &Scenario,
    run: &RunId,
    options: RunOptions,
    emit: &(dyn Fn(Event) + Send + Sync),
) -> ScenarioResult {
    let started = Instant::now();
    emit(Event::ScenarioStarted { path: scenario.path.clone(), name: scenario.name.clone() });
    let mut state = steps::State::default();
    let mut results = Vec::new();
    let mut failed_at: Option<String> = None;
    // A fault step that was skipped (not allowed, not offered): the steps
    // after it would observe a server that was never broken.
    let mut fault_skipped: Option<String> = None;
    // Verdicts of steps that already ran together with an earlier one.
    let mut ahead = std::collections::VecDeque::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        if ahead.is_empty() && failed_at.is_none() && fault_skipped.is_none() && !options.dry_run {
            // Consecutive `expect_ports` steps depend on nothing before them: run them at once.
            ahead = ports::run_together(target, &scenario.steps[index..]).await;
        }
        let t0 = Instant::now();
        let (verdict, duration) = match ahead.pop_front() {
            Some(done) => done,
            None => {
                let verdict = match (&failed_at, &fault_skipped) {
                    (Some(label), _) => verdict::Verdict::row(Row::skipped(step.kind.key(), "", format!("not run: {label} failed"))),
                    (None, Some(why)) => verdict::Verdict::row(Row::skipped(step.kind.key(), "", format!("not run: {why}"))),
                    (None, None) if options.dry_run => steps::dry_run(target, suite, scenario, step),
                    (None, None) => steps::execute(target, suite, scenario, step, run, &mut state).await,
                };
                (verdict, t0.elapsed())
            }
        };
        let result = StepResult {
            key: step.kind.key(),
            label: step.label(),
            location: step.location.clone(),
            rows: verdict.rows,
            stop: verdict.stop,
            evidence: verdict.evidence,
            hops: verdict.hops,
            duration,
        };
        if result.failed() && failed_at.is_none() {
            failed_at = Some(step.label());
        }
        if let (crate::check::Outcome::Skipped(why), true, None) = (result.outcome(), step.kind.is_fault() && !options.dry_run, &fault_skipped) {
            fault_skipped = Some(format!("{} was skipped ({why})", step.label()));
        }
        emit(Event::StepFinished { path: scenario.path.clone(), result: result.clone() });
        results.push(result);
    }
    let t0 = Instant::now();
    // Services a fault step left stopped come back first: the held-queue
    // clean-up below needs Mailman.
    let mut repaired = faults::undo(target, &state.undo).await;
    repaired.extend(cutover::undo(target, &state.held).await);
    let cleaned = moderation::cleanup(target, run, &state.list_ids, &state.probe_ids).await;
    let mut rows: Vec<Row> = match cleaned {
        Ok(None) => None,
        Ok(Some(done)) => Some(Row::passed("held probes", "none left held", done)),
        Err(message) => Some(Row::failed("held probes", "none left held", message)),
    }
    .into_iter()
    .collect();
    rows.splice(0..0, repaired);
    if !rows.is_empty() {
        let result = StepResult {
            key: "cleanup",
            label: "cleanup".into(),
            location: crate::scenario::Location { file: scenario.path.clone(), line: 1, column: 1 },
            rows,
            stop: None,
            evidence: Vec::new(),
            hops: Vec::new(),
            duration: t0.elapsed(),
        };
        emit(Event::StepFinished { path: scenario.path.clone(), result: result.clone() });
        results.push(result);
    }
    let result = ScenarioResult {
        path: scenario.path.clone(),
        name: scenario.name.clone(),
        steps: results,
        duration: started.elapsed(),
    };
    emit(Event::ScenarioFinished(result.clone()));
    result
}

/// Whether a scenario has fault steps (a service stopped, the sink
/// refusing), which would break the other scenarios' probes: it runs
/// alone, or on containers of its own.
pub fn disturbs_others(scenario: &Scenario) -> bool {
    scenario.steps.iter().any(|step| step.kind.is_fault())
}

/// Whether a scenario reads the web side (HyperKitty, pages, HTTP), so
/// that containers started for it need it.
pub fn reads_the_web(scenario: &Scenario) -> bool {
    use crate::scenario::{ArchiveKind, StepKind};
    scenario.steps.iter().any(|step| match &step.kind {
        StepKind::ExpectArchived(e) => e.archive == ArchiveKind::HyperKitty,
        StepKind::ExpectNotArchived(e) => e.archives.contains(&ArchiveKind::HyperKitty),
        StepKind::ExpectPage(_) | StepKind::ExpectPrivate(_) | StepKind::ExpectHttp(_) => true,
        _ => false,
    })
}

/// Runs every scenario, several at a time; results in the scenarios' order.
pub async fn run_all<T: Target + ?Sized>(
    target: &T,
    suite: &Suite,
    scenarios: &[Scenario],
    run: &RunId,
    emit: &(dyn Fn(Event) + Send + Sync),
) -> Vec<ScenarioResult> {
    run_all_with(target, suite, scenarios, run, RunOptions::default(), emit).await
}

/// [`run_all`] with options.
pub async fn run_all_with<T: Target + ?Sized>(
    target: &T,
    suite: &Suite,
    scenarios: &[Scenario],
    run: &RunId,
    options: RunOptions,
    emit: &(dyn Fn(Event) + Send + Sync),
) -> Vec<ScenarioResult> {
    use futures::stream::{self, StreamExt};
    // A scenario with fault steps (Mailman stopped, the sink refusing)
    // would break the others' probes: it runs alone, after them.
    let (alone, together): (Vec<_>, Vec<_>) = scenarios.iter().enumerate().partition(|(_, s)| disturbs_others(s));
    let mut indexed: Vec<(usize, ScenarioResult)> = stream::iter(together)
        .map(|(i, s)| async move { (i, run_scenario_with(target, suite, s, run, options, emit).await) })
        .buffer_unordered(PARALLEL_SCENARIOS)
        .collect()
        .await;
    for (i, s) in alone {
        indexed.push((i, run_scenario_with(target, suite, s, run, options, emit).await));
    }
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, r)| r).collect()
}

/// The run-wide safety net, for after the last scenario and for Ctrl-C:
/// discards whatever probe of this run is still held on any of the suite's
/// lists (each scenario already cleans up after itself; this catches a
/// scenario that was interrupted). Goes through the same check as every
/// other moderation: only this run's exact probe Message-IDs. Returns the
/// [`Event::Cleanup`] to emit.
pub async fn cleanup_run<T: Target + ?Sized>(target: &T, suite: &Suite, run: &RunId) -> Event {
    let list_ids: Vec<String> = suite.lists.iter().map(|l| l.list_id()).collect();
    match moderation::cleanup_ids(target, run, &list_ids, &crate::probe::issued_ids(run)).await {
        Ok(discarded) => Event::Cleanup { discarded, error: None },
        Err((discarded, error)) => Event::Cleanup { discarded, error: Some(error) },
    }
}

/// For reports that need a path relative to where the user ran from.
pub fn display_path(p: &std::path::Path) -> PathBuf {
    std::env::current_dir().ok().and_then(|cwd| p.strip_prefix(cwd).ok().map(PathBuf::from)).unwrap_or_else(|| p.to_path_buf())
}

/// Seconds with two decimals, as rows state windows and times (`10.00s`).
pub(crate) fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}
