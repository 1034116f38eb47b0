package kz.aparking.core

import java.nio.file.Path
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

/** Top-level format functions and input validation errors. */
class FormatsTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `variants without fields print their name and compare equal`() {
        // data objects (our uniffi-bindgen): not "SyncEvent${'$'}Started@1b6d3586".
        assertEquals("Started", SyncEvent.Started.toString())
        assertEquals("Allowed", ConsentStatus.Allowed.toString())
        assertEquals("NoPolicy", ConsentStatus.NoPolicy.toString())
        assertEquals("SessionStart", TelemetryEvent.SessionStart.toString())
        assertEquals(listOf<SyncEvent>(SyncEvent.Started), listOf<SyncEvent>(SyncEvent.Started))
    }

    @Test
    fun `parsePlate normalises both civil formats`() {
        val current = parsePlate("123-АВС-02")
        assertEquals(PlateNumber("123ABC02", "123 ABC 02", PlateFormat.CURRENT, "02"), current)
        assertEquals(current, parsePlate("123 авс 02"))
        assertEquals(current, parsePlate(" 123abc02 "))
        assertEquals(current, parsePlate(current.display), "the display form parses to itself")

        val legacy = parsePlate("а 123 вс")
        assertEquals(PlateNumber("A123BC", "A 123 BC", PlateFormat.LEGACY, "A"), legacy)
        assertEquals("A 123 BCD", parsePlate("A123BCD").display)
    }

    @Test
    fun `parsePlate recognises company and foreign-owner plates and plateRegionName names the region`() {
        val company = parsePlate("123 ав 02")
        assertEquals(PlateNumber("123AB02", "123 AB 02", PlateFormat.CURRENT_LEGAL_ENTITY, "02"), company)
        val foreign = parsePlate("Н-5678-17")
        assertEquals(PlateNumber("H567817", "H 5678 17", PlateFormat.CURRENT_FOREIGN, "17"), foreign)
        assertEquals(foreign, parsePlate(foreign.display))
        for (bad in listOf("123AB21", "G123402", "F12302")) {
            assertFailsWith<AparkingException.InvalidInput>("'$bad'") { parsePlate(bad) }
        }

        assertEquals("Алматы", plateRegionName(company.region, Language.KK))
        assertEquals("Shymkent", plateRegionName(foreign.region, Language.EN))
        assertEquals("Улытауская область", plateRegionName("20", Language.RU))
        assertEquals("Almaty", plateRegionName(parsePlate("A123BC").region, Language.EN), "1993 letters too")
        assertNull(plateRegionName("O", Language.EN), "a letter two regions used names none")
        assertNull(plateRegionName("21", Language.EN))
    }

    @Test
    fun `parsePlate rejects malformed plates without echoing them`() {
        for (bad in listOf("987XYZ99", "12ABC02", "1234ABC02", "123ЖЖЖ02", "A123B", "987-qwe-00", "")) {
            val err = assertFailsWith<AparkingException.InvalidInput>("'$bad'") { parsePlate(bad) }
            assertEquals("plate", err.field)
            assertTrue(err.reason.contains("123 ABC 02"), "the reason names the expected format: ${err.reason}")
            if (bad.isNotEmpty()) {
                assertFalse(err.message.orEmpty().contains(bad), "message echoes '$bad': ${err.message}")
            }
        }
    }

    @Test
    fun `malformed plate in the store is InvalidInput for field plate, value not echoed`() {
        val typed = "987XYZ99"
        openStore(dir.storeFile(), CountingKeyProvider.withSeed(9)).use { store ->
            val add = assertFailsWith<AparkingException.InvalidInput> { store.addVehicle(NewVehicle(plate = typed)) }
            assertEquals("plate", add.field)
            assertFalse(add.message.orEmpty().contains(typed), add.message)
            assertFalse(add.message.orEmpty().contains("987"), add.message)

            val find = assertFailsWith<AparkingException.InvalidInput> { store.findVehicleByPlate(typed) }
            assertEquals("plate", find.field)
            assertEquals(0L, store.info().vehicleCount)
            assertNull(store.findVehicleByPlate("123ABC02"), "a valid but absent plate is null, not an error")
        }
    }

    @Test
    fun `phone, e-mail and document number normalisers`() {
        for (typed in listOf(PHONE_TYPED, "+7 701 234 56 78", "77012345678", "+7-701-234-5678")) {
            assertEquals(PHONE_E164, normalizePhone(typed), typed)
        }
        val phone = assertFailsWith<AparkingException.InvalidInput> { normalizePhone("+1 202 555 0100") }
        assertEquals("phone", phone.field)
        assertFalse(phone.message.orEmpty().contains("202 555 0100"))

        assertEquals("Aigerim@mail.kz", normalizeEmail(" Aigerim@Mail.KZ "))
        assertEquals("email", assertFailsWith<AparkingException.InvalidInput> { normalizeEmail("a@kz") }.field)

        assertEquals("AB123456", normalizeDocumentNumber("ав 12-34 56"))
        val doc = assertFailsWith<AparkingException.InvalidInput> { normalizeDocumentNumber("№123456") }
        assertEquals("number", doc.field)
        assertFalse(doc.message.orEmpty().contains("123456"))
    }

    @Test
    fun `every AparkingException's message is the core's sentence, without the value`() {
        val invalid = assertFailsWith<AparkingException.InvalidInput> { parsePlate("nope 123") }
        val message = invalid.message
        assertTrue(message.startsWith("Invalid plate: expected a Kazakhstan plate"), message)
        assertTrue(message.endsWith("."), message)
        assertFalse(message.contains("nope"), "the value is never echoed: $message")
        // One of each variant: `message` (what loggers and crash reporters print) is never
        // empty nor the list of fields uniffi would make of it, but the sentence of toString().
        val all: List<AparkingException> = listOf(
            AparkingException.InvalidInput("plate", "is required"),
            AparkingException.AlreadyExists(RecordKind.VEHICLE),
            AparkingException.NotFound(Entity.DOCUMENT),
            AparkingException.WrongKey(),
            AparkingException.KeyUnavailable("the keystore is locked"),
            AparkingException.IntegrityFailure(Entity.VEHICLE, "0b6c0d1e-2f30-4a41-8b52-6c7d8e9fa0b1"),
            AparkingException.StoreCorrupted("not a database"),
            AparkingException.IncompatibleVersion(99, 14),
            AparkingException.StoreClosed(),
            AparkingException.AuthRequired("signed out"),
            AparkingException.SyncInProgress(),
            AparkingException.SyncCancelled(),
            AparkingException.AccountErased(),
            AparkingException.StoreRolledBack(3L, 5L),
            AparkingException.Network("timeout", 2_000L),
            AparkingException.NoPolicy(),
            AparkingException.PolicyVersionMismatch(1, 2),
            AparkingException.StorageFull(),
            AparkingException.UndeclaredHost("tracker.example", "telemetry"),
            AparkingException.UntrustedPolicy("no signature"),
            AparkingException.Storage("SQLITE_IOERR"),
            AparkingException.Internal("lock poisoned"),
        )
        for (e in all) {
            val text = e.toString()
            val expected = text.replaceFirstChar { it.uppercaseChar() }.let { if (it.endsWith(".")) it else "$it." }
            assertEquals(expected, e.message, e::class.simpleName)
            assertFalse(e.message.orEmpty().contains("="), "not a field list: ${e.message}")
        }
        assertEquals("The store is closed.", AparkingException.StoreClosed().message)
        assertEquals("A sync is already running.", AparkingException.SyncInProgress().message)
        assertEquals("The storage is full.", AparkingException.StorageFull().message)
    }

    @Test
    fun `sealed AparkingException can be matched exhaustively with when`() {
        val err: AparkingException = assertFailsWith<AparkingException> { parsePlate("nope") }
        val description = when (err) {
            is AparkingException.InvalidInput -> "invalid ${err.field}"
            is AparkingException.AlreadyExists -> "exists"
            is AparkingException.NotFound -> "not found"
            is AparkingException.WrongKey -> "wrong key"
            is AparkingException.KeyUnavailable -> "key unavailable"
            is AparkingException.IntegrityFailure -> "integrity"
            is AparkingException.StoreCorrupted -> "corrupted"
            is AparkingException.IncompatibleVersion -> "incompatible"
            is AparkingException.StoreClosed -> "closed"
            is AparkingException.NoPolicy -> "no policy"
            is AparkingException.PolicyVersionMismatch -> "policy ${err.accepted} vs ${err.inForce}"
            is AparkingException.AuthRequired -> "auth required"
            is AparkingException.SyncInProgress -> "sync in progress"
            is AparkingException.SyncCancelled -> "sync cancelled"
            is AparkingException.AccountErased -> "account erased"
            is AparkingException.StoreRolledBack -> "rolled back: epoch ${err.fileEpoch} < ${err.expectedEpoch}"
            is AparkingException.Network -> "network ${err.retryAfterMs}"
            is AparkingException.UndeclaredHost -> "undeclared ${err.channel} host ${err.host}"
            is AparkingException.UntrustedPolicy -> "untrusted policy: ${err.reason}"
            is AparkingException.StorageFull -> "full"
            is AparkingException.Storage -> "storage"
            is AparkingException.Internal -> "internal"
        }
        assertEquals("invalid plate", description)
        assertTrue(storeSchemaVersion() >= 1)
    }
}
