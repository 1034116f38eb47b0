// `SyncClient` from Swift against the reference backend (`aparking-server --token token-a:acct-1
// --policy <file>`, whose policy signing key the clients trust), two stores playing two devices
// of one account; a Swift `AuthProvider` and `SyncObserver`; the sync errors, the signed policy
// and the declared hosts; the hand-written Swift layer (`events()`, `cancellableSync()`). The
// Swift twin of SyncClientTest.kt of the Kotlin bindings.
#if os(Linux) || os(macOS)
import AparkingCore
import AparkingReferenceServer
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The token the reference backend accepts for account `acct-1`.
private let syncToken = "token-a"

// MARK: - Helpers (private to this file; names prefixed with `Sync`)

/// A one-shot latch: `open()` once, `wait(timeout:)` from any thread.
private final class SyncLatch: @unchecked Sendable {
    // `isOpenValue` is guarded by `condition`: the reason for `@unchecked Sendable`.
    private let condition = NSCondition()
    private var isOpenValue = false

    func open() {
        condition.lock()
        isOpenValue = true
        condition.broadcast()
        condition.unlock()
    }

    var isOpen: Bool {
        condition.lock()
        defer { condition.unlock() }
        return isOpenValue
    }

    /// Blocks until opened; false after `timeout` seconds.
    func wait(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !isOpenValue {
            if !condition.wait(until: deadline) { return isOpenValue }
        }
        return true
    }
}

/// An error a buggy app's auth provider might throw: not an `AuthProviderError`.
private struct SyncArbitraryAuthFailure: Error, CustomStringConvertible {
    var description: String { "keychain exploded while reading secret-token-123" }
}

/// A latch that was never opened by the test.
private struct SyncNeverReleased: Error {}

/// A Swift AuthProvider: answers with `answer` (by default the account's token); records the
/// `refresh` flags it was asked with.
private final class SyncTokenProvider: AuthProvider {
    private let recorded = Locked<[Bool]>([])
    private let answer: @Sendable (_ refresh: Bool, _ call: Int) throws -> String

    /// Always `token`.
    convenience init(_ token: String = syncToken) {
        self.init { _, _ in token }
    }

    /// `answer(refresh, n)` for the n-th call (0-based).
    init(answer: @escaping @Sendable (_ refresh: Bool, _ call: Int) throws -> String) {
        self.answer = answer
    }

    /// The `refresh` flags of every call, in order.
    var calls: [Bool] {
        recorded.current
    }

    func bearerToken(refresh: Bool) throws -> String {
        let call = recorded.withLock { calls in
            calls.append(refresh)
            return calls.count - 1
        }
        return try answer(refresh, call)
    }

    /// The account's token, but the first call blocks until `release` opens (opening
    /// `entered` first): holds a sync at its first request, off the caller's thread.
    static func blockingFirstCall(entered: SyncLatch, release: SyncLatch) -> SyncTokenProvider {
        SyncTokenProvider { _, call in
            if call == 0 {
                entered.open()
                guard release.wait(timeout: 30) else { throw SyncNeverReleased() }
            }
            return syncToken
        }
    }
}

/// The name of the calling thread (the pthread name: Rust's `std::thread::Builder::name`).
private func syncCurrentThreadName() -> String {
    #if os(Linux)
    // The kernel's name of the calling thread (Glibc does not export pthread_getname_np).
    let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
    return name.trimmingCharacters(in: .whitespacesAndNewlines)
    #else
    var buffer = [CChar](repeating: 0, count: 64)
    guard pthread_getname_np(pthread_self(), &buffer, buffer.count) == 0 else { return "" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    #endif
}

/// A Swift LogSink that keeps the name of the thread each "sync: ..." record came on, and
/// whether any came on the main thread.
private final class SyncThreadLogSink: LogSink {
    private let seen = Locked<[(name: String, main: Bool)]>([])

    func log(record: LogRecord) {
        guard record.message.hasPrefix("sync: ") else { return }
        let entry = (name: syncCurrentThreadName(), main: Thread.isMainThread)
        seen.withLock { $0.append(entry) }
    }

    var threads: [String] {
        seen.withLock { $0.map(\.name) }
    }

    var anyOnMainThread: Bool {
        seen.withLock { $0.contains { $0.main } }
    }
}

/// The CPU time the calling thread has used, in nanoseconds.
private func syncThreadCpuNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// A Swift SyncObserver: keeps every event, and the name of the thread it came on and whether
/// that was the main thread.
private final class SyncRecordingObserver: SyncObserver {
    private struct Entry {
        var event: SyncEvent
        var thread: String
        var onMainThread: Bool
    }

    private let entries = Locked<[Entry]>([])

    func onSyncEvent(event: SyncEvent) {
        let entry = Entry(event: event, thread: syncCurrentThreadName(), onMainThread: Thread.isMainThread)
        entries.withLock { $0.append(entry) }
    }

    var events: [SyncEvent] {
        entries.current.map(\.event)
    }

    var threads: [String] {
        entries.current.map(\.thread)
    }

    var anyOnMainThread: Bool {
        entries.current.contains { $0.onMainThread }
    }
}

/// A SyncObserver that holds the sync (it is called on the sync's own thread) at the first
/// `.pushed` event until `release` opens, at most 30 s: the test gets to act between two
/// push batches.
private final class SyncHoldAtFirstPush: SyncObserver {
    let release = SyncLatch()
    private let held = Locked(false)

    func onSyncEvent(event: SyncEvent) {
        guard case .pushed = event else { return }
        let first = held.withLock { wasHeld in
            defer { wasHeld = true }
            return !wasHeld
        }
        if first {
            _ = release.wait(timeout: 30)
        }
    }
}

/// A SyncObserver that, at the first `.pushed` event it hears (on the sync's own thread, in
/// the middle of that sync), subscribes `late` to `client`: an observer that joins a sync
/// already under way.
private final class SyncSubscribeAtFirstPush: SyncObserver {
    let late = SyncRecordingObserver()
    private let client: SyncClient
    private let lateSubscription = Locked<Subscription?>(nil)

    init(_ client: SyncClient) {
        self.client = client
    }

    func onSyncEvent(event: SyncEvent) {
        guard case .pushed = event else { return }
        // The SDK holds no lock while it calls an observer: subscribing from here is allowed.
        lateSubscription.withLock { subscription in
            if subscription == nil { subscription = client.subscribe(observer: late) }
        }
    }

    /// The subscription of `late` (nil until the first `.pushed`).
    var subscription: Subscription? {
        lateSubscription.current
    }
}

/// One device: a store and its sync client.
private struct SyncDevice {
    let store: Store
    let sync: SyncClient
}

/// Polls `condition` every 20 ms until it holds (true) or `timeout` seconds pass (false).
private func syncEventually(_ timeout: TimeInterval = 30, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while try !condition() {
        if Date() >= deadline { return false }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return true
}

/// The same, blocking the calling thread (for the synchronous tests).
private func syncEventuallyBlocking(_ timeout: TimeInterval = 30, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while try !condition() {
        if Date() >= deadline { return false }
        usleep(20_000)
    }
    return true
}

/// The `AparkingError` a `Result` failed with (nil when it succeeded or failed otherwise).
private func syncAparkingError<T>(_ result: Result<T, Error>) -> AparkingError? {
    if case let .failure(error) = result { return error as? AparkingError }
    return nil
}

/// The total count of the `.pushed` (or `.pulled`) events.
private func syncPushedTotal(_ events: [SyncEvent]) -> Int64 {
    events.reduce(0) { total, event in
        if case let .pushed(count) = event { return total + count }
        return total
    }
}

private func syncPulledTotal(_ events: [SyncEvent]) -> Int64 {
    events.reduce(0) { total, event in
        if case let .pulled(count) = event { return total + count }
        return total
    }
}

private func syncIsFailed(_ event: SyncEvent) -> Bool {
    if case .failed = event { return true }
    return false
}

private func syncIsFinished(_ event: SyncEvent) -> Bool {
    if case .finished = event { return true }
    return false
}

/// How many `.started` events `events` holds.
private func syncStartedCount(_ events: [SyncEvent]) -> Int {
    events.filter { $0 == .started }.count
}

/// The `.reconciled` events, as (reason, repushed).
private func syncReconciled(_ events: [SyncEvent]) -> [(reason: ReconcileReason, repushed: Int64)] {
    events.compactMap { event in
        if case let .reconciled(reason, repushed) = event { return (reason, repushed) }
        return nil
    }
}

/// A short name of each event, for failure messages (an exhaustive switch: a case added in
/// Rust breaks the build here until a test covers it).
private func syncEventName(_ event: SyncEvent) -> String {
    switch event {
    case .started: "started"
    case let .pushed(count): "pushed(\(count))"
    case let .pulled(count): "pulled(\(count))"
    case let .reconciled(reason, repushed): "reconciled(\(syncReasonName(reason)), \(repushed))"
    case let .statusChanged(status): "statusChanged(pending: \(status.pendingChanges))"
    case .finished: "finished"
    case let .failed(error): "failed(\(error.description))"
    }
}

/// The statuses the `.statusChanged` events announced, in order.
private func syncStatuses(_ events: [SyncEvent]) -> [SyncStatus] {
    events.compactMap { event in
        if case let .statusChanged(status) = event { return status }
        return nil
    }
}

/// Milliseconds since the Unix epoch now (the unit of `SyncStatus.lastSuccessAtMs`).
private func syncNowMs() -> Int64 {
    Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
}

/// The same for the reasons of a reconciliation.
private func syncReasonName(_ reason: ReconcileReason) -> String {
    switch reason {
    case .newGeneration: "newGeneration"
    case .cursorRefused: "cursorRefused"
    case .versionWentBack: "versionWentBack"
    }
}

/// The same for the resolutions in the conflict log.
private func syncResolutionName(_ resolution: ConflictResolution) -> String {
    switch resolution {
    case .serverWon: "serverWon"
    case .localWon: "localWon"
    case .deleteWon: "deleteWon"
    case .merged: "merged"
    }
}

// MARK: - Tests

final class SyncClientTests: StoreTestCase {
    private var server: ReferenceServer!
    private var devices: [SyncDevice] = []
    private var subscriptions: [Subscription] = []
    private var otherStores: [Store] = []
    /// Backends a test starts besides the one of setUp (stopped in tearDown).
    private var otherServers: [ReferenceServer] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        let policy = dir.appendingPathComponent("policy.json")
        try """
        {"version": 3, "last_updated": "2026-01-15", "url": "https://aparking.kz/privacy",
         "text_sha256": "\(String(repeating: "0", count: 61))003", "purposes": ["statistics", "service_improvement"]}
        """.write(to: policy, atomically: true, encoding: .utf8)
        server = try ReferenceServer(
            dataDirectory: dir.appendingPathComponent("server-data", isDirectory: true),
            arguments: ["--token", "\(syncToken):acct-1", "--policy", policy.path]
        )
    }

    override func tearDownWithError() throws {
        subscriptions.forEach { $0.cancel() }
        subscriptions = []
        for device in devices {
            device.sync.stopAutoSync()
            device.sync.cancel()
            try? device.store.shutdown()
        }
        devices = []
        otherStores.forEach { try? $0.shutdown() }
        otherStores = []
        otherServers.forEach { $0.stop() }
        otherServers = []
        server?.stop()
        server = nil
        try super.tearDownWithError()
    }

    /// The test's client configuration: it trusts the key the reference backend signs its
    /// policy manifest with, so every sync fetches and adopts the backend's policy.
    private func syncConfig(_ endpoint: String, localWins: Bool = false) -> SyncConfig {
        SyncConfig(
            endpoint: endpoint,
            network: NetworkConfig(retryBaseDelayMs: 5, retryMaxDelayMs: 50),
            localWinsConflicts: localWins,
            policyPublicKeys: [server.policyPublicKey]
        )
    }

    /// A device of the account: its own store file and key, a client of the test's backend.
    private func device(_ name: String, auth: AuthProvider = SyncTokenProvider(), config: SyncConfig? = nil) throws -> SyncDevice {
        let seed = name.unicodeScalars.reduce(0) { $0 * 31 + Int($1.value) } % 10_000
        let store = try openStore(storeFile("\(name).db"), CountingKeyProvider.withSeed(seed))
        otherStores.append(store) // shut down in tearDown even if the client cannot be made
        let sync = try SyncClient(store: store, config: config ?? syncConfig(server.baseURL), authProvider: auth)
        otherStores.removeLast()
        let device = SyncDevice(store: store, sync: sync)
        devices.append(device)
        return device
    }

    /// Keeps `subscription` until tearDown.
    @discardableResult
    private func keep(_ subscription: Subscription) -> Subscription {
        subscriptions.append(subscription)
        return subscription
    }

    /// A vehicle created on `a` and pulled by `b`; returns its id.
    private func sharedVehicle(_ a: SyncDevice, _ b: SyncDevice) async throws -> String {
        let v = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02", make: "Kia"))
        _ = try await a.sync.sync()
        _ = try await b.sync.sync()
        XCTAssertEqual(try b.store.getVehicle(id: v.id)?.make, "Kia")
        return v.id
    }

    private func syncAll(_ a: SyncDevice, _ b: SyncDevice, file: StaticString = #filePath, line: UInt = #line) async throws {
        _ = try await a.sync.sync()
        _ = try await b.sync.sync()
        _ = try await a.sync.sync()
        XCTAssertEqual(try a.sync.pendingChanges(), 0, file: file, line: line)
        XCTAssertEqual(try b.sync.pendingChanges(), 0, file: file, line: line)
    }

    // MARK: Twins of SyncClientTest.kt

    func testTwoDevicesConvergeAndTheSameFieldEditedOnBothIsAServerWonConflict() async throws {
        let a = try device("a")
        let b = try device("b")
        let v = try a.store.addVehicle(vehicle: NewVehicle(plate: "123 авс 02", make: "Kia"))
        XCTAssertGreaterThanOrEqual(try a.sync.pendingChanges(), 1)
        let first = try await a.sync.sync()
        XCTAssertGreaterThanOrEqual(first.pushed, 1, "\(first)")
        XCTAssertEqual(first.pending, 0)
        XCTAssertEqual(first.policyVersion, 3, "the backend's policy was fetched")
        XCTAssertEqual(try a.sync.pendingChanges(), 0)
        XCTAssertEqual(Consent(store: a.store).policyInForce()?.version, 3, "and adopted")

        let pulled = try await b.sync.sync()
        XCTAssertGreaterThanOrEqual(pulled.pulled, 1, "\(pulled)")
        let onB = try XCTUnwrap(try b.store.findVehicleByPlate(plate: "123ABC02"))
        XCTAssertEqual(onB.id, v.id)
        XCTAssertEqual(onB.make, "Kia")

        _ = try a.store.updateVehicle(id: v.id, patch: VehiclePatch(colour: "red"))
        _ = try b.store.updateVehicle(id: v.id, patch: VehiclePatch(colour: "blue"))
        _ = try await a.sync.sync()
        let summary = try await b.sync.sync()
        XCTAssertEqual(summary.conflicts, 1, "\(summary)")
        try await syncAll(a, b)
        XCTAssertEqual(try a.store.getVehicle(id: v.id)?.colour, "red", "the first to reach the server wins")
        XCTAssertEqual(try b.store.getVehicle(id: v.id)?.colour, "red")

        let log = try b.sync.conflicts()
        XCTAssertEqual(log.count, 1, "\(log)")
        let conflict = try XCTUnwrap(log.first)
        XCTAssertEqual(
            conflict,
            SyncConflict(
                id: conflict.id, entity: .vehicle, recordId: v.id, field: .vehicle(field: .colour),
                localValue: "blue", remoteValue: "red", localRecord: nil, mergedInto: nil,
                resolution: .serverWon, resolvedAt: conflict.resolvedAt
            )
        )
        XCTAssertLessThan(abs(conflict.resolvedAt.timeIntervalSinceNow), 600, "resolvedAt is a real time")
        XCTAssertEqual(try a.sync.conflicts(), [])
        XCTAssertEqual(try b.sync.status().conflicts, 1, "the status counts the conflict log")
        XCTAssertEqual(try a.sync.status().conflicts, 0)
        XCTAssertEqual(try b.sync.clearConflicts(), 1)
        XCTAssertEqual(try b.sync.status().conflicts, 0)
        XCTAssertEqual(try b.sync.conflicts(), [])
        XCTAssertEqual(try b.sync.clearConflicts(), 0)
    }

    func testTheBackendsPolicyIsFetchedOnlyWithItsSigningKeyAndAnotherKeyIsUntrustedPolicy() async throws {
        XCTAssertEqual(Data(base64Encoded: server.policyPublicKey)?.count, 32, server.policyPublicKey)
        var unkeyed = syncConfig(server.baseURL)
        unkeyed.policyPublicKeys = []
        let a = try device("a", config: unkeyed)
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        let plain = try await a.sync.sync()
        XCTAssertNil(plain.policyVersion, "no key configured: the backend's policy is not fetched: \(plain)")
        XCTAssertGreaterThanOrEqual(plain.pushed, 1, "\(plain)")
        XCTAssertNil(Consent(store: a.store).policyInForce())
        XCTAssertEqual(server.logLines(containing: "/v1/policy"), 0, server.output)

        // Trusting only another key: refused, consent and the outbox as they were.
        var otherKey = syncConfig(server.baseURL)
        otherKey.policyPublicKeys = [untrustedPolicyKey]
        let b = try device("b", config: otherKey)
        let consent = Consent(store: b.store)
        _ = try consent.publishPolicy(manifest: policy(1))
        _ = try consent.acceptPolicy(version: 1, granted: [.statistics], context: consentContext())
        let before = consent.state()
        _ = try b.store.addVehicle(vehicle: NewVehicle(plate: "A123BC"))
        let pending = try b.sync.pendingChanges()
        let refused = await syncOutcome { try await b.sync.sync() }
        guard case let .UntrustedPolicy(reason)? = syncAparkingError(refused) else {
            return XCTFail("expected AparkingError.UntrustedPolicy, got \(refused)")
        }
        XCTAssertTrue(reason.contains("policy manifest"), reason)
        XCTAssertEqual(consent.state(), before, "consent unchanged")
        XCTAssertEqual(try b.sync.pendingChanges(), pending, "nothing pushed, nothing lost")

        // The backend's own key (next to the other one): fetched, verified and adopted.
        let trusted = try SyncClient(
            store: b.store, config: SyncConfig(endpoint: server.baseURL, policyPublicKeys: [untrustedPolicyKey, server.policyPublicKey]),
            authProvider: SyncTokenProvider()
        )
        let summary = try await trusted.sync()
        XCTAssertEqual(summary.policyVersion, 3, "the backend's policy was fetched: \(summary)")
        XCTAssertEqual(consent.policyInForce()?.version, 3, "and adopted")
        XCTAssertEqual(consent.state().allowed, [], "a new version waits for acceptance")
        XCTAssertEqual(summary.pending, 0, "\(summary)")
        let logged = await syncEventually { self.server.logLines(containing: "/v1/policy") >= 2 }
        XCTAssertTrue(logged, server.output)
        XCTAssertEqual(server.logLines(containing: "/v1/policy"), 2, "one request per keyed sync: \(server.output)")
    }

    func testASyncToAHostThePolicyDoesNotDeclareIsUndeclaredHostBeforeAnyConnectionNothingLost() async throws {
        let quick = NetworkConfig(maxAttempts: 1, retryBaseDelayMs: 5, retryMaxDelayMs: 20, connectTimeoutMs: 300, requestTimeoutMs: 500)
        let a = try device("a", config: SyncConfig(endpoint: undeclaredEndpoint, network: quick))
        let consent = Consent(store: a.store)
        var manifest = policy(1)
        manifest.personalDataHosts = ["api.aparking.kz", "*.aparking.kz"]
        _ = try consent.publishPolicy(manifest: manifest)
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        let pending = try a.sync.pendingChanges()
        XCTAssertGreaterThanOrEqual(pending, 1)

        let refused = await syncOutcome { try await a.sync.sync() }
        XCTAssertEqual(syncAparkingError(refused), .UndeclaredHost(host: "192.0.2.1", channel: "personal data"), "\(refused)")
        XCTAssertEqual(try a.sync.pendingChanges(), pending, "nothing lost")
        let erasure = await syncOutcome { try await a.sync.deleteAccount() }
        XCTAssertEqual(syncAparkingError(erasure), .UndeclaredHost(host: "192.0.2.1", channel: "personal data"), "\(erasure)")
        XCTAssertEqual(try a.store.listVehicles().count, 1, "the local data are kept")

        // Declared: the SDK does connect (and nothing answers at that address).
        manifest.version = 2
        manifest.personalDataHosts = ["192.0.2.1"]
        _ = try consent.publishPolicy(manifest: manifest)
        let contacted = await syncOutcome { try await a.sync.sync() }
        guard case .Network? = syncAparkingError(contacted) else {
            return XCTFail("a declared host is contacted: expected Network, got \(contacted)")
        }
        XCTAssertEqual(try a.sync.pendingChanges(), pending)
    }

    func testLocalWinsConflictsGivesLocalWonAndADeleteWinsOverAnEditDeleteWon() async throws {
        let a = try device("a")
        let b = try device("b", config: syncConfig(server.baseURL, localWins: true))
        let id = try await sharedVehicle(a, b)
        _ = try a.store.updateVehicle(id: id, patch: VehiclePatch(colour: "red"))
        _ = try b.store.updateVehicle(id: id, patch: VehiclePatch(colour: "blue"))
        _ = try await a.sync.sync()
        _ = try await b.sync.sync()
        try await syncAll(a, b)
        XCTAssertEqual(try a.store.getVehicle(id: id)?.colour, "blue", "this device's value was kept and pushed")
        XCTAssertEqual(try b.store.getVehicle(id: id)?.colour, "blue")
        let localLog = try b.sync.conflicts()
        XCTAssertEqual(localLog.count, 1, "\(localLog)")
        let local = try XCTUnwrap(localLog.first)
        XCTAssertEqual(local.resolution, .localWon)
        XCTAssertEqual(local.entity, .vehicle)
        XCTAssertEqual(local.recordId, id)
        XCTAssertEqual(local.field, .vehicle(field: .colour))
        XCTAssertEqual(local.localValue, "blue")
        XCTAssertEqual(local.remoteValue, "red")
        XCTAssertEqual(try b.sync.clearConflicts(), 1)

        try a.store.removeVehicle(id: id)
        _ = try b.store.updateVehicle(id: id, patch: VehiclePatch(nickname: "still mine"))
        try await syncAll(a, b)
        XCTAssertNil(try b.store.getVehicle(id: id), "delete wins")
        XCTAssertNil(try a.store.getVehicle(id: id))
        let deleteLog = try b.sync.conflicts()
        XCTAssertEqual(deleteLog.count, 1, "\(deleteLog)")
        let deleted = try XCTUnwrap(deleteLog.first)
        XCTAssertEqual(deleted.resolution, .deleteWon)
        XCTAssertEqual(deleted.recordId, id)
        XCTAssertNil(deleted.field)
        // What the delete removed comes back typed, ready for the app to offer "add it again".
        guard case .vehicle(let lost)? = deleted.localRecord else {
            return XCTFail("the removed vehicle's values: \(String(describing: deleted.localRecord))")
        }
        XCTAssertEqual(lost.nickname, "still mine")
        XCTAssertEqual(lost.colour, "blue")
        let readded = try b.store.addVehicle(vehicle: lost)
        XCTAssertEqual(try b.store.getVehicle(id: readded.id), readded)
        XCTAssertEqual(readded.nickname, "still mine")
    }

    func testASwiftSyncObserverHearsStartedPushedPulledAndFinishedCancellingTheSubscriptionStopsIt() async throws {
        let a = try device("a")
        let b = try device("b")
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "777KKK01"))
        _ = try await a.sync.sync()
        let observer = SyncRecordingObserver()
        let subscription = keep(b.sync.subscribe(observer: observer))
        XCTAssertTrue(subscription.isActive())
        _ = try b.store.addVehicle(vehicle: NewVehicle(plate: "A123BC"))
        let summary = try await b.sync.sync()

        let events = observer.events
        XCTAssertEqual(events.first, .started, "\(events)")
        XCTAssertEqual(events.last, .finished(summary: summary), "\(events)")
        XCTAssertEqual(syncPushedTotal(events), summary.pushed, "\(events)")
        XCTAssertEqual(syncPulledTotal(events), summary.pulled, "\(events)")
        XCTAssertTrue(summary.pulled >= 1 && summary.pushed >= 1, "\(summary)")
        XCTAssertFalse(events.contains(where: syncIsFailed), "\(events)")
        XCTAssertFalse(observer.anyOnMainThread)

        subscription.cancel()
        XCTAssertFalse(subscription.isActive())
        subscription.cancel() // again: nothing happens
        _ = try await b.sync.sync()
        XCTAssertEqual(observer.events.count, events.count, "a cancelled subscription hears nothing")
    }

    func testEventsIsAnAsyncStreamOfEverySyncStepAndEndingTheIterationUnsubscribes() async throws {
        let a = try device("a")
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "321CBA05"))
        let summary: SyncSummary
        var seen: [SyncEvent] = []
        do {
            // Subscribed when events() returns: the first event of the sync below is not lost.
            let events = a.sync.events()
            summary = try await a.sync.sync()
            // sync() emitted every event before it returned: they wait in the stream.
            for await event in events {
                seen.append(event)
                if syncIsFinished(event) || syncIsFailed(event) { break }
            }
        } // the stream is dropped here: that ends it and unsubscribes
        XCTAssertEqual(seen.first, .started, "\(seen)")
        XCTAssertEqual(seen.last, .finished(summary: summary), "\(seen)")
        XCTAssertEqual(syncPushedTotal(seen), summary.pushed, "\(seen)")
        XCTAssertGreaterThanOrEqual(summary.pushed, 1, "\(summary)")
        XCTAssertFalse(seen.contains(where: syncIsFailed), "\(seen)")

        // A stream read by a task: cancelling the task ends the iteration (the stream
        // terminates, which cancels its subscription).
        let stream = a.sync.events()
        let readerEnded = Locked(false)
        let reader = Task {
            var count = 0
            for await _ in stream { count += 1 }
            readerEnded.withLock { $0 = true }
            return count
        }
        let second = try await a.sync.sync()
        XCTAssertEqual(second.pending, 0, "the ended collection did not disturb the sync")
        reader.cancel()
        let ended = await syncEventually { readerEnded.current }
        XCTAssertTrue(ended, "cancelling the reading task ends the for-await loop")
        if ended {
            let count = await reader.value
            XCTAssertLessThanOrEqual(count, 64, "at most the events of one sync (bounded buffer)")
        }
        // Nobody listens any more: another sync works as before.
        let third = try await a.sync.sync()
        XCTAssertEqual(third.pending, 0)
    }

    @MainActor
    func testSyncOf600ChangesAwaitedOnTheMainActorDoesItsWorkOnTheSdkThread() async throws {
        let a = try device("a")
        for i in 1 ... 600 {
            _ = try a.store.addVehicle(vehicle: NewVehicle(plate: String(format: "%03ldAAA01", i)))
        }
        // The sync's own log line ("sync: N pulled, N pushed, ...") is written where its work
        // runs: record the threads it comes on. The logger is process-global: uninstall it.
        let sink = SyncThreadLogSink()
        defer { _ = setLogSink(sink: nil, maxLevel: .error) }
        XCTAssertTrue(setLogSink(sink: sink, maxLevel: .info))
        XCTAssertTrue(Thread.isMainThread)
        let cpuBefore = syncThreadCpuNanos()
        let wallBefore = DispatchTime.now().uptimeNanoseconds
        let summary = try await a.sync.sync()
        let wallMs = Double(DispatchTime.now().uptimeNanoseconds - wallBefore) / 1e6
        let heldMs = Double(syncThreadCpuNanos() - cpuBefore) / 1e6
        XCTAssertTrue(Thread.isMainThread, "back on the main actor")
        XCTAssertEqual(summary.pushed, 600, "\(summary)")
        XCTAssertEqual(summary.pending, 0, "\(summary)")
        let threads = sink.threads
        XCTAssertFalse(threads.isEmpty, "the sync logged its summary line")
        XCTAssertFalse(sink.anyOnMainThread, "the sync's work ran on the main thread")
        XCTAssertEqual(Set(threads), ["aparking-async"], "\(Set(threads))")
        print(String(format: "sync() of 600 changes from the main actor: %.0f ms wall, the main thread held %.1f ms (CPU)", wallMs, heldMs))
    }

    @MainActor
    func testEventsReadByAMainActorTaskThatSubscribesOnceTheSyncHasStartedStillBeginsWithStarted() async throws {
        // The usual app code: a main-actor Task reads sync.events(), then the caller awaits
        // sync(). The Task's body runs only when the main actor is free, that is once this
        // method has suspended in sync(); by then the sync (on the SDK's threads) may already
        // have emitted .started, so the stream's subscription can come after the start. The
        // SDK replays .started to an observer that subscribes while a sync runs (just before
        // that sync's next event, once): that is what makes the stream see it. Here the late
        // subscription is made certain rather than likely: the Task subscribes only after the
        // sync asked for its token (which it does after .started), and the token waits until
        // the stream has subscribed. Without the replay the stream would begin with .pushed.
        let asked = SyncLatch()
        let subscribed = SyncLatch()
        let auth = SyncTokenProvider { _, call in
            if call == 0 {
                asked.open()
                guard subscribed.wait(timeout: 30) else { throw SyncNeverReleased() }
            }
            return syncToken
        }
        let a = try device("a", auth: auth)
        for plate in ["111AAA01", "222BBB02", "333CCC03"] {
            _ = try a.store.addVehicle(vehicle: NewVehicle(plate: plate))
        }
        // Every event of the sync, for comparison, from an observer subscribed before it.
        let early = SyncRecordingObserver()
        keep(a.sync.subscribe(observer: early))
        let sync = a.sync
        let reader = Task { @MainActor () -> [SyncEvent] in
            let deadline = Date().addingTimeInterval(30)
            while !asked.isOpen, Date() < deadline {
                try? await Task.sleep(nanoseconds: 5_000_000)
            }
            var seen: [SyncEvent] = []
            let events = sync.events() // subscribes here, while the sync runs
            subscribed.open()
            for await event in events {
                seen.append(event)
                if syncIsFinished(event) || syncIsFailed(event) { break }
            }
            return seen
        }
        let summary = try await sync.sync()
        let seen = await reader.value

        XCTAssertTrue(asked.isOpen, "the sync asked for a token")
        XCTAssertEqual(seen.first, .started, "\(seen.map(syncEventName))")
        XCTAssertEqual(syncStartedCount(seen), 1, "\(seen.map(syncEventName))")
        XCTAssertEqual(seen.last, .finished(summary: summary), "\(seen.map(syncEventName))")
        XCTAssertEqual(seen, early.events, "the late stream saw the whole sync, as an early observer did")
        XCTAssertGreaterThanOrEqual(summary.pushed, 3, "\(summary)")
        XCTAssertEqual(try a.sync.pendingChanges(), 0)
    }

    func testAnObserverSubscribedWhileASyncRunsGetsStartedBeforeAnythingElseExactlyOnce() async throws {
        let entered = SyncLatch()
        let release = SyncLatch()
        // Holds the sync at its first token request, after its .started.
        let a = try device("a", auth: SyncTokenProvider.blockingFirstCall(entered: entered, release: release))
        for plate in ["111AAA01", "222BBB02", "333CCC03"] {
            _ = try a.store.addVehicle(vehicle: NewVehicle(plate: plate))
        }
        let early = SyncRecordingObserver()
        keep(a.sync.subscribe(observer: early))
        // Subscribes `late` from inside the sync, at its first .pushed (on the sync's thread).
        let trigger = SyncSubscribeAtFirstPush(a.sync)
        keep(a.sync.subscribe(observer: trigger))
        let sync = a.sync
        let running = Task { try await sync.sync() }
        let asked = await syncEventually { entered.isOpen }
        XCTAssertTrue(asked, "the sync never asked for a token")

        // The sync has started (and waits for its token): subscribe now, from this task.
        XCTAssertEqual(early.events, [.started])
        let waiting = SyncRecordingObserver()
        keep(a.sync.subscribe(observer: waiting))
        XCTAssertEqual(waiting.events, [], "the owed .started comes with the sync's next event, not from subscribe")
        release.open()
        let summary = try await running.value

        let all = early.events
        XCTAssertEqual(all.first, .started, "\(all.map(syncEventName))")
        XCTAssertEqual(all.last, .finished(summary: summary), "\(all.map(syncEventName))")
        XCTAssertEqual(syncStartedCount(all), 1)
        // Subscribed between .started and the first push: .started, then every later event.
        XCTAssertEqual(waiting.events.map(syncEventName), all.map(syncEventName))
        XCTAssertEqual(waiting.events, all)
        // Subscribed during the first .pushed: .started, then the events after that .pushed.
        let late = trigger.late.events
        let afterFirstPush = Array(all.drop { if case .pushed = $0 { return false } else { return true } }.dropFirst())
        XCTAssertFalse(afterFirstPush.isEmpty, "\(all.map(syncEventName))")
        XCTAssertNotNil(trigger.subscription, "subscribed at the first .pushed")
        XCTAssertEqual(late.first, .started, "\(late.map(syncEventName))")
        XCTAssertEqual(syncStartedCount(late), 1, "\(late.map(syncEventName))")
        XCTAssertEqual(Array(late.dropFirst()), afterFirstPush, "\(late.map(syncEventName))")
        XCTAssertEqual(late.last, .finished(summary: summary))
        XCTAssertFalse(trigger.late.anyOnMainThread)

        // The debt is paid once: at the next sync all three hear the same events, one .started.
        let counts = (early.events.count, waiting.events.count, late.count)
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "444DDD04"))
        let next = try await a.sync.sync()
        let nextEarly = Array(early.events.dropFirst(counts.0))
        XCTAssertEqual(nextEarly.first, .started, "\(nextEarly.map(syncEventName))")
        XCTAssertEqual(syncStartedCount(nextEarly), 1)
        XCTAssertEqual(nextEarly.last, .finished(summary: next))
        XCTAssertEqual(Array(waiting.events.dropFirst(counts.1)), nextEarly)
        XCTAssertEqual(Array(trigger.late.events.dropFirst(counts.2)), nextEarly)
        trigger.subscription?.cancel()
    }

    func testCancellingASubscriptionMadeWhileASyncRunsDeliversNothingMoreNotEvenTheOwedStarted() async throws {
        let entered = SyncLatch()
        let release = SyncLatch()
        let a = try device("a", auth: SyncTokenProvider.blockingFirstCall(entered: entered, release: release))
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        let sync = a.sync
        let running = Task { try await sync.sync() }
        let asked = await syncEventually { entered.isOpen }
        XCTAssertTrue(asked, "the sync never asked for a token")

        // Both subscribe while the sync runs (both are owed .started); one is cancelled at once.
        let cancelled = SyncRecordingObserver()
        let subscription = a.sync.subscribe(observer: cancelled)
        let kept = SyncRecordingObserver()
        keep(a.sync.subscribe(observer: kept))
        XCTAssertTrue(subscription.isActive())
        subscription.cancel()
        XCTAssertFalse(subscription.isActive())
        release.open()
        let summary = try await running.value
        XCTAssertEqual(cancelled.events, [], "a cancelled subscription hears nothing, not even the owed .started")
        XCTAssertEqual(kept.events.first, .started, "\(kept.events.map(syncEventName))")
        XCTAssertEqual(syncStartedCount(kept.events), 1)
        XCTAssertEqual(kept.events.last, .finished(summary: summary))

        // Nor at the next sync.
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "777KKK01"))
        let next = try await a.sync.sync()
        XCTAssertGreaterThanOrEqual(next.pushed, 1, "\(next)")
        XCTAssertEqual(cancelled.events, [], "nothing arrives after cancel()")
        XCTAssertFalse(subscription.isActive())
        subscription.cancel() // again: nothing happens
        XCTAssertFalse(subscription.isActive())
        XCTAssertEqual(syncStartedCount(kept.events), 2, "the other observer heard the next sync")
        XCTAssertEqual(kept.events.last, .finished(summary: next))
    }

    func testCancellingTheCallingTaskStopsTheSyncAndTheNextSyncCarriesOn() async throws {
        // The Swift twin of Kotlin's withTimeout: Task.cancel() on a task in cancellableSync().
        let entered = SyncLatch()
        let release = SyncLatch()
        let a = try device("a", auth: SyncTokenProvider.blockingFirstCall(entered: entered, release: release))
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "909ZZZ09"))
        let sync = a.sync
        let task = Task { try await sync.cancellableSync() }
        let asked = await syncEventually { entered.isOpen }
        XCTAssertTrue(asked, "the sync never asked for a token")
        task.cancel()
        release.open()
        let result = await task.result
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        XCTAssertEqual(try a.sync.pendingChanges(), 1, "the change still waits")
        // The cancelled sync let go of its lock: no SyncInProgress, and nothing was lost.
        let next = try await a.sync.sync()
        XCTAssertEqual(next.pending, 0, "\(next)")
        XCTAssertGreaterThanOrEqual(next.pushed, 1, "\(next)")
        XCTAssertEqual(try a.sync.pendingChanges(), 0)
    }

    func testAnAparkingErrorPrintsTheSentenceNotOnlyTheFields() throws {
        let typed = "nope"
        XCTAssertThrowsError(try parsePlate(input: typed)) { error in
            guard let error = error as? AparkingError, case let .InvalidInput(field, _) = error else {
                return XCTFail("expected AparkingError.InvalidInput, got \(error)")
            }
            XCTAssertEqual(field, "plate")
            // `description` is the Rust core's Display (Kotlin's toString()); the other
            // renderings are the capitalised sentence of ErrorDescriptions.swift.
            XCTAssertTrue(error.description.hasPrefix("invalid plate: "), error.description)
            XCTAssertTrue(error.localizedDescription.hasPrefix("Invalid plate: "), error.localizedDescription)
            XCTAssertTrue(String(reflecting: error).hasPrefix("Invalid plate: "), String(reflecting: error))
            XCTAssertTrue("\(error)".hasPrefix("invalid plate: "), "\(error)")
            for text in [error.description, error.localizedDescription, String(reflecting: error), "\(error)"] {
                XCTAssertFalse(text.contains(typed), "the value is never echoed: \(text)")
            }
            XCTAssertEqual(error.recoverySuggestion, "Ask the user to correct the value.")
        }
        let closed = AparkingError.StoreClosed
        XCTAssertEqual(closed.description, "the store is closed")
        XCTAssertEqual(closed.localizedDescription, "The store is closed.")
        XCTAssertEqual(closed.message, "The store is closed.")
        XCTAssertEqual(String(reflecting: closed), "The store is closed.")
        XCTAssertEqual(AparkingError.SyncInProgress.localizedDescription, "A sync is already running.")
        XCTAssertEqual(AparkingError.SyncCancelled.recoverySuggestion, "Sync again; nothing saved was lost.")
        XCTAssertEqual(
            AuthProviderError.SignedOut(reason: "the user signed out").description,
            "The user is signed out: the user signed out."
        )
    }

    func testTheAuthProviderRefreshesAfterA401SignedOutAndARefusedTokenAreAuthRequired() async throws {
        // A stale token first: the backend answers 401, the SDK asks once more with refresh = true.
        let refreshing = SyncTokenProvider { refresh, _ in refresh ? syncToken : "stale-token" }
        let a = try device("a", auth: refreshing)
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        let pushed = try await a.sync.sync()
        XCTAssertGreaterThanOrEqual(pushed.pushed, 1, "\(pushed)")
        XCTAssertEqual(refreshing.calls, [false, true])

        // The user signed out: the provider's reason reaches the app, the change stays queued.
        let signedOut = SyncTokenProvider { _, _ in throw AuthProviderError.SignedOut(reason: "the user signed out") }
        let observer = SyncRecordingObserver()
        let b = try device("b", auth: signedOut)
        keep(b.sync.subscribe(observer: observer))
        _ = try b.store.addVehicle(vehicle: NewVehicle(plate: "555TTT17"))
        let failed = await syncOutcome { try await b.sync.sync() }
        XCTAssertEqual(syncAparkingError(failed), .AuthRequired(reason: "the user signed out"), "\(failed)")
        XCTAssertEqual(try b.sync.pendingChanges(), 1, "nothing lost")
        XCTAssertEqual(observer.events.first, .started)
        XCTAssertEqual(observer.events.last, .failed(error: .AuthRequired(reason: "the user signed out")))
        XCTAssertEqual(signedOut.calls, [false], "a signed-out provider is not asked again")

        // A token the backend refuses even after a refresh.
        let wrong = SyncTokenProvider("not-a-token")
        let c = try device("c", auth: wrong)
        _ = try c.store.addVehicle(vehicle: NewVehicle(plate: "001AAA01"))
        let refused = await syncOutcome { try await c.sync.sync() }
        guard case .AuthRequired? = syncAparkingError(refused) else {
            return XCTFail("expected AuthRequired, got \(refused)")
        }
        XCTAssertEqual(wrong.calls, [false, true])
        XCTAssertEqual(try c.sync.pendingChanges(), 1)
    }

    func testASecondSyncWhileOneRunsIsSyncInProgressCancelEndsTheFirstWithSyncCancelledNothingLost() async throws {
        let entered = SyncLatch()
        let release = SyncLatch()
        // Blocks (off the caller's thread, as the docs allow) the first time it is asked.
        let a = try device("a", auth: SyncTokenProvider.blockingFirstCall(entered: entered, release: release))
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        let sync = a.sync
        let first = Task { try await sync.sync() }
        let asked = await syncEventually { entered.isOpen }
        XCTAssertTrue(asked, "the sync never asked for a token")

        // From this task and from a detached task: refused at once.
        let here = await syncOutcome { try await sync.sync() }
        XCTAssertEqual(syncAparkingError(here), .SyncInProgress, "\(here)")
        let detached = await Task.detached { await syncOutcome { try await sync.sync() } }.value
        XCTAssertEqual(syncAparkingError(detached), .SyncInProgress, "\(detached)")

        a.sync.cancel()
        release.open()
        let result = await first.result
        XCTAssertEqual(syncAparkingError(result), .SyncCancelled, "\(result)")
        XCTAssertEqual(try a.sync.pendingChanges(), 1, "the change waits for the next sync")
        a.sync.cancel() // no sync running: nothing happens
        let next = try await a.sync.sync()
        XCTAssertGreaterThanOrEqual(next.pushed, 1, "the next sync carries on: \(next)")
        XCTAssertEqual(try a.sync.pendingChanges(), 0)
    }

    func testAnUnreachableBackendIsNetworkAfterTheRetriesBadConfigsAreInvalidInput() async throws {
        let observer = SyncRecordingObserver()
        let config = SyncConfig(
            endpoint: nowhere,
            network: NetworkConfig(maxAttempts: 2, retryBaseDelayMs: 5, retryMaxDelayMs: 20, connectTimeoutMs: 2000)
        )
        let a = try device("a", config: config)
        keep(a.sync.subscribe(observer: observer))
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        let result = await syncOutcome { try await a.sync.sync() }
        guard case let .Network(reason, _)? = syncAparkingError(result) else {
            return XCTFail("expected AparkingError.Network, got \(result)")
        }
        XCTAssertFalse(reason.trimmingCharacters(in: .whitespaces).isEmpty)
        XCTAssertEqual(try a.sync.pendingChanges(), 1, "nothing lost")
        XCTAssertEqual(observer.events.first, .started)
        guard case let .failed(error)? = observer.events.last, case .Network = error else {
            return XCTFail("the last event is not Failed(Network): \(observer.events)")
        }

        // Deleting the account needs the backend first: local data is kept.
        let deletion = await syncOutcome { try await a.sync.deleteAccount() }
        guard case .Network? = syncAparkingError(deletion) else {
            return XCTFail("expected AparkingError.Network, got \(deletion)")
        }
        XCTAssertEqual(try a.store.info().vehicleCount, 1)
        XCTAssertTrue(try a.sync.isAccountErasurePending(), "unreachable: the erasure stays pending (documented)")
        XCTAssertTrue(try a.sync.status().accountErasurePending, "and the status says so")

        try withStore(storeFile("x.db"), CountingKeyProvider.withSeed(1)) { store in
            var badAttempts = config
            badAttempts.network.maxAttempts = 0
            let attempts = assertInvalidInput(
                try SyncClient(store: store, config: badAttempts, authProvider: SyncTokenProvider())
            )
            XCTAssertEqual(attempts?.field, "maxAttempts")
            var plainHTTP = config
            plainHTTP.endpoint = "http://aparking.kz"
            let endpoint = assertInvalidInput(
                try SyncClient(store: store, config: plainHTTP, authProvider: SyncTokenProvider())
            )
            XCTAssertEqual(endpoint?.field, "endpoint")
        }
    }

    func testDeleteAccountErasesTheBackendsCopyThenTheLocalData() async throws {
        let a = try device("a")
        _ = try a.store.updateProfile(patch: ProfilePatch(phone: phoneTyped))
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        let pushed = try await a.sync.sync()
        XCTAssertGreaterThanOrEqual(pushed.pushed, 2, "the profile and the vehicle: \(pushed)")
        XCTAssertFalse(try a.sync.isAccountErasurePending())
        try await a.sync.deleteAccount()
        XCTAssertFalse(try a.sync.isAccountErasurePending(), "finished: nothing pending")
        XCTAssertEqual(try a.store.info().vehicleCount, 0)
        XCTAssertNil(try a.store.getProfile())
        let erasedOnBackend = await syncEventually { self.server.logLines(containing: "/v1/account") >= 1 }
        XCTAssertTrue(erasedOnBackend, "the backend was asked first: \(server.output)")
        // A new device of the account finds nothing to pull.
        let b = try device("b")
        let pulled = try await b.sync.sync()
        XCTAssertEqual(pulled.pulled, 0, "\(pulled)")
        XCTAssertEqual(try b.store.listVehicles(), [])
        XCTAssertNil(try b.store.getProfile())
    }

    func testAnAccountErasedOnAnotherDeviceIsAccountErasedAtTheNextSyncWhichDeletesTheLocalCopyAndPushesNothing() async throws {
        let a = try device("a")
        let b = try device("b")
        _ = try a.store.updateProfile(patch: ProfilePatch(phone: phoneTyped))
        let shared = try ["123ABC02", "777KKK01"].map { try a.store.addVehicle(vehicle: NewVehicle(plate: $0, make: "Kia")) }
        _ = try a.store.addDocument(document: NewDocument(kind: .driverLicence, number: "DL10000001"))
        _ = try await a.sync.sync()
        let onB = try await b.sync.sync()
        XCTAssertEqual(onB.pulled, 4, "the profile, two vehicles and a licence: \(onB)")
        XCTAssertEqual(Set(try b.store.listVehicles().map(\.id)), Set(shared.map(\.id)))
        XCTAssertEqual(try b.store.getProfile()?.phone, phoneE164)
        // B, offline, adds a vehicle: it must not reach the erased account.
        _ = try b.store.addVehicle(vehicle: NewVehicle(plate: "999ZZZ09"))
        XCTAssertEqual(try b.sync.pendingChanges(), 1)

        try await a.sync.deleteAccount()

        let observer = SyncRecordingObserver()
        keep(b.sync.subscribe(observer: observer))
        let erased = await syncOutcome { try await b.sync.sync() }
        XCTAssertEqual(syncAparkingError(erased), .AccountErased, "\(erased)")
        let names = observer.events.map(syncEventName)
        XCTAssertEqual(observer.events.first, .started, "\(names)")
        XCTAssertEqual(observer.events.last, .failed(error: .AccountErased), "\(names)")
        XCTAssertEqual(syncPushedTotal(observer.events), 0, "nothing of B's was pushed: \(names)")
        // The SDK deleted B's copy before throwing: the profile, the vehicles (the offline one
        // too), the documents and the outbox.
        XCTAssertEqual(try b.store.listVehicles(), [], "B's copy is gone")
        XCTAssertEqual(try b.store.listDocuments(), [])
        XCTAssertNil(try b.store.getProfile())
        XCTAssertEqual(try b.store.info().vehicleCount, 0)
        XCTAssertEqual(try b.sync.pendingChanges(), 0, "nothing left to push")
        let status = try b.sync.status()
        XCTAssertEqual(status.lastError, .AccountErased, "\(status)")
        XCTAssertEqual(status.pendingChanges, 0, "\(status)")
        XCTAssertEqual(syncStatuses(observer.events).last, status, "announced before .failed: \(names)")

        // B pushed nothing back: a new device of the account finds nothing.
        let c = try device("c")
        let onC = try await c.sync.sync()
        XCTAssertEqual(onC.pulled, 0, "\(onC)")
        XCTAssertEqual(try c.store.listVehicles(), [])
        XCTAssertNil(try c.store.getProfile())

        // Once learnt, B syncs as a new device of the account would, on its empty store.
        let again = try await b.sync.sync()
        XCTAssertEqual(again.pulled, 0, "\(again)")
        XCTAssertEqual(again.pushed, 0, "\(again)")
        XCTAssertEqual(again.pending, 0, "\(again)")
        XCTAssertNil(try b.sync.status().lastError, "a success clears the error")

        // The account lives on: what A adds after the erasure reaches B.
        let later = try a.store.addVehicle(vehicle: NewVehicle(plate: "456DEF03"))
        _ = try await a.sync.sync()
        let pulled = try await b.sync.sync()
        XCTAssertEqual(pulled.pulled, 1, "\(pulled)")
        XCTAssertEqual(try b.store.listVehicles().map(\.id), [later.id])
    }

    func testDeleteAllUserDataResetsTheSyncStateSoTheNextSyncRestoresWhatWasSynced() async throws {
        let a = try device("a")
        _ = try a.store.updateProfile(patch: ProfilePatch(phone: phoneTyped))
        let vehicles = try ["123ABC02", "777KKK01"].map { try a.store.addVehicle(vehicle: NewVehicle(plate: $0, make: "Kia")) }
        let pushed = try await a.sync.sync()
        XCTAssertEqual(pushed.pushed, 3, "the profile and two vehicles: \(pushed)")

        try a.store.deleteAllUserData()
        XCTAssertEqual(try a.store.listVehicles(), [])
        XCTAssertNil(try a.store.getProfile())
        XCTAssertEqual(try a.sync.pendingChanges(), 0, "a local erasure: nothing is queued to delete on the backend")

        let restored = try await a.sync.sync()
        XCTAssertEqual(restored.pulled, 3, "everything came back, whole: \(restored)")
        XCTAssertEqual(restored.pushed, 0, "\(restored)")
        let back = try a.store.listVehicles()
        XCTAssertEqual(Set(back.map(\.id)), Set(vehicles.map(\.id)), "the same records, with their ids")
        XCTAssertEqual(Set(back.map(\.make)), ["Kia"])
        XCTAssertEqual(try a.store.getProfile()?.phone, phoneE164)
        XCTAssertEqual(try a.sync.pendingChanges(), 0)
        // Nothing was removed on the backend: a new device gets it all too.
        let b = try device("b")
        let onB = try await b.sync.sync()
        XCTAssertEqual(onB.pulled, 3, "\(onB)")
    }

    func testStatusReportsPendingChangesTheLastSuccessTheLastErrorAndTheNextAutomaticSync() async throws {
        let a = try device("a")
        XCTAssertEqual(
            try a.sync.status(),
            SyncStatus(
                pendingChanges: 0, conflicts: 0, running: false, lastSuccessAtMs: nil, lastError: nil,
                nextAutoSyncAtMs: nil, accountErasurePending: false, quarantined: 0
            ),
            "a fresh client: nothing yet"
        )
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "777KKK01"))
        XCTAssertEqual(try a.sync.status().pendingChanges, 2)
        XCTAssertEqual(try a.sync.status().pendingChanges, try a.sync.pendingChanges())

        // A sync that succeeds: the time is recorded, and announced just before .finished.
        let events = a.sync.events()
        let before = syncNowMs()
        let summary = try await a.sync.sync()
        let after = syncNowMs()
        let status = try a.sync.status()
        XCTAssertEqual(status.pendingChanges, 0, "\(status)")
        XCTAssertFalse(status.running, "\(status)")
        XCTAssertNil(status.lastError, "\(status)")
        let success = try XCTUnwrap(status.lastSuccessAtMs, "a success is recorded: \(status)")
        XCTAssertTrue((before ... after).contains(success), "\(success) not in \(before)...\(after)")
        var seen: [SyncEvent] = []
        for await event in events {
            seen.append(event)
            if syncIsFinished(event) || syncIsFailed(event) { break }
        }
        let names = seen.map(syncEventName)
        XCTAssertEqual(seen.last, .finished(summary: summary), "\(names)")
        XCTAssertEqual(seen.dropLast().last, .statusChanged(status: status), "the status right before .finished: \(names)")

        // A sync that fails (nothing listens at the endpoint), by another client of the store:
        // its error is kept, and the store's last success stays.
        let quick = NetworkConfig(maxAttempts: 1, retryBaseDelayMs: 5, retryMaxDelayMs: 20, connectTimeoutMs: 2000)
        let unreachable = try SyncClient(store: a.store, config: SyncConfig(endpoint: nowhere, network: quick), authProvider: SyncTokenProvider())
        devices.append(SyncDevice(store: a.store, sync: unreachable))
        let observer = SyncRecordingObserver()
        keep(unreachable.subscribe(observer: observer))
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "A123BC"))
        let result = await syncOutcome { try await unreachable.sync() }
        guard case .Network? = syncAparkingError(result) else {
            return XCTFail("expected AparkingError.Network, got \(result)")
        }
        let failed = try unreachable.status()
        guard case .Network? = failed.lastError else {
            return XCTFail("the last error is not Network: \(failed)")
        }
        XCTAssertEqual(failed.lastError, syncAparkingError(result), "the very error thrown")
        XCTAssertEqual(failed.lastSuccessAtMs, success, "the last success stays")
        XCTAssertEqual(failed.pendingChanges, 1, "\(failed)")
        XCTAssertFalse(failed.running, "\(failed)")
        let failedNames = observer.events.map(syncEventName)
        XCTAssertEqual(observer.events.last, .failed(error: try XCTUnwrap(failed.lastError)), "\(failedNames)")
        XCTAssertEqual(observer.events.dropLast().last, .statusChanged(status: failed), "\(failedNames)")

        // The next success of the first client is later, and leaves nothing pending.
        _ = try await a.sync.sync()
        let synced = try a.sync.status()
        XCTAssertNil(synced.lastError, "\(synced)")
        XCTAssertEqual(synced.pendingChanges, 0, "\(synced)")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(synced.lastSuccessAtMs), success)

        // Automatic sync: the next attempt is one interval from now, none once stopped.
        let beforeStart = syncNowMs()
        try a.sync.startAutoSync(intervalMs: 60_000)
        let next = try XCTUnwrap(try a.sync.status().nextAutoSyncAtMs, "scheduled")
        let afterStart = syncNowMs()
        XCTAssertTrue(
            (beforeStart + 60_000 ... afterStart + 60_000).contains(next),
            "\(next) is not one interval after \(beforeStart)...\(afterStart)"
        )
        a.sync.stopAutoSync()
        XCTAssertNil(try a.sync.status().nextAutoSyncAtMs, "stopped: nothing scheduled")
    }

    func testStatusSaysRunningWhileASyncWaitsForItsToken() async throws {
        let entered = SyncLatch()
        let release = SyncLatch()
        let a = try device("a", auth: SyncTokenProvider.blockingFirstCall(entered: entered, release: release))
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        XCTAssertFalse(try a.sync.status().running)
        let sync = a.sync
        let task = Task { try await sync.sync() }
        let asked = await syncEventually { entered.isOpen }
        XCTAssertTrue(asked, "the sync never asked for a token")
        let during = try a.sync.status()
        release.open()
        let summary = try await task.value
        XCTAssertTrue(during.running, "running while the sync waits: \(during)")
        XCTAssertEqual(during.pendingChanges, 1, "\(during)")
        XCTAssertGreaterThanOrEqual(summary.pushed, 1, "\(summary)")
        let after = try a.sync.status()
        XCTAssertFalse(after.running, "\(after)")
        XCTAssertEqual(after.pendingChanges, 0, "\(after)")
    }

    func testStartAutoSyncSyncsOnAnSDKThreadWithoutACallStopAutoSyncStopsIt() throws {
        let a = try device("a")
        let observer = SyncRecordingObserver()
        keep(a.sync.subscribe(observer: observer))
        let bad = assertInvalidInput(try a.sync.startAutoSync(intervalMs: 0))
        XCTAssertEqual(bad?.field, "intervalMs")

        try a.sync.startAutoSync(intervalMs: 50)
        try a.sync.startAutoSync(intervalMs: 50) // again while it runs: nothing changes
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        let pushedAutomatically = try syncEventuallyBlocking(20) {
            let pushed = observer.events.contains { event in
                if case let .finished(summary) = event { return summary.pushed > 0 }
                return false
            }
            return try a.sync.pendingChanges() == 0 && pushed
        }
        XCTAssertTrue(pushedAutomatically, "automatic sync never pushed: \(observer.events)")
        // This test runs on the main thread and never called sync(): every event came from
        // the SDK's automatic-sync thread.
        XCTAssertTrue(Thread.isMainThread)
        XCTAssertFalse(observer.anyOnMainThread, "called on an SDK thread")
        XCTAssertEqual(Set(observer.threads), ["aparking-sync"], "\(Set(observer.threads))")

        a.sync.stopAutoSync()
        let seen = observer.events.count
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "A123BC"))
        usleep(300_000) // give a (wrongly) running timer six intervals to fire
        XCTAssertEqual(observer.events.count, seen, "no sync after stopAutoSync")
        XCTAssertEqual(try a.sync.pendingChanges(), 1)
        a.sync.stopAutoSync() // twice is harmless
    }

    // MARK: A backend whose past changed, and records merged (issue #16)

    /// Another reference backend of account `acct-1` (same token), with its data in
    /// `dataDirectory` and no policy file; stopped in tearDown.
    private func startBackend(_ dataDirectory: URL) throws -> ReferenceServer {
        let backend = try ReferenceServer(dataDirectory: dataDirectory, arguments: ["--token", "\(syncToken):acct-1"])
        otherServers.append(backend)
        return backend
    }

    func testAWipedBackendIsReconciledTheStoreRepushesWhatItLackedAndANewDeviceGetsItBack() async throws {
        let network = NetworkConfig(retryBaseDelayMs: 5, retryMaxDelayMs: 50)
        let first = try startBackend(dir.appendingPathComponent("backend-d1", isDirectory: true))
        let a = try device("a", config: SyncConfig(endpoint: first.baseURL, network: network))
        let added = try ["123ABC02", "777KKK01"].map { try a.store.addVehicle(vehicle: NewVehicle(plate: $0, make: "Kia")) }
        let pushed = try await a.sync.sync()
        XCTAssertEqual(pushed.pushed, 2, "\(pushed)")
        XCTAssertEqual(pushed.pending, 0, "\(pushed)")

        // The backend is wiped: stopped, and started again with a fresh data directory (so a
        // fresh dataset generation), for the same account and token.
        first.stop()
        let second = try startBackend(dir.appendingPathComponent("backend-d2", isDirectory: true))
        let config = SyncConfig(endpoint: second.baseURL, network: network)
        let again = try SyncClient(store: a.store, config: config, authProvider: SyncTokenProvider())
        devices.append(SyncDevice(store: a.store, sync: again))
        let events = again.events()
        let summary = try await again.sync()
        var seen: [SyncEvent] = []
        for await event in events {
            seen.append(event)
            if syncIsFinished(event) || syncIsFailed(event) { break }
        }
        let names = seen.map(syncEventName)
        XCTAssertEqual(seen.last, .finished(summary: summary), "\(names)")
        let reconciled = syncReconciled(seen)
        XCTAssertEqual(reconciled.count, 1, "the store noticed the backend's lost past once: \(names)")
        if let (reason, repushed) = reconciled.first {
            XCTAssertTrue([.cursorRefused, .newGeneration].contains(reason), "\(names)")
            XCTAssertGreaterThanOrEqual(repushed, 2, "both vehicles queued again: \(names)")
        }
        XCTAssertGreaterThanOrEqual(summary.pushed, 2, "and pushed in the same sync: \(summary)")
        XCTAssertEqual(summary.pending, 0, "\(summary)")
        XCTAssertEqual(try again.pendingChanges(), 0)
        XCTAssertEqual(Set(try a.store.listVehicles().map(\.id)), Set(added.map(\.id)), "nothing lost locally")

        // Reconciled once: the next sync is an ordinary one.
        let observer = SyncRecordingObserver()
        keep(again.subscribe(observer: observer))
        let next = try await again.sync()
        XCTAssertEqual(syncReconciled(observer.events).count, 0, "\(observer.events.map(syncEventName))")
        XCTAssertEqual(next.pushed, 0, "\(next)")
        XCTAssertEqual(next.pending, 0, "\(next)")

        // A new device of the account on the wiped backend gets both vehicles back, once.
        let fresh = try device("fresh", config: config)
        let pulled = try await fresh.sync.sync()
        XCTAssertEqual(pulled.pulled, 2, "\(pulled)")
        let onFresh = try fresh.store.listVehicles()
        XCTAssertEqual(onFresh.count, 2, "\(onFresh)")
        XCTAssertEqual(Set(onFresh.map(\.id)), Set(added.map(\.id)), "the same records, with their ids")
        XCTAssertEqual(Set(onFresh.map(\.plate.canonical)), Set(added.map(\.plate.canonical)))
        XCTAssertEqual(try fresh.sync.pendingChanges(), 0)
        XCTAssertEqual(try again.pendingChanges(), 0)
    }

    func testANumberCorrectedToOneAddedOfflineOnAnotherDeviceMergesTheTwoDocumentsLoggedMerged() async throws {
        let a = try device("a")
        let b = try device("b")
        let shared = try a.store.addDocument(document: NewDocument(kind: .driverLicence, number: "DL10000001"))
        _ = try await a.sync.sync()
        _ = try await b.sync.sync()
        XCTAssertEqual(try b.store.listDocuments().map(\.id), [shared.id])

        // B adds DL10000002 offline; A corrects its licence to that very number and syncs first.
        let added = try b.store.addDocument(document: NewDocument(kind: .driverLicence, number: "DL10000002"))
        _ = try a.store.updateDocument(id: shared.id, patch: DocumentPatch(number: "DL10000002"))
        _ = try await a.sync.sync()
        for device in [b, a, b] {
            _ = try await device.sync.sync()
        }

        for (name, device) in [("A", a), ("B", b)] {
            let documents = try device.store.listDocuments()
            XCTAssertEqual(documents.map(\.id), [shared.id], "\(name): one licence, with the server's id")
            XCTAssertEqual(documents.first?.number, "DL10000002", name)
            XCTAssertEqual(try device.sync.pendingChanges(), 0, "\(name): nothing stuck")
        }
        XCTAssertNil(try b.store.getDocument(id: added.id), "B's record was merged away")

        let log = try b.sync.conflicts()
        let merged = try XCTUnwrap(
            log.first { $0.resolution == .merged },
            "the merge is in B's conflict log: \(log.map { syncResolutionName($0.resolution) })"
        )
        XCTAssertEqual(merged.entity, .document)
        XCTAssertEqual(merged.recordId, added.id, "the record merged away")
        XCTAssertEqual(merged.mergedInto, shared.id, "the record it went into")
        XCTAssertNil(merged.field, "a whole record, not a field")
        guard case .document(let values)? = merged.localRecord else {
            return XCTFail("the merged-away document's values: \(String(describing: merged.localRecord))")
        }
        XCTAssertEqual(values.kind, .driverLicence)
        XCTAssertEqual(values.number, "DL10000002")
        XCTAssertFalse(try a.sync.conflicts().contains { $0.resolution == .merged }, "A merged nothing")
    }

    // MARK: Swift-specific

    func testTaskCancelOfCancellableSyncOfManyChangesThrowsCancellationErrorAndLosesNothing() async throws {
        let a = try device("a")
        let b = try device("b")
        // Three push batches (500 changes at most each): the push is pipelined, so when the
        // cancel comes at the first batch's answers the second is already sent (its answer
        // is applied, nothing is lost) and the third waits for the next sync.
        let count = 1100
        var plates = Set<String>()
        for i in 0 ..< count {
            let digits = String(i % 1000 + 1000).suffix(3) // 000 ... 999
            let letters = i < 1000 ? "ABC" : "ABD"
            plates.insert(try a.store.addVehicle(vehicle: NewVehicle(plate: "\(digits)\(letters)02")).plate.canonical)
        }
        let before = try a.sync.pendingChanges()
        XCTAssertEqual(before, Int64(count))

        // The stream first, then an observer that holds the sync at its first push batch
        // (observers are called in the order they subscribed): the test cancels the task
        // between two batches, deterministically.
        let events = a.sync.events(bufferingNewest: 256)
        let hold = SyncHoldAtFirstPush()
        let holding = keep(a.sync.subscribe(observer: hold))
        let sync = a.sync
        let task = Task { try await sync.cancellableSync() }
        var seen: [SyncEvent] = []
        var iterator = events.makeAsyncIterator()
        while let event = await iterator.next() {
            seen.append(event)
            if case .pushed = event { break }
            if syncIsFinished(event) || syncIsFailed(event) { break }
        }
        task.cancel()
        hold.release.open()
        let result = await task.result
        while let event = await iterator.next() {
            seen.append(event)
            if syncIsFinished(event) || syncIsFailed(event) { break }
        }
        holding.cancel()

        XCTAssertEqual(seen.first, .started, "\(seen)")
        XCTAssertThrowsError(try result.get(), "the task was cancelled between two push batches") { error in
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        XCTAssertEqual(seen.last, .failed(error: .SyncCancelled), "the SDK saw a cancelled sync: \(seen)")
        let pushedBeforeCancel = syncPushedTotal(seen)
        let left = try a.sync.pendingChanges()
        XCTAssertGreaterThan(pushedBeforeCancel, 0, "\(seen)")
        XCTAssertGreaterThan(left, 0, "the cancel came before the last batch: \(seen)")
        XCTAssertEqual(left, before - pushedBeforeCancel, "what was pushed stays pushed, the rest waits")

        // Nothing lost: the next sync pushes the rest, the other device gets every record.
        let next = try await a.sync.sync()
        XCTAssertEqual(next.pushed, left, "\(next)")
        XCTAssertEqual(next.pending, 0, "\(next)")
        XCTAssertEqual(try a.sync.pendingChanges(), 0)
        let onB = try await b.sync.sync()
        XCTAssertEqual(onB.pulled, Int64(count), "\(onB)")
        XCTAssertEqual(Set(try b.store.listVehicles().map(\.plate.canonical)), plates)
    }

    func testCancellableSyncInATaskCancelledBeforeTheCallThrowsCancellationErrorWithoutSyncing() async throws {
        let a = try device("a")
        let observer = SyncRecordingObserver()
        keep(a.sync.subscribe(observer: observer))
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        let sync = a.sync
        let task = Task { () async throws -> SyncSummary in
            try? await Task.sleep(nanoseconds: 30_000_000_000) // returns at once when cancelled
            return try await sync.cancellableSync()
        }
        task.cancel()
        let result = await task.result
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        XCTAssertEqual(observer.events, [], "no sync started")
        XCTAssertEqual(try a.sync.pendingChanges(), 1, "nothing pushed")

        // The backend never heard of it: the requests of the next sync are the first it logs
        // (the server logs a request before answering it, so once the push is logged the
        // policy fetch before it is too).
        let next = try await a.sync.cancellableSync()
        XCTAssertGreaterThanOrEqual(next.pushed, 1, "\(next)")
        let logged = await syncEventually { self.server.logLines(containing: "/v1/sync/push") >= 1 }
        XCTAssertTrue(logged, server.output)
        XCTAssertEqual(server.logLines(containing: "/v1/policy"), 1, server.output)

        // The contrast: the generated sync() does not see Task cancellation and runs to its end.
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "A123BC"))
        let plain = Task { () async throws -> SyncSummary in
            try? await Task.sleep(nanoseconds: 30_000_000_000)
            return try await sync.sync()
        }
        plain.cancel()
        let plainSummary = try await plain.value
        XCTAssertGreaterThanOrEqual(plainSummary.pushed, 1, "\(plainSummary)")
        XCTAssertEqual(try a.sync.pendingChanges(), 0)
    }

    func testAnAuthProviderThrowingANonAuthProviderErrorIsATypedAparkingError() async throws {
        // A buggy provider: its first call throws an arbitrary Swift error, later calls work.
        let buggy = SyncTokenProvider { _, call in
            if call == 0 { throw SyncArbitraryAuthFailure() }
            return syncToken
        }
        let observer = SyncRecordingObserver()
        let a = try device("a", auth: buggy)
        keep(a.sync.subscribe(observer: observer))
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        let result = await syncOutcome { try await a.sync.sync() }
        guard case let .AuthRequired(reason)? = syncAparkingError(result) else {
            return XCTFail("expected a typed AparkingError.AuthRequired, got \(result)")
        }
        XCTAssertEqual(reason, "the auth provider failed unexpectedly")
        XCTAssertFalse(reason.contains("secret-token-123"), "the foreign error's text is not forwarded")
        XCTAssertEqual(observer.events.last, .failed(error: .AuthRequired(reason: reason)))
        XCTAssertEqual(buggy.calls, [false])
        XCTAssertEqual(try a.sync.pendingChanges(), 1, "nothing lost")

        // The client is not poisoned: the next sync asks again and pushes.
        let next = try await a.sync.sync()
        XCTAssertGreaterThanOrEqual(next.pushed, 1, "\(next)")
        XCTAssertEqual(try a.sync.pendingChanges(), 0)
    }

    func testTwoConcurrentSyncTasksOfOneClientOneGetsSyncInProgress() async throws {
        let entered = SyncLatch()
        let release = SyncLatch()
        // Whichever task takes the client's lock first is held at its first token request
        // until the other task has finished: the other must meet the running sync.
        let a = try device("a", auth: SyncTokenProvider.blockingFirstCall(entered: entered, release: release))
        _ = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))
        let sync = a.sync
        let results = await withTaskGroup(of: Result<SyncSummary, Error>.self) { group in
            for _ in 0 ..< 2 {
                group.addTask { await syncOutcome { try await sync.cancellableSync() } }
            }
            var results: [Result<SyncSummary, Error>] = []
            if let firstDone = await group.next() {
                results.append(firstDone)
            }
            release.open()
            for await other in group {
                results.append(other)
            }
            return results
        }
        XCTAssertEqual(results.count, 2)
        XCTAssertTrue(entered.isOpen, "one sync reached its token request")
        XCTAssertEqual(results.first.flatMap(syncAparkingError), .SyncInProgress, "\(results)")
        guard let winner = try? results.last?.get() else {
            return XCTFail("the other sync failed: \(results)")
        }
        XCTAssertGreaterThanOrEqual(winner.pushed, 1, "\(winner)")
        XCTAssertEqual(winner.pending, 0)
        XCTAssertEqual(try a.sync.pendingChanges(), 0)
    }

    // MARK: Damaged records and the sync's quarantine (the twins of tests/store_damaged.rs)

    /// Shuts `old` (made by `device(name)`) down, runs `damage` on its closed store file, and
    /// opens the same file with the same key again, with a new client.
    private func reopen(_ name: String, _ old: SyncDevice, damage: (URL) throws -> Void) throws -> SyncDevice {
        old.sync.stopAutoSync()
        try old.store.shutdown()
        try damage(storeFile("\(name).db"))
        return try device(name)
    }

    /// What the backend holds for the account, by record id: `GET /v1/sync/pull` from the
    /// start, as a new client would ask, read here without the SDK.
    private func backendRecords(file: StaticString = #filePath, line: UInt = #line) async throws -> [String: (version: Int, deleted: Bool)] {
        var request = URLRequest(url: try XCTUnwrap(URL(string: "\(server.baseURL)/v1/sync/pull?limit=1000")))
        request.setValue("Bearer \(syncToken)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200, String(decoding: data, as: UTF8.self), file: file, line: line)
        let page = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any], file: file, line: line)
        XCTAssertEqual(page["has_more"] as? Bool, false, "one page holds the test's records", file: file, line: line)
        var records: [String: (version: Int, deleted: Bool)] = [:]
        for change in try XCTUnwrap(page["changes"] as? [[String: Any]], file: file, line: line) {
            let id = try XCTUnwrap(change["record_id"] as? String, file: file, line: line)
            records[id] = (
                version: try XCTUnwrap(change["version"] as? Int, file: file, line: line),
                deleted: try XCTUnwrap(change["deleted"] as? Bool, file: file, line: line)
            )
        }
        return records
    }

    func testADamagedVehicleIsLeftOutOfTheListsAndTheExportAndDiscardedItComesBackWholeAtTheNextSyncWithoutADelete() async throws {
        var a = try device("a")
        let added = try a.store.addVehicle(vehicle: NewVehicle(plate: "111AAA01", nickname: "Family", make: "Kia", colour: "white"))
        let lada = try a.store.addVehicle(vehicle: NewVehicle(plate: "222BBB02", make: "Lada"))
        _ = try await a.sync.sync()
        // As stored (the times in whole milliseconds), what the backend's copy brings back.
        let kia = try XCTUnwrap(try a.store.getVehicle(id: added.id))
        let synced = try await backendRecords()
        let kiaOnBackend = try XCTUnwrap(synced[kia.id])
        XCTAssertFalse(kiaOnBackend.deleted)
        // One more, never synced: discarding it loses it (the backend never had it).
        let unsynced = try a.store.addVehicle(vehicle: NewVehicle(plate: "999ZZZ09", make: "UAZ"))
        a = try reopen("a", a) { file in
            try flipSealedByte(file, .vehicle, kia.id)
            try flipSealedByte(file, .vehicle, unsynced.id)
        }
        let kiaRef = RecordRef(entity: .vehicle, recordId: kia.id)
        let unsyncedRef = RecordRef(entity: .vehicle, recordId: unsynced.id)

        // Nothing fails: the list has the intact vehicle, damagedRecords() names the others.
        XCTAssertEqual(try a.store.listVehicles(), [lada], "the damaged vehicles are left out")
        XCTAssertEqual(try a.store.damagedRecords(), [kiaRef, unsyncedRef])
        assertThrows(.IntegrityFailure(entity: .vehicle, recordId: kia.id), try a.store.getVehicle(id: kia.id))
        let export = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(a.store.exportUserData().utf8)) as? [String: Any]
        )
        XCTAssertEqual((export["vehicles"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [lada.id], "\(export)")
        XCTAssertEqual(
            export["damaged_records"] as? [[String: String]],
            [["entity": "vehicle", "record_id": kia.id], ["entity": "vehicle", "record_id": unsynced.id]]
        )

        // An intact record is not discarded (removeVehicle deletes it everywhere).
        assertThrows(
            .InvalidInput(field: "record", reason: "is not a damaged record"),
            try a.store.discardDamagedRecord(record: RecordRef(entity: .vehicle, recordId: lada.id))
        )
        try a.store.discardDamagedRecord(record: kiaRef)
        try a.store.discardDamagedRecord(record: unsyncedRef)
        XCTAssertNil(try a.store.getVehicle(id: unsynced.id), "the one never synced is gone at once")
        XCTAssertEqual(try a.store.listVehicles(), [lada])

        let summary = try await a.sync.sync()
        XCTAssertEqual(summary.pending, 0, "\(summary)")
        var back = try XCTUnwrap(try a.store.getVehicle(id: kia.id), "the synced vehicle came back")
        back.updatedAt = kia.updatedAt
        XCTAssertEqual(back, kia, "whole: the same id, values and creation time")
        XCTAssertNil(try a.store.getVehicle(id: unsynced.id), "the one never synced is gone")
        XCTAssertEqual(Set(try a.store.listVehicles().map(\.id)), [kia.id, lada.id])
        XCTAssertEqual(try a.store.damagedRecords(), [])
        XCTAssertEqual(try a.sync.pendingChanges(), 0)

        // No delete reached the backend: the vehicle is there unchanged, the unsynced one never was.
        let onBackend = try await backendRecords()
        let kiaNow = try XCTUnwrap(onBackend[kia.id])
        XCTAssertFalse(kiaNow.deleted, "no delete reached the backend")
        XCTAssertEqual(kiaNow.version, kiaOnBackend.version, "nor any change")
        XCTAssertNil(onBackend[unsynced.id])
        let fresh = try device("fresh")
        _ = try await fresh.sync.sync()
        XCTAssertEqual(try fresh.store.getVehicle(id: kia.id)?.make, "Kia", "a new device gets it too")
        XCTAssertEqual(try fresh.store.listVehicles().count, 2)
    }

    func testADamagedOutboxEntryIsQuarantinedTheSyncGoesOnAndTheVehiclesLocalCopyIsPushedInItsPlace() async throws {
        var a = try device("a")
        let first = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02", make: "Kia"))
        let second = try a.store.addVehicle(vehicle: NewVehicle(plate: "456DEF03", make: "Lada"))
        XCTAssertEqual(try a.sync.pendingChanges(), 2)
        // As stored (the times in whole milliseconds), what another device gets.
        let stored = try a.store.listVehicles()
        XCTAssertEqual(Set(stored.map(\.id)), [first.id, second.id])
        a = try reopen("a", a) { file in try flipSealedByte(file, .outboxEntry, first.id) }
        XCTAssertEqual(try a.sync.quarantined(), [], "set aside by a sync, not by opening the store")

        let before = syncNowMs()
        let summary = try await a.sync.sync()
        XCTAssertEqual(summary.pending, 0, "\(summary)")
        XCTAssertGreaterThanOrEqual(summary.pushed, 2, "the local copy went in place of the lost change: \(summary)")
        let quarantined = try a.sync.quarantined()
        XCTAssertEqual(quarantined.count, 1, "\(quarantined)")
        let entry = try XCTUnwrap(quarantined.first)
        XCTAssertEqual(
            entry,
            QuarantinedEntry(entity: .vehicle, recordId: first.id, reason: .outboxEntryDamaged, requeued: true, atMs: entry.atMs)
        )
        XCTAssertGreaterThanOrEqual(entry.atMs, before - 1000, "atMs is the time it was set aside")
        XCTAssertLessThanOrEqual(entry.atMs, syncNowMs() + 1000)
        XCTAssertEqual(try a.sync.status().quarantined, 1, "the status counts the quarantine")
        XCTAssertEqual(try a.sync.pendingChanges(), 0)

        // Both vehicles reached the backend: a new device gets both, with every value.
        let b = try device("b")
        _ = try await b.sync.sync()
        // (A new device's times are its own: the values and ids are what crossed.)
        let untimed = { (vehicles: [Vehicle]) in
            Set(vehicles.map { v in
                var v = v
                v.createdAt = Date(timeIntervalSince1970: 0)
                v.updatedAt = v.createdAt
                return v
            })
        }
        XCTAssertEqual(untimed(try b.store.listVehicles()), untimed(stored))
        XCTAssertEqual(Set(try a.store.listVehicles()), Set(stored), "and A still has both, unchanged")

        XCTAssertEqual(try a.sync.clearQuarantine(), 1)
        XCTAssertEqual(try a.sync.status().quarantined, 0)
        XCTAssertEqual(try a.sync.quarantined(), [])
        XCTAssertEqual(try a.sync.clearQuarantine(), 0)
    }

    func testADamagedMirrorEntryIsQuarantinedAndAPullRepairsADamagedVehicleFromTheBackendsNewerCopy() async throws {
        var a = try device("a")
        let b = try device("b")
        let mirrored = try a.store.addVehicle(vehicle: NewVehicle(plate: "123ABC02", make: "Kia"))
        let damaged = try a.store.addVehicle(vehicle: NewVehicle(plate: "456DEF03", make: "Lada"))
        try await syncAll(a, b)
        a = try reopen("a", a) { file in
            try flipSealedByte(file, .mirrorEntry, "vehicle:\(mirrored.id)")
            try flipSealedByte(file, .vehicle, damaged.id)
        }
        XCTAssertEqual(try a.store.damagedRecords(), [RecordRef(entity: .vehicle, recordId: damaged.id)])
        _ = try b.store.updateVehicle(id: mirrored.id, patch: VehiclePatch(nickname: "From B"))
        _ = try b.store.updateVehicle(id: damaged.id, patch: VehiclePatch(nickname: "Repaired"))
        _ = try await b.sync.sync()

        let summary = try await a.sync.sync()
        XCTAssertEqual(summary.rejected, 0, "nothing skipped: \(summary)")
        let quarantined = try a.sync.quarantined()
        XCTAssertEqual(quarantined.map(\.recordId), [mirrored.id], "\(quarantined)")
        XCTAssertEqual(quarantined.first?.reason, .mirrorEntryDamaged)
        XCTAssertEqual(try a.sync.status().quarantined, 1)
        XCTAssertEqual(try a.store.getVehicle(id: mirrored.id)?.nickname, "From B", "the record still converges")
        XCTAssertEqual(try a.store.getVehicle(id: damaged.id)?.nickname, "Repaired", "the pull repaired the damaged vehicle")
        XCTAssertEqual(try a.store.getVehicle(id: damaged.id)?.make, "Lada")
        XCTAssertEqual(try a.store.damagedRecords(), [])
        XCTAssertEqual(try a.store.listVehicles().count, 2)

        // A's own edit still goes out, on a repaired base.
        _ = try a.store.updateVehicle(id: mirrored.id, patch: VehiclePatch(colour: "white"))
        try await syncAll(a, b)
        XCTAssertEqual(try b.store.getVehicle(id: mirrored.id)?.colour, "white")
        XCTAssertEqual(try b.store.getVehicle(id: mirrored.id)?.nickname, "From B")
    }
}

/// The outcome of an async throwing call, as a `Result`.
private func syncOutcome<T>(_ body: () async throws -> T) async -> Result<T, Error> {
    do {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}
#endif
