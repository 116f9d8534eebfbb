//! The target file's rules: a TOML file describing one real list server,
//! read like scenario files (spanned TOML walked by hand, every error at
//! once, each at its file, line and column; unknown keys are errors).
//!
//! The format is documented in README.md ("Target files").

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use super::config::{
    Allow, Cutover, FaultCommands, HostsConfig, Limits, MailboxConfig, Mailman21Config, Mailman21List, MailmanConfig, MailmanVersion, RestReach, SmtpAuth, SmtpConfig, SshConfig,
    StartTls, WebConfig,
};
use crate::mailbox::{ImapConfig, ImapTimeouts, ImapTls};
use crate::scenario::error::{FileError, LoadErrors};
use crate::scenario::fields;
use crate::scenario::reader::{Doc, Span, TableReader, Value};
use crate::scenario::values::check_address;
use crate::secret::SecretSource;
use crate::target::through_shell::ServerPaths;
use crate::tls::Verify;

const TOP_KEYS: &[&str] = &["name", "smtp", "mailman", "web", "mailbox", "ssh", "allow", "faults", "limits", "cutover"];
const SMTP_KEYS: &[&str] = &["addresses", "starttls", "verify", "ca_file", "user", "password_env", "password_file"];
const MAILMAN_KEYS: &[&str] = &["version", "rest_url", "reach", "user", "password_env", "password_file", "verify", "ca_file"];
const MAILMAN21_KEYS: &[&str] = &[
    "version", "web_url", "cgi_path", "pipermail_path", "address", "site_password_env", "site_password_file", "verify", "ca_file",
    "bin_dir", "qfiles_dir", "logs_dir", "archives_dir", "lists",
];
const MAILMAN21_LIST_KEYS: &[&str] =
    &["password_env", "password_file", "archive_user", "archive_password_env", "archive_password_file"];
const WEB_KEYS: &[&str] = &["hyperkitty_url", "verify", "ca_file"];
const MAILBOX_KEYS: &[&str] = &[
    "kind", "host", "port", "tls", "verify", "ca_file", "user", "password_env", "password_file", "folder", "address",
];
const SSH_KEYS: &[&str] = &[
    "host", "user", "port", "proxy_jump", "strict_host_key_checking", "identity_file", "known_hosts_file", "become",
    "exim_mainlog", "mailman_var_dir", "mailman_log",
];
const ALLOW_KEYS: &[&str] = &["moderate", "faults"];
const FAULTS_KEYS: &[&str] = &["become", "mailman_stop", "mailman_start", "mailman_ready", "web_stop", "web_start", "web_ready", "exim"];
const LIMITS_KEYS: &[&str] = &["probes_per_minute"];
const CUTOVER_KEYS: &[&str] = &["old_smtp"];

const DEFAULT_SMTP_PORT: u16 = 25;
const DEFAULT_REST_USER: &str = "restadmin";
const DEFAULT_FOLDER: &str = "INBOX";
/// More than ten probes a second toward a production host is surely a typo.
const PROBES_PER_MINUTE: std::ops::RangeInclusive<i64> = 1..=600;
const PORTS: std::ops::RangeInclusive<i64> = 1..=65535;
/// The mailbox kinds a target file may name.
const MAILBOX_KINDS: [&str; 1] = ["imap"];

/// Reads and checks a target file.
pub fn load_hosts(path: &Path) -> Result<HostsConfig, LoadErrors> {
    match std::fs::read_to_string(path) {
        Ok(src) => parse_hosts(path, &src),
        Err(err) => Err(LoadErrors { errors: vec![FileError::whole_file(path, format!("cannot read: {err}"))] }),
    }
}

/// Parses and checks the text of a target file. Relative paths in it are
/// taken from the file's folder; `~/` from `$HOME`.
pub fn parse_hosts(path: &Path, src: &str) -> Result<HostsConfig, LoadErrors> {
    let mut doc = Doc::new(path, src);
    let Some(root) = doc.parse(src) else {
        return Err(LoadErrors { errors: doc.into_errors() });
    };
    let files = Files { base: path.parent().map(Path::to_path_buf).unwrap_or_default() };
    let mut top = TableReader::new("", &root, 0..0, TOP_KEYS);

    let name = top.required(&mut doc, "name").and_then(|value| {
        let name = doc.string("`name`", value)?;
        if name.trim().is_empty() || name.contains(['\r', '\n']) {
            doc.error(value.span(), "empty or several lines", "`name` must be one non-empty line");
            return None;
        }
        Some(name.to_string())
    });
    let smtp = top.required(&mut doc, "smtp").and_then(|value| read_smtp(&mut doc, &files, value));
    let ssh = top.optional("ssh").and_then(|value| read_ssh(&mut doc, &files, value));
    let ssh_written = top.optional("ssh").is_some();
    let mailman_value = top.optional("mailman");
    let (mailman, mailman21) = match mailman_value {
        Some(value) if is_mailman21(value) => (None, read_mailman21(&mut doc, &files, value)),
        Some(value) => (read_mailman(&mut doc, &files, value, ssh_written), None),
        None => (None, None),
    };
    let web = top.optional("web").and_then(|value| read_web(&mut doc, &files, value));
    let mailbox = top.optional("mailbox").and_then(|value| read_mailbox(&mut doc, &files, value));
    let allow = top.optional("allow").map_or(Some(Allow::default()), |value| read_allow(&mut doc, value));
    let faults = match top.optional("faults") {
        Some(value) => read_faults(&mut doc, value, ssh_written),
        None => Some(FaultCommands::default()),
    };
    let limits = top.optional("limits").map_or(Some(Limits::default()), |value| read_limits(&mut doc, value));
    let cutover = top.optional("cutover").map_or(Some(Cutover::default()), |value| read_cutover(&mut doc, value));
    top.finish(&mut doc);

    // Every required part is `Some` when no error was recorded.
    let config = match (name, smtp, allow, faults, limits, cutover) {
        (Some(name), Some(smtp), Some(allow), Some(faults), Some(limits), Some(cutover)) => {
            Some(HostsConfig { path: path.to_path_buf(), name, smtp, mailman, mailman21, web, mailbox, ssh, allow, faults, limits, cutover })
        }
        _ => None,
    };
    let errors = doc.into_errors();
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => Err(LoadErrors { errors }),
    }
}

/// Where relative paths in the file are taken from.
struct Files {
    base: PathBuf,
}

impl Files {
    /// A path: `~/` from `$HOME`, relative ones from the file's folder.
    fn path(&self, doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<PathBuf> {
        let text = doc.string(what, value)?;
        if text.trim().is_empty() {
            doc.error(value.span(), "empty", format!("{what} must not be empty"));
            return None;
        }
        if let Some(rest) = text.strip_prefix("~/") {
            let Some(home) = std::env::var_os("HOME") else {
                doc.error(value.span(), "no $HOME", format!("{what} starts with `~/` but HOME is not set"));
                return None;
            };
            return Some(PathBuf::from(home).join(rest));
        }
        Some(self.base.join(text))
    }
}

/// The `[name]` table of the top level, or a type error.
fn table_of<'v, 'i>(
    doc: &mut Doc,
    name: &str,
    value: &'v Value<'i>,
    keys: &'static [&'static str],
) -> Option<TableReader<'v, 'i>> {
    let table = doc.table(&format!("`{name}`"), value)?;
    Some(TableReader::new(name, table, value.span(), keys))
}

fn read_smtp(doc: &mut Doc, files: &Files, value: &Value<'_>) -> Option<SmtpConfig> {
    let mut reader = table_of(doc, "smtp", value, SMTP_KEYS)?;
    let literal = refuse_password(doc, &mut reader);
    let addresses = reader.required(doc, "addresses").and_then(|value| smtp_addresses(doc, "smtp.addresses", value));
    let starttls = match reader.optional("starttls") {
        Some(value) => fields::one_of(doc, "`smtp.starttls`", "mode", value, &StartTls::ALL, StartTls::as_str),
        None => Some(StartTls::Required),
    };
    let verify = verify(doc, files, &mut reader);
    let user_value = reader.optional("user");
    let user = user_value.and_then(|value| one_line(doc, "`smtp.user`", value));
    let password = secret(doc, files, &mut reader, value.span(), user_value.is_some() && !literal);
    let password_value = reader.optional("password_env").or(reader.optional("password_file"));
    if let (None, Some(written)) = (user_value, password_value) {
        doc.error(written.span(), "no user", "an SMTP AUTH password needs `smtp.user`");
    }
    if let (Some(value), Some(StartTls::Off)) = (user_value, starttls) {
        doc.error(
            value.span(),
            "AUTH without TLS",
            "SMTP AUTH with `smtp.starttls = \"off\"` would send the password in clear; use \"required\"",
        );
    }
    reader.finish(doc);
    let auth = match (user, password) {
        (Some(user), Some(password)) => Some(SmtpAuth { user, password }),
        _ => None,
    };
    Some(SmtpConfig { addresses: addresses?, starttls: starttls?, verify: verify?, auth })
}

/// `addresses`: IP addresses with optional ports, no names (the address
/// probed is the one written, whatever DNS says during a migration).
fn smtp_addresses(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<Vec<SocketAddr>> {
    let items = doc.array(&format!("`{what}`"), value)?;
    if items.is_empty() {
        doc.error(value.span(), "empty", format!("`{what}` must not be empty"));
        return None;
    }
    let mut found: Vec<SocketAddr> = Vec::new();
    for item in items {
        let Some(text) = doc.string(&format!("each entry of `{what}`"), item) else { continue };
        let parsed = text
            .parse::<SocketAddr>()
            .ok()
            .or_else(|| text.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, DEFAULT_SMTP_PORT)));
        let Some(address) = parsed else {
            doc.error(
                item.span(),
                "invalid address",
                format!(
                    "invalid address `{text}` in `{what}`: write an IP address with an optional port, \
                     like \"192.0.2.25:25\" or \"[2001:db8::25]:25\" (names are not resolved)"
                ),
            );
            continue;
        };
        if address.port() == 0 {
            doc.error(item.span(), "port 0", format!("invalid address `{text}` in `{what}`: port 0"));
            continue;
        }
        if found.contains(&address) {
            doc.error(item.span(), "repeated", format!("`{what}` lists `{address}` more than once"));
            continue;
        }
        found.push(address);
    }
    Some(found)
}

fn read_mailman(doc: &mut Doc, files: &Files, value: &Value<'_>, ssh_written: bool) -> Option<MailmanConfig> {
    let mut reader = table_of(doc, "mailman", value, MAILMAN_KEYS)?;
    let literal = refuse_password(doc, &mut reader);
    let version = reader.required(doc, "version").and_then(|value| {
        let text = doc.string("`mailman.version`", value)?;
        match text {
            "3" => Some(MailmanVersion::Three),
            other => {
                doc.error(
                    value.span(),
                    "unknown version",
                    format!("unknown Mailman version `{other}` in `mailman.version`; expected \"3\" or \"2.1\""),
                );
                None
            }
        }
    });
    let rest_url = reader.required(doc, "rest_url").and_then(|value| url(doc, "`mailman.rest_url`", value));
    let reach = match reader.optional("reach") {
        Some(value) => {
            let reach = fields::one_of(doc, "`mailman.reach`", "way", value, &RestReach::ALL, RestReach::as_str);
            if reach == Some(RestReach::ThroughShell) && !ssh_written {
                doc.error(
                    value.span(),
                    "no [ssh]",
                    "`mailman.reach = \"through_shell\"` needs an `[ssh]` table: the shell it goes through",
                );
            }
            reach
        }
        None => Some(RestReach::Direct),
    };
    let user = match reader.optional("user") {
        Some(value) => one_line(doc, "`mailman.user`", value),
        None => Some(DEFAULT_REST_USER.to_string()),
    };
    let password = secret(doc, files, &mut reader, value.span(), !literal);
    let verify = verify(doc, files, &mut reader);
    reader.finish(doc);
    Some(MailmanConfig {
        version: version?,
        rest_url: rest_url?,
        reach: reach?,
        user: user?,
        password: password?,
        verify: verify?,
    })
}

/// `[mailman]` with `version = "2.1"` (checked quietly: a bad version is
/// reported by the Mailman 3 rules).
fn is_mailman21(value: &Value<'_>) -> bool {
    value.get_ref().as_table().and_then(|t| t.get("version")).and_then(|v| v.get_ref().as_str()) == Some("2.1")
}

/// `[mailman]` for Mailman 2.1: its web host, paths, site password, and
/// `[mailman.lists.<name>]` tables of per-list passwords.
fn read_mailman21(doc: &mut Doc, files: &Files, value: &Value<'_>) -> Option<Mailman21Config> {
    let mut reader = table_of(doc, "mailman", value, MAILMAN21_KEYS)?;
    refuse_password(doc, &mut reader);
    reader.refuse(
        doc,
        "site_password",
        "secret in the file",
        "`mailman.site_password` would put a secret in the target file; name where it is instead: \
         `site_password_env` or `site_password_file`",
    );
    let _ = reader.optional("version");
    let web_url = reader.required(doc, "web_url").and_then(|value| {
        let url = url(doc, "`mailman.web_url`", value)?;
        let parsed = reqwest::Url::parse(&url).ok()?;
        if parsed.path() != "/" || parsed.query().is_some() {
            doc.error(
                value.span(),
                "has a path",
                format!(
                    "`mailman.web_url` is the web host only (like \"https://lists.example.org\"); \
                     give the paths as `cgi_path` and `pipermail_path`, found path `{}`",
                    parsed.path()
                ),
            );
            return None;
        }
        Some(url.trim_end_matches('/').to_string())
    });
    let web_path = |doc: &mut Doc, reader: &mut TableReader<'_, '_>, key: &str, default: &str| match reader.optional(key) {
        Some(value) => {
            let text = doc.string(&format!("`mailman.{key}`"), value)?;
            if !text.starts_with('/') || !text.ends_with('/') || text.contains(['?', '#', ' ']) {
                doc.error(
                    value.span(),
                    "invalid path",
                    format!("`mailman.{key}` must start and end with `/`, like \"{default}\""),
                );
                return None;
            }
            Some(text.to_string())
        }
        None => Some(default.to_string()),
    };
    let cgi_path = web_path(doc, &mut reader, "cgi_path", "/mailman/");
    let pipermail_path = web_path(doc, &mut reader, "pipermail_path", "/pipermail/");
    let address = optional(&mut reader, "address", |value| {
        let text = doc.string("`mailman.address`", value)?;
        match text.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                doc.error(value.span(), "invalid address", format!("invalid address `{text}` in `mailman.address`: an IP address, without port"));
                None
            }
        }
    });
    let verify = verify(doc, files, &mut reader);
    let site_password = secret_named(doc, files, &mut reader, "site_password", value.span(), false);
    let defaults = crate::mailman21::shell::Paths::default();
    let server_path = |doc: &mut Doc, reader: &mut TableReader<'_, '_>, key: &str, default: String| match reader.optional(key) {
        Some(value) => {
            let text = doc.string(&format!("`mailman.{key}`"), value)?;
            if !text.starts_with('/') {
                doc.error(value.span(), "not absolute", format!("`mailman.{key}` must be an absolute path on the list server"));
                return None;
            }
            Some(text.trim_end_matches('/').to_string())
        }
        None => Some(default),
    };
    let bin = server_path(doc, &mut reader, "bin_dir", defaults.bin);
    let qfiles = server_path(doc, &mut reader, "qfiles_dir", defaults.qfiles);
    let logs = server_path(doc, &mut reader, "logs_dir", defaults.logs);
    let archives = server_path(doc, &mut reader, "archives_dir", defaults.archives);
    let lists = match reader.optional("lists") {
        Some(value) => read_mailman21_lists(doc, files, value),
        None => Some(Vec::new()),
    };
    reader.finish(doc);
    Some(Mailman21Config {
        web_url: web_url?,
        cgi_path: cgi_path?,
        pipermail_path: pipermail_path?,
        address: address?,
        verify: verify?,
        site_password,
        lists: lists?,
        paths: crate::mailman21::shell::Paths { bin: bin?, qfiles: qfiles?, logs: logs?, archives: archives? },
    })
}

/// `[mailman.lists.<name>]`: per-list passwords.
fn read_mailman21_lists(doc: &mut Doc, files: &Files, value: &Value<'_>) -> Option<Vec<Mailman21List>> {
    let table = doc.table("`mailman.lists`", value)?;
    let mut lists = Vec::new();
    let mut ok = true;
    // In the file's order: the table itself does not keep it.
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(_, entry)| entry.span().start);
    for (name, entry) in entries {
        let name = name.get_ref().to_string();
        let field = format!("mailman.lists.{name}");
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.+=".contains(c));
        if !valid {
            doc.error(entry.span(), "invalid list name", format!("invalid list name `{name}` in `mailman.lists`: the list's name, like \"probe-test\""));
            ok = false;
            continue;
        }
        let Some(list_table) = doc.table(&format!("`{field}`"), entry) else {
            ok = false;
            continue;
        };
        let mut reader = TableReader::new(field.clone(), list_table, entry.span(), MAILMAN21_LIST_KEYS);
        refuse_password(doc, &mut reader);
        let password = secret_named(doc, files, &mut reader, "password", entry.span(), false);
        let user_value = reader.optional("archive_user");
        let user = user_value.and_then(|v| one_line(doc, &format!("`{field}.archive_user`"), v));
        let archive_password = secret_named(doc, files, &mut reader, "archive_password", entry.span(), user_value.is_some());
        if user_value.is_none() {
            if let Some(written) = reader.optional("archive_password_env").or(reader.optional("archive_password_file")) {
                doc.error(written.span(), "no user", format!("an archive password needs `{field}.archive_user`"));
                ok = false;
            }
        }
        reader.finish(doc);
        let archive_login = match (user, archive_password) {
            (Some(u), Some(p)) => Some((u, p)),
            _ => None,
        };
        lists.push(Mailman21List { name: name.to_ascii_lowercase(), password, archive_login });
    }
    ok.then_some(lists)
}

fn read_web(doc: &mut Doc, files: &Files, value: &Value<'_>) -> Option<WebConfig> {
    let mut reader = table_of(doc, "web", value, WEB_KEYS)?;
    let hyperkitty_url = reader.required(doc, "hyperkitty_url").and_then(|value| {
        let mut url = url(doc, "`web.hyperkitty_url`", value)?;
        if !url.ends_with('/') {
            url.push('/');
        }
        Some(url)
    });
    let verify = verify(doc, files, &mut reader);
    reader.finish(doc);
    Some(WebConfig { hyperkitty_url: hyperkitty_url?, verify: verify? })
}

fn read_mailbox(doc: &mut Doc, files: &Files, value: &Value<'_>) -> Option<MailboxConfig> {
    let mut reader = table_of(doc, "mailbox", value, MAILBOX_KEYS)?;
    let literal = refuse_password(doc, &mut reader);
    let kind = reader.required(doc, "kind").and_then(|value| {
        fields::one_of(doc, "`mailbox.kind`", "mailbox kind", value, &MAILBOX_KINDS, |kind| kind)
    });
    let host_value = reader.required(doc, "host");
    let host = host_value.and_then(|value| host(doc, "`mailbox.host`", value));
    let tls_value = reader.optional("tls");
    let tls = match tls_value {
        Some(value) => fields::one_of(doc, "`mailbox.tls`", "TLS mode", value, &ImapTls::ALL, ImapTls::as_str),
        None => Some(ImapTls::Imaps),
    };
    if let (Some(value), Some(ImapTls::Plain), Some(host)) = (tls_value, tls, &host) {
        if !is_loopback(host) {
            doc.error(
                value.span(),
                "password in clear",
                format!(
                    "`mailbox.tls = \"plain\"` would send the password to `{host}` in clear; \
                     plain is for loopback tests only: use \"imaps\" or \"starttls\""
                ),
            );
        }
    }
    let port = match reader.optional("port") {
        Some(value) => doc.integer_in("`mailbox.port`", PORTS, value).map(|port| port as u16),
        None => tls.map(ImapTls::default_port),
    };
    let verify_written = reader.optional("verify").or(reader.optional("ca_file"));
    let verify = verify(doc, files, &mut reader);
    if let (Some(value), Some(ImapTls::Plain)) = (verify_written, tls) {
        doc.error(value.span(), "no TLS", "TLS settings have no effect with `mailbox.tls = \"plain\"`");
    }
    let user = reader.required(doc, "user").and_then(|value| one_line(doc, "`mailbox.user`", value));
    let password = secret(doc, files, &mut reader, value.span(), !literal);
    let folder = match reader.optional("folder") {
        Some(value) => one_line(doc, "`mailbox.folder`", value),
        None => Some(DEFAULT_FOLDER.to_string()),
    };
    let address = match reader.optional("address") {
        Some(value) => doc.checked_string("`mailbox.address`", "address", check_address, value).map(Some),
        None => Some(None),
    };
    reader.finish(doc);
    kind?;
    Some(MailboxConfig::Imap(ImapConfig {
        host: host?,
        port: port?,
        tls: tls?,
        verify: verify?,
        user: user?,
        password: password?,
        folder: folder?,
        address: address?,
        timeouts: ImapTimeouts::default(),
    }))
}

fn read_ssh(doc: &mut Doc, files: &Files, value: &Value<'_>) -> Option<SshConfig> {
    let mut reader = table_of(doc, "ssh", value, SSH_KEYS)?;
    let host = reader.required(doc, "host").and_then(|value| host(doc, "`ssh.host`", value));
    let user = optional(&mut reader, "user", |value| one_line(doc, "`ssh.user`", value));
    let port = optional(&mut reader, "port", |value| doc.integer_in("`ssh.port`", PORTS, value).map(|p| p as u16));
    let proxy_jump = optional(&mut reader, "proxy_jump", |value| {
        let text = doc.string("`ssh.proxy_jump`", value)?;
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            doc.error(
                value.span(),
                "invalid jump host",
                "`ssh.proxy_jump` must be `[user@]host[:port]`, several separated by `,`, without spaces",
            );
            return None;
        }
        Some(text.to_string())
    });
    let strict = match reader.optional("strict_host_key_checking") {
        Some(value) => doc.boolean("`ssh.strict_host_key_checking`", value),
        None => Some(true),
    };
    let identity_file = optional(&mut reader, "identity_file", |value| files.path(doc, "`ssh.identity_file`", value));
    let known_hosts_file =
        optional(&mut reader, "known_hosts_file", |value| files.path(doc, "`ssh.known_hosts_file`", value));
    let become_user = optional(&mut reader, "become", |value| {
        let text = doc.string("`ssh.become`", value)?;
        // A user name as sudo's -u takes it; never an option or a `#uid`.
        let fits = !text.is_empty()
            && !text.starts_with(['-', '#'])
            && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !fits {
            doc.error(value.span(), "invalid user name", "`ssh.become` must be a user name on the list host, like \"list\"");
            return None;
        }
        Some(text.to_string())
    });
    let mut remote_path = |key: &str, default: &str| match reader.optional(key) {
        Some(value) => server_path(doc, &format!("`ssh.{key}`"), value),
        None => Some(default.to_string()),
    };
    let exim_mainlog = remote_path("exim_mainlog", ServerPaths::DEBIAN_EXIM_MAINLOG);
    let mailman_var_dir = remote_path("mailman_var_dir", ServerPaths::DEBIAN_MAILMAN_VAR_DIR);
    let mailman_log = remote_path("mailman_log", ServerPaths::DEBIAN_MAILMAN_LOG);
    reader.finish(doc);
    Some(SshConfig {
        host: host?,
        user: user?,
        port: port?,
        proxy_jump: proxy_jump?,
        strict_host_key_checking: strict?,
        identity_file: identity_file?,
        known_hosts_file: known_hosts_file?,
        become_user: become_user?,
        paths: ServerPaths {
            exim_mainlog: exim_mainlog?,
            mailman_var_dir: mailman_var_dir?.trim_end_matches('/').to_string(),
            mailman_log: mailman_log?,
        },
    })
}

/// A path on the list host: absolute (it is not taken from this file's
/// folder, nor from the ssh user's home), one line.
fn server_path(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<String> {
    let text = doc.string(what, value)?;
    if !text.starts_with('/') || text.len() < 2 || text.contains(['\r', '\n', '\0']) {
        doc.error(
            value.span(),
            "not an absolute path",
            format!("{what} must be an absolute path on the list host, like \"/var/log/exim4/mainlog\""),
        );
        return None;
    }
    Some(text.to_string())
}

fn read_allow(doc: &mut Doc, value: &Value<'_>) -> Option<Allow> {
    let mut reader = table_of(doc, "allow", value, ALLOW_KEYS)?;
    let moderate = reader.optional("moderate").map_or(Some(false), |value| doc.boolean("`allow.moderate`", value));
    let faults = reader.optional("faults").map_or(Some(false), |value| doc.boolean("`allow.faults`", value));
    reader.finish(doc);
    Some(Allow { moderate: moderate?, faults: faults? })
}

/// `[cutover] old_smtp = ["192.0.2.26:25"]`: the old host, for `expect_old_host`.
fn read_cutover(doc: &mut Doc, value: &Value<'_>) -> Option<Cutover> {
    let mut reader = table_of(doc, "cutover", value, CUTOVER_KEYS)?;
    let old_smtp = match reader.optional("old_smtp") {
        Some(value) => smtp_addresses(doc, "cutover.old_smtp", value),
        None => Some(Vec::new()),
    };
    reader.finish(doc);
    Some(Cutover { old_smtp: old_smtp? })
}

/// `[faults]`: the commands fault steps run through the `[ssh]` shell,
/// each an array of words; Debian's for those left out.
fn read_faults(doc: &mut Doc, value: &Value<'_>, ssh_written: bool) -> Option<FaultCommands> {
    let mut reader = table_of(doc, "faults", value, FAULTS_KEYS)?;
    if !ssh_written {
        doc.error(value.span(), "no [ssh]", "`[faults]` commands run through the `[ssh]` shell: add an `[ssh]` table");
    }
    let defaults = FaultCommands::debian();
    let become_user = match reader.optional("become") {
        // `false`: the ssh user itself runs them.
        Some(value) if value.get_ref().as_bool() == Some(false) => Some(None),
        Some(value) => {
            let text = doc.string("`faults.become` (a user name, or false)", value)?;
            let fits = !text.is_empty()
                && !text.starts_with(['-', '#'])
                && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !fits {
                doc.error(value.span(), "invalid user name", "`faults.become` must be a user name on the list host, like \"root\", or false");
                return None;
            }
            Some(Some(text.to_string()))
        }
        None => Some(defaults.become_user.clone()),
    };
    let mut command = |key: &str, default: &[String], may_be_empty: bool| match reader.optional(key) {
        Some(value) => argv(doc, &format!("`faults.{key}`"), value, may_be_empty),
        None => Some(default.to_vec()),
    };
    let mailman_stop = command("mailman_stop", &defaults.mailman_stop, false);
    let mailman_start = command("mailman_start", &defaults.mailman_start, false);
    let mailman_ready = command("mailman_ready", &defaults.mailman_ready, true);
    let web_stop = command("web_stop", &defaults.web_stop, false);
    let web_start = command("web_start", &defaults.web_start, false);
    let web_ready = command("web_ready", &defaults.web_ready, true);
    let exim = match reader.optional("exim") {
        Some(value) => {
            let text = doc.string("`faults.exim`", value)?;
            if text.is_empty() || text.starts_with('-') || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                doc.error(value.span(), "invalid program", "`faults.exim` must be exim's program on the host, like \"exim\" or \"/usr/sbin/exim4\"");
                None
            } else {
                Some(text.to_string())
            }
        }
        None => Some(defaults.exim),
    };
    reader.finish(doc);
    Some(FaultCommands {
        become_user: become_user?,
        mailman_stop: mailman_stop?,
        mailman_start: mailman_start?,
        mailman_ready: mailman_ready?,
        web_stop: web_stop?,
        web_start: web_start?,
        web_ready: web_ready?,
        exim: exim?,
    })
}

/// A command as an array of words, the program first (not starting with
/// `-`); `[]` only where `may_be_empty` (no command).
fn argv(doc: &mut Doc, what: &str, value: &Value<'_>, may_be_empty: bool) -> Option<Vec<String>> {
    let items = doc.array(what, value)?;
    if items.is_empty() && !may_be_empty {
        doc.error(value.span(), "empty", format!("{what} must name a command, like [\"systemctl\", \"stop\", \"mailman3\"]"));
        return None;
    }
    let mut words = Vec::new();
    for item in items {
        let word = doc.string(&format!("each word of {what}"), item)?;
        if word.contains('\0') {
            doc.error(item.span(), "NUL", format!("{what}: a word must not contain NUL"));
            return None;
        }
        words.push(word.to_string());
    }
    if words.first().is_some_and(|w| w.is_empty() || w.starts_with('-')) {
        doc.error(value.span(), "no program", format!("{what} must start with the program to run"));
        return None;
    }
    Some(words)
}

fn read_limits(doc: &mut Doc, value: &Value<'_>) -> Option<Limits> {
    let mut reader = table_of(doc, "limits", value, LIMITS_KEYS)?;
    let probes_per_minute = match reader.optional("probes_per_minute") {
        Some(value) => doc.integer_in("`limits.probes_per_minute`", PROBES_PER_MINUTE, value).map(|n| n as u32),
        None => Some(Limits::DEFAULT_PROBES_PER_MINUTE),
    };
    reader.finish(doc);
    Some(Limits { probes_per_minute: probes_per_minute? })
}

/// An optional key: `Some(None)` when absent, `None` when present and bad.
fn optional<'t, 'i, T>(
    reader: &mut TableReader<'t, 'i>,
    key: &str,
    read: impl FnOnce(&'t Value<'i>) -> Option<T>,
) -> Option<Option<T>> {
    match reader.optional(key) {
        Some(value) => read(value).map(Some),
        None => Some(None),
    }
}

/// A literal `password` is refused with the reason: secrets never go in the
/// file. True when one was there (a missing source is then not reported too).
fn refuse_password(doc: &mut Doc, reader: &mut TableReader<'_, '_>) -> bool {
    let field = reader.field("password");
    reader.refuse(
        doc,
        "password",
        "secret in the file",
        format!(
            "{field} would put a secret in the target file; name where it is instead: \
             `password_env` (an environment variable) or `password_file` (a file's path)"
        ),
    )
}

/// `password_env` or `password_file`: exactly one of them when `required`
/// (else reported at `span`, the table), at most one otherwise. `None` when
/// absent or bad.
fn secret(
    doc: &mut Doc,
    files: &Files,
    reader: &mut TableReader<'_, '_>,
    span: Span,
    required: bool,
) -> Option<SecretSource> {
    secret_named(doc, files, reader, "password", span, required)
}

/// [`secret`] for `<prefix>_env` / `<prefix>_file`.
fn secret_named(
    doc: &mut Doc,
    files: &Files,
    reader: &mut TableReader<'_, '_>,
    prefix: &str,
    span: Span,
    required: bool,
) -> Option<SecretSource> {
    let (env_key, file_key) = (format!("{prefix}_env"), format!("{prefix}_file"));
    let env_field = reader.field(&env_key);
    let file_field = reader.field(&file_key);
    match (reader.optional(&env_key), reader.optional(&file_key)) {
        (Some(_), Some(file)) => {
            doc.error(file.span(), "give one", format!("{env_field} and {file_field} both given; give one of them"));
            None
        }
        (Some(value), None) => {
            let name = doc.string(&env_field, value)?;
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                doc.error(
                    value.span(),
                    "invalid variable name",
                    format!(
                        "invalid environment variable name `{name}` in {env_field}: \
                         letters, digits and `_`, not starting with a digit"
                    ),
                );
                return None;
            }
            Some(SecretSource::Env(name.to_string()))
        }
        (None, Some(value)) => files.path(doc, &file_field, value).map(SecretSource::File),
        (None, None) => {
            if required {
                doc.error(
                    span,
                    "password source missing here",
                    format!("missing {env_field} or {file_field}: where the password is read from"),
                );
            }
            None
        }
    }
}

/// `verify` (default true) and `ca_file`: how a server's certificate is checked.
fn verify(doc: &mut Doc, files: &Files, reader: &mut TableReader<'_, '_>) -> Option<Verify> {
    let verify_field = reader.field("verify");
    let ca_field = reader.field("ca_file");
    let on = match reader.optional("verify") {
        Some(value) => doc.boolean(&verify_field, value)?,
        None => true,
    };
    match (on, reader.optional("ca_file")) {
        (true, Some(value)) => files.path(doc, &ca_field, value).map(Verify::CaFile),
        (true, None) => Some(Verify::SystemRoots),
        (false, Some(value)) => {
            doc.error(value.span(), "unused", format!("{ca_field} has no effect with {verify_field} = false"));
            None
        }
        (false, None) => Some(Verify::Off),
    }
}

/// An `http` or `https` URL with a host and no credentials in it.
fn url(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<String> {
    let text = doc.string(what, value)?;
    let reason = match reqwest::Url::parse(text) {
        Err(e) => Some(e.to_string()),
        Ok(url) if !matches!(url.scheme(), "http" | "https") => Some("must start with http:// or https://".into()),
        Ok(url) if url.host_str().is_none_or(str::is_empty) => Some("has no host".into()),
        Ok(url) if !url.username().is_empty() || url.password().is_some() => {
            Some("must not carry credentials; name the password with password_env or password_file".into())
        }
        Ok(_) => None,
    };
    if let Some(reason) = reason {
        doc.error(value.span(), "invalid URL", format!("invalid URL `{text}` in {what}: {reason}"));
        return None;
    }
    Some(text.to_string())
}

/// A host name or an IP address (no port, no brackets).
fn host(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<String> {
    let text = doc.string(what, value)?;
    let name_ok = !text.is_empty()
        && text.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if text.parse::<IpAddr>().is_err() && !name_ok {
        doc.error(
            value.span(),
            "invalid host",
            format!("invalid host `{text}` in {what}: a host name or an IP address, without port"),
        );
        return None;
    }
    Some(text.to_string())
}

/// A non-empty string on one line.
fn one_line(doc: &mut Doc, what: &str, value: &Value<'_>) -> Option<String> {
    let text = doc.string(what, value)?;
    if text.is_empty() || text.contains(['\r', '\n']) {
        doc.error(value.span(), "empty or several lines", format!("{what} must be one non-empty line"));
        return None;
    }
    Some(text.to_string())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
