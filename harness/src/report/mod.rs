//! Reporters consume the runner's events and render them. The runner never
//! prints; everything a person or a machine reads about a run is formatted
//! here, one module per format, and log lines to stderr go through [`log`].

pub mod arrivals;
#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
pub(crate) mod golden;
pub mod human;
pub mod json;
pub mod junit;
pub mod load;
pub mod log;
pub mod nagios;
pub mod normalize;
pub mod progress;
pub mod prometheus;
pub(crate) mod summary;
pub mod tap;
#[cfg(feature = "containers")]
pub mod up;

use std::io;
use std::sync::Mutex;

use crate::run::Event;

/// Renders a run from its events. Every reporter sees every event, in order.
pub trait Reporter: Send {
    /// Called for every event, in the order the runner emitted them.
    fn event(&mut self, event: &Event) -> io::Result<()>;
    /// After the last event: write what is written whole (JUnit, Prometheus)
    /// and flush.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Several reporters at once (human on the terminal, JUnit and JSON to
/// files), behind one `emit` that scenarios running in parallel may call.
/// A reporter that fails to write is reported once on stderr and dropped;
/// the others go on.
#[derive(Default)]
pub struct Fanout {
    reporters: Mutex<Vec<(String, Box<dyn Reporter>)>>,
}

impl Fanout {
    pub fn new() -> Fanout {
        Fanout::default()
    }
    /// Adds a reporter; `name` (a format and where it writes) names it in errors.
    pub fn add(&mut self, name: impl Into<String>, reporter: Box<dyn Reporter>) {
        self.reporters.get_mut().expect("reporters poisoned").push((name.into(), reporter));
    }
    /// Hands the event to every reporter.
    pub fn emit(&self, event: &Event) {
        let mut reporters = self.reporters.lock().expect("reporters poisoned");
        reporters.retain_mut(|(name, r)| match r.event(event) {
            Ok(()) => true,
            Err(e) => {
                log::error(&format!("the {name} report stopped: {e}"));
                false
            }
        });
    }
    /// Finishes every reporter; false when one of them could not write.
    pub fn finish(&self) -> bool {
        let mut ok = true;
        for (name, r) in self.reporters.lock().expect("reporters poisoned").iter_mut() {
            if let Err(e) = r.finish() {
                log::error(&format!("could not write the {name} report: {e}"));
                ok = false;
            }
        }
        ok
    }
}

/// A format written whole after the last event (JUnit, Prometheus) to any
/// writer, e.g. stdout: keeps the events and writes `render(events)` on
/// [`Reporter::finish`].
pub struct Rendered<W: io::Write + Send> {
    out: W,
    events: Vec<Event>,
    render: fn(&[Event]) -> String,
}

impl<W: io::Write + Send> Rendered<W> {
    /// E.g. `Rendered::new(std::io::stdout(), prometheus::render)`.
    pub fn new(out: W, render: fn(&[Event]) -> String) -> Self {
        Rendered { out, events: Vec::new(), render }
    }
}

impl<W: io::Write + Send> Reporter for Rendered<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        self.events.push(event.clone());
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        self.out.write_all((self.render)(&self.events).as_bytes())?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    /// Nothing outside `report/` writes to stdout or stderr by itself: the
    /// runner, targets and observers emit events or call [`super::log`].
    #[test]
    fn only_report_prints() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read src") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    if path != src.join("report") {
                        stack.push(path);
                    }
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("read source");
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    if ["print!(", "println!(", "eprint!(", "eprintln!(", "dbg!("].iter().any(|m| code.contains(m)) {
                        offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "printing outside report/:\n{}", offenders.join("\n"));
    }
}
