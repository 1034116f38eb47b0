package kz.aparking.core

import java.nio.file.Files
import java.nio.file.Path
import java.util.logging.Level
import java.util.logging.Logger
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

/** The foreign trait [KeyProvider] implemented in Kotlin, and key errors. */
class KeysTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `Rust calls the Kotlin KeyProvider on open and on data-key operations`() {
        val provider = CountingKeyProvider.withSeed(1)
        assertEquals(0, provider.calls)
        openStore(dir.storeFile(), provider).use { store ->
            assertEquals(1, provider.calls, "open must fetch the KEK exactly once")

            // Plain reads and writes use the unwrapped data key, not the provider.
            store.addVehicle(NewVehicle(plate = "123ABC02"))
            store.listVehicles()
            assertEquals(1, provider.calls)

            // Rotating the data key re-wraps it with the KEK: one more call.
            store.rotateDataKey()
            assertEquals(2, provider.calls)
            assertEquals(2, store.info().keyVersion)
            assertEquals("123ABC02", store.listVehicles().single().plate.canonical)
        }
        // Reopening fetches the key again and the data is still there.
        openStore(dir.storeFile(), provider).use { store ->
            assertEquals(3, provider.calls)
            assertEquals(1L, store.info().vehicleCount)
        }
    }

    @Test
    fun `wrong key is WrongKey and leaves the file byte-for-byte unchanged`() {
        val file = dir.storeFile()
        openStore(file, CountingKeyProvider.withSeed(1)).use { store ->
            store.updateProfile(ProfilePatch(phone = PHONE_TYPED))
            store.addVehicle(NewVehicle(plate = "777KKK01"))
        }
        val before = Files.readAllBytes(file)
        val siblingsBefore = Files.list(dir).use { s -> s.map { it.fileName.toString() }.sorted().toList() }
        assertTrue(before.isNotEmpty())

        val wrong = CountingKeyProvider.withSeed(2)
        val e = assertFailsWith<AparkingException.WrongKey> { openStore(file, wrong) }
        assertEquals("The key does not open this store.", e.message, "what a logger prints")
        assertEquals(1, wrong.calls, "the wrong key was asked for")

        assertContentEquals(before, Files.readAllBytes(file), "a wrong key must not modify the file")
        val siblingsAfter = Files.list(dir).use { s -> s.map { it.fileName.toString() }.sorted().toList() }
        assertEquals(siblingsBefore, siblingsAfter, "no -wal/-shm files are left behind")

        // The right key still opens it, with the data intact.
        openStore(file, CountingKeyProvider.withSeed(1)).use { store ->
            assertEquals(PHONE_E164, store.getProfile()?.phone)
            assertNotNull(store.findVehicleByPlate("777 ККК 01"))
        }
    }

    @Test
    fun `KeyProviderException Unavailable becomes KeyUnavailable with the reason`() {
        val reason = "keystore locked after lock-screen change"
        val err = assertFailsWith<AparkingException.KeyUnavailable> {
            openStore(dir.storeFile(), UnavailableKeyProvider(reason))
        }
        assertEquals(reason, err.reason)
        assertTrue(err.message.contains(reason))
        // Nothing usable was created: a real key opens a fresh, empty store.
        openStore(dir.storeFile(), CountingKeyProvider.withSeed(3)).use { store ->
            assertEquals(0L, store.info().vehicleCount)
        }
    }

    @Test
    fun `unexpected RuntimeException in the provider is a typed KeyUnavailable without the secret`() {
        val secret = "KEK=00112233445566778899aabbccddeeff"
        val provider = ThrowingKeyProvider { IllegalStateException("keystore bug, $secret") }
        val err = assertFailsWith<AparkingException.KeyUnavailable> {
            openStore(dir.storeFile(), provider)
        }
        assertEquals(1, provider.calls.get())
        assertTrue(err.reason.isNotBlank())
        assertFalse(err.message.orEmpty().contains(secret), "message leaks the secret: ${err.message}")
        assertFalse(err.reason.contains("0011223344"), "reason leaks the secret: ${err.reason}")
        assertFalse(err.toString().contains(secret))
        assertFalse(err.stackTraceToString().contains(secret), "no cause chain carries the secret")
    }

    @Test
    fun `a java lang Error thrown by the provider is still a typed KeyUnavailable`() {
        // uniffi's callback wrapper catches only kotlin.Exception; an Error escapes to JNA's
        // uncaught-exception handler (which logs it, message included, at WARNING) and Rust
        // then sees an empty return buffer. The app still gets a typed error.
        val secret = "SECRET-IN-ERROR-0123456789"
        val provider = ThrowingKeyProvider { AssertionError(secret) }
        val jnaLog = Logger.getLogger("com.sun.jna.Native")
        val savedLevel = jnaLog.level
        jnaLog.level = Level.OFF // keep the expected JNA warning (with stack trace) out of the build log
        val err = try {
            assertFailsWith<AparkingException.KeyUnavailable> { openStore(dir.storeFile(), provider) }
        } finally {
            jnaLog.level = savedLevel
        }
        assertEquals(1, provider.calls.get())
        assertFalse(err.stackTraceToString().contains(secret))
    }

    @Test
    fun `a key provider failing later makes deleteAllUserData fail with KeyUnavailable and keep the data`() {
        var fail = false
        val good = CountingKeyProvider.withSeed(4)
        val flaky = object : KeyProvider {
            override fun keyEncryptionKey(): ByteArray =
                if (fail) throw KeyProviderException.Unavailable("user cancelled authentication")
                else good.keyEncryptionKey()
        }
        openStore(dir.storeFile(), flaky).use { store ->
            store.addVehicle(NewVehicle(plate = "123ABC02"))
            fail = true
            val err = assertFailsWith<AparkingException.KeyUnavailable> { store.deleteAllUserData() }
            assertEquals("user cancelled authentication", err.reason)
            assertEquals(1L, store.info().vehicleCount, "nothing was deleted")
            assertEquals(1, store.info().keyVersion)
        }
    }

    @Test
    fun `a key that is not 32 bytes is rejected as InvalidInput`() {
        for (size in listOf(0, 16, 31, 33, 64)) {
            val err = assertFailsWith<AparkingException.InvalidInput>("size $size") {
                openStore(dir.storeFile("k$size.db"), CountingKeyProvider(ByteArray(size) { 7 }))
            }
            assertEquals("keyEncryptionKey", err.field)
        }
    }

    @Test
    fun `rotateKeyEncryptionKey switches the store to the new provider`() {
        val file = dir.storeFile()
        val oldKey = CountingKeyProvider.withSeed(5)
        val newKey = CountingKeyProvider.withSeed(6)
        openStore(file, oldKey).use { store ->
            store.addVehicle(NewVehicle(plate = "A123BC"))
            store.rotateKeyEncryptionKey(newKey)
            assertEquals(1, newKey.calls)
            // Later KEK uses go to the new provider.
            store.rotateDataKey()
            assertEquals(2, newKey.calls)
            assertEquals(1, oldKey.calls)
        }
        assertFailsWith<AparkingException.WrongKey> { openStore(file, CountingKeyProvider.withSeed(5)) }
        openStore(file, CountingKeyProvider.withSeed(6)).use { store ->
            assertEquals("A 123 BC", store.listVehicles().single().plate.display)
        }
    }

    @Test
    fun `a file that is not a store is StoreCorrupted and is left alone`() {
        val file = dir.storeFile()
        val junk = "this is not a database, but user data of another app".repeat(200).toByteArray()
        Files.write(file, junk)
        assertFailsWith<AparkingException.StoreCorrupted> { openStore(file, CountingKeyProvider.withSeed(1)) }
        assertContentEquals(junk, Files.readAllBytes(file))
    }

    @Test
    fun `recovery - deleteStoreFiles after a lost key, moveStoreAside after corruption, both refused while open`() {
        val file = dir.storeFile()
        openStore(file, CountingKeyProvider.withSeed(1)).use { store ->
            store.addVehicle(NewVehicle(plate = "123ABC02"))
            val refused = assertFailsWith<AparkingException.InvalidInput> { deleteStoreFiles(file.toString()) }
            assertEquals("path", refused.field)
            assertFailsWith<AparkingException.InvalidInput> { moveStoreAside(file.toString()) }
            store.shutdown()
        }
        assertFailsWith<AparkingException.KeyUnavailable> { openStore(file, UnavailableKeyProvider("invalidated")) }
        deleteStoreFiles(file.toString())
        assertFalse(Files.exists(file))
        openStore(file, CountingKeyProvider.withSeed(2)).use { assertEquals(0L, it.info().vehicleCount) }

        Files.write(file, ByteArray(4096) { 0x5a })
        assertFailsWith<AparkingException.StoreCorrupted> { openStore(file, CountingKeyProvider.withSeed(2)) }
        val aside = moveStoreAside(file.toString())
        assertTrue(Files.exists(Path.of(aside)) && !Files.exists(file), aside)
        openStore(file, CountingKeyProvider.withSeed(2)).use { assertEquals(0L, it.info().vehicleCount) }
        assertFailsWith<AparkingException.NotFound> { moveStoreAside(dir.storeFile("missing.db").toString()) }
    }
}
