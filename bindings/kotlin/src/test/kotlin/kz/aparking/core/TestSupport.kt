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
