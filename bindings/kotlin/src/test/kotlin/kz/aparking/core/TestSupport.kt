package kz.aparking.core

import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlin.test.assertEquals

/**
 * A Kotlin implementation of the foreign trait [KeyProvider]: holds a 32-byte key and
 * counts how many times Rust asked for it.
 */
class CountingKeyProvider(key: ByteArray) : KeyProvider {
    private val key = key.copyOf()
    private val counter = AtomicInteger()

    /** How many times Rust called [keyEncryptionKey]. */
    val calls: Int get() = counter.get()

    override fun keyEncryptionKey(): ByteArray {
        counter.incrementAndGet()
        return key.copyOf()
    }

    companion object {
        /** A deterministic 32-byte key; different seeds give different keys. */
        fun withSeed(seed: Int): CountingKeyProvider =
            CountingKeyProvider(ByteArray(32) { i -> (seed * 31 + i * 7).toByte() })
    }
}

/** A KeyProvider that fails the way a locked keystore does. */
class UnavailableKeyProvider(private val reason: String) : KeyProvider {
    override fun keyEncryptionKey(): ByteArray = throw KeyProviderException.Unavailable(reason)
}

/** A KeyProvider with a bug: it throws an unexpected exception carrying a secret. */
class ThrowingKeyProvider(private val error: () -> Throwable) : KeyProvider {
    val calls = AtomicInteger()
    override fun keyEncryptionKey(): ByteArray {
        calls.incrementAndGet()
        throw error()
    }
}

/**
 * A Kotlin implementation of the foreign trait [RollbackCounter], as an app keeps it outside
 * the store file (Android: a preference encrypted by a Keystore key): an [AtomicLong] that
 * only goes up, with the values Rust raised it to. [failValue] / [failRaise], when set, make
 * [value] / [raiseTo] throw `KeyProviderException.Unavailable` with that reason (a locked keystore).
 */
class AtomicRollbackCounter(start: Long = 0L) : RollbackCounter {
    private val counter = AtomicLong(start)

    /** Every value Rust called [raiseTo] with (and that did not throw), in order. */
    val raisedTo: MutableList<Long> = CopyOnWriteArrayList()

    @Volatile var failValue: String? = null
    @Volatile var failRaise: String? = null

    /** The value, read without going through [value] (which may be set to fail). */
    val current: Long get() = counter.get()

    override fun value(): Long {
        failValue?.let { throw KeyProviderException.Unavailable(it) }
        return counter.get()
    }

    override fun raiseTo(value: Long) {
        failRaise?.let { throw KeyProviderException.Unavailable(it) }
        raisedTo += value
        counter.accumulateAndGet(value, ::maxOf)
    }
}

/** The database file used by a test. */
fun Path.storeFile(name: String = "store.db"): Path = resolve(name)

/** Opens (creating if needed) the store at [path] with [provider]. Close it with `use {}`. */
fun openStore(path: Path, provider: KeyProvider): Store = Store.open(path.toString(), provider)

/** Opens (creating if needed) the store at [path] with [provider], checked against [counter]. */
fun openStore(path: Path, provider: KeyProvider, counter: RollbackCounter): Store =
    Store.openWithRollbackCounter(path.toString(), provider, counter)

/** A phone number as a user types it, and its E.164 form. */
const val PHONE_TYPED = "8 (701) 234-56-78"
const val PHONE_E164 = "+77012345678"

// ---- Consent and telemetry (mirrors tests/common/privacy.rs) ----

/** An endpoint nothing listens on: for tests where no upload happens. */
const val NOWHERE = "http://127.0.0.1:9"

/**
 * An https endpoint on TEST-NET-1 (RFC 5737, never routed) that no test policy declares:
 * a request that got past the declared-host check would end as `Network`.
 */
const val UNREACHABLE = "https://192.0.2.1"

/** One attempt with short timeouts: a request to [UNREACHABLE] fails fast if it is ever made. */
fun quickNetwork(): NetworkConfig = NetworkConfig(
    maxAttempts = 1,
    retryBaseDelayMs = 5L,
    retryMaxDelayMs = 20L,
    connectTimeoutMs = 200L,
    requestTimeoutMs = 500L,
)

/** A manifest of [version] offering every purpose. */
fun policy(version: Int): PolicyManifest = PolicyManifest(
    version = version,
    lastUpdated = "2026-01-15",
    url = "https://aparking.kz/privacy",
    textSha256 = "%064x".format(version.toLong()),
    purposes = Purpose.entries.toList(),
)

/** The context of a consent given on the onboarding screen (by [subjectId], if known). */
fun consentContext(
    method: CollectionMethod = CollectionMethod.ONBOARDING_SCREEN,
    subjectId: String? = null,
): ConsentContext =
    ConsentContext(appVersion = "4.2.0 (421)", locale = "kk-KZ", collectionMethod = method, subjectId = subjectId)

/** Test limits: millisecond backoff, no practical rate limit. */
fun fastConfig(endpoint: String = NOWHERE): TelemetryConfig = TelemetryConfig(
    endpoint = endpoint,
    network = NetworkConfig(retryBaseDelayMs = 5L, retryMaxDelayMs = 50L),
    maxUploadsPerMinute = 1000,
)

/** A network-quality sample (purpose: connection diagnostics). */
fun networkSample(signalDbm: Int): TelemetryEvent = TelemetryEvent.NetworkQuality(
    networkType = NetworkType.CELLULAR4G,
    signalDbm = signalDbm,
    rttMs = 180,
    throughputKbps = 2500,
    failedRequests = 1,
)

/** One event of every kind (7 events, 3 purposes). */
fun oneOfEach(): List<TelemetryEvent> = listOf(
    TelemetryEvent.AppInfo(
        os = "Android", osVersion = "15", deviceModel = "Pixel 8", appVersion = "4.2.0", locale = "kk-KZ",
    ),
    TelemetryEvent.ScreenView(screen = "parking_map"),
    TelemetryEvent.SessionStart,
    TelemetryEvent.SessionEnd(durationMs = 61_000L),
    TelemetryEvent.CoarseLocation(latitude = 43.238949, longitude = 76.889709),
    networkSample(-97),
    TelemetryEvent.ErrorCount(code = "payment_timeout", count = 2),
)

/** Sum of the counts of a by-purpose counter. */
fun Map<Purpose, Long>.total(): Long = values.sum()

// ---- Damage done from outside the SDK (a failing disk, an attacker with the file) ----

/**
 * Where the sealed value of a table's rows sits in SQLite's record format: the row has
 * [columns] columns, the [keyColumn]-th (0-based) is the TEXT that names the row, the
 * [sealedColumn]-th the sealed BLOB. A rowid alias (`INTEGER PRIMARY KEY`) is stored as NULL.
 */
enum class SealedTable(val columns: Int, val keyColumn: Int, val sealedColumn: Int) {
    /** `vehicles` (id, plate_index, sealed, created_at, updated_at), by id. */
    VEHICLES(5, 0, 2),

    /** `documents` (id, number_index, sealed, vehicle_id, created_at, updated_at), by id. */
    DOCUMENTS(6, 0, 2),

    /** `consent_receipts` (id, created_at, sealed, uploaded_at), by id. */
    CONSENT_RECEIPTS(4, 0, 2),

    /**
     * `sync_outbox` (seq, id, entity, record_id, op, created_at, sealed), by the clear
     * `record_id`: the pending change of that record (a test makes sure there is one).
     */
    SYNC_OUTBOX(7, 3, 6),

    /** `sync_mirror` (id = "entity:record_id", entity, record_id, version, deleted, sealed), by id. */
    SYNC_MIRROR(6, 0, 5),
}

/**
 * Flips the middle byte of the sealed column of the one [table] row whose key column is
 * [key], in the closed database [file] (no WAL left: the store was closed), by reading
 * SQLite's record format: a header (its length, then one varint serial type per column),
 * then the values. Fails unless exactly one row matches.
 */
fun flipSealedByte(file: Path, table: SealedTable, key: String) {
    val bytes = Files.readAllBytes(file)
    val keyBytes = key.toByteArray()
    val keyType = 13L + 2 * keyBytes.size
    var flipped = 0
    for (start in bytes.indices) {
        val headerLen = bytes[start].toInt() and 0xff
        if (headerLen < table.columns + 1 || headerLen > 1 + 9 * table.columns) continue
        val body = start + headerLen
        if (body > bytes.size) continue
        val types = mutableListOf<Long>()
        var p = start + 1
        while (p < body && types.size <= table.columns) {
            val (v, n) = sqliteVarint(bytes, p) ?: break
            types += v
            p += n
        }
        if (p != body || types.size != table.columns) continue
        if (types.any { it == 10L || it == 11L }) continue
        if (types[table.keyColumn] != keyType) continue
        val sealedType = types[table.sealedColumn]
        if (sealedType < 12 || sealedType % 2 != 0L) continue
        val keyAt = body + types.take(table.keyColumn).sumOf { serialSize(it) }
        if (keyAt + keyBytes.size > bytes.size ||
            !keyBytes.indices.all { bytes[keyAt + it] == keyBytes[it] }
        ) continue
        val sealedAt = body + types.take(table.sealedColumn).sumOf { serialSize(it) }
        val sealedLen = serialSize(sealedType)
        if (sealedLen == 0 || sealedAt + sealedLen > bytes.size) continue
        val mid = sealedAt + sealedLen / 2
        bytes[mid] = (bytes[mid].toInt() xor 0x20).toByte()
        flipped++
    }
    assertEquals(1, flipped, "the $table row of $key was not found once in the file")
    Files.write(file, bytes)
}

/** The size in bytes of a value of SQLite serial type [t]. */
private fun serialSize(t: Long): Int = when {
    t >= 12 -> ((t - 12) / 2).toInt()
    else -> intArrayOf(0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0)[t.toInt()]
}

/** The SQLite varint at [at] and its length, or null when it runs past the end. */
private fun sqliteVarint(b: ByteArray, at: Int): Pair<Long, Int>? {
    var v = 0L
    for (i in 0 until 9) {
        if (at + i >= b.size) return null
        val x = b[at + i].toInt() and 0xff
        if (i == 8) return ((v shl 8) or x.toLong()) to 9
        v = (v shl 7) or (x and 0x7f).toLong()
        if (x and 0x80 == 0) return v to i + 1
    }
    return null
}

/**
 * The `damaged_records` array of an `exportUserData()` JSON (`[{"entity": .., "record_id": ..}]`),
 * read with patterns: the tests have no JSON library, and the SDK writes the keys in this order.
 */
fun exportedDamagedRecords(json: String): List<RecordRef> {
    val array = Regex(""""damaged_records"\s*:\s*\[(.*?)]""", RegexOption.DOT_MATCHES_ALL).find(json)
        ?: error("the export has no damaged_records array:\n$json")
    val entry = Regex("""\{\s*"entity"\s*:\s*"([^"]*)"\s*,\s*"record_id"\s*:\s*"([^"]*)"\s*}""")
    val body = array.groupValues[1]
    val refs = entry.findAll(body).map { RecordRef(RecordKind.valueOf(it.groupValues[1].uppercase()), it.groupValues[2]) }.toList()
    assertEquals(refs.size, body.count { it == '{' }, "an entry of damaged_records not understood: $body")
    return refs
}
