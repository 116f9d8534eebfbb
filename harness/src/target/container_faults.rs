//! Fault steps and exim's queue for the container target, through its
//! shell (`docker exec`).
//!
//! The image's watchdog ends the container when exim, Mailman's master or
//! the web side dies, unless `/run/mailflow/maintenance` exists: a stop
//! creates it first. Starting Mailman again removes it, unless the web
//! side was restarted (the watchdog watches the uwsgi it started itself,
//! so after a restart it keeps out of the way until the container ends).

use std::time::Duration;

use super::capability::{Faults, MtaQueue};
use super::containers::ContainersTarget;
use super::{Target, TargetError};
use crate::exim::queue::{parse_queue, QUEUE_SCRIPT};
use crate::exim::QueuedMessage;
use crate::probe::ProbeKeys;
use crate::scenario::Service;
use crate::sink::FaultPolicy;
use crate::BoxFuture;

const MAINLOG: &str = "/var/log/exim4/mainlog";

/// Stops Mailman's master (`mailflow-mailman stop` waits until it exited).
const STOP_MAILMAN: &str = "mkdir -p /run/mailflow && touch /run/mailflow/maintenance && mailflow-mailman stop";
/// Starts it (`mailflow-mailman start` waits until REST and LMTP answer).
const START_MAILMAN: &str = "MAILFLOW_MAILMAN_TIMEOUT=240 mailflow-mailman start && { [ -e /run/mailflow/web-restarted ] || rm -f /run/mailflow/maintenance; }";
/// uwsgi's master (the oldest process of that command line) shuts down on
/// SIGINT (SIGTERM only reloads it); waits until every worker is gone.
const STOP_WEB: &str = r#"mkdir -p /run/mailflow && touch /run/mailflow/maintenance /run/mailflow/web-restarted
pid=$(pgrep -o -f '^uwsgi --ini /etc/mailman3/uwsgi.ini') || { echo "the web side is not running"; exit 0; }
kill -INT "$pid"
for i in $(seq 1 300); do
  pgrep -f '^uwsgi --ini /etc/mailman3/uwsgi.ini' >/dev/null || { echo "uwsgi (pid $pid) stopped"; exit 0; }
  sleep 0.2
done
echo "uwsgi (pid $pid) did not stop within 60s" >&2; exit 1"#;
/// Starts uwsgi as the image's start script does, detached, and waits
/// until HyperKitty answers through nginx.
const START_WEB: &str = r#"if ! pgrep -f '^uwsgi --ini /etc/mailman3/uwsgi.ini' >/dev/null; then
  setsid uwsgi --ini /etc/mailman3/uwsgi.ini </dev/null >>/var/log/mailman3/web/uwsgi-stdio.log 2>&1 &
fi
for i in $(seq 1 240); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1/hyperkitty/)" = 200 ] && { echo "the web side answers"; exit 0; }
  sleep 0.5
done
echo "HyperKitty did not answer within 120s" >&2; exit 1"#;
/// Counts the queue, runs it by force, counts again.
const QUEUE_RUN: &str = r#"before=$(exim -bpc); timeout "$1" exim -qff; status=$?; after=$(exim -bpc)
[ "$status" = 124 ] && { echo "exim -qff did not end within $1 s" >&2; exit 1; }
echo "$before message(s) in the queue before, $after after""#;

/// How long stopping or starting a service may take, all waits included:
/// on a busy 2-core machine Mailman took 35 s to stop and over 60 s to start.
const SERVICE_DEADLINE: Duration = Duration::from_secs(300);

impl ContainersTarget {
    async fn script(&self, what: &str, script: &str, args: &[&str]) -> Result<String, TargetError> {
        let mut argv = vec!["sh", "-c", script, "sh"];
        argv.extend_from_slice(args);
        let (code, out, err) = self.exec_within(&argv, SERVICE_DEADLINE).await?;
        if code != 0 {
            return Err(TargetError::Exec(format!("{what} failed (exit status {code}): {}", err.trim())));
        }
        Ok(out.trim().lines().last().unwrap_or_default().to_string())
    }
}

impl Faults for ContainersTarget {
    fn stop<'a>(&'a self, service: Service) -> BoxFuture<'a, Result<String, TargetError>> {
        Box::pin(async move {
            match service {
                Service::Mailman => self.script("stopping Mailman", STOP_MAILMAN, &[]).await,
                Service::MailmanWeb if self.web().is_none() => Err(TargetError::Unsupported(super::Capability::Web)),
                Service::MailmanWeb => self.script("stopping the web side", STOP_WEB, &[]).await,
            }
        })
    }

    fn start<'a>(&'a self, service: Service) -> BoxFuture<'a, Result<String, TargetError>> {
        Box::pin(async move {
            match service {
                Service::Mailman => self.script("starting Mailman", START_MAILMAN, &[]).await,
                Service::MailmanWeb if self.web().is_none() => Err(TargetError::Unsupported(super::Capability::Web)),
                Service::MailmanWeb => self.script("starting the web side", START_WEB, &[]).await,
            }
        })
    }

    fn queue_run<'a>(&'a self, deadline: Duration) -> BoxFuture<'a, Result<String, TargetError>> {
        Box::pin(async move {
            let secs = deadline.as_secs().max(1).to_string();
            self.script("exim -qff", QUEUE_RUN, &[&secs]).await
        })
    }

    fn sink_faults(&self) -> Option<&FaultPolicy> {
        Some(self.sink().faults())
    }
}

impl MtaQueue for ContainersTarget {
    fn queued<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<Vec<QueuedMessage>, TargetError>> {
        Box::pin(async move {
            let script = format!("MAINLOG={MAINLOG}\n{QUEUE_SCRIPT}");
            let (code, out, err) = self.exec(&["sh", "-c", &script]).await?;
            if code != 0 {
                return Err(TargetError::Exec(format!("reading exim's queue (exit status {code}): {}", err.trim())));
            }
            Ok(parse_queue(&out, keys))
        })
    }
}
