//! Every table with a sealed column, assembled from the domains that declare them: the
//! list data-key rotation (`reseal.rs`) and erasure walk.

use super::sealed::SealedTable;
use super::{documents, profile, vehicles};

/// Every table with sealed fields, in the order their rows may be created (parents first).
pub(crate) static SEALED_TABLES: [&SealedTable; 13] = [
    &profile::TABLE,
    &vehicles::TABLE,
    &documents::TABLE,
    &crate::consent::RECEIPTS,
    &crate::consent::CHAIN,
    &crate::telemetry::queue::EVENTS,
    &crate::telemetry::queue::NETWORK_SAMPLES,
    &crate::telemetry::queue::COMPLAINTS,
    &crate::sync::outbox::OUTBOX,
    &crate::sync::mirror::MIRROR,
    &crate::sync::conflicts::CONFLICTS,
    &super::past_values::TABLE,
    &super::rollback::TABLE,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sealed::SEALED_COLUMN;
    use std::collections::BTreeSet;

    /// Every table of the schema with a sealed column is in `SEALED_TABLES`, and nothing
    /// else: a table added without registering it would keep its rows under the old data
    /// key after a rotation (unreadable) and survive an erasure.
    #[test]
    fn the_registered_sealed_tables_are_the_schemas_tables_with_a_sealed_column() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        super::super::schema::migrate(&tx, 0).unwrap();
        tx.commit().unwrap();
        let in_schema: BTreeSet<String> = conn
            .prepare(
                "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c
                  WHERE m.type = 'table' AND c.name = ?1",
            )
            .unwrap()
            .query_map([SEALED_COLUMN], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let registered: BTreeSet<String> =
            SEALED_TABLES.iter().map(|t| t.table.to_string()).collect();
        assert_eq!(
            registered.len(),
            SEALED_TABLES.len(),
            "a table registered twice"
        );
        assert_eq!(in_schema, registered);
    }
}
