import AparkingCore
import Foundation
import XCTest

/// Items of the Swift API no other test class exercised (the Swift twin of
/// CoverageGapsTest.kt): the top-level functions, the log sink, the rest of `Consent` and
/// `Telemetry`, the store errors that need a damaged or newer file, and every variant of the
/// enums that cross the FFI as data.
final class CoverageGapsTests: StoreTestCase {
    private let policyJson = """
        {"version": 7, "last_updated": "2026-03-01", "url": "https://aparking.kz/privacy",
         "text_sha256": "\(String(repeating: "ab", count: 32))", "purposes": ["statistics", "connection_diagnostics"],
         "an_unknown_field": true}
        """

    /// Runs `body` with a store, its `Consent` and a `Telemetry`, and shuts both down after.
    private func withPipeline(_ body: (Store, Consent, Telemetry) throws -> Void) throws {
        let store = try openStore(storeFile(), CountingKeyProvider.withSeed(90))
        defer { try? store.shutdown() }
        let consent = Consent(store: store)
        let telemetry = try Telemetry(store: store, config: fastConfig())
        defer { telemetry.shutdown() }
        try body(store, consent, telemetry)
    }

    // ---- Top-level functions ----------------------------------------------------------

    func testParsePolicyManifestValidatesAndNamesTheBadField() throws {
        let manifest = try parsePolicyManifest(json: policyJson)
        XCTAssertEqual(
            manifest,
            PolicyManifest(
                version: 7,
                lastUpdated: "2026-03-01",
                url: "https://aparking.kz/privacy",
                textSha256: String(repeating: "ab", count: 32),
                purposes: [.statistics, .connectionDiagnostics]
            )
        )
        let cases: [(String, String)] = [
            ("not json", "policy"),
            (policyJson.replacingOccurrences(of: "\"version\": 7", with: "\"version\": 0"), "policy.version"),
            (policyJson.replacingOccurrences(of: "https://aparking.kz/privacy", with: "http://aparking.kz/privacy"), "policy.url"),
            (
                policyJson.replacingOccurrences(of: String(repeating: "ab", count: 32), with: String(repeating: "AB", count: 32)),
                "policy.text_sha256"
            ),
            (policyJson.replacingOccurrences(of: "\"statistics\", \"connection_diagnostics\"", with: ""), "policy.purposes"),
            (policyJson.replacingOccurrences(of: "2026-03-01", with: "2026-02-30"), "policy.last_updated"),
        ]
        for (json, field) in cases {
            XCTAssertNotEqual(json, policyJson, "the edit for \(field) changed nothing")
            XCTAssertEqual(assertInvalidInput(try parsePolicyManifest(json: json), field)?.field, field, json)
        }
    }

    func testNormalizersRequiredFieldsAndSchemaVersion() throws {
        XCTAssertEqual(try normalizePhone(input: phoneTyped), phoneE164)
        XCTAssertEqual(assertInvalidInput(try normalizePhone(input: "12"))?.field, "phone")
        XCTAssertEqual(try normalizeEmail(input: "aigerim@MAIL.kz"), "aigerim@mail.kz")
        XCTAssertEqual(assertInvalidInput(try normalizeEmail(input: "no-at-sign"))?.field, "email")
        XCTAssertEqual(try normalizeDocumentNumber(input: "кх 00-77 11"), "KX007711")
        XCTAssertEqual(assertInvalidInput(try normalizeDocumentNumber(input: ""))?.field, "number")
        XCTAssertEqual(requiredProfileFields(), [.phone])
        let schema = storeSchemaVersion()
        XCTAssertGreaterThanOrEqual(schema, 4, "schema v\(schema): the sync tables are migration 004")
        try withStore(storeFile(), CountingKeyProvider.withSeed(91)) { store in
            XCTAssertEqual(try store.info().schemaVersion, schema)
        }
    }

    /// Every `TelemetryEvent` variant crosses the FFI into `telemetryEventPurpose(event:)`.
    func testTelemetryEventPurposeNamesThePurposeOfEveryEventVariant() {
        let events = oneOfEach()
        XCTAssertEqual(events.map(eventOrdinal), Array(0 ..< 7), "oneOfEach() has one event of every variant, in order")
        XCTAssertEqual(
            events.map { telemetryEventPurpose(event: $0) },
            [.statistics, .serviceImprovement, .serviceImprovement, .serviceImprovement, .statistics, .connectionDiagnostics,
             .serviceImprovement]
        )
    }

    // ---- Logging: setLogSink, LogSink.log, LogRecord, LogLevel -------------------------

    func testASwiftLogSinkReceivesTheSdkRecordsAtTheLevelAskedAndNilStopsThem() throws {
        let sink = RecordingLogSink()
        let key = CountingKeyProvider.withSeed(92)
        // The logger is process-global: always uninstall, whatever happens.
        defer { _ = setLogSink(sink: nil, maxLevel: .error) }

        XCTAssertTrue(setLogSink(sink: sink, maxLevel: .warn))
        try withStore(storeFile("warn.db"), key) { store in try store.rotateDataKey() }
        // A recovery logs a warning: the level asked is forwarded.
        try deleteStoreFiles(path: storeFile("warn.db").path)
        let warned = sink.records
        XCTAssertTrue(
            warned.allSatisfy { $0.level == .warn || $0.level == .error },
            "records below WARN were forwarded: \(warned)"
        )
        XCTAssertTrue(warned.contains { $0.level == .warn && $0.message == "store: files deleted for recovery" }, "\(warned)")

        XCTAssertTrue(setLogSink(sink: sink, maxLevel: .info))
        try withStore(storeFile("info.db"), key) { store in
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "123ABC02", nickname: "Айгерим"))
            try store.rotateDataKey()
        }
        let records = sink.records
        let infos = records.filter { $0.level == .info }
        XCTAssertTrue(infos.contains { $0.message.hasPrefix("created a new store") }, "\(infos)")
        XCTAssertTrue(infos.contains { $0.message == "data key rotated to v2" }, "\(infos)")
        XCTAssertTrue(infos.contains { $0.message == "store schema migrated to v\(storeSchemaVersion())" }, "\(infos)")
        XCTAssertTrue(records.allSatisfy { $0.target.hasPrefix("aparking_core") }, "only the SDK's own targets")
        XCTAssertTrue(infos.contains { $0.target.hasPrefix("aparking_core::store") }, "\(infos)")
        XCTAssertFalse(records.contains { $0.message.contains("123ABC02") || $0.message.contains("Айгерим") }, "no personal data")
        XCTAssertTrue(records.allSatisfy { [.error, .warn, .info].contains($0.level) }, "nothing above INFO: \(records)")
        XCTAssertTrue(sink.wasCalled(onThread: pthread_self()), "called on the thread that logged")

        XCTAssertTrue(setLogSink(sink: nil, maxLevel: .trace))
        let before = sink.records.count
        try withStore(storeFile("off.db"), key) { store in try store.rotateDataKey() }
        XCTAssertEqual(sink.records.count, before, "a removed sink hears nothing")

        // Every LogLevel crosses the FFI as a filter: nothing more verbose than asked arrives.
        let levels: [LogLevel] = [.error, .warn, .info, .debug, .trace]
        XCTAssertEqual(levels.map(logLevelOrdinal), [0, 1, 2, 3, 4], "every LogLevel, in order")
        for level in levels {
            XCTAssertTrue(setLogSink(sink: sink, maxLevel: level))
            let seen = sink.records.count
            try withStore(storeFile("level-\(logLevelOrdinal(level)).db"), key) { store in try store.rotateDataKey() }
            let new = sink.records.dropFirst(seen)
            XCTAssertTrue(new.allSatisfy { logLevelOrdinal($0.level) <= logLevelOrdinal(level) }, "at \(level): \(Array(new))")
            if logLevelOrdinal(level) >= logLevelOrdinal(.info) {
                XCTAssertTrue(new.contains { $0.message == "data key rotated to v2" }, "at \(level): \(Array(new))")
            }
        }
    }

    // ---- Consent ----------------------------------------------------------------------

    func testPublishPolicyJsonPolicyInForceAndTheNotOfferedStatus() throws {
        try withPipeline { _, consent, _ in
            XCTAssertNil(consent.policyInForce())
            XCTAssertEqual(consent.status(purpose: .statistics), .noPolicy)
            XCTAssertEqual(try consent.publishPolicyJson(json: policyJson), .adopted)
            XCTAssertEqual(consent.policyInForce(), try parsePolicyManifest(json: policyJson))
            XCTAssertEqual(try consent.publishPolicyJson(json: policyJson), .alreadyInForce)
            XCTAssertEqual(assertInvalidInput(try consent.publishPolicyJson(json: "{\"version\": 8}"))?.field, "policy")
            XCTAssertEqual(consent.policyInForce()?.version, 7, "a rejected manifest changes nothing")
            XCTAssertEqual(consent.status(purpose: .statistics), .policyNotAccepted(currentVersion: 7))
            // An older manifest is not adopted (the third PolicyUpdate variant).
            XCTAssertEqual(try consent.publishPolicy(manifest: policy(6)), .outdated)
            XCTAssertEqual(consent.policyInForce()?.version, 7)

            // Granting a purpose this version does not offer is refused.
            let notOffered = assertInvalidInput(
                try consent.acceptPolicy(version: 7, granted: [.personalization], context: consentContext())
            )
            XCTAssertEqual(notOffered?.field, "granted")
            _ = try consent.acceptPolicy(version: 7, granted: [.statistics], context: consentContext())
            // Every ConsentStatus variant a policy in force can give, one purpose each.
            XCTAssertEqual(consent.status(purpose: .statistics), .allowed)
            XCTAssertEqual(consent.status(purpose: .connectionDiagnostics), .notGranted)
            XCTAssertEqual(consent.status(purpose: .personalization), .notOffered)
            XCTAssertEqual(consent.status(purpose: .communication), .notOffered)
            XCTAssertEqual(consent.state().allowed, [.statistics])

            // And the last one: a newer policy the user has not accepted yet.
            let v8 = policyJson.replacingOccurrences(of: "\"version\": 7", with: "\"version\": 8")
            XCTAssertEqual(try consent.publishPolicyJson(json: v8), .adopted)
            XCTAssertEqual(consent.status(purpose: .statistics), .newPolicyNotAccepted(acceptedVersion: 7, currentVersion: 8))
            XCTAssertFalse(consent.isAllowed(purpose: .statistics))
        }
    }

    func testEveryCollectionMethodAndPurposeCrossesTheFfiInReceipts() throws {
        let methods: [CollectionMethod] = [.onboardingScreen, .settingsScreen, .policyUpdatePrompt]
        XCTAssertEqual(methods.map(collectionMethodOrdinal), [0, 1, 2], "every CollectionMethod, in order")
        XCTAssertEqual(allPurposes.map(purposeOrdinal), [0, 1, 2, 3, 4], "every Purpose, in order")
        try withPipeline { _, consent, _ in
            _ = try consent.publishPolicy(manifest: policy(1))
            for method in methods {
                _ = try consent.acceptPolicy(version: 1, granted: allPurposes, context: consentContext(method))
            }
            let receipts = try consent.receipts()
            XCTAssertEqual(receipts.map(\.collectionMethod), methods)
            XCTAssertTrue(receipts.allSatisfy { Set($0.purposesGranted) == Set(allPurposes) && $0.purposesDenied.isEmpty })
            XCTAssertTrue(receipts.allSatisfy { $0.action == .accept })

            // The other ConsentAction.
            let withdrawn = try consent.withdrawAll(context: consentContext(.settingsScreen))
            XCTAssertEqual(withdrawn.action, .withdraw)
            XCTAssertEqual(try consent.receipts().last, withdrawn)
            XCTAssertEqual(consent.state().allowed, [])
        }
    }

    // ---- Telemetry: complaints, shutdown -----------------------------------------------

    func testFileConnectionComplaintAttachesTheRecentSamplesOfEveryNetworkTypeComplaintsListsIt() throws {
        let types: [NetworkType] = [.offline, .wifi, .cellular2g, .cellular3g, .cellular4g, .cellular5g, .other]
        XCTAssertEqual(types.map(networkTypeOrdinal), Array(0 ..< 7), "every NetworkType, in order")
        try withPipeline { store, consent, telemetry in
            _ = try consent.publishPolicy(manifest: policy(1))
            _ = try consent.acceptPolicy(version: 1, granted: [.connectionDiagnostics], context: consentContext())
            XCTAssertEqual(try telemetry.complaints(), [])
            for (i, type) in types.enumerated() {
                let i = Int32(i)
                telemetry.record(
                    event: .networkQuality(networkType: type, signalDbm: -60 - i, rttMs: 100 + i, throughputKbps: 1000, failedRequests: i)
                )
            }
            let complaint = try telemetry.fileConnectionComplaint(description: "  Связь пропадает у ТРЦ Mega  ", samplesWindowMinutes: 60)
            XCTAssertEqual(complaint.description, "Связь пропадает у ТРЦ Mega", "trimmed")
            XCTAssertEqual(complaint.samples.count, types.count)
            XCTAssertEqual(Set(complaint.samples.map(\.networkType)), Set(types))
            let wifi = try XCTUnwrap(complaint.samples.first { $0.networkType == .wifi })
            XCTAssertEqual(
                wifi,
                NetworkSample(recordedAt: wifi.recordedAt, networkType: .wifi, signalDbm: -61, rttMs: 101, throughputKbps: 1000, failedRequests: 1)
            )
            XCTAssertTrue(complaint.samples.allSatisfy { $0.recordedAt <= complaint.createdAt })
            XCTAssertEqual(try telemetry.complaints(), [complaint])

            for bad in ["   ", "line\u{0007}bell"] {
                let e = assertInvalidInput(try telemetry.fileConnectionComplaint(description: bad, samplesWindowMinutes: 60))
                XCTAssertEqual(e?.field, "description")
            }
            XCTAssertEqual(try telemetry.complaints().count, 1)
            // Personal data: exported with the user's data, erased with it.
            XCTAssertTrue(try store.exportUserData().contains("Связь пропадает у ТРЦ Mega"))
            try store.deleteAllUserData()
            XCTAssertEqual(try telemetry.complaints(), [])
        }
    }

    func testTelemetryShutdownStoresWhatWasRecordedAndCountsLaterRecordsAsDropped() throws {
        try withPipeline { _, consent, telemetry in
            _ = try consent.publishPolicy(manifest: policy(1))
            _ = try consent.acceptPolicy(version: 1, granted: allPurposes, context: consentContext())
            for i in 0 ..< 3 {
                telemetry.record(event: .screenView(screen: "screen_\(i)"))
            }
            telemetry.shutdown() // no flush(): shutdown itself stores the buffered events
            XCTAssertEqual(try telemetry.pendingEvents(purpose: nil), 3)
            let before = try telemetry.counters()
            XCTAssertEqual(before.stored, 3)
            telemetry.record(event: .sessionStart)
            telemetry.recordAll(events: [.sessionStart, networkSample(-80)])
            let after = try telemetry.counters()
            XCTAssertEqual(after.droppedBufferFull, before.droppedBufferFull + 3)
            XCTAssertEqual(after.stored, 3)
            XCTAssertEqual(try telemetry.pendingEvents(purpose: nil), 3)
            telemetry.shutdown() // twice is harmless
            XCTAssertEqual(total(try telemetry.counters().droppedNoConsent), 0, "every purpose was granted: dropped because stopped")
        }
    }

    // ---- Threads and Swift tasks at once --------------------------------------------------

    func testPlatformThreadsAndSwiftTasksCallStoreConsentAndTelemetryAtTheSameTime() async throws {
        let store = try openStore(storeFile(), CountingKeyProvider.withSeed(90))
        defer { try? store.shutdown() }
        let consent = Consent(store: store)
        let telemetry = try Telemetry(store: store, config: fastConfig())
        defer { telemetry.shutdown() }
        _ = try consent.publishPolicy(manifest: policy(1))
        _ = try consent.acceptPolicy(version: 1, granted: allPurposes, context: consentContext())

        let start = DispatchSemaphore(value: 0)
        let errors = Locked<[Error]>([])
        let threadsDone = DispatchGroup()
        // Four platform threads add vehicles and record events...
        for w in 1 ... 4 {
            threadsDone.enter()
            let thread = Thread {
                defer { threadsDone.leave() }
                start.wait()
                do {
                    for i in 0 ..< 10 {
                        _ = try store.addVehicle(vehicle: NewVehicle(plate: gapPlate(w, i)))
                        telemetry.record(event: .screenView(screen: "thread_\(w)"))
                    }
                } catch {
                    errors.append(error)
                }
            }
            thread.name = "platform-\(w)"
            thread.start()
        }
        for _ in 1 ... 4 {
            start.signal()
        }
        // ...while four Swift tasks read, record and check consent.
        try await withThrowingTaskGroup(of: Int.self) { group in
            for w in 5 ... 8 {
                group.addTask {
                    var refused = 0
                    for i in 0 ..< 10 {
                        telemetry.record(event: networkSample(Int32(-60 - i)))
                        if !consent.isAllowed(purpose: .connectionDiagnostics) { refused += 1 }
                        _ = try store.addVehicle(vehicle: NewVehicle(plate: gapPlate(w, i)))
                        _ = try store.info()
                    }
                    return refused
                }
            }
            var refused = 0
            for try await r in group { refused += r }
            XCTAssertEqual(refused, 0, "consent was allowed in every task")
        }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            threadsDone.notify(queue: .global()) { done.resume() }
        }
        XCTAssertTrue(errors.all.isEmpty, "\(errors.all)")
        XCTAssertEqual(Set(try store.listVehicles().map(\.plate.canonical)).count, 80)
        XCTAssertTrue(telemetry.flush(timeoutMs: 5000))
        XCTAssertEqual(try telemetry.pendingEvents(purpose: .serviceImprovement), 40)
        XCTAssertEqual(try telemetry.pendingEvents(purpose: .connectionDiagnostics), 40)
    }

    // ---- Enums as data --------------------------------------------------------------------

    func testEveryLanguageDocumentKindAndClearableFieldCrossesTheFfi() throws {
        let languages: [Language] = [.kk, .ru, .en]
        let profileFields: [ProfileField] = [.phone, .fullName, .email, .preferredLanguage]
        let vehicleFields: [VehicleField] = [.plate, .nickname, .make, .model, .colour, .registrationCertificateNumber]
        let documentFields: [DocumentField] = [.number, .issuedOn, .expiresOn, .vehicleId]
        let kinds: [DocumentKind] = [.driverLicence, .vehicleRegistrationCertificate]
        XCTAssertEqual(languages.map(languageOrdinal), [0, 1, 2])
        XCTAssertEqual(profileFields.map(profileFieldOrdinal), [0, 1, 2, 3])
        XCTAssertEqual(vehicleFields.map(vehicleFieldOrdinal), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(documentFields.map(documentFieldOrdinal), [0, 1, 2, 3])
        XCTAssertEqual(kinds.map(documentKindOrdinal), [0, 1])

        try withStore(storeFile(), CountingKeyProvider.withSeed(93)) { store in
            _ = try store.updateProfile(patch: ProfilePatch(phone: phoneTyped))
            for language in languages {
                XCTAssertEqual(try store.updateProfile(patch: ProfilePatch(preferredLanguage: language)).preferredLanguage, language)
            }
            _ = try store.updateProfile(patch: ProfilePatch(fullName: "Айгерим", email: "a@mail.kz"))
            let clearable = profileFields.filter { !requiredProfileFields().contains($0) }
            let cleared = try store.updateProfile(patch: ProfilePatch(clear: clearable))
            XCTAssertEqual(
                cleared,
                Profile(
                    id: cleared.id, phone: phoneE164, fullName: nil, email: nil, preferredLanguage: nil,
                    createdAt: cleared.createdAt, updatedAt: cleared.updatedAt
                )
            )

            let car = try store.addVehicle(
                vehicle: NewVehicle(
                    plate: "A123BC", nickname: "n", make: "Kia", model: "Rio", colour: "белый", registrationCertificateNumber: "KX007711"
                )
            )
            XCTAssertEqual(car.registrationCertificateNumber, "KX007711")
            let bare = try store.updateVehicle(id: car.id, patch: VehiclePatch(clear: vehicleFields.filter { $0 != .plate }))
            XCTAssertEqual([bare.nickname, bare.make, bare.model, bare.colour, bare.registrationCertificateNumber], [nil, nil, nil, nil, nil])
            XCTAssertEqual(bare.plate, car.plate)

            let docs = try kinds.enumerated().map { i, kind in
                try store.addDocument(
                    document: NewDocument(
                        kind: kind, number: "AB00000\(i)", issuedOn: "2024-01-0\(i + 1)", expiresOn: "2034-01-0\(i + 1)", vehicleId: car.id
                    )
                )
            }
            XCTAssertEqual(try docs.map { try store.getDocument(id: $0.id)?.kind }, kinds)
            let emptied = try store.updateDocument(id: docs[0].id, patch: DocumentPatch(clear: documentFields.filter { $0 != .number }))
            XCTAssertEqual([emptied.issuedOn, emptied.expiresOn, emptied.vehicleId], [nil, nil, nil])
            let noNumber = assertInvalidInput(try store.updateDocument(id: docs[0].id, patch: DocumentPatch(clear: [.number])))
            XCTAssertEqual(noNumber?.field, "number")
        }
    }

    // ---- Store errors that need a newer or damaged file ----------------------------------

    func testAStoreWrittenByANewerSdkIsIncompatibleVersionAndLeftUnchanged() throws {
        let file = storeFile()
        let key = CountingKeyProvider.withSeed(94)
        try withStore(file, key) { store in _ = try store.addVehicle(vehicle: NewVehicle(plate: "123ABC02")) }
        // SQLite keeps PRAGMA user_version (the schema version) at offset 60 of the header,
        // big-endian: what a future SDK's migration would leave there.
        var bytes = try Data(contentsOf: file)
        XCTAssertEqual(bytes[60 ..< 64].reduce(0) { $0 << 8 | Int32($1) }, storeSchemaVersion(), "the header holds the schema version")
        bytes.replaceSubrange(60 ..< 64, with: [0, 0, 0, 99])
        try bytes.write(to: file)
        let siblings = try filesInDir()
        assertThrows(.IncompatibleVersion(found: 99, supported: storeSchemaVersion()), try openStore(file, key))
        XCTAssertEqual(try Data(contentsOf: file), bytes, "the newer store is not touched")
        XCTAssertEqual(try filesInDir(), siblings, "no journal files are left behind")
    }

    func testAFlippedByteInOneSealedVehicleIsIntegrityFailureForThatRecordOnly() throws {
        let file = storeFile()
        let key = CountingKeyProvider.withSeed(95)
        let (good, bad, keptDoc, badDoc) = try withStore(file, key) { store in
            (
                try store.addVehicle(vehicle: NewVehicle(plate: "111AAA01", make: "Kia")),
                try store.addVehicle(vehicle: NewVehicle(plate: "222BBB02", make: "Lada")),
                try store.addDocument(document: NewDocument(kind: .driverLicence, number: "AB998877")),
                try store.addDocument(document: NewDocument(kind: .vehicleRegistrationCertificate, number: "ZZ999999"))
            )
        }
        try flipSealedByte(file, .vehicle, bad.id)
        try flipSealedByte(file, .document, badDoc.id)
        try withStore(file, key) { store in
            assertThrows(.IntegrityFailure(entity: .vehicle, recordId: bad.id), try store.getVehicle(id: bad.id))
            assertThrows(.IntegrityFailure(entity: .document, recordId: badDoc.id), try store.getDocument(id: badDoc.id))
            // The lists never fail on a damaged record: they hold every intact one, and
            // damagedRecords() names what they leave out (vehicles, then documents).
            XCTAssertEqual(try store.listVehicles(), [good], "the list leaves the damaged vehicle out")
            XCTAssertEqual(try store.listDocuments(), [keptDoc], "and the damaged document")
            XCTAssertEqual(
                try store.damagedRecords(),
                [RecordRef(entity: .vehicle, recordId: bad.id), RecordRef(entity: .document, recordId: badDoc.id)]
            )
            XCTAssertEqual(try store.getVehicle(id: good.id), good)
            do {
                _ = try store.getVehicle(id: bad.id)
                XCTFail("the damaged record was read")
            } catch {
                for text in [error.localizedDescription, "\(error)", String(reflecting: error)] {
                    XCTAssertFalse(text.contains("Lada") || text.contains("222"), text)
                }
            }
            // The export holds the intact records and names the damaged ones.
            let export = try XCTUnwrap(
                try JSONSerialization.jsonObject(with: Data(store.exportUserData().utf8)) as? [String: Any]
            )
            XCTAssertEqual((export["vehicles"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [good.id], "\(export)")
            XCTAssertEqual((export["documents"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [keptDoc.id], "\(export)")
            XCTAssertEqual(
                export["damaged_records"] as? [[String: String]],
                [["entity": "vehicle", "record_id": bad.id], ["entity": "document", "record_id": badDoc.id]]
            )
            // The damaged record can be removed by its id; the rest stays readable.
            try store.removeVehicle(id: bad.id)
            XCTAssertEqual(try store.listVehicles(), [good])
            XCTAssertEqual(try store.damagedRecords(), [RecordRef(entity: .document, recordId: badDoc.id)])
        }
    }

    func testAStorePathThatCannotBeCreatedIsATypedStorageError() throws {
        try Data("not a directory".utf8).write(to: storeFile("a-file"))
        let path = storeFile("a-file").appendingPathComponent("store.db").path
        XCTAssertThrowsError(try Store.open(path: path, keyProvider: CountingKeyProvider.withSeed(96))) { error in
            guard case let .Storage(reason) = error as? AparkingError else {
                return XCTFail("expected AparkingError.Storage, got \(error)")
            }
            XCTAssertFalse(reason.trimmingCharacters(in: .whitespaces).isEmpty)
            XCTAssertFalse(reason.contains(self.dir.path), "the reason does not quote the path: \(reason)")
        }
    }
}

/// A distinct current-format plate for (worker, index): `WII ABC RR`.
private func gapPlate(_ worker: Int, _ i: Int) -> String {
    String(format: "%d%02dABC%02d", worker, i, worker % 20 + 1)
}

/// Records what Rust logs, and on which threads.
private final class RecordingLogSink: LogSink, @unchecked Sendable {
    // Read and written only with `lock` held: the reason for `@unchecked Sendable`.
    private let lock = NSLock()
    private var received: [LogRecord] = []
    private var threads: [pthread_t] = []

    var records: [LogRecord] {
        lock.withLock { received }
    }

    func wasCalled(onThread thread: pthread_t) -> Bool {
        lock.withLock { threads.contains { pthread_equal($0, thread) != 0 } }
    }

    func log(record: LogRecord) {
        let current = pthread_self()
        lock.withLock {
            received.append(record)
            threads.append(current)
        }
    }
}

// Exhaustive switches: a variant added in Rust breaks the build here until the tests above
// list it (the Swift enums are not CaseIterable).

private func eventOrdinal(_ e: TelemetryEvent) -> Int {
    switch e {
    case .appInfo: 0
    case .screenView: 1
    case .sessionStart: 2
    case .sessionEnd: 3
    case .coarseLocation: 4
    case .networkQuality: 5
    case .errorCount: 6
    }
}

private func logLevelOrdinal(_ l: LogLevel) -> Int {
    switch l {
    case .error: 0
    case .warn: 1
    case .info: 2
    case .debug: 3
    case .trace: 4
    }
}

private func collectionMethodOrdinal(_ m: CollectionMethod) -> Int {
    switch m {
    case .onboardingScreen: 0
    case .settingsScreen: 1
    case .policyUpdatePrompt: 2
    }
}

private func purposeOrdinal(_ p: Purpose) -> Int {
    switch p {
    case .personalization: 0
    case .communication: 1
    case .serviceImprovement: 2
    case .statistics: 3
    case .connectionDiagnostics: 4
    }
}

private func networkTypeOrdinal(_ t: NetworkType) -> Int {
    switch t {
    case .offline: 0
    case .wifi: 1
    case .cellular2g: 2
    case .cellular3g: 3
    case .cellular4g: 4
    case .cellular5g: 5
    case .other: 6
    }
}

private func languageOrdinal(_ l: Language) -> Int {
    switch l {
    case .kk: 0
    case .ru: 1
    case .en: 2
    }
}

private func profileFieldOrdinal(_ f: ProfileField) -> Int {
    switch f {
    case .phone: 0
    case .fullName: 1
    case .email: 2
    case .preferredLanguage: 3
    }
}

private func vehicleFieldOrdinal(_ f: VehicleField) -> Int {
    switch f {
    case .plate: 0
    case .nickname: 1
    case .make: 2
    case .model: 3
    case .colour: 4
    case .registrationCertificateNumber: 5
    }
}

private func documentFieldOrdinal(_ f: DocumentField) -> Int {
    switch f {
    case .number: 0
    case .issuedOn: 1
    case .expiresOn: 2
    case .vehicleId: 3
    }
}

private func documentKindOrdinal(_ k: DocumentKind) -> Int {
    switch k {
    case .driverLicence: 0
    case .vehicleRegistrationCertificate: 1
    }
}
