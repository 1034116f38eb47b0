package kz.aparking.core

import java.io.RandomAccessFile
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.io.TempDir

/**
 * Items of the Kotlin API no other test class exercised (see COVERAGE.md): the top-level
 * functions, the log sink, the rest of `Consent` and `Telemetry`, the store errors that need a
 * damaged or newer file, and every variant of the enums that cross the FFI as data.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CoverageGapsTest {
    @TempDir
    lateinit var dir: Path

    private val policyJson = """
        {"version": 7, "last_updated": "2026-03-01", "url": "https://aparking.kz/privacy",
         "text_sha256": "${"ab".repeat(32)}", "purposes": ["statistics", "connection_diagnostics"],
         "an_unknown_field": true}
    """.trimIndent()

    private fun withPipeline(block: (Store, Consent, Telemetry) -> Unit): Unit =
        openStore(dir.storeFile(), CountingKeyProvider.withSeed(90)).use { store ->
            Consent(store).use { consent -> Telemetry(store, fastConfig()).use { t -> block(store, consent, t) } }
        }

    // ---- Top-level functions ----------------------------------------------------------

    @Test
    fun `parsePolicyManifest validates and names the bad field`() {
        val manifest = parsePolicyManifest(policyJson)
        assertEquals(
            PolicyManifest(7, "2026-03-01", "https://aparking.kz/privacy", "ab".repeat(32),
                listOf(Purpose.STATISTICS, Purpose.CONNECTION_DIAGNOSTICS)),
            manifest,
        )
        val cases = mapOf(
            "not json" to "policy",
            policyJson.replace("\"version\": 7", "\"version\": 0") to "policy.version",
            policyJson.replace("https://aparking.kz/privacy", "http://aparking.kz/privacy") to "policy.url",
            policyJson.replace("ab".repeat(32), "AB".repeat(32)) to "policy.text_sha256",
            policyJson.replace("\"statistics\", \"connection_diagnostics\"", "") to "policy.purposes",
            policyJson.replace("2026-03-01", "2026-02-30") to "policy.last_updated",
        )
        for ((json, field) in cases) {
            val e = assertFailsWith<AparkingException.InvalidInput>(field) { parsePolicyManifest(json) }
            assertEquals(field, e.field, json)
        }
    }

    @Test
    fun `normalizers, required fields and schema version`() {
        assertEquals(PHONE_E164, normalizePhone(PHONE_TYPED))
        assertEquals("phone", assertFailsWith<AparkingException.InvalidInput> { normalizePhone("12") }.field)
        assertEquals("aigerim@mail.kz", normalizeEmail("aigerim@MAIL.kz"))
        assertEquals("email", assertFailsWith<AparkingException.InvalidInput> { normalizeEmail("no-at-sign") }.field)
        assertEquals("KX007711", normalizeDocumentNumber("кх 00-77 11"))
        assertEquals("number", assertFailsWith<AparkingException.InvalidInput> { normalizeDocumentNumber("") }.field)
        assertEquals(listOf(ProfileField.PHONE), requiredProfileFields())
        val schema = storeSchemaVersion()
        assertTrue(schema >= 4, "schema v$schema: the sync tables are migration 004")
        openStore(dir.storeFile(), CountingKeyProvider.withSeed(91)).use { assertEquals(schema, it.info().schemaVersion) }
    }

    // ---- Logging: setLogSink, LogSink.log, LogRecord, LogLevel -------------------------

    private class RecordingSink : LogSink {
        val records = CopyOnWriteArrayList<LogRecord>()
        val threads = CopyOnWriteArrayList<String>()
        override fun log(record: LogRecord) {
            threads += Thread.currentThread().name
            records += record
        }
    }

    @Test
    fun `a Kotlin LogSink receives the SDK's records at the level asked, and null stops them`() {
        val sink = RecordingSink()
        val key = CountingKeyProvider.withSeed(92)
        // The logger is process-global: always uninstall, whatever happens.
        try {
            assertTrue(setLogSink(sink, LogLevel.WARN))
            openStore(dir.storeFile("warn.db"), key).use { it.rotateDataKey() }
            assertTrue(
                sink.records.none { it.level == LogLevel.INFO || it.level == LogLevel.DEBUG || it.level == LogLevel.TRACE },
                "records below WARN were forwarded: ${sink.records}",
            )

            assertTrue(setLogSink(sink, LogLevel.INFO))
            openStore(dir.storeFile("info.db"), key).use { store ->
                store.addVehicle(NewVehicle(plate = "123ABC02", nickname = "Айгерим"))
                store.rotateDataKey()
            }
            val infos = sink.records.filter { it.level == LogLevel.INFO }
            assertTrue(infos.any { it.message.startsWith("created a new store") }, "$infos")
            assertTrue(infos.any { it.message == "data key rotated to v2" }, "$infos")
            assertTrue(infos.any { it.message == "store schema migrated to v${storeSchemaVersion()}" }, "$infos")
            assertTrue(sink.records.all { it.target.startsWith("aparking_core") }, "only the SDK's own targets")
            assertTrue(infos.any { it.target.startsWith("aparking_core::store") }, "$infos")
            assertTrue(sink.records.none { "123ABC02" in it.message || "Айгерим" in it.message }, "no personal data")
            assertTrue(Thread.currentThread().name in sink.threads, "called on the thread that logged")

            assertTrue(setLogSink(null, LogLevel.TRACE))
            val before = sink.records.size
            openStore(dir.storeFile("off.db"), key).use { it.rotateDataKey() }
            assertEquals(before, sink.records.size, "a removed sink hears nothing")
        } finally {
            setLogSink(null, LogLevel.ERROR)
        }
    }

    // ---- Consent ----------------------------------------------------------------------

    @Test
    fun `publishPolicyJson, policyInForce and the NotOffered status`() = withPipeline { _, consent, _ ->
        assertNull(consent.policyInForce())
        assertEquals(ConsentStatus.NoPolicy, consent.status(Purpose.STATISTICS))
        assertEquals(PolicyUpdate.ADOPTED, consent.publishPolicyJson(policyJson))
        assertEquals(parsePolicyManifest(policyJson), consent.policyInForce())
        assertEquals(PolicyUpdate.ALREADY_IN_FORCE, consent.publishPolicyJson(policyJson))
        val bad = assertFailsWith<AparkingException.InvalidInput> { consent.publishPolicyJson("{\"version\": 8}") }
        assertEquals("policy", bad.field)
        assertEquals(7, consent.policyInForce()?.version, "a rejected manifest changes nothing")
        assertEquals(ConsentStatus.PolicyNotAccepted(7), consent.status(Purpose.STATISTICS))

        // Granting a purpose this version does not offer is refused.
        val notOffered = assertFailsWith<AparkingException.InvalidInput> {
            consent.acceptPolicy(7, listOf(Purpose.PERSONALIZATION), consentContext())
        }
        assertEquals("granted", notOffered.field)
        consent.acceptPolicy(7, listOf(Purpose.STATISTICS), consentContext())
        // Every ConsentStatus variant a policy in force can give, one purpose each.
        assertEquals(ConsentStatus.Allowed, consent.status(Purpose.STATISTICS))
        assertEquals(ConsentStatus.NotGranted, consent.status(Purpose.CONNECTION_DIAGNOSTICS))
        assertEquals(ConsentStatus.NotOffered, consent.status(Purpose.PERSONALIZATION))
        assertEquals(ConsentStatus.NotOffered, consent.status(Purpose.COMMUNICATION))
        assertEquals(listOf(Purpose.STATISTICS), consent.state().allowed)
    }

    @Test
    fun `every CollectionMethod and Purpose crosses the FFI in receipts`() = withPipeline { _, consent, _ ->
        consent.publishPolicy(policy(1))
        for (method in CollectionMethod.entries) {
            consent.acceptPolicy(1, Purpose.entries, consentContext(method))
        }
        val receipts = consent.receipts()
        assertEquals(CollectionMethod.entries, receipts.map { it.collectionMethod })
        assertTrue(receipts.all { it.purposesGranted.toSet() == Purpose.entries.toSet() && it.purposesDenied.isEmpty() })
        assertTrue(receipts.all { it.action == ConsentAction.ACCEPT })
    }

    // ---- Telemetry: complaints, shutdown -----------------------------------------------

    @Test
    fun `fileConnectionComplaint attaches the recent samples of every network type, complaints lists it`() =
        withPipeline { store, consent, t ->
            consent.publishPolicy(policy(1))
            consent.acceptPolicy(1, listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext())
            assertEquals(listOf(), t.complaints())
            NetworkType.entries.forEachIndexed { i, type ->
                t.record(TelemetryEvent.NetworkQuality(type, -60 - i, 100 + i.toInt(), 1000, i.toInt()))
            }
            val complaint = t.fileConnectionComplaint("  Связь пропадает у ТРЦ Mega  ", 60)
            assertEquals("Связь пропадает у ТРЦ Mega", complaint.description, "trimmed")
            assertEquals(NetworkType.entries.size, complaint.samples.size)
            assertEquals(NetworkType.entries.toSet(), complaint.samples.map { it.networkType }.toSet())
            val wifi = complaint.samples.single { it.networkType == NetworkType.WIFI }
            val i = NetworkType.WIFI.ordinal
            assertEquals(NetworkSample(wifi.recordedAt, NetworkType.WIFI, -60 - i, 100 + i.toInt(), 1000, i.toInt()), wifi)
            assertTrue(complaint.samples.all { !it.recordedAt.isAfter(complaint.createdAt) })
            assertEquals(listOf(complaint), t.complaints())

            for (bad in listOf("   ", "line\u0007bell")) {
                val e = assertFailsWith<AparkingException.InvalidInput> { t.fileConnectionComplaint(bad, 60) }
                assertEquals("description", e.field)
            }
            assertEquals(1, t.complaints().size)
            // Personal data: exported with the user's data, erased with it.
            assertTrue("Связь пропадает у ТРЦ Mega" in store.exportUserData())
            store.deleteAllUserData()
            assertEquals(listOf(), t.complaints())
        }

    @Test
    fun `Telemetry shutdown stores what was recorded and counts later records as dropped`() =
        withPipeline { _, consent, t ->
            consent.publishPolicy(policy(1))
            consent.acceptPolicy(1, Purpose.entries, consentContext())
            repeat(3) { t.record(TelemetryEvent.ScreenView("screen_$it")) }
            t.shutdown() // no flush(): shutdown itself stores the buffered events
            assertEquals(3L, t.pendingEvents(null))
            val before = t.counters()
            assertEquals(3L, before.stored)
            t.record(TelemetryEvent.SessionStart)
            t.recordAll(listOf(TelemetryEvent.SessionStart, networkSample(-80)))
            val after = t.counters()
            assertEquals(before.droppedBufferFull + 3L, after.droppedBufferFull)
            assertEquals(3L, after.stored)
            assertEquals(3L, t.pendingEvents(null))
            t.shutdown() // twice is harmless
            assertEquals(0L, t.counters().droppedNoConsent.total(), "every purpose was granted: dropped because stopped")
        }

    // ---- Threads and coroutines at once ---------------------------------------------------

    @Test
    fun `platform threads and coroutines call Store, Consent and Telemetry at the same time`() =
        withPipeline { store, consent, t ->
            consent.publishPolicy(policy(1))
            consent.acceptPolicy(1, Purpose.entries, consentContext())
            val start = CountDownLatch(1)
            val errors = CopyOnWriteArrayList<Throwable>()
            // Four platform threads add vehicles and record events...
            val threads = (1..4).map { w ->
                thread(name = "platform-$w") {
                    start.await()
                    try {
                        repeat(10) { i ->
                            store.addVehicle(NewVehicle(plate = "%d%02dABC%02d".format(w, i, w)))
                            t.record(TelemetryEvent.ScreenView("thread_$w"))
                        }
                    } catch (e: Throwable) {
                        errors += e
                    }
                }
            }
            // ...while four coroutines on Dispatchers.IO read, record and check consent.
            runBlocking {
                val coroutines = (5..8).map { w ->
                    async(Dispatchers.IO) {
                        start.await()
                        repeat(10) { i ->
                            t.record(networkSample(-60 - i))
                            assertTrue(consent.isAllowed(Purpose.CONNECTION_DIAGNOSTICS))
                            store.addVehicle(NewVehicle(plate = "%d%02dABC%02d".format(w, i, w)))
                            store.info()
                        }
                    }
                }
                start.countDown()
                coroutines.awaitAll()
            }
            threads.forEach { it.join(30_000) }
            assertTrue(errors.isEmpty(), "$errors")
            assertEquals(80, store.listVehicles().map { it.plate.canonical }.toSet().size)
            assertTrue(t.flush(5_000L))
            assertEquals(40L, t.pendingEvents(Purpose.SERVICE_IMPROVEMENT))
            assertEquals(40L, t.pendingEvents(Purpose.CONNECTION_DIAGNOSTICS))
        }

    // ---- Enums as data --------------------------------------------------------------------

    @Test
    fun `every Language, DocumentKind and clearable field crosses the FFI`() =
        openStore(dir.storeFile(), CountingKeyProvider.withSeed(93)).use { store ->
            store.updateProfile(ProfilePatch(phone = PHONE_TYPED))
            for (language in Language.entries) {
                assertEquals(language, store.updateProfile(ProfilePatch(preferredLanguage = language)).preferredLanguage)
            }
            store.updateProfile(ProfilePatch(fullName = "Айгерим", email = "a@mail.kz"))
            val clearable = ProfileField.entries - requiredProfileFields().toSet()
            val cleared = store.updateProfile(ProfilePatch(clear = clearable))
            assertEquals(Profile(cleared.id, PHONE_E164, null, null, null, cleared.createdAt, cleared.updatedAt), cleared)

            val car = store.addVehicle(NewVehicle("A123BC", "n", "Kia", "Rio", "белый", "KX007711"))
            val bare = store.updateVehicle(car.id, VehiclePatch(clear = VehicleField.entries - VehicleField.PLATE))
            assertEquals(listOf(null, null, null, null, null), listOf(bare.nickname, bare.make, bare.model, bare.colour, bare.registrationCertificateNumber))

            val docs = DocumentKind.entries.mapIndexed { i, kind ->
                store.addDocument(NewDocument(kind, "AB00000$i", "2024-01-0${i + 1}", "2034-01-0${i + 1}", car.id))
            }
            assertEquals(DocumentKind.entries, docs.map { store.getDocument(it.id)?.kind })
            val emptied = store.updateDocument(docs[0].id, DocumentPatch(clear = DocumentField.entries - DocumentField.NUMBER))
            assertEquals(listOf<String?>(null, null, null), listOf(emptied.issuedOn, emptied.expiresOn, emptied.vehicleId))
            val noNumber = assertFailsWith<AparkingException.InvalidInput> {
                store.updateDocument(docs[0].id, DocumentPatch(clear = listOf(DocumentField.NUMBER)))
            }
            assertEquals("number", noNumber.field)
        }

    // ---- Store errors that need a newer or damaged file ----------------------------------

    @Test
    fun `a store written by a newer SDK is IncompatibleVersion and left unchanged`() {
        val file = dir.storeFile()
        val key = CountingKeyProvider.withSeed(94)
        openStore(file, key).use { it.addVehicle(NewVehicle(plate = "123ABC02")) }
        // SQLite keeps PRAGMA user_version (the schema version) at offset 60 of the header,
        // big-endian: what a future SDK's migration would leave there.
        RandomAccessFile(file.toFile(), "rw").use { it.seek(60); it.writeInt(99) }
        val before = Files.readAllBytes(file)
        val e = assertFailsWith<AparkingException.IncompatibleVersion> { openStore(file, key) }
        assertEquals(99, e.found)
        assertEquals(storeSchemaVersion(), e.supported)
        assertContentEquals(before, Files.readAllBytes(file), "the newer store is not touched")
    }

    @Test
    fun `a flipped byte in one sealed vehicle is IntegrityFailure for that record only`() {
        val file = dir.storeFile()
        val key = CountingKeyProvider.withSeed(95)
        val (good, bad) = openStore(file, key).use { store ->
            store.addVehicle(NewVehicle(plate = "111AAA01", make = "Kia")) to
                store.addVehicle(NewVehicle(plate = "222BBB02", make = "Lada"))
        }
        flipSealedByte(file, bad.id)
        openStore(file, key).use { store ->
            val e = assertFailsWith<AparkingException.IntegrityFailure> { store.getVehicle(bad.id) }
            assertEquals("vehicle", e.entity)
            assertEquals(bad.id, e.recordId)
            val listed = assertFailsWith<AparkingException.IntegrityFailure> { store.listVehicles() }
            assertEquals(bad.id, listed.recordId, "the list names the damaged record")
            assertEquals(good, store.getVehicle(good.id))
            assertFalse(e.message.orEmpty().contains("Lada"))
        }
    }

    @Test
    fun `a flipped byte in one receipt breaks the chain - verifyReceipts, receipts and the export are IntegrityFailure naming it`() {
        val file = dir.storeFile()
        val key = CountingKeyProvider.withSeed(97)
        val receipts = openStore(file, key).use { store ->
            Consent(store).use { consent ->
                consent.publishPolicy(policy(1))
                consent.acceptPolicy(1, listOf(Purpose.STATISTICS, Purpose.CONNECTION_DIAGNOSTICS), consentContext(subjectId = "acct-7"))
                consent.withdraw(listOf(Purpose.STATISTICS), consentContext(CollectionMethod.SETTINGS_SCREEN, subjectId = "acct-7"))
                consent.withdrawAll(consentContext(CollectionMethod.SETTINGS_SCREEN, subjectId = "acct-7"))
                assertEquals(3L, consent.verifyReceipts().length)
                assertTrue(consent.state().receiptsVerified)
                consent.receipts()
            }
        }
        flipSealedByte(file, receipts[1].id, table = "consent_receipts", columns = 4, sealedColumn = 2)
        openStore(file, key).use { store ->
            Consent(store).use { consent ->
                assertFalse(consent.state().receiptsVerified, "seen on open")
                val e = assertFailsWith<AparkingException.IntegrityFailure> { consent.verifyReceipts() }
                assertEquals("consent receipt", e.entity)
                assertEquals(receipts[1].id, e.recordId)
                // A receipt that no longer opens is neither listed nor exported as if it were whole.
                assertEquals(receipts[1].id, assertFailsWith<AparkingException.IntegrityFailure> { consent.receipts() }.recordId)
                assertEquals(receipts[1].id, assertFailsWith<AparkingException.IntegrityFailure> { consent.exportReceiptsJson() }.recordId)
            }
        }
    }

    @Test
    fun `a store path that cannot be created is a typed Storage error`() {
        Files.writeString(dir.resolve("a-file"), "not a directory")
        val e = assertFailsWith<AparkingException.Storage> {
            Store.open(dir.resolve("a-file").resolve("store.db").toString(), CountingKeyProvider.withSeed(96))
        }
        assertTrue(e.reason.isNotBlank())
    }

    /**
     * Flips the middle byte of the `sealed` column of row [id] of [table] in the closed
     * database [file], by reading SQLite's record format: a header of varint serial types, then
     * the values. The row has [columns] columns, the first the TEXT id, the [sealedColumn]-th
     * (0-based) the sealed BLOB: `vehicles` (id, plate_index, sealed, created_at, updated_at)
     * by default, `consent_receipts` (id, created_at, sealed, uploaded_at) with 4 and 2.
     */
    private fun flipSealedByte(file: Path, id: String, table: String = "vehicles", columns: Int = 5, sealedColumn: Int = 2) {
        val bytes = Files.readAllBytes(file)
        val idBytes = id.toByteArray()
        var flipped = 0
        var from = 0
        while (true) {
            val at = indexOf(bytes, idBytes, from).takeIf { it >= 0 } ?: break
            from = at + 1
            for (headerLen in 2..12) {
                val start = at - headerLen
                if (start < 0 || bytes[start].toInt() != headerLen) continue
                val types = mutableListOf<Long>()
                var p = start + 1
                while (p < at) {
                    val (v, n) = varint(bytes, p); types += v; p += n
                }
                if (p != at || types.size != columns || types[0] != 13L + 2 * idBytes.size) continue
                val sealedType = types[sealedColumn]
                if (sealedType < 12 || sealedType % 2 != 0L) continue
                val sealedAt = at + types.take(sealedColumn).sumOf { serialSize(it) }
                val sealedLen = serialSize(sealedType)
                bytes[sealedAt + sealedLen / 2] = (bytes[sealedAt + sealedLen / 2].toInt() xor 0x20).toByte()
                flipped++
            }
        }
        assertEquals(1, flipped, "the $table row of $id was not found in the file")
        Files.write(file, bytes)
    }

    /** The size in bytes of a value of SQLite serial type [t]. */
    private fun serialSize(t: Long): Int = when {
        t >= 12 -> ((t - 12) / 2).toInt()
        else -> intArrayOf(0, 1, 2, 3, 4, 6, 8, 8, 0, 0)[t.toInt()]
    }

    private fun varint(b: ByteArray, at: Int): Pair<Long, Int> {
        var v = 0L
        for (i in 0 until 9) {
            val x = b[at + i].toInt() and 0xff
            if (i == 8) return ((v shl 8) or x.toLong()) to 9
            v = (v shl 7) or (x and 0x7f).toLong()
            if (x and 0x80 == 0) return v to i + 1
        }
        error("unreachable")
    }

    private fun indexOf(haystack: ByteArray, needle: ByteArray, from: Int): Int {
        outer@ for (i in from..haystack.size - needle.size) {
            for (j in needle.indices) if (haystack[i + j] != needle[j]) continue@outer
            return i
        }
        return -1
    }
}
