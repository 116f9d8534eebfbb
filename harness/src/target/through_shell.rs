//! What is read on the list server through a [`Shell`], the same for every
//! target that has one (docker exec for containers, ssh for hosts): exim's
//! log filtered by `exigrep`, Mailman's queue folders and log, and the
//! prototype archive's maildir. Only the lines and file names about the
//! probe leave the server, never a whole log or folder.
//!
//! Ids and paths go to the server as arguments, never into a script's text,
//! so an odd Message-ID cannot become shell syntax there.

use super::{ArchivedCopy, ArchiverFacts, MailmanQueueFacts, Shell, TargetError};
use crate::exim::{self, queue::ListedMessage};
use crate::mailman::archiver;
use crate::probe::{same_probe_header, ProbeKeys, PROBE_HEADER};

/// Where the files read through the shell are on the list server. Debian's
/// places by default; a target file may name others (`[ssh]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPaths {
    /// exim's main log, e.g. `/var/log/exim4/mainlog`.
    pub exim_mainlog: String,
    /// Mailman 3's var folder (`queue/`, `archives/`, `lists/`), e.g.
    /// `/var/lib/mailman3`.
    pub mailman_var_dir: String,
    /// Mailman 3's log, e.g. `/var/log/mailman3/mailman.log`.
    pub mailman_log: String,
}

impl ServerPaths {
    pub const DEBIAN_EXIM_MAINLOG: &'static str = "/var/log/exim4/mainlog";
    pub const DEBIAN_MAILMAN_VAR_DIR: &'static str = "/var/lib/mailman3";
    pub const DEBIAN_MAILMAN_LOG: &'static str = "/var/log/mailman3/mailman.log";

    /// Debian's (and the lists image's) places.
    pub fn debian() -> ServerPaths {
        ServerPaths {
            exim_mainlog: Self::DEBIAN_EXIM_MAINLOG.into(),
            mailman_var_dir: Self::DEBIAN_MAILMAN_VAR_DIR.into(),
            mailman_log: Self::DEBIAN_MAILMAN_LOG.into(),
        }
    }
}

impl Default for ServerPaths {
    fn default() -> Self {
        ServerPaths::debian()
    }
}

/// Looks once for the probe in the list's prototype archive
/// (`<var>/archives/prototype/<list address>/{new,cur}`): by its Message-IDs,
/// then by its probe header (for a probe whose Message-ID was odd, missing
/// or rewritten). The first file that holds it. A maildir that does not
/// exist yet holds nothing; one the shell's user cannot read is an error (on
/// a real host, a user outside Mailman's group), never "not archived".
///
/// Only `grep` runs on the server (no script), so that a shell that reads
/// the maildir as Mailman's user ([`As`], `sudo -u list`) needs permission
/// for `grep` alone.
pub async fn prototype_find(
    shell: &dyn Shell,
    paths: &ServerPaths,
    list_address: &str,
    keys: &ProbeKeys,
) -> Result<Option<ArchivedCopy>, TargetError> {
    let dir = format!("{}/archives/prototype/{list_address}", paths.mailman_var_dir);
    let folders = [format!("{dir}/new"), format!("{dir}/cur")];
    let ids = keys.bare_ids();
    if !ids.is_empty() {
        if let Some(p) = grep_maildir(shell, &dir, &["-rlF"], &ids, &folders).await?.first() {
            return Ok(Some(ArchivedCopy { location: p.to_string(), message_id: None }));
        }
    }
    let Some(header) = keys.probe_header.as_deref() else { return Ok(None) };
    // The archive may fold the header anywhere but inside a word: grep for
    // its first word, then compare the unfolded headers here.
    let Some(word) = header.split_whitespace().next() else { return Ok(None) };
    let mut files = grep_maildir(shell, &dir, &["-rlF"], &[word], &folders).await?;
    files.truncate(MAX_HEADER_READS);
    if files.is_empty() {
        return Ok(None);
    }
    // The first lines of each file (every line matches the empty pattern;
    // -m stops each file there), as `path\0line`; the headers end at the
    // first empty line. -a: a message with 8-bit text is still text.
    let head_lines = HEAD_LINES.to_string();
    let mut argv = vec!["grep", "-aH", "--null", "-m", &head_lines, "-e", "", "--"];
    argv.extend(files.iter().map(String::as_str));
    let (code, out, err) = shell.exec(&argv).await?;
    if code > 1 {
        return Err(TargetError::Exec(format!("reading headers in {dir}: {}", err.trim())));
    }
    Ok(headers_by_file(&out).into_iter().find_map(|(path, head)| {
        let (headers, _) = mailparse::parse_headers(head.as_bytes()).ok()?;
        let value = headers.iter().find(|h| h.get_key().eq_ignore_ascii_case(PROBE_HEADER))?.get_value();
        same_probe_header(&value, header).then(|| {
            let message_id =
                headers.iter().find(|h| h.get_key().eq_ignore_ascii_case("Message-ID")).map(|h| h.get_value().trim().to_string());
            ArchivedCopy { location: path.to_string(), message_id }
        })
    }))
}

/// At most this many files found by the probe header's first word are read.
const MAX_HEADER_READS: usize = 200;
/// The lines read from the top of each such file (its headers, and more).
const HEAD_LINES: usize = 300;

/// `grep <flags> -e pattern... -- folders...` over a maildir: the files
/// it names. Nothing matched is none; a folder that does not exist yet is
/// nothing in it; anything else grep says (Permission denied) is an error.
async fn grep_maildir(shell: &dyn Shell, dir: &str, flags: &[&str], patterns: &[&str], folders: &[String]) -> Result<Vec<String>, TargetError> {
    let mut argv = vec!["grep"];
    argv.extend_from_slice(flags);
    for p in patterns {
        argv.extend(["-e", p]);
    }
    argv.push("--");
    argv.extend(folders.iter().map(String::as_str));
    let (code, out, err) = shell.exec(&argv).await?;
    let missing_only = err.lines().all(|l| l.trim().is_empty() || l.ends_with("No such file or directory"));
    match code {
        // 0: found; 1: no match; 2 saying only "No such file": a folder does not exist yet.
        0 | 1 => {}
        2 if missing_only => {}
        _ => return Err(TargetError::Exec(format!("grep in {dir}: {}", err.trim()))),
    }
    Ok(out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect())
}

/// `grep -H --null` output split into each file's header block (up to its
/// first empty line), files in the order grep named them.
fn headers_by_file(out: &str) -> Vec<(&str, String)> {
    let mut files: Vec<(&str, String, bool)> = Vec::new();
    for line in out.split('\n') {
        let Some((path, text)) = line.split_once('\0') else { continue };
        if files.last().is_none_or(|(p, _, _)| *p != path) {
            files.push((path, String::new(), false));
        }
        let (_, head, ended) = files.last_mut().expect("just pushed");
        if *ended {
            continue;
        }
        if text.trim_end_matches('\r').is_empty() {
            *ended = true;
        } else {
            head.push_str(text);
            head.push('\n');
        }
    }
    files.into_iter().map(|(p, h, _)| (p, h)).collect()
}

/// A shell whose commands run as another user on the server, through
/// `sudo -n -u <user> --` (never asking for a password): how an operator
/// lets the ssh user read what only Mailman's user may (its prototype
/// maildirs are 0700). sudo's own refusal is an error naming sudo, never
/// taken for the command's answer.
pub struct As<'s> {
    pub shell: &'s dyn Shell,
    /// The user the commands run as, e.g. `list`.
    pub user: &'s str,
}

impl Shell for As<'_> {
    fn exec<'a>(&'a self, argv: &'a [&'a str]) -> crate::BoxFuture<'a, Result<(i64, String, String), TargetError>> {
        Box::pin(self.sudo(argv, None))
    }
    fn exec_within<'a>(&'a self, argv: &'a [&'a str], deadline: std::time::Duration) -> crate::BoxFuture<'a, Result<(i64, String, String), TargetError>> {
        Box::pin(self.sudo(argv, Some(deadline)))
    }
}

impl As<'_> {
    async fn sudo(&self, argv: &[&str], deadline: Option<std::time::Duration>) -> Result<(i64, String, String), TargetError> {
        let mut wrapped = vec!["sudo", "-n", "-u", self.user, "--"];
        wrapped.extend_from_slice(argv);
        let (code, out, err) = match deadline {
            Some(d) => self.shell.exec_within(&wrapped, d).await?,
            None => self.shell.exec(&wrapped).await?,
        };
        // sudo exits 1 when it refuses, as grep does for "no match": tell them apart by its words.
        let refused = err.lines().any(|l| l.starts_with("sudo: ") || l.starts_with("Sorry, user "));
        if code != 0 && refused {
            let program = argv.first().copied().unwrap_or_default();
            return Err(TargetError::Exec(format!(
                "`sudo -n -u {} -- {program}` on the host refused (the ssh user needs a sudoers entry for it): {}",
                self.user,
                err.trim()
            )));
        }
        Ok((code, out, err))
    }
}

/// Where the probe (by any of its Message-IDs) is among Mailman's queue
/// folders, and the last 20 lines of Mailman's log that mention it (plus,
/// for each queue file, the lines that name that file: a shunt is logged by
/// file name, not Message-ID).
pub async fn mailman_queues(shell: &dyn Shell, paths: &ServerPaths, keys: &ProbeKeys) -> Result<MailmanQueueFacts, TargetError> {
    let ids = keys.bare_ids();
    if ids.is_empty() {
        return Ok(MailmanQueueFacts::default());
    }
    let script = r#"d="$1"; l="$2"; shift 2; for id; do set -- "$@" -e "$id"; shift; done; grep -rlsF "$@" "$d/queue"; echo ---; grep -sF "$@" "$l" | tail -n 20"#;
    let mut argv = vec!["sh", "-c", script, "sh", &paths.mailman_var_dir, &paths.mailman_log];
    argv.extend(ids.iter().copied());
    let (_, out, err) = shell.exec(&argv).await?;
    let Some((files, log)) = out.split_once("---\n") else {
        return Err(TargetError::Exec(format!("looking in Mailman's queues: {}", err.trim())));
    };
    let mut facts = MailmanQueueFacts {
        queue_files: files.lines().map(str::to_string).collect(),
        log_lines: log.lines().map(str::to_string).collect(),
    };
    for file in facts.queue_files.clone() {
        let base = file.rsplit('/').next().unwrap_or(&file).trim_end_matches(".pck").to_string();
        let (_, out, _) = shell.exec(&["grep", "-sF", "-e", &base, &paths.mailman_log]).await?;
        facts.log_lines.extend(out.lines().map(str::to_string));
    }
    Ok(facts)
}

/// What the archivers logged about the probe (each entry with the failure
/// logged just before it) and the archivers' retry spool files that hold it.
pub async fn archiver_failures(shell: &dyn Shell, paths: &ServerPaths, keys: &ProbeKeys) -> Result<ArchiverFacts, TargetError> {
    let ids = keys.bare_ids();
    if ids.is_empty() {
        return Ok(ArchiverFacts::default());
    }
    // The log with 100 lines of context before each mention (an HTML error
    // page spans about 30), and the archivers' spools.
    let script = r#"d="$1"; l="$2"; shift 2; for id; do set -- "$@" -e "$id"; shift; done; grep -sF -B 100 "$@" "$l" | tail -n 1000; printf '\036\n'; grep -rlsF "$@" "$d"/archives/*/spool"#;
    let mut argv = vec!["sh", "-c", script, "sh", &paths.mailman_var_dir, &paths.mailman_log];
    argv.extend(ids.iter().copied());
    let (_, out, err) = shell.exec(&argv).await?;
    let Some((log, spool)) = out.split_once("\u{1e}\n") else {
        return Err(TargetError::Exec(format!("reading Mailman's archiver log: {}", err.trim())));
    };
    Ok(ArchiverFacts {
        log_entries: archiver::archiver_entries(log, &ids, 2),
        spool_files: spool.lines().map(str::to_string).collect(),
        refusals: archiver::refusals(log, &ids),
    })
}

/// Whether Mailman 3's archive queue folder (`<var>/queue/archive`) holds
/// no `.pck` (waiting) and no `.bak` (being archived) file. A folder that
/// does not exist is an error, not "empty": the path is wrong then.
pub async fn archive_queue_empty(shell: &dyn Shell, paths: &ServerPaths) -> Result<bool, TargetError> {
    let dir = format!("{}/queue/archive", paths.mailman_var_dir);
    let argv = ["find", &dir, "-maxdepth", "1", "(", "-name", "*.pck", "-o", "-name", "*.bak", ")", "-print", "-quit"];
    let (code, out, err) = shell.exec(&argv).await?;
    if code != 0 {
        return Err(TargetError::Exec(format!("looking in {dir}: {}", err.trim())));
    }
    Ok(out.trim().is_empty())
}

/// The probe's messages in exim's queue, read with exim's own commands
/// through `shell` (usually [`As`] root: exim lets only its admin users
/// list the queue): `exim -bp` for the listing, `exim -Mvh` for each
/// message's header file (exim shows one at a time; the youngest
/// [`MAX_HEADER_FILES`] only, since a probe is minutes old), and for the
/// probe's messages only, `exim -Mvl` for the message log (or, when message
/// logs are off, the message's lines of `mainlog`, read through
/// `log_shell`). Found by Message-ID or probe header
/// ([`exim::queue::parse_queue`]), never by anything else.
pub async fn exim_queue(
    shell: &dyn Shell,
    log_shell: &dyn Shell,
    exim: &str,
    mainlog: &str,
    keys: &ProbeKeys,
) -> Result<Vec<exim::QueuedMessage>, TargetError> {
    let (code, listing, err) = shell.exec(&[exim, "-bp"]).await?;
    if code != 0 {
        return Err(TargetError::Exec(format!("`{exim} -bp` on the host (exit status {code}): {}", err.trim())));
    }
    let mut queued = exim::queue::listed_messages(&listing);
    queued.sort_by_key(|m| m.age);
    queued.truncate(MAX_HEADER_FILES);
    let mut text = String::new();
    for ListedMessage { line, queue_id: id, .. } in queued {
        // A message delivered since the listing has no header file any more.
        let (code, head, _) = shell.exec(&[exim, "-Mvh", id]).await?;
        if code != 0 {
            continue;
        }
        let section = format!("=== {line}\n{head}--- log\n");
        if exim::queue::parse_queue(&section, keys).is_empty() {
            continue;
        }
        let (code, log, _) = shell.exec(&[exim, "-Mvl", id]).await?;
        let log = if code == 0 {
            log
        } else {
            let needle = format!(" {id} ");
            log_shell.exec(&["grep", "-F", "-e", &needle, "--", mainlog]).await.map(|(_, out, _)| out).unwrap_or_default()
        };
        text.push_str(&section);
        text.push_str(&log);
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    Ok(exim::queue::parse_queue(&text, keys))
}

/// Header files read per look at the queue, the youngest messages first.
pub const MAX_HEADER_FILES: usize = 200;

/// exim's `exigrep` on the server's main log: only the lines of the probe's
/// messages and their bounces leave the server. Messages are found by `id=`
/// (each Message-ID) and by the probe header line the lists image's DATA
/// ACL logs; bounces by their `R=<queue id>`.
pub async fn mta_trace(shell: &dyn Shell, paths: &ServerPaths, keys: &ProbeKeys) -> Result<exim::Trace, TargetError> {
    let exigrep = |args: Vec<String>| async move {
        let mut argv = vec!["exigrep".to_string()];
        argv.extend(args);
        argv.push(paths.exim_mainlog.clone());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (code, out, err) = shell.exec(&argv).await?;
        // exigrep exits 1 when nothing matched.
        if code > 1 {
            return Err(TargetError::Exec(format!("exigrep on {}: {}", paths.exim_mainlog, err.trim())));
        }
        Ok::<String, TargetError>(out)
    };
    let mut out = String::new();
    for id in keys.bare_ids() {
        out.push_str(&exigrep(vec!["-l".into(), format!("id={id}")]).await?);
    }
    if let Some(header) = &keys.probe_header {
        // A regex: the whole value (white space as it may be logged), to the end of the line.
        let words: Vec<String> = header.split_whitespace().map(perl_quote).collect();
        let pattern = format!("{}{}$", perl_quote(exim::mainlog::PROBE_HEADER_LINE), words.join("\\s+"));
        out.push_str(&exigrep(vec![pattern]).await?);
    }
    let own = exim::trace(&out, keys);
    let qids = own.queue_ids();
    if !qids.is_empty() {
        let pattern = format!("<= <> R=(?:{})(?: |$)", qids.join("|"));
        out.push_str(&exigrep(vec![pattern]).await?);
    }
    Ok(exim::trace(&out, keys))
}

/// `text` as a Perl regex that matches it literally (exigrep's patterns are
/// Perl's): every character but letters, digits and `_` escaped.
fn perl_quote(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() && c != '_' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    //! A recording shell: what is asked of the server, and how its answers are read.
    use std::sync::Mutex;

    use super::*;
    use crate::BoxFuture;

    /// Answers every call with the next canned reply and keeps the argv.
    struct Recording {
        calls: Mutex<Vec<Vec<String>>>,
        replies: Mutex<Vec<(i64, String, String)>>,
    }

    impl Recording {
        fn new(replies: &[(i64, &str, &str)]) -> Recording {
            Recording {
                calls: Mutex::new(Vec::new()),
                replies: Mutex::new(replies.iter().rev().map(|(c, o, e)| (*c, o.to_string(), e.to_string())).collect()),
            }
        }
        fn calls(&self) -> Vec<Vec<String>> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Shell for Recording {
        fn exec<'a>(&'a self, argv: &'a [&'a str]) -> BoxFuture<'a, Result<(i64, String, String), TargetError>> {
            self.calls.lock().unwrap().push(argv.iter().map(|a| a.to_string()).collect());
            let reply = self.replies.lock().unwrap().pop().expect("a canned reply");
            Box::pin(async move { Ok(reply) })
        }
    }

    /// A probe known by one Message-ID and no probe header.
    fn keys(id: &str) -> ProbeKeys {
        ProbeKeys { message_ids: vec![id.to_string()], probe_header: None }
    }

    fn paths() -> ServerPaths {
        ServerPaths { exim_mainlog: "/srv/log/mainlog".into(), mailman_var_dir: "/srv/mm".into(), mailman_log: "/srv/log/mm.log".into() }
    }

    #[tokio::test]
    async fn the_trace_is_filtered_on_the_server_from_the_named_log() {
        let log = "2026-05-12 08:00:00.123 1uQx2a-000Abc-7F <= a@probe.test H=(x) [10.0.0.1] P=esmtp S=300 id=mailflow.r.1@probe.test\n\
                   2026-05-12 08:00:00.200 1uQx2a-000Abc-7F Completed\n";
        // Then its bounces, by the queue id found: none here.
        let shell = Recording::new(&[(0, log, ""), (1, "", "")]);
        let trace = mta_trace(&shell, &paths(), &keys("<mailflow.r.1@probe.test>")).await.unwrap();
        let calls = shell.calls();
        assert_eq!(calls[0], ["exigrep", "-l", "id=mailflow.r.1@probe.test", "/srv/log/mainlog"]);
        assert_eq!(calls[1], ["exigrep", "<= <> R=(?:1uQx2a-000Abc-7F)(?: |$)", "/srv/log/mainlog"]);
        assert_eq!(trace.queue_ids(), ["1uQx2a-000Abc-7F"]);

        // Nothing matched is no trace, not an error; a missing log is an error naming it.
        let shell = Recording::new(&[(1, "", ""), (2, "", "exigrep: cannot open /srv/log/mainlog")]);
        assert!(mta_trace(&shell, &paths(), &keys("<x@y>")).await.unwrap().events.is_empty());
        let err = mta_trace(&shell, &paths(), &keys("<x@y>")).await.unwrap_err().to_string();
        assert!(err.contains("/srv/log/mainlog"), "{err}");
    }

    #[tokio::test]
    async fn queues_and_archive_are_looked_for_in_the_named_folders() {
        let shell = Recording::new(&[
            (0, "/srv/mm/queue/shunt/17.1+ab.pck\n---\nline about it\n", ""),
            (0, "shunted 17.1+ab\n", ""),
        ]);
        let facts = mailman_queues(&shell, &paths(), &keys("<odd$(id)@x>")).await.unwrap();
        assert!(facts.shunted());
        assert_eq!(facts.log_lines, ["line about it", "shunted 17.1+ab"]);
        let calls = shell.calls();
        // The id is an argument of the script, never part of its text.
        assert_eq!(&calls[0][3..], ["sh", "/srv/mm", "/srv/log/mm.log", "odd$(id)@x"]);
        assert!(!calls[0][2].contains("odd"));
        assert_eq!(calls[1], ["grep", "-sF", "-e", "17.1+ab", "/srv/log/mm.log"]);

        let shell = Recording::new(&[
            (0, "/srv/mm/archives/prototype/l@d/new/1.x\n", ""),
            (2, "", "grep: /srv/mm/archives/prototype/l@d/new: No such file or directory\ngrep: /srv/mm/archives/prototype/l@d/cur: No such file or directory\n"),
            (2, "", "grep: /srv/mm/archives/prototype/l@d/new: Permission denied\n"),
        ]);
        let found = prototype_find(&shell, &paths(), "l@d", &keys("<m@x>")).await.unwrap();
        assert_eq!(found.map(|c| c.location).as_deref(), Some("/srv/mm/archives/prototype/l@d/new/1.x"));
        assert_eq!(shell.calls()[0][2..], ["-e", "m@x", "--", "/srv/mm/archives/prototype/l@d/new", "/srv/mm/archives/prototype/l@d/cur"]);
        // No maildir yet: nothing found. Unreadable: an error, never "not archived".
        assert_eq!(prototype_find(&shell, &paths(), "l@d", &keys("<m@x>")).await.unwrap(), None);
        let err = prototype_find(&shell, &paths(), "l@d", &keys("<m@x>")).await.unwrap_err().to_string();
        assert!(err.contains("Permission denied"), "{err}");
    }

    /// A probe whose Message-ID was rewritten is found by its probe header:
    /// grep for the header's first word, then the files' first lines (grep
    /// again, no script), compared unfolded here.
    #[tokio::test]
    async fn the_archive_is_searched_by_probe_header_with_grep_alone() {
        let header = "run=r; probe=a.toml step 1; id=mailflow.r.1@probe.test";
        let keys = ProbeKeys { message_ids: vec!["<rewritten@x>".into()], probe_header: Some(header.into()) };
        let new = "/srv/mm/archives/prototype/l@d/new";
        let heads = format!(
            "{new}/1.a\0Message-ID: <other@x>\n{new}/1.a\0X-Mailflow-Probe: run=r; probe=b.toml step 1;\n{new}/1.a\0\n\
             {new}/2.b\0Message-ID: <new-id@x>\n{new}/2.b\0X-Mailflow-Probe: run=r; probe=a.toml\n{new}/2.b\0 step 1; id=mailflow.r.1@probe.test\n\
             {new}/2.b\0\r\n{new}/2.b\0X-Mailflow-Probe: {header}\n"
        );
        let shell = Recording::new(&[(1, "", ""), (0, &format!("{new}/1.a\n{new}/2.b\n"), ""), (0, &heads, "")]);
        let found = prototype_find(&shell, &paths(), "l@d", &keys).await.unwrap().expect("found by its header");
        assert_eq!(found, ArchivedCopy { location: format!("{new}/2.b"), message_id: Some("<new-id@x>".into()) });
        let calls = shell.calls();
        assert_eq!(calls[1][..5], ["grep", "-rlF", "-e", "run=r;", "--"]);
        assert_eq!(calls[2][..8], ["grep", "-aH", "--null", "-m", "300", "-e", "", "--"]);
        assert_eq!(calls[2][8..], [format!("{new}/1.a"), format!("{new}/2.b")]);
        assert!(calls.iter().all(|c| c[0] == "grep"), "{calls:?}");
    }

    /// Commands as Mailman's user go through `sudo -n -u list --`; sudo's
    /// refusal (exit 1, like grep's "no match") is an error, never "not archived".
    #[tokio::test]
    async fn as_another_user_through_sudo_and_its_refusal_is_an_error() {
        let shell = Recording::new(&[
            (1, "", ""),
            (1, "", "sudo: a password is required\n"),
            (1, "", "Sorry, user mailflow is not allowed to execute '/usr/bin/grep -rlF' as list on lists.\n"),
        ]);
        let list = As { shell: &shell, user: "list" };
        assert_eq!(prototype_find(&list, &paths(), "l@d", &keys("<m@x>")).await.unwrap(), None);
        assert_eq!(shell.calls()[0][..6], ["sudo", "-n", "-u", "list", "--", "grep"]);
        for _ in 0..2 {
            let err = prototype_find(&list, &paths(), "l@d", &keys("<m@x>")).await.unwrap_err().to_string();
            assert!(err.contains("`sudo -n -u list -- grep` on the host refused"), "{err}");
        }
    }

    #[tokio::test]
    async fn the_archive_queue_is_empty_only_without_waiting_or_working_files() {
        let shell = Recording::new(&[(0, "", ""), (0, "/srv/mm/queue/archive/1795.1+ab.bak\n", ""), (1, "", "find: '/srv/mm/queue/archive': No such file or directory")]);
        assert!(archive_queue_empty(&shell, &paths()).await.unwrap());
        assert!(!archive_queue_empty(&shell, &paths()).await.unwrap());
        let err = archive_queue_empty(&shell, &paths()).await.unwrap_err().to_string();
        assert!(err.contains("/srv/mm/queue/archive"), "{err}");
        let call = &shell.calls()[0];
        assert_eq!(call[..2], ["find".to_string(), "/srv/mm/queue/archive".to_string()]);
        assert!(call.contains(&"*.pck".to_string()) && call.contains(&"*.bak".to_string()), "{call:?}");
    }
}
