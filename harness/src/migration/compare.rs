//! Whether the new host holds what the old one did: two [`Inventory`]s
//! compared list by list.
//!
//! Lists are matched by name, through a rename map (lists whose names were
//! invalid get renamed during a move). Members are compared by their
//! address digests, so neither inventory needs to hold an address; counts
//! of owners and moderators, archive counts per month and the settings
//! that change mail flow are compared as they are. Between Mailman 2.1 and
//! Mailman 3 the settings are compared under the names both share
//! ([`ListInventory::common_settings`]); between two servers of the same
//! version, under the server's own names.
//!
//! Every difference is named ([`Difference`]); the ones an allowance file
//! permits are still named, marked allowed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::inventory::{Flavour, Inventory, ListInventory};

/// One way the new server differs from the old one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// A list of the old server that the new one lacks (under its new
    /// name, when the rename map gives one).
    Missing { list: String, expected_as: Option<String> },
    /// A list on the new server only.
    Added { list: String },
    /// Members of one side that the other lacks: digests (or addresses,
    /// when shown), sorted.
    Members { list: String, old: u64, new: u64, only_old: Vec<String>, only_new: Vec<String> },
    /// Owners or moderators counts.
    Count { list: String, role: String, old: u64, new: u64 },
    /// One month's archived messages (absent: no such month on that side).
    Archive { list: String, month: String, old: Option<u64>, new: Option<u64> },
    /// The archive of one side could not be counted, so it was not compared.
    ArchiveUncounted { list: String, side: String, reason: String },
    /// One setting (absent: that side did not give it).
    Setting { list: String, setting: String, old: Option<Value>, new: Option<Value> },
}

impl Difference {
    /// The kind as allowance files and JSON name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Difference::Missing { .. } => "missing",
            Difference::Added { .. } => "added",
            Difference::Members { .. } => "members",
            Difference::Count { .. } => "count",
            Difference::Archive { .. } => "archive",
            Difference::ArchiveUncounted { .. } => "archive_uncounted",
            Difference::Setting { .. } => "setting",
        }
    }

    /// The list it is about (the old name where there are two).
    pub fn list(&self) -> &str {
        match self {
            Difference::Missing { list, .. }
            | Difference::Added { list }
            | Difference::Members { list, .. }
            | Difference::Count { list, .. }
            | Difference::Archive { list, .. }
            | Difference::ArchiveUncounted { list, .. }
            | Difference::Setting { list, .. } => list,
        }
    }

    /// What within the list: the setting, the month, the role.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Difference::Count { role, .. } => Some(role),
            Difference::Archive { month, .. } => Some(month),
            Difference::Setting { setting, .. } => Some(setting),
            _ => None,
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: &Option<u64>| v.map_or("none".to_string(), |n| n.to_string());
        let val = |v: &Option<Value>| v.as_ref().map_or("(not set)".to_string(), Value::to_string);
        match self {
            Difference::Missing { list, expected_as: Some(new) } => write!(f, "list `{list}` is missing on the new server (expected as `{new}`, from the rename map)"),
            Difference::Missing { list, expected_as: None } => write!(f, "list `{list}` is missing on the new server"),
            Difference::Added { list } => write!(f, "list `{list}` is on the new server only"),
            Difference::Members { list, old, new, only_old, only_new } => {
                write!(f, "list `{list}`: members differ ({old} old, {new} new)")?;
                if !only_old.is_empty() {
                    write!(f, "; only on the old: {}", only_old.join(", "))?;
                }
                if !only_new.is_empty() {
                    write!(f, "; only on the new: {}", only_new.join(", "))?;
                }
                Ok(())
            }
            Difference::Count { list, role, old, new } => write!(f, "list `{list}`: {role} {old} old, {new} new"),
            Difference::Archive { list, month, old, new } => {
                write!(f, "list `{list}`: archive month {month} holds {} messages old, {} new", opt(old), opt(new))
            }
            Difference::ArchiveUncounted { list, side, reason } => write!(f, "list `{list}`: the {side} archive was not counted ({reason})"),
            Difference::Setting { list, setting, old, new } => write!(f, "list `{list}`: {setting} is {} old, {} new", val(old), val(new)),
        }
    }
}

/// Old list name to new, from a rename map file.
pub type Renames = BTreeMap<String, String>;

/// A difference the operator expects (an allowance file's `[[allow]]`).
/// Each field given must match; `list` may hold `*` wildcards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowance {
    /// [`Difference::kind`]; any kind when absent.
    pub kind: Option<String>,
    /// A list name or glob (`announce-*`); any list when absent.
    pub list: Option<String>,
    /// The setting, month or role; any when absent.
    pub detail: Option<String>,
}

impl Allowance {
    /// Whether it permits this difference.
    pub fn allows(&self, d: &Difference) -> bool {
        self.kind.as_deref().is_none_or(|k| k == d.kind())
            && self.list.as_deref().is_none_or(|g| crate::scenario::sweep::star_match(g, d.list()))
            && self.detail.as_deref().is_none_or(|x| d.detail() == Some(x))
    }
}

/// The comparison's options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub renames: Renames,
    pub allowed: Vec<Allowance>,
    /// Name members by address where both inventories hold addresses
    /// (`--show-addresses`); by a digest's first 12 hex digits otherwise.
    pub show_addresses: bool,
}

/// A difference and whether an allowance permits it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    #[serde(flatten)]
    pub difference: Difference,
    pub allowed: bool,
}

/// Every difference between the old and the new server, in list order.
pub fn compare(old: &Inventory, new: &Inventory, options: &Options) -> Vec<Found> {
    let new_by_name: BTreeMap<&str, &ListInventory> = new.lists.iter().map(|l| (l.name.as_str(), l)).collect();
    let mut matched: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for o in &old.lists {
        let renamed = options.renames.get(&o.name);
        let wanted = renamed.map_or(o.name.as_str(), String::as_str);
        match new_by_name.get(wanted) {
            None => out.push(Difference::Missing { list: o.name.clone(), expected_as: renamed.cloned() }),
            Some(n) => {
                matched.insert(wanted);
                compare_list(o, old.mailman, n, new.mailman, options, &mut out);
            }
        }
    }
    for n in &new.lists {
        if !matched.contains(n.name.as_str()) {
            out.push(Difference::Added { list: n.name.clone() });
        }
    }
    out.into_iter().map(|d| Found { allowed: options.allowed.iter().any(|a| a.allows(&d)), difference: d }).collect()
}

fn compare_list(o: &ListInventory, of: Flavour, n: &ListInventory, nf: Flavour, options: &Options, out: &mut Vec<Difference>) {
    let list = o.name.clone();
    let old_set: BTreeSet<&String> = o.member_digests.iter().collect();
    let new_set: BTreeSet<&String> = n.member_digests.iter().collect();
    if old_set != new_set || o.members != n.members {
        let name = |inv: &ListInventory, digest: &str| -> String {
            let address = options
                .show_addresses
                .then(|| inv.member_addresses.as_ref()?.iter().find(|a| super::inventory::address_digest(a) == digest).cloned())
                .flatten();
            address.unwrap_or_else(|| format!("sha256:{}", &digest[..digest.len().min(12)]))
        };
        out.push(Difference::Members {
            list: list.clone(),
            old: o.members,
            new: n.members,
            only_old: old_set.difference(&new_set).map(|d| name(o, d)).collect(),
            only_new: new_set.difference(&old_set).map(|d| name(n, d)).collect(),
        });
    }
    for (role, a, b) in [("owners", o.owners, n.owners), ("moderators", o.moderators, n.moderators)] {
        if a != b {
            out.push(Difference::Count { list: list.clone(), role: role.into(), old: a, new: b });
        }
    }
    match (&o.archive.unavailable, &n.archive.unavailable) {
        (Some(reason), _) => out.push(Difference::ArchiveUncounted { list: list.clone(), side: "old".into(), reason: reason.clone() }),
        (_, Some(reason)) => out.push(Difference::ArchiveUncounted { list: list.clone(), side: "new".into(), reason: reason.clone() }),
        (None, None) => {
            let months: BTreeSet<&String> = o.archive.months.keys().chain(n.archive.months.keys()).collect();
            for m in months {
                let (a, b) = (o.archive.months.get(m).copied(), n.archive.months.get(m).copied());
                if a != b {
                    out.push(Difference::Archive { list: list.clone(), month: m.clone(), old: a, new: b });
                }
            }
        }
    }
    let (a, b): (BTreeMap<String, Value>, BTreeMap<String, Value>) = if of == nf {
        (o.settings.clone(), n.settings.clone())
    } else {
        let common = |l: &ListInventory, f| l.common_settings(f).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        (common(o, of), common(n, nf))
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let (x, y) = (a.get(k), b.get(k));
        if !same_value(x, y) {
            out.push(Difference::Setting { list: list.clone(), setting: k.clone(), old: x.cloned(), new: y.cloned() });
        }
    }
}

/// Equal, with numbers compared by value (40 and 40.0 are the same) and
/// Python's booleans as the numbers they are (2.1's `config_list` writes
/// `archive = True` or `archive = 1` as the list was last saved, and the
/// admin pages say `1`).
fn same_value(a: Option<&Value>, b: Option<&Value>) -> bool {
    let number = |v: &Value| v.as_f64().or_else(|| v.as_bool().map(|b| f64::from(u8::from(b))));
    match (a, b) {
        (Some(x @ (Value::Number(_) | Value::Bool(_))), Some(y @ (Value::Number(_) | Value::Bool(_)))) => number(x) == number(y),
        _ => a == b,
    }
}

/// A file that could not be read as what it should be; `line` and
/// `column` are 1-based when the parser gave a place.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{}: {message}", path.display(), place.map_or(String::new(), |(l, c)| format!(":{l}:{c}")))]
pub struct InputError {
    pub path: std::path::PathBuf,
    pub place: Option<(usize, usize)>,
    pub message: String,
}

fn input_error(path: &Path, place: Option<(usize, usize)>, message: impl Into<String>) -> InputError {
    InputError { path: path.to_path_buf(), place, message: message.into() }
}

/// Reads an inventory JSON file (as `mailflow inventory --format json` wrote it).
pub fn load_inventory(path: &Path) -> Result<Inventory, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| input_error(path, None, format!("cannot read: {e}")))?;
    let inv: Inventory = serde_json::from_str(&text).map_err(|e| input_error(path, Some((e.line(), e.column())), e.to_string()))?;
    if inv.schema != super::inventory::SCHEMA {
        return Err(input_error(path, None, format!("schema `{}` is not `{}`", inv.schema, super::inventory::SCHEMA)));
    }
    Ok(inv)
}

/// A rename map file: `old-name = "new_name"` lines (TOML).
pub fn load_renames(path: &Path) -> Result<Renames, InputError> {
    toml_file(path)
}

/// An allowance file: `[[allow]]` tables with `kind`, `list`, `detail`.
pub fn load_allowances(path: &Path) -> Result<Vec<Allowance>, InputError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        allow: Vec<Allowance>,
    }
    let file: File = toml_file(path)?;
    const KINDS: [&str; 7] = ["missing", "added", "members", "count", "archive", "archive_uncounted", "setting"];
    for a in &file.allow {
        if let Some(k) = a.kind.as_deref().filter(|k| !KINDS.contains(k)) {
            return Err(input_error(path, None, format!("unknown kind `{k}` in [[allow]] (one of {})", KINDS.join(", "))));
        }
    }
    Ok(file.allow)
}

fn toml_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| input_error(path, None, format!("cannot read: {e}")))?;
    toml::from_str(&text).map_err(|e| {
        let place = e.span().map(|s| crate::scenario::error::line_column(&text, s.start));
        input_error(path, place, e.message().to_string())
    })
}

/// The rename map's pairs that matched: the old server has the old name and
/// the new server the new one (`(old, new)`, in the map's order).
pub fn renamed<'a>(old: &Inventory, new: &Inventory, renames: &'a Renames) -> Vec<(&'a str, &'a str)> {
    let has = |inv: &Inventory, name: &str| inv.lists.iter().any(|l| l.name == name);
    renames.iter().filter(|(o, n)| has(old, o) && has(new, n)).map(|(o, n)| (o.as_str(), n.as_str())).collect()
}

/// The comparison as lines: the renames that paired lists, every
/// difference (the allowed ones marked), then a summary line.
pub fn human(old: &Inventory, new: &Inventory, found: &[Found], renames: &Renames) -> String {
    let mut out = format!(
        "old: {} (Mailman {}, {} lists, {}); new: {} (Mailman {}, {} lists, {})\n",
        old.server,
        old.mailman.as_str(),
        old.lists.len(),
        old.taken_at,
        new.server,
        new.mailman.as_str(),
        new.lists.len(),
        new.taken_at
    );
    for (o, n) in renamed(old, new, renames) {
        out.push_str(&format!("renamed: `{o}` is `{n}` on the new server (rename map), compared as one list\n"));
    }
    for f in found {
        out.push_str(if f.allowed { "allowed: " } else { "DIFFERS: " });
        out.push_str(&f.difference.to_string());
        out.push('\n');
    }
    let differing = found.iter().filter(|f| !f.allowed).count();
    let allowed = found.len() - differing;
    out.push_str(&match differing {
        0 => format!("equal ({allowed} allowed differences)\n"),
        n => format!("{n} differences ({allowed} allowed)\n"),
    });
    out
}

#[cfg(test)]
mod tests;
