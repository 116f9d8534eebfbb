//! Small helpers over scraper for Mailman 2.1's pages.

use scraper::{ElementRef, Selector};

/// A CSS selector written in this module's code (a typo is a bug, caught
/// by the unit tests).
pub(super) fn sel(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("selector {css:?}: {e}"))
}

/// An element's text with entities decoded, white space runs (line
/// breaks, `&nbsp;`) folded to one space, trimmed.
pub(super) fn text(element: ElementRef<'_>) -> String {
    squash(&element.text().collect::<String>())
}

/// White space runs (including no-break spaces) folded to one space, trimmed.
pub(super) fn squash(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c == '\u{a0}').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The nearest ancestor element with this tag name.
pub(super) fn ancestor<'a>(element: ElementRef<'a>, tag: &str) -> Option<ElementRef<'a>> {
    element.ancestors().filter_map(ElementRef::wrap).find(|e| e.value().name() == tag)
}

/// `Label:` / value pairs of a table's rows: a cell holding `<strong>Label:</strong>`
/// and the next cell's text. The label without its colon.
pub(super) fn labelled_rows(table: ElementRef<'_>) -> Vec<(String, String)> {
    let row_sel = sel("tr");
    let strong = sel("strong");
    let mut pairs = Vec::new();
    for row in table.select(&row_sel) {
        let cells: Vec<ElementRef<'_>> = row.children().filter_map(ElementRef::wrap).filter(|c| c.value().name() == "td").collect();
        for (i, cell) in cells.iter().enumerate() {
            let Some(label) = cell.select(&strong).next() else { continue };
            let label = text(label);
            let Some(label) = label.strip_suffix(':') else { continue };
            if let Some(value) = cells.get(i + 1) {
                pairs.push((label.to_string(), text(*value)));
            }
        }
    }
    pairs
}
