//! The fast loop: containers started the way `mailflow up --write-target`
//! starts them (a Dovecot mailbox on the run's network that exim also
//! delivers the probe domain's mail into, Mailman's REST API exposed to this
//! machine, sshd in the lists container behind the bastion container), the
//! target file written, and `mailflow run --target FILE scenarios/` run
//! against them as a hosts target:
//!
//! - every shipped scenario the hosts target can perform passes; the steps
//!   it cannot perform are skipped, each with its reason; nothing fails;
//! - the file's `[ssh]` table is used: exim's log (the probe's hops), the
//!   prototype archive and Mailman's shunt queue are read over ssh, by a
//!   `mailflow` process with docker out of its reach (no `docker` on its
//!   PATH, `DOCKER_HOST` pointing nowhere), so no step went through docker exec;
//! - foreign mail planted in the IMAP mailbox is still there afterwards, and
//!   the run's own probes are gone;
//! - the settings comparison (`expect_settings`, read-only) passes, and once
//!   a list setting is changed through REST after start-up (as by hand on a
//!   real host) reports that one setting, its suite value and the server's;
//! - secrets: a run with SMTP AUTH (to a loopback STARTTLS server that
//!   records the AUTH), Mailman REST and IMAP passwords, all used, writes
//!   every output format; none of the secrets appears in any of them.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mailflow::mailbox::ImapMailbox;
use mailflow::target::containers::{ContainersTarget, ImapContainer, StartOptions};
use mailflow::target::hosts::{load_hosts, MailboxConfig};
use mailflow::target::target_file::write_target_file;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A whole run of the shipped suite through the hosts target.
const RUN_DEADLINE: Duration = Duration::from_secs(900);
const FOREIGN_ID: &str = "<foreign.fastloop.1@example.test>";
/// Shaped like a probe id, but of another run: never this run's to delete.
const OTHER_RUNS_ID: &str = "<mailflow.1000000000-0ther.1@probe.test>";

#[test]
fn the_written_target_file_runs_the_suite_and_keeps_secrets_out_of_every_output() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = support::shipped("scenarios");
    rt.block_on(async {
        // As `mailflow up --write-target` starts them: with the web side and ssh.
        let target = ContainersTarget::start_for_target_file(&plan.suite, StartOptions { web: true, ssh: true })
            .await
            .expect("the container target starts with a mailbox");
        support::then_remove(&target, async {
            let scratch = support::Scratch::new("mailflow-fastloop");
            let dir = &scratch.0;
            let written = write_target_file(&target, &dir.join("t.toml")).expect("the target file is written");
            shipped_suite_passes_or_skips(&target, &written.file).await;
            a_setting_changed_after_start_up_is_reported(&target, &written.file).await;
            secrets_stay_out_of_every_output(&target, dir, &written.companions[0]).await;
        })
        .await;
    });
}

async fn shipped_suite_passes_or_skips(target: &ContainersTarget, file: &Path) {
    // The file reads like any target file; it holds no secret.
    let config = load_hosts(file).unwrap_or_else(|e| panic!("the written target file does not load: {e:?}"));
    let text = std::fs::read_to_string(file).unwrap();
    let (_, rest_password) = target.exposed_rest().expect("REST exposed");
    assert!(!text.contains(rest_password.expose()) && !text.contains(ImapContainer::PASSWORD), "{text}");
    let Some(MailboxConfig::Imap(imap)) = config.mailbox.clone() else { panic!("no IMAP mailbox in {text}") };
    let since = SystemTime::now() - Duration::from_secs(2);

    // Someone else's mail in the mailbox before the run.
    let dovecot = target.imap().expect("Dovecot").addr;
    for (id, subject) in [(FOREIGN_ID, "foreign"), (OTHER_RUNS_ID, "another run's probe")] {
        let message = format!(
            "From: someone@example.test\r\nTo: alice@probe.test\r\nSubject: {subject}\r\nMessage-ID: {id}\r\n\r\nnot the harness's\r\n"
        );
        lmtp_deliver(dovecot, "someone@example.test", "alice@probe.test", &message).await;
    }

    let ssh = config.ssh.clone().expect("an [ssh] table in the written file");
    assert_eq!((ssh.become_user.as_deref(), ssh.strict_host_key_checking), (Some("list"), true), "{text}");
    assert!(ssh.proxy_jump.is_some() && ssh.known_hosts_file.is_some() && ssh.identity_file.is_some(), "{text}");

    // Docker out of the run's reach: a PATH with ssh alone, and a
    // DOCKER_HOST that leads nowhere. Whatever needs the list host must go
    // over the file's ssh.
    let no_docker = support::NoDocker::new();
    let (code, stdout, stderr) = mailflow(
        &["run", "--target", &file.display().to_string(), "--format", "json", &shipped()],
        &[("PATH", no_docker.path()), ("DOCKER_HOST", "unix:///nonexistent")],
    )
    .await;
    let events: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let steps: Vec<&Value> = events.iter().filter(|e| e["event"] == "step_finished").collect();
    let table: String = steps
        .iter()
        .map(|s| {
            // A failed step's failed rows, so a failure reads without the JSON.
            let failed: Vec<String> = s["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["outcome"] == "failed")
                .map(|r| format!("\n    {}: expected {}, observed {}", r["property"], r["expected"], r["observed"]))
                .collect();
            format!("{} {} {} {}{}\n", s["path"].as_str().unwrap_or(""), s["label"], s["outcome"], s["reason"], failed.concat())
        })
        .collect();
    assert_eq!(code, 0, "exit code {code}\n{table}\nstderr:\n{stderr}");
    let summary = events.last().expect("a summary");
    assert_eq!(summary["verdict"], "passed", "{summary}\n{table}");
    assert_eq!(summary["totals"]["failed"], 0, "{summary}");
    assert_eq!(summary["totals"]["not_run"], 0, "{summary}");
    let started = events.iter().find(|e| e["event"] == "target_ready").expect("target_ready");
    let description = started["description"].as_str().unwrap_or("");
    assert!(description.starts_with("hosts: ") && description.contains(", shell ssh mailflow@"), "{started}");

    // Nothing failed; what the hosts target cannot do is skipped with the
    // reason, never passed. With ssh the host's files are read: what is
    // left needs the container target's own network (its vantage
    // containers, its DNS server, the web server it checks over HTTPS),
    // or changes a real host: sending a list's digest now reaches every
    // digest member, a member's web account is made only in containers,
    // fault steps need `[allow] faults` (the written file, like any, does not
    // allow them); and exim's queue is not read through the hosts target.
    const REMAINING: [&str; 7] = [
        "the target file does not allow fault steps (`[allow] faults = true`)",
        "needs read access to the MTA's queue",
        "this target offers no vantage point `",
        "this target offers no DNS server",
        "this target offers no web server to check",
        "sending a digest reaches every digest member: not on this target",
        "this target cannot log in as a member (no web account)",
    ];
    for s in &steps {
        assert_ne!(s["outcome"], "failed", "{table}");
        if s["outcome"] == "skipped" {
            let reason = s["reason"].as_str().unwrap_or("");
            assert!(REMAINING.iter().any(|r| reason.contains(r)), "a skip not among the reasons a hosts target with ssh has: {s}\n{table}");
        }
    }
    let outcome = |path_end: &str, key: &str| -> Vec<String> {
        steps
            .iter()
            .filter(|s| s["path"].as_str().unwrap_or("").ends_with(path_end) && s["key"] == key)
            .map(|s| s["outcome"].as_str().unwrap_or("").to_string())
            .collect()
    };
    // What a hosts target does perform: delivery seen over IMAP, HyperKitty,
    // the held queue and moderation over REST, refusals, ports from here.
    assert_eq!(outcome("delivery/member-post.toml", "expect_delivered"), ["passed"], "{table}");
    assert_eq!(outcome("archive/hyperkitty-member-post.toml", "expect_archived"), ["passed"], "{table}");
    assert_eq!(outcome("moderation/nonmember-discard.toml", "expect_held"), ["passed"], "{table}");
    assert_eq!(outcome("moderation/nonmember-discard.toml", "moderate"), ["passed"], "{table}");
    assert_eq!(outcome("refusal/relay.toml", "expect_smtp"), ["passed"], "{table}");
    // Every list answers `help` at its -request address, seen in the IMAP mailbox.
    assert_eq!(outcome("delivery/every-list.toml", "expect_every_list_answers"), ["passed"], "{table}");
    // The suite's list settings, read over REST and compared (both lists).
    assert_eq!(outcome("listconf/settings.toml", "expect_settings"), ["passed", "passed"], "{table}");
    // Over ssh: the prototype archive (read as `list` through sudo), by
    // Message-ID and, for a probe without one, by its probe header;
    // Mailman's shunt queue; exim's log, whose lines give the member
    // post's hops into Mailman.
    assert_eq!(outcome("delivery/member-post.toml", "expect_archived"), ["passed"], "{table}");
    assert!(outcome("pitfalls/no-message-id.toml", "expect_archived").first().is_some_and(|o| o == "passed"), "{table}");
    assert_eq!(outcome("moderation/two-message-ids.toml", "expect_shunted"), ["passed"], "{table}");
    let member_post = steps
        .iter()
        .find(|s| s["path"].as_str().unwrap_or("").ends_with("delivery/member-post.toml") && s["key"] == "expect_delivered")
        .expect("the member post's delivery step");
    let hops: Vec<&str> = member_post["hops"].as_array().into_iter().flatten().filter_map(|h| h["hop"].as_str()).collect();
    for from_exims_log in ["accepted", "to_mailman"] {
        assert!(hops.contains(&from_exims_log), "no `{from_exims_log}` hop from exim's log read over ssh: {member_post}");
    }
    let skipped_for: Vec<&str> = steps.iter().filter(|s| s["outcome"] == "skipped").filter_map(|s| s["reason"].as_str()).collect();
    for missing in ["vantage point `bastion`", "DNS server"] {
        assert!(skipped_for.iter().any(|r| r.contains(missing)), "no step skipped for want of {missing}:\n{table}");
    }
    eprintln!("hosts target against the containers:\n{table}");

    // The run deleted its own probe copies from the mailbox, and nothing else.
    let cleanup: Vec<&Value> = events.iter().filter(|e| e["event"] == "cleanup").collect();
    assert!(cleanup.iter().all(|c| c["error"].is_null()), "{cleanup:?}");
    assert!(
        cleanup.iter().any(|c| c["discarded"].as_array().is_some_and(|d| d.iter().any(|x| x.as_str().unwrap_or("").contains("deleted from the IMAP mailbox")))),
        "{cleanup:?}"
    );
    let run_id = events[0]["run_id"].as_str().expect("run id").to_string();
    let mailbox = ImapMailbox::connect(imap).await.expect("the mailbox, as the target file says");
    assert_eq!(mailbox.find(FOREIGN_ID, None).await.expect("find").len(), 1, "the foreign message stays");
    assert_eq!(mailbox.find(OTHER_RUNS_ID, None).await.expect("find").len(), 1, "another run's probe stays");
    let own_prefix = format!("<mailflow.{run_id}.");
    for member in ["alice@probe.test", "bob@probe.test"] {
        let left = mailbox.messages_to(member, since).await.expect("messages_to");
        let own: Vec<&str> = left.iter().filter_map(|r| r.message_id()).filter(|id| id.starts_with(&own_prefix) && id.ends_with("@probe.test>")).collect();
        assert!(own.is_empty(), "probe copies of the run left in the mailbox: {own:?}");
    }
    mailbox.logout().await.expect("logout");
}

/// A list setting changed on the server after start-up, through the
/// exposed REST API as an operator would by hand: the settings comparison
/// run through the target file fails (exit 1) with one failed row naming
/// the setting, the suite's value and line, and the server's value; the
/// list's other settings and archivers, and the other list's settings
/// (the step before), give no failed row.
async fn a_setting_changed_after_start_up_is_reported(target: &ContainersTarget, file: &Path) {
    use mailflow::mailman::{HttpRest, RestTransport};
    let (rest_url, password) = target.exposed_rest().expect("REST exposed");
    let client = mailflow::http::api_client(&mailflow::http::TlsTrust::Off, Duration::from_secs(20)).expect("HTTP client");
    let rest = HttpRest::new(&rest_url, "restadmin", password.expose(), client);
    // suite.toml says "private" (line 96); the settings scenario compares
    // probe-conf first, then probe-private.
    let r = rest
        .call("PATCH", "/3.1/lists/probe-private.lists.example.test/config", &[("archive_policy", "public".to_string())])
        .await
        .expect("PATCH archive_policy");
    assert_eq!(r.status, 204, "PATCH archive_policy answered {}: {}", r.status, r.body);

    let (code, stdout, stderr) =
        mailflow(&["run", "--target", &file.display().to_string(), "--format", "json", "--filter", "listconf/settings", &shipped()], &[]).await;
    let events: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let steps: Vec<&Value> = events.iter().filter(|e| e["event"] == "step_finished").collect();
    assert_eq!(code, 1, "a differing setting fails the run\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(steps.len(), 2, "{stdout}");
    assert_eq!((&steps[0]["outcome"], &steps[0]["rows"][0]["observed"]), (&"passed".into(), &"all as declared".into()), "probe-conf as declared:\n{stdout}");
    let rows: Vec<&Value> = steps[1]["rows"].as_array().into_iter().flatten().collect();
    let failed: Vec<&&Value> = rows.iter().filter(|r| r["outcome"] == "failed").collect();
    assert_eq!((failed.len(), rows.len()), (1, 1), "one row, failed, for the one changed setting: {rows:?}");
    let row = failed[0];
    assert_eq!(row["property"], "setting archive_policy of probe-private.lists.example.test", "{row}");
    let expected = row["expected"].as_str().unwrap_or_default();
    assert!(expected.starts_with("\"private\" (as at ") && expected.ends_with("suite.toml:96:1)"), "the suite's value at its line: {row}");
    assert_eq!(row["observed"], "\"public\" on the server", "{row}");
}

/// Two runs (a human report on stdout with JSON, JUnit, TAP and Prometheus
/// files; then Nagios on stdout) of a small suite against the containers'
/// REST API and mailbox and a loopback SMTP server that takes STARTTLS and
/// records AUTH. Each secret is used; none is in any output.
async fn secrets_stay_out_of_every_output(target: &ContainersTarget, dir: &Path, rest_password_file: &Path) {
    const SMTP_SECRET: &str = "smtp-Secret-4711-fastloop";
    const IMAP_SECRET: &str = "imap-Secret-5150-fastloop";
    const IMAP_USER: &str = "fastloop@probe.test";
    let rest_secret = std::fs::read_to_string(rest_password_file).expect("REST password file");
    assert!(rest_secret.len() >= 32, "the container's REST password is long and random");
    let imap = target.imap().expect("Dovecot");
    // A second login with a password of its own. Dovecot reads its
    // passwd-file again when the file's mtime changes, in whole seconds: a
    // change within the second of its last read goes unseen, hence the
    // touch a second later.
    let line = format!("{IMAP_USER}:{{PLAIN}}{IMAP_SECRET}");
    let script = "printf '%s\\n' \"$1\" >>/etc/dovecot/users && sleep 1.1 && touch /etc/dovecot/users";
    let (code, _, err) = mailflow_docker(&["exec", &imap.id, "sh", "-c", script, "sh", &line]).await;
    assert_eq!(code, 0, "{err}");

    let (smtp, auths) = auth_recorder().await;
    let (rest_url, _) = target.exposed_rest().unwrap();
    let ca = dir.join("t.imap-ca.pem");
    let file = dir.join("secrets.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"lists.example.test\"\n\
             [smtp]\naddresses = [\"{smtp}\"]\nstarttls = \"required\"\nverify = false\nuser = \"prober\"\npassword_env = \"MAILFLOW_T_SMTP\"\n\
             [mailman]\nversion = \"3\"\nrest_url = \"{rest_url}\"\npassword_env = \"MAILFLOW_T_REST\"\n\
             [mailbox]\nkind = \"imap\"\nhost = \"{}\"\nca_file = \"{}\"\nuser = \"{IMAP_USER}\"\npassword_env = \"MAILFLOW_T_IMAP\"\n\
             [allow]\nmoderate = true\n[limits]\nprobes_per_minute = 600\n",
            imap.addr,
            ca.display()
        ),
    )
    .unwrap();
    // A suite of the shipped lists with short deadlines: the recorder
    // takes the probes and delivers nothing, so the mailbox is searched and
    // the held queue asked until the deadlines pass.
    let suite = dir.join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    std::fs::write(
        suite.join("suite.toml"),
        "probe_domain = \"probe.test\"\n\
         [[list]]\nname = \"probe-test\"\ndomain = \"lists.example.test\"\nmembers = [\"alice@probe.test\", \"bob@probe.test\"]\n\
         [[list]]\nname = \"probe-held\"\ndomain = \"lists.example.test\"\nmembers = [\"hank@probe.test\"]\n",
    )
    .unwrap();
    std::fs::write(
        suite.join("post.toml"),
        "name = \"post\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"secret probe\" }\nexpect_smtp = 250\n\
         [[step]]\nexpect_delivered = { to = [\"alice@probe.test\"], within = \"3s\" }\n",
    )
    .unwrap();
    std::fs::write(
        suite.join("held.toml"),
        "name = \"held\"\nlist = \"probe-held\"\n[[step]]\nsend = { from = \"nm@probe.test\", subject = \"secret held\" }\nexpect_smtp = 250\n\
         [[step]]\nexpect_held = { within = \"3s\" }\n",
    )
    .unwrap();

    let envs = [("MAILFLOW_T_SMTP", SMTP_SECRET), ("MAILFLOW_T_REST", rest_secret.as_str()), ("MAILFLOW_T_IMAP", IMAP_SECRET)];
    let target_arg = file.display().to_string();
    let suite_arg = suite.display().to_string();
    let files: Vec<PathBuf> = ["json", "xml", "tap", "prom"].iter().map(|e| dir.join(format!("out.{e}"))).collect();
    let f = |i: usize| files[i].display().to_string();
    let runs: [Vec<String>; 2] = [
        ["run", "--target", &target_arg, "--format", "human", "--json", &f(0), "--junit", &f(1), "--tap", &f(2), "--prometheus", &f(3), &suite_arg]
            .map(String::from)
            .to_vec(),
        ["run", "--target", &target_arg, "--format", "nagios", &suite_arg].map(String::from).to_vec(),
    ];
    let mut everything = String::new();
    for args in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = mailflow(&args, &envs).await;
        assert!(code == 1 || code == 2, "the probes were never delivered nor held, yet exit {code}:\n{out}\n{err}");
        // Connected: the IMAP login with its secret succeeded.
        assert!(!err.contains("IMAP mailbox:") && !out.contains("IMAP mailbox: "), "{out}\n{err}");
        everything.push_str(&out);
        everything.push_str(&err);
    }
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!text.is_empty(), "{} is empty", path.display());
        everything.push_str(&text);
    }
    for secret in [SMTP_SECRET, rest_secret.as_str(), IMAP_SECRET] {
        assert!(!everything.contains(secret), "a secret appears in the output:\n{everything}");
    }
    // Each secret was used: AUTH reached the recorder, the REST calls were
    // answered (a wrong password gets 401), the IMAP login succeeded (above).
    let auths = auths.lock().unwrap().clone();
    assert!(auths.iter().any(|a| a.ends_with(&format!("\0prober\0{SMTP_SECRET}"))), "AUTH seen: {auths:?}");
    let (_, log, _) = target.exec(&["cat", "/var/log/nginx/access.log"]).await.expect("nginx's log");
    assert!(log.lines().any(|l| l.contains("/mailman-rest/3.1/lists/probe-held") && l.contains("\" 200 ")), "{log}");
    assert!(!log.contains(&rest_secret), "nginx logs no password");
}



fn shipped() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").display().to_string()
}

/// Runs the mailflow binary with a deadline: exit code, stdout, stderr.
async fn mailflow(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mailflow"));
    cmd.args(args).envs(envs.iter().copied()).env("NO_COLOR", "1").stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(RUN_DEADLINE, cmd.output()).await.expect("mailflow run within its deadline").expect("run mailflow");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

async fn mailflow_docker(args: &[&str]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(args).stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output()).await.expect("docker within 30s").expect("run docker");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Delivers one message to Dovecot over LMTP (port 24), as an MTA would.
async fn lmtp_deliver(ip: IpAddr, mail_from: &str, rcpt: &str, message: &str) {
    let exchange = async {
        let stream = TcpStream::connect(SocketAddr::new(ip, 24)).await.expect("connect to LMTP");
        let mut io = BufReader::new(stream);
        reply(&mut io, "220").await;
        for (command, code) in [
            ("LHLO fastloop.test\r\n".to_string(), "250"),
            (format!("MAIL FROM:<{mail_from}>\r\n"), "250"),
            (format!("RCPT TO:<{rcpt}>\r\n"), "250"),
            ("DATA\r\n".to_string(), "354"),
        ] {
            io.get_mut().write_all(command.as_bytes()).await.unwrap();
            reply(&mut io, code).await;
        }
        io.get_mut().write_all(&mailflow::smtp::client::dot_stuff(message.as_bytes())).await.unwrap();
        reply(&mut io, "250").await;
        io.get_mut().write_all(b"QUIT\r\n").await.unwrap();
    };
    tokio::time::timeout(Duration::from_secs(10), exchange).await.expect("LMTP delivery within 10s");
}

/// Reads one reply (possibly multi-line); it must start with `code`.
async fn reply<S: AsyncRead + Unpin>(io: &mut BufReader<S>, code: &str) {
    loop {
        let mut line = String::new();
        io.read_line(&mut line).await.expect("read a reply");
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
        if line.as_bytes().get(3) != Some(&b'-') {
            return;
        }
    }
}

/// A loopback SMTP server that offers STARTTLS (a throwaway certificate),
/// then AUTH PLAIN, records each AUTH's decoded token, and takes every
/// message without delivering it.
async fn auth_recorder() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let auths = Arc::new(Mutex::new(Vec::new()));
    let seen = auths.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let mut plain = BufReader::new(stream);
                let _ = plain.get_mut().write_all(b"220 recorder ESMTP\r\n").await;
                if !smtp_session(&mut plain, false, &seen).await {
                    return;
                }
                let Ok(tls) = acceptor.accept(plain.into_inner()).await else { return };
                smtp_session(&mut BufReader::new(tls), true, &seen).await;
            });
        }
    });
    (addr, auths)
}

/// Serves commands until QUIT or EOF (false), or until STARTTLS was
/// answered in the clear (true: the caller wraps the stream in TLS).
async fn smtp_session<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, tls: bool, seen: &Mutex<Vec<String>>) -> bool {
    use data_encoding::BASE64;
    let mut line = String::new();
    loop {
        line.clear();
        if io.read_line(&mut line).await.unwrap_or(0) == 0 {
            return false;
        }
        let upper = line.to_ascii_uppercase();
        let answer: &[u8] = if upper.starts_with("EHLO") {
            if tls { b"250-recorder\r\n250-AUTH PLAIN\r\n250 SIZE 10000000\r\n" } else { b"250-recorder\r\n250-STARTTLS\r\n250 SIZE 10000000\r\n" }
        } else if upper.starts_with("STARTTLS") && !tls {
            let _ = io.get_mut().write_all(b"220 go ahead\r\n").await;
            return true;
        } else if upper.starts_with("AUTH PLAIN ") {
            let token = line[11..].trim();
            let decoded = BASE64.decode(token.as_bytes()).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            seen.lock().unwrap().push(decoded);
            b"235 2.7.0 accepted\r\n"
        } else if upper.starts_with("DATA") {
            let _ = io.get_mut().write_all(b"354 go on\r\n").await;
            loop {
                line.clear();
                if io.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return false;
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
            }
            b"250 OK id=recorded\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = io.get_mut().write_all(b"221 bye\r\n").await;
            return false;
        } else {
            b"250 OK\r\n"
        };
        if io.get_mut().write_all(answer).await.is_err() {
            return false;
        }
    }
}
