//! The typed references and values that reports about records carry (damaged-record reports, the sync conflict log) instead of their names as
//! strings.

use super::{DocumentField, DocumentKind, Language, NewDocument, NewVehicle};
use super::{ProfileField, ProfilePatch, RecordKind, VehicleField};

/// One record by kind and id: what a damaged-record report names (never its values).
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct RecordRef {
    /// What kind of record it is.
    pub entity: RecordKind,
    /// The record's id.
    pub record_id: String,
}

/// One field of one kind of record: the kind's own field enum, so that a `when` / `switch`
/// over it is checked by the compiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum RecordField {
    /// A field of the profile.
    Profile {
        /// Which one.
        field: ProfileField,
    },
    /// A field of a vehicle.
    Vehicle {
        /// Which one.
        field: VehicleField,
    },
    /// A field of a document.
    Document {
        /// Which one.
        field: DocumentField,
    },
}

impl RecordField {
    /// The field's name on the wire and in exports (`plate`, `expires_on`).
    pub fn name(self) -> &'static str {
        match self {
            RecordField::Profile { field } => field.name(),
            RecordField::Vehicle { field } => field.name(),
            RecordField::Document { field } => field.name(),
        }
    }

    /// The field of `kind` with this wire name (`None` for a name the API has no field
    /// for, such as a document's `kind`, which never changes).
    pub(crate) fn parse(kind: RecordKind, name: &str) -> Option<RecordField> {
        Some(match kind {
            RecordKind::Profile => RecordField::Profile {
                field: ProfileField::ALL.into_iter().find(|f| f.name() == name)?,
            },
            RecordKind::Vehicle => RecordField::Vehicle {
                field: VehicleField::ALL.into_iter().find(|f| f.name() == name)?,
            },
            RecordKind::Document => RecordField::Document {
                field: DocumentField::ALL.into_iter().find(|f| f.name() == name)?,
            },
        })
    }
}

/// A record's values as this device held them, in the shape that adds them again: what a
/// remote delete removed (`ConflictResolution.DeleteWon`), or a record merged into the
/// server's (`Merged`). `addVehicle(values)`, `addDocument(values)` or
/// `updateProfile(values)` re-enters them.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RecordValues {
    /// The profile's values, as a patch that sets each of them.
    Profile {
        /// The values.
        profile: ProfilePatch,
    },
    /// A vehicle's values.
    Vehicle {
        /// The values; the plate in its stored form.
        vehicle: NewVehicle,
    },
    /// A document's values.
    Document {
        /// The values; the number in its stored form.
        document: NewDocument,
    },
}

impl RecordValues {
    /// The values of a record of `kind` from its synced fields (wire name, value);
    /// `None` when a required value is missing or malformed.
    pub(crate) fn from_fields<'a>(
        kind: RecordKind,
        fields: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Option<RecordValues> {
        let fields: Vec<(&str, Option<&str>)> = fields.into_iter().collect();
        let value = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| v.map(str::to_string))
        };
        Some(match kind {
            RecordKind::Profile => RecordValues::Profile {
                profile: ProfilePatch {
                    phone: Some(value("phone")?),
                    full_name: value("full_name"),
                    email: value("email"),
                    preferred_language: match value("preferred_language") {
                        Some(code) => Some(Language::from_code(&code)?),
                        None => None,
                    },
                    clear: Vec::new(),
                },
            },
            RecordKind::Vehicle => RecordValues::Vehicle {
                vehicle: NewVehicle {
                    plate: value("plate")?,
                    nickname: value("nickname"),
                    make: value("make"),
                    model: value("model"),
                    colour: value("colour"),
                    registration_certificate_number: value("registration_certificate_number"),
                },
            },
            RecordKind::Document => RecordValues::Document {
                document: NewDocument {
                    kind: DocumentKind::parse(&value("kind")?)?,
                    number: value("number")?,
                    issued_on: value("issued_on"),
                    expires_on: value("expires_on"),
                    vehicle_id: value("vehicle_id"),
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_field_round_trips_through_its_wire_name() {
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(RecordKind::parse("telemetry"), None);
        for field in ProfileField::ALL {
            assert_eq!(
                RecordField::parse(RecordKind::Profile, field.name()),
                Some(RecordField::Profile { field })
            );
        }
        for field in VehicleField::ALL {
            assert_eq!(
                RecordField::parse(RecordKind::Vehicle, field.name()),
                Some(RecordField::Vehicle { field })
            );
        }
        for field in DocumentField::ALL {
            assert_eq!(
                RecordField::parse(RecordKind::Document, field.name()),
                Some(RecordField::Document { field })
            );
        }
        assert_eq!(RecordField::parse(RecordKind::Document, "kind"), None);
        assert_eq!(RecordField::parse(RecordKind::Vehicle, "phone"), None);
    }

    #[test]
    fn values_are_rebuilt_from_synced_fields_and_refused_without_a_required_one() {
        let vehicle = RecordValues::from_fields(
            RecordKind::Vehicle,
            [
                ("plate", Some("123ABC02")),
                ("colour", Some("blue")),
                ("make", None),
            ],
        );
        assert_eq!(
            vehicle,
            Some(RecordValues::Vehicle {
                vehicle: NewVehicle {
                    plate: "123ABC02".into(),
                    colour: Some("blue".into()),
                    ..NewVehicle::default()
                }
            })
        );
        let document = RecordValues::from_fields(
            RecordKind::Document,
            [
                ("kind", Some("driver_licence")),
                ("number", Some("DL1234567")),
            ],
        );
        assert!(matches!(
            document,
            Some(RecordValues::Document { document }) if document.kind == DocumentKind::DriverLicence
        ));
        let profile = RecordValues::from_fields(
            RecordKind::Profile,
            [
                ("phone", Some("+77012345678")),
                ("preferred_language", Some("kk")),
            ],
        );
        assert!(matches!(
            profile,
            Some(RecordValues::Profile { profile }) if profile.preferred_language == Some(Language::Kk)
        ));
        assert_eq!(
            RecordValues::from_fields(RecordKind::Vehicle, [("colour", Some("red"))]),
            None
        );
        assert_eq!(
            RecordValues::from_fields(
                RecordKind::Document,
                [("kind", Some("passport")), ("number", Some("N1234567"))]
            ),
            None
        );
        assert_eq!(
            RecordValues::from_fields(
                RecordKind::Profile,
                [
                    ("phone", Some("+77012345678")),
                    ("preferred_language", Some("xx"))
                ]
            ),
            None
        );
    }
}
