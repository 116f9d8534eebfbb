//! Every scenario under `scenarios/` as a test trial, run against one shared
//! container target.
//!
//! Discovering trials reads only file names, so `cargo test -- --list` starts
//! nothing. The container target starts on the first trial that runs, is
//! shared by all trials of this process, and is removed when the trials end,
//! passed, failed or panicked (libtest-mimic catches panics per trial).
//! The container runs with the web side (HyperKitty, Postorius) unless
//! `MAILFLOW_WEB=0`; image and container start times are printed at the end.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Failed, Trial};
use mailflow::probe::RunId;
use mailflow::report::human;
use mailflow::run;
use mailflow::scenario::{self, Plan};
use mailflow::target::containers::{ContainersTarget, StartOptions};

struct Shared {
    rt: tokio::runtime::Runtime,
    run_id: RunId,
    plan: OnceLock<Result<Plan, String>>,
    target: tokio::sync::OnceCell<Result<ContainersTarget, String>>,
    /// Reports of passed scenarios, printed after the trials so that
    /// parallel trials do not interleave with libtest's lines.
    passed: std::sync::Mutex<Vec<String>>,
    /// Scenarios with fault steps (Mailman stopped) take it alone; the
    /// others share it.
    faults: tokio::sync::RwLock<()>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn main() {
    let args = Arguments::from_args();
    let root = repo_root();
    let scenarios_dir = root.join("scenarios");
    let shared = Arc::new(Shared {
        rt: tokio::runtime::Runtime::new().expect("tokio runtime"),
        run_id: RunId::new(),
        plan: OnceLock::new(),
        target: tokio::sync::OnceCell::new(),
        passed: std::sync::Mutex::new(Vec::new()),
        faults: tokio::sync::RwLock::new(()),
    });

    let files = match scenario::discover(std::slice::from_ref(&scenarios_dir)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let trials: Vec<Trial> = files
        .into_iter()
        .map(|file| {
            let name = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
            let shared = shared.clone();
            let dir = scenarios_dir.clone();
            Trial::test(name, move || run_trial(&shared, &dir, &file))
        })
        .collect();

    let conclusion = libtest_mimic::run(&args, trials);
    for text in shared.passed.lock().expect("passed reports").iter() {
        print!("{text}");
    }
    if let Some(Ok(target)) = shared.target.get() {
        // How long preparing the images and the container took, for the run's report.
        for line in target.report.image_lines() {
            eprintln!("{line}");
        }
        eprintln!("{}", target.report.summary_tail());
        if let Err(e) = shared.rt.block_on(target.shutdown()) {
            eprintln!("removing the container target: {e}");
        }
    }
    conclusion.exit();
}

fn run_trial(shared: &Shared, dir: &Path, file: &Path) -> Result<(), Failed> {
    let plan = shared
        .plan
        .get_or_init(|| scenario::load(&[dir.to_path_buf()]).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Failed::from(format!("the scenario files do not load:\n{e}")))?;
    let scenario = plan
        .scenarios
        .iter()
        .find(|s| s.path == file || s.path.ends_with(file.strip_prefix(dir).unwrap_or(file)))
        .ok_or_else(|| Failed::from(format!("{} was discovered but not loaded", file.display())))?;
    shared.rt.block_on(async {
        let target = shared
            .target
            .get_or_init(|| async {
                ContainersTarget::start_with(&plan.suite, StartOptions::from_env()).await.map_err(|e| e.to_string())
            })
            .await
            .as_ref()
            .map_err(|e| Failed::from(format!("the container target did not start: {e}")))?;
        let (_alone, _shared) = if scenario.steps.iter().any(|s| s.kind.is_fault()) {
            (Some(shared.faults.write().await), None)
        } else {
            (None, Some(shared.faults.read().await))
        };
        let result = run::run_scenario(target, &plan.suite, scenario, &shared.run_id, &|_| {}).await;
        let text = human::scenario(&result);
        if result.passed() {
            shared.passed.lock().expect("passed reports").push(text);
            Ok(())
        } else {
            Err(Failed::from(text))
        }
    })
}
