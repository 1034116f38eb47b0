import AparkingCore
import Foundation
import XCTest

/// Profile, vehicles, documents, export and erasure through the generated `Store`
/// (mirrors StoreTest.kt of the Kotlin bindings).
final class StoreTests: StoreTestCase {
    private var provider: CountingKeyProvider!

    override func setUpWithError() throws {
        try super.setUpWithError()
        provider = CountingKeyProvider.withSeed(42)
    }

    private func withStore<R>(_ body: (Store) throws -> R) throws -> R {
        try withStore(storeFile(), provider, body)
    }

    func testVehicleTypedInCyrillicIsFoundInLatin() throws {
        try withStore { store in
            let added = try store.addVehicle(vehicle: NewVehicle(plate: "123 авс 02", nickname: "  Работа "))
            XCTAssertEqual(added.plate.canonical, "123ABC02")
            XCTAssertEqual(added.plate.display, "123 ABC 02")
            XCTAssertEqual(added.plate.format, .current)
            XCTAssertEqual(added.plate.region, "02")
            XCTAssertEqual(added.nickname, "Работа", "free text is trimmed, Cyrillic kept")
            XCTAssertNil(added.make)

            let found = try XCTUnwrap(try store.findVehicleByPlate(plate: "123ABC02"))
            XCTAssertEqual(found, added, "the record read back equals the one returned by add")
            XCTAssertEqual(found.plate.display, "123 ABC 02")
            XCTAssertNil(try store.findVehicleByPlate(plate: "124ABC02"))
            XCTAssertEqual(try store.getVehicle(id: added.id), added)
        }
    }

    func testDuplicatePlateInAnyTypedFormIsAlreadyExists() throws {
        try withStore { store in
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "123 авс 02"))
            assertThrows(.AlreadyExists(entity: .vehicle), try store.addVehicle(vehicle: NewVehicle(plate: "123ABC02")))
            assertThrows(.AlreadyExists(entity: .vehicle), try store.addVehicle(vehicle: NewVehicle(plate: "123-АВС-02")))
            XCTAssertEqual(try store.listVehicles().count, 1)
        }
    }

    func testMalformedPlateIsInvalidInputForFieldPlateWithoutEchoingIt() throws {
        let typed = "987XYZ99"
        try withStore { store in
            let add = assertInvalidInput(try store.addVehicle(vehicle: NewVehicle(plate: typed)))
            XCTAssertEqual(add?.field, "plate")
            XCTAssertEqual(add?.description.contains(typed), false, add?.description ?? "")
            XCTAssertEqual(add?.description.contains("987"), false, add?.description ?? "")

            let find = assertInvalidInput(try store.findVehicleByPlate(plate: typed))
            XCTAssertEqual(find?.field, "plate")
            XCTAssertEqual(try store.info().vehicleCount, 0)
            XCTAssertNil(try store.findVehicleByPlate(plate: "123ABC02"), "a valid but absent plate is nil, not an error")
        }
    }

    func testVehicleUpdatePatchClearAndRemove() throws {
        try withStore { store in
            let v = try store.addVehicle(vehicle: NewVehicle(plate: "A123BCD", make: "Toyota", model: "Camry"))
            let updated = try store.updateVehicle(id: v.id, patch: VehiclePatch(colour: "белый", clear: [.model]))
            XCTAssertEqual(updated.make, "Toyota", "fields not in the patch are kept")
            XCTAssertNil(updated.model)
            XCTAssertEqual(updated.colour, "белый")
            XCTAssertEqual(updated.createdAt, v.createdAt)
            XCTAssertGreaterThanOrEqual(updated.updatedAt, v.updatedAt)
            XCTAssertEqual(try store.getVehicle(id: v.id), updated)

            let bad = assertInvalidInput(try store.updateVehicle(id: v.id, patch: VehiclePatch(clear: [.plate])))
            XCTAssertEqual(bad?.field, "plate")

            try store.removeVehicle(id: v.id)
            XCTAssertNil(try store.getVehicle(id: v.id))
            assertThrows(.NotFound(entity: .vehicle), try store.removeVehicle(id: v.id))
        }
    }

    func testProfilePatchWithDefaultArguments() throws {
        let start = Date()
        try withStore { store in
            XCTAssertNil(try store.getProfile())
            let noPhone = assertInvalidInput(try store.updateProfile(patch: ProfilePatch(fullName: "Айгерим")))
            XCTAssertEqual(noPhone?.field, "phone", "the first update must set the phone")

            let created = try store.updateProfile(patch: ProfilePatch(phone: phoneTyped))
            XCTAssertEqual(created.phone, phoneE164)
            XCTAssertNil(created.email)
            XCTAssertNil(created.preferredLanguage)
            // Stored with millisecond precision: allow for the truncation.
            XCTAssertGreaterThanOrEqual(created.createdAt, start.addingTimeInterval(-0.002))
            XCTAssertLessThan(abs(created.updatedAt.timeIntervalSinceNow), 60)

            let withEmail = try store.updateProfile(
                patch: ProfilePatch(fullName: "Айгерим Н.", email: " Aigerim@Mail.KZ ", preferredLanguage: .kk)
            )
            XCTAssertEqual(withEmail.phone, phoneE164, "phone kept when the patch leaves it nil")
            XCTAssertEqual(withEmail.email, "Aigerim@mail.kz")
            XCTAssertEqual(withEmail.preferredLanguage, .kk)
            XCTAssertEqual(withEmail.id, created.id)
            XCTAssertEqual(withEmail.createdAt, created.createdAt)

            let cleared = try store.updateProfile(patch: ProfilePatch(clear: [.email]))
            XCTAssertNil(cleared.email)
            XCTAssertEqual(cleared.fullName, "Айгерим Н.")
            XCTAssertEqual(try store.getProfile(), cleared)

            let requiredCleared = assertInvalidInput(try store.updateProfile(patch: ProfilePatch(clear: [.phone])))
            XCTAssertEqual(requiredCleared?.field, "phone")
            let setAndCleared = assertInvalidInput(
                try store.updateProfile(patch: ProfilePatch(email: "a@b.kz", clear: [.email]))
            )
            XCTAssertEqual(setAndCleared?.field, "email")
            let badPhone = assertInvalidInput(try store.updateProfile(patch: ProfilePatch(phone: "+1 202 555 0100")))
            XCTAssertEqual(badPhone?.field, "phone")
            XCTAssertEqual(badPhone?.description.contains("202 555"), false)
            XCTAssertEqual(try store.getProfile()?.phone, phoneE164, "a failed update changes nothing")
            XCTAssertEqual(requiredProfileFields(), [.phone])
        }
    }

    func testDocumentsFoundByNumberWithCyrillicLookAlikesAndLinkedToAVehicle() throws {
        try withStore { store in
            let licence = try store.addDocument(
                document: NewDocument(kind: .driverLicence, number: "AB 12-34 56", expiresOn: "2034-05-31")
            )
            XCTAssertEqual(licence.number, "AB123456")
            XCTAssertEqual(licence.expiresOn, "2034-05-31")
            XCTAssertNil(licence.vehicleId)

            let found = try XCTUnwrap(try store.findDocumentByNumber(kind: .driverLicence, number: "ав123456"))
            XCTAssertEqual(found.id, licence.id)
            XCTAssertNil(
                try store.findDocumentByNumber(kind: .vehicleRegistrationCertificate, number: "AB123456"),
                "lookup is per kind"
            )
            assertThrows(
                .AlreadyExists(entity: .document),
                try store.addDocument(document: NewDocument(kind: .driverLicence, number: "АВ123456"))
            )

            let car = try store.addVehicle(vehicle: NewVehicle(plate: "555 ТТТ 17"))
            let cert = try store.addDocument(
                document: NewDocument(
                    kind: .vehicleRegistrationCertificate,
                    number: "КХ 00 77 11",
                    issuedOn: "2024-01-15",
                    vehicleId: car.id
                )
            )
            XCTAssertEqual(cert.number, "KX007711")
            XCTAssertEqual(cert.vehicleId, car.id)
            XCTAssertEqual(try store.getDocument(id: cert.id)?.vehicleId, car.id)

            assertThrows(
                .NotFound(entity: .vehicle),
                try store.addDocument(
                    document: NewDocument(kind: .vehicleRegistrationCertificate, number: "ZZ999999", vehicleId: "no-such-id")
                )
            )
            let backwards = assertInvalidInput(
                try store.addDocument(
                    document: NewDocument(
                        kind: .driverLicence, number: "QQ111111", issuedOn: "2030-01-02", expiresOn: "2030-01-01"
                    )
                )
            )
            XCTAssertEqual(backwards?.field, "expiresOn")

            // Removing the vehicle keeps its documents (unlinked).
            try store.removeVehicle(id: car.id)
            let orphan = try XCTUnwrap(try store.getDocument(id: cert.id))
            XCTAssertNil(orphan.vehicleId)
            XCTAssertEqual(try store.listDocuments().count, 2)

            let unlinked = try store.updateDocument(id: licence.id, patch: DocumentPatch(clear: [.expiresOn]))
            XCTAssertNil(unlinked.expiresOn)
            try store.removeDocument(id: licence.id)
            XCTAssertEqual(try store.listDocuments().map(\.id), [cert.id])
        }
    }

    func testExportUserDataHasEverythingAndDeleteAllUserDataEmptiesTheStore() throws {
        try withStore { store in
            _ = try store.updateProfile(patch: ProfilePatch(phone: phoneTyped, email: "user@example.kz"))
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "123 авс 02"))
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "a 777 bc"))
            _ = try store.addDocument(document: NewDocument(kind: .driverLicence, number: "ав 99 88 77"))
            let before = try store.info()
            XCTAssertEqual(
                before,
                StoreInfo(
                    schemaVersion: storeSchemaVersion(), keyVersion: 1, hasProfile: true, vehicleCount: 2, documentCount: 1,
                    durability: .full
                )
            )

            let json = try store.exportUserData()
            let trimmed = json.trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertTrue(trimmed.hasPrefix("{") && trimmed.hasSuffix("}"), json)
            for expected in [
                "\"aparking-core/user-data-export\"",
                "\"\(phoneE164)\"",
                "\"user@example.kz\"",
                "\"123ABC02\"",
                "\"123 ABC 02\"",
                "\"A777BC\"",
                "\"AB998877\"",
                "\"driver_licence\"",
            ] {
                XCTAssertTrue(json.contains(expected), "export lacks \(expected):\n\(json)")
            }
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(json.utf8)), "the export is valid JSON")

            let callsBefore = provider.calls
            try store.deleteAllUserData()
            XCTAssertEqual(provider.calls, callsBefore + 1, "erasure wraps a new data key with the KEK")
            let after = try store.info()
            XCTAssertEqual(
                after,
                StoreInfo(
                    schemaVersion: before.schemaVersion,
                    keyVersion: before.keyVersion + 1,
                    hasProfile: false,
                    vehicleCount: 0,
                    documentCount: 0,
                    durability: before.durability
                )
            )
            XCTAssertNil(try store.getProfile())
            XCTAssertTrue(try store.listVehicles().isEmpty)
            XCTAssertTrue(try store.listDocuments().isEmpty)
            XCTAssertNil(try store.findVehicleByPlate(plate: "123ABC02"))
            let emptyExport = try store.exportUserData()
            XCTAssertFalse(emptyExport.contains("123ABC02") || emptyExport.contains(phoneE164), emptyExport)

            // The store stays usable: the same plate can be added again.
            XCTAssertEqual(try store.addVehicle(vehicle: NewVehicle(plate: "123ABC02")).plate.canonical, "123ABC02")
        }
    }

    func testDataPersistsAcrossShutdownAndReopen() throws {
        let id = try withStore { store in
            try store.addVehicle(vehicle: NewVehicle(plate: "001AAA01", make: "Lada")).id
        }
        try withStore { store in
            let v = try XCTUnwrap(try store.getVehicle(id: id))
            XCTAssertEqual(v.make, "Lada")
            XCTAssertEqual(
                try store.info(),
                StoreInfo(
                    schemaVersion: storeSchemaVersion(), keyVersion: 1, hasProfile: false, vehicleCount: 1, documentCount: 0,
                    durability: .full
                )
            )
        }
    }

    func testShutdownClosesTheDatabaseAtOnceAndLaterCallsThrowStoreClosed() throws {
        let store = try openStore(storeFile(), provider)
        _ = try store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        let other = store // another reference, as a second component of an app would hold
        try store.shutdown()
        assertThrows(.StoreClosed, try other.listVehicles())
        assertThrows(.StoreClosed, try other.addVehicle(vehicle: NewVehicle(plate: "124ABC02")))
        assertThrows(.StoreClosed, try other.info())
        XCTAssertNoThrow(try store.shutdown(), "twice is harmless")

        // The file is released and complete: it opens again while the old object still exists.
        try withStore(storeFile(), provider) { again in
            XCTAssertEqual(try again.listVehicles().map(\.plate.canonical), ["123ABC02"])
        }
        withExtendedLifetime(store) {}
    }
}
