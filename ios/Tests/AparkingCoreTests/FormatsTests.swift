import AparkingCore
import Foundation
import XCTest

/// Top-level format functions and input validation errors (mirrors FormatsTest.kt).
final class FormatsTests: XCTestCase {
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
            case .PolicyVersionMismatch: description = "policy version mismatch"
            case .StorageFull: description = "full"
            case .AuthRequired: description = "auth required"
            case .SyncInProgress: description = "sync in progress"
            case .SyncCancelled: description = "sync cancelled"
            case .Network: description = "network"
            case .Storage: description = "storage"
            case .Internal: description = "internal"
            }
            XCTAssertEqual(description, "invalid plate")
        } catch {
            XCTFail("expected AparkingError, got \(error)")
        }
        XCTAssertGreaterThanOrEqual(storeSchemaVersion(), 1)
    }

    func testSdkVersionIsTheCrateVersion() {
        // Semantic version of the Rust crate (Cargo.toml `[package] version`).
        let parts = sdkVersion().split(separator: ".")
        XCTAssertGreaterThanOrEqual(parts.count, 3, sdkVersion())
        XCTAssertTrue(parts.prefix(3).allSatisfy { Int($0) != nil }, sdkVersion())
    }
}
