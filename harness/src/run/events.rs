//! What the runner tells reporters: every event of a run, from its start to
//! its totals. Reporters consume these and nothing else.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::check::{Hop, Outcome, Row, Stop};
use crate::scenario::Location;

/// Everything a step yielded.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// The step's TOML key, e.g. `expect_delivered` (`cleanup` for the
    /// clean-up after a scenario).
    pub key: &'static str,
    /// A short name, e.g. `step 2 expect_delivered`.
    pub label: String,
    /// Where the step's key is written.
    pub location: Location,
    /// One row per checked property; never empty.
    pub rows: Vec<Row>,
    /// Where the probe stopped, for probe steps that failed and looked.
    pub stop: Option<Stop>,
    /// Log lines and facts that support `stop` (exim's mainlog, mailman.log).
    pub evidence: Vec<String>,
    /// The probe's hops with their times since sending, when measured.
    pub hops: Vec<Hop>,
    /// Wall time the step took, in the runner.
    pub duration: Duration,
}

impl StepResult {
    /// Failed when any row failed; skipped when every row was skipped
    /// (the first row's reason); passed otherwise.
    pub fn outcome(&self) -> Outcome {
        if self.rows.iter().any(|r| r.outcome == Outcome::Failed) {
            return Outcome::Failed;
        }
        match self.rows.first() {
            Some(Row { outcome: Outcome::Skipped(why), .. }) if self.rows.iter().all(|r| matches!(r.outcome, Outcome::Skipped(_))) => {
                Outcome::Skipped(why.clone())
            }
            _ => Outcome::Passed,
        }
    }
    pub fn failed(&self) -> bool {
        self.outcome() == Outcome::Failed
    }
    pub fn skipped(&self) -> bool {
        matches!(self.outcome(), Outcome::Skipped(_))
    }
}

#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub path: PathBuf,
    pub name: String,
    pub steps: Vec<StepResult>,
    pub duration: Duration,
}

impl ScenarioResult {
    /// No step failed. Skipped steps do not fail a scenario, and are reported.
    pub fn passed(&self) -> bool {
        !self.steps.iter().any(StepResult::failed)
    }
    pub fn first_failure(&self) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.failed())
    }
}

/// Summary counts over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Scenarios with no failed step.
    pub passed: usize,
    /// Scenarios with a failed step.
    pub failed: usize,
    /// Steps skipped across all scenarios.
    pub skipped_steps: usize,
    /// Scenarios that did not run to their end (an interrupt).
    pub not_run: usize,
}

impl Totals {
    pub fn over(results: &[ScenarioResult]) -> Totals {
        let mut t = Totals::default();
        for r in results {
            if r.passed() {
                t.passed += 1;
            } else {
                t.failed += 1;
            }
            t.skipped_steps += r.steps.iter().filter(|s| s.skipped()).count();
        }
        t
    }
}

/// A phase of getting the target ready, with how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// E.g. `image mailflow-lists:abc123 reused`, `container start`, `provisioning`.
    pub name: String,
    pub took: Duration,
}

/// What ended the run early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT, Ctrl-C (exit status 130).
    Interrupt,
    /// SIGTERM (exit status 143).
    Terminate,
}

/// Every event of a run, in the order the runner emits them.
#[derive(Debug, Clone)]
pub enum Event {
    RunStarted {
        run_id: String,
        /// The target as the run was asked for (`containers`, a target file).
        target: String,
        /// mailflow's own version.
        version: String,
        /// The scenario files selected, in order.
        scenarios: Vec<PathBuf>,
        at: SystemTime,
    },
    /// The target answers; its phases (image builds, start, provisioning).
    TargetReady {
        description: String,
        /// What the target runs, e.g. (`mailman`, `3.3.8`), (`exim`, `4.96`).
        versions: Vec<(String, String)>,
        phases: Vec<Phase>,
    },
    /// Nothing could run: bad input (scenario or target files) or a
    /// target that did not start. `stage` is `input` or `target`.
    SetupFailed { stage: String, error: String },
    ScenarioStarted { path: PathBuf, name: String },
    StepFinished { path: PathBuf, result: StepResult },
    ScenarioFinished(ScenarioResult),
    /// The run-wide clean-up of held probes, after the last scenario or on
    /// an interrupt: what was discarded, and what could not be.
    Cleanup { discarded: Vec<String>, error: Option<String> },
    Interrupted { signal: Signal },
    RunFinished { totals: Totals, duration: Duration, at: SystemTime },
}
