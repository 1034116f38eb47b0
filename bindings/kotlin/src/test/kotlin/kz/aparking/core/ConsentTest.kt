package kz.aparking.core

import java.nio.file.Path
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.io.TempDir

/**
 * Consent gating from Kotlin (mirrors tests/consent_gating.rs): nothing is collected before
 * acceptance, only granted purposes are stored, a new policy version stops collection,
 * withdrawal purges, observers hear every change, the PII firewall drops the user's own data.
 * No upload happens here: the endpoint is [NOWHERE].
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ConsentTest {
    @TempDir
    lateinit var dir: Path

    /** Opens a store, a [Consent] and a [Telemetry] on it, runs [block], closes all three. */
    private fun withPipeline(
        config: TelemetryConfig = fastConfig(),
        prepare: (Store) -> Unit = {},
        block: (Store, Consent, Telemetry) -> Unit,
    ): Unit = openStore(dir.storeFile(), CountingKeyProvider.withSeed(40)).use { store ->
        prepare(store)
        Consent(store).use { consent ->
            Telemetry(store, config).use { telemetry -> block(store, consent, telemetry) }
        }
    }

    private fun Telemetry.flushed() = assertTrue(flush(5_000L), "flush timed out")

    @Test
    fun `nothing is stored before acceptance, then only the granted purpose`() =
        withPipeline { _, consent, t ->
            assertEquals(ConsentStatus.NoPolicy, consent.status(Purpose.STATISTICS))

            // No policy, then a policy not accepted: nothing stored, whatever the app records.
            oneOfEach().forEach(t::record)
            assertEquals(PolicyUpdate.ADOPTED, consent.publishPolicy(policy(3)))
            assertEquals(ConsentStatus.PolicyNotAccepted(3), consent.status(Purpose.STATISTICS))
            oneOfEach().forEach(t::record)
            t.flushed()
            assertEquals(0L, t.pendingEvents(null))
            val counters = t.counters()
            assertEquals(0L, counters.stored)
            assertEquals((2 * oneOfEach().size).toLong(), counters.droppedNoConsent.total())

            // Accept v3 with connection diagnostics only: only network-quality events are kept.
            val receipt = consent.acceptPolicy(3, listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext())
            assertEquals(listOf(Purpose.CONNECTION_DIAGNOSTICS), receipt.purposesGranted)
            assertEquals(4, receipt.purposesDenied.size)
            oneOfEach().forEach(t::record)
            repeat(3) { t.record(networkSample(-90 - it)) }
            t.flushed()
            assertEquals(4L, t.pendingEvents(Purpose.CONNECTION_DIAGNOSTICS))
            assertEquals(4L, t.pendingEvents(null), "only connection diagnostics stored")
            assertEquals(0L, t.pendingEvents(Purpose.SERVICE_IMPROVEMENT))
            assertEquals(4L, t.counters().stored)
            assertEquals(ConsentStatus.NotGranted, consent.status(Purpose.STATISTICS))
            assertEquals(ConsentStatus.Allowed, consent.status(Purpose.CONNECTION_DIAGNOSTICS))
            assertTrue(consent.isAllowed(Purpose.CONNECTION_DIAGNOSTICS))
            assertFalse(consent.isAllowed(Purpose.SERVICE_IMPROVEMENT))
        }

    @Test
    fun `a new policy version stops collection at once until it is accepted`() =
        withPipeline { _, consent, t ->
            consent.publishPolicy(policy(3))
            consent.acceptPolicy(3, listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext())
            t.record(networkSample(-90))
            t.flushed()
            assertEquals(1L, t.pendingEvents(null))
            val idsBefore = t.installationIds()

            assertEquals(PolicyUpdate.ADOPTED, consent.publishPolicy(policy(4)))
            val status = consent.status(Purpose.CONNECTION_DIAGNOSTICS)
            assertEquals(ConsentStatus.NewPolicyNotAccepted(3, 4), status)
            // Named properties of the sealed subclass, as an app's `when` would read them.
            val newPolicy = status as ConsentStatus.NewPolicyNotAccepted
            assertEquals(3, newPolicy.acceptedVersion)
            assertEquals(4, newPolicy.currentVersion)
            assertFalse(consent.isAllowed(Purpose.CONNECTION_DIAGNOSTICS))
            assertEquals(listOf<Purpose>(), consent.state().allowed)
            // Pending v3 data of the purpose is purged, a deletion request queued, the id replaced.
            assertEquals(0L, t.pendingEvents(null))
            assertEquals(1L, t.pendingDeletionRequests())
            assertNotEquals(idsBefore.last(), t.installationIds().last(), "installation id replaced")

            repeat(5) { t.record(networkSample(-80)) }
            t.flushed()
            assertEquals(0L, t.pendingEvents(null), "collection stopped at once")

            // Older versions are ignored, the same one is already in force.
            assertEquals(PolicyUpdate.OUTDATED, consent.publishPolicy(policy(2)))
            assertEquals(PolicyUpdate.ALREADY_IN_FORCE, consent.publishPolicy(policy(4)))

            // Accepting v4 resumes collection.
            val receipt = consent.acceptPolicy(4, listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext(CollectionMethod.POLICY_UPDATE_PROMPT))
            assertEquals(4, receipt.policyVersion)
            assertEquals(ConsentStatus.Allowed, consent.status(Purpose.CONNECTION_DIAGNOSTICS))
            t.record(networkSample(-70))
            t.flushed()
            assertEquals(1L, t.pendingEvents(null), "resumed after v4 was accepted")
        }

    @Test
    fun `accepting a version other than the one in force throws PolicyVersionMismatch`() =
        withPipeline { _, consent, t ->
            assertFailsWith<AparkingException.NoPolicy> {
                consent.acceptPolicy(1, listOf(), consentContext())
            }
            consent.publishPolicy(policy(3))
            consent.acceptPolicy(3, Purpose.entries.toList(), consentContext())
            consent.publishPolicy(policy(4))

            for (wrong in listOf(3, 5)) {
                val e = assertFailsWith<AparkingException.PolicyVersionMismatch> {
                    consent.acceptPolicy(wrong, listOf(Purpose.STATISTICS), consentContext())
                }
                assertEquals(wrong, e.accepted)
                assertEquals(4, e.inForce)
            }
            // Nothing changed: still waiting for v4, nothing collected, no receipt added.
            assertEquals(ConsentStatus.NewPolicyNotAccepted(3, 4), consent.status(Purpose.STATISTICS))
            assertEquals(1, consent.receipts().size)
            t.record(TelemetryEvent.SessionStart)
            t.flushed()
            assertEquals(0L, t.pendingEvents(null))

            val invalid = assertFailsWith<AparkingException.InvalidInput> {
                consent.acceptPolicy(4, listOf(), ConsentContext("4.2.0", "kk KZ!", CollectionMethod.SETTINGS_SCREEN))
            }
            assertEquals("context.locale", invalid.field)

            // A field names the Kotlin property: camelCase for a record, the JSON key for JSON.
            val record = assertFailsWith<AparkingException.InvalidInput> {
                consent.publishPolicy(policy(5).copy(lastUpdated = "2026-02-30"))
            }
            assertEquals("policy.lastUpdated", record.field)
            val json = assertFailsWith<AparkingException.InvalidInput> {
                parsePolicyManifest(
                    """{"version": 5, "last_updated": "2026-02-30", "url": "https://aparking.kz/privacy",
                       "text_sha256": "${"ab".repeat(32)}", "purposes": ["statistics"]}""",
                )
            }
            assertEquals("policy.last_updated", json.field)
        }

    @Test
    fun `withdrawing a purpose purges its pending events and queues a deletion request`() =
        withPipeline { _, consent, t ->
            consent.publishPolicy(policy(3))
            consent.acceptPolicy(
                3, listOf(Purpose.SERVICE_IMPROVEMENT, Purpose.CONNECTION_DIAGNOSTICS), consentContext(),
            )
            val deletionsBefore = t.pendingDeletionRequests()
            repeat(6) { i ->
                t.record(TelemetryEvent.ScreenView(screen = "screen_$i"))
                t.record(networkSample(-90 - i))
            }
            t.flushed()
            assertEquals(6L, t.pendingEvents(Purpose.SERVICE_IMPROVEMENT))
            assertEquals(6L, t.pendingEvents(Purpose.CONNECTION_DIAGNOSTICS))
            assertEquals(12L, t.pendingEvents(null))
            val idsBefore = t.installationIds()

            val receipt = consent.withdraw(listOf(Purpose.SERVICE_IMPROVEMENT), consentContext(CollectionMethod.SETTINGS_SCREEN))
            assertEquals(ConsentAction.WITHDRAW, receipt.action)
            assertEquals(listOf(Purpose.CONNECTION_DIAGNOSTICS), receipt.purposesGranted)

            assertEquals(0L, t.pendingEvents(Purpose.SERVICE_IMPROVEMENT), "purged at once")
            assertEquals(6L, t.pendingEvents(Purpose.CONNECTION_DIAGNOSTICS), "other purposes kept")
            assertEquals(6L, t.pendingEvents(null))
            assertEquals(deletionsBefore + 1L, t.pendingDeletionRequests())
            assertEquals(6L, t.counters().purged)
            val idsAfter = t.installationIds()
            assertTrue(idsAfter.size > idsBefore.size && idsAfter.last() !in idsBefore, "a fresh installation id")
            assertEquals(ConsentStatus.NotGranted, consent.status(Purpose.SERVICE_IMPROVEMENT))

            // The withdrawn purpose is no longer collected; the other one still is.
            t.record(TelemetryEvent.ScreenView(screen = "after_withdrawal"))
            t.record(networkSample(-60))
            t.flushed()
            assertEquals(0L, t.pendingEvents(Purpose.SERVICE_IMPROVEMENT))
            assertEquals(7L, t.pendingEvents(Purpose.CONNECTION_DIAGNOSTICS))
        }

    /** A Kotlin implementation of the foreign trait: counts the calls, keeps the last state. */
    private class RecordingObserver : ConsentObserver {
        val calls = AtomicInteger()
        val last = AtomicReference<ConsentState?>(null)
        val threads: MutableSet<String> = java.util.Collections.synchronizedSet(mutableSetOf())

        override fun onConsentChanged(state: ConsentState) {
            threads += Thread.currentThread().name
            last.set(state)
            calls.incrementAndGet()
        }
    }

    @Test
    fun `stateFlow starts with the current state, then emits each change, and unsubscribes when cancelled`() =
        withPipeline { _, consent, _ ->
            consent.publishPolicy(policy(1))
            runBlocking {
                val seen = java.util.concurrent.CopyOnWriteArrayList<ConsentState>()
                suspend fun awaitSize(n: Int) = withTimeout(10_000) { while (seen.size < n) delay(5) }
                val collecting = launch(Dispatchers.IO) { consent.stateFlow().take(3).collect { seen += it } }
                // The first item arrives after the observer is registered.
                awaitSize(1)
                consent.acceptPolicy(1, listOf(Purpose.STATISTICS), consentContext())
                awaitSize(2)
                consent.withdrawAll(consentContext(CollectionMethod.SETTINGS_SCREEN))
                awaitSize(3)
                collecting.join()
                assertEquals(null, seen[0].acceptedVersion, "first the state as it was")
                assertEquals(listOf(Purpose.STATISTICS), seen[1].allowed)
                assertEquals(listOf<Purpose>(), seen[2].allowed)
            }
            // The collection ended (take(3)): its subscription was closed, and changes after it
            // reach nobody (a leaked observer would still run here; nothing may throw).
            consent.acceptPolicy(1, listOf(Purpose.STATISTICS), consentContext())
            assertEquals(listOf(Purpose.STATISTICS), consent.state().allowed)
        }

    @Test
    fun `pendingEvents without an argument counts every purpose`() =
        withPipeline { _, consent, t ->
            consent.publishPolicy(policy(1))
            consent.acceptPolicy(1, Purpose.entries, consentContext())
            oneOfEach().forEach(t::record)
            t.flushed()
            assertEquals(t.pendingEvents(null), t.pendingEvents())
            assertEquals(oneOfEach().size.toLong(), t.pendingEvents())
        }

    @Test
    fun `a Kotlin ConsentObserver hears every change`() =
        withPipeline { _, consent, _ ->
            val observer = RecordingObserver()
            val subscription = consent.subscribe(observer)

            consent.publishPolicy(policy(1))
            assertEquals(1, observer.calls.get())
            assertEquals(1, observer.last.get()?.policyInForce?.version)
            assertEquals(null, observer.last.get()?.acceptedVersion)
            assertEquals(listOf<Purpose>(), observer.last.get()?.allowed)

            consent.acceptPolicy(1, listOf(Purpose.STATISTICS, Purpose.PERSONALIZATION), consentContext())
            assertEquals(2, observer.calls.get())
            assertEquals(1, observer.last.get()?.acceptedVersion)
            assertEquals(listOf(Purpose.PERSONALIZATION, Purpose.STATISTICS), observer.last.get()?.allowed)

            consent.withdraw(listOf(Purpose.STATISTICS), consentContext(CollectionMethod.SETTINGS_SCREEN))
            assertEquals(3, observer.calls.get())
            assertEquals(listOf(Purpose.PERSONALIZATION), observer.last.get()?.allowed)

            // A newer policy also changes the state; an ignored (outdated) one does not.
            consent.publishPolicy(policy(2))
            assertEquals(4, observer.calls.get())
            val last = assertNotNull(observer.last.get())
            assertEquals(2, last.policyInForce?.version)
            assertEquals(1, last.acceptedVersion)
            assertEquals(listOf<Purpose>(), last.allowed)
            assertEquals(consent.state(), last)
            consent.publishPolicy(policy(1))
            assertEquals(4, observer.calls.get(), "an outdated manifest changes nothing")

            // Called synchronously on the thread that made the change.
            assertEquals(setOf(Thread.currentThread().name), observer.threads.toSet())

            assertTrue(subscription.isActive())
            subscription.cancel()
            assertFalse(subscription.isActive())
            subscription.close() // after cancel(): nothing more to do
            consent.acceptPolicy(2, listOf(Purpose.STATISTICS), consentContext())
            assertEquals(4, observer.calls.get(), "a cancelled subscription hears nothing")
        }

    @Test
    fun `receipts list every decision, oldest first`() =
        withPipeline { _, consent, _ ->
            assertEquals(listOf(), consent.receipts())
            consent.publishPolicy(policy(1))
            consent.acceptPolicy(1, listOf(Purpose.STATISTICS, Purpose.PERSONALIZATION), consentContext())
            consent.withdraw(listOf(Purpose.STATISTICS), consentContext(CollectionMethod.SETTINGS_SCREEN))
            consent.withdrawAll(consentContext(CollectionMethod.SETTINGS_SCREEN))

            val receipts = consent.receipts()
            assertEquals(
                listOf(ConsentAction.ACCEPT, ConsentAction.WITHDRAW, ConsentAction.WITHDRAW),
                receipts.map { it.action },
            )
            assertTrue(receipts.all { it.policyVersion == 1 && it.jurisdiction == "KZ" && it.locale == "kk-KZ" })
            assertTrue(receipts.all { it.policyTextSha256 == policy(1).textSha256 && it.policyUrl == "https://aparking.kz/privacy" })
            assertEquals(3, receipts.map { it.id }.toSet().size, "distinct ids")
            assertEquals(listOf(Purpose.PERSONALIZATION, Purpose.STATISTICS), receipts[0].purposesGranted)
            assertEquals(CollectionMethod.ONBOARDING_SCREEN, receipts[0].collectionMethod)
            assertEquals(listOf(Purpose.PERSONALIZATION), receipts[1].purposesGranted)
            assertEquals(listOf(), receipts[2].purposesGranted)
            assertEquals(Purpose.entries.toList(), receipts[2].purposesDenied)
            assertContentEquals(receipts.map { it.timestamp }.sorted(), receipts.map { it.timestamp })
        }

    @Test
    fun `an Art 8 manifest's operator, categories, duration and flags are in every receipt, and the receipts form a verified hash chain`() =
        withPipeline { _, consent, _ ->
            val manifest = parsePolicyManifest(ART8_MANIFEST_JSON)
            assertEquals(PolicyOperator(OPERATOR_NAME, "123456789012"), manifest.operator)
            assertEquals(ART8_CATEGORIES, manifest.dataCategories)
            assertEquals(365, manifest.consentDurationDays)
            assertEquals(Triple(false, true, false), Triple(manifest.thirdPartyTransfer, manifest.crossBorderTransfer, manifest.publiclyAvailable))
            assertEquals(listOf("api.aparking.kz"), manifest.personalDataHosts)
            assertEquals(listOf("*.aparking.kz"), manifest.telemetryHosts)
            // The Art. 8 fields are optional: a manifest without them gets the defaults.
            val minimal = parsePolicyManifest(
                """{"version": 8, "last_updated": "2026-07-01", "url": "https://aparking.kz/privacy",
                   "text_sha256": "${"ef".repeat(32)}", "purposes": ["statistics"]}""",
            )
            assertEquals(PolicyManifest(8, "2026-07-01", "https://aparking.kz/privacy", "ef".repeat(32), listOf(Purpose.STATISTICS)), minimal)
            for ((json, field) in listOf(
                ART8_MANIFEST_JSON.replace("123456789012", "12345678901") to "policy.operator.bin",
                ART8_MANIFEST_JSON.replace("\"app_usage\"", "\"App Usage\"") to "policy.data_categories",
                ART8_MANIFEST_JSON.replace("\"api.aparking.kz\"", "\"https://api.aparking.kz\"") to "policy.personal_data_hosts",
            )) {
                assertEquals(field, assertFailsWith<AparkingException.InvalidInput>(field) { parsePolicyManifest(json) }.field)
            }

            assertEquals(ReceiptChain(0L, null), consent.verifyReceipts(), "no receipt yet: an empty chain")
            assertEquals(PolicyUpdate.ADOPTED, consent.publishPolicy(manifest))
            assertEquals(manifest, consent.policyInForce())
            val accepted = consent.acceptPolicy(
                7, listOf(Purpose.STATISTICS, Purpose.CONNECTION_DIAGNOSTICS), consentContext(subjectId = "acct-42"),
            )
            val withdrawn = consent.withdraw(
                listOf(Purpose.STATISTICS), consentContext(CollectionMethod.SETTINGS_SCREEN, subjectId = "acct-42"),
            )
            for (receipt in listOf(accepted, withdrawn)) {
                assertEquals("123456789012", receipt.operator?.bin)
                assertEquals(OPERATOR_NAME, receipt.operator?.name)
                assertEquals("acct-42", receipt.subjectId)
                assertEquals("2026-06-01", receipt.policyLastUpdated)
                assertEquals(ART8_CATEGORIES, receipt.dataCategories, "the categories of every offered purpose")
                assertEquals(365, receipt.consentDurationDays)
                assertEquals(Triple(false, true, false), Triple(receipt.thirdPartyTransfer, receipt.crossBorderTransfer, receipt.publiclyAvailable))
                assertTrue(HEX64.matches(receipt.receiptSha256), receipt.receiptSha256)
            }
            assertEquals(listOf(Purpose.CONNECTION_DIAGNOSTICS), withdrawn.purposesGranted)
            assertEquals(
                listOf("network_quality", "coarse_location"),
                withdrawn.dataCategories.single { it.purpose in withdrawn.purposesGranted }.categories,
                "the granted purpose's categories",
            )
            // The hash chain: the first receipt has no predecessor, each next one names it.
            assertNull(accepted.previousReceiptSha256)
            assertEquals(accepted.receiptSha256, withdrawn.previousReceiptSha256)
            assertNotEquals(accepted.receiptSha256, withdrawn.receiptSha256)
            assertEquals(
                listOf(accepted, withdrawn).map { it.id to it.receiptSha256 },
                consent.receipts().map { it.id to it.receiptSha256 },
                "stored as returned",
            )
            assertEquals(ReceiptChain(2L, withdrawn.receiptSha256), consent.verifyReceipts())
            assertTrue(consent.state().receiptsVerified)

            // The Kantara Consent Receipt 1.1 export (compact JSON; checked by its members).
            val export = consent.exportReceiptsJson()
            assertEquals(2, Regex(""""version"\s*:\s*"KI-CR-v1\.1\.0"""").findAll(export).count(), export)
            assertTrue(export.hasMember("jurisdiction", "\"KZ\""), export)
            assertTrue(export.hasMember("piiPrincipalId", "\"acct-42\""), export)
            assertTrue(export.hasMember("piiController", "\"$OPERATOR_NAME\""), export)
            assertTrue(export.hasMember("x-aparking-bin", "\"123456789012\""), export)
            assertTrue(export.hasMember("termination", "\"P365D\""), export)
            assertTrue(export.hasMember("thirdPartyDisclosure", "false"), export)
            assertTrue(export.hasMember("crossBorderTransfer", "true"), export)
            assertTrue(export.hasMember("receiptSha256", "\"${withdrawn.receiptSha256}\""), export)
            assertTrue(export.hasMember("previousReceiptSha256", "\"${accepted.receiptSha256}\""), export)
            assertTrue(export.contains(Regex(""""piiCategory"\s*:\s*\[\s*"network_quality"\s*,\s*"coarse_location"\s*]""")), export)
            val chain = assertNotNull(Regex(""""chain"\s*:\s*\{[^}]*}""").find(export), export).value
            assertTrue(chain.hasMember("verified", "true"), chain)
            assertTrue(chain.hasMember("length", "2"), chain)
            assertTrue(chain.hasMember("headSha256", "\"${withdrawn.receiptSha256}\""), chain)

            // A later version without the Art. 8 fields: the chain goes on, consent until withdrawn.
            consent.publishPolicy(minimal)
            val third = consent.acceptPolicy(8, listOf(Purpose.STATISTICS), consentContext(CollectionMethod.POLICY_UPDATE_PROMPT))
            assertEquals(withdrawn.receiptSha256, third.previousReceiptSha256)
            assertNull(third.operator)
            assertNull(third.subjectId)
            assertNull(third.consentDurationDays)
            assertEquals(listOf(), third.dataCategories)
            assertEquals(ReceiptChain(3L, third.receiptSha256), consent.verifyReceipts())
            val later = consent.exportReceiptsJson()
            assertTrue(later.hasMember("termination", "\"until withdrawn\""), later)
            assertTrue(later.hasMember("length", "3"), later)
        }

    @Test
    fun `a subjectId that is not an opaque account id is InvalidInput for context_subject_id, nothing recorded`() =
        withPipeline { _, consent, _ ->
            consent.publishPolicy(policy(1))
            val bad = listOf("aigerim@mail.kz", "+77012345678", "acct 42", "", "a".repeat(129), "аккаунт")
            for (subject in bad) {
                val e = assertFailsWith<AparkingException.InvalidInput>("'$subject'") {
                    consent.acceptPolicy(1, listOf(Purpose.STATISTICS), consentContext(subjectId = subject))
                }
                assertEquals("context.subjectId", e.field)
                if (subject.length in 3..64) assertFalse(e.toString().contains(subject), "the value is never echoed: $e")
            }
            assertEquals(listOf(), consent.receipts())
            assertEquals(null, consent.state().acceptedVersion)

            for (good in listOf("acct-1", "urn:aparking:acct_42.v2", "a".repeat(128))) {
                assertEquals(good, consent.acceptPolicy(1, listOf(Purpose.STATISTICS), consentContext(subjectId = good)).subjectId)
            }
            // A withdrawal checks it too.
            val e = assertFailsWith<AparkingException.InvalidInput> {
                consent.withdrawAll(consentContext(CollectionMethod.SETTINGS_SCREEN, subjectId = "aigerim@mail.kz"))
            }
            assertEquals("context.subjectId", e.field)
            assertEquals(3, consent.receipts().size)
            assertEquals(listOf(Purpose.STATISTICS), consent.state().allowed)
        }

    @Test
    fun `the PII firewall stops the user's own plate typed differently`() =
        withPipeline(prepare = { it.addVehicle(NewVehicle(plate = "123ABC02")) }) { _, consent, t ->
            consent.publishPolicy(policy(1))
            consent.acceptPolicy(1, Purpose.entries.toList(), consentContext())

            t.record(TelemetryEvent.ScreenView(screen = "123 авс 02")) // Cyrillic look-alikes, spaces
            t.record(TelemetryEvent.ErrorCount(code = "plate_123-АВС-02_invalid", count = 1))
            t.record(TelemetryEvent.ScreenView(screen = "parking_map"))
            t.flushed()

            val counters = t.counters()
            assertEquals(2L, counters.droppedFirewall.total())
            assertEquals(
                2L,
                counters.droppedFirewall[Purpose.SERVICE_IMPROVEMENT],
            )
            assertEquals(1L, t.pendingEvents(null), "only the clean event is stored")
            assertEquals(1L, counters.stored)
        }

    private companion object {
        const val OPERATOR_NAME = "ТОО «Алматы спецтехпаркинг сервис»"

        /** A manifest with every law No. 94-V Art. 8 field, as the operator publishes it. */
        val ART8_MANIFEST_JSON = """
            {"version": 7, "last_updated": "2026-06-01", "url": "https://aparking.kz/privacy",
             "text_sha256": "${"cd".repeat(32)}", "purposes": ["statistics", "connection_diagnostics"],
             "operator": {"name": "$OPERATOR_NAME", "bin": "123456789012"},
             "data_categories": [
               {"purpose": "statistics", "categories": ["app_usage", "device_model"]},
               {"purpose": "connection_diagnostics", "categories": ["network_quality", "coarse_location"]}],
             "consent_duration_days": 365,
             "third_party_transfer": false, "cross_border_transfer": true, "publicly_available": false,
             "personal_data_hosts": ["api.aparking.kz"], "telemetry_hosts": ["*.aparking.kz"]}
        """.trimIndent()

        val ART8_CATEGORIES = listOf(
            PurposeDataCategories(Purpose.STATISTICS, listOf("app_usage", "device_model")),
            PurposeDataCategories(Purpose.CONNECTION_DIAGNOSTICS, listOf("network_quality", "coarse_location")),
        )

        val HEX64 = Regex("[0-9a-f]{64}")

        /** Whether this JSON text has a member `"key": value` ([value] as JSON text). */
        fun String.hasMember(key: String, value: String): Boolean =
            Regex("\"${Regex.escape(key)}\"\\s*:\\s*${Regex.escape(value)}").containsMatchIn(this)
    }
}
