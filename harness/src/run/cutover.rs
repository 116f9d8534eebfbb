//! Cutover steps: the MTA's queue, Mailman's queues and held counts, DNS
//! TTLs, the SMTP banner per address family, the old host's refusal,
//! Mailman's permission check; and the hold switch (`mta_hold`,
//! `mta_release`). One row per fact; a step the target cannot do is
//! skipped with the reason. A domain a scenario held and did not release
//! is released when it ends ([`undo`]).

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::follow;
use super::secs;
use super::verdict::{unsupported, Sent, Verdict};
use crate::check::{within, Look, Outcome, Row, Waited};
use crate::scenario::{
    BannerExpectation, DnsTtlExpectation, MailmanQueuesExpectation, MtaQueueExpectation, OldHostExpectation,
};
use crate::smtp::{self, Envelope, Stage, Timeouts};
use crate::target::cutover::{Cutover, QueueSummary};
use crate::target::{Capability, Target, TargetError};

/// How long a release's forced queue run may take.
const RELEASE_QUEUE_RUN: Duration = Duration::from_secs(60);

/// Domains a scenario held and did not release yet.
#[derive(Debug, Default)]
pub(super) struct Held {
    domains: Vec<String>,
}

/// The target's cutover facts, or the verdict that skips the step.
fn cutover_of<'t, T: Target + ?Sized>(target: &'t T, property: &str, expected: &str) -> Result<&'t dyn Cutover, Box<Verdict>> {
    target.cutover().ok_or_else(|| Box::new(unsupported(property, expected.to_string(), Capability::Cutover)))
}

/// A failed read as rows: skipped when the target lacks what it needs,
/// failed otherwise, one per expected fact.
fn read_failed(facts: &[(String, String)], what: &str, e: &TargetError) -> Vec<Row> {
    facts
        .iter()
        .map(|(property, expected)| match e {
            TargetError::Unsupported(c) => Row::skipped(property, expected, format!("needs {c}")),
            TargetError::NotAllowed(why) => Row::skipped(property, expected, format!("the target file does not allow {why}")),
            other => Row::failed(property, expected, format!("could not read {what}: {other}")),
        })
        .collect()
}

/// Looks with `look` until every row passes or the window has passed;
/// the last look's rows. An error that cannot change (a capability the
/// target lacks) ends the wait at once.
async fn until_all_pass<F, Fut>(window: Duration, mut look: F) -> Vec<Row>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Vec<Row>, Vec<Row>>>,
{
    let origin = Instant::now();
    let last: RefCell<Vec<Row>> = RefCell::new(Vec::new());
    let waited = within(origin, window, None::<tokio::sync::watch::Receiver<()>>, || {
        let fut = look();
        let last = &last;
        async move {
            match fut.await {
                Ok(rows) if rows.iter().all(|r| r.outcome == Outcome::Passed) => Look::Ready(rows),
                Ok(rows) => {
                    *last.borrow_mut() = rows;
                    Look::NotYet
                }
                Err(rows) => Look::Abort(rows),
            }
        }
    })
    .await;
    match waited {
        Waited::Ready { value, after } => value.into_iter().map(|r| r.took(after)).collect(),
        Waited::Aborted(rows) => rows,
        Waited::TimedOut { .. } => last.into_inner(),
    }
}

/// Whether a read error can change on the next look.
fn lasting(e: &TargetError) -> bool {
    matches!(e, TargetError::Unsupported(_) | TargetError::NotAllowed(_))
}

/// `expect_mta_queue`: count, frozen and oldest of exim's whole queue; with
/// `holds_domain`, the most recent probe waits there and reached no mailbox.
pub(super) async fn expect_mta_queue<T: Target + ?Sized>(target: &T, sent: Option<&Sent>, exp: &MtaQueueExpectation) -> Verdict {
    let mut facts: Vec<(String, String)> = Vec::new();
    if let Some(max) = exp.max {
        facts.push(("messages in the MTA's queue".into(), format!("at most {max}")));
    }
    if let Some(max) = exp.frozen {
        facts.push(("frozen messages in the MTA's queue".into(), format!("at most {max}")));
    }
    if let Some(oldest) = exp.oldest {
        facts.push(("the MTA queue's oldest message".into(), format!("waited at most {}", age(oldest))));
    }
    let summary_facts = facts.clone();
    if let Some(domain) = &exp.holds_domain {
        facts.push((format!("mail for {domain}"), "held: the probe waits in the MTA's queue, delivered to nobody".into()));
    }
    let Some(cutover) = target.cutover() else {
        let (p, e) = facts.first().cloned().unwrap_or_default();
        return unsupported(&p, e, Capability::Cutover);
    };
    let rows = until_all_pass(exp.within, || async {
        let mut rows = Vec::new();
        if !summary_facts.is_empty() {
            match cutover.mta_queue_summary().await {
                Ok(summary) => rows.extend(summary_rows(&summary, exp, &summary_facts)),
                Err(e) if lasting(&e) => return Err(read_failed(&facts, "exim's queue", &e)),
                Err(e) => rows.extend(read_failed(&summary_facts, "exim's queue", &e)),
            }
        }
        if let Some(domain) = &exp.holds_domain {
            let (property, expected) = facts.last().cloned().unwrap_or_default();
            rows.push(holds_row(target, sent, domain, property, expected).await);
        }
        Ok(rows)
    })
    .await;
    Verdict::rows(rows)
}

fn summary_rows(s: &QueueSummary, exp: &MtaQueueExpectation, facts: &[(String, String)]) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut facts = facts.iter();
    if let Some(max) = exp.max {
        let (p, e) = facts.next().cloned().unwrap_or_default();
        let observed = format!("{} message(s)", s.count);
        rows.push(if s.count as u64 <= max { Row::passed(p, e, observed) } else { Row::failed(p, e, observed) });
    }
    if let Some(max) = exp.frozen {
        let (p, e) = facts.next().cloned().unwrap_or_default();
        let observed = if s.frozen.is_empty() {
            "none frozen".to_string()
        } else {
            format!("{} frozen: {}", s.frozen.len(), s.frozen.join(", "))
        };
        rows.push(if s.frozen.len() as u64 <= max { Row::passed(p, e, observed) } else { Row::failed(p, e, observed) });
    }
    if let Some(limit) = exp.oldest {
        let (p, e) = facts.next().cloned().unwrap_or_default();
        rows.push(match &s.oldest {
            None => Row::passed(p, e, "the queue is empty"),
            Some((waited, id)) if *waited <= limit => Row::passed(p, e, format!("{id}, waiting {}", age(*waited))),
            Some((waited, id)) => Row::failed(p, e, format!("{id}, waiting {}", age(*waited))),
        });
    }
    rows
}

/// The probe sent to `domain` waits in the MTA's queue and no copy reached
/// the mailbox.
async fn holds_row<T: Target + ?Sized>(target: &T, sent: Option<&Sent>, domain: &str, property: String, expected: String) -> Row {
    let Some(sent) = sent else {
        return Row::failed(property, expected, "no probe was sent before this step");
    };
    let suffix = format!("@{}", domain.to_ascii_lowercase());
    if !sent.probe.to.iter().any(|t| t.to_ascii_lowercase().ends_with(&suffix)) {
        return Row::failed(property, expected, format!("the probe went to {}, not to {domain}", sent.probe.to.join(", ")));
    }
    if !sent.transcript.accepted() {
        let reply = sent.transcript.final_reply().map(|e| format!("{} {}", e.reply.code, e.reply.text)).unwrap_or_default();
        return Row::failed(property, expected, format!("the probe was not accepted: {reply}"));
    }
    let Some(queue) = target.mta_queue() else {
        return Row::skipped(property, expected, format!("needs {}", Capability::MtaQueue));
    };
    let keys = follow::keys(target, sent).await;
    let queued = match queue.queued(&keys).await {
        Ok(q) => q,
        Err(e) => return Row::failed(property, expected, format!("could not read exim's queue: {e}")),
    };
    let delivered = match target.mailbox() {
        Some(mb) => match mb.copies(&sent.probe.message_id).await {
            Ok(c) => Some(c.iter().flat_map(|m| m.rcpt_to.clone()).collect::<Vec<_>>()),
            Err(e) => return Row::failed(property, expected, format!("could not read the mailbox: {e}")),
        },
        None => None,
    };
    let in_queue = queued.iter().map(|m| format!("{} (queued {}{})", m.queue_id, m.age, if m.frozen { ", frozen" } else { "" })).collect::<Vec<_>>();
    match (in_queue.is_empty(), delivered) {
        (true, Some(to)) if !to.is_empty() => Row::failed(property, expected, format!("not in the queue: delivered to {}", to.join(", "))),
        (true, _) => Row::failed(property, expected, "not in the MTA's queue, and no copy delivered yet"),
        (false, Some(to)) if !to.is_empty() => {
            Row::failed(property, expected, format!("{} in the queue, but a copy was delivered to {}", in_queue.join(", "), to.join(", ")))
        }
        (false, Some(_)) => Row::passed(property, expected, format!("{} in the queue; no copy delivered", in_queue.join(", "))),
        (false, None) => Row::passed(property, expected, format!("{} in the queue (this target has no mailbox to confirm no delivery)", in_queue.join(", "))),
    }
}

/// `expect_mailman_queues`: each named queue folder empty, and every list
/// holding fewer than `held_below` messages.
pub(super) async fn expect_mailman_queues<T: Target + ?Sized>(target: &T, exp: &MailmanQueuesExpectation) -> Verdict {
    let queue_facts: Vec<(String, String)> = exp.empty.iter().map(|q| (format!("Mailman's {q} queue"), "empty".to_string())).collect();
    let held_fact = exp.held_below.map(|n| ("held messages per list".to_string(), format!("fewer than {n} on every list")));
    let Some(cutover) = target.cutover() else {
        let (p, e) = queue_facts.first().cloned().or(held_fact).unwrap_or_default();
        return unsupported(&p, e, Capability::Cutover);
    };
    let rows = until_all_pass(exp.within, || async {
        let mut rows = Vec::new();
        if !exp.empty.is_empty() {
            match cutover.mailman_queue_files(&exp.empty).await {
                Ok(folders) => {
                    for ((property, expected), folder) in queue_facts.iter().zip(folders) {
                        rows.push(if folder.missing {
                            Row::passed(property, expected, format!("{} does not exist", folder.path))
                        } else if folder.files.is_empty() {
                            Row::passed(property, expected, format!("{} is empty", folder.path))
                        } else {
                            let shown: Vec<&str> = folder.files.iter().take(5).map(String::as_str).collect();
                            let more = if folder.files.len() > 5 { ", ..." } else { "" };
                            Row::failed(property, expected, format!("{} file(s) in {}: {}{more}", folder.files.len(), folder.path, shown.join(", ")))
                        });
                    }
                }
                Err(e) if lasting(&e) => return Err(read_failed(&queue_facts, "Mailman's queues", &e)),
                Err(e) => rows.extend(read_failed(&queue_facts, "Mailman's queues", &e)),
            }
        }
        if let (Some(limit), Some((property, expected))) = (exp.held_below, held_fact.clone()) {
            rows.push(match cutover.held_counts().await {
                Ok(counts) => {
                    let over: Vec<String> = counts.iter().filter(|(_, n)| *n >= limit).map(|(l, n)| format!("{l}: {n}")).collect();
                    let most = counts.iter().max_by_key(|(_, n)| *n);
                    if over.is_empty() {
                        let observed = match most {
                            Some((l, n)) if *n > 0 => format!("{} list(s); the most held: {n} on {l}", counts.len()),
                            _ => format!("{} list(s), none holds a message", counts.len()),
                        };
                        Row::passed(property, expected, observed)
                    } else {
                        Row::failed(property, expected, format!("{} list(s) at or over the limit: {}", over.len(), over.join(", ")))
                    }
                }
                Err(e) => read_failed(&[(property, expected)], "the held counts", &e).remove(0),
            });
        }
        Ok(rows)
    })
    .await;
    Verdict::rows(rows)
}

/// `expect_dns_ttl`: one row per record (or one for the whole answer when
/// there is none or the server does not answer).
pub(super) async fn expect_dns_ttl<T: Target + ?Sized>(target: &T, exp: &DnsTtlExpectation) -> Verdict {
    let expected = format!("TTL at most {}s", exp.max.as_secs());
    let Some(server) = exp.server.or_else(|| target.dns_server()) else {
        return Verdict::row(Row::skipped(
            format!("{} {}", exp.name, exp.rtype),
            expected,
            "the step names no `server` and this target offers no DNS server",
        ));
    };
    let max = u32::try_from(exp.max.as_secs()).unwrap_or(u32::MAX);
    let rows = until_all_pass(exp.within, || async {
        let whole = format!("{} {} at {server}", exp.name, exp.rtype);
        let timeout = exp.within.clamp(Duration::from_millis(200), Duration::from_secs(5));
        Ok(match crate::dns::lookup(server, &exp.name, exp.rtype, timeout).await {
            Err(e) => vec![Row::failed(whole, expected.clone(), e)],
            Ok(answers) if answers.is_empty() => vec![Row::failed(whole, expected.clone(), "no records")],
            Ok(answers) => answers
                .iter()
                .map(|a| {
                    let property = format!("{} {} {} at {server}", exp.name, exp.rtype, a.value);
                    let observed = format!("TTL {}s", a.ttl);
                    if a.ttl <= max {
                        Row::passed(property, expected.clone(), observed)
                    } else {
                        Row::failed(property, expected.clone(), observed)
                    }
                })
                .collect(),
        })
    })
    .await;
    Verdict::rows(rows)
}

/// `expect_banner`: every SMTP address of each family greets with 220 (and
/// the text); a family the target lists no address for is skipped.
pub(super) async fn expect_banner<T: Target + ?Sized>(target: &T, exp: &BannerExpectation) -> Verdict {
    let expected = match &exp.contains {
        Some(text) => format!("220 containing {text:?}"),
        None => "220".to_string(),
    };
    let addrs = target.smtp_addrs();
    let timeouts = Timeouts { connect: exp.within, reply: exp.within };
    let mut rows = Vec::new();
    for family in &exp.families {
        let of_family: Vec<SocketAddr> = addrs.iter().filter(|a| family.holds(a)).copied().collect();
        if of_family.is_empty() {
            let listed: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
            rows.push(Row::skipped(
                format!("SMTP banner over {family}"),
                expected.clone(),
                format!("the target lists no {family} SMTP address (it lists {})", listed.join(", ")),
            ));
            continue;
        }
        for addr in of_family {
            let property = format!("SMTP banner at {addr}");
            let t0 = Instant::now();
            rows.push(match smtp::greeting(addr, timeouts).await {
                Ok(t) => match t.exchanges.first() {
                    Some(g) => {
                        let observed = format!("{} {}", g.reply.code, g.reply.text);
                        let fits = g.reply.code == 220 && exp.contains.as_deref().is_none_or(|c| g.reply.text.contains(c));
                        if fits { Row::passed(property, expected.clone(), observed).took(t0.elapsed()) } else { Row::failed(property, expected.clone(), observed) }
                    }
                    None => Row::failed(property, expected.clone(), "no greeting"),
                },
                Err(e) => Row::failed(property, expected.clone(), e.to_string()),
            });
        }
    }
    Verdict::rows(rows)
}

/// `expect_old_host`: each of the old host's SMTP addresses is asked MAIL
/// FROM and RCPT TO the list, then RSET and QUIT (never DATA).
pub(super) async fn expect_old_host<T: Target + ?Sized>(target: &T, exp: &OldHostExpectation) -> Verdict {
    let expected = if exp.refuses {
        format!("RCPT TO:<{}> not accepted (refused, deferred, or no SMTP service)", exp.list)
    } else {
        format!("RCPT TO:<{}> accepted (the old host still takes the list's mail)", exp.list)
    };
    let cutover = match cutover_of(target, "the old host", &expected) {
        Ok(c) => c,
        Err(skipped) => return *skipped,
    };
    let old = cutover.old_smtp();
    if old.is_empty() {
        return Verdict::row(Row::skipped(
            "the old host",
            expected,
            "the target names no old host (a target file's `[cutover] old_smtp`)",
        ));
    }
    let rcpts = vec![exp.list.clone()];
    let env = Envelope { helo: "mailflow.invalid", mail_from: &exp.from, rcpt_to: &rcpts };
    let timeouts = Timeouts { connect: exp.within, reply: exp.within };
    let mut rows = Vec::new();
    for addr in old {
        let property = format!("the old host {addr}");
        let t0 = Instant::now();
        let (accepted, observed) = match smtp::try_rcpt(addr, &env, timeouts).await {
            Ok(t) => old_host_answer(&t),
            Err(e) if e.kind.is_no_connection() => (false, format!("no SMTP service: {e}")),
            Err(e) => {
                rows.push(Row::failed(property, expected.clone(), format!("the conversation broke off: {e}")));
                continue;
            }
        };
        rows.push(if accepted != exp.refuses {
            Row::passed(property, expected.clone(), observed).took(t0.elapsed())
        } else {
            Row::failed(property, expected.clone(), observed)
        });
    }
    Verdict::rows(rows)
}

/// Whether RCPT TO was accepted, and the reply that says so (or the
/// refusal at an earlier stage).
fn old_host_answer(t: &smtp::Transcript) -> (bool, String) {
    let rcpt = t.at(Stage::Rcpt).next();
    match rcpt {
        Some(e) if e.reply.is_positive() => (true, format!("accepted at RCPT TO: {} {}", e.reply.code, e.reply.text)),
        Some(e) => (false, format!("refused at RCPT TO: {} {}", e.reply.code, e.reply.text)),
        None => match t.exchanges.last() {
            Some(e) => (false, format!("refused at {}: {} {}", e.stage, e.reply.code, e.reply.text)),
            None => (false, "no reply".into()),
        },
    }
}

/// `expect_permissions_clean`: Mailman's permission check finds nothing.
pub(super) async fn expect_permissions_clean<T: Target + ?Sized>(target: &T) -> Verdict {
    let property = "Mailman's permissions";
    let expected = "no problems";
    let cutover = match cutover_of(target, property, expected) {
        Ok(c) => c,
        Err(skipped) => return *skipped,
    };
    let t0 = Instant::now();
    match cutover.permissions().await {
        Ok(p) if p.total == 0 => Verdict::row(Row::passed(property, expected, format!("{}: no problems", p.checked)).took(t0.elapsed())),
        Ok(p) => {
            let more = if p.total > p.problems.len() { format!(" (and {} more)", p.total - p.problems.len()) } else { String::new() };
            Verdict::row(Row::failed(property, expected, format!("{}: {} problem(s): {}{more}", p.checked, p.total, p.problems.join("; "))))
        }
        Err(e) => Verdict::rows(read_failed(&[(property.to_string(), expected.to_string())], "Mailman's permissions", &e)),
    }
}

/// `mta_hold` (`hold`) or `mta_release`: only where fault steps may run.
pub(super) async fn set_hold<T: Target + ?Sized>(target: &T, domain: &str, hold: bool, held: &mut Held) -> Verdict {
    let (property, expected) = if hold {
        (format!("mail for {domain}"), "held in the MTA's queue".to_string())
    } else {
        (format!("mail for {domain}"), format!("released, and a forced queue run ended within {}", secs(RELEASE_QUEUE_RUN)))
    };
    if !target.may_fault() {
        return Verdict::row(Row::skipped(property, expected, "the target file does not allow fault steps (`[allow] faults = true`)"));
    }
    let cutover = match cutover_of(target, &property, &expected) {
        Ok(c) => c,
        Err(skipped) => return *skipped,
    };
    let t0 = Instant::now();
    match cutover.set_hold(domain, hold, RELEASE_QUEUE_RUN).await {
        Ok(what) => {
            held.domains.retain(|d| d != domain);
            if hold {
                held.domains.push(domain.to_string());
            }
            Verdict::row(Row::passed(property, expected, what).took(t0.elapsed()))
        }
        Err(e) => {
            if hold {
                // It may be half written: release it at the end.
                held.domains.push(domain.to_string());
            }
            Verdict::rows(read_failed(&[(property, expected)], "the hold switch", &e))
        }
    }
}

/// Releases what the scenario held and did not release; one row each.
pub(super) async fn undo<T: Target + ?Sized>(target: &T, held: &Held) -> Vec<Row> {
    let mut rows = Vec::new();
    let Some(cutover) = target.cutover() else { return rows };
    for domain in &held.domains {
        let property = format!("mail for {domain} left held");
        rows.push(match cutover.set_hold(domain, false, RELEASE_QUEUE_RUN).await {
            Ok(what) => Row::passed(property, "released", what),
            Err(e) => Row::failed(property, "released", e.to_string()),
        });
    }
    rows
}

/// A duration as exim and operators write ages: `45s`, `25m`, `2h`, `3d`.
fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 if s.is_multiple_of(60) => format!("{}m", s / 60),
        3600..86_400 if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s >= 86_400 && s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ => secs(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Family;

    #[test]
    fn queue_rows_name_what_is_wrong() {
        let exp = MtaQueueExpectation { max: Some(0), frozen: Some(0), oldest: Some(Duration::from_secs(3600)), holds_domain: None, within: Duration::ZERO };
        let summary = QueueSummary {
            count: 2,
            frozen: vec!["1vP0aC-000456-Zz".into()],
            oldest: Some((Duration::from_secs(2 * 86_400), "1vP0aD-000789-Ab".into())),
        };
        let facts = vec![("a".to_string(), "x".to_string()), ("b".into(), "y".into()), ("c".into(), "z".into())];
        let rows = summary_rows(&summary, &exp, &facts);
        let seen: Vec<(&str, &Outcome)> = rows.iter().map(|r| (r.observed.as_str(), &r.outcome)).collect();
        assert_eq!(
            seen,
            vec![
                ("2 message(s)", &Outcome::Failed),
                ("1 frozen: 1vP0aC-000456-Zz", &Outcome::Failed),
                ("1vP0aD-000789-Ab, waiting 2d", &Outcome::Failed),
            ]
        );
        let rows = summary_rows(&QueueSummary::default(), &exp, &facts);
        assert!(rows.iter().all(|r| r.outcome == Outcome::Passed), "{rows:?}");
    }

    /// A target with SMTP on IPv4 only and no cutover facts.
    struct V4Only;

    impl Target for V4Only {
        fn describe(&self) -> String {
            "v4".into()
        }
        fn probe_domain(&self) -> &str {
            "probe.test"
        }
        fn smtp_addr(&self) -> SocketAddr {
            // Nothing listens on port 9 of loopback: the v4 row fails fast.
            "127.0.0.1:9".parse().unwrap()
        }
    }

    #[tokio::test]
    async fn a_family_without_an_address_is_skipped_with_the_reason() {
        let exp = BannerExpectation { contains: Some("ESMTP".into()), families: vec![Family::Ipv4, Family::Ipv6], within: Duration::from_secs(2) };
        let v = expect_banner(&V4Only, &exp).await;
        assert_eq!(v.rows.len(), 2);
        assert_eq!(v.rows[0].property, "SMTP banner at 127.0.0.1:9");
        assert_eq!(v.rows[0].outcome, Outcome::Failed);
        assert_eq!(v.rows[1].outcome, Outcome::Skipped("the target lists no ipv6 SMTP address (it lists 127.0.0.1:9)".into()));
    }

    #[tokio::test]
    async fn without_cutover_facts_every_step_is_skipped() {
        let old = OldHostExpectation { refuses: true, list: "l@lists.test".into(), from: "a@probe.test".into(), within: Duration::from_secs(1) };
        assert!(matches!(expect_old_host(&V4Only, &old).await.rows[0].outcome, Outcome::Skipped(_)));
        assert!(matches!(expect_permissions_clean(&V4Only).await.rows[0].outcome, Outcome::Skipped(_)));
        let mut held = Held::default();
        assert!(matches!(set_hold(&V4Only, "lists.test", true, &mut held).await.rows[0].outcome, Outcome::Skipped(_)));
        assert!(held.domains.is_empty());
    }

    #[test]
    fn ages_as_operators_write_them() {
        assert_eq!(age(Duration::from_secs(45)), "45s");
        assert_eq!(age(Duration::from_secs(1500)), "25m");
        assert_eq!(age(Duration::from_secs(7200)), "2h");
        assert_eq!(age(Duration::from_secs(3 * 86_400)), "3d");
    }
}
