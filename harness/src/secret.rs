//! Secrets: passwords the harness needs on real hosts, and where they come
//! from.
//!
//! A target file never holds a secret itself: it names an environment
//! variable (`*_env`) or a file (`*_file`), and [`SecretSource::read`] fetches
//! the value when a connection needs it. The value lives in a [`Secret`],
//! whose `Debug` and `Display` print `***`, so a secret cannot reach a report,
//! a log line or a panic message by formatting.

use std::fmt;
use std::path::PathBuf;

/// A secret value. Formatting it prints `***`; [`Secret::expose`] is the only
/// way to the text, for the one call that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value (read from the environment, a file, or given by a test).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the protocol step that sends it (and nothing else).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a secret is read from. Its `Debug` shows the variable's name or the
/// file's path, never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable of the harness's process, by name
    /// (`password_env` in a target file).
    Env(String),
    /// A file whose whole content is the secret; one trailing line end is
    /// dropped (`password_file`).
    File(PathBuf),
    /// A value given in code (tests, or a caller that has it already); a
    /// target file cannot produce this.
    Given(Secret),
}

/// A secret that could not be read. The messages name the variable or the
/// file, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("environment variable {0} is not valid UTF-8")]
    EnvNotUnicode(String),
    #[error("cannot read secret file {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("secret file {0} is not valid UTF-8")]
    FileNotUnicode(PathBuf),
    #[error("{0} is empty")]
    Empty(String),
}

impl SecretSource {
    /// Reads the secret now. An empty value is an error: it is always a
    /// mistake (an unset variable exported as empty, a truncated file).
    pub fn read(&self) -> Result<Secret, SecretError> {
        let value = match self {
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(value) => value,
                Err(std::env::VarError::NotPresent) => return Err(SecretError::EnvMissing(name.clone())),
                Err(std::env::VarError::NotUnicode(_)) => return Err(SecretError::EnvNotUnicode(name.clone())),
            },
            SecretSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|source| SecretError::File { path: path.clone(), source })?;
                let mut text = String::from_utf8(bytes).map_err(|_| SecretError::FileNotUnicode(path.clone()))?;
                // `echo secret > file` adds a line end that is not part of it.
                if text.ends_with('\n') {
                    text.pop();
                    if text.ends_with('\r') {
                        text.pop();
                    }
                }
                text
            }
            SecretSource::Given(secret) => return Ok(secret.clone()),
        };
        if value.is_empty() {
            return Err(SecretError::Empty(self.to_string()));
        }
        Ok(Secret(value))
    }
}

/// "environment variable NAME", "file PATH", "a given secret": for messages.
impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "environment variable {name}"),
            SecretSource::File(path) => write!(f, "secret file {}", path.display()),
            SecretSource::Given(_) => f.write_str("a given secret"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_format_their_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?} {secret:#?}"), "*** *** ***");
        let given = SecretSource::Given(secret.clone());
        assert!(!format!("{given} {given:?}").contains("hunter2"));
        assert_eq!(given.read().unwrap().expose(), "hunter2");
    }

    #[test]
    fn files_lose_one_line_end_and_name_themselves_in_errors() {
        let dir = std::env::temp_dir().join(format!("mailflow-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "s3cret \r\n").unwrap();
        assert_eq!(SecretSource::File(file.clone()).read().unwrap().expose(), "s3cret ");
        std::fs::write(&file, "\n").unwrap();
        let err = SecretSource::File(file.clone()).read().unwrap_err();
        assert_eq!(err.to_string(), format!("secret file {} is empty", file.display()));
        let missing = SecretSource::File(dir.join("nope")).read().unwrap_err();
        assert!(missing.to_string().starts_with("cannot read secret file "), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();

        let unset = SecretSource::Env("MAILFLOW_TEST_SURELY_UNSET_VARIABLE".into()).read().unwrap_err();
        assert_eq!(unset.to_string(), "environment variable MAILFLOW_TEST_SURELY_UNSET_VARIABLE is not set");
    }
}
