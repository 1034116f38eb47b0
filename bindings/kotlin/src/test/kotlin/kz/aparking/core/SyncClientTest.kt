package kz.aparking.core

import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicReference
import kotlin.concurrent.thread
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.onStart
import kotlinx.coroutines.flow.takeWhile
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.flow.transformWhile
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.io.TempDir

/**
 * `SyncClient` from Kotlin against the reference backend (`aparking-server --token token-a:acct-1
 * --policy <file>`), two stores playing two devices of one account; a Kotlin [AuthProvider] and
 * [SyncObserver]; the sync errors (mirrors tests/sync_merge.rs, tests/sync_push.rs). Devices
 * trust the Ed25519 key the server logs at start-up for its signed policy manifest; the
 * untrusted-policy and undeclared-host refusals mirror tests/policy_trust.rs.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SyncClientTest {
    @TempDir
    lateinit var dir: Path

    private lateinit var server: TelemetryUploadTest.ReferenceServerProcess
    private val closeables = mutableListOf<AutoCloseable>()

    @BeforeEach
    fun startServer() {
        val policy = dir.resolve("policy.json")
        Files.writeString(
            policy,
            """{"version": 3, "last_updated": "2026-01-15", "url": "https://aparking.kz/privacy",
               "text_sha256": "${"0".repeat(61)}003", "purposes": ["statistics", "service_improvement"]}""",
        )
        server = TelemetryUploadTest.ReferenceServerProcess.start(
            dir.resolve("server-data"),
            listOf("--token", "$TOKEN:acct-1", "--policy", policy.toString()),
        )
    }

    @AfterEach
    fun stop() {
        closeables.asReversed().forEach { runCatching { it.close() } }
        if (::server.isInitialized) server.close()
    }

    /** A Kotlin AuthProvider: the account's token; records the `refresh` flags it was asked with. */
    private open class TokenProvider(private val token: String = TOKEN) : AuthProvider {
        val calls = CopyOnWriteArrayList<Boolean>()
        override fun bearerToken(refresh: Boolean): String {
            calls += refresh
            return token
        }
    }

    /** A Kotlin SyncObserver: keeps every event and the thread it came on. */
    private class RecordingObserver : SyncObserver {
        val events = CopyOnWriteArrayList<SyncEvent>()
        val threads = CopyOnWriteArrayList<String>()
        override fun onSyncEvent(event: SyncEvent) {
            threads += Thread.currentThread().name
            events += event
        }
    }

    /**
     * A Kotlin AuthProvider that, after [hold], blocks the next token request until the hold is
     * released: on the SDK's blocking thread, so a sync waits there after sending Started and
     * before its first push, and nothing else is sent meanwhile.
     */
    private class HoldingTokenProvider : TokenProvider() {
        class Hold {
            val entered = CountDownLatch(1)
            val release = CountDownLatch(1)
        }

        private val next = AtomicReference<Hold?>()

        fun hold(): Hold = Hold().also { next.set(it) }

        override fun bearerToken(refresh: Boolean): String {
            next.getAndSet(null)?.let { hold ->
                hold.entered.countDown()
                check(hold.release.await(30, TimeUnit.SECONDS)) { "never released" }
            }
            return super.bearerToken(refresh)
        }
    }

    private class Device(val name: String, val store: Store, val sync: SyncClient)

    private fun device(
        name: String,
        auth: AuthProvider = TokenProvider(),
        config: SyncConfig = syncConfig(server.baseUrl),
    ): Device {
        val store = openStore(dir.storeFile("$name.db"), CountingKeyProvider.withSeed(name.hashCode()))
        closeables += store
        val sync = SyncClient(store, config, auth)
        closeables += sync
        return Device(name, store, sync)
    }

    /**
     * Closes [d] (its client, then its store), runs [damage] on the closed database file, as
     * a failing disk or someone with the file would, and opens the device again (same file,
     * same key, default client).
     */
    private fun reopenDamaged(d: Device, damage: (Path) -> Unit): Device {
        d.sync.close()
        d.store.shutdown()
        d.store.close()
        damage(dir.storeFile("${d.name}.db"))
        return device(d.name)
    }

    /** Trusts the server's policy signing key unless [policyKeys] says otherwise. */
    private fun syncConfig(
        endpoint: String,
        localWins: Boolean = false,
        policyKeys: List<String> = listOf(server.policyPublicKey),
    ) =
        SyncConfig(
            endpoint = endpoint,
            network = NetworkConfig(retryBaseDelayMs = 5L, retryMaxDelayMs = 50L),
            localWinsConflicts = localWins,
            policyPublicKeys = policyKeys,
        )

    private fun Device.syncNow(): SyncSummary = runBlocking { sync.sync() }

    /**
     * Syncs [this] device on `Dispatchers.IO`, held by [auth] (its provider) at its first token
     * request; runs [whileHeld] on this thread meanwhile, then lets the sync go on; its result.
     */
    private fun Device.syncHeld(auth: HoldingTokenProvider, whileHeld: () -> Unit): Result<SyncSummary> =
        runBlocking {
            val hold = auth.hold()
            val running = async(Dispatchers.IO) { runCatching { sync.sync() } }
            try {
                assertTrue(hold.entered.await(30, TimeUnit.SECONDS), "the sync never asked for a token")
                whileHeld()
            } finally {
                hold.release.countDown()
            }
            running.await()
        }

    /** A vehicle created on [a] and pulled by [b]; returns its id. */
    private fun sharedVehicle(a: Device, b: Device): String {
        val v = a.store.addVehicle(NewVehicle(plate = "123ABC02", make = "Kia"))
        a.syncNow()
        b.syncNow()
        assertEquals("Kia", b.store.getVehicle(v.id)?.make)
        return v.id
    }

    private fun syncAll(a: Device, b: Device) {
        a.syncNow(); b.syncNow(); a.syncNow()
        assertEquals(0L, a.sync.pendingChanges())
        assertEquals(0L, b.sync.pendingChanges())
    }

    @Test
    fun `two devices converge, and the same field edited on both is a SERVER_WON conflict`() {
        val a = device("a")
        val b = device("b")
        val v = a.store.addVehicle(NewVehicle(plate = "123 авс 02", make = "Kia"))
        assertTrue(a.sync.pendingChanges() >= 1L)
        val first = a.syncNow()
        assertTrue(first.pushed >= 1L, "$first")
        assertEquals(0L, first.pending)
        assertEquals(3, first.policyVersion, "the backend's signed policy was fetched")
        assertEquals(0L, a.sync.pendingChanges())
        Consent(a.store).use { assertEquals(3, it.policyInForce()?.version, "and adopted") }

        val pulled = b.syncNow()
        assertTrue(pulled.pulled >= 1L, "$pulled")
        val onB = assertNotNull(b.store.findVehicleByPlate("123ABC02"))
        assertEquals(v.id, onB.id)
        assertEquals("Kia", onB.make)

        a.store.updateVehicle(v.id, VehiclePatch(colour = "red"))
        b.store.updateVehicle(v.id, VehiclePatch(colour = "blue"))
        a.syncNow()
        val summary = b.syncNow()
        assertEquals(1L, summary.conflicts, "$summary")
        syncAll(a, b)
        assertEquals("red", a.store.getVehicle(v.id)?.colour, "the first to reach the server wins")
        assertEquals("red", b.store.getVehicle(v.id)?.colour)

        val log = b.sync.conflicts()
        val conflict = log.single()
        assertEquals(
            SyncConflict(
                conflict.id, RecordKind.VEHICLE, v.id, RecordField.Vehicle(VehicleField.COLOUR), "blue", "red",
                localRecord = null, mergedInto = null, ConflictResolution.SERVER_WON, conflict.resolvedAt,
            ),
            conflict,
        )
        assertEquals(listOf(), a.sync.conflicts())
        assertEquals(1L, b.sync.clearConflicts())
        assertEquals(listOf(), b.sync.conflicts())
        assertEquals(0L, b.sync.clearConflicts())
    }

    @Test
    fun `localWinsConflicts gives LOCAL_WON, and a delete wins over an edit (DELETE_WON)`() {
        val a = device("a")
        val b = device("b", config = syncConfig(server.baseUrl, localWins = true))
        val id = sharedVehicle(a, b)
        a.store.updateVehicle(id, VehiclePatch(colour = "red"))
        b.store.updateVehicle(id, VehiclePatch(colour = "blue"))
        a.syncNow()
        b.syncNow()
        syncAll(a, b)
        assertEquals("blue", a.store.getVehicle(id)?.colour, "this device's value was kept and pushed")
        val local = b.sync.conflicts().single()
        assertEquals(ConflictResolution.LOCAL_WON, local.resolution)
        assertEquals(Triple(RecordField.Vehicle(VehicleField.COLOUR), "blue", "red"), Triple(local.field, local.localValue, local.remoteValue))
        b.sync.clearConflicts()

        a.store.removeVehicle(id)
        b.store.updateVehicle(id, VehiclePatch(nickname = "still mine"))
        syncAll(a, b)
        assertNull(b.store.getVehicle(id), "delete wins")
        val deleted = b.sync.conflicts().single()
        assertEquals(ConflictResolution.DELETE_WON, deleted.resolution)
        assertEquals(id, deleted.recordId)
        assertNull(deleted.field)
        // What the delete removed comes back typed, ready for the app to offer "add it again".
        val lost = (deleted.localRecord as RecordValues.Vehicle).vehicle
        assertEquals("still mine" to "blue", lost.nickname to lost.colour)
        val readded = b.store.addVehicle(lost)
        assertEquals(b.store.getVehicle(readded.id), readded)
        assertEquals("still mine", readded.nickname)
    }

    @Test
    fun `the same document number on two devices is MERGED`() {
        val a = device("a")
        val b = device("b")
        val shared = a.store.addDocument(NewDocument(kind = DocumentKind.DRIVER_LICENCE, number = "DL10000001"))
        a.syncNow()
        b.syncNow()
        assertEquals(listOf(shared.id), b.store.listDocuments().map { it.id })
        // B adds DL10000002 offline; A corrects its licence to that very number and syncs first.
        val added = b.store.addDocument(NewDocument(kind = DocumentKind.DRIVER_LICENCE, number = "DL10000002"))
        a.store.updateDocument(shared.id, DocumentPatch(number = "DL10000002"))
        a.syncNow()
        b.syncNow(); a.syncNow(); b.syncNow()

        for (d in listOf(a, b)) {
            val docs = d.store.listDocuments()
            assertEquals(listOf(shared.id), docs.map { it.id }, "one licence with that number, the server's id")
            assertEquals("DL10000002", docs.single().number)
            assertEquals(0L, d.sync.pendingChanges(), "nothing stuck")
        }
        assertNull(b.store.getDocument(added.id), "B's copy was merged away")
        val merged = b.sync.conflicts().filter { it.resolution == ConflictResolution.MERGED }
        val conflict = merged.single()
        assertEquals(RecordKind.DOCUMENT, conflict.entity)
        assertEquals(added.id, conflict.recordId, "the record merged away")
        assertEquals(shared.id, conflict.mergedInto, "the record it was merged into")
        val values = assertIs<RecordValues.Document>(conflict.localRecord, "its values").document
        assertEquals(DocumentKind.DRIVER_LICENCE to "DL10000002", values.kind to values.number)
        assertTrue(a.sync.conflicts().none { it.resolution == ConflictResolution.MERGED }, "A merged nothing")
    }

    @Test
    fun `a wiped backend gets the records back and the device reports Reconciled`() {
        val args = listOf("--token", "$TOKEN:acct-wiped", "--policy", dir.resolve("policy.json").toString())
        val firstEvents = RecordingObserver()
        val reconciling = RecordingObserver()
        openStore(dir.storeFile("wiped-a.db"), CountingKeyProvider.withSeed(71)).use { storeA ->
            TelemetryUploadTest.ReferenceServerProcess.start(dir.resolve("d1"), args).use { first ->
                SyncClient(storeA, syncConfig(first.baseUrl, policyKeys = listOf(first.policyPublicKey)), TokenProvider()).use { sync ->
                    storeA.addVehicle(NewVehicle(plate = "123ABC02", make = "Kia"))
                    storeA.addVehicle(NewVehicle(plate = "777KKK01", make = "Lada"))
                    sync.subscribe(firstEvents).use {
                        val summary = runBlocking { sync.sync() }
                        assertTrue(summary.pushed >= 2L, "$summary")
                    }
                    assertEquals(0L, sync.pendingChanges())
                }
            }
            assertTrue(firstEvents.events.none { it is SyncEvent.Reconciled }, "a first sync reconciles nothing: ${firstEvents.events}")
            val plates = storeA.listVehicles().map { it.plate.canonical }.sorted()

            // The backend comes back with nothing: a fresh data dir, the same token and account.
            TelemetryUploadTest.ReferenceServerProcess.start(dir.resolve("d2"), args).use { wiped ->
                val config = syncConfig(wiped.baseUrl, policyKeys = listOf(wiped.policyPublicKey))
                SyncClient(storeA, config, TokenProvider()).use { sync ->
                    sync.subscribe(reconciling).use { runBlocking { sync.sync() } }
                    val events = reconciling.events.toList()
                    val reconciled = events.filterIsInstance<SyncEvent.Reconciled>().singleOrNull()
                        ?: fail("one Reconciled event expected: ${events.map(::describe)}")
                    assertTrue(
                        reconciled.reason in setOf(ReconcileReason.CURSOR_REFUSED, ReconcileReason.NEW_GENERATION),
                        "$reconciled",
                    )
                    assertTrue(reconciled.repushed >= 2L, "both vehicles queued again: $reconciled")
                    assertEquals(SyncEvent.Started, events.first())
                    assertTrue(events.last() is SyncEvent.Finished, events.map(::describe).toString())
                    assertTrue(events.indexOf(reconciled) < events.size - 1)
                    // Everything went up again in the same sync or the next one.
                    if (sync.pendingChanges() > 0L) runBlocking { sync.sync() }
                    assertEquals(0L, sync.pendingChanges(), "A has nothing pending")
                }
                openStore(dir.storeFile("wiped-b.db"), CountingKeyProvider.withSeed(72)).use { storeB ->
                    SyncClient(storeB, config, TokenProvider()).use { sync ->
                        val pulled = runBlocking { sync.sync() }
                        assertTrue(pulled.pulled >= 2L, "$pulled")
                    }
                    assertEquals(plates, storeB.listVehicles().map { it.plate.canonical }.sorted(), "the new device has both")
                    assertEquals(setOf("Kia", "Lada"), storeB.listVehicles().mapNotNull { it.make }.toSet())
                }
            }
            assertEquals(plates, storeA.listVehicles().map { it.plate.canonical }.sorted(), "A kept its vehicles, no duplicates")
        }
    }

    @Test
    fun `a Kotlin SyncObserver hears Started, Pushed, Pulled and Finished, closing the Subscription stops it`() {
        val a = device("a")
        val b = device("b")
        a.store.addVehicle(NewVehicle(plate = "777KKK01"))
        a.syncNow()
        val observer = RecordingObserver()
        val subscription = b.sync.subscribe(observer).also { closeables += it }
        assertTrue(subscription.isActive())
        b.store.addVehicle(NewVehicle(plate = "A123BC"))
        val summary = b.syncNow()

        val events = observer.events.toList()
        assertEquals(SyncEvent.Started, events.first())
        assertEquals(SyncEvent.Finished(summary), events.last())
        val pushed = events.filterIsInstance<SyncEvent.Pushed>()
        val pulled = events.filterIsInstance<SyncEvent.Pulled>()
        assertEquals(summary.pushed, pushed.sumOf { it.count }, "$events")
        assertEquals(summary.pulled, pulled.sumOf { it.count }, "$events")
        assertTrue(summary.pulled >= 1L && summary.pushed >= 1L, "$summary")
        assertTrue(events.none { it is SyncEvent.Failed })

        subscription.close()
        b.syncNow()
        assertEquals(events.size, observer.events.size, "a closed subscription hears nothing")
    }

    @Test
    fun `events() is a Flow of every sync step, and cancelling the collection unsubscribes`() {
        val a = device("a")
        a.store.addVehicle(NewVehicle(plate = "321CBA05"))
        runBlocking {
            val seen = CopyOnWriteArrayList<SyncEvent>()
            val collecting = launch(Dispatchers.IO) {
                a.sync.events().takeWhile { it !is SyncEvent.Finished }.collect { seen += it }
            }
            // Wait for the collector to subscribe: a sync before that would go unseen.
            withTimeout(10_000) {
                while (seen.isEmpty()) {
                    a.sync.sync()
                    delay(20)
                }
            }
            // takeWhile ends the collection at a Finished event: joining proves one arrived.
            withTimeout(10_000) { collecting.join() }
            assertTrue(seen.none { it is SyncEvent.Failed }, "$seen")
        }
        // The collection ended: another sync reaches nobody and works as before.
        assertEquals(0L, a.syncNow().pending)
    }

    @Test
    fun `an events() collector launched just before sync() on the same thread gets that sync's Started first, once, and its Finished`() {
        // The first token is held a moment on the SDK's blocking thread: the sync's next event
        // (Pushed) comes well after the collector subscribed, however slow the machine.
        val slowToken = object : TokenProvider() {
            private val first = AtomicBoolean(true)
            override fun bearerToken(refresh: Boolean): String {
                if (first.getAndSet(false)) Thread.sleep(300)
                return super.bearerToken(refresh)
            }
        }
        val a = device("a", auth = slowToken)
        repeat(3) { a.store.addVehicle(NewVehicle(plate = "${101 + it}ABC02")) }
        assertEquals(3L, a.sync.pendingChanges())
        // Subscribed before the sync: hears every event as it is sent.
        val witness = RecordingObserver()
        closeables += a.sync.subscribe(witness)
        val collected = CopyOnWriteArrayList<SyncEvent>()
        var atCollectionStart: List<SyncEvent>? = null
        val summary = runBlocking {
            // runBlocking runs all of this on this one thread. `launch` (DEFAULT start) only
            // queues the collector: it cannot run before this body suspends. `sync()` goes on
            // here up to its first suspension (uniffi polls the Rust future on the caller's
            // thread, and the SDK sends Started in that first poll, before its first store
            // read); only then does the collector run and `events()` subscribe. So the
            // collection starts while the sync runs, after its Started was sent (checked
            // below with `atCollectionStart`): it gets Started only because an observer that
            // subscribes mid-sync is owed one. Before that rule it began with Pushed.
            val collector = launch(start = CoroutineStart.DEFAULT) {
                a.sync.events()
                    .onStart { atCollectionStart = witness.events.toList() }
                    .transformWhile { emit(it); it !is SyncEvent.Finished }
                    .toList(collected)
            }
            val summary = a.sync.sync()
            withTimeout(10_000) { collector.join() }
            summary
        }
        assertEquals(
            listOf<SyncEvent>(SyncEvent.Started),
            atCollectionStart,
            "the collection began after the sync sent Started and before anything else",
        )
        val events = collected.toList()
        val names = events.map(::describe).toString()
        assertEquals(SyncEvent.Started, events.first(), names)
        assertEquals(1, events.count { it == SyncEvent.Started }, names)
        assertEquals(SyncEvent.Finished(summary), events.last())
        assertTrue(summary.pushed >= 3L, "$summary")
        assertEquals(summary.pushed, events.filterIsInstance<SyncEvent.Pushed>().sumOf { it.count }, names)
        assertEquals(witness.events.toList(), events, "the collector heard the whole sync, Started included")
        assertEquals(0L, a.sync.pendingChanges())
    }

    @Test
    fun `a SyncObserver subscribed while a sync runs hears Started before anything else and only once`() {
        val auth = HoldingTokenProvider()
        val a = device("a", auth = auth)
        a.store.addVehicle(NewVehicle(plate = "123ABC02"))
        a.store.addVehicle(NewVehicle(plate = "777KKK01"))
        val witness = RecordingObserver()
        closeables += a.sync.subscribe(witness)
        // Another observer subscribes from inside the first Pushed it hears (on the SDK's thread).
        val nested = RecordingObserver()
        val subscriber = object : SyncObserver {
            val subscription = AtomicReference<Subscription?>()
            override fun onSyncEvent(event: SyncEvent) {
                if (event is SyncEvent.Pushed && subscription.get() == null) subscription.set(a.sync.subscribe(nested))
            }
        }
        closeables += a.sync.subscribe(subscriber)

        val late = RecordingObserver()
        val summary = a.syncHeld(auth) {
            assertEquals(listOf<SyncEvent>(SyncEvent.Started), witness.events.toList(), "held right after Started")
            assertTrue(a.sync.status().running)
            // From a plain thread, while the sync is held.
            var fromThread: Subscription? = null
            thread(name = "late-subscriber") { fromThread = a.sync.subscribe(late) }.join()
            closeables += assertNotNull(fromThread)
            assertEquals(listOf(), late.events.toList(), "nothing is sent at subscribe")
        }.getOrThrow()
        closeables += assertNotNull(subscriber.subscription.get(), "subscribed in Pushed")
        val all = witness.events.toList()
        val names = all.map(::describe).toString()
        assertEquals(SyncEvent.Finished(summary), all.last())
        assertEquals(all, late.events.toList(), "Started first, then the rest of the sync: $names")
        assertEquals(1, late.events.count { it == SyncEvent.Started })
        val afterFirstPush = all.drop(all.indexOfFirst { it is SyncEvent.Pushed } + 1)
        assertTrue(afterFirstPush.isNotEmpty(), names)
        assertEquals(listOf<SyncEvent>(SyncEvent.Started) + afterFirstPush, nested.events.toList(), "subscribed in Pushed: $names")

        // The next sync: each of them hears its Started once, as does one subscribed between syncs.
        val between = RecordingObserver()
        closeables += a.sync.subscribe(between)
        val observers = listOf(witness, late, nested, between)
        observers.forEach { it.events.clear() }
        a.store.addVehicle(NewVehicle(plate = "A123BC"))
        val next = a.syncNow()
        val second = witness.events.toList()
        assertEquals(SyncEvent.Started, second.first())
        assertEquals(1, second.count { it == SyncEvent.Started }, second.map(::describe).toString())
        assertEquals(SyncEvent.Finished(next), second.last())
        for (o in observers) assertEquals(second, o.events.toList())

        // A sync that fails (cancelled while held): one subscribed meanwhile hears Started, then Failed.
        observers.forEach { it.events.clear() }
        a.store.addVehicle(NewVehicle(plate = "555TTT17"))
        val failing = RecordingObserver()
        val result = a.syncHeld(auth) {
            closeables += a.sync.subscribe(failing)
            a.sync.cancel()
        }
        assertTrue(result.exceptionOrNull() is AparkingException.SyncCancelled, "$result")
        // (Compared by name: each observer gets its own copy of the error, and exceptions have no equals.)
        val failedRun = witness.events.map(::describe)
        assertTrue(witness.events.last() is SyncEvent.Failed, "$failedRun")
        assertEquals(failedRun, failing.events.map(::describe))
        assertEquals(SyncEvent.Started, failing.events.first())
        assertEquals(1, failing.events.count { it == SyncEvent.Started })
        for (o in observers) assertEquals(failedRun, o.events.map(::describe))
    }

    @Test
    fun `a closed Subscription is inactive, cancel() after close() does nothing, and it hears nothing`() {
        val a = device("a")
        val observer = RecordingObserver()
        val subscription = a.sync.subscribe(observer)
        assertTrue(subscription.isActive())
        subscription.close()
        // Without the bindgen's patch both calls throw IllegalStateException (object destroyed).
        assertFalse(subscription.isActive(), "close() stops the events, as cancel() does")
        subscription.cancel()
        subscription.close()
        assertFalse(subscription.isActive())
        a.store.addVehicle(NewVehicle(plate = "123ABC02"))
        a.syncNow()
        assertTrue(observer.events.isEmpty(), "a closed subscription hears nothing: ${observer.events}")
    }

    @Test
    fun `Subscription cancel() turns isActive false and no event arrives after it, even one owed mid-sync`() {
        val auth = HoldingTokenProvider()
        val a = device("a", auth = auth)
        val witness = RecordingObserver()
        closeables += a.sync.subscribe(witness)
        val observer = RecordingObserver()
        val subscription = a.sync.subscribe(observer).also { closeables += it }
        assertTrue(subscription.isActive())
        a.store.addVehicle(NewVehicle(plate = "123ABC02"))
        val summary = a.syncNow()
        assertEquals(SyncEvent.Started, observer.events.first())
        assertEquals(SyncEvent.Finished(summary), observer.events.last())
        val heard = observer.events.size

        subscription.cancel()
        assertFalse(subscription.isActive())
        subscription.cancel() // again: nothing happens
        assertFalse(subscription.isActive())
        a.store.addVehicle(NewVehicle(plate = "777KKK01"))
        witness.events.clear()
        val next = a.syncNow()
        assertTrue(next.pushed >= 1L, "$next")
        assertEquals(SyncEvent.Finished(next), witness.events.last(), "the sync did send its events")
        assertEquals(heard, observer.events.size, "a cancelled subscription hears nothing")

        // Cancelled while a sync is held: one subscribed before hears nothing after Started,
        // one subscribed during it never gets the Started it was owed.
        val before = RecordingObserver()
        val beforeSub = a.sync.subscribe(before).also { closeables += it }
        val during = RecordingObserver()
        a.store.addVehicle(NewVehicle(plate = "A123BC"))
        witness.events.clear()
        a.syncHeld(auth) {
            val duringSub = a.sync.subscribe(during).also { closeables += it }
            assertTrue(duringSub.isActive())
            beforeSub.cancel()
            duringSub.cancel()
            assertFalse(beforeSub.isActive())
            assertFalse(duringSub.isActive())
        }.getOrThrow()
        val run = witness.events.map(::describe).toString()
        assertTrue(witness.events.size > 2 && witness.events.last() is SyncEvent.Finished, run)
        assertEquals(listOf<SyncEvent>(SyncEvent.Started), before.events.toList(), run)
        assertEquals(listOf(), during.events.toList(), run)
        assertEquals(heard, observer.events.size)
    }

    @Test
    fun `sync() of 600 changes awaited on a single-thread dispatcher does its work on the SDK's thread`() {
        val a = device("a")
        for (i in 1..600) a.store.addVehicle(NewVehicle(plate = "%03dAAA01".format(i)))
        // The sync's own log line ("sync: N pulled, N pushed, ...") is written where its work
        // runs: record the threads it comes on.
        val logThreads = CopyOnWriteArrayList<String>()
        val sink = object : LogSink {
            override fun log(record: LogRecord) {
                if (record.message.startsWith("sync: ")) logThreads += Thread.currentThread().name
            }
        }
        assertTrue(setLogSink(sink, LogLevel.INFO))
        val threadBean = java.lang.management.ManagementFactory.getThreadMXBean()
        val executor = java.util.concurrent.Executors.newSingleThreadExecutor { Thread(it, "app-main") }
        try {
            val dispatcher = executor.asCoroutineDispatcher()
            val mainThreadId = executor.submit<Long> { Thread.currentThread().id }.get()
            val cpuBefore = threadBean.getThreadCpuTime(mainThreadId)
            val wallBefore = System.nanoTime()
            val summary = runBlocking(dispatcher) { a.sync.sync() }
            val wallMs = (System.nanoTime() - wallBefore) / 1_000_000
            val heldMs = (threadBean.getThreadCpuTime(mainThreadId) - cpuBefore) / 1_000_000.0
            assertEquals(600L, summary.pushed, "$summary")
            assertEquals(0L, summary.pending, "$summary")
            assertTrue(logThreads.isNotEmpty(), "the sync logged its summary line")
            // (Thread names may carry " @coroutine#N": kotlinx.coroutines' debug mode.)
            assertTrue(logThreads.none { it.startsWith("app-main") }, "the sync's work ran on the awaiting thread: $logThreads")
            println(
                "sync() of 600 changes from a single-thread dispatcher: %d ms wall, that thread held %.1f ms (CPU); logged on %s"
                    .format(wallMs, heldMs, logThreads.toSet()),
            )
        } finally {
            setLogSink(null, LogLevel.INFO)
            executor.shutdown()
        }
    }

    @Test
    fun `cancelling the calling coroutine (withTimeout) stops the sync, and the next sync carries on`() {
        val release = CountDownLatch(1)
        val block = AtomicBoolean(true)
        val slow = object : TokenProvider() {
            override fun bearerToken(refresh: Boolean): String {
                if (block.getAndSet(false)) check(release.await(30, TimeUnit.SECONDS)) { "never released" }
                return super.bearerToken(refresh)
            }
        }
        val a = device("a", auth = slow)
        a.store.addVehicle(NewVehicle(plate = "909ZZZ09"))
        runBlocking {
            assertFailsWith<TimeoutCancellationException> { withTimeout(300) { a.sync.sync() } }
        }
        release.countDown()
        // The cancelled sync let go of its lock: no SyncInProgress, and nothing was lost.
        val next = a.syncNow()
        assertEquals(0L, next.pending, "$next")
        assertEquals(0L, a.sync.pendingChanges())
    }

    @Test
    fun `an AparkingException prints the sentence, not only the fields`() {
        val e = assertFailsWith<AparkingException.InvalidInput> { parsePlate("nope") }
        assertEquals("plate", e.field)
        assertTrue(e.toString().startsWith("invalid plate: "), e.toString())
        assertTrue("nope" !in e.toString(), "the value is never echoed")
        val closed = AparkingException.StoreClosed()
        assertEquals("the store is closed", closed.toString())
    }

    @Test
    fun `the AuthProvider refreshes after a 401, SignedOut and a refused token are AuthRequired`() {
        // A stale token first: the backend answers 401, the SDK asks once more with refresh = true.
        val refreshing = object : TokenProvider() {
            override fun bearerToken(refresh: Boolean): String {
                super.bearerToken(refresh)
                return if (refresh) TOKEN else "stale-token"
            }
        }
        val a = device("a", auth = refreshing)
        a.store.addVehicle(NewVehicle(plate = "123ABC02"))
        assertTrue(a.syncNow().pushed >= 1L)
        assertEquals(listOf(false, true), refreshing.calls.toList())

        // The user signed out: the provider's reason reaches the app, the change stays queued.
        val signedOut = object : AuthProvider {
            override fun bearerToken(refresh: Boolean): String =
                throw AuthProviderException.SignedOut("the user signed out")
        }
        val observer = RecordingObserver()
        val b = device("b", auth = signedOut)
        closeables += b.sync.subscribe(observer)
        b.store.addVehicle(NewVehicle(plate = "555TTT17"))
        val e = assertFailsWith<AparkingException.AuthRequired> { b.syncNow() }
        assertEquals("the user signed out", e.reason)
        assertEquals(1L, b.sync.pendingChanges(), "nothing lost")
        val failed = observer.events.last() as SyncEvent.Failed
        assertTrue(failed.error is AparkingException.AuthRequired, "${failed.error}")
        assertEquals("the user signed out", (failed.error as AparkingException.AuthRequired).reason)

        // A token the backend refuses even after a refresh.
        val wrong = TokenProvider("not-a-token")
        val c = device("c", auth = wrong)
        c.store.addVehicle(NewVehicle(plate = "001AAA01"))
        assertFailsWith<AparkingException.AuthRequired> { c.syncNow() }
        assertEquals(listOf(false, true), wrong.calls.toList())
    }

    @Test
    fun `a second sync while one runs is SyncInProgress, cancel() ends the first with SyncCancelled, nothing lost`() {
        val entered = CountDownLatch(1)
        val release = CountDownLatch(1)
        val block = AtomicBoolean(true)
        // Blocks (off the caller's thread, as the docs allow) the first time it is asked.
        val slow = object : TokenProvider() {
            override fun bearerToken(refresh: Boolean): String {
                if (block.getAndSet(false)) {
                    entered.countDown()
                    check(release.await(30, TimeUnit.SECONDS)) { "never released" }
                }
                return super.bearerToken(refresh)
            }
        }
        val a = device("a", auth = slow)
        a.store.addVehicle(NewVehicle(plate = "123ABC02"))
        runBlocking {
            val first = async(Dispatchers.IO) { runCatching { a.sync.sync() } }
            assertTrue(entered.await(30, TimeUnit.SECONDS), "the sync never asked for a token")
            // From another coroutine and from a plain thread: refused at once.
            assertFailsWith<AparkingException.SyncInProgress> { a.sync.sync() }
            val fromThread = async(Dispatchers.IO) { runCatching { runBlocking { a.sync.sync() } } }
            assertTrue(fromThread.await().exceptionOrNull() is AparkingException.SyncInProgress)
            a.sync.cancel()
            release.countDown()
            val result = first.await()
            assertTrue(result.exceptionOrNull() is AparkingException.SyncCancelled, "$result")
        }
        assertEquals(1L, a.sync.pendingChanges(), "the change waits for the next sync")
        a.sync.cancel() // no sync running: nothing happens
        val next = a.syncNow()
        assertTrue(next.pushed >= 1L, "the next sync carries on: $next")
        assertEquals(0L, a.sync.pendingChanges())
    }

    @Test
    fun `an unreachable backend is Network after the retries, bad configs are InvalidInput`() {
        val observer = RecordingObserver()
        val config = SyncConfig(
            endpoint = NOWHERE,
            network = NetworkConfig(maxAttempts = 2, retryBaseDelayMs = 5L, retryMaxDelayMs = 20L, connectTimeoutMs = 2_000L),
        )
        val a = device("a", config = config)
        closeables += a.sync.subscribe(observer)
        a.store.addVehicle(NewVehicle(plate = "123ABC02"))
        val e = assertFailsWith<AparkingException.Network> { a.syncNow() }
        assertTrue(e.reason.isNotBlank())
        assertEquals(1L, a.sync.pendingChanges(), "nothing lost")
        assertEquals(SyncEvent.Started, observer.events.first())
        assertTrue((observer.events.last() as SyncEvent.Failed).error is AparkingException.Network)
        // Deleting the account needs the backend first: local data is kept.
        assertFailsWith<AparkingException.Network> { runBlocking { a.sync.deleteAccount() } }
        assertEquals(1L, a.store.info().vehicleCount)

        openStore(dir.storeFile("x.db"), CountingKeyProvider.withSeed(1)).use { store ->
            val attempts = assertFailsWith<AparkingException.InvalidInput> {
                SyncClient(store, config.copy(network = config.network.copy(maxAttempts = 0)), TokenProvider())
            }
            assertEquals("maxAttempts", attempts.field)
            val plainHttp = assertFailsWith<AparkingException.InvalidInput> {
                SyncClient(store, config.copy(endpoint = "http://aparking.kz"), TokenProvider())
            }
            assertEquals("endpoint", plainHttp.field)
        }
    }

    @Test
    fun `the backend's policy is adopted only when signed by a configured key, else UntrustedPolicy and consent unchanged`() {
        // No key configured: the served manifest is not even fetched; the sync itself works.
        val untrusting = device("a", config = syncConfig(server.baseUrl, policyKeys = listOf()))
        untrusting.store.addVehicle(NewVehicle(plate = "123ABC02"))
        val plain = untrusting.syncNow()
        assertNull(plain.policyVersion, "$plain")
        assertEquals(0L, plain.pending)
        Consent(untrusting.store).use { assertNull(it.policyInForce()) }

        // Another key (RFC 8032's first test key): refused before anything is pushed.
        val wrongKey = device("b", config = syncConfig(server.baseUrl, policyKeys = listOf(OTHER_POLICY_KEY)))
        wrongKey.store.addVehicle(NewVehicle(plate = "A123BC"))
        Consent(wrongKey.store).use { consent ->
            consent.publishPolicy(policy(1))
            consent.acceptPolicy(1, listOf(Purpose.STATISTICS), consentContext())
            val before = consent.state()
            val e = assertFailsWith<AparkingException.UntrustedPolicy> { wrongKey.syncNow() }
            assertTrue(e.reason.contains("policy manifest"), e.reason)
            assertEquals(before, consent.state(), "consent unchanged")
            assertEquals(1, consent.policyInForce()?.version)
            assertEquals(1L, wrongKey.sync.pendingChanges(), "nothing pushed, nothing lost")
        }

        // The key the server logged (next to another one): v3 is fetched, adopted and awaits acceptance.
        val trusting = device("c", config = syncConfig(server.baseUrl, policyKeys = listOf(OTHER_POLICY_KEY, server.policyPublicKey)))
        val summary = trusting.syncNow()
        assertEquals(3, summary.policyVersion, "$summary")
        assertEquals(1L, summary.pulled, "the vehicle device a pushed")
        Consent(trusting.store).use { consent ->
            val served = assertNotNull(consent.policyInForce())
            assertEquals(3, served.version)
            assertEquals(listOf(Purpose.STATISTICS, Purpose.SERVICE_IMPROVEMENT), served.purposes)
            assertEquals(ConsentStatus.PolicyNotAccepted(3), consent.status(Purpose.STATISTICS))
        }

        // Keys that are not base64 of 32 bytes are refused when the client is made.
        for (bad in listOf("not base64", "AAAA")) {
            val e = assertFailsWith<AparkingException.InvalidInput>(bad) {
                SyncClient(trusting.store, syncConfig(server.baseUrl, policyKeys = listOf(bad)), TokenProvider())
            }
            assertEquals("policyPublicKeys", e.field)
        }
    }

    @Test
    fun `personal data go only to a host the policy in force declares, UndeclaredHost comes before any token or byte`() {
        val auth = TokenProvider()
        val a = device("a", auth = auth, config = SyncConfig(endpoint = UNREACHABLE, network = quickNetwork()))
        val observer = RecordingObserver()
        closeables += a.sync.subscribe(observer)
        a.store.addVehicle(NewVehicle(plate = "123ABC02"))

        Consent(a.store).use { consent ->
            // The policy in force declares other hosts for personal data (and this one for telemetry only).
            consent.publishPolicy(
                policy(1).copy(personalDataHosts = listOf("api.aparking.kz", "*.aparking.kz"), telemetryHosts = listOf("192.0.2.1")),
            )
            val e = assertFailsWith<AparkingException.UndeclaredHost> { a.syncNow() }
            assertEquals("192.0.2.1", e.host)
            assertEquals("personal data", e.channel)
            assertEquals(1L, a.sync.pendingChanges(), "nothing lost")
            assertEquals(listOf(), auth.calls.toList(), "refused before a token was even asked for")
            assertEquals(SyncEvent.Started, observer.events.first())
            val failed = observer.events.last() as SyncEvent.Failed
            assertTrue(failed.error is AparkingException.UndeclaredHost, "${failed.error}")

            // The erasure request too: the local data are kept.
            val erase = assertFailsWith<AparkingException.UndeclaredHost> { runBlocking { a.sync.deleteAccount() } }
            assertEquals("personal data", erase.channel)
            assertEquals(1L, a.store.info().vehicleCount)

            // Once a policy declares the host, the request is made (and fails: nothing answers there).
            consent.publishPolicy(policy(2).copy(personalDataHosts = listOf("192.0.2.1")))
            assertFailsWith<AparkingException.Network> { a.syncNow() }
            assertEquals(1L, a.sync.pendingChanges())
        }
    }

    @Test
    fun `deleteAccount erases the backend's copy, then the local data`() {
        val a = device("a")
        a.store.updateProfile(ProfilePatch(phone = PHONE_TYPED))
        a.store.addVehicle(NewVehicle(plate = "123ABC02"))
        a.syncNow()
        assertFalse(a.sync.isAccountErasurePending())
        runBlocking(Dispatchers.IO) { a.sync.deleteAccount() }
        assertFalse(a.sync.isAccountErasurePending(), "finished: nothing pending")
        assertEquals(0L, a.store.info().vehicleCount)
        assertNull(a.store.getProfile())
        // A new device of the account finds nothing to pull.
        val b = device("b")
        assertEquals(0L, b.syncNow().pulled)
        assertEquals(listOf(), b.store.listVehicles())
    }

    @Test
    fun `an account erased on another device is AccountErased at the next sync, the local copy is deleted and nothing is pushed back`() {
        val a = device("a")
        val b = device("b")
        a.store.updateProfile(ProfilePatch(phone = PHONE_TYPED))
        a.store.addVehicle(NewVehicle(plate = "123ABC02", make = "Kia"))
        a.store.addDocument(NewDocument(kind = DocumentKind.DRIVER_LICENCE, number = "DL10000001"))
        a.syncNow()
        val first = b.syncNow()
        assertEquals(3L, first.pulled, "profile, vehicle and document: $first")
        assertEquals(1L, b.store.info().vehicleCount)
        assertNotNull(b.store.getProfile())
        // B, offline, adds a vehicle: it must not reach the erased account.
        b.store.addVehicle(NewVehicle(plate = "999ZZZ09", make = "Lada"))
        assertEquals(1L, b.sync.pendingChanges())

        runBlocking(Dispatchers.IO) { a.sync.deleteAccount() }
        val observer = RecordingObserver()
        closeables += b.sync.subscribe(observer)
        val e = assertFailsWith<AparkingException.AccountErased> { b.syncNow() }
        assertTrue(e.toString().isNotBlank(), "a sentence for the app: '$e'")
        val failed = observer.events.last() as SyncEvent.Failed
        assertTrue(failed.error is AparkingException.AccountErased, "${observer.events.map(::describe)}")
        assertTrue(b.sync.status().lastError is AparkingException.AccountErased, "${b.sync.status()}")
        // The SDK deleted B's copy before throwing, the offline edit with it.
        assertEquals(listOf(), b.store.listVehicles())
        assertEquals(listOf(), b.store.listDocuments())
        assertNull(b.store.getProfile())
        assertEquals(0L, b.sync.pendingChanges(), "nothing left to push")

        // B pushed nothing back: a new device of the account finds nothing to pull.
        val c = device("c")
        assertEquals(0L, c.syncNow().pulled)
        assertEquals(listOf(), c.store.listVehicles())
        assertNull(c.store.getProfile())

        // Once learnt, B syncs normally on its empty store.
        val again = b.syncNow()
        assertEquals(0L to 0L, again.pulled to again.pushed, "$again")
        assertEquals(listOf(), b.store.listVehicles())

        // The account lives on: what A adds after the erasure reaches B.
        val later = a.store.addVehicle(NewVehicle(plate = "456DEF03", make = "Toyota"))
        a.syncNow()
        assertEquals(1L, b.syncNow().pulled)
        assertEquals(listOf(later.id to "Toyota"), b.store.listVehicles().map { it.id to it.make })
    }

    @Test
    fun `deleteAllUserData resets the sync state, so the next sync pulls the synced vehicles back`() {
        val a = device("a")
        val kia = a.store.addVehicle(NewVehicle(plate = "123ABC02", make = "Kia"))
        val lada = a.store.addVehicle(NewVehicle(plate = "777KKK01", make = "Lada"))
        a.syncNow()
        assertEquals(0L, a.sync.pendingChanges())
        val synced = listOf(kia, lada).map { Triple(it.id, it.plate.canonical, it.make) }.sortedBy { it.first }

        a.store.deleteAllUserData()
        assertEquals(listOf(), a.store.listVehicles())
        assertEquals(0L, a.sync.pendingChanges(), "the deletion is local: nothing queued")
        val summary = a.syncNow()
        assertEquals(2L, summary.pulled, "both vehicles came back whole: $summary")
        assertEquals(0L, summary.pushed, "$summary")
        val restored = a.store.listVehicles().map { Triple(it.id, it.plate.canonical, it.make) }.sortedBy { it.first }
        assertEquals(synced, restored)
        assertEquals(0L, a.sync.pendingChanges())
        // Nothing was removed on the backend either.
        val b = device("b")
        assertEquals(2L, b.syncNow().pulled)
    }

    @Test
    fun `a damaged vehicle is left out and named, discarded here it comes back whole at the next sync and no delete reaches the backend`() {
        val a = device("a")
        val kia = a.store.addVehicle(NewVehicle(plate = "123ABC02", make = "Kia", colour = "red"))
        val lada = a.store.addVehicle(NewVehicle(plate = "777KKK01", nickname = "дача", make = "Lada", model = "Niva"))
        val certificate = a.store.addDocument(
            NewDocument(kind = DocumentKind.VEHICLE_REGISTRATION_CERTIFICATE, number = "VRC1234567", vehicleId = lada.id),
        )
        a.syncNow()
        assertEquals(0L, a.sync.pendingChanges())
        val unsynced = a.store.addVehicle(NewVehicle(plate = "999ZZZ09", make = "Toyota"))
        val damaged = reopenDamaged(a) { file ->
            flipSealedByte(file, SealedTable.VEHICLES, lada.id)
            flipSealedByte(file, SealedTable.VEHICLES, unsynced.id)
        }
        val bad = setOf(RecordRef(RecordKind.VEHICLE, lada.id), RecordRef(RecordKind.VEHICLE, unsynced.id))

        // The intact records are listed and exported, the damaged ones named.
        assertEquals(listOf(kia), damaged.store.listVehicles())
        assertEquals(bad, damaged.store.damagedRecords().toSet())
        assertEquals(2, damaged.store.damagedRecords().size)
        val json = damaged.store.exportUserData()
        assertEquals(bad, exportedDamagedRecords(json).toSet(), json)
        assertTrue("123ABC02" in json && "VRC1234567" in json, json)
        val e = assertFailsWith<AparkingException.IntegrityFailure> { damaged.store.getVehicle(lada.id) }
        assertEquals(Entity.VEHICLE to lada.id, e.entity to e.recordId)

        // Only a damaged record is discarded that way.
        val intact = assertFailsWith<AparkingException.InvalidInput> {
            damaged.store.discardDamagedRecord(RecordRef(RecordKind.VEHICLE, kia.id))
        }
        assertEquals("record" to "is not a damaged record", intact.field to intact.reason)
        assertEquals(kia, damaged.store.getVehicle(kia.id))

        assertEquals(1L, damaged.sync.pendingChanges(), "the unsynced vehicle's add")
        for (ref in bad) damaged.store.discardDamagedRecord(ref)
        assertNull(damaged.store.getVehicle(unsynced.id), "never synced: gone at once")
        assertFalse(RecordRef(RecordKind.VEHICLE, unsynced.id) in damaged.store.damagedRecords())
        assertEquals(0L, damaged.sync.pendingChanges(), "no delete queued, and the unsynced add went with its record")

        val pushesBefore = server.logLines("/v1/sync/push")
        val summary = damaged.syncNow()
        assertEquals(0L, summary.pushed, "$summary")
        assertTrue(summary.pulled >= 1L, "$summary")
        assertEquals(pushesBefore, server.logLines("/v1/sync/push"), "nothing was pushed: no delete")
        val back = assertNotNull(damaged.store.getVehicle(lada.id), "the synced vehicle came back")
        assertEquals(lada, back.copy(updatedAt = lada.updatedAt), "whole: same id, values and creation time")
        assertNull(damaged.store.getVehicle(unsynced.id), "never synced: gone")
        assertEquals(lada.id, damaged.store.getDocument(certificate.id)?.vehicleId, "the link survived")
        assertEquals(setOf(kia.id, lada.id), damaged.store.listVehicles().map { it.id }.toSet())
        assertEquals(listOf(), damaged.store.damagedRecords())
        assertEquals(0L, damaged.sync.pendingChanges())

        // The backend kept it: a new device of the account pulls it, and nothing of the unsynced one.
        val b = device("b")
        b.syncNow()
        assertEquals(setOf(kia.id, lada.id), b.store.listVehicles().map { it.id }.toSet())
        // (The creation time is not synced: each device keeps when it first saw the record.)
        assertEquals(lada, assertNotNull(b.store.getVehicle(lada.id)).copy(createdAt = lada.createdAt, updatedAt = lada.updatedAt))
        assertNull(b.store.findVehicleByPlate("999ZZZ09"))
    }

    @Test
    fun `a damaged outbox entry is set aside in quarantined(), the record's local copy goes up instead, clearQuarantine forgets it`() {
        val a = device("a")
        val kia = a.store.addVehicle(NewVehicle(plate = "123ABC02", make = "Kia"))
        val lada = a.store.addVehicle(NewVehicle(plate = "777KKK01", make = "Lada", colour = "white"))
        assertEquals(2L, a.sync.pendingChanges())
        val damaged = reopenDamaged(a) { flipSealedByte(it, SealedTable.SYNC_OUTBOX, lada.id) }
        assertEquals(listOf(), damaged.sync.quarantined(), "set aside only when a sync starts")
        assertEquals(0L, damaged.sync.status().quarantined)
        assertEquals(listOf(), damaged.store.damagedRecords(), "the record itself is intact")

        val observer = RecordingObserver()
        closeables += damaged.sync.subscribe(observer)
        val before = System.currentTimeMillis()
        val summary = damaged.syncNow()
        val after = System.currentTimeMillis()
        assertEquals(0L, summary.pending, "$summary")
        assertTrue(summary.pushed >= 2L, "both vehicles went up: $summary")
        val entry = damaged.sync.quarantined().single()
        assertEquals(QuarantinedEntry(RecordKind.VEHICLE, lada.id, QuarantineReason.OUTBOX_ENTRY_DAMAGED, true, entry.atMs), entry)
        assertTrue(entry.atMs in before..after, "${entry.atMs} not in $before..$after")
        val status = damaged.sync.status()
        assertEquals(1L, status.quarantined)
        assertEquals(0L, status.pendingChanges)
        assertNull(status.lastError)
        val announced = observer.events.filterIsInstance<SyncEvent.StatusChanged>().last()
        assertEquals(1L, announced.status.quarantined, "StatusChanged counts it too")
        assertEquals(kia, damaged.store.getVehicle(kia.id))
        assertEquals(lada, damaged.store.getVehicle(lada.id))

        // A fresh device of the account pulls both, whole.
        val b = device("b")
        assertEquals(2L, b.syncNow().pulled)
        assertEquals(listOf(kia, lada).map { it.id to it.make }.toSet(), b.store.listVehicles().map { it.id to it.make }.toSet())
        assertEquals(lada, assertNotNull(b.store.getVehicle(lada.id)).copy(createdAt = lada.createdAt, updatedAt = lada.updatedAt))
        assertEquals(listOf(), b.sync.quarantined())

        // The next sync finds nothing more to set aside; the app clears the report.
        damaged.syncNow()
        assertEquals(1, damaged.sync.quarantined().size)
        assertEquals(1L, damaged.sync.clearQuarantine())
        assertEquals(0L, damaged.sync.status().quarantined)
        assertEquals(listOf(), damaged.sync.quarantined())
        assertEquals(0L, damaged.sync.clearQuarantine())
    }

    @Test
    fun `a pull repairs a damaged vehicle from the backend's newer copy, a damaged mirror row is set aside as MIRROR_ENTRY_DAMAGED`() {
        val a = device("a")
        val b = device("b")
        val kia = a.store.addVehicle(NewVehicle(plate = "123ABC02", make = "Kia"))
        val lada = a.store.addVehicle(NewVehicle(plate = "777KKK01", make = "Lada"))
        a.syncNow()
        b.syncNow()
        val damaged = reopenDamaged(a) { file ->
            flipSealedByte(file, SealedTable.VEHICLES, kia.id)
            flipSealedByte(file, SealedTable.SYNC_MIRROR, "vehicle:${lada.id}")
        }
        assertEquals(listOf(RecordRef(RecordKind.VEHICLE, kia.id)), damaged.store.damagedRecords())
        assertEquals(listOf(lada), damaged.store.listVehicles())
        b.store.updateVehicle(kia.id, VehiclePatch(nickname = "Repaired"))
        b.store.updateVehicle(lada.id, VehiclePatch(colour = "green"))
        b.syncNow()

        val summary = damaged.syncNow()
        assertEquals(0L, summary.rejected, "$summary")
        val repaired = assertNotNull(damaged.store.getVehicle(kia.id), "the backend's newer copy replaced the damaged one")
        assertEquals("Repaired" to "Kia", repaired.nickname to repaired.make)
        assertEquals(listOf(), damaged.store.damagedRecords())
        assertEquals("green", damaged.store.getVehicle(lada.id)?.colour, "the record converged without its base")
        val entry = damaged.sync.quarantined().single()
        assertEquals(QuarantinedEntry(RecordKind.VEHICLE, lada.id, QuarantineReason.MIRROR_ENTRY_DAMAGED, true, entry.atMs), entry)
        assertEquals(1L, damaged.sync.status().quarantined)

        // Its own edit still goes out on the repaired base.
        damaged.store.updateVehicle(lada.id, VehiclePatch(model = "Niva"))
        syncAll(damaged, b)
        assertEquals("Niva" to "green", b.store.getVehicle(lada.id)?.let { it.model to it.colour })
        assertEquals(listOf(), damaged.sync.conflicts(), "nothing to settle")
    }

    @Test
    fun `status() reports pending changes, the last success and the last error, StatusChanged comes just before Finished`() {
        val a = device("a")
        assertEquals(
            SyncStatus(
                pendingChanges = 0L,
                conflicts = 0L,
                running = false,
                lastSuccessAtMs = null,
                lastError = null,
                nextAutoSyncAtMs = null,
                accountErasurePending = false,
                quarantined = 0L,
            ),
            a.sync.status(),
            "nothing yet",
        )
        a.store.addVehicle(NewVehicle(plate = "123ABC02"))
        a.store.addVehicle(NewVehicle(plate = "456DEF03"))
        assertEquals(2L, a.sync.status().pendingChanges)

        val observer = RecordingObserver()
        closeables += a.sync.subscribe(observer)
        val before = System.currentTimeMillis()
        val summary = a.syncNow()
        val after = System.currentTimeMillis()
        val status = a.sync.status()
        assertEquals(0L, status.pendingChanges)
        assertEquals(0L, status.conflicts)
        assertFalse(status.running)
        assertNull(status.lastError)
        assertNull(status.nextAutoSyncAtMs)
        val success = assertNotNull(status.lastSuccessAtMs, "a success is recorded")
        assertTrue(success in before..after, "$success not in $before..$after")
        val events = observer.events.toList()
        assertEquals(SyncEvent.Finished(summary), events.last())
        assertEquals(SyncEvent.StatusChanged(status), events[events.size - 2], events.map(::describe).toString())

        // The backend unreachable (another client of the same store): the error is kept, the last success stays.
        val config = SyncConfig(
            endpoint = NOWHERE,
            network = NetworkConfig(maxAttempts = 1, retryBaseDelayMs = 5L, retryMaxDelayMs = 20L, connectTimeoutMs = 2_000L),
        )
        val unreachable = SyncClient(a.store, config, TokenProvider()).also { closeables += it }
        val failing = RecordingObserver()
        closeables += unreachable.subscribe(failing)
        a.store.addVehicle(NewVehicle(plate = "A123BC"))
        assertFailsWith<AparkingException.Network> { runBlocking { unreachable.sync() } }
        val failed = unreachable.status()
        assertTrue(failed.lastError is AparkingException.Network, "$failed")
        assertEquals(success, failed.lastSuccessAtMs, "the last success stays")
        assertEquals(1L, failed.pendingChanges)
        assertFalse(failed.running)
        val failEvents = failing.events.toList()
        assertTrue(failEvents.last() is SyncEvent.Failed, failEvents.map(::describe).toString())
        val announced = failEvents[failEvents.size - 2] as? SyncEvent.StatusChanged
            ?: fail("StatusChanged expected before Failed: ${failEvents.map(::describe)}")
        assertTrue(announced.status.lastError is AparkingException.Network, "${announced.status}")
        assertEquals(success, announced.status.lastSuccessAtMs)
        assertNull(a.sync.status().lastError, "the error is the failing client's")
    }

    @Test
    fun `startAutoSync names the next automatic attempt in status() and StatusChanged, stopAutoSync clears it`() {
        val a = device("a")
        assertNull(a.sync.status().nextAutoSyncAtMs)
        val before = System.currentTimeMillis()
        a.sync.startAutoSync(60_000L)
        val next = assertNotNull(a.sync.status().nextAutoSyncAtMs, "scheduled")
        val after = System.currentTimeMillis()
        assertTrue(next in (before + 60_000L)..(after + 60_000L), "$next is one interval from now ($before..$after)")
        a.sync.stopAutoSync()
        assertNull(a.sync.status().nextAutoSyncAtMs, "off again")

        // Once an automatic sync ran, the status it announces names the next attempt.
        val observer = RecordingObserver()
        closeables += a.sync.subscribe(observer)
        val started = System.currentTimeMillis()
        a.sync.startAutoSync(50L)
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20)
        var scheduled: Long? = null
        while (scheduled == null) {
            assertTrue(System.nanoTime() < deadline, "no StatusChanged with a next attempt: ${observer.events.map(::describe)}")
            scheduled = observer.events.firstNotNullOfOrNull { (it as? SyncEvent.StatusChanged)?.status?.nextAutoSyncAtMs }
            Thread.sleep(20)
        }
        a.sync.stopAutoSync()
        assertTrue(scheduled > started, "$scheduled after $started")
        assertNull(a.sync.status().nextAutoSyncAtMs)
    }

    @Test
    fun `startAutoSync syncs on an SDK thread without a call, stopAutoSync stops it`() {
        val a = device("a")
        val observer = RecordingObserver()
        closeables += a.sync.subscribe(observer)
        val bad = assertFailsWith<AparkingException.InvalidInput> { a.sync.startAutoSync(0L) }
        assertEquals("intervalMs", bad.field)

        a.sync.startAutoSync(50L)
        a.sync.startAutoSync(50L) // again while it runs: nothing changes
        a.store.addVehicle(NewVehicle(plate = "123ABC02"))
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20)
        while (a.sync.pendingChanges() > 0L || observer.events.none { it is SyncEvent.Finished && it.summary.pushed > 0L }) {
            assertTrue(System.nanoTime() < deadline, "automatic sync never pushed: ${observer.events}")
            Thread.sleep(20)
        }
        assertTrue(Thread.currentThread().name !in observer.threads, "called on an SDK thread: ${observer.threads.toSet()}")

        a.sync.stopAutoSync()
        val seen = observer.events.size
        a.store.addVehicle(NewVehicle(plate = "A123BC"))
        Thread.sleep(300)
        assertEquals(seen, observer.events.size, "no sync after stopAutoSync")
        assertEquals(1L, a.sync.pendingChanges())
        a.sync.stopAutoSync() // twice is harmless
    }

    private companion object {
        const val TOKEN = "token-a"

        /** A name per sync step; exhaustive, so a new SyncEvent variant fails to compile here. */
        fun describe(event: SyncEvent): String = when (event) {
            SyncEvent.Started -> "Started"
            is SyncEvent.Pushed -> "Pushed(${event.count})"
            is SyncEvent.Pulled -> "Pulled(${event.count})"
            is SyncEvent.Reconciled -> "Reconciled(${event.reason}, ${event.repushed})"
            is SyncEvent.StatusChanged -> "StatusChanged(${event.status})"
            is SyncEvent.Finished -> "Finished"
            is SyncEvent.Failed -> "Failed(${event.error})"
        }

        /** A valid Ed25519 public key that signs nothing here (RFC 8032, section 7.1, test 1). */
        const val OTHER_POLICY_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    }
}
