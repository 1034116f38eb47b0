//! The field-level three-way merge of `docs/protocol.md`: base = the last synced copy
//! (mirror), local = the current local record, remote = the record from a pull.
//!
//! | field changed | result |
//! |---|---|
//! | on neither side, or on both to the same value | that value |
//! | only locally | local value, still to push |
//! | only remotely | remote value |
//! | on both sides, differently | the configured winner (server by default); the losing value goes to the conflict log; a local win is still to push |
//!
//! Without a base (the same plate created on two devices), every field is compared with
//! "absent": a field set on one side only takes that side's value.
//! Deletes are decided before the merge (delete wins), so this module only merges fields.

use std::collections::{BTreeMap, BTreeSet};

/// A record's fields: wire name → value (`None` = null).
pub(crate) type FieldMap = BTreeMap<String, Option<String>>;

/// Which side wins a field changed on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Winner {
    /// The server's value (default).
    #[default]
    Server,
    /// The local value (it is pushed again).
    Local,
}

/// A field changed differently on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldConflict {
    pub field: String,
    pub local: Option<String>,
    pub remote: Option<String>,
    /// The side whose value was kept.
    pub kept: Winner,
}

/// The result of a merge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Merged {
    /// The record after the merge.
    pub fields: FieldMap,
    /// The fields the local side still has to push (they differ from `remote`).
    pub to_push: FieldMap,
    /// The fields changed differently on both sides.
    pub conflicts: Vec<FieldConflict>,
}

/// Merges `local` and `remote` against `base`.
pub(crate) fn merge(
    base: Option<&FieldMap>,
    local: &FieldMap,
    remote: &FieldMap,
    winner: Winner,
) -> Merged {
    let names: BTreeSet<&String> = local
        .keys()
        .chain(remote.keys())
        .chain(base.into_iter().flat_map(|b| b.keys()))
        .collect();
    let mut out = Merged::default();
    for name in names {
        let get = |m: &FieldMap| m.get(name).cloned().flatten();
        let (b, l, r) = (base.map(get).unwrap_or(None), get(local), get(remote));
        let (value, push) = if l == r || l == b {
            (r.clone(), false)
        } else if r == b {
            (l.clone(), true)
        } else {
            out.conflicts.push(FieldConflict {
                field: name.clone(),
                local: l.clone(),
                remote: r.clone(),
                kept: winner,
            });
            match winner {
                Winner::Server => (r.clone(), false),
                Winner::Local => (l.clone(), true),
            }
        };
        if push {
            out.to_push.insert(name.clone(), value.clone());
        }
        out.fields.insert(name.clone(), value);
    }
    out
}

/// A field the user set here again to the base value while the server changed it (its
/// pending change names it): the merge saw no local change and took the server's value
/// silently. Counted as changed on both sides instead: the winner keeps it and the losing
/// value is logged, like any other conflict.
pub(crate) fn count_reset_fields(
    merged: &mut Merged,
    base: Option<&FieldMap>,
    local: &FieldMap,
    remote: &FieldMap,
    touched: &BTreeSet<String>,
    winner: Winner,
) {
    for name in touched {
        let get = |m: &FieldMap| m.get(name).cloned().flatten();
        let (b, l, r) = (base.map(get).unwrap_or(None), get(local), get(remote));
        if base.is_none() || l != b || l == r || merged.conflicts.iter().any(|c| &c.field == name) {
            continue;
        }
        merged.conflicts.push(FieldConflict {
            field: name.clone(),
            local: l.clone(),
            remote: r,
            kept: winner,
        });
        if winner == Winner::Local {
            merged.fields.insert(name.clone(), l.clone());
            merged.to_push.insert(name.clone(), l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_field_set_back_to_the_base_while_the_server_changed_it_is_a_conflict() {
        let base = m(&[("vehicle_id", Some("A"))]);
        let local = m(&[("vehicle_id", Some("A"))]);
        let remote = m(&[("vehicle_id", Some("B"))]);
        let touched: BTreeSet<String> = ["vehicle_id".to_string()].into();
        let mut merged = merge(Some(&base), &local, &remote, Winner::Server);
        assert!(merged.conflicts.is_empty(), "plain merge: no local change");
        count_reset_fields(
            &mut merged,
            Some(&base),
            &local,
            &remote,
            &touched,
            Winner::Server,
        );
        assert_eq!(merged.conflicts.len(), 1);
        assert_eq!(merged.fields["vehicle_id"].as_deref(), Some("B"));
        let mut merged = merge(Some(&base), &local, &remote, Winner::Local);
        count_reset_fields(
            &mut merged,
            Some(&base),
            &local,
            &remote,
            &touched,
            Winner::Local,
        );
        assert_eq!(merged.fields["vehicle_id"].as_deref(), Some("A"));
        assert_eq!(merged.to_push["vehicle_id"].as_deref(), Some("A"));
        // Untouched fields are not affected.
        let mut merged = merge(Some(&base), &local, &remote, Winner::Server);
        count_reset_fields(
            &mut merged,
            Some(&base),
            &local,
            &remote,
            &BTreeSet::new(),
            Winner::Server,
        );
        assert!(merged.conflicts.is_empty());
    }

    fn m(pairs: &[(&str, Option<&str>)]) -> FieldMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn the_documented_cases() {
        let base = m(&[
            ("nickname", Some("Car")),
            ("colour", Some("white")),
            ("make", Some("Kia")),
            ("model", None),
        ]);
        let local = m(&[
            ("nickname", Some("Work")),
            ("colour", Some("black")),
            ("make", Some("Kia")),
            ("model", Some("Rio")),
        ]);
        let remote = m(&[
            ("nickname", Some("Car")),
            ("colour", Some("red")),
            ("make", Some("KIA")),
            ("model", Some("Rio")),
        ]);
        let out = merge(Some(&base), &local, &remote, Winner::Server);
        // nickname: local only; colour: both, server wins; make: remote only; model: both, same.
        assert_eq!(
            out.fields,
            m(&[
                ("nickname", Some("Work")),
                ("colour", Some("red")),
                ("make", Some("KIA")),
                ("model", Some("Rio"))
            ])
        );
        assert_eq!(out.to_push, m(&[("nickname", Some("Work"))]));
        assert_eq!(
            out.conflicts,
            vec![FieldConflict {
                field: "colour".into(),
                local: Some("black".into()),
                remote: Some("red".into()),
                kept: Winner::Server,
            }]
        );
        let out = merge(Some(&base), &local, &remote, Winner::Local);
        assert_eq!(out.fields["colour"], Some("black".into()));
        assert_eq!(
            out.to_push,
            m(&[("nickname", Some("Work")), ("colour", Some("black"))])
        );
    }

    #[test]
    fn without_a_base_one_sided_fields_are_kept_and_both_sided_ones_conflict() {
        let local = m(&[
            ("plate", Some("123ABC02")),
            ("nickname", Some("Mine")),
            ("colour", Some("white")),
        ]);
        let remote = m(&[
            ("plate", Some("123ABC02")),
            ("make", Some("Toyota")),
            ("colour", Some("silver")),
        ]);
        let out = merge(None, &local, &remote, Winner::Server);
        assert_eq!(
            out.fields,
            m(&[
                ("plate", Some("123ABC02")),
                ("nickname", Some("Mine")),
                ("make", Some("Toyota")),
                ("colour", Some("silver"))
            ])
        );
        assert_eq!(out.to_push, m(&[("nickname", Some("Mine"))]));
        assert_eq!(out.conflicts.len(), 1);
    }

    fn field_map() -> impl Strategy<Value = FieldMap> {
        proptest::collection::btree_map("[a-d]", proptest::option::of("[xyz]"), 0..4)
    }

    proptest! {
        #[test]
        fn merging_identical_sides_changes_nothing(base in field_map(), x in field_map()) {
            let out = merge(Some(&base), &x, &x, Winner::Server);
            prop_assert!(out.to_push.is_empty() && out.conflicts.is_empty());
            for (k, v) in &x { prop_assert_eq!(out.fields.get(k).cloned().flatten(), v.clone()); }
        }

        #[test]
        fn an_untouched_local_side_takes_the_remote(base in field_map(), remote in field_map()) {
            let out = merge(Some(&base), &base, &remote, Winner::Local);
            prop_assert!(out.to_push.is_empty() && out.conflicts.is_empty());
            for k in out.fields.keys() {
                prop_assert_eq!(out.fields[k].clone(), remote.get(k).cloned().flatten());
            }
        }

        #[test]
        fn an_untouched_remote_side_pushes_the_local_changes(base in field_map(), local in field_map()) {
            let out = merge(Some(&base), &local, &base, Winner::Server);
            prop_assert!(out.conflicts.is_empty());
            for k in out.fields.keys() {
                let l = local.get(k).cloned().flatten();
                prop_assert_eq!(out.fields[k].clone(), l.clone());
                prop_assert_eq!(out.to_push.contains_key(k), l != base.get(k).cloned().flatten());
            }
        }

        #[test]
        fn the_winner_decides_every_conflict_and_nothing_else(base in field_map(), local in field_map(), remote in field_map(), local_wins in any::<bool>()) {
            let winner = if local_wins { Winner::Local } else { Winner::Server };
            let out = merge(Some(&base), &local, &remote, winner);
            for c in &out.conflicts {
                let b = base.get(&c.field).cloned().flatten();
                prop_assert!(c.local != b && c.remote != b && c.local != c.remote);
                let kept = if local_wins { &c.local } else { &c.remote };
                prop_assert_eq!(&out.fields[&c.field], kept);
            }
            // After pushing `to_push`, the server holds exactly the merged record.
            for (k, v) in &out.fields {
                let server = out.to_push.get(k).cloned().unwrap_or_else(|| remote.get(k).cloned().flatten());
                prop_assert_eq!(&server, v);
            }
        }
    }
}
