//! The validated target file: what [`super::parse_hosts`] returns.
//!
//! Paths are absolute or already joined to the target file's folder;
//! secrets are where to read them from ([`SecretSource`]), never values.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::mailbox::ImapConfig;
use crate::target::through_shell::ServerPaths;
use crate::secret::SecretSource;
use crate::tls::Verify;

/// A real list server as a target file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsConfig {
    /// The target file it was read from.
    pub path: PathBuf,
    /// The host's name, as reports show it.
    pub name: String,
    pub smtp: SmtpConfig,
    /// Mailman 3's REST API; without it (and without `mailman21`),
    /// held-queue steps are skipped.
    pub mailman: Option<MailmanConfig>,
    /// Mailman 2.1's web side (`[mailman]` with `version = "2.1"`): admindb,
    /// pipermail, listinfo. Exclusive with `mailman`.
    pub mailman21: Option<Mailman21Config>,
    /// The web side; without it, HyperKitty and page steps are skipped.
    pub web: Option<WebConfig>,
    /// Where deliveries are observed; without it, delivery steps are skipped.
    pub mailbox: Option<MailboxConfig>,
    /// A shell on the host; needed by `mailman.reach = "through_shell"`.
    pub ssh: Option<SshConfig>,
    pub allow: Allow,
    /// How fault steps act on the host through the shell (`[faults]`);
    /// Debian's commands unless the file names others. Used only with
    /// `[allow] faults = true` and `[ssh]`.
    pub faults: FaultCommands,
    pub limits: Limits,
    pub cutover: Cutover,
}

/// `[cutover]`: what the cutover steps need beyond the new host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cutover {
    /// The old host's SMTP addresses (`old_smtp`), port 25 unless written:
    /// `expect_old_host` checks that they refuse the list domain's mail.
    pub old_smtp: Vec<SocketAddr>,
}

/// Exim's SMTP listener(s), where probes are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Every address the service answers on, in the order written (IPv4 and
    /// IPv6 listed separately; during a migration, the old and the new
    /// service address). Port 25 when the file gives none.
    pub addresses: Vec<SocketAddr>,
    pub starttls: StartTls,
    /// How the server's certificate is checked after STARTTLS.
    pub verify: Verify,
    /// SMTP AUTH, when the server wants it for the probe senders.
    pub auth: Option<SmtpAuth>,
}

pub use crate::smtp::StartTls;

/// SMTP AUTH credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpAuth {
    pub user: String,
    pub password: SecretSource,
}

/// Which Mailman the host runs. Only Mailman 3 for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailmanVersion {
    Three,
}

/// Mailman 2.1: its web host and the passwords per list. The secrets are
/// where to read them from, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailman21Config {
    /// `scheme://host[:port]` of the list's web host, no path; its host
    /// name is the Host header sent.
    pub web_url: String,
    /// Where the CGI programs are (`/mailman/` unless the file says).
    pub cgi_path: String,
    /// Where public archives are (`/pipermail/` unless the file says).
    pub pipermail_path: String,
    /// Connect here instead of resolving the web host's name.
    pub address: Option<std::net::IpAddr>,
    pub verify: Verify,
    /// The site password (`bin/mmsitepass`): opens every list's admindb.
    pub site_password: Option<SecretSource>,
    /// Per list: admin or moderator password, private archive login.
    pub lists: Vec<Mailman21List>,
    /// Where `bin/`, `qfiles/` and the logs are, for the shell.
    pub paths: crate::mailman21::shell::Paths,
}

/// One list's passwords on a Mailman 2.1 host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailman21List {
    /// The list's name (the posting address's local part).
    pub name: String,
    /// Its admin or moderator password, for admindb.
    pub password: Option<SecretSource>,
    /// A member's address and password, for its private archive.
    pub archive_login: Option<(String, SecretSource)>,
}

/// How the harness reaches Mailman's REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestReach {
    /// Straight from this machine to `rest_url` (the operator exposed it).
    Direct,
    /// From a shell on the host (`[ssh]`), to `rest_url` as the host sees it
    /// (usually its loopback, where Mailman listens by default).
    ThroughShell,
}

impl RestReach {
    pub const ALL: [RestReach; 2] = [RestReach::Direct, RestReach::ThroughShell];

    /// The name a target file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RestReach::Direct => "direct",
            RestReach::ThroughShell => "through_shell",
        }
    }
}

/// Mailman's REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailmanConfig {
    pub version: MailmanVersion,
    /// The API's base URL, e.g. `http://127.0.0.1:8001` (no version path).
    pub rest_url: String,
    pub reach: RestReach,
    /// REST user, `restadmin` when the file gives none.
    pub user: String,
    pub password: SecretSource,
    /// For an `https` `rest_url` reached directly.
    pub verify: Verify,
}

/// The web side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfig {
    /// HyperKitty's base URL, e.g. `https://lists.example.org/hyperkitty/`
    /// (always ending in `/`).
    pub hyperkitty_url: String,
    pub verify: Verify,
}

/// The delivery observer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxConfig {
    /// A mailbox read over IMAP; the suite's subscriber addresses deliver there.
    Imap(ImapConfig),
}

/// A shell on the host, through the system's ssh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshConfig {
    pub host: String,
    /// The login name; ssh's own default (config, then the local user) when `None`.
    pub user: Option<String>,
    /// ssh's default (config, then 22) when `None`.
    pub port: Option<u16>,
    /// Jump host(s) as ssh's `-J` takes them: `[user@]host[:port][,...]`.
    pub proxy_jump: Option<String>,
    /// `true` (the default): an unknown or changed host key stops the run.
    pub strict_host_key_checking: bool,
    pub identity_file: Option<PathBuf>,
    pub known_hosts_file: Option<PathBuf>,
    /// `become`: the user (usually `list`) whose rights read Mailman's
    /// prototype maildirs (0700, that user's alone), through `sudo -n -u
    /// <user> --` on the host; only `grep` runs that way. `None`: read as
    /// the ssh user.
    pub become_user: Option<String>,
    /// Where exim's log and Mailman's folders are on the host, read through
    /// this shell; Debian's places unless the file names others.
    pub paths: ServerPaths,
}

/// What the harness may change on the host besides sending probes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allow {
    /// Moderate (accept, discard, reject, defer) its own held probes.
    pub moderate: bool,
    /// Run fault steps (stop a service, block a port) on the host.
    pub faults: bool,
}

/// The commands fault steps run on the host through the `[ssh]` shell
/// (`[faults]` in the target file), each an argv (no shell on this side;
/// the ssh shell quotes every argument for the host's shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultCommands {
    /// The user the stop, start and exim commands run as, through
    /// `sudo -n -u <user> --` (never asking for a password); `None`
    /// (`become = false`): as the ssh user. `root` by default: stopping a
    /// service and reading exim's queue need it.
    pub become_user: Option<String>,
    /// Stops Mailman and returns once it is down (`systemctl stop mailman3`).
    pub mailman_stop: Vec<String>,
    /// Starts Mailman (`systemctl start mailman3`).
    pub mailman_start: Vec<String>,
    /// Run after a start, as the ssh user, until it exits 0 (every half
    /// second, within the start's deadline): Mailman answers. Empty: no
    /// wait. By default LMTP's greeting on 127.0.0.1:8024 and a connection to
    /// REST on 127.0.0.1:8001, Mailman's own defaults.
    pub mailman_ready: Vec<String>,
    /// Stops the web side (`systemctl stop mailman3-web`).
    pub web_stop: Vec<String>,
    /// Starts the web side (`systemctl start mailman3-web`).
    pub web_start: Vec<String>,
    /// As `mailman_ready`, for the web side; empty by default (then, with
    /// `[web]`, HyperKitty's URL is asked from this machine until it answers).
    pub web_ready: Vec<String>,
    /// exim's program on the host, for `-qff` (`mta_queue_run`) and `-bp`,
    /// `-Mvh`, `-Mvl` (`expect_queued`): `exim` (Debian links it to exim4).
    pub exim: String,
}

impl FaultCommands {
    /// LMTP greets on Mailman's default port and REST accepts a connection.
    pub const DEBIAN_MAILMAN_READY: &'static str = "import socket\n\
        s = socket.create_connection(('127.0.0.1', 8024), 3)\n\
        s.settimeout(3)\n\
        assert s.recv(3) == b'220'\n\
        socket.create_connection(('127.0.0.1', 8001), 3).close()\n";

    /// Debian's packages: `mailman3` and `mailman3-web` under systemd, run as root.
    pub fn debian() -> FaultCommands {
        let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        FaultCommands {
            become_user: Some("root".into()),
            mailman_stop: argv(&["systemctl", "stop", "mailman3"]),
            mailman_start: argv(&["systemctl", "start", "mailman3"]),
            mailman_ready: argv(&["python3", "-c", Self::DEBIAN_MAILMAN_READY]),
            web_stop: argv(&["systemctl", "stop", "mailman3-web"]),
            web_start: argv(&["systemctl", "start", "mailman3-web"]),
            web_ready: Vec::new(),
            exim: "exim".into(),
        }
    }
}

impl Default for FaultCommands {
    fn default() -> Self {
        FaultCommands::debian()
    }
}

/// Rate limits toward the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Probes sent per minute at most, over the whole run.
    pub probes_per_minute: u32,
}

impl Limits {
    /// A conservative default: a smoke test sends a handful of probes.
    pub const DEFAULT_PROBES_PER_MINUTE: u32 = 10;
}

impl Default for Limits {
    fn default() -> Self {
        Limits { probes_per_minute: Limits::DEFAULT_PROBES_PER_MINUTE }
    }
}
