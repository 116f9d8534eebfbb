//! What a list server holds: every list with its member, owner and
//! moderator counts, its archive's message counts per month and the
//! settings that change mail flow.
//!
//! - Mailman 3: its REST API, paged (`?count=N&page=P`), so a server with
//!   1,000 lists costs a few calls per list and no call returns a whole
//!   roster at once; archive counts from the prototype archiver's maildirs
//!   through the shell (the month of each message's `Date:`), when the
//!   target has one.
//! - Mailman 2.1: the shell's `bin/list_lists -b`, `bin/list_members` and
//!   `bin/config_list -o -`, and pipermail's month files
//!   (`<archives>/private/<list>/<YYYY-Month>.txt[.gz]`), whose messages are
//!   counted on the server (only `file<TAB>count` lines come back).
//!
//! Member addresses are kept as SHA-256 digests of the lower-cased address
//! ([`address_digest`]); the addresses themselves only when asked for
//! (`mailflow inventory --with-addresses`). The JSON form is described by
//! `harness/tests-data/migration/inventory.schema.json`.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::mailman::{RestError, RestTransport};
use crate::mailman21 as mm21web;
use crate::mailman21::shell as mm21;
use crate::target::{Shell, TargetError};

/// The `schema` value of an inventory this version writes.
pub const SCHEMA: &str = "mailflow-inventory/1";

/// Lists read at once (REST calls or shell commands under way together).
pub const CONCURRENCY: usize = 4;
/// Lists per REST page.
pub const LIST_PAGE_SIZE: u64 = 100;
/// Members per REST page.
pub const MEMBER_PAGE_SIZE: u64 = 500;

/// Which Mailman a server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flavour {
    #[serde(rename = "2.1")]
    Mailman21,
    #[serde(rename = "3")]
    Mailman3,
}

impl Flavour {
    /// As the JSON and the table write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Mailman21 => "2.1",
            Flavour::Mailman3 => "3",
        }
    }
}

/// A whole server's inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The target's name (`name` in the target file).
    pub server: String,
    pub mailman: Flavour,
    /// When it was read, RFC 3339 in UTC.
    pub taken_at: String,
    /// Every list, by name.
    pub lists: Vec<ListInventory>,
}

/// One list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListInventory {
    /// The list's name: its posting address's local part, lower case.
    pub name: String,
    /// The posting address, when the server says (2.1: `host_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Members (regular and digest).
    pub members: u64,
    /// [`address_digest`] of each member, sorted.
    pub member_digests: Vec<String>,
    /// The members' addresses, lower case, sorted; only when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_addresses: Option<Vec<String>>,
    pub owners: u64,
    pub moderators: u64,
    pub archive: ArchiveCounts,
    /// The settings that change mail flow, by the server's own names and
    /// with its values (2.1's Python literals read into JSON values):
    /// [`MM21_SETTINGS`] or [`MM3_SETTINGS`].
    pub settings: BTreeMap<String, Value>,
}

/// A list's archived messages per month.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveCounts {
    /// Where the counts come from: `pipermail` (2.1's month files, or its
    /// archive's web pages), `prototype` (Mailman 3's prototype archiver's
    /// maildir), `hyperkitty` (HyperKitty's JSON API); none when they could
    /// not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Messages per month, `YYYY-MM` (UTC for Mailman 3, by each message's
    /// date; pipermail's own
    /// month folder otherwise); a pipermail volume that is not monthly
    /// keeps pipermail's name (`2026q4`, `2026-Week-of-Mon-20261123`).
    pub months: BTreeMap<String, u64>,
    /// Why there are no counts (no shell, an archiver not read, an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// Reading an inventory failed.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Shell(#[from] TargetError),
    #[error(transparent)]
    Rest(#[from] RestError),
    /// Mailman 2.1's web pages (no password in it).
    #[error("{0}")]
    Web(String),
    /// An answer without the shape Mailman gives it.
    #[error("{what}")]
    Unexpected { what: String },
    /// The target offers no way to read this server's lists.
    #[error("no way to read the lists: {0}")]
    NoWay(String),
}

/// Mailman 2.1's settings that change mail flow, as `config_list` names them.
pub const MM21_SETTINGS: [&str; 10] = [
    "default_member_moderation",
    "member_moderation_action",
    "generic_nonmember_action",
    "emergency",
    "max_message_size",
    "max_num_recipients",
    "archive",
    "archive_private",
    "subject_prefix",
    "require_explicit_destination",
];

/// Mailman 3's settings that change mail flow, as `/3.1/lists/<id>/config` names them.
pub const MM3_SETTINGS: [&str; 8] = [
    "default_member_action",
    "default_nonmember_action",
    "emergency",
    "max_message_size",
    "max_num_recipients",
    "archive_policy",
    "subject_prefix",
    "require_explicit_destination",
];

/// The names both Mailman versions share after [`common_settings`].
pub const COMMON_SETTINGS: [&str; 8] = [
    "member_action",
    "nonmember_action",
    "emergency",
    "max_message_size",
    "max_num_recipients",
    "archive_policy",
    "subject_prefix",
    "require_explicit_destination",
];

/// The SHA-256 of the lower-cased, trimmed address, lower-case hex.
pub fn address_digest(address: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, address.trim().to_ascii_lowercase().as_bytes());
    data_encoding::HEXLOWER.encode(digest.as_ref())
}

impl ListInventory {
    /// The settings under the names both versions share ([`COMMON_SETTINGS`]),
    /// with values that mean the same: actions as Mailman 3 words (`defer`
    /// is "posts go on to the other checks", 2.1's unmoderated member),
    /// `archive_policy` as `public`, `private` or `never`, booleans as
    /// booleans, sizes in KB. A setting the server did not give is absent.
    pub fn common_settings(&self, flavour: Flavour) -> BTreeMap<&'static str, Value> {
        let s = &self.settings;
        let mut out = BTreeMap::new();
        let int = |k: &str| s.get(k).and_then(as_int);
        let boolean = |k: &str| s.get(k).and_then(|v| as_int(v).map(|n| n != 0).or(v.as_bool()));
        match flavour {
            Flavour::Mailman21 => {
                let member = match (boolean("default_member_moderation"), int("member_moderation_action")) {
                    (Some(false), _) => Some("defer"),
                    (Some(true), Some(0)) => Some("hold"),
                    (Some(true), Some(1)) => Some("reject"),
                    (Some(true), Some(2)) => Some("discard"),
                    _ => None,
                };
                if let Some(m) = member {
                    out.insert("member_action", Value::from(m));
                }
                let nonmember = match int("generic_nonmember_action") {
                    Some(0) => Some("accept"),
                    Some(1) => Some("hold"),
                    Some(2) => Some("reject"),
                    Some(3) => Some("discard"),
                    _ => None,
                };
                if let Some(n) = nonmember {
                    out.insert("nonmember_action", Value::from(n));
                }
                let policy = match (boolean("archive"), boolean("archive_private")) {
                    (Some(false), _) => Some("never"),
                    (Some(true), Some(true)) => Some("private"),
                    (Some(true), Some(false)) => Some("public"),
                    _ => None,
                };
                if let Some(p) = policy {
                    out.insert("archive_policy", Value::from(p));
                }
            }
            Flavour::Mailman3 => {
                for (from, to) in [("default_member_action", "member_action"), ("default_nonmember_action", "nonmember_action"), ("archive_policy", "archive_policy")] {
                    if let Some(v) = s.get(from) {
                        out.insert(to, v.clone());
                    }
                }
            }
        }
        for k in ["emergency", "require_explicit_destination"] {
            if let Some(b) = boolean(k) {
                out.insert(k, Value::from(b));
            }
        }
        for k in ["max_message_size", "max_num_recipients"] {
            if let Some(n) = int(k) {
                out.insert(k, Value::from(n));
            }
        }
        if let Some(p) = s.get("subject_prefix") {
            out.insert("subject_prefix", p.clone());
        }
        out
    }
}

fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_bool().map(i64::from))
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()
}

// ---------------------------------------------------------------- Mailman 2.1

/// Reads a Mailman 2.1 server through its shell. `archives_dir` is
/// Mailman's `archives/` folder (its `private/<list>/` holds every list's
/// pipermail). A list whose archive cannot be read is still listed, with
/// the reason in [`ArchiveCounts::unavailable`].
pub async fn mailman21(
    shell: &dyn Shell,
    paths: &mm21::Paths,
    server: &str,
    with_addresses: bool,
) -> Result<Inventory, InventoryError> {
    let names = mm21::list_names(shell, paths).await?;
    let lists = stream::iter(names.into_iter().map(|name| mailman21_list(shell, paths, name, with_addresses)))
        .buffered(CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(finish(server, Flavour::Mailman21, lists))
}

async fn mailman21_list(shell: &dyn Shell, paths: &mm21::Paths, name: String, with_addresses: bool) -> Result<ListInventory, InventoryError> {
    let name = name.to_ascii_lowercase();
    let addresses = mm21::members(shell, paths, &name).await?;
    let config = mm21::settings(shell, paths, &name).await?;
    let get = |k: &str| config.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let count_of = |k: &str| get(k).map(|v| py_value(v).as_array().map_or(0, Vec::len) as u64).unwrap_or(0);
    let settings = MM21_SETTINGS.iter().filter_map(|k| Some((k.to_string(), py_value(get(k)?)))).collect();
    let address = get("host_name").and_then(|h| py_value(h).as_str().map(|h| format!("{name}@{h}")));
    let archive = match pipermail_months(shell, paths, &name).await {
        Ok(months) => ArchiveCounts { source: Some("pipermail".into()), months, unavailable: None },
        Err(e) => ArchiveCounts { source: None, months: BTreeMap::new(), unavailable: Some(e.to_string()) },
    };
    Ok(list_inventory(name, address, addresses, count_of("owner"), count_of("moderator"), archive, settings, with_addresses))
}

/// Reads a Mailman 2.1 server through its web pages, where there is no
/// shell: the lists from the listinfo overview (advertised lists only) and
/// the target file's `[mailman.lists.<name>]` tables; each list's members
/// and settings from its admin pages (its admin password, else the site
/// password, from the target file's secrets; [`crate::mailman21::Site::admin_read`]);
/// its archive months from pipermail's index and each month's date index
/// (public, or the private archive with the file's archive login).
pub async fn mailman21_web(site: &mm21web::Site, server: &str, with_addresses: bool) -> Result<Inventory, InventoryError> {
    let overview_path = format!("{}listinfo", site.config().cgi_path);
    let overview = web(site.session().map_err(web_error)?.get(site, &overview_path).await)?;
    if overview.status != 200 {
        return Err(web_error(overview.unexpected("GET")));
    }
    let mut names: Vec<String> = mm21web::listinfo::parse_overview(&overview.text()).into_iter().map(|l| l.name.to_ascii_lowercase()).collect();
    names.extend(site.config().lists.iter().map(|l| l.name.clone()));
    names.sort();
    names.dedup();
    let lists = stream::iter(names.into_iter().map(|name| mailman21_web_list(site, name, with_addresses)))
        .buffered(CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(finish(server, Flavour::Mailman21, lists))
}

async fn mailman21_web_list(site: &mm21web::Site, name: String, with_addresses: bool) -> Result<ListInventory, InventoryError> {
    let read = web(site.admin_read(&name).await)?;
    let get = |k: &str| read.settings.get(k).map(String::as_str);
    let count_of = |k: &str| get(k).map(|v| py_value(v).as_array().map_or(0, Vec::len) as u64).unwrap_or(0);
    let settings = MM21_SETTINGS.iter().filter_map(|k| Some((k.to_string(), py_value(get(k)?)))).collect();
    let address = get("host_name").and_then(|h| py_value(h).as_str().map(|h| format!("{name}@{h}")));
    let archive = match site.month_counts(&name).await {
        Ok(months) => ArchiveCounts { source: Some("pipermail".into()), months, unavailable: None },
        Err(e) => ArchiveCounts { source: None, months: BTreeMap::new(), unavailable: Some(e.to_string()) },
    };
    let (owners, moderators) = (count_of("owner"), count_of("moderator"));
    Ok(list_inventory(name, address, read.addresses, owners, moderators, archive, settings, with_addresses))
}

fn web<T>(r: Result<T, mm21web::Mm21Error>) -> Result<T, InventoryError> {
    r.map_err(web_error)
}

fn web_error(e: mm21web::Mm21Error) -> InventoryError {
    InventoryError::Web(e.to_string())
}

#[allow(clippy::too_many_arguments)]
fn list_inventory(
    name: String,
    address: Option<String>,
    addresses: Vec<String>,
    owners: u64,
    moderators: u64,
    archive: ArchiveCounts,
    settings: BTreeMap<String, Value>,
    with_addresses: bool,
) -> ListInventory {
    let mut addresses: Vec<String> = addresses.into_iter().map(|a| a.trim().to_ascii_lowercase()).collect();
    addresses.sort();
    addresses.dedup();
    let mut member_digests: Vec<String> = addresses.iter().map(|a| address_digest(a)).collect();
    member_digests.sort();
    ListInventory {
        name,
        address,
        members: addresses.len() as u64,
        member_digests,
        member_addresses: with_addresses.then_some(addresses),
        owners,
        moderators,
        archive,
        settings,
    }
}

fn finish(server: &str, mailman: Flavour, mut lists: Vec<ListInventory>) -> Inventory {
    lists.sort_by(|a, b| a.name.cmp(&b.name));
    Inventory { schema: SCHEMA.into(), server: server.into(), mailman, taken_at: now_rfc3339(), lists }
}

/// Pipermail's envelope line in a month's `.txt`: `From alice at
/// probe.test  Sun Nov 29 09:50:01 2026` (two spaces, then a ctime date).
/// A body line starting with "From " has no ctime date after it.
const PIPERMAIL_FROM: &str =
    "^From .+ (Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-9]?[0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}$";

/// Counts each month file's messages on the server: `file<TAB>count` lines;
/// `.txt.gz` only when no `.txt` of that month is there (nightly_gzip
/// keeps both, the `.txt` being current). A list without an archive folder
/// has no months.
const COUNT_SCRIPT: &str = r#"d="$1"; p="$2"; [ -d "$d" ] || exit 0; cd "$d" || exit 3
for f in *.txt *.txt.gz; do
  [ -f "$f" ] || continue
  case "$f" in
    *.gz) [ -f "${f%.gz}" ] && continue; n=$(gzip -dc -- "$f" | grep -cE -- "$p") ;;
    *) n=$(grep -cE -- "$p" "$f") ;;
  esac
  printf '%s\t%s\n' "$f" "$n"
done"#;

/// Messages per month in the list's pipermail archive.
pub async fn pipermail_months(shell: &dyn Shell, paths: &mm21::Paths, list: &str) -> Result<BTreeMap<String, u64>, TargetError> {
    let dir = format!("{}/private/{list}", paths.archives);
    let (code, out, err) = shell.exec(&["sh", "-c", COUNT_SCRIPT, "sh", &dir, PIPERMAIL_FROM]).await?;
    if code != 0 {
        return Err(TargetError::Exec(format!("counting pipermail messages in {dir}: exit {code}: {}", err.trim())));
    }
    Ok(parse_month_counts(&out))
}

/// `file<TAB>count` lines into months: `2026-November.txt` is `2026-11`.
fn parse_month_counts(out: &str) -> BTreeMap<String, u64> {
    let mut months = BTreeMap::new();
    for line in out.lines() {
        let Some((file, n)) = line.split_once('\t') else { continue };
        let Ok(n) = n.trim().parse::<u64>() else { continue };
        let stem = file.trim_end_matches(".gz").trim_end_matches(".txt");
        *months.entry(pipermail_month(stem)).or_insert(0) += n;
    }
    months
}

pub use crate::mailman21::pipermail::pipermail_month;

/// A Python literal as `config_list -o -` writes it, as JSON: `True`,
/// `False`, numbers, quoted strings (`'...'`, `"..."`, `u'...'`,
/// triple-quoted), lists of those. Anything else stays its text.
pub fn py_value(text: &str) -> Value {
    let t = text.trim();
    match t {
        "True" => return Value::Bool(true),
        "False" => return Value::Bool(false),
        "None" => return Value::Null,
        _ => {}
    }
    if let Ok(n) = t.parse::<i64>() {
        return Value::from(n);
    }
    if let Ok(f) = t.parse::<f64>() {
        return Value::from(f);
    }
    if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return Value::Array(py_strings(inner).into_iter().map(Value::String).collect());
    }
    let unprefixed = t.strip_prefix('u').filter(|r| r.starts_with(['\'', '"'])).unwrap_or(t);
    for q in ["\"\"\"", "'''", "'", "\""] {
        if let Some(inner) = unprefixed.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            if unprefixed.len() >= 2 * q.len() {
                return Value::String(py_unescape(inner));
            }
        }
    }
    Value::String(t.to_string())
}

/// The quoted strings in a Python list's inside, in order.
fn py_strings(inner: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' && c != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(d) = chars.next() {
            match d {
                '\\' => {
                    s.push('\\');
                    if let Some(e) = chars.next() {
                        s.push(e);
                    }
                }
                d if d == c => break,
                d => s.push(d),
            }
        }
        out.push(py_unescape(&s));
    }
    out
}

/// Python's escapes in a string literal: `\\`, `\'`, `\"`, `\n`, `\t`, `\xNN`.
fn py_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) => out.push(char::from(b)),
                    Err(_) => {
                        out.push_str("\\x");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

// ------------------------------------------------------------------ Mailman 3

/// Where Mailman 3's prototype archive is read, when the target has a shell.
pub struct PrototypeReader<'a> {
    /// The shell; for maildirs only Mailman's user may read, one that runs
    /// `grep` as that user ([`crate::target::through_shell::As`]).
    pub shell: &'a dyn Shell,
    /// Mailman 3's var folder (`archives/prototype/<list address>/`).
    pub var_dir: &'a str,
}

/// Where a Mailman 3 server's archive counts come from.
#[derive(Default)]
pub struct Mailman3Archives<'a> {
    /// The prototype archiver's maildirs, through a shell.
    pub prototype: Option<PrototypeReader<'a>>,
    /// HyperKitty's JSON API, for lists that archive there and not to the
    /// prototype archiver (or when there is no shell).
    pub hyperkitty: Option<&'a crate::web::Web>,
}

/// Reads a Mailman 3 server through its REST API: the lists page by page,
/// each list's roster pages, owner and moderator counts, config, and
/// archivers; each list's archive months from the prototype archiver
/// (through the shell) when it is on for the list and there is a shell,
/// else from HyperKitty's API when it is on and the target has HyperKitty.
pub async fn mailman3(
    rest: &dyn RestTransport,
    archives: Mailman3Archives<'_>,
    server: &str,
    with_addresses: bool,
) -> Result<Inventory, InventoryError> {
    let entries = get_all_pages(rest, "/3.1/lists", LIST_PAGE_SIZE).await?;
    let archives = &archives;
    let lists = stream::iter(entries.into_iter().map(|entry| mailman3_list(rest, archives, entry, with_addresses)))
        .buffered(CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(finish(server, Flavour::Mailman3, lists))
}

async fn mailman3_list(
    rest: &dyn RestTransport,
    archives: &Mailman3Archives<'_>,
    entry: Value,
    with_addresses: bool,
) -> Result<ListInventory, InventoryError> {
    let field = |k: &str| entry.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(list_id), Some(name)) = (field("list_id"), field("list_name")) else {
        return Err(InventoryError::Unexpected { what: format!("GET /3.1/lists: an entry without list_id or list_name: {entry}") });
    };
    let address = field("fqdn_listname");
    let members = get_all_pages(rest, &format!("/3.1/lists/{list_id}/roster/member"), MEMBER_PAGE_SIZE).await?;
    let addresses: Vec<String> = members.iter().filter_map(|m| m.get("email").and_then(Value::as_str).map(str::to_string)).collect();
    let role_count = |role: &'static str| {
        let path = format!("/3.1/lists/{list_id}/roster/{role}?count=1&page=1");
        async move { Ok::<u64, InventoryError>(get_json(rest, &path).await?.get("total_size").and_then(Value::as_u64).unwrap_or(0)) }
    };
    let owners = role_count("owner").await?;
    let moderators = role_count("moderator").await?;
    let config = get_json(rest, &format!("/3.1/lists/{list_id}/config")).await?;
    let settings = MM3_SETTINGS.iter().filter_map(|k| Some((k.to_string(), config.get(*k)?.clone()))).collect();
    let archivers = get_json(rest, &format!("/3.1/lists/{list_id}/archivers")).await?;
    let archive = match &address {
        None => ArchiveCounts { unavailable: Some("the list has no fqdn_listname".into()), ..Default::default() },
        Some(address) => mailman3_archive(archives, &archivers, address).await,
    };
    Ok(list_inventory(name.to_ascii_lowercase(), address, addresses, owners, moderators, archive, settings, with_addresses))
}

/// One list's archive counts: the prototype archiver's when it is on and
/// there is a shell; else HyperKitty's when it is on and reachable; else
/// why not.
async fn mailman3_archive(archives: &Mailman3Archives<'_>, archivers: &Value, address: &str) -> ArchiveCounts {
    let on = |name: &str| archivers.get(name).and_then(Value::as_bool) == Some(true);
    let failed = |e: String| ArchiveCounts { unavailable: Some(e), ..Default::default() };
    match (&archives.prototype, archives.hyperkitty) {
        (Some(reader), _) if on("prototype") => match prototype_months(reader, address).await {
            Ok(months) => ArchiveCounts { source: Some("prototype".into()), months, unavailable: None },
            Err(e) => failed(e.to_string()),
        },
        (_, Some(web)) if on("hyperkitty") => match web.hyperkitty_dates(address).await {
            Ok(dates) => ArchiveCounts { source: Some("hyperkitty".into()), months: iso_months(&dates), unavailable: None },
            Err(e) => failed(format!("HyperKitty: {e}")),
        },
        _ => {
            let enabled: Vec<&str> = archivers.as_object().map(|o| o.iter().filter(|(_, v)| v.as_bool() == Some(true)).map(|(k, _)| k.as_str()).collect()).unwrap_or_default();
            let ways = match (archives.prototype.is_some(), archives.hyperkitty.is_some()) {
                (false, false) => "the target has no shell (prototype) and no HyperKitty",
                (true, false) => "the target has no HyperKitty ([web] hyperkitty_url)",
                (false, true) => "the target has no shell to read the prototype archive with",
                (true, true) => "neither the prototype archiver nor HyperKitty archives the list",
            };
            failed(format!("{ways} (archivers on: {})", if enabled.is_empty() { "none".into() } else { enabled.join(", ") }))
        }
    }
}

/// Messages per month (UTC) of ISO 8601 dates, as HyperKitty's API writes
/// them (`2019-03-15T12:00:00Z`, `...+01:00`); one it cannot read counts
/// under `unknown`.
pub fn iso_months(dates: &[String]) -> BTreeMap<String, u64> {
    let mut months = BTreeMap::new();
    for d in dates {
        let month = d.parse::<jiff::Timestamp>().ok().map(|t| t.strftime("%Y-%m").to_string()).unwrap_or_else(|| "unknown".into());
        *months.entry(month).or_insert(0) += 1;
    }
    months
}

/// Every entry of a paged collection (`?count=N&page=P`, Mailman 3's REST
/// paging), page after page until `total_size` entries or an empty page.
pub(crate) async fn get_all_pages(rest: &dyn RestTransport, path: &str, page_size: u64) -> Result<Vec<Value>, InventoryError> {
    let mut entries = Vec::new();
    let mut page = 1;
    loop {
        let body = get_json(rest, &format!("{path}?count={page_size}&page={page}")).await?;
        let total = body.get("total_size").and_then(Value::as_u64).unwrap_or(0);
        let got = body.get("entries").and_then(Value::as_array).cloned().unwrap_or_default();
        let empty = got.is_empty();
        entries.extend(got);
        if empty || entries.len() as u64 >= total {
            return Ok(entries);
        }
        page += 1;
    }
}

async fn get_json(rest: &dyn RestTransport, path: &str) -> Result<Value, InventoryError> {
    let r = rest.call("GET", path, &[]).await?;
    if r.status != 200 {
        return Err(RestError { method: "GET".into(), path: path.into(), message: format!("HTTP {}: {}", r.status, r.body.trim()) }.into());
    }
    serde_json::from_str(&r.body).map_err(|e| RestError { method: "GET".into(), path: path.into(), message: format!("unexpected JSON: {e}") }.into())
}

/// Messages per month (UTC, by each message's `Date:`) in the list's
/// prototype maildir. Only `grep` runs on the server, the first `Date:`
/// line of each file; a message without one is counted under `unknown`.
pub async fn prototype_months(reader: &PrototypeReader<'_>, list_address: &str) -> Result<BTreeMap<String, u64>, TargetError> {
    let dir = format!("{}/archives/prototype/{list_address}", reader.var_dir);
    let (new, cur) = (format!("{dir}/new"), format!("{dir}/cur"));
    let (code, out, err) = reader.shell.exec(&["grep", "-rci", "-m1", "-e", "^Date:", "--", &new, &cur]).await?;
    let missing_only = err.lines().all(|l| l.trim().is_empty() || l.ends_with("No such file or directory"));
    if !(code == 0 || code == 1 || (code == 2 && missing_only)) {
        return Err(TargetError::Exec(format!("grep in {dir}: {}", err.trim())));
    }
    let undated = out.lines().filter(|l| l.ends_with(":0")).count() as u64;
    let (code, out, err) = reader.shell.exec(&["grep", "-rhi", "-m1", "-e", "^Date:", "--", &new, &cur]).await?;
    let missing_only = err.lines().all(|l| l.trim().is_empty() || l.ends_with("No such file or directory"));
    if !(code == 0 || code == 1 || (code == 2 && missing_only)) {
        return Err(TargetError::Exec(format!("grep in {dir}: {}", err.trim())));
    }
    let mut months = BTreeMap::new();
    for line in out.lines() {
        let value = line.split_once(':').map_or("", |(_, v)| v).trim();
        *months.entry(utc_month(value).unwrap_or_else(|| "unknown".into())).or_insert(0) += 1;
    }
    if undated > 0 {
        *months.entry("unknown".into()).or_insert(0) += undated;
    }
    Ok(months)
}

/// `YYYY-MM` in UTC of an RFC 2822 date.
fn utc_month(date: &str) -> Option<String> {
    let secs = mailparse::dateparse(date).ok()?;
    let ts = jiff::Timestamp::from_second(secs).ok()?;
    Some(ts.strftime("%Y-%m").to_string())
}

// -------------------------------------------------------------- hosts target

/// Reads the inventory of the server a target file describes: Mailman 2.1
/// (`[mailman] version = "2.1"`) through its shell, or its web pages when
/// the file has no `[ssh]`; Mailman 3 through its
/// REST API, with the prototype archive read through the shell (as the
/// `become` user, when the file names one) when there is a shell, and
/// HyperKitty's API (`[web] hyperkitty_url`) for lists archived there only.
pub async fn of_hosts(target: &crate::target::hosts::HostsTarget, with_addresses: bool) -> Result<Inventory, InventoryError> {
    use crate::target::Target as _;
    let config = target.config();
    let shell = target.shell();
    if let Some(m) = &config.mailman21 {
        return match (shell, target.mailman21_site()) {
            (Some(shell), _) => mailman21(shell, &m.paths, &config.name, with_addresses).await,
            (None, Some(site)) => mailman21_web(site, &config.name, with_addresses).await,
            (None, None) => Err(InventoryError::NoWay("Mailman 2.1's lists are read through the shell ([ssh]) or the web pages ([mailman] web_url)".into())),
        };
    }
    let rest = target.rest().ok_or_else(|| InventoryError::NoWay("the target file has no [mailman] table (Mailman 3's REST API)".into()))?;
    let become_shell;
    let hyperkitty = target.web().filter(|w| w.has_hyperkitty() && config.web.is_some());
    let prototype = match (shell, config.ssh.as_ref()) {
        (Some(shell), Some(ssh)) => {
            let reader: &dyn Shell = match &ssh.become_user {
                Some(user) => {
                    become_shell = crate::target::through_shell::As { shell, user };
                    &become_shell
                }
                None => shell,
            };
            Some(PrototypeReader { shell: reader, var_dir: &ssh.paths.mailman_var_dir })
        }
        _ => None,
    };
    mailman3(rest, Mailman3Archives { prototype, hyperkitty }, &config.name, with_addresses).await
}

// ---------------------------------------------------------------------- table

/// The inventory as a readable table: one row per list, then each list's
/// archive months.
pub fn table(inv: &Inventory) -> String {
    let mut rows = vec![[
        "LIST", "MEMBERS", "OWNERS", "MODERATORS", "MEMBER", "NON-MEMBER", "EMERGENCY", "MAX KB", "MAX RCPT", "ARCHIVE", "MESSAGES", "PREFIX",
    ]
    .map(String::from)
    .to_vec()];
    for l in &inv.lists {
        let c = l.common_settings(inv.mailman);
        let show = |k: &str| match c.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "-".into(),
        };
        let messages = if l.archive.unavailable.is_some() { "?".into() } else { l.archive.months.values().sum::<u64>().to_string() };
        rows.push(vec![
            l.name.clone(),
            l.members.to_string(),
            l.owners.to_string(),
            l.moderators.to_string(),
            show("member_action"),
            show("nonmember_action"),
            show("emergency"),
            show("max_message_size"),
            show("max_num_recipients"),
            show("archive_policy"),
            messages,
            format!("{:?}", show("subject_prefix")),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = format!("{} (Mailman {}), {} lists, read {}\n", inv.server, inv.mailman.as_str(), inv.lists.len(), inv.taken_at);
    for r in &rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    for l in &inv.lists {
        match (&l.archive.unavailable, l.archive.months.is_empty()) {
            (Some(why), _) => out.push_str(&format!("{}: archive not counted: {why}\n", l.name)),
            (None, true) => {}
            (None, false) => {
                let months: Vec<String> = l.archive.months.iter().map(|(m, n)| format!("{m} {n}")).collect();
                out.push_str(&format!("{} archive: {}\n", l.name, months.join(", ")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
