//! Mailman 2.1, which no package source here offers: its observers are
//! checked against pages, files, command outputs and logs recorded from a
//! real Mailman 2.1.39 (`../shared/fixtures/mailman21/` beside the repository;
//! its README tells what they show), read directly, and replayed byte for
//! byte by a stand-in web server on loopback to a scenario run through the
//! hosts target.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::Uri;
use axum::http::{HeaderMap, Method, Response};
use axum::routing::get;
use axum::Router;

use mailflow::check::Outcome;
use mailflow::mailman::select_own;
use mailflow::mailman21::admindb::{self, AdminDbPage};
use mailflow::mailman21::{cmd, listinfo, logs, pipermail};
use mailflow::probe::RunId;
use mailflow::run::run_all;
use mailflow::scenario::load;
use mailflow::sink::Sink;
use mailflow::target::hosts::{parse_hosts, HostsTarget};
use mailflow::target::HeldQueue;

/// The recordings: `../shared/fixtures/mailman21` from the repository root.
fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/mailman21");
    assert!(dir.join("README.md").is_file(), "the Mailman 2.1 recordings are missing: expected {} (clone `shared` beside the repository)", dir.display());
    dir
}

fn read(rel: &str) -> String {
    let path = fixtures().join(rel);
    String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).into_owned()
}

/// A recorded command's output without the `rc=N` line the recording added.
fn output(rel: &str) -> String {
    let text = read(rel);
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("rc=")).collect();
    kept.join("\n") + "\n"
}

fn page(name: &str) -> AdminDbPage {
    admindb::parse_page(&read(&format!("web/{name}.html"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The recorded status line's code.
fn status_of(name: &str) -> u16 {
    let headers = read(&format!("web/{name}.headers.txt"));
    headers.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status line")
}

#[test]
fn admindb_pages_as_recorded() {
    let details = page("08-admindb-probe-test-details-all");
    let got: Vec<(u64, &str, &str, Option<&str>)> =
        details.requests().iter().map(|r| (r.id, r.sender.as_str(), r.reason.as_str(), r.message_id.as_deref())).collect();
    assert_eq!(
        got,
        vec![
            (1, "carol@example.test", "Post by non-member to a members-only list", Some("<nm1.question@example.test>")),
            (2, "dave@probe.test", "Post by non-member to a members-only list", Some("<nm2.offer@probe.test>")),
            (3, "alice@probe.test", "Message body is too big: 6411 bytes with a limit of 1 KB", Some("<m4.large@probe.test>")),
        ]
    );
    assert_eq!(details.requests()[0].subject, "Question from a non-member");
    assert_eq!(details.requests()[0].received, "Sun Nov 29 09:49:36 2026");
    let AdminDbPage::Requests { csrf_token: Some(token), .. } = &details else { panic!("no token: {details:?}") };
    assert!(token.starts_with("2802"), "{token}");

    for summary in ["06-admindb-probe-test-login-ok", "07-admindb-probe-test-summary-cookie"] {
        let mut ids: Vec<(u64, String)> = page(summary).requests().iter().map(|r| (r.id, r.sender.clone())).collect();
        ids.sort();
        assert_eq!(
            ids,
            vec![(1, "carol@example.test".into()), (2, "dave@probe.test".into()), (3, "alice@probe.test".into())],
            "{summary}"
        );
    }
    let one = page("09-admindb-probe-test-msgid-1");
    assert_eq!(one.requests().len(), 1);
    assert_eq!(one.requests()[0].message_id.as_deref(), Some("<nm1.question@example.test>"));

    // Without the token: 200, an error, and request 2 still there.
    let refused = page("11-admindb-probe-test-post-discard-2-no-csrf");
    assert_eq!(status_of("11-admindb-probe-test-post-discard-2-no-csrf"), 200);
    let AdminDbPage::Requests { error: Some(error), .. } = &refused else { panic!("{refused:?}") };
    assert!(error.contains("form lifetime has expired"), "{error}");
    assert!(admindb::confirm(mailflow::scenario::ModerationAction::Discard, 2, &refused).is_err());
    // With it: request 2 gone, 1 and 3 left.
    for after in ["12-admindb-probe-test-post-discard-2", "14-admindb-probe-test-after-discard-cookie"] {
        let mut ids: Vec<u64> = page(after).requests().iter().map(|r| r.id).collect();
        ids.sort();
        assert_eq!(ids, vec![1, 3], "{after}");
        assert!(admindb::confirm(mailflow::scenario::ModerationAction::Discard, 2, &page(after)).is_ok());
    }
    for empty in ["16-admindb-probe-private-login-ok-no-pending", "17-admindb-probe-private-no-pending-cookie"] {
        assert_eq!(page(empty), AdminDbPage::Empty, "{empty}");
    }
    for login in ["04-admindb-probe-test-login-form", "05-admindb-probe-test-login-badpw", "15-admindb-probe-private-login-form", "37-admindb-probe-test-logout"] {
        assert_eq!(page(login), AdminDbPage::Login, "{login}");
    }
    assert_eq!(status_of("05-admindb-probe-test-login-badpw"), 401);
    assert!(read("web/06-admindb-probe-test-login-ok.headers.txt").contains("Set-Cookie: probe-test+admin="));
}

/// Every message of a month's text file, by Message-ID, plain and gzip'd;
/// and every message page links back to one of them.
#[test]
fn pipermail_archives_as_recorded() {
    let root = fixtures();
    let plain = pipermail::month_text(&std::fs::read(root.join("archives/private/probe-test/2026-November.txt")).unwrap()).unwrap();
    let gz = pipermail::month_text(&std::fs::read(root.join("archives-gzip-variant/probe-test/2026-November.txt.gz")).unwrap()).unwrap();
    let ids = |text: &str| -> Vec<String> { pipermail::parse_month_text(text).into_iter().filter_map(|m| m.message_id).collect() };
    let expected = ["<m1.hello@probe.test>", "<m2.gruesse@probe.test>", "<m3.attach@probe.test>", "<m5.reply-gruesse@probe.test>"];
    assert_eq!(ids(&plain), expected);
    assert_eq!(ids(&gz), expected);
    let messages = pipermail::parse_month_text(&plain);
    assert_eq!(messages[1].subject, "[Probe-test] Grüße aus München");
    assert_eq!(messages[0].from, "alice at probe.test (Alice Example)");
    assert!(messages[0].body.starts_with("Hi all,"));

    for (index, dir) in [(pipermail::parse_index(&read("archives/private/probe-test/index.html")), "plain"), (pipermail::parse_index(&read("archives-gzip-variant/probe-test/index.html")), "gzip")] {
        let want = if dir == "plain" { "2026-November.txt" } else { "2026-November.txt.gz" };
        assert_eq!(index.len(), 1);
        assert_eq!((index[0].name.as_str(), index[0].text_file.as_deref()), ("2026-November", Some(want)));
    }
    let dated = pipermail::parse_date_index(&read("archives/private/probe-test/2026-November/date.html"));
    assert_eq!(dated.len(), 4);
    let mut linked = Vec::new();
    for (file, shown) in &dated {
        let page = pipermail::parse_message_page(&read(&format!("archives/private/probe-test/2026-November/{file}")));
        assert!(page.subject.ends_with(shown.trim_start_matches("Re: ")), "{file}: {} vs {shown}", page.subject);
        linked.push(page.message_id.expect("every message page links its Message-ID"));
    }
    linked.sort();
    let mut sorted = expected.map(String::from).to_vec();
    sorted.sort();
    assert_eq!(linked, sorted);
    let gruesse = pipermail::parse_message_page(&read("archives/private/probe-test/2026-November/000001.html"));
    assert_eq!(gruesse.subject, "[Probe-test] Grüße aus München");
    assert_eq!(gruesse.address, "bob at probe.test");
    assert!(gruesse.body.contains("Umlauten: ä ö ü ß € <tag> & \"quotes\"."), "{}", gruesse.body);

    // The private archive: login form, 401 on a bad password, the cookie,
    // the month's text over HTTP, a message page.
    assert!(pipermail::is_login_form(&read("web/18-private-probe-private-login-form.html")));
    assert!(pipermail::is_login_form(&read("web/27-private-probe-private-date-nocookie.html")));
    assert_eq!(status_of("27-private-probe-private-date-nocookie"), 200);
    assert_eq!(status_of("20-private-probe-private-login-badpw"), 401);
    assert!(read("web/21-private-probe-private-login-ok.headers.txt").contains("Set-Cookie: probe-private+user+alice--at--probe.test="));
    assert!(!pipermail::is_login_form(&read("web/22-private-probe-private-index-cookie.html")));
    let private = pipermail::parse_month_text(&read("web/26-private-probe-private-monthtxt-cookie.html"));
    assert_eq!(private.iter().filter_map(|m| m.message_id.clone()).collect::<Vec<_>>(), ["<p1.private@probe.test>", "<p2.private-reply@probe.test>"]);
    let hello = pipermail::parse_message_page(&read("web/25-private-probe-private-msg000000-cookie.html"));
    assert_eq!((hello.subject.as_str(), hello.author.as_str(), hello.address.as_str()), ("[Probe-private] Private hello", "Alice Example", "alice at probe.test"));
    assert_eq!(hello.message_id.as_deref(), Some("<p1.private@probe.test>"));
    assert_eq!(hello.body, "This message goes to the list with a private archive.");
    assert_eq!(status_of("28-pipermail-probe-private-public-url"), 404);
}

#[test]
fn listinfo_pages_as_recorded() {
    let lists = listinfo::parse_overview(&read("web/01-listinfo-overview.html"));
    let names: Vec<&str> = lists.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["mailman", "probe-private", "probe-test"]);
    assert_eq!(lists[2].description, "Probe test list (public archive)");
    // Asked by IP address, the overview shows no list: the Host header matters.
    assert!(listinfo::parse_overview(&read("web/42-listinfo-overview-by-ip-host.html")).is_empty());
    let test = listinfo::parse_listinfo(&read("web/02-listinfo-probe-test.html")).unwrap();
    assert_eq!((test.real_name.as_str(), test.archive_url.as_deref()), ("Probe-test", Some("http://lists.example.test/pipermail/probe-test/")));
    let private = listinfo::parse_listinfo(&read("web/03-listinfo-probe-private.html")).unwrap();
    assert_eq!(private.archive_url.as_deref(), Some("http://lists.example.test/mailman/private/probe-private/"));
    assert_eq!(listinfo::parse_listinfo(&read("web/38-listinfo-nosuchlist.html")), None);
    assert_eq!(status_of("38-listinfo-nosuchlist"), 404);
}

#[test]
fn bin_outputs_and_logs_as_recorded() {
    assert_eq!(cmd::list_lists_bare(&output("cmd/list_lists-b.txt")), ["mailman", "probe-private", "probe-test"]);
    for file in ["cmd/list_lists.txt", "cmd/list_lists-a.txt", "cmd/list_lists-V.txt"] {
        let lists = cmd::list_lists(&output(file)).unwrap();
        assert_eq!(lists[2], ("Probe-test".to_string(), "Probe test list (public archive)".to_string()), "{file}");
    }
    assert_eq!(cmd::list_members(&output("cmd/list_members-f-probe-test.txt")), ["alice@probe.test", "bob@probe.test"]);
    assert_eq!(cmd::list_members(&output("cmd/list_members-probe-test.txt")), ["alice@probe.test", "bob@probe.test"]);
    let settings = cmd::config_list(&read("cmd/config_list-o-probe-test.txt"));
    let get = |name: &str| settings.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(get("real_name").as_deref(), Some("'Probe-test'"));
    assert_eq!(get("owner").as_deref(), Some("['admin@example.test']"));
    assert!(get("max_message_size").is_some());
    assert!(get("archive_private").is_some());
    assert!(settings.len() > 50, "{}", settings.len());
    let before = cmd::check_perms(&output("cmd/check_perms.before.txt"));
    assert_eq!(before.problems_found, Some(before.problems.len()));
    let after = cmd::check_perms(&output("cmd/check_perms.after.txt"));
    assert_eq!((after.problems_found, after.problems.len(), after.warnings.len()), (Some(0), 0, 1));
    let last = cmd::check_perms(&output("cmd/check_perms.final.txt"));
    assert_eq!((last.problems_found, last.problems.len(), last.warnings.len()), (Some(1), 1, 1));
    assert_eq!(cmd::version(&output("cmd/version.txt")).as_deref(), Some("2.1.39"));

    let vette = logs::entries(&read("logs/vette"));
    let holds: Vec<String> = vette.iter().filter_map(logs::hold).map(|h| h.message_id).collect();
    assert_eq!(holds, ["<nm1.question@example.test>", "<nm2.offer@probe.test>", "<m4.large@probe.test>"]);
    assert!(vette.iter().any(|e| e.text.contains("Discarded posting:\nFrom: dave@probe.test")));
    let posts: Vec<logs::Post> = logs::entries(&read("logs/post")).iter().filter_map(logs::post).collect();
    assert_eq!(posts.len(), 6);
    assert!(posts.iter().all(|p| p.outcome == "success"));
    let smtp = logs::entries(&read("logs/smtp"));
    assert_eq!(logs::about(&smtp, &["<m1.hello@probe.test>".to_string()]).len(), 1);
}

// ---- the stand-in server ----

/// What the stand-in admindb saw and holds.
struct Replay {
    root: PathBuf,
    /// The probe's Message-ID without brackets, once the sink has it.
    sink: Sink,
    /// Whether a good POST discards request 2 (false: Mailman "forgets").
    honour: bool,
    discarded: Mutex<bool>,
    token: String,
    posts: Mutex<Vec<Vec<(String, String)>>>,
    logins: Mutex<u32>,
    logouts: Mutex<u32>,
}

impl Replay {
    /// A recorded answer: its status line and headers (Set-Cookie
    /// included), its body with request 2's Message-ID replaced by the probe's.
    fn answer(&self, name: &str, cut_request_2: bool) -> Response<Body> {
        let head = std::fs::read_to_string(self.root.join(format!("web/{name}.headers.txt"))).unwrap();
        let mut body = std::fs::read(self.root.join(format!("web/{name}.html"))).unwrap();
        if let Some(probe) = self.sink.messages().last().and_then(|m| m.message_id().map(str::to_string)) {
            let bare = probe.trim_start_matches('<').trim_end_matches('>');
            body = replace(&body, b"nm2.offer@probe.test", bare.as_bytes());
        }
        if cut_request_2 {
            // The details page as it is once request 2 is gone: the same
            // recorded bytes without request 2's block.
            let text = String::from_utf8(body).unwrap();
            let start = text.find("<p><hr><center><h2>Posting Held for Approval (2 of 3)").unwrap();
            let end = text.find("<p><hr><center><h2>Posting Held for Approval (3 of 3)").unwrap();
            body = format!("{}{}", &text[..start], &text[end..]).into_bytes();
        }
        recorded_response(&head, body)
    }

    fn logged_in(headers: &HeaderMap) -> bool {
        headers.get_all("cookie").iter().any(|v| v.to_str().unwrap_or_default().contains("probe-test+admin=2802"))
    }
}

/// A response of a recorded status line and headers (`*.headers.txt`;
/// Set-Cookie and Content-Type kept) and a body.
fn recorded_response(head: &str, body: Vec<u8>) -> Response<Body> {
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut response = Response::builder().status(status);
    for line in lines {
        if let Some((name, value)) = line.split_once(": ") {
            if matches!(name, "Set-Cookie" | "Content-Type") {
                response = response.header(name, value);
            }
        }
    }
    response.body(Body::from(body)).unwrap()
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

async fn admindb_get(State(r): State<Arc<Replay>>, uri: Uri, headers: HeaderMap) -> Response<Body> {
    let q: HashMap<String, String> = reqwest::Url::parse(&format!("http://x{uri}")).unwrap().query_pairs().into_owned().collect();
    if !Replay::logged_in(&headers) {
        return r.answer("04-admindb-probe-test-login-form", false);
    }
    let discarded = *r.discarded.lock().unwrap();
    match (q.get("details").map(String::as_str), discarded) {
        (Some("all"), false) => r.answer("08-admindb-probe-test-details-all", false),
        (Some("all"), true) => r.answer("08-admindb-probe-test-details-all", true),
        (_, false) => r.answer("07-admindb-probe-test-summary-cookie", false),
        (_, true) => r.answer("14-admindb-probe-test-after-discard-cookie", false),
    }
}

async fn admindb_post(State(r): State<Arc<Replay>>, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let query = format!("http://x/?{}", String::from_utf8_lossy(&body));
    let form: Vec<(String, String)> = reqwest::Url::parse(&query).unwrap().query_pairs().into_owned().collect();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(password) = field("adminpw") {
        if password == "probepw" {
            *r.logins.lock().unwrap() += 1;
            return r.answer("06-admindb-probe-test-login-ok", false);
        }
        return r.answer("05-admindb-probe-test-login-badpw", false);
    }
    if !Replay::logged_in(&headers) {
        return r.answer("04-admindb-probe-test-login-form", false);
    }
    r.posts.lock().unwrap().push(form.clone());
    if field("csrf_token").as_deref() != Some(r.token.as_str()) {
        return r.answer("11-admindb-probe-test-post-discard-2-no-csrf", false);
    }
    if r.honour && field("2").as_deref() == Some("3") {
        *r.discarded.lock().unwrap() = true;
    }
    r.answer("12-admindb-probe-test-post-discard-2", false)
}

async fn logout(State(r): State<Arc<Replay>>) -> Response<Body> {
    *r.logouts.lock().unwrap() += 1;
    r.answer("37-admindb-probe-test-logout", false)
}

const SUITE: &str = "probe_domain = \"probe.test\"\n[[list]]\nname = \"probe-test\"\ndomain = \"lists.example.test\"\nmembers = [\"alice@probe.test\"]\n";
const SCENARIO: &str = "name = \"a non-member's post is held, then discarded through admindb\"\nlist = \"probe-test\"\n\
[[step]]\nsend = { from = \"dave@probe.test\", subject = \"Cheap offer for list members\" }\nexpect_smtp = 250\n\
[[step]]\nexpect_held = { reason_contains = \"Post by non-member to a members-only list\", within = \"10s\" }\n\
[[step]]\nmoderate = \"discard\"\n";

/// Runs the held-then-discard scenario against the stand-in (`honour`:
/// whether it really discards); the run's results and the stand-in.
async fn run_against_stand_in(honour: bool) -> (Vec<mailflow::run::ScenarioResult>, Arc<Replay>) {
    let root = fixtures();
    let token = match admindb::parse_page(&read("web/08-admindb-probe-test-details-all.html")).unwrap() {
        AdminDbPage::Requests { csrf_token: Some(t), .. } => t,
        other => panic!("{other:?}"),
    };
    // The MTA: the harness's own sink on loopback accepts the probe.
    let sink = Sink::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let replay = Arc::new(Replay {
        root,
        sink,
        honour,
        discarded: Mutex::new(false),
        token,
        posts: Mutex::new(Vec::new()),
        logins: Mutex::new(0),
        logouts: Mutex::new(0),
    });
    let app = Router::new()
        .route("/mailman/admindb/probe-test", get(admindb_get).post(admindb_post))
        .route("/mailman/admindb/probe-test/logout", get(logout))
        .with_state(replay.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = std::env::temp_dir().join(format!("mailflow-mm21-{}-{honour}", std::process::id()));
    std::fs::create_dir_all(dir.join("moderation")).unwrap();
    std::fs::write(dir.join("suite.toml"), SUITE).unwrap();
    std::fs::write(dir.join("moderation/discard.toml"), SCENARIO).unwrap();
    let plan = load(std::slice::from_ref(&dir)).expect("the scenario loads");
    std::env::set_var("MAILFLOW_TEST_MM21_PW", "probepw");
    // The web host's name goes in the Host header; `address` pins it to loopback.
    let file = format!(
        "name = \"lists.example.test\"\n[smtp]\naddresses = [\"{}\"]\nstarttls = \"off\"\n\
         [mailman]\nversion = \"2.1\"\nweb_url = \"http://lists.example.test:{port}\"\naddress = \"127.0.0.1\"\n\
         [mailman.lists.probe-test]\npassword_env = \"MAILFLOW_TEST_MM21_PW\"\n[allow]\nmoderate = true\n[limits]\nprobes_per_minute = 600\n",
        replay.sink.addr()
    );
    let config = parse_hosts(Path::new("mm21.toml"), &file).expect("the target file parses");
    let target = HostsTarget::connect(config, "probe.test").await.expect("hosts target");
    let run = RunId::new();
    let results = run_all(&target, &plan.suite, &plan.scenarios, &run, &|_| {}).await;

    // Foreign requests 1 and 3 are never selected, whatever the run's probe ids.
    let held = target.held("probe-test.lists.example.test").await.expect("admindb reads");
    let all_ids: Vec<String> = held.iter().map(|h| h.message_id.clone()).collect();
    let own = select_own("probe-test.lists.example.test", &held, &run, &all_ids);
    assert!(own.iter().all(|o| o.request_id() == 2), "{own:?}");

    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    (results, replay)
}

#[test]
fn discard_through_admindb_sends_one_tokened_post_for_the_probe_only() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (results, replay) = run_against_stand_in(true).await;
        let report: String = results.iter().map(mailflow::report::human::scenario).collect();
        assert!(results[0].passed(), "{report}");
        let held = results[0].steps.iter().find(|s| s.key == "expect_held").unwrap();
        assert!(matches!(held.outcome(), Outcome::Passed), "{report}");
        assert!(report.contains("request 2"), "{report}");
        let posts = replay.posts.lock().unwrap().clone();
        assert_eq!(posts, vec![vec![("csrf_token".to_string(), replay.token.clone()), ("2".to_string(), "3".to_string())]], "{report}");
        assert!(*replay.discarded.lock().unwrap());
        // Every login was followed by a logout.
        assert_eq!(*replay.logins.lock().unwrap(), *replay.logouts.lock().unwrap());
        assert!(!report.contains("probepw"), "{report}");
    });
}

#[test]
fn a_discard_the_server_did_not_do_fails() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (results, replay) = run_against_stand_in(false).await;
        let report: String = results.iter().map(mailflow::report::human::scenario).collect();
        assert!(!results[0].passed(), "{report}");
        let moderate = results[0].steps.iter().find(|s| s.key == "moderate").unwrap();
        assert!(matches!(moderate.outcome(), Outcome::Failed), "{report}");
        assert!(report.contains("still holds request 2"), "{report}");
        // Only ever request 2, always with the token; never 1 or 3, never a per-sender or discard-all field.
        let posts = replay.posts.lock().unwrap().clone();
        assert!(!posts.is_empty());
        for form in &posts {
            let keys: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["csrf_token", "2"], "{posts:?}");
        }
    });
}

// ---- the stand-in pipermail ----

/// Which recording of `probe-test`'s public archive the stand-in serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MonthText {
    /// `archives/private/probe-test/`: the month as `2026-November.txt`.
    Plain,
    /// `archives-gzip-variant/probe-test/` (`GZIP_ARCHIVE_TXT_FILES`): `.txt.gz` only.
    Gzip,
}

/// The recorded message a probe takes the place of, per list: its
/// Message-ID's left part (replaced by the probe's in the recorded bytes),
/// and the subject (without the list's prefix), sender and first body line
/// the scenarios send, so the archive shows what the probe says.
const PUBLIC_MESSAGE: &str = "m1.hello";
const PUBLIC_SUBJECT: &str = "Hello probe list";
const PRIVATE_MESSAGE: &str = "p1.private";
const PRIVATE_SUBJECT: &str = "Private hello";

/// Pipermail as Apache serves it: `/pipermail/probe-test/` from the
/// recorded archive folder, and `probe-private`'s private archive through
/// the recorded `private` CGI answers (login form, 401, cookie, pages).
struct Archives {
    root: PathBuf,
    /// The MTA: the probes arrive here, and are looked up by subject.
    sink: Sink,
    month_text: MonthText,
    /// Whether a probe is archived (its Message-ID put into the recorded
    /// message); false: the archive never has it.
    archives_probes: bool,
    /// Every request: method, path, and `(cookie)` when it carried the
    /// private archive's member cookie.
    requests: Mutex<Vec<String>>,
    /// The field names of each login POST (the values are a password).
    logins: Mutex<Vec<Vec<String>>>,
}

/// The cookie `21-private-probe-private-login-ok` sets (its value's start).
const MEMBER_COOKIE: &str = "probe-private+user+alice--at--probe.test=2802";

impl Archives {
    /// The probe sent with `subject`, once the sink has it: its Message-ID.
    fn probe_id(&self, subject: &str) -> Option<String> {
        if !self.archives_probes {
            return None;
        }
        self.sink.messages().iter().find(|m| m.header("Subject") == Some(subject)).and_then(|m| m.message_id().map(str::to_string))
    }

    /// `body` with the recorded message `stands_for`'s Message-ID replaced by
    /// the probe's (verbatim in the month's text, URL-quoted in the pages'
    /// reply links), once the probe with `subject` has arrived.
    fn archived(&self, body: Vec<u8>, stands_for: &str, subject: &str) -> Vec<u8> {
        let Some(probe) = self.probe_id(subject) else { return body };
        let bare = probe.trim_start_matches('<').trim_end_matches('>');
        let recorded = format!("{stands_for}@probe.test");
        let body = replace(&body, recorded.as_bytes(), bare.as_bytes());
        replace(&body, url_quote(&recorded).as_bytes(), url_quote(bare).as_bytes())
    }

    /// A recorded CGI answer (`web/<name>`), the probe placed in it.
    fn page(&self, name: &str, placed: bool) -> Response<Body> {
        let head = std::fs::read_to_string(self.root.join(format!("web/{name}.headers.txt"))).unwrap();
        let mut body = std::fs::read(self.root.join(format!("web/{name}.html"))).unwrap();
        if placed {
            body = self.archived(body, PRIVATE_MESSAGE, PRIVATE_SUBJECT);
        }
        recorded_response(&head, body)
    }

    /// A file of a recorded archive folder as Apache serves it (Debian's
    /// types: `text/html`, `text/plain`, `application/x-gzip`); 404 with
    /// the recorded 404 page when there is none.
    fn file(&self, folder: &str, rest: &str, stands_for: &str, subject: &str) -> Response<Body> {
        let rest = if rest.is_empty() { "index.html" } else { rest };
        let path = self.root.join(folder).join(rest);
        if rest.contains("..") || !path.is_file() {
            return self.page("28-pipermail-probe-private-public-url", false);
        }
        let bytes = std::fs::read(&path).unwrap();
        let (content_type, body) = if rest.ends_with(".gz") {
            let text = pipermail::month_text(&bytes).unwrap();
            let placed = self.archived(text.into_bytes(), stands_for, subject);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut gz, &placed).unwrap();
            ("application/x-gzip", gz.finish().unwrap())
        } else if rest.ends_with(".txt") {
            ("text/plain", self.archived(bytes, stands_for, subject))
        } else {
            ("text/html", self.archived(bytes, stands_for, subject))
        };
        Response::builder().status(200).header("Content-Type", content_type).body(Body::from(body)).unwrap()
    }
}

/// As Python 2's `urllib.quote`, which pipermail's reply links use.
fn url_quote(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"_.-/".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn archive_request(State(a): State<Arc<Archives>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let path = uri.path().to_string();
    let member = headers.get_all("cookie").iter().any(|v| v.to_str().unwrap_or_default().contains(MEMBER_COOKIE));
    a.requests.lock().unwrap().push(format!("{method} {path}{}", if member { " (cookie)" } else { "" }));
    if let Some(rest) = path.strip_prefix("/pipermail/probe-test/") {
        let folder = match a.month_text {
            MonthText::Plain => "archives/private/probe-test",
            MonthText::Gzip => "archives-gzip-variant/probe-test",
        };
        return a.file(folder, rest, PUBLIC_MESSAGE, PUBLIC_SUBJECT);
    }
    let Some(rest) = path.strip_prefix("/mailman/private/probe-private") else {
        // `/pipermail/probe-private/` and anything else: Apache's 404.
        return a.page("28-pipermail-probe-private-public-url", false);
    };
    let rest = rest.trim_start_matches('/');
    if method == Method::POST {
        let query = format!("http://x/?{}", String::from_utf8_lossy(&body));
        let form: Vec<(String, String)> = reqwest::Url::parse(&query).unwrap().query_pairs().into_owned().collect();
        a.logins.lock().unwrap().push(form.iter().map(|(k, _)| k.clone()).collect());
        let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        return match (field("username").as_deref(), field("password").as_deref()) {
            (Some("alice@probe.test"), Some("alicepw")) => a.page("21-private-probe-private-login-ok", false),
            _ => a.page("20-private-probe-private-login-badpw", false),
        };
    }
    if !member {
        // Without the cookie every page is the login form, with 200.
        return a.page(if rest.is_empty() { "18-private-probe-private-login-form" } else { "27-private-probe-private-date-nocookie" }, false);
    }
    match rest {
        "" => a.page("22-private-probe-private-index-cookie", false),
        "2026-November.txt" => a.page("26-private-probe-private-monthtxt-cookie", true),
        "2026-November/date.html" => a.page("24-private-probe-private-date-cookie", false),
        "2026-November/000000.html" => a.page("25-private-probe-private-msg000000-cookie", true),
        // Pages the recording did not fetch over HTTP: the file on disk.
        other => a.file("archives/private/probe-private", other, PRIVATE_MESSAGE, PRIVATE_SUBJECT),
    }
}

const ARCHIVE_SUITE: &str = "probe_domain = \"probe.test\"\n\
[[list]]\nname = \"probe-test\"\ndomain = \"lists.example.test\"\nmembers = [\"alice@probe.test\", \"bob@probe.test\"]\n\
[[list]]\nname = \"probe-private\"\ndomain = \"lists.example.test\"\nmembers = [\"alice@probe.test\", \"bob@probe.test\"]\n";
const PUBLIC_ARCHIVED: &str = "name = \"a member's post is in the public pipermail archive\"\nlist = \"probe-test\"\n\
[[step]]\nsend = { from = \"alice@probe.test\", subject = \"Hello probe list\", body = \"Hi all,\\n\\nthis is the first member post to probe-test.\" }\nexpect_smtp = 250\n\
[[step]]\nexpect_archived = { archive = \"pipermail\", within = \"10s\" }\n";
const PRIVATE_ARCHIVED: &str = "name = \"a member's post is in the private pipermail archive\"\nlist = \"probe-private\"\n\
[[step]]\nsend = { from = \"alice@probe.test\", subject = \"Private hello\", body = \"This message goes to the list with a private archive.\" }\nexpect_smtp = 250\n\
[[step]]\nexpect_archived = { archive = \"pipermail\", within = \"10s\" }\n";
const PRIVATE_NOT_ARCHIVED: &str = "name = \"a private archive the target file has no login for\"\nlist = \"probe-private\"\n\
[[step]]\nsend = { from = \"alice@probe.test\", subject = \"Private hello\", body = \"This message goes to the list with a private archive.\" }\nexpect_smtp = 250\n\
[[step]]\nexpect_not_archived = { archive = \"pipermail\", within = \"2s\" }\n";
const NOT_ARCHIVED: &str = "name = \"a post pipermail does not have\"\nlist = \"probe-test\"\n\
[[step]]\nsend = { from = \"alice@probe.test\", subject = \"Hello probe list\", body = \"Hi all,\" }\nexpect_smtp = 250\n\
[[step]]\nexpect_not_archived = { archive = \"pipermail\", within = \"2s\" }\n\
[[step]]\nexpect_archived = { archive = \"pipermail\", within = \"3s\" }\n";

/// Runs `scenarios` (file name, text) through the hosts target against
/// the stand-in pipermail; the results and the stand-in.
async fn run_against_archives(month_text: MonthText, archives_probes: bool, login: Option<&str>, scenarios: &[(&str, &str)]) -> (Vec<mailflow::run::ScenarioResult>, Arc<Archives>) {
    let sink = Sink::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let archives = Arc::new(Archives {
        root: fixtures(),
        sink,
        month_text,
        archives_probes,
        requests: Mutex::new(Vec::new()),
        logins: Mutex::new(Vec::new()),
    });
    let app = Router::new().fallback(archive_request).with_state(archives.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::Builder::new().prefix("mailflow-pipermail-").tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("archive")).unwrap();
    std::fs::write(dir.path().join("suite.toml"), ARCHIVE_SUITE).unwrap();
    for (name, text) in scenarios {
        std::fs::write(dir.path().join("archive").join(name), text).unwrap();
    }
    let plan = load(&[dir.path().to_path_buf()]).expect("the scenarios load");
    // The member's password for the private archive (tests run at once:
    // each password in a variable of its own).
    let member = match login {
        Some(password) => {
            let var = format!("MAILFLOW_TEST_MM21_ALICE_{}", password.to_ascii_uppercase());
            std::env::set_var(&var, password);
            format!("[mailman.lists.probe-private]\narchive_user = \"alice@probe.test\"\narchive_password_env = \"{var}\"\n")
        }
        None => String::new(),
    };
    let file = format!(
        "name = \"lists.example.test\"\n[smtp]\naddresses = [\"{}\"]\nstarttls = \"off\"\n\
         [mailman]\nversion = \"2.1\"\nweb_url = \"http://lists.example.test:{port}\"\naddress = \"127.0.0.1\"\n{member}\
         [limits]\nprobes_per_minute = 600\n",
        archives.sink.addr()
    );
    let config = parse_hosts(Path::new("pipermail.toml"), &file).expect("the target file parses");
    let target = HostsTarget::connect(config, "probe.test").await.expect("hosts target");
    let results = run_all(&target, &plan.suite, &plan.scenarios, &RunId::new(), &|_| {}).await;
    server.abort();
    (results, archives)
}

fn result<'a>(results: &'a [mailflow::run::ScenarioResult], file: &str) -> &'a mailflow::run::ScenarioResult {
    results.iter().find(|r| r.path.ends_with(file)).unwrap_or_else(|| panic!("no result for {file}"))
}

/// The rows of a scenario's step, as `property: observed (outcome)`.
fn rows_of(result: &mailflow::run::ScenarioResult, key: &str) -> Vec<(String, String, Outcome)> {
    let step = result.steps.iter().find(|s| s.key == key).unwrap_or_else(|| panic!("no {key} step"));
    step.rows.iter().map(|r| (r.property.clone(), r.observed.clone(), r.outcome.clone())).collect()
}

#[test]
fn pipermail_over_http_shows_the_probe_in_the_public_and_the_private_archive() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (results, archives) =
            run_against_archives(MonthText::Plain, true, Some("alicepw"), &[("public.toml", PUBLIC_ARCHIVED), ("private.toml", PRIVATE_ARCHIVED)]).await;
        let report: String = results.iter().map(mailflow::report::human::scenario).collect();
        eprintln!("{report}");
        let requests = archives.requests.lock().unwrap().clone();
        for r in &results {
            assert!(r.passed(), "{report}\n{requests:#?}");
        }
        let public = result(&results, "public.toml");
        let rows = rows_of(public, "expect_archived");
        let url = "/pipermail/probe-test/2026-November/000000.html";
        assert!(rows[0].0 == "in the pipermail archive" && rows[0].1.ends_with(url), "{rows:?}");
        let archived = &public.steps.iter().find(|s| s.key == "expect_archived").unwrap().rows[0];
        assert!(archived.took.is_some(), "how long archiving took: {archived:?}");
        let observed = |property: &str| rows.iter().find(|r| r.0 == property).map(|r| r.1.clone()).unwrap_or_else(|| panic!("no {property} row: {rows:?}"));
        assert_eq!(observed("archived subject"), "\"[Probe-test] Hello probe list\"");
        assert_eq!(observed("archived sender"), "alice at probe.test");
        assert_eq!(observed("archived body"), "contains it");
        assert!(requests.contains(&"GET /pipermail/probe-test/2026-November.txt".to_string()), "{requests:#?}");

        let private = result(&results, "private.toml");
        let rows = rows_of(private, "expect_archived");
        assert!(rows[0].1.ends_with("/mailman/private/probe-private/2026-November/000000.html"), "{rows:?}");
        assert!(rows.iter().any(|r| r.0 == "archived subject" && r.1 == "\"[Probe-private] Private hello\""), "{rows:?}");
        // Logged in with the member's address and password; every later
        // page of the private archive asked with the cookie; never the
        // public URL of a private list.
        let logins = archives.logins.lock().unwrap().clone();
        assert!(!logins.is_empty() && logins.iter().all(|f| f == &["username", "password"]), "{logins:?}");
        let private_gets: Vec<&String> = requests.iter().filter(|r| r.starts_with("GET /mailman/private/")).collect();
        assert!(!private_gets.is_empty() && private_gets.iter().all(|r| r.ends_with("(cookie)")), "{requests:#?}");
        assert!(requests.iter().any(|r| r == "GET /mailman/private/probe-private/2026-November.txt (cookie)"), "{requests:#?}");
        assert!(!requests.iter().any(|r| r.contains("/pipermail/probe-private")), "{requests:#?}");
        assert!(!report.contains("alicepw"), "{report}");
    });
}

#[test]
fn pipermail_over_http_reads_a_gzipped_month() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (results, archives) = run_against_archives(MonthText::Gzip, true, Some("alicepw"), &[("public.toml", PUBLIC_ARCHIVED)]).await;
        let report: String = results.iter().map(mailflow::report::human::scenario).collect();
        let requests = archives.requests.lock().unwrap().clone();
        assert!(results[0].passed(), "{report}\n{requests:#?}");
        let rows = rows_of(&results[0], "expect_archived");
        assert!(rows[0].1.ends_with("/pipermail/probe-test/2026-November/000000.html"), "{rows:?}");
        assert!(requests.contains(&"GET /pipermail/probe-test/2026-November.txt.gz".to_string()), "{requests:#?}");
    });
}

#[test]
fn a_probe_pipermail_does_not_have_fails_expect_archived_and_passes_expect_not_archived() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (results, archives) = run_against_archives(MonthText::Plain, false, Some("alicepw"), &[("absent.toml", NOT_ARCHIVED)]).await;
        let report: String = results.iter().map(mailflow::report::human::scenario).collect();
        eprintln!("{report}");
        let requests = archives.requests.lock().unwrap().clone();
        let absent = &results[0];
        assert!(!absent.passed(), "{report}");
        let not = rows_of(absent, "expect_not_archived");
        assert_eq!(not.len(), 1, "{not:?}");
        assert_eq!((not[0].0.as_str(), &not[0].2), ("not in the pipermail archive", &Outcome::Passed), "{report}");
        assert!(not[0].1.starts_with("absent after "), "{not:?}");
        let archived = rows_of(absent, "expect_archived");
        assert_eq!((archived[0].0.as_str(), archived[0].1.as_str(), &archived[0].2), ("in the pipermail archive", "not there", &Outcome::Failed), "{report}");
        // It did look: the month's text, more than once.
        assert!(requests.iter().filter(|r| r.as_str() == "GET /pipermail/probe-test/2026-November.txt").count() > 1, "{requests:#?}");
    });
}

/// A private archive asked at its public URL answers 404: that is no
/// archive to look in, so "not archived" cannot pass (the run says what the
/// target file lacks), even though the stand-in has the probe.
#[test]
fn a_private_archive_without_a_login_is_not_passed_as_not_archived() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (results, archives) = run_against_archives(MonthText::Plain, true, None, &[("private.toml", PRIVATE_NOT_ARCHIVED)]).await;
        let report: String = results.iter().map(mailflow::report::human::scenario).collect();
        eprintln!("{report}");
        let requests = archives.requests.lock().unwrap().clone();
        let rows = rows_of(&results[0], "expect_not_archived");
        assert_eq!((rows[0].0.as_str(), &rows[0].2), ("not in the pipermail archive", &Outcome::Failed), "{report}");
        assert!(rows[0].1.contains("/pipermail/probe-private/: 404: no public archive of list `probe-private`"), "{rows:?}");
        assert!(rows[0].1.contains("archive_user"), "{rows:?}");
        assert!(requests.iter().all(|r| r == "GET /pipermail/probe-private/"), "{requests:#?}");
    });
}

/// A wrong member password: the private CGI answers 401 with its form;
/// the step fails saying Mailman refused the password, which it never shows.
#[test]
fn a_refused_archive_password_fails_expect_archived_without_showing_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (results, archives) = run_against_archives(MonthText::Plain, true, Some("wrongpw"), &[("private.toml", PRIVATE_ARCHIVED)]).await;
        let report: String = results.iter().map(mailflow::report::human::scenario).collect();
        eprintln!("{report}");
        let rows = rows_of(&results[0], "expect_archived");
        assert_eq!(rows[0].2, Outcome::Failed, "{report}");
        assert!(rows[0].1.contains("Mailman refused the private archive password (it answered 401"), "{rows:?}");
        assert_eq!(archives.logins.lock().unwrap().len(), 1, "one login, no retries on a refused password");
        assert!(!report.contains("wrongpw"), "{report}");
    });
}

// ------------------------------------------------- inventory through the web

/// The recorded admin and archive pages an inventory reads, and the
/// passwords it sent (to check none is wrong and none is printed).
struct AdminReplay {
    root: PathBuf,
    passwords: Mutex<Vec<String>>,
    asked: Mutex<Vec<String>>,
}

/// The overview, written here in the recorded page's shape with only the
/// list the recordings have admin pages of (`web/01` also lists `mailman`
/// and `probe-private`).
const OVERVIEW_ONE_LIST: &str = r#"<html><body><table><tr><td><a href="listinfo/probe-test"><strong>Probe-test</strong></a></td>
<td>Probe test list (public archive)</td></tr></table></body></html>"#;

/// The Recipient filters and Archiving Options pages, which the recordings
/// lack: written here in the recorded widgets' shape, with the values
/// `cmd/config_list-o-probe-test.txt` gives.
const RECIPIENT_PAGE: &str = r#"<html><body><FORM><INPUT name="require_explicit_destination" type="RADIO" value="0" >
<INPUT name="require_explicit_destination" type="RADIO" value="1" CHECKED >
<INPUT name="max_num_recipients" type="TEXT" value="10" size="7" ></FORM></body></html>"#;
const ARCHIVE_PAGE: &str = r#"<html><body><FORM><INPUT name="archive" type="RADIO" value="0" >
<INPUT name="archive" type="RADIO" value="1" CHECKED >
<INPUT name="archive_private" type="RADIO" value="0" CHECKED >
<INPUT name="archive_private" type="RADIO" value="1" ></FORM></body></html>"#;

async fn admin_request(State(r): State<Arc<AdminReplay>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let path = uri.path().to_string();
    r.asked.lock().unwrap().push(format!("{method} {uri}"));
    let recorded = |name: &str| {
        let head = std::fs::read_to_string(r.root.join(format!("web/{name}.headers.txt"))).unwrap();
        recorded_response(&head, std::fs::read(r.root.join(format!("web/{name}.html"))).unwrap())
    };
    let written = |html: &str| Response::builder().status(200).header("Content-Type", "text/html").body(Body::from(html.to_string())).unwrap();
    if path == "/mailman/listinfo" {
        return written(OVERVIEW_ONE_LIST);
    }
    if path == "/pipermail/probe-test/" {
        return recorded("29-pipermail-probe-test-index");
    }
    if path == "/pipermail/probe-test/2026-November/date.html" {
        return recorded("30-pipermail-probe-test-date");
    }
    if method == Method::POST && path == "/mailman/admin/probe-test" {
        let query = format!("http://x/?{}", String::from_utf8_lossy(&body));
        let form: HashMap<String, String> = reqwest::Url::parse(&query).unwrap().query_pairs().into_owned().collect();
        let password = form.get("adminpw").cloned().unwrap_or_default();
        r.passwords.lock().unwrap().push(password.clone());
        return recorded(if password == "probepw" { "34-admin-probe-test-login-ok-general" } else { "33-admin-probe-test-login-badpw" });
    }
    let Some(page) = path.strip_prefix("/mailman/admin/probe-test/") else {
        return Response::builder().status(404).body(Body::from("Not Found")).unwrap();
    };
    if !Replay::logged_in(&headers) {
        return recorded("32-admin-probe-test-login-form");
    }
    match page {
        "members" => recorded("35-admin-probe-test-members"),
        "privacy/sender" => recorded("36-admin-probe-test-privacy-sender"),
        "privacy/recipient" => written(RECIPIENT_PAGE),
        "archive" => written(ARCHIVE_PAGE),
        "logout" => recorded("37-admindb-probe-test-logout"),
        _ => Response::builder().status(404).body(Body::from("Not Found")).unwrap(),
    }
}

/// `mailflow inventory` of a Mailman 2.1 target file without `[ssh]`:
/// through the stand-in replaying the recorded listinfo, admin and
/// pipermail pages. Returns the exit code, stdout, stderr and the stand-in.
async fn inventory_through_web(password: &str) -> (i32, String, String, Arc<AdminReplay>) {
    let replay = Arc::new(AdminReplay { root: fixtures(), passwords: Mutex::new(Vec::new()), asked: Mutex::new(Vec::new()) });
    let app = Router::new().fallback(admin_request).with_state(replay.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin-pw"), format!("{password}\n")).unwrap();
    let file = dir.path().join("mm21.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"old-lists\"\n[smtp]\naddresses = [\"127.0.0.1:1\"]\nstarttls = \"off\"\n\
             [mailman]\nversion = \"2.1\"\nweb_url = \"http://lists.example.test:{port}\"\naddress = \"127.0.0.1\"\n\
             [mailman.lists.probe-test]\npassword_file = \"admin-pw\"\n"
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mailflow"))
        .args(["inventory", "--target", &file.display().to_string(), "--format", "json", "--with-addresses"])
        .env("NO_COLOR", "1")
        .env_remove("MAILFLOW_TARGET")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), out).await.expect("within a minute").expect("run mailflow");
    server.abort();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned(), replay)
}

#[test]
fn inventory_of_mailman21_through_its_admin_and_archive_pages() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (code, json, stderr, replay) = rt.block_on(inventory_through_web("probepw"));
    assert_eq!(code, 0, "{stderr}");
    let inv: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(inv["mailman"], "2.1");
    let lists = inv["lists"].as_array().unwrap();
    assert_eq!(lists.len(), 1, "{json}");
    let l = &lists[0];
    assert_eq!(l["name"], "probe-test");
    assert_eq!(l["address"], "probe-test@lists.example.test");
    assert_eq!(l["members"], 2);
    assert_eq!(l["member_addresses"], serde_json::json!(["alice@probe.test", "bob@probe.test"]));
    assert_eq!((l["owners"].as_u64(), l["moderators"].as_u64()), (Some(1), Some(0)));
    assert_eq!(l["archive"], serde_json::json!({ "source": "pipermail", "months": { "2026-11": 3 } }));
    // The settings as the shell's config_list gives them for the same list.
    let recorded: HashMap<String, String> = cmd::config_list(&output("cmd/config_list-o-probe-test.txt")).into_iter().collect();
    for (k, v) in l["settings"].as_object().unwrap() {
        let shell = mailflow::migration::inventory::py_value(&recorded[k]);
        let same = shell == *v || shell.as_bool().map(i64::from) == v.as_i64();
        assert!(same, "{k}: web {v}, config_list {shell}");
    }
    assert_eq!(l["settings"].as_object().unwrap().len(), mailflow::migration::inventory::MM21_SETTINGS.len(), "{json}");
    assert_eq!(*replay.passwords.lock().unwrap(), ["probepw"]);
    assert!(replay.asked.lock().unwrap().iter().any(|a| a.ends_with("/mailman/admin/probe-test/logout")), "logged out");
    assert!(!json.contains("probepw") && !stderr.contains("probepw"));

    // A wrong password: exit 2 naming the list's admin page, never the password.
    let (code, json, stderr, _) = rt.block_on(inventory_through_web("wrong-secret"));
    assert_eq!(code, 2, "{json}");
    assert!(stderr.contains("/mailman/admin/probe-test") && stderr.contains("refused the list admin password"), "{stderr}");
    assert!(!stderr.contains("wrong-secret") && !json.contains("wrong-secret"), "{stderr}");
}

#[test]
fn admin_pages_as_recorded() {
    use mailflow::mailman21::admin;
    let members = admin::parse_members(&read("web/35-admin-probe-test-members.html"));
    assert_eq!(members.total, Some(2));
    assert_eq!(members.addresses, ["alice@probe.test", "bob@probe.test"]);
    assert!(members.other_pages.is_empty(), "{:?}", members.other_pages);
    let general = admin::form_values(&read("web/34-admin-probe-test-login-ok-general.html"));
    assert_eq!(general["subject_prefix"], "'[Probe-test] '");
    assert_eq!((general["emergency"].as_str(), general["max_message_size"].as_str()), ("0", "40"));
    assert_eq!((general["owner"].as_str(), general["moderator"].as_str()), ("['admin@example.test']", "[]"));
    assert_eq!(general["host_name"], "'lists.example.test'");
    let sender = admin::form_values(&read("web/36-admin-probe-test-privacy-sender.html"));
    let got: Vec<&str> = ["default_member_moderation", "member_moderation_action", "generic_nonmember_action"].iter().map(|k| sender[*k].as_str()).collect();
    assert_eq!(got, ["0", "0", "1"]);
    for form in ["32-admin-probe-test-login-form", "33-admin-probe-test-login-badpw"] {
        assert!(admin::is_admin_login_form(&read(&format!("web/{form}.html"))), "{form}");
    }
    assert!(!admin::is_admin_login_form(&read("web/34-admin-probe-test-login-ok-general.html")));
    assert_eq!(status_of("33-admin-probe-test-login-badpw"), 401);
    assert_eq!(pipermail::date_index_count(&read("web/30-pipermail-probe-test-date.html")), Some(3));
}
