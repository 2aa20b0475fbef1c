import Foundation
import Logging
import ServiceLifecycle

/// What agents' policy bundles are cut from, kept current for the agents that wait on
/// `GET /v1/policy?wait=S`: every `checkInterval` it reads the store's policy revision (one
/// cheap query, so a change any collector made is seen by all), and on a change — or when the
/// snapshot is `maxAge` old, for exceptions that ran out and users' risk levels — it reads a new
/// snapshot once and wakes every waiting request, which then answers if its agent's bundle changed.
actor PolicyFeed: Service {
    private let store: any CollectorStore
    private let logger: Logger
    let checkInterval: Duration
    let maxAge: TimeInterval
    private var snapshot: PolicySnapshot?
    private var snapshotAt = Date.distantPast
    /// When the last read of the store's revision (by `check` or a request) started.
    private var checkedAt = Date.distantPast
    private var revision: Int64 = -1
    private var wokenFor: PolicySnapshot?
    private var stopping = false
    private var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    /// Kept apart from `waiters` so the once-a-second scan for expired waits walks plain values
    /// (no reference counting per entry: it showed in the idle fleet's profile).
    private var deadlines: [UInt64: ContinuousClock.Instant] = [:]
    private var nextWaiter: UInt64 = 0

    init(store: any CollectorStore, logger: Logger, checkInterval: Duration = .seconds(1), maxAge: TimeInterval = 15) {
        self.store = store
        self.logger = logger
        self.checkInterval = checkInterval
        self.maxAge = maxAge
    }

    /// The current snapshot. Within `checkInterval` of the last read of the store's revision (the
    /// feed reads it every `checkInterval`) it is served as is, so requests cost no query;
    /// otherwise the revision is read first, so a request that does not wait still sees a change
    /// made a moment ago on any collector.
    /// - Parameter readSince: also require a read that started at or after this time — for an
    ///   agent whose bundle differs, a read begun after its request arrived, so it is never sent
    ///   one older than it already has (it may have got the new one from another collector a
    ///   moment ago). Requests woken by a change need no read of their own: the check that
    ///   woke them began after they arrived.
    func current(now: Date = Date(), readSince: Date? = nil) async throws -> PolicySnapshot {
        let age = now.timeIntervalSince(snapshotAt)
        let fresh = max(readSince ?? .distantPast, now.addingTimeInterval(-Self.seconds(checkInterval)))
        if let snapshot, checkedAt >= fresh, age < maxAge { return snapshot }
        let latest = try await store.policyRevision()
        checkedAt = max(checkedAt, now)
        if let snapshot, age < maxAge, latest == revision { return snapshot }
        revision = latest
        return try await refresh(now: now)
    }

    /// Returns at the next refresh that found something new, or once `timeout` has passed (at
    /// the first check after it, so up to `checkInterval` later); at once when
    /// the snapshot is no longer `seen` (it changed while the caller was cutting its bundle).
    /// False once the collector is stopping: the caller answers now rather than hold the
    /// graceful shutdown (or a reload) for the rest of its wait.
    func waitForChange(from seen: PolicySnapshot, timeout: Duration) async -> Bool {
        guard !stopping else { return false }
        guard snapshot == seen else { return true }
        let id = nextWaiter
        nextWaiter += 1
        // No timer per request: `run` wakes the expired ones at each check, so a wait ends up to
        // `checkInterval` late. Ten thousand sleeping timer tasks cost the collector more.
        let deadline = ContinuousClock.now + timeout
        await withCheckedContinuation { continuation in
            waiters[id] = continuation
            deadlines[id] = deadline
        }
        return !stopping
    }

    /// How many requests are waiting now (for /metrics and the benchmarks).
    var waiting: Int { waiters.count }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    await self.check()
                    await self.wakeExpired(now: .now)
                    try await Task.sleep(for: self.checkInterval)
                }
            }
        } catch is CancellationError {}
        stopping = true
        wakeAll()
    }

    private func check() async {
        do {
            // When the read started: `checkedAt` promises a read begun at or after it.
            let now = Date()
            let latest = try await store.policyRevision()
            checkedAt = max(checkedAt, now)
            if latest != revision || now.timeIntervalSince(snapshotAt) >= maxAge {
                revision = latest
                _ = try await refresh(now: now)
            }
            // A request may have refreshed the snapshot since the last check: compare with what
            // the waiters were last woken for, not with the previous read.
            if snapshot != wokenFor { wokenFor = snapshot; wakeAll() }
        } catch is CancellationError {
        } catch {
            logger.warning("cannot read the policy revision; agents keep the bundle they have", metadata: ["error": "\(error)"])
        }
    }

    private func refresh(now: Date) async throws -> PolicySnapshot {
        let fresh = try await store.policySnapshot(now: now)
        // Reads overlap (the actor is reentrant): one begun earlier must not replace a newer
        // snapshot. (Both callers have set `checkedAt`.)
        guard now >= snapshotAt else { return snapshot ?? fresh }
        snapshot = fresh
        snapshotAt = now
        return fresh
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Ends the waits whose time is up (their requests answer 304).
    private func wakeExpired(now: ContinuousClock.Instant) {
        var expired: [UInt64] = []
        for (id, deadline) in deadlines where deadline <= now { expired.append(id) }
        for id in expired {
            deadlines[id] = nil
            waiters.removeValue(forKey: id)?.resume()
        }
    }

    private func wakeAll() {
        let all = waiters
        waiters = [:]
        deadlines = [:]
        for continuation in all.values { continuation.resume() }
    }
}
