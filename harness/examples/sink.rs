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
