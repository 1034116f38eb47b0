// The project's reference backend (`aparking-server`, the Rust crate in server/) as a child
// process on a free loopback port, for the XCTest suites and the Swift sample on a host
// (Linux or macOS). Not part of the SDK: iOS cannot start processes, so on iOS this module is
// empty and the tests that need a backend skip themselves.
#if os(Linux) || os(macOS)
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A running `aparking-server --bind 127.0.0.1:0 --data-dir DIR [extra arguments]`.
///
/// The binary is `$APARKING_SERVER_BIN`, else `target/debug/aparking-server` of the repository
/// this file is in (`cargo build -p aparking-server` builds it). Its stderr is drained for the
/// whole life of the process (one line per request), so the pipe never blocks the server, and
/// kept for ``logLines(containing:)``. Call ``stop()`` when done; `deinit` stops it too.
///
/// The process is started with `posix_spawn` and reaped with `waitpid`, not with Foundation's
/// `Process`: on Linux `Process` learns of the exit through the run loop of the thread that
/// launched it, which an `async` test's thread never runs, so `isRunning` stayed true.
public final class ReferenceServer: @unchecked Sendable {
    /// `http://127.0.0.1:PORT`, as the server printed it.
    public let baseURL: String

    /// The Ed25519 public key (base64 of its 32 bytes) that signs the policy manifest the
    /// server serves on `GET /v1/policy`, as it logged it: what a test or the sample puts in
    /// `SyncConfig.policyPublicKeys` for the backend's manifest to be fetched and trusted. A
    /// new key each start, unless `--policy-key FILE` is among the arguments.
    public let policyPublicKey: String

    private let pid: pid_t
    /// Every stderr line so far, and the address; filled by the reader thread.
    private let log: ServerLog
    // Set once the process was reaped; read and written with `lock` held (the reason for
    // `@unchecked Sendable`, with `ServerLog`'s own lock).
    private let lock = NSLock()
    private var reaped = false

    /// Errors starting the server.
    public enum StartError: Error, CustomStringConvertible {
        /// No executable at the path.
        case binaryMissing(path: String)
        /// `posix_spawn` or `pipe` failed with this errno.
        case spawnFailed(errno: Int32)
        /// The server did not print its address in time; its output so far.
        case noAddress(output: String)
        /// The server did not log its policy signing key before its address; its output.
        case noPolicyKey(output: String)

        public var description: String {
            switch self {
            case let .binaryMissing(path):
                "no reference server at \(path): run `cargo build -p aparking-server` or set APARKING_SERVER_BIN"
            case let .spawnFailed(code):
                "could not start aparking-server: \(String(cString: strerror(code)))"
            case let .noAddress(output):
                "aparking-server did not report its address in time; its output:\n\(output)"
            case let .noPolicyKey(output):
                "aparking-server did not log its policy signing key; its output:\n\(output)"
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
        let argv = [binary, "--bind", "127.0.0.1:0", "--data-dir", dataDirectory.path] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["APARKING_SERVER_LOG"] = "info"
        let (pid, stderr) = try Self.spawn(argv, environment: environment.map { "\($0.key)=\($0.value)" })
        self.pid = pid
        log = ServerLog()
        Self.startReader(stderr, log: log)
        guard let url = log.waitForAddress(timeout: timeout) else {
            baseURL = ""
            policyPublicKey = ""
            stop()
            throw StartError.noAddress(output: log.lines.joined(separator: "\n"))
        }
        baseURL = url
        // Logged before the address, so known by now.
        guard let key = log.policyKey else {
            policyPublicKey = ""
            stop()
            throw StartError.noPolicyKey(output: log.lines.joined(separator: "\n"))
        }
        policyPublicKey = key
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

    /// Stops the server (SIGTERM, then SIGKILL after 10 s) and reaps it. Idempotent.
    public func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !reaped else { return }
        reaped = true
        kill(pid, SIGTERM)
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(10)
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return
            }
            usleep(5000)
        }
    }

    /// Spawns `argv` with stdout to /dev/null and stderr into a pipe; returns the pid and the
    /// pipe's read end. Both pipe ends are close-on-exec, so no other child inherits them.
    private static func spawn(_ argv: [String], environment: [String]) throws -> (pid_t, FileHandle) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw StartError.spawnFailed(errno: errno) }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        #if os(Linux)
        var actions = posix_spawn_file_actions_t()
        #else
        var actions: posix_spawn_file_actions_t?
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        // The child starts with no signal blocked and SIGTERM and SIGINT at their default
        // action. Without this it inherits the calling thread's mask, and the threads of
        // Swift's cooperative pool (an `async` test) block nearly every signal: such a
        // server ignored `stop()`'s SIGTERM and died only by the SIGKILL 10 s later.
        #if os(Linux)
        var attributes = posix_spawnattr_t()
        #else
        var attributes: posix_spawnattr_t?
        #endif
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer {
            cArgv.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgv, cEnv)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw StartError.spawnFailed(errno: rc)
        }
        return (pid, FileHandle(fileDescriptor: fds[0], closeOnDealloc: true))
    }

    /// Reads `stderr` line by line on a thread of its own until the pipe closes (the server
    /// exited), handing each line to `log`.
    private static func startReader(_ stderr: FileHandle, log: ServerLog) {
        let reader = Thread {
            var pending = Data()
            while true {
                let chunk = stderr.availableData
                if chunk.isEmpty { break } // end of file: the server exited
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex ..< newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex ... newline)
                    log.offer(line)
                }
            }
            log.close()
        }
        reader.start()
    }
}

/// The server's stderr lines and its address, written by the reader thread. Every access
/// holds `condition`'s lock, which is why it is `@unchecked Sendable`.
private final class ServerLog: @unchecked Sendable {
    /// What the server logs before the base64 of its policy signing key.
    private static let keyPrefix = "policy manifests signed by Ed25519 public key "

    private let condition = NSCondition()
    private var url: String?
    private var key: String?
    private var closed = false
    private var seen: [String] = []

    func offer(_ line: String) {
        condition.lock()
        defer { condition.unlock() }
        seen.append(line)
        if key == nil, let range = line.range(of: Self.keyPrefix) {
            let rest = line[range.upperBound...].drop { $0.isWhitespace }
            key = String(rest.prefix { !$0.isWhitespace })
        }
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

    func waitForAddress(timeout: TimeInterval) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while url == nil, !closed, condition.wait(until: deadline) {}
        return url
    }

    /// The policy signing key the server logged, if it did so yet.
    var policyKey: String? {
        condition.lock()
        defer { condition.unlock() }
        return key
    }

    var lines: [String] {
        condition.lock()
        defer { condition.unlock() }
        return seen
    }
}
#endif
