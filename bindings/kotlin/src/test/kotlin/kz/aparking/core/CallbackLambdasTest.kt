package kz.aparking.core

import java.nio.file.Path
import java.nio.file.StandardCopyOption
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicLong
import kotlin.io.path.copyTo
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.io.TempDir

/**
 * Every callback of the SDK written as a Kotlin lambda: the single-method callback interfaces
 * are `fun interface`s (our uniffi-bindgen makes them so; without it this file does not
 * compile), and `RollbackCounter(read, raise)` adapts the one with two methods. Each lambda
 * is then called by the real library.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CallbackLambdasTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `KeyProvider, LogSink and ConsentObserver as lambdas`() {
        val kek = ByteArray(32) { (it * 7).toByte() }
        val asked = AtomicLong()
        val key = KeyProvider { asked.incrementAndGet(); kek.copyOf() }
        val records = CopyOnWriteArrayList<LogRecord>()
        assertTrue(setLogSink(LogSink { records += it }, LogLevel.INFO))
        try {
            openStore(dir.storeFile(), key).use { store ->
                store.addVehicle(NewVehicle(plate = "123ABC02"))
                store.rotateDataKey()
                Consent(store).use { consent ->
                    val states = CopyOnWriteArrayList<ConsentState>()
                    consent.subscribe(ConsentObserver { states += it }).use {
                        consent.publishPolicy(policy(1))
                        consent.acceptPolicy(1, listOf(Purpose.STATISTICS), consentContext())
                    }
                    assertTrue(states.any { Purpose.STATISTICS in it.allowed }, "$states")
                }
            }
        } finally {
            setLogSink(null, LogLevel.INFO)
        }
        assertTrue(asked.get() >= 1L, "the lambda gave the key")
        assertTrue(records.isNotEmpty(), "the lambda received the SDK's log records")
    }

    @Test
    fun `AuthProvider and SyncObserver as lambdas against the reference backend`() {
        TelemetryUploadTest.ReferenceServerProcess.start(dir.resolve("server-data"), listOf("--token", "t-1:acct-1")).use { server ->
            openStore(dir.storeFile(), CountingKeyProvider.withSeed(61)).use { store ->
                val refreshes = CopyOnWriteArrayList<Boolean>()
                val auth = AuthProvider { refresh -> refreshes += refresh; "t-1" }
                SyncClient(store, SyncConfig(endpoint = server.baseUrl), auth).use { sync ->
                    val events = CopyOnWriteArrayList<SyncEvent>()
                    sync.subscribe(SyncObserver { events += it }).use {
                        store.addVehicle(NewVehicle(plate = "123ABC02"))
                        val summary = runBlocking { sync.sync() }
                        assertEquals(1L, summary.pushed, "$summary")
                    }
                    assertTrue(events.first() is SyncEvent.Started, "$events")
                    assertTrue(events.last() is SyncEvent.Finished, "$events")
                    assertTrue(refreshes.isNotEmpty() && !refreshes.first(), "the lambda gave the token: $refreshes")
                }
            }
        }
    }

    @Test
    fun `RollbackCounter from two lambdas refuses a copy restored over the store`() {
        val epoch = AtomicLong(0L)
        val raised = CopyOnWriteArrayList<Long>()
        val counter = RollbackCounter(read = { epoch.get() }, raise = { value -> raised += value; epoch.accumulateAndGet(value, ::maxOf) })
        val key = CountingKeyProvider.withSeed(62)
        val file = dir.storeFile()
        val copy = dir.resolve("copy.db")
        openStore(file, key, counter).use { store -> store.addVehicle(NewVehicle(plate = "123ABC02")) }
        file.copyTo(copy, StandardCopyOption.REPLACE_EXISTING)
        openStore(file, key, counter).use { store ->
            Consent(store).use { consent ->
                consent.publishPolicy(policy(1))
                consent.acceptPolicy(1, listOf(Purpose.STATISTICS), consentContext())
            }
        }
        assertTrue(raised.isNotEmpty(), "the raise lambda was called")
        copy.copyTo(file, StandardCopyOption.REPLACE_EXISTING)
        assertFailsWith<AparkingException.StoreRolledBack> { openStore(file, key, counter).close() }
    }
}
