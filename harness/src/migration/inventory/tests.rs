//! Mailman 2.1's inventory on the recorded command outputs of a real
//! 2.1.39 (`../shared/fixtures/mailman21/cmd/`) and its archive folder,
//! through a shell that answers `bin/` commands with the recordings and
//! runs the counting script here on the recorded archive files.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::*;
use crate::BoxFuture;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/mailman21")
}

/// Answers `bin/<command>` with `cmd/<recording>.txt` (its trailing
/// `rc=N` line is the exit code) and runs `sh` here; records every argv.
struct RecordedServer {
    calls: Mutex<Vec<Vec<String>>>,
}

impl RecordedServer {
    fn recording(name: &str) -> (i64, String, String) {
        let text = std::fs::read_to_string(fixtures().join("cmd").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = text.trim_end();
        let (body, rc) = text.rsplit_once('\n').unwrap_or(("", text));
        let code = rc.strip_prefix("rc=").and_then(|n| n.parse().ok()).expect("rc=N");
        (code, format!("{body}\n"), String::new())
    }
}

impl Shell for RecordedServer {
    fn exec<'a>(&'a self, argv: &'a [&'a str]) -> BoxFuture<'a, Result<(i64, String, String), TargetError>> {
        self.calls.lock().unwrap().push(argv.iter().map(|s| s.to_string()).collect());
        Box::pin(async move {
            let program = argv[0].rsplit('/').next().unwrap();
            Ok(match (program, &argv[1..]) {
                ("list_lists", ["-b"]) => Self::recording("list_lists-b.txt"),
                ("list_members", [list]) => Self::recording(&format!("list_members-{list}.txt")),
                ("config_list", ["-o", "-", list]) => Self::recording(&format!("config_list-o-{list}.txt")),
                ("sh", args) => {
                    let out = std::process::Command::new("sh").args(args).output().expect("sh runs");
                    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
                    (out.status.code().unwrap_or(-1) as i64, text(out.stdout), text(out.stderr))
                }
                other => panic!("unexpected command {other:?}"),
            })
        })
    }
}

fn paths(archives: &Path) -> mm21::Paths {
    mm21::Paths { archives: archives.display().to_string(), ..mm21::Paths::default() }
}

#[tokio::test]
async fn mailman21_inventory_from_the_recorded_commands_and_archive() {
    let server = RecordedServer { calls: Mutex::new(Vec::new()) };
    let inv = mailman21(&server, &paths(&fixtures().join("archives")), "old-host", true).await.expect("the inventory reads");
    assert_eq!(inv.mailman, Flavour::Mailman21);
    let names: Vec<&str> = inv.lists.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["mailman", "probe-private", "probe-test"]);

    let test = &inv.lists[2];
    assert_eq!(test.address.as_deref(), Some("probe-test@lists.example.test"));
    assert_eq!(test.members, 2);
    assert_eq!(test.member_addresses.as_deref(), Some(&["alice@probe.test".to_string(), "bob@probe.test".to_string()][..]));
    assert_eq!(test.member_digests[0].len(), 64);
    assert!(test.member_digests.contains(&address_digest("Alice@Probe.test")));
    assert_eq!((test.owners, test.moderators), (1, 0));
    // Four messages in the month's .txt (000000.html to 000003.html).
    assert_eq!(test.archive.source.as_deref(), Some("pipermail"));
    assert_eq!(test.archive.months, BTreeMap::from([("2026-11".to_string(), 4)]));
    assert_eq!(test.settings["subject_prefix"], "[Probe-test] ");
    assert_eq!(test.settings["max_message_size"], 40);
    assert_eq!(test.settings["archive"], true);
    let common = test.common_settings(Flavour::Mailman21);
    assert_eq!(common["member_action"], "defer");
    assert_eq!(common["nonmember_action"], "hold");
    assert_eq!(common["archive_policy"], "public");
    assert_eq!(common["max_num_recipients"], 10);
    assert_eq!(common["emergency"], false);

    let private = &inv.lists[1];
    assert_eq!(private.members, 2);
    assert_eq!(private.archive.months, BTreeMap::from([("2026-11".to_string(), 2)]));
    assert_eq!(private.common_settings(Flavour::Mailman21)["archive_policy"], "private");
    // The site list has an archive folder without month files.
    assert_eq!(inv.lists[0].archive.months, BTreeMap::new());
    assert_eq!(inv.lists[0].archive.unavailable, None);

    // Nothing but the read-only commands ran.
    let calls = server.calls.lock().unwrap();
    for c in calls.iter() {
        let p = c[0].rsplit('/').next().unwrap();
        assert!(["list_lists", "list_members", "config_list", "sh"].contains(&p), "{c:?}");
    }
}

#[tokio::test]
async fn gzipped_month_files_are_counted_too() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("private/probe-test");
    std::fs::create_dir_all(&dir).unwrap();
    let txt = std::fs::read(fixtures().join("archives/private/probe-test/2026-November.txt")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &txt).unwrap();
    std::fs::write(dir.join("2026-October.txt.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(dir.join("2026-November.txt"), &txt).unwrap();
    // A month kept both ways is counted once, from its .txt.
    std::fs::write(dir.join("2026-November.txt.gz"), b"not read").unwrap();
    let server = RecordedServer { calls: Mutex::new(Vec::new()) };
    let months = pipermail_months(&server, &paths(root.path()), "probe-test").await.unwrap();
    assert_eq!(months, BTreeMap::from([("2026-10".to_string(), 4), ("2026-11".to_string(), 4)]));
    let missing = pipermail_months(&server, &paths(root.path()), "no-such-list").await.unwrap();
    assert!(missing.is_empty());
}

#[test]
fn python_literals_read_as_json() {
    assert_eq!(py_value("True"), Value::Bool(true));
    assert_eq!(py_value("0"), Value::from(0));
    assert_eq!(py_value("5.0"), Value::from(5.0));
    assert_eq!(py_value("'[Probe-test] '"), Value::from("[Probe-test] "));
    assert_eq!(py_value(r"'it\'s \xe9'"), Value::from("it's \u{e9}"));
    assert_eq!(py_value("u\"x\""), Value::from("x"));
    assert_eq!(py_value("['a@x', \"b@y\"]"), serde_json::json!(["a@x", "b@y"]));
    assert_eq!(py_value("[]"), serde_json::json!([]));
    assert_eq!(pipermail_month("2015-August"), "2015-08");
    assert_eq!(pipermail_month("2026q4"), "2026q4");
}

#[test]
fn mailman3_settings_map_to_the_common_names() {
    let list = ListInventory {
        name: "a".into(),
        address: None,
        members: 0,
        member_digests: vec![],
        member_addresses: None,
        owners: 0,
        moderators: 0,
        archive: ArchiveCounts::default(),
        settings: BTreeMap::from([
            ("default_member_action".to_string(), Value::from("defer")),
            ("default_nonmember_action".to_string(), Value::from("hold")),
            ("archive_policy".to_string(), Value::from("private")),
            ("emergency".to_string(), Value::from(false)),
            ("max_message_size".to_string(), Value::from(40)),
        ]),
    };
    let c = list.common_settings(Flavour::Mailman3);
    assert_eq!(c["member_action"], "defer");
    assert_eq!(c["nonmember_action"], "hold");
    assert_eq!(c["archive_policy"], "private");
    assert_eq!(c["emergency"], false);
    assert_eq!(c["max_message_size"], 40);
}

#[test]
fn the_json_satisfies_its_schema() {
    let schema: Value = serde_json::from_str(include_str!("../../../tests-data/migration/inventory.schema.json")).unwrap();
    jsonschema::draft202012::meta::validate(&schema).expect("a draft 2020-12 schema");
    let validator = jsonschema::draft202012::options().build(&schema).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = RecordedServer { calls: Mutex::new(Vec::new()) };
    for with_addresses in [false, true] {
        let inv = rt.block_on(mailman21(&server, &paths(&fixtures().join("archives")), "old-host", with_addresses)).unwrap();
        let mut json = serde_json::to_value(&inv).unwrap();
        let errors: Vec<String> = validator.iter_errors(&json).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        let back: Inventory = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, inv);
        // The schema can fail: a list without its members count.
        json["lists"][0].as_object_mut().unwrap().remove("members");
        assert!(!validator.is_valid(&json));
    }
    let inv = rt.block_on(mailman21(&server, &paths(&fixtures().join("archives")), "old-host", false)).unwrap();
    let t = table(&inv);
    assert!(t.contains("probe-test") && t.contains("probe-test archive: 2026-11 4"), "{t}");
}
