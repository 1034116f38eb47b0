import AparkingCore
import Foundation
import XCTest

/// Durability of saves from Swift: `Store.openWithOptions` with `StoreOptions` chooses when a
/// save reaches the disk (`Durability.full`, SQLite `synchronous=FULL`, the default, or
/// `.normal`, `synchronous=NORMAL` in WAL mode), and `StoreInfo.durability` reads it back from
/// the open connection. The mode belongs to an open, not to the file: the data saved under
/// `.normal` are in the file after `shutdown()`, and a plain `Store.open` of it is `.full`
/// again. A `RollbackCounter` in the options refuses a restored copy as
/// `Store.openWithRollbackCounter` does; a path already open in this process gives back the
/// same Rust store, with the options of its first open.
final class DurabilityTests: StoreTestCase {
    func testStoreOptionsDefaultToFullNormalIsReportedByInfoAndTheModeIsPerOpenNotStoredInTheFile() throws {
        let key = CountingKeyProvider.withSeed(120)
        let defaults = StoreOptions()
        XCTAssertNil(defaults.durability, "unset durability: the SDK's default applies")
        XCTAssertNil(defaults.rollbackCounter)

        // StoreOptions() opens as Store.open does: every save synced, .full.
        try {
            let store = try Store.openWithOptions(path: storeFile("default.db").path, keyProvider: key, options: defaults)
            defer { try? store.shutdown() }
            XCTAssertEqual(try store.info().durability, .full, "an unset durability is full")
        }()
        try withStore(storeFile("plain.db"), key) { store in
            XCTAssertEqual(try store.info().durability, .full, "Store.open is full")
        }

        // Saves under .normal: the connection reports it, and what was saved is in the file
        // after shutdown().
        let file = storeFile()
        let plates = (0 ..< 20).map { "\(100 + $0)ABC02" }
        let ids: [String] = try {
            let store = try Store.openWithOptions(
                path: file.path, keyProvider: key, options: StoreOptions(durability: .normal)
            )
            defer { try? store.shutdown() }
            XCTAssertEqual(try store.info().durability, .normal)
            _ = try store.updateProfile(patch: ProfilePatch(phone: phoneTyped))
            let ids = try plates.map { try store.addVehicle(vehicle: NewVehicle(plate: $0, make: "Lada")).id }
            _ = try store.addDocument(document: NewDocument(kind: .driverLicence, number: "ав 99 88 77"))
            XCTAssertEqual(try store.info().durability, .normal, "saving does not change the mode")
            return ids
        }()
        XCTAssertEqual(ids.count, plates.count)

        // Reopened with plain Store.open: the data are there, and the open is .full, so the
        // mode was not written into the file.
        try withStore(file, key) { store in
            let info = try store.info()
            XCTAssertEqual(info.durability, .full, "the mode is per open, not stored in the file")
            XCTAssertEqual(info.vehicleCount, Int64(plates.count))
            XCTAssertEqual(info.documentCount, 1)
            XCTAssertTrue(info.hasProfile)
            XCTAssertEqual(try store.getProfile()?.phone, phoneE164)
            for (id, plate) in zip(ids, plates) {
                let vehicle = try XCTUnwrap(try store.getVehicle(id: id), "\(plate) saved under .normal is in the file")
                XCTAssertEqual(vehicle.plate.canonical, plate)
                XCTAssertEqual(vehicle.make, "Lada")
            }
            XCTAssertEqual(try store.listDocuments().map(\.number), ["AB998877"])
        }

        // And .normal again on the next open that asks for it, explicit .full when asked.
        for durability in [Durability.normal, .full] {
            let store = try Store.openWithOptions(
                path: file.path, keyProvider: key, options: StoreOptions(durability: durability)
            )
            XCTAssertEqual(try store.info().durability, durability)
            XCTAssertEqual(try store.info().vehicleCount, Int64(plates.count))
            try store.shutdown()
        }
    }

    func testACounterInStoreOptionsWithNormalDurabilityRefusesARestoredCopyAsOpenWithRollbackCounterDoes() throws {
        let file = storeFile()
        let backup = storeFile("backup.db")
        let key = CountingKeyProvider.withSeed(121)
        let counter = InMemoryRollbackCounter()
        let options = StoreOptions(durability: .normal, rollbackCounter: counter)

        // Consent given with every purpose under .normal; the counter in the options is raised.
        let grantedAt: Int64 = try {
            let store = try Store.openWithOptions(path: file.path, keyProvider: key, options: options)
            defer { try? store.shutdown() }
            XCTAssertEqual(try store.info().durability, .normal, "the counter does not override the durability")
            let consent = Consent(store: store)
            XCTAssertEqual(try consent.publishPolicy(manifest: policy(1)), .adopted)
            _ = try consent.acceptPolicy(version: 1, granted: allPurposes, context: consentContext())
            XCTAssertEqual(Set(consent.state().allowed), Set(allPurposes))
            return counter.current
        }()
        XCTAssertGreaterThan(grantedAt, 0, "the counter given in StoreOptions is raised by consent changes")
        XCTAssertEqual(counter.raises.last, grantedAt)
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path + "-wal"), "shutdown() checkpointed the log")
        try FileManager.default.copyItem(at: file, to: backup)

        // Everything withdrawn; then the old copy (consent granted) is put back.
        try {
            let store = try Store.openWithOptions(path: file.path, keyProvider: key, options: options)
            defer { try? store.shutdown() }
            XCTAssertEqual(counter.current, grantedAt, "the file and the counter agree: no raise at open")
            _ = try Consent(store: store).withdraw(purposes: allPurposes, context: consentContext(.settingsScreen))
        }()
        let withdrawnAt = counter.current
        XCTAssertGreaterThan(withdrawnAt, grantedAt, "withdrawing raises the counter")
        try FileManager.default.removeItem(at: file)
        try FileManager.default.copyItem(at: backup, to: file)
        let before = try Data(contentsOf: file)
        let siblings = try filesInDir()
        let raisesBefore = counter.raises
        let readsBefore = counter.reads
        let rolledBack = AparkingError.StoreRolledBack(fileEpoch: grantedAt, expectedEpoch: withdrawnAt)

        XCTAssertThrowsError(try Store.openWithOptions(path: file.path, keyProvider: key, options: options)) { error in
            XCTAssertEqual(error as? AparkingError, rolledBack)
            guard case let .StoreRolledBack(fileEpoch, expectedEpoch)? = error as? AparkingError else {
                return XCTFail("expected AparkingError.StoreRolledBack, got \(error)")
            }
            XCTAssertLessThan(fileEpoch, expectedEpoch)
        }
        XCTAssertEqual(counter.reads, readsBefore + 1, "the open read the counter of the options")
        XCTAssertEqual(counter.raises, raisesBefore, "a refused open does not touch the counter")
        XCTAssertEqual(try Data(contentsOf: file), before, "the restored copy is left byte for byte as it was")
        XCTAssertEqual(try filesInDir(), siblings, "no -wal/-shm files are left behind")

        // Exactly what Store.openWithRollbackCounter says of the same copy.
        XCTAssertThrowsError(
            try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
        ) { error in
            XCTAssertEqual(error as? AparkingError, rolledBack)
        }
        XCTAssertEqual(try Data(contentsOf: file), before)

        // The durability alone keeps no counter: the old copy opens, the withdrawn consent is back.
        try {
            let store = try Store.openWithOptions(
                path: file.path, keyProvider: key, options: StoreOptions(durability: .normal)
            )
            defer { try? store.shutdown() }
            XCTAssertEqual(try store.info().durability, .normal)
            XCTAssertEqual(Set(Consent(store: store).state().allowed), Set(allPurposes))
        }()
        XCTAssertEqual(counter.current, withdrawnAt, "an open without a counter does not use it")
    }

    func testOpeningAnOpenPathWithOtherOptionsReturnsTheSameStoreWithTheFirstOpensOptions() throws {
        // uniffi gives Swift a new wrapper for every object it returns, so `===` is false even
        // for one Rust store: the handles are shown to be one store by what they share (its
        // connection's durability, its counter, one shutdown closing them all).
        let file = storeFile()
        let key = CountingKeyProvider.withSeed(122)
        let first = try Store.openWithOptions(path: file.path, keyProvider: key, options: StoreOptions(durability: .normal))
        defer { try? first.shutdown() }
        XCTAssertEqual(try first.info().durability, .normal)

        // Asked for .full while open as .normal: the open store, still .normal.
        let again = try Store.openWithOptions(path: file.path, keyProvider: key, options: StoreOptions(durability: .full))
        XCTAssertEqual(try again.info().durability, .normal, "the first open's durability stays")
        let plain = try Store.open(path: file.path, keyProvider: key)
        XCTAssertEqual(try plain.info().durability, .normal, "Store.open of an open path is the open store too")

        // A counter given to a later open is not taken up: neither read nor raised.
        let counter = InMemoryRollbackCounter()
        let withCounter = try Store.openWithOptions(
            path: file.path, keyProvider: key, options: StoreOptions(durability: .full, rollbackCounter: counter)
        )
        XCTAssertEqual(try withCounter.info().durability, .normal)
        XCTAssertEqual(try Consent(store: withCounter).publishPolicy(manifest: policy(1)), .adopted)
        XCTAssertEqual(counter.reads, 0, "the store was already open: the counter was not read")
        XCTAssertEqual(counter.raises, [], "the open store keeps the first open's options (no counter)")
        XCTAssertEqual(Consent(store: first).policyInForce()?.version, 1, "one consent state")

        // A save through one handle is seen through the others.
        let vehicle = try again.addVehicle(vehicle: NewVehicle(plate: "777KZA01"))
        for handle in [first, plain, withCounter] {
            XCTAssertEqual(try handle.getVehicle(id: vehicle.id), vehicle)
        }

        // The other way round: open as .full, asked for .normal, stays .full.
        let other = storeFile("other.db")
        let full = try Store.openWithOptions(path: other.path, keyProvider: key, options: StoreOptions())
        let asNormal = try Store.openWithOptions(path: other.path, keyProvider: key, options: StoreOptions(durability: .normal))
        XCTAssertEqual(try asNormal.info().durability, .full)
        try asNormal.shutdown()
        assertThrows(.StoreClosed, try full.info(), "one store: shutting down one handle closes the other")
        XCTAssertEqual(try first.info().durability, .normal, "another path is another store")

        // One shutdown closes every handle of the first path; the next open is a new one and
        // takes its own options.
        try first.shutdown()
        for handle in [again, plain, withCounter] {
            assertThrows(.StoreClosed, try handle.info())
        }
        let reopened = try Store.openWithOptions(path: file.path, keyProvider: key, options: StoreOptions(durability: .full))
        defer { try? reopened.shutdown() }
        XCTAssertEqual(try reopened.info().durability, .full, "a new open takes its own options")
        XCTAssertEqual(try reopened.getVehicle(id: vehicle.id), vehicle)
        assertThrows(.StoreClosed, try again.info(), "the old handles stay closed")
    }

    func testDurabilityIsAnEquatableHashableSendableEnumThatASwitchCoversAndThatPrintsItsCaseName() throws {
        requireSendable(Durability.self)
        requireSendable(StoreOptions.self)
        requireSendable(StoreInfo.self)

        /// The SQLite setting each mode stands for; no `default:` case, so a new case does not
        /// build until it is handled here.
        func pragma(_ durability: Durability) -> String {
            switch durability {
            case .full: "FULL"
            case .normal: "NORMAL"
            }
        }
        let all: [Durability] = [.full, .normal]
        XCTAssertEqual(all.map(pragma), ["FULL", "NORMAL"])
        XCTAssertEqual(Set(all).count, 2, "the cases hash apart")
        XCTAssertNotEqual(Durability.full, .normal)
        XCTAssertEqual(String(describing: Durability.normal), "normal")
        XCTAssertEqual("\(Durability.full)", "full")
        var options = StoreOptions()
        options.durability = .normal
        XCTAssertEqual(options.durability, .normal, "the fields are vars")

        // Each case crosses the FFI both ways: into the options, back in StoreInfo.
        for (index, durability) in all.enumerated() {
            let key = CountingKeyProvider.withSeed(123 + index)
            let store = try Store.openWithOptions(
                path: storeFile("\(durability).db").path, keyProvider: key, options: StoreOptions(durability: durability)
            )
            defer { try? store.shutdown() }
            let info = try store.info()
            XCTAssertEqual(info.durability, durability)
            XCTAssertEqual(pragma(info.durability), pragma(durability))
            XCTAssertEqual(
                info,
                StoreInfo(
                    schemaVersion: storeSchemaVersion(), keyVersion: 1, hasProfile: false, vehicleCount: 0, documentCount: 0,
                    durability: durability
                )
            )
        }
    }

    private func requireSendable<T: Sendable>(_: T.Type) {}
}
