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
import kotlin.test.assertTrue
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

    private fun Telemetry.flushed() = assertTrue(flush(5_000uL), "flush timed out")

    @Test
    fun `nothing is stored before acceptance, then only the granted purpose`() =
        withPipeline { _, consent, t ->
            assertEquals(ConsentStatus.NoPolicy, consent.status(Purpose.STATISTICS))

            // No policy, then a policy not accepted: nothing stored, whatever the app records.
            oneOfEach().forEach(t::record)
            assertEquals(PolicyUpdate.ADOPTED, consent.publishPolicy(policy(3u)))
            assertEquals(ConsentStatus.PolicyNotAccepted(3u), consent.status(Purpose.STATISTICS))
            oneOfEach().forEach(t::record)
            t.flushed()
            assertEquals(0uL, t.pendingEvents(null))
            val counters = t.counters()
            assertEquals(0uL, counters.stored)
            assertEquals((2 * oneOfEach().size).toULong(), counters.droppedNoConsent.total())

            // Accept v3 with connection diagnostics only: only network-quality events are kept.
            val receipt = consent.acceptPolicy(3u, listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext())
            assertEquals(listOf(Purpose.CONNECTION_DIAGNOSTICS), receipt.purposesGranted)
            assertEquals(4, receipt.purposesDenied.size)
            oneOfEach().forEach(t::record)
            repeat(3) { t.record(networkSample(-90 - it)) }
            t.flushed()
            assertEquals(4uL, t.pendingEvents(Purpose.CONNECTION_DIAGNOSTICS))
            assertEquals(4uL, t.pendingEvents(null), "only connection diagnostics stored")
            assertEquals(0uL, t.pendingEvents(Purpose.SERVICE_IMPROVEMENT))
            assertEquals(4uL, t.counters().stored)
            assertEquals(ConsentStatus.NotGranted, consent.status(Purpose.STATISTICS))
            assertEquals(ConsentStatus.Allowed, consent.status(Purpose.CONNECTION_DIAGNOSTICS))
            assertTrue(consent.isAllowed(Purpose.CONNECTION_DIAGNOSTICS))
            assertFalse(consent.isAllowed(Purpose.SERVICE_IMPROVEMENT))
        }

    @Test
    fun `a new policy version stops collection at once until it is accepted`() =
        withPipeline { _, consent, t ->
            consent.publishPolicy(policy(3u))
            consent.acceptPolicy(3u, listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext())
            t.record(networkSample(-90))
            t.flushed()
            assertEquals(1uL, t.pendingEvents(null))
            val idsBefore = t.installationIds()

            assertEquals(PolicyUpdate.ADOPTED, consent.publishPolicy(policy(4u)))
            val status = consent.status(Purpose.CONNECTION_DIAGNOSTICS)
            assertEquals(ConsentStatus.NewPolicyNotAccepted(3u, 4u), status)
            // Named properties of the sealed subclass, as an app's `when` would read them.
            val newPolicy = status as ConsentStatus.NewPolicyNotAccepted
            assertEquals(3u, newPolicy.acceptedVersion)
            assertEquals(4u, newPolicy.currentVersion)
            assertFalse(consent.isAllowed(Purpose.CONNECTION_DIAGNOSTICS))
            assertEquals(listOf<Purpose>(), consent.state().allowed)
            // Pending v3 data of the purpose is purged, a deletion request queued, the id replaced.
            assertEquals(0uL, t.pendingEvents(null))
            assertEquals(1uL, t.pendingDeletionRequests())
            assertNotEquals(idsBefore.last(), t.installationIds().last(), "installation id replaced")

            repeat(5) { t.record(networkSample(-80)) }
            t.flushed()
            assertEquals(0uL, t.pendingEvents(null), "collection stopped at once")

            // Older versions are ignored, the same one is already in force.
            assertEquals(PolicyUpdate.OUTDATED, consent.publishPolicy(policy(2u)))
            assertEquals(PolicyUpdate.ALREADY_IN_FORCE, consent.publishPolicy(policy(4u)))

            // Accepting v4 resumes collection.
            val receipt = consent.acceptPolicy(4u, listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext(CollectionMethod.POLICY_UPDATE_PROMPT))
            assertEquals(4u, receipt.policyVersion)
            assertEquals(ConsentStatus.Allowed, consent.status(Purpose.CONNECTION_DIAGNOSTICS))
            t.record(networkSample(-70))
            t.flushed()
            assertEquals(1uL, t.pendingEvents(null), "resumed after v4 was accepted")
        }

    @Test
    fun `accepting a version other than the one in force throws PolicyVersionMismatch`() =
        withPipeline { _, consent, t ->
            assertFailsWith<AparkingException.NoPolicy> {
                consent.acceptPolicy(1u, listOf(), consentContext())
            }
            consent.publishPolicy(policy(3u))
            consent.acceptPolicy(3u, Purpose.entries.toList(), consentContext())
            consent.publishPolicy(policy(4u))

            for (wrong in listOf(3u, 5u)) {
                val e = assertFailsWith<AparkingException.PolicyVersionMismatch> {
                    consent.acceptPolicy(wrong, listOf(Purpose.STATISTICS), consentContext())
                }
                assertEquals(wrong, e.accepted)
                assertEquals(4u, e.inForce)
            }
            // Nothing changed: still waiting for v4, nothing collected, no receipt added.
            assertEquals(ConsentStatus.NewPolicyNotAccepted(3u, 4u), consent.status(Purpose.STATISTICS))
            assertEquals(1, consent.receipts().size)
            t.record(TelemetryEvent.SessionStart)
            t.flushed()
            assertEquals(0uL, t.pendingEvents(null))

            val invalid = assertFailsWith<AparkingException.InvalidInput> {
                consent.acceptPolicy(4u, listOf(), ConsentContext("4.2.0", "kk KZ!", CollectionMethod.SETTINGS_SCREEN))
            }
            assertEquals("context.locale", invalid.field)
        }

    @Test
    fun `withdrawing a purpose purges its pending events and queues a deletion request`() =
        withPipeline { _, consent, t ->
            consent.publishPolicy(policy(3u))
            consent.acceptPolicy(
                3u, listOf(Purpose.SERVICE_IMPROVEMENT, Purpose.CONNECTION_DIAGNOSTICS), consentContext(),
            )
            val deletionsBefore = t.pendingDeletionRequests()
            repeat(6) { i ->
                t.record(TelemetryEvent.ScreenView(screen = "screen_$i"))
                t.record(networkSample(-90 - i))
            }
            t.flushed()
            assertEquals(6uL, t.pendingEvents(Purpose.SERVICE_IMPROVEMENT))
            assertEquals(6uL, t.pendingEvents(Purpose.CONNECTION_DIAGNOSTICS))
            assertEquals(12uL, t.pendingEvents(null))
            val idsBefore = t.installationIds()

            val receipt = consent.withdraw(listOf(Purpose.SERVICE_IMPROVEMENT), consentContext(CollectionMethod.SETTINGS_SCREEN))
            assertEquals(ConsentAction.WITHDRAW, receipt.action)
            assertEquals(listOf(Purpose.CONNECTION_DIAGNOSTICS), receipt.purposesGranted)

            assertEquals(0uL, t.pendingEvents(Purpose.SERVICE_IMPROVEMENT), "purged at once")
            assertEquals(6uL, t.pendingEvents(Purpose.CONNECTION_DIAGNOSTICS), "other purposes kept")
            assertEquals(6uL, t.pendingEvents(null))
            assertEquals(deletionsBefore + 1uL, t.pendingDeletionRequests())
            assertEquals(6uL, t.counters().purged)
            val idsAfter = t.installationIds()
            assertTrue(idsAfter.size > idsBefore.size && idsAfter.last() !in idsBefore, "a fresh installation id")
            assertEquals(ConsentStatus.NotGranted, consent.status(Purpose.SERVICE_IMPROVEMENT))

            // The withdrawn purpose is no longer collected; the other one still is.
            t.record(TelemetryEvent.ScreenView(screen = "after_withdrawal"))
            t.record(networkSample(-60))
            t.flushed()
            assertEquals(0uL, t.pendingEvents(Purpose.SERVICE_IMPROVEMENT))
            assertEquals(7uL, t.pendingEvents(Purpose.CONNECTION_DIAGNOSTICS))
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
    fun `a Kotlin ConsentObserver hears every change`() =
        withPipeline { _, consent, _ ->
            val observer = RecordingObserver()
            val id = consent.addObserver(observer)

            consent.publishPolicy(policy(1u))
            assertEquals(1, observer.calls.get())
            assertEquals(1u, observer.last.get()?.policyInForce?.version)
            assertEquals(null, observer.last.get()?.acceptedVersion)
            assertEquals(listOf<Purpose>(), observer.last.get()?.allowed)

            consent.acceptPolicy(1u, listOf(Purpose.STATISTICS, Purpose.PERSONALIZATION), consentContext())
            assertEquals(2, observer.calls.get())
            assertEquals(1u, observer.last.get()?.acceptedVersion)
            assertEquals(listOf(Purpose.PERSONALIZATION, Purpose.STATISTICS), observer.last.get()?.allowed)

            consent.withdraw(listOf(Purpose.STATISTICS), consentContext(CollectionMethod.SETTINGS_SCREEN))
            assertEquals(3, observer.calls.get())
            assertEquals(listOf(Purpose.PERSONALIZATION), observer.last.get()?.allowed)

            // A newer policy also changes the state; an ignored (outdated) one does not.
            consent.publishPolicy(policy(2u))
            assertEquals(4, observer.calls.get())
            val last = assertNotNull(observer.last.get())
            assertEquals(2u, last.policyInForce?.version)
            assertEquals(1u, last.acceptedVersion)
            assertEquals(listOf<Purpose>(), last.allowed)
            assertEquals(consent.state(), last)
            consent.publishPolicy(policy(1u))
            assertEquals(4, observer.calls.get(), "an outdated manifest changes nothing")

            // Called synchronously on the thread that made the change.
            assertEquals(setOf(Thread.currentThread().name), observer.threads.toSet())

            assertTrue(consent.removeObserver(id))
            assertFalse(consent.removeObserver(id))
            consent.acceptPolicy(2u, listOf(Purpose.STATISTICS), consentContext())
            assertEquals(4, observer.calls.get(), "a removed observer hears nothing")
        }

    @Test
    fun `receipts list every decision, oldest first`() =
        withPipeline { _, consent, _ ->
            assertEquals(listOf(), consent.receipts())
            consent.publishPolicy(policy(1u))
            consent.acceptPolicy(1u, listOf(Purpose.STATISTICS, Purpose.PERSONALIZATION), consentContext())
            consent.withdraw(listOf(Purpose.STATISTICS), consentContext(CollectionMethod.SETTINGS_SCREEN))
            consent.withdrawAll(consentContext(CollectionMethod.SETTINGS_SCREEN))

            val receipts = consent.receipts()
            assertEquals(
                listOf(ConsentAction.ACCEPT, ConsentAction.WITHDRAW, ConsentAction.WITHDRAW),
                receipts.map { it.action },
            )
            assertTrue(receipts.all { it.policyVersion == 1u && it.jurisdiction == "KZ" && it.locale == "kk-KZ" })
            assertTrue(receipts.all { it.policyTextSha256 == policy(1u).textSha256 && it.policyUrl == "https://aparking.kz/privacy" })
            assertEquals(3, receipts.map { it.id }.toSet().size, "distinct ids")
            assertEquals(listOf(Purpose.PERSONALIZATION, Purpose.STATISTICS), receipts[0].purposesGranted)
            assertEquals(CollectionMethod.ONBOARDING_SCREEN, receipts[0].collectionMethod)
            assertEquals(listOf(Purpose.PERSONALIZATION), receipts[1].purposesGranted)
            assertEquals(listOf(), receipts[2].purposesGranted)
            assertEquals(Purpose.entries.toList(), receipts[2].purposesDenied)
            assertContentEquals(receipts.map { it.timestamp }.sorted(), receipts.map { it.timestamp })
        }

    @Test
    fun `the PII firewall stops the user's own plate typed differently`() =
        withPipeline(prepare = { it.addVehicle(NewVehicle(plate = "123ABC02")) }) { _, consent, t ->
            consent.publishPolicy(policy(1u))
            consent.acceptPolicy(1u, Purpose.entries.toList(), consentContext())

            t.record(TelemetryEvent.ScreenView(screen = "123 авс 02")) // Cyrillic look-alikes, spaces
            t.record(TelemetryEvent.ErrorCount(code = "plate_123-АВС-02_invalid", count = 1u))
            t.record(TelemetryEvent.ScreenView(screen = "parking_map"))
            t.flushed()

            val counters = t.counters()
            assertEquals(2uL, counters.droppedFirewall.total())
            assertEquals(
                2uL,
                counters.droppedFirewall.filter { it.purpose == Purpose.SERVICE_IMPROVEMENT }.total(),
            )
            assertEquals(1uL, t.pendingEvents(null), "only the clean event is stored")
            assertEquals(1uL, counters.stored)
        }
}
