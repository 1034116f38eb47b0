package kz.aparking.core

import java.nio.file.Path
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import org.junit.jupiter.api.Tag
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.io.TempDir

/**
 * Micro-benchmark of `Telemetry.record(event)` as a Kotlin app calls it (JNA + uniffi lowering
 * + Rust): target p50 <= 10 us per call. Not part of `mvn test` (tag "benchmark"); run it alone:
 *
 *     mvn -B -f bindings/kotlin/pom.xml test -Pbenchmark
 *
 * Prints percentiles only; timings are not asserted (they belong in benchmarks, not tests).
 * It does assert that the calls did what they should (stored, or dropped for lack of consent),
 * so it never measures a no-op by accident.
 */
@Tag("benchmark")
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class RecordBenchmark {
    @TempDir
    lateinit var dir: Path

    private companion object {
        const val WARMUP = 50_000
        const val MEASURED = 200_000
        /** Calls between flushes; the flush is outside the timed region. */
        const val CHUNK = 1_000
    }

    /**
     * Calls [call] [WARMUP] + [MEASURED] times on [items] (cycled, picked into an array before
     * the timed calls), timing each measured call alone; runs [betweenChunks] (untimed) every
     * [CHUNK] calls. Returns the measured timings in ns.
     */
    private inline fun <T : Any> measure(
        items: List<T>,
        betweenChunks: () -> Unit,
        call: (T) -> Unit,
    ): LongArray {
        val chunk = ArrayList<T>(CHUNK)
        val timings = LongArray(MEASURED)
        for (start in 0 until WARMUP + MEASURED step CHUNK) {
            chunk.clear()
            for (i in 0 until CHUNK) chunk.add(items[(start + i) % items.size])
            for (i in 0 until CHUNK) {
                val item = chunk[i]
                val t0 = System.nanoTime()
                call(item)
                val t1 = System.nanoTime()
                if (start >= WARMUP) timings[start - WARMUP + i] = t1 - t0
            }
            betweenChunks()
        }
        return timings
    }

    private fun run(t: Telemetry, events: List<TelemetryEvent>): LongArray =
        measure(events, { assertTrue(t.flush(30_000L), "flush timed out") }) { t.record(it) }

    private fun report(name: String, nanos: LongArray) {
        nanos.sort()
        fun pct(p: Double): String {
            val idx = ((p / 100.0) * (nanos.size - 1)).toInt()
            return "%.1f".format(nanos[idx] / 1_000.0)
        }
        println(
            "kotlin $name: p50 ${pct(50.0)} us, p99 ${pct(99.0)} us, p99.9 ${pct(99.9)} us " +
                "(n=${nanos.size}, max ${"%.1f".format(nanos.last() / 1_000.0)} us)",
        )
    }

    @Test
    fun `record() from Kotlin, allowed and denied purpose`() {
        openStore(dir.storeFile(), CountingKeyProvider.withSeed(60)).use { store ->
            Consent(store).use { consent ->
                consent.publishPolicy(policy(1))
                // Service improvement (ScreenView) allowed; connection diagnostics denied.
                consent.acceptPolicy(1, listOf(Purpose.SERVICE_IMPROVEMENT), consentContext())
            }
            // A queue large enough that the oldest events are not dropped while measuring.
            val config = fastConfig().copy(maxQueueEvents = 2_000_000, maxQueueBytes = 1024L * 1024L * 1024L)
            Telemetry(store, config).use { t ->
                val total = (WARMUP + MEASURED).toLong()

                val allowed = (0 until 50).map { TelemetryEvent.ScreenView(screen = "screen_$it") }
                report("record/allowed", run(t, allowed))
                val afterAllowed = t.counters()
                assertEquals(total, afterAllowed.stored, "every allowed event was stored")
                assertEquals(total, t.pendingEvents(Purpose.SERVICE_IMPROVEMENT))
                assertEquals(0L, afterAllowed.droppedBufferFull)
                assertEquals(0L, afterAllowed.droppedNoConsent.total())

                val denied = (0 until 50).map { networkSample(-60 - it) }
                report("record/denied", run(t, denied))
                val afterDenied = t.counters()
                assertEquals(total, afterDenied.droppedNoConsent.total(), "every denied event was dropped")
                assertEquals(afterAllowed.stored, afterDenied.stored, "no denied event was stored")
                assertEquals(0L, t.pendingEvents(Purpose.CONNECTION_DIAGNOSTICS))

                // The hand-written fast path: TelemetryRecorder.record() queues in Kotlin and
                // hands batches to Rust (recordAll) from its own thread.
                Consent(store).use { consent ->
                    TelemetryRecorder(t, consent).use { recorder ->
                        val storedBefore = t.counters().stored
                        report(
                            "recorder/allowed",
                            measure(allowed, { assertTrue(recorder.flush(30_000), "flush timed out") }) { recorder.record(it) },
                        )
                        assertEquals(storedBefore + total, t.counters().stored, "every recorded event was stored")
                        report("recorder/denied", measure(denied, {}) { recorder.record(it) })
                        assertEquals(total.toLong(), recorder.droppedNoConsent, "every denied event was dropped")
                    }
                }

                // For comparison, the floor of any uniffi call taking a RustBuffer argument:
                // Consent.isAllowed(purpose) lowers an enum (RustBuffer.alloc = one more JNA call),
                // then one atomic load in Rust.
                Consent(store).use { consent ->
                    var allowedCount = 0
                    val purposes = listOf(Purpose.SERVICE_IMPROVEMENT, Purpose.CONNECTION_DIAGNOSTICS)
                    report("baseline/consent.isAllowed", measure(purposes, {}) { if (consent.isAllowed(it)) allowedCount++ })
                    assertEquals((WARMUP + MEASURED) / 2, allowedCount)
                }
            }
        }
    }
}
