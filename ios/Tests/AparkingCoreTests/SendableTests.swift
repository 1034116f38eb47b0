import AparkingCore
import XCTest

/// The objects an app holds across tasks are `Sendable`, and so are the values they return:
/// checked by the compiler (Swift 6 mode), so this file does not build if one of them stops
/// being `Sendable`; the test then moves each object into a detached task and uses it there.
final class SendableTests: StoreTestCase {
    private func requireSendable<T: Sendable>(_: T.Type) {}

    func testStoreConsentTelemetrySyncClientAndSubscriptionAreSendableAndWorkFromADetachedTask() async throws {
        requireSendable(Store.self)
        requireSendable(Consent.self)
        requireSendable(Telemetry.self)
        requireSendable(SyncClient.self)
        requireSendable(Subscription.self)
        requireSendable(Vehicle.self)
        requireSendable(SyncSummary.self)
        requireSendable(ConsentState.self)
        requireSendable(AparkingError.self)

        let store = try openStore(storeFile(), CountingKeyProvider.withSeed(7))
        defer { try? store.shutdown() }
        let consent = Consent(store: store)
        let telemetry = try Telemetry(store: store, config: fastConfig())
        defer { telemetry.shutdown() }
        let plate = try await Task.detached {
            _ = try consent.publishPolicy(manifest: policy(1))
            telemetry.record(event: .sessionStart)
            return try store.addVehicle(vehicle: NewVehicle(plate: "777 KZA 01")).plate.canonical
        }.value
        XCTAssertEqual(plate, "777KZA01")
        XCTAssertEqual(consent.policyInForce()?.version, 1, "the change made in the detached task is seen here")
        XCTAssertEqual(try store.listVehicles().count, 1)
    }
}
