//! The sink on its own, for benchmarks and for looking at what a list
//! server sends: `cargo run --release --example sink -- --listen
//! 127.0.0.1:2525 --probe-domain probe.test [--print]`.
//!
//! Prints `listening on ADDR` once bound; on Ctrl-C or SIGTERM prints the
//! counts (received, kept, kept bytes, dropped) and exits.

use std::net::SocketAddr;

use clap::Parser;
use mailflow::report::arrivals;
use mailflow::sink::{Limits, Sink, SinkOptions};

#[derive(Parser)]
struct Args {
    /// Address to listen on (port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:2525")]
    listen: SocketAddr,
    /// Only recipients in this domain are accepted (550 for the others).
    #[arg(long)]
    probe_domain: Option<String>,
    /// Keep at most this many messages (default: the sink's default).
    #[arg(long)]
    max_messages: Option<usize>,
    /// Keep at most this many bytes (default: the sink's default).
    #[arg(long)]
    max_bytes: Option<usize>,
    /// Print one line per arrival, as `mailflow up` does.
    #[arg(long)]
    print: bool,
    /// Keep a waiter for this Message-ID busy meanwhile, as a run waiting
    /// for a probe does: woken on every arrival, it looks the id up in the
    /// index (`--waiter-scans`: it scans every kept message, as `wait_for`
    /// callers do).
    #[arg(long)]
    waiter: Option<String>,
    #[arg(long, requires = "waiter")]
    waiter_scans: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let defaults = Limits::default();
    let limits = Limits {
        max_messages: args.max_messages.unwrap_or(defaults.max_messages),
        max_bytes: args.max_bytes.unwrap_or(defaults.max_bytes),
    };
    let sink = Sink::bind_with(args.listen, SinkOptions { probe_domain: args.probe_domain, limits }).await?;
    println!("listening on {}", sink.addr());
    let sink = std::sync::Arc::new(sink);
    if let Some(id) = args.waiter {
        let sink = sink.clone();
        let hour = std::time::Duration::from_secs(3600);
        tokio::spawn(async move {
            if args.waiter_scans {
                let _ = sink.wait_for(hour, |ms| ms.iter().find(|m| m.message_id() == Some(id.as_str())).cloned()).await;
            } else {
                let _ = sink.wait_until(hour, |s| s.copies_of(&id).pop()).await;
            }
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stop = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    if args.print {
        let mut stdout = std::io::stdout();
        tokio::select! {
            _ = stop => {}
            _ = arrivals::follow(&sink, &mut stdout) => {}
        }
    } else {
        stop.await;
    }
    let c = sink.counts();
    println!("received {} kept {} kept_bytes {} dropped {}", c.received, c.kept, c.kept_bytes, c.dropped);
    Ok(())
}
