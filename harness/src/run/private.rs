//! `expect_private`: a private archive shows the probe to a logged-in member
//! and to no anonymous visitor, by any way in.
//!
//! HyperKitty has leaked private archives to anonymous visitors before (a
//! published vulnerability, around archive imports), so every door is
//! tried: the list page, the message page, the JSON API, the mbox export,
//! the search, and the archive link Postorius shows.

use super::secs;
use super::verdict::{unsupported, Sent, Verdict};
use crate::check::{within, Look, Row, Waited};
use crate::scenario::PrivateExpectation;
use crate::target::{Capability, Target};
use crate::web::{message_id_hash, Visit, Web};

/// What counts as refused to anonymous visitors, for the rows.
const REFUSED: &str = "401, 403 or a login page, without the probe";

pub(super) async fn expect_private<T: Target + ?Sized>(target: &T, sent: &Sent, exp: &PrivateExpectation) -> Verdict {
    let member_property = format!("member {} sees it", exp.member);
    let member_expected = format!("HyperKitty's message page and JSON API answer 200 within {}", secs(exp.within));
    let Some(web) = target.web() else {
        return unsupported(&member_property, member_expected, Capability::Web);
    };
    let Some(session) = target.web_session(&exp.member) else {
        return Verdict::row(Row::skipped(member_property, member_expected, "this target cannot log in as a member (no web account)"));
    };
    let cookie = match session.await {
        Ok(c) => c,
        Err(e) => return Verdict::row(Row::failed(member_property, member_expected, format!("could not log in: {e}"))),
    };
    let probe = &sent.probe;
    let hash = message_id_hash(&probe.message_id);
    let list = exp.list.as_str();
    let message_page = Web::message_page_path(list, &probe.message_id);
    let api = format!("/hyperkitty/api/list/{list}/email/{hash}/");

    // The member first: until the member sees it, "anonymous sees nothing"
    // would prove nothing.
    let waited = within(sent.at, exp.within, None::<tokio::sync::watch::Receiver<()>>, || async {
        match web.visit(&api, Some(&cookie)).await {
            Ok(v) if v.status == 200 => Look::Ready(v),
            Ok(_) => Look::NotYet,
            Err(_) => Look::NotYet,
        }
    })
    .await;
    let mut rows = Vec::new();
    match waited {
        Waited::Ready { value, after } => {
            let page = web.visit(&message_page, Some(&cookie)).await;
            match page {
                Ok(p) if p.status == 200 => rows.push(Row::passed(&member_property, member_expected, format!("{} and {} answered 200", value.url, p.url)).took(after)),
                Ok(p) => rows.push(Row::failed(&member_property, member_expected, format!("{} answered 200, but {} answered {}", value.url, p.url, p.status))),
                Err(e) => rows.push(Row::failed(&member_property, member_expected, e.to_string())),
            }
        }
        Waited::TimedOut { .. } | Waited::Aborted(()) => {
            let last = match web.visit(&api, Some(&cookie)).await {
                Ok(v) => format!("{} answered {}", v.url, v.status),
                Err(e) => e.to_string(),
            };
            rows.push(Row::failed(&member_property, member_expected, format!("not archived for the member: {last}")));
            // Without the member's view, the anonymous rows would prove nothing.
            return Verdict::rows(rows);
        }
    }

    // Every way in, as an anonymous visitor.
    let name = list.split('@').next().unwrap_or(list);
    let mut doors = vec![
        ("list page", format!("/hyperkitty/list/{list}/")),
        ("message page", message_page.clone()),
        ("JSON API", api.clone()),
        ("JSON API thread", format!("/hyperkitty/api/list/{list}/thread/{hash}/")),
        ("mbox export", format!("/hyperkitty/list/{list}/export/{name}.mbox.gz")),
        ("search", format!("/hyperkitty/search?mlist={list}&q={}", query_word(&probe.subject))),
    ];
    // Postorius' list page is public; the archive link it shows must not be.
    let postorius = format!("/postorius/lists/{}/", crate::web::list_id(list));
    match web.visit(&postorius, None).await {
        Ok(v) => {
            let shows = shows_probe(&v, &hash, &probe.message_id, &probe.subject);
            match shows {
                Some(what) => rows.push(Row::failed(format!("anonymous {}", v.url), REFUSED, format!("{} showed the probe ({what})", v.url))),
                None => {
                    if let Some(link) = archive_link(&v.body, list) {
                        doors.push(("Postorius' archive link", link));
                    }
                }
            }
        }
        Err(e) => rows.push(Row::failed(format!("anonymous {}", web.url(&postorius)), "Postorius' list page answers", e.to_string())),
    }
    for (door, path) in doors {
        let property = format!("anonymous {door}");
        match web.visit(&path, None).await {
            Err(e) => rows.push(Row::failed(property, REFUSED, e.to_string())),
            Ok(v) => rows.push(judge(property, &v, &hash, &probe.message_id, &probe.subject)),
        }
    }
    Verdict::rows(rows)
}

/// One anonymous visit: refused, and not showing the probe.
fn judge(property: String, v: &Visit, hash: &str, message_id: &str, subject: &str) -> Row {
    if let Some(what) = shows_probe(v, hash, message_id, subject) {
        return Row::failed(property, REFUSED, format!("{} showed the probe ({what}; answered {})", v.url, v.status));
    }
    if v.is_refused() {
        let how = if v.is_login_page() { format!("a login page at {}", v.final_url) } else { v.status.to_string() };
        return Row::passed(property, REFUSED, format!("{}: {how}", v.url));
    }
    let what = if v.len > 0 && v.status == 200 { format!("answered 200 with {} bytes", v.len) } else { format!("answered {}", v.status) };
    Row::failed(property, REFUSED, format!("{} {what} to an anonymous visitor", v.url))
}

/// What of the probe a page shows: its Message-ID or its subject. (Not
/// its Message-ID-Hash: HyperKitty's refusal page links to the login with
/// the page's own URL, which holds the hash.)
fn shows_probe(v: &Visit, _hash: &str, message_id: &str, subject: &str) -> Option<&'static str> {
    let bare = message_id.trim_start_matches('<').trim_end_matches('>');
    if !bare.is_empty() && v.body.contains(bare) {
        Some("its Message-ID")
    } else if !subject.trim().is_empty() && v.body.contains(subject) {
        Some("its subject")
    } else {
        None
    }
}

/// A link on Postorius' list page into HyperKitty's archive of the list.
fn archive_link(body: &str, list: &str) -> Option<String> {
    let wanted = format!("/hyperkitty/list/{list}");
    body.split("href=\"").skip(1).filter_map(|rest| rest.split('"').next()).map(|href| href.replace("%40", "@")).find(|href| href.contains(&wanted)).map(|href| {
        match href.find("/hyperkitty/") {
            Some(at) => href[at..].to_string(),
            None => href.to_string(),
        }
    })
}

/// The subject's longest word, URL-safe, to search for.
fn query_word(subject: &str) -> String {
    subject
        .split(|c: char| !c.is_ascii_alphanumeric())
        .max_by_key(|w| w.len())
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(status: u16, final_url: &str, body: &str) -> Visit {
        Visit { url: "http://h/x".into(), final_url: final_url.into(), status, body: body.into(), len: body.len() }
    }

    #[test]
    fn refused_login_and_leaks() {
        let hash = "MS6QLWERIJLGCRF44J7USBFDELMNT2BW";
        let ok = |v: &Visit| judge("p".into(), v, hash, "<a@b>", "private probe");
        assert_eq!(ok(&visit(403, "http://h/x", "<h1>private</h1>")).outcome, crate::check::Outcome::Passed);
        assert_eq!(ok(&visit(200, "http://h/accounts/login/?next=/x", "login")).outcome, crate::check::Outcome::Passed);
        let leak = ok(&visit(200, "http://h/x", "<title>private probe</title>"));
        assert_eq!(leak.outcome, crate::check::Outcome::Failed);
        assert!(leak.observed.contains("http://h/x showed the probe (its subject"), "{}", leak.observed);
        // A 403 page that still shows the probe is a leak; its hash in a login link is not.
        assert_eq!(ok(&visit(403, "http://h/x", "<a@b>")).outcome, crate::check::Outcome::Failed);
        assert_eq!(ok(&visit(403, "http://h/x", &format!("/accounts/login/?next=/m/{hash}/"))).outcome, crate::check::Outcome::Passed);
        let open = ok(&visit(200, "http://h/x", "\u{1f}\u{8b}gz"));
        assert!(open.observed.contains("answered 200 with"), "{}", open.observed);
    }

    #[test]
    fn postorius_archive_link() {
        let body = r#"<a href="/postorius/lists/">x</a> <a href="http://h/hyperkitty/list/l@d.test/">Archives</a>"#;
        assert_eq!(archive_link(body, "l@d.test").as_deref(), Some("/hyperkitty/list/l@d.test/"));
        assert_eq!(archive_link("<a href=\"/other\">", "l@d.test"), None);
        assert_eq!(archive_link("<a href=\"/hyperkitty/list/l%40d.test/\">", "l@d.test").as_deref(), Some("/hyperkitty/list/l@d.test/"));
        assert_eq!(query_word("[x] private probe"), "private");
    }
}
