//! `mailflow up --write-target FILE`: a target file (README.md, "Target
//! files") for the containers `up` started, so that `mailflow run --target
//! FILE` runs against them as a hosts target: the fast loop for scenario
//! authors (no container start per run), and how the hosts target is tested
//! without real hosts.
//!
//! The file names exim's SMTP listener, Mailman's REST API exposed to this
//! machine, HyperKitty (with the web side) and the Dovecot mailbox the probe
//! domain's mail is copied into. Secrets are never in it: the REST and IMAP
//! passwords go to files beside it (mode 0600) that it names with
//! `password_file`, and Dovecot's CA to a third file its `ca_file` names.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use super::containers::{ContainersTarget, ImapContainer, WEB_HOST};
use super::{Target, TargetError};

/// What a target file for containers says, apart from secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFileFacts {
    /// The host's name as reports show it.
    pub name: String,
    /// exim's SMTP listener.
    pub smtp: SocketAddr,
    /// Mailman's REST base URL, reached directly.
    pub rest_url: String,
    /// HyperKitty's base URL, when the web side runs.
    pub hyperkitty_url: Option<String>,
    /// The Dovecot mailbox's address (IMAPS on 993).
    pub imap_host: IpAddr,
    /// The process that owns the containers (`mailflow up`).
    pub owner_pid: u32,
}

/// The files a target file names beside it, by file name (relative paths
/// in a target file are taken from its folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Companions {
    pub rest_password: String,
    pub imap_password: String,
    pub imap_ca: String,
}

impl Companions {
    /// `t.mailman-password`, `t.imap-password` and `t.imap-ca.pem` for `t.toml`.
    pub fn beside(file: &Path) -> Companions {
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "target".into());
        Companions {
            rest_password: format!("{stem}.mailman-password"),
            imap_password: format!("{stem}.imap-password"),
            imap_ca: format!("{stem}.imap-ca.pem"),
        }
    }
}

/// The target file's text.
pub fn render(facts: &TargetFileFacts, files: &Companions) -> String {
    let q = |s: &str| toml_string(s);
    let mut out = String::new();
    out.push_str(&format!(
        "# Written by `mailflow up --write-target` (process {pid}) for the containers it\n\
         # started; valid while it runs. Secrets are in the files named below, not here.\n\
         name = {name}\n\n\
         # exim in the lists container offers neither STARTTLS nor AUTH.\n\
         [smtp]\n\
         addresses = [{smtp}]\n\
         starttls = \"off\"\n\n\
         # Mailman's REST API, exposed by the container's nginx to this machine only.\n\
         [mailman]\n\
         version = \"3\"\n\
         rest_url = {rest}\n\
         reach = \"direct\"\n\
         user = \"restadmin\"\n\
         password_file = {rest_pw}\n\n",
        pid = facts.owner_pid,
        name = q(&facts.name),
        smtp = q(&facts.smtp.to_string()),
        rest = q(&facts.rest_url),
        rest_pw = q(&files.rest_password),
    ));
    if let Some(url) = &facts.hyperkitty_url {
        out.push_str(&format!("[web]\nhyperkitty_url = {}\n\n", q(url)));
    }
    out.push_str(&format!(
        "# Dovecot on the run's network: exim copies the probe domain's mail into\n\
         # this one mailbox over LMTP; only the run's own probes are deleted from it.\n\
         [mailbox]\n\
         kind = \"imap\"\n\
         host = {host}\n\
         tls = \"imaps\"\n\
         ca_file = {ca}\n\
         user = {user}\n\
         password_file = {imap_pw}\n\
         address = {user}\n\n\
         # Throwaway containers: moderating the run's own held probes is allowed\n\
         # (only ever its own), and probes need not be spaced for a production host.\n\
         [allow]\n\
         moderate = true\n\n\
         [limits]\n\
         probes_per_minute = 600\n",
        host = q(&facts.imap_host.to_string()),
        ca = q(&files.imap_ca),
        user = q(ImapContainer::USER),
        imap_pw = q(&files.imap_password),
    ));
    out
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The files [`write_target_file`] wrote.
#[derive(Debug, Clone)]
pub struct WrittenTarget {
    pub file: PathBuf,
    /// The password files and the CA, beside it.
    pub companions: Vec<PathBuf>,
}

impl WrittenTarget {
    /// Removes the target file and its companions (when the containers go).
    pub fn remove(&self) {
        for path in std::iter::once(&self.file).chain(&self.companions) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes a target file for `target` at `path`, and its companions beside
/// it. The target must have been started with
/// [`ContainersTarget::start_for_target_file`].
pub fn write_target_file(target: &ContainersTarget, path: &Path) -> Result<WrittenTarget, TargetError> {
    let not_for_hosts = || TargetError::Start("the containers were not started for a target file (no IMAP mailbox, REST not exposed)".into());
    let imap = target.imap().ok_or_else(not_for_hosts)?;
    let (rest_url, rest_password) = target.exposed_rest().ok_or_else(not_for_hosts)?;
    let facts = TargetFileFacts {
        name: WEB_HOST.to_string(),
        smtp: target.smtp_addr(),
        rest_url,
        hyperkitty_url: target.web().map(|w| format!("{}/hyperkitty/", w.base())),
        imap_host: imap.addr,
        owner_pid: std::process::id(),
    };
    let names = Companions::beside(path);
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let in_folder = |name: &str| folder.join(name);
    let written = WrittenTarget {
        file: path.to_path_buf(),
        companions: vec![in_folder(&names.rest_password), in_folder(&names.imap_password), in_folder(&names.imap_ca)],
    };
    let result = (|| {
        write_private(&written.companions[0], rest_password.expose())?;
        write_private(&written.companions[1], ImapContainer::PASSWORD)?;
        std::fs::write(&written.companions[2], &imap.ca_pem)?;
        std::fs::write(path, render(&facts, &names))
    })();
    result.map_err(|e| {
        written.remove();
        TargetError::Io(std::io::Error::new(e.kind(), format!("writing the target file {}: {e}", path.display())))
    })?;
    Ok(written)
}

/// Writes a secret to a file only its owner may read.
fn write_private(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // An existing file keeps its mode on open: narrow it too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::ImapTls;
    use crate::secret::SecretSource;
    use crate::target::hosts::{parse_hosts, MailboxConfig, RestReach, StartTls};
    use crate::tls::Verify;

    fn facts(web: bool) -> TargetFileFacts {
        TargetFileFacts {
            name: "lists.example.test".into(),
            smtp: "172.31.7.3:25".parse().unwrap(),
            rest_url: "http://172.31.7.3/mailman-rest".into(),
            hyperkitty_url: web.then(|| "http://172.31.7.3/hyperkitty/".into()),
            imap_host: "172.31.7.2".parse().unwrap(),
            owner_pid: 4242,
        }
    }

    /// The written file is read by the target file parser into what the
    /// containers offer, with secrets only named.
    #[test]
    fn the_written_file_parses_into_the_containers_endpoints() {
        let path = Path::new("/tmp/fast/t.toml");
        let names = Companions::beside(path);
        assert_eq!(names.rest_password, "t.mailman-password");
        for web in [true, false] {
            let text = render(&facts(web), &names);
            let config = parse_hosts(path, &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
            assert_eq!(config.name, "lists.example.test");
            assert_eq!(config.smtp.addresses, ["172.31.7.3:25".parse().unwrap()]);
            assert_eq!(config.smtp.starttls, StartTls::Off);
            assert!(config.smtp.auth.is_none());
            let mailman = config.mailman.as_ref().expect("[mailman]");
            assert_eq!(mailman.rest_url, "http://172.31.7.3/mailman-rest");
            assert_eq!(mailman.reach, RestReach::Direct);
            assert_eq!(mailman.password, SecretSource::File(PathBuf::from("/tmp/fast/t.mailman-password")));
            assert_eq!(config.web.as_ref().map(|w| w.hyperkitty_url.as_str()), web.then_some("http://172.31.7.3/hyperkitty/"));
            let Some(MailboxConfig::Imap(imap)) = &config.mailbox else { panic!("no [mailbox]: {config:?}") };
            assert_eq!(imap.host, "172.31.7.2");
            assert_eq!((imap.tls, imap.port), (ImapTls::Imaps, 993));
            assert_eq!(imap.verify, Verify::CaFile(PathBuf::from("/tmp/fast/t.imap-ca.pem")));
            assert_eq!(imap.user, ImapContainer::USER);
            assert_eq!(imap.password, SecretSource::File(PathBuf::from("/tmp/fast/t.imap-password")));
            assert!(config.allow.moderate && !config.allow.faults);
            assert_eq!(config.limits.probes_per_minute, 600);
            assert!(config.ssh.is_none());
            // No secret is in the file.
            assert!(!text.contains(ImapContainer::PASSWORD), "{text}");
        }
    }
}
