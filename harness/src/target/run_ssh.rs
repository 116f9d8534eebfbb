//! ssh into the container target, the way production sites reach a list
//! host: a key pair made for the run (ed25519, by `ssh-keygen`), whose
//! public half the lists container's and the bastion's sshd accept and
//! nothing else; a known_hosts file written from the host keys the two
//! containers made at start, so that strict host-key checking stays on.
//! [`RunSsh::hosts_table`] is then a hosts target's `[ssh]` table: through
//! the bastion as ProxyJump to the lists container.
//!
//! The private key stays in a folder only this user can read, removed with
//! the [`RunSsh`]; its content is never read by the harness (ssh reads it).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;

use super::hosts::SshConfig;
use super::through_shell::ServerPaths;
use super::TargetError;

/// The user both containers let in (made in their images).
pub const SSH_USER: &str = "mailflow";
/// Where each container's sshd keeps the public half of its host key.
pub const HOST_KEY_PUB: &str = "/etc/ssh/ssh_host_ed25519_key.pub";

/// The run's key pair and known_hosts file.
pub struct RunSsh {
    dir: tempfile::TempDir,
    public_key: String,
}

impl std::fmt::Debug for RunSsh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunSsh").field("dir", &self.dir.path()).finish_non_exhaustive()
    }
}

impl RunSsh {
    /// Makes the key pair (no passphrase: the folder is the run's and
    /// private) with `ssh-keygen` from openssh-client.
    pub async fn make() -> Result<RunSsh, TargetError> {
        let failed = |m: String| TargetError::Start(format!("making the run's ssh key: {m}"));
        let dir = tempfile::Builder::new()
            .prefix("mailflow-run-ssh-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir().map_err(|e| failed(e.to_string()))?;
        let key = dir.path().join("id_ed25519");
        let comment = format!("mailflow-run-{}", std::process::id());
        let run = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", &comment, "-f"])
            .arg(&key)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .map_err(|_| TargetError::Timeout { what: "ssh-keygen".into(), after: Duration::from_secs(30) })?
            .map_err(|e| failed(format!("cannot run ssh-keygen ({e}); install openssh-client")))?;
        if !out.status.success() {
            return Err(failed(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        let public_key = std::fs::read_to_string(key.with_extension("pub")).map_err(|e| failed(e.to_string()))?.trim().to_string();
        Ok(RunSsh { dir, public_key })
    }

    /// The public key, one `ssh-ed25519 BASE64 comment` line, for the
    /// containers' `MAILFLOW_SSH_AUTHORIZED_KEY`.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    pub fn identity_file(&self) -> PathBuf {
        self.dir.path().join("id_ed25519")
    }

    pub fn known_hosts_file(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// Writes the known_hosts file: one line per `(address, host key)`,
    /// the key as the container's `ssh_host_ed25519_key.pub` holds it.
    pub fn write_known_hosts(&self, hosts: &[(IpAddr, &str)]) -> Result<(), TargetError> {
        std::fs::write(self.known_hosts_file(), known_hosts_text(hosts)?)?;
        Ok(())
    }

    /// A hosts target's `[ssh]` table for the lists container at `lists`,
    /// reached through the bastion at `bastion`, strict host-key checking on.
    pub fn hosts_table(&self, lists: IpAddr, bastion: IpAddr) -> SshConfig {
        SshConfig {
            host: lists.to_string(),
            user: Some(SSH_USER.into()),
            port: None,
            proxy_jump: Some(format!("{SSH_USER}@{bastion}")),
            strict_host_key_checking: true,
            identity_file: Some(self.identity_file()),
            known_hosts_file: Some(self.known_hosts_file()),
            paths: ServerPaths::debian(),
        }
    }
}

/// known_hosts lines (`ADDRESS TYPE BASE64`; the key's comment left out).
fn known_hosts_text(hosts: &[(IpAddr, &str)]) -> Result<String, TargetError> {
    let mut text = String::new();
    for (addr, key) in hosts {
        let mut words = key.split_whitespace();
        let (Some(kind), Some(data)) = (words.next(), words.next()) else {
            return Err(TargetError::Start(format!("the host key of {addr} is not a public key line: {key:?}")));
        };
        text.push_str(&format!("{addr} {kind} {data}\n"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_lines_from_host_keys() {
        let lists: IpAddr = "172.31.9.2".parse().unwrap();
        let bastion: IpAddr = "172.31.9.11".parse().unwrap();
        let text = known_hosts_text(&[(lists, "ssh-ed25519 AAAAC3Nz root@abc\n"), (bastion, "ssh-ed25519 AAAAbast")]).unwrap();
        assert_eq!(text, "172.31.9.2 ssh-ed25519 AAAAC3Nz\n172.31.9.11 ssh-ed25519 AAAAbast\n");
        assert!(known_hosts_text(&[(lists, "")]).is_err());
    }
}
