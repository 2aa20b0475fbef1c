import BulwarkCore
import Foundation
import Logging
import Synchronization

/// Runs the file guard: a reader thread takes fanotify events and answers everything that is
/// not an AI tool's business at once; AI tools' opens go to a bounded pool of workers. Never
/// leaves a process hanging: every permission event is answered exactly once — on errors, when
/// the pool is full (the fail mode), and at shutdown (closing the group releases the rest) — and
/// a watchdog removes the marks if answers fall behind, so the host keeps working unguarded.
public final class FileGuardService: @unchecked Sendable {
    // `pending` and `ignored` are behind `lock`; the rest is immutable after init.

    public struct Options: Sendable {
        public var paths: [String]
        /// AI-tool opens being decided at once; more are answered by the fail mode.
        public var workers: Int
        /// An answer older than this trips the watchdog.
        public var watchdog: Duration
        /// Harmless files whose opens stop being asked about (inode marks).
        public var maxIgnored: Int
        /// How long the guard stays off after its watchdog tripped.
        public var rearmDelay: Duration

        public init(paths: [String], workers: Int = 8, watchdog: Duration = .seconds(5), maxIgnored: Int = 65_536, rearmDelay: Duration = .seconds(30)) {
            self.paths = paths
            self.workers = workers
            self.watchdog = watchdog
            self.maxIgnored = maxIgnored
            self.rearmDelay = rearmDelay
        }
    }

    let guardian: FileGuard
    let options: Options
    let logger: Logger
    private let lock = NSLock()
    private var pending: [Int: ContinuousClock.Instant] = [:]
    /// Ignore marks placed (harmless files).
    private var ignored = 0
    private var nextTicket = 0
    /// When an AI tool was last seen running: plain opens are reported while one runs (and a
    /// few seconds after), so AI tools' reads of harmless files are audited; without one, an
    /// open costs nothing beyond the permission check.
    private var aiToolSeen: ContinuousClock.Instant?
    private let workers = DispatchQueue(label: "bulwark-file-guard", attributes: .concurrent)

    public init(guard guardian: FileGuard, options: Options, logger: Logger) {
        self.guardian = guardian
        self.options = options
        self.logger = logger
    }

    /// Until cancelled. Without fanotify it records `agent.health` and returns: the rest of the
    /// agent keeps running. When the watchdog trips, the groups are closed (every waiting open
    /// is allowed) and the guard starts again after `options.rearmDelay`.
    public func run() async throws {
        while try await guardOnce() == .watchdogTripped {
            try await Task.sleep(for: options.rearmDelay)
            logger.notice("file guard starting again after the watchdog removed its marks")
            health("ok", "file guard re-armed \(options.rearmDelay) after its watchdog tripped")
        }
    }

    enum Ending {
        case stopped
        case watchdogTripped
    }

    private func guardOnce() async throws -> Ending {
        let channel: FanotifyChannel
        do { channel = try FanotifyChannel(paths: options.paths) } catch {
            logger.error("\(error)")
            health("unavailable", "\(error)")
            return .stopped
        }
        // A new group: nothing of the last one's (an answer stuck there, its ignore marks) counts.
        lock.withLock {
            pending.removeAll()
            ignored = 0
        }
        let stopper: WatcherThread
        do { stopper = try WatcherThread() } catch {
            channel.close()
            throw error
        }
        // Matched even while opens are reported already: the start refreshes `aiToolSeen`, so a
        // look over /proc that just missed it cannot switch reporting off under it.
        let following = ProcessTable.follow(guardian.processes, stop: stopper) { [self] pid in
            if guardian.isAITool(pid) { aiToolStarted(channel) }
        }
        if !following {
            logger.warning("no kernel process events (proc connector): AI tools' reads by short-lived children may go unaudited")
        }
        logger.info("file guard watching", metadata: ["paths": "\(options.paths.joined(separator: ","))", "exec": "\(channel.enforcesExec)"])
        if !channel.enforcesExec { health("degraded", "this kernel has no FAN_OPEN_EXEC_PERM (Linux < 5.0): AI tools' starts are not enforced") }
        let finished = ServiceThread("bulwark-fanotify") { [self] in read(channel, stopper: stopper) }
        let notified = ServiceThread("bulwark-fanotify-notify") { [self] in readNotifications(channel, stopper: stopper) }
        var failure: (any Error)?
        var ending = Ending.stopped
        do {
            ending = try await withTaskCancellationHandler {
                try await withThrowingTaskGroup(of: Ending.self) { group in
                    group.addTask {
                        for await _ in finished.ended {}
                        return .stopped
                    }
                    group.addTask { try await self.watch(channel) }
                    let first = try await group.next() ?? .stopped
                    group.cancelAll()
                    return first
                }
            } onCancel: {
                stopper.stop()
            }
        } catch {
            failure = error
        }
        stopper.stop()
        // Not the streams: a cancelled consumer ends them early. Neither thread may still be
        // reading when the groups' descriptors close (a reused number would be read instead).
        while !finished.isOver || !notified.isOver { usleep(5_000) }
        // Workers still deciding answer first (within their budget): the group's descriptor
        // must not close under them and be reused. Then every process still waiting is
        // released as the group closes (the kernel allows them).
        let deadline = ContinuousClock.now + .seconds(2)
        while lock.withLock({ !pending.isEmpty }), ContinuousClock.now < deadline { usleep(10_000) }
        channel.close()
        logger.info("file guard stopped")
        if let failure, !(failure is CancellationError) { throw failure }
        return failure == nil ? ending : .stopped
    }

    /// A thread of the service: `ended` finishes when it returns, and `isOver` says so even to
    /// a caller whose wait on `ended` was cancelled.
    final class ServiceThread: Sendable {
        let ended: AsyncStream<Void>
        private let over = Mutex(false)
        var isOver: Bool { over.withLock { $0 } }

        init(_ name: String, _ body: @escaping @Sendable () -> Void) {
            let (stream, continuation) = AsyncStream<Void>.makeStream()
            ended = stream
            let thread = Thread { [self] in
                body()
                over.withLock { $0 = true }
                continuation.finish()
            }
            thread.name = name
            thread.start()
        }
    }

    private func read(_ channel: FanotifyChannel, stopper: WatcherThread) {
        while !stopper.stopRequested {
            var descriptors = [
                pollfd(fd: channel.descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: stopper.wakeDescriptor, events: Int16(POLLIN), revents: 0),
            ]
            guard poll(&descriptors, 2, -1) > 0 else { continue }
            if descriptors[1].revents != 0 { return }
            guard let events = channel.read() else {
                logger.error("fanotify read failed: \(String(cString: strerror(errno))); file guard stopping")
                health("failed", "reading fanotify events failed: \(String(cString: strerror(errno)))")
                return
            }
            for event in events { handle(event, channel) }
        }
    }

    /// Notifications are taken in batches: the thread sleeps between them instead of waiting on
    /// the group, because a waiting reader is woken by every open on the marked mounts and each
    /// wake-up is paid by the process opening the file. While an AI tool runs, batches are 10 ms
    /// apart (its audits arrive that late at most) and `/proc` is looked over every 2 s to see
    /// when it is gone; otherwise only writes arrive (rescans can wait 100 ms) and AI tools are
    /// noticed when they start, so `/proc` is only looked over every 30 s as a safety net (a
    /// missed process event).
    private func readNotifications(_ channel: FanotifyChannel, stopper: WatcherThread) {
        var lastLook: ContinuousClock.Instant?
        while !stopper.stopRequested {
            let reporting = channel.isReportingOpens
            if lastLook.map({ ContinuousClock.now - $0 >= (reporting ? .seconds(2) : .seconds(30)) }) ?? true {
                lookForAITools(channel)
                lastLook = .now
            }
            guard let events = channel.readNotifications() else {
                logger.error("fanotify notification read failed: \(String(cString: strerror(errno))); AI tools' reads of harmless files are no longer audited")
                health("degraded", "reading fanotify notifications failed: \(String(cString: strerror(errno)))")
                return
            }
            for event in events { notified(event, channel) }
            if events.isEmpty {
                var wake = pollfd(fd: stopper.wakeDescriptor, events: Int16(POLLIN), revents: 0)
                _ = poll(&wake, 1, reporting ? 10 : 100)
            }
        }
    }

    /// An AI tool starts (its exec permission event, or the kernel's process event): its opens
    /// are reported from now on.
    private func aiToolStarted(_ channel: FanotifyChannel) {
        let changed = lock.withLock {
            aiToolSeen = .now
            return channel.reportOpens(true)
        }
        if changed { logReporting(true) }
    }

    /// Is any AI tool still running? Opens stop being reported once none has been seen for 3 s
    /// (a tool that started meanwhile has set `aiToolSeen`, so it is not undone).
    private func lookForAITools(_ channel: FanotifyChannel) {
        let running = guardian.anyAIToolRunning()
        let (on, changed) = lock.withLock {
            if running { aiToolSeen = .now }
            let on = running || (aiToolSeen.map { ContinuousClock.now - $0 < .seconds(3) } ?? false)
            return (on, channel.reportOpens(on))
        }
        if changed { logReporting(on) }
    }

    private func logReporting(_ on: Bool) {
        logger.info(
            on
                ? "an AI tool is running: plain opens on the guarded mounts are reported (its reads of harmless files are audited)"
                : "no AI tool is running: plain opens on the guarded mounts are no longer reported")
    }

    /// An open or a close-after-write nobody waits on.
    private func notified(_ event: FanotifyChannel.Event, _ channel: FanotifyChannel) {
        if event.isOverflow {
            logger.warning("fanotify notification queue overflowed: some AI tools' reads of harmless files or file writes went unseen (permission events are never dropped)")
            return
        }
        if event.isOpenNotification { guardian.auditOpen(event) }
        if event.isCloseWrite {
            guardian.rescan(event) { [self] descriptor, harmless in learned(descriptor, harmless: harmless, channel) }
        } else {
            channel.respond(event, allow: true)
        }
    }

    private func handle(_ event: FanotifyChannel.Event, _ channel: FanotifyChannel) {
        guard event.needsResponse else {
            // The permission group reports nothing else; a stray descriptor is still closed.
            channel.respond(event, allow: true)
            return
        }
        switch guardian.triage(event) {
        case .allow:
            channel.respond(event, allow: true)
        case .ordinary(let path):
            let harmless = guardian.knownHarmless(event.descriptor, path: path) { [self] descriptor, harmless in
                learned(descriptor, harmless: harmless, channel)
            }
            if let harmless { ignore(event.descriptor, harmlessAs: harmless, channel) }
            channel.respond(event, allow: true)
        case .exec(let app, let path):
            let allow = guardian.decideExec(app: app, path: path, pid: event.pid)
            if allow { aiToolStarted(channel) }  // before it runs: its first reads are seen too
            channel.respond(event, allow: allow)
        case .upload(let app, let path, let exe):
            dispatch(event, channel, path: path) { [self] in guardian.decideRead(app: app, path: path, exe: exe, event: event, activity: .fileUpload) }
        case .read(let app, let path, let exe):
            dispatch(event, channel, path: path) { [self] in guardian.decideRead(app: app, path: path, exe: exe, event: event) }
        }
    }

    /// Hands a decision to a worker, or answers by the fail mode when all are busy.
    private func dispatch(
        _ event: FanotifyChannel.Event, _ channel: FanotifyChannel, path: String, _ decide: @escaping @Sendable () -> FileGuard.ReadVerdict
    ) {
        guard let ticket = admit() else {
            // Full: no worker can take it within its budget.
            logger.warning("file guard overloaded; answering by the fail mode", metadata: ["path": "\(path)"])
            channel.respond(event, allow: guardian.settings.failOpen)
            return
        }
        workers.async { [self] in
            let verdict = decide()
            if let key = verdict.harmless { ignore(event.descriptor, harmlessAs: key, channel) }
            channel.respond(event, allow: verdict.allow)
            finish(ticket)
        }
    }

    /// A background scan finished: a harmless file stops costing its openers a round trip.
    private func learned(_ descriptor: Int32, harmless: VerdictCache.Key?, _ channel: FanotifyChannel) {
        if let harmless { ignore(descriptor, harmlessAs: harmless, channel) }
        close(descriptor)
    }

    /// Puts an ignore mark on a file that is harmless in the state `key`, up to `maxIgnored`
    /// (each pins an inode in the kernel until the file changes or the agent stops). The kernel
    /// clears the mark when the file is modified, but a write between the scan and the mark
    /// would leave a mark on content nobody checked: so the state is compared again once the
    /// mark is in place, and the mark taken back if the file moved on.
    private func ignore(_ descriptor: Int32, harmlessAs key: VerdictCache.Key, _ channel: FanotifyChannel) {
        let admitted = lock.withLock { () -> Bool in
            guard ignored < options.maxIgnored else { return false }
            ignored += 1
            return true
        }
        guard admitted else { return }
        guard channel.ignoreOpens(of: descriptor) else {
            lock.withLock { ignored -= 1 }
            return
        }
        if VerdictCache.key(descriptor: descriptor) != key {
            channel.stopIgnoringOpens(of: descriptor)
            lock.withLock { ignored -= 1 }
        }
    }

    private func admit() -> Int? {
        lock.withLock {
            guard pending.count < options.workers else { return nil }
            nextTicket += 1
            pending[nextTicket] = .now
            return nextTicket
        }
    }

    private func finish(_ ticket: Int) {
        _ = lock.withLock { pending.removeValue(forKey: ticket) }
    }

    /// Removes the marks when an answer is overdue: better unguarded than a frozen host. The
    /// guard then stops (closing the groups releases the waiting opens) and starts again later.
    private func watch(_ channel: FanotifyChannel) async throws -> Ending {
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(1))
            let oldest = lock.withLock { pending.values.min() }
            if let oldest, ContinuousClock.now - oldest > options.watchdog {
                channel.unmarkAll()
                let message =
                    "an answer to the kernel is more than \(options.watchdog) late; all fanotify marks removed, files are not guarded for the next \(options.rearmDelay)"
                logger.critical("\(message)")
                health("failed", message)
                return .watchdogTripped
            }
        }
        return .stopped
    }

    private func health(_ status: String, _ message: String) {
        guardian.record(EventType.agentHealth, ["component": "file_guard", "status": .string(status), "message": .string(message)])
    }
}
