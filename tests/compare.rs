//! `mailflow compare` between two lists containers, each read live through
//! its target file: the old host provisioned with the shipped suite, the
//! new one with a copy of it as a move gone wrong leaves it (a list not
//! imported, a member dropped, a list renamed, an archive month short).
//! Every difference is named and the exit is 1; then a second container
//! provisioned like the old one compares equal, exit 0. Apart: a list
//! archived by HyperKitty only is counted through HyperKitty's API.

mod support;

use std::path::Path;
use std::time::Duration;

use mailflow::migration::inventory::address_digest;
use mailflow::scenario::{Setting, SettingValue, Suite};
use mailflow::target::containers::{ContainersTarget, StartOptions};
use mailflow::target::target_file::write_target_file;
use serde_json::Value;

const CLI_DEADLINE: Duration = Duration::from_secs(300);
/// Without the web side: two containers run at once on a small machine.
const OPTIONS: StartOptions = StartOptions { web: false, ssh: true };

const DROPPED: &str = "probe-held";
const SHRUNK: &str = "probe-small";
const DROPPED_MEMBER: &str = "ida@probe.test";
const RENAMED: (&str, &str) = ("probe-pitfalls", "probe-pitfalls-new");
const ARCHIVED: &str = "probe-test";

/// The new host as a move gone wrong leaves it: [`DROPPED`] not imported,
/// [`DROPPED_MEMBER`] not on [`SHRUNK`], [`RENAMED`] under its new name.
fn migrated(old: &Suite) -> Suite {
    let mut new = old.clone();
    new.lists.retain(|l| l.name != DROPPED);
    let shrunk = new.lists.iter_mut().find(|l| l.name == SHRUNK).expect("the suite has the list");
    shrunk.members.retain(|m| m != DROPPED_MEMBER);
    let renamed = new.lists.iter_mut().find(|l| l.name == RENAMED.0).expect("the suite has the list");
    renamed.name = RENAMED.1.to_string();
    // The import carries the old list's settings over, its subject prefix
    // too (Mailman's default prefix is made from the list's name).
    let at = renamed.settings.values.first().map(|s| s.at.clone()).expect("the list has settings in the suite");
    renamed.settings.values.push(Setting { key: "subject_prefix".into(), value: SettingValue::Text("[Probe-pitfalls] ".into()), at });
    new
}

/// Archive history: `(list name, month, messages)`.
async fn seed(target: &ContainersTarget, suite: &Suite, months: &[(&str, &str, u32)]) {
    for (list, month, count) in months {
        let address = suite.list(list).unwrap_or_else(|| panic!("{list} in the suite")).address();
        target.seed_prototype_archive(&address, month, *count).await.expect("seed the archive");
    }
}

#[test]
fn compare_names_every_difference_between_two_containers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let old_suite = support::shipped("scenarios").suite;
    let new_suite = migrated(&old_suite);
    rt.block_on(async {
        // One after the other: started together on a loaded 2-core machine
        // (load 50, other builds and containers), neither was ready within
        // its start script's 120 s.
        let old = ContainersTarget::start_for_target_file(&old_suite, OPTIONS).await.expect("the old host starts");
        let new = match ContainersTarget::start_for_target_file(&new_suite, OPTIONS).await {
            Ok(new) => new,
            Err(e) => {
                let _ = old.shutdown().await;
                panic!("the new host starts: {e}");
            }
        };
        support::then_remove(&old, support::then_remove(&new, async {
            let dir = tempfile::tempdir().unwrap();
            // The new host's archive lacks one message of April 2019; the
            // renamed list's archive came along under its new name.
            let (old_pitfalls, new_pitfalls) = (RENAMED.0, RENAMED.1);
            seed(&old, &old_suite, &[(ARCHIVED, "2019-03", 3), (ARCHIVED, "2019-04", 2), (old_pitfalls, "2020-01", 2)]).await;
            seed(&new, &new_suite, &[(ARCHIVED, "2019-03", 3), (ARCHIVED, "2019-04", 1), (new_pitfalls, "2020-01", 2)]).await;
            let old_file = write_target_file(&old, &dir.path().join("old.toml")).expect("write old.toml").file;
            let new_file = write_target_file(&new, &dir.path().join("new.toml")).expect("write new.toml").file;
            let renames = dir.path().join("renames.toml");
            std::fs::write(&renames, format!("# invalid names renamed on import\n{} = \"{}\"\n", RENAMED.0, RENAMED.1)).unwrap();
            let (o, n, r) = (path(&old_file), path(&new_file), path(&renames));

            let (code, out, stderr) = mailflow(&["compare", &o, &n, "--renames", &r]).await;
            assert_eq!(code, 1, "{out}\n{stderr}");
            let ida = format!("sha256:{}", &address_digest(DROPPED_MEMBER)[..12]);
            let expected = [
                format!("DIFFERS: list `{DROPPED}` is missing on the new server"),
                format!("DIFFERS: list `{SHRUNK}`: members differ (2 old, 1 new); only on the old: {ida}"),
                format!("DIFFERS: list `{ARCHIVED}`: archive month 2019-04 holds 2 messages old, 1 new"),
            ];
            for line in &expected {
                assert!(out.lines().any(|l| l == line), "no line `{line}` in:\n{out}");
            }
            let differing: Vec<&str> = out.lines().filter(|l| l.starts_with("DIFFERS: ")).collect();
            println!("{out}");
            assert!(!out.contains(DROPPED_MEMBER), "addresses only with --show-addresses:\n{out}");
            assert!(!out.contains(&format!("`{}` is missing", RENAMED.0)) && !out.contains(&format!("`{}` is on the new server only", RENAMED.1)), "the rename map pairs them:\n{out}");
            assert!(out.contains(&format!("renamed: `{}` is `{}` on the new server", RENAMED.0, RENAMED.1)), "{out}");
            assert_eq!(differing.len(), expected.len(), "no other difference:\n{out}");
            assert!(out.ends_with(&format!("{} differences (0 allowed)\n", expected.len())), "{out}");

            // JSON: the same differences by kind.
            let (code, json, stderr) = mailflow(&["compare", &o, &n, "--renames", &r, "--format", "json"]).await;
            assert_eq!(code, 1, "{stderr}");
            let found: Vec<Value> = serde_json::from_str(&json).expect("a JSON array");
            let kinds: Vec<(&str, &str)> = found.iter().map(|f| (f["kind"].as_str().unwrap(), f["list"].as_str().unwrap())).collect();
            assert_eq!(kinds, [("missing", DROPPED), ("members", SHRUNK), ("archive", ARCHIVED)], "{json}");
            assert_eq!(found[2]["month"], "2019-04");

            // Without the rename map the renamed list is missing and added.
            let (code, out, _) = mailflow(&["compare", &o, &n]).await;
            assert_eq!(code, 1);
            assert!(out.contains(&format!("DIFFERS: list `{}` is missing on the new server", RENAMED.0)), "{out}");
            assert!(out.contains(&format!("DIFFERS: list `{}` is on the new server only", RENAMED.1)), "{out}");

            // Addresses with the flag that allows them.
            let (code, out, _) = mailflow(&["compare", &o, &n, "--renames", &r, "--show-addresses"]).await;
            assert_eq!(code, 1);
            assert!(out.contains(&format!("only on the old: {DROPPED_MEMBER}")), "{out}");

            // Allowed differences: still printed, marked; exit 0 when all are.
            let allow = dir.path().join("allowed.toml");
            std::fs::write(
                &allow,
                format!(
                    "[[allow]]\nkind = \"missing\"\nlist = \"{DROPPED}\"\n\n[[allow]]\nkind = \"members\"\nlist = \"probe-s*\"\n\n\
                     [[allow]]\nkind = \"archive\"\nlist = \"{ARCHIVED}\"\ndetail = \"2019-04\"\n"
                ),
            )
            .unwrap();
            let (code, out, stderr) = mailflow(&["compare", &o, &n, "--renames", &r, "--allow", &path(&allow)]).await;
            assert_eq!(code, 0, "{out}\n{stderr}");
            assert!(out.contains(&format!("allowed: list `{ARCHIVED}`: archive month 2019-04")), "{out}");
            assert!(out.ends_with("equal (3 allowed differences)\n"), "{out}");

            // A second container provisioned and seeded as the old host: equal.
            new.shutdown().await.expect("remove the new host's containers");
            let twin = ContainersTarget::start_for_target_file(&old_suite, OPTIONS).await.expect("the twin starts");
            support::then_remove(&twin, async {
                seed(&twin, &old_suite, &[(ARCHIVED, "2019-03", 3), (ARCHIVED, "2019-04", 2), (old_pitfalls, "2020-01", 2)]).await;
                let twin_file = path(&write_target_file(&twin, &dir.path().join("twin.toml")).expect("write twin.toml").file);
                let (code, out, stderr) = mailflow(&["compare", &o, &twin_file]).await;
                assert_eq!(code, 0, "{out}\n{stderr}");
                assert!(out.ends_with("equal (0 allowed differences)\n"), "{out}");
                assert!(!out.contains("DIFFERS"), "{out}");
            })
            .await;
        }))
        .await;
    });
}

/// The tests of this file one at a time: each starts lists containers.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_list_archived_by_hyperkitty_only_is_counted_through_its_api() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let suite = support::shipped("scenarios").suite;
    rt.block_on(async {
        let target = ContainersTarget::start_for_target_file(&suite, StartOptions { web: true, ssh: true }).await.expect("the container starts");
        support::then_remove(&target, async {
            let dir = tempfile::tempdir().unwrap();
            hyperkitty_only(&target, &suite).await;
            let file = path(&write_target_file(&target, &dir.path().join("t.toml")).expect("write t.toml").file);
            let (code, json, stderr) = mailflow(&["inventory", "--target", &file, "--format", "json"]).await;
            assert_eq!(code, 0, "{stderr}");
            let inv: Value = serde_json::from_str(&json).unwrap();
            let list = inv["lists"].as_array().unwrap().iter().find(|l| l["name"] == ARCHIVED).expect("the list");
            // Both posts are counted. Their month is not May 2019: on this
            // HyperKitty (1.3.7) the API's `date` of these posts was the
            // month they arrived in (seen: 2026-11); why is not known yet,
            // so the month is not asserted (README: "The migration").
            assert_eq!(list["archive"]["source"], "hyperkitty", "{json}");
            let counted: u64 = list["archive"]["months"].as_object().unwrap().values().filter_map(Value::as_u64).sum();
            assert_eq!(counted, 2, "{json}");
            // The other lists keep the prototype archiver's counts.
            let other = inv["lists"].as_array().unwrap().iter().find(|l| l["name"] == SHRUNK).expect("the list");
            assert_eq!(other["archive"]["source"], "prototype", "{json}");
        })
        .await;
    });
}

/// Switches [`ARCHIVED`]'s prototype archiver off (HyperKitty on) and
/// posts two messages dated May 2019 through exim and Mailman, then waits
/// (within a minute) until HyperKitty's API lists both.
async fn hyperkitty_only(twin: &ContainersTarget, suite: &Suite) {
    use mailflow::mailman::RestTransport as _;
    use mailflow::target::Target as _;
    let decl = suite.list(ARCHIVED).unwrap();
    let r = twin
        .call("PATCH", &format!("/3.1/lists/{}/archivers", decl.list_id()), &[("prototype", "false".into()), ("hyperkitty", "true".into())])
        .await
        .expect("PATCH archivers");
    assert_eq!(r.status, 204, "{}", r.body);
    let from = decl.members[0].clone();
    let rcpt = [decl.address()];
    for i in 1..=2 {
        let message = format!(
            "From: {from}\r\nTo: {}\r\nSubject: old post {i}\r\nDate: Wed, 15 May 2019 12:0{i}:00 +0000\r\n\
             Message-ID: <hk-{i}-{}@{}>\r\n\r\nfrom the old archive\r\n",
            rcpt[0],
            std::process::id(),
            suite.probe_domain
        );
        let envelope = mailflow::smtp::Envelope { helo: "mailflow.test", mail_from: &from, rcpt_to: &rcpt };
        mailflow::smtp::send(twin.smtp_addr(), &envelope, message.as_bytes(), Default::default()).await.expect("the list takes the post");
    }
    let web = twin.web().expect("the web side");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let dates = web.hyperkitty_dates(&decl.address()).await.unwrap_or_default();
        if dates.len() >= 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "HyperKitty did not archive the two posts within 60 s: {dates:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

async fn mailflow(args: &[&str]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mailflow"));
    cmd.args(args).env("NO_COLOR", "1").stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(CLI_DEADLINE, cmd.output()).await.expect("mailflow within its deadline").expect("run mailflow");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}
