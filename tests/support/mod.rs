//! What the integration tests that start their own container target share:
//! loading shipped scenarios, reading a failure, running commands in the
//! container, and removing the containers whatever the test's outcome.
#![allow(dead_code)] // each test binary uses its own subset

use std::future::Future;
use std::path::Path;

use futures::FutureExt as _;
use mailflow::run::ScenarioResult;
use mailflow::scenario::{self, Plan};
use mailflow::target::containers::ContainersTarget;

/// Loads a shipped scenario file or folder, `rel` from the repository root
/// (`scenarios/...`).
pub fn shipped(rel: &str) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    scenario::load(&[path]).expect("the shipped scenarios load")
}

/// The first failed step: its label and what the human report says of it
/// (failed rows, where the probe stopped, evidence); panics with the report
/// if nothing failed.
pub fn first_failure(r: &ScenarioResult) -> (String, String) {
    let f = r.first_failure().unwrap_or_else(|| panic!("expected a failure, got:\n{}", mailflow::report::human::scenario(r)));
    (f.label.clone(), mailflow::report::human::failure(f))
}

/// Runs a command in the lists container; it must exit 0.
pub async fn exec_ok(target: &ContainersTarget, argv: &[&str]) {
    let (code, out, err) = target.exec(argv).await.expect("exec");
    assert_eq!(code, 0, "`{}` failed: {out}{err}", argv.join(" "));
}

/// Runs `body`, then removes the target's containers, also when `body`
/// panicked (the panic is passed on afterwards).
pub async fn then_remove(target: &ContainersTarget, body: impl Future<Output = ()>) {
    let result = std::panic::AssertUnwindSafe(body).catch_unwind().await;
    target.shutdown().await.expect("remove the containers");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// A folder holding only `ssh` (a link to the system's), to be a run's
/// whole PATH: no `docker` in it, so a run through a target file shows it
/// needs nothing of Docker's.
pub struct NoDocker(tempfile::TempDir);

impl NoDocker {
    pub fn new() -> NoDocker {
        let dir = tempfile::Builder::new().prefix("mailflow-no-docker-").tempdir().unwrap();
        let ssh = ["/usr/bin/ssh", "/bin/ssh", "/usr/local/bin/ssh"].into_iter().find(|p| Path::new(p).is_file()).expect("ssh installed");
        std::os::unix::fs::symlink(ssh, dir.path().join("ssh")).unwrap();
        assert!(!dir.path().join("docker").exists());
        NoDocker(dir)
    }
    pub fn path(&self) -> &str {
        self.0.path().to_str().expect("a UTF-8 temporary folder")
    }
}

/// A folder for target files, password files and reports, named after the
/// test and this process; removed however the test ends (it holds
/// passwords).
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new(prefix: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
