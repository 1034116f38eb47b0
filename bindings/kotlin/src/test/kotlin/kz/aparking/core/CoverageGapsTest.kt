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
    fun `a flipped byte in one sealed vehicle and one document fails those records only - the lists and the export leave them out and name them`() {
        val file = dir.storeFile()
        val key = CountingKeyProvider.withSeed(95)
        val (vehicles, documents) = openStore(file, key).use { store ->
            store.updateProfile(ProfilePatch(phone = PHONE_TYPED))
            listOf(
                store.addVehicle(NewVehicle(plate = "111AAA01", make = "Kia")),
                store.addVehicle(NewVehicle(plate = "222BBB02", make = "Lada")),
                store.addVehicle(NewVehicle(plate = "333CCC03", make = "Toyota")),
            ) to listOf(
                store.addDocument(NewDocument(kind = DocumentKind.DRIVER_LICENCE, number = "DL10000001")),
                store.addDocument(NewDocument(kind = DocumentKind.VEHICLE_REGISTRATION_CERTIFICATE, number = "VRC7654321")),
            )
        }
        val (kia, bad, toyota) = vehicles
        val (licence, badDoc) = documents
        flipSealedByte(file, SealedTable.VEHICLES, bad.id)
        flipSealedByte(file, SealedTable.DOCUMENTS, badDoc.id)
        openStore(file, key).use { store ->
            // The damaged record itself still says what is wrong with it, and nothing more.
            val e = assertFailsWith<AparkingException.IntegrityFailure> { store.getVehicle(bad.id) }
            assertEquals(Entity.VEHICLE, e.entity)
            assertEquals(bad.id, e.recordId)
            assertFalse(e.message.orEmpty().contains("Lada"))
            val d = assertFailsWith<AparkingException.IntegrityFailure> { store.getDocument(badDoc.id) }
            assertEquals(Entity.DOCUMENT to badDoc.id, d.entity to d.recordId)

            // Everything else stays readable: the lists hold every intact record and leave the damaged out.
            assertEquals(listOf(kia, toyota).sortedBy { it.id }, store.listVehicles().sortedBy { it.id })
            assertEquals(listOf(licence), store.listDocuments())
            assertEquals(kia, store.getVehicle(kia.id))
            val damaged = listOf(RecordRef(RecordKind.VEHICLE, bad.id), RecordRef(RecordKind.DOCUMENT, badDoc.id))
            assertEquals(damaged, store.damagedRecords(), "vehicles first, then documents")

            // The export has the intact records and names the damaged ones (never their values).
            val json = store.exportUserData()
            assertEquals(damaged, exportedDamagedRecords(json), json)
            for (kept in listOf("111AAA01", "333CCC03", "DL10000001", PHONE_E164)) assertTrue(kept in json, "export lacks $kept")
            for (gone in listOf("222BBB02", "Lada", "VRC7654321")) assertFalse(gone in json, "export has $gone")

            // An intact record is not discarded that way (removeVehicle deletes it everywhere).
            val intact = assertFailsWith<AparkingException.InvalidInput> { store.discardDamagedRecord(RecordRef(RecordKind.VEHICLE, kia.id)) }
            assertEquals("record" to "is not a damaged record", intact.field to intact.reason)
            assertEquals(kia, store.getVehicle(kia.id))

            // Never synced, a discarded record is simply gone.
            store.discardDamagedRecord(damaged[0])
            assertNull(store.getVehicle(bad.id))
            assertEquals(listOf(damaged[1]), store.damagedRecords())
            store.discardDamagedRecord(damaged[1])
            assertNull(store.getDocument(badDoc.id))
            assertEquals(listOf(), store.damagedRecords())
            assertEquals(listOf(), exportedDamagedRecords(store.exportUserData()))
            assertEquals(2, store.listVehicles().size)
        }
        openStore(file, key).use { store ->
            assertEquals(listOf(), store.damagedRecords(), "gone for good")
            assertEquals(setOf(kia.id, toyota.id), store.listVehicles().map { it.id }.toSet())
            // The plate of the discarded vehicle is free again.
            assertEquals("222BBB02", store.addVehicle(NewVehicle(plate = "222BBB02")).plate.canonical)
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
        flipSealedByte(file, SealedTable.CONSENT_RECEIPTS, receipts[1].id)
        openStore(file, key).use { store ->
            Consent(store).use { consent ->
                assertFalse(consent.state().receiptsVerified, "seen on open")
                val e = assertFailsWith<AparkingException.IntegrityFailure> { consent.verifyReceipts() }
                assertEquals(Entity.CONSENT_RECEIPT, e.entity)
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
}
