import AparkingCore
import XCTest

/// What errors, damaged-record reports and conflicts are about is an enum a `switch` checks,
/// not a string: these compile only while every case is covered, and read back as the core
/// names them.
final class TypedReportsTests: XCTestCase {
    /// An app's label for a conflict's field: an exhaustive `switch`, no `default`.
    private func label(_ field: RecordField) -> String {
        switch field {
        case .profile(let field):
            switch field {
            case .phone: return "Phone"
            case .fullName: return "Name"
            case .email: return "E-mail"
            case .preferredLanguage: return "Language"
            }
        case .vehicle(let field):
            switch field {
            case .plate: return "Plate"
            case .nickname: return "Nickname"
            case .make: return "Make"
            case .model: return "Model"
            case .colour: return "Colour"
            case .registrationCertificateNumber: return "Certificate"
            }
        case .document(let field):
            switch field {
            case .number: return "Number"
            case .issuedOn: return "Issued"
            case .expiresOn: return "Expires"
            case .vehicleId: return "Vehicle"
            }
        }
    }

    /// The values a remote delete removed, whatever the record: an exhaustive `switch`.
    private func summary(_ values: RecordValues) -> String {
        switch values {
        case .profile(let profile): return profile.phone ?? ""
        case .vehicle(let vehicle): return vehicle.plate
        case .document(let document): return document.number
        }
    }

    /// The words an error uses for each entity: an exhaustive `switch`, so a new case fails to
    /// compile here until it is checked.
    private func words(_ entity: Entity) -> String {
        switch entity {
        case .profile: return "profile"
        case .vehicle: return "vehicle"
        case .document: return "document"
        case .consentReceipt: return "consent receipt"
        case .consentReceiptChain: return "consent receipt chain"
        case .telemetryEvent: return "telemetry event"
        case .networkSample: return "network sample"
        case .complaint: return "complaint"
        case .syncConflict: return "sync conflict"
        case .syncMirrorRecord: return "sync mirror record"
        case .outboxEntry: return "outbox entry"
        case .pastValue: return "past value"
        case .storeEpoch: return "store epoch"
        case .storeFile: return "store file"
        }
    }

    func testEveryEntityAnErrorCanNameReadsAsWordsInItsMessage() {
        let every: [Entity] = [
            .profile, .vehicle, .document, .consentReceipt, .consentReceiptChain, .telemetryEvent,
            .networkSample, .complaint, .syncConflict, .syncMirrorRecord, .outboxEntry, .pastValue,
            .storeEpoch, .storeFile,
        ]
        XCTAssertEqual(Set(every).count, 14)
        for entity in every {
            let name = words(entity)
            let expected = name.prefix(1).uppercased() + name.dropFirst() + " not found."
            XCTAssertEqual(AparkingError.NotFound(entity: entity).message, expected)
        }
        let kinds: [(RecordKind, String)] = [(.profile, "Profile"), (.vehicle, "Vehicle"), (.document, "Document")]
        for (kind, name) in kinds {
            XCTAssertEqual(AparkingError.AlreadyExists(entity: kind).message, "\(name) already exists.")
        }
    }

    func testAConflictsFieldAndARemovedRecordAreTypedValuesAnExhaustiveSwitchReads() {
        XCTAssertEqual(label(.vehicle(field: .colour)), "Colour")
        XCTAssertEqual(label(.document(field: .expiresOn)), "Expires")
        XCTAssertEqual(label(.profile(field: .email)), "E-mail")
        XCTAssertEqual(RecordField.vehicle(field: .plate), .vehicle(field: .plate), "values compare by content")
        XCTAssertNotEqual(RecordField.vehicle(field: .plate), .vehicle(field: .make))
        XCTAssertEqual(summary(.vehicle(vehicle: NewVehicle(plate: "123ABC02"))), "123ABC02")
        XCTAssertEqual(summary(.document(document: NewDocument(kind: .driverLicence, number: "DL1234567"))), "DL1234567")
        XCTAssertEqual(summary(.profile(profile: ProfilePatch(phone: "+77012345678"))), "+77012345678")
    }
}
