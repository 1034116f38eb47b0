package kz.aparking.core

import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardCopyOption.REPLACE_EXISTING
import java.util.concurrent.TimeUnit
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.io.TempDir

/**
 * `Store.openWithOptions` from Kotlin (mirrors tests/store_power_loss.rs
 * `the_durability_chosen_at_open_is_the_connection_s`): [StoreOptions] picks the [Durability]
 * of the connection, read back by `info().durability` (SQLite's `synchronous`), and carries the
 * optional [RollbackCounter]. The mode is per open, not stored in the file; a store already
 * open in this process is returned as it is, with the first open's options.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DurabilityTest {
    @TempDir
    lateinit var dir: Path

    private val key = CountingKeyProvider.withSeed(120)

    private fun open(file: Path, options: StoreOptions, provider: KeyProvider = key): Store =
        Store.openWithOptions(file.toString(), provider, options)

    /** The names of the files in the test directory (to see that no -wal/-shm is left). */
    private fun files(): List<String> = Files.list(dir).use { s -> s.map { it.fileName.toString() }.sorted().toList() }

    /** Runs [block] on a [Consent] of [store], then closes it. */
    private fun <T> Store.consent(block: (Consent) -> T): T = Consent(this).use(block)

    @Test
    fun `StoreOptions() opens with FULL durability as Store open does, and every Durability crosses the FFI`() {
        val file = dir.storeFile()
        open(file, StoreOptions()).use { store ->
            assertEquals(Durability.FULL, store.info().durability, "unset durability means FULL")
            store.addVehicle(NewVehicle(plate = "123ABC02"))
        }
        openStore(file, key).use { store -> assertEquals(Durability.FULL, store.info().durability) }

        // Each value asked for is the one the connection reports, on a new file and on an existing one.
        for (durability in Durability.entries) {
            open(dir.storeFile("new-$durability.db"), StoreOptions(durability = durability)).use { store ->
                assertEquals(durability, store.info().durability, "a new store opened with $durability")
            }
            open(file, StoreOptions(durability = durability)).use { store ->
                assertEquals(durability, store.info().durability, "the existing store opened with $durability")
                assertEquals("123ABC02", store.listVehicles().single().plate.canonical)
            }
        }
    }

    @Test
    fun `saves under NORMAL are there after shutdown and a plain reopen, which is FULL - the mode is per open, not in the file`() {
        val file = dir.storeFile()
        val ids = open(file, StoreOptions(durability = Durability.NORMAL)).use { store ->
            assertEquals(Durability.NORMAL, store.info().durability)
            store.updateProfile(ProfilePatch(phone = PHONE_TYPED))
            val ids = (1..20).map { i -> store.addVehicle(NewVehicle(plate = "%03dAAA01".format(i))).id }
            store.addDocument(NewDocument(kind = DocumentKind.DRIVER_LICENCE, number = "AB 12 34 56"))
            assertEquals(StoreInfo(storeSchemaVersion(), 1, true, 20, 1, Durability.NORMAL), store.info())
            store.shutdown()
            ids
        }
        assertFalse(Files.exists(Path.of("$file-wal")), "shutdown checkpointed the log into the file: ${files()}")

        openStore(file, key).use { store ->
            assertEquals(StoreInfo(storeSchemaVersion(), 1, true, 20, 1, Durability.FULL), store.info(),
                "everything saved under NORMAL is there; a plain open is FULL again")
            assertEquals(ids.toSet(), store.listVehicles().map { it.id }.toSet())
            assertEquals(PHONE_E164, store.getProfile()?.phone)
            assertEquals("AB123456", store.listDocuments().single().number)
        }
        // And NORMAL again when asked for: nothing about the mode was kept in the file.
        open(file, StoreOptions(durability = Durability.NORMAL)).use { store ->
            assertEquals(Durability.NORMAL, store.info().durability)
            assertEquals(20L, store.info().vehicleCount)
        }
    }

    @Test
    fun `a rollbackCounter in StoreOptions with NORMAL durability refuses a copy restored over the store as openWithRollbackCounter does`() {
        val file = dir.storeFile()
        val counter = AtomicRollbackCounter()
        val options = StoreOptions(durability = Durability.NORMAL, rollbackCounter = counter)
        open(file, options).use { store ->
            assertEquals(Durability.NORMAL, store.info().durability)
            store.addVehicle(NewVehicle(plate = "123ABC02"))
            store.consent { consent ->
                consent.publishPolicy(policy(3))
                consent.acceptPolicy(3, listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext())
            }
        }
        val atCopy = counter.current
        assertTrue(atCopy > 0, "the consent changes raised the counter of the options: ${counter.raisedTo}")
        assertFalse(Files.exists(Path.of("$file-wal")), "the closed store left a -wal file: ${files()}")
        val old = Files.copy(file, dir.resolve("backup.db"))

        open(file, options).use { store ->
            store.consent { consent ->
                consent.withdraw(listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext(CollectionMethod.SETTINGS_SCREEN))
                assertFalse(consent.isAllowed(Purpose.CONNECTION_DIAGNOSTICS))
            }
        }
        val expected = counter.current
        assertTrue(expected > atCopy, "the withdrawal raised the counter: ${counter.raisedTo}")
        val current = Files.copy(file, dir.resolve("current.db"))

        // The older copy, with the consent the user withdrew since, is put back over the store.
        Files.copy(old, file, REPLACE_EXISTING)
        val before = Files.readAllBytes(file)
        val filesBefore = files()
        val e = assertFailsWith<AparkingException.StoreRolledBack> { open(file, options) }
        assertEquals(atCopy to expected, e.fileEpoch to e.expectedEpoch)
        assertEquals(expected, counter.current, "a refused open does not move the counter")
        assertContentEquals(before, Files.readAllBytes(file), "a rolled-back file must not be modified")
        assertEquals(filesBefore, files(), "no -wal/-shm files are left behind")

        // Exactly what openWithRollbackCounter says about the same file and counter.
        val same = assertFailsWith<AparkingException.StoreRolledBack> { openStore(file, key, counter) }
        assertEquals(e.fileEpoch to e.expectedEpoch, same.fileEpoch to same.expectedEpoch)
        // Options without a counter check nothing: the copy opens, withdrawn consent and all.
        open(file, StoreOptions(durability = Durability.NORMAL)).use { store ->
            store.consent { assertTrue(it.isAllowed(Purpose.CONNECTION_DIAGNOSTICS), "the old copy's consent is back") }
        }

        // The current file put back opens with the counter, withdrawal kept.
        Files.copy(current, file, REPLACE_EXISTING)
        open(file, options).use { store ->
            assertEquals(Durability.NORMAL, store.info().durability)
            store.consent { assertFalse(it.isAllowed(Purpose.CONNECTION_DIAGNOSTICS)) }
        }
        assertEquals(expected, counter.current)
    }

    @Test
    fun `opening an open path with other options returns the same store, which keeps the first open's durability`() {
        val file = dir.storeFile()
        val first = open(file, StoreOptions(durability = Durability.NORMAL))
        // Other durability, and a counter that would fail the open if it were read: both ignored.
        val failing = AtomicRollbackCounter().apply { failValue = "never asked" }
        val second = open(file, StoreOptions(durability = Durability.FULL, rollbackCounter = failing))
        val third = openStore(file, key)
        try {
            for (store in listOf(first, second, third)) {
                assertEquals(Durability.NORMAL, store.info().durability, "the first open's durability stays")
            }
            assertTrue(failing.raisedTo.isEmpty(), "the second open's counter is not kept: ${failing.raisedTo}")
            second.addVehicle(NewVehicle(plate = "123ABC02"))
            assertEquals("123ABC02", first.listVehicles().single().plate.canonical)

            // One store behind the three objects: shutting down one closes it for all.
            third.shutdown()
            assertFailsWith<AparkingException.StoreClosed> { first.info() }
            assertFailsWith<AparkingException.StoreClosed> { second.listVehicles() }
        } finally {
            first.close()
            second.close()
            third.close()
        }

        // Once closed, the next open's options apply; the other way round, FULL stays FULL.
        val full = open(file, StoreOptions(durability = Durability.FULL))
        open(file, StoreOptions(durability = Durability.NORMAL)).use { again ->
            full.use {
                assertEquals(Durability.FULL, it.info().durability)
                assertEquals(Durability.FULL, again.info().durability, "the open store is returned with FULL")
                assertEquals(1L, again.info().vehicleCount)
            }
        }
    }

    @Test
    fun `Durability values print their names and StoreOptions is a value type`() {
        assertEquals("NORMAL", Durability.NORMAL.toString())
        assertEquals("FULL", Durability.FULL.toString())
        assertEquals(listOf("FULL", "NORMAL"), Durability.entries.map { it.toString() })
        assertEquals(Durability.NORMAL, Durability.valueOf("NORMAL"))

        assertEquals(StoreOptions(null, null), StoreOptions())
        assertEquals(StoreOptions(durability = Durability.NORMAL), StoreOptions(Durability.NORMAL, null))
        assertEquals(StoreOptions(durability = Durability.NORMAL).hashCode(), StoreOptions(Durability.NORMAL).hashCode())
        assertNotEquals(StoreOptions(durability = Durability.NORMAL), StoreOptions(durability = Durability.FULL))
        assertNotEquals(StoreOptions(), StoreOptions(durability = Durability.FULL), "unset is not FULL, though it opens as FULL")
        assertEquals(StoreOptions(durability = Durability.FULL), StoreOptions().copy(durability = Durability.FULL))
        assertEquals("StoreOptions(durability=NORMAL, rollbackCounter=null)", StoreOptions(Durability.NORMAL).toString())

        // A counter is compared as the object it is.
        val counter = AtomicRollbackCounter()
        assertEquals(StoreOptions(rollbackCounter = counter), StoreOptions(rollbackCounter = counter))
        assertNotEquals(StoreOptions(rollbackCounter = counter), StoreOptions(rollbackCounter = AtomicRollbackCounter()))
        val (durability, rollbackCounter) = StoreOptions(Durability.NORMAL, counter)
        assertEquals(Durability.NORMAL to counter, durability to rollbackCounter)
    }
}
