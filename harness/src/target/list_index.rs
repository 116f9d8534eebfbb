//! Every list of a server, as posting addresses: the [`ListIndex`]
//! capability of the container target and the hosts target.
//!
//! - Mailman 3: `GET /3.1/lists`, paged (the inventory's paging loop), each
//!   entry's `fqdn_listname`.
//! - Mailman 2.1: `bin/list_lists -b` for the names, then each list's
//!   `host_name` from `bin/config_list -o - <list>` (2.1 keeps a list's
//!   mail domain there; `list_lists` does not print it). Read-only.
//!
//! The parsers are pure ([`mailman3_addresses`], [`mailman21_address`]) and
//! are unit-tested on recorded outputs (Mailman 2.1.39's in
//! `fixtures/mailman21/cmd/`).

use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::Value;

use super::capability::ListIndex;
use super::{Shell, TargetError};
use crate::mailman::RestTransport;
use crate::mailman21::{cmd, shell as mm21};
use crate::migration::inventory::{self, InventoryError};
use crate::BoxFuture;

/// Mailman 2.1 lists whose `host_name` is read at once.
pub const MM21_CONCURRENCY: usize = 4;

/// The posting addresses in Mailman 3's `GET /3.1/lists` entries
/// (`fqdn_listname`, or `list_name@mail_host`), lower case, sorted; an
/// entry with neither is an error naming it.
pub fn mailman3_addresses(entries: &[Value]) -> Result<Vec<String>, TargetError> {
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let field = |k: &str| entry.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let address = match (field("fqdn_listname"), field("list_name"), field("mail_host")) {
            (Some(fqdn), _, _) => fqdn.to_string(),
            (None, Some(name), Some(host)) => format!("{name}@{host}"),
            _ => return Err(TargetError::Exec(format!("GET /3.1/lists: an entry without fqdn_listname: {entry}"))),
        };
        out.push(address.to_ascii_lowercase());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A Mailman 2.1 list's posting address from its name and the output of
/// `bin/config_list -o - <name>`: `<name>@<host_name>`, lower case. `None`
/// when the output sets no `host_name`.
pub fn mailman21_address(name: &str, config_list_out: &str) -> Option<String> {
    let settings = cmd::config_list(config_list_out);
    let (_, raw) = settings.iter().find(|(k, _)| k == "host_name")?;
    let host = inventory::py_value(raw);
    let host = host.as_str().map(str::trim).filter(|h| !h.is_empty())?;
    Some(format!("{}@{}", name.trim(), host).to_ascii_lowercase())
}

/// Every list of a Mailman 3 server through its REST API.
pub async fn mailman3_lists(rest: &dyn RestTransport) -> Result<Vec<String>, TargetError> {
    let entries = inventory::get_all_pages(rest, "/3.1/lists", inventory::LIST_PAGE_SIZE).await.map_err(from_inventory)?;
    mailman3_addresses(&entries)
}

/// Every list of a Mailman 2.1 server through its shell.
pub async fn mailman21_lists(shell: &dyn Shell, paths: &mm21::Paths) -> Result<Vec<String>, TargetError> {
    let names = mm21::list_names(shell, paths).await?;
    let mut addresses: Vec<String> = stream::iter(names.into_iter().map(|name| async move {
        let out = mm21::bin(shell, paths, "config_list", &["-o", "-", &name]).await?;
        mailman21_address(&name, &out)
            .ok_or_else(|| TargetError::Exec(format!("{}/config_list -o - {name}: no host_name in its output", paths.bin)))
    }))
    .buffer_unordered(MM21_CONCURRENCY)
    .try_collect()
    .await?;
    addresses.sort();
    Ok(addresses)
}

fn from_inventory(e: InventoryError) -> TargetError {
    match e {
        InventoryError::Shell(e) => e,
        InventoryError::Rest(e) => TargetError::Rest(e),
        other => TargetError::Exec(other.to_string()),
    }
}

#[cfg(feature = "containers")]
impl ListIndex for super::containers::ContainersTarget {
    /// Mailman 3's REST API, through the target's relay (or docker exec).
    fn list_addresses<'a>(&'a self) -> BoxFuture<'a, Result<Vec<String>, TargetError>> {
        Box::pin(mailman3_lists(self))
    }
}

impl ListIndex for super::hosts::HostsTarget {
    /// Mailman 2.1 (`[mailman] version = "2.1"`) through the shell;
    /// Mailman 3 through its REST API.
    fn list_addresses<'a>(&'a self) -> BoxFuture<'a, Result<Vec<String>, TargetError>> {
        use super::Target as _;
        Box::pin(async move {
            if let Some(m) = &self.config().mailman21 {
                let shell = self.shell().ok_or(TargetError::Unsupported(super::Capability::ListIndex))?;
                return mailman21_lists(shell, &m.paths).await;
            }
            let rest = self.rest().ok_or(TargetError::Unsupported(super::Capability::ListIndex))?;
            mailman3_lists(rest).await
        })
    }
}

/// Whether a hosts target can list its server's lists: a shell for Mailman
/// 2.1, the REST API for Mailman 3.
pub fn hosts_can_list(target: &super::hosts::HostsTarget) -> bool {
    use super::Target as _;
    match &target.config().mailman21 {
        Some(_) => target.shell().is_some(),
        None => target.rest().is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers `bin/list_lists -b` and `bin/config_list -o - <list>` with
    /// Mailman 2.1.39's recorded outputs (`../shared/fixtures/mailman21/cmd/`,
    /// whose trailing `rc=N` line is the exit code).
    struct Recorded;

    fn recording(name: &str) -> (i64, String, String) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/mailman21/cmd").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let text = text.trim_end();
        let (body, rc) = text.rsplit_once('\n').unwrap_or(("", text));
        let code = rc.strip_prefix("rc=").and_then(|n| n.parse().ok()).expect("rc=N");
        (code, format!("{body}\n"), String::new())
    }

    impl Shell for Recorded {
        fn exec<'a>(&'a self, argv: &'a [&'a str]) -> BoxFuture<'a, Result<(i64, String, String), TargetError>> {
            Box::pin(async move {
                Ok(match (argv[0], &argv[1..]) {
                    ("/usr/lib/mailman/bin/list_lists", ["-b"]) => recording("list_lists-b.txt"),
                    ("/usr/lib/mailman/bin/config_list", ["-o", "-", list]) => recording(&format!("config_list-o-{list}.txt")),
                    other => panic!("unexpected command {other:?}"),
                })
            })
        }
    }

    #[tokio::test]
    async fn mailman21_lists_from_the_recorded_commands() {
        let lists = mailman21_lists(&Recorded, &mm21::Paths::default()).await.expect("the recordings parse");
        assert_eq!(lists, ["mailman@lists.example.test", "probe-private@lists.example.test", "probe-test@lists.example.test"]);
    }

    #[test]
    fn mailman21_address_needs_a_host_name() {
        let out = "## \"probe-test\" mailing list configurations.\nreal_name = 'Probe-test'\nhost_name = 'Lists.Example.Test'\ndescription = '''two\nlines'''\n";
        assert_eq!(mailman21_address("probe-test", out).as_deref(), Some("probe-test@lists.example.test"));
        assert_eq!(mailman21_address("probe-test", "real_name = 'x'\n"), None);
        assert_eq!(mailman21_address("probe-test", "host_name = ''\n"), None);
    }

    #[test]
    fn mailman3_addresses_from_rest_entries() {
        let entries: Vec<Value> = serde_json::from_str(
            r#"[{"fqdn_listname": "Probe-Test@lists.example.test", "list_id": "probe-test.lists.example.test"},
                {"list_name": "announce", "mail_host": "lists.example.test"},
                {"fqdn_listname": "a@lists.example.test"}]"#,
        )
        .unwrap();
        assert_eq!(
            mailman3_addresses(&entries).unwrap(),
            ["a@lists.example.test", "announce@lists.example.test", "probe-test@lists.example.test"]
        );
        let bad: Vec<Value> = serde_json::from_str(r#"[{"list_id": "x.y"}]"#).unwrap();
        assert!(mailman3_addresses(&bad).unwrap_err().to_string().contains("without fqdn_listname"));
    }
}
