import AparkingCore
#if os(Linux) || os(macOS)
    import AparkingReferenceServer
#endif
import Foundation
import XCTest

/// What Swift shows for the SDK's errors (ErrorDescriptions.swift over the Rust `Display`):
/// one sentence, not the enum dump, no personal data; a recovery suggestion where the app
/// can act. Errors are produced by the SDK wherever a test can make it fail that way.
final class ErrorDescriptionTests: StoreTestCase {
    // ---- Every case -----------------------------------------------------------------------

    func testEveryAparkingErrorCaseReadsAsOneSentenceWithoutTheEnumDump() {
        let samples = everyErrorCase()
        XCTAssertEqual(Set(samples.map(errorCaseName)).count, 22, "one sample of every case")
        for error in samples {
            let name = errorCaseName(error)
            let description = error.description
            XCTAssertEqual(error.message, sentenceForm(description), name)
            for text in renderings(error) {
                assertOneSentence(text, name)
                XCTAssertEqual(text, error.message, "every rendering is the same sentence (\(name))")
            }
            XCTAssertFalse(description.isEmpty, name)
            XCTAssertFalse(description.contains("AparkingError"), description)
        }
    }

    /// `"\(error)"` and `String(describing:)` use `description`, and the generated
    /// `description` is the Rust `Display`: the same words as the sentence, but lower-case
    /// and without the full stop (ErrorDescriptions.swift does not override it).
    func testInterpolationGivesTheRustDisplayTextOfTheSentence() throws {
        let error = try XCTUnwrap(sdkError { _ = try parsePlate(input: "nope") })
        XCTAssertEqual("\(error)", error.description)
        XCTAssertEqual(String(describing: error), error.description)
        XCTAssertTrue(error.description.hasPrefix("invalid plate: expected a Kazakhstan plate"), error.description)
        XCTAssertFalse(error.description.hasSuffix("."), error.description)
        XCTAssertEqual(error.message, sentenceForm(error.description))
        for sample in everyErrorCase() {
            XCTAssertEqual("\(sample)", sample.description, errorCaseName(sample))
            XCTAssertFalse("\(sample)".contains("AparkingError"), "\(sample)")
            XCTAssertEqual("\(sample as Error)", sample.description, errorCaseName(sample))
        }
    }

    func testRecoverySuggestionIsPresentWhereTheAppCanAct() {
        for error in everyErrorCase() {
            let name = errorCaseName(error)
            switch error {
            case .NotFound, .Storage, .Internal:
                XCTAssertNil(error.recoverySuggestion, name)
            default:
                let suggestion = error.recoverySuggestion
                XCTAssertNotNil(suggestion, name)
                if let suggestion { assertOneSentence(suggestion, "\(name) suggestion") }
            }
        }
        XCTAssertEqual(AparkingError.WrongKey.recoverySuggestion?.contains("deleteStoreFiles(path:)"), true)
        XCTAssertEqual(AparkingError.KeyUnavailable(reason: "locked").recoverySuggestion?.contains("deleteStoreFiles(path:)"), true)
        XCTAssertEqual(AparkingError.StoreCorrupted(reason: "x").recoverySuggestion?.contains("moveStoreAside(path:)"), true)
        // An older copy restored over the store: set it aside, start afresh, ask for consent again.
        let rolledBack = AparkingError.StoreRolledBack(fileEpoch: 3, expectedEpoch: 5)
        XCTAssertEqual(rolledBack.message, "The store file was restored from an older copy (epoch 3, expected at least 5).")
        for step in ["moveStoreAside(path:)", "open a new store", "sync", "consent again"] {
            XCTAssertEqual(rolledBack.recoverySuggestion?.contains(step), true, rolledBack.recoverySuggestion ?? "nil")
        }
        // Not removeVehicle/removeDocument: those delete the record on the backend too.
        let damaged = AparkingError.IntegrityFailure(entity: .vehicle, recordId: "0b5f3c52-8a7e-4c4e-9d0e-5a1f2b3c4d5e")
        XCTAssertEqual(damaged.recoverySuggestion?.contains("discardDamagedRecord(record:)"), true, damaged.recoverySuggestion ?? "nil")
        XCTAssertEqual(AparkingError.Network(reason: "HTTP 503", retryAfterMs: 1500).recoverySuggestion, "Try again in 2 s; nothing was lost.")
        XCTAssertEqual(AparkingError.Network(reason: "HTTP 503", retryAfterMs: nil).recoverySuggestion, "Try again later; nothing was lost.")
        // The account is gone (erased on another device): nothing to retry, sign the user out.
        let erased = AparkingError.AccountErased
        XCTAssertEqual(erased.recoverySuggestion?.hasPrefix("Sign the user out"), true, erased.recoverySuggestion ?? "nil")
        XCTAssertTrue(erased.message.hasPrefix("The account was erased"), erased.message)
    }

    func testKeyProviderErrorAndAuthProviderErrorDescriptionsAreSentences() {
        let key = KeyProviderError.Unavailable(reason: "keychain locked")
        let auth = AuthProviderError.SignedOut(reason: "session expired")
        for text in [key.description, "\(key)", String(reflecting: key), key.localizedDescription, (key as Error).localizedDescription] {
            assertOneSentence(text, "KeyProviderError")
            XCTAssertEqual(text, "The key provider could not supply the key: keychain locked.")
        }
        for text in [auth.description, "\(auth)", String(reflecting: auth), auth.localizedDescription, (auth as Error).localizedDescription] {
            assertOneSentence(text, "AuthProviderError")
            XCTAssertEqual(text, "The user is signed out: session expired.")
        }
        XCTAssertEqual(
            KeyProviderError.Unavailable(reason: "done.").description, "The key provider could not supply the key: done.", "no double stop"
        )
    }

    // ---- Produced by the SDK ------------------------------------------------------------------

    func testInvalidInputFromTheSdkDoesNotEchoTheTypedValue() throws {
        try withStore(storeFile(), CountingKeyProvider.withSeed(60)) { store in
            let cases: [(typed: [String], call: () throws -> Void)] = [
                (["987XYZ99", "987"], { _ = try parsePlate(input: "987XYZ99") }),
                (["987XYZ99", "987"], { _ = try store.addVehicle(vehicle: NewVehicle(plate: "987XYZ99")) }),
                (["987XYZ99", "987"], { _ = try store.findVehicleByPlate(plate: "987XYZ99") }),
                (["202 555 0100", "2025550100"], { _ = try normalizePhone(input: "+1 202 555 0100") }),
                (["aigerim.nurlanova", "@@"], { _ = try normalizeEmail(input: "aigerim.nurlanova@@mail.kz") }),
                (["987654", "№"], { _ = try normalizeDocumentNumber(input: "№987654") }),
                (["202 555 0100"], { _ = try store.updateProfile(patch: ProfilePatch(phone: "+1 202 555 0100")) }),
                (["987654"], { _ = try store.addDocument(document: NewDocument(kind: .driverLicence, number: "№987654")) }),
                (["aparking-secret.example"], { _ = try parsePolicyManifest(json: Self.manifest(url: "http://aparking-secret.example/p")) }),
            ]
            for (typed, call) in cases {
                let error = try XCTUnwrap(sdkError(call), "\(typed)")
                guard case .InvalidInput = error else {
                    XCTFail("expected InvalidInput for \(typed), got \(error)")
                    continue
                }
                assertNoPersonalData(error, typed)
            }
            XCTAssertNil(try store.getProfile(), "the failed updates saved nothing")
        }
    }

    func testAlreadyExistsAndNotFoundDoNotNameTheRecord() throws {
        try withStore(storeFile(), CountingKeyProvider.withSeed(61)) { store in
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "505 KZT 02"))
            _ = try store.addDocument(document: NewDocument(kind: .driverLicence, number: "QW 50 50 50"))
            let duplicatePlate = try XCTUnwrap(sdkError { _ = try store.addVehicle(vehicle: NewVehicle(plate: "505КZТ02")) })
            XCTAssertEqual(duplicatePlate, .AlreadyExists(entity: .vehicle))
            assertNoPersonalData(duplicatePlate, ["505", "KZT", "КZТ"])
            let duplicateDocument = try XCTUnwrap(
                sdkError { _ = try store.addDocument(document: NewDocument(kind: .driverLicence, number: "QW505050")) }
            )
            XCTAssertEqual(duplicateDocument, .AlreadyExists(entity: .document))
            assertNoPersonalData(duplicateDocument, ["QW", "505050"])

            let id = "id-9f1c2e77-distinctive"
            for call: () throws -> Void in [
                { try store.removeVehicle(id: id) },
                { _ = try store.updateVehicle(id: id, patch: VehiclePatch(make: "Kia")) },
                { try store.removeDocument(id: id) },
                { _ = try store.addDocument(document: NewDocument(kind: .driverLicence, number: "ZZ999999", vehicleId: id)) },
            ] {
                let error = try XCTUnwrap(sdkError(call))
                guard case .NotFound = error else {
                    XCTFail("expected NotFound, got \(error)")
                    continue
                }
                assertNoPersonalData(error, [id, "9f1c2e77"])
            }
        }
    }

    func testKeyErrorsAndCorruptionFromTheSdkAreSentencesWithARecoverySuggestion() throws {
        let file = storeFile()
        try withStore(file, CountingKeyProvider.withSeed(62)) { store in
            _ = try store.updateProfile(patch: ProfilePatch(phone: phoneTyped, fullName: "Айгерим Нурланова"))
        }
        let wrong = try XCTUnwrap(sdkError { _ = try self.openStore(file, CountingKeyProvider.withSeed(63)) })
        XCTAssertEqual(wrong, .WrongKey)
        assertNoPersonalData(wrong, ["Айгерим", phoneE164, file.path])

        let unavailable = try XCTUnwrap(
            sdkError { _ = try self.openStore(file, UnavailableKeyProvider(reason: "device not unlocked since boot")) }
        )
        XCTAssertEqual(unavailable, .KeyUnavailable(reason: "device not unlocked since boot"))
        XCTAssertEqual(unavailable.message, "The key is unavailable: device not unlocked since boot.", "the app's own reason is shown")
        assertNoPersonalData(unavailable, ["Айгерим", phoneE164, file.path])

        let secret = "kek-bytes-3f9a0c"
        let unexpected = try XCTUnwrap(sdkError { _ = try self.openStore(file, DescribedThrowingKeyProvider(secret)) })
        XCTAssertEqual(unexpected, .KeyUnavailable(reason: "the key provider failed unexpectedly"))
        assertNoPersonalData(unexpected, [secret])

        let junkFile = storeFile("junk.db")
        let junk = String(repeating: "Aigerim Nurlanova +77012345678 ", count: 200)
        try Data(junk.utf8).write(to: junkFile)
        let corrupted = try XCTUnwrap(sdkError { _ = try self.openStore(junkFile, CountingKeyProvider.withSeed(62)) })
        guard case .StoreCorrupted = corrupted else {
            return XCTFail("expected StoreCorrupted, got \(corrupted)")
        }
        assertNoPersonalData(corrupted, ["Aigerim", "77012345678", junkFile.path])

        for error in [wrong, unavailable, unexpected, corrupted] {
            let suggestion = try XCTUnwrap(error.recoverySuggestion, errorCaseName(error))
            assertOneSentence(suggestion, "\(errorCaseName(error)) suggestion")
            XCTAssertFalse(suggestion.contains("Айгерим") || suggestion.contains(secret), suggestion)
        }
    }

    func testStoreClosedConsentVersionAndStorageErrorsFromTheSdkAreSentences() throws {
        var produced: [AparkingError] = []
        let file = storeFile()
        try withStore(file, CountingKeyProvider.withSeed(64)) { store in
            let consent = Consent(store: store)
            produced.append(try XCTUnwrap(sdkError {
                _ = try consent.acceptPolicy(version: 1, granted: [.statistics], context: consentContext())
            }))
            _ = try consent.publishPolicy(manifest: policy(1))
            _ = try consent.publishPolicy(manifest: policy(2))
            produced.append(try XCTUnwrap(sdkError {
                _ = try consent.acceptPolicy(version: 1, granted: [.statistics], context: consentContext())
            }))
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "321 KZA 05"))
            try store.shutdown()
            produced.append(try XCTUnwrap(sdkError { _ = try store.listVehicles() }))
        }
        XCTAssertEqual(Array(produced.prefix(3)), [.NoPolicy, .PolicyVersionMismatch(accepted: 1, inForce: 2), .StoreClosed])

        var bytes = try Data(contentsOf: file)
        bytes.replaceSubrange(60 ..< 64, with: [0, 0, 0, 77])
        try bytes.write(to: file)
        produced.append(try XCTUnwrap(sdkError { _ = try self.openStore(file, CountingKeyProvider.withSeed(64)) }))
        XCTAssertEqual(produced.last, .IncompatibleVersion(found: 77, supported: storeSchemaVersion()))

        try Data("not a directory".utf8).write(to: storeFile("plain-file"))
        let underAFile = storeFile("plain-file").appendingPathComponent("store.db")
        let storage = try XCTUnwrap(sdkError { _ = try self.openStore(underAFile, CountingKeyProvider.withSeed(64)) })
        guard case .Storage = storage else {
            return XCTFail("expected Storage, got \(storage)")
        }
        produced.append(storage)

        for error in produced {
            assertNoPersonalData(error, ["321", "KZA", dir.path])
            for text in renderings(error) {
                assertOneSentence(text, errorCaseName(error))
            }
        }
    }

    /// The errors of the policy's trust and of its declared hosts, produced by the SDK: a sync
    /// and a telemetry upload to a host the policy in force does not declare
    /// (`UndeclaredHost`, before any connection), and a sync to a backend that signs its policy
    /// with a key the app does not trust (`UntrustedPolicy`). Synchronous, with the awaits in
    /// a Task, as the next test and for the same reason.
    func testUndeclaredHostAndUntrustedPolicyFromTheSdkAreSentencesWithARecoverySuggestion() throws {
        #if os(Linux) || os(macOS)
            let served = dir.appendingPathComponent("served-policy.json")
            try Self.manifest(url: "https://aparking.kz/privacy").write(to: served, atomically: true, encoding: .utf8)
            let serverData = dir.appendingPathComponent("server", isDirectory: true)
            try FileManager.default.createDirectory(at: serverData, withIntermediateDirectories: true)
            let server = try ReferenceServer(dataDirectory: serverData, arguments: ["--policy", served.path])
            defer { server.stop() }
            let store = try openStore(storeFile(), CountingKeyProvider.withSeed(66))
            defer { try? store.shutdown() }
            let consent = Consent(store: store)
            _ = try consent.publishPolicy(manifest: policy(1)) // declares no host: loopback only
            _ = try consent.acceptPolicy(version: 1, granted: allPurposes, context: consentContext())
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "321 KZA 05")) // something to push
            let telemetry = try Telemetry(store: store, config: fastConfig(undeclaredEndpoint))
            defer { telemetry.shutdown() }
            telemetry.record(event: networkSample(-90))
            XCTAssertTrue(telemetry.flush(timeoutMs: 5000))
            let token = "tok-5ecret-bearer-772"
            let endpoint = server.baseURL
            let outcome = SyncOutcomes()
            let finished = DispatchSemaphore(value: 0)
            Task.detached {
                await outcome.set(trustAndHostFailures(store: store, telemetry: telemetry, backend: endpoint, token: token))
                finished.signal()
            }
            XCTAssertEqual(finished.wait(timeout: .now() + 120), .success, "the calls did not finish")

            let errors = outcome.value
            XCTAssertEqual(errors.count, 3)
            guard errors.count == 3 else { return }
            XCTAssertEqual(errors[0], .UndeclaredHost(host: "192.0.2.1", channel: "personal data"))
            XCTAssertEqual(
                errors[0]?.message,
                "Personal data may not be sent to 192.0.2.1: the privacy policy in force does not declare that host."
            )
            guard case let .UntrustedPolicy(reason)? = errors[1] else {
                return XCTFail("expected UntrustedPolicy for a manifest signed by another key, got \(String(describing: errors[1]))")
            }
            XCTAssertTrue(reason.contains("policy manifest"), reason)
            XCTAssertEqual(errors[2], .UndeclaredHost(host: "192.0.2.1", channel: "telemetry"))
            XCTAssertEqual(try telemetry.pendingEvents(purpose: nil), 1, "the refused upload lost nothing")
            XCTAssertEqual(Consent(store: store).policyInForce()?.version, 1, "the untrusted manifest was ignored")
            for error in errors.compactMap({ $0 }) {
                assertNoPersonalData(error, [token, "5ecret", "321", "KZA"])
                for text in renderings(error) {
                    assertOneSentence(text, errorCaseName(error))
                }
                let suggestion = try XCTUnwrap(error.recoverySuggestion, errorCaseName(error))
                assertOneSentence(suggestion, "\(errorCaseName(error)) suggestion")
            }
        #else
            throw XCTSkip("needs the reference server, which iOS cannot start")
        #endif
    }

    /// AuthRequired needs a backend that answers (the public policy request comes first), so
    /// this starts the reference server; the network failure needs none. The test method is
    /// synchronous (the syncs run in a Task) because `ReferenceServer.stop()` called from an
    /// async test waits its full 10 s grace period on Linux.
    func testSyncErrorsFromTheSdkAreSentencesWithoutTheToken() throws {
        #if os(Linux) || os(macOS)
            let serverData = dir.appendingPathComponent("server", isDirectory: true)
            try FileManager.default.createDirectory(at: serverData, withIntermediateDirectories: true)
            let server = try ReferenceServer(dataDirectory: serverData)
            defer { server.stop() }
            let store = try openStore(storeFile(), CountingKeyProvider.withSeed(65))
            defer { try? store.shutdown() }
            _ = try store.addVehicle(vehicle: NewVehicle(plate: "321 KZA 05")) // something to push
            let token = "tok-5ecret-bearer-771"
            let endpoint = server.baseURL
            let outcome = SyncOutcomes()
            let finished = DispatchSemaphore(value: 0)
            Task.detached {
                await outcome.set(syncFailures(store: store, endpoint: endpoint, token: token))
                finished.signal()
            }
            XCTAssertEqual(finished.wait(timeout: .now() + 120), .success, "the syncs did not finish")

            let errors = outcome.value
            XCTAssertEqual(errors.count, 3)
            guard errors.count == 3 else { return }
            XCTAssertEqual(errors[0], .AuthRequired(reason: "signed out on another device"))
            guard case .AuthRequired = errors[1] else {
                return XCTFail("expected AuthRequired for a token the backend does not know, got \(String(describing: errors[1]))")
            }
            guard case .Network = errors[2] else {
                return XCTFail("expected Network without a backend, got \(String(describing: errors[2]))")
            }
            for error in errors.compactMap({ $0 }) {
                assertNoPersonalData(error, [token, "5ecret", "321", "KZA"])
                for text in renderings(error) {
                    assertOneSentence(text, errorCaseName(error))
                }
                XCTAssertNotNil(error.recoverySuggestion, errorCaseName(error))
            }
        #else
            throw XCTSkip("needs the reference server, which iOS cannot start")
        #endif
    }

    private static func manifest(url: String) -> String {
        """
        {"version": 1, "last_updated": "2026-03-01", "url": "\(url)",
         "text_sha256": "\(String(repeating: "ab", count: 32))", "purposes": ["statistics"]}
        """
    }
}

// ---- Helpers ----------------------------------------------------------------------------

/// One value of every `AparkingError` case, with realistic (non-personal) reasons.
private func everyErrorCase() -> [AparkingError] {
    [
        .InvalidInput(field: "plate", reason: "expected 123 ABC 02"),
        .AlreadyExists(entity: .vehicle),
        .NotFound(entity: .document),
        .WrongKey,
        .KeyUnavailable(reason: "keychain locked"),
        .IntegrityFailure(entity: .vehicle, recordId: "0b5f3c52-8a7e-4c4e-9d0e-5a1f2b3c4d5e"),
        .StoreCorrupted(reason: "the file is not an aparking store"),
        .IncompatibleVersion(found: 99, supported: storeSchemaVersion()),
        .StoreClosed,
        .AuthRequired(reason: "session expired"),
        .SyncInProgress,
        .SyncCancelled,
        .AccountErased,
        .StoreRolledBack(fileEpoch: 3, expectedEpoch: 5),
        .Network(reason: "HTTP 503", retryAfterMs: 30000),
        .NoPolicy,
        .PolicyVersionMismatch(accepted: 1, inForce: 2),
        .StorageFull,
        .UndeclaredHost(host: "collector.example.com", channel: "personal data"),
        .UntrustedPolicy(reason: "the backend's policy manifest is not signed"),
        .Storage(reason: "SQLITE_IOERR"),
        .Internal(reason: "unexpected state"),
    ]
}

/// The case's name (an exhaustive switch: a new case breaks the build here).
private func errorCaseName(_ error: AparkingError) -> String {
    switch error {
    case .InvalidInput: "InvalidInput"
    case .AlreadyExists: "AlreadyExists"
    case .NotFound: "NotFound"
    case .WrongKey: "WrongKey"
    case .KeyUnavailable: "KeyUnavailable"
    case .IntegrityFailure: "IntegrityFailure"
    case .StoreCorrupted: "StoreCorrupted"
    case .IncompatibleVersion: "IncompatibleVersion"
    case .StoreClosed: "StoreClosed"
    case .AuthRequired: "AuthRequired"
    case .SyncInProgress: "SyncInProgress"
    case .SyncCancelled: "SyncCancelled"
    case .AccountErased: "AccountErased"
    case .StoreRolledBack: "StoreRolledBack"
    case .Network: "Network"
    case .NoPolicy: "NoPolicy"
    case .PolicyVersionMismatch: "PolicyVersionMismatch"
    case .StorageFull: "StorageFull"
    case .UndeclaredHost: "UndeclaredHost"
    case .UntrustedPolicy: "UntrustedPolicy"
    case .Storage: "Storage"
    case .Internal: "Internal"
    }
}

/// What an app shows or logs for an error, in every way Swift offers that is meant to read
/// as a sentence.
private func renderings(_ error: AparkingError) -> [String] {
    [
        error.localizedDescription,
        (error as Error).localizedDescription,
        String(reflecting: error),
        error.debugDescription,
        error.message,
        error.errorDescription ?? "",
    ]
}

/// `text` capitalised with a closing full stop (what ErrorDescriptions.swift promises).
private func sentenceForm(_ text: String) -> String {
    guard let first = text.first else { return text }
    let capitalised = first.uppercased() + text.dropFirst()
    return capitalised.hasSuffix(".") ? capitalised : capitalised + "."
}

private func assertOneSentence(_ text: String, _ context: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertFalse(text.isEmpty, "empty (\(context))", file: file, line: line)
    XCTAssertEqual(text.first.map { $0.isUppercase }, true, "no capital first letter (\(context)): \(text)", file: file, line: line)
    XCTAssertTrue(text.hasSuffix("."), "no closing full stop (\(context)): \(text)", file: file, line: line)
    XCTAssertFalse(text.dropLast().hasSuffix("."), "a double full stop (\(context)): \(text)", file: file, line: line)
    XCTAssertFalse(text.contains("\n"), "more than one line (\(context)): \(text)", file: file, line: line)
    for dump in ["AparkingError", "AparkingCore.", "KeyProviderError", "AuthProviderError", "(reason:", "(field:", "(entity:"] {
        XCTAssertFalse(text.contains(dump), "the enum dump (\(context)): \(text)", file: file, line: line)
    }
    // One sentence: no full stop followed by a new sentence inside.
    let inner = text.dropLast()
    let words = inner.split(separator: " ")
    for (word, next) in zip(words, words.dropFirst()) where word.hasSuffix(".") {
        XCTAssertFalse(next.first?.isUppercase == true, "two sentences (\(context)): \(text)", file: file, line: line)
    }
}

/// Every text Swift gives for `error` (sentences, `description`, recovery suggestion) is
/// free of `values`.
private func assertNoPersonalData(
    _ error: AparkingError, _ values: [String], file: StaticString = #filePath, line: UInt = #line
) {
    let texts = renderings(error) + ["\(error)", String(describing: error), error.recoverySuggestion ?? ""]
    for text in texts {
        for value in values {
            XCTAssertFalse(text.contains(value), "'\(value)' echoed in: \(text)", file: file, line: line)
        }
    }
}

/// The `AparkingError` that `body` throws (nil, after a failed assertion, if none).
private func sdkError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> AparkingError? {
    do {
        try body()
        XCTFail("expected an AparkingError, nothing was thrown", file: file, line: line)
    } catch let error as AparkingError {
        return error
    } catch {
        XCTFail("expected an AparkingError, got \(error)", file: file, line: line)
    }
    return nil
}

/// The AparkingError of three syncs (nil where none was thrown): signed out, a token the
/// backend does not know, no backend at all.
private func syncFailures(store: Store, endpoint: String, token: String) async -> [AparkingError?] {
    let network = NetworkConfig(maxAttempts: 1, retryBaseDelayMs: 5, retryMaxDelayMs: 50, connectTimeoutMs: 2000, requestTimeoutMs: 5000)
    let attempts: [(String, String?)] = [(endpoint, nil), (endpoint, token), (nowhere, token)]
    var errors: [AparkingError?] = []
    for (url, bearer) in attempts {
        do {
            let client = try SyncClient(
                store: store, config: SyncConfig(endpoint: url, network: network), authProvider: FixedAuthProvider(token: bearer)
            )
            _ = try await client.sync()
            errors.append(nil)
        } catch {
            errors.append(error as? AparkingError)
        }
    }
    return errors
}

/// The AparkingError (nil where none was thrown) of a sync to a host the policy in force does
/// not declare, of a sync to `backend` trusting only `untrustedPolicyKey`, and of a telemetry
/// upload (`telemetry` is configured with an undeclared endpoint).
private func trustAndHostFailures(store: Store, telemetry: Telemetry, backend: String, token: String) async -> [AparkingError?] {
    let network = NetworkConfig(maxAttempts: 1, retryBaseDelayMs: 5, retryMaxDelayMs: 50, connectTimeoutMs: 2000, requestTimeoutMs: 5000)
    let configs = [
        SyncConfig(endpoint: undeclaredEndpoint, network: network),
        SyncConfig(endpoint: backend, network: network, policyPublicKeys: [untrustedPolicyKey]),
    ]
    var errors: [AparkingError?] = []
    for config in configs {
        do {
            let client = try SyncClient(store: store, config: config, authProvider: FixedAuthProvider(token: token))
            _ = try await client.sync()
            errors.append(nil)
        } catch {
            errors.append(error as? AparkingError)
        }
    }
    do {
        _ = try await telemetry.upload()
        errors.append(nil)
    } catch {
        errors.append(error as? AparkingError)
    }
    return errors
}

/// An AuthProvider with a fixed token, or signed out when `token` is nil.
private final class FixedAuthProvider: AuthProvider {
    let token: String?

    init(token: String?) {
        self.token = token
    }

    func bearerToken(refresh _: Bool) throws -> String {
        guard let token else { throw AuthProviderError.SignedOut(reason: "signed out on another device") }
        return token
    }
}

/// A KeyProvider that throws an error whose description carries `secret`.
private final class DescribedThrowingKeyProvider: KeyProvider {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let secret: String

    init(_ secret: String) {
        self.secret = secret
    }

    func keyEncryptionKey() throws -> Data {
        throw Failure(description: "keychain wrapper failed, key was \(secret)")
    }
}

/// The errors of the syncs, handed from the Task to the test.
private final class SyncOutcomes: @unchecked Sendable {
    // Read and written only with `lock` held: the reason for `@unchecked Sendable`.
    private let lock = NSLock()
    private var errors: [AparkingError?] = []

    var value: [AparkingError?] {
        lock.withLock { errors }
    }

    func set(_ value: [AparkingError?]) {
        lock.withLock { errors = value }
    }
}
