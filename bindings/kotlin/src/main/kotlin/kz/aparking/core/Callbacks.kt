package kz.aparking.core

/**
 * A [RollbackCounter] made of two lambdas, for the one callback interface with two methods
 * (the others, [KeyProvider], [AuthProvider], [LogSink], [SyncObserver] and [ConsentObserver],
 * are `fun interface`s and take a lambda directly):
 *
 * ```kotlin
 * val counter = RollbackCounter(
 *     read = { prefs.getLong("epoch", 0L) },
 *     raise = { epoch -> prefs.edit().putLong("epoch", epoch).commit() },
 * )
 * ```
 *
 * [read] returns the counter's value; [raise] sets it to at least the value given (it is never
 * asked to lower it). Both are called on the thread of the store call, and must not call back
 * into the store.
 */
fun RollbackCounter(read: () -> Long, raise: (Long) -> Unit): RollbackCounter {
    val readValue = read
    val raiseValue = raise
    return object : RollbackCounter {
        override fun value(): Long = readValue()

        override fun raiseTo(value: Long) = raiseValue(value)
    }
}
