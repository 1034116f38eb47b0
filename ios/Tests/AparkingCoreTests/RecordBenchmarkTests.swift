import AparkingCore
import Foundation
import XCTest

/// Micro-benchmark of the generated `Telemetry.record(event:)` as a Swift app calls it (uniffi
/// lowering of the event into a RustBuffer + the C call + Rust), the twin of
/// RecordBenchmark.kt. Skipped unless `APARKING_BENCH=1`, because timings belong in benchmarks,
/// not tests; run it alone against the release library:
///
///     cargo build --release -p aparking-core
///     APARKING_BENCH=1 APARKING_LIB_DIR=$PWD/target/release \
///         swift test --package-path ios -c release --filter RecordBenchmarkTests
///
/// It prints percentiles and asserts only that the calls did their work (allowed events stored,
/// denied ones counted), so it never measures a no-op by accident.
final class RecordBenchmarkTests: StoreTestCase {
    private let warmup = 50000
    private let measured = 200_000
    /// Calls between flushes; the flush is outside the timed region.
    private let chunk = 1000

    /// Calls `call` warmup + measured times on `items` (cycled), timing each measured call
    /// alone; runs `betweenChunks` (untimed) every `chunk` calls. Returns the timings in ns.
    private func measure<T>(_ items: [T], betweenChunks: () -> Void, _ call: (T) -> Void) -> [UInt64] {
        var timings = [UInt64](repeating: 0, count: measured)
        var start = 0
        while start < warmup + measured {
            for i in 0 ..< chunk {
                let item = items[(start + i) % items.count]
                let t0 = DispatchTime.now().uptimeNanoseconds
                call(item)
                let t1 = DispatchTime.now().uptimeNanoseconds
                if start >= warmup { timings[start - warmup + i] = t1 - t0 }
            }
            betweenChunks()
            start += chunk
        }
        return timings
    }

    private func report(_ name: String, _ nanos: [UInt64]) {
        let sorted = nanos.sorted()
        func pct(_ p: Double) -> String {
            String(format: "%.2f", Double(sorted[Int(p / 100 * Double(sorted.count - 1))]) / 1000)
        }
        print("swift \(name): p50 \(pct(50)) us, p99 \(pct(99)) us, p99.9 \(pct(99.9)) us "
            + "(n=\(sorted.count), max \(String(format: "%.1f", Double(sorted.last ?? 0) / 1000)) us)")
    }

    func testRecordFromSwiftAllowedAndDeniedPurpose() throws {
        guard ProcessInfo.processInfo.environment["APARKING_BENCH"] == "1" else {
            throw XCTSkip("benchmark: set APARKING_BENCH=1 to run it")
        }
        let store = try openStore(storeFile(), CountingKeyProvider.withSeed(60))
        defer { try? store.shutdown() }
        let consent = Consent(store: store)
        _ = try consent.publishPolicy(manifest: policy(1))
        // Service improvement (screen views) allowed; connection diagnostics denied.
        _ = try consent.acceptPolicy(version: 1, granted: [.serviceImprovement], context: consentContext())
        var config = fastConfig()
        config.maxQueueEvents = 2_000_000
        config.maxQueueBytes = 1024 * 1024 * 1024
        let telemetry = try Telemetry(store: store, config: config)
        defer { telemetry.shutdown() }
        let calls = Int64(warmup + measured)

        let allowed = (0 ..< 50).map { TelemetryEvent.screenView(screen: "screen_\($0)") }
        report("record/allowed", measure(allowed, betweenChunks: { XCTAssertTrue(telemetry.flush(timeoutMs: 30000)) }) {
            telemetry.record(event: $0)
        })
        let afterAllowed = try telemetry.counters()
        XCTAssertEqual(afterAllowed.stored, calls, "every allowed event was stored")
        XCTAssertEqual(try telemetry.pendingEvents(purpose: .serviceImprovement), calls)
        XCTAssertEqual(afterAllowed.droppedBufferFull, 0)

        let denied = (0 ..< 50).map { networkSample(-60 - Int32($0)) }
        report("record/denied", measure(denied, betweenChunks: {}) { telemetry.record(event: $0) })
        let afterDenied = try telemetry.counters()
        XCTAssertEqual(total(afterDenied.droppedNoConsent), calls, "every denied event was dropped")
        XCTAssertEqual(afterDenied.stored, afterAllowed.stored, "no denied event was stored")

        // The floor of a uniffi call with an enum argument: one RustBuffer lowering, one
        // atomic load in Rust.
        var allowedCount = 0
        report("baseline/consent.isAllowed", measure([Purpose.serviceImprovement, .connectionDiagnostics], betweenChunks: {}) {
            if consent.isAllowed(purpose: $0) { allowedCount += 1 }
        })
        XCTAssertEqual(allowedCount, (warmup + measured) / 2)
    }
}
