//! `expect_ports`: a port policy seen from one vantage point, in one step.
//!
//! ```toml
//! [[step]]
//! expect_ports = { vantage = "outside", open = [25, 80, 443], filtered = [22, 873], within = "2s" }
//! ```

use std::time::Duration;

use super::model::{PortState, Protocol};
use super::reader::{Doc, TableReader, Value};

/// Ports of the lists host, tried concurrently from one vantage point, each
/// expected in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortsExpectation {
    /// A vantage point's name, checked against the target when the step runs.
    pub vantage: String,
    pub protocol: Protocol,
    /// Each port once, with its expected state, in file order.
    pub ports: Vec<(u16, PortState)>,
    /// How long each port is tried; no answer by then is `filtered`. Every
    /// port is tried at the same time, so the step takes about this long at
    /// most, not this long per port.
    pub within: Duration,
}

const PORTS_KEYS: &[&str] = &["vantage", "protocol", "open", "refused", "filtered", "within"];

/// Reads `expect_ports = { vantage, open = [...], refused = [...], filtered = [...], within }`.
pub(super) fn read_expect_ports(doc: &mut Doc, value: &Value<'_>) -> Option<PortsExpectation> {
    let table = doc.table("`expect_ports`", value)?;
    let mut reader = TableReader::new("expect_ports", table, value.span(), PORTS_KEYS);
    let vantage = reader.required(doc, "vantage").and_then(|v| super::scenario_file::read_vantage(doc, &reader.field("vantage"), v));
    let protocol = match reader.optional("protocol") {
        Some(v) => super::scenario_file::read_protocol(doc, &reader.field("protocol"), v),
        None => Some(Protocol::Tcp),
    };
    // Every entry with its place in the file, so that a repeat is reported
    // where it is written second.
    let mut entries = Vec::new();
    let mut all_valid = true;
    for state in PortState::ALL {
        let Some(list) = reader.optional(state.as_str()) else { continue };
        let what = reader.field(state.as_str());
        let Some(items) = doc.array(&what, list) else {
            all_valid = false;
            continue;
        };
        for item in items {
            match doc.integer_in(&format!("each entry of {what}"), 1..=65535, item) {
                Some(port) => entries.push((item.span(), port as u16, state)),
                None => all_valid = false,
            }
        }
    }
    entries.sort_by_key(|(span, _, _)| span.start);
    let mut ports: Vec<(u16, PortState)> = Vec::new();
    for (span, port, state) in entries {
        if let Some((_, first)) = ports.iter().find(|(p, _)| *p == port) {
            let message = if *first == state {
                format!("port {port} is listed twice in {}", reader.field(state.as_str()))
            } else {
                format!(
                    "port {port} is listed both in {} and in {}: a port has one expected state",
                    reader.field(first.as_str()),
                    reader.field(state.as_str())
                )
            };
            doc.error(span, "repeated", message);
            all_valid = false;
            continue;
        }
        ports.push((port, state));
    }
    if ports.is_empty() && all_valid {
        doc.error(value.span(), "no ports", "`expect_ports` needs at least one port in `open`, `refused` or `filtered`");
        all_valid = false;
    }
    let within_value = reader.optional("within");
    let within = super::scenario_file::port_within(doc, &reader.field("within"), within_value, value);
    reader.finish(doc);
    if !all_valid {
        return None;
    }
    Some(PortsExpectation { vantage: vantage?, protocol: protocol?, ports, within: within? })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::{parse_scenario, parse_suite, StepKind};

    fn parsed(src: &str) -> Result<Vec<StepKind>, Vec<String>> {
        let suite = parse_suite(Path::new("suite.toml"), "probe_domain = \"probe.test\"\n").expect("suite");
        parse_scenario(Path::new("s.toml"), src, &suite)
            .map(|s| s.steps.into_iter().map(|s| s.kind).collect())
            .map_err(|e| e.errors.iter().map(ToString::to_string).collect())
    }

    fn step(table: &str) -> String {
        format!("name = \"x\"\n[[step]]\nexpect_ports = {table}\n")
    }

    #[test]
    fn a_policy_per_vantage_point() {
        let kinds = parsed(&step(r#"{ vantage = "outside", filtered = [22, 873], open = [25, 80], refused = [2525], within = "2s" }"#)).unwrap();
        use PortState::*;
        assert_eq!(
            kinds,
            vec![StepKind::ExpectPorts(PortsExpectation {
                vantage: "outside".into(),
                protocol: Protocol::Tcp,
                ports: vec![(22, Filtered), (873, Filtered), (25, Open), (80, Open), (2525, Refused)],
                within: Duration::from_secs(2),
            })]
        );
        let kinds = parsed(&step(r#"{ vantage = "inside", open = [8001] }"#)).unwrap();
        assert!(matches!(&kinds[0], StepKind::ExpectPorts(p) if p.within == Duration::from_secs(5)));
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let cases: &[(&str, &[&str])] = &[
            (r#"{ open = [25] }"#, &["s.toml:3:16: missing required key `vantage` in `expect_ports`"]),
            (r#"{ vantage = "outside" }"#, &["s.toml:3:16: `expect_ports` needs at least one port in `open`, `refused` or `filtered`"]),
            (
                r#"{ vantage = "outside", open = [25, 0], filtered = ["22"] }"#,
                &[
                    "s.toml:3:51: each entry of `expect_ports.open` must be between 1 and 65535, found 0",
                    "s.toml:3:67: each entry of `expect_ports.filtered` must be an integer, found a string",
                ],
            ),
            (
                r#"{ vantage = "outside", open = [25, 25], filtered = [80], refused = [80] }"#,
                &[
                    "s.toml:3:51: port 25 is listed twice in `expect_ports.open`",
                    "s.toml:3:84: port 80 is listed both in `expect_ports.filtered` and in `expect_ports.refused`: a port has one expected state",
                ],
            ),
            (r#"{ vantage = "outside", open = 25 }"#, &["s.toml:3:46: `expect_ports.open` must be an array, found an integer"]),
            (
                r#"{ vantage = " ", open = [25], within = "10ms", closed = [1] }"#,
                &[
                    "s.toml:3:28: `expect_ports.vantage` must name a vantage point, like \"outside\"",
                    "s.toml:3:55: `expect_ports.within` must be between 100ms and 60s: it is how long a connection attempt may take",
                    "s.toml:3:63: unknown key `closed` in `expect_ports`; accepted keys: vantage, protocol, open, refused, filtered, within",
                ],
            ),
        ];
        for (table, expected) in cases {
            let errors = parsed(&step(table)).expect_err(table);
            assert_eq!(errors, *expected, "{table}");
        }
    }
}
