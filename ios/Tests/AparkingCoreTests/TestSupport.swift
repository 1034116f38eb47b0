import AparkingCore
import Foundation
import XCTest

/// A Swift implementation of the foreign trait `KeyProvider`: holds a 32-byte key and counts
/// how many times Rust asked for it.
final class CountingKeyProvider: KeyProvider, @unchecked Sendable {
    private let key: Data
    private let lock = NSLock()
    private var count = 0

    init(key: Data) {
        self.key = key
    }

    /// A deterministic key of `size` bytes; different seeds give different keys (the same
    /// bytes as `CountingKeyProvider.withSeed` in the Kotlin tests).
    static func withSeed(_ seed: Int, size: Int = 32) -> CountingKeyProvider {
        CountingKeyProvider(key: Data((0 ..< size).map { i in UInt8(truncatingIfNeeded: seed * 31 + i * 7) }))
    }

    /// How many times Rust called `keyEncryptionKey()`.
    var calls: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    func keyEncryptionKey() throws -> Data {
        lock.lock()
        count += 1
        lock.unlock()
        return key
    }
}

/// A KeyProvider that fails the way a locked keychain does.
final class UnavailableKeyProvider: KeyProvider {
    let reason: String

    init(reason: String) {
        self.reason = reason
    }

    func keyEncryptionKey() throws -> Data {
        throw KeyProviderError.Unavailable(reason: reason)
    }
}

/// A phone number as a user types it, and its E.164 form.
let phoneTyped = "8 (701) 234-56-78"
let phoneE164 = "+77012345678"

/// Base class: a fresh temporary directory per test, removed afterwards.
class StoreTestCase: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("aparking-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let dir {
            try? FileManager.default.removeItem(at: dir)
        }
        try super.tearDownWithError()
    }

    /// The database file used by a test.
    func storeFile(_ name: String = "store.db") -> URL {
        dir.appendingPathComponent(name)
    }

    /// Opens (creating if needed) the store at `file` with `provider`.
    func openStore(_ file: URL, _ provider: KeyProvider) throws -> Store {
        try Store.open(path: file.path, keyProvider: provider)
    }

    /// Runs `body` on a store opened at `file` and shuts the store down afterwards, so the
    /// database file is closed when this returns (Swift releases objects at an unspecified
    /// point after their last use; `shutdown()` closes the file at once).
    @discardableResult
    func withStore<R>(_ file: URL, _ provider: KeyProvider, _ body: (Store) throws -> R) throws -> R {
        let store = try openStore(file, provider)
        defer { try? store.shutdown() }
        return try body(store)
    }

    /// Names of the files in the test directory, sorted.
    func filesInDir() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }
}

/// Asserts that `expression` throws exactly `expected`.
func assertThrows<T>(
    _ expected: AparkingError,
    _ expression: @autoclosure () throws -> T,
    _ message: String = "",
    file: StaticString = #filePath,
    line: UInt = #line
) {
    XCTAssertThrowsError(try expression(), message, file: file, line: line) { error in
        XCTAssertEqual(error as? AparkingError, expected, message, file: file, line: line)
    }
}

/// Asserts that `expression` throws `AparkingError.InvalidInput` and returns its field and
/// reason (nil after a failed assertion).
@discardableResult
func assertInvalidInput<T>(
    _ expression: @autoclosure () throws -> T,
    _ message: String = "",
    file: StaticString = #filePath,
    line: UInt = #line
) -> (field: String, reason: String, description: String)? {
    do {
        _ = try expression()
        XCTFail("expected AparkingError.InvalidInput, nothing was thrown. \(message)", file: file, line: line)
    } catch let error as AparkingError {
        if case let .InvalidInput(field, reason) = error {
            return (field, reason, error.localizedDescription)
        }
        XCTFail("expected AparkingError.InvalidInput, got \(error). \(message)", file: file, line: line)
    } catch {
        XCTFail("expected AparkingError.InvalidInput, got \(error). \(message)", file: file, line: line)
    }
    return nil
}
