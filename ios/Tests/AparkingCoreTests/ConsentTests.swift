import AparkingCore
import Foundation
import XCTest

/// Consent gating from Swift (the twin of ConsentTest.kt, which mirrors tests/consent_gating.rs):
/// nothing is collected before acceptance, only granted purposes are stored, a new policy
/// version stops collection, withdrawal purges, observers (a Swift `ConsentObserver` and the
/// `stateUpdates()` AsyncStream) hear every change, the PII firewall drops the user's own data.
/// No upload happens here: the endpoint is `nowhere`.
final class ConsentTests: StoreTestCase {
    // MARK: - Helpers

    /// Opens a store, a `Consent` and a `Telemetry` on it, runs `body`, shuts the pipeline and
    /// the store down.
    private func withPipeline(
        config: TelemetryConfig = fastConfig(),
        prepare: (Store) throws -> Void = { _ in },
        _ body: (Store, Consent, Telemetry) throws -> Void
    ) throws {
        let store = try openStore(storeFile(), CountingKeyProvider.withSeed(40))
        defer { XCTAssertNoThrow(try store.shutdown()) }
        try prepare(store)
        let consent = Consent(store: store)
        let telemetry = try Telemetry(store: store, config: config)
        defer { telemetry.shutdown() }
        try body(store, consent, telemetry)
    }

    /// The same with a `Consent` that records the subscriptions `stateUpdates()` makes and
    /// counts what Rust delivers to their observers.
    private func withTrackedConsent(_ body: (ConsentTestsTrackingConsent, Telemetry) async throws -> Void) async throws {
        let store = try openStore(storeFile(), CountingKeyProvider.withSeed(40))
        defer { XCTAssertNoThrow(try store.shutdown()) }
        let consent = ConsentTestsTrackingConsent(store: store)
        let telemetry = try Telemetry(store: store, config: fastConfig())
        defer { telemetry.shutdown() }
        try await body(consent, telemetry)
    }

    private func flushed(_ telemetry: Telemetry, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(telemetry.flush(timeoutMs: 5000), "flush timed out", file: file, line: line)
    }

    private func recordEach(_ telemetry: Telemetry, _ events: [TelemetryEvent]) {
        for event in events {
            telemetry.record(event: event)
        }
    }

    // MARK: - Gating

    func testNothingIsStoredBeforeAcceptanceThenOnlyTheGrantedPurpose() throws {
        try withPipeline { _, consent, t in
            XCTAssertEqual(consent.status(purpose: .statistics), .noPolicy)

            // No policy, then a policy not accepted: nothing stored, whatever the app records.
            recordEach(t, oneOfEach())
            XCTAssertEqual(try consent.publishPolicy(manifest: policy(3)), .adopted)
            XCTAssertEqual(consent.status(purpose: .statistics), .policyNotAccepted(currentVersion: 3))
            recordEach(t, oneOfEach())
            flushed(t)
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 0)
            let counters = try t.counters()
            XCTAssertEqual(counters.stored, 0)
            XCTAssertEqual(total(counters.droppedNoConsent), Int64(2 * oneOfEach().count))

            // Accept v3 with connection diagnostics only: only network-quality events are kept.
            let receipt = try consent.acceptPolicy(version: 3, granted: [.connectionDiagnostics], context: consentContext())
            XCTAssertEqual(receipt.purposesGranted, [.connectionDiagnostics])
            XCTAssertEqual(receipt.purposesDenied.count, 4)
            recordEach(t, oneOfEach())
            for i in 0 ..< 3 {
                t.record(event: networkSample(-90 - Int32(i)))
            }
            flushed(t)
            XCTAssertEqual(try t.pendingEvents(purpose: .connectionDiagnostics), 4)
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 4, "only connection diagnostics stored")
            XCTAssertEqual(try t.pendingEvents(purpose: .serviceImprovement), 0)
            XCTAssertEqual(try t.counters().stored, 4)
            XCTAssertEqual(consent.status(purpose: .statistics), .notGranted)
            XCTAssertEqual(consent.status(purpose: .connectionDiagnostics), .allowed)
            XCTAssertTrue(consent.isAllowed(purpose: .connectionDiagnostics))
            XCTAssertFalse(consent.isAllowed(purpose: .serviceImprovement))
        }
    }

    func testANewPolicyVersionStopsCollectionAtOnceUntilItIsAccepted() throws {
        try withPipeline { _, consent, t in
            _ = try consent.publishPolicy(manifest: policy(3))
            _ = try consent.acceptPolicy(version: 3, granted: [.connectionDiagnostics], context: consentContext())
            t.record(event: networkSample(-90))
            flushed(t)
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 1)
            let idsBefore = try t.installationIds()

            XCTAssertEqual(try consent.publishPolicy(manifest: policy(4)), .adopted)
            let status = consent.status(purpose: .connectionDiagnostics)
            XCTAssertEqual(status, .newPolicyNotAccepted(acceptedVersion: 3, currentVersion: 4))
            // The associated values by name, as an app's `switch` would read them.
            if case let .newPolicyNotAccepted(acceptedVersion, currentVersion) = status {
                XCTAssertEqual(acceptedVersion, 3)
                XCTAssertEqual(currentVersion, 4)
            } else {
                XCTFail("expected .newPolicyNotAccepted, got \(status)")
            }
            XCTAssertFalse(consent.isAllowed(purpose: .connectionDiagnostics))
            XCTAssertEqual(consent.state().allowed, [])
            XCTAssertEqual(consent.policyInForce()?.version, 4)
            // Pending v3 data of the purpose is purged, a deletion request queued, the id replaced.
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 0)
            XCTAssertEqual(try t.pendingDeletionRequests(), 1)
            XCTAssertNotEqual(try t.installationIds().last, idsBefore.last, "installation id replaced")

            for _ in 0 ..< 5 {
                t.record(event: networkSample(-80))
            }
            flushed(t)
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 0, "collection stopped at once")

            // Older versions are ignored, the same one is already in force.
            XCTAssertEqual(try consent.publishPolicy(manifest: policy(2)), .outdated)
            XCTAssertEqual(try consent.publishPolicy(manifest: policy(4)), .alreadyInForce)
            XCTAssertEqual(consent.policyInForce()?.version, 4)

            // Accepting v4 resumes collection.
            let receipt = try consent.acceptPolicy(
                version: 4, granted: [.connectionDiagnostics], context: consentContext(.policyUpdatePrompt)
            )
            XCTAssertEqual(receipt.policyVersion, 4)
            XCTAssertEqual(receipt.collectionMethod, .policyUpdatePrompt)
            XCTAssertEqual(consent.status(purpose: .connectionDiagnostics), .allowed)
            t.record(event: networkSample(-70))
            flushed(t)
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 1, "resumed after v4 was accepted")
        }
    }

    func testAcceptingAVersionOtherThanTheOneInForceThrowsPolicyVersionMismatch() throws {
        try withPipeline { _, consent, t in
            assertThrows(.NoPolicy, try consent.acceptPolicy(version: 1, granted: [], context: consentContext()))
            _ = try consent.publishPolicy(manifest: policy(3))
            _ = try consent.acceptPolicy(version: 3, granted: allPurposes, context: consentContext())
            _ = try consent.publishPolicy(manifest: policy(4))

            for wrong: Int32 in [3, 5] {
                do {
                    _ = try consent.acceptPolicy(version: wrong, granted: [.statistics], context: consentContext())
                    XCTFail("accepting v\(wrong) while v4 is in force must throw")
                } catch let AparkingError.PolicyVersionMismatch(accepted, inForce) {
                    XCTAssertEqual(accepted, wrong)
                    XCTAssertEqual(inForce, 4)
                } catch {
                    XCTFail("expected PolicyVersionMismatch, got \(error)")
                }
            }
            // Nothing changed: still waiting for v4, nothing collected, no receipt added.
            XCTAssertEqual(consent.status(purpose: .statistics), .newPolicyNotAccepted(acceptedVersion: 3, currentVersion: 4))
            XCTAssertEqual(try consent.receipts().count, 1)
            t.record(event: .sessionStart)
            flushed(t)
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 0)

            let invalid = assertInvalidInput(
                try consent.acceptPolicy(
                    version: 4, granted: [],
                    context: ConsentContext(appVersion: "4.2.0", locale: "kk KZ!", collectionMethod: .settingsScreen)
                )
            )
            XCTAssertEqual(invalid?.field, "context.locale")
            XCTAssertEqual(try consent.receipts().count, 1, "an invalid context adds no receipt")

            // A field names the Swift property: camelCase for a struct, the JSON key for JSON.
            var bad = policy(5)
            bad.lastUpdated = "2026-02-30"
            XCTAssertEqual(assertInvalidInput(try consent.publishPolicy(manifest: bad))?.field, "policy.lastUpdated")
            let json = """
            {"version": 5, "last_updated": "2026-02-30", "url": "https://aparking.kz/privacy",
             "text_sha256": "\(String(repeating: "ab", count: 32))", "purposes": ["statistics"]}
            """
            XCTAssertEqual(assertInvalidInput(try parsePolicyManifest(json: json))?.field, "policy.last_updated")
        }
    }

    func testWithdrawingAPurposePurgesItsPendingEventsAndQueuesADeletionRequest() throws {
        try withPipeline { _, consent, t in
            _ = try consent.publishPolicy(manifest: policy(3))
            _ = try consent.acceptPolicy(
                version: 3, granted: [.serviceImprovement, .connectionDiagnostics], context: consentContext()
            )
            let deletionsBefore = try t.pendingDeletionRequests()
            for i in 0 ..< 6 {
                t.record(event: .screenView(screen: "screen_\(i)"))
                t.record(event: networkSample(-90 - Int32(i)))
            }
            flushed(t)
            XCTAssertEqual(try t.pendingEvents(purpose: .serviceImprovement), 6)
            XCTAssertEqual(try t.pendingEvents(purpose: .connectionDiagnostics), 6)
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 12)
            let idsBefore = try t.installationIds()

            let receipt = try consent.withdraw(purposes: [.serviceImprovement], context: consentContext(.settingsScreen))
            XCTAssertEqual(receipt.action, .withdraw)
            XCTAssertEqual(receipt.purposesGranted, [.connectionDiagnostics])

            XCTAssertEqual(try t.pendingEvents(purpose: .serviceImprovement), 0, "purged at once")
            XCTAssertEqual(try t.pendingEvents(purpose: .connectionDiagnostics), 6, "other purposes kept")
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 6)
            XCTAssertEqual(try t.pendingDeletionRequests(), deletionsBefore + 1)
            XCTAssertEqual(try t.counters().purged, 6)
            let idsAfter = try t.installationIds()
            XCTAssertGreaterThan(idsAfter.count, idsBefore.count, "a fresh installation id")
            XCTAssertFalse(idsBefore.contains(try XCTUnwrap(idsAfter.last)), "a fresh installation id")
            XCTAssertEqual(consent.status(purpose: .serviceImprovement), .notGranted)

            // The withdrawn purpose is no longer collected; the other one still is.
            t.record(event: .screenView(screen: "after_withdrawal"))
            t.record(event: networkSample(-60))
            flushed(t)
            XCTAssertEqual(try t.pendingEvents(purpose: .serviceImprovement), 0)
            XCTAssertEqual(try t.pendingEvents(purpose: .connectionDiagnostics), 7)
        }
    }

    func testPendingEventsWithoutAnArgumentCountsEveryPurpose() throws {
        try withPipeline { _, consent, t in
            _ = try consent.publishPolicy(manifest: policy(1))
            _ = try consent.acceptPolicy(version: 1, granted: allPurposes, context: consentContext())
            recordEach(t, oneOfEach())
            flushed(t)
            XCTAssertEqual(try t.pendingEvents(), try t.pendingEvents(purpose: nil))
            XCTAssertEqual(try t.pendingEvents(), Int64(oneOfEach().count))
        }
    }

    // MARK: - Observers

    func testASwiftConsentObserverHearsEveryChange() throws {
        try withPipeline { _, consent, _ in
            let observer = ConsentTestsRecordingObserver()
            let subscription = consent.subscribe(observer: observer)

            _ = try consent.publishPolicy(manifest: policy(1))
            XCTAssertEqual(observer.calls, 1)
            XCTAssertEqual(observer.last?.policyInForce?.version, 1)
            XCTAssertNil(try XCTUnwrap(observer.last).acceptedVersion)
            XCTAssertEqual(observer.last?.allowed, [])

            _ = try consent.acceptPolicy(version: 1, granted: [.statistics, .personalization], context: consentContext())
            XCTAssertEqual(observer.calls, 2)
            XCTAssertEqual(observer.last?.acceptedVersion, 1)
            XCTAssertEqual(observer.last?.allowed, [.personalization, .statistics])

            _ = try consent.withdraw(purposes: [.statistics], context: consentContext(.settingsScreen))
            XCTAssertEqual(observer.calls, 3)
            XCTAssertEqual(observer.last?.allowed, [.personalization])

            // A newer policy also changes the state; an ignored (outdated) one does not.
            _ = try consent.publishPolicy(manifest: policy(2))
            XCTAssertEqual(observer.calls, 4)
            let last = try XCTUnwrap(observer.last)
            XCTAssertEqual(last.policyInForce?.version, 2)
            XCTAssertEqual(last.acceptedVersion, 1)
            XCTAssertEqual(last.allowed, [])
            XCTAssertEqual(last, consent.state())
            XCTAssertEqual(try consent.publishPolicy(manifest: policy(1)), .outdated)
            XCTAssertEqual(observer.calls, 4, "an outdated manifest changes nothing")

            // Called synchronously on the thread that made the change.
            XCTAssertEqual(observer.threads, [ObjectIdentifier(Thread.current)])

            XCTAssertTrue(subscription.isActive())
            subscription.cancel()
            XCTAssertFalse(subscription.isActive())
            subscription.cancel() // again: nothing more to do
            XCTAssertFalse(subscription.isActive())
            _ = try consent.acceptPolicy(version: 2, granted: [.statistics], context: consentContext())
            XCTAssertEqual(observer.calls, 4, "a cancelled subscription hears nothing")
        }
    }

    /// Swift's counterpart of Kotlin's `Subscription.close()`: releasing the last reference.
    func testReleasingTheSubscriptionStopsItsEvents() throws {
        try withPipeline { _, consent, _ in
            let kept = ConsentTestsRecordingObserver()
            let released = ConsentTestsRecordingObserver()
            let subscription = consent.subscribe(observer: kept)
            do {
                let temporary = consent.subscribe(observer: released)
                XCTAssertTrue(temporary.isActive())
            } // the last reference to `temporary` goes away here

            _ = try consent.publishPolicy(manifest: policy(1))
            _ = try consent.acceptPolicy(version: 1, granted: [.statistics], context: consentContext())
            XCTAssertEqual(kept.calls, 2)
            XCTAssertEqual(released.calls, 0, "a released subscription hears nothing")
            XCTAssertTrue(subscription.isActive())
        }
    }

    func testStateUpdatesStartsWithTheCurrentStateThenEmitsEachChangeAndUnsubscribesWhenItEnds() async throws {
        try await withTrackedConsent { consent, _ in
            _ = try consent.publishPolicy(manifest: policy(1))
            let before = consent.state()
            let seen = ConsentTestsLocked<[ConsentState]>([])
            let collecting = Task {
                // The Swift `take(3)`: the stream is dropped when the loop ends.
                for await state in consent.stateUpdates() {
                    if seen.withValue({ $0.append(state); return $0.count }) == 3 { break }
                }
            }
            defer { collecting.cancel() }
            // The first item arrives after the observer is registered.
            try await consentTestsAwait("the first state") { seen.value.count >= 1 }
            _ = try consent.acceptPolicy(version: 1, granted: [.statistics], context: consentContext())
            try await consentTestsAwait("the second state") { seen.value.count >= 2 }
            _ = try consent.withdrawAll(context: consentContext(.settingsScreen))
            try await consentTestsAwait("the third state") { seen.value.count >= 3 }
            await collecting.value

            let states = seen.value
            XCTAssertEqual(states.count, 3)
            XCTAssertEqual(states[0], before, "first the state as it was")
            XCTAssertNil(states[0].acceptedVersion)
            XCTAssertEqual(states[1].allowed, [.statistics])
            XCTAssertEqual(states[2].allowed, [])

            // The iteration ended: its subscription was cancelled, and changes after it reach
            // nobody.
            let subscriptions = consent.subscriptions
            XCTAssertEqual(subscriptions.count, 1, "stateUpdates() subscribes once")
            XCTAssertEqual(subscriptions.first?.isActive(), false, "unsubscribed when the loop ended")
            let delivered = consent.deliveries
            XCTAssertEqual(delivered, 2, "Rust told the stream of both changes")
            _ = try consent.acceptPolicy(version: 1, granted: [.statistics], context: consentContext())
            XCTAssertEqual(consent.deliveries, delivered, "nothing is delivered after the stream ended")
            XCTAssertEqual(consent.state().allowed, [.statistics])
        }
    }

    func testStateUpdatesSeesAChangeMadeRightAfterTheCallBeforeIterating() async throws {
        try await withTrackedConsent { consent, _ in
            _ = try consent.publishPolicy(manifest: policy(1))
            let stream = consent.stateUpdates()
            // Subscribed when the call returns, before anything is read.
            XCTAssertEqual(consent.subscriptions.count, 1)
            XCTAssertEqual(consent.subscriptions.first?.isActive(), true)

            _ = try consent.acceptPolicy(version: 1, granted: [.statistics], context: consentContext())
            XCTAssertEqual(consent.deliveries, 1, "the change reached the stream's observer")

            var iterator = stream.makeAsyncIterator()
            let first = await iterator.next()
            // Only the newest unread state is kept: the change, not the state before it.
            XCTAssertEqual(first, consent.state())
            XCTAssertEqual(first?.acceptedVersion, 1)
            XCTAssertEqual(first?.allowed, [.statistics])
        }
    }

    func testStateUpdatesDoesNotYieldARepeatedState() async throws {
        try await withTrackedConsent { consent, _ in
            _ = try consent.publishPolicy(manifest: policy(1))
            let (states, afterRepeat) = try await Task { () throws -> ([ConsentState], ConsentState?) in
                var iterator = consent.stateUpdates().makeAsyncIterator()
                var states: [ConsentState] = []
                if let state = await iterator.next() { states.append(state) }
                _ = try consent.acceptPolicy(version: 1, granted: [.statistics], context: consentContext())
                if let state = await iterator.next() { states.append(state) }
                // The same decision again: a new receipt, the same state.
                _ = try consent.acceptPolicy(version: 1, granted: [.statistics], context: consentContext())
                // Cancelling the reading task ends the stream; `next()` still hands out what
                // was buffered before it returns nil, so a yielded repeat would come out here.
                withUnsafeCurrentTask { $0?.cancel() }
                return (states, await iterator.next())
            }.value

            XCTAssertEqual(consent.deliveries, 2, "Rust reported both acceptances to the stream's observer")
            XCTAssertEqual(try consent.receipts().count, 2)
            XCTAssertEqual(states.count, 2)
            XCTAssertNil(states.first?.acceptedVersion)
            XCTAssertEqual(states.last?.allowed, [.statistics])
            XCTAssertNil(afterRepeat, "the repeated state was not yielded")
            XCTAssertEqual(consent.subscriptions.first?.isActive(), false, "cancelling the task unsubscribed")
        }
    }

    func testStateUpdatesUnsubscribesWhenTheIteratingTaskIsCancelled() async throws {
        try await withTrackedConsent { consent, _ in
            _ = try consent.publishPolicy(manifest: policy(1))
            let seen = ConsentTestsLocked<[ConsentState]>([])
            let reader = Task { () -> Bool in
                for await state in consent.stateUpdates() {
                    seen.withValue { $0.append(state) }
                }
                return Task.isCancelled
            }
            defer { reader.cancel() }
            try await consentTestsAwait("the first state") { seen.value.count >= 1 }
            let subscription = try XCTUnwrap(consent.subscriptions.first)
            XCTAssertTrue(subscription.isActive())
            _ = try consent.acceptPolicy(version: 1, granted: [.statistics], context: consentContext())
            try await consentTestsAwait("the second state") { seen.value.count >= 2 }

            reader.cancel()
            let endedByCancellation = await reader.value
            XCTAssertTrue(endedByCancellation, "the loop ended because its task was cancelled")
            XCTAssertFalse(subscription.isActive(), "cancelling the task cancelled the subscription")

            let delivered = consent.deliveries
            _ = try consent.withdrawAll(context: consentContext(.settingsScreen))
            _ = try consent.publishPolicy(manifest: policy(2))
            XCTAssertEqual(consent.deliveries, delivered, "Rust no longer calls the stream's observer")
            XCTAssertEqual(seen.value.count, 2)
            XCTAssertEqual(seen.value.last?.allowed, [.statistics])
        }
    }

    // MARK: - Receipts and the firewall

    func testReceiptsListEveryDecisionOldestFirst() throws {
        try withPipeline { _, consent, _ in
            XCTAssertEqual(try consent.receipts(), [])
            _ = try consent.publishPolicy(manifest: policy(1))
            _ = try consent.acceptPolicy(version: 1, granted: [.statistics, .personalization], context: consentContext())
            _ = try consent.withdraw(purposes: [.statistics], context: consentContext(.settingsScreen))
            _ = try consent.withdrawAll(context: consentContext(.settingsScreen))

            let receipts = try consent.receipts()
            XCTAssertEqual(receipts.map(\.action), [.accept, .withdraw, .withdraw])
            for receipt in receipts {
                XCTAssertEqual(receipt.policyVersion, 1)
                XCTAssertEqual(receipt.jurisdiction, "KZ")
                XCTAssertEqual(receipt.locale, "kk-KZ")
                XCTAssertEqual(receipt.appVersion, "4.2.0 (421)")
                XCTAssertEqual(receipt.policyTextSha256, policy(1).textSha256)
                XCTAssertEqual(receipt.policyUrl, "https://aparking.kz/privacy")
            }
            XCTAssertEqual(Set(receipts.map(\.id)).count, 3, "distinct ids")
            XCTAssertEqual(receipts[0].purposesGranted, [.personalization, .statistics])
            XCTAssertEqual(receipts[0].collectionMethod, .onboardingScreen)
            XCTAssertEqual(receipts[1].purposesGranted, [.personalization])
            XCTAssertEqual(receipts[1].collectionMethod, .settingsScreen)
            XCTAssertEqual(receipts[2].purposesGranted, [])
            XCTAssertEqual(receipts[2].purposesDenied, allPurposes)
            XCTAssertEqual(receipts.map(\.timestamp), receipts.map(\.timestamp).sorted())
        }
    }

    /// A manifest with the Art. 8 fields (operator and BIN, data categories per purpose,
    /// duration, transfers), parsed from JSON: every receipt records them with the account id,
    /// and the receipts form a SHA-256 hash chain that `verifyReceipts()` checks and
    /// `exportReceiptsJson()` states in a Kantara consent receipt export.
    func testReceiptsRecordTheManifestsOperatorCategoriesAndTermsAndFormAVerifiedHashChain() throws {
        let json = """
            {"version": 5, "last_updated": "2026-06-01", "url": "https://aparking.kz/privacy",
             "text_sha256": "\(String(repeating: "cd", count: 32))",
             "purposes": ["statistics", "connection_diagnostics"],
             "operator": {"name": "ТОО «Алматы спецтехпаркинг сервис»", "bin": "123456789012"},
             "data_categories": [
               {"purpose": "statistics", "categories": ["app_usage", "coarse_location"]},
               {"purpose": "connection_diagnostics", "categories": ["network_quality", "device_model"]}],
             "consent_duration_days": 365, "third_party_transfer": false,
             "cross_border_transfer": true, "publicly_available": false,
             "personal_data_hosts": ["api.aparking.kz"], "telemetry_hosts": ["*.aparking.kz"]}
            """
        let manifest = try parsePolicyManifest(json: json)
        let categories = [
            PurposeDataCategories(purpose: .statistics, categories: ["app_usage", "coarse_location"]),
            PurposeDataCategories(purpose: .connectionDiagnostics, categories: ["network_quality", "device_model"]),
        ]
        XCTAssertEqual(manifest.operator, PolicyOperator(name: "ТОО «Алматы спецтехпаркинг сервис»", bin: "123456789012"))
        XCTAssertEqual(manifest.dataCategories, categories)
        XCTAssertEqual(manifest.consentDurationDays, 365)
        XCTAssertEqual(
            [manifest.thirdPartyTransfer, manifest.crossBorderTransfer, manifest.publiclyAvailable], [false, true, false]
        )
        XCTAssertEqual(manifest.personalDataHosts, ["api.aparking.kz"])
        XCTAssertEqual(manifest.telemetryHosts, ["*.aparking.kz"])
        let invalid: [(from: String, to: String, field: String)] = [
            ("\"123456789012\"", "\"12345678901\"", "policy.operator.bin"),
            ("\"app_usage\"", "\"AppUsage\"", "policy.data_categories"),
            ("{\"purpose\": \"statistics\"", "{\"purpose\": \"personalization\"", "policy.data_categories"),
            ("365", "0", "policy.consent_duration_days"),
            ("[\"api.aparking.kz\"]", "[\"https://api.aparking.kz\"]", "policy.personal_data_hosts"),
            ("[\"*.aparking.kz\"]", "[\"*.APARKING.kz\"]", "policy.telemetry_hosts"),
        ]
        for (from, to, field) in invalid {
            let edited = json.replacingOccurrences(of: from, with: to)
            XCTAssertNotEqual(edited, json, "the edit for \(field) changed nothing")
            XCTAssertEqual(assertInvalidInput(try parsePolicyManifest(json: edited), field)?.field, field, edited)
        }

        try withPipeline { _, consent, _ in
            let empty = try consent.verifyReceipts()
            XCTAssertEqual(empty, ReceiptChain(length: 0, headSha256: nil))
            _ = try consent.publishPolicy(manifest: manifest)
            let subject = "acct-7f3a9c.eu:01"
            let context = ConsentContext(
                appVersion: "4.2.0 (421)", locale: "kk-KZ", collectionMethod: .onboardingScreen, subjectId: subject
            )
            let accepted = try consent.acceptPolicy(
                version: 5, granted: [.statistics, .connectionDiagnostics], context: context
            )
            var settings = context
            settings.collectionMethod = .settingsScreen
            let withdrawn = try consent.withdraw(purposes: [.statistics], context: settings)

            let receipts = try consent.receipts()
            XCTAssertEqual(receipts, [accepted, withdrawn])
            for receipt in receipts {
                XCTAssertEqual(receipt.operator?.bin, "123456789012")
                XCTAssertEqual(receipt.operator, manifest.operator)
                XCTAssertEqual(receipt.subjectId, subject)
                XCTAssertEqual(receipt.policyLastUpdated, "2026-06-01")
                XCTAssertEqual(receipt.dataCategories, categories)
                XCTAssertEqual(receipt.consentDurationDays, 365)
                XCTAssertEqual([receipt.thirdPartyTransfer, receipt.crossBorderTransfer, receipt.publiclyAvailable], [false, true, false])
                XCTAssertEqual(receipt.receiptSha256.count, 64, receipt.receiptSha256)
                XCTAssertTrue(receipt.receiptSha256.allSatisfy { "0123456789abcdef".contains($0) }, receipt.receiptSha256)
            }
            XCTAssertNil(accepted.previousReceiptSha256, "the first receipt starts the chain")
            XCTAssertEqual(withdrawn.previousReceiptSha256, accepted.receiptSha256, "each receipt links to the one before")
            XCTAssertNotEqual(withdrawn.receiptSha256, accepted.receiptSha256)
            XCTAssertTrue(consent.state().receiptsVerified)

            let chain = try consent.verifyReceipts()
            XCTAssertEqual(chain.length, 2)
            XCTAssertEqual(chain.headSha256, withdrawn.receiptSha256)

            let json = try consent.exportReceiptsJson()
            let export = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], json)
            let chainJSON = try XCTUnwrap(export["chain"] as? [String: Any], json)
            XCTAssertEqual(chainJSON["verified"] as? Bool, true)
            XCTAssertEqual(chainJSON["length"] as? Int, 2)
            XCTAssertEqual(chainJSON["headSha256"] as? String, withdrawn.receiptSha256)
            let exported = try XCTUnwrap(export["receipts"] as? [[String: Any]], json)
            XCTAssertEqual(exported.count, 2)
            XCTAssertEqual(exported.map { $0["consentReceiptID"] as? String }, [accepted.id, withdrawn.id])
            for entry in exported {
                XCTAssertEqual(entry["version"] as? String, "KI-CR-v1.1.0")
                XCTAssertEqual(entry["jurisdiction"] as? String, "KZ")
                XCTAssertEqual(entry["piiPrincipalId"] as? String, subject)
                let controllers = try XCTUnwrap(entry["piiControllers"] as? [[String: Any]])
                XCTAssertEqual(controllers.first?["piiController"] as? String, "ТОО «Алматы спецтехпаркинг сервис»")
                XCTAssertEqual(controllers.first?["x-aparking-bin"] as? String, "123456789012")
                let services = try XCTUnwrap(entry["services"] as? [[String: Any]])
                XCTAssertEqual(services.first?["service"] as? String, "aparking")
                let purposes = try XCTUnwrap(services.first?["purposes"] as? [[String: Any]])
                let statistics = try XCTUnwrap(purposes.first { $0["purpose"] as? String == "statistics" })
                XCTAssertEqual(statistics["piiCategory"] as? [String], ["app_usage", "coarse_location"])
                XCTAssertEqual(statistics["termination"] as? String, "P365D")
            }
            let links = exported.map { $0["x-aparking"] as? [String: Any] }
            XCTAssertEqual(links.map { $0?["receiptSha256"] as? String }, [accepted.receiptSha256, withdrawn.receiptSha256])
            XCTAssertTrue(links[0]?["previousReceiptSha256"] is NSNull, "\(String(describing: links[0]))")
            XCTAssertEqual(links[1]?["previousReceiptSha256"] as? String, accepted.receiptSha256)
        }
    }

    /// `ConsentContext.subjectId` is an opaque account id (1 to 128 of `A-Za-z0-9-_.:`),
    /// never a phone, an e-mail or a name: anything else is `InvalidInput` naming the field,
    /// without the value, and no receipt is written.
    func testASubjectIdThatIsNotAnOpaqueAccountIdIsInvalidInputAndWritesNoReceipt() throws {
        try withPipeline { _, consent, _ in
            _ = try consent.publishPolicy(manifest: policy(1))
            func context(_ subjectId: String) -> ConsentContext {
                ConsentContext(appVersion: "4.2.0 (421)", locale: "kk-KZ", collectionMethod: .onboardingScreen, subjectId: subjectId)
            }
            for bad in ["", String(repeating: "a", count: 129), "aigerim@mail.kz", "+7 701 234 56 78", "Айгерим", "acct/1"] {
                let accept = assertInvalidInput(
                    try consent.acceptPolicy(version: 1, granted: [.statistics], context: context(bad)), bad
                )
                XCTAssertEqual(accept?.field, "context.subjectId", bad)
                if !bad.isEmpty {
                    XCTAssertEqual(accept.map { $0.description.contains(bad) || $0.reason.contains(bad) }, false, "echoed: \(bad)")
                }
            }
            XCTAssertEqual(try consent.receipts(), [], "nothing was written")
            XCTAssertNil(consent.state().acceptedVersion)

            let longest = String(repeating: "a", count: 128)
            let receipt = try consent.acceptPolicy(version: 1, granted: [.statistics], context: context(longest))
            XCTAssertEqual(receipt.subjectId, longest)
            XCTAssertEqual(
                assertInvalidInput(try consent.withdrawAll(context: context("aigerim@mail.kz")))?.field, "context.subjectId"
            )
            XCTAssertEqual(try consent.receipts(), [receipt], "the refused withdrawal wrote nothing")
            XCTAssertEqual(consent.state().allowed, [.statistics])
        }
    }

    func testThePIIFirewallStopsTheUsersOwnPlateTypedDifferently() throws {
        try withPipeline(prepare: { _ = try $0.addVehicle(vehicle: NewVehicle(plate: "123ABC02")) }) { _, consent, t in
            _ = try consent.publishPolicy(manifest: policy(1))
            _ = try consent.acceptPolicy(version: 1, granted: allPurposes, context: consentContext())

            t.record(event: .screenView(screen: "123 авс 02")) // Cyrillic look-alikes, spaces
            t.record(event: .errorCount(code: "plate_123-АВС-02_invalid", count: 1))
            t.record(event: .screenView(screen: "parking_map"))
            flushed(t)

            let counters = try t.counters()
            XCTAssertEqual(total(counters.droppedFirewall), 2)
            XCTAssertEqual(counters.droppedFirewall[.serviceImprovement], 2)
            XCTAssertEqual(try t.pendingEvents(purpose: nil), 1, "only the clean event is stored")
            XCTAssertEqual(counters.stored, 1)
        }
    }
}

// MARK: - Fixtures of this suite

/// A value behind a lock, shared between a test and the tasks or observers it starts.
private final class ConsentTestsLocked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) {
        stored = value
    }

    var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    @discardableResult
    func withValue<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&stored)
    }
}

/// A Swift implementation of the foreign trait: counts the calls, keeps the last state and
/// the threads it was called on.
private final class ConsentTestsRecordingObserver: ConsentObserver, @unchecked Sendable {
    // Every field is read and written with `lock` held: the reason for `@unchecked Sendable`.
    private let lock = NSLock()
    private var count = 0
    private var lastState: ConsentState?
    private var seenThreads: Set<ObjectIdentifier> = []

    func onConsentChanged(state: ConsentState) {
        let thread = ObjectIdentifier(Thread.current)
        lock.lock()
        defer { lock.unlock() }
        seenThreads.insert(thread)
        lastState = state
        count += 1
    }

    var calls: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    var last: ConsentState? {
        lock.lock()
        defer { lock.unlock() }
        return lastState
    }

    var threads: Set<ObjectIdentifier> {
        lock.lock()
        defer { lock.unlock() }
        return seenThreads
    }
}

/// Passes every call on to `inner` and counts it: what Rust delivers to an observer.
private final class ConsentTestsCountingObserver: ConsentObserver {
    private let inner: ConsentObserver
    private let count: ConsentTestsLocked<Int>

    init(_ inner: ConsentObserver, count: ConsentTestsLocked<Int>) {
        self.inner = inner
        self.count = count
    }

    func onConsentChanged(state: ConsentState) {
        count.withValue { $0 += 1 }
        inner.onConsentChanged(state: state)
    }
}

/// A `Consent` that keeps every `Subscription` its `subscribe(observer:)` returns (the ones
/// `stateUpdates()` makes, too) and counts the calls Rust makes to those observers.
private final class ConsentTestsTrackingConsent: Consent, @unchecked Sendable {
    private let made = ConsentTestsLocked<[Subscription]>([])
    private let delivered = ConsentTestsLocked<Int>(0)

    override func subscribe(observer: ConsentObserver) -> Subscription {
        let subscription = super.subscribe(observer: ConsentTestsCountingObserver(observer, count: delivered))
        made.withValue { $0.append(subscription) }
        return subscription
    }

    /// The subscriptions made so far, oldest first.
    var subscriptions: [Subscription] {
        made.value
    }

    /// How many times Rust called one of the subscribed observers.
    var deliveries: Int {
        delivered.value
    }
}

private struct ConsentTestsTimeout: Error, CustomStringConvertible {
    let what: String
    var description: String {
        "timed out after 10 s waiting for \(what)"
    }
}

/// Polls `condition` every 5 ms for at most 10 s; throws (failing the test) on timeout.
private func consentTestsAwait(_ what: String, _ condition: () -> Bool) async throws {
    let deadline = Date().addingTimeInterval(10)
    while !condition() {
        if Date() > deadline {
            throw ConsentTestsTimeout(what: what)
        }
        try await Task.sleep(nanoseconds: 5_000_000)
    }
}
