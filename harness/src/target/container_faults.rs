//! Fault steps and exim's queue for the container target, through its
//! shell (`docker exec`).
//!
//! Stopping and starting are the image's `mailflow-mailman` (the same
//! commands a hosts target runs through ssh and sudo against this image):
//! it keeps the image's watchdog out of the way while a service is down on
//! purpose.

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

/// Stops Mailman's master: `mailflow-mailman stop` (in the image) tells
/// the watchdog first and waits until the master exited.
const STOP_MAILMAN: &str = "mailflow-mailman stop";
/// Starts it: waits until REST and LMTP answer, then lets the watchdog watch again.
const START_MAILMAN: &str = "MAILFLOW_MAILMAN_TIMEOUT=240 mailflow-mailman start";
/// Stops uwsgi (SIGINT to its master) and waits until every worker is gone.
const STOP_WEB: &str = "mailflow-mailman web-stop";
/// Starts uwsgi as the image's start script does, detached, and waits
/// until HyperKitty answers through nginx.
const START_WEB: &str = "mailflow-mailman web-start";
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
