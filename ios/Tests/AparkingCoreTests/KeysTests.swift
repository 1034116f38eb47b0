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
        XCTAssertThrowsError(try openStore(storeFile(), UnavailableKeyProvider(reason: reason))) { error in
            XCTAssertTrue(error.localizedDescription.contains(reason), error.localizedDescription)
        }
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
            let provider = CountingKeyProvider.withSeed(7, size: size)
            let err = assertInvalidInput(try openStore(storeFile("k\(size).db"), provider), "size \(size)")
            XCTAssertEqual(err?.field, "keyEncryptionKey")
            XCTAssertEqual(err?.reason, "must be exactly 32 bytes")
            XCTAssertEqual(provider.calls, 1)
        }
        // Nothing usable was left behind: the 32-byte key of the same seed opens a new, empty store.
        try withStore(storeFile("k31.db"), CountingKeyProvider.withSeed(7)) { store in
            XCTAssertEqual(try store.info(), StoreInfo(
                schemaVersion: storeSchemaVersion(), keyVersion: 1, hasProfile: false, vehicleCount: 0, documentCount: 0,
                durability: .full
            ))
        }
    }

    func testAnUnexpectedSwiftErrorInTheProviderIsATypedKeyUnavailableWithoutTheSecret() throws {
        let secret = "KEK=00112233445566778899aabbccddeeff"
        let provider = SecretThrowingKeyProvider(SecretCarryingError(detail: "keychain bug, \(secret)"))
        XCTAssertThrowsError(try openStore(storeFile(), provider)) { error in
            XCTAssertEqual(error as? AparkingError, .KeyUnavailable(reason: "the key provider failed unexpectedly"))
            for text in [error.localizedDescription, "\(error)", String(reflecting: error)] {
                XCTAssertFalse(text.contains(secret) || text.contains("0011223344"), "leaks the secret: \(text)")
            }
        }
        XCTAssertEqual(provider.calls, 1)
        // The shared fixture (an error type without a description) gives the same typed error.
        let plain = ThrowingKeyProvider()
        assertThrows(.KeyUnavailable(reason: "the key provider failed unexpectedly"), try openStore(storeFile("plain.db"), plain))
        XCTAssertEqual(plain.calls, 1)
    }

    /// The Swift counterpart of Kotlin's `java.lang.Error` case: a Foundation `NSError` (what
    /// a Keychain failure looks like, `NSOSStatusErrorDomain`), with the secret in its user info.
    func testAnNSErrorThrownByTheProviderIsStillATypedKeyUnavailable() throws {
        let secret = "SECRET-IN-ERROR-0123456789"
        let keychainError = NSError(
            domain: NSOSStatusErrorDomain, code: -25308, userInfo: [NSLocalizedDescriptionKey: secret]
        )
        let provider = SecretThrowingKeyProvider(keychainError)
        XCTAssertThrowsError(try openStore(storeFile(), provider)) { error in
            XCTAssertEqual(error as? AparkingError, .KeyUnavailable(reason: "the key provider failed unexpectedly"))
            XCTAssertFalse(String(reflecting: error).contains(secret))
            XCTAssertFalse(error.localizedDescription.contains(secret))
        }
        XCTAssertEqual(provider.calls, 1)
        // The store stays usable with a working provider.
        try withStore(storeFile(), CountingKeyProvider.withSeed(3)) { store in
            XCTAssertEqual(try store.info().vehicleCount, 0)
        }
    }

    func testRotateDataKeyWithAnUnavailableProviderFailsAndKeepsTheDataReadable() throws {
        let flaky = SwitchableKeyProvider(CountingKeyProvider.withSeed(14))
        try withStore(storeFile(), flaky) { store in
            let car = try store.addVehicle(vehicle: NewVehicle(plate: "123ABC02", make: "Kia"))
            flaky.failing = true
            assertThrows(.KeyUnavailable(reason: "device locked"), try store.rotateDataKey())
            XCTAssertEqual(try store.info().keyVersion, 1, "the rotation did not happen")
            XCTAssertEqual(try store.getVehicle(id: car.id), car, "the data stays readable")
            flaky.failing = false
            try store.rotateDataKey()
            XCTAssertEqual(try store.info().keyVersion, 2)
            XCTAssertEqual(try store.getVehicle(id: car.id), car)
        }
    }

    func testRotateKeyEncryptionKeyToABrokenProviderFailsAndKeepsTheOldKey() throws {
        let file = storeFile()
        let oldKey = CountingKeyProvider.withSeed(15)
        try withStore(file, oldKey) { store in
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "A123BC"))
            assertThrows(
                .KeyUnavailable(reason: "user cancelled authentication"),
                try store.rotateKeyEncryptionKey(newKeyProvider: UnavailableKeyProvider(reason: "user cancelled authentication"))
            )
            for size in [31, 33] {
                let err = assertInvalidInput(
                    try store.rotateKeyEncryptionKey(newKeyProvider: CountingKeyProvider.withSeed(16, size: size)), "size \(size)"
                )
                XCTAssertEqual(err?.field, "keyEncryptionKey")
            }
            assertThrows(
                .KeyUnavailable(reason: "the key provider failed unexpectedly"),
                try store.rotateKeyEncryptionKey(newKeyProvider: ThrowingKeyProvider())
            )
            // Still the old provider: a data-key rotation asks it.
            XCTAssertEqual(oldKey.calls, 1)
            try store.rotateDataKey()
            XCTAssertEqual(oldKey.calls, 2)
        }
        try withStore(file, CountingKeyProvider.withSeed(15)) { store in
            XCTAssertEqual(try store.listVehicles().map(\.plate.canonical), ["A123BC"])
            XCTAssertEqual(try store.info().keyVersion, 2)
        }
    }

    /// Rust holds the Swift provider while the store is open and lets it go when it is no
    /// longer needed: at shutdown, after a failed open, when replaced, and when the store is
    /// released without shutdown.
    func testTheKeyProviderIsReleasedWhenTheStoreNoLongerNeedsIt() throws {
        let file = storeFile()
        weak var first: CountingKeyProvider?
        let store: Store = try {
            let provider = CountingKeyProvider.withSeed(17)
            first = provider
            return try openStore(file, provider)
        }()
        XCTAssertNotNil(first, "the open store holds its provider")

        weak var replacement: CountingKeyProvider?
        try {
            let provider = CountingKeyProvider.withSeed(18)
            replacement = provider
            try store.rotateKeyEncryptionKey(newKeyProvider: provider)
        }()
        XCTAssertNil(first, "the replaced provider is released")
        XCTAssertNotNil(replacement, "the new provider is held")

        weak var rejected: CountingKeyProvider?
        try {
            let provider = CountingKeyProvider.withSeed(17, size: 31)
            rejected = provider
            assertInvalidInput(try store.rotateKeyEncryptionKey(newKeyProvider: provider))
        }()
        XCTAssertNil(rejected, "a rejected provider is not kept")

        try store.shutdown()
        XCTAssertNil(replacement, "shutdown() releases the provider while the object lives on")
        withExtendedLifetime(store) {}

        weak var wrong: CountingKeyProvider?
        do {
            let provider = CountingKeyProvider.withSeed(19)
            wrong = provider
            assertThrows(.WrongKey, try openStore(file, provider))
        }
        XCTAssertNil(wrong, "a failed open keeps no reference")

        weak var dropped: CountingKeyProvider?
        try {
            let provider = CountingKeyProvider.withSeed(18)
            dropped = provider
            let again = try openStore(file, provider)
            XCTAssertEqual(try again.info().vehicleCount, 0)
        }()
        XCTAssertNil(dropped, "releasing the last Store reference releases the provider")
    }

    func testOpeningAnOpenFileAgainChecksTheKeyAndSharesTheStore() throws {
        let file = storeFile()
        let key = CountingKeyProvider.withSeed(21)
        try withStore(file, key) { store in
            assertThrows(.WrongKey, try openStore(file, CountingKeyProvider.withSeed(22)))
            let secondKey = CountingKeyProvider.withSeed(21)
            let other = try openStore(file, secondKey)
            XCTAssertEqual(secondKey.calls, 1, "the key of a second open is checked")
            _ = try other.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
            XCTAssertEqual(try store.listVehicles().map(\.plate.canonical), ["123ABC02"], "one store, one connection")
            try store.rotateDataKey()
            XCTAssertEqual(key.calls, 2, "the first provider stays the store's")
            XCTAssertEqual(secondKey.calls, 1)
            XCTAssertEqual(try other.info().keyVersion, 2)
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

    /// Mirrors KeysTest.kt: deleteStoreFiles after a lost key, moveStoreAside after corruption,
    /// both refused while the store is open.
    func testRecoveryDeletesAfterALostKeyAndMovesAsideAfterCorruption() throws {
        let file = storeFile()
        try withStore(file, CountingKeyProvider.withSeed(1)) { store in
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
            let refused = AparkingError.InvalidInput(field: "path", reason: "the store is open in this process; call shutdown() first")
            assertThrows(refused, try deleteStoreFiles(path: file.path))
            assertThrows(refused, try moveStoreAside(path: file.path))
            XCTAssertEqual(try store.info().vehicleCount, 1, "a refused recovery touches nothing")
            try store.shutdown()
            // Once shut down, the same object no longer blocks recovery.
            XCTAssertTrue(FileManager.default.fileExists(atPath: file.path))
        }
        assertThrows(.KeyUnavailable(reason: "invalidated"), try openStore(file, UnavailableKeyProvider(reason: "invalidated")))
        try deleteStoreFiles(path: file.path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path))
        try withStore(file, CountingKeyProvider.withSeed(2)) { store in
            XCTAssertEqual(try store.info().vehicleCount, 0)
        }

        let junk = Data(repeating: 0x5a, count: 4096)
        try junk.write(to: file)
        XCTAssertThrowsError(try openStore(file, CountingKeyProvider.withSeed(2))) { error in
            guard case .StoreCorrupted = error as? AparkingError else {
                return XCTFail("expected AparkingError.StoreCorrupted, got \(error)")
            }
        }
        let aside = try moveStoreAside(path: file.path)
        XCTAssertTrue(aside.hasPrefix(file.path + ".corrupt-"), aside)
        XCTAssertTrue(FileManager.default.fileExists(atPath: aside))
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: aside)), junk, "the damaged file is kept as it was")
        try withStore(file, CountingKeyProvider.withSeed(2)) { store in
            XCTAssertEqual(try store.info().vehicleCount, 0)
        }
        assertThrows(.NotFound(entity: .storeFile), try moveStoreAside(path: storeFile("missing.db").path))
        XCTAssertNoThrow(try deleteStoreFiles(path: storeFile("missing.db").path), "missing files are not an error")
    }
}

/// An error whose text carries a secret, as a buggy keychain wrapper might throw.
private struct SecretCarryingError: Error, CustomStringConvertible {
    let detail: String
    var description: String { detail }
}

/// A KeyProvider that throws `error` (not a `KeyProviderError`) and counts the calls.
private final class SecretThrowingKeyProvider: KeyProvider, @unchecked Sendable {
    // `error` is immutable and `count` is guarded by `lock`: the reason for `@unchecked Sendable`.
    private let error: Error
    private let lock = NSLock()
    private var count = 0

    init(_ error: Error) {
        self.error = error
    }

    var calls: Int {
        lock.withLock { count }
    }

    func keyEncryptionKey() throws -> Data {
        lock.withLock { count += 1 }
        throw error
    }
}

/// A KeyProvider that fails with `KeyProviderError.Unavailable` while `failing` is set.
private final class SwitchableKeyProvider: KeyProvider, @unchecked Sendable {
    private let key: CountingKeyProvider
    private let lock = NSLock()
    private var fails = false

    init(_ key: CountingKeyProvider) {
        self.key = key
    }

    var failing: Bool {
        get { lock.withLock { fails } }
        set { lock.withLock { fails = newValue } }
    }

    func keyEncryptionKey() throws -> Data {
        if failing { throw KeyProviderError.Unavailable(reason: "device locked") }
        return try key.keyEncryptionKey()
    }
}
