//! One function per step kind: act or observe, then compare; each yields a
//! [`Verdict`] of rows. Every wait goes through [`within`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::diagnose::{dsn_evidence, never_accepted, where_it_stopped, why_not_archived};
use super::follow;
use super::secs;
use super::verdict::{unsupported, Sent, Verdict};
use crate::check::{within, Hop, HopKind, Look, Row, Stop, Waited};
use crate::exim;
use crate::probe::{self, Probe, ProbeKeys, ProbeSpec, RunId};
use crate::scenario::{
    ArchiveExpectation, ArchiveKind, BounceExpectation, DeliveryExpectation, Fate, FateExpectation, DnsExpectation, HeaderExpectation, HttpExpectation,
    NotArchivedExpectation, NoticeExpectation, PageExpectation, PortExpectation, PortState, RawSendSpec, Scenario,
    SendSpec, SmtpExpectation, SmtpStage, Step, StepKind, Suite, Window,
};
use crate::sink::Received;
use crate::smtp::{self, Envelope, Stage, Timeouts, Transcript};
use crate::target::{Capability, Mailbox, Target, TargetError};
use crate::web::{self, Web};
use crate::{dns, http};

/// What earlier steps left for later ones.
#[derive(Default)]
pub(super) struct State {
    pub last: Option<Sent>,
    /// Every probe Message-ID this scenario sent, for the cleanup.
    pub probe_ids: Vec<String>,
    /// The list ids those probes were sent to, for the cleanup.
    pub list_ids: Vec<String>,
    /// What fault steps changed, to repair at the end.
    pub undo: super::faults::Undo,
    /// Domains `mta_hold` held, to release at the end.
    pub held: super::cutover::Held,
}

pub(super) async fn execute<T: Target + ?Sized>(
    target: &T,
    suite: &Suite,
    scenario: &Scenario,
    step: &Step,
    run: &RunId,
    state: &mut State,
) -> Verdict {
    // Steps about the last probe; the parser already refuses them before any send.
    let last = || state.last.as_ref();
    match &step.kind {
        StepKind::Send(spec) => send(target, suite, scenario, step, spec, run, state).await,
        StepKind::SendRaw(spec) => send_raw(target, suite, scenario, step, spec, run, state).await,
        StepKind::ExpectSmtp(exp) => with_probe(last(), |s| async move { expect_smtp(s, exp) }).await,
        StepKind::ExpectDelivered(exp) => with_probe(last(), |s| expect_delivered(target, s, exp)).await,
        StepKind::ExpectArchived(exp) => with_probe(last(), |s| expect_archived(target, s, exp)).await,
        StepKind::ExpectHeld(exp) => with_probe(last(), |s| super::moderation::expect_held(target, suite, s, exp)).await,
        StepKind::Moderate(m) => with_probe(last(), |s| super::moderation::moderate(target, suite, run, s, m)).await,
        StepKind::ExpectNotDelivered(w) => with_probe(last(), |s| expect_not_delivered(target, s, w)).await,
        StepKind::ExpectNotArchived(exp) => with_probe(last(), |s| expect_not_archived(target, s, exp)).await,
        StepKind::ExpectNotice(exp) => with_probe(last(), |s| expect_notice(target, s, exp)).await,
        StepKind::ExpectShunted(w) => with_probe(last(), |s| expect_shunted(target, s, w)).await,
        StepKind::ExpectBounced(exp) => with_probe(last(), |s| expect_bounced(target, s, exp)).await,
        StepKind::ExpectFate(exp) => with_probe(last(), |s| expect_fate(target, s, exp)).await,
        StepKind::ExpectPage(exp) => expect_page(target, exp).await,
        StepKind::ExpectDigest(exp) => with_probe(last(), |s| super::digest::expect_digest(target, s, exp)).await,
        StepKind::ExpectSettings(exp) => super::settings::expect_settings(target, suite, exp).await,
        StepKind::ExpectPrivate(exp) => with_probe(last(), |s| super::private::expect_private(target, s, exp)).await,
        StepKind::ExpectPort(exp) => expect_port(target, exp).await,
        StepKind::ExpectPorts(exp) => {
            super::ports::expect_ports(target, exp, &tokio::sync::Semaphore::new(super::ports::ATTEMPTS_AT_ONCE)).await
        }
        StepKind::ExpectHttp(exp) => expect_http(target, exp).await,
        StepKind::ExpectDns(exp) => expect_dns(target, exp).await,
        StepKind::Stop(service) => super::faults::stop_or_start(target, *service, false, &mut state.undo).await,
        StepKind::Start(service) => super::faults::stop_or_start(target, *service, true, &mut state.undo).await,
        StepKind::MtaQueueRun(q) => super::faults::queue_run(target, q).await,
        StepKind::SinkFault(f) => super::faults::sink_fault(target, f, &mut state.undo),
        StepKind::ExpectQueued(exp) => with_probe(state.last.as_ref(), |s| super::faults::expect_queued(target, s, exp)).await,
        StepKind::ExpectEveryListAnswers(exp) => super::sweep::expect_every_list_answers(target, suite, scenario, step, run, exp).await,
        StepKind::ExpectMtaQueue(exp) => super::cutover::expect_mta_queue(target, state.last.as_ref(), exp).await,
        StepKind::ExpectMailmanQueues(exp) => super::cutover::expect_mailman_queues(target, exp).await,
        StepKind::ExpectDnsTtl(exp) => super::cutover::expect_dns_ttl(target, exp).await,
        StepKind::ExpectBanner(exp) => super::cutover::expect_banner(target, exp).await,
        StepKind::ExpectOldHost(exp) => super::cutover::expect_old_host(target, exp).await,
        StepKind::ExpectPermissionsClean => super::cutover::expect_permissions_clean(target).await,
        StepKind::MtaHold(domain) => super::cutover::set_hold(target, domain, true, &mut state.held).await,
        StepKind::MtaRelease(domain) => super::cutover::set_hold(target, domain, false, &mut state.held).await,
    }
}

/// What the step would do, as a skipped row; touches neither the network
/// nor the target (`--dry-run`).
pub(super) fn dry_run<T: Target + ?Sized>(target: &T, suite: &Suite, scenario: &Scenario, step: &Step) -> Verdict {
    let would = match &step.kind {
        StepKind::Send(spec) => format!(
            "would send MAIL FROM:<{}> RCPT TO:{} subject {:?} to {} (from {} {})",
            spec.from,
            spec.to.iter().map(|t| format!("<{t}>")).collect::<Vec<_>>().join(","),
            spec.subject,
            target.smtp_addr(),
            scenario.path.display(),
            step.label()
        ),
        StepKind::SendRaw(spec) => format!(
            "would send raw data MAIL FROM:<{}> RCPT TO:{} to {} (probe domain {})",
            spec.from,
            spec.to.iter().map(|t| format!("<{t}>")).collect::<Vec<_>>().join(","),
            target.smtp_addr(),
            suite.probe_domain
        ),
        StepKind::Moderate(m) => format!("would {} this run's probe on {} if held", m.action, m.list),
        StepKind::Stop(s) => format!("would stop {s}"),
        StepKind::Start(s) => format!("would start {s}"),
        StepKind::MtaQueueRun(_) => "would run exim's queue by force (exim -qff)".into(),
        StepKind::MtaHold(d) => format!("would hold mail for {d} in exim's queue"),
        StepKind::MtaRelease(d) => format!("would release mail for {d} and run exim's queue by force"),
        StepKind::ExpectOldHost(e) => format!("would ask the old host MAIL FROM:<{}> RCPT TO:<{}>, then RSET (never DATA)", e.from, e.list),
        other => format!("would check {}", other.key()),
    };
    Verdict::row(Row::skipped(step.kind.key(), "", format!("dry run: {would}")))
}

async fn with_probe<'s, F, Fut>(sent: Option<&'s Sent>, f: F) -> Verdict
where
    F: FnOnce(&'s Sent) -> Fut,
    Fut: std::future::Future<Output = Verdict>,
{
    match sent {
        Some(s) => f(s).await,
        None => Verdict::row(Row::failed("probe", "a probe sent by an earlier step", "no probe was sent before this step")),
    }
}

async fn send<T: Target + ?Sized>(
    target: &T,
    suite: &Suite,
    scenario: &Scenario,
    step: &Step,
    spec: &SendSpec,
    run: &RunId,
    state: &mut State,
) -> Verdict {
    let label = format!("{} {}", scenario.path.display(), step.label());
    let probe_spec = ProbeSpec {
        from: &spec.from,
        to: &spec.to,
        subject: &spec.subject,
        body: spec.body.as_deref(),
        headers: &spec.headers,
        attachments: &spec.attachments,
    };
    let probe = probe::build(run, &suite.probe_domain, &label, &probe_spec);
    submit(target, suite, probe, state).await
}

async fn send_raw<T: Target + ?Sized>(
    target: &T,
    suite: &Suite,
    scenario: &Scenario,
    step: &Step,
    spec: &RawSendSpec,
    run: &RunId,
    state: &mut State,
) -> Verdict {
    let label = format!("{} {}", scenario.path.display(), step.label());
    let probe = probe::build_raw(run, &suite.probe_domain, &label, &spec.from, &spec.to, &spec.data);
    submit(target, suite, probe, state).await
}

/// Sends a built probe and records it for later steps and the cleanup.
async fn submit<T: Target + ?Sized>(target: &T, suite: &Suite, probe: Probe, state: &mut State) -> Verdict {
    state.probe_ids.push(probe.message_id.clone());
    for to in &probe.to {
        if let Some(list) = suite.list(to) {
            if !state.list_ids.contains(&list.list_id()) {
                state.list_ids.push(list.list_id());
            }
        }
    }
    let helo = format!("mailflow.{}", suite.probe_domain);
    let envelope = Envelope { helo: &helo, mail_from: &probe.from, rcpt_to: &probe.to };
    if let Some(pacer) = target.pacer() {
        pacer.wait_turn().await;
    }
    let at = Instant::now();
    let wall = SystemTime::now();
    // Each listed address in turn (IPv4 and IPv6, the old and the new
    // service address), on to the next only when no connection was made:
    // once a server has answered, its answer is the finding, and the probe
    // is never sent twice.
    let addrs = target.smtp_addrs();
    let (addr, sent, unreachable) = send_to_target(target, &envelope, &probe.bytes).await;
    let evidence: Vec<String> = unreachable.iter().map(|e| format!("{e}; tried the next listed address")).collect();
    match sent {
        Ok(transcript) => {
            let expected = format!("{} sent to {addr}", sent_as(&probe));
            let row = Row::passed("SMTP conversation", expected, describe_send(&probe, &transcript)).took(at.elapsed());
            state.last = Some(Sent { probe, transcript, at, wall });
            Verdict { rows: vec![row], evidence, ..Verdict::default() }
        }
        Err(e) => {
            let listed: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
            let expected = format!("{} sent to {}", sent_as(&probe), if listed.len() > 1 { format!("one of {}", listed.join(", ")) } else { addr.to_string() });
            let observed = if unreachable.is_empty() { e.to_string() } else { format!("{}; {e}", unreachable.join("; ")) };
            let stop = Stop::NotSent { error: observed.clone() };
            state.last = Some(Sent { probe, transcript: e.transcript, at, wall });
            Verdict { rows: vec![Row::failed("SMTP conversation", expected, observed)], stop: Some(stop), evidence, ..Verdict::default() }
        }
    }
}

/// Sends one message to the target's SMTP service: each listed address in
/// turn (IPv4 and IPv6, the old and the new service address), on to the
/// next only when no connection was made, so that once a server has
/// answered its answer is the finding and the message is never sent twice.
/// The address last tried, the outcome, and why each earlier one was passed
/// over.
pub(super) async fn send_to_target<T: Target + ?Sized>(
    target: &T,
    envelope: &Envelope<'_>,
    message: &[u8],
) -> (SocketAddr, Result<Transcript, smtp::SendError>, Vec<String>) {
    let addrs = target.smtp_addrs();
    let mut unreachable = Vec::new();
    let mut tried = addrs.iter().copied().peekable();
    loop {
        let addr = tried.next().unwrap_or_else(|| target.smtp_addr());
        let sent = match target.smtp_security() {
            Some(security) => smtp::send_secured(addr, envelope, message, Timeouts::default(), security).await,
            None => smtp::send(addr, envelope, message, Timeouts::default()).await,
        };
        match sent {
            Err(e) if e.kind.is_no_connection() && tried.peek().is_some() => unreachable.push(e.to_string()),
            sent => return (addr, sent, unreachable),
        }
    }
}

fn describe_send(probe: &Probe, t: &Transcript) -> String {
    let fin = t.final_reply().map(|e| format!("{} at {}", e.reply, e.stage)).unwrap_or_default();
    match t.queue_id() {
        Some(q) => format!("{} accepted, exim queue id {q}: {fin}", sent_as(probe)),
        None => format!("{}: {fin}", sent_as(probe)),
    }
}

/// The probe as its sender would name it: its Message-ID, or what it was
/// sent with instead, and its probe header when that is what follows it.
fn sent_as(probe: &Probe) -> String {
    let header = probe.probe_header.as_deref().map(|h| format!(" ({}: {h})", probe::PROBE_HEADER)).unwrap_or_default();
    match probe.sent_message_id.as_deref() {
        Some(id) if id == probe.message_id => probe.message_id.clone(),
        Some("") => format!("probe {} with an empty Message-ID{header}", probe.message_id),
        Some(id) => format!("probe {} with Message-ID {id}{header}", probe.message_id),
        None => format!("probe {} without a Message-ID{header}", probe.message_id),
    }
}

fn stage_of(s: SmtpStage) -> Stage {
    match s {
        SmtpStage::Connect => Stage::Connect,
        SmtpStage::Ehlo => Stage::Ehlo,
        SmtpStage::Mail => Stage::Mail,
        SmtpStage::Rcpt => Stage::Rcpt,
        SmtpStage::Data => Stage::Data,
        SmtpStage::Message => Stage::Message,
    }
}

/// One row per reply at the stage (each RCPT TO has its own).
fn expect_smtp(sent: &Sent, exp: &SmtpExpectation) -> Verdict {
    let t = &sent.transcript;
    let replies: Vec<&smtp::Exchange> = match exp.at {
        Some(stage) => t.at(stage_of(stage)).collect(),
        None => t.final_reply().into_iter().collect(),
    };
    let property = match exp.at {
        Some(s) => format!("reply at {}", s.as_str()),
        None => "final reply".to_string(),
    };
    let expected = match &exp.text_contains {
        Some(n) => format!("{} containing {n:?}", exp.code),
        None => exp.code.to_string(),
    };
    if replies.is_empty() {
        let reached = t.final_reply().map(|e| format!("; the transaction ended at {} with {}", e.stage, e.reply)).unwrap_or_default();
        return Verdict::row(Row::failed(property, expected, format!("no reply there{reached}")));
    }
    let rows = replies
        .iter()
        .map(|e| {
            let ok = e.reply.code == exp.code && exp.text_contains.as_ref().is_none_or(|n| e.reply.text.contains(n.as_str()));
            let cmd = e.command.as_deref().map(|c| format!(" to `{c}`")).unwrap_or_default();
            let observed = format!("{}{cmd} at {}", e.reply, e.stage);
            let row = if ok { Row::passed(&property, &expected, observed) } else { Row::failed(&property, &expected, observed) };
            row.took(e.at)
        })
        .collect();
    Verdict::rows(rows)
}

/// What to ask the mailbox on each look.
#[derive(Clone, Copy)]
enum Query<'q> {
    /// Copies of the probe: by its Message-ID, else by its probe header.
    Copies(&'q Probe),
    /// Messages to this address since the probe was sent.
    To(&'q str, SystemTime),
}

impl Query<'_> {
    async fn ask(self, mailbox: &dyn Mailbox) -> Result<Vec<Arc<Received>>, TargetError> {
        match self {
            Query::Copies(probe) => follow::copies(mailbox, probe).await.map(|c| c.messages),
            Query::To(address, since) => mailbox.received_by(address, since).await,
        }
    }
}

/// Waits on the mailbox, woken by every arrival where it can tell; `check`
/// sees what `query` finds each time.
async fn wait_in_mailbox<T>(
    mailbox: &dyn Mailbox,
    origin: Instant,
    window: Duration,
    query: Query<'_>,
    check: impl FnMut(Vec<Arc<Received>>) -> Option<T>,
) -> Waited<T, TargetError> {
    let check = std::cell::RefCell::new(check);
    within(origin, window, mailbox.arrivals(), || {
        let check = &check;
        async move {
            match query.ask(mailbox).await {
                Ok(ms) => (check.borrow_mut())(ms).map_or(Look::NotYet, Look::Ready),
                Err(e) => Look::Abort(e),
            }
        }
    })
    .await
}

async fn expect_delivered<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &DeliveryExpectation) -> Verdict {
    let expected = format!("{} within {}", exp.to.join(", "), secs(exp.within));
    let Some(mailbox) = target.mailbox() else {
        return unsupported("delivered to", expected, Capability::Mailbox);
    };
    if !sent.transcript.accepted() {
        return never_accepted(target, sent, "delivered to", expected).await;
    }
    let wanted = &exp.to;
    let has_all = |c: &[Arc<Received>]| {
        let got: Vec<&String> = c.iter().flat_map(|m| m.rcpt_to.iter()).collect();
        wanted.iter().all(|w| got.iter().any(|g| g.eq_ignore_ascii_case(w)))
    };
    let waited = wait_in_mailbox(mailbox, sent.at, exp.within, Query::Copies(&sent.probe), |c| has_all(&c).then_some(c)).await;
    let (copies, took) = match waited {
        Waited::Ready { value, after } => (value, after),
        Waited::Aborted(e) => return Verdict::row(Row::failed("delivered to", expected, format!("could not read the mailbox: {e}"))),
        Waited::TimedOut { .. } => {
            let got = follow::copies(mailbox, &sent.probe).await.unwrap_or_default().to();
            let missing: Vec<&str> =
                wanted.iter().filter(|w| !got.iter().any(|g| g.eq_ignore_ascii_case(w))).map(String::as_str).collect();
            let observed = if got.is_empty() {
                "nothing arrived in the mailbox".to_string()
            } else {
                format!("only {} arrived; {} did not", got.join(", "), missing.join(", "))
            };
            let d = where_it_stopped(target, sent).await;
            return Verdict::row(Row::failed("delivered to", expected, observed)).stopped(d);
        }
    };
    let copies = follow::Copies { by_header: !copies.iter().any(|m| m.message_id() == Some(sent.probe.message_id.as_str())), messages: copies };
    let mut observed = copies.to().join(", ");
    if let Some(note) = copies.arrived_as(&sent.probe) {
        observed.push_str(&format!(" ({note})"));
    }
    let copies = copies.messages;
    let mut rows = vec![Row::passed("delivered to", expected, observed).took(took)];
    // Members with a digest or no mail must not get the post as sent: look
    // again at what has arrived by now.
    if !exp.not_to.is_empty() {
        let now = follow::copies(mailbox, &sent.probe).await.map(|c| c.to()).unwrap_or_default();
        for member in &exp.not_to {
            let got = now.iter().any(|g| g.eq_ignore_ascii_case(member));
            let property = format!("no copy to {member}");
            let expected = "none (digest or no-mail member)";
            rows.push(if got {
                Row::failed(property, expected, format!("{member} got the post as sent, though their delivery is a digest or disabled"))
            } else {
                Row::passed(property, expected, "none arrived")
            });
        }
    }
    // Every copy carries the headers the scenario asks for: one row per header.
    for (name, want) in &exp.headers {
        let expected = match want {
            HeaderExpectation::Present => "present".to_string(),
            HeaderExpectation::Absent => "absent".to_string(),
            HeaderExpectation::Contains(s) => format!("contains {s:?}"),
        };
        let property = format!("header {name}");
        let problem = copies.iter().find_map(|m| {
            let p = match (want, m.header(name)) {
                (HeaderExpectation::Present, None) => Some("missing".to_string()),
                (HeaderExpectation::Absent, Some(v)) => Some(format!("present ({v:?})")),
                (HeaderExpectation::Contains(_), None) => Some("missing".to_string()),
                (HeaderExpectation::Contains(s), Some(v)) if !v.contains(s.as_str()) => Some(format!("{v:?}")),
                _ => None,
            };
            p.map(|p| format!("{p} in the copy to {}", m.rcpt_to.join(", ")))
        });
        rows.push(match problem {
            Some(p) => Row::failed(property, expected, p),
            None => {
                let seen = copies.first().and_then(|m| m.header(name)).map(|v| format!("{v:?}")).unwrap_or_else(|| "absent".into());
                Row::passed(property, expected, seen)
            }
        });
    }
    let hops = hops(target, sent, &copies).await;
    Verdict { rows, hops, ..Verdict::default() }
}

/// The probe's hops: from exim's log where the target lets us read it, and
/// the sink's arrival times for each subscriber's copy.
async fn hops<T: Target + ?Sized>(target: &T, sent: &Sent, copies: &[Arc<Received>]) -> Vec<Hop> {
    let mut hops = Vec::new();
    if let Some(log) = target.mta_log() {
        let keys = follow::keys(target, sent).await;
        if let Ok(trace) = log.trace(&keys).await {
            hops.extend(trace.hops(sent.wall));
        }
    }
    for m in copies {
        if let Ok(after) = m.received_at.duration_since(sent.wall) {
            for to in &m.rcpt_to {
                hops.push(Hop { kind: HopKind::Delivered { to: to.clone() }, after });
            }
        }
    }
    hops
}

/// A probe found in an archive: where, and what the archive says of it.
struct Found {
    location: String,
    /// Found in HyperKitty under this Message-ID: its page and record still
    /// need comparing with the probe.
    over_http: Option<String>,
    /// Found in pipermail: what its text file and message page show.
    pipermail: Option<crate::mailman21::pipermail::ArchivedMessage>,
}

/// Why looking in an archive could not give an answer.
enum LookError {
    /// The target lacks what this archive needs.
    Unsupported(String),
    Failed(String),
}

/// Looks once for the probe in one archive of the list, by every
/// Message-ID it is known under and (prototype) by its probe header.
async fn look_in_archive<T: Target + ?Sized>(target: &T, kind: ArchiveKind, list: &str, sent: &Sent) -> Result<Option<Found>, LookError> {
    match kind {
        ArchiveKind::Prototype => {
            let Some(archive) = target.prototype_archive() else {
                return Err(LookError::Unsupported(format!("needs {}", Capability::PrototypeArchive)));
            };
            let keys = follow::keys(target, sent).await;
            match archive.find(list, &keys).await {
                Ok(copy) => Ok(copy.map(|c| Found { location: c.location, over_http: None, pipermail: None })),
                Err(e) => Err(LookError::Failed(format!("could not read the prototype archive: {e}"))),
            }
        }
        ArchiveKind::HyperKitty => {
            let Some(web) = target.web().filter(|w| w.has_hyperkitty()) else {
                return Err(LookError::Unsupported(format!("needs {}", Capability::Web)));
            };
            let keys = follow::keys(target, sent).await;
            for id in &keys.message_ids {
                match web.hyperkitty_email(list, id).await {
                    Ok(Some(_)) => {
                        let page = Web::message_page_path(list, id);
                        return Ok(Some(Found { location: web.url(&page), over_http: Some(id.clone()), pipermail: None }));
                    }
                    Ok(None) => {}
                    Err(e) => return Err(LookError::Failed(format!("could not read HyperKitty: {e}"))),
                }
            }
            Ok(None)
        }
        ArchiveKind::Pipermail => {
            let Some(archive) = target.pipermail() else {
                return Err(LookError::Unsupported(format!("needs {}", Capability::Pipermail)));
            };
            let keys = follow::keys(target, sent).await;
            match archive.find(list, &keys).await {
                Ok(found) => Ok(found.map(|m| Found {
                    location: m.page.as_ref().map_or_else(|| m.text_url.clone(), |(url, _)| url.clone()),
                    over_http: None,
                    pipermail: Some(m),
                })),
                Err(e) => Err(LookError::Failed(format!("could not read the pipermail archive: {e}"))),
            }
        }
    }
}

/// Once pipermail has the probe: its message page exists, and its subject
/// (with the list's prefix), obscured sender and body match what was sent.
fn check_pipermail(sent: &Sent, found: &crate::mailman21::pipermail::ArchivedMessage) -> Vec<Row> {
    let probe = &sent.probe;
    let Some((url, page)) = &found.page else {
        let why = format!("in {}, but no message page of its month links to {}", found.text_url, found.message_id);
        return vec![Row::failed("message page", "a page of the probe", why)];
    };
    let page_row = Row::passed("message page", "a page of the probe", url);
    let subject_expected = format!("contains {:?}", probe.subject);
    let subject = if page.subject.contains(probe.subject.as_str()) {
        Row::passed("archived subject", subject_expected, format!("{:?}", page.subject))
    } else {
        Row::failed("archived subject", subject_expected, format!("{:?}", page.subject))
    };
    let sender = if web::same_address(&page.address, &probe.from) {
        Row::passed("archived sender", &probe.from, &page.address)
    } else {
        Row::failed("archived sender", &probe.from, &page.address)
    };
    let excerpt = body_excerpt(&probe.body);
    let body_expected = format!("contains {excerpt:?}");
    let body = if page.body.contains(excerpt.as_str()) {
        Row::passed("archived body", body_expected, "contains it")
    } else {
        Row::failed("archived body", body_expected, format!("{:?}", web::excerpt(&page.body)))
    };
    vec![page_row, subject, sender, body]
}

/// Once HyperKitty has the probe: its message page answers, and subject,
/// sender and body (from the JSON API) match what was sent. One row each.
async fn check_hyperkitty(web: &Web, list: &str, sent: &Sent, message_id: &str) -> Vec<Row> {
    let probe = &sent.probe;
    let page_path = Web::message_page_path(list, message_id);
    let page_row = match web.get(&page_path).await {
        Ok(page) if page.status == 200 => Row::passed("message page", "200", format!("200 at {}", page.url)),
        Ok(page) => Row::failed("message page", "200", format!("{} at {}: {}", page.status, page.url, web::excerpt(&page.body))),
        Err(e) => Row::failed("message page", "200", format!("no answer: {e}")),
    };
    let email = match web.hyperkitty_email(list, message_id).await {
        Ok(Some(e)) => e,
        Ok(None) => return vec![page_row, Row::failed("JSON API", "the probe", "HyperKitty's JSON API stopped finding the probe")],
        Err(e) => return vec![page_row, Row::failed("JSON API", "the probe", format!("could not read HyperKitty: {e}"))],
    };
    let subject_expected = format!("contains {:?}", probe.subject);
    let subject = if email.subject.contains(probe.subject.as_str()) {
        Row::passed("archived subject", subject_expected, format!("{:?}", email.subject))
    } else {
        Row::failed("archived subject", subject_expected, format!("{:?}", email.subject))
    };
    let sender = if web::same_address(&email.sender_address, &probe.from) {
        Row::passed("archived sender", &probe.from, &email.sender_address)
    } else {
        Row::failed("archived sender", &probe.from, &email.sender_address)
    };
    let excerpt = body_excerpt(&probe.body);
    let body_expected = format!("contains {excerpt:?}");
    let body = match &email.content {
        Some(content) if content.contains(excerpt.as_str()) => Row::passed("archived body", body_expected, "contains it"),
        Some(content) => Row::failed("archived body", body_expected, format!("{:?}", web::excerpt(content))),
        None => Row::failed("archived body", body_expected, format!("the JSON API at {} gives no body", email.api_url)),
    };
    vec![page_row, subject, sender, body]
}

/// The first non-empty line of a body, trimmed: what an archive must show.
fn body_excerpt(body: &str) -> String {
    body.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_string()
}

async fn expect_archived<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &ArchiveExpectation) -> Verdict {
    let property = format!("in the {} archive", exp.archive.as_str());
    let expected = format!("{} within {}", exp.list, secs(exp.within));
    if !sent.transcript.accepted() {
        return never_accepted(target, sent, &property, expected).await;
    }
    let waited = within(sent.at, exp.within, None::<tokio::sync::watch::Receiver<()>>, || async {
        match look_in_archive(target, exp.archive, &exp.list, sent).await {
            Ok(Some(found)) => Look::Ready(found),
            Ok(None) => Look::NotYet,
            Err(e) => Look::Abort(e),
        }
    })
    .await;
    match waited {
        Waited::Ready { value: found, after } => {
            let mut rows = vec![Row::passed(&property, expected, &found.location).took(after)];
            if let Some(id) = &found.over_http {
                let web = target.web().expect("found over HTTP");
                rows.extend(check_hyperkitty(web, &exp.list, sent, id).await);
            }
            if let Some(archived) = &found.pipermail {
                rows.extend(check_pipermail(sent, archived));
            }
            let hops = vec![Hop { kind: HopKind::Archived { archive: exp.archive.as_str().into() }, after }];
            Verdict { rows, hops, ..Verdict::default() }
        }
        Waited::Aborted(LookError::Unsupported(why)) => Verdict::row(Row::skipped(property, expected, why)),
        Waited::Aborted(LookError::Failed(m)) => Verdict::row(Row::failed(property, expected, m)),
        Waited::TimedOut { .. } => {
            let delivered = match target.mailbox() {
                Some(m) => !follow::copies(m, &sent.probe).await.unwrap_or_default().messages.is_empty(),
                None => false,
            };
            if delivered {
                let error = why_not_archived(target, sent, exp.archive, &exp.list).await;
                let observed = match &error {
                    Some(cause) => format!("delivered to subscribers, but never reached the {} archive: {cause}", exp.archive),
                    None => format!(
                        "delivered to subscribers, but never reached the {} archive (Mailman processed it; neither its log nor the list's settings say why)",
                        exp.archive
                    ),
                };
                let stop = Stop::NotArchived { archive: exp.archive.as_str().into(), error };
                Verdict { rows: vec![Row::failed(property, expected, observed)], stop: Some(stop), ..Verdict::default() }
            } else {
                let d = where_it_stopped(target, sent).await;
                Verdict::row(Row::failed(property, expected, "not there")).stopped(d)
            }
        }
    }
}

/// The probe stays out of every named archive until `within` has passed
/// since it was sent, or until Mailman is done archiving it
/// ([`archiving_done`]) and the archive still lacks it: one row per
/// archive. Archives the target cannot read are skipped rows.
async fn expect_not_archived<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &NotArchivedExpectation) -> Verdict {
    let expected = format!("absent from {} for {}", exp.list, secs(exp.within));
    let mut rows: Vec<Row> = Vec::new();
    let mut readable = Vec::new();
    for kind in &exp.archives {
        match look_in_archive(target, *kind, &exp.list, sent).await {
            Err(LookError::Unsupported(why)) => rows.push(Row::skipped(format!("not in the {} archive", kind.as_str()), &expected, why)),
            _ => readable.push(*kind),
        }
    }
    for kind in readable {
        let property = format!("not in the {} archive", kind.as_str());
        let waited = within(sent.at, exp.within, None::<tokio::sync::watch::Receiver<()>>, || async {
            let look = || async {
                match look_in_archive(target, kind, &exp.list, sent).await {
                    Ok(found) => Ok(found),
                    Err(LookError::Unsupported(m) | LookError::Failed(m)) => Err(m),
                }
            };
            match look().await {
                Ok(Some(found)) => return Look::Ready(Err(found)),
                Ok(None) => {}
                Err(m) => return Look::Abort(m),
            }
            let Some(evidence) = archiving_done(target, sent, &exp.list).await else { return Look::NotYet };
            // Looked at again after the evidence, which came after the first look.
            match look().await {
                Ok(Some(found)) => Look::Ready(Err(found)),
                Ok(None) => Look::Ready(Ok(evidence)),
                Err(m) => Look::Abort(m),
            }
        })
        .await;
        rows.push(match waited {
            Waited::Ready { value: Err(found), after } => Row::failed(property, &expected, format!("archived at {}", found.location)).took(after),
            Waited::Ready { value: Ok(evidence), after } => {
                Row::passed(property, &expected, format!("absent after {}, and Mailman is done archiving it: {evidence}", secs(after))).took(after)
            }
            Waited::TimedOut { after } => Row::passed(property, &expected, format!("absent after {}", secs(after))),
            Waited::Aborted(m) => Row::failed(property, &expected, m),
        });
    }
    Verdict::rows(rows)
}

/// Evidence that Mailman's archive runner is done with the probe, so that
/// an archive that lacks it now will not get it later; `None` while that is
/// not known (then a not-archived step waits out its window):
/// - a copy reached a subscriber from the list (envelope sender
///   `<list>-bounces`): Mailman's posting pipeline hands a message to the
///   archive queue (its `to-archive` handler) before the outgoing queue
///   (`to-outgoing`), so whatever archiving it gets was queued by then;
/// - after that copy was seen, Mailman's archive queue is empty: the archive
///   runner renames a message to `.bak` while it works and removes it only
///   after every archiver has had it (the prototype archiver writes its
///   maildir, HyperKitty's archiver has its answer);
/// - the probe waits in no archiver's retry spool: HyperKitty's archiver
///   sends its spooled messages again with every later post, so a spooled
///   probe could still be archived; unless HyperKitty has refused it with
///   an HTTP error on its first try and again on a retry from the spool
///   (`mailman_hyperkitty` logs each try): then HyperKitty refuses the
///   message itself, not for a passing reason such as being down.
async fn archiving_done<T: Target + ?Sized>(target: &T, sent: &Sent, list: &str) -> Option<String> {
    let queues = target.mailman_queues()?;
    let copies = follow::copies(target.mailbox()?, &sent.probe).await.ok()?;
    let (local, domain) = list.rsplit_once('@')?;
    let from_list = |m: &&Arc<Received>| {
        let from = m.mail_from.trim_matches(|c| c == '<' || c == '>').to_ascii_lowercase();
        from.starts_with(&format!("{}-bounces", local.to_ascii_lowercase())) && from.ends_with(&format!("@{}", domain.to_ascii_lowercase()))
    };
    let copy = copies.messages.iter().find(from_list)?;
    if queues.archive_queue_empty().await.ok()? != Some(true) {
        return None;
    }
    let keys = follow::keys(target, sent).await;
    let facts = queues.archiver_failures(&keys).await.ok()?;
    let delivered = copy.received_at.duration_since(sent.wall).map(|d| format!(" {} after sending", secs(d))).unwrap_or_default();
    if let Some(file) = facts.spool_files.first() {
        if facts.refusals < 2 {
            return None;
        }
        let cause = crate::mailman::archiver::failure_cause(&facts.log_entries).unwrap_or_else(|| "an HTTP error".into());
        return Some(format!(
            "HyperKitty refused the probe {} times, its first try and the archiver's retries from its spool ({file}), the last time: {cause}",
            facts.refusals
        ));
    }
    Some(format!(
        "a copy from the list reached {}{delivered} (Mailman queues a post for archiving before it sends it), then its archive queue was empty and no archiver's retry spool held the probe",
        copy.rcpt_to.join(", ")
    ))
}

async fn expect_not_delivered<T: Target + ?Sized>(target: &T, sent: &Sent, w: &Window) -> Verdict {
    let expected = format!("no copy for {}", secs(w.within));
    let Some(mailbox) = target.mailbox() else {
        return unsupported("not delivered", expected, Capability::Mailbox);
    };
    if !sent.transcript.accepted() {
        return Verdict::row(Row::passed("not delivered", expected, "the probe was never accepted"));
    }
    match wait_in_mailbox(mailbox, sent.at, w.within, Query::Copies(&sent.probe), |c| (!c.is_empty()).then_some(c)).await {
        Waited::Ready { value: copies, after } => {
            let to: Vec<String> = copies.iter().flat_map(|m| m.rcpt_to.iter().cloned()).collect();
            Verdict::row(Row::failed("not delivered", expected, format!("delivered to {}", to.join(", "))).took(after))
        }
        Waited::TimedOut { after } => {
            Verdict::row(Row::passed("not delivered", expected, format!("nothing delivered after {}", secs(after))))
        }
        Waited::Aborted(e) => Verdict::row(Row::failed("not delivered", expected, format!("could not read the mailbox: {e}"))),
    }
}

/// The message's text, raw and with each part decoded, for "does it mention".
pub(super) fn texts(m: &Received) -> Vec<String> {
    let mut out = vec![String::from_utf8_lossy(&m.data).into_owned()];
    if let Ok(parsed) = mailparse::parse_mail(&m.data) {
        let mut stack = vec![&parsed];
        while let Some(part) = stack.pop() {
            if let Ok(body) = part.get_body() {
                out.push(body);
            }
            stack.extend(part.subparts.iter());
        }
    }
    out
}

/// A notice about the probe: sent to each of `to` (the sender by default;
/// a role's addresses from the suite) after the probe, not the probe
/// itself, and mentioning the probe's subject or Message-ID. One row per
/// recipient.
async fn expect_notice<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &NoticeExpectation) -> Verdict {
    let recipients = if exp.to.is_empty() { vec![sent.probe.from.clone()] } else { exp.to.clone() };
    let mut verdict = Verdict::default();
    for to in &recipients {
        let one = notice_to(target, sent, exp, to).await;
        verdict.rows.extend(one.rows);
        if verdict.stop.is_none() {
            verdict.stop = one.stop;
            verdict.evidence = one.evidence;
        }
    }
    verdict
}

async fn notice_to<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &NoticeExpectation, to: &str) -> Verdict {
    let property = match &exp.role {
        Some(role) => format!("notice to {role} {to}"),
        None => format!("notice to {to}"),
    };
    let mut wanted = Vec::new();
    if let Some(s) = &exp.subject_contains {
        wanted.push(format!("subject containing {s:?}"));
    }
    if let Some(b) = &exp.body_contains {
        wanted.push(format!("text containing {b:?}"));
    }
    let expected = match wanted.is_empty() {
        true => format!("within {}", secs(exp.within)),
        false => format!("{} within {}", wanted.join(" and "), secs(exp.within)),
    };
    let Some(mailbox) = target.mailbox() else {
        return unsupported(&property, expected, Capability::Mailbox);
    };
    let probe = &sent.probe;
    let bare_id = probe.message_id.trim_start_matches('<').trim_end_matches('>').to_string();
    let is_notice = |m: &Received| {
        let texts = texts(m);
        m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(to))
            && !follow::is_copy(m, probe)
            && m.received_at >= sent.wall
            && exp.subject_contains.as_ref().is_none_or(|s| m.header("Subject").is_some_and(|v| v.contains(s.as_str())))
            && exp.body_contains.as_ref().is_none_or(|b| texts.iter().skip(1).any(|t| t.contains(b.as_str())))
            && texts.iter().any(|t| t.contains(&bare_id) || (!probe.subject.is_empty() && t.contains(probe.subject.as_str())))
    };
    let query = Query::To(to, sent.wall);
    match wait_in_mailbox(mailbox, sent.at, exp.within, query, |ms| ms.into_iter().find(|m| is_notice(m.as_ref()))).await {
        Waited::Ready { value: m, after } => Verdict::row(
            Row::passed(property, expected, format!("from {}: {:?}", m.mail_from, m.header("Subject").unwrap_or(""))).took(after),
        ),
        Waited::TimedOut { .. } => {
            let others: Vec<String> = mailbox
                .received_by(to, sent.wall)
                .await
                .unwrap_or_default()
                .iter()
                .map(|m| format!("{:?}", m.header("Subject").unwrap_or("")))
                .collect();
            let observed = if others.is_empty() {
                format!("nothing reached {to} after the probe was sent")
            } else {
                format!("{to} got only {} (none about this probe with the expected subject and text)", others.join(", "))
            };
            let d = where_it_stopped(target, sent).await;
            Verdict::row(Row::failed(property, expected, observed)).stopped(d)
        }
        Waited::Aborted(e) => Verdict::row(Row::failed(property, expected, format!("could not read the mailbox: {e}"))),
    }
}

async fn expect_shunted<T: Target + ?Sized>(target: &T, sent: &Sent, w: &Window) -> Verdict {
    let expected = format!("in Mailman's shunt queue within {}", secs(w.within));
    if !sent.transcript.accepted() {
        return never_accepted(target, sent, "shunted", expected).await;
    }
    let Some(queues) = target.mailman_queues() else {
        return unsupported("shunted", expected, Capability::MailmanQueues);
    };
    let waited = within(sent.at, w.within, None::<tokio::sync::watch::Receiver<()>>, || async {
        match queues.find(&follow::keys(target, sent).await).await {
            Ok(facts) if facts.shunted() => Look::Ready(facts),
            Ok(_) => Look::NotYet,
            Err(e) => Look::Abort(e),
        }
    })
    .await;
    match waited {
        Waited::Ready { value: facts, after } => {
            let file = facts.queue_files.iter().find(|f| f.contains("/shunt/")).cloned().unwrap_or_default();
            let log = facts.log_lines.iter().rev().find(|l| l.contains("SHUNTING") || l.contains("Error")).or(facts.log_lines.last());
            let mut v = Verdict::row(Row::passed("shunted", expected, &file).took(after));
            v.evidence = log.map(|l| format!("mailman.log: {}", l.trim())).into_iter().collect();
            v
        }
        Waited::Aborted(e) => Verdict::row(Row::failed("shunted", expected, format!("could not look in Mailman's queues: {e}"))),
        Waited::TimedOut { .. } => {
            let d = where_it_stopped(target, sent).await;
            Verdict::row(Row::failed("shunted", expected, "not in the shunt queue")).stopped(d)
        }
    }
}

/// A DSN about the probe reaches its sender within the window: accepted,
/// then bounced. One row for the bounce, one for its status and one for its
/// diagnostic when the step asks for them; the verdict carries the bounce
/// as where the probe stopped, so that the report shows it.
async fn expect_bounced<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &BounceExpectation) -> Verdict {
    let from = sent.probe.from.as_str();
    let property = format!("bounce to {from}");
    let expected = format!("a DSN within {}", secs(exp.within));
    if !sent.transcript.accepted() {
        return never_accepted(target, sent, &property, expected).await;
    }
    let Some(mailbox) = target.mailbox() else {
        return unsupported(&property, expected, Capability::Mailbox);
    };
    let keys = ProbeKeys::of(&sent.probe);
    let query = Query::To(from, sent.wall);
    let find = |ms: Vec<Arc<Received>>| ms.into_iter().find_map(|m| exim::dsn_about(&m, from, &keys).map(|stop| (m, stop)));
    let (dsn, stop, after) = match wait_in_mailbox(mailbox, sent.at, exp.within, query, find).await {
        Waited::Ready { value: (dsn, stop), after } => (dsn, stop, after),
        Waited::Aborted(e) => return Verdict::row(Row::failed(property, expected, format!("could not read the mailbox: {e}"))),
        Waited::TimedOut { .. } => {
            let d = where_it_stopped(target, sent).await;
            let observed = format!("no bounce about the probe reached {from}");
            return Verdict::row(Row::failed(property, expected, observed)).stopped(d);
        }
    };
    let observed = format!("from {}: {:?}", dsn.header("From").unwrap_or("the null sender"), dsn.header("Subject").unwrap_or(""));
    let mut rows = vec![Row::passed(&property, expected, observed).took(after)];
    let Stop::Bounced { status, diagnostic } = &stop else { unreachable!("dsn_about yields bounces") };
    if let Some(want) = &exp.status {
        let observed = status.clone().unwrap_or_else(|| "no status code in the DSN".into());
        let ok = status.as_deref().is_some_and(|s| want.matches(s));
        rows.push(if ok { Row::passed("DSN status", want.to_string(), observed) } else { Row::failed("DSN status", want.to_string(), observed) });
    }
    if let Some(want) = &exp.diagnostic_contains {
        let expected = format!("contains {want:?}");
        let row = if diagnostic.contains(want.as_str()) {
            Row::passed("DSN diagnostic", expected, diagnostic)
        } else {
            Row::failed("DSN diagnostic", expected, diagnostic)
        };
        rows.push(row);
    }
    let mut evidence = vec![dsn_evidence(&dsn, sent)];
    if let Some(log) = target.mta_log() {
        if let Ok(trace) = log.trace(&keys).await {
            evidence.extend(trace.failure().map(|e| format!("exim: {e}")));
        }
    }
    Verdict { rows, stop: Some(stop), evidence, ..Verdict::default() }
}

/// The probe's fate, looked for until it is the expected one or the window
/// has passed: at once for a probe refused at SMTP, as soon as another fate
/// that cannot change shows (refused, delivered, shunted, bounced), and
/// only at the window's end for `lost`.
async fn expect_fate<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &FateExpectation) -> Verdict {
    let expected = format!("{} within {}", exp.fate, secs(exp.within));
    let wake = target.mailbox().and_then(|m| m.arrivals());
    let last = std::cell::RefCell::new(None);
    let waited = within(sent.at, exp.within, wake, || {
        let last = &last;
        async move {
            let d = where_it_stopped(target, sent).await;
            match d.stop.fate() {
                Some(f) if f == exp.fate && f != Fate::Lost => Look::Ready(d),
                Some(f) if f.is_final() => Look::Abort(d),
                None => Look::Abort(d),
                Some(_) => {
                    *last.borrow_mut() = Some(d);
                    Look::NotYet
                }
            }
        }
    })
    .await;
    let (d, after, ok) = match waited {
        Waited::Ready { value, after } => (value, Some(after), true),
        Waited::Aborted(d) => (d, None, false),
        Waited::TimedOut { .. } => {
            let d = last.into_inner().expect("a look that did not end the wait kept its diagnosis");
            let ok = d.stop.fate() == Some(exp.fate);
            (d, None, ok)
        }
    };
    let observed = fate_text(&d.stop);
    let row = if ok { Row::passed("fate", expected, observed) } else { Row::failed("fate", expected, observed) };
    let row = match after {
        Some(after) => row.took(after),
        None => row,
    };
    let mut v = Verdict::row(row).stopped(d);
    if ok && v.stop.as_ref().is_some_and(|s| s.fate() == Some(Fate::Delivered)) {
        // Delivered as expected: the hops say more than the evidence.
        v.evidence.clear();
    }
    v
}

/// A fate in a few words: the fate, then what shows it.
fn fate_text(stop: &Stop) -> String {
    let fate = stop.fate().map_or("never sent", Fate::as_str);
    let detail = match stop {
        Stop::NotSent { error } => error.clone(),
        Stop::RefusedAtSmtp { stage, code, enhanced, text, .. } => {
            let enhanced = enhanced.as_deref().map(|e| format!(" {e}")).unwrap_or_default();
            format!("{code}{enhanced} {text} at {stage}")
        }
        Stop::Bounced { status, diagnostic } => match status {
            Some(s) => format!("{s} {diagnostic}"),
            None => diagnostic.clone(),
        },
        Stop::Held { list, reason, .. } => format!("on {list}: {reason}"),
        Stop::Shunted { queue_file, .. } => queue_file.clone(),
        Stop::Delivered { to } => format!("to {}", to.join(", ")),
        Stop::Archived { archive, .. } => format!("and in the {archive} archive"),
        Stop::NotArchived { archive, .. } => format!("but not in the {archive} archive"),
        Stop::Deferred { log_line, .. } => format!("still deferred in exim's queue: {log_line}"),
        Stop::Frozen { log_line, .. } => format!("frozen in exim's queue: {log_line}"),
        Stop::InMailmanQueue { queues } => format!("still in Mailman's {} queue", queues.join(", ")),
        Stop::Lost => "not refused, held, shunted, bounced or delivered".into(),
    };
    format!("{fate}: {detail}")
}

/// A list's named page answers with the expected status and body, retried
/// until `within` has passed since the step started.
async fn expect_page<T: Target + ?Sized>(target: &T, exp: &PageExpectation) -> Verdict {
    let property = format!("{} page of {}", exp.page, exp.list);
    let expected = match &exp.body_contains {
        Some(n) => format!("{} with a body containing {n:?}", exp.status),
        None => exp.status.to_string(),
    };
    let Some(web) = target.web() else {
        return unsupported(&property, expected, Capability::Web);
    };
    let Some(path) = web.page_path(exp.page, &exp.list) else {
        return Verdict::row(Row::skipped(property, expected, format!("this target's Mailman has no {} page", exp.page)));
    };
    let last = std::cell::RefCell::new(String::new());
    let waited = within(Instant::now(), exp.within, None::<tokio::sync::watch::Receiver<()>>, || {
        let last = &last;
        let path = &path;
        async move {
            match web.get(path).await {
                Ok(page) => {
                    let body_ok = exp.body_contains.as_ref().is_none_or(|n| page.body.contains(n.as_str()));
                    if page.status == exp.status && body_ok {
                        return Look::<_, ()>::Ready(format!("{} at {}", page.status, page.url));
                    }
                    *last.borrow_mut() = format!("{} at {}: {}", page.status, page.url, web::excerpt(&page.body));
                }
                Err(e) => *last.borrow_mut() = format!("did not answer: {e}"),
            }
            Look::NotYet
        }
    })
    .await;
    match waited {
        Waited::Ready { value, after } => Verdict::row(Row::passed(property, expected, value).took(after)),
        _ => Verdict::row(Row::failed(property, format!("{expected} within {}", secs(exp.within)), last.into_inner())),
    }
}

/// One connection attempt from the vantage point, compared with the
/// expected verdict. A vantage point the target lacks skips the step.
async fn expect_port<T: Target + ?Sized>(target: &T, exp: &PortExpectation) -> Verdict {
    let property = format!("{}/{} from {}", exp.port, exp.protocol, exp.vantage);
    let expected = exp.verdict.to_string();
    let Some(reach) = target.reachability() else {
        return unsupported(&property, expected, Capability::Reachability);
    };
    let offered = reach.vantages();
    let no_vantage = |offered: &str| format!("this target offers no vantage point `{}` (it offers {offered})", exp.vantage);
    if !offered.iter().any(|v| v == &exp.vantage) {
        return Verdict::row(Row::skipped(property, expected, no_vantage(&offered.join(", "))));
    }
    let tried = match reach.try_port(&exp.vantage, exp.protocol, exp.port, exp.within).await {
        Ok(tried) => tried,
        Err(TargetError::NoVantage { offered, .. }) => return Verdict::row(Row::skipped(property, expected, no_vantage(&offered))),
        Err(e) => return Verdict::row(Row::failed(property, expected, format!("could not try the port: {e}"))),
    };
    let observed = match tried.attempt.state {
        PortState::Open => format!("open (connected to {} in {})", tried.addr, secs(tried.attempt.took)),
        PortState::Refused => format!("refused ({} reset the connection in {})", tried.addr, secs(tried.attempt.took)),
        PortState::Filtered => format!("filtered (no answer from {} within {})", tried.addr, secs(exp.within)),
    };
    let row = if tried.attempt.state == exp.verdict {
        Row::passed(property, expected, observed)
    } else {
        Row::failed(property, expected, observed)
    };
    Verdict::row(row.took(tried.attempt.took))
}

/// GETs the path until the answer matches or `within` has passed since the
/// step started; a failure shows the last answer (or error) and what differed.
async fn expect_http<T: Target + ?Sized>(target: &T, exp: &HttpExpectation) -> Verdict {
    let Some(endpoint) = target.http_endpoint() else {
        return Verdict::row(Row::skipped(format!("GET {}", exp.path), exp.status.to_string(), "this target offers no web server to check"));
    };
    let url = endpoint.url(exp.scheme, &exp.path);
    let tls_note = match (&endpoint.tls, exp.scheme) {
        (http::TlsTrust::Off, crate::scenario::Scheme::Https) => " (TLS verification off, as the target says)",
        _ => "",
    };
    let property = format!("GET {url} ({}){tls_note}", endpoint.socket(exp.scheme));
    let mut expected = exp.status.to_string();
    if let Some(r) = &exp.redirect_to {
        expected.push_str(&format!(", redirect to {}", http::resolve(&url, r)));
    }
    if let Some(n) = &exp.body_contains {
        expected.push_str(&format!(", body containing {n:?}"));
    }
    let started = Instant::now();
    let last = std::cell::RefCell::new(String::new());
    let waited = within(started, exp.within, None::<tokio::sync::watch::Receiver<()>>, || {
        let last = &last;
        let url = &url;
        async move {
            let remaining = (started + exp.within).saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
            match http::client(endpoint, remaining) {
                Ok(client) => match http::get(&client, url).await {
                    Ok(response) => match http_mismatch(url, exp, &response) {
                        None => {
                            let redirect = response.location.map(|l| format!(", redirect to {l}")).unwrap_or_default();
                            Look::Ready(format!("{}{redirect}", response.status))
                        }
                        Some(problem) => {
                            *last.borrow_mut() = problem;
                            Look::NotYet
                        }
                    },
                    Err(e) => {
                        *last.borrow_mut() = format!("no answer: {e}");
                        Look::NotYet
                    }
                },
                // A client that cannot be built will not be built on a retry either.
                Err(e) => Look::Abort(e.to_string()),
            }
        }
    })
    .await;
    match waited {
        Waited::Ready { value, after } => Verdict::row(Row::passed(property, expected, value).took(after)),
        Waited::Aborted(e) => Verdict::row(Row::failed(property, expected, e)),
        Waited::TimedOut { .. } => Verdict::row(Row::failed(property, format!("{expected} within {}", secs(exp.within)), last.into_inner())),
    }
}

/// What differs between the answer and the expectation, if anything.
fn http_mismatch(url: &str, exp: &HttpExpectation, r: &http::Response) -> Option<String> {
    if r.status != exp.status {
        let redirect = r.location.as_ref().map(|l| format!(" (redirect to {l})")).unwrap_or_default();
        return Some(format!("status {}{redirect}", r.status));
    }
    if let Some(want) = &exp.redirect_to {
        let want = http::resolve(url, want);
        match &r.location {
            None => return Some("no Location header".to_string()),
            Some(got) if *got != want => return Some(format!("a redirect to {got}")),
            Some(_) => {}
        }
    }
    if let Some(needle) = &exp.body_contains {
        if !r.body.contains(needle.as_str()) {
            let mut start: String = r.body.chars().take(200).collect();
            if start.len() < r.body.len() {
                start.push_str("...");
            }
            return Some(format!("a body without {needle:?}; it starts {start:?}"));
        }
    }
    None
}

/// Asks the DNS server until the answer matches or `within` has passed
/// since the step started.
async fn expect_dns<T: Target + ?Sized>(target: &T, exp: &DnsExpectation) -> Verdict {
    let mut expected = match &exp.values {
        Some(v) => {
            let mut v: Vec<String> = v.iter().map(|v| dns::normalize(v)).collect();
            v.sort();
            v.join(", ")
        }
        None => "records".to_string(),
    };
    if let Some(max) = exp.ttl_at_most {
        expected.push_str(&format!(", TTLs of at most {max}s"));
    }
    let Some(server) = exp.server.or_else(|| target.dns_server()) else {
        return Verdict::row(Row::skipped(
            format!("{} {}", exp.name, exp.rtype),
            expected,
            "the step names no `server` and this target offers no DNS server",
        ));
    };
    let property = format!("{} {} at {server}", exp.name, exp.rtype);
    let started = Instant::now();
    let last = std::cell::RefCell::new(String::new());
    let waited = within(started, exp.within, None::<tokio::sync::watch::Receiver<()>>, || {
        let last = &last;
        async move {
            let remaining = (started + exp.within).saturating_duration_since(Instant::now()).max(Duration::from_millis(200));
            match dns::lookup(server, &exp.name, exp.rtype, remaining.min(Duration::from_secs(5))).await {
                Ok(answers) => match dns_mismatch(exp, &answers) {
                    None => Look::<_, ()>::Ready(describe_answers(&answers)),
                    Some(problem) => {
                        *last.borrow_mut() = problem;
                        Look::NotYet
                    }
                },
                Err(e) => {
                    *last.borrow_mut() = e;
                    Look::NotYet
                }
            }
        }
    })
    .await;
    match waited {
        Waited::Ready { value, after } => Verdict::row(Row::passed(property, expected, value).took(after)),
        _ => Verdict::row(Row::failed(property, expected, last.into_inner())),
    }
}

fn describe_answers(answers: &[dns::Answer]) -> String {
    if answers.is_empty() {
        return "no records".into();
    }
    answers.iter().map(|a| format!("{} (TTL {})", a.value, a.ttl)).collect::<Vec<_>>().join(", ")
}

/// What differs between the answers and the expectation, as the observed
/// fact to report, if anything.
fn dns_mismatch(exp: &DnsExpectation, answers: &[dns::Answer]) -> Option<String> {
    let got = describe_answers(answers);
    match &exp.values {
        None if answers.is_empty() => return Some("no records".into()),
        None => {}
        Some(values) => {
            let mut want: Vec<String> = values.iter().map(|v| dns::normalize(v)).collect();
            let mut have: Vec<String> = answers.iter().map(|a| a.value.clone()).collect();
            want.sort();
            have.sort();
            if want != have {
                return Some(got);
            }
        }
    }
    if let Some(max) = exp.ttl_at_most {
        if let Some(a) = answers.iter().find(|a| a.ttl > max) {
            return Some(format!("TTL {} for {} ({got})", a.ttl, a.value));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Outcome;

    /// The step's verdict as the runner will judge it, and its text.
    fn judged(v: &Verdict) -> (Outcome, String) {
        let step = crate::run::StepResult {
            key: "test",
            label: "test".into(),
            location: crate::scenario::Location { file: "t.toml".into(), line: 1, column: 1 },
            rows: v.rows.clone(),
            stop: v.stop.clone(),
            evidence: v.evidence.clone(),
            hops: v.hops.clone(),
            duration: Duration::ZERO,
        };
        let text = match step.outcome() {
            Outcome::Failed => crate::report::human::failure(&step),
            _ => step.rows.iter().map(|r| format!("{}: {}", r.property, r.observed)).collect::<Vec<_>>().join("; "),
        };
        (step.outcome(), text)
    }
    use crate::reach::Attempt;
    use crate::scenario::Protocol;
    use crate::target::{BoxFuture, PortAttempt, OUTSIDE};
    use crate::probe::ProbeSpec;
    use crate::scenario::PageKind;
    use std::net::SocketAddr;

    fn sent() -> Sent {
        let to = vec!["probe-test@lists.example.test".to_string()];
        let spec = ProbeSpec { from: "alice@probe.test", to: &to, subject: "s", body: None, headers: &[], attachments: &[] };
        Sent { probe: probe::build(&RunId::new(), "probe.test", "t", &spec), transcript: Transcript::default(), at: Instant::now(), wall: SystemTime::now() }
    }

    #[tokio::test]
    async fn web_steps_are_skipped_without_a_web_side() {
        let page = PageExpectation {
            list: "probe-test@lists.example.test".into(),
            page: PageKind::ListInfo,
            status: 200,
            body_contains: None,
            within: Duration::from_secs(1),
        };
        let (outcome, _) = judged(&expect_page(&OutsideOnly(PortState::Open), &page).await);
        assert!(matches!(&outcome, Outcome::Skipped(why) if why.contains("HyperKitty and Postorius")), "{outcome:?}");

        let not = NotArchivedExpectation {
            list: "probe-test@lists.example.test".into(),
            archives: ArchiveKind::ALL.to_vec(),
            within: Duration::from_millis(10),
        };
        let (outcome, _) = judged(&expect_not_archived(&OutsideOnly(PortState::Open), &sent(), &not).await);
        assert!(matches!(&outcome, Outcome::Skipped(why) if why.contains("prototype archive")), "{outcome:?}");
        match look_in_archive(&OutsideOnly(PortState::Open), ArchiveKind::HyperKitty, "probe-test@lists.example.test", &sent()).await {
            Err(LookError::Unsupported(why)) => assert!(why.contains("web side"), "{why}"),
            _ => panic!("expected unsupported"),
        }
    }

    /// A target with only a mailbox of fixed messages.
    struct MailboxOnly(crate::run::follow::tests::Held);

    impl Target for MailboxOnly {
        fn describe(&self) -> String {
            "mailbox only".into()
        }
        fn probe_domain(&self) -> &str {
            "probe.test"
        }
        fn smtp_addr(&self) -> SocketAddr {
            "127.0.0.1:25".parse().unwrap()
        }
        fn mailbox(&self) -> Option<&dyn Mailbox> {
            Some(&self.0)
        }
    }

    /// Exim's bounce to the probe's sender, with the probe's headers returned.
    fn dsn(sent: &Sent) -> Arc<Received> {
        let head = String::from_utf8_lossy(&sent.probe.bytes).split("\r\n\r\n").next().unwrap_or_default().to_string();
        let data = format!(
            "From: Mail Delivery System <Mailer-Daemon@lists.example.test>\r\nTo: {0}\r\nSubject: Mail delivery failed: returning message to sender\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n\r\nThe following address(es) failed:\r\n\r\n  probe-pitfalls@lists.example.test\r\n    host 127.0.0.1 [127.0.0.1]\r\n    LMTP error after DATA: 501 Message has defects\r\n\r\n--b\r\nContent-type: message/delivery-status\r\n\r\nAction: failed\r\nStatus: 5.0.0\r\nDiagnostic-Code: smtp; 501 Message has defects\r\n\r\n--b\r\nContent-type: text/rfc822-headers\r\n\r\n{head}\r\n--b--\r\n",
            sent.probe.from
        );
        Arc::new(Received::for_test("", &[sent.probe.from.as_str()], data.as_bytes()))
    }

    #[tokio::test]
    async fn a_bounce_is_expected_checked_and_its_fate_named() {
        use crate::run::follow::tests::{list_copy, odd_probe, Held};
        use crate::scenario::StatusPattern;
        let sent = odd_probe();
        let target = MailboxOnly(Held(vec![dsn(&sent)]));
        let exp = |status: Option<StatusPattern>, diagnostic: Option<&str>| BounceExpectation {
            status,
            diagnostic_contains: diagnostic.map(String::from),
            within: Duration::from_millis(50),
        };
        let v = expect_bounced(&target, &sent, &exp(Some(StatusPattern { class: 5, subject: None, detail: None }), Some("Message has defects"))).await;
        let (outcome, text) = judged(&v);
        assert_eq!(outcome, Outcome::Passed, "{text}");
        assert_eq!(v.rows.len(), 3);
        assert!(matches!(&v.stop, Some(Stop::Bounced { status: Some(s), .. }) if s == "5.0.0"), "{:?}", v.stop);

        let v = expect_bounced(&target, &sent, &exp(Some(StatusPattern { class: 4, subject: None, detail: None }), Some("no such user"))).await;
        let (outcome, text) = judged(&v);
        assert_eq!(outcome, Outcome::Failed);
        assert!(text.contains("DSN status: expected 4.x.x, observed 5.0.0"), "{text}");
        assert!(text.contains("DSN diagnostic: expected contains \"no such user\", observed smtp; 501 Message has defects"), "{text}");

        let fate = |fate| FateExpectation { fate, within: Duration::from_millis(50) };
        let (outcome, text) = judged(&expect_fate(&target, &sent, &fate(Fate::Bounced)).await);
        assert_eq!(outcome, Outcome::Passed, "{text}");
        let (outcome, text) = judged(&expect_fate(&target, &sent, &fate(Fate::Delivered)).await);
        assert_eq!(outcome, Outcome::Failed);
        assert!(text.contains("fate: expected delivered within 0.05s, observed bounced: 5.0.0 smtp; 501 Message has defects"), "{text}");

        // Delivered, by the probe header; no bounce.
        let delivered = MailboxOnly(Held(vec![list_copy(&sent, &["pat@probe.test"])]));
        let (outcome, text) = judged(&expect_fate(&delivered, &sent, &fate(Fate::Delivered)).await);
        assert_eq!(outcome, Outcome::Passed, "{text}");
        let (outcome, text) = judged(&expect_bounced(&delivered, &sent, &exp(None, None)).await);
        assert_eq!(outcome, Outcome::Failed);
        assert!(text.contains("no bounce about the probe reached db@probe.test; the probe: delivered to pat@probe.test"), "{text}");

        // Nothing at all: lost once the window has passed.
        let nothing = MailboxOnly(Held(Vec::new()));
        let (outcome, text) = judged(&expect_fate(&nothing, &sent, &fate(Fate::Lost)).await);
        assert_eq!(outcome, Outcome::Passed, "{text}");
    }

    /// A target that lists several SMTP addresses, like a hosts target
    /// during a migration.
    struct Addresses(Vec<SocketAddr>);

    impl Target for Addresses {
        fn describe(&self) -> String {
            "addresses".into()
        }
        fn probe_domain(&self) -> &str {
            "probe.test"
        }
        fn smtp_addr(&self) -> SocketAddr {
            self.0[0]
        }
        fn smtp_addrs(&self) -> Vec<SocketAddr> {
            self.0.clone()
        }
    }

    /// A send goes on to the next listed address only when no connection
    /// was made; the row names the address that took the probe, the
    /// evidence the ones that could not be reached.
    #[tokio::test]
    async fn a_send_tries_each_listed_address_until_one_connects() {
        let sink = crate::sink::Sink::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        // A port nobody listens on: connecting is refused.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let suite = crate::scenario::parse_suite(std::path::Path::new("suite.toml"), "probe_domain = \"probe.test\"\n").unwrap();
        let to = vec!["alice@probe.test".to_string()];
        let spec = ProbeSpec { from: "bob@probe.test", to: &to, subject: "s", body: None, headers: &[], attachments: &[] };
        let mut state = State { last: None, probe_ids: Vec::new(), list_ids: Vec::new(), undo: Default::default(), held: Default::default() };

        let probe = probe::build(&RunId::new(), "probe.test", "t", &spec);
        let id = probe.message_id.clone();
        let v = submit(&Addresses(vec![closed, sink.addr()]), &suite, probe, &mut state).await;
        let (outcome, text) = judged(&v);
        assert_eq!(outcome, Outcome::Passed, "{text}");
        assert_eq!(v.rows[0].expected, format!("{id} sent to {}", sink.addr()));
        assert_eq!(v.evidence.len(), 1, "{:?}", v.evidence);
        assert!(v.evidence[0].starts_with(&format!("could not connect to {closed}: ")), "{:?}", v.evidence);
        assert!(v.evidence[0].ends_with("; tried the next listed address"), "{:?}", v.evidence);
        let arrived = crate::check::within(Instant::now(), Duration::from_secs(5), None::<tokio::sync::watch::Receiver<()>>, || async {
            if sink.copies_of(&id).is_empty() { Look::NotYet } else { Look::<(), ()>::Ready(()) }
        })
        .await;
        assert!(matches!(arrived, Waited::Ready { .. }), "the probe reached the second address");

        // None connects: one failed row naming every address tried.
        let probe = probe::build(&RunId::new(), "probe.test", "t", &spec);
        let v = submit(&Addresses(vec![closed, closed]), &suite, probe, &mut state).await;
        let (outcome, _) = judged(&v);
        assert_eq!(outcome, Outcome::Failed);
        assert!(v.rows[0].expected.ends_with(&format!("sent to one of {closed}, {closed}")), "{}", v.rows[0].expected);
        assert_eq!(v.rows[0].observed.matches(&format!("could not connect to {closed}")).count(), 2, "{}", v.rows[0].observed);
    }

    #[test]
    fn body_excerpt_is_the_first_non_empty_line() {
        assert_eq!(body_excerpt("\n  Hello there.  \nmore"), "Hello there.");
        assert_eq!(body_excerpt(""), "");
    }

    /// A stand-in target that offers only "outside", like a hosts target
    /// will, answers every port with a fixed state, and has neither sink,
    /// archives nor web side: steps that need them are skipped.
    struct OutsideOnly(PortState);

    impl Target for OutsideOnly {
        fn describe(&self) -> String {
            "outside only".into()
        }
        fn probe_domain(&self) -> &str {
            "probe.test"
        }
        fn smtp_addr(&self) -> SocketAddr {
            "127.0.0.1:25".parse().unwrap()
        }
        fn reachability(&self) -> Option<&dyn crate::target::Reachability> {
            Some(self)
        }
    }

    impl crate::target::Reachability for OutsideOnly {
        fn vantages(&self) -> Vec<String> {
            vec![OUTSIDE.into()]
        }
        fn try_port<'a>(&'a self, _: &'a str, _: Protocol, port: u16, deadline: Duration) -> BoxFuture<'a, Result<PortAttempt, TargetError>> {
            let state = self.0;
            Box::pin(async move {
                let took = if state == PortState::Filtered { deadline } else { Duration::from_millis(1) };
                Ok(PortAttempt { attempt: Attempt { state, took }, addr: SocketAddr::new([192, 0, 2, 25].into(), port) })
            })
        }
    }

    fn port(vantage: &str, verdict: PortState) -> PortExpectation {
        PortExpectation { port: 8001, protocol: Protocol::Tcp, vantage: vantage.into(), verdict, within: Duration::from_secs(2) }
    }

    #[tokio::test]
    async fn port_verdicts() {
        let (outcome, detail) = judged(&expect_port(&OutsideOnly(PortState::Filtered), &port("outside", PortState::Filtered)).await);
        assert_eq!(outcome, Outcome::Passed);
        assert_eq!(detail, "8001/tcp from outside: filtered (no answer from 192.0.2.25:8001 within 2.00s)");

        let (outcome, text) = judged(&expect_port(&OutsideOnly(PortState::Open), &port("outside", PortState::Filtered)).await);
        assert_eq!(outcome, Outcome::Failed);
        assert_eq!(text, "8001/tcp from outside: expected filtered, observed open (connected to 192.0.2.25:8001 in 0.00s)");

        let (outcome, _) = judged(&expect_port(&OutsideOnly(PortState::Open), &port("bastion", PortState::Open)).await);
        assert_eq!(
            outcome,
            Outcome::Skipped("this target offers no vantage point `bastion` (it offers outside)".into())
        );
    }

    #[tokio::test]
    async fn web_and_dns_need_the_target_to_offer_them() {
        let http = HttpExpectation {
            scheme: crate::scenario::Scheme::Https,
            path: "/".into(),
            status: 200,
            body_contains: None,
            redirect_to: None,
            within: Duration::from_secs(1),
        };
        let (outcome, _) = judged(&expect_http(&OutsideOnly(PortState::Open), &http).await);
        assert!(matches!(outcome, Outcome::Skipped(_)), "{outcome:?}");
        let dns = DnsExpectation {
            name: "lists.example.test".into(),
            rtype: crate::scenario::DnsType::Mx,
            values: None,
            ttl_at_most: None,
            server: None,
            within: Duration::from_secs(1),
        };
        let (outcome, _) = judged(&expect_dns(&OutsideOnly(PortState::Open), &dns).await);
        assert!(matches!(outcome, Outcome::Skipped(_)), "{outcome:?}");
    }

    #[test]
    fn dns_answers_compare_as_sets_and_ttls_as_limits() {
        let exp = DnsExpectation {
            name: "lists.example.test".into(),
            rtype: crate::scenario::DnsType::A,
            values: Some(vec!["192.0.2.26".into(), "192.0.2.25".into()]),
            ttl_at_most: Some(300),
            server: None,
            within: Duration::from_secs(1),
        };
        let a = |value: &str, ttl| dns::Answer { value: value.into(), ttl };
        assert_eq!(dns_mismatch(&exp, &[a("192.0.2.25", 300), a("192.0.2.26", 60)]), None);
        assert_eq!(
            dns_mismatch(&exp, &[a("192.0.2.25", 3600), a("192.0.2.26", 60)]).as_deref(),
            Some("TTL 3600 for 192.0.2.25 (192.0.2.25 (TTL 3600), 192.0.2.26 (TTL 60))")
        );
        assert_eq!(
            dns_mismatch(&exp, &[a("192.0.2.25", 300)]).as_deref(),
            Some("192.0.2.25 (TTL 300)")
        );
    }
}
