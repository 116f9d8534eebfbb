//! Cutover steps: the checks of a list server's move, in the order of the
//! plan (before the switch, during, after), and the hold switch.
//!
//! ```toml
//! [[step]]
//! expect_dns_ttl = { name = "lists.example.test", type = "MX", max = "300s" }
//! expect_mta_queue = { max = 0, frozen = 0, oldest = "1h" }
//! expect_mailman_queues = { empty = ["in", "shunt", "bad", "retry"], held_below = 1000 }
//! [[step]]
//! mta_hold = "lists.example.test"
//! send = { from = "alice@probe.test", subject = "held during the switch" }
//! expect_mta_queue = { holds_domain = "lists.example.test" }
//! [[step]]
//! mta_release = "lists.example.test"
//! expect_delivered = { within = "60s" }
//! expect_banner = { contains = "ESMTP", families = ["ipv4", "ipv6"] }
//! expect_old_host = { refuses = true }
//! expect_permissions_clean = {}
//! ```

use std::fmt;
use std::time::Duration;

use super::fields;
use super::model::{DnsType, ListDecl, Suite};
use super::reader::{Doc, TableReader, Value};
use super::values::check_domain;

/// `expect_mta_queue`: the MTA's whole queue, and whether it holds the
/// most recent probe for a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtaQueueExpectation {
    /// At most this many messages in the queue.
    pub max: Option<u64>,
    /// At most this many frozen messages.
    pub frozen: Option<u64>,
    /// The oldest message has waited at most this long.
    pub oldest: Option<Duration>,
    /// The most recent probe waits in the queue for this domain and reached
    /// no mailbox: the domain's mail is held. Needs a `send` before it.
    pub holds_domain: Option<String>,
    /// Looked at again until every fact holds or this much time has passed.
    pub within: Duration,
}

/// `expect_mailman_queues`: Mailman's queue folders are empty and no list
/// holds too many messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailmanQueuesExpectation {
    /// Queue folder names (`in`, `shunt`, `bad`, `retry`, ...), each
    /// expected empty.
    pub empty: Vec<String>,
    /// Every list holds fewer than this many messages for moderation.
    pub held_below: Option<u64>,
    pub within: Duration,
}

/// `expect_dns_ttl`: every record of a name and type has a TTL of at most `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsTtlExpectation {
    /// Fully qualified, without the final dot.
    pub name: String,
    pub rtype: DnsType,
    /// Whole seconds.
    pub max: Duration,
    /// `None`: the target's own DNS server.
    pub server: Option<std::net::SocketAddr>,
    pub within: Duration,
}

/// An IP address family of the service address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Ipv4, Family::Ipv6];

    /// The name used in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    /// Whether `addr` is of this family.
    pub fn holds(self, addr: &std::net::SocketAddr) -> bool {
        match self {
            Family::Ipv4 => addr.is_ipv4(),
            Family::Ipv6 => addr.is_ipv6(),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `expect_banner`: each of the target's SMTP addresses of these families
/// greets with 220 and a text containing `contains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BannerExpectation {
    pub contains: Option<String>,
    /// Never empty; each family once.
    pub families: Vec<Family>,
    /// Per connection: connect and greeting.
    pub within: Duration,
}

/// `expect_old_host`: the old host's SMTP addresses (from the target) are
/// asked MAIL FROM and RCPT TO a list address, then RSET and QUIT; never DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldHostExpectation {
    /// `true`: the old host no longer takes the list's mail (a 4xx or 5xx
    /// at any stage, or no connection). `false`: it still takes it (before
    /// the switch).
    pub refuses: bool,
    /// The list address asked for in RCPT TO.
    pub list: String,
    /// The MAIL FROM address.
    pub from: String,
    /// Per connection: connect and each reply.
    pub within: Duration,
}

const MTA_QUEUE_KEYS: &[&str] = &["max", "frozen", "oldest", "holds_domain", "within"];
const MAILMAN_QUEUES_KEYS: &[&str] = &["empty", "held_below", "within"];
const DNS_TTL_KEYS: &[&str] = &["name", "type", "max", "server", "within"];
const BANNER_KEYS: &[&str] = &["contains", "families", "within"];
const OLD_HOST_KEYS: &[&str] = &["refuses", "list", "from", "within"];
const PERMISSIONS_KEYS: &[&str] = &[];

const DEFAULT_QUEUE_WITHIN: Duration = Duration::from_secs(10);
const DEFAULT_DNS_WITHIN: Duration = Duration::from_secs(5);
const DEFAULT_CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// The queue names Mailman 2.1 and 3 use; a typo in `empty` would otherwise
/// check a folder that never exists, and pass.
const MAILMAN_QUEUE_NAMES: &[&str] =
    &["archive", "bad", "bounces", "command", "commands", "digest", "in", "news", "nntp", "out", "pipeline", "retry", "shunt", "virgin"];

/// `expect_mta_queue = { max, frozen, oldest, holds_domain, within }`; at
/// least one of the first four.
pub(super) fn read_expect_mta_queue(doc: &mut Doc, value: &Value<'_>) -> Option<MtaQueueExpectation> {
    let table = doc.table("`expect_mta_queue`", value)?;
    let mut reader = TableReader::new("expect_mta_queue", table, value.span(), MTA_QUEUE_KEYS);
    let count = |doc: &mut Doc, reader: &mut TableReader<'_, '_>, key: &str| match reader.optional(key) {
        Some(v) => doc.integer_in(&reader.field(key), 0..=i64::from(u32::MAX), v).map(|n| Some(n as u64)),
        None => Some(None),
    };
    let max = count(doc, &mut reader, "max");
    let frozen = count(doc, &mut reader, "frozen");
    let oldest = match reader.optional("oldest") {
        Some(v) => fields::duration(doc, &reader.field("oldest"), Some(v), Duration::ZERO).map(Some),
        None => Some(None),
    };
    let holds_domain = match reader.optional("holds_domain") {
        Some(v) => doc.checked_string(&reader.field("holds_domain"), "domain", check_domain, v).map(Some),
        None => Some(None),
    };
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_QUEUE_WITHIN);
    reader.finish(doc);
    let exp = MtaQueueExpectation { max: max?, frozen: frozen?, oldest: oldest?, holds_domain: holds_domain?, within: within? };
    if exp.max.is_none() && exp.frozen.is_none() && exp.oldest.is_none() && exp.holds_domain.is_none() {
        doc.error(value.span(), "nothing to check", "`expect_mta_queue` needs at least one of max, frozen, oldest, holds_domain");
        return None;
    }
    Some(exp)
}

/// `expect_mailman_queues = { empty = [...], held_below = N, within }`.
pub(super) fn read_expect_mailman_queues(doc: &mut Doc, value: &Value<'_>) -> Option<MailmanQueuesExpectation> {
    let table = doc.table("`expect_mailman_queues`", value)?;
    let mut reader = TableReader::new("expect_mailman_queues", table, value.span(), MAILMAN_QUEUES_KEYS);
    let mut valid = true;
    let mut empty: Vec<String> = Vec::new();
    if let Some(list) = reader.optional("empty") {
        let what = reader.field("empty");
        match doc.array(&what, list) {
            Some(items) => {
                for item in items {
                    let Some(name) = doc.string(&format!("each entry of {what}"), item) else {
                        valid = false;
                        continue;
                    };
                    if !MAILMAN_QUEUE_NAMES.contains(&name) {
                        doc.error(
                            item.span(),
                            "unknown queue",
                            format!("unknown queue `{name}` in {what}; Mailman's queues are {}", MAILMAN_QUEUE_NAMES.join(", ")),
                        );
                        valid = false;
                    } else if empty.iter().any(|e| e == name) {
                        doc.error(item.span(), "repeated", format!("queue `{name}` is listed twice in {what}"));
                        valid = false;
                    } else {
                        empty.push(name.to_string());
                    }
                }
            }
            None => valid = false,
        }
    }
    let held_below = match reader.optional("held_below") {
        Some(v) => doc.integer_in(&reader.field("held_below"), 1..=i64::from(u32::MAX), v).map(|n| Some(n as u64)),
        None => Some(None),
    };
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_QUEUE_WITHIN);
    reader.finish(doc);
    let held_below = held_below?;
    if valid && empty.is_empty() && held_below.is_none() {
        doc.error(value.span(), "nothing to check", "`expect_mailman_queues` needs `empty` (queue names) or `held_below`");
        return None;
    }
    valid.then_some(())?;
    Some(MailmanQueuesExpectation { empty, held_below, within: within? })
}

/// `expect_dns_ttl = { name, type, max = "300s", server, within }`.
pub(super) fn read_expect_dns_ttl(doc: &mut Doc, value: &Value<'_>) -> Option<DnsTtlExpectation> {
    let table = doc.table("`expect_dns_ttl`", value)?;
    let mut reader = TableReader::new("expect_dns_ttl", table, value.span(), DNS_TTL_KEYS);
    let name = reader.required(doc, "name").and_then(|v| doc.checked_string(&reader.field("name"), "domain", check_domain, v));
    let rtype = reader.required(doc, "type").and_then(|v| {
        let text = doc.string(&reader.field("type"), v)?;
        let found = DnsType::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(text));
        if found.is_none() {
            let names: Vec<&str> = DnsType::ALL.iter().map(|t| t.as_str()).collect();
            doc.error(
                v.span(),
                "unsupported type",
                format!("unsupported record type `{text}` in {}; expected one of {}", reader.field("type"), names.join(", ")),
            );
        }
        found
    });
    let max = reader.required(doc, "max").and_then(|v| {
        let d = fields::duration(doc, &reader.field("max"), Some(v), Duration::ZERO)?;
        if d.subsec_nanos() != 0 {
            doc.error(v.span(), "not whole seconds", format!("{} must be whole seconds: DNS TTLs are", reader.field("max")));
            return None;
        }
        Some(d)
    });
    let server = reader.optional("server").and_then(|v| {
        let text = doc.string(&reader.field("server"), v)?;
        let parsed = text
            .parse::<std::net::SocketAddr>()
            .ok()
            .or_else(|| text.parse::<std::net::IpAddr>().ok().map(|ip| std::net::SocketAddr::new(ip, 53)));
        if parsed.is_none() {
            doc.error(v.span(), "invalid server", format!("invalid server `{text}` in {}: write an IP address, or IP:port", reader.field("server")));
        }
        parsed.map(Some)
    });
    let server_written = reader.optional("server").is_some();
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_DNS_WITHIN);
    reader.finish(doc);
    let server = if server_written { server? } else { None };
    Some(DnsTtlExpectation { name: name?, rtype: rtype?, max: max?, server, within: within? })
}

/// `expect_banner = { contains, families = ["ipv4", "ipv6"], within }`.
pub(super) fn read_expect_banner(doc: &mut Doc, value: &Value<'_>) -> Option<BannerExpectation> {
    let table = doc.table("`expect_banner`", value)?;
    let mut reader = TableReader::new("expect_banner", table, value.span(), BANNER_KEYS);
    let contains = match reader.optional("contains") {
        Some(v) => doc.string(&reader.field("contains"), v).map(|s| Some(s.to_string())),
        None => Some(None),
    };
    let families = match reader.optional("families") {
        None => Some(Family::ALL.to_vec()),
        Some(list) => {
            let what = reader.field("families");
            doc.array(&what, list).and_then(|items| {
                let mut out: Vec<Family> = Vec::new();
                let mut ok = true;
                for item in items {
                    match fields::one_of(doc, &format!("each entry of {what}"), "family", item, &Family::ALL, Family::as_str) {
                        Some(f) if out.contains(&f) => {
                            doc.error(item.span(), "repeated", format!("family `{f}` is listed twice in {what}"));
                            ok = false;
                        }
                        Some(f) => out.push(f),
                        None => ok = false,
                    }
                }
                if ok && out.is_empty() {
                    doc.error(list.span(), "empty", format!("{what} must name ipv4, ipv6 or both"));
                    ok = false;
                }
                ok.then_some(out)
            })
        }
    };
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_CONNECT_WITHIN);
    reader.finish(doc);
    Some(BannerExpectation { contains: contains?, families: families?, within: within? })
}

/// `expect_old_host = { refuses = true, list, from, within }`; the list
/// defaults to the scenario's, the sender to `mailflow-cutover@<probe domain>`.
pub(super) fn read_expect_old_host(
    doc: &mut Doc,
    suite: &Suite,
    default_list: Option<&ListDecl>,
    key_span: &super::reader::Span,
    value: &Value<'_>,
) -> Option<OldHostExpectation> {
    let table = doc.table("`expect_old_host`", value)?;
    let mut reader = TableReader::new("expect_old_host", table, value.span(), OLD_HOST_KEYS);
    let refuses = reader.required(doc, "refuses").and_then(|v| doc.boolean(&reader.field("refuses"), v));
    let list = match reader.optional("list") {
        Some(v) => doc.string(&reader.field("list"), v).and_then(|name| {
            let found = suite.list(name).map(ListDecl::address);
            if found.is_none() {
                doc.error(v.span(), "unknown list", format!("list `{name}` in {} is not declared in the suite", reader.field("list")));
            }
            found
        }),
        None => {
            let found = default_list.map(ListDecl::address);
            if found.is_none() {
                doc.error(key_span.clone(), "which list?", "`expect_old_host` needs a list: give the scenario a `list`, or give the step one");
            }
            found
        }
    };
    let from = match reader.optional("from") {
        Some(v) => doc.checked_string(&reader.field("from"), "address", super::values::check_address, v),
        None => Some(format!("mailflow-cutover@{}", suite.probe_domain)),
    };
    let within_value = reader.optional("within");
    let within = fields::duration(doc, &reader.field("within"), within_value, DEFAULT_CONNECT_WITHIN);
    reader.finish(doc);
    Some(OldHostExpectation { refuses: refuses?, list: list?, from: from?, within: within? })
}

/// `expect_permissions_clean = {}`.
pub(super) fn read_expect_permissions_clean(doc: &mut Doc, value: &Value<'_>) -> Option<()> {
    let table = doc.table("`expect_permissions_clean`", value)?;
    let reader = TableReader::new("expect_permissions_clean", table, value.span(), PERMISSIONS_KEYS);
    reader.finish(doc);
    Some(())
}

/// `mta_hold = "lists.example.test"` or `mta_release = "..."`: a domain.
pub(super) fn read_hold_domain(doc: &mut Doc, key: &str, value: &Value<'_>) -> Option<String> {
    doc.checked_string(&format!("`{key}`"), "domain", check_domain, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::StepKind;

    use crate::scenario::tests::parsed_steps as parsed;

    #[test]
    fn cutover_steps_in_plan_order() {
        let kinds = parsed(
            r#"name = "x"
list = "probe-test"
[[step]]
expect_dns_ttl = { name = "lists.example.test", type = "mx", max = "300s" }
expect_mta_queue = { max = 0, frozen = 0, oldest = "1h" }
expect_mailman_queues = { empty = ["in", "shunt", "bad", "retry"], held_below = 1000 }
[[step]]
mta_hold = "lists.example.test"
send = { from = "alice@probe.test", subject = "held" }
expect_mta_queue = { holds_domain = "lists.example.test", within = "30s" }
[[step]]
mta_release = "lists.example.test"
expect_banner = { contains = "ESMTP", families = ["ipv4"] }
expect_old_host = { refuses = true }
expect_permissions_clean = {}
"#,
        )
        .unwrap();
        assert_eq!(
            kinds[0],
            StepKind::ExpectDnsTtl(DnsTtlExpectation {
                name: "lists.example.test".into(),
                rtype: DnsType::Mx,
                max: Duration::from_secs(300),
                server: None,
                within: DEFAULT_DNS_WITHIN,
            })
        );
        assert_eq!(
            kinds[1],
            StepKind::ExpectMtaQueue(MtaQueueExpectation {
                max: Some(0),
                frozen: Some(0),
                oldest: Some(Duration::from_secs(3600)),
                holds_domain: None,
                within: DEFAULT_QUEUE_WITHIN,
            })
        );
        assert!(matches!(&kinds[2], StepKind::ExpectMailmanQueues(q) if q.empty == ["in", "shunt", "bad", "retry"] && q.held_below == Some(1000)));
        assert_eq!(kinds[3], StepKind::MtaHold("lists.example.test".into()));
        assert!(matches!(&kinds[5], StepKind::ExpectMtaQueue(q) if q.holds_domain.as_deref() == Some("lists.example.test")));
        assert_eq!(kinds[6], StepKind::MtaRelease("lists.example.test".into()));
        assert_eq!(kinds[7], StepKind::ExpectBanner(BannerExpectation { contains: Some("ESMTP".into()), families: vec![Family::Ipv4], within: DEFAULT_CONNECT_WITHIN }));
        assert_eq!(
            kinds[8],
            StepKind::ExpectOldHost(OldHostExpectation {
                refuses: true,
                list: "probe-test@lists.example.test".into(),
                from: "mailflow-cutover@probe.test".into(),
                within: DEFAULT_CONNECT_WITHIN,
            })
        );
        assert_eq!(kinds[9], StepKind::ExpectPermissionsClean);
        assert!(kinds[3].is_fault() && kinds[6].is_fault() && !kinds[8].is_fault());
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let cases: &[(&str, &[&str])] = &[
            ("expect_mta_queue = {}", &["s.toml:3:20: `expect_mta_queue` needs at least one of max, frozen, oldest, holds_domain"]),
            (
                "expect_mta_queue = { holds_domain = \"lists.example.test\" }",
                &["s.toml:3:1: `expect_mta_queue` must come after a `send`: it checks the most recent one"],
            ),
            ("expect_mta_queue = { max = -1, oldest = \"soon\" }", &[
                "s.toml:3:28: `expect_mta_queue.max` must be between 0 and 4294967295, found -1",
                "s.toml:3:41: invalid duration `soon` in `expect_mta_queue.oldest`: expected a number with a unit, like \"30s\" or \"1m30s\"",
            ]),
            ("expect_mailman_queues = { empty = [\"in\", \"shunted\", \"in\"] }", &[
                "s.toml:3:42: unknown queue `shunted` in `expect_mailman_queues.empty`; Mailman's queues are archive, bad, bounces, command, commands, digest, in, news, nntp, out, pipeline, retry, shunt, virgin",
                "s.toml:3:53: queue `in` is listed twice in `expect_mailman_queues.empty`",
            ]),
            ("expect_mailman_queues = { held_below = 0 }", &["s.toml:3:40: `expect_mailman_queues.held_below` must be between 1 and 4294967295, found 0"]),
            ("expect_dns_ttl = { name = \"lists.example.test\", type = \"SOA\", max = \"1500ms\" }", &[
                "s.toml:3:56: unsupported record type `SOA` in `expect_dns_ttl.type`; expected one of A, AAAA, MX, TXT",
                "s.toml:3:69: `expect_dns_ttl.max` must be whole seconds: DNS TTLs are",
            ]),
            ("expect_banner = { families = [\"ipv4\", \"ipx\"] }", &[
                "s.toml:3:39: unknown family `ipx` in each entry of `expect_banner.families`; expected one of ipv4, ipv6",
            ]),
            ("expect_old_host = { refuses = true }", &["s.toml:3:1: `expect_old_host` needs a list: give the scenario a `list`, or give the step one"]),
            ("expect_old_host = { refuses = \"yes\", list = \"nope\" }", &[
                "s.toml:3:31: `expect_old_host.refuses` must be true or false, found a string",
                "s.toml:3:45: list `nope` in `expect_old_host.list` is not declared in the suite",
            ]),
            ("expect_permissions_clean = { fix = true }", &["s.toml:3:30: unknown key `fix` in `expect_permissions_clean`; accepted keys: "]),
            ("mta_hold = \"Lists..test\"", &["s.toml:3:12: invalid domain `Lists..test` in `mta_hold`: "]),
        ];
        for (step, expected) in cases {
            let errors = parsed(&format!("name = \"x\"\n[[step]]\n{step}\n")).expect_err(step);
            assert_eq!(errors.len(), expected.len(), "{step}: {errors:?}");
            for (got, want) in errors.iter().zip(expected.iter()) {
                assert!(got.starts_with(want), "{step}:\n got {got}\nwant {want}");
            }
        }
    }
}
