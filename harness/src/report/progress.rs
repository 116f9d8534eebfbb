//! Live progress on a terminal: a spinner while the target starts, one line
//! per running scenario (its path and the step it is at), and a line with
//! how many scenarios have finished. Drawn on stderr with indicatif.
//!
//! [`Progress`] wraps the reporter that writes to the terminal (the human
//! report): what that reporter writes is buffered and printed with the bars
//! cleared, and log lines go above the bars too, so nothing is garbled.
//! Progress is for people only: [`wanted`] says no when stdout or stderr is
//! not a terminal or `NO_COLOR` is set.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{log, Reporter};
use crate::check::Outcome;
use crate::run::{display_path, Event};
use crate::scenario::Scenario;

/// Whether to draw progress: both streams are terminals and `NO_COLOR` is
/// unset or empty.
pub fn wanted(stdout_is_terminal: bool, stderr_is_terminal: bool, no_color: bool) -> bool {
    stdout_is_terminal && stderr_is_terminal && !no_color
}

/// [`wanted`] for this process's stdout, stderr and environment.
pub fn wanted_here() -> bool {
    use std::io::IsTerminal as _;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    wanted(io::stdout().is_terminal(), io::stderr().is_terminal(), no_color)
}

/// A writer whose bytes [`Progress`] takes after each event and prints with
/// the bars cleared. Give it to the wrapped reporter in place of stdout.
#[derive(Clone, Default)]
pub struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The progress reporter around the terminal's own reporter.
pub struct Progress {
    bars: MultiProgress,
    /// Where the wrapped reporter's output really goes (stdout).
    out: Box<dyn Write + Send>,
    buffer: Buffer,
    inner: Box<dyn Reporter>,
    /// The step labels of each scenario of the plan, to name the running step.
    steps: HashMap<PathBuf, Vec<String>>,
    /// One spinner per running scenario, and the steps it has finished.
    running: HashMap<PathBuf, (ProgressBar, usize)>,
    target: Option<ProgressBar>,
    overall: Option<ProgressBar>,
    failed: usize,
    _log: log::Redirected,
}

impl Progress {
    /// Draws on stderr. `make_inner` builds the wrapped reporter on the
    /// [`Buffer`] it is given; what it writes reaches `out`. `scenarios`
    /// name the steps of the run (a scenario not among them shows its step
    /// number only).
    pub fn around(out: impl Write + Send + 'static, scenarios: &[Scenario], make_inner: impl FnOnce(Buffer) -> Box<dyn Reporter>) -> Progress {
        Progress::with_target(ProgressDrawTarget::stderr(), out, scenarios, make_inner)
    }

    fn with_target(
        draw: ProgressDrawTarget,
        out: impl Write + Send + 'static,
        scenarios: &[Scenario],
        make_inner: impl FnOnce(Buffer) -> Box<dyn Reporter>,
    ) -> Progress {
        let bars = MultiProgress::with_draw_target(draw);
        let buffer = Buffer::default();
        let for_log = bars.clone();
        Progress {
            inner: make_inner(buffer.clone()),
            out: Box::new(out),
            buffer,
            steps: scenarios.iter().map(|s| (s.path.clone(), s.steps.iter().map(|st| st.label()).collect())).collect(),
            running: HashMap::new(),
            target: None,
            overall: None,
            failed: 0,
            _log: log::redirect(move |line| {
                let _ = for_log.println(line);
            }),
            bars,
        }
    }

    /// Prints what the wrapped reporter wrote, with the bars cleared.
    fn print_buffered(&mut self) -> io::Result<()> {
        let bytes = self.buffer.take();
        if bytes.is_empty() {
            return Ok(());
        }
        let out = &mut self.out;
        self.bars.suspend(|| {
            out.write_all(&bytes)?;
            out.flush()
        })
    }

    fn spinner(&self, prefix: String, message: String) -> ProgressBar {
        // Above the line of totals, which stays at the bottom.
        let bar = match &self.overall {
            Some(overall) => self.bars.insert_before(overall, ProgressBar::new_spinner()),
            None => self.bars.add(ProgressBar::new_spinner()),
        };
        bar.set_style(ProgressStyle::with_template("{spinner} {prefix} {wide_msg} {elapsed:>4}").expect("a valid template"));
        bar.set_prefix(prefix);
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// The step a scenario is at, after `done` of its steps finished.
    fn current_step(&self, path: &PathBuf, done: usize) -> String {
        match self.steps.get(path).and_then(|labels| labels.get(done)) {
            Some(label) => label.clone(),
            None if self.steps.get(path).is_some_and(|labels| labels.len() <= done) => "cleaning up".into(),
            None => format!("step {}", done + 1),
        }
    }

    fn update_overall(&self) {
        if let Some(bar) = &self.overall {
            let failed = if self.failed > 0 { format!(", {} failed", self.failed) } else { String::new() };
            bar.set_message(format!("scenarios finished{failed}"));
        }
    }

    fn track(&mut self, event: &Event) {
        match event {
            Event::RunStarted { scenarios, .. } => {
                let overall = self.bars.add(ProgressBar::new(scenarios.len() as u64));
                overall.set_style(ProgressStyle::with_template("  {pos}/{len} {wide_msg}").expect("a valid template"));
                self.overall = Some(overall);
                self.update_overall();
                self.target = Some(self.spinner("target".into(), "starting".into()));
            }
            Event::TargetReady { .. } => {
                if let Some(bar) = self.target.take() {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
            }
            // Nothing runs after a set-up failure; no `RunFinished` follows.
            Event::SetupFailed { .. } => self.clear(),
            Event::ScenarioStarted { path, .. } => {
                let step = self.current_step(path, 0);
                let bar = self.spinner(display_path(path).display().to_string(), step);
                self.running.insert(path.clone(), (bar, 0));
            }
            Event::StepFinished { path, result } => {
                let done = match self.running.get_mut(path) {
                    Some((_, done)) => {
                        *done += 1;
                        *done
                    }
                    None => return,
                };
                let mut message = self.current_step(path, done);
                if result.outcome() == Outcome::Failed {
                    message = format!("{message} (after {} failed)", result.label);
                }
                if let Some((bar, _)) = self.running.get(path) {
                    bar.set_message(message);
                }
            }
            Event::ScenarioFinished(result) => {
                if let Some((bar, _)) = self.running.remove(&result.path) {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
                if !result.passed() {
                    self.failed += 1;
                }
                if let Some(overall) = &self.overall {
                    overall.inc(1);
                }
                self.update_overall();
            }
            Event::Cleanup { .. } => {}
            Event::Interrupted { .. } | Event::RunFinished { .. } => self.clear(),
        }
    }

    /// Removes every bar (the run ended or was interrupted).
    fn clear(&mut self) {
        let bars = self.running.drain().map(|(_, (bar, _))| bar).chain(self.target.take()).chain(self.overall.take());
        for bar in bars.collect::<Vec<_>>() {
            bar.finish_and_clear();
            self.bars.remove(&bar);
        }
        self.failed = 0;
    }
}

impl Reporter for Progress {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        // Bars that end with this event go before its text is printed.
        if matches!(event, Event::Interrupted { .. } | Event::RunFinished { .. } | Event::ScenarioFinished(_) | Event::SetupFailed { .. }) {
            self.track(event);
            let result = self.inner.event(event);
            self.print_buffered()?;
            return result;
        }
        let result = self.inner.event(event);
        self.print_buffered()?;
        self.track(event);
        result
    }

    fn finish(&mut self) -> io::Result<()> {
        self.clear();
        let result = self.inner.finish();
        self.print_buffered()?;
        result
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;
    use crate::report::human::{Human, Style};

    /// A writer the test can read after `Progress` took it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn wanted_only_on_terminals_without_no_color() {
        let cases = [
            ((true, true, false), true),
            ((false, true, false), false),
            ((true, false, false), false),
            ((true, true, true), false),
            ((false, false, false), false),
        ];
        for ((out, err, no_color), want) in cases {
            assert_eq!(wanted(out, err, no_color), want, "{out} {err} {no_color}");
        }
    }

    #[test]
    fn the_wrapped_report_comes_through_whole() {
        let events = fixture::events();
        let mut plain = Vec::new();
        let mut human = Human::new(&mut plain, Style::PLAIN);
        for e in &events {
            human.event(e).unwrap();
        }

        let out = Shared::default();
        let mut progress = Progress::with_target(ProgressDrawTarget::hidden(), out.clone(), &[], |buffer| {
            Box::new(Human::new(buffer, Style::PLAIN))
        });
        for e in &events {
            progress.event(e).unwrap();
            if let Event::ScenarioStarted { path, .. } = e {
                assert!(progress.running.contains_key(path), "a spinner for {}", path.display());
            }
        }
        progress.finish().unwrap();
        assert!(progress.running.is_empty() && progress.overall.is_none() && progress.target.is_none());
        assert_eq!(String::from_utf8(out.0.lock().unwrap().clone()).unwrap(), String::from_utf8(plain).unwrap());
    }

    #[test]
    fn names_the_step_a_scenario_is_at() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/refusal/relay.toml");
        let plan = crate::scenario::load(&[root]).expect("the shipped scenario loads");
        let scenario = &plan.scenarios[0];
        let progress = Progress::with_target(ProgressDrawTarget::hidden(), io::sink(), &plan.scenarios, |buffer| {
            Box::new(Human::new(buffer, Style::PLAIN))
        });
        assert_eq!(progress.current_step(&scenario.path, 0), scenario.steps[0].label());
        assert_eq!(progress.current_step(&scenario.path, scenario.steps.len()), "cleaning up");
        assert_eq!(progress.current_step(&PathBuf::from("elsewhere.toml"), 2), "step 3");
    }
}
