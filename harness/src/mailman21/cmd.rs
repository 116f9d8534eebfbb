//! Parsers for the outputs of Mailman 2.1's `bin/` commands, as run on the
//! list server (recorded from 2.1.39 in `fixtures/mailman21/cmd/`).
//! Pure functions: [`super::shell`] runs the commands.

/// `bin/list_lists -b`: one list name per line.
pub fn list_lists_bare(out: &str) -> Vec<String> {
    out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// `bin/list_lists` (also `-a`, `-V`): `N matching mailing lists found:`
/// then `Real_name - description` lines; (real name, description).
pub fn list_lists(out: &str) -> Result<Vec<(String, String)>, String> {
    let mut lines = out.lines();
    let head = lines.next().unwrap_or_default();
    let count: usize = head
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .filter(|_| head.contains("matching mailing lists found"))
        .or_else(|| head.starts_with("No matching mailing lists found").then_some(0))
        .ok_or_else(|| format!("list_lists: unexpected first line {head:?}"))?;
    let lists: Vec<(String, String)> = lines
        .filter_map(|l| l.trim().split_once(" - ").map(|(n, d)| (n.trim().to_string(), d.trim().to_string())))
        .collect();
    if lists.len() != count {
        return Err(format!("list_lists announced {count} lists and printed {}", lists.len()));
    }
    Ok(lists)
}

/// `bin/list_members [-f]`: one member per line (`Name <address>` with -f);
/// the addresses, lower case.
pub fn list_members(out: &str) -> Vec<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match (l.rfind('<'), l.rfind('>')) {
            (Some(a), Some(b)) if a < b => l[a + 1..b].to_ascii_lowercase(),
            _ => l.to_ascii_lowercase(),
        })
        .collect()
}

/// `bin/config_list -o -`: the settings as Python assignments, in order:
/// (name, value as written). A value that spans lines (a list, a
/// triple-quoted string) is kept whole.
pub fn config_list(out: &str) -> Vec<(String, String)> {
    let mut settings: Vec<(String, String)> = Vec::new();
    let mut open = false;
    for line in out.lines() {
        let starts = line.split_once(" = ").filter(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !line.starts_with(' ')
        });
        match starts {
            Some((name, value)) if !open => {
                settings.push((name.to_string(), value.to_string()));
                open = unbalanced(value);
            }
            _ if open => {
                let last = settings.last_mut().expect("open only after a setting");
                last.1.push('\n');
                last.1.push_str(line);
                open = unbalanced(&last.1);
            }
            _ => {}
        }
    }
    settings
}

/// True while a Python value is not closed yet: an open bracket or an
/// unterminated triple-quoted string.
fn unbalanced(value: &str) -> bool {
    if value.matches("\"\"\"").count() % 2 == 1 || value.matches("'''").count() % 2 == 1 {
        return true;
    }
    let opened = value.matches(['[', '{', '(']).count();
    let closed = value.matches([']', '}', ')']).count();
    !value.contains("\"\"\"") && !value.contains("'''") && opened > closed
}

/// What `bin/check_perms` reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermsReport {
    /// Each problem line (`directory permissions must be 02775: ...`,
    /// `... bad group (has: root, expected mailman)`).
    pub problems: Vec<String>,
    /// Warnings (`Warning: ...` with their continuation lines, joined).
    pub warnings: Vec<String>,
    /// The count it printed (`Problems found: N`); 0 for "No problems found".
    pub problems_found: Option<usize>,
}

/// Reads `bin/check_perms` (before or after `-f`).
pub fn check_perms(out: &str) -> PermsReport {
    let mut report = PermsReport::default();
    let mut in_warning = false;
    for line in out.lines() {
        let continued = line.starts_with(' ');
        if continued && in_warning {
            let last = report.warnings.last_mut().expect("in a warning");
            last.push(' ');
            last.push_str(line.trim());
            continue;
        }
        in_warning = false;
        if let Some(n) = line.strip_prefix("Problems found: ") {
            report.problems_found = n.trim().parse().ok();
        } else if line.trim() == "No problems found" {
            report.problems_found = Some(0);
        } else if line.starts_with("Warning: ") {
            report.warnings.push(line.to_string());
            in_warning = true;
        } else if !line.trim().is_empty() && !line.starts_with("Re-run as ") && !continued {
            report.problems.push(line.to_string());
        }
    }
    report
}

/// `bin/version`: `Using Mailman version: 2.1.39`.
pub fn version(out: &str) -> Option<String> {
    out.lines().find_map(|l| l.strip_prefix("Using Mailman version: ")).map(|v| v.trim().to_string())
}
