// `try await telemetry.upload()` against the real reference backend (the twin of
// TelemetryUploadTest.kt): `aparking-server --bind 127.0.0.1:0 --data-dir <tmp>` as a child
// process, one per test, started by `ReferenceServer`. iOS cannot start processes, so these
// tests exist on Linux and macOS only.
#if os(Linux) || os(macOS)
import AparkingCore
import AparkingReferenceServer
import Foundation
import XCTest

final class TelemetryUploadTests: StoreTestCase {
    private var server: ReferenceServer!

    private static let eventsAccepted = "POST /v1/telemetry/events 200"
    private static let deletionsAccepted = "POST /v1/telemetry/deletion-requests 200"

    override func setUpWithError() throws {
        try super.setUpWithError()
        server = try ReferenceServer(dataDirectory: dir.appendingPathComponent("server-data"))
    }

    override func tearDownWithError() throws {
        server?.stop()
        server = nil
        try super.tearDownWithError()
    }

    // MARK: - Helpers

    /// A store with policy v3 accepted for every purpose and a pipeline posting to the server;
    /// everything is shut down after `body`.
    private func withConsentAndTelemetry(_ body: (Consent, Telemetry) async throws -> Void) async throws {
        let store = try openStore(storeFile(), CountingKeyProvider.withSeed(50))
        defer { XCTAssertNoThrow(try store.shutdown()) }
        let consent = Consent(store: store)
        _ = try consent.publishPolicy(manifest: policy(3))
        _ = try consent.acceptPolicy(version: 3, granted: allPurposes, context: consentContext())
        let telemetry = try Telemetry(store: store, config: fastConfig(server.baseURL))
        defer { telemetry.shutdown() }
        try await body(consent, telemetry)
    }

    private func withTelemetry(_ body: (Telemetry) async throws -> Void) async throws {
        try await withConsentAndTelemetry { _, telemetry in try await body(telemetry) }
    }

    /// Records `n` screen views, stores them and checks they are all pending.
    private func recordScreens(_ telemetry: Telemetry, _ n: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        for i in 0 ..< n {
            telemetry.record(event: .screenView(screen: "screen_\(i % 50)"))
        }
        XCTAssertTrue(telemetry.flush(timeoutMs: 10000), "flush timed out", file: file, line: line)
        XCTAssertEqual(try telemetry.pendingEvents(purpose: nil), Int64(n), file: file, line: line)
    }

    private func assertUploadedAll(
        _ summary: UploadSummary, events: Int64, batches: Int64, file: StaticString = #filePath, line: UInt = #line
    ) {
        let text = "\(summary)" // counts only
        XCTAssertEqual(summary.batchesSent, batches, text, file: file, line: line)
        XCTAssertEqual(summary.eventsSent, events, text, file: file, line: line)
        XCTAssertEqual(summary.duplicates, 0, text, file: file, line: line)
        XCTAssertEqual(summary.eventsRejected, 0, text, file: file, line: line)
        XCTAssertEqual(summary.retries, 0, text, file: file, line: line)
        XCTAssertTrue(summary.complete, text, file: file, line: line)
        XCTAssertNil(summary.retryAfterMs, text, file: file, line: line)
    }

    /// Waits (at most 10 s) until at least `count` server log lines contain `text`.
    private func awaitLogLines(_ text: String, _ count: Int, file: StaticString = #filePath, line: UInt = #line) async throws {
        let deadline = Date().addingTimeInterval(10)
        while server.logLines(containing: text) < count {
            if Date() > deadline {
                XCTFail(
                    "expected \(count) log lines with '\(text)', got \(server.logLines(containing: text)):\n\(server.output)",
                    file: file, line: line
                )
                return
            }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }

    // MARK: - Tests

    func test1234EventsGoUpIn3BatchesFromAnAsyncTestThenNothingIsLeft() async throws {
        try await withConsentAndTelemetry { consent, t in
            try recordScreens(t, 1234)

            let summary = try await t.upload()
            assertUploadedAll(summary, events: 1234, batches: 3)
            XCTAssertEqual(summary.deletionRequestsSent, 0)
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 0)
            XCTAssertEqual(try t.counters().uploaded, 1234)
            // The backend logged three accepted event batches.
            try await awaitLogLines(Self.eventsAccepted, 3)

            // A second upload with nothing pending: complete, nothing sent.
            let again = try await t.upload()
            assertUploadedAll(again, events: 0, batches: 0)
            XCTAssertEqual(again.deletionRequestsSent, 0)
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 0)

            // Swift has no view of when the server's stderr reaches us, so put a marker after
            // the empty upload: a deletion request (a withdrawal with nothing to purge). Once
            // its line is in, any events request of the empty upload would be logged too.
            _ = try consent.withdraw(purposes: [.statistics], context: consentContext(.settingsScreen))
            let marker = try await t.upload()
            XCTAssertEqual(marker.deletionRequestsSent, 1, "\(marker)")
            assertUploadedAll(marker, events: 0, batches: 0)
            try await awaitLogLines(Self.deletionsAccepted, 1)
            XCTAssertEqual(server.logLines(containing: Self.eventsAccepted), 3, "no request for an empty queue")
            XCTAssertEqual(try t.counters().uploaded, 1234)
        }
    }

    func testWithTheBackendGoneUploadReturnsWhatItDidAndWhenToRetryAndKeepsEveryEvent() async throws {
        try await withTelemetry { t in
            try recordScreens(t, 30)
            server.stop() // nothing listens on its port any more: every attempt is refused

            // A network failure is an outcome of upload(), not a thrown error: the background
            // task reads `complete` and `retryAfterMs` and reschedules (sync() throws .Network).
            let summary = try await t.upload()
            let text = "\(summary)"
            XCTAssertFalse(summary.complete, text)
            let retryAfter = try XCTUnwrap(summary.retryAfterMs, text)
            XCTAssertGreaterThanOrEqual(retryAfter, 0, text)
            XCTAssertEqual(summary.batchesSent, 0, text)
            XCTAssertEqual(summary.eventsSent, 0, text)
            XCTAssertEqual(summary.retries, 2, "three attempts (fastConfig), two of them retries: \(text)")
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 30, "nothing lost")
            XCTAssertEqual(try t.counters().uploaded, 0)
        }
    }

    func testUploadCalledFromTaskDetached() async throws {
        try await withTelemetry { t in
            try recordScreens(t, 1234)

            let (summary, onMainThread) = try await Task.detached { () async throws -> (UploadSummary, Bool) in
                (try await t.upload(), telemetryUploadTestsIsMainThread())
            }.value
            XCTAssertFalse(onMainThread, "runs on the cooperative pool, not the main thread")
            assertUploadedAll(summary, events: 1234, batches: 3)
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 0)
            try await awaitLogLines(Self.eventsAccepted, 3)

            let again = try await Task.detached(priority: .background) { try await t.upload() }.value
            assertUploadedAll(again, events: 0, batches: 0)
            XCTAssertEqual(try t.counters().uploaded, 1234)
        }
    }

    func testAWithdrawalsDeletionRequestGoesUpBeforeTheRemainingEvents() async throws {
        try await withConsentAndTelemetry { consent, t in
            try recordScreens(t, 10)
            t.record(event: networkSample(-90))
            XCTAssertTrue(t.flush(timeoutMs: 5000))
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 11)
            XCTAssertEqual(try t.pendingDeletionRequests(), 0)
            _ = try consent.withdraw(purposes: [.connectionDiagnostics], context: consentContext(.settingsScreen))
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 10, "the network sample is purged")
            XCTAssertEqual(try t.pendingDeletionRequests(), 1)

            let summary = try await t.upload()
            XCTAssertEqual(summary.deletionRequestsSent, 1, "\(summary)")
            assertUploadedAll(summary, events: 10, batches: 1)
            XCTAssertEqual(try t.pendingDeletionRequests(), 0)
            try await awaitLogLines(Self.eventsAccepted, 1)
            let log = server.output.split(separator: "\n", omittingEmptySubsequences: false)
            let deletion = log.firstIndex { $0.contains(Self.deletionsAccepted) }
            let events = log.firstIndex { $0.contains(Self.eventsAccepted) }
            XCTAssertNotNil(deletion, "a deletion request was logged:\n\(server.output)")
            if let deletion, let events {
                XCTAssertLessThan(deletion, events, "deletion request first:\n\(server.output)")
            }
        }
    }
}

/// Whether the caller runs on the main thread (a synchronous function, so an async context
/// may call it).
private func telemetryUploadTestsIsMainThread() -> Bool {
    Thread.isMainThread
}
#endif
