//! The suite file's rules: where probes live and which lists exist.

use std::path::Path;

use super::error::{FileError, LoadErrors};
use super::fields;
use super::model::{DmarcAction, ListDecl, ListSettings, PostAction, Suite};
use super::reader::{Doc, Span, TableReader, Value};
use super::values::{check_domain, check_list_name};

const TOP_KEYS: &[&str] = &["probe_domain", "list"];
const LIST_KEYS: &[&str] = &["name", "domain", "members", "moderated", "settings"];
const SETTINGS_KEYS: &[&str] = &[
    "default_member_action",
    "default_nonmember_action",
    "max_message_size",
    "emergency",
    "subject_prefix",
    "dmarc_mitigate_action",
];
/// Mailman counts `max_message_size` in KB; 0 is "no limit". A limit above
/// 1 GB is surely a unit mistake.
const MAX_MESSAGE_KB: std::ops::RangeInclusive<i64> = 0..=1_048_576;
const DEFAULT_PROBE_DOMAIN: &str = "probe.test";

/// Parses and checks a suite file.
pub fn parse_suite(path: &Path, src: &str) -> Result<Suite, LoadErrors> {
    let (suite, errors) = read_suite(path, src);
    if errors.is_empty() {
        Ok(suite)
    } else {
        Err(LoadErrors { errors })
    }
}

/// The suite as far as it could be read, with its errors. `load` checks
/// scenarios against the lists that did parse, so one bad list declaration
/// does not hide the scenarios' own errors.
pub(super) fn read_suite(path: &Path, src: &str) -> (Suite, Vec<FileError>) {
    let mut doc = Doc::new(path, src);
    let mut suite = Suite {
        path: path.to_path_buf(),
        probe_domain: DEFAULT_PROBE_DOMAIN.to_string(),
        lists: Vec::new(),
    };
    if let Some(root) = doc.parse(src) {
        let mut top = TableReader::new("", &root, 0..0, TOP_KEYS);
        if let Some(value) = top.optional("probe_domain") {
            let what = top.field("probe_domain");
            if let Some(domain) = doc.checked_string(&what, "domain", check_domain, value) {
                suite.probe_domain = domain;
            }
        }
        if let Some(value) = top.optional("list") {
            suite.lists = read_lists(&mut doc, value);
        }
        top.finish(&mut doc);
    }
    (suite, doc.into_errors())
}

/// The `[[list]]` tables; declarations with a bad name or domain are left out.
fn read_lists(doc: &mut Doc, value: &Value<'_>) -> Vec<ListDecl> {
    let Some(items) = value.get_ref().as_array() else {
        doc.wrong_type("`list`", "an array of tables (`[[list]]`)", value);
        return Vec::new();
    };
    let mut lists = Vec::new();
    // Name and span of each accepted declaration, to point at the first one
    // when a name repeats.
    let mut declared: Vec<(String, Span)> = Vec::new();
    for item in items {
        let Some(table) = doc.table("each `[[list]]`", item) else {
            continue;
        };
        let mut reader = TableReader::new("[[list]]", table, item.span(), LIST_KEYS);
        let name = reader.required(doc, "name").and_then(|value| {
            let name = doc.checked_string("`name`", "list name", check_list_name, value)?;
            match declared.iter().find(|(seen, _)| *seen == name) {
                Some((_, first)) => {
                    let first = doc.location(first);
                    doc.error(
                        value.span(),
                        "declared twice",
                        format!(
                            "duplicate list name `{name}`: already declared at line {}",
                            first.line
                        ),
                    );
                    None
                }
                None => {
                    declared.push((name.clone(), value.span()));
                    Some(name)
                }
            }
        });
        let domain = reader
            .required(doc, "domain")
            .and_then(|value| doc.checked_string("`domain`", "domain", check_domain, value));
        let members = reader
            .optional("members")
            .and_then(|value| fields::addresses(doc, "`members`", value, true))
            .unwrap_or_default();
        let moderated = reader
            .optional("moderated")
            .and_then(|value| {
                let found = fields::addresses(doc, "`moderated`", value, true)?;
                check_moderated_are_members(doc, value, &found, &members);
                Some(found)
            })
            .unwrap_or_default();
        let settings = reader
            .optional("settings")
            .and_then(|value| read_settings(doc, value))
            .unwrap_or_default();
        reader.finish(doc);
        if let (Some(name), Some(domain)) = (name, domain) {
            lists.push(ListDecl {
                name,
                domain,
                members,
                moderated,
                settings,
            });
        }
    }
    lists
}

/// A moderated address must be subscribed: Mailman moderates members.
fn check_moderated_are_members(
    doc: &mut Doc,
    value: &Value<'_>,
    moderated: &[String],
    members: &[String],
) {
    for address in moderated {
        if !members.iter().any(|m| m.eq_ignore_ascii_case(address)) {
            doc.error(
                value.span(),
                "not a member",
                format!("`moderated` names `{address}`, which is not in `members`: only members can be moderated"),
            );
        }
    }
}

/// `[list.settings]`: list configuration the target applies through REST.
fn read_settings(doc: &mut Doc, value: &Value<'_>) -> Option<ListSettings> {
    let table = doc.table("`settings`", value)?;
    let mut reader = TableReader::new("settings", table, value.span(), SETTINGS_KEYS);
    let default_member_action = read_action(doc, &mut reader, "default_member_action");
    let default_nonmember_action = read_action(doc, &mut reader, "default_nonmember_action");
    let max_message_size = reader
        .optional("max_message_size")
        .and_then(|value| doc.integer_in(&reader.field("max_message_size"), MAX_MESSAGE_KB, value))
        .map(|kb| kb as u64);
    let emergency = reader
        .optional("emergency")
        .and_then(|value| doc.boolean(&reader.field("emergency"), value));
    let subject_prefix = reader
        .optional("subject_prefix")
        .and_then(|value| doc.string(&reader.field("subject_prefix"), value))
        .map(str::to_string);
    let dmarc_mitigate_action = reader.optional("dmarc_mitigate_action").and_then(|value| {
        let what = reader.field("dmarc_mitigate_action");
        fields::one_of(doc, &what, "DMARC action", value, &DmarcAction::ALL, DmarcAction::as_str)
    });
    reader.finish(doc);
    Some(ListSettings {
        default_member_action,
        default_nonmember_action,
        max_message_size,
        emergency,
        subject_prefix,
        dmarc_mitigate_action,
    })
}

fn read_action(doc: &mut Doc, reader: &mut TableReader<'_, '_>, key: &str) -> Option<PostAction> {
    let what = reader.field(key);
    let value = reader.optional(key)?;
    fields::one_of(
        doc,
        &what,
        "action",
        value,
        &PostAction::ALL,
        PostAction::as_str,
    )
}
