import AparkingCore
import Foundation
import XCTest

/// One `Store` (and its `Consent` and `Telemetry`) shared by many threads and Swift tasks:
/// the objects are `Sendable`, calls are serialised by a mutex in Rust (the Swift twin of
/// ConcurrencyTest.kt).
final class ConcurrencyTests: StoreTestCase {
    func testEightPlatformThreadsAddDistinctVehiclesToOneStore() throws {
        let threads = 8
        let perThread = 10
        let provider = CountingKeyProvider.withSeed(8)
        try withStore(storeFile(), provider) { store in
            let start = DispatchSemaphore(value: 0)
            let done = DispatchGroup()
            let errors = Locked<[Error]>([])
            for w in 1 ... threads {
                done.enter()
                Thread {
                    defer { done.leave() }
                    start.wait()
                    do {
                        for i in 0 ..< perThread {
                            _ = try store.addVehicle(vehicle: NewVehicle(plate: concurrencyPlate(w, i), nickname: "t\(w)"))
                            _ = try store.info() // interleave reads with writes
                        }
                    } catch {
                        errors.append(error)
                    }
                }.start()
            }
            for _ in 1 ... threads {
                start.signal()
            }
            XCTAssertEqual(done.wait(timeout: .now() + 60), .success, "the threads did not finish")
            XCTAssertTrue(errors.all.isEmpty, "worker errors: \(errors.all)")

            let all = try store.listVehicles()
            XCTAssertEqual(all.count, threads * perThread)
            XCTAssertEqual(Set(all.map(\.plate.canonical)).count, threads * perThread)
            XCTAssertEqual(try store.info().vehicleCount, Int64(threads * perThread))
            for w in 1 ... threads {
                XCTAssertEqual(all.filter { $0.nickname == "t\(w)" }.count, perThread, "thread \(w)")
            }
            XCTAssertEqual(provider.calls, 1, "the key is fetched once, not per call")
        }
    }

    func testConcurrentPerformSharesOneStoreConsentAndTelemetry() throws {
        let workers = 8
        let perWorker = 6
        try withStore(storeFile(), CountingKeyProvider.withSeed(9)) { store in
            let consent = Consent(store: store)
            let telemetry = try Telemetry(store: store, config: fastConfig())
            defer { telemetry.shutdown() }
            _ = try consent.publishPolicy(manifest: policy(1))
            _ = try consent.acceptPolicy(version: 1, granted: allPurposes, context: consentContext())
            let errors = Locked<[Error]>([])
            let refused = Locked(0)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                do {
                    for i in 0 ..< perWorker {
                        _ = try store.addVehicle(vehicle: NewVehicle(plate: concurrencyPlate(w + 1, i)))
                        telemetry.record(event: .screenView(screen: "worker_\(w)"))
                        telemetry.recordAll(events: [networkSample(Int32(-60 - i)), .errorCount(code: "e\(w)", count: 1)])
                        if !consent.isAllowed(purpose: .serviceImprovement) { refused.add(1) }
                        _ = try store.findVehicleByPlate(plate: concurrencyPlate(w + 1, i))
                    }
                } catch {
                    errors.append(error)
                }
            }
            XCTAssertTrue(errors.all.isEmpty, "\(errors.all)")
            XCTAssertEqual(refused.current, 0)
            XCTAssertEqual(Set(try store.listVehicles().map(\.plate.canonical)).count, workers * perWorker)
            XCTAssertTrue(telemetry.flush(timeoutMs: 5000))
            XCTAssertEqual(try telemetry.pendingEvents(purpose: .serviceImprovement), Int64(2 * workers * perWorker))
            XCTAssertEqual(try telemetry.pendingEvents(purpose: .connectionDiagnostics), Int64(workers * perWorker))
            XCTAssertEqual(try telemetry.counters().stored, Int64(3 * workers * perWorker))
        }
    }

    func testSwiftTasksInATaskGroupShareOneStore() async throws {
        let workers = 8
        let perWorker = 5
        let store = try openStore(storeFile(), CountingKeyProvider.withSeed(10))
        defer { try? store.shutdown() }
        let added = try await withThrowingTaskGroup(of: [String].self) { group in
            for w in 1 ... workers {
                group.addTask {
                    try (0 ..< perWorker).map { i in try store.addVehicle(vehicle: NewVehicle(plate: concurrencyPlate(w, i))).id }
                }
            }
            var ids: [String] = []
            for try await batch in group { ids += batch }
            return ids
        }
        XCTAssertEqual(Set(added).count, workers * perWorker, "ids are unique")
        let listed = try store.listVehicles()
        XCTAssertEqual(listed.count, workers * perWorker)
        XCTAssertEqual(Set(listed.map(\.id)), Set(added))

        // Duplicate adds racing from many tasks: exactly one wins.
        let results = await withTaskGroup(of: Result<Vehicle, Error>.self) { group in
            for _ in 1 ... workers {
                group.addTask { Result { try store.addVehicle(vehicle: NewVehicle(plate: "999 ZZZ 20")) } }
            }
            var all: [Result<Vehicle, Error>] = []
            for await r in group { all.append(r) }
            return all
        }
        XCTAssertEqual(results.count, workers)
        XCTAssertEqual(results.filter { (try? $0.get()) != nil }.count, 1)
        for case let .failure(error) in results {
            XCTAssertEqual(error as? AparkingError, .AlreadyExists(entity: .vehicle))
        }
    }

    func testConcurrentOpensOfOnePathShareOneStore() throws {
        let file = storeFile()
        let provider = CountingKeyProvider.withSeed(13)
        let opened = Locked<[Store]>([])
        let errors = Locked<[Error]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { w in
            do {
                let mine = try Store.open(path: file.path, keyProvider: provider)
                _ = try mine.addVehicle(vehicle: NewVehicle(plate: concurrencyPlate(w + 1, 0)))
                opened.append(mine)
            } catch {
                errors.append(error)
            }
        }
        XCTAssertTrue(errors.all.isEmpty, "\(errors.all)")
        let stores = opened.all
        XCTAssertEqual(stores.count, 8)
        // Every object is the same store: each sees every add, and one shutdown closes all.
        for each in stores {
            XCTAssertEqual(try each.info().vehicleCount, 8)
        }
        let store = try XCTUnwrap(stores.first)
        try store.shutdown()
        for each in stores {
            assertThrows(.StoreClosed, try each.info())
        }
        try withStore(file, provider) { again in
            XCTAssertEqual(try again.info().vehicleCount, 8)
        }
    }

    func testShuttingDownAStoreWhileOtherThreadsHammerItIsMemorySafeAndConsistent() throws {
        let file = storeFile()
        let store = try openStore(file, CountingKeyProvider.withSeed(11))
        let threads = 4
        let warmedUp = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        let unexpected = Locked<[Error]>([])
        let adds = Locked<[Int]>([])
        let sawClosed = Locked(0)
        for w in 1 ... threads {
            done.enter()
            Thread {
                defer { done.leave() }
                var added = 0
                do {
                    // Bounded: the store is shut down long before this many iterations.
                    for n in 0 ..< 1_000_000 {
                        if added < 100 {
                            _ = try store.addVehicle(vehicle: NewVehicle(plate: concurrencyPlate(w, added)))
                            added += 1 // counted only once Rust returned success
                            if added == 5 { warmedUp.signal() }
                        } else {
                            _ = try store.info()
                        }
                        if n == 999_999 { unexpected.append(NeverClosed()) }
                    }
                } catch AparkingError.StoreClosed {
                    sawClosed.add(1)
                } catch {
                    unexpected.append(error)
                }
                if added < 5 { warmedUp.signal() } // never leave the main thread waiting
                adds.append(added)
            }.start()
        }
        for _ in 1 ... threads {
            XCTAssertEqual(warmedUp.wait(timeout: .now() + 60), .success)
        }
        try store.shutdown()
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success, "the workers did not stop")
        XCTAssertTrue(unexpected.all.isEmpty, "unexpected errors: \(unexpected.all)")
        XCTAssertEqual(sawClosed.current, threads, "every worker stopped on StoreClosed")
        assertThrows(.StoreClosed, try store.info())
        // The file reopens and holds exactly the vehicles whose add returned.
        let perThread = adds.all
        XCTAssertTrue(perThread.allSatisfy { $0 >= 5 }, "\(perThread)")
        try withStore(file, CountingKeyProvider.withSeed(11)) { again in
            XCTAssertEqual(try again.info().vehicleCount, Int64(perThread.reduce(0, +)), "per-thread adds: \(perThread)")
        }
    }

    /// Swift has no `close()` that destroys the object under a running call (Kotlin's);
    /// `shutdown()` is the way to close at once. It waits for the call in flight, which then
    /// completes, and the calls after it get `StoreClosed`.
    func testShutdownWhileACallIsInFlightLetsItFinishAndLaterCallsThrowStoreClosed() throws {
        let file = storeFile()
        let provider = BlockingKeyProvider(CountingKeyProvider.withSeed(12))
        let store = try openStore(file, provider)
        _ = try store.addVehicle(vehicle: NewVehicle(plate: "123ABC02"))

        // T: rotateDataKey is in flight, parked inside the Swift KeyProvider.
        provider.blockNext()
        let rotation = Locked<[Error?]>([])
        let rotationDone = DispatchGroup()
        rotationDone.enter()
        Thread {
            defer { rotationDone.leave() }
            do {
                try store.rotateDataKey()
                rotation.append(nil)
            } catch {
                rotation.append(error)
            }
        }.start()
        XCTAssertEqual(provider.entered.wait(timeout: .now() + 30), .success, "the rotation never reached the provider")

        // U: shutdown() from another thread while T holds the store.
        let shutdownDone = DispatchGroup()
        let shutdownStep = Locked(0)
        let shutdownErrors = Locked<[Error]>([])
        shutdownDone.enter()
        Thread {
            defer { shutdownDone.leave() }
            do {
                try store.shutdown()
            } catch {
                shutdownErrors.append(error)
            }
            shutdownStep.add(provider.step())
        }.start()
        // Give U time to reach the store's lock (the assertions below hold either way).
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(shutdownStep.current, 0, "shutdown() returned while a call was in flight")
        let releasedAt = provider.release()
        XCTAssertEqual(rotationDone.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(shutdownDone.wait(timeout: .now() + 30), .success)

        XCTAssertEqual(rotation.all.count, 1)
        XCTAssertNil(rotation.all.first ?? nil, "the call in flight completed")
        XCTAssertTrue(shutdownErrors.all.isEmpty, "\(shutdownErrors.all)")
        XCTAssertGreaterThan(shutdownStep.current, releasedAt, "shutdown() returned after the call in flight")
        assertThrows(.StoreClosed, try store.info())
        assertThrows(.StoreClosed, try store.rotateDataKey())
        try withStore(file, CountingKeyProvider.withSeed(12)) { again in
            XCTAssertEqual(try again.info().keyVersion, 2, "the rotation was committed")
            XCTAssertEqual(try again.info().vehicleCount, 1)
        }
    }
}

/// A distinct current-format plate for (worker, index): `WII ABC RR`.
private func concurrencyPlate(_ worker: Int, _ i: Int) -> String {
    String(format: "%d%02dABC%02d", worker, i, worker % 20 + 1)
}

private struct NeverClosed: Error {}

/// A KeyProvider that parks the next call until `release()`, and numbers events so the
/// test can tell their order without timing.
private final class BlockingKeyProvider: KeyProvider, @unchecked Sendable {
    private let key: CountingKeyProvider
    private let lock = NSLock()
    private var block = false
    private var sequence = 0
    let entered = DispatchSemaphore(value: 0)
    private let gate = DispatchSemaphore(value: 0)

    init(_ key: CountingKeyProvider) {
        self.key = key
    }

    func blockNext() {
        lock.withLock { block = true }
    }

    /// The next number in the sequence (1, 2, ...).
    func step() -> Int {
        lock.withLock {
            sequence += 1
            return sequence
        }
    }

    /// Lets the parked call return; the step at which it was let go.
    func release() -> Int {
        let at = step()
        gate.signal()
        return at
    }

    func keyEncryptionKey() throws -> Data {
        let parks = lock.withLock {
            defer { block = false }
            return block
        }
        if parks {
            entered.signal()
            guard gate.wait(timeout: .now() + 30) == .success else {
                throw KeyProviderError.Unavailable(reason: "never released")
            }
        }
        return try key.keyEncryptionKey()
    }
}
