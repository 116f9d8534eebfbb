//! The parsers and the form builder on small pages written here in the
//! shape Mailman 2.1 gives them (the recorded pages are read by
//! `tests/mailman21.rs`).

use super::admindb::{self, AdminDbPage};
use super::{admin, cmd, listinfo, logs, pipermail};
use crate::mailman::{select_own, Decision, HeldMessage};
use crate::probe::RunId;
use crate::scenario::ModerationAction;

const DETAILS: &str = r#"<html><body>
<FORM action="http://l.test/mailman/admindb/t" method="POST" >
<input type="hidden" name="csrf_token" value="tok123">
<h2>Posting Held for Approval (1 of 2)</h2>
<table CELLPADDING="0" WIDTH="100%">
 <tr><td><strong>From:</strong></td><td>x@example.test</td></tr>
 <tr><td><strong>Subject:</strong></td><td>Caf&#233; time</td></tr>
 <tr><td><strong>Reason:</strong></td><td>Message body is too big: 6411 bytes with a
 limit of 1 KB</td></tr>
 <tr><td><strong>Received:</strong></td><td>Sun Nov 29 09:49:36 2026</td></tr>
 <tr><td><strong>Action:</strong></td><td><table><tr><td><INPUT name="7" type="RADIO" value="0" CHECKED></td></tr></table></td></tr>
 <tr><td><strong>Message Headers:</strong></td><td><TEXTAREA NAME=headers-7 READONLY>From: X &lt;x@example.test&gt;
Subject: Cafe time
Message-ID: &lt;a.b@example.test&gt;</TEXTAREA></td></tr>
</table>
<h2>Posting Held for Approval (2 of 2)</h2>
<table CELLPADDING="0" WIDTH="100%">
 <tr><td><strong>From:</strong></td><td>y@example.test</td></tr>
 <tr><td><strong>Reason:</strong></td><td>Post by non-member to a members-only list</td></tr>
 <tr><td><strong>Message Headers:</strong></td><td><TEXTAREA NAME=headers-9 READONLY>From: y@example.test
Message-Id:
 &lt;folded@example.test&gt;</TEXTAREA></td></tr>
</table></FORM></body></html>"#;

const SUMMARY: &str = r#"<html><body><h3><strong>Error: </strong><em>The form lifetime has expired. (request forgery check)</em></h3>
<FORM><input type="hidden" name="csrf_token" value="t2">
<INPUT name="senderaction-y%40example.test" type="RADIO" value="3">
<table><tr><td><a href="http://l.test/mailman/admindb/t?msgid=9">[1]</a></td><td><strong>Subject:</strong></td><td>Hi</td></tr>
<tr><td>&nbsp;</td><td><strong>Reason:</strong></td><td>Post by non-member to a members-only list</td></tr>
<tr><td><INPUT name="y%40example.test" type="hidden" value="9" ></td></tr></table>
</FORM></body></html>"#;

#[test]
fn admindb_details_give_ids_reasons_and_message_ids() {
    let page = admindb::parse_page(DETAILS).unwrap();
    let AdminDbPage::Requests { requests, csrf_token, error } = &page else { panic!("{page:?}") };
    assert_eq!(csrf_token.as_deref(), Some("tok123"));
    assert_eq!(*error, None);
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.id, 7);
    assert_eq!(first.sender, "x@example.test");
    assert_eq!(first.subject, "Café time");
    assert_eq!(first.reason, "Message body is too big: 6411 bytes with a limit of 1 KB");
    assert_eq!(first.received, "Sun Nov 29 09:49:36 2026");
    assert_eq!(first.message_id.as_deref(), Some("<a.b@example.test>"));
    // A folded header is unfolded; the key's case does not matter.
    assert_eq!(requests[1].message_id.as_deref(), Some("<folded@example.test>"));
    let held: HeldMessage = requests[1].clone().into();
    assert_eq!((held.request_id, held.message_id.as_str(), held.hold_date), (9, "<folded@example.test>", None));
}

#[test]
fn admindb_summary_login_and_empty_pages() {
    let page = admindb::parse_page(SUMMARY).unwrap();
    let AdminDbPage::Requests { requests, csrf_token, error } = &page else { panic!("{page:?}") };
    assert_eq!(csrf_token.as_deref(), Some("t2"));
    assert_eq!(error.as_deref(), Some("The form lifetime has expired. (request forgery check)"));
    assert_eq!(requests.len(), 1);
    assert_eq!((requests[0].id, requests[0].sender.as_str(), requests[0].subject.as_str()), (9, "y@example.test", "Hi"));
    assert_eq!(requests[0].message_id, None);

    let login = r#"<FORM METHOD=POST><INPUT TYPE="password" NAME="adminpw"><INPUT type="SUBMIT" name="admlogin"></FORM>"#;
    assert_eq!(admindb::parse_page(login).unwrap(), AdminDbPage::Login);
    let empty = "<h2>T Administrative Database</h2>There are no pending requests. <a href=x>Click here</a>";
    assert_eq!(admindb::parse_page(empty).unwrap(), AdminDbPage::Empty);
    assert!(admindb::parse_page("<html><body>Internal error</body></html>").is_err());
}

#[test]
fn the_action_form_names_one_own_request_only() {
    let run = RunId::from_string("1-a");
    let probe = "<mailflow.1-a.0@probe.test>".to_string();
    let held: Vec<HeldMessage> = admindb::parse_page(DETAILS)
        .unwrap()
        .requests()
        .iter()
        .cloned()
        .map(|mut r| {
            if r.id == 9 {
                r.message_id = Some(probe.clone());
            }
            r.into()
        })
        .collect();
    let own = select_own("t.l.test", &held, &run, std::slice::from_ref(&probe));
    assert_eq!(own.len(), 1);
    let discard = Decision { action: ModerationAction::Discard, comment: None };
    let form = admindb::action_form("tok", &own[0], &discard);
    assert_eq!(form, vec![("csrf_token".to_string(), "tok".to_string()), ("9".to_string(), "3".to_string())]);
    let reject = Decision { action: ModerationAction::Reject, comment: Some("no".into()) };
    let form = admindb::action_form("tok", &own[0], &reject);
    assert_eq!(form[1], ("9".to_string(), "2".to_string()));
    assert_eq!(form[2], ("comment-9".to_string(), "no".to_string()));
    for action in ModerationAction::ALL {
        let form = admindb::action_form("tok", &own[0], &Decision { action, comment: None });
        assert!(form.iter().all(|(k, _)| k == "csrf_token" || k == "9"), "{form:?}");
    }
    assert_eq!(
        [ModerationAction::Defer, ModerationAction::Accept, ModerationAction::Reject, ModerationAction::Discard].map(admindb::action_code),
        ["0", "1", "2", "3"]
    );
}

#[test]
fn acting_is_confirmed_only_by_the_queue_read_again() {
    let still = admindb::parse_page(SUMMARY).unwrap();
    assert!(admindb::confirm(ModerationAction::Discard, 9, &still).unwrap_err().contains("still holds request 9"));
    assert!(admindb::confirm(ModerationAction::Discard, 8, &still).is_ok());
    assert!(admindb::confirm(ModerationAction::Defer, 9, &still).is_ok());
    assert!(admindb::confirm(ModerationAction::Defer, 9, &AdminDbPage::Empty).is_err());
    assert!(admindb::confirm(ModerationAction::Accept, 9, &AdminDbPage::Empty).is_ok());
    assert!(admindb::confirm(ModerationAction::Accept, 9, &AdminDbPage::Login).is_err());
}

#[test]
fn pipermail_index_text_and_pages() {
    let index = r#"<table><tr><td>December 2026:</td><td><A href="2026-December/thread.html">[ Thread ]</a>
      <A href="2026-December/date.html">[ Date ]</a></td><td><A href="2026-December.txt.gz">[ Gzip'd Text 1 KB ]</a></td></tr>
      <tr><td><A href="2026-November/date.html">[ Date ]</a></td><td><A href="2026-November.txt">[ Text ]</a></td></tr></table>"#;
    let months = pipermail::parse_index(index);
    assert_eq!(months.len(), 2);
    assert_eq!((months[0].name.as_str(), months[0].text_file.as_deref()), ("2026-December", Some("2026-December.txt.gz")));
    assert_eq!(months[1].text_file.as_deref(), Some("2026-November.txt"));

    let text = "From a at x.test  Sun Nov 29 09:50:01 2026\nFrom: a at x.test (A)\nSubject: [T] =?utf-8?q?Caf=C3=A9?=\nMessage-ID: <1@x.test>\n\nbody one\nFrom here on, not a separator\n\nFrom b at x.test  Sun Nov 29 09:51:01 2026\nFrom: b at x.test (b at x.test)\nSubject: [T] two\nMessage-ID: <2@x.test>\n\nbody two\n";
    let messages = pipermail::parse_month_text(text);
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].message_id.as_deref(), Some("<1@x.test>"));
    assert_eq!(messages[0].subject, "[T] Café");
    assert_eq!(messages[0].body, "body one\nFrom here on, not a separator");
    assert_eq!(messages[1].from, "b at x.test (b at x.test)");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
    assert_eq!(pipermail::month_text(&gz.finish().unwrap()).unwrap(), text);
    assert_eq!(pipermail::month_text(text.as_bytes()).unwrap(), text);

    let date = r#"<ul><li><a href="thread.html#start">[ thread ]</a></ul><ul>
      <LI><A HREF="000000.html">[T] Caf&#233;
      </A><A NAME="0">&nbsp;</A><I>A</I>
      <LI><A HREF="000001.html">[T] two</A></ul>"#;
    assert_eq!(pipermail::parse_date_index(date), vec![("000000.html".into(), "[T] Café".into()), ("000001.html".into(), "[T] two".into())]);

    let page = r#"<HTML><HEAD><TITLE> [T] Caf&#233;</TITLE></HEAD><BODY><H1>[T] Caf&#233;</H1>
      <B>A Person</B>
      <A HREF="mailto:t%40l.test?Subject=Re%3A%20x&In-Reply-To=%3Cmailflow.r.1%2Bx%40probe.test%3E" TITLE="x">a at x.test
      </A><BR>
      <!--beginarticle-->
      <PRE>Gr&#252;&#223;e &lt;tag&gt; &amp; <A HREF="http://e.test">http://e.test</A>
      </PRE>
      <!--endarticle--></BODY></HTML>"#;
    let parsed = pipermail::parse_message_page(page);
    assert_eq!(parsed.subject, "[T] Café");
    assert_eq!(parsed.author, "A Person");
    assert_eq!(parsed.address, "a at x.test");
    assert_eq!(parsed.message_id.as_deref(), Some("<mailflow.r.1+x@probe.test>"));
    assert_eq!(parsed.body, "Grüße <tag> & http://e.test");
    assert_eq!(pipermail::obscured("alice@probe.test"), "alice at probe.test");

    assert!(pipermail::is_login_form(r#"<FORM><INPUT NAME="username"><INPUT TYPE="password" NAME="password"></FORM>"#));
    assert!(!pipermail::is_login_form(page));
}

#[test]
fn listinfo_overview_and_list_page() {
    let overview = r#"<table><tr><td><a href="listinfo/t"><strong>T</strong></a></td><td>Test list</td></tr>
      <tr><td><a href="admin">admin</a></td></tr></table>"#;
    let lists = listinfo::parse_overview(overview);
    assert_eq!(lists, vec![listinfo::ListEntry { name: "t".into(), real_name: "T".into(), description: "Test list".into() }]);
    let page = r#"<HTML><HEAD><TITLE>T Info Page</TITLE></HEAD><BODY><a href="http://l.test/pipermail/t/">T Archives</a></BODY></HTML>"#;
    let info = listinfo::parse_listinfo(page).unwrap();
    assert_eq!((info.real_name.as_str(), info.archive_url.as_deref()), ("T", Some("http://l.test/pipermail/t/")));
    assert_eq!(listinfo::parse_listinfo("<title>l.test Mailing Lists</title>"), None);
}

#[test]
fn bin_outputs() {
    assert_eq!(cmd::list_lists_bare("a\nb-c\n\n"), vec!["a", "b-c"]);
    let lists = cmd::list_lists("2 matching mailing lists found:\n   A - [no description available]\n  B-c - Be see\n").unwrap();
    assert_eq!(lists, vec![("A".into(), "[no description available]".into()), ("B-c".into(), "Be see".into())]);
    assert!(cmd::list_lists("3 matching mailing lists found:\n A - x\n").is_err());
    assert!(cmd::list_lists("nonsense\n").is_err());
    assert_eq!(cmd::list_lists("No matching mailing lists found\n").unwrap(), vec![]);
    assert_eq!(cmd::list_members("A B <A@x.test>\nb@x.test\n"), vec!["a@x.test", "b@x.test"]);

    let config = "# comment\nreal_name = 'T'\n\nowner = ['a@x.test',\n 'b@x.test']\nmsg_footer = \"\"\"line one\n  = not a key\n\"\"\"\n## x = 1\nmax_message_size = 40\n";
    let settings = cmd::config_list(config);
    let names: Vec<&str> = settings.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["real_name", "owner", "msg_footer", "max_message_size"]);
    assert_eq!(settings[1].1, "['a@x.test',\n 'b@x.test']");
    assert_eq!(settings[3].1, "40");

    let perms = cmd::check_perms("/x/setpw.py bad group (has: root, expected mailman)\nWarning: Private archive directory is other-executable (o+x).\n         This could allow others.\nProblems found: 1\nRe-run as mailman (or root) with -f flag to fix\n");
    assert_eq!(perms.problems, vec!["/x/setpw.py bad group (has: root, expected mailman)"]);
    assert_eq!(perms.warnings, vec!["Warning: Private archive directory is other-executable (o+x). This could allow others."]);
    assert_eq!(perms.problems_found, Some(1));
    assert_eq!(cmd::check_perms("No problems found\n").problems_found, Some(0));
    assert_eq!(cmd::version("Using Mailman version: 2.1.39\n").as_deref(), Some("2.1.39"));
}

#[test]
fn log_entries() {
    let log = "Nov 29 09:49:36 2026 (206) T post from c@x.test held, message-id=<1@x.test>: Post by non-member to a members-only list\nNov 29 09:50:38 2026 (468) t: Discarded posting:\n\tFrom: c@x.test\n\tSubject: Hi\nNov 29 09:51:37 2026 (779) post to t from b@x.test, size=1339, message-id=<2@x.test>, success\ngarbage\n";
    let entries = logs::entries(log);
    assert_eq!(entries.len(), 3);
    assert_eq!((entries[0].stamp.as_str(), entries[0].pid), ("Nov 29 09:49:36 2026", 206));
    assert_eq!(entries[1].text, "t: Discarded posting:\nFrom: c@x.test\nSubject: Hi");
    let hold = logs::hold(&entries[0]).unwrap();
    assert_eq!((hold.list.as_str(), hold.message_id.as_str(), hold.reason.as_str()), ("T", "<1@x.test>", "Post by non-member to a members-only list"));
    let post = logs::post(&entries[2]).unwrap();
    assert_eq!((post.size, post.message_id.as_str(), post.outcome.as_str()), (1339, "<2@x.test>", "success"));
    assert_eq!(logs::about(&entries, &["<2@x.test>".to_string()]).len(), 1);
    assert!(logs::about(&entries, &[String::new()]).is_empty());
}

/// A members page of a list longer than `admin_member_chunksize`, in the
/// shape Mailman 2.1's `admin.py` writes it (written here: no recording
/// has a list that long): letter links, chunk links, one chunk's rows.
const MEMBERS_CHUNKED: &str = r##"<html><body><FORM action="../admin/t/members" method="POST">
<table><tr><td COLSPAN="11" BGCOLOR="#dddddd"><center><em>3 members total</em></center></td></tr>
<tr><td COLSPAN="11"><center><a href="http://l.test/mailman/admin/t/members?letter=a">[A]</a>
<a href="http://l.test/mailman/admin/t/members?letter=b">[B]</a></center></td></tr>
<tr><td><a href="../../options/t/al--at--x.test">al@x.test</a><br><INPUT name="user" type="HIDDEN" value="Al%40X.test" ></td></tr>
<tr><td><a href="../../options/t/an--at--x.test">an@x.test</a><br><INPUT name="user" type="HIDDEN" value="an%40x.test" ></td></tr>
<tr><td COLSPAN="11"><a href="http://l.test/mailman/admin/t/members?letter=a&chunk=1">al@x.test ... an@x.test</a></td></tr>
</table></FORM></body></html>"##;

/// The Recipient filters and Archiving Options pages' widgets (written
/// here in the widgets' recorded shape: the recordings lack these two pages).
const RECIPIENT_AND_ARCHIVE: &str = r#"<html><body><FORM>
<INPUT name="require_explicit_destination" type="RADIO" value="0" >
<INPUT name="require_explicit_destination" type="RADIO" value="1" CHECKED >
<TEXTAREA NAME=acceptable_aliases ROWS=5 COLS=40 WRAP=off></TEXTAREA>
<INPUT name="max_num_recipients" type="TEXT" value="10" size="7" >
<INPUT name="archive" type="RADIO" value="0" >
<INPUT name="archive" type="RADIO" value="1" CHECKED >
<INPUT name="archive_private" type="RADIO" value="0" >
<INPUT name="archive_private" type="RADIO" value="1" CHECKED >
<INPUT name="subject_prefix" type="TEXT" value="[it's] " size="40" >
<TEXTAREA NAME=owner ROWS=3 COLS=40 WRAP=off>a@x.test
b@x.test
</TEXTAREA>
</FORM></body></html>"#;

#[test]
fn admin_members_page_with_letters_and_chunks() {
    let page = admin::parse_members(MEMBERS_CHUNKED);
    assert_eq!(page.total, Some(3));
    assert_eq!(page.addresses, ["al@x.test", "an@x.test"]);
    assert_eq!(page.other_pages, ["members?letter=a", "members?letter=b", "members?letter=a&chunk=1"]);
}

#[test]
fn admin_form_values_as_config_list_writes_them() {
    let v = admin::form_values(RECIPIENT_AND_ARCHIVE);
    assert_eq!(v["require_explicit_destination"], "1");
    assert_eq!(v["max_num_recipients"], "10");
    assert_eq!((v["archive"].as_str(), v["archive_private"].as_str()), ("1", "1"));
    assert_eq!(v["subject_prefix"], r"'[it\'s] '");
    assert_eq!(v["owner"], "['a@x.test', 'b@x.test']");
    assert_eq!(v["acceptable_aliases"], "[]");
    // config_list's reader takes them back as it takes its own output.
    use crate::migration::inventory::py_value;
    assert_eq!(py_value(&v["subject_prefix"]), serde_json::Value::from("[it's] "));
    assert_eq!(py_value(&v["owner"]).as_array().map(Vec::len), Some(2));
    assert!(!admin::is_admin_login_form(RECIPIENT_AND_ARCHIVE));
    assert!(admin::is_admin_login_form(r#"<form><INPUT TYPE="password" NAME="adminpw" SIZE="30"></form>"#));
}

#[test]
fn pipermail_date_index_message_count() {
    let html = "<html><body><p><b>Starting:</b> <i>x</i><br>\n<b>Ending:</b> <i>y</i><br>\n<b>Messages:</b> 12<p></body></html>";
    assert_eq!(pipermail::date_index_count(html), Some(12));
    assert_eq!(pipermail::date_index_count("<html><body>none</body></html>"), None);
}
