package kz.aparking.core

import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.locks.LockSupport
import java.util.concurrent.locks.ReentrantLock
import java.util.concurrent.locks.ReentrantReadWriteLock
import kotlin.concurrent.read
import kotlin.concurrent.withLock
import kotlin.concurrent.write

/**
 * The fast way to record telemetry from Kotlin (hand-written; not generated).
 *
 * A generated [Telemetry.record] call makes three JNA round trips (clone the object handle,
 * allocate a buffer for the event, the call itself): 10-15 us. This recorder checks consent
 * against a purpose mask kept current by a [ConsentObserver] and queues the event in memory,
 * well under a microsecond on the caller's thread, then hands the queue to Rust in one
 * [Telemetry.recordAll] call per batch, from its own daemon thread.
 *
 * Consent semantics are the SDK's: an event whose purpose is not allowed when it is recorded
 * is dropped ([droppedNoConsent]); events still queued for a purpose that is then revoked are
 * discarded and never delivered, even if the purpose is granted again. Close it (it is
 * [AutoCloseable]) before closing the [Telemetry] and [Consent] it uses.
 */
class TelemetryRecorder(
    private val telemetry: Telemetry,
    private val consent: Consent,
    /** Events that wake the delivery thread before [deliveryIntervalMs] is up. */
    private val batchSize: Int = 256,
    /** How often queued events are handed to Rust at the latest. */
    private val deliveryIntervalMs: Long = 100,
) : AutoCloseable {
    /** record() takes it shared; a consent change takes it exclusive to update the mask and purge. */
    private val gate = ReentrantReadWriteLock()

    /** Held while events travel from the queue to Rust; a consent change waits for it. */
    private val delivery = ReentrantLock()

    @Volatile private var allowed: Set<Purpose> = consent.state().allowed.toSet()
    private val queue = ConcurrentLinkedQueue<TelemetryEvent>()
    private val queued = AtomicInteger(0)
    private val dropped = AtomicLong(0)
    private val closed = AtomicBoolean(false)

    private val subscription: Subscription =
        consent.subscribe(
            object : ConsentObserver {
                override fun onConsentChanged(state: ConsentState) = applyConsent(state)
            },
        )

    private val deliveryThread =
        Thread({ deliveryLoop() }, "aparking-telemetry-recorder").apply {
            isDaemon = true
            start()
        }

    /** Events dropped on the Kotlin side because their purpose was not allowed. */
    val droppedNoConsent: Long get() = dropped.get()

    /** Records [event]. Never blocks on I/O and never throws. */
    fun record(event: TelemetryEvent) {
        val purpose = purposeOf(event)
        gate.read {
            if (closed.get() || purpose !in allowed) {
                dropped.incrementAndGet()
                return
            }
            queue.add(event)
        }
        if (queued.incrementAndGet() >= batchSize) LockSupport.unpark(deliveryThread)
    }

    /**
     * Hands every queued event to Rust, then waits (at most [timeoutMs]) until Rust stored
     * them. Returns false on timeout. Blocks: call it from a background thread.
     */
    fun flush(timeoutMs: Long = 5_000): Boolean {
        deliver()
        return telemetry.flush(timeoutMs)
    }

    /** Delivers what is queued, stops the delivery thread and stops observing consent. */
    override fun close() {
        if (!closed.compareAndSet(false, true)) return
        LockSupport.unpark(deliveryThread)
        deliveryThread.join(TimeUnit.SECONDS.toMillis(5))
        deliver()
        subscription.close()
    }

    private fun deliveryLoop() {
        while (!closed.get()) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(deliveryIntervalMs))
            deliver()
        }
    }

    private fun deliver() {
        delivery.withLock {
            val batch = ArrayList<TelemetryEvent>(minOf(queued.get().coerceAtLeast(1), 4096))
            while (true) batch.add(queue.poll() ?: break)
            if (batch.isEmpty()) return
            queued.addAndGet(-batch.size)
            // Rust checks consent again and stamps each event; a withdrawal that committed
            // while this batch was queued has already discarded it (applyConsent).
            telemetry.recordAll(batch)
        }
    }

    private fun applyConsent(state: ConsentState) {
        delivery.withLock {
            gate.write {
                val now = state.allowed.toSet()
                val revoked = allowed - now
                allowed = now
                if (revoked.isNotEmpty()) {
                    val purged = queue.count { it.isOf(revoked) }
                    queue.removeIf { it.isOf(revoked) }
                    queued.addAndGet(-purged)
                }
            }
        }
    }

    private fun TelemetryEvent.isOf(purposes: Set<Purpose>) = purposeOf(this) in purposes

    companion object {
        /** The purpose each event kind serves (the same table as `telemetryEventPurpose`). */
        fun purposeOf(event: TelemetryEvent): Purpose =
            when (event) {
                is TelemetryEvent.AppInfo, is TelemetryEvent.CoarseLocation -> Purpose.STATISTICS
                is TelemetryEvent.ScreenView,
                TelemetryEvent.SessionStart,
                is TelemetryEvent.SessionEnd,
                is TelemetryEvent.ErrorCount,
                -> Purpose.SERVICE_IMPROVEMENT
                is TelemetryEvent.NetworkQuality -> Purpose.CONNECTION_DIAGNOSTICS
            }
    }
}
