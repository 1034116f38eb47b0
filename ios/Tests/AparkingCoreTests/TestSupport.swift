import AparkingCore
import Foundation
import XCTest

/// A Swift implementation of the foreign trait `KeyProvider`: holds a 32-byte key and counts
/// how many times Rust asked for it.
final class CountingKeyProvider: KeyProvider {
    private let key: Data
    private let count = Locked(0)

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
        count.current
    }

    func keyEncryptionKey() throws -> Data {
        count.add(1)
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

/// A KeyProvider with a bug: it throws an error that is not a `KeyProviderError` (the Swift
/// twin of the Kotlin tests' `ThrowingKeyProvider`).
final class ThrowingKeyProvider: KeyProvider {
    struct Failure: Error {}
    private let count = Locked(0)

    /// How many times Rust called `keyEncryptionKey()`.
    var calls: Int {
        count.current
    }

    func keyEncryptionKey() throws -> Data {
        count.add(1)
        throw Failure()
    }
}

// ---- Consent and telemetry (mirrors tests/common/privacy.rs and TestSupport.kt) ----

/// An endpoint nothing listens on: for tests where no upload happens.
let nowhere = "http://127.0.0.1:9"

/// TEST-NET-1 (RFC 5737): documentation address space, never routed. A policy that does not
/// declare it makes the SDK refuse to send there (`UndeclaredHost`) before any connection.
let undeclaredEndpoint = "https://192.0.2.1"

/// A valid Ed25519 public key (RFC 8032, section 7.1, test 1) that signs nothing any test
/// backend serves: configured in `SyncConfig.policyPublicKeys`, the reference backend's
/// manifest is `UntrustedPolicy`.
let untrustedPolicyKey = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

/// Every purpose, in declaration order.
let allPurposes: [Purpose] = [.personalization, .communication, .serviceImprovement, .statistics, .connectionDiagnostics]

/// A manifest of `version` offering every purpose.
func policy(_ version: Int32) -> PolicyManifest {
    PolicyManifest(
        version: version,
        lastUpdated: "2026-01-15",
        url: "https://aparking.kz/privacy",
        textSha256: String(repeating: "0", count: 64 - String(version, radix: 16).count) + String(version, radix: 16),
        purposes: allPurposes
    )
}

/// The context of a consent given on the onboarding screen.
func consentContext(_ method: CollectionMethod = .onboardingScreen) -> ConsentContext {
    ConsentContext(appVersion: "4.2.0 (421)", locale: "kk-KZ", collectionMethod: method)
}

/// Test limits: millisecond backoff, no practical rate limit.
func fastConfig(_ endpoint: String = nowhere) -> TelemetryConfig {
    TelemetryConfig(
        endpoint: endpoint,
        network: NetworkConfig(retryBaseDelayMs: 5, retryMaxDelayMs: 50),
        maxUploadsPerMinute: 1000
    )
}

/// A network-quality sample (purpose: connection diagnostics).
func networkSample(_ signalDbm: Int32) -> TelemetryEvent {
    .networkQuality(networkType: .cellular4g, signalDbm: signalDbm, rttMs: 180, throughputKbps: 2500, failedRequests: 1)
}

/// One event of every kind (7 events, 3 purposes).
func oneOfEach() -> [TelemetryEvent] {
    [
        .appInfo(os: "iOS", osVersion: "18.1", deviceModel: "iPhone15,2", appVersion: "4.2.0", locale: "kk-KZ"),
        .screenView(screen: "parking_map"),
        .sessionStart,
        .sessionEnd(durationMs: 61000),
        .coarseLocation(latitude: 43.238949, longitude: 76.889709),
        networkSample(-97),
        .errorCount(code: "payment_timeout", count: 2),
    ]
}

/// Sum of the counts of a by-purpose counter.
func total(_ counts: [Purpose: Int64]) -> Int64 {
    counts.values.reduce(0, +)
}

/// A value shared by several threads or tasks; every access holds `lock`, which is why it is
/// `@unchecked Sendable`.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` on the value with the lock held.
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    /// A copy of the value.
    var current: Value {
        withLock { $0 }
    }
}

extension Locked {
    /// Appends to a collected list.
    func append<Element>(_ element: Element) where Value == [Element] {
        withLock { $0.append(element) }
    }

    /// Everything collected so far.
    var all: Value {
        current
    }
}

extension Locked where Value == Int {
    /// Adds `n` to a counter.
    func add(_ n: Int) {
        withLock { $0 += n }
    }
}
