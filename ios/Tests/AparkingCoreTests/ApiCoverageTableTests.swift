import Foundation
import XCTest

/// Keeps ios/COVERAGE.md true (the twin of ApiCoverageTableTest.kt): every public item of the
/// generated Swift bindings and of the hand-written Swift layer has a row (a case of a data
/// enum may have one); no row names an item that is gone; every test a row cites exists, and a
/// test cited for a function, method or case mentions it. Reads the sources, so it runs on hosts (Linux, macOS), not on a simulator.
final class ApiCoverageTableTests: XCTestCase {
    /// ios/ (this file is ios/Tests/AparkingCoreTests/ApiCoverageTableTests.swift).
    private let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func read(_ relative: String) throws -> String {
        try String(contentsOf: packageRoot.appendingPathComponent(relative), encoding: .utf8)
    }

    /// An exported item: `name` as the table writes it (`Store.addVehicle`), `kind`, and the
    /// word a test that exercises it must contain (functions, methods and cases only). An
    /// optional item (a case of a data enum, which is listed as a whole) may have its own
    /// row, checked like the others, but need not.
    private struct Item: Hashable {
        let name: String
        let kind: String
        let mention: String?
        var optional = false
    }

    /// The items of the generated file, by line prefixes uniffi 0.32 writes.
    private func generatedItems(_ source: String) -> [Item] {
        var items: [Item] = []
        var owner: String?
        var errorEnum: String?
        var dataEnum: String?
        let lines = source.components(separatedBy: "\n")
        for (index, line) in lines.enumerated() {
            let previous = index > 0 ? lines[index - 1] : ""
            if line.hasPrefix("open class ") {
                let name = identifier(after: "open class ", in: line)
                owner = name.hasSuffix("Impl") ? nil : name
                if let owner { items.append(Item(name: owner, kind: "class", mention: nil)) }
                continue
            }
            // A class's members are at column 0 too; its end is the next top-level declaration.
            if ["public protocol ", "public struct ", "public enum ", "public func ", "fileprivate ", "extension "]
                .contains(where: { line.hasPrefix($0) }) {
                owner = nil
            }
            if line.hasPrefix("}") {
                errorEnum = nil
                dataEnum = nil
            }
            if line.hasPrefix("enum "), previous.hasPrefix("public"), line.contains("Swift.Error") {
                let name = identifier(after: "enum ", in: line)
                items.append(Item(name: name, kind: "error", mention: nil))
                errorEnum = name
                continue
            }
            if let errorEnum, line.hasPrefix("    case ") {
                let name = identifier(after: "    case ", in: line)
                items.append(Item(name: "\(errorEnum).\(name)", kind: "error case", mention: name))
                continue
            }
            if let dataEnum, line.hasPrefix("    case ") {
                let name = identifier(after: "    case ", in: line)
                items.append(Item(name: "\(dataEnum).\(name)", kind: "enum case", mention: ".\(name)", optional: true))
                continue
            }
            if let owner {
                if line.hasPrefix("open func ") {
                    let name = identifier(after: "open func ", in: line)
                    items.append(Item(name: "\(owner).\(name)", kind: "method", mention: ".\(name)("))
                } else if line.hasPrefix("public convenience init(") {
                    items.append(Item(name: "\(owner).init", kind: "initializer", mention: owner + "("))
                } else if line.hasPrefix("public static func ") {
                    let name = identifier(after: "public static func ", in: line.replacingOccurrences(of: "`", with: ""))
                    items.append(Item(name: "\(owner).\(name)", kind: "static method", mention: ".\(name)("))
                }
                continue
            }
            if line.hasPrefix("public func ") {
                let name = identifier(after: "public func ", in: line)
                if !name.hasPrefix("FfiConverter"), !name.hasPrefix("uniffi") {
                    items.append(Item(name: name, kind: "function", mention: name + "("))
                }
            } else if line.hasPrefix("public protocol ") {
                let name = identifier(after: "public protocol ", in: line)
                if !name.hasSuffix("Protocol") { items.append(Item(name: name, kind: "protocol", mention: nil)) }
            } else if line.hasPrefix("public struct ") {
                let name = identifier(after: "public struct ", in: line)
                if !name.hasPrefix("FfiConverter") { items.append(Item(name: name, kind: "struct", mention: nil)) }
            } else if line.hasPrefix("public enum ") {
                let name = identifier(after: "public enum ", in: line)
                if !name.hasPrefix("FfiConverter") {
                    items.append(Item(name: name, kind: "enum", mention: nil))
                    dataEnum = name
                }
            }
        }
        return items
    }

    /// The public members the hand-written files add in `extension Type { ... }` blocks.
    private func handWrittenItems(_ source: String) -> [Item] {
        var items: [Item] = []
        var owner: String?
        for line in source.components(separatedBy: "\n") {
            if line.hasPrefix("extension ") {
                owner = identifier(after: "extension ", in: line)
            } else if line.hasPrefix("}") {
                owner = nil
            } else if let owner {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix("public func ") {
                    let name = identifier(after: "public func ", in: trimmed)
                    items.append(Item(name: "\(owner).\(name)", kind: "method (Swift layer)", mention: ".\(name)("))
                } else if trimmed.hasPrefix("public var ") {
                    let name = identifier(after: "public var ", in: trimmed)
                    items.append(Item(name: "\(owner).\(name)", kind: "property (Swift layer)", mention: nil))
                }
            }
        }
        return items
    }

    private func identifier(after prefix: String, in line: String) -> String {
        String(line.dropFirst(prefix.count).prefix { $0.isLetter || $0.isNumber || $0 == "_" })
    }

    /// Rows of the table: item (first cell, in backquotes) -> the tests cited in the last cell.
    private func tableRows(_ markdown: String) -> [String: [String]] {
        var rows: [String: [String]] = [:]
        for line in markdown.components(separatedBy: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count >= 4 else { continue }
            let item = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let tests = cells[cells.count - 2].components(separatedBy: ";").map {
                $0.trimmingCharacters(in: CharacterSet(charactersIn: "` "))
            }.filter { !$0.isEmpty }
            rows[item] = tests
        }
        return rows
    }

    /// Test class name -> its file's text, for every file in Tests/AparkingCoreTests.
    private func testSources() throws -> [String: String] {
        let dir = packageRoot.appendingPathComponent("Tests/AparkingCoreTests")
        var byClass: [String: String] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".swift") {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            for line in text.components(separatedBy: "\n") where line.contains("class ") && line.contains("XCTestCase") || line.contains("TestCase {") {
                guard let range = line.range(of: "class ") else { continue }
                let name = identifier(after: "", in: String(line[range.upperBound...]))
                if !name.isEmpty { byClass[name] = text }
            }
        }
        return byClass
    }

    /// The text of `func method(` in `source` up to the next member function.
    private func body(of method: String, in source: String) -> String? {
        guard let start = source.range(of: "func \(method)(") else { return nil }
        let rest = source[start.upperBound...]
        let end = rest.range(of: "\n    func ") ?? rest.range(of: "\n    private func ")
        return String(rest[..<(end?.lowerBound ?? rest.endIndex)])
    }

    func testEveryPublicItemHasARowAndEveryRowAndCitedTestExists() throws {
        let generatedPath = packageRoot.appendingPathComponent("Sources/AparkingCore/AparkingCore.swift").path
        guard FileManager.default.fileExists(atPath: generatedPath) else {
            throw XCTSkip("the package sources are not readable here (a simulator)")
        }
        let generated = try read("Sources/AparkingCore/AparkingCore.swift")
        let handWritten = try ["Streams.swift", "ErrorDescriptions.swift"].map {
            try read("Sources/AparkingCore/\($0)")
        }
        let items = generatedItems(generated) + handWritten.flatMap(handWrittenItems)
        XCTAssertGreaterThan(items.count, 80, "the parser found the API (\(items.count) items)")
        let rows = tableRows(try read("COVERAGE.md"))
        let sources = try testSources()

        let names = Set(items.map(\.name))
        let missing = items.filter { !$0.optional && rows[$0.name] == nil }
        XCTAssertTrue(missing.isEmpty, "items without a row in ios/COVERAGE.md:\n"
            + missing.map { "| `\($0.name)` | \($0.kind) | |" }.joined(separator: "\n"))
        let stale = rows.keys.filter { !names.contains($0) }.sorted()
        XCTAssertTrue(stale.isEmpty, "rows naming no public item: \(stale)")

        var problems: [String] = []
        for item in items {
            guard let tests = rows[item.name] else { continue }
            if tests.isEmpty { problems.append("\(item.name): no test cited") }
            for test in tests where test != "n/a" {
                let parts = test.split(separator: ".").map(String.init)
                guard parts.count == 2, let source = sources[parts[0]] else {
                    problems.append("\(item.name): no test class \(test)")
                    continue
                }
                guard let text = body(of: parts[1], in: source) else {
                    problems.append("\(item.name): no test \(test)")
                    continue
                }
                if let mention = item.mention, !text.contains(mention) {
                    problems.append("\(item.name): \(test) does not mention \(mention)")
                }
            }
        }
        XCTAssertTrue(problems.isEmpty, problems.joined(separator: "\n"))
    }
}
