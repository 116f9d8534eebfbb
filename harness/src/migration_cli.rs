//! `mailflow inventory` and `mailflow compare`: the migration's commands.
//!
//! Exit codes: inventory 0 read, 2 bad input or the server could not be
//! read; compare 0 equal (allowed differences aside), 1 differences (each
//! named), 2 bad input (file:line:col where the parser gives one).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use mailflow::migration::{compare, inventory, Inventory};
use mailflow::report;
use mailflow::target::hosts;

const EXIT_DIFFERENT: u8 = 1;
const EXIT_INPUT: u8 = 2;
/// The probe domain does not matter to an inventory: nothing is sent.
const NO_PROBE_DOMAIN: &str = "mailflow.invalid";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableOrJson {
    Table,
    Json,
}

/// `mailflow inventory`: every list of the server a target file describes.
#[derive(Args)]
pub struct InventoryArgs {
    /// The target file of the server to read.
    #[arg(long = "target", value_name = "FILE", env = "MAILFLOW_TARGET")]
    target: PathBuf,
    #[arg(long, value_enum, default_value_t = TableOrJson::Table)]
    format: TableOrJson,
    /// Also write the members' addresses (the JSON holds digests otherwise).
    #[arg(long)]
    with_addresses: bool,
}

/// `mailflow compare OLD NEW`: inventory JSON files or target files.
#[derive(Args)]
pub struct CompareArgs {
    /// The old server: an inventory JSON file (`.json`) or a target file.
    old: PathBuf,
    /// The new server, likewise.
    new: PathBuf,
    /// Lists renamed during the move: `old_name = "new-name"` lines (TOML).
    #[arg(long, value_name = "FILE")]
    renames: Option<PathBuf>,
    /// Differences expected: `[[allow]]` tables with `kind`, `list`, `detail`.
    #[arg(long, value_name = "FILE")]
    allow: Option<PathBuf>,
    /// Name differing members by address (where the inventories hold them).
    #[arg(long)]
    show_addresses: bool,
    #[arg(long, value_enum, default_value_t = TableOrJson::Table)]
    format: TableOrJson,
}

pub async fn cmd_inventory(args: InventoryArgs) -> anyhow::Result<ExitCode> {
    match read_target(&args.target, args.with_addresses).await {
        Ok(inv) => {
            match args.format {
                TableOrJson::Table => out(&inventory::table(&inv))?,
                TableOrJson::Json => out(&format!("{}\n", serde_json::to_string_pretty(&inv)?))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            report::log::error(&e);
            Ok(ExitCode::from(EXIT_INPUT))
        }
    }
}

pub async fn cmd_compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let loaded = async {
        let renames = args.renames.as_deref().map(compare::load_renames).transpose().map_err(|e| e.to_string())?.unwrap_or_default();
        let allowed = args.allow.as_deref().map(compare::load_allowances).transpose().map_err(|e| e.to_string())?.unwrap_or_default();
        let with_addresses = args.show_addresses;
        let old = read_either(&args.old, with_addresses).await?;
        let new = read_either(&args.new, with_addresses).await?;
        Ok::<_, String>((old, new, compare::Options { renames, allowed, show_addresses: args.show_addresses }))
    };
    let (old, new, options) = match loaded.await {
        Ok(x) => x,
        Err(e) => {
            report::log::error(&e);
            return Ok(ExitCode::from(EXIT_INPUT));
        }
    };
    let found = compare::compare(&old, &new, &options);
    match args.format {
        TableOrJson::Table => out(&compare::human(&old, &new, &found, &options.renames))?,
        TableOrJson::Json => out(&format!("{}\n", serde_json::to_string_pretty(&found)?))?,
    }
    Ok(if found.iter().all(|f| f.allowed) { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DIFFERENT) })
}

/// The command's result on stdout.
fn out(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// An inventory file (`.json`) as it is, or a target file's server read now.
async fn read_either(path: &Path, with_addresses: bool) -> Result<Inventory, String> {
    if path.extension().is_some_and(|e| e == "json") {
        compare::load_inventory(path).map_err(|e| e.to_string())
    } else {
        read_target(path, with_addresses).await
    }
}

async fn read_target(path: &Path, with_addresses: bool) -> Result<Inventory, String> {
    let config = match hosts::load_hosts(path) {
        Ok(c) => c,
        Err(errors) => {
            report::log::load_errors(&errors);
            return Err(format!("{} error(s) in the target file {}", errors.errors.len(), path.display()));
        }
    };
    let target = hosts::HostsTarget::connect(config, NO_PROBE_DOMAIN).await.map_err(|e| e.to_string())?;
    inventory::of_hosts(&target, with_addresses).await.map_err(|e| format!("{}: {e}", path.display()))
}
