//! `expect_settings`: the list's settings on the server are the suite's.
//! Read-only, so it runs against real hosts too, where a setting changed
//! by hand (or lost in a migration) shows up as one failed row.

use super::verdict::Verdict;
use crate::check::Row;
use crate::mailman::settings;
use crate::scenario::{SettingsExpectation, Suite};
use crate::target::Target;

pub(super) async fn expect_settings<T: Target + ?Sized>(target: &T, suite: &Suite, exp: &SettingsExpectation) -> Verdict {
    let Some(list) = suite.list(&exp.list) else {
        return Verdict::row(Row::failed("settings", "the list in the suite", format!("{} is not declared", exp.list)));
    };
    let count = list.settings.values.len() + list.archivers.len();
    let expected = format!("the suite's {count} setting(s) of {}", list.list_id());
    let Some(rest) = target.mailman_rest() else {
        return Verdict::row(Row::skipped("settings", expected, "needs Mailman's REST API (`[mailman]` in the target file, reached directly)"));
    };
    match settings::compare(rest, list).await {
        Err(e) => Verdict::row(Row::failed("settings", expected, format!("could not read them: {e}"))),
        Ok(diffs) if diffs.is_empty() => Verdict::row(Row::passed("settings", expected, "all as declared")),
        Ok(diffs) => Verdict::rows(
            diffs
                .into_iter()
                .map(|d| Row::failed(format!("setting {} of {}", d.key, d.list), format!("{} (as at {})", d.expected, d.at), format!("{} on the server", d.observed)))
                .collect(),
        ),
    }
}
