// The Swift twin of examples/kotlin and examples/quickstart.rs: the quickstart's flow from
// Swift, against the reference backend on 127.0.0.1 (started here as a child process).
//
//   bash ios/generate-bindings.sh && swift run --package-path ios aparking-sample
//
// (after `cargo build -p aparking-core -p uniffi-bindgen -p aparking-server`; tests/swift.sh
// runs it in CI). Everything lives in a temporary directory that is removed at the end.
import AparkingCore
import AparkingReferenceServer
import Foundation

/// The key-encryption key (KEK) of the store: 32 random bytes held in memory for the life of
/// the process. An iOS app keeps it in the Keychain instead
/// (kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly) and throws
/// `KeyProviderError.Unavailable(reason:)` when the item cannot be read; see ios/README.md.
final class InMemoryKeyProvider: KeyProvider {
    private let key: Data

    init() {
        var generator = SystemRandomNumberGenerator()
        key = Data((0 ..< 32).map { _ in UInt8.random(in: 0 ... 255, using: &generator) })
    }

    /// Called by Rust when the store is opened and when a data key is wrapped.
    func keyEncryptionKey() throws -> Data {
        key
    }
}

/// The app's session: the bearer token of the user's account (the reference backend was
/// started with `--token sample-session-token:acct-sample`).
final class Session: AuthProvider {
    func bearerToken(refresh _: Bool) throws -> String {
        "sample-session-token"
    }
}

/// The policy manifest an app would bundle (or fetch from `GET /v1/policy`).
let policyJSON = """
{"version": 1, "last_updated": "2026-01-15", "url": "https://aparking.kz/privacy",
 "text_sha256": "2b1f6a0e8c1d4f5b9a7e3c2d1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f21",
 "purposes": ["personalization", "communication", "service_improvement", "statistics",
              "connection_diagnostics"]}
"""

nonisolated(unsafe) var stepNumber = 0
func step(_ text: String) {
    stepNumber += 1
    print(String(format: "%2d. ", stepNumber) + text)
}

func run(in tmp: URL) async throws {
    let server = try ReferenceServer(
        dataDirectory: tmp.appendingPathComponent("server-data"),
        arguments: ["--token", "sample-session-token:acct-sample"]
    )
    defer { server.stop() }
    step("reference backend started at \(server.baseURL)")

    let store = try Store.open(path: tmp.appendingPathComponent("phone.db").path, keyProvider: InMemoryKeyProvider())
    defer { try? store.shutdown() }
    step("opened a new encrypted store in a temporary directory (key from a Swift KeyProvider)")

    // --- The encrypted store: profile and vehicles -------------------------------------------
    let profile = try store.updateProfile(patch: ProfilePatch(
        phone: "8 (701) 234-56-78", fullName: "Айгерим Сапарова", preferredLanguage: .kk
    ))
    step("profile saved: phone typed as '8 (701) 234-56-78' stored as \(profile.phone), language \(profile.preferredLanguage.map { "\($0)" } ?? "-")")

    let car = try store.addVehicle(vehicle: NewVehicle(plate: "123 авс 02", nickname: "Семейная", make: "Toyota"))
    step("vehicle typed in Cyrillic '123 авс 02' saved as \(car.plate.canonical) (display '\(car.plate.display)', region \(car.plate.region))")

    let found = try store.findVehicleByPlate(plate: "123ABC02")
    step("found by the Latin plate '123ABC02': \(found?.nickname ?? "-") \(found?.make ?? "-") (same id: \(found?.id == car.id))")

    do {
        _ = try store.addVehicle(vehicle: NewVehicle(plate: "123-АВС-02"))
        fatalError("a duplicate plate was accepted")
    } catch let error as AparkingError {
        guard case .AlreadyExists = error else { throw error }
        step("adding '123-АВС-02' again: AparkingError.AlreadyExists, \"\(error.localizedDescription)\"")
    }

    // --- Consent ---------------------------------------------------------------------------------
    let consent = Consent(store: store)
    let update = try consent.publishPolicyJson(json: policyJSON)
    step("policy v\(consent.policyInForce()?.version ?? 0) published from JSON: \(update); statistics is \(consent.status(purpose: .statistics))")
    let receipt = try consent.acceptPolicy(
        version: 1, granted: [.serviceImprovement, .connectionDiagnostics],
        context: ConsentContext(appVersion: "1.0.0 (sample)", locale: "ru-KZ", collectionMethod: .onboardingScreen)
    )
    step("policy v\(receipt.policyVersion) accepted: granted \(receipt.purposesGranted.map { "\($0)" }.joined(separator: ", ")), denied \(receipt.purposesDenied.count) purposes")

    // --- Telemetry through the reference backend -------------------------------------------------
    let telemetry = try Telemetry(store: store, config: TelemetryConfig(endpoint: server.baseURL))
    defer { telemetry.shutdown() }
    telemetry.recordAll(events: [
        .sessionStart,
        .screenView(screen: "parking_map"),
        .networkQuality(networkType: .cellular4g, signalDbm: -97, rttMs: 180, throughputKbps: 2500, failedRequests: 1),
        // Statistics was not granted: dropped.
        .coarseLocation(latitude: 43.2389, longitude: 76.8897),
        .sessionEnd(durationMs: 61000),
    ])
    guard telemetry.flush(timeoutMs: 5000) else { fatalError("flush timed out") }
    let counters = try telemetry.counters()
    step("5 events recorded: \(try telemetry.pendingEvents()) stored, \(counters.droppedNoConsent.values.reduce(0, +)) dropped (statistics not granted)")
    let upload = try await telemetry.upload()
    step("upload(): \(upload.eventsSent) events in \(upload.batchesSent) batch(es), complete=\(upload.complete); pending now \(try telemetry.pendingEvents())")

    // --- Sync with a second device of the same account ---------------------------------------------
    // The app trusts the key its backend signs the policy manifest with (a constant in a real
    // app; the reference backend logs a new one at each start): each sync then fetches the
    // backend's policy, adopted only when that signature verifies.
    let config = SyncConfig(endpoint: server.baseURL, policyPublicKeys: [server.policyPublicKey])
    let phone = try SyncClient(store: store, config: config, authProvider: Session())
    let events = phone.events()
    let pushed = try await phone.cancellableSync()
    step("phone synced: pushed \(pushed.pushed), pulled \(pushed.pulled), pending \(pushed.pending)")
    var seen: [String] = []
    for await event in events {
        switch event {
        case .started: seen.append("started")
        case .pushed: seen.append("pushed")
        case .pulled: seen.append("pulled")
        // The backend's past changed (restored or wiped): everything was pulled again and
        // what it lacked is pushed again in the same sync. Not expected on a fresh backend.
        case let .reconciled(reason, repushed): seen.append("reconciled (\(reason), \(repushed) re-pushed)")
        // At the end of every sync, just before .finished or .failed: what a sync badge shows.
        case let .statusChanged(status): seen.append("status (\(status.pendingChanges) pending)")
        case .finished: seen.append("finished")
        case .failed: seen.append("failed")
        }
        if case .finished = event { break }
        if case .failed = event { break }
    }
    step("sync events seen through AsyncStream: \(seen.joined(separator: ", "))")
    let status = try phone.status()
    step("phone.status(): \(status.pendingChanges) pending, \(status.quarantined) set aside, \(try store.damagedRecords().count) damaged record(s), last success \(status.lastSuccessAtMs.map { "at \($0) ms" } ?? "never"), last error \(status.lastError.map { $0.message } ?? "none")")

    let tabletStore = try Store.open(path: tmp.appendingPathComponent("tablet.db").path, keyProvider: InMemoryKeyProvider())
    defer { try? tabletStore.shutdown() }
    let tablet = try SyncClient(store: tabletStore, config: config, authProvider: Session())
    let pulled = try await tablet.cancellableSync()
    let onTablet = try tabletStore.findVehicleByPlate(plate: "123ABC02")
    step("tablet synced: pulled \(pulled.pulled); it now has \(try tabletStore.listVehicles().count) vehicle(s), '\(onTablet?.plate.display ?? "-")' with the same id: \(onTablet?.id == car.id)")

    _ = try tabletStore.updateVehicle(id: car.id, patch: VehiclePatch(colour: "белый"))
    _ = try store.updateVehicle(id: car.id, patch: VehiclePatch(colour: "серый"))
    _ = try await tablet.cancellableSync()
    let settled = try await phone.cancellableSync()
    let conflicts = try phone.conflicts()
    step("the colour edited on both devices: \(settled.conflicts) conflict(s), resolved \(conflicts.first.map { "\($0.resolution)" } ?? "-"); colour now '\(try store.getVehicle(id: car.id)?.colour ?? "-")'")
}

print("aparking-core \(sdkVersion()): Swift sample")
let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("aparking-sample-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
do {
    try await run(in: tmp)
    try? FileManager.default.removeItem(at: tmp)
    print("done")
} catch {
    try? FileManager.default.removeItem(at: tmp)
    print("sample failed: \(error.localizedDescription)")
    exit(1)
}
