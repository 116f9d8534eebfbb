//! A shell on a real list server through the system's ssh (the `openssh`
//! crate: one master connection, each command a multiplexed session on it).
//!
//! The target file's `[ssh]` table becomes an ssh_config file private to
//! this shell (in a temporary folder, with the control socket), given to ssh
//! with `-F`: ssh passes `-F` on to the jump connection too, so host-key
//! checking, the known_hosts file and the identity apply to the bastion as
//! well as to the list host (options given with `-o` would not reach the
//! jump). The user's `~/.ssh/config` and `/etc/ssh/ssh_config` are included
//! after these settings, so they still decide whatever the file leaves open.
//!
//! The jump host is reached as `ssh -J` reaches it, written out as the
//! `ProxyCommand` that `-J` stands for (`ssh -W '[%h]:%p' <jump>`) plus `-E`,
//! so that what the jump connection says (a bastion's unknown host key) is
//! kept for the error instead of going to a closed stderr.
//!
//! Every command has a deadline twice over: `timeout` on the server stops
//! the remote process, and a local deadline stops waiting for it. Commands
//! run with a PATH that includes the sbin folders (`exigrep` is there). Connecting
//! has one too. Secrets given on stdin ([`SshShell::exec_with_input`]) never
//! appear in any argv, here or on the server.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::AsyncWriteExt as _;

use super::config::SshConfig;
use crate::target::{Shell, TargetError};
use crate::BoxFuture;

/// Connecting (TCP, the jump, key exchange, authentication) gives up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// ssh's own per-hop TCP connect timeout (ssh_config `ConnectTimeout`), seconds.
const TCP_CONNECT_SECS: u32 = 10;
/// A command is stopped on the server after this (`timeout`), seconds...
const REMOTE_LIMIT_SECS: u32 = 50;
/// ...and waited for here at most this long.
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);
/// The PATH commands run with on the host: a login's PATH leaves out the
/// sbin folders, where Debian puts `exigrep` and `exim`.
const REMOTE_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The master connection exits after this long without a command, so that
/// a harness killed outright leaves no ssh process behind for long.
const IDLE_EXIT_SECS: usize = 600;
/// A master idle for longer than this is replaced before the next command,
/// rather than raced against its idle exit.
const REPLACE_AFTER: Duration = Duration::from_secs(540);
/// The Host alias of the list host in the generated ssh_config.
const ALIAS: &str = "mailflow-list-host";

/// Why the ssh shell failed. Messages name the host and what ssh said;
/// never a key's content or a password.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// Strict checking and no key for the host in known_hosts.
    #[error(
        "ssh to {destination}: the host key of {host} is not known (strict host key checking is on; \
         add the host's key to {known_hosts} after checking its fingerprint): {detail}"
    )]
    UnknownHostKey { destination: String, host: String, known_hosts: String, detail: String },
    /// The key the host offered differs from the one recorded.
    #[error(
        "ssh to {destination}: the host key of {host} does not match the one in {known_hosts}: refused \
         (a changed host key may be a new install or someone in between; check before updating known_hosts): {detail}"
    )]
    ChangedHostKey { destination: String, host: String, known_hosts: String, detail: String },
    /// The server refused every key offered.
    #[error("ssh to {destination}: authentication refused: {detail}")]
    AuthRefused { destination: String, detail: String },
    /// Anything else that kept the connection from being made.
    #[error("ssh to {destination}: cannot connect: {detail}")]
    Connect { destination: String, detail: String },
    #[error("ssh to {destination}: no connection within {after:?}")]
    ConnectTimeout { destination: String, after: Duration },
    /// The command ran past its deadline (on the server or here).
    #[error("ssh to {destination}: `{program}` did not finish within {after:?}")]
    CommandTimeout { destination: String, program: String, after: Duration },
    #[error("ssh to {destination}: `{program}` is not installed on the host (or not on the ssh user's PATH)")]
    NotFound { destination: String, program: String },
    /// The connection broke during a command; the next command reconnects.
    #[error("ssh to {destination}: running `{program}`: {detail}")]
    Session { destination: String, program: String, detail: String },
    /// The shell's private folder or its ssh_config could not be made.
    #[error("ssh: cannot prepare ssh's settings: {0}")]
    Setup(String),
}

/// A shell on the list host over ssh, as an `[ssh]` table describes it.
pub struct SshShell {
    /// `user@host:port` as written, for messages.
    destination: String,
    known_hosts: String,
    builder: SessionBuilder,
    /// Holds the ssh_config, the jump log and the control sockets; removed on drop.
    private: tempfile::TempDir,
    session: tokio::sync::Mutex<Option<Live>>,
}

/// The master connection and when it last ran a command.
struct Live {
    session: Arc<Session>,
    last_used: Instant,
}

impl std::fmt::Debug for SshShell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshShell").field("destination", &self.destination).finish_non_exhaustive()
    }
}

impl SshShell {
    /// Writes the shell's ssh_config and opens the master connection (through
    /// the jump host when one is named). Fails with the reason ssh gave:
    /// an unknown or changed host key, a refused key, no route.
    pub async fn connect(config: &SshConfig) -> Result<SshShell, SshError> {
        let shell = SshShell::prepare(config)?;
        let live = shell.open().await?;
        *shell.session.lock().await = Some(live);
        Ok(shell)
    }

    /// The private folder and ssh_config, without connecting.
    fn prepare(config: &SshConfig) -> Result<SshShell, SshError> {
        let private = tempfile::Builder::new()
            .prefix("mailflow-ssh-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .map_err(|e| SshError::Setup(format!("a private folder: {e}")))?;
        let ssh_config = private.path().join("ssh_config");
        let text = ssh_config_text(config, &ssh_config, &private.path().join("jump.log"))?;
        write_private(&ssh_config, &text).map_err(|e| SshError::Setup(format!("{}: {e}", ssh_config.display())))?;
        let mut builder = SessionBuilder::default();
        builder
            .config_file(&ssh_config)
            .control_directory(private.path())
            .control_persist(ControlPersist::IdleFor(IDLE_EXIT_SECS.try_into().expect("not zero")))
            // Given on ssh's command line by the crate; the same as in the file.
            .known_hosts_check(if config.strict_host_key_checking { KnownHosts::Strict } else { KnownHosts::Add });
        Ok(SshShell {
            destination: destination(config),
            known_hosts: config
                .known_hosts_file
                .as_ref()
                .map_or_else(|| "ssh's known_hosts files".to_string(), |p| p.display().to_string()),
            builder,
            private,
            session: tokio::sync::Mutex::new(None),
        })
    }

    async fn open(&self) -> Result<Live, SshError> {
        let jump_log = self.private.path().join("jump.log");
        let _ = std::fs::remove_file(&jump_log);
        let connecting = tokio::time::timeout(CONNECT_TIMEOUT, self.builder.connect(ALIAS)).await;
        let session = match connecting {
            Ok(Ok(session)) => session,
            Ok(Err(e)) => {
                let master = error_text(&e);
                let jump = std::fs::read_to_string(&jump_log).unwrap_or_default();
                return Err(classify(&self.destination, &self.known_hosts, &master, &jump));
            }
            Err(_) => return Err(SshError::ConnectTimeout { destination: self.destination.clone(), after: CONNECT_TIMEOUT }),
        };
        Ok(Live { session: Arc::new(session), last_used: Instant::now() })
    }

    /// The master connection, opened again when it was lost or has idled
    /// close to its exit.
    async fn session(&self) -> Result<Arc<Session>, SshError> {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|live| live.last_used.elapsed() > REPLACE_AFTER) {
            if let Some(old) = slot.take() {
                if let Ok(old) = Arc::try_unwrap(old.session) {
                    let _ = tokio::time::timeout(Duration::from_secs(5), old.close()).await;
                }
            }
        }
        if slot.is_none() {
            *slot = Some(self.open().await?);
        }
        let live = slot.as_mut().expect("just set");
        live.last_used = Instant::now();
        Ok(live.session.clone())
    }

    /// Forgets a master connection that broke, so the next command reconnects.
    async fn forget(&self, broken: &Arc<Session>) {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|live| Arc::ptr_eq(&live.session, broken)) {
            *slot = None;
        }
    }

    /// `user@host:port` as the file gives it, for reports.
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// Runs `argv` on the host (each argument quoted for the remote shell):
    /// exit code, stdout, stderr.
    pub async fn exec(&self, argv: &[&str]) -> Result<(i64, String, String), SshError> {
        self.run(argv, None, Duration::from_secs(REMOTE_LIMIT_SECS.into())).await
    }

    /// [`SshShell::exec`] with a longer (or shorter) limit than the usual
    /// 50 s: stopped on the host after `limit`, waited for 10 s more here.
    pub async fn exec_within(&self, argv: &[&str], limit: Duration) -> Result<(i64, String, String), SshError> {
        self.run(argv, None, limit).await
    }

    /// [`SshShell::exec`] with `input` on the command's stdin: the way a
    /// secret reaches a program on the host without being in any argv.
    pub async fn exec_with_input(&self, argv: &[&str], input: &[u8]) -> Result<(i64, String, String), SshError> {
        self.run(argv, Some(input), Duration::from_secs(REMOTE_LIMIT_SECS.into())).await
    }

    async fn run(&self, argv: &[&str], input: Option<&[u8]>, limit: Duration) -> Result<(i64, String, String), SshError> {
        let program = argv.first().copied().unwrap_or_default().to_string();
        let limit_secs = limit.as_secs().max(1);
        // Waited for here as long as the host lets it run, and then some.
        let exec_timeout = Duration::from_secs(limit_secs) + (EXEC_TIMEOUT - Duration::from_secs(REMOTE_LIMIT_SECS.into()));
        let session = self.session().await?;
        let mut command = session.command("timeout");
        command
            // No `--`: timeout stops reading options at the duration, and would take `--` for the command.
            .args(["-k", "5", &limit_secs.to_string(), "env", REMOTE_PATH])
            .args(argv)
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let running = async {
            let mut child = command.spawn().await?;
            if let (Some(input), Some(mut stdin)) = (input, child.stdin().take()) {
                stdin.write_all(input).await.map_err(openssh::Error::ChildIo)?;
                stdin.shutdown().await.map_err(openssh::Error::ChildIo)?;
            }
            child.wait_with_output().await
        };
        let timed_out = || SshError::CommandTimeout { destination: self.destination.clone(), program: program.clone(), after: exec_timeout };
        let output = match tokio::time::timeout(exec_timeout, running).await {
            Err(_) => return Err(timed_out()),
            Ok(Ok(output)) => output,
            Ok(Err(openssh::Error::Remote(e))) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SshError::NotFound { destination: self.destination.clone(), program })
            }
            Ok(Err(e)) => {
                // A broken master (or a remote exit of 255): the next command connects again.
                self.forget(&session).await;
                return Err(SshError::Session { destination: self.destination.clone(), program, detail: error_text(&e) });
            }
        };
        let code = output.status.code().map(i64::from).unwrap_or(-1);
        // `timeout` exits 124 when it stopped the command (137 after -k).
        if code == 124 || code == 137 {
            return Err(SshError::CommandTimeout { destination: self.destination.clone(), program, after: Duration::from_secs(limit_secs) });
        }
        Ok((code, String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned()))
    }
}

impl Shell for SshShell {
    fn exec<'a>(&'a self, argv: &'a [&'a str]) -> BoxFuture<'a, Result<(i64, String, String), TargetError>> {
        Box::pin(async move { Ok(SshShell::exec(self, argv).await?) })
    }
    fn exec_within<'a>(&'a self, argv: &'a [&'a str], deadline: Duration) -> BoxFuture<'a, Result<(i64, String, String), TargetError>> {
        Box::pin(async move { Ok(SshShell::exec_within(self, argv, deadline).await?) })
    }
}

/// `[user@]host[:port]`, for messages.
fn destination(config: &SshConfig) -> String {
    let user = config.user.as_ref().map(|u| format!("{u}@")).unwrap_or_default();
    let port = config.port.map(|p| format!(":{p}")).unwrap_or_default();
    let via = config.proxy_jump.as_ref().map(|j| format!(" (through {j})")).unwrap_or_default();
    format!("{user}{}{port}{via}", config.host)
}

/// The error's message with its sources (the crate keeps ssh's words in them).
fn error_text(e: &openssh::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())
}

/// The shell's ssh_config: the list host under [`ALIAS`], then the
/// settings for every connection (list host and jump hosts alike), then the
/// user's and the system's own files for the rest.
fn ssh_config_text(config: &SshConfig, ssh_config: &Path, jump_log: &Path) -> Result<String, SshError> {
    let mut text = String::from("# Written by mailflow for one ssh shell; removed with it.\n");
    text.push_str(&format!("Host {ALIAS}\n  HostName {}\n", config.host));
    if let Some(user) = &config.user {
        text.push_str(&format!("  User {}\n", config_word(user)?));
    }
    if let Some(port) = config.port {
        text.push_str(&format!("  Port {port}\n"));
    }
    if let Some(jump) = &config.proxy_jump {
        text.push_str(&format!("  ProxyCommand {}\n", proxy_command(jump, ssh_config, jump_log)?));
    }
    text.push_str("Host *\n  BatchMode yes\n");
    let strict = if config.strict_host_key_checking { "yes" } else { "accept-new" };
    text.push_str(&format!("  StrictHostKeyChecking {strict}\n"));
    if let Some(path) = &config.known_hosts_file {
        text.push_str(&format!("  UserKnownHostsFile {}\n", config_path(path)?));
        // The system's files would otherwise also be consulted; the file named is the one that counts.
        text.push_str("  GlobalKnownHostsFile none\n");
    }
    if let Some(path) = &config.identity_file {
        text.push_str(&format!("  IdentityFile {}\n  IdentitiesOnly yes\n", config_path(path)?));
    }
    text.push_str(&format!(
        "  ConnectTimeout {TCP_CONNECT_SECS}\n  ServerAliveInterval 10\n  ServerAliveCountMax 3\n  \
         ForwardAgent no\n  ForwardX11 no\n  PasswordAuthentication no\n  KbdInteractiveAuthentication no\n"
    ));
    text.push_str("Include ~/.ssh/config /etc/ssh/ssh_config\n");
    Ok(text)
}

/// What `ssh -J a,b,c` runs to reach the host: `ssh -J a,b -W '[%h]:%p' c`,
/// with this shell's ssh_config (`-F`) and the last hop's messages kept in
/// `jump_log` (`-E`).
fn proxy_command(jump: &str, ssh_config: &Path, jump_log: &Path) -> Result<String, SshError> {
    let (rest, last) = match jump.rsplit_once(',') {
        Some((rest, last)) => (Some(rest), last),
        None => (None, jump),
    };
    // ssh itself puts `exec` in front when it runs this with the user's shell.
    let mut words = vec![
        "ssh".to_string(),
        "-F".into(),
        sh_quote(&percent_escape(&path_text(ssh_config)?)),
        "-E".into(),
        sh_quote(&percent_escape(&path_text(jump_log)?)),
    ];
    if let Some(rest) = rest {
        words.push("-J".into());
        words.push(sh_quote(&percent_escape(rest)));
    }
    words.push("-W".into());
    words.push("'[%h]:%p'".into());
    words.push(sh_quote(&percent_escape(&jump_uri(last))));
    Ok(words.join(" "))
}

/// A `-J` hop (`[user@]host[:port]`, IPv6 in brackets) as the
/// `ssh://[user@]host[:port]` destination ssh takes on its command line.
fn jump_uri(hop: &str) -> String {
    format!("ssh://{hop}")
}

fn path_text(path: &Path) -> Result<String, SshError> {
    path.to_str().map(str::to_string).ok_or_else(|| SshError::Setup(format!("{} is not UTF-8", path.display())))
}

/// A path as an ssh_config argument: quoted, `%` escaped (ssh expands
/// `%` tokens in these options).
fn config_path(path: &Path) -> Result<String, SshError> {
    let text = path_text(path)?;
    if text.contains(['"', '\n', '\r']) {
        return Err(SshError::Setup(format!("{} contains a quote or a line break", path.display())));
    }
    Ok(format!("\"{}\"", percent_escape(&text)))
}

/// A single word for ssh_config (a user name).
fn config_word(word: &str) -> Result<String, SshError> {
    if word.is_empty() || word.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"') {
        return Err(SshError::Setup(format!("`{word}` is not one word")));
    }
    Ok(percent_escape(word))
}

fn percent_escape(text: &str) -> String {
    text.replace('%', "%%")
}

/// One word for `/bin/sh` (ssh runs a ProxyCommand with the user's shell).
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Reads what ssh said (the master's log, and the jump connection's) into
/// a typed error. The jump's words come first: a bastion that refuses
/// makes the master say only that the connection closed.
fn classify(destination: &str, known_hosts: &str, master: &str, jump: &str) -> SshError {
    let said = format!("{jump}\n{master}");
    let detail = summary(&said);
    let destination = destination.to_string();
    let known_hosts = known_hosts.to_string();
    if said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") || said.contains("has changed and you have requested strict checking") {
        let host = between(&said, "Host key for ", " has changed").unwrap_or("the host").to_string();
        return SshError::ChangedHostKey { destination, host, known_hosts, detail };
    }
    if said.contains("Host key verification failed") {
        let host = between(&said, "host key is known for ", " and you have").unwrap_or("the host").to_string();
        return SshError::UnknownHostKey { destination, host, known_hosts, detail };
    }
    if said.contains("Permission denied (") {
        return SshError::AuthRefused { destination, detail };
    }
    SshError::Connect { destination, detail }
}

/// The text between two markers, on one line.
fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let from = text.find(start)? + start.len();
    let rest = &text[from..];
    let to = rest.find(end)?;
    let found = &rest[..to];
    (!found.contains('\n')).then_some(found)
}

/// ssh's messages on one line: the `@@@` banner and blank lines left out.
fn summary(said: &str) -> String {
    let lines: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('@'))
        .map(|l| l.strip_prefix("ssh: ").unwrap_or(l))
        .collect();
    let mut kept: Vec<&str> = Vec::new();
    for l in lines {
        if !kept.contains(&l) {
            kept.push(l);
        }
    }
    kept.join("; ")
}

#[cfg(test)]
mod tests {
    //! The generated ssh_config and how ssh's words become errors; the real
    //! connection is tested against containers in tests/ssh.rs.
    use super::*;

    fn config() -> SshConfig {
        SshConfig {
            host: "lists.example.org".into(),
            user: Some("mailflow".into()),
            port: Some(2222),
            proxy_jump: Some("ops@jump1.example.org,ops@[2001:db8::1]:22".into()),
            strict_host_key_checking: true,
            identity_file: Some("/keys/id 100%".into()),
            known_hosts_file: Some("/etc/mailflow/known_hosts".into()),
            become_user: None,
            paths: crate::target::through_shell::ServerPaths::debian(),
        }
    }

    #[test]
    fn the_ssh_config_carries_every_setting_to_the_jump_as_well() {
        let text = ssh_config_text(&config(), Path::new("/tmp/p/ssh_config"), Path::new("/tmp/p/jump.log")).unwrap();
        let expected = "# Written by mailflow for one ssh shell; removed with it.\n\
            Host mailflow-list-host\n  HostName lists.example.org\n  User mailflow\n  Port 2222\n  \
            ProxyCommand ssh -F '/tmp/p/ssh_config' -E '/tmp/p/jump.log' -J 'ops@jump1.example.org' -W '[%h]:%p' 'ssh://ops@[2001:db8::1]:22'\n\
            Host *\n  BatchMode yes\n  StrictHostKeyChecking yes\n  \
            UserKnownHostsFile \"/etc/mailflow/known_hosts\"\n  GlobalKnownHostsFile none\n  \
            IdentityFile \"/keys/id 100%%\"\n  IdentitiesOnly yes\n  \
            ConnectTimeout 10\n  ServerAliveInterval 10\n  ServerAliveCountMax 3\n  ForwardAgent no\n  ForwardX11 no\n  \
            PasswordAuthentication no\n  KbdInteractiveAuthentication no\n\
            Include ~/.ssh/config /etc/ssh/ssh_config\n";
        assert_eq!(text, expected);

        let loose = SshConfig { strict_host_key_checking: false, proxy_jump: None, ..config() };
        let text = ssh_config_text(&loose, Path::new("/c"), Path::new("/j")).unwrap();
        assert!(text.contains("StrictHostKeyChecking accept-new\n"), "{text}");
        assert!(!text.contains("ProxyCommand"), "{text}");

        let quoted = SshConfig { known_hosts_file: Some("/a\"b".into()), ..config() };
        assert!(matches!(ssh_config_text(&quoted, Path::new("/c"), Path::new("/j")), Err(SshError::Setup(_))));
    }

    #[test]
    fn what_ssh_says_becomes_a_typed_error() {
        let d = "mailflow@lists (through ops@bastion)";
        let unknown = "No ED25519 host key is known for 172.31.9.2 and you have requested strict checking.\r\nHost key verification failed.\r\n";
        let e = classify(d, "/k", unknown, "");
        assert!(matches!(&e, SshError::UnknownHostKey { host, .. } if host == "172.31.9.2"), "{e:?}");
        assert!(e.to_string().contains("the host key of 172.31.9.2 is not known"), "{e}");

        let changed = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n\
            @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n\
            @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n\
            IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\n\
            Host key for 172.31.9.11 has changed and you have requested strict checking.\r\nHost key verification failed.\r\n";
        // The bastion's words (the jump log) win over the master's bare "connection closed".
        let e = classify(d, "/k", "kex_exchange_identification: Connection closed by remote host", changed);
        assert!(matches!(&e, SshError::ChangedHostKey { host, .. } if host == "172.31.9.11"), "{e:?}");
        assert!(!e.to_string().contains('@') || e.to_string().contains("mailflow@"), "{e}");

        let denied = "mailflow@172.31.9.2: Permission denied (publickey).";
        assert!(matches!(classify(d, "/k", denied, ""), SshError::AuthRefused { .. }));
        let other = classify(d, "/k", "ssh: connect to host 172.31.9.11 port 22: Connection refused", "");
        assert!(matches!(&other, SshError::Connect { detail, .. } if detail == "connect to host 172.31.9.11 port 22: Connection refused"), "{other:?}");
    }
}
