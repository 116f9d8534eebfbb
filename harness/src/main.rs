//! The `mailflow` command: run scenarios, bring up the container target, list scenarios.
//!
//! Exit codes: 0 all scenarios passed, 1 some failed, 2 bad input or set-up failure.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use mailflow::probe::RunId;
use mailflow::report::human;
use mailflow::run::{self, display_path};
use mailflow::scenario::{self, LoadErrors, Plan};
use mailflow::target::containers::{ContainersTarget, StartOptions, StartReport};
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
            eprintln!("mailflow: cannot start the async runtime: {e}");
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
            eprintln!("mailflow: {e:#}");
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

/// Loads the plan, or prints every error with its file, line and column.
fn load(paths: &[PathBuf]) -> Result<Plan, ExitCode> {
    scenario::load(paths).map_err(|errors| {
        print_load_errors(&errors);
        ExitCode::from(EXIT_SETUP)
    })
}

fn print_load_errors(errors: &LoadErrors) {
    let mut sorted: Vec<_> = errors.errors.iter().collect();
    sorted.sort_by_key(|e| (e.path().to_path_buf(), e.line(), e.column()));
    for e in sorted {
        // miette's header line is the plain `file:line:col: message`, then the snippet.
        eprintln!("{:?}", miette::Report::new(e.clone()));
    }
    eprintln!("mailflow: {} error(s) in the scenario files; nothing was run", errors.errors.len());
}

async fn start_target(plan: &Plan) -> anyhow::Result<ContainersTarget> {
    let target = ContainersTarget::start_with(&plan.suite, StartOptions::from_env())
        .await
        .context("starting the container target")?;
    print_start(&target.report);
    Ok(target)
}

fn print_start(r: &StartReport) {
    for line in r.image_lines() {
        eprintln!("{line}");
    }
    eprintln!("{}", r.summary_tail());
}

async fn cmd_run(paths: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let plan = match load(&paths) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let run_id = RunId::new();
    let target = start_target(&plan).await?;
    println!("run {run_id} against {}", target.describe());
    let printer = human::printer();
    let all = run::run_all(&target, &plan.suite, &plan.scenarios, &run_id, &printer);
    let results = tokio::select! {
        results = all => Some(results),
        _ = tokio::signal::ctrl_c() => None,
    };
    // Interrupted or not, no probe of this run stays held.
    match run::cleanup_run(&target, &plan.suite, &run_id).await {
        Ok(Some(done)) => eprintln!("mailflow: cleanup: {done}"),
        Ok(None) => {}
        Err(e) => eprintln!("mailflow: {e}"),
    }
    let Some(results) = results else {
        // testcontainers' watchdog removes the container on Ctrl-C (a second
        // removal from here would race it); against a container the cleanup
        // above may therefore find it gone, which loses nothing.
        eprintln!("mailflow: interrupted");
        return Ok(ExitCode::from(130));
    };
    let totals = run::totals(&results);
    println!("{}", human::totals(&totals));
    if let Err(e) = target.shutdown().await {
        eprintln!("mailflow: {e}");
    }
    Ok(if totals.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) })
}

async fn cmd_up(paths: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let plan = match load(&paths) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let target = start_target(&plan).await?;
    let sink = target.sink().map(|s| s.addr().to_string()).unwrap_or_default();
    println!("container   {}", target.container_id());
    println!("smtp        {}", target.smtp_addr());
    println!("rest        http://127.0.0.1:8001/3.1/ inside the container (docker exec {} curl ...; user restadmin, password in $MAILFLOW_REST_PASSWORD there)", &target.container_id()[..12]);
    println!("sink        {sink} (probe domain {})", plan.suite.probe_domain);
    match target.web() {
        Some(web) => println!("web         {}/postorius/lists/  {}/hyperkitty/", web.base(), web.base()),
        None => println!("web         off (MAILFLOW_WEB=0)"),
    }
    let net = target.network();
    println!("network     {} ({}, gateway {})", net.name, net.subnet(), net.gateway());
    println!("vantages    {}", target.vantages().join(", "));
    if let Some(dns) = target.dns_server() {
        println!("dns         {dns} (NSD, zone example.test)");
    }
    if let Some(web) = target.http_endpoint() {
        println!("https       http://{0}/ and https://{0}/ at {1} (certificate signed by the image's CA)", web.host, web.addr);
    }
    for l in &plan.suite.lists {
        println!("list        {} ({} members)", l.address(), l.members.len());
    }
    println!("Ctrl-C stops and removes the container. Arrivals at the sink:");
    let arrivals = async {
        match target.sink() {
            Some(sink) => mailflow::report::arrivals::follow(sink, &mut std::io::stdout()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = arrivals => {}
    }
    let _ = target.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

fn cmd_list(paths: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let plan = match load(&paths) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    for s in &plan.scenarios {
        println!("{}  {}", display_path(&s.path).display(), s.name);
    }
    Ok(ExitCode::SUCCESS)
}
