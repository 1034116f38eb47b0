package kz.aparking.core

import java.io.File
import java.nio.file.Path
import java.util.Collections
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.io.TempDir

/**
 * `Telemetry.upload()` (a Kotlin `suspend fun`) against the real reference backend, started as
 * a child process: `<repo>/target/debug/aparking-server --bind 127.0.0.1:0 --data-dir <tmp>`
 * (built by the pom's cargo step; path in the `aparking.server.bin` system property).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TelemetryUploadTest {
    @TempDir
    lateinit var dir: Path

    private lateinit var server: ReferenceServerProcess

    @BeforeEach
    fun startServer() {
        server = ReferenceServerProcess.start(dir.resolve("server-data"))
    }

    @AfterEach
    fun stopServer() {
        if (::server.isInitialized) server.close()
    }

    /** A store with policy v3 accepted for every purpose and a pipeline posting to the server. */
    private fun withTelemetry(block: (Telemetry) -> Unit) = withConsentAndTelemetry { _, t -> block(t) }

    private fun withConsentAndTelemetry(block: (Consent, Telemetry) -> Unit) {
        openStore(dir.storeFile(), CountingKeyProvider.withSeed(50)).use { store ->
            Consent(store).use { consent ->
                consent.publishPolicy(policy(3))
                consent.acceptPolicy(3, Purpose.entries.toList(), consentContext())
                Telemetry(store, fastConfig(server.baseUrl)).use { t -> block(consent, t) }
            }
        }
    }

    private fun Telemetry.recordScreens(n: Int) {
        for (i in 0 until n) record(TelemetryEvent.ScreenView(screen = "screen_${i % 50}"))
        assertTrue(flush(10_000L), "flush timed out")
        assertEquals(n.toLong(), pendingEvents(null))
    }

    private fun assertUploadedAll(summary: UploadSummary, events: Int, batches: Int) {
        assertEquals(batches.toLong(), summary.batchesSent, "$summary")
        assertEquals(events.toLong(), summary.eventsSent, "$summary")
        assertEquals(0L, summary.duplicates, "$summary")
        assertEquals(0L, summary.eventsRejected, "$summary")
        assertEquals(0L, summary.retries, "$summary")
        assertTrue(summary.complete, "$summary")
        assertNull(summary.retryAfterMs, "$summary")
    }

    @Test
    fun `1234 events go up in 3 batches from runBlocking, then nothing is left`() = withTelemetry { t ->
        t.recordScreens(1234)

        val summary = runBlocking { t.upload() }
        assertUploadedAll(summary, events = 1234, batches = 3)
        assertEquals(0L, t.pendingEvents(null))
        assertEquals(1234L, t.counters().uploaded)
        // The backend logged three accepted event batches.
        server.awaitLogLines("POST /v1/telemetry/events 200", 3)

        // A second upload with nothing pending: complete, nothing sent.
        val again = runBlocking { t.upload() }
        assertUploadedAll(again, events = 0, batches = 0)
        assertEquals(0L, again.deletionRequestsSent)
        assertEquals(0L, t.pendingEvents(null))
        assertEquals(3, server.logLines("POST /v1/telemetry/events 200"), "no request for an empty queue")
    }

    @Test
    fun `with the backend gone, upload() returns what it did and when to retry instead of throwing, and keeps every event`() =
        withTelemetry { t ->
            t.recordScreens(30)
            server.close() // nothing listens on its port any more: every attempt is refused

            // A network failure is an outcome of upload(), not an exception: the worker reads
            // complete and retryAfterMs and reschedules (sync() throws Network instead).
            val summary = runBlocking { t.upload() }
            assertEquals(false, summary.complete, "$summary")
            val retryAfter = summary.retryAfterMs ?: fail("no retryAfterMs: $summary")
            assertTrue(retryAfter >= 0L, "$summary")
            assertEquals(0L, summary.batchesSent, "$summary")
            assertEquals(0L, summary.eventsSent, "$summary")
            assertEquals(2L, summary.retries, "three attempts (fastConfig), two of them retries: $summary")
            assertEquals(30L, t.pendingEvents(null), "nothing lost")
            assertEquals(0L, t.counters().uploaded)
        }

    @Test
    fun `upload() called from Dispatchers IO`() = withTelemetry { t ->
        t.recordScreens(1234)
        val caller = Thread.currentThread()
        val summary = runBlocking {
            withContext(Dispatchers.IO) {
                assertNotEquals(caller, Thread.currentThread(), "runs on an IO worker")
                t.upload()
            }
        }
        assertUploadedAll(summary, events = 1234, batches = 3)
        assertEquals(0L, t.pendingEvents(null))
        server.awaitLogLines("POST /v1/telemetry/events 200", 3)

        val again = runBlocking { withContext(Dispatchers.IO) { t.upload() } }
        assertUploadedAll(again, events = 0, batches = 0)
    }

    @Test
    fun `a withdrawal's deletion request goes up before the remaining events`() = withConsentAndTelemetry { consent, t ->
        t.recordScreens(10)
        t.record(networkSample(-90))
        assertTrue(t.flush(5_000L))
        assertEquals(11L, t.pendingEvents(null))
        consent.withdraw(listOf(Purpose.CONNECTION_DIAGNOSTICS), consentContext(CollectionMethod.SETTINGS_SCREEN))
        assertEquals(10L, t.pendingEvents(null), "the network sample is purged")
        assertEquals(1L, t.pendingDeletionRequests())

        val summary = runBlocking { t.upload() }
        assertEquals(1L, summary.deletionRequestsSent, "$summary")
        assertUploadedAll(summary, events = 10, batches = 1)
        assertEquals(0L, t.pendingDeletionRequests())
        server.awaitLogLines("POST /v1/telemetry/events 200", 1)
        val log = server.log().lines()
        val deletion = log.indexOfFirst { "POST /v1/telemetry/deletion-requests 200" in it }
        val events = log.indexOfFirst { "POST /v1/telemetry/events 200" in it }
        assertTrue(deletion in 0 until events, "deletion request first:\n${server.log()}")
    }

    @Test
    fun `telemetry goes only to a host the policy declares for it, UndeclaredHost keeps the events queued`() {
        openStore(dir.storeFile(), CountingKeyProvider.withSeed(51)).use { store ->
            Consent(store).use { consent ->
                // The host is declared for personal data, not for telemetry.
                consent.publishPolicy(policy(3).copy(personalDataHosts = listOf("192.0.2.1"), telemetryHosts = listOf("*.aparking.kz")))
                consent.acceptPolicy(3, Purpose.entries.toList(), consentContext())
                Telemetry(store, fastConfig(UNREACHABLE).copy(network = quickNetwork())).use { t ->
                    t.record(networkSample(-90))
                    assertTrue(t.flush(5_000L), "flush timed out")
                    assertEquals(1L, t.pendingEvents(null))

                    val e = assertFailsWith<AparkingException.UndeclaredHost> { runBlocking { t.upload() } }
                    assertEquals("192.0.2.1" to "telemetry", e.host to e.channel)
                    assertEquals(1L, t.pendingEvents(null), "nothing lost")
                    assertEquals(0L, t.counters().uploaded)
                }
            }
        }
    }

    /** The `aparking-server` binary as a child process; [close] destroys it. */
    class ReferenceServerProcess private constructor(
        private val process: Process,
        val baseUrl: String,
        private val lines: MutableList<String>,
    ) : AutoCloseable {
        /** How many stderr lines so far contain [text]. */
        fun logLines(text: String): Int = synchronized(lines) { lines.count { text in it } }

        /** Waits (at most 10 s) until at least [count] stderr lines contain [text]. */
        fun awaitLogLines(text: String, count: Int) {
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10)
            while (logLines(text) < count) {
                if (System.nanoTime() > deadline) {
                    fail("expected $count log lines with '$text', got ${logLines(text)}:\n${log()}")
                }
                Thread.sleep(10)
            }
        }

        fun log(): String = synchronized(lines) { lines.joinToString("\n") }

        /**
         * The Ed25519 public key (base64) the server signs its policy manifest with, from the
         * `policy manifests signed by Ed25519 public key ...` line it logs before `listening on`:
         * what an app puts in `SyncConfig.policyPublicKeys`.
         */
        val policyPublicKey: String by lazy {
            synchronized(lines) { lines.firstNotNullOfOrNull { POLICY_KEY.find(it)?.groupValues?.get(1) } }
                ?: fail("aparking-server logged no policy signing key:\n${log()}")
        }

        override fun close() {
            process.destroy()
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly()
                process.waitFor(10, TimeUnit.SECONDS)
            }
        }

        companion object {
            private val LISTENING = Regex("""listening on (http://127\.0\.0\.1:\d+)""")
            private val POLICY_KEY = Regex("""policy manifests signed by Ed25519 public key ([A-Za-z0-9+/]+={0,2})""")

            fun binary(): File {
                val path = System.getProperty("aparking.server.bin")
                    ?: System.getProperty("aparking.repo.root")?.let { "$it/target/debug/aparking-server" }
                    ?: error("neither aparking.server.bin nor aparking.repo.root is set (run through Maven/Surefire)")
                val file = File(path)
                check(file.canExecute()) {
                    "reference server not found at ${file.absolutePath}: run `cargo build -p aparking-server` " +
                        "(the pom's cargo step does, unless -Dcargo.skip=true)"
                }
                return file
            }

            /**
             * Starts the server on a free loopback port and waits (at most 30 s) for its URL;
             * [extraArgs] are appended (e.g. `--token TOKEN:ACCOUNT` for sync).
             */
            fun start(dataDir: Path, extraArgs: List<String> = listOf(), timeoutSeconds: Long = 30): ReferenceServerProcess {
                val process = ProcessBuilder(
                    listOf(binary().absolutePath, "--bind", "127.0.0.1:0", "--data-dir", dataDir.toString()) + extraArgs,
                )
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .apply { environment()["APARKING_SERVER_LOG"] = "info" }
                    .start()
                val lines = Collections.synchronizedList(mutableListOf<String>())
                val url = LinkedBlockingQueue<String>()
                // Drain stderr for the whole life of the process (one line per request), so the
                // pipe never fills up and blocks the server.
                Thread({
                    process.errorStream.bufferedReader().useLines { seq ->
                        for (line in seq) {
                            lines += line
                            LISTENING.find(line)?.let { url.put(it.groupValues[1]) }
                        }
                    }
                }, "aparking-server-stderr").apply { isDaemon = true }.start()

                try {
                    val baseUrl = url.poll(timeoutSeconds, TimeUnit.SECONDS)
                        ?: error(
                            "aparking-server printed no 'listening on' line within ${timeoutSeconds}s " +
                                "(alive: ${process.isAlive}); stderr:\n${synchronized(lines) { lines.joinToString("\n") }}",
                        )
                    return ReferenceServerProcess(process, baseUrl, lines)
                } catch (t: Throwable) {
                    process.destroyForcibly()
                    throw t
                }
            }
        }
    }
}
