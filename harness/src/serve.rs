//! `mailflow serve`: the suite against a target on an interval, the latest
//! results on HTTP.
//!
//! - One run at a time: the next starts one interval after the previous one
//!   started, or right after it ended when it took longer.
//! - The scenario files are read again for every run, so an edited scenario
//!   is picked up without a restart; a file that no longer loads makes that
//!   run a set-up failure.
//! - The target is started lazily, at the first run, and kept for the
//!   following ones. When it does not start, that run failed and the next
//!   interval tries again. When `suite.toml` changes, the target is
//!   replaced at the next run.
//! - A failed run (a failed scenario, bad files, a target that did not
//!   start) never stops the loop: the server keeps answering with the last
//!   completed run and says it failed.
//! - On SIGINT or SIGTERM the run in progress stops, its held probes are
//!   cleaned up, the target is removed and the server stops.
//!
//! Served:
//! - `/metrics`: the last completed run in Prometheus text format (see
//!   [`crate::report::prometheus`]), then the loop's own `mailflow_serve_*`
//!   metrics ([`metrics_body`]).
//! - `/results.json`: the last completed run's JSON summary (see
//!   [`crate::report::json`]); 503 until a run has completed.
//! - `/healthz`: `ok` while the loop is alive, with the last completed
//!   run's time and verdict ([`health_body`]).
//!
//! The bodies are functions of the loop's [`Status`], whose runs are kept as
//! the events every reporter consumes.

use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::probe::RunId;
use crate::report::{json, log, prometheus};
use crate::run::{self, Event, RunOptions, Signal, Totals};
use crate::scenario::select::{self, Selection};
use crate::scenario::Suite;
#[cfg(feature = "containers")]
use crate::target::containers::{ContainersTarget, StartOptions};
use crate::target::Target;
use crate::BoxFuture;

/// Where `serve` listens unless told otherwise: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9469";

/// What `serve` runs, and how often.
#[derive(Debug, Clone)]
pub struct Options {
    /// Scenario files or folders, read again for every run.
    pub paths: Vec<PathBuf>,
    /// Which of their scenarios run (`--filter`, `--partition`).
    pub selection: Selection,
    /// From the start of one run to the start of the next.
    pub every: Duration,
    /// How each run behaves (dry run).
    pub run: RunOptions,
}

/// How `serve` gets its target, and removes it.
pub trait Launcher: Send + Sync {
    /// What it starts.
    type Target: Target;
    /// The target as runs name it (`containers`).
    fn name(&self) -> String;
    /// Starts a target for the suite; the error is a sentence for reports.
    fn start<'a>(&'a self, suite: &'a Suite) -> BoxFuture<'a, Result<Self::Target, String>>;
    /// The [`Event::TargetReady`] each run that uses `target` reports.
    fn ready(&self, target: &Self::Target) -> Event;
    /// Removes the target.
    fn stop<'a>(&'a self, target: &'a Self::Target) -> BoxFuture<'a, Result<(), String>>;
}

/// The container target, started with these options.
#[cfg(feature = "containers")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Containers(pub StartOptions);

#[cfg(feature = "containers")]
impl Launcher for Containers {
    type Target = ContainersTarget;
    fn name(&self) -> String {
        "containers".into()
    }
    fn start<'a>(&'a self, suite: &'a Suite) -> BoxFuture<'a, Result<ContainersTarget, String>> {
        Box::pin(async move {
            ContainersTarget::start_with(suite, self.0).await.map_err(|e| format!("starting the container target: {e}"))
        })
    }
    fn ready(&self, target: &ContainersTarget) -> Event {
        Event::TargetReady { description: target.describe(), versions: target.report.versions.clone(), phases: target.report.ready_phases() }
    }
    fn stop<'a>(&'a self, target: &'a ContainersTarget) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { target.shutdown().await.map_err(|e| e.to_string()) })
    }
}

/// How a completed run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every scenario passed.
    Passed,
    /// Some scenarios failed.
    Failed {
        /// How many.
        failed: usize,
    },
    /// Nothing ran.
    SetupFailed {
        /// `input` (bad files) or `target` (it did not start).
        stage: String,
        /// Why.
        error: String,
    },
}

impl Verdict {
    /// The verdict of a run's events.
    pub fn of(events: &[Event]) -> Verdict {
        let mut verdict = Verdict::Passed;
        for e in events {
            match e {
                Event::SetupFailed { stage, error } => return Verdict::SetupFailed { stage: stage.clone(), error: error.clone() },
                Event::RunFinished { totals, .. } if totals.failed > 0 => verdict = Verdict::Failed { failed: totals.failed },
                _ => {}
            }
        }
        verdict
    }
}

/// A completed run: its events and when it ended.
#[derive(Debug, Clone)]
pub struct LastRun {
    /// Every event of the run, in order.
    pub events: Vec<Event>,
    /// When the run ended.
    pub finished: SystemTime,
    /// [`Verdict::of`] its events.
    pub verdict: Verdict,
}

/// What the loop has done so far; the server answers from it.
#[derive(Debug, Clone)]
pub struct Status {
    /// When `serve` started.
    pub since: SystemTime,
    /// Completed runs: passed, failed, set-up failed.
    pub runs: [u64; 3],
    /// When the run in progress started.
    pub running: Option<SystemTime>,
    /// The last completed run, what the server answers with.
    pub last: Option<LastRun>,
}

impl Status {
    /// A loop that has not run yet.
    pub fn new(since: SystemTime) -> Status {
        Status { since, runs: [0; 3], running: None, last: None }
    }
    /// Records a completed run.
    pub fn completed(&mut self, events: Vec<Event>, finished: SystemTime) {
        let verdict = Verdict::of(&events);
        let slot = match verdict {
            Verdict::Passed => 0,
            Verdict::Failed { .. } => 1,
            Verdict::SetupFailed { .. } => 2,
        };
        self.runs[slot] += 1;
        self.running = None;
        self.last = Some(LastRun { events, finished, verdict });
    }
    fn total_runs(&self) -> u64 {
        self.runs.iter().sum()
    }
}

/// Seconds since the Unix epoch, for metrics.
fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// `2025-01-02T03:04:05Z`.
fn timestamp(t: SystemTime) -> String {
    match jiff::Timestamp::try_from(t).and_then(|t| t.round(jiff::Unit::Second)) {
        Ok(t) => t.to_string(),
        Err(_) => format!("{:.0}s after the epoch", epoch_seconds(t)),
    }
}

/// The body of `/metrics`: the last completed run's metrics, then the
/// loop's own (`mailflow_serve_*`), which change with every run.
pub fn metrics_body(status: &Status) -> String {
    let mut out = status.last.as_ref().map(|l| prometheus::render(&l.events)).unwrap_or_default();
    let _ = writeln!(out, "# HELP mailflow_serve_runs_total Runs completed since serve started, by verdict.");
    let _ = writeln!(out, "# TYPE mailflow_serve_runs_total counter");
    for (verdict, n) in ["passed", "failed", "setup_failed"].iter().zip(status.runs) {
        let _ = writeln!(out, "mailflow_serve_runs_total{{verdict=\"{verdict}\"}} {n}");
    }
    let _ = writeln!(out, "# HELP mailflow_serve_running 1 while a run is in progress.");
    let _ = writeln!(out, "# TYPE mailflow_serve_running gauge");
    let _ = writeln!(out, "mailflow_serve_running {}", u8::from(status.running.is_some()));
    if let Some(last) = &status.last {
        let _ = writeln!(out, "# HELP mailflow_serve_last_run_completed_timestamp_seconds When the last completed run ended, in seconds since the Unix epoch.");
        let _ = writeln!(out, "# TYPE mailflow_serve_last_run_completed_timestamp_seconds gauge");
        let _ = writeln!(out, "mailflow_serve_last_run_completed_timestamp_seconds {:.3}", epoch_seconds(last.finished));
        let _ = writeln!(out, "# HELP mailflow_serve_last_run_success 1 when the last completed run passed, 0 when it failed or could not set up.");
        let _ = writeln!(out, "# TYPE mailflow_serve_last_run_success gauge");
        let _ = writeln!(out, "mailflow_serve_last_run_success {}", u8::from(last.verdict == Verdict::Passed));
    }
    out
}

/// The body of `/results.json`: the JSON summary of the last completed run
/// (the `summary` line of the JSON report, [`json::summary`]); `None`
/// before the first.
pub fn results_body(status: &Status) -> Option<String> {
    let last = status.last.as_ref()?;
    Some(serde_json::to_string_pretty(&json::summary(&last.events)).expect("a summary serialises") + "\n")
}

/// The body of `/healthz`: `ok`, then the loop's state in lines of text.
pub fn health_body(status: &Status) -> String {
    let mut out = String::from("ok\n");
    let [passed, failed, setup] = status.runs;
    let _ = writeln!(out, "serving since {}", timestamp(status.since));
    let _ = writeln!(out, "runs: {} ({passed} passed, {failed} failed, {setup} set-up failed)", status.total_runs());
    match &status.last {
        None => {
            let _ = writeln!(out, "last run: none completed yet");
        }
        Some(last) => {
            let verdict = match &last.verdict {
                Verdict::Passed => "passed".to_string(),
                Verdict::Failed { failed } => format!("failed ({failed} scenario(s) failed)"),
                Verdict::SetupFailed { stage, error } => format!("failed to set up ({stage}): {error}"),
            };
            let _ = writeln!(out, "last run: completed {}, {verdict}", timestamp(last.finished));
        }
    }
    if let Some(started) = status.running {
        let _ = writeln!(out, "running: since {}", timestamp(started));
    }
    out
}

type Shared = Arc<Mutex<Status>>;

fn read(status: &Shared) -> std::sync::MutexGuard<'_, Status> {
    status.lock().unwrap_or_else(|e| e.into_inner())
}

/// The HTTP side over the loop's status: `/metrics`, `/results.json`, `/healthz`.
pub fn router(status: Arc<Mutex<Status>>) -> Router {
    async fn metrics(State(status): State<Shared>) -> Response {
        let body = metrics_body(&read(&status));
        ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
    }
    async fn results(State(status): State<Shared>) -> Response {
        match results_body(&read(&status)) {
            Some(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            None => (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "application/json")], "{\"error\":\"no run completed yet\"}\n")
                .into_response(),
        }
    }
    async fn healthz(State(status): State<Shared>) -> Response {
        let body = health_body(&read(&status));
        ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
    }
    Router::new()
        .route("/metrics", get(metrics))
        .route("/results.json", get(results))
        .route("/healthz", get(healthz))
        .with_state(status)
}

/// Runs the loop and serves its results on `listener` until `shutdown`
/// resolves; returns the signal. `observer` sees every event of every run
/// as it happens (the terminal's reporters). The status is created here;
/// [`serve_with`] takes one the caller can read.
pub async fn serve<L: Launcher>(
    options: &Options,
    launcher: &L,
    listener: tokio::net::TcpListener,
    observer: &(dyn Fn(&Event) + Send + Sync),
    shutdown: impl Future<Output = Signal>,
) -> std::io::Result<Signal> {
    serve_with(options, launcher, listener, Arc::new(Mutex::new(Status::new(SystemTime::now()))), observer, shutdown).await
}

/// [`serve`] on a status the caller keeps too.
pub async fn serve_with<L: Launcher>(
    options: &Options,
    launcher: &L,
    listener: tokio::net::TcpListener,
    status: Arc<Mutex<Status>>,
    observer: &(dyn Fn(&Event) + Send + Sync),
    shutdown: impl Future<Output = Signal>,
) -> std::io::Result<Signal> {
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(status.clone())).with_graceful_shutdown(async move {
        let _ = stopped.await;
    });
    let work = async {
        let signal = run_loop(options, launcher, &status, observer, shutdown).await;
        let _ = stop_server.send(());
        signal
    };
    let (served, signal) = tokio::join!(std::future::IntoFuture::into_future(server), work);
    served?;
    Ok(signal)
}

/// A started target and the suite it was started for.
struct Running<T> {
    target: T,
    suite: Suite,
}

/// How one run ended for the loop.
enum Ended {
    Completed(Vec<Event>),
    Interrupted(Signal),
}

async fn run_loop<L: Launcher>(
    options: &Options,
    launcher: &L,
    status: &Shared,
    observer: &(dyn Fn(&Event) + Send + Sync),
    shutdown: impl Future<Output = Signal>,
) -> Signal {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut current: Option<Running<L::Target>> = None;
    let mut ticks = tokio::time::interval(options.every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let signal = loop {
        tokio::select! {
            _ = ticks.tick() => {}
            signal = shutdown.as_mut() => break signal,
        }
        read(status).running = Some(SystemTime::now());
        match one_run(options, launcher, &mut current, observer, &mut shutdown).await {
            Ended::Completed(events) => read(status).completed(events, SystemTime::now()),
            Ended::Interrupted(signal) => break signal,
        }
    };
    read(status).running = None;
    if let Some(running) = current.take() {
        stop(launcher, &running.target).await;
    }
    signal
}

async fn stop<L: Launcher>(launcher: &L, target: &L::Target) {
    if let Err(e) = launcher.stop(target).await {
        log::error(&format!("removing the target: {e}"));
    }
}

/// One run: read the files, start the target if there is none (or it was
/// started for another suite), run every scenario, clean up.
async fn one_run<L: Launcher, F: Future<Output = Signal>>(
    options: &Options,
    launcher: &L,
    current: &mut Option<Running<L::Target>>,
    observer: &(dyn Fn(&Event) + Send + Sync),
    shutdown: &mut Pin<&mut F>,
) -> Ended {
    let events = Mutex::new(Vec::new());
    let emit = |e: Event| {
        observer(&e);
        events.lock().unwrap_or_else(|e| e.into_inner()).push(e);
    };
    let take = |events: Mutex<Vec<Event>>| events.into_inner().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let plan = match select::load(&options.paths, &options.selection) {
        Ok(plan) => plan,
        Err(e) => {
            log::plan_error(&e);
            emit(Event::SetupFailed { stage: "input".into(), error: e.to_string() });
            return Ended::Completed(take(events));
        }
    };
    let run_id = RunId::new();
    emit(Event::RunStarted {
        run_id: run_id.to_string(),
        target: launcher.name(),
        version: env!("CARGO_PKG_VERSION").into(),
        scenarios: plan.scenarios.iter().map(|s| s.path.clone()).collect(),
        at: SystemTime::now(),
    });
    if let Some(running) = current.take_if(|r| r.suite != plan.suite) {
        stop(launcher, &running.target).await;
    }
    if current.is_none() {
        let started = tokio::select! {
            started = launcher.start(&plan.suite) => started,
            signal = shutdown.as_mut() => {
                emit(Event::Interrupted { signal });
                return Ended::Interrupted(signal);
            }
        };
        match started {
            Ok(target) => *current = Some(Running { target, suite: plan.suite.clone() }),
            Err(error) => {
                emit(Event::SetupFailed { stage: "target".into(), error });
                return Ended::Completed(take(events));
            }
        }
    }
    let target = &current.as_ref().expect("a target was just started").target;
    emit(launcher.ready(target));
    let all = run::run_all_with(target, &plan.suite, &plan.scenarios, &run_id, options.run, &emit);
    let (results, interrupted) = tokio::select! {
        results = all => (results, None),
        signal = shutdown.as_mut() => (Vec::new(), Some(signal)),
    };
    emit(run::cleanup_run(target, &plan.suite, &run_id).await);
    if let Some(signal) = interrupted {
        emit(Event::Interrupted { signal });
    }
    let mut totals = Totals::over(&results);
    totals.not_run = plan.scenarios.len() - results.len();
    emit(Event::RunFinished { totals, duration: started.elapsed(), at: SystemTime::now() });
    match interrupted {
        Some(signal) => Ended::Interrupted(signal),
        None => Ended::Completed(take(events)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn verdicts_of_runs() {
        assert_eq!(Verdict::of(&fixture::events()), Verdict::Failed { failed: 1 });
        assert_eq!(
            Verdict::of(&fixture::setup_failed_events()),
            Verdict::SetupFailed { stage: "target".into(), error: "starting the container target: Docker: connection refused".into() }
        );
        let passed: Vec<Event> = fixture::events()
            .into_iter()
            .map(|e| match e {
                Event::RunFinished { duration, at, .. } => {
                    Event::RunFinished { totals: Totals { passed: 2, ..Totals::default() }, duration, at }
                }
                e => e,
            })
            .collect();
        assert_eq!(Verdict::of(&passed), Verdict::Passed);
    }

    #[test]
    fn bodies_before_and_after_runs() {
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_600_000);
        let mut status = Status::new(since);
        assert_eq!(
            health_body(&status),
            "ok\nserving since 2026-11-25T09:46:40Z\nruns: 0 (0 passed, 0 failed, 0 set-up failed)\nlast run: none completed yet\n"
        );
        assert_eq!(results_body(&status), None);
        assert!(metrics_body(&status).contains("mailflow_serve_runs_total{verdict=\"passed\"} 0\n"));
        assert!(!metrics_body(&status).contains("mailflow_serve_last_run"));

        status.running = Some(since);
        status.completed(fixture::events(), since + Duration::from_secs(30));
        status.completed(fixture::setup_failed_events(), since + Duration::from_secs(90));
        let health = health_body(&status);
        assert!(health.starts_with("ok\n"), "{health}");
        assert!(health.contains("runs: 2 (0 passed, 1 failed, 1 set-up failed)"), "{health}");
        assert!(
            health.contains("last run: completed 2026-11-25T09:48:10Z, failed to set up (target): starting the container target: Docker: connection refused"),
            "{health}"
        );
        let metrics = metrics_body(&status);
        assert!(metrics.contains("mailflow_serve_last_run_completed_timestamp_seconds 1795600090.000\n"), "{metrics}");
        assert!(metrics.contains("mailflow_serve_last_run_success 0\n"), "{metrics}");
        assert!(metrics.contains("mailflow_serve_running 0\n"), "{metrics}");
        // The run's own metrics come from the Prometheus reporter.
        assert!(metrics.contains("mailflow_setup_failed 1\n"), "{metrics}");
        let json: serde_json::Value = serde_json::from_str(&results_body(&status).expect("a run completed")).expect("JSON");
        assert_eq!(json["verdict"], "setup_failed");
    }

    /// A target with nothing but an address: enough for dry runs.
    struct StandIn;

    impl Target for StandIn {
        fn describe(&self) -> String {
            "stand-in".into()
        }
        fn probe_domain(&self) -> &str {
            "probe.test"
        }
        fn smtp_addr(&self) -> SocketAddr {
            SocketAddr::from(([127, 0, 0, 1], 9))
        }
    }

    /// Fails to start the first time, then starts; counts starts and stops.
    #[derive(Default)]
    struct Flaky {
        starts: AtomicUsize,
        stops: AtomicUsize,
    }

    impl Launcher for Flaky {
        type Target = StandIn;
        fn name(&self) -> String {
            "stand-in".into()
        }
        fn start<'a>(&'a self, _suite: &'a Suite) -> BoxFuture<'a, Result<StandIn, String>> {
            Box::pin(async move {
                match self.starts.fetch_add(1, Ordering::SeqCst) {
                    0 => Err("the stand-in does not start the first time".to_string()),
                    _ => Ok(StandIn),
                }
            })
        }
        fn ready(&self, target: &StandIn) -> Event {
            Event::TargetReady { description: target.describe(), versions: Vec::new(), phases: Vec::new() }
        }
        fn stop<'a>(&'a self, _target: &'a StandIn) -> BoxFuture<'a, Result<(), String>> {
            Box::pin(async move {
                self.stops.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        }
    }

    /// A GET over a plain connection: status code and body.
    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes()).await.expect("send");
        let mut text = String::new();
        stream.read_to_string(&mut text).await.expect("read");
        let code = text.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("a status line");
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (code, body)
    }

    #[tokio::test]
    async fn the_loop_retries_a_target_that_did_not_start_and_keeps_serving() {
        let options = Options {
            paths: vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/refusal")],
            selection: Selection::default(),
            every: Duration::from_millis(100),
            run: RunOptions { dry_run: true },
        };
        let launcher = Flaky::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let status = Arc::new(Mutex::new(Status::new(SystemTime::now())));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let seen = Mutex::new(0usize);
        let observer = |_: &Event| *seen.lock().unwrap() += 1;
        let shutdown = async {
            let _ = stopped.await;
            Signal::Terminate
        };
        let probe = async {
            // Before the first run completed, or after it: the server answers.
            let (code, _) = get(addr, "/healthz").await;
            assert_eq!(code, 200);
            let deadline = Instant::now() + Duration::from_secs(20);
            while read(&status).total_runs() < 3 {
                assert!(Instant::now() < deadline, "three runs within 20 s:\n{}", health_body(&read(&status)));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let (code, health) = get(addr, "/healthz").await;
            assert_eq!(code, 200);
            assert!(health.starts_with("ok\n") && health.contains("1 set-up failed"), "{health}");
            assert!(health.contains("last run: completed") && health.contains(", passed"), "{health}");
            let (code, metrics) = get(addr, "/metrics").await;
            assert_eq!(code, 200);
            assert!(metrics.contains("mailflow_serve_runs_total{verdict=\"setup_failed\"} 1\n"), "{metrics}");
            let (code, json) = get(addr, "/results.json").await;
            assert_eq!(code, 200, "{json}");
            assert_eq!(get(addr, "/nowhere").await.0, 404);
            let _ = stop.send(());
        };
        let (served, ()) = tokio::join!(serve_with(&options, &launcher, listener, status.clone(), &observer, shutdown), probe);
        assert_eq!(served.expect("served"), Signal::Terminate);
        // Started lazily, failed once, then started once and reused; removed at the end.
        assert_eq!(launcher.starts.load(Ordering::SeqCst), 2);
        assert_eq!(launcher.stops.load(Ordering::SeqCst), 1);
        assert!(*seen.lock().unwrap() > 0, "the observer saw the runs");
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the server stopped");
    }
}
