package kz.aparking.core

import java.nio.file.Path
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.io.TempDir

/** One `Store` shared by many threads (calls are serialised by a mutex in Rust). */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ConcurrencyTest {
    @TempDir
    lateinit var dir: Path

    /** A distinct current-format plate for (worker, index): `WII AAA RR`. */
    private fun plate(worker: Int, i: Int): String =
        "%d%02d%s%02d".format(worker, i, "ABC", worker % 20 + 1)

    @Test
    fun `eight platform threads add distinct vehicles to one Store`() {
        val threads = 8
        val perThread = 10
        val provider = CountingKeyProvider.withSeed(8)
        openStore(dir.storeFile(), provider).use { store ->
            val pool = Executors.newFixedThreadPool(threads)
            val start = CountDownLatch(1)
            val errors = Collections.synchronizedList(mutableListOf<Throwable>())
            try {
                val futures = (1..threads).map { w ->
                    pool.submit {
                        start.await()
                        try {
                            repeat(perThread) { i ->
                                store.addVehicle(NewVehicle(plate = plate(w, i), nickname = "t$w"))
                                store.info() // interleave reads with writes
                            }
                        } catch (t: Throwable) {
                            errors += t
                        }
                    }
                }
                start.countDown()
                futures.forEach { it.get(60, TimeUnit.SECONDS) }
            } finally {
                pool.shutdown()
            }
            assertTrue(errors.isEmpty(), "worker errors: $errors")

            val all = store.listVehicles()
            assertEquals(threads * perThread, all.size)
            assertEquals(threads * perThread, all.map { it.plate.canonical }.toSet().size)
            assertEquals((threads * perThread).toLong(), store.info().vehicleCount)
            for (w in 1..threads) assertEquals(perThread, all.count { it.nickname == "t$w" })
            assertEquals(1, provider.calls, "the key is fetched once, not per call")
        }
    }

    @Test
    fun `coroutines on Dispatchers IO share one Store`() = runBlocking<Unit> {
        val workers = 8
        val perWorker = 5
        openStore(dir.storeFile(), CountingKeyProvider.withSeed(10)).use { store ->
            val added = (1..workers).map { w ->
                async(Dispatchers.IO) {
                    (0 until perWorker).map { i -> store.addVehicle(NewVehicle(plate = plate(w, i))).id }
                }
            }.awaitAll().flatten()

            assertEquals(workers * perWorker, added.toSet().size, "ids are unique")
            val listed = store.listVehicles()
            assertEquals(workers * perWorker, listed.size)
            assertEquals(added.toSet(), listed.map { it.id }.toSet())

            // Duplicate adds racing from many coroutines: exactly one wins.
            val results = (1..workers).map {
                async(Dispatchers.IO) { runCatching { store.addVehicle(NewVehicle(plate = "999 ZZZ 20")) } }
            }.awaitAll()
            assertEquals(1, results.count { it.isSuccess })
            assertTrue(results.filter { it.isFailure }.all { it.exceptionOrNull() is AparkingException.AlreadyExists })
        }
    }

    @Test
    fun `closing a Store while other threads hammer it is memory-safe and consistent`() {
        val file = dir.storeFile()
        val store = openStore(file, CountingKeyProvider.withSeed(11))
        val threads = 4
        val pool = Executors.newFixedThreadPool(threads)
        val running = CountDownLatch(threads)
        val stop = AtomicBoolean(false)
        val unexpected = Collections.synchronizedList(mutableListOf<Throwable>())
        val added: List<Int>
        try {
            val futures = (1..threads).map { w ->
                pool.submit<Int> {
                    var adds = 0
                    running.countDown()
                    try {
                        // Overlapping callers keep the object alive after close() (see the
                        // next test), so the workers also stop on a flag.
                        while (!stop.get()) {
                            if (adds < 100) {
                                store.addVehicle(NewVehicle(plate = plate(w, adds)))
                                adds++ // counted only once Rust returned success
                            } else {
                                store.listVehicles()
                            }
                        }
                    } catch (e: IllegalStateException) {
                        // "Store object has already been destroyed"
                    } catch (t: Throwable) {
                        unexpected += t
                    }
                    adds
                }
            }
            running.await()
            Thread.sleep(30)
            store.close()
            Thread.sleep(50)
            stop.set(true)
            added = futures.map { it.get(60, TimeUnit.SECONDS) }
        } finally {
            pool.shutdown()
        }
        assertTrue(unexpected.isEmpty(), "unexpected errors: $unexpected")
        assertFailsWith<IllegalStateException> { store.info() }
        // The native store was freed after the last call: the file reopens and holds exactly
        // the vehicles whose add returned.
        openStore(file, CountingKeyProvider.withSeed(11)).use { again ->
            assertEquals(added.sum().toLong(), again.info().vehicleCount, "per-thread adds: $added")
        }
    }

    @Test
    fun `close() while a call is in flight does not stop calls that start afterwards`() {
        val file = dir.storeFile()
        val inProvider = CountDownLatch(1)
        val release = CountDownLatch(1)
        val blockNext = AtomicBoolean(false)
        val key = CountingKeyProvider.withSeed(12)
        val blocking = object : KeyProvider {
            override fun keyEncryptionKey(): ByteArray {
                if (blockNext.getAndSet(false)) {
                    inProvider.countDown()
                    check(release.await(30, TimeUnit.SECONDS)) { "never released" }
                }
                return key.keyEncryptionKey()
            }
        }
        val store = openStore(file, blocking)
        store.addVehicle(NewVehicle(plate = "123ABC02"))
        val pool = Executors.newFixedThreadPool(2)
        try {
            // T: rotateDataKey is in flight, parked inside the Kotlin KeyProvider.
            blockNext.set(true)
            val rotation = pool.submit { store.rotateDataKey() }
            assertTrue(inProvider.await(30, TimeUnit.SECONDS))

            store.close()
            assertTrue(store.uniffiIsDestroyed)

            // U: a call that starts *after* close() returned.
            val lateCall = pool.submit<StoreInfo> { store.info() }
            // Wait until U is inside the native call (it passed uniffi's liveness check).
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
            while (threadsInNative("uniffi_aparking_core_fn_method_store_info").isEmpty()) {
                assertTrue(System.nanoTime() < deadline, "the late call never reached Rust")
                Thread.sleep(5)
            }
            release.countDown()
            rotation.get(30, TimeUnit.SECONDS)

            // The call started after close() succeeded and saw the rotated key.
            val info = lateCall.get(30, TimeUnit.SECONDS)
            assertEquals(2, info.keyVersion)
            assertEquals(1L, info.vehicleCount)
        } finally {
            release.countDown()
            pool.shutdown()
        }
        // With no call in flight any more, the object is gone.
        assertFailsWith<IllegalStateException> { store.info() }
        openStore(file, CountingKeyProvider.withSeed(12)).use { again ->
            assertEquals(2, again.info().keyVersion)
        }
    }

    private fun threadsInNative(method: String): List<Thread> =
        Thread.getAllStackTraces().filter { (_, st) -> st.any { it.methodName == method } }.keys.toList()
}
