//! A run folded from its events, for the formats that are written whole at
//! the end (Nagios, Prometheus): when it started, the finished scenarios,
//! whether set-up failed or a signal ended it, and its totals.

use std::time::{Duration, SystemTime};

use crate::run::{Event, ScenarioResult, Signal, Totals};

/// What a whole-run format needs to know about a run, from its events.
#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    /// When the run started (`RunStarted`).
    pub started: Option<SystemTime>,
    /// Finished scenarios, in the order they finished.
    pub scenarios: Vec<ScenarioResult>,
    /// `(stage, error)` when nothing could run.
    pub setup_failed: Option<(String, String)>,
    pub interrupted: Option<Signal>,
    /// The totals and the run's wall time (`RunFinished`).
    pub finished: Option<(Totals, Duration)>,
}

impl Summary {
    /// Folds a whole run.
    pub fn of(events: &[Event]) -> Summary {
        let mut s = Summary::default();
        for e in events {
            s.event(e);
        }
        s
    }

    /// Takes in one event.
    pub fn event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { at, .. } => self.started = Some(*at),
            Event::SetupFailed { stage, error } => self.setup_failed = Some((stage.clone(), error.clone())),
            Event::ScenarioFinished(r) => self.scenarios.push(r.clone()),
            Event::Interrupted { signal } => self.interrupted = Some(*signal),
            Event::RunFinished { totals, duration, .. } => self.finished = Some((*totals, *duration)),
            Event::TargetReady { .. } | Event::ScenarioStarted { .. } | Event::StepFinished { .. } | Event::Cleanup { .. } => {}
        }
    }

    /// The run's totals: from `RunFinished`, or counted over the finished
    /// scenarios when it has not come.
    pub fn totals(&self) -> Totals {
        match self.finished {
            Some((t, _)) => t,
            None => Totals::over(&self.scenarios),
        }
    }
}

/// `SIGINT` or `SIGTERM`.
pub(crate) fn signal_name(s: Signal) -> &'static str {
    match s {
        Signal::Interrupt => "SIGINT",
        Signal::Terminate => "SIGTERM",
    }
}

/// Seconds as a plain number to the millisecond, without trailing zeros
/// (`2.91`, `0.043`, `10`): what Prometheus and Nagios perfdata read.
pub(crate) fn seconds(d: Duration) -> String {
    let text = format!("{}.{:03}", d.as_secs(), d.subsec_millis());
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_to_the_millisecond() {
        for (ms, text) in [(2910, "2.91"), (43, "0.043"), (10_000, "10"), (0, "0"), (1_795_608_000_500, "1795608000.5")] {
            assert_eq!(seconds(Duration::from_millis(ms)), text);
        }
        assert_eq!(seconds(Duration::from_micros(2_400)), "0.002");
    }
}
