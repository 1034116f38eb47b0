import AparkingCore
import Foundation
import XCTest

/// Top-level format functions and input validation errors (mirrors FormatsTest.kt).
final class FormatsTests: XCTestCase {
    func testVariantsWithoutFieldsPrintTheirName() {
        // Swift enums print their case (the twin of the Kotlin data objects).
        XCTAssertEqual("\(SyncEvent.started)", "started")
        XCTAssertEqual("\(ConsentStatus.allowed)", "allowed")
        XCTAssertEqual("\(TelemetryEvent.sessionStart)", "sessionStart")
    }

    func testParsePlateNormalisesBothCivilFormats() throws {
        let current = try parsePlate(input: "123-АВС-02")
        XCTAssertEqual(current, PlateNumber(canonical: "123ABC02", display: "123 ABC 02", format: .current, region: "02"))
        XCTAssertEqual(try parsePlate(input: "123 авс 02"), current)
        XCTAssertEqual(try parsePlate(input: " 123abc02 "), current)
        XCTAssertEqual(try parsePlate(input: current.display), current, "the display form parses to itself")

        let legacy = try parsePlate(input: "а 123 вс")
        XCTAssertEqual(legacy, PlateNumber(canonical: "A123BC", display: "A 123 BC", format: .legacy, region: "A"))
        XCTAssertEqual(try parsePlate(input: "A123BCD").display, "A 123 BCD")
    }

    func testParsePlateRecognisesCompanyAndForeignOwnerPlatesAndPlateRegionNameNamesTheRegion() throws {
        let company = try parsePlate(input: "123 ав 02")
        XCTAssertEqual(company, PlateNumber(canonical: "123AB02", display: "123 AB 02", format: .currentLegalEntity, region: "02"))
        let foreign = try parsePlate(input: "Н-5678-17")
        XCTAssertEqual(foreign, PlateNumber(canonical: "H567817", display: "H 5678 17", format: .currentForeign, region: "17"))
        XCTAssertEqual(try parsePlate(input: foreign.display), foreign)
        for bad in ["123AB21", "G123402", "F12302"] {
            XCTAssertNotNil(assertInvalidInput(try parsePlate(input: bad), "'\(bad)'"))
        }

        XCTAssertEqual(plateRegionName(region: company.region, language: .kk), "Алматы")
        XCTAssertEqual(plateRegionName(region: foreign.region, language: .en), "Shymkent")
        XCTAssertEqual(plateRegionName(region: "20", language: .ru), "Улытауская область")
        XCTAssertEqual(plateRegionName(region: try parsePlate(input: "A123BC").region, language: .en), "Almaty", "1993 letters too")
        XCTAssertNil(plateRegionName(region: "O", language: .en), "a letter two regions used names none")
        XCTAssertNil(plateRegionName(region: "21", language: .en))
    }

    func testParsePlateRejectsMalformedPlatesWithoutEchoingThem() {
        for bad in ["987XYZ99", "12ABC02", "1234ABC02", "123ЖЖЖ02", "A123B", "987-qwe-00", ""] {
            let err = assertInvalidInput(try parsePlate(input: bad), "'\(bad)'")
            XCTAssertEqual(err?.field, "plate")
            XCTAssertEqual(err?.reason.contains("123 ABC 02"), true, "the reason names the expected format")
            if !bad.isEmpty {
                XCTAssertEqual(err?.description.contains(bad), false, "the message echoes '\(bad)'")
            }
        }
    }

    func testPhoneEmailAndDocumentNumberNormalisers() throws {
        for typed in [phoneTyped, "+7 701 234 56 78", "77012345678", "+7-701-234-5678"] {
            XCTAssertEqual(try normalizePhone(input: typed), phoneE164, typed)
        }
        let phone = assertInvalidInput(try normalizePhone(input: "+1 202 555 0100"))
        XCTAssertEqual(phone?.field, "phone")
        XCTAssertEqual(phone?.description.contains("202 555 0100"), false)

        XCTAssertEqual(try normalizeEmail(input: " Aigerim@Mail.KZ "), "Aigerim@mail.kz")
        XCTAssertEqual(assertInvalidInput(try normalizeEmail(input: "a@kz"))?.field, "email")

        XCTAssertEqual(try normalizeDocumentNumber(input: "ав 12-34 56"), "AB123456")
        let doc = assertInvalidInput(try normalizeDocumentNumber(input: "№123456"))
        XCTAssertEqual(doc?.field, "number")
        XCTAssertEqual(doc?.description.contains("123456"), false)
    }

    /// Lists every case: a case added in Rust breaks the build here until it is handled
    /// (tests/packaging.sh checks the list against the generated bindings).
    func testAparkingErrorCanBeMatchedExhaustivelyWithSwitch() {
        do {
            _ = try parsePlate(input: "nope")
            XCTFail("expected an error")
        } catch let error as AparkingError {
            let description: String
            switch error {
            case let .InvalidInput(field, _): description = "invalid \(field)"
            case .AlreadyExists: description = "exists"
            case .NotFound: description = "not found"
            case .WrongKey: description = "wrong key"
            case .KeyUnavailable: description = "key unavailable"
            case .IntegrityFailure: description = "integrity"
            case .StoreCorrupted: description = "corrupted"
            case .IncompatibleVersion: description = "incompatible"
            case .StoreClosed: description = "closed"
            case .NoPolicy: description = "no policy"
            case let .PolicyVersionMismatch(accepted, inForce): description = "policy \(accepted) vs \(inForce)"
            case .StorageFull: description = "full"
            case let .UndeclaredHost(_, channel): description = "undeclared host for \(channel)"
            case .UntrustedPolicy: description = "untrusted policy"
            case .AuthRequired: description = "auth required"
            case .SyncInProgress: description = "sync in progress"
            case .SyncCancelled: description = "sync cancelled"
            case .AccountErased: description = "account erased"
            case let .StoreRolledBack(fileEpoch, expectedEpoch): description = "rolled back \(fileEpoch) < \(expectedEpoch)"
            case let .Network(_, retryAfterMs): description = "network \(String(describing: retryAfterMs))"
            case .Storage: description = "storage"
            case .Internal: description = "internal"
            }
            XCTAssertEqual(description, "invalid plate")
        } catch {
            XCTFail("expected AparkingError, got \(error)")
        }
        XCTAssertGreaterThanOrEqual(storeSchemaVersion(), 1)
    }

    /// What the normalisers return is already normal: it goes through them unchanged (an app
    /// may store the result and normalise it again).
    func testNormalisedFormsGoThroughTheNormalisersUnchanged() throws {
        for typed in ["123-АВС-02", "а 123 вс", "A123BCD", "555 ТТТ 17"] {
            let plate = try parsePlate(input: typed)
            XCTAssertEqual(try parsePlate(input: plate.canonical), plate, typed)
            XCTAssertEqual(try parsePlate(input: plate.display), plate, typed)
            XCTAssertEqual(plate.format == .current ? plate.canonical.suffix(2) : plate.canonical.prefix(1), Substring(plate.region))
        }
        XCTAssertEqual(try normalizePhone(input: phoneE164), phoneE164)
        for typed in [" Aigerim@Mail.KZ ", "aigerim@MAIL.kz"] {
            let email = try normalizeEmail(input: typed)
            XCTAssertEqual(try normalizeEmail(input: email), email, typed)
        }
        for typed in ["ав 12-34 56", "кх 00-77 11"] {
            let number = try normalizeDocumentNumber(input: typed)
            XCTAssertEqual(try normalizeDocumentNumber(input: number), number, typed)
            XCTAssertTrue(number.unicodeScalars.allSatisfy { $0.isASCII }, "Cyrillic look-alikes become Latin: \(number)")
        }
    }

    /// The errors are values: the same failure compares equal and hashes alike, which is what
    /// `assertThrows` and an app's `catch AparkingError.WrongKey` rely on.
    func testAparkingErrorsAreValuesThatCompareAndHashByTheirFields() {
        func failure(_ body: () throws -> Void) -> AparkingError? {
            do {
                try body()
            } catch let error as AparkingError {
                return error
            } catch {
                XCTFail("expected AparkingError, got \(error)")
            }
            return nil
        }
        let first = failure { _ = try parsePlate(input: "nope") }
        let second = failure { _ = try parsePlate(input: "987XYZ99") }
        let phone = failure { _ = try normalizePhone(input: "12") }
        XCTAssertNotNil(first)
        XCTAssertEqual(first, second, "the reason does not depend on the value typed")
        XCTAssertNotEqual(first, phone)
        XCTAssertEqual(Set([first, second, phone].compactMap { $0 }).count, 2)
        guard case let .InvalidInput(field, reason) = phone else {
            return XCTFail("expected InvalidInput, got \(String(describing: phone))")
        }
        XCTAssertEqual(field, "phone")
        XCTAssertEqual(phone, .InvalidInput(field: field, reason: reason))
    }

    func testSdkVersionIsTheCrateVersion() {
        // Semantic version of the Rust crate (Cargo.toml `[package] version`).
        let parts = sdkVersion().split(separator: ".")
        XCTAssertGreaterThanOrEqual(parts.count, 3, sdkVersion())
        XCTAssertTrue(parts.prefix(3).allSatisfy { Int($0) != nil }, sdkVersion())
    }
}
