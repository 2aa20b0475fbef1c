import BulwarkCore
import Foundation

/// Why `SessionClient.probe` found no agent.
public struct SessionProbeFailure: Error, CustomStringConvertible {
    public var description: String
}

/// The session helper's end of the agent's Unix socket: says hello, takes the policy it is
/// given, and sends events. Survives the agent restarting (reconnects with backoff) and the
/// agent being absent (events wait in memory, up to `maxQueued`; the oldest go first).
public final class SessionClient: @unchecked Sendable {
    // `queue`, `dropped` and `stopped` are shared with the sender thread, behind `condition`.

    public let socketPath: String
    public let maxQueued: Int
    private let onPolicy: @Sendable (SessionMessage.PolicyPush) -> Void
    private let onNotice: @Sendable (DLPNotice) -> Void
    private let condition = NSCondition()
    private var queue: [SessionMessage.EventLine] = []
    private var stopped = false
    /// The focused AI app to report, and whether the agent has yet to hear it (on every change
    /// and every new connection).
    private var focus = SessionMessage.FocusReport(app: nil)
    private var focusUnsent = true
    /// What this helper guards, said in every hello.
    private var clipboard: String?
    /// Connections whose agent end closed (seen by their policy listener).
    private var lost: Set<Int32> = []
    /// Events dropped because the queue was full while the agent was unreachable.
    public private(set) var dropped = 0

    public init(
        socketPath: String, maxQueued: Int = 10_000, onNotice: @escaping @Sendable (DLPNotice) -> Void = { _ in },
        onPolicy: @escaping @Sendable (SessionMessage.PolicyPush) -> Void
    ) {
        self.onNotice = onNotice
        self.socketPath = socketPath
        self.maxQueued = maxQueued
        self.onPolicy = onPolicy
    }

    /// Queues an event for the agent.
    public func send(type: String, data: [String: JSONValue]) {
        condition.withLock {
            if queue.count >= maxQueued {
                queue.removeFirst()
                dropped += 1
            }
            queue.append(SessionMessage.EventLine(type: type, v: 1, time: Date(), data: data))
            condition.broadcast()  // the sender and a drain() both wait on it
        }
    }

    /// The AI app that has the focus now (nil: none); the agent hears it at once.
    public func focused(app: String?) {
        condition.withLock {
            guard focus.app != app else { return }
            focus = SessionMessage.FocusReport(app: app)
            focusUnsent = true
            condition.broadcast()  // the sender and a drain() both wait on it
        }
    }

    /// Connects and delivers on a background thread until `stop()`.
    /// Connects (and reconnects) in the background; `clipboard` says what this helper guards, for
    /// the agent's `doctor`.
    public func start(clipboard: String? = nil) {
        condition.withLock { self.clipboard = clipboard }
        let thread = Thread { [self] in run() }
        thread.name = "bulwark-session-client"
        thread.start()
    }

    /// Waits until every queued event was written to the agent, or `timeout` passed (agent
    /// unreachable); returns whether the queue emptied.
    @discardableResult
    public func drain(timeout: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        return condition.withLock {
            while !queue.isEmpty {
                if !condition.wait(until: deadline) { return queue.isEmpty }
            }
            return true
        }
    }

    public func stop() {
        condition.withLock {
            stopped = true
            condition.broadcast()
        }
    }

    private var isStopped: Bool { condition.withLock { stopped } }

    /// Says hello on `socketPath` and returns the name of the policy the agent answers with, or
    /// why it does not (for `doctor`).
    public static func probe(socketPath: String) -> Result<String, SessionProbeFailure> {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return .failure(SessionProbeFailure(description: String(cString: strerror(errno)))) }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard (withUnixAddress(socketPath) { Glibc.connect(descriptor, $0, $1) } ?? -1) == 0 else {
            return .failure(SessionProbeFailure(description: "cannot connect to \(socketPath): \(String(cString: strerror(errno)))"))
        }
        let hello = SessionMessage.Hello(uid: getuid(), user: ProcessInfo.processInfo.environment["USER"] ?? "", pid: getpid())
        guard let line = try? SessionMessage.encode(.init(hello: hello)), writeAll(descriptor, line) else {
            return .failure(SessionProbeFailure(description: "the agent closed the connection"))
        }
        var reader = LineReader(descriptor: descriptor)
        guard let answer = try? reader.next(), let envelope = try? SessionMessage.decode(answer) else {
            return .failure(SessionProbeFailure(description: "no answer from the agent"))
        }
        if let policy = envelope.policy { return .success(policy.name) }
        return .failure(SessionProbeFailure(description: envelope.error ?? "the agent answered without a policy"))
    }

    private func run() {
        var backoff = 0.5
        while !isStopped {
            if let connection = connect() {
                backoff = 0.5
                deliver(over: connection)
                // Wake the listener and wait for it, so the descriptor is not reused under it.
                shutdown(connection, Int32(SHUT_RDWR))
                condition.withLock {
                    while !lost.contains(connection) { condition.wait() }
                    lost.remove(connection)
                }
                close(connection)
            }
            guard !isStopped else { return }
            Thread.sleep(forTimeInterval: backoff)
            backoff = min(backoff * 2, 10)
        }
    }

    /// Policy updates and notices the agent sends later, until the connection ends; then the sender is woken
    /// so the client reconnects even when it has nothing to send.
    private func listen(on connection: Int32, reader: LineReader) {
        var reader = reader
        while let line = try? reader.next() {
            guard let envelope = try? SessionMessage.decode(line) else { continue }
            if let policy = envelope.policy { onPolicy(policy) }
            if let notice = envelope.notice { onNotice(notice) }
        }
        condition.withLock {
            lost.insert(connection)
            condition.broadcast()
        }
    }

    private func connect() -> Int32? {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        let connected = withUnixAddress(socketPath) { Glibc.connect(descriptor, $0, $1) } ?? -1
        guard connected == 0 else {
            close(descriptor)
            return nil
        }
        let hello = SessionMessage.Hello(
            uid: getuid(), user: ProcessInfo.processInfo.environment["USER"] ?? "", pid: getpid(), clipboard: condition.withLock { clipboard })
        guard let line = try? SessionMessage.encode(.init(hello: hello)), writeAll(descriptor, line) else {
            close(descriptor)
            return nil
        }
        var reader = LineReader(descriptor: descriptor)
        guard let answer = try? reader.next(), let envelope = try? SessionMessage.decode(answer), let policy = envelope.policy else {
            close(descriptor)
            return nil
        }
        onPolicy(policy)
        let buffered = reader  // may already hold lines after the first
        let listener = Thread { [self] in listen(on: descriptor, reader: buffered) }
        listener.name = "bulwark-session-policy"
        listener.start()
        return descriptor
    }

    /// Sends queued events until the connection fails or the client stops; an event is removed
    /// from the queue only once written.
    private func deliver(over connection: Int32) {
        condition.withLock { focusUnsent = true }  // a new connection: the agent knows nothing yet
        while true {
            let next: (envelope: SessionMessage.Envelope, isEvent: Bool)? = condition.withLock {
                while queue.isEmpty, !focusUnsent, !stopped, !lost.contains(connection) { condition.wait() }
                if stopped || lost.contains(connection) { return nil }
                if focusUnsent {
                    focusUnsent = false
                    return (SessionMessage.Envelope(focus: focus), false)
                }
                return queue.first.map { (SessionMessage.Envelope(event: $0), true) }
            }
            guard let next, let line = try? SessionMessage.encode(next.envelope) else { return }
            guard writeAll(connection, line) else { return }
            guard next.isEvent else { continue }
            condition.withLock {
                if !queue.isEmpty { queue.removeFirst() }
                condition.broadcast()  // a drain() may be waiting for the queue to empty
            }
        }
    }
}
