//! Comparing two inventories.
