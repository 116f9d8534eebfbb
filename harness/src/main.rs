//! The `mailflow` command: run scenarios, bring up the container target, list scenarios.
//!
//! Exit codes: 0 all scenarios passed, 1 some failed, 2 bad input or set-up
//! failure, 130 interrupted (SIGINT), 143 terminated (SIGTERM).

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::Write as _;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use mailflow::probe::RunId;
use mailflow::report::{self, human, Fanout};
use mailflow::run::{self, display_path, Event, Signal, Totals};
use mailflow::scenario::{self, Plan};
use mailflow::target::containers::{ContainersTarget, StartOptions};
use mailflow::target::Target;

#[derive(Parser)]
#[command(name = "mailflow", version, about = "Verifies mail flow through an Exim + Mailman list server, from scenario files")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files (or directories of them) against the container target.
    Run {
        /// Scenario files or directories; default `scenarios/`.
        paths: Vec<PathBuf>,
    },
    /// Start the container target for the suite, print its endpoints, keep it until Ctrl-C.
    Up {
        /// A scenario directory or file whose suite.toml declares the lists; default `scenarios/`.
        paths: Vec<PathBuf>,
    },
    /// List the scenarios that `run` would execute.
    List {
        paths: Vec<PathBuf>,
    },
}

const EXIT_FAILED: u8 = 1;
const EXIT_SETUP: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            report::log::error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let result = match cli.command {
        Command::Run { paths } => rt.block_on(cmd_run(default_paths(paths))),
        Command::Up { paths } => rt.block_on(cmd_up(default_paths(paths))),
        Command::List { paths } => cmd_list(default_paths(paths)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report::log::error(&format!("{e:#}"));
            ExitCode::from(EXIT_SETUP)
        }
    }
}

fn default_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths
    }
}

/// Loads the plan, or reports every error with its file, line and column.
fn load(paths: &[PathBuf]) -> Result<Plan, String> {
    scenario::load(paths).map_err(|errors| {
        report::log::load_errors(&errors);
        format!("{} error(s) in the scenario files; nothing was run", errors.errors.len())
    })
}

/// Waits for SIGINT or SIGTERM.
async fn signalled() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => Signal::Interrupt,
                _ = term.recv() => Signal::Terminate,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    Signal::Interrupt
}

fn exit_status(signal: Signal) -> u8 {
    match signal {
        Signal::Interrupt => 130,
        Signal::Terminate => 143,
    }
}

async fn cmd_run(paths: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;
    let mut fanout = Fanout::new();
    let style = human::Style::for_terminal(std::io::stdout().is_terminal());
    fanout.add("human", Box::new(human::Human::new(std::io::stdout(), style)));
    let started = std::time::Instant::now();
    let plan = match load(&paths) {
        Ok(p) => p,
        Err(error) => {
            fanout.emit(&Event::SetupFailed { stage: "input".into(), error });
            fanout.finish();
            return Ok(ExitCode::from(EXIT_SETUP));
        }
    };
    let run_id = RunId::new();
    fanout.emit(&Event::RunStarted {
        run_id: run_id.to_string(),
        target: "containers".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        scenarios: plan.scenarios.iter().map(|s| s.path.clone()).collect(),
        at: std::time::SystemTime::now(),
    });
    let start = ContainersTarget::start_with(&plan.suite, StartOptions::from_env());
    let target = tokio::select! {
        t = start => t,
        signal = signalled() => {
            // Containers started so far carry this process's label; the next run reaps them.
            fanout.emit(&Event::Interrupted { signal });
            fanout.finish();
            return Ok(ExitCode::from(exit_status(signal)));
        }
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            fanout.emit(&Event::SetupFailed { stage: "target".into(), error: format!("starting the container target: {e}") });
            fanout.finish();
            return Ok(ExitCode::from(EXIT_SETUP));
        }
    };
    fanout.emit(&Event::TargetReady {
        description: target.describe(),
        versions: target.report.versions.clone(),
        phases: target.report.phases(),
    });
    let emit = |e: Event| fanout.emit(&e);
    let all = run::run_all(&target, &plan.suite, &plan.scenarios, &run_id, &emit);
    let (results, interrupted) = tokio::select! {
        results = all => (results, None),
        signal = signalled() => (Vec::new(), Some(signal)),
    };
    // Interrupted or not, no probe of this run stays held.
    fanout.emit(&run::cleanup_run(&target, &plan.suite, &run_id).await);
    if let Some(signal) = interrupted {
        fanout.emit(&Event::Interrupted { signal });
    }
    let mut totals = Totals::over(&results);
    totals.not_run = plan.scenarios.len() - results.len();
    fanout.emit(&Event::RunFinished { totals, duration: started.elapsed(), at: std::time::SystemTime::now() });
    if let Err(e) = target.shutdown().await {
        report::log::error(&e.to_string());
    }
    fanout.finish();
    Ok(match interrupted {
        Some(signal) => ExitCode::from(exit_status(signal)),
        None if totals.failed == 0 => ExitCode::SUCCESS,
        None => ExitCode::from(EXIT_FAILED),
    })
}

async fn cmd_up(paths: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let plan = match load(&paths) {
        Ok(p) => p,
        Err(e) => {
            report::log::error(&e);
            return Ok(ExitCode::from(EXIT_SETUP));
        }
    };
    let target = ContainersTarget::start_with(&plan.suite, StartOptions::from_env())
        .await
        .context("starting the container target")?;
    report::up::endpoints(&target, &plan.suite, &mut std::io::stdout())?;
    let signal = signalled().await;
    let _ = target.shutdown().await;
    Ok(ExitCode::from(exit_status(signal)))
}

fn cmd_list(paths: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let plan = match load(&paths) {
        Ok(p) => p,
        Err(e) => {
            report::log::error(&e);
            return Ok(ExitCode::from(EXIT_SETUP));
        }
    };
    let mut out = std::io::stdout().lock();
    for s in &plan.scenarios {
        writeln!(out, "{}", human::list_line(&display_path(&s.path), &s.name))?;
    }
    Ok(ExitCode::SUCCESS)
}
