package kz.aparking.core

import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.distinctUntilChanged

/**
 * The consent state as a cold [Flow]: the current [ConsentState] first, then every change.
 * Collecting subscribes a [ConsentObserver]; cancelling the collection closes the
 * [Subscription]. State is conflated: a slow collector sees the latest state, never a stale one.
 *
 * ```
 * consent.stateFlow().collect { state -> showBanner(Purpose.STATISTICS !in state.allowed) }
 * ```
 */
fun Consent.stateFlow(): Flow<ConsentState> =
    callbackFlow {
        val subscription =
            subscribe(
                object : ConsentObserver {
                    override fun onConsentChanged(state: ConsentState) {
                        trySend(state)
                    }
                },
            )
        // Subscribed first, then the current state: a change in between is not missed.
        trySend(state())
        awaitClose { subscription.close() }
    }.conflate().distinctUntilChanged()

/**
 * Every [SyncEvent] of every sync (manual or automatic) as a hot-while-collected [Flow].
 * Collecting subscribes a [SyncObserver]; cancelling the collection closes the [Subscription].
 * Events are buffered (up to [bufferSize], then the oldest are dropped), so the SDK's sync
 * thread never waits for a collector.
 *
 * The subscription is made when collection starts, not when `events()` is called. A
 * collection that starts while a sync runs gets [SyncEvent.Started] first (just before that
 * sync's next event, once), so it never sees a sync's progress or end without its start: the
 * usual `launch { sync.events().collect { ... } }` followed by `sync.sync()` sees the whole
 * sync even when the collector only starts running once `sync()` has begun. Nothing else is
 * replayed: the events sent before collection starts (the other steps of that sync so far, a
 * sync that already ended) are not delivered.
 *
 * ```
 * syncClient.events().filterIsInstance<SyncEvent.Finished>().collect { showLastSynced(it.summary) }
 * ```
 */
fun SyncClient.events(bufferSize: Int = 64): Flow<SyncEvent> =
    callbackFlow {
        val subscription =
            subscribe(
                object : SyncObserver {
                    override fun onSyncEvent(event: SyncEvent) {
                        trySend(event)
                    }
                },
            )
        awaitClose { subscription.close() }
    }.buffer(bufferSize, kotlinx.coroutines.channels.BufferOverflow.DROP_OLDEST)
