//! The hosts target's ssh path against real sshd: the container target
//! started with ssh (sshd in the lists container, a bastion container, a key
//! made for the run, known_hosts from the containers' host keys), and a
//! target file that reaches the lists container through the bastion as
//! ProxyJump, as production sites do. Checked: the shell runs commands on
//! the lists container; exim's log trace of a probe comes back over ssh;
//! the member-post scenario's archive step is judged through ssh (and says
//! that Mailman's 0700 maildir is unreadable to the ssh user); Mailman's
//! REST API through the shell lists the suite's lists; a wrong or unknown
//! host key (of the list host or of the bastion) stops the connection with
//! an error that says so.

mod support;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use mailflow::check::Outcome;
use mailflow::exim::EventKind;
use mailflow::probe::RunId;
use mailflow::report::human;
use mailflow::run::run_all;
use mailflow::scenario::Plan;
use mailflow::target::containers::{ContainersTarget, StartOptions};
use mailflow::target::hosts::{parse_hosts, HostsTarget, SshConfig, SshError};
use mailflow::target::{Target, TargetError};

#[test]
fn the_hosts_target_reaches_the_list_host_through_the_bastion() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = support::shipped("scenarios");
    rt.block_on(async {
        let containers = ContainersTarget::start_with(&plan.suite, StartOptions { web: false, ssh: true })
            .await
            .expect("container target starts with ssh");
        support::then_remove(&containers, async {
            let files = tempfile::tempdir().unwrap();
            let ssh = containers.ssh_table().expect("ssh was asked for");
            let hosts = connect(&containers, &plan, files.path(), &ssh).await.expect("the hosts target connects over ssh");
            assert!(hosts.describe().contains("shell ssh mailflow@"), "{}", hosts.describe());

            the_shell_runs_on_the_lists_container(&containers, &hosts).await;
            the_probes_trace_comes_back_over_ssh(&containers, &hosts, &plan).await;
            the_archive_step_is_judged_over_ssh(&hosts, &plan).await;
            rest_through_the_shell_lists_the_suites_lists(&hosts, &plan).await;
            wrong_host_keys_are_refused(&containers, &plan, files.path(), &ssh).await;
        })
        .await;
    });
}

/// A target file for the containers: SMTP at the lists container, REST on
/// its loopback through the shell (the password in a file), and `ssh`.
async fn connect(containers: &ContainersTarget, plan: &Plan, dir: &Path, ssh: &SshConfig) -> Result<HostsTarget, TargetError> {
    let password_file = dir.join("rest-password");
    std::fs::write(&password_file, containers.rest_password().expose()).unwrap();
    let file = format!(
        "name = \"lists.example.test\"\n\
         [smtp]\naddresses = [\"{smtp}\"]\nstarttls = \"off\"\n\
         [mailman]\nversion = \"3\"\nrest_url = \"http://127.0.0.1:8001\"\nreach = \"through_shell\"\npassword_file = \"{password}\"\n\
         [ssh]\nhost = \"{host}\"\nuser = \"{user}\"\nproxy_jump = \"{jump}\"\nidentity_file = \"{identity}\"\nknown_hosts_file = \"{known}\"\n\
         [limits]\nprobes_per_minute = 600\n",
        smtp = containers.smtp_addr(),
        password = password_file.display(),
        host = ssh.host,
        user = ssh.user.as_deref().unwrap(),
        jump = ssh.proxy_jump.as_deref().unwrap(),
        identity = ssh.identity_file.as_ref().unwrap().display(),
        known = ssh.known_hosts_file.as_ref().unwrap().display(),
    );
    let config = parse_hosts(&dir.join("containers-over-ssh.toml"), &file).expect("the target file parses");
    HostsTarget::connect(config, &plan.suite.probe_domain).await
}

async fn the_shell_runs_on_the_lists_container(containers: &ContainersTarget, hosts: &HostsTarget) {
    let shell = hosts.shell().expect("a shell with [ssh]");
    let (code, out, err) = shell.exec(&["sh", "-c", "id -un; cat /etc/hostname; test -r \"$1\" && echo readable", "sh", "/var/log/exim4/mainlog"]).await.expect("exec over ssh");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // Docker names a container's host after the start of its id.
    assert_eq!(lines, ["mailflow", &containers.container_id()[..12], "readable"], "{out}{err}");
    // Arguments arrive as they were given, not as shell syntax.
    let (_, out, _) = shell.exec(&["printf", "%s|", "a b", "$(id)", "'q'"]).await.unwrap();
    assert_eq!(out, "a b|$(id)|'q'|");
    // A program the host lacks is named as such.
    let missing = shell.exec(&["mailflow-no-such-program"]).await.unwrap_err().to_string();
    assert!(missing.contains("`mailflow-no-such-program` is not installed on the host"), "{missing}");
}

async fn the_probes_trace_comes_back_over_ssh(containers: &ContainersTarget, hosts: &HostsTarget, plan: &Plan) {
    let list = plan.suite.lists.iter().find(|l| l.name == "probe-test").expect("the suite's probe-test list");
    let member = list.members[0].clone();
    let message_id = format!("<mailflow-ssh-test.{}@{}>", std::process::id(), plan.suite.probe_domain);
    let message = format!(
        "From: {member}\r\nTo: {to}\r\nSubject: ssh trace probe\r\nMessage-ID: {message_id}\r\nDate: Tue, 12 May 2026 08:00:00 +0000\r\n\r\nover ssh\r\n",
        to = list.address()
    );
    let rcpt = [list.address()];
    let envelope = mailflow::smtp::Envelope { helo: "outside.probe.test", mail_from: &member, rcpt_to: &rcpt };
    let sent = mailflow::smtp::send(hosts.smtp_addr(), &envelope, message.as_bytes(), mailflow::smtp::Timeouts::default())
        .await
        .expect("the probe is sent");
    let queue_id = sent.queue_id().expect("exim's queue id in its DATA reply");

    let keys = mailflow::probe::ProbeKeys { message_ids: vec![message_id.clone()], probe_header: None };
    let log = hosts.mta_log().expect("exim's log through ssh");
    let deadline = Instant::now() + Duration::from_secs(30);
    let trace = loop {
        let trace = log.trace(&keys).await.expect("exigrep over ssh");
        let delivered = trace.events.iter().any(|e| e.kind == EventKind::Delivery);
        if delivered || Instant::now() > deadline {
            break trace;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(trace.queue_ids().first().copied(), Some(queue_id.as_str()), "{trace:?}");
    assert!(trace.events.iter().any(|e| e.kind == EventKind::Delivery), "{trace:?}");
    // The same lines as docker exec reads them: only the probe's messages.
    let direct = containers.mta_log().unwrap().trace(&keys).await.unwrap();
    assert_eq!(trace.queue_ids(), direct.queue_ids());
}

/// The member post, run against the hosts target: delivery needs a mailbox
/// (skipped); the archive step is judged from the prototype archive read
/// over ssh, not skipped. Mailman makes each list's prototype maildir 0700
/// (Python's `mailbox.Maildir`), so the ssh user, in the group `list` but
/// not `list` itself, cannot read it: the step fails saying so, never
/// "not archived" (reading it needs `sudo -u list`, not built yet).
async fn the_archive_step_is_judged_over_ssh(hosts: &HostsTarget, plan: &Plan) {
    let chosen: Vec<_> = plan.scenarios.iter().filter(|s| s.path.ends_with("delivery/member-post.toml")).cloned().collect();
    assert_eq!(chosen.len(), 1);
    let results = run_all(hosts, &plan.suite, &chosen, &RunId::new(), &|_| {}).await;
    let report: String = results.iter().map(human::scenario).collect();
    let sent = results[0].steps.iter().find(|s| s.key == "send").expect("a send step");
    assert!(matches!(sent.outcome(), Outcome::Passed), "{report}");
    let archived = results[0].steps.iter().find(|s| s.key == "expect_archived").expect("an archive step");
    assert!(matches!(archived.outcome(), Outcome::Failed), "{report}");
    assert!(report.contains("prototype/probe-test@lists.example.test/new: Permission denied"), "{report}");
}

async fn rest_through_the_shell_lists_the_suites_lists(hosts: &HostsTarget, plan: &Plan) {
    let rest = hosts.rest().expect("REST through the shell");
    let answer = rest.call("GET", "/3.1/lists?count=1000&page=1", &[]).await.expect("GET /3.1/lists through ssh");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let found: Vec<&str> = body["entries"].as_array().unwrap().iter().filter_map(|l| l["fqdn_listname"].as_str()).collect();
    for list in &plan.suite.lists {
        assert!(found.contains(&list.address().as_str()), "{} missing from {found:?}", list.address());
    }
    // A refused call says so without the password (which went on curl's stdin).
    let denied = hosts.rest().unwrap().call("GET", "/3.1/no-such-resource", &[]).await.unwrap();
    assert_eq!(denied.status, 404);
}

async fn wrong_host_keys_are_refused(containers: &ContainersTarget, plan: &Plan, dir: &Path, ssh: &SshConfig) {
    let known = std::fs::read_to_string(ssh.known_hosts_file.as_ref().unwrap()).unwrap();
    let key_of = |host: &str| -> String {
        let line = known.lines().find(|l| l.starts_with(&format!("{host} "))).unwrap_or_else(|| panic!("{host} in {known}"));
        line.split_once(' ').unwrap().1.to_string()
    };
    let lists: IpAddr = ssh.host.parse().unwrap();
    let bastion = ssh.proxy_jump.as_deref().unwrap().split_once('@').unwrap().1.to_string();
    let (lists_key, bastion_key) = (key_of(&lists.to_string()), key_of(&bastion));

    let with_known_hosts = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        SshConfig { known_hosts_file: Some(path), ..ssh.clone() }
    };
    // The list host answers with a key other than the one recorded (the bastion's stands in).
    let changed = with_known_hosts("changed", format!("{lists} {bastion_key}\n{bastion} {bastion_key}\n"));
    match connect(containers, plan, dir, &changed).await {
        Err(TargetError::Ssh(e @ SshError::ChangedHostKey { .. })) => {
            let text = e.to_string();
            assert!(text.contains(&format!("the host key of {lists} does not match")) && text.contains("refused"), "{text}");
        }
        other => panic!("expected a changed host key, got {:?}", other.map(|t| t.describe())),
    }
    // The list host is not in known_hosts at all.
    let unknown = with_known_hosts("unknown", format!("{bastion} {bastion_key}\n"));
    match connect(containers, plan, dir, &unknown).await {
        Err(TargetError::Ssh(e @ SshError::UnknownHostKey { .. })) => {
            assert!(e.to_string().contains(&format!("the host key of {lists} is not known")), "{e}");
        }
        other => panic!("expected an unknown host key, got {:?}", other.map(|t| t.describe())),
    }
    // The bastion's key is wrong: said by the jump connection, still reported as such.
    let bastion_changed = with_known_hosts("bastion-changed", format!("{lists} {lists_key}\n{bastion} {lists_key}\n"));
    match connect(containers, plan, dir, &bastion_changed).await {
        Err(TargetError::Ssh(e @ SshError::ChangedHostKey { .. })) => {
            assert!(e.to_string().contains(&format!("the host key of {bastion} does not match")), "{e}");
        }
        other => panic!("expected the bastion's changed host key, got {:?}", other.map(|t| t.describe())),
    }
}
