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
use axum::http::{HeaderMap, Response};
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

    fn logged_in(headers: &HeaderMap) -> bool {
        headers.get_all("cookie").iter().any(|v| v.to_str().unwrap_or_default().contains("probe-test+admin=2802"))
    }
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
