//! Fault steps: stop and start services, force a queue run, make the sink
//! refuse a recipient; and `expect_queued`, the probe waiting in exim's
//! queue. Whatever a scenario broke and did not repair is repaired when it
//! ends ([`undo`]).

use super::diagnose::{never_accepted, where_it_stopped};
use super::follow;
use super::secs;
use super::verdict::{unsupported, Sent, Verdict};
use crate::check::{within, Look, Row, Waited};
use crate::exim::QueuedMessage;
use crate::scenario::{QueueRun, QueuedExpectation, Service, SinkFault};
use crate::sink::RcptFault;
use crate::target::{Capability, Faults, Target};

/// What a scenario's fault steps changed and did not change back yet.
#[derive(Debug, Default)]
pub(super) struct Undo {
    stopped: Vec<Service>,
    sink_faults: bool,
}

/// The target's fault operations, or the verdict that skips the step: not
/// allowed by the target file, or not offered.
fn faults<'t, T: Target + ?Sized>(target: &'t T, property: &str, expected: &str) -> Result<&'t dyn Faults, Box<Verdict>> {
    if !target.may_fault() {
        return Err(Box::new(Verdict::row(Row::skipped(
            property,
            expected,
            "the target file does not allow fault steps (`[allow] faults = true`)",
        ))));
    }
    target.faults().ok_or_else(|| Box::new(unsupported(property, expected.to_string(), Capability::Faults)))
}

/// `stop = "mailman"` (`start` when `start` is true): done, and waited for.
pub(super) async fn stop_or_start<T: Target + ?Sized>(target: &T, service: Service, start: bool, undo: &mut Undo) -> Verdict {
    let (property, expected) = if start { (format!("start {service}"), "answering") } else { (format!("stop {service}"), "stopped") };
    let f = match faults(target, &property, expected) {
        Ok(f) => f,
        Err(skipped) => return *skipped,
    };
    let t0 = tokio::time::Instant::now();
    let done = if start { f.start(service).await } else { f.stop(service).await };
    match done {
        Ok(what) => {
            undo.stopped.retain(|s| *s != service);
            if !start {
                undo.stopped.push(service);
            }
            Verdict::row(Row::passed(property, expected, what).took(t0.elapsed()))
        }
        Err(crate::target::TargetError::Unsupported(c)) => unsupported(&property, expected.to_string(), c),
        Err(e) => {
            if !start {
                // It may be half down: start it again at the end.
                undo.stopped.push(service);
            }
            Verdict::row(Row::failed(property, expected, e.to_string()))
        }
    }
}

/// `mta_queue_run = {}`: `exim -qff`, waited for.
pub(super) async fn queue_run<T: Target + ?Sized>(target: &T, run: &QueueRun) -> Verdict {
    let property = "exim -qff";
    let expected = format!("a forced queue run, ended within {}", secs(run.within));
    let f = match faults(target, property, &expected) {
        Ok(f) => f,
        Err(skipped) => return *skipped,
    };
    let t0 = tokio::time::Instant::now();
    match f.queue_run(run.within).await {
        Ok(what) => Verdict::row(Row::passed(property, expected, what).took(t0.elapsed())),
        Err(e) => Verdict::row(Row::failed(property, expected, e.to_string())),
    }
}

/// `sink_fault = { to, reply, times }`: the sink answers RCPT TO for one
/// recipient with the reply until the count runs out or the scenario ends.
pub(super) fn sink_fault<T: Target + ?Sized>(target: &T, fault: &SinkFault, undo: &mut Undo) -> Verdict {
    let property = format!("the sink's answer to RCPT TO:<{}>", fault.to);
    let reply = format!("{} {}", fault.code, fault.text).trim_end().to_string();
    let expected = match fault.times {
        Some(1) => format!("{reply}, once"),
        Some(n) => format!("{reply}, {n} times"),
        None => format!("{reply}, until the scenario ends"),
    };
    let f = match faults(target, &property, &expected) {
        Ok(f) => f,
        Err(skipped) => return *skipped,
    };
    let Some(policy) = f.sink_faults() else {
        return Verdict::row(Row::skipped(property, expected, "this target delivers to a real mailbox, not to a sink of its own"));
    };
    policy.set(RcptFault { address: fault.to.clone(), reply, left: fault.times });
    undo.sink_faults = true;
    Verdict::row(Row::passed(property, expected, "set"))
}

/// Starts what the scenario left stopped and clears the sink's faults;
/// one row per repair, none when there was nothing to repair.
pub(super) async fn undo<T: Target + ?Sized>(target: &T, undo: &Undo) -> Vec<Row> {
    let mut rows = Vec::new();
    let Some(f) = target.faults() else { return rows };
    if undo.sink_faults {
        if let Some(policy) = f.sink_faults() {
            let n = policy.clear();
            rows.push(Row::passed("the sink's faults", "cleared", format!("{n} cleared")));
        }
    }
    for service in &undo.stopped {
        let property = format!("{service} left stopped");
        rows.push(match f.start(*service).await {
            Ok(what) => Row::passed(property, "started again", what),
            Err(e) => Row::failed(property, "started again", e.to_string()),
        });
    }
    rows
}

/// The most recent probe waits in exim's queue within the window, deferred
/// for the expected reason. Looks in the queue itself, not the log.
pub(super) async fn expect_queued<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &QueuedExpectation) -> Verdict {
    let property = "in exim's queue";
    let mut expected = "deferred".to_string();
    if let Some(r) = &exp.reason_contains {
        expected.push_str(&format!(" for a reason containing {r:?}"));
    }
    expected.push_str(&format!(" within {}", secs(exp.within)));
    if !sent.transcript.accepted() {
        return never_accepted(target, sent, property, expected).await;
    }
    let Some(queue) = target.mta_queue() else {
        return unsupported(property, expected, Capability::MtaQueue);
    };
    let keys = follow::keys(target, sent).await;
    let last: std::cell::RefCell<Vec<QueuedMessage>> = Default::default();
    let waited = within(sent.at, exp.within, None::<tokio::sync::watch::Receiver<()>>, || async {
        match queue.queued(&keys).await {
            Ok(found) => {
                let fits = found.iter().find(|m| {
                    m.deferral.as_deref().is_some_and(|d| exp.reason_contains.as_deref().is_none_or(|r| d.contains(r)))
                });
                if let Some(m) = fits {
                    return Look::Ready(m.clone());
                }
                *last.borrow_mut() = found;
                Look::NotYet
            }
            Err(e) => Look::Abort(e),
        }
    })
    .await;
    match waited {
        Waited::Ready { value: m, after } => Verdict::row(Row::passed(property, expected, describe(&m)).took(after)),
        Waited::Aborted(e) => Verdict::row(Row::failed(property, expected, format!("could not read exim's queue: {e}"))),
        Waited::TimedOut { .. } => {
            let seen = last.into_inner();
            let observed = if seen.is_empty() {
                "not in exim's queue".to_string()
            } else {
                seen.iter().map(describe).collect::<Vec<_>>().join("; ")
            };
            let d = where_it_stopped(target, sent).await;
            Verdict::row(Row::failed(property, expected, observed)).stopped(d)
        }
    }
}

/// `1vP0aB-000123-Xy (queued 0m): <exim's == line>`.
fn describe(m: &QueuedMessage) -> String {
    let frozen = if m.frozen { ", frozen" } else { "" };
    match &m.deferral {
        Some(d) => format!("{} (queued {}{frozen}): {d}", m.queue_id, m.age),
        None => format!("{} (queued {}{frozen}), not tried yet", m.queue_id, m.age),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::*;
    use crate::check::Outcome;

    /// A target with no fault operations; `allowed` as a target file's `[allow] faults`.
    struct NoFaults {
        allowed: bool,
    }

    impl Target for NoFaults {
        fn describe(&self) -> String {
            "no faults".into()
        }
        fn probe_domain(&self) -> &str {
            "probe.test"
        }
        fn smtp_addr(&self) -> SocketAddr {
            "127.0.0.1:25".parse().unwrap()
        }
        fn may_fault(&self) -> bool {
            self.allowed
        }
    }

    fn outcome(v: &Verdict) -> Outcome {
        v.rows[0].outcome.clone()
    }

    #[tokio::test]
    async fn fault_steps_are_skipped_unless_allowed_and_offered() {
        let mut undo = Undo::default();
        let forbidden = NoFaults { allowed: false };
        let v = stop_or_start(&forbidden, Service::Mailman, false, &mut undo).await;
        assert_eq!(outcome(&v), Outcome::Skipped("the target file does not allow fault steps (`[allow] faults = true`)".into()));
        let v = queue_run(&forbidden, &QueueRun { within: Duration::from_secs(1) }).await;
        assert!(matches!(outcome(&v), Outcome::Skipped(_)));

        let allowed = NoFaults { allowed: true };
        let v = stop_or_start(&allowed, Service::Mailman, false, &mut undo).await;
        assert_eq!(outcome(&v), Outcome::Skipped(format!("needs {}", Capability::Faults)));
        let fault = SinkFault { to: "bob@probe.test".into(), code: 451, text: "4.3.0 later".into(), times: Some(1) };
        assert!(matches!(outcome(&sink_fault(&allowed, &fault, &mut undo)), Outcome::Skipped(_)));
        assert!(undo.stopped.is_empty() && !undo.sink_faults, "nothing was changed: {undo:?}");
        assert!(super::undo(&allowed, &undo).await.is_empty());
    }

    /// A skipped fault step skips the rest of its scenario, each step naming
    /// why: after it, the server was never broken, so a probe would prove
    /// nothing (and nothing is sent).
    #[tokio::test]
    async fn after_a_skipped_fault_step_the_rest_is_skipped_and_named() {
        let suite = crate::scenario::parse_suite(
            std::path::Path::new("suite.toml"),
            "probe_domain = \"probe.test\"\n[[list]]\nname = \"probe-test\"\ndomain = \"lists.example.test\"\nmembers = [\"alice@probe.test\"]\n",
        )
        .unwrap();
        let scenario = crate::scenario::parse_scenario(
            std::path::Path::new("down.toml"),
            "name = \"down\"\nlist = \"probe-test\"\n[[step]]\nstop = \"mailman\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_smtp = 250\n\
             [[step]]\nexpect_queued = { within = \"1s\" }\n[[step]]\nstart = \"mailman\"\n",
            &suite,
        )
        .unwrap();
        let run = crate::probe::RunId::new();
        let r = crate::run::run_scenario(&NoFaults { allowed: false }, &suite, &scenario, &run, &|_| {}).await;
        let why = "the target file does not allow fault steps (`[allow] faults = true`)";
        assert_eq!(r.steps[0].outcome(), Outcome::Skipped(why.into()));
        for step in &r.steps[1..] {
            let Outcome::Skipped(reason) = step.outcome() else { panic!("{} was not skipped: {:?}", step.key, step.rows) };
            assert_eq!(reason, format!("not run: {} was skipped ({why})", r.steps[0].label), "{}", step.key);
        }
        assert_eq!(r.steps.len(), 5, "stop, send, expect_smtp, expect_queued, start: {:?}", r.steps.iter().map(|s| s.key).collect::<Vec<_>>());
        assert!(crate::probe::issued_ids(&run).is_empty(), "nothing was sent");
    }
}
