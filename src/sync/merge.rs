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
//! "Changed" is by value, and also by what each side is known to have set: a field a
//! pending local change names, and a field whose backend field version is above the base's
//! version, count as changed even when the value is the base's again (set back).
//!
//! Without a base (the same plate created on two devices), every field is compared with
//! "absent": a field set on one side only takes that side's value.
//! Deletes are decided before the merge (delete wins), so this module only merges fields.

use std::collections::BTreeSet;

pub(crate) use crate::store::outbox::FieldMap;

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
///
/// A field counts as changed on a side when its value differs from the base, or when that
/// side is known to have set it even though the value is the base's again: `local_set`
/// (the fields a pending local change names) and `remote_set` (the fields the backend
/// set after the base's version, from its field versions). Without them a value set back
/// to the base would read as unchanged and lose to the other side without a conflict.
/// Without a base both sets are ignored: every field is compared with "absent".
pub(crate) fn merge(
    base: Option<&FieldMap>,
    local: &FieldMap,
    remote: &FieldMap,
    winner: Winner,
    local_set: &BTreeSet<String>,
    remote_set: &BTreeSet<String>,
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
        let known = |set: &BTreeSet<String>| base.is_some() && set.contains(name);
        let local_changed = l != b || known(local_set);
        let remote_changed = r != b || known(remote_set);
        let (value, push) = if l == r || !local_changed {
            (r.clone(), false)
        } else if !remote_changed {
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

/// Merges without knowing which fields either side set: values alone decide.
pub(crate) fn merge_values(
    base: Option<&FieldMap>,
    local: &FieldMap,
    remote: &FieldMap,
    winner: Winner,
) -> Merged {
    let none = BTreeSet::new();
    merge(base, local, remote, winner, &none, &none)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_field_set_back_to_the_base_while_the_server_changed_it_is_a_conflict() {
        let base = m(&[("vehicle_id", Some("A"))]);
        let local = m(&[("vehicle_id", Some("A"))]);
        let remote = m(&[("vehicle_id", Some("B"))]);
        let none = BTreeSet::new();
        let plain = merge_values(Some(&base), &local, &remote, Winner::Server);
        assert!(
            plain.conflicts.is_empty(),
            "by values alone: no local change"
        );
        let touched = set(&["vehicle_id"]);
        let merged = merge(
            Some(&base),
            &local,
            &remote,
            Winner::Server,
            &touched,
            &none,
        );
        assert_eq!(merged.conflicts.len(), 1);
        assert_eq!(merged.fields["vehicle_id"].as_deref(), Some("B"));
        let merged = merge(Some(&base), &local, &remote, Winner::Local, &touched, &none);
        assert_eq!(merged.fields["vehicle_id"].as_deref(), Some("A"));
        assert_eq!(merged.to_push["vehicle_id"].as_deref(), Some("A"));
    }

    #[test]
    fn a_field_the_server_set_back_to_the_base_conflicts_with_a_local_change() {
        // Another device changed the nickname and a third set it back: by values the server
        // did not change it, but its field version is above our base.
        let base = m(&[("nickname", Some("Car")), ("colour", Some("white"))]);
        let local = m(&[("nickname", Some("Home")), ("colour", Some("white"))]);
        let remote = base.clone();
        let none = BTreeSet::new();
        let plain = merge_values(Some(&base), &local, &remote, Winner::Server);
        assert_eq!(plain.fields["nickname"].as_deref(), Some("Home"));
        assert!(plain.conflicts.is_empty());
        let set_remotely = set(&["nickname", "colour"]);
        let merged = merge(
            Some(&base),
            &local,
            &remote,
            Winner::Server,
            &none,
            &set_remotely,
        );
        assert_eq!(merged.fields["nickname"].as_deref(), Some("Car"));
        assert_eq!(merged.conflicts.len(), 1, "colour: the same on both sides");
        assert_eq!(merged.conflicts[0].local.as_deref(), Some("Home"));
        assert!(merged.to_push.is_empty());
        let merged = merge(
            Some(&base),
            &local,
            &remote,
            Winner::Local,
            &none,
            &set_remotely,
        );
        assert_eq!(merged.to_push["nickname"].as_deref(), Some("Home"));
        // Without a base, the sets say nothing.
        let merged = merge(
            None,
            &local,
            &remote,
            Winner::Server,
            &set_remotely,
            &set_remotely,
        );
        assert_eq!(merged, merge_values(None, &local, &remote, Winner::Server));
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
        let out = merge_values(Some(&base), &local, &remote, Winner::Server);
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
        let out = merge_values(Some(&base), &local, &remote, Winner::Local);
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
        let out = merge_values(None, &local, &remote, Winner::Server);
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

    fn name_set() -> impl Strategy<Value = BTreeSet<String>> {
        proptest::collection::btree_set("[a-d]", 0..4)
    }

    proptest! {
        #[test]
        fn known_sets_only_add_conflicts(base in field_map(), local in field_map(), remote in field_map(), local_set in name_set(), remote_set in name_set()) {
            let plain = merge_values(Some(&base), &local, &remote, Winner::Server);
            let out = merge(Some(&base), &local, &remote, Winner::Server, &local_set, &remote_set);
            for c in &plain.conflicts {
                prop_assert!(out.conflicts.contains(c));
            }
            for (k, v) in &out.fields {
                if !local_set.contains(k) && !remote_set.contains(k) {
                    prop_assert_eq!(plain.fields.get(k), Some(v));
                }
                let server = out.to_push.get(k).cloned().unwrap_or_else(|| remote.get(k).cloned().flatten());
                prop_assert_eq!(&server, v);
            }
        }

        #[test]
        fn merging_identical_sides_changes_nothing(base in field_map(), x in field_map()) {
            let out = merge_values(Some(&base), &x, &x, Winner::Server);
            prop_assert!(out.to_push.is_empty() && out.conflicts.is_empty());
            for (k, v) in &x { prop_assert_eq!(out.fields.get(k).cloned().flatten(), v.clone()); }
        }

        #[test]
        fn an_untouched_local_side_takes_the_remote(base in field_map(), remote in field_map()) {
            let out = merge_values(Some(&base), &base, &remote, Winner::Local);
            prop_assert!(out.to_push.is_empty() && out.conflicts.is_empty());
            for k in out.fields.keys() {
                prop_assert_eq!(out.fields[k].clone(), remote.get(k).cloned().flatten());
            }
        }

        #[test]
        fn an_untouched_remote_side_pushes_the_local_changes(base in field_map(), local in field_map()) {
            let out = merge_values(Some(&base), &local, &base, Winner::Server);
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
            let out = merge_values(Some(&base), &local, &remote, winner);
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
