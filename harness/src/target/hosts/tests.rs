//! Target file tests: hand-made files in, values or `path:line:col: message`
//! lines out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::mailbox::{ImapConfig, ImapTimeouts, ImapTls};
use crate::secret::SecretSource;
use crate::target::through_shell::ServerPaths;
use crate::tls::Verify;

/// A full file for a real server, every section and key used.
const FULL: &str = r#"name = "lists.example.org (new VM)"

[smtp]
addresses = ["192.0.2.25:25", "[2001:db8::25]:25", "198.51.100.25"]
starttls = "required"
ca_file = "site-ca.pem"
user = "probe-sender"
password_env = "MAILFLOW_SMTP_PASSWORD"

[mailman]
version = "3"
rest_url = "http://127.0.0.1:8001"
reach = "through_shell"
password_file = "/etc/mailflow/rest-password"

[web]
hyperkitty_url = "https://lists.example.org/hyperkitty"

[mailbox]
kind = "imap"
host = "imap.example.org"
user = "mailflow-probe"
password_env = "MAILFLOW_IMAP_PASSWORD"
folder = "Probes"
address = "mailflow-probe@example.org"

[ssh]
host = "lists.example.org"
user = "mailflow"
port = 2222
proxy_jump = "ops@bastion.example.org"
identity_file = "keys/mailflow"
known_hosts_file = "/etc/mailflow/known_hosts"
become = "list"
exim_mainlog = "/var/log/exim/main.log"
mailman_var_dir = "/opt/mailman/var/"

[allow]
moderate = true

[limits]
probes_per_minute = 4

[cutover]
old_smtp = ["198.51.100.24", "[2001:db8::24]:2525"]
"#;

fn hosts(src: &str) -> HostsConfig {
    match parse_hosts(Path::new("targets/prod.toml"), src) {
        Ok(config) => config,
        Err(errors) => panic!("unexpected errors:\n{errors}"),
    }
}

/// The errors of a target file, one `h.toml:line:col: message` each.
fn hosts_errors(src: &str) -> Vec<String> {
    match parse_hosts(Path::new("h.toml"), src) {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(errors) => errors.errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_full_file() {
    let config = hosts(FULL);
    let expected = HostsConfig {
        path: PathBuf::from("targets/prod.toml"),
        name: "lists.example.org (new VM)".into(),
        smtp: SmtpConfig {
            addresses: vec![
                "192.0.2.25:25".parse().unwrap(),
                "[2001:db8::25]:25".parse().unwrap(),
                "198.51.100.25:25".parse().unwrap(),
            ],
            starttls: StartTls::Required,
            verify: Verify::CaFile(PathBuf::from("targets/site-ca.pem")),
            auth: Some(SmtpAuth {
                user: "probe-sender".into(),
                password: SecretSource::Env("MAILFLOW_SMTP_PASSWORD".into()),
            }),
        },
        mailman21: None,
        mailman: Some(MailmanConfig {
            version: MailmanVersion::Three,
            rest_url: "http://127.0.0.1:8001".into(),
            reach: RestReach::ThroughShell,
            user: "restadmin".into(),
            password: SecretSource::File(PathBuf::from("/etc/mailflow/rest-password")),
            verify: Verify::SystemRoots,
        }),
        web: Some(WebConfig {
            hyperkitty_url: "https://lists.example.org/hyperkitty/".into(),
            verify: Verify::SystemRoots,
        }),
        mailbox: Some(MailboxConfig::Imap(ImapConfig {
            host: "imap.example.org".into(),
            port: 993,
            tls: ImapTls::Imaps,
            verify: Verify::SystemRoots,
            user: "mailflow-probe".into(),
            password: SecretSource::Env("MAILFLOW_IMAP_PASSWORD".into()),
            folder: "Probes".into(),
            address: Some("mailflow-probe@example.org".into()),
            timeouts: ImapTimeouts::default(),
        })),
        ssh: Some(SshConfig {
            host: "lists.example.org".into(),
            user: Some("mailflow".into()),
            port: Some(2222),
            proxy_jump: Some("ops@bastion.example.org".into()),
            strict_host_key_checking: true,
            identity_file: Some(PathBuf::from("targets/keys/mailflow")),
            known_hosts_file: Some(PathBuf::from("/etc/mailflow/known_hosts")),
            become_user: Some("list".into()),
            paths: ServerPaths {
                exim_mainlog: "/var/log/exim/main.log".into(),
                mailman_var_dir: "/opt/mailman/var".into(),
                mailman_log: "/var/log/mailman3/mailman.log".into(),
            },
        }),
        allow: Allow { moderate: true, faults: false },
        faults: FaultCommands::debian(),
        limits: Limits { probes_per_minute: 4 },
        cutover: Cutover { old_smtp: vec!["198.51.100.24:25".parse().unwrap(), "[2001:db8::24]:2525".parse().unwrap()] },
    };
    assert_eq!(config, expected);
}

#[test]
fn the_smallest_file_and_its_defaults() {
    let config = hosts("name = \"x\"\n[smtp]\naddresses = [\"127.0.0.1:2525\"]\n");
    assert_eq!(config.smtp.starttls, StartTls::Required);
    assert_eq!(config.smtp.verify, Verify::SystemRoots);
    assert_eq!(config.smtp.auth, None);
    assert_eq!((config.mailman, config.web, config.mailbox, config.ssh), (None, None, None, None));
    assert_eq!(config.allow, Allow { moderate: false, faults: false });
    assert_eq!(config.limits.probes_per_minute, 10);

    // An [ssh] table without paths reads Debian's places on the host.
    let config = hosts("name = \"x\"\n[smtp]\naddresses = [\"127.0.0.1\"]\n[ssh]\nhost = \"lists.example.org\"\n");
    let ssh = config.ssh.expect("an ssh table");
    assert_eq!(ssh.paths, ServerPaths::debian());
    assert!(ssh.strict_host_key_checking);
    assert_eq!((ssh.user, ssh.port, ssh.proxy_jump, ssh.identity_file, ssh.known_hosts_file), (None, None, None, None, None));
    assert_eq!(ssh.become_user, None);
}

/// `[faults]`: Debian's commands through sudo as root unless the file
/// names others; `become = false` runs them as the ssh user.
#[test]
fn fault_commands_and_their_defaults() {
    let ssh = "name = \"x\"\n[smtp]\naddresses = [\"127.0.0.1\"]\n[ssh]\nhost = \"lists.example.org\"\n";
    let config = hosts(ssh);
    assert_eq!(config.faults, FaultCommands::debian());
    assert_eq!(config.faults.become_user.as_deref(), Some("root"));
    assert_eq!(config.faults.mailman_stop, ["systemctl", "stop", "mailman3"]);
    let config = hosts(&format!(
        "{ssh}[faults]\nbecome = false\nmailman_start = [\"/usr/local/bin/mailflow-mailman\", \"start\"]\nweb_ready = [\"curl\", \"-sf\", \"http://127.0.0.1/\"]\nexim = \"/usr/sbin/exim4\"\n"
    ));
    assert_eq!(config.faults.become_user, None);
    assert_eq!(config.faults.mailman_start, ["/usr/local/bin/mailflow-mailman", "start"]);
    assert_eq!(config.faults.mailman_stop, ["systemctl", "stop", "mailman3"]);
    assert_eq!(config.faults.web_ready, ["curl", "-sf", "http://127.0.0.1/"]);
    assert_eq!(config.faults.exim, "/usr/sbin/exim4");
}

/// The file's `probes_per_minute` is the hosts target's pace, which every
/// send waits for (`run` and `load` alike).
#[tokio::test]
async fn the_files_rate_limit_is_the_targets_pace() {
    let config = hosts("name = \"x\"\n[smtp]\naddresses = [\"192.0.2.25\"]\n[limits]\nprobes_per_minute = 30\n");
    let target = HostsTarget::connect_with(config, "probe.test", true).await.expect("a dry-run target");
    let pacer = crate::target::Target::pacer(&target).expect("a hosts target paces its probes");
    assert_eq!(pacer.gap(), Duration::from_secs(2));
}

#[test]
fn mailbox_defaults_and_loopback_plain() {
    let config = hosts(
        "name = \"x\"\n[smtp]\naddresses = [\"127.0.0.1\"]\nstarttls = \"off\"\n\
         [mailbox]\nkind = \"imap\"\nhost = \"127.0.0.1\"\ntls = \"plain\"\nuser = \"u\"\npassword_file = \"pw\"\n",
    );
    assert_eq!(config.smtp.addresses, ["127.0.0.1:25".parse().unwrap()]);
    let Some(MailboxConfig::Imap(imap)) = config.mailbox else { panic!("{:?}", config.mailbox) };
    assert_eq!((imap.port, imap.tls, imap.folder.as_str()), (143, ImapTls::Plain, "INBOX"));
    // Relative to the target file's folder.
    assert_eq!(imap.password, SecretSource::File(PathBuf::from("targets/pw")));
    assert_eq!(imap.timeouts.command, Duration::from_secs(30));

    let starttls = hosts(
        "name = \"x\"\n[smtp]\naddresses = [\"127.0.0.1\"]\n\
         [mailbox]\nkind = \"imap\"\nhost = \"imap.example.org\"\ntls = \"starttls\"\nverify = false\nuser = \"u\"\npassword_env = \"P\"\n",
    );
    let Some(MailboxConfig::Imap(imap)) = starttls.mailbox else { panic!() };
    assert_eq!((imap.port, imap.verify), (143, Verify::Off));
}

/// Each case's lines go between these, from line 2 on: a good `name` and `[smtp]`.
const HEAD: &str = "name = \"x\"\n";
const TAIL: &str = "\n[smtp]\naddresses = [\"192.0.2.25\"]\n";

/// One error per case: (what, lines after HEAD (line 2 on), the one expected line).
const HOSTS_ERRORS: &[(&str, &str, &str)] = &[
    (
        "unknown key at top level",
        "colour = 1\n",
        "h.toml:2:1: unknown key `colour` at the top level; accepted keys: name, smtp, mailman, web, mailbox, ssh, allow, faults, limits, cutover",
    ),
    (
        "fault commands without a shell",
        "[faults]\nmailman_stop = [\"systemctl\", \"stop\", \"mailman3\"]\n",
        "h.toml:2:1: `[faults]` commands run through the `[ssh]` shell: add an `[ssh]` table",
    ),
    (
        "fault commands: become an option",
        "[ssh]\nhost = \"l\"\n[faults]\nbecome = \"-s\"\n",
        "h.toml:5:10: `faults.become` must be a user name on the list host, like \"root\", or false",
    ),
    (
        "fault commands: an empty stop",
        "[ssh]\nhost = \"l\"\n[faults]\nweb_stop = []\n",
        "h.toml:5:12: `faults.web_stop` must name a command, like [\"systemctl\", \"stop\", \"mailman3\"]",
    ),
    (
        "fault commands: a string, not words",
        "[ssh]\nhost = \"l\"\n[faults]\nmailman_start = \"systemctl start mailman3\"\n",
        "h.toml:5:17: `faults.mailman_start` must be an array, found a string",
    ),
    (
        "unknown key in a table",
        "[allow]\nmoderate = true\ndelete_everything = true\n",
        "h.toml:4:1: unknown key `delete_everything` in `allow`; accepted keys: moderate, faults",
    ),
    (
        "literal password",
        "[mailbox]\nkind = \"imap\"\nhost = \"imap.example.org\"\nuser = \"u\"\npassword = \"hunter2\"\n",
        "h.toml:6:1: `mailbox.password` would put a secret in the target file; name where it is instead: `password_env` (an environment variable) or `password_file` (a file's path)",
    ),
    (
        "both password sources",
        "[mailman]\nversion = \"3\"\nrest_url = \"http://127.0.0.1:8001\"\npassword_env = \"P\"\npassword_file = \"p\"\n",
        "h.toml:6:17: `mailman.password_env` and `mailman.password_file` both given; give one of them",
    ),
    (
        "no password source",
        "[mailman]\nversion = \"3\"\nrest_url = \"http://127.0.0.1:8001\"\n",
        "h.toml:2:1: missing `mailman.password_env` or `mailman.password_file`: where the password is read from",
    ),
    (
        "bad variable name",
        "[mailman]\nversion = \"3\"\nrest_url = \"http://127.0.0.1:8001\"\npassword_env = \"$REST_PW\"\n",
        "h.toml:5:16: invalid environment variable name `$REST_PW` in `mailman.password_env`: letters, digits and `_`, not starting with a digit",
    ),
    (
        "unknown mailman version",
        "[mailman]\nversion = \"2.2\"\nrest_url = \"http://127.0.0.1:8001\"\npassword_env = \"P\"\n",
        "h.toml:3:11: unknown Mailman version `2.2` in `mailman.version`; expected \"3\" or \"2.1\"",
    ),
    (
        "mailman 2.1 with a REST URL",
        "[mailman]\nversion = \"2.1\"\nweb_url = \"http://l.example.org\"\nrest_url = \"http://127.0.0.1:8001\"\n",
        "h.toml:5:1: unknown key `rest_url` in `mailman`; accepted keys: version, web_url, cgi_path, pipermail_path, address, site_password_env, site_password_file, verify, ca_file, bin_dir, qfiles_dir, logs_dir, archives_dir, lists",
    ),
    (
        "mailman 2.1 web URL with a path",
        "[mailman]\nversion = \"2.1\"\nweb_url = \"http://l.example.org/mailman/\"\n",
        "h.toml:4:11: `mailman.web_url` is the web host only (like \"https://lists.example.org\"); give the paths as `cgi_path` and `pipermail_path`, found path `/mailman/`",
    ),
    (
        "mailman 2.1 CGI path without slashes",
        "[mailman]\nversion = \"2.1\"\nweb_url = \"http://l.example.org\"\ncgi_path = \"cgi-bin/mailman\"\n",
        "h.toml:5:12: `mailman.cgi_path` must start and end with `/`, like \"/mailman/\"",
    ),
    (
        "mailman 2.1 literal list password",
        "[mailman]\nversion = \"2.1\"\nweb_url = \"http://l.example.org\"\n[mailman.lists.probe-test]\npassword = \"probepw\"\n",
        "h.toml:6:1: `mailman.lists.probe-test.password` would put a secret in the target file; name where it is instead: `password_env` (an environment variable) or `password_file` (a file's path)",
    ),
    (
        "mailman 2.1 archive password without user",
        "[mailman]\nversion = \"2.1\"\nweb_url = \"http://l.example.org\"\n[mailman.lists.probe-private]\narchive_password_env = \"P\"\n",
        "h.toml:6:24: an archive password needs `mailman.lists.probe-private.archive_user`",
    ),
    (
        "mailman 2.1 archive user without password",
        "[mailman]\nversion = \"2.1\"\nweb_url = \"http://l.example.org\"\n[mailman.lists.probe-private]\narchive_user = \"alice@probe.test\"\n",
        "h.toml:5:1: missing `mailman.lists.probe-private.archive_password_env` or `mailman.lists.probe-private.archive_password_file`: where the password is read from",
    ),
    (
        "unknown mailman version",
        "[mailman]\nversion = \"4\"\nrest_url = \"http://127.0.0.1:8001\"\npassword_env = \"P\"\n",
        "h.toml:3:11: unknown Mailman version `4` in `mailman.version`; expected \"3\" or \"2.1\"",
    ),
    (
        "mailman version as a number",
        "[mailman]\nversion = 3\nrest_url = \"http://127.0.0.1:8001\"\npassword_env = \"P\"\n",
        "h.toml:3:11: `mailman.version` must be a string, found an integer",
    ),
    (
        "through the shell without ssh",
        "[mailman]\nversion = \"3\"\nrest_url = \"http://127.0.0.1:8001\"\nreach = \"through_shell\"\npassword_env = \"P\"\n",
        "h.toml:5:9: `mailman.reach = \"through_shell\"` needs an `[ssh]` table: the shell it goes through",
    ),
    (
        "unknown reach",
        "[mailman]\nversion = \"3\"\nrest_url = \"http://127.0.0.1:8001\"\nreach = \"tunnel\"\npassword_env = \"P\"\n",
        "h.toml:5:9: unknown way `tunnel` in `mailman.reach`; expected one of direct, through_shell",
    ),
    (
        "credentials in a URL",
        "[mailman]\nversion = \"3\"\nrest_url = \"http://restadmin:pw@127.0.0.1:8001\"\npassword_env = \"P\"\n",
        "h.toml:4:12: invalid URL `http://restadmin:pw@127.0.0.1:8001` in `mailman.rest_url`: must not carry credentials; name the password with password_env or password_file",
    ),
    (
        "not an http URL",
        "[web]\nhyperkitty_url = \"ftp://lists.example.org/\"\n",
        "h.toml:3:18: invalid URL `ftp://lists.example.org/` in `web.hyperkitty_url`: must start with http:// or https://",
    ),
    (
        "unknown mailbox kind",
        "[mailbox]\nkind = \"maildir\"\nhost = \"h\"\nuser = \"u\"\npassword_env = \"P\"\n",
        "h.toml:3:8: unknown mailbox kind `maildir` in `mailbox.kind`; expected one of imap",
    ),
    (
        "plain IMAP to a real host",
        "[mailbox]\nkind = \"imap\"\nhost = \"imap.example.org\"\ntls = \"plain\"\nuser = \"u\"\npassword_env = \"P\"\n",
        "h.toml:5:7: `mailbox.tls = \"plain\"` would send the password to `imap.example.org` in clear; plain is for loopback tests only: use \"imaps\" or \"starttls\"",
    ),
    (
        "unknown IMAP TLS mode",
        "[mailbox]\nkind = \"imap\"\nhost = \"h\"\ntls = \"ssl\"\nuser = \"u\"\npassword_env = \"P\"\n",
        "h.toml:5:7: unknown TLS mode `ssl` in `mailbox.tls`; expected one of imaps, starttls, plain",
    ),
    (
        "missing IMAP user",
        "[mailbox]\nkind = \"imap\"\nhost = \"h\"\npassword_env = \"P\"\n",
        "h.toml:2:1: missing required key `user` in `mailbox`",
    ),
    (
        "bad IMAP port",
        "[mailbox]\nkind = \"imap\"\nhost = \"h\"\nport = 99999\nuser = \"u\"\npassword_env = \"P\"\n",
        "h.toml:5:8: `mailbox.port` must be between 1 and 65535, found 99999",
    ),
    (
        "host with a port",
        "[mailbox]\nkind = \"imap\"\nhost = \"imap.example.org:993\"\nuser = \"u\"\npassword_env = \"P\"\n",
        "h.toml:4:8: invalid host `imap.example.org:993` in `mailbox.host`: a host name or an IP address, without port",
    ),
    (
        "bad mailbox address",
        "[mailbox]\nkind = \"imap\"\nhost = \"h\"\nuser = \"u\"\npassword_env = \"P\"\naddress = \"probe\"\n",
        "h.toml:7:11: invalid address `probe` in `mailbox.address`: must contain exactly one `@`",
    ),
    (
        "CA file with verification off",
        "[web]\nhyperkitty_url = \"https://h/\"\nverify = false\nca_file = \"ca.pem\"\n",
        "h.toml:5:11: `web.ca_file` has no effect with `web.verify` = false",
    ),
    (
        "ssh without a host",
        "[ssh]\nuser = \"u\"\n",
        "h.toml:2:1: missing required key `host` in `ssh`",
    ),
    (
        "jump host with a space",
        "[ssh]\nhost = \"h\"\nproxy_jump = \"a b\"\n",
        "h.toml:4:14: `ssh.proxy_jump` must be `[user@]host[:port]`, several separated by `,`, without spaces",
    ),
    (
        "strict host key checking not a boolean",
        "[ssh]\nhost = \"h\"\nstrict_host_key_checking = \"no\"\n",
        "h.toml:4:28: `ssh.strict_host_key_checking` must be true or false, found a string",
    ),
    (
        "a server path taken as relative",
        "[ssh]\nhost = \"h\"\nexim_mainlog = \"log/mainlog\"\n",
        "h.toml:4:16: `ssh.exim_mainlog` must be an absolute path on the list host, like \"/var/log/exim4/mainlog\"",
    ),
    (
        "allow not a boolean",
        "[allow]\nfaults = \"yes\"\n",
        "h.toml:3:10: `allow.faults` must be true or false, found a string",
    ),
    (
        "become an option",
        "[ssh]\nhost = \"h\"\nbecome = \"-s\"\n",
        "h.toml:4:10: `ssh.become` must be a user name on the list host, like \"list\"",
    ),
    (
        "too many probes",
        "[limits]\nprobes_per_minute = 6000\n",
        "h.toml:3:21: `limits.probes_per_minute` must be between 1 and 600, found 6000",
    ),
    (
        "a section that is not a table",
        "web = \"https://h/\"\n",
        "h.toml:2:7: `web` must be a table, found a string",
    ),
];

#[test]
fn hosts_error_kinds() {
    let mut failures = Vec::new();
    for (what, lines, expected) in HOSTS_ERRORS {
        let errors = hosts_errors(&format!("{HEAD}{lines}{TAIL}"));
        if errors != [*expected] {
            failures.push(format!("{what}:\n  expected {expected}\n  got      {errors:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Errors in `[smtp]` itself, so without HEAD and TAIL.
const SMTP_ERRORS: &[(&str, &str, &str)] = &[
    ("no smtp", "name = \"x\"\n", "h.toml:1:1: missing required key `smtp` at the top level"),
    (
        "empty addresses",
        "name = \"x\"\n[smtp]\naddresses = []\n",
        "h.toml:3:13: `smtp.addresses` must not be empty",
    ),
    (
        "a host name",
        "name = \"x\"\n[smtp]\naddresses = [\"lists.example.org:25\"]\n",
        "h.toml:3:14: invalid address `lists.example.org:25` in `smtp.addresses`: write an IP address with an optional port, like \"192.0.2.25:25\" or \"[2001:db8::25]:25\" (names are not resolved)",
    ),
    (
        "the same address twice, once with the default port",
        "name = \"x\"\n[smtp]\naddresses = [\"[2001:db8::25]:25\", \"2001:db8::25\"]\n",
        "h.toml:3:35: `smtp.addresses` lists `[2001:db8::25]:25` more than once",
    ),
    (
        "unknown starttls",
        "name = \"x\"\n[smtp]\naddresses = [\"192.0.2.25\"]\nstarttls = true\n",
        "h.toml:4:12: `smtp.starttls` must be a string, found a boolean",
    ),
    (
        "auth without tls",
        "name = \"x\"\n[smtp]\naddresses = [\"192.0.2.25\"]\nstarttls = \"off\"\nuser = \"u\"\npassword_env = \"P\"\n",
        "h.toml:5:8: SMTP AUTH with `smtp.starttls = \"off\"` would send the password in clear; use \"required\"",
    ),
    (
        "auth password without a user",
        "name = \"x\"\n[smtp]\naddresses = [\"192.0.2.25\"]\npassword_file = \"pw\"\n",
        "h.toml:4:17: an SMTP AUTH password needs `smtp.user`",
    ),
    (
        "auth user without a password",
        "name = \"x\"\n[smtp]\naddresses = [\"192.0.2.25\"]\nuser = \"u\"\n",
        "h.toml:2:1: missing `smtp.password_env` or `smtp.password_file`: where the password is read from",
    ),
    (
        "syntax error",
        "name = \"x\"\n[smtp\n",
        "h.toml:2:6: TOML syntax error: unclosed table, expected `]`",
    ),
];

#[test]
fn smtp_error_kinds() {
    let mut failures = Vec::new();
    for (what, src, expected) in SMTP_ERRORS {
        let errors = hosts_errors(src);
        if errors != [*expected] {
            failures.push(format!("{what}:\n  expected {expected}\n  got      {errors:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_error_of_a_file_is_reported_in_file_order() {
    let errors = hosts_errors(
        r#"name = ""
extra = 1

[smtp]
addresses = ["192.0.2.25", "nope"]
password = "hunter2"

[mailbox]
kind = "imap"
host = "imap.example.org"
user = "u"

[limits]
probes_per_minute = 0
"#,
    );
    assert_eq!(
        errors,
        [
            "h.toml:1:8: `name` must be one non-empty line",
            "h.toml:2:1: unknown key `extra` at the top level; accepted keys: name, smtp, mailman, web, mailbox, ssh, allow, faults, limits, cutover",
            "h.toml:5:28: invalid address `nope` in `smtp.addresses`: write an IP address with an optional port, like \"192.0.2.25:25\" or \"[2001:db8::25]:25\" (names are not resolved)",
            "h.toml:6:1: `smtp.password` would put a secret in the target file; name where it is instead: `password_env` (an environment variable) or `password_file` (a file's path)",
            "h.toml:8:1: missing `mailbox.password_env` or `mailbox.password_file`: where the password is read from",
            "h.toml:14:21: `limits.probes_per_minute` must be between 1 and 600, found 0",
        ]
    );
}

#[test]
fn errors_render_with_their_snippet_and_never_a_secret_value() {
    let errors = parse_hosts(
        Path::new("h.toml"),
        "name = \"x\"\n[smtp]\naddresses = [\"192.0.2.25\"]\nuser = \"u\"\npassword = \"hunter2\"\n",
    )
    .unwrap_err();
    let first = &errors.errors[0];
    assert_eq!((first.line(), first.column()), (5, 1));
    let mut rendered = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut rendered, first)
        .unwrap();
    assert!(rendered.contains("[h.toml:5:1]"), "{rendered}");
    assert!(rendered.contains("secret in the file"), "{rendered}");
    // The message never repeats the value (the snippet shows the line as written).
    assert!(!errors.to_string().contains("hunter2"), "{errors}");
}

#[test]
fn secrets_in_a_parsed_file_print_as_their_source() {
    let config = hosts(FULL);
    let printed = format!("{config:?}");
    assert!(printed.contains("MAILFLOW_IMAP_PASSWORD"), "{printed}");
}

#[test]
fn load_reads_the_file_or_names_it() {
    let missing = load_hosts(Path::new("/nonexistent/hosts.toml")).unwrap_err();
    assert!(missing.to_string().starts_with("/nonexistent/hosts.toml: cannot read: "), "{missing}");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests-data/hosts/example.toml");
    let config = load_hosts(&example).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.name, "lists.example.org");
}

#[test]
fn the_readme_shows_the_example_file_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("tests-data/hosts/example.toml")).unwrap();
    let readme = std::fs::read_to_string(root.join("../README.md")).unwrap();
    assert!(readme.contains(&format!("```toml\n{example}```")), "README.md's \"Target files\" example differs from tests-data/hosts/example.toml");
}

#[test]
fn a_mailman21_file() {
    let config = hosts(
        "name = \"old host\"\n[smtp]\naddresses = [\"192.0.2.25\"]\n\
         [mailman]\nversion = \"2.1\"\nweb_url = \"https://lists.example.org/\"\naddress = \"192.0.2.25\"\n\
         site_password_env = \"MM_SITE\"\nbin_dir = \"/usr/local/mailman/bin/\"\n\
         [mailman.lists.probe-test]\npassword_env = \"PT\"\n\
         [mailman.lists.Probe-Private]\narchive_user = \"alice@probe.test\"\narchive_password_file = \"alice.pw\"\n",
    );
    assert!(config.mailman.is_none());
    let m = config.mailman21.expect("a Mailman 2.1 table");
    assert_eq!(m.web_url, "https://lists.example.org");
    assert_eq!((m.cgi_path.as_str(), m.pipermail_path.as_str()), ("/mailman/", "/pipermail/"));
    assert_eq!(m.address, Some("192.0.2.25".parse().unwrap()));
    assert_eq!(m.site_password, Some(SecretSource::Env("MM_SITE".into())));
    assert_eq!(m.paths.bin, "/usr/local/mailman/bin");
    assert_eq!(m.paths.logs, "/var/log/mailman");
    assert_eq!(m.lists.len(), 2);
    assert_eq!((m.lists[0].name.as_str(), m.lists[0].password.clone()), ("probe-test", Some(SecretSource::Env("PT".into()))));
    assert_eq!(m.lists[1].name, "probe-private");
    assert_eq!(m.lists[1].archive_login, Some(("alice@probe.test".into(), SecretSource::File(PathBuf::from("targets/alice.pw")))));
}

#[test]
fn the_readme_mailman21_example_parses() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let start = readme.find("```toml\nname = \"lists.example.org (jessie, Mailman 2.1)\"").expect("the README's Mailman 2.1 example") + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let config = parse_hosts(Path::new("t/mm21.toml"), &readme[start..end]).unwrap_or_else(|e| panic!("{e:?}"));
    let m = config.mailman21.expect("a Mailman 2.1 table");
    assert_eq!(m.lists.len(), 2);
    assert!(config.allow.moderate);
}
