//! Mailman 2.1 on the list server, through a [`Shell`] (ssh on a hosts
//! target): the `bin/` commands, the queue folders and the logs, for
//! diagnosis and inventories. Read-only: nothing here changes the server.

use super::{cmd, logs};
use crate::probe::ProbeKeys;
use crate::target::{MailmanQueueFacts, Shell, TargetError};

/// Where Mailman 2.1 lives on the server. Debian's package by default;
/// a source install uses `/usr/local/mailman/{bin,qfiles,logs,archives}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub bin: String,
    pub qfiles: String,
    pub logs: String,
    /// Mailman's `archives/` folder: `private/<list>/` holds each list's
    /// pipermail (public lists get a symlink under `public/`).
    pub archives: String,
}

impl Default for Paths {
    fn default() -> Self {
        Paths { bin: "/usr/lib/mailman/bin".into(), qfiles: "/var/lib/mailman/qfiles".into(), logs: "/var/log/mailman".into(), archives: "/var/lib/mailman/archives".into() }
    }
}

/// The queue folders searched for a message; `shunt` and `bad` are where
/// Mailman 2.1 leaves what it could not process.
pub const QUEUES: [&str; 8] = ["in", "shunt", "bad", "retry", "out", "virgin", "archive", "news"];
/// The logs searched for a message's Message-ID.
pub const LOGS: [&str; 5] = ["vette", "post", "smtp", "error", "bounce"];

/// Runs `bin/<command> args...`; its stdout, or the failure with stderr.
pub async fn bin(shell: &dyn Shell, paths: &Paths, command: &str, args: &[&str]) -> Result<String, TargetError> {
    let program = format!("{}/{command}", paths.bin);
    let mut argv = vec![program.as_str()];
    argv.extend_from_slice(args);
    let (code, out, err) = shell.exec(&argv).await?;
    if code != 0 {
        return Err(TargetError::Exec(format!("{program} exited with {code}: {}", err.trim())));
    }
    Ok(out)
}

/// `bin/list_lists -b`: every list's name.
pub async fn list_names(shell: &dyn Shell, paths: &Paths) -> Result<Vec<String>, TargetError> {
    Ok(cmd::list_lists_bare(&bin(shell, paths, "list_lists", &["-b"]).await?))
}

/// `bin/list_members <list>`: the members' addresses.
pub async fn members(shell: &dyn Shell, paths: &Paths, list: &str) -> Result<Vec<String>, TargetError> {
    Ok(cmd::list_members(&bin(shell, paths, "list_members", &[list]).await?))
}

/// `bin/config_list -o - <list>`: the list's settings.
pub async fn settings(shell: &dyn Shell, paths: &Paths, list: &str) -> Result<Vec<(String, String)>, TargetError> {
    Ok(cmd::config_list(&bin(shell, paths, "config_list", &["-o", "-", list]).await?))
}

/// `bin/check_perms` (without `-f`: it reports and changes nothing).
pub async fn check_perms(shell: &dyn Shell, paths: &Paths) -> Result<cmd::PermsReport, TargetError> {
    // check_perms exits 0 with problems too; its output is the verdict.
    Ok(cmd::check_perms(&bin(shell, paths, "check_perms", &[]).await?))
}

/// Where the probe is among the queue folders (files holding any of its
/// Message-IDs), and the log entries that name it.
pub async fn find(shell: &dyn Shell, paths: &Paths, keys: &ProbeKeys) -> Result<MailmanQueueFacts, TargetError> {
    let ids: Vec<&str> = keys.message_ids.iter().map(String::as_str).filter(|id| !id.is_empty()).collect();
    if ids.is_empty() {
        return Ok(MailmanQueueFacts::default());
    }
    let folders: Vec<String> = QUEUES.iter().map(|q| format!("{}/{q}", paths.qfiles)).collect();
    let queue_files = grep(shell, &["-rlsF"], &ids, &folders).await?;
    let log_files: Vec<String> = LOGS.iter().map(|l| format!("{}/{l}", paths.logs)).collect();
    // -A: vette's continuation lines follow the entry that names the id.
    let lines = grep(shell, &["-hsF", "-A4"], &ids, &log_files).await?;
    let text = lines.join("\n");
    let found = logs::entries(&text);
    let log_lines = logs::about(&found, &keys.message_ids).iter().map(|e| format!("{} ({}) {}", e.stamp, e.pid, e.text)).collect();
    Ok(MailmanQueueFacts { queue_files, log_lines })
}

/// `grep <flags> -e id... -- files...`: its output lines. Exit 1 (nothing
/// found) is an answer; 2 with output means some file was missing.
async fn grep(shell: &dyn Shell, flags: &[&str], ids: &[&str], files: &[String]) -> Result<Vec<String>, TargetError> {
    let mut argv: Vec<&str> = vec!["grep"];
    argv.extend_from_slice(flags);
    for id in ids {
        argv.push("-e");
        argv.push(id);
    }
    argv.push("--");
    argv.extend(files.iter().map(String::as_str));
    let (code, out, err) = shell.exec(&argv).await?;
    if code > 2 || (code == 2 && out.is_empty() && !err.trim().is_empty()) {
        return Err(TargetError::Exec(format!("grep exited with {code}: {}", err.trim())));
    }
    Ok(out.lines().filter(|l| !l.is_empty() && *l != "--").map(str::to_string).collect())
}
