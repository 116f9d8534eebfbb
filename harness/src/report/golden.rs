//! Golden files for the reporters: `harness/tests-data/report/<name>`.
//! `MAILFLOW_BLESS=1 cargo test` writes the current output as the new
//! golden file instead of comparing.

use std::path::PathBuf;

use super::normalize::normalize;

/// Compares `actual` (normalised) with the golden file `name`.
pub fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests-data/report").join(name);
    let actual = normalize(actual);
    if std::env::var_os("MAILFLOW_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("folder")).expect("create tests-data/report");
        std::fs::write(&path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (MAILFLOW_BLESS=1 writes it)", path.display()));
    if expected != actual {
        panic!(
            "{} differs from the golden file (MAILFLOW_BLESS=1 accepts the new output)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}
