// Hand-written Swift layer over the generated bindings (AparkingCore.swift): observers as
// AsyncStream, and a sync that honours Swift task cancellation. The Swift counterpart of
// bindings/kotlin/src/main/kotlin/kz/aparking/core/Flows.kt.
import Foundation

extension Consent {
    /// The consent state as an `AsyncStream`: the current ``ConsentState`` first, then every
    /// change, without repeats.
    ///
    /// The observer is registered when this method returns, before the first element is read,
    /// so a change made right after the call is not missed. The stream keeps only the newest
    /// state a slow reader has not taken yet (a reader sees the latest state, never a stale
    /// one). Ending the iteration (leaving the `for await` loop and dropping the stream, or
    /// cancelling its task) unsubscribes.
    ///
    /// ```swift
    /// for await state in consent.stateUpdates() {
    ///     banner.isHidden = state.allowed.contains(.statistics)
    /// }
    /// ```
    public func stateUpdates() -> AsyncStream<ConsentState> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let observer = ConsentStreamObserver(continuation)
            let subscription = subscribe(observer: observer)
            // Subscribed first, then the current state: a change in between is not missed
            // (and a repeat of the same state is dropped by the observer).
            observer.onConsentChanged(state: state())
            continuation.onTermination = { _ in subscription.cancel() }
        }
    }
}

extension SyncClient {
    /// Every ``SyncEvent`` of every sync of this client (manual or automatic) as an
    /// `AsyncStream`.
    ///
    /// The observer is registered when this method returns, so a stream made before
    /// `sync()` sees that sync's ``SyncEvent/started``. So does a stream made while a sync
    /// runs, such as one a `Task` creates when it starts (a main-actor `Task` starts only once
    /// the main actor is free, which may be after the caller's `sync()` began): an observer
    /// that subscribes during a sync gets ``SyncEvent/started`` first, once, delivered just
    /// before that sync's next event, so a stream never shows a sync's progress or end without
    /// its start.
    ///
    /// Events wait in the stream until read, up to `bufferingNewest` of them (then the oldest
    /// are dropped), so the SDK's sync thread never waits for a reader. Ending the iteration
    /// unsubscribes. Each sync ends with a ``SyncEvent/statusChanged(status:)`` (the
    /// ``SyncStatus`` a badge shows) followed by its last event,
    /// ``SyncEvent/finished(summary:)`` or ``SyncEvent/failed(error:)``.
    ///
    /// ```swift
    /// let events = sync.events()
    /// Task { for await case let .finished(summary) in events { showSynced(summary) } }
    /// try await sync.cancellableSync()
    /// ```
    public func events(bufferingNewest limit: Int = 64) -> AsyncStream<SyncEvent> {
        AsyncStream(bufferingPolicy: .bufferingNewest(max(1, limit))) { continuation in
            let subscription = subscribe(observer: SyncStreamObserver(continuation))
            continuation.onTermination = { _ in subscription.cancel() }
        }
    }

    /// `sync()` that honours Swift task cancellation.
    ///
    /// The generated `sync()` runs to its end even when the calling `Task` is cancelled
    /// (uniffi's Swift futures do not forward cancellation). This one calls ``cancel()`` when
    /// the task is cancelled: the sync stops at its next step, keeps everything it saved, and
    /// this method throws `CancellationError`; the next sync carries on where it stopped. A
    /// task cancelled before the call throws `CancellationError` without syncing. A sync that
    /// ends before the cancellation reaches it (or that the cancellation reaches in the instant
    /// before it starts, when there is nothing yet to stop) returns its summary as usual.
    ///
    /// ``cancel()`` stops whichever sync of this client is running, so do not share one
    /// client between a cancelled task and another sync you want to keep.
    @discardableResult
    public func cancellableSync() async throws -> SyncSummary {
        try Task.checkCancellation()
        do {
            return try await withTaskCancellationHandler {
                try await sync()
            } onCancel: {
                cancel()
            }
        } catch AparkingError.SyncCancelled where Task.isCancelled {
            throw CancellationError()
        }
    }
}

/// Feeds a `ConsentState` stream; drops a state equal to the one it yielded last.
private final class ConsentStreamObserver: ConsentObserver, @unchecked Sendable {
    private let continuation: AsyncStream<ConsentState>.Continuation
    // `last` is read and written only with `lock` held: the reason for `@unchecked Sendable`.
    private let lock = NSLock()
    private var last: ConsentState?

    init(_ continuation: AsyncStream<ConsentState>.Continuation) {
        self.continuation = continuation
    }

    func onConsentChanged(state: ConsentState) {
        lock.lock()
        defer { lock.unlock() }
        guard state != last else { return }
        last = state
        continuation.yield(state)
    }
}

/// Feeds a `SyncEvent` stream (the continuation is `Sendable`, so this class is too).
private final class SyncStreamObserver: SyncObserver {
    private let continuation: AsyncStream<SyncEvent>.Continuation

    init(_ continuation: AsyncStream<SyncEvent>.Continuation) {
        self.continuation = continuation
    }

    func onSyncEvent(event: SyncEvent) {
        continuation.yield(event)
    }
}
