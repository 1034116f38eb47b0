import AparkingCore
import Foundation
import XCTest

/// Rollback detection from Swift (the twin of tests/store_rollback.rs): a Swift
/// `RollbackCounter`, kept outside the store file as an app keeps it in a Keychain item
/// (`kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`), lets `Store.openWithRollbackCounter`
/// refuse an older copy of the file restored over the current one (`StoreRolledBack`, the file
/// left byte for byte as it was); a new file starts at the counter (a reinstall is not a
/// rollback); a counter that cannot be read opens nothing (`KeyUnavailable`). `Store.open`
/// without a counter opens the old copy, consent and all: what the counter is for.
final class RollbackTests: StoreTestCase {
    func testACopyRestoredOverTheStoreIsStoreRolledBackAndLeftByteForByteUnchanged() throws {
        let file = storeFile()
        let backup = storeFile("backup.db")
        let key = CountingKeyProvider.withSeed(110)
        let counter = InMemoryRollbackCounter()

        // Consent given with every purpose; the closed file is copied (a backup, or a copy an
        // attacker keeps).
        let grantedAt: Int64 = try {
            let store = try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
            defer { try? store.shutdown() }
            let consent = Consent(store: store)
            XCTAssertEqual(try consent.publishPolicy(manifest: policy(1)), .adopted)
            let published = counter.current
            _ = try consent.acceptPolicy(version: 1, granted: allPurposes, context: consentContext())
            XCTAssertGreaterThan(counter.current, published, "accepting raises the counter")
            XCTAssertEqual(Set(consent.state().allowed), Set(allPurposes))
            return counter.current
        }()
        XCTAssertGreaterThan(grantedAt, 0, "a consent change raises the counter")
        XCTAssertEqual(counter.raises.last, grantedAt, "raised to the file's epoch after the commit")
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path + "-wal"), "shutdown() checkpointed the log")
        try FileManager.default.copyItem(at: file, to: backup)

        // The user withdraws everything; then the old copy (consent granted) is put back.
        try {
            let store = try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
            defer { try? store.shutdown() }
            XCTAssertEqual(counter.current, grantedAt, "the file and the counter agree: no raise at open")
            _ = try Consent(store: store).withdraw(purposes: allPurposes, context: consentContext(.settingsScreen))
            XCTAssertEqual(Consent(store: store).state().allowed, [])
        }()
        let withdrawnAt = counter.current
        XCTAssertGreaterThan(withdrawnAt, grantedAt, "withdrawing raises the counter")
        try FileManager.default.removeItem(at: file)
        try FileManager.default.copyItem(at: backup, to: file)
        let before = try Data(contentsOf: file)
        let siblings = try filesInDir()
        let raisesBefore = counter.raises
        let readsBefore = counter.reads

        XCTAssertThrowsError(
            try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
        ) { error in
            XCTAssertEqual(error as? AparkingError, .StoreRolledBack(fileEpoch: grantedAt, expectedEpoch: withdrawnAt))
            guard case let .StoreRolledBack(fileEpoch, expectedEpoch)? = error as? AparkingError else {
                return XCTFail("expected AparkingError.StoreRolledBack, got \(error)")
            }
            XCTAssertLessThan(fileEpoch, expectedEpoch)
            let rolledBack = error as? AparkingError
            XCTAssertEqual(
                rolledBack?.message,
                "The store file was restored from an older copy (epoch \(grantedAt), expected at least \(withdrawnAt))."
            )
            XCTAssertEqual(rolledBack?.recoverySuggestion?.contains("moveStoreAside(path:)"), true)
        }
        XCTAssertEqual(counter.reads, readsBefore + 1, "the open read the counter")
        XCTAssertEqual(counter.raises, raisesBefore, "a refused open does not touch the counter")
        XCTAssertEqual(counter.current, withdrawnAt)
        XCTAssertEqual(try Data(contentsOf: file), before, "the restored copy is left byte for byte as it was")
        XCTAssertEqual(try filesInDir(), siblings, "no -wal/-shm files are left behind")

        // Without a counter the old copy opens, consent granted again: not covered by Store.open.
        try {
            let store = try Store.open(path: file.path, keyProvider: key)
            defer { try? store.shutdown() }
            XCTAssertEqual(Set(Consent(store: store).state().allowed), Set(allPurposes), "the withdrawn consent is back")
        }()
        XCTAssertEqual(counter.current, withdrawnAt, "Store.open does not use the counter")

        // The recovery the error suggests: move the copy aside, open a new store (it starts at
        // the counter), sync, ask for consent again.
        let aside = try moveStoreAside(path: file.path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: aside))
        try {
            let store = try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
            defer { try? store.shutdown() }
            XCTAssertEqual(Consent(store: store).state().allowed, [], "nothing is allowed until the user accepts again")
        }()
        XCTAssertEqual(counter.current, withdrawnAt)
        let reopened = try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
        XCTAssertNoThrow(try reopened.shutdown())
    }

    func testANewStoreStartsAtTheCounterSoAReinstallIsNotARollback() throws {
        let file = storeFile()
        let key = CountingKeyProvider.withSeed(111)
        // The counter survived a reinstall (a ThisDeviceOnly Keychain item does); the file did not.
        let counter = InMemoryRollbackCounter(7)
        try {
            let store = try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
            defer { try? store.shutdown() }
            XCTAssertEqual(counter.current, 7, "opening a new file does not move the counter")
            let consent = Consent(store: store)
            _ = try consent.publishPolicy(manifest: policy(1))
            _ = try consent.acceptPolicy(version: 1, granted: [.connectionDiagnostics], context: consentContext())
        }()
        XCTAssertGreaterThan(counter.current, 7, "the new file continues from the counter")
        XCTAssertTrue(counter.raises.allSatisfy { $0 > 7 }, "never raised to a value at or below 7: \(counter.raises)")
        let accepted = counter.current

        // Reopened with the same counter: the file is not older than it.
        try {
            let store = try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
            defer { try? store.shutdown() }
            XCTAssertEqual(Consent(store: store).state().allowed, [.connectionDiagnostics])
        }()
        XCTAssertEqual(counter.current, accepted)

        // Another reinstall: the files deleted, the counter kept; the next new file goes on.
        try deleteStoreFiles(path: file.path)
        try {
            let store = try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
            defer { try? store.shutdown() }
            _ = try Consent(store: store).publishPolicy(manifest: policy(1))
        }()
        XCTAssertGreaterThan(counter.current, accepted)
    }

    func testErasureAndKeyRotationRaiseTheCounterAndACounterLeftBehindCatchesUpAtOpen() throws {
        let file = storeFile()
        let key = CountingKeyProvider.withSeed(112)
        let counter = InMemoryRollbackCounter()
        try {
            let store = try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
            defer { try? store.shutdown() }
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
            XCTAssertEqual(counter.current, 0, "a record change is not an epoch change")
            try store.rotateDataKey()
            XCTAssertEqual(counter.raises, [1], "a data-key rotation raises the counter")
            try store.deleteAllUserData()
            XCTAssertEqual(counter.raises, [1, 2], "an erasure raises it too")

            // The keychain refuses the raise (a crash between commit and raise is the same):
            // the policy change stands, the file is ahead of the counter.
            counter.failRaises("keychain interaction not allowed")
            _ = try Consent(store: store).publishPolicy(manifest: policy(1))
            XCTAssertEqual(Consent(store: store).policyInForce()?.version, 1, "the change is committed all the same")
            XCTAssertEqual(counter.current, 2, "the counter was left behind")
            counter.failRaises(nil)
        }()

        // The next open catches the counter up with the file.
        try {
            let store = try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
            defer { try? store.shutdown() }
            XCTAssertEqual(counter.current, 3, "raised to the file's epoch at open")
            XCTAssertEqual(try store.info().vehicleCount, 0)
        }()
        XCTAssertEqual(counter.raises, [1, 2, 3])
    }

    func testACounterThatCannotBeReadMakesTheOpenFailWithKeyUnavailable() throws {
        let file = storeFile()
        let key = CountingKeyProvider.withSeed(113)
        let counter = InMemoryRollbackCounter()
        try {
            let store = try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
            defer { try? store.shutdown() }
            _ = try Consent(store: store).publishPolicy(manifest: policy(1))
        }()
        let before = try Data(contentsOf: file)
        let raised = counter.raises

        // The Keychain item is unreadable (device locked since boot): nothing opens, the file
        // and the counter stay as they were.
        counter.failReads("keychain locked")
        XCTAssertThrowsError(
            try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
        ) { error in
            guard case let .KeyUnavailable(reason)? = error as? AparkingError else {
                return XCTFail("expected AparkingError.KeyUnavailable, got \(error)")
            }
            XCTAssertTrue(reason.contains("keychain locked"), reason)
        }
        XCTAssertEqual(try Data(contentsOf: file), before)
        XCTAssertEqual(counter.raises, raised)

        // Nor does a new file.
        XCTAssertThrowsError(
            try Store.openWithRollbackCounter(path: storeFile("new.db").path, keyProvider: key, rollbackCounter: counter)
        ) { error in
            guard case .KeyUnavailable? = error as? AparkingError else {
                return XCTFail("expected AparkingError.KeyUnavailable, got \(error)")
            }
        }

        // A counter with a bug (any other error) is KeyUnavailable too, without its text.
        let buggy = ThrowingRollbackCounter()
        XCTAssertThrowsError(
            try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: buggy)
        ) { error in
            guard case let .KeyUnavailable(reason)? = error as? AparkingError else {
                return XCTFail("expected AparkingError.KeyUnavailable, got \(error)")
            }
            XCTAssertFalse(reason.contains(ThrowingRollbackCounter.secret), reason)
        }

        // Readable again: the store opens with its data.
        counter.failReads(nil)
        try {
            let store = try Store.openWithRollbackCounter(path: file.path, keyProvider: key, rollbackCounter: counter)
            defer { try? store.shutdown() }
            XCTAssertEqual(Consent(store: store).policyInForce()?.version, 1)
        }()
    }
}

/// A Swift `RollbackCounter`: a monotonic value kept outside the store file, as an app keeps it
/// in a Keychain item (`kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`: not in backups, so a
/// restored store file cannot bring an old value back with it). Rust calls it from its own
/// threads: every access holds the lock of a `Locked` box. It can be made to fail the way a
/// locked keychain does, on reads or on raises.
final class InMemoryRollbackCounter: RollbackCounter {
    private struct State {
        var value: Int64
        var raises: [Int64] = []
        var reads = 0
        var unreadable: String?
        var unraisable: String?
    }

    private let state: Locked<State>

    init(_ value: Int64 = 0) {
        state = Locked(State(value: value))
    }

    /// The value now (without counting a read).
    var current: Int64 {
        state.current.value
    }

    /// The values Rust raised the counter to, in order.
    var raises: [Int64] {
        state.current.raises
    }

    /// How many times Rust read the counter.
    var reads: Int {
        state.current.reads
    }

    /// Makes `value()` throw `KeyProviderError.Unavailable(reason:)` (nil: read again).
    func failReads(_ reason: String?) {
        state.withLock { $0.unreadable = reason }
    }

    /// Makes `raiseTo(value:)` throw `KeyProviderError.Unavailable(reason:)` (nil: raise again).
    func failRaises(_ reason: String?) {
        state.withLock { $0.unraisable = reason }
    }

    func value() throws -> Int64 {
        try state.withLock { state in
            state.reads += 1
            if let reason = state.unreadable { throw KeyProviderError.Unavailable(reason: reason) }
            return state.value
        }
    }

    func raiseTo(value: Int64) throws {
        try state.withLock { state in
            if let reason = state.unraisable { throw KeyProviderError.Unavailable(reason: reason) }
            state.raises.append(value)
            state.value = max(state.value, value) // raises, never lowers
        }
    }
}

/// A RollbackCounter with a bug: it throws an error that is not a `KeyProviderError`, whose
/// text must not reach the SDK's error.
final class ThrowingRollbackCounter: RollbackCounter {
    struct Failure: Error, CustomStringConvertible {
        var description: String {
            "counter wrapper failed near \(ThrowingRollbackCounter.secret)"
        }
    }

    static let secret = "keychain-item-7f3e"

    func value() throws -> Int64 {
        throw Failure()
    }

    func raiseTo(value _: Int64) throws {
        throw Failure()
    }
}
