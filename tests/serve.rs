//! `serve` against the real container target, in-process: two intervals
//! complete and `/metrics` moves on between them; a scenario whose
//! expectation is wrong, added to the folder while serving, makes the next
//! run fail and the server goes on answering; on shutdown the target's
//! containers are removed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt as _;
use mailflow::run::{RunOptions, Signal};
use mailflow::scenario::select::Selection;
use mailflow::serve::{self, Containers, Status, Verdict};
use mailflow::target::containers::StartOptions;

/// A GET over a plain connection: status code and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes()).await.expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).await.expect("read");
    let code = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (code, body)
}

/// A folder with the shipped suite and its relay scenario (one fast step).
fn suite_folder() -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let dir = std::env::temp_dir().join(format!("mailflow-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make the folder");
    std::fs::copy(shipped.join("suite.toml"), dir.join("suite.toml")).expect("copy suite.toml");
    std::fs::copy(shipped.join("refusal/relay.toml"), dir.join("relay.toml")).expect("copy relay.toml");
    dir
}

/// Relaying is refused, but this scenario says it is accepted.
const WRONG: &str = r#"name = "relaying is accepted (wrong on purpose)"

[[step]]
send = { from = "alice@probe.test", to = ["someone@elsewhere.test"], subject = "relay attempt" }
expect_smtp = { code = 250, at = "rcpt" }
"#;

/// Waits until `done` holds for the status, failing on a set-up failure.
async fn until(status: &Arc<Mutex<Status>>, what: &str, within: Duration, done: impl Fn(&Status) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        {
            let s = status.lock().unwrap();
            if done(&s) {
                return;
            }
            if let Some(last) = &s.last {
                assert!(!matches!(last.verdict, Verdict::SetupFailed { .. }), "{what}: {}", serve::health_body(&s));
            }
            assert!(Instant::now() < deadline, "{what} within {within:?}: {}", serve::health_body(&s));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Docker objects labelled with this process as their owner.
fn left_behind() -> String {
    let label = format!("label=org.mailflow.owner-pid={}", std::process::id());
    let out = |args: &[&str]| {
        let o = std::process::Command::new("docker").args(args).output().expect("docker");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    out(&["ps", "-aq", "--filter", &label]) + &out(&["network", "ls", "-q", "--filter", &label])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_each_interval_and_survives_a_failed_run() {
    let dir = suite_folder();
    let options = serve::Options {
        paths: vec![dir.clone()],
        selection: Selection::default(),
        every: Duration::from_secs(5),
        run: RunOptions::default(),
    };
    let launcher = Containers(StartOptions { web: false, ssh: false });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let addr = listener.local_addr().expect("address");
    let status = Arc::new(Mutex::new(Status::new(SystemTime::now())));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
        Signal::Interrupt
    };
    let observer = |_: &mailflow::run::Event| {};

    let checks = async {
        let result = std::panic::AssertUnwindSafe(async {
            // The first run starts the target: images may have to be built.
            until(&status, "a first passed run", Duration::from_secs(900), |s| s.runs[0] >= 1).await;
            let (code, first) = get(addr, "/metrics").await;
            assert_eq!(code, 200, "{first}");
            assert!(first.contains("mailflow_serve_last_run_success 1"), "{first}");
            until(&status, "a second passed run", Duration::from_secs(60), |s| s.runs[0] >= 2).await;
            let (code, second) = get(addr, "/metrics").await;
            assert_eq!(code, 200, "{second}");
            assert_ne!(first, second, "/metrics is the same after another run");
            let (code, json) = get(addr, "/results.json").await;
            assert_eq!(code, 200, "{json}");
            assert!(json.contains("\"passed\""), "{json}");

            // A scenario whose expectation is wrong: the next run fails, the loop goes on.
            std::fs::write(dir.join("wrong.toml"), WRONG).expect("write the wrong scenario");
            until(&status, "a failed run", Duration::from_secs(60), |s| s.runs[1] >= 1).await;
            let (code, health) = get(addr, "/healthz").await;
            assert_eq!(code, 200, "{health}");
            assert!(health.starts_with("ok\n"), "{health}");
            assert!(health.contains("failed (1 scenario(s) failed)"), "{health}");
            let (code, metrics) = get(addr, "/metrics").await;
            assert_eq!(code, 200, "{metrics}");
            assert!(metrics.contains("mailflow_serve_last_run_success 0"), "{metrics}");
            let runs_then = status.lock().unwrap().runs;
            until(&status, "another run after the failed one", Duration::from_secs(60), |s| s.runs.iter().sum::<u64>() > runs_then.iter().sum::<u64>())
                .await;
            assert_eq!(get(addr, "/healthz").await.0, 200);
        })
        .catch_unwind()
        .await;
        let _ = stop.send(());
        result
    };
    let (served, checked) = tokio::join!(serve::serve_with(&options, &launcher, listener, status.clone(), &observer, shutdown), checks);
    let signal = served.expect("serve");
    if let Err(panic) = checked {
        std::panic::resume_unwind(panic);
    }
    assert_eq!(signal, Signal::Interrupt);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the server stopped");
    assert_eq!(left_behind(), "", "containers or networks of the target are left");
    let _ = std::fs::remove_dir_all(&dir);
}
