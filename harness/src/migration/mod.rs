//! The migration itself: what a list server holds ([`inventory`]), and
//! whether the new host holds what the old one did ([`compare`]).
//!
//! Both sides may run Mailman 2.1 or Mailman 3 in any combination. An
//! inventory is read once (Mailman 3 through REST, paged; Mailman 2.1
//! through the shell's `bin/` commands and pipermail's month files) and
//! written as JSON (`harness/tests-data/migration/inventory.schema.json`),
//! so the old host's inventory taken before the switch can be compared with
//! the new host's after it.

pub mod compare;
pub mod inventory;

pub use inventory::{Inventory, InventoryError, ListInventory};
