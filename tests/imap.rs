//! The IMAP mailbox against a real Dovecot (containers/imap): messages go in
//! over LMTP, as an MTA delivers them, and are observed over IMAP as the
//! hosts target observes a subscriber's mailbox.
//!
//! - a probe is found by its Message-ID, and by its probe header when its
//!   Message-ID was rewritten, within its deadline, woken by IDLE;
//! - TLS is verified: the container's own CA is trusted, the system roots
//!   are not enough;
//! - `delete_own` removes the run's probe and nothing else: a foreign
//!   message that mentions the probe's id, and one whose Message-ID merely
//!   contains it, are still there afterwards.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt as _;
use mailflow::mailbox::{ImapConfig, ImapMailbox, ImapTimeouts, ImapTls, MailboxError, News};
use mailflow::probe::PROBE_HEADER;
use mailflow::secret::{Secret, SecretSource};
use mailflow::target::docker::{self, OWNER_LABEL};
use mailflow::target::images::{ensure_base_image, ensure_image};
use mailflow::tls::Verify;
use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const USER: &str = "probe@probe.test";
/// The container's fixed test password (containers/imap/users).
const PASSWORD: &str = "mailflow-imap-test";
const CA: &str = "/etc/dovecot/mailflow/ca.pem";
const RUN: &str = "4242-imaptest";

struct Dovecot {
    container: ContainerAsync<GenericImage>,
    ip: IpAddr,
    /// The container's CA, copied to a file here.
    ca_file: PathBuf,
}

async fn start_dovecot() -> Dovecot {
    docker::ensure_daemon().await.expect("Docker daemon");
    docker::reap_stale_containers().await.expect("reap stale containers");
    let base = ensure_base_image().await.expect("base image");
    let image = ensure_image("imap", &base.image).await.expect("imap image");
    let (repo, tag) = image.image.split_once(':').expect("tagged image");
    let container = GenericImage::new(repo, tag)
        .with_wait_for(WaitFor::message_on_stderr("starting up for imap"))
        .with_label(OWNER_LABEL, std::process::id().to_string())
        // Nothing is published on the host's interfaces: the test reaches
        // the container on the bridge, like the other container tests.
        .with_host_config_modifier(|hc| hc.publish_all_ports = Some(false))
        .with_startup_timeout(Duration::from_secs(60))
        .start()
        .await
        .expect("the Dovecot container starts");
    let ip = docker::address_on(container.id(), "bridge").await.expect("the container's bridge address");
    let pem = docker::docker(&["exec", container.id(), "cat", CA], Duration::from_secs(20)).await.expect("read the CA");
    let ca_file = std::env::temp_dir().join(format!("mailflow-imap-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, pem).expect("write the CA");
    Dovecot { container, ip, ca_file }
}

fn config(dovecot: &Dovecot, tls: ImapTls, verify: Verify) -> ImapConfig {
    ImapConfig {
        host: dovecot.ip.to_string(),
        port: tls.default_port(),
        tls,
        verify,
        user: USER.into(),
        password: SecretSource::Given(Secret::new(PASSWORD)),
        folder: "INBOX".into(),
        address: Some(USER.into()),
        timeouts: ImapTimeouts { connect: Duration::from_secs(5), command: Duration::from_secs(10) },
    }
}

/// Delivers one message over LMTP (port 24) to `rcpt`, as an MTA would; the
/// whole exchange by hand, each reply checked.
async fn lmtp_deliver(ip: IpAddr, mail_from: &str, rcpt: &str, message: &str) {
    let limit = Duration::from_secs(10);
    let exchange = async {
        let stream = TcpStream::connect(SocketAddr::new(ip, 24)).await.expect("connect to LMTP");
        let mut io = BufReader::new(stream);
        expect_reply(&mut io, "220").await;
        let commands = [
            ("LHLO mailflow.test\r\n".to_string(), "250"),
            (format!("MAIL FROM:<{mail_from}>\r\n"), "250"),
            (format!("RCPT TO:<{rcpt}>\r\n"), "250"),
            ("DATA\r\n".to_string(), "354"),
        ];
        for (command, code) in commands {
            io.get_mut().write_all(command.as_bytes()).await.expect("write");
            expect_reply(&mut io, code).await;
        }
        let data = mailflow::smtp::client::dot_stuff(message.as_bytes());
        io.get_mut().write_all(&data).await.expect("write the message");
        // LMTP: one reply per accepted recipient; here one.
        expect_reply(&mut io, "250").await;
        io.get_mut().write_all(b"QUIT\r\n").await.expect("write");
    };
    tokio::time::timeout(limit, exchange).await.expect("LMTP delivery within 10s");
}

/// Reads one (possibly multi-line) reply; it must start with `code`.
async fn expect_reply(io: &mut BufReader<TcpStream>, code: &str) {
    loop {
        let mut line = String::new();
        io.read_line(&mut line).await.expect("read a reply");
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
        if line.as_bytes().get(3) != Some(&b'-') {
            return;
        }
    }
}

fn message(message_id: &str, subject: &str, extra: &str) -> String {
    format!(
        "From: list@lists.example.test\r\nTo: {USER}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n{extra}\r\nbody of {subject}\r\n"
    )
}

#[test]
fn probes_are_found_and_only_the_runs_own_are_deleted() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dovecot = start_dovecot().await;
        let outcome = std::panic::AssertUnwindSafe(exercise(&dovecot)).catch_unwind().await;
        let _ = std::fs::remove_file(&dovecot.ca_file);
        dovecot.container.rm().await.expect("remove the Dovecot container");
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    });
}

async fn exercise(dovecot: &Dovecot) {
    let ip = dovecot.ip;
    let probe_id = format!("<mailflow.{RUN}.1@probe.test>");
    let probe_header = format!("run={RUN}; probe=imap-test");
    let rewritten_header = format!("run={RUN}; probe=rewritten");
    let since = SystemTime::now() - Duration::from_secs(1);

    // Someone else's mail, already there: one that mentions the probe's id
    // in another header, one whose Message-ID contains it (IMAP's HEADER
    // search matches substrings).
    let foreign = message("<foreign.1@example.test>", "foreign", &format!("In-Reply-To: {probe_id}\r\n"));
    lmtp_deliver(ip, "someone@example.test", USER, &foreign).await;
    let near_miss = message(&format!("{probe_id}-copy"), "near miss", "");
    lmtp_deliver(ip, "someone@example.test", USER, &near_miss).await;

    // TLS is verified: the system roots do not vouch for the container's CA.
    let untrusted = ImapMailbox::connect(config(dovecot, ImapTls::Imaps, Verify::SystemRoots)).await;
    assert!(matches!(untrusted, Err(MailboxError::Tls { .. })), "{untrusted:?}");
    // A wrong password is refused, and the message does not show it.
    let mut wrong = config(dovecot, ImapTls::Plain, Verify::Off);
    wrong.password = SecretSource::Given(Secret::new("not-the-password"));
    let refused = ImapMailbox::connect(wrong).await.expect_err("a wrong password is refused");
    assert!(matches!(refused, MailboxError::Login { .. }), "{refused}");
    assert!(!format!("{refused} {refused:?}").contains("not-the-password"), "{refused:?}");
    // STARTTLS and plain connect too.
    for tls in [ImapTls::StartTls, ImapTls::Plain] {
        let mailbox = ImapMailbox::connect(config(dovecot, tls, Verify::CaFile(dovecot.ca_file.clone()))).await;
        let mailbox = mailbox.unwrap_or_else(|e| panic!("{tls}: {e}"));
        assert!(mailbox.find(&probe_id, None).await.expect("find").is_empty(), "{tls}");
        mailbox.logout().await.expect("logout");
    }

    let mailbox = ImapMailbox::connect(config(dovecot, ImapTls::Imaps, Verify::CaFile(dovecot.ca_file.clone())))
        .await
        .expect("IMAPS with the container's CA");
    assert!(mailbox.supports_idle(), "Dovecot offers IDLE");

    // Nothing arrives: the wait ends at its deadline.
    let started = Instant::now();
    let quiet = mailbox.wait_for_news(tokio::time::Instant::now() + Duration::from_millis(800)).await.expect("wait");
    assert_eq!(quiet, News::Quiet);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());

    // The probe arrives while the mailbox waits: IDLE wakes it, and the
    // probe is found by its Message-ID well within its deadline.
    let deadline = Duration::from_secs(15);
    let started = Instant::now();
    let probe = message(&probe_id, "probe", &format!("{PROBE_HEADER}: {probe_header}\r\n"));
    let delivery = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        lmtp_deliver(ip, "list-bounces@lists.example.test", USER, &probe).await;
    });
    let found = loop {
        let found = mailbox.find(&probe_id, Some((PROBE_HEADER, &probe_header))).await.expect("find");
        if !found.is_empty() {
            break found;
        }
        assert!(started.elapsed() < deadline, "the probe did not arrive within {deadline:?}");
        let news = mailbox.wait_for_news(tokio::time::Instant::now() + Duration::from_secs(5)).await.expect("wait");
        assert_ne!(news, News::NoIdle);
    };
    delivery.await.expect("delivery task");
    assert!(started.elapsed() < Duration::from_secs(5), "IDLE should wake the wait at once: {:?}", started.elapsed());
    assert_eq!(found.len(), 1, "{found:#?}");
    let got = &found[0];
    assert_eq!(got.message_id(), Some(probe_id.as_str()));
    assert_eq!(got.rcpt_to, [USER]);
    assert_eq!(got.mail_from, "list-bounces@lists.example.test");
    assert_eq!(got.header("Subject"), Some("probe"));
    assert!(got.received_at >= since, "{:?} < {since:?}", got.received_at);

    // A probe whose Message-ID was rewritten on the way is found by its header.
    let rewritten = message("<rewritten.7@lists.example.test>", "rewritten", &format!("{PROBE_HEADER}: {rewritten_header}\r\n"));
    lmtp_deliver(ip, "list-bounces@lists.example.test", USER, &rewritten).await;
    let unused_id = format!("<mailflow.{RUN}.2@probe.test>");
    let by_header = mailbox.find(&unused_id, Some((PROBE_HEADER, &rewritten_header))).await.expect("find by header");
    assert_eq!(by_header.len(), 1, "{by_header:#?}");
    assert_eq!(by_header[0].message_id(), Some("<rewritten.7@lists.example.test>"));
    // By Message-ID alone, only the exact one: not the near miss nor the reply.
    let exact = mailbox.find(&probe_id, None).await.expect("find by id");
    assert_eq!(exact.len(), 1, "{exact:#?}");

    // Notices and bounces: everything for the address since the start.
    let to_user = mailbox.messages_to(USER, since).await.expect("messages_to");
    assert_eq!(to_user.len(), 4, "{to_user:#?}");
    let later = mailbox.messages_to(USER, SystemTime::now() + Duration::from_secs(3600)).await.expect("messages_to");
    assert!(later.is_empty(), "{later:#?}");

    // Deleting: an id that is not a probe's is refused and nothing goes.
    let refused = mailbox
        .delete_own(&[probe_id.clone(), "<foreign.1@example.test>".to_string()])
        .await
        .expect_err("a foreign id is refused");
    assert!(matches!(refused, MailboxError::NotAProbeId(_)), "{refused}");
    assert_eq!(mailbox.find(&probe_id, None).await.expect("find").len(), 1);

    // The run's own probe goes; everything else stays.
    let deleted = mailbox.delete_own(&[probe_id.clone(), unused_id.clone()]).await.expect("delete_own");
    assert_eq!(deleted, 1);
    assert!(mailbox.find(&probe_id, None).await.expect("find").is_empty());
    mailbox.logout().await.expect("logout");

    // Seen afresh from a new connection.
    let fresh = ImapMailbox::connect(config(dovecot, ImapTls::Imaps, Verify::CaFile(dovecot.ca_file.clone())))
        .await
        .expect("reconnect");
    assert!(fresh.find(&probe_id, None).await.expect("find").is_empty(), "the probe is gone");
    assert_eq!(fresh.find("<foreign.1@example.test>", None).await.expect("find").len(), 1, "the foreign message stays");
    // Dovecot compares Message-IDs as ids, so the near miss is not found by
    // its odd id; it is still in the mailbox.
    let left = fresh.messages_to(USER, since).await.expect("messages_to");
    let mut subjects: Vec<&str> = left.iter().filter_map(|r| r.header("Subject")).collect();
    subjects.sort_unstable();
    assert_eq!(subjects, ["foreign", "near miss", "rewritten"]);
    fresh.logout().await.expect("logout");
}
