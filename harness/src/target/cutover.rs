//! Facts a cutover needs from the list server, and the hold switch: the
//! MTA's whole queue (count, frozen, oldest), Mailman's queue folders, held
//! counts per list, Mailman's permission check, the old host's SMTP
//! addresses, and holding the list domain's mail in exim's queue.
//!
//! Read through the target's shell the same way for every target (docker
//! exec, ssh); the parsers are plain functions on recorded output.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Shell, TargetError};
use crate::mailman::RestTransport;
use crate::mailman21::shell::Paths as Mm21Paths;
use crate::BoxFuture;

/// What the cutover steps read on (and switch on) the list server.
pub trait Cutover: Send + Sync {
    /// exim's whole queue (`exim -bp`): every message, not only probes.
    fn mta_queue_summary(&self) -> BoxFuture<'_, Result<QueueSummary, TargetError>>;
    /// The files in each of Mailman's queue folders named (`in`, `shunt`, ...),
    /// in the order asked.
    fn mailman_queue_files<'a>(&'a self, names: &'a [String]) -> BoxFuture<'a, Result<Vec<QueueFolder>, TargetError>>;
    /// Held messages per list, by list name or id, for every list on the server.
    fn held_counts(&self) -> BoxFuture<'_, Result<Vec<(String, u64)>, TargetError>>;
    /// Mailman's own permission check: what it found wrong.
    fn permissions(&self) -> BoxFuture<'_, Result<Permissions, TargetError>>;
    /// The old host's SMTP addresses (a target file's `[cutover] old_smtp`);
    /// empty when the target names no old host.
    fn old_smtp(&self) -> Vec<SocketAddr>;
    /// Holds (`hold`) or releases mail for `domain` in exim's queue. A
    /// release also forces a queue run, waited for up to `deadline`. What
    /// was done, in words.
    fn set_hold<'a>(&'a self, domain: &'a str, hold: bool, deadline: Duration) -> BoxFuture<'a, Result<String, TargetError>>;
}

/// exim's queue as `exim -bp` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSummary {
    /// Messages in the queue.
    pub count: usize,
    /// Queue ids of the frozen messages.
    pub frozen: Vec<String>,
    /// The oldest message's time in the queue (exim lists it in whole
    /// minutes, hours or days) with its queue id; `None` for an empty queue.
    pub oldest: Option<(Duration, String)>,
}

/// One of Mailman's queue folders and the files in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueFolder {
    /// The folder's name (`shunt`).
    pub name: String,
    /// Its path on the server.
    pub path: String,
    /// The names of the files in it (`1795945895.489035+f273....pck`).
    pub files: Vec<String>,
    /// The folder does not exist on the server (nothing can be in it).
    pub missing: bool,
}

/// What Mailman's permission check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// What was checked, e.g. `bin/check_perms` or `files under
    /// /var/lib/mailman3 not owned by list`.
    pub checked: String,
    /// One line per problem (at most [`MAX_PROBLEMS`] kept).
    pub problems: Vec<String>,
    /// How many problems there are in all (may exceed `problems.len()`).
    pub total: usize,
}

/// At most this many problems are kept for the report.
pub const MAX_PROBLEMS: usize = 20;

/// Which Mailman runs on the server, and where it keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailmanLayout {
    /// Mailman 3: `<var>/queue/<name>`, owned by `user`.
    Three { var_dir: String, user: String },
    /// Mailman 2.1: `qfiles/<name>`, `data/heldmsg-<list>-<id>.pck`, `bin/check_perms`.
    TwoOne(Mm21Paths),
}

/// The file whose domains exim holds (the lists image's `hold_domains`);
/// a host's exim needs the same line for `mta_hold` to work there.
pub const HOLD_FILE: &str = "/etc/exim4/mailflow-hold-domains";

/// Reads `exim -bp` once.
pub async fn queue_summary(shell: &dyn Shell) -> Result<QueueSummary, TargetError> {
    let (code, out, err) = shell.exec(&["exim", "-bp"]).await?;
    if code != 0 {
        return Err(TargetError::Exec(format!("exim -bp exited with {code}: {}", err.trim())));
    }
    Ok(parse_bp(&out))
}

/// Reads `exim -bp`'s listing: a message line is `<age> <size> <queue id>
/// <sender> [*** frozen ***]`, its recipients follow indented.
pub fn parse_bp(text: &str) -> QueueSummary {
    let mut summary = QueueSummary::default();
    for m in crate::exim::queue::listed_messages(text) {
        summary.count += 1;
        if m.frozen {
            summary.frozen.push(m.queue_id.to_string());
        }
        if summary.oldest.as_ref().is_none_or(|(oldest, _)| m.age > *oldest) {
            summary.oldest = Some((m.age, m.queue_id.to_string()));
        }
    }
    summary
}

/// Lists each folder (`ls -la`), in sections [`parse_ls_sections`] reads.
/// Folders come as arguments: `$1` the parent, then the names.
const LIST_FOLDERS: &str = r#"parent=$1; shift
for q in "$@"; do
  printf '== %s\n' "$q"
  if [ -d "$parent/$q" ]; then ls -la "$parent/$q" || exit 1; else echo "(missing)"; fi
done"#;

/// The files in Mailman's queue folders named.
pub async fn queue_folders(shell: &dyn Shell, layout: &MailmanLayout, names: &[String]) -> Result<Vec<QueueFolder>, TargetError> {
    let parent = match layout {
        MailmanLayout::Three { var_dir, .. } => format!("{var_dir}/queue"),
        MailmanLayout::TwoOne(paths) => paths.qfiles.clone(),
    };
    let sections = list_folders(shell, &parent, names).await?;
    Ok(names
        .iter()
        .map(|name| {
            let section = sections.iter().find(|s| &s.0 == name);
            QueueFolder {
                name: name.clone(),
                path: format!("{parent}/{name}"),
                files: section.map(|s| s.1.clone()).unwrap_or_default(),
                missing: section.is_none_or(|s| s.2),
            }
        })
        .collect())
}

async fn list_folders(shell: &dyn Shell, parent: &str, names: &[String]) -> Result<Vec<(String, Vec<String>, bool)>, TargetError> {
    let mut argv = vec!["sh", "-c", LIST_FOLDERS, "sh", parent];
    argv.extend(names.iter().map(String::as_str));
    let (code, out, err) = shell.exec(&argv).await?;
    if code != 0 {
        return Err(TargetError::Exec(format!("listing {parent}: {}", err.trim())));
    }
    Ok(parse_ls_sections(&out))
}

/// Reads `== <name>` sections of `ls -la` output (as recorded in
/// `fixtures/mailman21/cmd/ls-qfiles-*.txt`): each section's regular files
/// (lines starting with `-`), and whether it said `(missing)`.
pub fn parse_ls_sections(text: &str) -> Vec<(String, Vec<String>, bool)> {
    let mut sections: Vec<(String, Vec<String>, bool)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            // `qfiles/in` in the recordings, `in` from LIST_FOLDERS.
            let name = name.trim().rsplit('/').next().unwrap_or_default();
            sections.push((name.to_string(), Vec::new(), false));
            continue;
        }
        let Some(section) = sections.last_mut() else { continue };
        if line.trim() == "(missing)" {
            section.2 = true;
        } else if line.starts_with('-') {
            // `-rw-rw---- 1 mailman mailman 602 Nov 29 09:51 <name>`: the name is the ninth field on.
            if let Some(name) = line.split_whitespace().nth(8) {
                section.1.push(name.to_string());
            }
        }
    }
    sections
}

/// Held messages per list on Mailman 3: every list (`GET /3.1/lists`,
/// paged), then each one's `held/count`.
pub async fn held_counts_mm3(rest: &dyn RestTransport) -> Result<Vec<(String, u64)>, TargetError> {
    let mm = crate::mailman::MailmanRest::new(rest);
    let mut ids = Vec::new();
    let mut page = 1;
    loop {
        let path = format!("/3.1/lists?count=200&page={page}");
        let r = rest.call("GET", &path, &[]).await?;
        let unexpected = |m: String| TargetError::Rest(crate::mailman::RestError { method: "GET".into(), path: path.clone(), message: m });
        if r.status != 200 {
            return Err(unexpected(format!("HTTP {}: {}", r.status, r.body.trim())));
        }
        let body: serde_json::Value = serde_json::from_str(&r.body).map_err(|e| unexpected(format!("unexpected JSON: {e}")))?;
        let total = body.get("total_size").and_then(serde_json::Value::as_u64).unwrap_or(0);
        let entries = body.get("entries").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
        let empty = entries.is_empty();
        ids.extend(entries.iter().filter_map(|e| e.get("list_id").and_then(serde_json::Value::as_str).map(str::to_string)));
        if empty || ids.len() as u64 >= total {
            break;
        }
        page += 1;
    }
    let mut counts = Vec::new();
    for id in ids {
        let n = mm.held_count(&id).await?;
        counts.push((id, n));
    }
    Ok(counts)
}

/// Held messages per list on Mailman 2.1: the held files in `data/`
/// (`heldmsg-<list>-<id>.pck`), counted by list. A list with none is absent.
pub async fn held_counts_mm21(shell: &dyn Shell, paths: &Mm21Paths) -> Result<Vec<(String, u64)>, TargetError> {
    let data = mm21_data_dir(paths);
    let (parent, name) = data.rsplit_once('/').unwrap_or((".", data.as_str()));
    let sections = list_folders(shell, parent, &[name.to_string()]).await?;
    Ok(sections.first().map(|s| held_by_list(&s.1)).unwrap_or_default())
}

/// Mailman 2.1's `data/` folder, beside `qfiles/`.
fn mm21_data_dir(paths: &Mm21Paths) -> String {
    match paths.qfiles.trim_end_matches('/').rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/data"),
        None => "data".into(),
    }
}

/// Counts `heldmsg-<list>-<id>.<ext>` names by list (a list name may hold `-`).
pub fn held_by_list(files: &[String]) -> Vec<(String, u64)> {
    let mut counts: Vec<(String, u64)> = Vec::new();
    for f in files {
        let Some(rest) = f.strip_prefix("heldmsg-") else { continue };
        let stem = rest.split('.').next().unwrap_or(rest);
        let Some((list, id)) = stem.rsplit_once('-') else { continue };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        match counts.iter_mut().find(|(l, _)| l == list) {
            Some((_, n)) => *n += 1,
            None => counts.push((list.to_string(), 1)),
        }
    }
    counts
}

/// Mailman's permission check: `bin/check_perms` on 2.1 (reports only; it
/// changes nothing without `-f`); on 3, files and folders under the var
/// folder that its user does not own (`find ! -user`), leaving out Debian's
/// `web/` folder (mailman3-web's, owned by www-data).
pub async fn permissions(shell: &dyn Shell, layout: &MailmanLayout) -> Result<Permissions, TargetError> {
    match layout {
        MailmanLayout::TwoOne(paths) => {
            let report = crate::mailman21::shell::check_perms(shell, paths).await?;
            Ok(perms_of_check_perms(&report))
        }
        MailmanLayout::Three { var_dir, user } => {
            // Debian keeps the web side's state (Django, owned by www-data)
            // in `<var>/web`: not Mailman core's, so not checked.
            let web = format!("{var_dir}/web");
            let (code, out, err) =
                shell.exec(&["find", var_dir, "-path", &web, "-prune", "-o", "!", "-user", user, "-printf", "%u:%g %p\\n"]).await?;
            if code != 0 {
                return Err(TargetError::Exec(format!("find {var_dir} exited with {code}: {}", err.trim())));
            }
            let all: Vec<String> = out.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("owned by {l}")).collect();
            Ok(Permissions {
                checked: format!("files under {var_dir} (but web/) not owned by {user}"),
                total: all.len(),
                problems: all.into_iter().take(MAX_PROBLEMS).collect(),
            })
        }
    }
}

/// [`Permissions`] from `bin/check_perms`' report: its problem lines; its
/// warnings (o+x on private archives) are advice, not problems.
pub fn perms_of_check_perms(report: &crate::mailman21::cmd::PermsReport) -> Permissions {
    let total = report.problems_found.unwrap_or(report.problems.len()).max(report.problems.len());
    Permissions {
        checked: "bin/check_perms".into(),
        problems: report.problems.iter().take(MAX_PROBLEMS).cloned().collect(),
        total,
    }
}

/// Adds `$2` to (`$1` = hold) or removes it from (`$1` = release) the hold
/// file; a release then forces a queue run (`exim -qff`) within `$3` seconds.
const SET_HOLD: &str = r#"file=/etc/exim4/mailflow-hold-domains; domain=$2
touch "$file" || exit 1
grep -vixF -- "$domain" "$file" > "$file.new"; mv "$file.new" "$file"
if [ "$1" = hold ]; then
  printf '%s\n' "$domain" >> "$file"; chmod 644 "$file"
  echo "exim holds mail for $domain ($file)"
else
  before=$(exim -bpc); timeout "$3" exim -qff; status=$?; after=$(exim -bpc)
  [ "$status" = 124 ] && { echo "exim -qff did not end within $3 s" >&2; exit 1; }
  echo "released $domain; queue run: $before message(s) before, $after after"
fi"#;

/// Holds or releases a domain through the hold file ([`HOLD_FILE`]).
pub async fn set_hold(shell: &dyn Shell, domain: &str, hold: bool, deadline: Duration) -> Result<String, TargetError> {
    let secs = deadline.as_secs().max(1).to_string();
    let action = if hold { "hold" } else { "release" };
    let (code, out, err) = shell.exec(&["sh", "-c", SET_HOLD, "sh", action, domain, &secs]).await?;
    if code != 0 {
        return Err(TargetError::Exec(format!("{action} {domain} (exit status {code}): {}", err.trim())));
    }
    Ok(out.trim().lines().last().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of exim 4.96's `exim -bp` (hand-made): three messages, one
    /// frozen, ages in minutes, hours and days.
    const BP: &str = "25m  1.2K 1vP0aB-000123-Xy <alice@probe.test>
          probe-test@lists.example.test

 2h   500 1vP0aC-000456-Zz <> *** frozen ***
          bob@probe.test

 3d   2.1K 1vP0aD-000789-Ab <carol@probe.test>
        D probe-test@lists.example.test
          probe-held@lists.example.test

";

    #[test]
    fn exim_bp_count_frozen_and_oldest() {
        let s = parse_bp(BP);
        assert_eq!(s.count, 3);
        assert_eq!(s.frozen, vec!["1vP0aC-000456-Zz".to_string()]);
        assert_eq!(s.oldest, Some((Duration::from_secs(3 * 86_400), "1vP0aD-000789-Ab".to_string())));
        assert_eq!(parse_bp(""), QueueSummary::default());
    }

    /// The project's own fixtures, cut down from the Mailman 2.1.39
    /// recordings (`harness/tests-data/cutover/README.md`).
    fn own(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests-data/cutover").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn mailman21_queue_folders_and_held_files() {
        let sections = parse_ls_sections(&own("ls-qfiles.txt"));
        let section = |name: &str| sections.iter().find(|s| s.0 == name).cloned().unwrap();
        assert_eq!(section("in").1, vec!["1795945895.489035+f2732f3117bce4f0d02f7d7ce09b8a94b4d88fc6.pck".to_string()]);
        assert_eq!(section("shunt"), ("shunt".to_string(), vec![], false));
        assert_eq!(section("bad"), ("bad".to_string(), vec![], true));
        assert_eq!(held_by_list(&section("data").1), vec![("probe-test".to_string(), 2)]);
    }

    #[test]
    fn held_files_by_list_with_dashes_in_names() {
        let files: Vec<String> =
            ["heldmsg-a-b-1.pck", "heldmsg-a-b-22.pck", "heldmsg-c-3.pck", "heldmsg-c-x.pck", "adm.pw"].iter().map(|s| s.to_string()).collect();
        assert_eq!(held_by_list(&files), vec![("a-b".to_string(), 2), ("c".to_string(), 1)]);
    }

    /// `bin/check_perms` with problems, then clean but for the private
    /// archive warning (advice, not a problem).
    #[test]
    fn check_perms_problems_and_clean() {
        let p = perms_of_check_perms(&crate::mailman21::cmd::check_perms(&own("check_perms-problems.txt")));
        assert_eq!(p.total, 2);
        assert_eq!(
            p.problems,
            vec![
                "directory permissions must be 02775: /usr/local/mailman/templates/pl".to_string(),
                "/usr/local/mailman/bin/setpw.py bad group (has: root, expected mailman)".to_string(),
            ]
        );
        let p = perms_of_check_perms(&crate::mailman21::cmd::check_perms(&own("check_perms-clean.txt")));
        assert_eq!((p.total, p.problems.len()), (0, 0));
    }

    /// The full recordings, when they are beside the repository: the
    /// `before` run lists one problem per folder.
    #[test]
    fn check_perms_recordings() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/mailman21/cmd");
        // Not beside the repository (a fresh clone): the own fixtures above cover it.
        let Ok(before) = std::fs::read_to_string(dir.join("check_perms.before.txt")) else { return };
        // The recordings end with the exit status the recorder added (`rc=0`).
        let before: String = before.lines().filter(|l| !l.starts_with("rc=")).map(|l| format!("{l}\n")).collect();
        let p = perms_of_check_perms(&crate::mailman21::cmd::check_perms(&before));
        assert!(p.total > MAX_PROBLEMS && p.problems.len() == MAX_PROBLEMS, "{p:?}");
        assert!(p.problems.iter().all(|l| l.starts_with("directory permissions must be 02775: ") || l.contains(" bad ")), "{p:?}");
    }

    #[test]
    fn mailman21_data_folder_is_beside_qfiles() {
        assert_eq!(mm21_data_dir(&Mm21Paths::default()), "/var/lib/mailman/data");
    }
}
