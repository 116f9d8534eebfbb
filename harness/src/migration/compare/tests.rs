//! Each kind of difference, on hand-made inventories.

use super::*;
use crate::migration::inventory::{address_digest, ArchiveCounts};

fn list(name: &str, members: &[&str], months: &[(&str, u64)], settings: &[(&str, Value)]) -> ListInventory {
    let mut addresses: Vec<String> = members.iter().map(|m| m.to_string()).collect();
    addresses.sort();
    let mut member_digests: Vec<String> = addresses.iter().map(|a| address_digest(a)).collect();
    member_digests.sort();
    ListInventory {
        name: name.into(),
        address: None,
        members: addresses.len() as u64,
        member_digests,
        member_addresses: Some(addresses),
        owners: 1,
        moderators: 0,
        archive: ArchiveCounts {
            source: Some("pipermail".into()),
            months: months.iter().map(|(m, n)| (m.to_string(), *n)).collect(),
            unavailable: None,
        },
        settings: settings.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
    }
}

fn inventory(mailman: Flavour, lists: Vec<ListInventory>) -> Inventory {
    Inventory { schema: "mailflow-inventory/1".into(), server: "s".into(), mailman, taken_at: "2026-11-29T10:00:00Z".into(), lists }
}

fn mm21_settings(prefix: &str, max_kb: i64) -> Vec<(&'static str, Value)> {
    vec![
        ("default_member_moderation", Value::from(0)),
        ("member_moderation_action", Value::from(0)),
        ("generic_nonmember_action", Value::from(1)),
        ("emergency", Value::from(0)),
        ("max_message_size", Value::from(max_kb)),
        ("max_num_recipients", Value::from(10)),
        ("archive", Value::from(true)),
        ("archive_private", Value::from(0)),
        ("subject_prefix", Value::from(prefix.to_string())),
        ("require_explicit_destination", Value::from(true)),
    ]
}

fn mm3_settings(prefix: &str, max_kb: i64) -> Vec<(&'static str, Value)> {
    vec![
        ("default_member_action", Value::from("defer")),
        ("default_nonmember_action", Value::from("hold")),
        ("emergency", Value::from(false)),
        ("max_message_size", Value::from(max_kb)),
        ("max_num_recipients", Value::from(10)),
        ("archive_policy", Value::from("public")),
        ("subject_prefix", Value::from(prefix.to_string())),
        ("require_explicit_destination", Value::from(true)),
    ]
}

fn old() -> Inventory {
    inventory(
        Flavour::Mailman21,
        vec![
            list("announce", &["a@x.test", "b@x.test"], &[("2015-08", 3), ("2015-09", 5)], &mm21_settings("[A] ", 40)),
            list("gone", &["a@x.test"], &[], &mm21_settings("", 40)),
            list("old_name", &["c@x.test"], &[("2015-08", 1)], &mm21_settings("", 40)),
        ],
    )
}

#[test]
fn equal_inventories_across_versions_have_no_difference() {
    let old = inventory(Flavour::Mailman21, vec![list("announce", &["a@x.test"], &[("2015-08", 3)], &mm21_settings("[A] ", 40))]);
    let new = inventory(Flavour::Mailman3, vec![list("announce", &["A@x.test"], &[("2015-08", 3)], &mm3_settings("[A] ", 40))]);
    assert_eq!(compare(&old, &new, &Options::default()), Vec::new());
}

#[test]
fn every_kind_of_difference_is_named() {
    let mut announce = list("announce", &["a@x.test", "d@x.test"], &[("2015-08", 3)], &mm3_settings("[Announce] ", 40));
    announce.moderators = 2;
    let new = inventory(
        Flavour::Mailman3,
        vec![
            announce,
            list("new-name", &["c@x.test"], &[("2015-08", 1)], &mm3_settings("", 40)),
            list("fresh", &[], &[], &mm3_settings("", 40)),
        ],
    );
    let options = Options { renames: Renames::from([("old_name".to_string(), "new-name".to_string())]), ..Options::default() };
    let found: Vec<Difference> = compare(&old(), &new, &options).into_iter().map(|f| f.difference).collect();
    let d = |s: &str| format!("sha256:{}", &address_digest(s)[..12]);
    assert_eq!(
        found,
        vec![
            Difference::Members { list: "announce".into(), old: 2, new: 2, only_old: vec![d("b@x.test")], only_new: vec![d("d@x.test")] },
            Difference::Count { list: "announce".into(), role: "moderators".into(), old: 0, new: 2 },
            Difference::Archive { list: "announce".into(), month: "2015-09".into(), old: Some(5), new: None },
            Difference::Setting {
                list: "announce".into(),
                setting: "subject_prefix".into(),
                old: Some(Value::from("[A] ")),
                new: Some(Value::from("[Announce] "))
            },
            Difference::Missing { list: "gone".into(), expected_as: None },
            Difference::Added { list: "fresh".into() },
        ]
    );
    // Addresses only when asked for.
    let text: String = found.iter().map(|f| f.to_string()).collect();
    assert!(!text.contains("b@x.test"), "{text}");
    let shown = compare(&old(), &new, &Options { show_addresses: true, ..options.clone() });
    assert!(shown[0].difference.to_string().contains("only on the old: b@x.test; only on the new: d@x.test"), "{}", shown[0].difference);
    // The rename that paired two lists is said once, before the differences.
    let mut renames = options.renames.clone();
    renames.insert("never-there".into(), "fresh".into());
    assert_eq!(renamed(&old(), &new, &renames), [("old_name", "new-name")]);
    let text = human(&old(), &new, &shown, &options.renames);
    assert_eq!(text.lines().nth(1), Some("renamed: `old_name` is `new-name` on the new server (rename map), compared as one list"), "{text}");
}

#[test]
fn a_renamed_list_missing_under_its_new_name_says_so() {
    let new = inventory(Flavour::Mailman21, vec![]);
    let options = Options { renames: Renames::from([("old_name".to_string(), "new-name".to_string())]), ..Options::default() };
    let found = compare(&old(), &new, &options);
    assert!(found.iter().any(|f| f.difference == Difference::Missing { list: "old_name".into(), expected_as: Some("new-name".into()) }));
    assert!(found[2].difference.to_string().contains("expected as `new-name`"), "{}", found[2].difference);
}

#[test]
fn same_version_compares_native_settings_and_archives_not_counted_are_named() {
    let mut a = list("l", &[], &[], &mm21_settings("", 40));
    let mut b = list("l", &[], &[], &mm21_settings("", 100));
    b.archive.unavailable = Some("no shell".into());
    a.settings.insert("respond_to_post_requests".into(), Value::from(true));
    let found: Vec<Difference> = compare(&inventory(Flavour::Mailman21, vec![a]), &inventory(Flavour::Mailman21, vec![b]), &Options::default())
        .into_iter()
        .map(|f| f.difference)
        .collect();
    assert_eq!(
        found,
        vec![
            Difference::ArchiveUncounted { list: "l".into(), side: "new".into(), reason: "no shell".into() },
            Difference::Setting { list: "l".into(), setting: "max_message_size".into(), old: Some(Value::from(40)), new: Some(Value::from(100)) },
            Difference::Setting { list: "l".into(), setting: "respond_to_post_requests".into(), old: Some(Value::from(true)), new: None },
        ]
    );
}

#[test]
fn allowances_match_by_kind_list_glob_and_detail() {
    let new = inventory(Flavour::Mailman3, vec![list("announce", &["a@x.test", "b@x.test"], &[("2015-08", 3), ("2015-09", 5)], &mm3_settings("[B] ", 40))]);
    let allowed = vec![
        Allowance { kind: Some("setting".into()), list: Some("ann*".into()), detail: Some("subject_prefix".into()) },
        Allowance { kind: Some("missing".into()), list: None, detail: None },
    ];
    let found = compare(&old(), &new, &Options { allowed, ..Options::default() });
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.iter().all(|f| f.allowed), "{found:?}");
    let text = human(&old(), &new, &found, &Renames::new());
    assert!(text.ends_with("equal (3 allowed differences)\n"), "{text}");
    assert!(crate::scenario::sweep::star_match("a*b*c", "axxbyyc") && !crate::scenario::sweep::star_match("a*b", "ba") && crate::scenario::sweep::star_match("*", "") && !crate::scenario::sweep::star_match("ab*ba", "aba"));
}

#[test]
fn bad_files_name_their_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("old.json");
    std::fs::write(&json, "{\n  \"schema\": \"mailflow-inventory/1\",\n  \"lists\": [,]\n}\n").unwrap();
    let e = load_inventory(&json).unwrap_err();
    assert_eq!(e.place, Some((3, 13)), "{e}");
    assert!(e.to_string().starts_with(&format!("{}:3:13: ", json.display())), "{e}");

    let toml = dir.path().join("allow.toml");
    std::fs::write(&toml, "[[allow]]\nkind = \"setting\"\nlsit = \"x\"\n").unwrap();
    let e = load_allowances(&toml).unwrap_err();
    assert_eq!(e.place, Some((3, 1)), "{e}");
    std::fs::write(&toml, "[[allow]]\nkind = \"settings\"\n").unwrap();
    assert!(load_allowances(&toml).unwrap_err().to_string().contains("unknown kind `settings`"));

    let renames = dir.path().join("renames.toml");
    std::fs::write(&renames, "old_name = \"new-name\"\nbroken = \n").unwrap();
    assert_eq!(load_renames(&renames).unwrap_err().place.map(|p| p.0), Some(2));
    std::fs::write(&renames, "old_name = \"new-name\"\n").unwrap();
    assert_eq!(load_renames(&renames).unwrap()["old_name"], "new-name");
}
