package kz.aparking.core

import java.nio.file.Path
import kotlin.concurrent.thread
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

/** The hand-written TelemetryRecorder: the fast Kotlin path with the SDK's consent semantics. */
class TelemetryRecorderTest {
    @TempDir
    lateinit var dir: Path

    private val everyKind: List<TelemetryEvent> =
        listOf(
            TelemetryEvent.AppInfo("Android", "15", "Pixel 8", "4.2.0", "kk-KZ"),
            TelemetryEvent.ScreenView("parking_map"),
            TelemetryEvent.SessionStart,
            TelemetryEvent.SessionEnd(61_000L),
            TelemetryEvent.CoarseLocation(43.2389, 76.8897),
            networkSample(-97),
            TelemetryEvent.ErrorCount("payment_timeout", 2),
        )

    private fun withRecorder(
        deliveryIntervalMs: Long = 60_000,
        block: (Consent, Telemetry, TelemetryRecorder) -> Unit,
    ) {
        openStore(dir.storeFile(), CountingKeyProvider.withSeed(70)).use { store ->
            Consent(store).use { consent ->
                Telemetry(store, fastConfig()).use { telemetry ->
                    TelemetryRecorder(telemetry, consent, batchSize = 100_000, deliveryIntervalMs = deliveryIntervalMs).use { recorder ->
                        block(consent, telemetry, recorder)
                    }
                }
            }
        }
    }

    @Test
    fun `the Kotlin purpose table matches the SDK's for every event kind`() {
        for (event in everyKind) {
            assertEquals(telemetryEventPurpose(event), TelemetryRecorder.purposeOf(event), event.toString())
        }
    }

    @Test
    fun `nothing is delivered before consent, then only the granted purposes`() =
        withRecorder { consent, telemetry, recorder ->
            consent.publishPolicy(policy(1))
            everyKind.forEach(recorder::record)
            assertTrue(recorder.flush())
            assertEquals(0L, telemetry.pendingEvents(null))
            assertEquals(everyKind.size.toLong(), recorder.droppedNoConsent)

            consent.acceptPolicy(1, listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext())
            everyKind.forEach(recorder::record)
            assertTrue(recorder.flush())
            assertEquals(1L, telemetry.pendingEvents(null))
            assertEquals(1L, telemetry.pendingEvents(Purpose.CONNECTION_DIAGNOSTICS))
        }

    @Test
    fun `events queued before a withdrawal are never delivered, even after consent is given again`() =
        withRecorder { consent, telemetry, recorder ->
            consent.publishPolicy(policy(1))
            consent.acceptPolicy(1, Purpose.entries, consentContext())
            repeat(50) { recorder.record(TelemetryEvent.ScreenView("screen_$it")) }
            consent.withdrawAll(consentContext(CollectionMethod.SETTINGS_SCREEN))
            consent.acceptPolicy(1, Purpose.entries, consentContext())
            assertTrue(recorder.flush())
            assertEquals(0L, telemetry.pendingEvents(null))
            recorder.record(TelemetryEvent.SessionStart)
            assertTrue(recorder.flush())
            assertEquals(1L, telemetry.pendingEvents(null), "recording resumed")
        }

    @Test
    fun `eight threads record through one recorder and every event arrives`() =
        withRecorder(deliveryIntervalMs = 5) { consent, telemetry, recorder ->
            consent.publishPolicy(policy(1))
            consent.acceptPolicy(1, listOf(Purpose.SERVICE_IMPROVEMENT), consentContext())
            val threads = (0 until 8).map { t -> thread { repeat(500) { recorder.record(TelemetryEvent.ScreenView("s_${t}_$it")) } } }
            threads.forEach { it.join() }
            assertTrue(recorder.flush())
            assertEquals(4_000L, telemetry.pendingEvents(null))
        }

    @Test
    fun `close delivers what is queued and stops observing consent`() {
        openStore(dir.storeFile(), CountingKeyProvider.withSeed(71)).use { store ->
            Consent(store).use { consent ->
                consent.publishPolicy(policy(1))
                consent.acceptPolicy(1, Purpose.entries, consentContext())
                Telemetry(store, fastConfig()).use { telemetry ->
                    val recorder = TelemetryRecorder(telemetry, consent, deliveryIntervalMs = 60_000)
                    repeat(10) { recorder.record(TelemetryEvent.SessionStart) }
                    recorder.close()
                    assertTrue(telemetry.flush(5_000L))
                    assertEquals(10L, telemetry.pendingEvents(null))
                    recorder.record(TelemetryEvent.SessionStart)
                    assertEquals(1L, recorder.droppedNoConsent, "a closed recorder drops and counts")
                }
            }
        }
    }
}
