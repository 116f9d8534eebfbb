//! Parser tests: hand-made files in, values or `path:line:col: message`
//! lines out. Value checks on their own are tested in `values.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// The step kinds of a scenario parsed against a suite with one list,
/// `probe-test@lists.example.test`; or its errors as `path:line:col:
/// message` lines. For the step readers' own tests (faults, cutover).
pub(super) fn parsed_steps(src: &str) -> Result<Vec<StepKind>, Vec<String>> {
    let suite = parse_suite(
        Path::new("suite.toml"),
        "probe_domain = \"probe.test\"\n[[list]]\nname = \"probe-test\"\ndomain = \"lists.example.test\"\n",
    )
    .expect("suite");
    parse_scenario(Path::new("s.toml"), src, &suite)
        .map(|s| s.steps.into_iter().map(|s| s.kind).collect())
        .map_err(|e| e.errors.iter().map(ToString::to_string).collect())
}

const SUITE: &str = r#"
probe_domain = "probe.test"

[[list]]
name = "probe-test"
domain = "lists.example.test"
members = ["alice@probe.test", "bob@probe.test"]

[[list]]
name = "quiet"
domain = "lists.example.test"
owners = ["olga@probe.test", "otto@probe.test"]
moderators = ["mona@probe.test"]
"#;

fn suite() -> Suite {
    parse_suite(Path::new("suite.toml"), SUITE).expect("the test suite parses")
}

fn scenario(src: &str) -> Scenario {
    match parse_scenario(Path::new("s.toml"), src, &suite()) {
        Ok(scenario) => scenario,
        Err(errors) => panic!("unexpected errors:\n{errors}"),
    }
}

/// The errors of a scenario file, one `s.toml:line:col: message` each.
fn scenario_errors(src: &str) -> Vec<String> {
    match parse_scenario(Path::new("s.toml"), src, &suite()) {
        Ok(scenario) => panic!("expected errors, got {scenario:#?}"),
        Err(errors) => errors.errors.iter().map(ToString::to_string).collect(),
    }
}

fn suite_errors(src: &str) -> Vec<String> {
    match parse_suite(Path::new("suite.toml"), src) {
        Ok(suite) => panic!("expected errors, got {suite:#?}"),
        Err(errors) => errors.errors.iter().map(ToString::to_string).collect(),
    }
}

fn location(line: usize, column: usize) -> Location {
    Location {
        file: PathBuf::from("s.toml"),
        line,
        column,
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests-data/scenario")
}

#[test]
fn valid_suite() {
    let suite = suite();
    assert_eq!(
        suite,
        Suite {
            path: PathBuf::from("suite.toml"),
            probe_domain: "probe.test".into(),
            lists: vec![
                ListDecl {
                    name: "probe-test".into(),
                    domain: "lists.example.test".into(),
                    members: vec!["alice@probe.test".into(), "bob@probe.test".into()],
                    ..ListDecl::default()
                },
                ListDecl {
                    name: "quiet".into(),
                    domain: "lists.example.test".into(),
                    members: vec![],
                    owners: vec!["olga@probe.test".into(), "otto@probe.test".into()],
                    moderators: vec!["mona@probe.test".into()],
                    ..ListDecl::default()
                },
            ],
        }
    );
    let list = suite.list("probe-test").unwrap();
    assert_eq!(list.address(), "probe-test@lists.example.test");
    assert_eq!(list.list_id(), "probe-test.lists.example.test");
    assert_eq!(suite.list("Probe-Test@Lists.Example.Test"), Some(list));
    assert_eq!(suite.list("nope"), None);
    assert_eq!(suite.list("probe-test@elsewhere.test"), None);
}

#[test]
fn suite_defaults() {
    let suite = parse_suite(Path::new("suite.toml"), "").unwrap();
    assert_eq!(suite.probe_domain, "probe.test");
    assert!(suite.lists.is_empty());
}

#[test]
fn valid_scenario() {
    let scenario = scenario(
        r#"name = "a member's post reaches every subscriber and the archive"
list = "probe-test"

[[step]]
send = { from = "alice@probe.test", subject = "member probe", body = "hello", headers = { "X-Extra" = "value", "A-First" = "x" } }
expect_smtp = 250

[[step]]
expect_delivered = { headers = { "List-Id" = "probe-test.lists.example.test", "X-Mailman-Version" = true, "X-Spam" = false }, within = "30s" }
expect_archived = { within = "1m30s", archive = "prototype" }

[[step]]
send.from = "bob@probe.test"
send.to = ["probe-test@lists.example.test", "quiet@lists.example.test"]
send.subject = "cross post"
expect_smtp = { code = 550, text_contains = "relay", at = "rcpt" }
expect_delivered = { to = ["bob@probe.test"] }
"#,
    );
    let list = "probe-test@lists.example.test".to_string();
    let expected = Scenario {
        path: PathBuf::from("s.toml"),
        name: "a member's post reaches every subscriber and the archive".into(),
        list: Some(list.clone()),
        steps: vec![
            Step {
                group: 1,
                location: location(5, 1),
                kind: StepKind::Send(SendSpec {
                    from: "alice@probe.test".into(),
                    to: vec![list.clone()],
                    subject: "member probe".into(),
                    body: Some("hello".into()),
                    // Source order, not sorted.
                    headers: vec![
                        ("X-Extra".into(), "value".into()),
                        ("A-First".into(), "x".into()),
                    ],
                    attachments: vec![],
                }),
            },
            Step {
                group: 1,
                location: location(6, 1),
                kind: StepKind::ExpectSmtp(SmtpExpectation {
                    code: 250,
                    text_contains: None,
                    at: None,
                }),
            },
            Step {
                group: 2,
                location: location(9, 1),
                kind: StepKind::ExpectDelivered(DeliveryExpectation {
                    to: vec!["alice@probe.test".into(), "bob@probe.test".into()],
                    not_to: vec![],
                    headers: vec![
                        (
                            "List-Id".into(),
                            HeaderExpectation::Contains("probe-test.lists.example.test".into()),
                        ),
                        ("X-Mailman-Version".into(), HeaderExpectation::Present),
                        ("X-Spam".into(), HeaderExpectation::Absent),
                    ],
                    within: Duration::from_secs(30),
                }),
            },
            Step {
                group: 2,
                location: location(10, 1),
                kind: StepKind::ExpectArchived(ArchiveExpectation {
                    list: list.clone(),
                    archive: ArchiveKind::Prototype,
                    within: Duration::from_secs(90),
                }),
            },
            Step {
                group: 3,
                location: location(13, 1),
                kind: StepKind::Send(SendSpec {
                    from: "bob@probe.test".into(),
                    to: vec![list.clone(), "quiet@lists.example.test".into()],
                    subject: "cross post".into(),
                    body: None,
                    headers: vec![],
                    attachments: vec![],
                }),
            },
            Step {
                group: 3,
                location: location(16, 1),
                kind: StepKind::ExpectSmtp(SmtpExpectation {
                    code: 550,
                    text_contains: Some("relay".into()),
                    at: Some(SmtpStage::Rcpt),
                }),
            },
            Step {
                group: 3,
                location: location(17, 1),
                kind: StepKind::ExpectDelivered(DeliveryExpectation {
                    to: vec!["bob@probe.test".into()],
                    not_to: vec![],
                    headers: vec![],
                    within: Duration::from_secs(60),
                }),
            },
        ],
    };
    assert_eq!(scenario, expected);
    assert_eq!(scenario.steps[3].label(), "step 2 expect_archived");
    assert_eq!(scenario.steps[0].location.to_string(), "s.toml:5:1");
}

#[test]
fn steps_follow_source_order_within_a_step_table() {
    // Written in the reverse of alphabetical order: the parser stores keys
    // sorted, the steps must not be.
    let scenario = scenario(
        r#"name = "order"
list = "probe-test"

[[step]]
send = { from = "alice@probe.test", subject = "s" }

[[step]]
expect_smtp = 250
expect_delivered = {}
expect_archived = {}
"#,
    );
    let labels: Vec<String> = scenario.steps.iter().map(Step::label).collect();
    assert_eq!(
        labels,
        [
            "step 1 send",
            "step 2 expect_smtp",
            "step 2 expect_delivered",
            "step 2 expect_archived"
        ]
    );
    let lines: Vec<usize> = scenario
        .steps
        .iter()
        .map(|step| step.location.line)
        .collect();
    assert_eq!(lines, [5, 8, 9, 10]);
}

#[test]
fn expectation_before_send_in_the_same_step_table() {
    // Source order decides, so an expectation written above its `send`
    // has nothing to check.
    let errors = scenario_errors(
        r#"name = "x"
list = "probe-test"
[[step]]
expect_smtp = 250
send = { from = "alice@probe.test", subject = "s" }
"#,
    );
    assert_eq!(
        errors,
        ["s.toml:4:1: `expect_smtp` must come after a `send`: it checks the most recent one"]
    );
}

#[test]
fn defaults_follow_the_list_the_probe_was_sent_to() {
    // No scenario list: a send to exactly one declared list gives the
    // archive's list and the default recipients.
    let scenario = scenario(
        r#"name = "x"
[[step]]
send = { from = "carol@probe.test", to = ["probe-test@lists.example.test"], subject = "s" }
expect_delivered = {}
expect_archived = {}
"#,
    );
    let StepKind::ExpectDelivered(delivered) = &scenario.steps[1].kind else {
        panic!("{:?}", scenario.steps[1]);
    };
    assert_eq!(delivered.to, ["alice@probe.test", "bob@probe.test"]);
    let StepKind::ExpectArchived(archived) = &scenario.steps[2].kind else {
        panic!("{:?}", scenario.steps[2]);
    };
    assert_eq!(archived.list, "probe-test@lists.example.test");
    assert_eq!(archived.within, Duration::from_secs(60));
    assert_eq!(scenario.list, None);
}

#[test]
fn archive_kinds_not_archived_and_pages() {
    let scenario = scenario(
        r#"name = "x"
list = "probe-test"
[[step]]
send = { from = "alice@probe.test", subject = "s", headers = { "X-No-Archive" = "yes" } }
expect_archived = { archive = "hyperkitty", within = "30s" }
[[step]]
expect_not_archived = { within = "5s" }
[[step]]
expect_not_archived = { archive = "prototype" }
[[step]]
expect_page = { page = "list-info", body_contains = "probe-test" }
[[step]]
expect_page = { page = "archive-index", list = "quiet@lists.example.test", status = 404, within = "1s" }
"#,
    );
    let kinds: Vec<&StepKind> = scenario.steps.iter().map(|s| &s.kind).collect();
    let StepKind::ExpectArchived(a) = kinds[1] else { panic!("{:?}", kinds[1]) };
    assert_eq!((a.archive, a.within), (ArchiveKind::HyperKitty, Duration::from_secs(30)));
    let StepKind::ExpectNotArchived(n) = kinds[2] else { panic!("{:?}", kinds[2]) };
    assert_eq!(n.archives, ArchiveKind::ALL.to_vec());
    assert_eq!((n.list.as_str(), n.within), ("probe-test@lists.example.test", Duration::from_secs(5)));
    let StepKind::ExpectNotArchived(n) = kinds[3] else { panic!("{:?}", kinds[3]) };
    assert_eq!((n.archives.as_slice(), n.within), ([ArchiveKind::Prototype].as_slice(), Duration::from_secs(10)));
    assert_eq!(
        kinds[4],
        &StepKind::ExpectPage(PageExpectation {
            list: "probe-test@lists.example.test".into(),
            page: PageKind::ListInfo,
            status: 200,
            body_contains: Some("probe-test".into()),
            within: Duration::from_secs(10),
        })
    );
    assert_eq!(
        kinds[5],
        &StepKind::ExpectPage(PageExpectation {
            list: "quiet@lists.example.test".into(),
            page: PageKind::ArchiveIndex,
            status: 404,
            body_contains: None,
            within: Duration::from_secs(1),
        })
    );
    assert_eq!(scenario.steps[5].label(), "step 5 expect_page");
    assert_eq!(scenario.steps[5].location, location(13, 1));
}

#[test]
fn an_unknown_list_is_reported_once() {
    // The send relies on the list for its recipient; the list's error is
    // enough.
    let errors = scenario_errors(
        "name = \"x\"\nlist = \"nope\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_archived = {}\n",
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("s.toml:2:8: unknown list `nope`"),
        "{errors:#?}"
    );
}

/// One error per case: (what, file, the one expected line).
const SCENARIO_ERRORS: &[(&str, &str, &str)] = &[
    (
        "syntax error",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\" subject = \"s\" }\n",
        "s.toml:4:36: TOML syntax error: missing comma between key-value pairs, expected `,`",
    ),
    (
        "unknown key at top level",
        "name = \"x\"\nlist = \"probe-test\"\ncolour = \"red\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\n",
        "s.toml:3:1: unknown key `colour` at the top level; accepted keys: name, list, step",
    ),
    (
        "unknown key in a step",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\n  expect_bounce = true\n",
        "s.toml:5:3: unknown key `expect_bounce` in `[[step]]`; accepted keys: send, send_raw, expect_smtp, expect_delivered, expect_archived, expect_held, moderate, expect_not_delivered, expect_not_archived, expect_notice, expect_shunted, expect_bounced, expect_fate, expect_page, expect_private, expect_digest, expect_settings, expect_port, expect_ports, expect_http, expect_dns, stop, start, mta_queue_run, expect_queued, sink_fault, expect_every_list_answers, expect_mta_queue, expect_mailman_queues, expect_dns_ttl, expect_banner, expect_old_host, expect_permissions_clean, mta_hold, mta_release",
    ),
    (
        "unknown key in an inline table",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\", cc = [\"x@y.test\"] }\n",
        "s.toml:4:52: unknown key `cc` in `send`; accepted keys: from, to, subject, body, headers, attachments",
    ),
    (
        "unknown key in a nested inline table",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_smtp = { code = 250, stage = \"rcpt\" }\n",
        "s.toml:5:29: unknown key `stage` in `expect_smtp`; accepted keys: code, text_contains, at",
    ),
    (
        "wrong type",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = 3 }\n",
        "s.toml:4:47: `send.subject` must be a string, found an integer",
    ),
    (
        "wrong type of a step",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_smtp = \"250\"\n",
        "s.toml:5:15: `expect_smtp` must be an integer or a table, found a string",
    ),
    (
        "step is not an array of tables",
        "name = \"x\"\nstep = \"send\"\n",
        "s.toml:2:8: `step` must be an array of tables (`[[step]]`), found a string",
    ),
    (
        "bad duration",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_archived = { within = \"30 seconds\" }\n",
        "s.toml:5:30: invalid duration `30 seconds` in `expect_archived.within`: unexpected ` `: write whole numbers with units, like \"1m30s\"",
    ),
    (
        "duration too long",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_delivered = { within = \"2h\" }\n",
        "s.toml:5:31: invalid duration `2h` in `expect_delivered.within`: must be at most 1h",
    ),
    (
        "bad address in from",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice\", subject = \"s\" }\n",
        "s.toml:4:17: invalid address `alice` in `send.from`: must contain exactly one `@`",
    ),
    (
        "bad address in to",
        "name = \"x\"\n[[step]]\nsend = { from = \"alice@probe.test\", to = [\"bob@\"], subject = \"s\" }\n",
        "s.toml:3:43: invalid address `bob@` in each entry of `send.to`: the part after `@` is empty",
    ),
    (
        "empty to",
        "name = \"x\"\n[[step]]\nsend = { from = \"alice@probe.test\", to = [], subject = \"s\" }\n",
        "s.toml:3:42: `send.to` must not be empty",
    ),
    (
        "expect_smtp before any send",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nexpect_smtp = 250\n",
        "s.toml:4:1: `expect_smtp` must come after a `send`: it checks the most recent one",
    ),
    (
        "expect_delivered before any send",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nexpect_delivered = { within = \"5s\" }\n",
        "s.toml:4:1: `expect_delivered` must come after a `send`: it checks the most recent one",
    ),
    (
        "unknown list",
        "name = \"x\"\nlist = \"nope\"\n[[step]]\nsend = { from = \"alice@probe.test\", to = [\"a@b.test\"], subject = \"s\" }\n",
        "s.toml:2:8: unknown list `nope`; declared lists: probe-test (probe-test@lists.example.test), quiet (quiet@lists.example.test)",
    ),
    (
        "empty step",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\n\n[[step]]\n\n[[step]]\nexpect_smtp = 250\n",
        "s.toml:6:1: empty `[[step]]`: give it one or more of send, send_raw, expect_smtp, expect_delivered, expect_archived, expect_held, moderate, expect_not_delivered, expect_not_archived, expect_notice, expect_shunted, expect_bounced, expect_fate, expect_page, expect_private, expect_digest, expect_settings, expect_port, expect_ports, expect_http, expect_dns, stop, start, mta_queue_run, expect_queued, sink_fault, expect_every_list_answers, expect_mta_queue, expect_mailman_queues, expect_dns_ttl, expect_banner, expect_old_host, expect_permissions_clean, mta_hold, mta_release",
    ),
    (
        "no steps",
        "name = \"x\"\nlist = \"probe-test\"\n",
        "s.toml:1:1: a scenario needs at least one `[[step]]`",
    ),
    (
        "empty step array",
        "name = \"x\"\nstep = []\n",
        "s.toml:2:8: a scenario needs at least one `[[step]]`",
    ),
    (
        "missing name",
        "list = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\n",
        "s.toml:1:1: missing required key `name` at the top level",
    ),
    (
        "missing key in an inline table",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { subject = \"s\" }\n",
        "s.toml:4:8: missing required key `from` in `send`",
    ),
    (
        "missing key in a step table",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend.subject = \"s\"\n",
        "s.toml:4:1: missing required key `from` in `send`",
    ),
    (
        "send without to or list",
        "name = \"x\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\n",
        "s.toml:3:8: `send` has no `to` and the scenario has no `list`: add one of them",
    ),
    (
        "Message-ID header",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\", headers = { \"message-id\" = \"<a@b>\" } }\n",
        "s.toml:4:64: `send.headers` cannot set `message-id`: the harness gives each probe its own Message-ID",
    ),
    (
        "bad header name",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\", headers = { \"X Extra\" = \"v\" } }\n",
        "s.toml:4:64: invalid header name `X Extra` in `send.headers`: a header name must be printable ASCII without spaces or `:`",
    ),
    (
        "header value with a line break",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\", headers = { X-Extra = \"a\\nBcc: b@c\" } }\n",
        "s.toml:4:74: header `X-Extra` in `send.headers` must be a single line without NUL: a line feed (LF) would end the header and start another",
    ),
    (
        "a subject that would inject a Bcc header and end the message",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"first\\r\\nBcc: leak@probe.test\\r\\n.\\r\\nQUIT\" }\n",
        "s.toml:4:47: `send.subject` must be a single line without NUL: a carriage return (CR) would end the header and start another",
    ),
    (
        "attachments not an array",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"a@probe.test\", subject = \"s\", attachments = \"a.pdf\" }\n",
        "s.toml:4:62: `send.attachments` must be an array, found a string",
    ),
    (
        "attachment not a table",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"a@probe.test\", subject = \"s\", attachments = [\"a.pdf\"] }\n",
        "s.toml:4:63: each entry of `send.attachments` must be a table, found a string",
    ),
    (
        "attachment without a size",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"a@probe.test\", subject = \"s\", attachments = [{ name = \"a.pdf\" }] }\n",
        "s.toml:4:63: missing required key `size` in `send.attachments`",
    ),
    (
        "attachment with an unknown key",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"a@probe.test\", subject = \"s\", attachments = [{ name = \"a\", size = 1, type = \"x/y\" }] }\n",
        "s.toml:4:87: unknown key `type` in `send.attachments`; accepted keys: name, content_type, size",
    ),
    (
        "attachment with an empty name",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"a@probe.test\", subject = \"s\", attachments = [{ name = \" \", size = 1 }] }\n",
        "s.toml:4:72: `send.attachments.name` must not be empty",
    ),
    (
        "attachment type with parameters",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"a@probe.test\", subject = \"s\", attachments = [{ name = \"a\", content_type = \"text/plain; charset=utf-8\", size = 1 }] }\n",
        "s.toml:4:92: invalid content type `text/plain; charset=utf-8` in `send.attachments.content_type`: must be a MIME type like \"application/pdf\": `type/subtype`, no spaces or parameters",
    ),
    (
        "attachment size in lower case",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"a@probe.test\", subject = \"s\", attachments = [{ name = \"a\", size = \"64kb\" }] }\n",
        "s.toml:4:84: invalid size `64kb` in `send.attachments.size`: write a whole number of bytes (an integer), or a string like \"64KB\" or \"2MB\" (1 KB = 1024 bytes)",
    ),
    (
        "attachment size with a fraction",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"a@probe.test\", subject = \"s\", attachments = [{ name = \"a\", size = \"1.5MB\" }] }\n",
        "s.toml:4:84: invalid size `1.5MB` in `send.attachments.size`: write a whole number of bytes (an integer), or a string like \"64KB\" or \"2MB\" (1 KB = 1024 bytes)",
    ),
    (
        "negative attachment size",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"a@probe.test\", subject = \"s\", attachments = [{ name = \"a\", size = -1 }] }\n",
        "s.toml:4:84: `send.attachments.size` must be between 0 and 104857600, found -1",
    ),
    (
        "attachment over 100MB",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"a@probe.test\", subject = \"s\", attachments = [{ name = \"a\", size = \"101MB\" }] }\n",
        "s.toml:4:84: `send.attachments.size` must be at most 100MB (104857600 bytes)",
    ),
    (
        "attachment size of the wrong type",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"a@probe.test\", subject = \"s\", attachments = [{ name = \"a\", size = 1.5 }] }\n",
        "s.toml:4:84: `send.attachments.size` must be an integer (bytes) or a string like \"64KB\", found a float",
    ),
    (
        "bad header expectation",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_delivered = { headers = { List-Id = 3 } }\n",
        "s.toml:5:44: header `List-Id` in `expect_delivered.headers` must be a string, true or false, found an integer",
    ),
    (
        "smtp code out of range",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_smtp = 99\n",
        "s.toml:5:15: `expect_smtp` must be between 200 and 599, found 99",
    ),
    (
        "unknown smtp stage",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_smtp = { code = 221, at = \"quit\" }\n",
        "s.toml:5:34: unknown SMTP stage `quit` in `expect_smtp.at`; expected one of connect, ehlo, mail, rcpt, data, message",
    ),
    (
        "unknown archive",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_archived = { archive = \"mhonarc\" }\n",
        "s.toml:5:31: unknown archive `mhonarc` in `expect_archived.archive`; expected one of prototype, hyperkitty, pipermail",
    ),
    (
        "unknown archive in expect_not_archived",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_not_archived = { archive = \"HyperKitty\" }\n",
        "s.toml:5:35: unknown archive `HyperKitty` in `expect_not_archived.archive`; expected one of prototype, hyperkitty, pipermail",
    ),
    (
        "unknown key in expect_not_archived",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_not_archived = { within = \"5s\", after = \"1s\" }\n",
        "s.toml:5:40: unknown key `after` in `expect_not_archived`; accepted keys: within, archive",
    ),
    (
        "expect_not_archived before a send",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nexpect_not_archived = {}\n",
        "s.toml:4:1: `expect_not_archived` must come after a `send`: it checks the most recent one",
    ),
    (
        "unknown page",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nexpect_page = { page = \"admin\" }\n",
        "s.toml:4:24: unknown page `admin` in `expect_page.page`; expected one of list-info, archive-index, listinfo, pipermail-index",
    ),
    (
        "page without its name",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nexpect_page = { body_contains = \"x\" }\n",
        "s.toml:4:15: missing required key `page` in `expect_page`",
    ),
    (
        "unknown key in expect_page",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nexpect_page = { page = \"list-info\", url = \"/\" }\n",
        "s.toml:4:37: unknown key `url` in `expect_page`; accepted keys: page, list, status, body_contains, within",
    ),
    (
        "page status out of range",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nexpect_page = { page = \"list-info\", status = 42 }\n",
        "s.toml:4:46: `expect_page.status` must be between 100 and 599, found 42",
    ),
    (
        "page of an unknown list",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nexpect_page = { page = \"list-info\", list = \"nope\" }\n",
        "s.toml:4:44: unknown list `nope`; declared lists: probe-test (probe-test@lists.example.test), quiet (quiet@lists.example.test)",
    ),
    (
        "page without a list",
        "name = \"x\"\n[[step]]\nexpect_page = { page = \"archive-index\" }\n",
        "s.toml:3:1: `expect_page` needs a list: give the scenario a `list`, or give the step one",
    ),
    (
        "archive without a list",
        "name = \"x\"\n[[step]]\nsend = { from = \"alice@probe.test\", to = [\"a@b.test\"], subject = \"s\" }\nexpect_archived = {}\n",
        "s.toml:4:1: `expect_archived` needs a list: give the scenario a `list`, or send to exactly one declared list",
    ),
    (
        "port out of range",
        "name = \"x\"\n[[step]]\nexpect_port = { port = 70000, vantage = \"outside\", verdict = \"open\" }\n",
        "s.toml:3:24: `expect_port.port` must be between 1 and 65535, found 70000",
    ),
    (
        "port without a vantage",
        "name = \"x\"\n[[step]]\nexpect_port = { port = 25, verdict = \"open\" }\n",
        "s.toml:3:15: missing required key `vantage` in `expect_port`",
    ),
    (
        "unsupported protocol",
        "name = \"x\"\n[[step]]\nexpect_port = { port = 53, protocol = \"udp\", vantage = \"outside\", verdict = \"open\" }\n",
        "s.toml:3:39: unsupported protocol `udp` in `expect_port.protocol`; supported: tcp (UDP cannot tell a filtered port from an open one that does not answer)",
    ),
    (
        "unknown verdict",
        "name = \"x\"\n[[step]]\nexpect_port = { port = 25, vantage = \"outside\", verdict = \"closed\" }\n",
        "s.toml:3:59: unknown verdict `closed` in `expect_port.verdict`; expected one of open, refused, filtered",
    ),
    (
        "empty vantage",
        "name = \"x\"\n[[step]]\nexpect_port = { port = 25, vantage = \" \", verdict = \"open\" }\n",
        "s.toml:3:38: `expect_port.vantage` must name a vantage point, like \"outside\"",
    ),
    (
        "port deadline too short",
        "name = \"x\"\n[[step]]\nexpect_port = { port = 25, vantage = \"outside\", verdict = \"open\", within = \"10ms\" }\n",
        "s.toml:3:76: `expect_port.within` must be between 100ms and 60s: it is how long a connection attempt may take",
    ),
    (
        "unknown key in expect_port",
        "name = \"x\"\n[[step]]\nexpect_port = { port = 25, vantage = \"outside\", verdict = \"open\", host = \"x\" }\n",
        "s.toml:3:67: unknown key `host` in `expect_port`; accepted keys: port, protocol, vantage, verdict, within",
    ),
    (
        "http path without a slash",
        "name = \"x\"\n[[step]]\nexpect_http = { path = \"index.html\" }\n",
        "s.toml:3:24: invalid path `index.html` in `expect_http.path`: it must start with `/` and contain no spaces",
    ),
    (
        "unknown http scheme",
        "name = \"x\"\n[[step]]\nexpect_http = { scheme = \"ftp\" }\n",
        "s.toml:3:26: unknown scheme `ftp` in `expect_http.scheme`; expected http or https",
    ),
    (
        "http status out of range",
        "name = \"x\"\n[[step]]\nexpect_http = { status = 42 }\n",
        "s.toml:3:26: `expect_http.status` must be between 100 and 599, found 42",
    ),
    (
        "unsupported dns type",
        "name = \"x\"\n[[step]]\nexpect_dns = { name = \"lists.example.test\", type = \"SRV\" }\n",
        "s.toml:3:52: unsupported record type `SRV` in `expect_dns.type`; expected one of A, AAAA, MX, TXT",
    ),
    (
        "bad dns server",
        "name = \"x\"\n[[step]]\nexpect_dns = { name = \"lists.example.test\", type = \"A\", server = \"ns.example.test\" }\n",
        "s.toml:3:66: invalid server `ns.example.test` in `expect_dns.server`: write an IP address, or IP:port",
    ),
    (
        "delivery to a list without members",
        "name = \"x\"\nlist = \"quiet\"\n[[step]]\nsend = { from = \"alice@probe.test\", subject = \"s\" }\nexpect_delivered = {}\n",
        "s.toml:5:20: `expect_delivered` has no `to`, and list `quiet` has no members with regular delivery in the suite: add `to` or members",
    ),
    (
        "held without a list",
        "name = \"x\"\n[[step]]\nsend = { from = \"alice@probe.test\", to = [\"a@b.test\"], subject = \"s\" }\nexpect_held = {}\n",
        "s.toml:4:1: `expect_held` needs a list: give the scenario a `list`, or send to exactly one declared list",
    ),
    (
        "moderate before send",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nmoderate = \"discard\"\n",
        "s.toml:4:1: `moderate` must come after a `send`: it checks the most recent one",
    ),
    (
        "unknown moderation action",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nmoderate = \"approve\"\n",
        "s.toml:5:12: unknown moderation action `approve` in `moderate`; expected one of accept, discard, reject, defer",
    ),
    (
        "moderation comment without reject",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nmoderate = { action = \"discard\", comment = \"no\" }\n",
        "s.toml:5:44: `moderate.comment` is the reason sent to the sender of a rejected post; it cannot go with `discard`",
    ),
    (
        "moderate of the wrong type",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nmoderate = 3\n",
        "s.toml:5:12: `moderate` must be a string or a table, found an integer",
    ),
    (
        "moderate without action",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nmoderate = { comment = \"no\" }\n",
        "s.toml:5:12: missing required key `action` in `moderate`",
    ),
    (
        "unknown key in expect_held",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nexpect_held = { reason = \"x\" }\n",
        "s.toml:5:17: unknown key `reason` in `expect_held`; accepted keys: reason_contains, within",
    ),
    (
        "bad window",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nexpect_not_delivered = { within = \"5\" }\n",
        "s.toml:5:35: invalid duration `5` in `expect_not_delivered.within`: `5` has no unit (use ms, s, m or h)",
    ),
    (
        "notice to a bad address",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nexpect_notice = { to = \"owners\" }\n",
        "s.toml:5:24: invalid address `owners` in `expect_notice.to`: must contain exactly one `@`",
    ),
    (
        "notice to the owner of a list without owners",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nexpect_notice = { to = \"owner\" }\n",
        "s.toml:5:24: `expect_notice.to` is `owner`, but list `probe-test` declares no owners in the suite: add `owners`",
    ),
    (
        "raw message without the placeholder",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend_raw = { from = \"o@probe.test\", data = \"Subject: x\\n\\nbody\\n\" }\n",
        "s.toml:4:44: `send_raw.data` must contain `{message_id}` (in a Message-ID header) or `{probe_header}` (a line of its own in the header section): the harness follows the probe by them",
    ),
    (
        "the probe header placeholder in the body",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend_raw = { from = \"o@probe.test\", data = \"Subject: x\\n\\n{probe_header}\\n\" }\n",
        "s.toml:4:59: `{probe_header}` in `send_raw.data` must be a line of its own in the header section (before the first empty line): it becomes the `X-Mailflow-Probe` header",
    ),
    (
        "the probe header placeholder inside another header",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend_raw = { from = \"o@probe.test\", data = \"X-Extra: {probe_header}\\n\\nbody\\n\" }\n",
        "s.toml:4:54: `{probe_header}` in `send_raw.data` must be a line of its own in the header section (before the first empty line): it becomes the `X-Mailflow-Probe` header",
    ),
    (
        "the probe header placeholder twice",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend_raw = { from = \"o@probe.test\", data = \"{probe_header}\\n{probe_header}\\n\\nbody\\n\" }\n",
        "s.toml:4:61: `send_raw.data` may contain `{probe_header}` only once: a probe has one probe header",
    ),
    (
        "a bounce status that is not a status",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nexpect_bounced = { status = \"550\" }\n",
        "s.toml:5:29: invalid status `550` in `expect_bounced.status`: the class must be 2, 4 or 5; write a class (\"5\") or an enhanced status code like \"5.6.0\", with `x` for any subject or detail (\"5.x.x\")",
    ),
    (
        "a bounce status with a bad detail",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nexpect_bounced = { status = \"5.6.y\" }\n",
        "s.toml:5:29: invalid status `5.6.y` in `expect_bounced.status`: write a class (\"5\") or an enhanced status code like \"5.6.0\", with `x` for any subject or detail (\"5.x.x\")",
    ),
    (
        "a bounce status that is a number",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nexpect_bounced = { status = 5 }\n",
        "s.toml:5:29: `expect_bounced.status` must be a string, found an integer",
    ),
    (
        "unknown key in expect_bounced",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nexpect_bounced = { diagnostic = \"x\" }\n",
        "s.toml:5:20: unknown key `diagnostic` in `expect_bounced`; accepted keys: status, diagnostic_contains, within",
    ),
    (
        "bounced before send",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nexpect_bounced = {}\n",
        "s.toml:4:1: `expect_bounced` must come after a `send`: it checks the most recent one",
    ),
    (
        "an unknown fate",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nexpect_fate = \"bounce\"\n",
        "s.toml:5:15: unknown fate `bounce` in `expect_fate`; expected one of refused, delivered, held, shunted, bounced, lost",
    ),
    (
        "an unknown fate in a table",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nexpect_fate = { fate = \"archived\", within = \"5s\" }\n",
        "s.toml:5:24: unknown fate `archived` in `expect_fate.fate`; expected one of refused, delivered, held, shunted, bounced, lost",
    ),
    (
        "a fate table without a fate",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nexpect_fate = { within = \"5s\" }\n",
        "s.toml:5:15: missing required key `fate` in `expect_fate`",
    ),
    (
        "a fate of the wrong type",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nsend = { from = \"o@probe.test\", subject = \"s\" }\nexpect_fate = true\n",
        "s.toml:5:15: `expect_fate` must be a string or a table, found a boolean",
    ),
    (
        "fate before send",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nexpect_fate = \"lost\"\n",
        "s.toml:4:1: `expect_fate` must come after a `send`: it checks the most recent one",
    ),
    (
        "shunted before send",
        "name = \"x\"\nlist = \"probe-test\"\n[[step]]\nexpect_shunted = {}\n",
        "s.toml:4:1: `expect_shunted` must come after a `send`: it checks the most recent one",
    ),
];

#[test]
fn port_steps_need_no_send() {
    let scenario = scenario(
        r#"name = "ports"

[[step]]
expect_port = { port = 8001, vantage = "outside", verdict = "filtered", within = "3s" }

[[step]]
expect_port = { port = 25, protocol = "tcp", vantage = "bastion", verdict = "open" }
"#,
    );
    assert_eq!(scenario.list, None);
    let kinds: Vec<(StepKind, Location)> = scenario.steps.into_iter().map(|s| (s.kind, s.location)).collect();
    assert_eq!(
        kinds,
        vec![
            (
                StepKind::ExpectPort(PortExpectation {
                    port: 8001,
                    protocol: Protocol::Tcp,
                    vantage: "outside".into(),
                    verdict: PortState::Filtered,
                    within: Duration::from_secs(3),
                }),
                location(4, 1),
            ),
            (
                StepKind::ExpectPort(PortExpectation {
                    port: 25,
                    protocol: Protocol::Tcp,
                    vantage: "bastion".into(),
                    verdict: PortState::Open,
                    within: Duration::from_secs(5),
                }),
                location(7, 1),
            ),
        ]
    );
}

#[test]
fn http_steps_and_their_defaults() {
    let scenario = scenario(
        r#"name = "web"

[[step]]
expect_http = {}

[[step]]
expect_http = { scheme = "http", path = "/pipermail/x/?a=1", status = 301, body_contains = "moved", redirect_to = "/hyperkitty/", within = "3s" }
"#,
    );
    let kinds: Vec<StepKind> = scenario.steps.into_iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        vec![
            StepKind::ExpectHttp(HttpExpectation {
                scheme: Scheme::Https,
                path: "/".into(),
                status: 200,
                body_contains: None,
                redirect_to: None,
                within: Duration::from_secs(10),
            }),
            StepKind::ExpectHttp(HttpExpectation {
                scheme: Scheme::Http,
                path: "/pipermail/x/?a=1".into(),
                status: 301,
                body_contains: Some("moved".into()),
                redirect_to: Some("/hyperkitty/".into()),
                within: Duration::from_secs(3),
            }),
        ]
    );
}

#[test]
fn dns_steps() {
    let scenario = scenario(
        r#"name = "dns"

[[step]]
expect_dns = { name = "lists.example.test", type = "mx", values = ["10 lists.example.test."], ttl_at_most = 300, server = "127.0.0.1:5353" }

[[step]]
expect_dns = { name = "lists.example.test", type = "A" }
"#,
    );
    let kinds: Vec<StepKind> = scenario.steps.into_iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        vec![
            StepKind::ExpectDns(DnsExpectation {
                name: "lists.example.test".into(),
                rtype: DnsType::Mx,
                values: Some(vec!["10 lists.example.test.".into()]),
                ttl_at_most: Some(300),
                server: Some("127.0.0.1:5353".parse().unwrap()),
                within: Duration::from_secs(10),
            }),
            StepKind::ExpectDns(DnsExpectation {
                name: "lists.example.test".into(),
                rtype: DnsType::A,
                values: None,
                ttl_at_most: None,
                server: None,
                within: Duration::from_secs(10),
            }),
        ]
    );
}

#[test]
fn every_port_error_of_a_step_is_reported() {
    let errors = scenario_errors(
        "name = \"x\"\n[[step]]\nexpect_port = { port = 0, protocol = \"sctp\", verdict = \"up\", within = \"soon\" }\n",
    );
    assert_eq!(
        errors,
        [
            "s.toml:3:15: missing required key `vantage` in `expect_port`",
            "s.toml:3:24: `expect_port.port` must be between 1 and 65535, found 0",
            "s.toml:3:38: unsupported protocol `sctp` in `expect_port.protocol`; supported: tcp (UDP cannot tell a filtered port from an open one that does not answer)",
            "s.toml:3:56: unknown verdict `up` in `expect_port.verdict`; expected one of open, refused, filtered",
            "s.toml:3:71: invalid duration `soon` in `expect_port.within`: expected a number with a unit, like \"30s\" or \"1m30s\"",
        ]
    );
}

#[test]
fn scenario_error_kinds() {
    let mut failures = Vec::new();
    for (what, src, expected) in SCENARIO_ERRORS {
        let errors = scenario_errors(src);
        if errors != [*expected] {
            failures.push(format!(
                "{what}:\n  expected {expected}\n  got      {errors:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_error_of_a_file_is_reported() {
    let errors = scenario_errors(
        r#"name = 5
list = "probe-test"
extra = true

[[step]]
send = { from = "alice", subject = "s", cc = "x" }
expect_smtp = { code = 250, at = "rcpt", when = "now" }

[[step]]

[[step]]
expect_delivered = { within = "0s" }
"#,
    );
    assert_eq!(
        errors,
        [
            "s.toml:1:8: `name` must be a string, found an integer",
            "s.toml:3:1: unknown key `extra` at the top level; accepted keys: name, list, step",
            "s.toml:6:17: invalid address `alice` in `send.from`: must contain exactly one `@`",
            "s.toml:6:41: unknown key `cc` in `send`; accepted keys: from, to, subject, body, headers, attachments",
            "s.toml:7:42: unknown key `when` in `expect_smtp`; accepted keys: code, text_contains, at",
            "s.toml:9:1: empty `[[step]]`: give it one or more of send, send_raw, expect_smtp, expect_delivered, expect_archived, expect_held, moderate, expect_not_delivered, expect_not_archived, expect_notice, expect_shunted, expect_bounced, expect_fate, expect_page, expect_private, expect_digest, expect_settings, expect_port, expect_ports, expect_http, expect_dns, stop, start, mta_queue_run, expect_queued, sink_fault, expect_every_list_answers, expect_mta_queue, expect_mailman_queues, expect_dns_ttl, expect_banner, expect_old_host, expect_permissions_clean, mta_hold, mta_release",
            "s.toml:12:31: invalid duration `0s` in `expect_delivered.within`: must be greater than zero",
        ]
    );
}

/// One error per case, for suite files.
const SUITE_ERRORS: &[(&str, &str, &str)] = &[
    (
        "syntax error",
        "[[list]\nname = \"a\"\n",
        "suite.toml:1:8: TOML syntax error: unclosed array table, expected `]`",
    ),
    (
        "unknown key at top level",
        "probe_domain = \"probe.test\"\nsink = \"x\"\n",
        "suite.toml:2:1: unknown key `sink` at the top level; accepted keys: probe_domain, list",
    ),
    (
        "unknown key in a list",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\nowner = \"x@y.test\"\n",
        "suite.toml:4:1: unknown key `owner` in `[[list]]`; accepted keys: name, domain, members, moderated, owners, moderators, settings, archivers",
    ),
    (
        "missing domain",
        "[[list]]\nname = \"a\"\n",
        "suite.toml:1:1: missing required key `domain` in `[[list]]`",
    ),
    (
        "bad list name",
        "[[list]]\nname = \"Probe Test\"\ndomain = \"lists.example.test\"\n",
        "suite.toml:2:8: invalid list name `Probe Test` in `name`: must be lowercase letters, digits, `-`, `_` or `.`",
    ),
    (
        "bad domain",
        "probe_domain = \"probe..test\"\n",
        "suite.toml:1:16: invalid domain `probe..test` in `probe_domain`: must be a domain name: lowercase letters, digits and `-`, in labels separated by `.`",
    ),
    (
        "duplicate list name",
        "[[list]]\nname = \"a\"\ndomain = \"one.test\"\n\n[[list]]\nname = \"a\"\ndomain = \"two.test\"\n",
        "suite.toml:6:8: duplicate list name `a`: already declared at line 2",
    ),
    (
        "bad member address",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\nmembers = [\"alice@probe.test\", \"bob\"]\n",
        "suite.toml:4:32: invalid address `bob` in each entry of `members`: must contain exactly one `@`",
    ),
    (
        "repeated member",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\nmembers = [\"alice@probe.test\", \"Alice@probe.test\"]\n",
        "suite.toml:4:32: `members` lists `Alice@probe.test` more than once",
    ),
    (
        "list is not an array",
        "list = \"a\"\n",
        "suite.toml:1:8: `list` must be an array of tables (`[[list]]`), found a string",
    ),
    (
        "setting name Mailman could not have",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\n[list.settings]\nArchive = true\n",
        "suite.toml:5:1: invalid list setting name `Archive` in `settings`: must be lowercase letters, digits, `_` or `-`, as Mailman names its settings",
    ),
    (
        "setting value of no REST type",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\n[list.settings]\nbounce_score_threshold = 2.5\n",
        "suite.toml:5:26: `settings.bounce_score_threshold` must be a boolean, an integer, a string or an array of strings, found a float",
    ),
    (
        "bad archive policy",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\nsettings = { archive_policy = \"hidden\" }\n",
        "suite.toml:4:31: unknown archive policy `hidden` in `settings.archive_policy`; expected one of public, private, never",
    ),
    (
        "recipients not an integer",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\nsettings = { max_num_recipients = \"3\" }\n",
        "suite.toml:4:35: `settings.max_num_recipients` must be an integer, found a string",
    ),
    (
        "archiver not a boolean",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\narchivers = { hyperkitty = \"on\" }\n",
        "suite.toml:4:28: `archivers.hyperkitty` must be true or false, found a string",
    ),
    (
        "bad owner address",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\nowners = [\"olga\"]\n",
        "suite.toml:4:11: invalid address `olga` in each entry of `owners`: must contain exactly one `@`",
    ),
    (
        "unknown DMARC action",
        "[[list]]\nname = \"l\"\ndomain = \"lists.example.test\"\n[list.settings]\ndmarc_mitigate_action = \"munge\"\n",
        "suite.toml:5:25: unknown DMARC action `munge` in `settings.dmarc_mitigate_action`; expected one of no_mitigation, munge_from, wrap_message, reject, discard",
    ),
    (
        "unknown action",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\nsettings = { default_nonmember_action = \"approve\" }\n",
        "suite.toml:4:41: unknown action `approve` in `settings.default_nonmember_action`; expected one of accept, hold, reject, discard, defer",
    ),
    (
        "negative size",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\nsettings = { max_message_size = -1 }\n",
        "suite.toml:4:33: `settings.max_message_size` must be between 0 and 1048576, found -1",
    ),
    (
        "emergency not a boolean",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\nsettings = { emergency = \"yes\" }\n",
        "suite.toml:4:26: `settings.emergency` must be true or false, found a string",
    ),
    (
        "moderated non-member",
        "[[list]]\nname = \"a\"\ndomain = \"lists.example.test\"\nmembers = [\"alice@probe.test\"]\nmoderated = [\"carol@probe.test\"]\n",
        "suite.toml:5:13: `moderated` names `carol@probe.test`, which is not in `members`: only members can be moderated",
    ),
];

#[test]
fn suite_error_kinds() {
    let mut failures = Vec::new();
    for (what, src, expected) in SUITE_ERRORS {
        let errors = suite_errors(src);
        if errors != [*expected] {
            failures.push(format!(
                "{what}:\n  expected {expected}\n  got      {errors:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_display_and_diagnostic() {
    let errors = parse_scenario(
        Path::new("s.toml"),
        "name = \"x\"\ncolour = 1\n[[step]]\n",
        &suite(),
    )
    .unwrap_err();
    // Display: one plain line per error.
    assert_eq!(
        errors.to_string(),
        "s.toml:2:1: unknown key `colour` at the top level; accepted keys: name, list, step\n\
         s.toml:3:1: empty `[[step]]`: give it one or more of send, send_raw, expect_smtp, expect_delivered, expect_archived, expect_held, moderate, expect_not_delivered, expect_not_archived, expect_notice, expect_shunted, expect_bounced, expect_fate, expect_page, expect_private, expect_digest, expect_settings, expect_port, expect_ports, expect_http, expect_dns, stop, start, mta_queue_run, expect_queued, sink_fault, expect_every_list_answers, expect_mta_queue, expect_mailman_queues, expect_dns_ttl, expect_banner, expect_old_host, expect_permissions_clean, mta_hold, mta_release"
    );
    let first = &errors.errors[0];
    assert_eq!(
        (first.path(), first.line(), first.column()),
        (Path::new("s.toml"), 2, 1)
    );
    assert_eq!(first.location(), Some(location(2, 1)));

    // Diagnostic: the labelled snippet.
    let mut rendered = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut rendered, first)
        .unwrap();
    assert!(rendered.contains("colour = 1"), "{rendered}");
    assert!(rendered.contains("unknown key"), "{rendered}");
    assert!(rendered.contains("[s.toml:2:1]"), "{rendered}");

    // Errors without a position print just the path.
    let missing = load(&[PathBuf::from("/nonexistent/scenarios")]).unwrap_err();
    assert_eq!(missing.errors.len(), 1);
    assert!(
        missing
            .to_string()
            .starts_with("/nonexistent/scenarios: cannot read: "),
        "{missing}"
    );
    assert_eq!(missing.errors[0].location(), None);
}

#[test]
fn discover_finds_scenarios_sorted_and_skips_the_rest() {
    let dir = fixtures().join("valid");
    let found = discover(std::slice::from_ref(&dir)).unwrap();
    assert_eq!(
        found,
        [dir.join("member-post.toml"), dir.join("relay/refused.toml")]
    );
    // Explicit files are kept in the order given, the suite is skipped, and
    // a file named twice runs once.
    let found = discover(&[
        dir.join("relay/refused.toml"),
        dir.join("suite.toml"),
        dir.clone(),
    ])
    .unwrap();
    assert_eq!(
        found,
        [dir.join("relay/refused.toml"), dir.join("member-post.toml")]
    );
}

#[test]
fn load_a_valid_tree() {
    let dir = fixtures().join("valid");
    let plan = load(std::slice::from_ref(&dir)).unwrap();
    assert_eq!(plan.suite.path, dir.join("suite.toml"));
    assert_eq!(
        plan.suite.lists[0].address(),
        "probe-test@lists.example.test"
    );
    let names: Vec<&str> = plan.scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a member's post reaches every subscriber and the archive",
            "relaying to another domain is refused"
        ]
    );
    // A scenario in a subfolder finds the suite above it.
    let plan = load(&[dir.join("relay/refused.toml")]).unwrap();
    assert_eq!(plan.suite.path, dir.join("suite.toml"));
}

#[test]
fn load_reports_every_error_of_every_file() {
    let dir = fixtures().join("broken");
    let errors = load(std::slice::from_ref(&dir)).unwrap_err();
    let lines: Vec<String> = errors
        .errors
        .iter()
        .map(|e| e.to_string().replace(&format!("{}/", dir.display()), ""))
        .collect();
    assert_eq!(
        lines,
        [
            "suite.toml:2:1: unknown key `colour` at the top level; accepted keys: probe_domain, list",
            "syntax.toml:1:21: TOML syntax error: invalid basic string, expected `\"`",
            "two-errors.toml:5:17: invalid address `alice` in `send.from`: must contain exactly one `@`",
            "two-errors.toml:6:29: unknown key `when` in `expect_smtp`; accepted keys: code, text_contains, at",
        ]
    );
}

#[test]
fn load_refuses_scenarios_of_two_suites() {
    let valid = fixtures().join("valid/member-post.toml");
    let broken = fixtures().join("broken/two-errors.toml");
    let errors = load(&[valid, broken.clone()]).unwrap_err();
    let mismatch = errors
        .errors
        .iter()
        .find(|e| e.path() == broken)
        .expect("an error for the second suite's scenario");
    assert!(
        mismatch.message().contains("run one suite at a time"),
        "{mismatch}"
    );
    assert_eq!(mismatch.line(), 0);
}

#[test]
fn load_without_a_suite_or_scenarios() {
    // A scratch folder outside the repository, with no suite.toml above it.
    let dir = std::env::temp_dir().join(format!("mailflow-scenario-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    std::fs::write(dir.join("lonely.toml"), "name = \"x\"\n").unwrap();
    let lonely = load(&[dir.join("lonely.toml")]).unwrap_err();
    let empty = load(&[dir.join("empty")]).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        lonely.to_string().ends_with(
            "lonely.toml: no suite.toml in this file's directory or any directory above it"
        ),
        "{lonely}"
    );
    assert!(
        empty
            .to_string()
            .ends_with("empty: no scenario files (*.toml other than suite.toml) found"),
        "{empty}"
    );
}

#[test]
fn list_settings_and_moderated_members() {
    let suite = parse_suite(
        Path::new("suite.toml"),
        r#"
[[list]]
name = "probe-small"
domain = "lists.example.test"
members = ["alice@probe.test", "carol@probe.test"]
moderated = ["carol@probe.test"]
owners = ["olga@probe.test"]
moderators = ["mona@probe.test"]
archivers = { hyperkitty = true, prototype = false }

[list.settings]
default_member_action = "accept"
default_nonmember_action = "hold"
max_message_size = 1
emergency = true
subject_prefix = "[small] "
dmarc_mitigate_action = "munge_from"
archive_policy = "private"
require_explicit_destination = false
max_num_recipients = 3
description = "any key Mailman has"
acceptable_aliases = ["a@probe.test", "b@probe.test"]
bounce_score_threshold = 7
"#,
    )
    .expect("parses");
    let list = &suite.lists[0];
    assert_eq!(list.moderated, ["carol@probe.test"]);
    let values: Vec<(String, String)> = [
        ("default_member_action", "accept"),
        ("default_nonmember_action", "hold"),
        ("max_message_size", "1"),
        ("emergency", "true"),
        ("subject_prefix", "[small] "),
        ("dmarc_mitigate_action", "munge_from"),
        ("archive_policy", "private"),
        ("require_explicit_destination", "false"),
        ("max_num_recipients", "3"),
        ("description", "any key Mailman has"),
        ("acceptable_aliases", "a@probe.test"),
        ("acceptable_aliases", "b@probe.test"),
        ("bounce_score_threshold", "7"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(list.settings.rest_values(), values);
    // Each setting knows its line, for errors the server gives.
    let policy = list.settings.get("archive_policy").unwrap();
    assert_eq!((policy.at.line, policy.at.column), (18, 1));
    assert_eq!(policy.value, SettingValue::Text("private".into()));
    assert_eq!(list.owners, ["olga@probe.test"]);
    assert_eq!(list.moderators, ["mona@probe.test"]);
    let archivers: Vec<(&str, &SettingValue)> = list.archivers.iter().map(|a| (a.key.as_str(), &a.value)).collect();
    assert_eq!(archivers, [("hyperkitty", &SettingValue::Bool(true)), ("prototype", &SettingValue::Bool(false))]);
    // Nothing declared: nothing is changed.
    assert!(ListSettings::default().rest_values().is_empty());
}

#[test]
fn delivery_modes_shape_the_default_recipients() {
    let suite = parse_suite(
        Path::new("suite.toml"),
        r#"
[[list]]
name = "modes"
domain = "lists.example.test"
members = ["reg@probe.test", { address = "dig@probe.test", delivery = "mime_digests" }, { address = "off@probe.test", delivery = "disabled" }, { address = "reg2@probe.test", delivery = "regular" }]
"#,
    )
    .expect("parses");
    let list = &suite.lists[0];
    assert_eq!(list.members, ["reg@probe.test", "dig@probe.test", "off@probe.test", "reg2@probe.test"]);
    assert_eq!(list.delivery, [("dig@probe.test".to_string(), DeliveryMode::MimeDigests), ("off@probe.test".to_string(), DeliveryMode::Disabled)]);
    let scenario = parse_scenario(
        Path::new("s.toml"),
        "name = \"m\"\nlist = \"modes\"\n[[step]]\nsend = { from = \"reg@probe.test\", subject = \"s\" }\n[[step]]\nexpect_delivered = {}\n[[step]]\nexpect_digest = {}\n",
        &suite,
    )
    .expect("parses");
    match (&scenario.steps[1].kind, &scenario.steps[2].kind) {
        (StepKind::ExpectDelivered(d), StepKind::ExpectDigest(g)) => {
            assert_eq!(d.to, ["reg@probe.test", "reg2@probe.test"]);
            assert_eq!(d.not_to, ["dig@probe.test", "off@probe.test"]);
            assert_eq!(g.to, ["dig@probe.test"]);
            assert_eq!(g.list_id, "modes.lists.example.test");
        }
        other => panic!("{other:?}"),
    }
    let errors = suite_errors("[[list]]\nname = \"a\"\ndomain = \"d.test\"\nmembers = [{ address = \"x@probe.test\", delivery = \"digest\" }]\n");
    assert_eq!(
        errors,
        ["suite.toml:4:51: unknown delivery mode `digest` in `members.delivery`; expected one of regular, mime_digests, plaintext_digests, summary_digests, disabled"]
    );
}

#[test]
fn notices_to_a_role_go_to_the_suites_addresses_for_it() {
    let scenario = scenario(
        r#"name = "owners told"
list = "quiet"
[[step]]
send = { from = "x@probe.test", subject = "s" }
expect_notice = { to = "owner", subject_contains = "approval", body_contains = "s", within = "20s" }
[[step]]
expect_notice = { to = "moderator" }
[[step]]
expect_notice = { to = "someone@probe.test" }
"#,
    );
    let notices: Vec<(Vec<String>, Option<String>)> = scenario
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::ExpectNotice(n) => Some((n.to.clone(), n.role.clone())),
            _ => None,
        })
        .collect();
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        notices,
        [
            (owned(&["olga@probe.test", "otto@probe.test"]), Some("owner".to_string())),
            (owned(&["mona@probe.test"]), Some("moderator".to_string())),
            (owned(&["someone@probe.test"]), None),
        ]
    );
}

#[test]
fn moderation_steps() {
    let scenario = scenario(
        r#"name = "held, rejected, noticed"
list = "probe-test"

[[step]]
send = { from = "outsider@probe.test", subject = "held probe" }
expect_held = { reason_contains = "not from a list member", within = "30s" }
moderate = { action = "reject", comment = "no thanks" }
expect_notice = { subject_contains = "rejected", within = "20s" }
expect_not_delivered = { within = "5s" }
expect_not_archived = {}

[[step]]
moderate = "discard"
send_raw = { from = "x@probe.test", data = "Message-ID: {message_id}\nMessage-ID: {message_id}\n\nbody\n" }
expect_shunted = { within = "20s" }
"#,
    );
    let list = "probe-test@lists.example.test".to_string();
    let kinds: Vec<StepKind> = scenario.steps.into_iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds[1..],
        [
            StepKind::ExpectHeld(HeldExpectation {
                list: list.clone(),
                reason_contains: Some("not from a list member".into()),
                within: Duration::from_secs(30),
            }),
            StepKind::Moderate(Moderation {
                list: list.clone(),
                action: ModerationAction::Reject,
                comment: Some("no thanks".into()),
                within: Duration::from_secs(60),
            }),
            StepKind::ExpectNotice(NoticeExpectation {
                to: Vec::new(),
                role: None,
                subject_contains: Some("rejected".into()),
                body_contains: None,
                within: Duration::from_secs(20),
            }),
            StepKind::ExpectNotDelivered(Window {
                within: Duration::from_secs(5)
            }),
            StepKind::ExpectNotArchived(NotArchivedExpectation {
                list: list.clone(),
                archives: ArchiveKind::ALL.to_vec(),
                within: Duration::from_secs(10),
            }),
            StepKind::Moderate(Moderation {
                list: list.clone(),
                action: ModerationAction::Discard,
                comment: None,
                within: Duration::from_secs(60),
            }),
            StepKind::SendRaw(RawSendSpec {
                from: "x@probe.test".into(),
                to: vec![list.clone()],
                data: "Message-ID: {message_id}\nMessage-ID: {message_id}\n\nbody\n".into(),
            }),
            StepKind::ExpectShunted(Window {
                within: Duration::from_secs(20)
            }),
        ]
    );
}

#[test]
fn fate_and_bounce_steps() {
    let scenario = scenario(
        r#"name = "bounced, and followed by the probe header"
list = "probe-test"

[[step]]
send_raw = { from = "alice@probe.test", data = """
From: alice@probe.test
{probe_header}
Content-Type: multipart/mixed

no boundary
""" }
expect_bounced = { status = "5.x.x", diagnostic_contains = "Message has defects", within = "30s" }
expect_fate = "bounced"

[[step]]
send_raw = { from = "alice@probe.test", data = "Message-ID: <{message_id}>\n{probe_header}\n\nbody\n" }
expect_fate = { fate = "delivered", within = "20s" }
expect_bounced = {}
"#,
    );
    let kinds: Vec<StepKind> = scenario.steps.into_iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            StepKind::SendRaw(RawSendSpec {
                from: "alice@probe.test".into(),
                to: vec!["probe-test@lists.example.test".into()],
                data: "From: alice@probe.test\n{probe_header}\nContent-Type: multipart/mixed\n\nno boundary\n".into(),
            }),
            StepKind::ExpectBounced(BounceExpectation {
                status: Some(StatusPattern { class: 5, subject: None, detail: None }),
                diagnostic_contains: Some("Message has defects".into()),
                within: Duration::from_secs(30),
            }),
            StepKind::ExpectFate(FateExpectation { fate: Fate::Bounced, within: Duration::from_secs(60) }),
            StepKind::SendRaw(RawSendSpec {
                from: "alice@probe.test".into(),
                to: vec!["probe-test@lists.example.test".into()],
                data: "Message-ID: <{message_id}>\n{probe_header}\n\nbody\n".into(),
            }),
            StepKind::ExpectFate(FateExpectation { fate: Fate::Delivered, within: Duration::from_secs(20) }),
            StepKind::ExpectBounced(BounceExpectation { status: None, diagnostic_contains: None, within: Duration::from_secs(60) }),
        ]
    );
}

/// The header-bearing fields of `send`, one per line, so that each case
/// below changes one line and the error must point at that line.
const SEND_FIELDS: [&str; 9] = [
    "name = \"x\"",
    "list = \"probe-test\"",
    "",
    "[[step]]",
    "send.from = \"alice@probe.test\"",
    "send.to = [\"probe-test@lists.example.test\"]",
    "send.subject = \"s\"",
    "send.headers = { \"X-Extra\" = \"v\" }",
    "send.attachments = [{ name = \"a.txt\", content_type = \"text/plain\", size = 10 }]",
];

#[test]
fn cr_lf_and_nul_in_header_fields_are_refused_where_they_are() {
    // (field, line, that line with `^` where the character goes, column, message with
    // `{c}` for the character as shown and `{why}` for the reason).
    let cases: &[(&str, usize, &str, usize, &str)] = &[
        ("from", 5, "send.from = \"alice@probe.test^Bcc: leak@probe.test\"", 13,
         "invalid address `alice@probe.test{c}Bcc: leak@probe.test` in `send.from`: must be a single line without NUL: {why}"),
        ("to", 6, "send.to = [\"probe-test@lists.example.test^Bcc: leak@probe.test\"]", 12,
         "invalid address `probe-test@lists.example.test{c}Bcc: leak@probe.test` in each entry of `send.to`: must be a single line without NUL: {why}"),
        ("subject", 7, "send.subject = \"first^Bcc: leak@probe.test\"", 16,
         "`send.subject` must be a single line without NUL: {why}"),
        ("header name", 8, "send.headers = { \"X-Extra^Bcc\" = \"v\" }", 18,
         "invalid header name `X-Extra{c}Bcc` in `send.headers`: a header name must be printable ASCII without spaces or `:`"),
        ("header value", 8, "send.headers = { \"X-Extra\" = \"v^Bcc: leak@probe.test\" }", 30,
         "header `X-Extra` in `send.headers` must be a single line without NUL: {why}"),
        ("attachment name", 9, "send.attachments = [{ name = \"a.txt^Bcc: leak@probe.test\", content_type = \"text/plain\", size = 10 }]", 30,
         "`send.attachments.name` must be a single line without NUL: {why}"),
        ("attachment content_type", 9, "send.attachments = [{ name = \"a.txt\", content_type = \"text/plain^Bcc: leak@probe.test\", size = 10 }]", 54,
         "invalid content type `text/plain{c}Bcc: leak@probe.test` in `send.attachments.content_type`: must be a single line without NUL: {why}"),
    ];
    let characters = [
        ("\\r", "\\r", "a carriage return (CR) would end the header and start another"),
        ("\\n", "\\n", "a line feed (LF) would end the header and start another"),
        ("\\u0000", "\\u{0}", "a NUL character cannot be sent in a header"),
    ];
    // The file as it stands is valid.
    let valid = SEND_FIELDS.join("\n");
    let send = match &scenario(&valid).steps[0].kind {
        StepKind::Send(send) => send.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(send.attachments, [Attachment { name: "a.txt".into(), content_type: "text/plain".into(), size: 10 }]);

    let mut failures = Vec::new();
    for (field, line, text, column, message) in cases {
        for (escape, shown, why) in characters {
            let mut lines = SEND_FIELDS.to_vec();
            let changed = text.replace('^', escape);
            lines[line - 1] = &changed;
            let src = lines.join("\n");
            let expected = format!(
                "s.toml:{line}:{column}: {}",
                message.replace("{c}", shown).replace("{why}", why)
            );
            let errors = scenario_errors(&src);
            if errors != [expected.clone()] {
                failures.push(format!("{field} with {escape}:\n  expected {expected}\n  got      {errors:#?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn attachments_and_their_sizes() {
    let scenario = scenario(
        r#"name = "attachments"
list = "probe-test"

[[step]]
send = { from = "alice@probe.test", subject = "s", attachments = [
    { name = "big.bin", size = "64KB" },
    { name = "report.pdf", content_type = "application/pdf", size = 1000 },
    { name = "Grüße.txt", content_type = "text/plain", size = "2MB" },
    { name = "empty", size = 0 },
    { name = "largest", size = "100MB" },
] }
"#,
    );
    let StepKind::Send(send) = &scenario.steps[0].kind else {
        panic!("{:?}", scenario.steps[0]);
    };
    let attachment = |name: &str, content_type: &str, size: u64| Attachment {
        name: name.into(),
        content_type: content_type.into(),
        size,
    };
    assert_eq!(
        send.attachments,
        [
            attachment("big.bin", "application/octet-stream", 64 * 1024),
            attachment("report.pdf", "application/pdf", 1000),
            attachment("Grüße.txt", "text/plain", 2 * 1024 * 1024),
            attachment("empty", "application/octet-stream", 0),
            attachment("largest", "application/octet-stream", MAX_ATTACHMENT_SIZE),
        ]
    );
}

#[test]
fn a_folder_with_its_own_suite_is_left_out_of_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("cutover")).unwrap();
    for file in ["suite.toml", "a.toml", "cutover/suite.toml", "cutover/b.toml"] {
        std::fs::write(root.join(file), "").unwrap();
    }
    assert_eq!(discover(&[root.to_path_buf()]).unwrap(), [root.join("a.toml")]);
    assert_eq!(discover(&[root.join("cutover")]).unwrap(), [root.join("cutover/b.toml")]);
}
