//! Finding scenario files and their suite on disk, and loading them.

use std::collections::HashSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::error::{FileError, LoadErrors};
use super::model::Plan;
use super::scenario_file::parse_scenario;
use super::suite::read_suite;

const SUITE_FILE: &str = "suite.toml";

/// The scenario files under `paths`: directories are searched recursively
/// for `*.toml` other than `suite.toml` (hidden entries skipped, and
/// folders below that hold a `suite.toml` of their own), each
/// directory's files sorted; files are taken as given. No file is read, so
/// this stays fast enough for `cargo test -- --list`.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadErrors> {
    let mut errors = Vec::new();
    let files = discover_into(paths, &mut errors);
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(LoadErrors { errors })
    }
}

/// Like `discover`, but keeps what it found next to its errors so that
/// `load` can report everything at once.
fn discover_into(paths: &[PathBuf], errors: &mut Vec<FileError>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mut found = Vec::new();
                walk(path, &mut found, errors);
                found.sort();
                files.extend(found);
            }
            // A glob like `scenarios/*.toml` also matches the suite.
            Ok(_) if is_suite_file(path) => {}
            Ok(_) => files.push(path.clone()),
            Err(err) => errors.push(FileError::whole_file(path, format!("cannot read: {err}"))),
        }
    }
    // A file named twice (directly and through its directory) runs once.
    let mut seen = HashSet::new();
    files.retain(|file| seen.insert(file.clone()));
    files
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, errors: &mut Vec<FileError>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            errors.push(FileError::whole_file(
                dir,
                format!("cannot read directory: {err}"),
            ));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                errors.push(FileError::whole_file(
                    dir,
                    format!("cannot read directory: {err}"),
                ));
                continue;
            }
        };
        let path = entry.path();
        // Editors and VCS leave hidden files and folders (`.#x.toml`, `.git`).
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // `fs::metadata` follows symlinks, so linked folders are searched too.
        match fs::metadata(&path) {
            // A folder below with a suite of its own (scenarios/cutover/) is
            // run on its own, by naming it.
            Ok(meta) if meta.is_dir() && path.join(SUITE_FILE).is_file() => {}
            Ok(meta) if meta.is_dir() => walk(&path, found, errors),
            Ok(_) => {
                let is_toml = path.extension().is_some_and(|ext| ext == "toml");
                if is_toml && !is_suite_file(&path) {
                    found.push(path);
                }
            }
            Err(err) => errors.push(FileError::whole_file(&path, format!("cannot read: {err}"))),
        }
    }
}

fn is_suite_file(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name == SUITE_FILE)
}

/// Loads the suite and every scenario under `paths`. All scenarios must
/// belong to the same `suite.toml` (the nearest one in their directory or
/// above). Every error of every file is returned.
pub fn load(paths: &[PathBuf]) -> Result<Plan, LoadErrors> {
    let mut errors = Vec::new();
    let files = discover_into(paths, &mut errors);
    if files.is_empty() && errors.is_empty() {
        let message = "no scenario files (*.toml other than suite.toml) found";
        match paths.first() {
            Some(first) => errors.push(FileError::whole_file(first, message)),
            None => errors.push(FileError::whole_file(
                Path::new("."),
                "no scenario paths given",
            )),
        }
    }

    // Which suite each scenario belongs to; the first one found is the run's.
    let mut suite_file: Option<SuiteFile> = None;
    let mut scenario_files = Vec::new();
    for file in files {
        let Some(found) = find_suite(&file) else {
            errors.push(FileError::whole_file(
                &file,
                format!("no {SUITE_FILE} in this file's directory or any directory above it"),
            ));
            continue;
        };
        match &suite_file {
            None => suite_file = Some(found),
            Some(run_suite) if run_suite.canonical == found.canonical => {}
            Some(run_suite) => {
                errors.push(FileError::whole_file(
                    &file,
                    format!(
                        "belongs to suite {} but {} belongs to {}; run one suite at a time",
                        found.path.display(),
                        run_suite.first_scenario.display(),
                        run_suite.path.display()
                    ),
                ));
                continue;
            }
        }
        scenario_files.push(file);
    }
    let Some(suite_file) = suite_file else {
        return Err(LoadErrors { errors });
    };

    let suite = match fs::read_to_string(&suite_file.path) {
        Ok(src) => {
            let (suite, suite_errors) = read_suite(&suite_file.path, &src);
            errors.extend(suite_errors);
            suite
        }
        Err(err) => {
            errors.push(FileError::whole_file(
                &suite_file.path,
                format!("cannot read: {err}"),
            ));
            return Err(LoadErrors { errors });
        }
    };

    let mut scenarios = Vec::new();
    for file in scenario_files {
        match fs::read_to_string(&file) {
            Ok(src) => match parse_scenario(&file, &src, &suite) {
                Ok(scenario) => scenarios.push(scenario),
                Err(err) => errors.extend(err.errors),
            },
            Err(err) => errors.push(FileError::whole_file(&file, format!("cannot read: {err}"))),
        }
    }

    if errors.is_empty() {
        Ok(Plan { suite, scenarios })
    } else {
        Err(LoadErrors { errors })
    }
}

/// A found `suite.toml`.
struct SuiteFile {
    /// As shown to the user: relative when the scenario path was.
    path: PathBuf,
    /// To tell whether two scenarios share a suite.
    canonical: PathBuf,
    /// The scenario it was first found for, to explain a mismatch.
    first_scenario: PathBuf,
}

/// The nearest `suite.toml` in the scenario's directory or above.
fn find_suite(scenario: &Path) -> Option<SuiteFile> {
    let dir = match scenario.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // Walk the path as written first, for readable paths in messages; that
    // is only sound without `..`, whose lexical parent is not the real one.
    let lexical = if dir.components().any(|c| c == Component::ParentDir) {
        None
    } else {
        dir.ancestors()
            .map(|ancestor| ancestor.join(SUITE_FILE))
            .find(|candidate| candidate.is_file())
    };
    // Then the real directories, up to the root (e.g. a scenario path
    // relative to a subfolder of the suite).
    let path = lexical.or_else(|| {
        let real = fs::canonicalize(dir).ok()?;
        real.ancestors()
            .map(|ancestor| ancestor.join(SUITE_FILE))
            .find(|candidate| candidate.is_file())
    })?;
    let canonical = fs::canonicalize(&path).ok()?;
    Some(SuiteFile {
        path,
        canonical,
        first_scenario: scenario.to_path_buf(),
    })
}
