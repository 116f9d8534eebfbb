//! listinfo, Mailman 2.1's public list pages: the overview
//! (`/mailman/listinfo`) and one list's info page (`/mailman/listinfo/<list>`).
//!
//! Facts (recorded from Mailman 2.1.39, `web/01`..`03`, `38`, `42`): the
//! overview lists only advertised lists of the virtual host named by the
//! request's Host header (asked by IP address it says "There currently are
//! no publicly-advertised ... lists"); an unknown list answers 404 with
//! "No such list"; a list's page is titled "<Real_name> Info Page" and links
//! its archive (`/pipermail/<list>/`, or `/mailman/private/<list>/`).

use scraper::Html;

use super::html::{sel, text};

/// One list of the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The list's name as in its URL (lower case).
    pub name: String,
    /// Its real name as shown (`Probe-test`).
    pub real_name: String,
    pub description: String,
}

/// The lists the overview shows.
pub fn parse_overview(html: &str) -> Vec<ListEntry> {
    let doc = Html::parse_document(html);
    let mut found = Vec::new();
    for link in doc.select(&sel(r#"td > a[href^="listinfo/"]"#)) {
        let name = link.value().attr("href").unwrap_or_default().trim_start_matches("listinfo/").to_string();
        let Some(cell) = link.parent().and_then(scraper::ElementRef::wrap) else { continue };
        let description = cell.next_siblings().filter_map(scraper::ElementRef::wrap).next().map(text).unwrap_or_default();
        found.push(ListEntry { name, real_name: text(link), description });
    }
    found
}

/// A list's info page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInfo {
    /// From the title "<Real_name> Info Page".
    pub real_name: String,
    /// The archive link's target, when the page offers one.
    pub archive_url: Option<String>,
}

/// Reads a list's info page; `None` when it is not one (the overview with
/// "No such list").
pub fn parse_listinfo(html: &str) -> Option<ListInfo> {
    let doc = Html::parse_document(html);
    let title = doc.select(&sel("title")).next().map(text)?;
    let real_name = title.strip_suffix(" Info Page")?.to_string();
    let archive_url = doc
        .select(&sel("a[href]"))
        .filter_map(|a| a.value().attr("href"))
        .find(|h| h.contains("/pipermail/") || h.contains("/private/"))
        .map(str::to_string);
    Some(ListInfo { real_name, archive_url })
}
