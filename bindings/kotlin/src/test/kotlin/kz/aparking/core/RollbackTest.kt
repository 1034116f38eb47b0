package kz.aparking.core

import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardCopyOption.REPLACE_EXISTING
import java.util.concurrent.TimeUnit
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.io.TempDir

/**
 * Rollback detection from Kotlin (mirrors tests/store_rollback.rs): a Kotlin [RollbackCounter]
 * ([AtomicRollbackCounter]) kept outside the file, raised after every consent change,
 * `deleteAllUserData()` and `rotateDataKey()`; an older copy of the file restored over the
 * current one is `StoreRolledBack` and left as it was; a new file starts at the counter.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RollbackTest {
    @TempDir
    lateinit var dir: Path

    private val key = CountingKeyProvider.withSeed(110)

    /** The names of the files in the test directory (to see that no -wal/-shm is left). */
    private fun files(): List<String> = Files.list(dir).use { s -> s.map { it.fileName.toString() }.sorted().toList() }

    /** Copies the closed store [file] to [name] in the test directory (the store left no -wal behind). */
    private fun copyOf(file: Path, name: String): Path {
        assertFalse(Files.exists(Path.of("$file-wal")), "the closed store left a -wal file: ${files()}")
        return Files.copy(file, dir.resolve(name))
    }

    /** Runs [block] on a [Consent] of [store], then closes it. */
    private fun <T> Store.consent(block: (Consent) -> T): T = Consent(this).use(block)

    @Test
    fun `a copy restored over the store is StoreRolledBack and left byte-for-byte unchanged, Store open still opens it`() {
        val file = dir.storeFile()
        val counter = AtomicRollbackCounter()
        openStore(file, key, counter).use { store ->
            store.addVehicle(NewVehicle(plate = "123ABC02"))
            store.consent { consent ->
                consent.publishPolicy(policy(3))
                consent.acceptPolicy(3, listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext())
                assertTrue(consent.isAllowed(Purpose.CONNECTION_DIAGNOSTICS))
            }
        }
        val atCopy = counter.current
        assertTrue(atCopy > 0, "the consent changes raised the counter: ${counter.raisedTo}")
        val old = copyOf(file, "backup.db")

        openStore(file, key, counter).use { store ->
            store.consent { consent ->
                consent.withdraw(listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext(CollectionMethod.SETTINGS_SCREEN))
                assertFalse(consent.isAllowed(Purpose.CONNECTION_DIAGNOSTICS))
            }
        }
        val expected = counter.current
        assertTrue(expected > atCopy, "the withdrawal raised the counter: ${counter.raisedTo}")

        // The older copy, with the consent the user withdrew since, is put back over the store.
        Files.copy(old, file, REPLACE_EXISTING)
        val before = Files.readAllBytes(file)
        val filesBefore = files()
        val e = assertFailsWith<AparkingException.StoreRolledBack> { openStore(file, key, counter) }
        assertEquals(atCopy, e.fileEpoch, "the file holds the epoch the counter had when it was copied")
        assertEquals(expected, e.expectedEpoch)
        assertTrue(e.fileEpoch < e.expectedEpoch)
        assertEquals(expected, counter.current, "a refused open does not move the counter")
        assertTrue(e.message.contains("$atCopy") && e.message.contains("$expected"), e.message)
        assertContentEquals(before, Files.readAllBytes(file), "a rolled-back file must not be modified")
        assertEquals(filesBefore, files(), "no -wal/-shm files are left behind")

        // Without a counter nothing is checked: the copy opens, withdrawn consent and all.
        openStore(file, key).use { store ->
            assertEquals("123ABC02", store.listVehicles().single().plate.canonical)
            store.consent { assertTrue(it.isAllowed(Purpose.CONNECTION_DIAGNOSTICS), "the old copy's consent is back") }
        }
        // That did not make the copy current: with the counter it is still refused.
        val again = assertFailsWith<AparkingException.StoreRolledBack> { openStore(file, key, counter) }
        assertEquals(atCopy to expected, again.fileEpoch to again.expectedEpoch)
    }

    @Test
    fun `a new store starts at the counter, so a reinstall is not a rollback, and a consent change raises it above`() {
        val file = dir.storeFile()
        // The counter of an earlier install: the app was reinstalled, its data (and store file) gone.
        val counter = AtomicRollbackCounter(7)
        openStore(file, key, counter).use { store ->
            assertEquals(0L, store.info().vehicleCount)
            assertEquals(7L, counter.current)
            store.consent { consent ->
                consent.publishPolicy(policy(3))
                consent.acceptPolicy(3, Purpose.entries.toList(), consentContext())
            }
        }
        val raised = counter.current
        assertTrue(raised > 7, "a consent change in the new store raises the counter above 7: ${counter.raisedTo}")
        assertTrue(counter.raisedTo.all { it > 7 }, "${counter.raisedTo}")

        // The new file is current: it opens again with the counter, consent kept.
        openStore(file, key, counter).use { store ->
            store.consent { assertTrue(it.isAllowed(Purpose.STATISTICS)) }
        }
        assertEquals(raised, counter.current)
    }

    @Test
    fun `a RollbackCounter whose value throws makes the open fail with KeyUnavailable and changes nothing`() {
        val file = dir.storeFile()
        val counter = AtomicRollbackCounter()
        openStore(file, key, counter).use { store ->
            store.addVehicle(NewVehicle(plate = "777KKK01"))
            store.consent { it.publishPolicy(policy(3)) }
        }
        val before = Files.readAllBytes(file)
        val filesBefore = files()

        counter.failValue = "keystore locked"
        val e = assertFailsWith<AparkingException.KeyUnavailable> { openStore(file, key, counter) }
        assertTrue(e.reason.contains("keystore locked"), e.reason)
        assertContentEquals(before, Files.readAllBytes(file), "a failed open must not modify the file")
        assertEquals(filesBefore, files())

        // A new path: the open fails the same way and leaves no file behind.
        val fresh = dir.storeFile("fresh.db")
        assertFailsWith<AparkingException.KeyUnavailable> { openStore(fresh, key, counter) }
        assertEquals(filesBefore, files(), "a refused new store leaves no file")

        // Once the counter answers, the store opens with its data.
        counter.failValue = null
        openStore(file, key, counter).use { store ->
            assertEquals("777KKK01", store.listVehicles().single().plate.canonical)
        }
    }

    @Test
    fun `deleteAllUserData and rotateDataKey raise the counter, so a copy from before either is refused`() {
        val file = dir.storeFile()
        val counter = AtomicRollbackCounter()
        openStore(file, key, counter).use { store -> store.addVehicle(NewVehicle(plate = "123ABC02")) }
        val initial = counter.current
        val beforeRotation = copyOf(file, "before-rotation.db")

        openStore(file, key, counter).use { store ->
            store.rotateDataKey()
            assertEquals(2, store.info().keyVersion)
        }
        val rotated = counter.current
        assertTrue(rotated > initial, "rotateDataKey raised the counter: ${counter.raisedTo}")
        val beforeErasure = copyOf(file, "before-erasure.db")

        openStore(file, key, counter).use { store ->
            store.deleteAllUserData()
            assertEquals(0L, store.info().vehicleCount)
        }
        val erased = counter.current
        assertTrue(erased > rotated, "deleteAllUserData raised the counter: ${counter.raisedTo}")
        val current = copyOf(file, "current.db")

        // Neither older copy brings the erased vehicle back.
        for ((copy, epoch) in listOf(beforeRotation to initial, beforeErasure to rotated)) {
            Files.copy(copy, file, REPLACE_EXISTING)
            val e = assertFailsWith<AparkingException.StoreRolledBack>("$copy") { openStore(file, key, counter) }
            assertEquals(epoch to erased, e.fileEpoch to e.expectedEpoch, "$copy")
            assertContentEquals(Files.readAllBytes(copy), Files.readAllBytes(file))
        }
        Files.copy(current, file, REPLACE_EXISTING)
        openStore(file, key, counter).use { store -> assertEquals(0L, store.info().vehicleCount) }
        assertEquals(erased, counter.current)
    }

    @Test
    fun `a file ahead of the counter raises it at open, and a raise that fails is caught up by the next open`() {
        val file = dir.storeFile()
        // Consent changed while the store was opened without a counter: the file's epoch still moved.
        openStore(file, key).use { store ->
            store.consent { consent ->
                consent.publishPolicy(policy(3))
                consent.acceptPolicy(3, listOf(Purpose.STATISTICS), consentContext())
            }
        }
        val counter = AtomicRollbackCounter()
        openStore(file, key, counter).use { store ->
            val atOpen = counter.current
            assertTrue(atOpen > 0, "the open raised the counter to the file's epoch: ${counter.raisedTo}")
            assertEquals(listOf(atOpen), counter.raisedTo)

            // A raise that fails does not fail the change: the file is ahead of the counter.
            counter.failRaise = "keystore locked"
            store.consent { consent ->
                consent.withdrawAll(consentContext(CollectionMethod.SETTINGS_SCREEN))
                assertFalse(consent.isAllowed(Purpose.STATISTICS))
            }
            assertEquals(atOpen, counter.current, "the failed raise changed nothing")
        }
        counter.failRaise = null
        openStore(file, key, counter).use { store ->
            assertTrue(counter.current > counter.raisedTo.first(), "the next open caught up: ${counter.raisedTo}")
            store.consent { assertFalse(it.isAllowed(Purpose.STATISTICS)) }
        }
    }
}
