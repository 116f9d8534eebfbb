//! What the runner tells reporters.

use std::path::PathBuf;
use std::time::Duration;

use crate::scenario::Location;

/// The verdict on one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// Why, including where the probe stopped when that is known.
    Failed(String),
    /// The step could not be performed here (missing capability, earlier failure).
    Skipped(String),
}

/// One row per step: what was expected, what was observed, how long it took.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub label: String,
    pub location: Location,
    pub outcome: Outcome,
    /// What was observed, for passed steps too (reply, delivery time, archive path).
    pub detail: Option<String>,
    pub duration: Duration,
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
        !self.steps.iter().any(|s| matches!(s.outcome, Outcome::Failed(_)))
    }
    pub fn first_failure(&self) -> Option<&StepResult> {
        self.steps.iter().find(|s| matches!(s.outcome, Outcome::Failed(_)))
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    ScenarioStarted { path: PathBuf, name: String },
    StepFinished { path: PathBuf, result: StepResult },
    ScenarioFinished(ScenarioResult),
}
