//! The `mailflow` binary on bad input: exit code 2 and a message that points
//! at file, line and column. Nothing here needs Docker: loading fails first.

use std::path::Path;
use std::process::Command;

fn mailflow(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailflow")).args(args).output().expect("run mailflow");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mailflow-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (f, text) in files {
        std::fs::write(dir.join(f), text).unwrap();
    }
    dir
}

const SUITE: &str = "[[list]]\nname = \"probe-test\"\ndomain = \"lists.example.test\"\nmembers = [\"alice@probe.test\"]\n";

#[test]
fn unknown_key_exits_2_with_position() {
    let dir = scratch("unknown", &[("suite.toml", SUITE), ("bad.toml", "name = \"x\"\nlist = \"probe-test\"\n\n[[step]]\nsned = { from = \"a@probe.test\", subject = \"s\" }\n")]);
    let (code, _, err) = mailflow(&["run", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    let want = format!("{}:5:1", dir.join("bad.toml").display());
    assert!(err.contains(&want), "expected {want} in:\n{err}");
    assert!(err.contains("sned"), "{err}");
}

#[test]
fn syntax_error_exits_2_with_position() {
    let dir = scratch("syntax", &[("suite.toml", SUITE), ("bad.toml", "name = \"x\"\n[[step]\n")]);
    let (code, _, err) = mailflow(&["run", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{}:2:", dir.join("bad.toml").display())), "{err}");
}

#[test]
fn all_errors_of_a_file_at_once() {
    let dir = scratch(
        "many",
        &[("suite.toml", SUITE), ("bad.toml", "name = \"x\"\ncolour = 1\n\n[[step]]\nexpect_delivered = { within = \"soon\" }\n")],
    );
    let (code, _, err) = mailflow(&["list", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.toml:2:1"), "{err}");
    assert!(err.contains("bad.toml:5:"), "{err}");
}

#[test]
fn missing_path_exits_2() {
    let (code, _, err) = mailflow(&["run", "/nonexistent/mailflow-scenarios"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/mailflow-scenarios"), "{err}");
}

#[test]
fn list_shows_the_shipped_scenarios() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let (code, out, err) = mailflow(&["list", root.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("member-post.toml"), "{out}");
    assert!(out.contains("relay.toml"), "{out}");
}

fn shipped() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// The scenario files `list` printed, one per line.
fn listed(out: &str) -> Vec<String> {
    out.lines().map(|l| l.split("  ").next().unwrap_or("").to_string()).collect()
}

#[test]
fn list_with_filters_shows_what_they_select() {
    let (code, out, err) = mailflow(&["list", shipped().to_str().unwrap(), "--filter", "refusal/", "--filter", "delivery/member"]);
    assert_eq!(code, 0, "{err}");
    let files = listed(&out);
    assert_eq!(files.len(), 3, "{out}");
    assert!(files.iter().any(|f| f.ends_with("refusal/relay.toml")), "{out}");
    assert!(files.iter().any(|f| f.ends_with("refusal/unknown-list.toml")), "{out}");
    assert!(files.iter().any(|f| f.ends_with("delivery/member-post.toml")), "{out}");
}

#[test]
fn partitions_cover_every_scenario_exactly_once() {
    let (code, all, err) = mailflow(&["list", shipped().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let mut halves = Vec::new();
    for part in ["1/2", "2/2"] {
        let (code, out, err) = mailflow(&["list", shipped().to_str().unwrap(), "--partition", part]);
        assert_eq!(code, 0, "{part}: {err}");
        assert!(!out.is_empty(), "{part} selects something");
        halves.extend(listed(&out));
    }
    let mut all = listed(&all);
    all.sort();
    halves.sort();
    assert_eq!(halves, all);
}

#[test]
fn bad_partition_exits_2() {
    for bad in ["3/2", "0/2", "1/0", "half"] {
        let (code, _, err) = mailflow(&["list", shipped().to_str().unwrap(), "--partition", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("--partition"), "{bad}: {err}");
    }
}

#[test]
fn selecting_nothing_exits_2_naming_the_filters() {
    for command in ["list", "run"] {
        let (code, out, err) = mailflow(&[command, shipped().to_str().unwrap(), "--filter", "no-such-scenario", "--filter", "Relay"]);
        assert_eq!(code, 2, "{command}: {out}{err}");
        assert!(err.contains("--filter \"no-such-scenario\" or --filter \"Relay\""), "{command}: {err}");
    }
}

#[test]
fn nagios_reports_bad_input_as_unknown() {
    let dir = scratch("nagios", &[("suite.toml", SUITE), ("bad.toml", "name = \"x\"\n[[step]\n")]);
    let (code, out, err) = mailflow(&["run", dir.to_str().unwrap(), "--format", "nagios"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.starts_with("MAILFLOW UNKNOWN"), "{out}");
    // A usage error too.
    let (code, _, err) = mailflow(&["run", "--format", "nagios", "--partition", "3/2"]);
    assert_eq!(code, 3, "{err}");
    let (code, out, err) = mailflow(&["run", shipped().to_str().unwrap(), "--format", "nagios", "--filter", "nothing-like-this"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.starts_with("MAILFLOW UNKNOWN"), "{out}");
}

#[test]
fn machine_formats_report_a_selection_of_nothing() {
    let json_file = std::env::temp_dir().join(format!("mailflow-cli-{}.json", std::process::id()));
    let (code, out, err) =
        mailflow(&["run", shipped().to_str().unwrap(), "--format", "tap", "--json", json_file.to_str().unwrap(), "--filter", "nothing-like-this"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("Bail out!"), "{out}");
    let json = std::fs::read_to_string(&json_file).expect("the JSON report was written");
    assert!(json.lines().next().unwrap_or("").contains("\"setup_failed\""), "{json}");
    let _ = std::fs::remove_file(json_file);
}

#[test]
fn bad_output_options_exit_2() {
    let (code, _, err) = mailflow(&["run", shipped().to_str().unwrap(), "--warning", "5s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--format nagios"), "{err}");
    let (code, _, err) = mailflow(&["run", shipped().to_str().unwrap(), "--junit", "/nonexistent-folder/junit.xml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent-folder/junit.xml"), "{err}");
}
