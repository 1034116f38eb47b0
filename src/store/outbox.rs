//! The write half of the sync outbox: every change of a personal record appends its entry
//! here, in the transaction of the change (`crate::sync::outbox` reads, plans and removes
//! them). Also the vocabulary the records and sync share: the synced entity kinds, a
//! record's fields by wire name.

use crate::crypto::StoreKeys;
use crate::error::Result;
use crate::store::db::now_millis;
use crate::store::sealed::{RowSeal, SealedTable};
use rusqlite::{params, Connection};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A record's fields: wire name → value (`None` = null).
pub(crate) type FieldMap = BTreeMap<String, Option<String>>;

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
    Upsert,
    Delete,
}

/// The fields of a record as the wire carries them: name → value (None = null).
pub(crate) type Fields = Vec<(&'static str, Option<String>)>;

/// The fields of `after` that differ from `before` (all of them when `before` is None).
pub(crate) fn changed(before: Option<&Fields>, after: &Fields) -> Map<String, Value> {
    after
        .iter()
        .filter(|(name, value)| match before {
            None => true,
            Some(b) => b.iter().find(|(n, _)| n == name).map(|(_, v)| v) != Some(value),
        })
        .map(|(name, value)| {
            (
                name.to_string(),
                value.clone().map_or(Value::Null, Value::String),
            )
        })
        .collect()
}

/// Appends the upsert of a record whose fields went from `before` (`None`: a new record)
/// to `after`: only the changed fields travel. Nothing changed writes nothing.
pub(crate) fn record_change(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    record_id: &str,
    before: Option<&Fields>,
    after: &Fields,
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
    record(conn, keys, entity, record_id, Op::Delete, Map::new())
}

/// Appends a change to the outbox. A patch with no changed field writes nothing.
pub(crate) fn record(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    record_id: &str,
    op: Op,
    fields: Map<String, Value>,
) -> Result<()> {
    if op == Op::Upsert && fields.is_empty() {
        return Ok(());
    }
    let change_id = uuid::Uuid::new_v4().to_string();
    let op_name = match op {
        Op::Upsert => "upsert",
        Op::Delete => "delete",
    };
    // The clear entity, record id and operation steer the push: sealed copies go with the
    // fields and are checked on every read.
    let mut payload = fields;
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

    #[test]
    fn only_changed_fields_are_kept() {
        let before: Fields = vec![
            ("plate", Some("123ABC02".into())),
            ("nickname", Some("a".into())),
            ("make", None),
        ];
        let after: Fields = vec![
            ("plate", Some("123ABC02".into())),
            ("nickname", None),
            ("make", Some("Kia".into())),
        ];
        let diff = changed(Some(&before), &after);
        assert_eq!(
            Value::Object(diff),
            serde_json::json!({"nickname": null, "make": "Kia"})
        );
        assert_eq!(changed(None, &after).len(), 3);
        assert!(changed(Some(&after), &after).is_empty());
    }
}
