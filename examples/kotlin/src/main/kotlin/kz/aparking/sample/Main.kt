package kz.aparking.sample

import java.io.File
import java.nio.file.Files
import java.nio.file.Path
import java.security.SecureRandom
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kz.aparking.core.AparkingException
import kz.aparking.core.CollectionMethod
import kz.aparking.core.Consent
import kz.aparking.core.ConsentContext
import kz.aparking.core.KeyProvider
import kz.aparking.core.Language
import kz.aparking.core.NetworkType
import kz.aparking.core.NewVehicle
import kz.aparking.core.ProfilePatch
import kz.aparking.core.Purpose
import kz.aparking.core.Store
import kz.aparking.core.Telemetry
import kz.aparking.core.TelemetryConfig
import kz.aparking.core.TelemetryEvent
import kz.aparking.core.TelemetryRecorder
import kz.aparking.core.sdkVersion

/**
 * The key-encryption key (KEK) of the store: 32 random bytes held in memory for the life of
 * the process, so the store cannot be reopened after the sample exits (it is deleted anyway).
 *
 * An Android app does not keep the key in memory: it creates a non-exportable AES-256 key in
 * the Android Keystore (`KeyGenParameterSpec`, StrongBox when available), generates the 32-byte
 * KEK once, stores it encrypted by that Keystore key (AES-GCM) in the app's private files, and
 * here decrypts and returns it. When the Keystore is locked or the key was invalidated it
 * throws `KeyProviderException.Unavailable(reason)`; the SDK reports `KeyUnavailable`.
 */
class InMemoryKeyProvider : KeyProvider {
    private val key = ByteArray(32).also { SecureRandom().nextBytes(it) }

    /** Called by Rust when the store is opened and when a data key is wrapped; returns a copy. */
    override fun keyEncryptionKey(): ByteArray = key.copyOf()
}

/** The policy manifest an app would bundle (or fetch from `GET /v1/policy`). */
private val POLICY_JSON = """
    {"version": 1, "last_updated": "2026-01-15",
     "url": "https://aparking.kz/privacy",
     "text_sha256": "2b1f6a0e8c1d4f5b9a7e3c2d1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f21",
     "purposes": ["personalization", "communication", "service_improvement", "statistics",
                  "connection_diagnostics"]}
""".trimIndent()

private var stepNo = 0

private fun step(text: String) = println("%2d. %s".format(++stepNo, text))

fun main() {
    println("aparking-core ${sdkVersion()}: Kotlin/JVM sample")
    val tmp = Files.createTempDirectory("aparking-sample")
    try {
        run(tmp)
    } finally {
        tmp.toFile().deleteRecursively()
    }
    println("done")
}

private fun run(tmp: Path) {
    val dbPath = tmp.resolve("aparking.db").toString()
    Store.open(dbPath, InMemoryKeyProvider()).use { store ->
        step("opened a new encrypted store in a temporary directory (key from a Kotlin KeyProvider)")

        // --- The encrypted store: profile and vehicles ------------------------------------
        val profile = store.updateProfile(
            ProfilePatch(phone = "8 (701) 234-56-78", fullName = "Айгерим Сапарова", preferredLanguage = Language.KK),
        )
        step("profile saved: phone typed as '8 (701) 234-56-78' stored as ${profile.phone}, language ${profile.preferredLanguage}")

        val car = store.addVehicle(NewVehicle(plate = "123 авс 02", nickname = "Семейная", make = "Toyota"))
        step("vehicle typed in Cyrillic '123 авс 02' saved as ${car.plate.canonical} (display '${car.plate.display}', region ${car.plate.region})")

        val found = store.findVehicleByPlate("123ABC02")
        step("found by the Latin plate '123ABC02': ${found?.nickname} ${found?.make} (same id: ${found?.id == car.id})")

        try {
            store.addVehicle(NewVehicle(plate = "123-АВС-02"))
            error("a duplicate plate was accepted")
        } catch (e: AparkingException.AlreadyExists) {
            step("adding '123-АВС-02' again: AparkingException.AlreadyExists (entity ${e.entity})")
        }

        // --- Consent -----------------------------------------------------------------------
        Consent(store).use { consent ->
            val update = consent.publishPolicyJson(POLICY_JSON)
            step("policy v${consent.policyInForce()?.version} published from JSON: $update; statistics is ${consent.status(Purpose.STATISTICS)}")

            val receipt = consent.acceptPolicy(
                1,
                listOf(Purpose.SERVICE_IMPROVEMENT, Purpose.CONNECTION_DIAGNOSTICS),
                ConsentContext(appVersion = "1.0.0 (sample)", locale = "ru-KZ", collectionMethod = CollectionMethod.ONBOARDING_SCREEN),
            )
            step("policy v${receipt.policyVersion} accepted: granted ${receipt.purposesGranted}, denied ${receipt.purposesDenied.size} purposes")

            // --- Telemetry through the reference backend --------------------------------------
            ReferenceServer.start(tmp.resolve("server-data")).use { server ->
                step("reference backend started at ${server.baseUrl}")
                Telemetry(store, TelemetryConfig(endpoint = server.baseUrl)).use { telemetry ->
                    TelemetryRecorder(telemetry, consent).use { recorder ->
                        recorder.record(TelemetryEvent.SessionStart)
                        recorder.record(TelemetryEvent.ScreenView(screen = "parking_map"))
                        recorder.record(
                            TelemetryEvent.NetworkQuality(
                                networkType = NetworkType.CELLULAR4G, signalDbm = -97, rttMs = 180,
                                throughputKbps = 2500, failedRequests = 1,
                            ),
                        )
                        // Statistics was not granted: dropped on the caller's thread.
                        recorder.record(TelemetryEvent.CoarseLocation(latitude = 43.2389, longitude = 76.8897))
                        recorder.record(TelemetryEvent.SessionEnd(durationMs = 61_000L))
                        check(recorder.flush()) { "flush timed out" }
                        step(
                            "5 events recorded through TelemetryRecorder: ${telemetry.pendingEvents(null)} stored, " +
                                "${recorder.droppedNoConsent} dropped (statistics not granted)",
                        )
                    }

                    val summary = runBlocking(Dispatchers.IO) { telemetry.upload() }
                    step(
                        "upload(): ${summary.eventsSent} events in ${summary.batchesSent} batch(es), " +
                            "complete=${summary.complete}, duplicates=${summary.duplicates}, " +
                            "rejected=${summary.eventsRejected}, retries=${summary.retries}; " +
                            "pending now ${telemetry.pendingEvents(null)}",
                    )
                    println("    $summary")
                }
            }
            step("reference backend stopped")
        }
    }
    step("telemetry, consent and store closed")
}

/** `aparking-server --bind 127.0.0.1:0 --data-dir <dir>` as a child process. */
private class ReferenceServer(private val process: Process, val baseUrl: String) : AutoCloseable {
    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
    }

    companion object {
        private val LISTENING = Regex("""listening on (http://127\.0\.0\.1:\d+)""")

        fun start(dataDir: Path): ReferenceServer {
            val bin = File(
                System.getProperty("aparking.server.bin")
                    ?: error("set -Daparking.server.bin (the pom does)"),
            )
            check(bin.canExecute()) { "no reference server at $bin: run `cargo build -p aparking-server`" }
            val process = ProcessBuilder(bin.path, "--bind", "127.0.0.1:0", "--data-dir", dataDir.toString())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start()
            val url = LinkedBlockingQueue<String>()
            // Drain stderr (one line per request) so the pipe never blocks the server; the
            // first line says where it listens.
            Thread({
                process.errorStream.bufferedReader().useLines { lines ->
                    lines.forEach { line -> LISTENING.find(line)?.let { url.put(it.groupValues[1]) } }
                }
            }, "aparking-server-stderr").apply { isDaemon = true }.start()
            val baseUrl = url.poll(30, TimeUnit.SECONDS)
            if (baseUrl == null) {
                process.destroyForcibly()
                error("aparking-server did not report its address within 30 s")
            }
            return ReferenceServer(process, baseUrl)
        }
    }
}
