//! Fault steps and exim's queue on a real host, through the `[ssh]`
//! shell: offered only when the target file says `[allow] faults = true`
//! (read-only by default). The commands are the file's `[faults]` table
//! (Debian's `systemctl stop mailman3` and the like unless it names
//! others), run through `sudo -n -u <become> --` (root by default); a start
//! is followed by the ready command (or, for the web side with `[web]`,
//! HyperKitty's URL asked from here) until Mailman answers.

use std::time::Duration;

use super::config::FaultCommands;
use super::target::HostsTarget;
use crate::exim::QueuedMessage;
use crate::probe::ProbeKeys;
use crate::scenario::Service;
use crate::target::capability::{Faults, MtaQueue};
use crate::target::through_shell::{self, As};
use crate::target::{Shell, TargetError};
use crate::BoxFuture;

/// How long stopping or starting a service may take, its readiness
/// included (Mailman's runners start slowly on a busy host).
const SERVICE_DEADLINE: Duration = Duration::from_secs(300);
/// Between two tries of a ready command.
const READY_EVERY: Duration = Duration::from_millis(500);

/// A command's words, for messages: `systemctl stop mailman3`.
fn shown(argv: &[String]) -> String {
    argv.join(" ")
}

impl HostsTarget {
    /// The shell fault commands run through: sudo as `[faults] become`, or
    /// the ssh user itself.
    async fn run_privileged(&self, shell: &dyn Shell, argv: &[&str], deadline: Duration) -> Result<(i64, String, String), TargetError> {
        match &self.config().faults.become_user {
            Some(user) => As { shell, user }.exec_within(argv, deadline).await,
            None => shell.exec_within(argv, deadline).await,
        }
    }

    /// Runs one of the file's commands; its last line of output, or why it failed.
    async fn fault_command(&self, what: &str, argv: &[String]) -> Result<String, TargetError> {
        let shell = self.fault_shell()?;
        let words: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (code, out, err) = self.run_privileged(shell, &words, SERVICE_DEADLINE).await?;
        if code != 0 {
            let said = if err.trim().is_empty() { out.trim() } else { err.trim() };
            return Err(TargetError::Exec(format!("{what}: `{}` on the host exited {code}: {said}", shown(argv))));
        }
        let last = out.trim().lines().last().unwrap_or_default().trim().to_string();
        Ok(if last.is_empty() { format!("`{}` on the host", shown(argv)) } else { format!("`{}` on the host: {last}", shown(argv)) })
    }

    /// Tries `ready` (as the ssh user) until it exits 0, or the deadline.
    async fn wait_ready(&self, what: &str, ready: &[String], started: tokio::time::Instant) -> Result<Option<String>, TargetError> {
        if ready.is_empty() {
            return Ok(None);
        }
        let shell = self.fault_shell()?;
        let words: Vec<&str> = ready.iter().map(String::as_str).collect();
        let mut last = String::new();
        while started.elapsed() < SERVICE_DEADLINE {
            let (code, out, err) = shell.exec(&words).await?;
            if code == 0 {
                return Ok(Some(format!("answering after {:.1}s", started.elapsed().as_secs_f64())));
            }
            last = format!("exit {code}: {}", if err.trim().is_empty() { out.trim() } else { err.trim() });
            tokio::time::sleep(READY_EVERY).await;
        }
        Err(TargetError::Timeout { what: format!("{what} (`{}` on the host, last {last})", shown(ready)), after: SERVICE_DEADLINE })
    }

    /// HyperKitty's URL from this machine, until it answers below 500.
    async fn wait_web(&self, started: tokio::time::Instant) -> Result<Option<String>, TargetError> {
        let Some(web) = crate::target::Target::web(self) else { return Ok(None) };
        let mut last = String::new();
        while started.elapsed() < SERVICE_DEADLINE {
            match web.get("/hyperkitty/").await {
                Ok(page) if page.status < 500 => {
                    return Ok(Some(format!("HyperKitty answers {} after {:.1}s", page.status, started.elapsed().as_secs_f64())))
                }
                Ok(page) => last = format!("{} from {}", page.status, page.url),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(READY_EVERY).await;
        }
        Err(TargetError::Timeout { what: format!("the web side ({last})"), after: SERVICE_DEADLINE })
    }

    fn fault_shell(&self) -> Result<&dyn Shell, TargetError> {
        crate::target::Target::shell(self).ok_or(TargetError::Unsupported(crate::target::Capability::Shell))
    }

    fn commands(&self) -> &FaultCommands {
        &self.config().faults
    }
}

impl Faults for HostsTarget {
    fn stop<'a>(&'a self, service: Service) -> BoxFuture<'a, Result<String, TargetError>> {
        Box::pin(async move {
            // Second guard behind the runner's: a read-only target never acts.
            if !self.config().allow.faults {
                return Err(TargetError::NotAllowed("fault steps".into()));
            }
            let c = self.commands();
            match service {
                Service::Mailman => self.fault_command("stopping Mailman", &c.mailman_stop).await,
                Service::MailmanWeb => self.fault_command("stopping the web side", &c.web_stop).await,
            }
        })
    }

    fn start<'a>(&'a self, service: Service) -> BoxFuture<'a, Result<String, TargetError>> {
        Box::pin(async move {
            if !self.config().allow.faults {
                return Err(TargetError::NotAllowed("fault steps".into()));
            }
            let c = self.commands();
            let t0 = tokio::time::Instant::now();
            let (done, ready) = match service {
                Service::Mailman => {
                    let done = self.fault_command("starting Mailman", &c.mailman_start).await?;
                    (done, self.wait_ready("Mailman", &c.mailman_ready, t0).await?)
                }
                Service::MailmanWeb => {
                    let done = self.fault_command("starting the web side", &c.web_start).await?;
                    let ready = match self.wait_ready("the web side", &c.web_ready, t0).await? {
                        Some(r) => Some(r),
                        None => self.wait_web(t0).await?,
                    };
                    (done, ready)
                }
            };
            Ok(match ready {
                Some(ready) => format!("{done}; {ready}"),
                None => done,
            })
        })
    }

    /// `exim -qff` through the shell (as `become`), counting the queue
    /// before and after with `exim -bpc`.
    fn queue_run<'a>(&'a self, deadline: Duration) -> BoxFuture<'a, Result<String, TargetError>> {
        Box::pin(async move {
            if !self.config().allow.faults {
                return Err(TargetError::NotAllowed("fault steps".into()));
            }
            let shell = self.fault_shell()?;
            let exim = self.commands().exim.as_str();
            let count = |out: &str| out.trim().to_string();
            let (_, before, _) = self.run_privileged(shell, &[exim, "-bpc"], Duration::from_secs(30)).await?;
            let (code, out, err) = self.run_privileged(shell, &[exim, "-qff"], deadline.max(Duration::from_secs(1))).await?;
            if code != 0 {
                let said = if err.trim().is_empty() { out.trim() } else { err.trim() };
                return Err(TargetError::Exec(format!("`{exim} -qff` on the host exited {code}: {said}")));
            }
            let (_, after, _) = self.run_privileged(shell, &[exim, "-bpc"], Duration::from_secs(30)).await?;
            Ok(format!("{} message(s) in the queue before, {} after", count(&before), count(&after)))
        })
    }
}

impl MtaQueue for HostsTarget {
    fn queued<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<Vec<QueuedMessage>, TargetError>> {
        Box::pin(async move {
            let shell = self.fault_shell()?;
            let c = self.commands();
            let paths = &self.config().ssh.as_ref().map(|s| s.paths.clone()).unwrap_or_default();
            match &c.become_user {
                Some(user) => through_shell::exim_queue(&As { shell, user }, shell, &c.exim, &paths.exim_mainlog, keys).await,
                None => through_shell::exim_queue(shell, shell, &c.exim, &paths.exim_mainlog, keys).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    //! The commands a hosts target runs for fault steps, through a
    //! recording shell: no host, no network.
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::target::Target;

    /// Keeps every argv; answers from a list of (program word, reply).
    struct Recording {
        calls: Mutex<Vec<Vec<String>>>,
        replies: Vec<(&'static str, (i64, &'static str, &'static str))>,
    }

    impl Shell for Recording {
        fn exec<'a>(&'a self, argv: &'a [&'a str]) -> BoxFuture<'a, Result<(i64, String, String), TargetError>> {
            self.calls.lock().unwrap().push(argv.iter().map(|a| a.to_string()).collect());
            let joined = argv.join(" ");
            let reply = self.replies.iter().find(|(k, _)| joined.contains(k)).map(|(_, r)| *r).unwrap_or((0, "", ""));
            Box::pin(async move { Ok((reply.0, reply.1.to_string(), reply.2.to_string())) })
        }
    }

    async fn target(extra: &str, replies: Vec<(&'static str, (i64, &'static str, &'static str))>) -> (HostsTarget, Arc<Recording>) {
        let file = format!(
            "name = \"lists.example.test\"\n[smtp]\naddresses = [\"192.0.2.25\"]\n[ssh]\nhost = \"lists.example.test\"\nuser = \"mailflow\"\n{extra}"
        );
        let config = crate::target::hosts::parse_hosts(std::path::Path::new("/etc/mailflow/h.toml"), &file).unwrap_or_else(|e| panic!("{e:?}"));
        // A dry run connects nothing; the recording shell stands in for ssh.
        let shell = Arc::new(Recording { calls: Mutex::new(Vec::new()), replies });
        let t = HostsTarget::connect_with(config, "probe.test", true).await.expect("the target").with_shell(shell.clone());
        (t, shell)
    }

    /// Read-only by default: no fault operations, no queue, nothing run.
    #[tokio::test]
    async fn without_allow_faults_nothing_is_offered_or_run() {
        let (t, shell) = target("", Vec::new()).await;
        assert!(!t.may_fault());
        assert!(t.faults().is_none() && t.mta_queue().is_none());
        // Behind the runner's check, the target's own.
        assert!(matches!(Faults::stop(&t, Service::Mailman).await, Err(TargetError::NotAllowed(_))));
        assert!(matches!(Faults::queue_run(&t, Duration::from_secs(5)).await, Err(TargetError::NotAllowed(_))));
        assert!(shell.calls.lock().unwrap().is_empty());
    }

    /// Debian's commands through `sudo -n -u root --`; after a start, the
    /// ready command (as the ssh user) until it answers.
    #[tokio::test(start_paused = true)]
    async fn debian_commands_through_sudo_and_the_ready_check() {
        let (t, shell) = target("[allow]\nfaults = true\n", vec![("python3", (0, "", ""))]).await;
        assert!(t.may_fault() && t.faults().is_some() && t.mta_queue().is_some());
        let stopped = Faults::stop(&t, Service::Mailman).await.unwrap();
        assert_eq!(stopped, "`systemctl stop mailman3` on the host");
        let started = Faults::start(&t, Service::Mailman).await.unwrap();
        assert!(started.starts_with("`systemctl start mailman3` on the host; answering after "), "{started}");
        Faults::stop(&t, Service::MailmanWeb).await.unwrap();
        let calls = shell.calls.lock().unwrap().clone();
        assert_eq!(calls[0], ["sudo", "-n", "-u", "root", "--", "systemctl", "stop", "mailman3"]);
        assert_eq!(calls[1], ["sudo", "-n", "-u", "root", "--", "systemctl", "start", "mailman3"]);
        assert_eq!(calls[2][..2], ["python3", "-c"]);
        assert_eq!(calls[3], ["sudo", "-n", "-u", "root", "--", "systemctl", "stop", "mailman3-web"]);
    }

    /// The file's own commands, without sudo (`become = false`); a failing
    /// command is an error with its words and what it said; sudo's refusal
    /// names sudo.
    #[tokio::test]
    async fn the_files_commands_and_their_failures() {
        let extra = "[allow]\nfaults = true\n[faults]\nbecome = false\nmailman_stop = [\"/usr/local/bin/mm\", \"stop\"]\nmailman_ready = []\nexim = \"/usr/sbin/exim4\"\n";
        let (t, shell) = target(extra, vec![("mm stop", (3, "", "no such unit")), ("-bpc", (0, "2\n", ""))]).await;
        let err = Faults::stop(&t, Service::Mailman).await.unwrap_err().to_string();
        assert_eq!(err, "command on the list server failed: stopping Mailman: `/usr/local/bin/mm stop` on the host exited 3: no such unit");
        assert_eq!(Faults::queue_run(&t, Duration::from_secs(5)).await.unwrap(), "2 message(s) in the queue before, 2 after");
        let calls = shell.calls.lock().unwrap().clone();
        assert_eq!(calls[0], ["/usr/local/bin/mm", "stop"]);
        assert_eq!(calls[1..], [vec!["/usr/sbin/exim4", "-bpc"], vec!["/usr/sbin/exim4", "-qff"], vec!["/usr/sbin/exim4", "-bpc"]]);

        let (t, _) = target("[allow]\nfaults = true\n", vec![("sudo", (1, "", "sudo: a password is required\n"))]).await;
        let err = Faults::stop(&t, Service::Mailman).await.unwrap_err().to_string();
        assert!(err.contains("`sudo -n -u root -- systemctl` on the host refused"), "{err}");
    }

    /// expect_queued through the shell: `exim -bp`, each listed message's
    /// header file with `-Mvh`, the message log of the probe's own message only.
    #[tokio::test]
    async fn the_queue_through_exims_commands() {
        let listing = " 0m   1.2K 1vP0aB-000123-Xy <alice@probe.test>\n          probe-test@lists.example.test\n\n 2m   500 1vP0aC-000456-Zz <bob@probe.test> *** frozen ***\n          bob@probe.test\n";
        let ours = "1vP0aB-000123-Xy-H\nDebian-exim 101 101\n<alice@probe.test>\n048I Message-ID: <run1.probe1@probe.test>\n";
        let theirs = "1vP0aC-000456-Zz-H\nDebian-exim 101 101\n048I Message-ID: <someone.else@probe.test>\n";
        let log = "2026-11-29 13:50:01.130 probe-test@lists.example.test R=mailman3_router T=mailman3_lmtp defer (111): Connection refused\n";
        let replies = vec![
            (" -bp", (0, listing, "")),
            ("-Mvh 1vP0aB-000123-Xy", (0, ours, "")),
            ("-Mvh 1vP0aC-000456-Zz", (0, theirs, "")),
            ("-Mvl", (0, log, "")),
        ];
        let (t, shell) = target("[allow]\nfaults = true\n", replies).await;
        let keys = ProbeKeys { message_ids: vec!["<run1.probe1@probe.test>".into()], probe_header: None };
        let found = t.mta_queue().unwrap().queued(&keys).await.unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].queue_id, "1vP0aB-000123-Xy");
        assert_eq!(found[0].deferral.as_deref(), Some("probe-test@lists.example.test R=mailman3_router T=mailman3_lmtp defer (111): Connection refused"));
        let calls = shell.calls.lock().unwrap().clone();
        let sudo = ["sudo", "-n", "-u", "root", "--", "exim"];
        assert_eq!(calls[0][..6], sudo);
        assert_eq!(calls[0][6..], ["-bp"]);
        // The youngest first; someone else's message: its log is never read.
        assert_eq!(calls[1][6..], ["-Mvh", "1vP0aB-000123-Xy"]);
        assert_eq!(calls[2][6..], ["-Mvl", "1vP0aB-000123-Xy"]);
        assert_eq!(calls[3][6..], ["-Mvh", "1vP0aC-000456-Zz"]);
        assert_eq!(calls.len(), 4, "{calls:?}");
    }
}
