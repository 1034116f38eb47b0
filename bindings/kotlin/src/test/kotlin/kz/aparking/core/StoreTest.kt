package kz.aparking.core

import java.nio.file.Path
import java.time.Duration
import java.time.Instant
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

/** Profile, vehicles, documents, export and erasure through the generated `Store`. */
class StoreTest {
    @TempDir
    lateinit var dir: Path
    private lateinit var provider: CountingKeyProvider

    @BeforeEach
    fun setUp() {
        provider = CountingKeyProvider.withSeed(42)
    }

    private inline fun <R> withStore(block: (Store) -> R): R = openStore(dir.storeFile(), provider).use(block)

    /** Test body on a fresh store; returns Unit (JUnit skips @Test methods that return a value). */
    private inline fun storeTest(block: (Store) -> Unit): Unit = withStore(block)

    private fun assertRecent(t: Instant, start: Instant) {
        // Stored with millisecond precision: allow for the truncation.
        assertTrue(!t.isBefore(start.minusMillis(1)), "$t is before the test started ($start)")
        assertTrue(Duration.between(t, Instant.now()).abs() < Duration.ofMinutes(1), "$t is not now")
    }

    @Test
    fun `vehicle typed in Cyrillic is found in Latin`() = storeTest { store ->
        val added = store.addVehicle(NewVehicle(plate = "123 авс 02", nickname = "  Работа "))
        assertEquals("123ABC02", added.plate.canonical)
        assertEquals("123 ABC 02", added.plate.display)
        assertEquals(PlateFormat.CURRENT, added.plate.format)
        assertEquals("02", added.plate.region)
        assertEquals("Работа", added.nickname, "free text is trimmed, Cyrillic kept")
        assertNull(added.make)

        val found = assertNotNull(store.findVehicleByPlate("123ABC02"))
        assertEquals(added, found, "the record read back equals the one returned by add")
        assertEquals("123 ABC 02", found.plate.display)
        assertNull(store.findVehicleByPlate("124ABC02"))

        val dup = assertFailsWith<AparkingException.AlreadyExists> { store.addVehicle(NewVehicle(plate = "123ABC02")) }
        assertEquals(RecordKind.VEHICLE, dup.entity)
        assertEquals(1, store.listVehicles().size)
    }

    @Test
    fun `vehicle update, patch clear and remove`() = storeTest { store ->
        val v = store.addVehicle(NewVehicle(plate = "A123BCD", make = "Toyota", model = "Camry"))
        val updated = store.updateVehicle(v.id, VehiclePatch(colour = "белый", clear = listOf(VehicleField.MODEL)))
        assertEquals("Toyota", updated.make, "fields not in the patch are kept")
        assertNull(updated.model)
        assertEquals("белый", updated.colour)
        assertEquals(v.createdAt, updated.createdAt)
        assertTrue(!updated.updatedAt.isBefore(v.updatedAt))
        assertEquals(updated, store.getVehicle(v.id))

        val bad = assertFailsWith<AparkingException.InvalidInput> {
            store.updateVehicle(v.id, VehiclePatch(clear = listOf(VehicleField.PLATE)))
        }
        assertEquals("plate", bad.field)

        store.removeVehicle(v.id)
        assertNull(store.getVehicle(v.id))
        val missing = assertFailsWith<AparkingException.NotFound> { store.removeVehicle(v.id) }
        assertEquals(Entity.VEHICLE, missing.entity)
        assertFailsWith<AparkingException.NotFound> { store.updateVehicle(v.id, VehiclePatch(make = "Lada")) }
    }

    @Test
    fun `profile patch with named and default arguments`() = storeTest { store ->
        val start = Instant.now()
        assertNull(store.getProfile())
        val noPhone = assertFailsWith<AparkingException.InvalidInput> {
            store.updateProfile(ProfilePatch(fullName = "Айгерим"))
        }
        assertEquals("phone", noPhone.field, "the first update must set the phone")

        val created = store.updateProfile(ProfilePatch(phone = PHONE_TYPED))
        assertEquals(PHONE_E164, created.phone)
        assertNull(created.email)
        assertNull(created.preferredLanguage)
        val createdAt: Instant = created.createdAt
        assertRecent(createdAt, start)
        assertRecent(created.updatedAt, start)

        val withEmail = store.updateProfile(
            ProfilePatch(email = " Aigerim@Mail.KZ ", preferredLanguage = Language.KK, fullName = "Айгерим Н."),
        )
        assertEquals(PHONE_E164, withEmail.phone, "phone kept when the patch leaves it null")
        assertEquals("Aigerim@mail.kz", withEmail.email)
        assertEquals(Language.KK, withEmail.preferredLanguage)
        assertEquals(created.id, withEmail.id)
        assertEquals(created.createdAt, withEmail.createdAt)

        val cleared = store.updateProfile(ProfilePatch(clear = listOf(ProfileField.EMAIL)))
        assertNull(cleared.email)
        assertEquals("Айгерим Н.", cleared.fullName)
        assertEquals(cleared, store.getProfile())

        val requiredCleared = assertFailsWith<AparkingException.InvalidInput> {
            store.updateProfile(ProfilePatch(clear = listOf(ProfileField.PHONE)))
        }
        assertEquals("phone", requiredCleared.field)
        val setAndCleared = assertFailsWith<AparkingException.InvalidInput> {
            store.updateProfile(ProfilePatch(email = "a@b.kz", clear = listOf(ProfileField.EMAIL)))
        }
        assertEquals("email", setAndCleared.field)
        val badPhone = assertFailsWith<AparkingException.InvalidInput> {
            store.updateProfile(ProfilePatch(phone = "+1 202 555 0100"))
        }
        assertFalse(badPhone.message.orEmpty().contains("202 555"))
        assertEquals(PHONE_E164, store.getProfile()?.phone, "a failed update changes nothing")
        assertEquals(listOf(ProfileField.PHONE), requiredProfileFields())
    }

    @Test
    fun `documents found by number with Cyrillic look-alikes and linked to a vehicle`() = storeTest { store ->
        val licence = store.addDocument(
            NewDocument(kind = DocumentKind.DRIVER_LICENCE, number = "AB 12-34 56", expiresOn = "2034-05-31"),
        )
        assertEquals("AB123456", licence.number)
        assertEquals("2034-05-31", licence.expiresOn)
        assertNull(licence.vehicleId)

        val found = assertNotNull(store.findDocumentByNumber(DocumentKind.DRIVER_LICENCE, "ав123456"))
        assertEquals(licence.id, found.id)
        assertNull(
            store.findDocumentByNumber(DocumentKind.VEHICLE_REGISTRATION_CERTIFICATE, "AB123456"),
            "lookup is per kind",
        )
        assertFailsWith<AparkingException.AlreadyExists> {
            store.addDocument(NewDocument(kind = DocumentKind.DRIVER_LICENCE, number = "АВ123456"))
        }

        val car = store.addVehicle(NewVehicle(plate = "555 ТТТ 17"))
        val cert = store.addDocument(
            NewDocument(
                kind = DocumentKind.VEHICLE_REGISTRATION_CERTIFICATE,
                number = "КХ 00 77 11",
                issuedOn = "2024-01-15",
                vehicleId = car.id,
            ),
        )
        assertEquals("KX007711", cert.number)
        assertEquals(car.id, cert.vehicleId)
        assertEquals(car.id, store.getDocument(cert.id)?.vehicleId)

        val dangling = assertFailsWith<AparkingException.NotFound> {
            store.addDocument(
                NewDocument(kind = DocumentKind.VEHICLE_REGISTRATION_CERTIFICATE, number = "ZZ999999", vehicleId = "no-such-id"),
            )
        }
        assertEquals(Entity.VEHICLE, dangling.entity)
        val backwards = assertFailsWith<AparkingException.InvalidInput> {
            store.addDocument(
                NewDocument(kind = DocumentKind.DRIVER_LICENCE, number = "QQ111111", issuedOn = "2030-01-02", expiresOn = "2030-01-01"),
            )
        }
        assertEquals("expiresOn", backwards.field)

        // Removing the vehicle keeps its documents (unlinked, per the Rust docs).
        store.removeVehicle(car.id)
        val orphan = assertNotNull(store.getDocument(cert.id))
        assertNull(orphan.vehicleId)
        assertEquals(2, store.listDocuments().size)

        val unlinked = store.updateDocument(licence.id, DocumentPatch(clear = listOf(DocumentField.EXPIRES_ON)))
        assertNull(unlinked.expiresOn)
        store.removeDocument(licence.id)
        assertEquals(listOf(cert.id), store.listDocuments().map { it.id })
    }

    @Test
    fun `exportUserData has everything and deleteAllUserData empties the store`() = storeTest { store ->
        store.updateProfile(ProfilePatch(phone = PHONE_TYPED, email = "user@example.kz"))
        store.addVehicle(NewVehicle(plate = "123 авс 02"))
        store.addVehicle(NewVehicle(plate = "a 777 bc"))
        store.addDocument(NewDocument(kind = DocumentKind.DRIVER_LICENCE, number = "ав 99 88 77"))
        val before = store.info()
        assertEquals(StoreInfo(storeSchemaVersion(), 1, true, 2, 1, Durability.FULL), before)

        val json = store.exportUserData()
        assertTrue(json.trimStart().startsWith("{") && json.trimEnd().endsWith("}"), json)
        for (expected in listOf(
            "\"aparking-core/user-data-export\"",
            "\"$PHONE_E164\"",
            "\"user@example.kz\"",
            "\"123ABC02\"",
            "\"123 ABC 02\"",
            "\"A777BC\"",
            "\"AB998877\"",
            "\"driver_licence\"",
        )) {
            assertTrue(json.contains(expected), "export lacks $expected:\n$json")
        }

        val callsBefore = provider.calls
        store.deleteAllUserData()
        assertEquals(callsBefore + 1, provider.calls, "erasure wraps a new data key with the KEK")
        val after = store.info()
        assertEquals(StoreInfo(before.schemaVersion, before.keyVersion + 1, false, 0, 0, Durability.FULL), after)
        assertNull(store.getProfile())
        assertTrue(store.listVehicles().isEmpty())
        assertTrue(store.listDocuments().isEmpty())
        assertNull(store.findVehicleByPlate("123ABC02"))
        val emptyExport = store.exportUserData()
        assertFalse(emptyExport.contains("123ABC02") || emptyExport.contains(PHONE_E164), emptyExport)

        // The store stays usable: the same plate can be added again.
        assertEquals("123ABC02", store.addVehicle(NewVehicle(plate = "123ABC02")).plate.canonical)
    }

    @Test
    fun `data persists across close and reopen`() {
        val id = withStore { it.addVehicle(NewVehicle(plate = "001AAA01", make = "Lada")).id }
        withStore { store ->
            val v = assertNotNull(store.getVehicle(id))
            assertEquals("Lada", v.make)
            assertEquals(StoreInfo(storeSchemaVersion(), 1, false, 1, 0, Durability.FULL), store.info())
        }
    }

    @Test
    fun `using a Store after close throws IllegalStateException, not AparkingException`() {
        val store = openStore(dir.storeFile(), provider)
        store.addVehicle(NewVehicle(plate = "123ABC02"))
        assertFalse(store.uniffiIsDestroyed)
        store.close()
        assertTrue(store.uniffiIsDestroyed)

        // The generated wrapper refuses the call before it reaches Rust: the Rust
        // `AparkingException.StoreClosed` is never seen from Kotlin.
        val err = assertFailsWith<IllegalStateException> { store.listVehicles() }
        assertTrue(err.message!!.contains("destroyed"), err.message)
        assertFailsWith<IllegalStateException> { store.addVehicle(NewVehicle(plate = "124ABC02")) }
        store.close() // closing twice is harmless

        // Closing released the file: it opens again, with the data.
        openStore(dir.storeFile(), provider).use { again ->
            assertEquals("123ABC02", again.listVehicles().single().plate.canonical)
        }
    }

    @Test
    fun `shutdown closes the database at once and later calls throw StoreClosed`() {
        val store = openStore(dir.storeFile(), provider)
        store.addVehicle(NewVehicle(plate = "123ABC02"))
        val other = store // another reference, as a second component of an app would hold
        store.shutdown()
        assertFailsWith<AparkingException.StoreClosed> { other.listVehicles() }
        assertFailsWith<AparkingException.StoreClosed> { other.addVehicle(NewVehicle(plate = "124ABC02")) }
        store.shutdown() // twice is harmless
        // The file is released and complete: it opens again while the old object still exists.
        openStore(dir.storeFile(), provider).use { again ->
            assertEquals("123ABC02", again.listVehicles().single().plate.canonical)
        }
        store.close()
    }

    @Test
    fun `use closes the Store even when the block throws`() {
        lateinit var leaked: Store
        assertFailsWith<AparkingException.InvalidInput> {
            openStore(dir.storeFile(), provider).use { store ->
                leaked = store
                store.addVehicle(NewVehicle(plate = "not a plate"))
            }
        }
        assertTrue(leaked.uniffiIsDestroyed)
        assertFailsWith<IllegalStateException> { leaked.info() }
        assertNotEquals(0, provider.calls)
    }
}
