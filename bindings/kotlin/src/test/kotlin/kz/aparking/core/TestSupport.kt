package kz.aparking.core

import java.nio.file.Path
import java.util.concurrent.atomic.AtomicInteger

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

/** The database file used by a test. */
fun Path.storeFile(name: String = "store.db"): Path = resolve(name)

/** Opens (creating if needed) the store at [path] with [provider]. Close it with `use {}`. */
fun openStore(path: Path, provider: KeyProvider): Store = Store.open(path.toString(), provider)

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
