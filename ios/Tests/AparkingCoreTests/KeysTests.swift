import AparkingCore
import Foundation
import XCTest

/// The foreign trait `KeyProvider` implemented in Swift, and key errors (mirrors KeysTest.kt).
final class KeysTests: StoreTestCase {
    func testRustCallsTheSwiftKeyProviderOnOpenAndOnDataKeyOperations() throws {
        let provider = CountingKeyProvider.withSeed(1)
        XCTAssertEqual(provider.calls, 0)
        try withStore(storeFile(), provider) { store in
            XCTAssertEqual(provider.calls, 1, "open must fetch the KEK exactly once")

            // Plain reads and writes use the unwrapped data key, not the provider.
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
            _ = try store.listVehicles()
            XCTAssertEqual(provider.calls, 1)

            // Rotating the data key re-wraps it with the KEK: one more call.
            try store.rotateDataKey()
            XCTAssertEqual(provider.calls, 2)
            XCTAssertEqual(try store.info().keyVersion, 2)
            XCTAssertEqual(try store.listVehicles().map(\.plate.canonical), ["123ABC02"])
        }
        // Reopening fetches the key again and the data is still there.
        try withStore(storeFile(), provider) { store in
            XCTAssertEqual(provider.calls, 3)
            XCTAssertEqual(try store.info().vehicleCount, 1)
        }
    }

    func testWrongKeyIsWrongKeyAndLeavesTheFileByteForByteUnchanged() throws {
        let file = storeFile()
        try withStore(file, CountingKeyProvider.withSeed(1)) { store in
            _ = try store.updateProfile(patch: ProfilePatch(phone: phoneTyped))
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "777KKK01"))
        }
        let before = try Data(contentsOf: file)
        let siblingsBefore = try filesInDir()
        XCTAssertFalse(before.isEmpty)

        let wrong = CountingKeyProvider.withSeed(2)
        assertThrows(.WrongKey, try openStore(file, wrong))
        XCTAssertEqual(wrong.calls, 1, "the wrong key was asked for")

        XCTAssertEqual(try Data(contentsOf: file), before, "a wrong key must not modify the file")
        XCTAssertEqual(try filesInDir(), siblingsBefore, "no -wal/-shm files are left behind")

        // The right key still opens it, with the data intact.
        try withStore(file, CountingKeyProvider.withSeed(1)) { store in
            XCTAssertEqual(try store.getProfile()?.phone, phoneE164)
            XCTAssertNotNil(try store.findVehicleByPlate(plate: "777 ККК 01"))
        }
    }

    func testKeyProviderErrorUnavailableBecomesKeyUnavailableWithTheReason() throws {
        let reason = "keychain locked: device not unlocked since boot"
        assertThrows(.KeyUnavailable(reason: reason), try openStore(storeFile(), UnavailableKeyProvider(reason: reason)))
        // Nothing usable was created: a real key opens a fresh, empty store.
        try withStore(storeFile(), CountingKeyProvider.withSeed(3)) { store in
            XCTAssertEqual(try store.info().vehicleCount, 0)
        }
    }

    func testAKeyProviderFailingLaterMakesDeleteAllUserDataFailAndKeepsTheData() throws {
        final class FlakyKeyProvider: KeyProvider, @unchecked Sendable {
            let good = CountingKeyProvider.withSeed(4)
            var fail = false
            func keyEncryptionKey() throws -> Data {
                if fail { throw KeyProviderError.Unavailable(reason: "user cancelled authentication") }
                return try good.keyEncryptionKey()
            }
        }
        let flaky = FlakyKeyProvider()
        try withStore(storeFile(), flaky) { store in
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
            flaky.fail = true
            assertThrows(.KeyUnavailable(reason: "user cancelled authentication"), try store.deleteAllUserData())
            XCTAssertEqual(try store.info().vehicleCount, 1, "nothing was deleted")
            XCTAssertEqual(try store.info().keyVersion, 1)
        }
    }

    func testAKeyThatIsNot32BytesIsRejectedAsInvalidInput() throws {
        for size in [0, 16, 31, 33, 64] {
            let err = assertInvalidInput(
                try openStore(storeFile("k\(size).db"), CountingKeyProvider.withSeed(7, size: size)),
                "size \(size)"
            )
            XCTAssertEqual(err?.field, "key_encryption_key")
        }
    }

    func testRotateKeyEncryptionKeySwitchesTheStoreToTheNewProvider() throws {
        let file = storeFile()
        let oldKey = CountingKeyProvider.withSeed(5)
        let newKey = CountingKeyProvider.withSeed(6)
        try withStore(file, oldKey) { store in
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "A123BC"))
            try store.rotateKeyEncryptionKey(newKeyProvider: newKey)
            XCTAssertEqual(newKey.calls, 1)
            // Later KEK uses go to the new provider.
            try store.rotateDataKey()
            XCTAssertEqual(newKey.calls, 2)
            XCTAssertEqual(oldKey.calls, 1)
        }
        assertThrows(.WrongKey, try openStore(file, CountingKeyProvider.withSeed(5)))
        try withStore(file, CountingKeyProvider.withSeed(6)) { store in
            XCTAssertEqual(try store.listVehicles().map(\.plate.display), ["A 123 BC"])
        }
    }

    func testAFileThatIsNotAStoreIsStoreCorruptedAndIsLeftAlone() throws {
        let file = storeFile()
        let junk = Data(String(repeating: "this is not a database, but user data of another app", count: 200).utf8)
        try junk.write(to: file)
        XCTAssertThrowsError(try openStore(file, CountingKeyProvider.withSeed(1))) { error in
            guard case .StoreCorrupted = error as? AparkingError else {
                return XCTFail("expected AparkingError.StoreCorrupted, got \(error)")
            }
        }
        XCTAssertEqual(try Data(contentsOf: file), junk)
    }

    /// Mirrors KeysTest.kt: deleteStoreFiles after a lost key, moveStoreAside after corruption.
    func testRecoveryDeletesAfterALostKeyAndMovesAsideAfterCorruption() throws {
        let file = storeFile()
        try withStore(file, CountingKeyProvider.withSeed(1)) { store in
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
            assertThrows(
                .InvalidInput(field: "path", reason: "the store is open in this process; call shutdown() first"),
                try deleteStoreFiles(path: file.path)
            )
        }
        assertThrows(.KeyUnavailable(reason: "invalidated"), try openStore(file, UnavailableKeyProvider(reason: "invalidated")))
        try deleteStoreFiles(path: file.path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path))
        try withStore(file, CountingKeyProvider.withSeed(2)) { store in
            XCTAssertEqual(try store.info().vehicleCount, 0)
        }

        try Data(repeating: 0x5a, count: 4096).write(to: file)
        XCTAssertThrowsError(try openStore(file, CountingKeyProvider.withSeed(2)))
        let aside = try moveStoreAside(path: file.path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: aside))
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path))
    }
}
