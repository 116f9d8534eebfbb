//! TCP connection attempts from inside a container (a vantage point, or
//! the lists container's own loopback), through one long-lived `docker exec
//! -i` running a small bash loop: an attempt is a line in and a line out,
//! and several run at once. A `docker exec` per attempt cost 0.3 to 1 s
//! when a port policy started twenty of them together on 2 cores, which
//! turned a 2 s deadline into 3.2 s, and counted that overhead in each
//! port's time. Here the time is measured inside, around the connect.
//!
//! Each attempt is the same command as [`reach::tcp_probe_command`]'s (bash
//! `/dev/tcp` under coreutils `timeout`), read by
//! [`reach::state_from_exec`]. When the prober cannot be started or
//! breaks, the caller falls back to a `docker exec` per attempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::oneshot;

use crate::reach;

/// Added to an attempt's deadline before its answer counts as lost.
const ANSWER_SLACK: Duration = Duration::from_secs(10);

/// Reads `ID IP PORT DEADLINE` lines; for each, in the background, tries
/// the connection and writes `ID EXIT MICROSECONDS STDERR` (stderr on one
/// line). A line under 4 KB is one `write`, so answers do not interleave.
const PROBER: &str = r#"while read -r id ip port deadline; do
  ( s=${EPOCHREALTIME/./}
    err=$(timeout "$deadline" bash -c 'exec 3<>"/dev/tcp/$1/$2"' bash "$ip" "$port" 2>&1 >/dev/null)
    c=$?; e=${EPOCHREALTIME/./}
    err=${err//$'\n'/ }
    printf '%s %s %s %s\n' "$id" "$c" "$((e - s))" "${err:0:300}" ) </dev/null &
done"#;

/// An answer: exit status, microseconds the attempt took, stderr.
type Answer = (i64, u64, String);
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Answer>>>>;

struct Running {
    // Held so that dropping the prober ends the `docker exec`.
    _child: Child,
    stdin: ChildStdin,
    pending: Pending,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// One prober per container, started on first use.
pub(super) struct PortProber {
    container_id: String,
    running: tokio::sync::Mutex<Option<Running>>,
    next_id: AtomicU64,
}

/// The prober is not there or broke: use a `docker exec` instead.
#[derive(Debug)]
pub(super) struct Unavailable;

impl PortProber {
    pub(super) fn new(container_id: &str) -> PortProber {
        PortProber { container_id: container_id.to_string(), running: tokio::sync::Mutex::new(None), next_id: AtomicU64::new(1) }
    }

    /// Tries `ip:port` once from inside the container, giving up after
    /// `deadline` (then the port is filtered). `Ok(Err(..))` is an attempt
    /// that failed in a way that is not a port state (the command's words).
    pub(super) async fn try_port(&self, ip: IpAddr, port: u16, deadline: Duration) -> Result<Result<reach::Attempt, String>, Unavailable> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut guard = self.running.lock().await;
            if guard.is_none() {
                *guard = Some(self.start().map_err(|_| Unavailable)?);
            }
            let running = guard.as_mut().expect("just started");
            running.pending.lock().map_err(|_| Unavailable)?.insert(id, tx);
            let line = format!("{id} {ip} {port} {:.3}\n", deadline.as_secs_f64());
            let sent = async {
                running.stdin.write_all(line.as_bytes()).await?;
                running.stdin.flush().await
            };
            if !matches!(tokio::time::timeout(ANSWER_SLACK, sent).await, Ok(Ok(()))) {
                *guard = None;
                return Err(Unavailable);
            }
        }
        match tokio::time::timeout(deadline + ANSWER_SLACK, rx).await {
            Ok(Ok((code, micros, stderr))) => {
                let took = Duration::from_micros(micros);
                Ok(reach::state_from_exec(code, &stderr).map(|state| reach::Attempt { state, took }))
            }
            // The prober ended (its reader dropped every waiting answer) or
            // is stuck: drop it, the next attempt starts another.
            Ok(Err(_)) | Err(_) => {
                *self.running.lock().await = None;
                Err(Unavailable)
            }
        }
    }

    fn start(&self) -> std::io::Result<Running> {
        let (child, stdin, stdout) = super::docker::exec_piped(&self.container_id, &["bash", "-c", PROBER])?;
        let pending: Pending = Arc::default();
        let answers = pending.clone();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((id, answer)) = parse_answer(&line) {
                    let waiting = answers.lock().ok().and_then(|mut p| p.remove(&id));
                    if let Some(tx) = waiting {
                        let _ = tx.send(answer);
                    }
                }
            }
            // Ended: whoever still waits learns it from the dropped sender.
            if let Ok(mut p) = answers.lock() {
                p.clear();
            }
        });
        Ok(Running { _child: child, stdin, pending, reader })
    }
}

/// `ID EXIT MICROSECONDS STDERR...` from [`PROBER`].
fn parse_answer(line: &str) -> Option<(u64, Answer)> {
    let mut parts = line.splitn(4, ' ');
    let id = parts.next()?.parse().ok()?;
    let code = parts.next()?.parse().ok()?;
    let micros = parts.next()?.parse().ok()?;
    Some((id, (code, micros, parts.next().unwrap_or("").to_string())))
}

#[cfg(test)]
mod tests {
    //! Hand-made lines in the shape [`PROBER`] prints.
    use super::*;

    #[test]
    fn answers_are_read_with_their_stderr() {
        assert_eq!(parse_answer("7 0 1834 "), Some((7, (0, 1834, String::new()))));
        assert_eq!(
            parse_answer("9 1 912 bash: connect: Connection refused bash: line 1: /dev/tcp/127.0.0.1/2525: Connection refused"),
            Some((9, (1, 912, "bash: connect: Connection refused bash: line 1: /dev/tcp/127.0.0.1/2525: Connection refused".into())))
        );
        assert_eq!(parse_answer("12 124 2000811"), Some((12, (124, 2_000_811, String::new()))));
        assert_eq!(parse_answer("garbage"), None);
    }
}
