//! The `mailflow` command: run scenarios, bring up the container target,
//! list scenarios, serve the latest results on an interval.
//!
//! Exit codes: 0 all scenarios passed, 1 some failed, 2 bad input or set-up
//! failure, 130 interrupted (SIGINT), 143 terminated (SIGTERM).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use std::io::Write as _;

mod migration_cli;

#[cfg(feature = "containers")]
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use mailflow::probe::RunId;
use mailflow::report::nagios::{self, NagiosStatus};
use mailflow::report::{self, human, json, junit, progress, prometheus, tap, Fanout, Reporter};
use mailflow::run::{self, display_path, Event, Signal, Totals};
use mailflow::scenario::select::{self, Partition, PlanError, Selection};
use mailflow::scenario::Plan;
use mailflow::serve;
#[cfg(feature = "containers")]
use mailflow::target::containers::{ContainersTarget, StartOptions};
use mailflow::target::hosts;
use mailflow::target::Target;

#[derive(Parser)]
#[command(name = "mailflow", version, about = "Verifies mail flow through an Exim + Mailman list server, from scenario files")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files (or directories of them) against the container
    /// target, or against real hosts with `--target`.
    Run {
        /// Scenario files or directories; default `scenarios/`.
        paths: Vec<PathBuf>,
        #[command(flatten)]
        select: SelectArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Send many probes to one list, with bounded concurrency (or at a rate
    /// for a duration), and report their latency percentiles, end to end
    /// and per hop, after the same reports as `run` (one scenario per probe).
    Load {
        /// A scenario directory or file whose suite.toml declares the list; default `scenarios/`.
        paths: Vec<PathBuf>,
        /// The list, by name or address.
        #[arg(long)]
        list: String,
        /// How many probes (without `--rate`).
        #[arg(long, value_name = "N", conflicts_with_all = ["rate", "duration"], required_unless_present = "rate")]
        count: Option<usize>,
        /// Probes started per second, for `--duration`.
        #[arg(long, value_name = "R", requires = "duration", value_parser = parse_rate)]
        rate: Option<f64>,
        /// How long to send at `--rate`, like `30s`.
        #[arg(long, value_name = "DURATION", requires = "rate", value_parser = parse_threshold)]
        duration: Option<Duration>,
        /// Probes in flight at most.
        #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
        /// The probes' sender; default the list's first member.
        #[arg(long, value_name = "ADDRESS")]
        from: Option<String>,
        /// How long each probe may take to reach every member.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_threshold)]
        within: Duration,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Send `help` to every list's -request address (or those `--lists`
    /// names) and wait for Mailman's answers: one row per list, with the
    /// same reports and exit codes as `run`.
    Sweep {
        /// A scenario directory or file whose suite.toml gives the probe domain; default `scenarios/`.
        paths: Vec<PathBuf>,
        /// Only the lists whose name or address matches GLOB (`*` matches any run of characters).
        #[arg(long, value_name = "GLOB", value_parser = parse_glob)]
        lists: Option<String>,
        /// How long each list's answer may take.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_threshold)]
        within: Duration,
        /// SMTP conversations at once (the target file's probe pace still applies).
        #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Start the container target for the suite, print its endpoints, keep it until Ctrl-C.
    Up {
        /// A scenario directory or file whose suite.toml declares the lists; default `scenarios/`.
        paths: Vec<PathBuf>,
        /// Also start a Dovecot mailbox and expose Mailman's REST API to this
        /// machine, and write a target file for `run --target FILE` (secrets
        /// in files beside it); all removed with the containers.
        #[arg(long, value_name = "FILE")]
        write_target: Option<PathBuf>,
    },
    /// List the scenarios that `run` would execute, with the same selection.
    List {
        /// Scenario files or directories; default `scenarios/`.
        paths: Vec<PathBuf>,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Every list of a server: members, owners, moderators, archive months, mail-flow settings.
    Inventory(migration_cli::InventoryArgs),
    /// Two servers' inventories side by side: exit 0 equal, 1 with every difference named.
    Compare(migration_cli::CompareArgs),
    /// Run the suite against the container target on an interval and serve
    /// the latest results over HTTP: /metrics, /results.json, /healthz.
    Serve {
        /// Scenario files or directories, read again for every run; default `scenarios/`.
        paths: Vec<PathBuf>,
        #[command(flatten)]
        select: SelectArgs,
        /// Time from the start of one run to the start of the next, like `30s`, `5m`, `1h 30m`.
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_interval)]
        every: Duration,
        /// Address to serve on; loopback unless told otherwise.
        #[arg(long, value_name = "ADDR", default_value = serve::DEFAULT_LISTEN)]
        listen: SocketAddr,
    },
}

/// Where the scenarios run.
#[derive(Args)]
struct TargetArgs {
    /// A target file (TOML) describing real hosts; without it (and without
    /// `MAILFLOW_TARGET`) the harness starts its own containers.
    #[arg(long = "target", value_name = "FILE", env = "MAILFLOW_TARGET")]
    file: Option<PathBuf>,
    /// Send nothing and connect to nothing: report every probe and check the
    /// run would make as a skipped step. Needs `--target`.
    #[arg(long)]
    dry_run: bool,
}

/// Which of the loaded scenarios run.
#[derive(Args)]
struct SelectArgs {
    /// Only scenarios whose path relative to the suite folder (like
    /// `refusal/relay.toml`) or whose name contains SUBSTRING; case-sensitive;
    /// repeat for any of several.
    #[arg(long = "filter", value_name = "SUBSTRING")]
    filters: Vec<String>,
    /// Only the K-th of N parts of the selected scenarios (round-robin over
    /// their sorted relative paths), for CI matrices: 1/N to N/N cover each once.
    #[arg(long, value_name = "K/N")]
    partition: Option<Partition>,
}

impl SelectArgs {
    fn selection(self) -> Selection {
        Selection { filters: self.filters, partition: self.partition }
    }
}

/// The report on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// For people: a block per scenario; live progress on a terminal.
    Human,
    /// One JSON object per event and line, then a summary line.
    Json,
    /// TAP version 13, a test point per step.
    Tap,
    /// A Nagios/Icinga plugin: status line, performance data, exit 0-3.
    Nagios,
    /// Prometheus text format, written when the run is over.
    Prometheus,
    /// JUnit XML, written when the run is over.
    Junit,
}

/// Where the reports go: one format on stdout, any others to files.
#[derive(Args)]
struct OutputArgs {
    /// The report on stdout. With `nagios` the exit code is the plugin's
    /// (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN: bad input, set-up failure, interrupt).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also write the JSON report (a line per event, then a summary) to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write JUnit XML to FILE when the run is over.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write Prometheus metrics to FILE when the run is over (replaced
    /// whole, for node_exporter's textfile collector).
    #[arg(long, value_name = "FILE")]
    prometheus: Option<PathBuf>,
    /// Also write TAP version 13 to FILE.
    #[arg(long, value_name = "FILE")]
    tap: Option<PathBuf>,
    /// `--format nagios`: WARNING when a scenario's probe latency is over DURATION (like 5s).
    #[arg(long, value_name = "DURATION", value_parser = parse_threshold)]
    warning: Option<Duration>,
    /// `--format nagios`: CRITICAL when a scenario's probe latency is over DURATION (like 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_threshold)]
    critical: Option<Duration>,
}

/// A humantime duration for a latency threshold.
fn parse_threshold(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e} (write it like 500ms, 5s or 1m)"))
}

/// A list glob for `sweep --lists`.
fn parse_glob(text: &str) -> Result<String, String> {
    mailflow::scenario::sweep::check_glob(text).map(|()| text.to_string()).map_err(|e| format!("`{text}`: {e}"))
}

/// Probes per second: positive, at most 1000.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1000.0 => Ok(r),
        _ => Err(format!("`{text}`: a rate is probes per second, more than 0 and at most 1000 (like 5 or 0.5)")),
    }
}

/// A humantime duration, at least a second.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e} (write it like 30s, 5m or 1h 30m)"))?;
    if d < Duration::from_secs(1) {
        return Err(format!("`{text}`: the interval must be at least 1s"));
    }
    Ok(d)
}

/// What `up`, `serve` and `run` without `--target` say in a build without the container target.
#[cfg(not(feature = "containers"))]
const NO_CONTAINERS: &str =
    "this build of mailflow has no container target (built without the `containers` feature); run against real hosts with --target FILE";

const EXIT_FAILED: u8 = 1;
const EXIT_SETUP: u8 = 2;
/// Nagios' UNKNOWN: what bad input and set-up failures exit with in `--format nagios`.
const EXIT_NAGIOS_UNKNOWN: u8 = 3;

/// Whether the arguments ask for `--format nagios`, before they are parsed.
fn nagios_requested(args: &[String]) -> bool {
    args.windows(2).any(|w| w[0] == "--format" && w[1] == "nagios") || args.iter().any(|a| a == "--format=nagios")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // A usage error is bad input; a plugin reports it as UNKNOWN.
            let code = if e.use_stderr() && nagios_requested(&args) { EXIT_NAGIOS_UNKNOWN } else { e.exit_code().clamp(0, 255) as u8 };
            return ExitCode::from(code);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            report::log::error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let result = match cli.command {
        Command::Run { paths, select, output, target } => rt.block_on(cmd_run(default_paths(paths), select.selection(), output, target, None, None)),
        Command::Load { paths, list, count, rate, duration, concurrency, from, within, output, target } => {
            let count = count.unwrap_or_else(|| match (rate, duration) {
                (Some(r), Some(d)) => (r * d.as_secs_f64()).ceil().max(1.0) as usize,
                _ => 1,
            });
            let spec = run::load::LoadSpec { list, from, count, rate, concurrency: usize::from(concurrency), within };
            rt.block_on(cmd_run(default_paths(paths), Selection::default(), output, target, Some(spec), None))
        }
        Command::Sweep { paths, lists, within, concurrency, output, target } => {
            let exp = mailflow::scenario::EveryListExpectation { lists, within, concurrency: usize::from(concurrency) };
            rt.block_on(cmd_run(default_paths(paths), Selection::default(), output, target, None, Some(exp)))
        }
        Command::Up { paths, write_target } => rt.block_on(cmd_up(default_paths(paths), write_target)),
        Command::List { paths, select } => cmd_list(default_paths(paths), select.selection()),
        Command::Inventory(args) => rt.block_on(migration_cli::cmd_inventory(args)),
        Command::Compare(args) => rt.block_on(migration_cli::cmd_compare(args)),
        Command::Serve { paths, select, every, listen } => rt.block_on(cmd_serve(default_paths(paths), select.selection(), every, listen)),
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

/// Loads and selects the plan, or reports every error in the files (each
/// with its file, line and column) or the selection that kept nothing.
fn load(paths: &[PathBuf], selection: &Selection) -> Result<Plan, PlanError> {
    select::load(paths, selection).inspect_err(report::log::plan_error)
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

/// The terminal's reporter: the human report, with live progress around
/// it on a terminal.
fn terminal_reporter(scenarios: &[mailflow::scenario::Scenario]) -> Box<dyn Reporter> {
    use std::io::IsTerminal as _;
    let style = human::Style::for_terminal(std::io::stdout().is_terminal());
    if progress::wanted_here() {
        Box::new(progress::Progress::around(std::io::stdout(), scenarios, |out| Box::new(human::Human::new(out, style))))
    } else {
        Box::new(human::Human::new(std::io::stdout(), style))
    }
}

/// The run's reporters, and the Nagios exit code when stdout is the plugin
/// output. A file that cannot be created is an error, after the reporters
/// that could be made were added (so that it can be reported through them).
fn reporters(output: &OutputArgs, scenarios: &[mailflow::scenario::Scenario]) -> (Fanout, Option<NagiosStatus>, Result<(), String>) {
    let mut fanout = Fanout::new();
    let mut nagios_status = None;
    let stdout = std::io::stdout;
    let on_stdout: Box<dyn Reporter> = match output.format {
        Format::Human => terminal_reporter(scenarios),
        Format::Json => Box::new(json::Json::new(stdout())),
        Format::Tap => Box::new(tap::Tap::new(stdout())),
        Format::Nagios => {
            let reporter = nagios::Nagios::new(stdout(), nagios::Thresholds { warning: output.warning, critical: output.critical });
            nagios_status = Some(reporter.status());
            Box::new(reporter)
        }
        Format::Prometheus => Box::new(report::Rendered::new(stdout(), prometheus::render)),
        Format::Junit => Box::new(report::Rendered::new(stdout(), junit::render)),
    };
    fanout.add(format!("{:?} report on stdout", output.format).to_lowercase(), on_stdout);
    let mut checked = Ok(());
    if output.format != Format::Nagios && (output.warning.is_some() || output.critical.is_some()) {
        checked = Err("--warning and --critical are thresholds of --format nagios".to_string());
    }
    let create = |path: &PathBuf| std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()));
    if let Some(path) = &output.json {
        match create(path) {
            Ok(file) => fanout.add(format!("JSON report {}", path.display()), Box::new(json::Json::new(file))),
            Err(e) => checked = checked.and(Err(e)),
        }
    }
    if let Some(path) = &output.tap {
        match create(path) {
            Ok(file) => fanout.add(format!("TAP report {}", path.display()), Box::new(tap::Tap::new(file))),
            Err(e) => checked = checked.and(Err(e)),
        }
    }
    // Written whole at the end; opened now (without truncating: a scraper
    // may be reading the last run's file) so that a bad path fails before the run.
    let reachable = |path: &PathBuf| {
        std::fs::OpenOptions::new().append(true).create(true).open(path).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    for (path, name, reporter) in [
        (&output.junit, "JUnit", output.junit.clone().map(|p| Box::new(junit::Junit::new(p)) as Box<dyn Reporter>)),
        (&output.prometheus, "Prometheus", output.prometheus.clone().map(|p| Box::new(prometheus::Prometheus::new(p)) as Box<dyn Reporter>)),
    ] {
        if let (Some(path), Some(reporter)) = (path, reporter) {
            match reachable(path) {
                Ok(_) => fanout.add(format!("{name} report {}", path.display()), reporter),
                Err(e) => checked = checked.and(Err(e)),
            }
        }
    }
    (fanout, nagios_status, checked)
}

/// `run`, or with `load` the load's probes (with `sweep` its one step)
/// instead of the suite's scenarios.
async fn cmd_run(
    paths: Vec<PathBuf>,
    selection: Selection,
    output: OutputArgs,
    target_args: TargetArgs,
    load_spec: Option<run::load::LoadSpec>,
    sweep: Option<mailflow::scenario::EveryListExpectation>,
) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let loaded = load(&paths, &selection);
    let probes = match (&loaded, &load_spec, sweep) {
        (Ok(plan), Some(spec), _) => Some(run::load::probes(&plan.suite, spec)),
        // `sweep`: one scenario of one step in place of the suite's.
        (Ok(_), None, Some(exp)) => Some(Ok(vec![run::sweep::scenario(exp)])),
        _ => None,
    };
    let shown = match &probes {
        Some(Ok(p)) => p.as_slice(),
        _ => loaded.as_ref().map(|p| p.scenarios.as_slice()).unwrap_or_default(),
    };
    let (fanout, nagios_status, outputs_ok) = reporters(&output, shown);
    let load_out = load_spec.as_ref().map(|spec| (spec, output.format));
    // In nagios mode the plugin's code; otherwise `code`.
    let exit = |code: u8| ExitCode::from(nagios_status.as_ref().map_or(code, |s| s.exit_code().unwrap_or(EXIT_NAGIOS_UNKNOWN)));
    let setup_failed = |stage: &str, error: String| {
        fanout.emit(&Event::SetupFailed { stage: stage.into(), error });
        fanout.finish();
        Ok(exit(EXIT_SETUP))
    };
    let mut plan = match (loaded, outputs_ok) {
        (Ok(p), Ok(())) => p,
        (Err(error), _) => return setup_failed("input", error.to_string()),
        (_, Err(error)) => {
            report::log::error(&error);
            return setup_failed("input", error);
        }
    };
    match probes {
        Some(Ok(p)) => plan.scenarios = p,
        Some(Err(error)) => {
            report::log::error(&error);
            return setup_failed("input", error);
        }
        None => {}
    }
    // A bad target file is bad input, reported like scenario errors.
    let hosts = match &target_args.file {
        Some(file) => match hosts::load_hosts(file) {
            Ok(config) => Some(config),
            Err(errors) => {
                report::log::load_errors(&errors);
                return setup_failed("input", format!("{} error(s) in the target file {}", errors.errors.len(), file.display()));
            }
        },
        None if target_args.dry_run => {
            return setup_failed("input", "--dry-run needs --target: the container target changes nothing outside its own containers".into())
        }
        None => None,
    };
    let run_id = RunId::new();
    let options = run::RunOptions { dry_run: target_args.dry_run };
    fanout.emit(&Event::RunStarted {
        run_id: run_id.to_string(),
        target: match &target_args.file {
            Some(f) => format!("hosts from {}{}", f.display(), if options.dry_run { " (dry run)" } else { "" }),
            None => "containers".into(),
        },
        version: env!("CARGO_PKG_VERSION").into(),
        scenarios: plan.scenarios.iter().map(|s| s.path.clone()).collect(),
        at: std::time::SystemTime::now(),
    });
    if let Some(config) = hosts {
        let connect = hosts::HostsTarget::connect_with(config, &plan.suite.probe_domain, options.dry_run);
        let target = match connect.await {
            Ok(t) => t,
            Err(e) => return setup_failed("target", e.to_string()),
        };
        fanout.emit(&Event::TargetReady { description: target.describe(), versions: Vec::new(), phases: Vec::new() });
        let (totals, interrupted) = run_against(&target, &plan, &run_id, options, &fanout, load_out, None).await;
        // The IMAP mailbox keeps everything but this run's own probes.
        let mut discarded = Vec::new();
        let mut error = None;
        if !options.dry_run {
            match target.delete_own_probes(&mailflow::probe::issued_ids(&run_id)).await {
                Ok(0) => {}
                Ok(n) => discarded.push(format!("{n} probe copies deleted from the IMAP mailbox")),
                Err(e) => error = Some(e.to_string()),
            }
        }
        if !discarded.is_empty() || error.is_some() {
            fanout.emit(&Event::Cleanup { discarded, error });
        }
        return Ok(exit(finish(&fanout, totals, interrupted, started)));
    }
    #[cfg(not(feature = "containers"))]
    return setup_failed("target", NO_CONTAINERS.into());
    #[cfg(feature = "containers")]
    run_on_containers(&plan, &run_id, options, &fanout, started, exit, load_out).await
}

/// `run` without `--target`: starts the container target, runs, removes it.
#[cfg(feature = "containers")]
async fn run_on_containers(
    plan: &Plan,
    run_id: &RunId,
    options: run::RunOptions,
    fanout: &Fanout,
    started: std::time::Instant,
    exit: impl Fn(u8) -> ExitCode,
    load_out: Option<(&run::load::LoadSpec, Format)>,
) -> anyhow::Result<ExitCode> {
    let setup_failed = |stage: &str, error: String| {
        fanout.emit(&Event::SetupFailed { stage: stage.into(), error });
        fanout.finish();
        Ok(exit(EXIT_SETUP))
    };
    let start_options = StartOptions::from_env();
    // The scenarios with fault steps (Mailman stopped) would hold up every
    // other one: with MAILFLOW_FAULTS_ASIDE=1 they get containers of their
    // own, started at the same time at a low CPU weight, and run there.
    let faulty: Vec<_> = plan.scenarios.iter().filter(|s| run::disturbs_others(s)).cloned().collect();
    // Opt-in: on a 2-core machine the second start slows the first and the
    // running scenarios more than running the fault scenarios last costs.
    let wanted = std::env::var_os("MAILFLOW_FAULTS_ASIDE").is_some_and(|v| v == "1");
    let aside = (wanted && !faulty.is_empty() && faulty.len() < plan.scenarios.len() && !options.dry_run && load_out.is_none()).then(|| {
        let suite = plan.suite.clone();
        let web = start_options.web && faulty.iter().any(run::reads_the_web);
        AbortOnDrop(tokio::spawn(async move { ContainersTarget::start_aside(&suite, StartOptions { web, ..start_options }).await }))
    });
    let start = ContainersTarget::start_with(&plan.suite, start_options);
    let target = tokio::select! {
        t = start => t,
        signal = signalled() => {
            // Containers started so far carry this process's label; the next run reaps them.
            fanout.emit(&Event::Interrupted { signal });
            fanout.finish();
            return Ok(exit(exit_status(signal)));
        }
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => return setup_failed("target", format!("starting the container target: {e}")),
    };
    fanout.emit(&Event::TargetReady {
        description: target.describe(),
        versions: target.report.versions.clone(),
        phases: target.report.ready_phases(),
    });
    let beside = aside.map(|handle| {
        let paths: Vec<PathBuf> = faulty.iter().map(|s| s.path.clone()).collect();
        let run_beside: std::pin::Pin<Box<dyn std::future::Future<Output = Option<Vec<run::ScenarioResult>>> + '_>> = Box::pin(async move {
            let mut handle = handle;
            let side = match (&mut handle.0).await {
                Ok(Ok(side)) => side,
                Ok(Err(e)) => {
                    report::log::error(&format!("starting containers for the fault scenarios: {e}; they run after the others instead"));
                    return None;
                }
                Err(_) => return None,
            };
            report::log::note(&format!("containers for the fault scenarios: {}", side.report.summary_tail()));
            let emit = |e: Event| fanout.emit(&e);
            let results = run::run_all_with(&side, &plan.suite, &faulty, run_id, options, &emit).await;
            fanout.emit(&run::cleanup_run(&side, &plan.suite, run_id).await);
            if let Err(e) = side.shutdown().await {
                report::log::error(&e.to_string());
            }
            Some(results)
        });
        (paths, run_beside)
    });
    let (totals, interrupted) = run_against(&target, plan, run_id, options, fanout, load_out, beside).await;
    if let Err(e) = target.shutdown().await {
        report::log::error(&e.to_string());
    }
    if interrupted.is_some() {
        // The fault scenarios' containers, when the signal came while they
        // started or ran, were abandoned without their shutdown.
        if let Err(e) = mailflow::target::docker::reap_own().await {
            report::log::error(&format!("removing this run's containers: {e}"));
        }
    }
    Ok(exit(finish(fanout, totals, interrupted, started)))
}

/// Scenarios that run on other containers beside the target's own: their
/// paths, and what runs them there and cleans up after them (`None` when
/// those containers did not start: the scenarios then run on the target
/// after the others).
type Beside<'a> = (Vec<PathBuf>, std::pin::Pin<Box<dyn std::future::Future<Output = Option<Vec<run::ScenarioResult>>> + 'a>>);

/// Aborts a start-up task that is no longer awaited (the run was
/// interrupted); what it made is removed by `reap_own` afterwards.
#[cfg(feature = "containers")]
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

#[cfg(feature = "containers")]
impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the plan against a ready target until done or signalled, then the
/// run-wide clean-up of held probes; the totals and the signal, if any.
async fn run_against(
    target: &dyn Target,
    plan: &Plan,
    run_id: &RunId,
    options: run::RunOptions,
    fanout: &Fanout,
    load: Option<(&run::load::LoadSpec, Format)>,
    beside: Option<Beside<'_>>,
) -> (Totals, Option<Signal>) {
    let emit = |e: Event| fanout.emit(&e);
    let (elsewhere, beside) = match beside {
        Some((paths, run)) => (paths, Some(run)),
        None => (Vec::new(), None),
    };
    let (here, there): (Vec<_>, Vec<_>) = plan.scenarios.iter().cloned().partition(|s| !elsewhere.contains(&s.path));
    let all: std::pin::Pin<Box<dyn std::future::Future<Output = Vec<run::ScenarioResult>> + '_>> = match (load, beside) {
        (Some((spec, _)), _) if !options.dry_run => Box::pin(run::load::run_load(target, &plan.suite, &plan.scenarios, spec, run_id, &emit)),
        (_, Some(beside)) => Box::pin(async {
            let (mut results, aside) = tokio::join!(run::run_all_with(target, &plan.suite, &here, run_id, options, &emit), beside);
            match aside {
                Some(r) => results.extend(r),
                None => results.extend(run::run_all_with(target, &plan.suite, &there, run_id, options, &emit).await),
            }
            let order = |r: &run::ScenarioResult| plan.scenarios.iter().position(|s| s.path == r.path);
            results.sort_by_key(order);
            results
        }),
        _ => Box::pin(run::run_all_with(target, &plan.suite, &plan.scenarios, run_id, options, &emit)),
    };
    let (results, interrupted) = tokio::select! {
        results = all => (results, None),
        signal = signalled() => (Vec::new(), Some(signal)),
    };
    // Interrupted or not, no probe of this run stays held.
    if !options.dry_run {
        fanout.emit(&run::cleanup_run(target, &plan.suite, run_id).await);
    }
    if let Some(signal) = interrupted {
        fanout.emit(&Event::Interrupted { signal });
    }
    if let (Some((_, format)), None) = (load, interrupted) {
        // The latency table after the probes' own reports: on stdout for
        // people and as one more JSON line; beside the other formats, on stderr.
        let summary = run::load::LoadSummary::of(&results);
        let placement = match format {
            Format::Human => report::load::Placement::Stdout,
            Format::Json => report::load::Placement::JsonLine,
            _ => report::load::Placement::Stderr,
        };
        report::load::print(&summary, placement);
    }
    let mut totals = Totals::over(&results);
    totals.not_run = plan.scenarios.len() - results.len();
    (totals, interrupted)
}

/// Emits the run's end and finishes the reports; the exit status.
fn finish(fanout: &Fanout, totals: Totals, interrupted: Option<Signal>, started: std::time::Instant) -> u8 {
    fanout.emit(&Event::RunFinished { totals, duration: started.elapsed(), at: std::time::SystemTime::now() });
    // A report that could not be written turns a pass into a set-up failure.
    let written = fanout.finish();
    match interrupted {
        Some(signal) => exit_status(signal),
        None if totals.failed > 0 => EXIT_FAILED,
        None if written => 0,
        None => EXIT_SETUP,
    }
}

#[cfg(not(feature = "containers"))]
async fn cmd_up(_paths: Vec<PathBuf>, _write_target: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("{NO_CONTAINERS}")
}

#[cfg(feature = "containers")]
async fn cmd_up(paths: Vec<PathBuf>, write_target: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let Ok(plan) = load(&paths, &Selection::default()) else {
        return Ok(ExitCode::from(EXIT_SETUP));
    };
    // A folder that does not exist fails before anything starts.
    if let Some(file) = &write_target {
        let folder = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        if !folder.is_dir() {
            anyhow::bail!("cannot write the target file {}: {} is not a folder", file.display(), folder.display());
        }
    }
    let start = match write_target {
        // With ssh: the file's [ssh] table reads exim's log, Mailman's queues and archive.
        Some(_) => ContainersTarget::start_for_target_file(&plan.suite, StartOptions { ssh: true, ..StartOptions::from_env() }).await,
        None => ContainersTarget::start_with(&plan.suite, StartOptions::from_env()).await,
    };
    let target = start.context("starting the container target")?;
    let written = match &write_target {
        Some(file) => match mailflow::target::target_file::write_target_file(&target, file) {
            Ok(w) => Some(w),
            Err(e) => {
                let _ = target.shutdown().await;
                return Err(e).context("writing the target file");
            }
        },
        None => None,
    };
    report::up::endpoints(&target, &plan.suite, written.as_ref(), &mut std::io::stdout())?;
    // One line per arrival at the sink until a signal.
    let mut stdout = std::io::stdout();
    let arrivals = report::arrivals::follow(target.sink(), &mut stdout);
    let signal = tokio::select! {
        s = signalled() => s,
        _ = arrivals => signalled().await,
    };
    let _ = target.shutdown().await;
    if let Some(w) = &written {
        w.remove();
    }
    Ok(ExitCode::from(exit_status(signal)))
}

fn cmd_list(paths: Vec<PathBuf>, selection: Selection) -> anyhow::Result<ExitCode> {
    let Ok(plan) = load(&paths, &selection) else {
        return Ok(ExitCode::from(EXIT_SETUP));
    };
    let mut out = std::io::stdout().lock();
    for s in &plan.scenarios {
        writeln!(out, "{}", human::list_line(&display_path(&s.path), &s.name))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "containers"))]
async fn cmd_serve(_paths: Vec<PathBuf>, _selection: Selection, _every: Duration, _listen: SocketAddr) -> anyhow::Result<ExitCode> {
    anyhow::bail!("{NO_CONTAINERS}")
}

#[cfg(feature = "containers")]
async fn cmd_serve(paths: Vec<PathBuf>, selection: Selection, every: Duration, listen: SocketAddr) -> anyhow::Result<ExitCode> {
    // Bad files or a selection of nothing stop here; later runs read them again.
    let Ok(plan) = load(&paths, &selection) else {
        return Ok(ExitCode::from(EXIT_SETUP));
    };
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    report::log::note(&format!(
        "serving http://{}/metrics, /results.json and /healthz; a run of {} scenario(s) every {}",
        listener.local_addr().unwrap_or(listen),
        plan.scenarios.len(),
        humantime::format_duration(every)
    ));
    let mut fanout = Fanout::new();
    fanout.add("human", terminal_reporter(&plan.scenarios));
    let observer = |e: &Event| fanout.emit(e);
    let options = serve::Options { paths, selection, every, run: run::RunOptions::default() };
    let launcher = serve::Containers(StartOptions::from_env());
    let signal = serve::serve(&options, &launcher, listener, &observer, signalled()).await?;
    fanout.finish();
    let name = match signal {
        Signal::Interrupt => "interrupted (SIGINT)",
        Signal::Terminate => "terminated (SIGTERM)",
    };
    report::log::note(&format!("{name}: stopped serving, the target is removed"));
    Ok(ExitCode::from(exit_status(signal)))
}
