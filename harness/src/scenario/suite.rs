//! The suite file's rules: where probes live and which lists exist.

use std::path::Path;

use super::error::{FileError, LoadErrors};
use super::fields;
use super::model::{DeliveryMode, DmarcAction, ListDecl, ListSettings, PostAction, Setting, SettingValue, Suite};
use super::reader::{entries_in_order, Doc, Span, TableReader, Value};
use super::values::{check_address, check_domain, check_list_name};

const TOP_KEYS: &[&str] = &["probe_domain", "list"];
const MEMBER_KEYS: &[&str] = &["address", "delivery"];
const LIST_KEYS: &[&str] = &["name", "domain", "members", "moderated", "owners", "moderators", "settings", "archivers"];
/// Mailman's `archive_policy` values.
const ARCHIVE_POLICIES: [&str; 3] = ["public", "private", "never"];
/// `max_num_recipients`: 0 is "no limit"; a million is surely a mistake.
const MAX_RECIPIENTS: std::ops::RangeInclusive<i64> = 0..=1_000_000;
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
        let (members, delivery) = reader.optional("members").and_then(|value| read_members(doc, value)).unwrap_or_default();
        let moderated = reader
            .optional("moderated")
            .and_then(|value| {
                let found = fields::addresses(doc, "`moderated`", value, true)?;
                check_moderated_are_members(doc, value, &found, &members);
                Some(found)
            })
            .unwrap_or_default();
        let owners = reader
            .optional("owners")
            .and_then(|value| fields::addresses(doc, "`owners`", value, true))
            .unwrap_or_default();
        let moderators = reader
            .optional("moderators")
            .and_then(|value| fields::addresses(doc, "`moderators`", value, true))
            .unwrap_or_default();
        let settings = reader
            .optional("settings")
            .and_then(|value| read_settings(doc, value))
            .unwrap_or_default();
        let archivers = reader
            .optional("archivers")
            .and_then(|value| read_archivers(doc, value))
            .unwrap_or_default();
        reader.finish(doc);
        if let (Some(name), Some(domain)) = (name, domain) {
            lists.push(ListDecl {
                name,
                domain,
                members,
                moderated,
                settings,
                archivers,
                delivery,
                owners,
                moderators,
            });
        }
    }
    lists
}

/// Members whose delivery is not regular, with their mode.
type Delivery = Vec<(String, DeliveryMode)>;

/// `members`: addresses, or `{ address = "...", delivery = "mime_digests" }`
/// for a member whose delivery is not regular. Returns the addresses and
/// the non-regular delivery modes.
fn read_members(doc: &mut Doc, value: &Value<'_>) -> Option<(Vec<String>, Delivery)> {
    let items = doc.array("`members`", value)?;
    let mut members: Vec<String> = Vec::new();
    let mut delivery = Vec::new();
    for item in items {
        let (address, mode) = if let Some(table) = item.get_ref().as_table() {
            let mut reader = TableReader::new("members", table, item.span(), MEMBER_KEYS);
            let address = reader
                .required(doc, "address")
                .and_then(|v| doc.checked_string(&reader.field("address"), "address", check_address, v));
            let mode = reader.optional("delivery").and_then(|v| {
                fields::one_of(doc, &reader.field("delivery"), "delivery mode", v, &DeliveryMode::ALL, DeliveryMode::as_str)
            });
            reader.finish(doc);
            (address, mode)
        } else {
            (doc.checked_string("each entry of `members`", "address", check_address, item), None)
        };
        let Some(address) = address else { continue };
        if members.iter().any(|seen| seen.eq_ignore_ascii_case(&address)) {
            doc.error(item.span(), "repeated", format!("`members` lists `{address}` more than once"));
            continue;
        }
        if let Some(mode) = mode.filter(|m| *m != DeliveryMode::Regular) {
            delivery.push((address.clone(), mode));
        }
        members.push(address);
    }
    Some((members, delivery))
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
/// Every key is accepted: the keys mailflow knows are checked here for type
/// and value; any other must be a key of Mailman's list configuration, which
/// the server checks when the target applies it.
fn read_settings(doc: &mut Doc, value: &Value<'_>) -> Option<ListSettings> {
    let table = doc.table("`settings`", value)?;
    let mut settings = ListSettings::default();
    for (key, key_span, value) in entries_in_order(table) {
        let what = format!("`settings.{key}`");
        let read = match key {
            "default_member_action" | "default_nonmember_action" => {
                fields::one_of(doc, &what, "action", value, &PostAction::ALL, PostAction::as_str).map(|a| SettingValue::Text(a.as_str().into()))
            }
            "dmarc_mitigate_action" => fields::one_of(doc, &what, "DMARC action", value, &DmarcAction::ALL, DmarcAction::as_str)
                .map(|a| SettingValue::Text(a.as_str().into())),
            "archive_policy" => {
                fields::one_of(doc, &what, "archive policy", value, &ARCHIVE_POLICIES, |p| p).map(|p| SettingValue::Text(p.into()))
            }
            "max_message_size" => doc.integer_in(&what, MAX_MESSAGE_KB, value).map(SettingValue::Integer),
            "max_num_recipients" => doc.integer_in(&what, MAX_RECIPIENTS, value).map(SettingValue::Integer),
            "emergency" | "require_explicit_destination" => doc.boolean(&what, value).map(SettingValue::Bool),
            "subject_prefix" => doc.string(&what, value).map(|t| SettingValue::Text(t.into())),
            _ => {
                if let Err(reason) = check_setting_name(key) {
                    doc.error(key_span.clone(), "invalid setting name", format!("invalid list setting name `{key}` in `settings`: {reason}"));
                    continue;
                }
                any_setting_value(doc, &what, value)
            }
        };
        if let Some(value) = read {
            settings.values.push(Setting { key: key.to_string(), value, at: doc.location(&key_span) });
        }
    }
    Some(settings)
}

/// `archivers = { hyperkitty = true, prototype = false }`: each archiver the
/// list should have on or off, by Mailman's name for it.
fn read_archivers(doc: &mut Doc, value: &Value<'_>) -> Option<Vec<Setting>> {
    let table = doc.table("`archivers`", value)?;
    let mut archivers = Vec::new();
    for (name, name_span, value) in entries_in_order(table) {
        if let Err(reason) = check_setting_name(name) {
            doc.error(name_span.clone(), "invalid archiver name", format!("invalid archiver name `{name}` in `archivers`: {reason}"));
            continue;
        }
        if let Some(on) = doc.boolean(&format!("`archivers.{name}`"), value) {
            archivers.push(Setting { key: name.to_string(), value: SettingValue::Bool(on), at: doc.location(&name_span) });
        }
    }
    Some(archivers)
}

/// A value for a setting mailflow does not know: a boolean, an integer, a
/// string or an array of strings, as Mailman's REST API takes them.
fn any_setting_value(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<SettingValue> {
    use toml::de::DeValue;
    match value.get_ref() {
        DeValue::Boolean(b) => Some(SettingValue::Bool(*b)),
        DeValue::String(t) => Some(SettingValue::Text(t.to_string())),
        DeValue::Integer(_) => doc.integer_in(what, i64::MIN..=i64::MAX, value).map(SettingValue::Integer),
        DeValue::Array(items) => {
            let mut texts = Vec::new();
            for item in items {
                texts.push(doc.string(&format!("each entry of {what}"), item)?.to_string());
            }
            Some(SettingValue::List(texts))
        }
        _ => {
            doc.wrong_type(what, "a boolean, an integer, a string or an array of strings", value);
            None
        }
    }
}

/// Mailman's configuration keys are Python attribute names.
fn check_setting_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if first_ok && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
        Ok(())
    } else {
        Err("must be lowercase letters, digits, `_` or `-`, as Mailman names its settings".into())
    }
}
