//! The write half of the sync outbox: every change of a personal record appends its entry
//! here, in the transaction of the change (`crate::sync::outbox` reads, plans and removes
//! them). Also the vocabulary the records and sync share: the synced entity kinds and
//! what a change does.

use crate::crypto::StoreKeys;
use crate::error::Result;
use crate::store::db::now_millis;
use crate::store::sealed::{RowSeal, SealedTable};
use rusqlite::{params, Connection};
use serde_json::Value;

pub(crate) use crate::model::fields::FieldMap;
use crate::model::fields::{changed, to_json};

/// Outbox entries are sealed: they carry personal values.
pub(crate) static OUTBOX: SealedTable = SealedTable {
    table: "sync_outbox",
    entity: crate::error::Entity::OutboxEntry,
    fields: &["change"],
    blind_index: None,
};

/// A synced entity kind: the public record kind, named for its place on the wire.
pub(crate) use crate::model::RecordKind as Entity;

impl Entity {
    /// The table that holds the records of this entity.
    pub fn table(self) -> &'static str {
        match self {
            Entity::Profile => "profile",
            Entity::Vehicle => "vehicles",
            Entity::Document => "documents",
        }
    }

    /// Whether `name` is one of the entity's synced fields: its editable fields (the
    /// model's `*Field` enums) and, for a document, its kind.
    pub fn has_field(self, name: &str) -> bool {
        (self == Entity::Document && name == "kind")
            || crate::model::RecordField::parse(self, name).is_some()
    }

    /// The fields whose value must be unique among an account's live records of this
    /// entity (the profile is one per account instead).
    pub fn unique_fields(self) -> &'static [&'static str] {
        match self {
            Entity::Profile => &[],
            Entity::Vehicle => &["plate"],
            Entity::Document => &["kind", "number"],
        }
    }
}

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// The record is created or some of its fields change.
    Upsert,
    /// The record is deleted.
    Delete,
}

impl Op {
    /// Its name on the wire and in the outbox (`upsert`, `delete`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Upsert => "upsert",
            Op::Delete => "delete",
        }
    }

    /// The operation of a wire name (`None` for other names).
    pub(crate) fn parse(name: &str) -> Option<Op> {
        [Op::Upsert, Op::Delete]
            .into_iter()
            .find(|op| op.as_str() == name)
    }
}

/// Appends the upsert of a record whose fields went from `before` (`None`: a new record)
/// to `after`: only the changed fields travel. Nothing changed writes nothing.
pub(crate) fn record_change(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    record_id: &str,
    before: Option<&FieldMap>,
    after: &FieldMap,
) -> Result<()> {
    record(
        conn,
        keys,
        entity,
        record_id,
        Op::Upsert,
        changed(before, after),
    )
}

/// Appends the deletion of a record.
pub(crate) fn record_delete(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    record_id: &str,
) -> Result<()> {
    record(conn, keys, entity, record_id, Op::Delete, FieldMap::new())
}

/// Appends a change to the outbox. A patch with no changed field writes nothing.
pub(crate) fn record(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    record_id: &str,
    op: Op,
    fields: FieldMap,
) -> Result<()> {
    if op == Op::Upsert && fields.is_empty() {
        return Ok(());
    }
    let change_id = uuid::Uuid::new_v4().to_string();
    let op_name = op.as_str();
    // The clear entity, record id and operation steer the push: sealed copies go with the
    // fields and are checked on every read.
    let mut payload = to_json(&fields);
    payload.insert(SEALED_ENTITY.into(), entity.as_str().into());
    payload.insert(SEALED_RECORD.into(), record_id.into());
    payload.insert(SEALED_OP.into(), op_name.into());
    let json = Value::Object(payload).to_string();
    let sealed = RowSeal::new(keys, &OUTBOX, &change_id).seal(&[Some(&json)])?;
    conn.prepare_cached(
        "INSERT INTO sync_outbox (id, entity, record_id, op, created_at, sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        change_id,
        entity.as_str(),
        record_id,
        op_name,
        now_millis(),
        sealed
    ])?;
    Ok(())
}

/// Keys of the sealed copies of the clear columns (no field is named with two
/// underscores).
pub(crate) const SEALED_ENTITY: &str = "__entity";
pub(crate) const SEALED_RECORD: &str = "__record_id";
pub(crate) const SEALED_OP: &str = "__op";

#[cfg(test)]
mod tests {
    use super::*;

    /// An entity's synced fields are the protocol's for it (the reference backend's list):
    /// every name of every entity is checked against every entity.
    #[test]
    fn every_entity_has_exactly_the_protocols_fields() {
        let protocol = aparking_server::SYNC_ENTITY_FIELDS;
        let every_name = protocol
            .iter()
            .flat_map(|(_, names)| names.iter().copied())
            .chain(["unknown", SEALED_OP]);
        for name in every_name {
            for entity in Entity::ALL {
                let listed = protocol
                    .iter()
                    .any(|(e, names)| *e == entity.as_str() && names.contains(&name));
                assert_eq!(entity.has_field(name), listed, "{entity}: {name}");
            }
        }
    }
}
