//! The probe sender on its own, for `scripts/bench-sender`: builds
//! `--messages` probes (`mailflow::probe::build`, as a `send` step does) and
//! sends each over its own connection (`mailflow::smtp::send`) to
//! `--to-addr`, `--sessions` at a time.
//!
//! `cargo run --release --example send -- --to-addr 127.0.0.1:2612 --messages 1000 --sessions 20`
//!
//! Prints `sent N accepted A refused R failed F in S s`; exits 1 when any
//! send failed or was refused.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use mailflow::probe::{self, ProbeSpec, RunId};
use mailflow::smtp::{self, Envelope, Timeouts};

#[derive(Parser)]
struct Args {
    /// The SMTP server to send to.
    #[arg(long)]
    to_addr: SocketAddr,
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Connections at a time (one message per connection).
    #[arg(long, default_value_t = 1)]
    sessions: usize,
    #[arg(long, default_value = "list-bounces@lists.example.test")]
    from: String,
    #[arg(long, default_value = "alice@probe.test")]
    rcpt: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Arc::new(Args::parse());
    let run = Arc::new(RunId::new());
    let next = Arc::new(AtomicUsize::new(0));
    let (accepted, refused, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.sessions.max(1))
        .map(|_| {
            let (args, run, next) = (args.clone(), run.clone(), next.clone());
            let (accepted, refused, failed) = (accepted.clone(), refused.clone(), failed.clone());
            tokio::spawn(async move {
                let to = [args.rcpt.clone()];
                while next.fetch_add(1, Ordering::Relaxed) < args.messages {
                    let spec = ProbeSpec { from: &args.from, to: &to, subject: "bench", body: None, headers: &[], attachments: &[] };
                    let probe = probe::build(&run, "probe.test", "bench", &spec);
                    let envelope = Envelope { helo: "mailflow.bench", mail_from: &probe.from, rcpt_to: &probe.to };
                    match smtp::send(args.to_addr, &envelope, &probe.bytes, Timeouts::default()).await {
                        Ok(t) if t.accepted() => accepted.fetch_add(1, Ordering::Relaxed),
                        Ok(_) => refused.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            eprintln!("send: {e}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let (a, r, f) = (accepted.load(Ordering::Relaxed), refused.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("sent {} accepted {a} refused {r} failed {f} in {:.3} s", args.messages, started.elapsed().as_secs_f64());
    if r + f > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
