import BulwarkCore
import CBulwarkLinux
import Foundation
import Logging

/// The system agent's end of the session helpers' Unix socket: one helper per logged-in user
/// connects, is identified by the kernel (SO_PEERCRED), receives the policy, and sends events
/// that go into the agent's spool with the user the kernel vouches for.
///
/// Plain blocking sockets on threads: a handful of local connections, each a line protocol
/// (SessionMessage). The socket is 0666 in a 0755 directory; identity never comes from the
/// client's say-so.
public final class SessionServer: @unchecked Sendable {
    // `listener`, `connections`, `stopped` and `policy` are shared between threads, behind `lock`.

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let path: String
    private let spool: SpoolStore
    private var policy: SessionMessage.PolicyPush
    private let logger: Logger
    private let lock = NSLock()
    private var listener: Int32 = -1
    private var connections: Set<Int32> = []
    /// Helpers that said a good hello, with the uid the kernel vouches for: they get policy
    /// updates and their user's notices.
    private var helpers: [Int32: uid_t] = [:]
    /// What each connected helper said of itself, written to `statusPath` on every change.
    private var connected: [Int32: SessionMessage.ConnectedHelper] = [:]
    private let statusPath: String?
    /// The AI app focused in each helper's session, as last reported (app id).
    private var focused: [Int32: String] = [:]
    /// One writer at a time per connection: the serving thread and policy broadcasts both write.
    private let writeLock = NSLock()
    private var stopped = false

    /// - Parameter policy: what helpers receive when they connect (`update(policy:)` replaces it).
    /// - Parameter statusPath: where the connected helpers are kept for `bulwark-agent doctor`
    ///   (JSON, 0600; nil: nowhere).
    public init(path: String, spool: SpoolStore, logger: Logger, policy: SessionMessage.PolicyPush, statusPath: String? = nil) {
        self.statusPath = statusPath
        self.path = path
        self.spool = spool
        self.logger = logger
        self.policy = policy
    }

    /// The AI app that has the focus in a session of `uid`, if any.
    public func focusedApp(uid: uid_t) -> String? {
        lock.withLock { helpers.lazy.filter { $0.value == uid }.compactMap { self.focused[$0.key] }.first }
    }

    /// Shows `notice` on the desktop of `uid` through that user's helpers; false when the user
    /// has none connected.
    @discardableResult
    public func notify(uid: uid_t, notice: DLPNotice) -> Bool {
        let targets = lock.withLock { helpers.filter { $0.value == uid }.map(\.key) }
        guard !targets.isEmpty, let line = try? SessionMessage.encode(.init(notice: notice)) else { return false }
        for connection in targets { _ = writeLock.withLock { writeAll(connection, line) } }
        return true
    }

    /// The policy helpers receive from now on; connected helpers get it at once.
    public func update(policy: SessionMessage.PolicyPush) {
        let targets = lock.withLock { () -> Set<Int32> in
            self.policy = policy
            return Set(helpers.keys)
        }
        guard let line = try? SessionMessage.encode(.init(policy: policy)) else { return }
        for connection in targets {
            // A helper that is gone is noticed by its serving thread.
            _ = writeLock.withLock { writeAll(connection, line) }
        }
    }

    /// Binds the socket and accepts helpers on a background thread until `stop()`.
    public func start() throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let descriptor: Int32
        do { descriptor = try listenOnUnixSocket(path, mode: 0o666, what: "session socket") } catch { throw Failure(description: error.description) }
        lock.withLock {
            listener = descriptor
            writeStatus()  // none yet: what an earlier run left is no longer true
        }
        let thread = Thread { [self] in acceptLoop(descriptor) }
        thread.name = "bulwark-session-accept"
        thread.start()
        logger.info("session socket listening", metadata: ["path": "\(path)"])
    }

    /// Stops accepting and closes every helper connection.
    public func stop() {
        let (listening, open) = lock.withLock { () -> (Int32, Set<Int32>) in
            stopped = true
            defer { listener = -1 }
            return (listener, connections)
        }
        if listening >= 0 {
            shutdown(listening, Int32(SHUT_RDWR))
            close(listening)
        }
        for connection in open { shutdown(connection, Int32(SHUT_RDWR)) }
        unlink(path)
    }

    private func acceptLoop(_ descriptor: Int32) {
        while true {
            let connection = accept(descriptor, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return  // closed by stop()
            }
            let accepted = lock.withLock { () -> Bool in
                guard !stopped else { return false }
                connections.insert(connection)
                return true
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            // A helper that stops reading must not stall the agent's policy pushes.
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            guard accepted else {
                close(connection)
                return
            }
            let thread = Thread { [self] in
                serve(connection)
                lock.withLock { _ = connections.remove(connection) }
                close(connection)
            }
            thread.name = "bulwark-session-helper"
            thread.start()
        }
    }

    private func serve(_ connection: Int32) {
        var pid: pid_t = 0, uid: uid_t = 0, gid: gid_t = 0
        guard cbulwark_peer_credentials(connection, &pid, &uid, &gid) == 0 else { return }
        let user = Self.userName(uid) ?? "uid:\(uid)"
        var reader = LineReader(descriptor: connection)
        func refuse(_ reason: String) {
            logger.warning("session helper refused", metadata: ["pid": "\(pid)", "uid": "\(uid)", "reason": "\(reason)"])
            _ = writeAll(connection, (try? SessionMessage.encode(.init(error: reason))) ?? Data())
        }
        guard let first = try? reader.next(), let hello = (try? SessionMessage.decode(first))?.hello else {
            return refuse("the first message must be a hello")
        }
        guard hello.uid == uid else {
            return refuse("helper claims uid \(hello.uid) but the kernel says uid \(uid) (pid \(pid)); a helper speaks only for its own user")
        }
        logger.info("session helper connected", metadata: ["user": "\(user)", "pid": "\(pid)"])
        // Registered before the first push is written, under the write lock: a broadcast either
        // comes after it or its policy is the one written here.
        let written = writeLock.withLock { () -> Bool in
            let push = lock.withLock { () -> SessionMessage.PolicyPush in
                helpers[connection] = uid
                connected[connection] = SessionMessage.ConnectedHelper(uid: uid, user: user, pid: pid, clipboard: hello.clipboard, since: Date())
                writeStatus()
                return policy
            }
            return writeAll(connection, (try? SessionMessage.encode(.init(policy: push))) ?? Data())
        }
        defer {
            lock.withLock {
                _ = helpers.removeValue(forKey: connection)
                _ = focused.removeValue(forKey: connection)
                _ = connected.removeValue(forKey: connection)
                writeStatus()
            }
        }
        guard written else { return }
        while let line = try? reader.next() {
            let envelope = try? SessionMessage.decode(line)
            if let focus = envelope?.focus {
                lock.withLock { focused[connection] = focus.app }
                continue
            }
            guard let event = envelope?.event else {
                logger.warning("session helper sent something that is not an event", metadata: ["user": "\(user)"])
                continue
            }
            var data = event.data
            data["user"] = .string(user)  // the kernel's word, whatever the helper wrote
            do {
                try EventCatalog.standard.validate(Event(seq: 1, time: event.time, type: event.type, v: event.v, data: data))
                let priority: EventPriority = event.type == EventType.clipboardCopy ? .telemetry : .decision
                _ = try spool.append([EventDraft(type: event.type, v: event.v, time: event.time, data: data, priority: priority)])
            } catch {
                logger.warning("session event refused", metadata: ["user": "\(user)", "type": "\(event.type)", "reason": "\(error)"])
            }
        }
        logger.info("session helper disconnected", metadata: ["user": "\(user)", "pid": "\(pid)"])
    }

    /// Keeps sessions.json current (called under `lock`).
    private func writeStatus() {
        guard let statusPath else { return }
        let helpers = connected.values.sorted { ($0.since, $0.pid) < ($1.since, $1.pid) }
        do { try SecureFile.write(try WireCoding.encoder().encode(helpers), to: statusPath, mode: .secret) } catch {
            logger.warning("cannot record the connected session helpers", metadata: ["path": "\(statusPath)", "reason": "\(error)"])
        }
    }

    /// The helpers connected to a running agent, as it last recorded them.
    public static func connectedHelpers(statusPath: String) -> [SessionMessage.ConnectedHelper]? {
        guard let data = FileManager.default.contents(atPath: statusPath) else { return nil }
        return try? WireCoding.decoder().decode([SessionMessage.ConnectedHelper].self, from: data)
    }

    static func userName(_ uid: uid_t) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return nil }
        return String(cString: name)
    }
}
