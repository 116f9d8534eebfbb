//! The migration's commands against the container target, read as a hosts
//! target (the target file `mailflow up --write-target` writes): Mailman
//! 3's inventory through its REST API (paged) and the prototype archive
//! over ssh; `mailflow compare` of that inventory with the live server,
//! equal at first, then naming a list deleted and a member removed.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use mailflow::mailman::MailmanRest;
use mailflow::migration::inventory::{self, Flavour};
use mailflow::target::containers::{ContainersTarget, StartOptions};
use mailflow::target::hosts::{load_hosts, HostsTarget};
use mailflow::target::target_file::write_target_file;
use serde_json::Value;

const CLI_DEADLINE: Duration = Duration::from_secs(300);

#[test]
fn inventory_and_compare_of_the_container_through_its_target_file() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = support::shipped("scenarios");
    rt.block_on(async {
        let target = ContainersTarget::start_for_target_file(&plan.suite, StartOptions { web: false, ssh: true })
            .await
            .expect("the container target starts");
        support::then_remove(&target, async {
            let dir = tempfile::tempdir().unwrap();
            let written = write_target_file(&target, &dir.path().join("t.toml")).expect("the target file is written");
            let file = written.file.clone();
            let config = load_hosts(&file).expect("the written file loads");
            let hosts = HostsTarget::connect(config, &plan.suite.probe_domain).await.expect("the hosts target connects");

            // Every list of the suite, with its members, through REST.
            let inv = inventory::of_hosts(&hosts, true).await.expect("the inventory reads");
            assert_eq!(inv.mailman, Flavour::Mailman3);
            let names: BTreeSet<&str> = inv.lists.iter().map(|l| l.name.as_str()).collect();
            for decl in &plan.suite.lists {
                assert!(names.contains(decl.name.as_str()), "{} missing from {names:?}", decl.name);
                let l = inv.lists.iter().find(|l| l.name == decl.name).unwrap();
                let want: BTreeSet<String> = decl.members.iter().map(|m| m.to_ascii_lowercase()).collect();
                let got: BTreeSet<String> = l.member_addresses.clone().unwrap().into_iter().collect();
                assert_eq!(got, want, "members of {}", decl.name);
                assert_eq!(l.members as usize, want.len());
                assert_eq!(l.address.as_deref(), Some(format!("{}@{}", decl.name, decl.domain).as_str()));
                // The prototype archive was read over ssh (as `list`).
                assert_eq!((l.archive.source.as_deref(), &l.archive.unavailable), (Some("prototype"), &None), "{}", decl.name);
                for k in inventory::MM3_SETTINGS {
                    assert!(l.settings.contains_key(k), "{} lacks {k}: {:?}", decl.name, l.settings);
                }
            }
            let small = inv.lists.iter().find(|l| l.name == "probe-small").expect("probe-small");
            assert_eq!(small.settings["max_message_size"], 1);

            // The CLI: JSON that satisfies the schema.
            let (code, json, stderr) = mailflow(&["inventory", "--target", &file.display().to_string(), "--format", "json"]).await;
            assert_eq!(code, 0, "{stderr}");
            let value: Value = serde_json::from_str(&json).expect("JSON");
            let schema: Value = serde_json::from_str(include_str!("../harness/tests-data/migration/inventory.schema.json")).unwrap();
            let validator = jsonschema::draft202012::options().build(&schema).unwrap();
            let errors: Vec<String> = validator.iter_errors(&value).map(|e| format!("{e} at {}", e.instance_path())).collect();
            assert!(errors.is_empty(), "{}", errors.join("\n"));
            assert!(value.get("lists").and_then(Value::as_array).is_some_and(|l| l[0].get("member_addresses").is_none()));
            let saved = dir.path().join("before.json");
            std::fs::write(&saved, &json).unwrap();
            let (code, table, stderr) = mailflow(&["inventory", "--target", &file.display().to_string()]).await;
            assert_eq!(code, 0, "{stderr}");
            assert!(table.contains("probe-small") && table.contains("MEMBERS"), "{table}");

            // Equal to itself read live.
            let (code, out, stderr) = mailflow(&["compare", &saved.display().to_string(), &file.display().to_string()]).await;
            assert_eq!(code, 0, "{out}\n{stderr}");
            assert!(out.contains("equal"), "{out}");

            // A list deleted and a member removed: both named, exit 1.
            let rest = MailmanRest::new(hosts.rest().expect("REST"));
            rest.delete_list("probe-held.lists.example.test").await.expect("delete a list");
            let removed = hosts
                .rest()
                .unwrap()
                .call("DELETE", "/3.1/lists/probe-small.lists.example.test/member/ida@probe.test", &[])
                .await
                .expect("remove a member");
            assert_eq!(removed.status, 204, "{}", removed.body);
            let (code, out, stderr) = mailflow(&["compare", &saved.display().to_string(), &file.display().to_string()]).await;
            assert_eq!(code, 1, "{out}\n{stderr}");
            assert!(out.contains("DIFFERS: list `probe-held` is missing on the new server"), "{out}");
            assert!(out.contains("DIFFERS: list `probe-small`: members differ (2 old, 1 new)"), "{out}");
            assert!(!out.contains("ida@probe.test"), "addresses only with --show-addresses: {out}");
            assert!(out.ends_with("2 differences (0 allowed)\n"), "{out}");

            // Bad input: exit 2 with the place.
            let bad = dir.path().join("bad.json");
            std::fs::write(&bad, "{\n  \"schema\": 1,\n").unwrap();
            let (code, _, stderr) = mailflow(&["compare", &bad.display().to_string(), &saved.display().to_string()]).await;
            assert_eq!(code, 2, "{stderr}");
            assert!(stderr.contains(&format!("{}:2:", bad.display())), "{stderr}");
            let _ = Path::new(&file);
        })
        .await;
    });
}

async fn mailflow(args: &[&str]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mailflow"));
    cmd.args(args).env("NO_COLOR", "1").stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(CLI_DEADLINE, cmd.output()).await.expect("mailflow within its deadline").expect("run mailflow");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}
