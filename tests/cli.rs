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

/// A loopback listener that counts connections and, when asked, plays a
/// plain SMTP server offering neither STARTTLS nor AUTH.
fn counting_listener(speak: bool) -> (std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if !speak {
                continue;
            }
            let _ = stream.write_all(b"220 fake ESMTP\r\n");
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                let reply: &[u8] = if line.starts_with("EHLO") { b"250-fake\r\n250 SIZE 1000\r\n" } else { b"221 bye\r\n" };
                let _ = stream.write_all(reply);
                if !line.starts_with("EHLO") {
                    break;
                }
                line.clear();
            }
        }
    });
    (addr, count)
}

fn shipped_scenarios() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").display().to_string()
}

#[test]
fn dry_run_against_a_target_file_sends_nothing() {
    let (addr, count) = counting_listener(false);
    let dir = scratch("dry-run", &[("t.toml", &format!("name = \"lists.example.test\"\n[smtp]\naddresses = [\"{addr}\"]\nstarttls = \"off\"\n"))]);
    let target = dir.join("t.toml").display().to_string();
    let (code, out, err) = mailflow(&["run", "--target", &target, "--dry-run", "--filter", "refusal/", &shipped_scenarios()]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("dry run: would send MAIL FROM:<"), "{out}");
    assert!(out.contains(&addr.to_string()), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 0, "the dry run connected to the SMTP listener");
    // Without a target file a dry run is refused: nothing to be careful about.
    let (code, _, err) = mailflow(&["run", "--dry-run", "--filter", "refusal/", &shipped_scenarios()]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_bad_target_file_exits_2_with_its_position() {
    let dir = scratch("bad-target", &[("t.toml", "name = \"x\"\n[smtp]\naddresses = [\"192.0.2.1:25\"]\npassword = \"plain\"\n")]);
    let target = dir.join("t.toml").display().to_string();
    let (code, _, err) = mailflow(&["run", "--target", &target, &shipped_scenarios()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{target}:4:")), "{err}");
    assert!(!err.contains("\"plain\"") || err.contains("password_env"), "{err}");
}

/// Secrets set for SMTP AUTH, Mailman's REST API and IMAP never appear in
/// any output format, whatever fails.
#[test]
fn secrets_appear_in_no_output() {
    let (addr, _count) = counting_listener(true);
    let secrets = [("MAILFLOW_T_SMTP", "smtp-Secret-4711"), ("MAILFLOW_T_REST", "rest-Secret-0815"), ("MAILFLOW_T_IMAP", "imap-Secret-1234")];
    let base = format!(
        "name = \"lists.example.test\"\n[smtp]\naddresses = [\"{addr}\"]\nstarttls = \"optional\"\nverify = false\nuser = \"prober\"\npassword_env = \"MAILFLOW_T_SMTP\"\n[mailman]\nversion = \"3\"\nrest_url = \"http://127.0.0.1:9\"\npassword_env = \"MAILFLOW_T_REST\"\n[allow]\nmoderate = true\n[limits]\nprobes_per_minute = 600\n"
    );
    let with_imap = format!("{base}[mailbox]\nkind = \"imap\"\nhost = \"127.0.0.1\"\nport = 9\ntls = \"plain\"\nuser = \"u\"\npassword_env = \"MAILFLOW_T_IMAP\"\n");
    let dir = scratch("secrets", &[("t.toml", &base), ("t-imap.toml", &with_imap)]);
    for file in ["t.toml", "t-imap.toml"] {
        let target = dir.join(file).display().to_string();
        let outputs: Vec<String> = ["json", "junit", "tap", "prom"].iter().map(|e| dir.join(format!("{file}.{e}")).display().to_string()).collect();
        let out = Command::new(env!("CARGO_BIN_EXE_mailflow"))
            .args(["run", "--target", &target, "--filter", "moderation/nonmember-discard", "--filter", "refusal/relay"])
            .args(["--json", &outputs[0], "--junit", &outputs[1], "--tap", &outputs[2], "--prometheus", &outputs[3]])
            .arg(shipped_scenarios())
            .envs(secrets)
            .output()
            .expect("run mailflow");
        let mut everything = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        for o in &outputs {
            everything.push_str(&std::fs::read_to_string(o).unwrap_or_default());
        }
        assert!(!out.status.success(), "{everything}");
        for (_, secret) in secrets {
            assert!(!everything.contains(secret), "{secret} appears in the output of {file}:\n{everything}");
        }
        if file == "t.toml" {
            assert!(everything.contains("no password was sent"), "{everything}");
        }
    }
}
