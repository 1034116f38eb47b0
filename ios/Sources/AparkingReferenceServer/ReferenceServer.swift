// The project's reference backend (`aparking-server`, the Rust crate in server/) as a child
// process on a free loopback port, for the XCTest suites and the Swift sample on a host
// (Linux or macOS). Not part of the SDK: iOS cannot start processes, so on iOS this module is
// empty and the tests that need a backend skip themselves.
#if os(Linux) || os(macOS)
import Foundation

/// A running `aparking-server --bind 127.0.0.1:0 --data-dir DIR [extra arguments]`.
///
/// The binary is `$APARKING_SERVER_BIN`, else `target/debug/aparking-server` of the repository
/// this file is in (`cargo build -p aparking-server` builds it). Its stderr is drained for the
/// whole life of the process (one line per request), so the pipe never blocks the server, and
/// kept for ``logLines(containing:)``. Call ``stop()`` when done; `deinit` stops it too.
public final class ReferenceServer: @unchecked Sendable {
    /// `http://127.0.0.1:PORT`, as the server printed it.
    public let baseURL: String

    private let process: Process
    /// Every stderr line so far, and the address; filled by the reader thread.
    private let log = ServerLog()

    /// Errors starting the server.
    public enum StartError: Error, CustomStringConvertible {
        /// No executable at the path.
        case binaryMissing(path: String)
        /// The server did not print its address in time; its output so far.
        case noAddress(output: String)

        public var description: String {
            switch self {
            case let .binaryMissing(path):
                "no reference server at \(path): run `cargo build -p aparking-server` or set APARKING_SERVER_BIN"
            case let .noAddress(output):
                "aparking-server did not report its address in time; its output:\n\(output)"
            }
        }
    }

    /// The path of the server binary (see the type's documentation).
    public static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["APARKING_SERVER_BIN"], !path.isEmpty {
            return path
        }
        // ios/Sources/AparkingReferenceServer/ReferenceServer.swift -> the repository root.
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("target/debug/aparking-server").path
    }

    /// Starts the server with its data in `dataDirectory` and `arguments` appended (e.g.
    /// `["--token", "token-a:acct-1", "--policy", path]`), and waits until it listens.
    public init(dataDirectory: URL, arguments: [String] = [], timeout: TimeInterval = 30) throws {
        let binary = Self.binaryPath
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw StartError.binaryMissing(path: binary)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--bind", "127.0.0.1:0", "--data-dir", dataDirectory.path] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["APARKING_SERVER_LOG"] = "info"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        let stderr = Pipe()
        process.standardError = stderr
        self.process = process
        baseURL = try Self.launch(process, stderr: stderr.fileHandleForReading, timeout: timeout, log: log)
    }

    deinit {
        stop()
    }

    /// How many stderr lines so far contain `text` (the server logs one line per request).
    public func logLines(containing text: String) -> Int {
        log.lines.filter { $0.contains(text) }.count
    }

    /// Everything the server wrote to stderr so far.
    public var output: String {
        log.lines.joined(separator: "\n")
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it to exit.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline {
            usleep(10_000)
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Runs `process`, reads `stderr` line by line on a thread of its own until the pipe
    /// closes, and returns the URL from the "listening on http://..." line.
    private static func launch(
        _ process: Process, stderr: FileHandle, timeout: TimeInterval, log found: ServerLog
    ) throws -> String {
        try process.run()
        let reader = Thread {
            var pending = Data()
            while true {
                let chunk = stderr.availableData
                if chunk.isEmpty { break } // end of file: the server exited
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex ..< newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex ... newline)
                    found.offer(line)
                }
            }
            found.close()
        }
        reader.start()
        guard let url = found.wait(timeout: timeout) else {
            process.terminate()
            throw StartError.noAddress(output: found.lines.joined(separator: "\n"))
        }
        return url
    }
}

/// The server's stderr lines and its address, written by the reader thread. Every access
/// holds `condition`'s lock, which is why it is `@unchecked Sendable`.
private final class ServerLog: @unchecked Sendable {
    private let condition = NSCondition()
    private var url: String?
    private var closed = false
    private var seen: [String] = []

    func offer(_ line: String) {
        condition.lock()
        defer { condition.unlock() }
        seen.append(line)
        guard url == nil, let range = line.range(of: "listening on http://127.0.0.1:") else { return }
        let rest = line[range.lowerBound...].dropFirst("listening on ".count)
        url = String(rest.prefix { !$0.isWhitespace })
        condition.broadcast()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    func wait(timeout: TimeInterval) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while url == nil, !closed, condition.wait(until: deadline) {}
        return url
    }

    var lines: [String] {
        condition.lock()
        defer { condition.unlock() }
        return seen
    }
}
#endif
