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

// ---- Damaging a closed store file (as a failing disk or an attacker would) ----

/// Where a row's sealed value lies in SQLite's record format, for ``flipSealedByte(_:_:_:)``:
/// the table's column count (an `INTEGER PRIMARY KEY` is stored as NULL), the clear text
/// column that names the row, and the `sealed` column.
struct SealedRow {
    let table: String
    let columns: Int
    let keyColumn: Int
    let sealedColumn: Int

    /// `vehicles (id, plate_index, sealed, created_at, updated_at)`, by id.
    static let vehicle = SealedRow(table: "vehicles", columns: 5, keyColumn: 0, sealedColumn: 2)
    /// `documents (id, number_index, sealed, vehicle_id, created_at, updated_at)`, by id.
    static let document = SealedRow(table: "documents", columns: 6, keyColumn: 0, sealedColumn: 2)
    /// `sync_outbox (seq, id, entity, record_id, op, created_at, sealed)`, a pending change,
    /// by its record's id (the clear `record_id` column: the change id is not known here).
    static let outboxEntry = SealedRow(table: "sync_outbox", columns: 7, keyColumn: 3, sealedColumn: 6)
    /// `sync_mirror (id, entity, record_id, version, deleted, sealed)`, a last synced copy,
    /// by its id, `vehicle:<record id>`.
    static let mirrorEntry = SealedRow(table: "sync_mirror", columns: 6, keyColumn: 0, sealedColumn: 5)
}

/// Flips the middle byte of the `sealed` value of the `row` whose key column is `key`, in the
/// closed database `path` (its write-ahead log checkpointed by `shutdown()`), by reading
/// SQLite's record format: a header of varint serial types, then the values. Asserts that
/// exactly one such row is in the file.
func flipSealedByte(
    _ path: URL, _ row: SealedRow, _ key: String, file: StaticString = #filePath, line: UInt = #line
) throws {
    var bytes = [UInt8](try Data(contentsOf: path))
    let keyBytes = [UInt8](key.utf8)
    var flipped = 0
    var from = 0
    while let at = sqliteIndexOf(bytes, keyBytes, from) {
        from = at + 1
        // The record's header starts before the key by the header and the earlier values.
        for start in stride(from: at - 1, through: max(0, at - 400), by: -1) {
            let headerLen = Int(bytes[start])
            guard headerLen >= 2, headerLen < 0x80, start + headerLen <= at else { continue }
            var types: [Int] = []
            var p = start + 1
            while p < start + headerLen {
                let (v, n) = sqliteVarint(bytes, p)
                types.append(v)
                p += n
            }
            guard p == start + headerLen, types.count == row.columns,
                  types[row.keyColumn] == 13 + 2 * keyBytes.count,
                  types[row.sealedColumn] >= 12, types[row.sealedColumn] % 2 == 0 else { continue }
            let offsets = types.reduce(into: [start + headerLen]) { $0.append($0.last! + sqliteValueSize($1)) }
            guard offsets[row.keyColumn] == at, offsets[types.count] <= bytes.count else { continue }
            let sealedLen = sqliteValueSize(types[row.sealedColumn])
            bytes[offsets[row.sealedColumn] + sealedLen / 2] ^= 0x20
            flipped += 1
            break
        }
    }
    XCTAssertEqual(flipped, 1, "the \(row.table) row of \(key) was not found once in the file", file: file, line: line)
    try Data(bytes).write(to: path)
}

/// The size in bytes of a value of SQLite serial type `type`.
private func sqliteValueSize(_ type: Int) -> Int {
    switch type {
    case 0, 8, 9: 0
    case 1 ... 4: type
    case 5: 6
    case 6, 7: 8
    default: (type - (type % 2 == 0 ? 12 : 13)) / 2
    }
}

/// SQLite's varint at `at`: its value and length.
private func sqliteVarint(_ b: [UInt8], _ at: Int) -> (Int, Int) {
    var v = 0
    for i in 0 ..< 9 {
        guard at + i < b.count else { return (v, i + 1) }
        let x = Int(b[at + i])
        if i == 8 { return ((v << 8) | x, 9) }
        v = (v << 7) | (x & 0x7f)
        if x & 0x80 == 0 { return (v, i + 1) }
    }
    return (v, 9)
}

private func sqliteIndexOf(_ haystack: [UInt8], _ needle: [UInt8], _ from: Int) -> Int? {
    guard haystack.count >= needle.count, from <= haystack.count - needle.count else { return nil }
    outer: for i in from ... (haystack.count - needle.count) {
        for j in needle.indices where haystack[i + j] != needle[j] {
            continue outer
        }
        return i
    }
    return nil
}
