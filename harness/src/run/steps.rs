//! One function per step kind: act or observe, then compare.

use std::time::{Duration, Instant};

use super::diagnose::where_it_stopped;
use super::events::Outcome;
use super::secs;
use crate::probe::{self, Probe, ProbeSpec, RunId};
use crate::scenario::{
    ArchiveExpectation, DeliveryExpectation, DnsExpectation, HeaderExpectation, HttpExpectation, PortExpectation, PortState, Scenario, SendSpec,
    SmtpExpectation, SmtpStage, Step, StepKind, Suite,
};
use crate::sink::Received;
use crate::smtp::{self, Envelope, Stage, Timeouts, Transcript};
use crate::target::{Capability, Target, TargetError};
use crate::web;
use crate::dns;

/// How often observers without notifications (archives) look again.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// What earlier steps left for later ones.
#[derive(Default)]
pub(super) struct State {
    pub last: Option<Sent>,
}

/// A probe that was sent, with everything exim said.
pub(super) struct Sent {
    pub probe: Probe,
    pub transcript: Transcript,
    pub at: Instant,
}

type Verdict = (Outcome, Option<String>);

pub(super) async fn execute<T: Target + ?Sized>(
    target: &T,
    suite: &Suite,
    scenario: &Scenario,
    step: &Step,
    run: &RunId,
    state: &mut State,
) -> Verdict {
    match &step.kind {
        StepKind::Send(spec) => send(target, suite, scenario, step, spec, run, state).await,
        StepKind::ExpectSmtp(exp) => match &state.last {
            Some(sent) => expect_smtp(sent, exp),
            None => no_probe(),
        },
        StepKind::ExpectDelivered(exp) => match &state.last {
            Some(sent) => expect_delivered(target, sent, exp).await,
            None => no_probe(),
        },
        StepKind::ExpectArchived(exp) => match &state.last {
            Some(sent) => expect_archived(target, sent, exp).await,
            None => no_probe(),
        },
        StepKind::ExpectPort(exp) => expect_port(target, exp).await,
        StepKind::ExpectHttp(exp) => expect_http(target, exp).await,
        StepKind::ExpectDns(exp) => expect_dns(target, exp).await,
    }
}

/// The parser rejects expectations before any send; this only guards the invariant.
fn no_probe() -> Verdict {
    (Outcome::Failed("no probe was sent before this step".into()), None)
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
    };
    let probe = probe::build(run, &suite.probe_domain, &label, &probe_spec);
    let helo = format!("mailflow.{}", suite.probe_domain);
    let envelope = Envelope { helo: &helo, mail_from: &probe.from, rcpt_to: &probe.to };
    let at = Instant::now();
    match smtp::send(target.smtp_addr(), &envelope, &probe.bytes, Timeouts::default()).await {
        Ok(transcript) => {
            let detail = describe_send(&probe, &transcript);
            state.last = Some(Sent { probe, transcript, at });
            (Outcome::Passed, Some(detail))
        }
        Err(e) => {
            let msg = format!("sending {} to {}: {e}", probe.message_id, target.smtp_addr());
            state.last = Some(Sent { probe, transcript: e.transcript, at });
            (Outcome::Failed(msg), None)
        }
    }
}

fn describe_send(probe: &Probe, t: &Transcript) -> String {
    let fin = t.final_reply().map(|e| format!("{} at {}", e.reply, e.stage)).unwrap_or_default();
    match t.queue_id() {
        Some(q) => format!("{} accepted, exim queue id {q}: {fin}", probe.message_id),
        None => format!("{}: {fin}", probe.message_id),
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

fn expect_smtp(sent: &Sent, exp: &SmtpExpectation) -> Verdict {
    let t = &sent.transcript;
    let replies: Vec<&smtp::Exchange> = match exp.at {
        Some(stage) => t.at(stage_of(stage)).collect(),
        None => t.final_reply().into_iter().collect(),
    };
    let where_ = exp.at.map(|s| format!("at {}", s.as_str())).unwrap_or_else(|| "as the final reply".into());
    if replies.is_empty() {
        let reached = t.final_reply().map(|e| format!("; the transaction ended at {} with {}", e.stage, e.reply)).unwrap_or_default();
        return (Outcome::Failed(format!("expected {} {where_}, but there was no reply there{reached}", exp.code)), None);
    }
    for e in &replies {
        let code_ok = e.reply.code == exp.code;
        let text_ok = exp.text_contains.as_ref().is_none_or(|needle| e.reply.text.contains(needle.as_str()));
        if !(code_ok && text_ok) {
            let wanted = match &exp.text_contains {
                Some(n) => format!("{} containing {n:?}", exp.code),
                None => exp.code.to_string(),
            };
            let cmd = e.command.as_deref().map(|c| format!(" to `{c}`")).unwrap_or_default();
            return (Outcome::Failed(format!("expected {wanted} {where_}, got {}{cmd} at {}", e.reply, e.stage)), None);
        }
    }
    let observed = replies.iter().map(|e| format!("{} at {}", e.reply, e.stage)).collect::<Vec<_>>().join("; ");
    (Outcome::Passed, Some(observed))
}

async fn expect_delivered<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &DeliveryExpectation) -> Verdict {
    let Some(sink) = target.sink() else {
        return (Outcome::Skipped(format!("needs {}", Capability::Sink)), None);
    };
    if !sent.transcript.accepted() {
        let why = where_it_stopped(target, sent).await;
        return (Outcome::Failed(format!("the probe was never accepted, so nothing can be delivered: {why}")), None);
    }
    let id = sent.probe.message_id.clone();
    let remaining = exp.within.saturating_sub(sent.at.elapsed());
    let copies = |ms: &[std::sync::Arc<Received>]| -> Vec<std::sync::Arc<Received>> {
        ms.iter().filter(|m| m.message_id() == Some(id.as_str())).cloned().collect()
    };
    let wanted = &exp.to;
    let waited = sink
        .wait_for(remaining, |ms| {
            let c = copies(ms);
            let got: Vec<&String> = c.iter().flat_map(|m| m.rcpt_to.iter()).collect();
            wanted.iter().all(|w| got.iter().any(|g| g.eq_ignore_ascii_case(w))).then_some(c)
        })
        .await;
    let elapsed = sent.at.elapsed();
    let copies = match waited {
        Ok(c) => c,
        Err(_) => {
            let c = copies(&sink.messages());
            let got: Vec<String> = c.iter().flat_map(|m| m.rcpt_to.iter().cloned()).collect();
            let missing: Vec<&String> = wanted.iter().filter(|w| !got.iter().any(|g| g.eq_ignore_ascii_case(w))).collect();
            let so_far = if got.is_empty() { "nothing arrived at the sink".to_string() } else { format!("only {} arrived", got.join(", ")) };
            let why = where_it_stopped(target, sent).await;
            let missing = missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            return (
                Outcome::Failed(format!("not delivered to {missing} within {}: {so_far}; {why}", secs(exp.within))),
                None,
            );
        }
    };
    // Every copy carries the headers the scenario asks for.
    for m in &copies {
        for (name, want) in &exp.headers {
            let value = m.header(name);
            let problem = match (want, value) {
                (HeaderExpectation::Present, None) => Some("is missing".to_string()),
                (HeaderExpectation::Absent, Some(v)) => Some(format!("is present ({v:?}) but should not be")),
                (HeaderExpectation::Contains(s), None) => Some(format!("is missing (expected it to contain {s:?})")),
                (HeaderExpectation::Contains(s), Some(v)) if !v.contains(s.as_str()) => {
                    Some(format!("is {v:?}, which does not contain {s:?}"))
                }
                _ => None,
            };
            if let Some(p) = problem {
                return (
                    Outcome::Failed(format!("delivered to {}, but header {name} {p}", m.rcpt_to.join(", "))),
                    None,
                );
            }
        }
    }
    let to: Vec<String> = copies.iter().flat_map(|m| m.rcpt_to.iter().cloned()).collect();
    (Outcome::Passed, Some(format!("delivered to {} {} after sending", to.join(", "), secs(elapsed))))
}

async fn expect_archived<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &ArchiveExpectation) -> Verdict {
    if !sent.transcript.accepted() {
        let why = where_it_stopped(target, sent).await;
        return (Outcome::Failed(format!("the probe was never accepted, so nothing can be archived: {why}")), None);
    }
    let deadline = sent.at + exp.within;
    loop {
        match target.find_in_prototype_archive(&exp.list, &sent.probe.message_id).await {
            Ok(Some(copy)) => {
                return (
                    Outcome::Passed,
                    Some(format!("in the {} archive at {} {} after sending", exp.archive.as_str(), copy.location, secs(sent.at.elapsed()))),
                )
            }
            Ok(None) => {}
            Err(TargetError::Unsupported(c)) => return (Outcome::Skipped(format!("needs {c}")), None),
            Err(e) => return (Outcome::Failed(format!("could not read the archive: {e}")), None),
        }
        if Instant::now() + POLL_EVERY > deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let delivered = target
        .sink()
        .map(|s| s.messages().iter().any(|m| m.message_id() == Some(sent.probe.message_id.as_str())))
        .unwrap_or(false);
    let why = if delivered {
        "it was delivered to subscribers, so Mailman processed it but did not archive it".to_string()
    } else {
        where_it_stopped(target, sent).await
    };
    (
        Outcome::Failed(format!(
            "not in the {} archive of {} within {}: {why}",
            exp.archive.as_str(),
            exp.list,
            secs(exp.within)
        )),
        None,
    )
}

/// One connection attempt from the vantage point, compared with the
/// expected verdict. A vantage point the target lacks skips the step.
async fn expect_port<T: Target + ?Sized>(target: &T, exp: &PortExpectation) -> Verdict {
    let what = format!("{}/{} from {}", exp.port, exp.protocol, exp.vantage);
    let offered = target.vantages();
    if !offered.iter().any(|v| v == &exp.vantage) {
        return (
            Outcome::Skipped(format!("{what}: this target offers no vantage point `{}` (it offers {})", exp.vantage, offered.join(", "))),
            None,
        );
    }
    let tried = match target.try_port(&exp.vantage, exp.protocol, exp.port, exp.within).await {
        Ok(tried) => tried,
        Err(TargetError::NoVantage { wanted, offered }) => {
            return (Outcome::Skipped(format!("{what}: this target offers no vantage point `{wanted}` (it offers {offered})")), None)
        }
        Err(e) => return (Outcome::Failed(format!("{what}: could not try the port: {e}")), None),
    };
    let observed = match tried.attempt.state {
        PortState::Open => format!("open (connected to {} in {})", tried.addr, secs(tried.attempt.took)),
        PortState::Refused => format!("refused ({} reset the connection in {})", tried.addr, secs(tried.attempt.took)),
        PortState::Filtered => format!("filtered (no answer from {} within {})", tried.addr, secs(exp.within)),
    };
    if tried.attempt.state == exp.verdict {
        (Outcome::Passed, Some(format!("{what}: {observed}")))
    } else {
        (Outcome::Failed(format!("{what}: expected {}, observed {observed}", exp.verdict)), None)
    }
}

/// GETs the path until the answer matches or `within` has passed; a failure
/// shows the last answer (or error) and what differed.
async fn expect_http<T: Target + ?Sized>(target: &T, exp: &HttpExpectation) -> Verdict {
    let Some(endpoint) = target.web() else {
        return (Outcome::Skipped("this target offers no web server to check".into()), None);
    };
    let url = endpoint.url(exp.scheme, &exp.path);
    let what = format!("GET {url} ({})", endpoint.socket(exp.scheme));
    let tls_note = match (&endpoint.tls, exp.scheme) {
        (web::TlsTrust::Off, crate::scenario::Scheme::Https) => " (TLS verification off, as the target says)",
        _ => "",
    };
    let started = Instant::now();
    let deadline = started + exp.within;
    let mut last;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        last = match web::client(endpoint, remaining) {
            Ok(client) => match web::get(&client, &url).await {
                Ok(response) => match http_mismatch(&url, exp, &response) {
                    None => {
                        let redirect = response.location.map(|l| format!(", redirect to {l}")).unwrap_or_default();
                        return (
                            Outcome::Passed,
                            Some(format!("{what}: {}{redirect} in {}{tls_note}", response.status, secs(started.elapsed()))),
                        );
                    }
                    Some(problem) => problem,
                },
                Err(e) => format!("no answer: {e}"),
            },
            // A client that cannot be built will not be built on a retry either.
            Err(e) => return (Outcome::Failed(format!("{what}: {e}")), None),
        };
        if Instant::now() + POLL_EVERY >= deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    (Outcome::Failed(format!("{what}{tls_note}: not as expected within {}: {last}", secs(exp.within))), None)
}

/// What differs between the answer and the expectation, if anything.
fn http_mismatch(url: &str, exp: &HttpExpectation, r: &web::Response) -> Option<String> {
    if r.status != exp.status {
        let redirect = r.location.as_ref().map(|l| format!(" (redirect to {l})")).unwrap_or_default();
        return Some(format!("expected status {}, got {}{redirect}", exp.status, r.status));
    }
    if let Some(want) = &exp.redirect_to {
        let want = web::resolve(url, want);
        match &r.location {
            None => return Some(format!("expected a redirect to {want}, got no Location header")),
            Some(got) if *got != want => return Some(format!("expected a redirect to {want}, got one to {got}")),
            Some(_) => {}
        }
    }
    if let Some(needle) = &exp.body_contains {
        if !r.body.contains(needle.as_str()) {
            let mut start: String = r.body.chars().take(200).collect();
            if start.len() < r.body.len() {
                start.push_str("...");
            }
            return Some(format!("the body does not contain {needle:?}; it starts {start:?}"));
        }
    }
    None
}

/// Asks the DNS server until the answer matches or `within` has passed.
async fn expect_dns<T: Target + ?Sized>(target: &T, exp: &DnsExpectation) -> Verdict {
    let Some(server) = exp.server.or_else(|| target.dns_server()) else {
        return (Outcome::Skipped("the step names no `server` and this target offers no DNS server".into()), None);
    };
    let what = format!("{} {} at {server}", exp.name, exp.rtype);
    let started = Instant::now();
    let deadline = started + exp.within;
    let mut last;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(200));
        last = match dns::lookup(server, &exp.name, exp.rtype, remaining.min(Duration::from_secs(5))).await {
            Ok(answers) => match dns_mismatch(exp, &answers) {
                None => return (Outcome::Passed, Some(format!("{what}: {}", describe_answers(&answers)))),
                Some(problem) => problem,
            },
            Err(e) => e,
        };
        if Instant::now() + POLL_EVERY >= deadline {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    (Outcome::Failed(format!("{what}: {last}")), None)
}

fn describe_answers(answers: &[dns::Answer]) -> String {
    if answers.is_empty() {
        return "no records".into();
    }
    answers.iter().map(|a| format!("{} (TTL {})", a.value, a.ttl)).collect::<Vec<_>>().join(", ")
}

fn dns_mismatch(exp: &DnsExpectation, answers: &[dns::Answer]) -> Option<String> {
    let got = describe_answers(answers);
    match &exp.values {
        None if answers.is_empty() => return Some("expected records, got none".into()),
        None => {}
        Some(values) => {
            let mut want: Vec<String> = values.iter().map(|v| dns::normalize(v)).collect();
            let mut have: Vec<String> = answers.iter().map(|a| a.value.clone()).collect();
            want.sort();
            have.sort();
            if want != have {
                return Some(format!("expected {}, got {got}", want.join(", ")));
            }
        }
    }
    if let Some(max) = exp.ttl_at_most {
        if let Some(a) = answers.iter().find(|a| a.ttl > max) {
            return Some(format!("expected TTLs of at most {max}s, got {} for {} ({got})", a.ttl, a.value));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    //! Checks against a stand-in target that offers only "outside", like a
    //! hosts target will, and answers every port with a fixed state.
    use super::*;
    use crate::reach::Attempt;
    use crate::scenario::Protocol;
    use crate::target::{ArchivedCopy, BoxFuture, PortAttempt, OUTSIDE};
    use std::net::SocketAddr;

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
        fn sink(&self) -> Option<&crate::sink::Sink> {
            None
        }
        fn find_in_prototype_archive<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<Option<ArchivedCopy>, TargetError>> {
            Box::pin(async { Err(TargetError::Unsupported(Capability::PrototypeArchive)) })
        }
        fn exim_mainlog(&self) -> BoxFuture<'_, Result<String, TargetError>> {
            Box::pin(async { Err(TargetError::Unsupported(Capability::EximLog)) })
        }
        fn dns_server(&self) -> Option<SocketAddr> {
            None
        }
        fn web(&self) -> Option<&web::WebEndpoint> {
            None
        }
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
        let (outcome, detail) = expect_port(&OutsideOnly(PortState::Filtered), &port("outside", PortState::Filtered)).await;
        assert_eq!(outcome, Outcome::Passed);
        assert_eq!(detail.as_deref(), Some("8001/tcp from outside: filtered (no answer from 192.0.2.25:8001 within 2.00s)"));

        let (outcome, _) = expect_port(&OutsideOnly(PortState::Open), &port("outside", PortState::Filtered)).await;
        assert_eq!(
            outcome,
            Outcome::Failed("8001/tcp from outside: expected filtered, observed open (connected to 192.0.2.25:8001 in 0.00s)".into())
        );

        let (outcome, _) = expect_port(&OutsideOnly(PortState::Open), &port("bastion", PortState::Open)).await;
        assert_eq!(
            outcome,
            Outcome::Skipped("8001/tcp from bastion: this target offers no vantage point `bastion` (it offers outside)".into())
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
        let (outcome, _) = expect_http(&OutsideOnly(PortState::Open), &http).await;
        assert!(matches!(outcome, Outcome::Skipped(_)), "{outcome:?}");
        let dns = DnsExpectation {
            name: "lists.example.test".into(),
            rtype: crate::scenario::DnsType::Mx,
            values: None,
            ttl_at_most: None,
            server: None,
            within: Duration::from_secs(1),
        };
        let (outcome, _) = expect_dns(&OutsideOnly(PortState::Open), &dns).await;
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
            Some("expected TTLs of at most 300s, got 3600 for 192.0.2.25 (192.0.2.25 (TTL 3600), 192.0.2.26 (TTL 60))")
        );
        assert_eq!(
            dns_mismatch(&exp, &[a("192.0.2.25", 300)]).as_deref(),
            Some("expected 192.0.2.25, 192.0.2.26, got 192.0.2.25 (TTL 300)")
        );
    }
}
