//! Choosing which scenarios of a plan run: `--filter` and `--partition`.
//!
//! - A filter is a case-sensitive substring. A scenario is selected when its
//!   path relative to the suite folder (the folder holding `suite.toml`,
//!   written with `/`, e.g. `refusal/relay.toml`) or its name contains any
//!   of the filters. No filter selects every scenario.
//! - A partition `k/n` then keeps every n-th of the filtered scenarios,
//!   starting with the k-th, counted over their relative paths in sorted
//!   order (round-robin). The relative paths are the same on every machine
//!   that has the suite, wherever it lives, so a CI matrix of `1/n` to `n/n`
//!   runs each selected scenario exactly once; the shards differ in size by
//!   at most one.
//!
//! Selection keeps the plan's order. Selecting nothing is an error that
//! names the filters and the partition.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use super::error::LoadErrors;
use super::model::Plan;

/// `--partition k/n`: the k-th of n shards, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// Which shard, 1 to `count`.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl Partition {
    /// Whether the scenario at `position` in sorted order (0-based) is in this shard.
    pub fn keeps(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

impl FromStr for Partition {
    type Err = String;

    /// Parses `k/n` with 1 ≤ k ≤ n.
    fn from_str(text: &str) -> Result<Partition, String> {
        let usage = || "expected K/N with whole numbers, like 1/3".to_string();
        let (k, n) = text.split_once('/').ok_or_else(usage)?;
        let k: usize = k.trim().parse().map_err(|_| usage())?;
        let n: usize = n.trim().parse().map_err(|_| usage())?;
        if n == 0 {
            return Err("the number of partitions N must be at least 1".into());
        }
        if k == 0 || k > n {
            return Err(format!("the partition K must be between 1 and N ({n})"));
        }
        Ok(Partition { index: k, count: n })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What the command line asked for; the default selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Substrings of the relative path or the name; empty selects all.
    pub filters: Vec<String>,
    /// Applied after the filters; `None` keeps all they kept.
    pub partition: Option<Partition>,
}

/// One scenario as selection sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Its path relative to the suite folder, with `/` separators.
    pub relative: &'a str,
    /// Its `name`.
    pub name: &'a str,
}

/// A selection that selected no scenario.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", nothing_selected(.selection, *.total, *.filtered))]
pub struct NothingSelected {
    /// What was asked for.
    pub selection: Selection,
    /// Scenarios in the plan.
    pub total: usize,
    /// Scenarios the filters kept, before the partition.
    pub filtered: usize,
}

fn nothing_selected(selection: &Selection, total: usize, filtered: usize) -> String {
    let filters = selection.filters.iter().map(|f| format!("--filter {f:?}")).collect::<Vec<_>>().join(" or ");
    match (&selection.partition, filtered) {
        (_, 0) if !selection.filters.is_empty() => {
            format!("no scenario matches {filters} (by its path relative to the suite folder or its name; {total} scenario(s) looked at)")
        }
        (Some(p), _) if selection.filters.is_empty() => {
            format!("--partition {p} selects none of the {total} scenario(s)")
        }
        (Some(p), _) => format!("--partition {p} selects none of the {filtered} scenario(s) that match {filters}"),
        (None, _) => format!("no scenario selected of {total}"),
    }
}

/// The indices of the selected candidates, in the candidates' order.
pub fn pick(candidates: &[Candidate<'_>], selection: &Selection) -> Result<Vec<usize>, NothingSelected> {
    let matches = |c: &Candidate<'_>| {
        selection.filters.is_empty() || selection.filters.iter().any(|f| c.relative.contains(f.as_str()) || c.name.contains(f.as_str()))
    };
    let mut picked: Vec<usize> = (0..candidates.len()).filter(|&i| matches(&candidates[i])).collect();
    let filtered = picked.len();
    if let Some(partition) = selection.partition {
        let mut sorted = picked.clone();
        // Ties (the same relative path twice) fall back to plan order, so the split stays total.
        sorted.sort_by(|&a, &b| candidates[a].relative.cmp(candidates[b].relative).then(a.cmp(&b)));
        let kept: Vec<usize> = sorted.iter().enumerate().filter(|(pos, _)| partition.keeps(*pos)).map(|(_, &i)| i).collect();
        picked.retain(|i| kept.contains(i));
    }
    if picked.is_empty() {
        return Err(NothingSelected { selection: selection.clone(), total: candidates.len(), filtered });
    }
    Ok(picked)
}

/// `path` relative to `root`, with `/` separators; `path` as written when
/// it is not under `root`. Lexical: `.` components are dropped, nothing
/// is read from disk.
pub fn relative_path(root: &Path, path: &Path) -> String {
    let (root, path) = (without_dots(root), without_dots(path));
    let rel = path.strip_prefix(&root).unwrap_or(&path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn without_dots(p: &Path) -> PathBuf {
    p.components().filter(|c| *c != Component::CurDir).collect()
}

/// Each scenario's path relative to the folder of the plan's `suite.toml`.
/// Compared as written first; when that fails (`..` in a path, a path
/// given from inside the suite folder), as the file system resolves both.
pub fn relative_paths(plan: &Plan) -> Vec<String> {
    let root = plan.suite.path.parent().unwrap_or(Path::new(""));
    let has_parent = |p: &Path| p.components().any(|c| c == Component::ParentDir);
    let real_root = std::fs::canonicalize(if root.as_os_str().is_empty() { Path::new(".") } else { root });
    plan.scenarios
        .iter()
        .map(|s| {
            let lexical = !has_parent(root) && !has_parent(&s.path) && without_dots(&s.path).starts_with(without_dots(root));
            match (&real_root, std::fs::canonicalize(&s.path)) {
                (Ok(real_root), Ok(real)) if !lexical => relative_path(real_root, &real),
                _ => relative_path(root, &s.path),
            }
        })
        .collect()
}

/// Keeps the selected scenarios of `plan`, in its order.
pub fn apply(mut plan: Plan, selection: &Selection) -> Result<Plan, NothingSelected> {
    if selection == &Selection::default() {
        return Ok(plan);
    }
    let relative = relative_paths(&plan);
    let candidates: Vec<Candidate<'_>> =
        plan.scenarios.iter().zip(&relative).map(|(s, r)| Candidate { relative: r, name: &s.name }).collect();
    let picked = pick(&candidates, selection)?;
    let mut index = 0;
    plan.scenarios.retain(|_| {
        let keep = picked.contains(&index);
        index += 1;
        keep
    });
    Ok(plan)
}

/// Why there is nothing to run: the files did not load, or the selection
/// kept none of their scenarios.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanError {
    /// Errors in the files, each with its position.
    #[error("{} error(s) in the scenario files; nothing was run", .0.errors.len())]
    Load(LoadErrors),
    /// The files loaded; the selection kept none of them.
    #[error(transparent)]
    NothingSelected(#[from] NothingSelected),
}

/// Loads the scenarios under `paths` (see [`super::load`]) and keeps the
/// selected ones.
pub fn load(paths: &[PathBuf], selection: &Selection) -> Result<Plan, PlanError> {
    let plan = super::load(paths).map_err(PlanError::Load)?;
    Ok(apply(plan, selection)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUITE: [(&str, &str); 5] = [
        ("archive/no-archive.toml", "no archive"),
        ("delivery/member-post.toml", "a member's post reaches the list"),
        ("moderation/emergency.toml", "emergency moderation holds a member's post"),
        ("refusal/relay.toml", "relaying is refused"),
        ("refusal/unknown-list.toml", "an unknown list is refused"),
    ];

    fn candidates() -> Vec<Candidate<'static>> {
        SUITE.iter().map(|(relative, name)| Candidate { relative, name }).collect()
    }

    fn selection(filters: &[&str], partition: Option<&str>) -> Selection {
        Selection {
            filters: filters.iter().map(|f| f.to_string()).collect(),
            partition: partition.map(|p| p.parse().expect("partition")),
        }
    }

    #[test]
    fn filters() {
        let cases: &[(&[&str], &[usize])] = &[
            (&[], &[0, 1, 2, 3, 4]),
            (&["refusal/"], &[3, 4]),
            (&["relay"], &[3]),
            // The name counts too.
            (&["member's post"], &[1, 2]),
            // Any of several.
            (&["relay", "archive"], &[0, 3]),
            (&["delivery/member-post.toml"], &[1]),
        ];
        for (filters, want) in cases {
            assert_eq!(pick(&candidates(), &selection(filters, None)).as_deref(), Ok(*want), "{filters:?}");
        }
    }

    #[test]
    fn filters_are_case_sensitive() {
        let err = pick(&candidates(), &selection(&["Relay"], None)).unwrap_err();
        assert_eq!(err.filtered, 0);
        assert_eq!(
            err.to_string(),
            "no scenario matches --filter \"Relay\" (by its path relative to the suite folder or its name; 5 scenario(s) looked at)"
        );
    }

    #[test]
    fn partitions_cover_every_scenario_once() {
        for n in 1..=7 {
            let mut seen = Vec::new();
            for k in 1..=n {
                let p = format!("{k}/{n}");
                match pick(&candidates(), &selection(&[], Some(&p))) {
                    Ok(picked) => seen.extend(picked),
                    Err(e) => assert!(n > SUITE.len(), "{p}: {e}"),
                }
            }
            seen.sort();
            assert_eq!(seen, vec![0, 1, 2, 3, 4], "n = {n}");
        }
    }

    #[test]
    fn partition_is_round_robin_over_sorted_paths() {
        // Plan order differs from path order; the shards follow the paths.
        let shuffled: Vec<Candidate<'static>> = [4, 0, 3, 1, 2].iter().map(|&i| candidates()[i]).collect();
        // Sorted: c0 at 1, c1 at 3, c2 at 4, c3 at 2, c4 at 0.
        let cases: &[(&str, &[usize])] = &[("1/2", &[0, 1, 4]), ("2/2", &[2, 3]), ("1/3", &[1, 2]), ("3/3", &[4])];
        for (p, want) in cases {
            assert_eq!(pick(&shuffled, &selection(&[], Some(p))).as_deref(), Ok(*want), "{p}");
        }
    }

    #[test]
    fn partition_applies_after_filters() {
        assert_eq!(pick(&candidates(), &selection(&["refusal"], Some("1/2"))).as_deref(), Ok(&[3][..]));
        assert_eq!(pick(&candidates(), &selection(&["refusal"], Some("2/2"))).as_deref(), Ok(&[4][..]));
        let err = pick(&candidates(), &selection(&["relay"], Some("2/2"))).unwrap_err();
        assert_eq!(err.to_string(), "--partition 2/2 selects none of the 1 scenario(s) that match --filter \"relay\"");
        let err = pick(&candidates(), &selection(&[], Some("6/6"))).unwrap_err();
        assert_eq!(err.to_string(), "--partition 6/6 selects none of the 5 scenario(s)");
    }

    #[test]
    fn partition_parsing() {
        type Case<'a> = (&'a str, Result<(usize, usize), &'a str>);
        let cases: &[Case<'_>] = &[
            ("1/1", Ok((1, 1))),
            ("2/3", Ok((2, 3))),
            ("3/3", Ok((3, 3))),
            ("0/3", Err("the partition K must be between 1 and N (3)")),
            ("4/3", Err("the partition K must be between 1 and N (3)")),
            ("1/0", Err("the number of partitions N must be at least 1")),
            ("1", Err("expected K/N with whole numbers, like 1/3")),
            ("a/3", Err("expected K/N with whole numbers, like 1/3")),
            ("-1/3", Err("expected K/N with whole numbers, like 1/3")),
            ("1/3/4", Err("expected K/N with whole numbers, like 1/3")),
        ];
        for (text, want) in cases {
            let got = text.parse::<Partition>().map(|p| (p.index, p.count));
            assert_eq!(got, want.map_err(String::from), "{text}");
        }
        assert_eq!("2/5".parse::<Partition>().unwrap().to_string(), "2/5");
    }

    #[test]
    fn relative_paths_are_lexical_with_slashes() {
        let cases: &[(&str, &str, &str)] = &[
            ("scenarios", "scenarios/refusal/relay.toml", "refusal/relay.toml"),
            ("./scenarios", "scenarios/refusal/relay.toml", "refusal/relay.toml"),
            ("/srv/a/scenarios", "/srv/a/scenarios/x.toml", "x.toml"),
            ("/home/b/checkout/scenarios", "/home/b/checkout/scenarios/x.toml", "x.toml"),
            ("", "x.toml", "x.toml"),
            ("other", "scenarios/x.toml", "scenarios/x.toml"),
        ];
        for (root, path, want) in cases {
            assert_eq!(relative_path(Path::new(root), Path::new(path)), *want, "{root} {path}");
        }
    }

    #[test]
    fn shipped_suite_paths_do_not_depend_on_how_it_was_named() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let whole = crate::scenario::load(std::slice::from_ref(&root)).expect("the shipped suite loads");
        let one = crate::scenario::load(&[root.join("refusal/../refusal")]).expect("the shipped suite loads");
        let whole_paths = relative_paths(&whole);
        assert!(whole_paths.contains(&"refusal/relay.toml".to_string()), "{whole_paths:?}");
        assert_eq!(relative_paths(&one), vec!["refusal/relay.toml", "refusal/unknown-list.toml"]);
        let picked = apply(whole, &selection(&["refusal/"], None)).expect("selects");
        assert_eq!(relative_paths(&picked), vec!["refusal/relay.toml", "refusal/unknown-list.toml"]);
    }
}
