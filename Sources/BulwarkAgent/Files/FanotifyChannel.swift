import CBulwarkLinux
import Foundation

/// The kernel side of the file guard: two fanotify groups with marks on the same filesystems. The
/// content-class group asks permission to open (and to open for execution); every such event
/// holds the opening process until it is answered, so whoever reads them must answer each
/// exactly once (``respond(_:allow:)``), also on errors and at shutdown. The notification group
/// reports opens and close-after-write that nobody waits on; it is read in batches
/// (``readNotifications()``), so a busy host's opens do not each wake the agent.
public final class FanotifyChannel: @unchecked Sendable {
    // `descriptor` is immutable; `closed` is behind `lock`, so no answer is ever written to a
    // descriptor number the process has since reused.

    /// One event. `descriptor` is an open, read-only descriptor of the file (FMODE_NONOTIFY:
    /// reading through it raises no further events); whoever handles the event closes it.
    public struct Event: Sendable {
        public var mask: UInt64
        public var descriptor: Int32
        public var pid: pid_t

        public var isOpenPermission: Bool { mask & UInt64(FAN_OPEN_PERM) != 0 }
        public var isExecPermission: Bool { mask & UInt64(FAN_OPEN_EXEC_PERM) != 0 }
        public var needsResponse: Bool { isOpenPermission || isExecPermission }
        public var isCloseWrite: Bool { mask & UInt64(FAN_CLOSE_WRITE) != 0 }
        /// An open nobody waits on (the file's permission events are ignored: known harmless).
        public var isOpenNotification: Bool { mask & UInt64(FAN_OPEN) != 0 && !needsResponse }
        public var isOverflow: Bool { mask & UInt64(FAN_Q_OVERFLOW) != 0 }
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case unavailable(String)
        case mark(path: String, reason: String)

        public var description: String {
            switch self {
            case .unavailable(let reason): "fanotify is unavailable: \(reason); file access is not monitored or enforced (the rest of the agent runs)"
            case .mark(let path, let reason): "cannot watch the filesystem of \(path): \(reason)"
            }
        }
    }

    let descriptor: Int32
    /// The notification group (non-blocking).
    let notifications: Int32
    /// The paths whose mounts are marked.
    let marked: [String]
    private let lock = NSLock()
    private var reportingOpens = false
    private var closed = false
    /// False on kernels before 5.0 (no FAN_OPEN_EXEC_PERM): AI tools' starts are not enforced.
    public let enforcesExec: Bool
    /// Whether whole filesystems are marked (Linux 4.20+) rather than mounts.
    public let marksFilesystems: Bool

    /// Marks the filesystem of every path in `paths` (paths that do not exist are skipped).
    public init(paths: [String]) throws(Failure) {
        let descriptor = cbulwark_fanotify_init()
        guard descriptor >= 0 else {
            let reason = switch errno {
            case EPERM: "the agent needs CAP_SYS_ADMIN (run it as root)"
            case ENOSYS: "the kernel is built without fanotify (CONFIG_FANOTIFY, CONFIG_FANOTIFY_ACCESS_PERMISSIONS)"
            case EINVAL: "the kernel lacks permission events (CONFIG_FANOTIFY_ACCESS_PERMISSIONS)"
            default: String(cString: strerror(errno))
            }
            throw .unavailable(reason)
        }
        let notifications = cbulwark_fanotify_init_notifications()
        guard notifications >= 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(descriptor)
            throw .unavailable(reason)
        }
        self.descriptor = descriptor
        self.notifications = notifications
        // Writes are always reported (rescans); plain opens only while ``reportOpens(_:)`` says.
        let notified = UInt64(FAN_CLOSE_WRITE)
        var withExec = true
        // Filesystem marks: a mount mark is on one mount namespace's mount, so an agent that
        // systemd starts in its own namespace (ProtectSystem=strict) would see no other
        // process's opens. Mount marks remain for kernels before 4.20.
        var wholeFilesystem: Int32 = 1
        marked = paths.filter { FileManager.default.fileExists(atPath: $0) }
        for path in marked {
            var marked = cbulwark_fanotify_mark(descriptor, path, UInt64(FAN_OPEN_PERM) | UInt64(FAN_OPEN_EXEC_PERM), wholeFilesystem) == 0
            if !marked, errno == EINVAL, wholeFilesystem == 1 {
                // Before Linux 4.20 (no FAN_MARK_FILESYSTEM) or 5.0 (no FAN_OPEN_EXEC_PERM).
                marked = cbulwark_fanotify_mark(descriptor, path, UInt64(FAN_OPEN_PERM) | UInt64(FAN_OPEN_EXEC_PERM), 0) == 0
                if marked { wholeFilesystem = 0 }
            }
            if !marked, withExec, errno == EINVAL { withExec = false }  // before Linux 5.0
            if !marked { marked = cbulwark_fanotify_mark(descriptor, path, UInt64(FAN_OPEN_PERM), wholeFilesystem) == 0 }
            if marked { marked = cbulwark_fanotify_mark(notifications, path, notified, wholeFilesystem) == 0 }
            guard marked else {
                let reason = String(cString: strerror(errno))
                Glibc.close(descriptor)
                Glibc.close(notifications)
                throw .mark(path: path, reason: reason)
            }
        }
        enforcesExec = withExec
        marksFilesystems = wholeFilesystem == 1
    }

    /// Blocks for the next events; nil once the channel is closed or broken.
    func read() -> [Event]? {
        var buffer = [cbulwark_fanotify_event](repeating: cbulwark_fanotify_event(), count: 512)
        while true {
            let count = cbulwark_fanotify_read(descriptor, &buffer, Int32(buffer.count))
            if count < 0, errno == EINTR || errno == EAGAIN { continue }
            guard count >= 0 else { return nil }
            return buffer.prefix(Int(count)).map { Event(mask: $0.mask, descriptor: $0.fd, pid: $0.pid) }
        }
    }

    /// Whether plain opens are reported now (``reportOpens(_:)``).
    var isReportingOpens: Bool { lock.withLock { reportingOpens } }

    /// Reports plain opens on the marked mounts from now on (or stops): opens of files whose
    /// permission events are ignored (known harmless) then still reach the notification group,
    /// so AI tools' reads of them are audited without making anyone wait. Each reported open
    /// costs its opener a queued event (~0.5 µs), so this is on only while an AI tool runs.
    /// True when this changed the setting.
    @discardableResult
    func reportOpens(_ on: Bool) -> Bool {
        lock.withLock {
            guard !closed, on != reportingOpens else { return false }
            reportingOpens = on
            for path in marked {
                _ = on
                    ? cbulwark_fanotify_mark(notifications, path, UInt64(FAN_OPEN), marksFilesystems ? 1 : 0)
                    : cbulwark_fanotify_unmark(notifications, path, UInt64(FAN_OPEN), marksFilesystems ? 1 : 0)
            }
            return true
        }
    }

    /// The notifications queued now, without waiting (empty: none); nil once the channel is
    /// closed or broken.
    func readNotifications() -> [Event]? {
        var buffer = [cbulwark_fanotify_event](repeating: cbulwark_fanotify_event(), count: 512)
        while true {
            let count = cbulwark_fanotify_read(notifications, &buffer, Int32(buffer.count))
            if count < 0, errno == EINTR { continue }
            if count < 0, errno == EAGAIN { return [] }
            guard count >= 0 else { return nil }
            return buffer.prefix(Int(count)).map { Event(mask: $0.mask, descriptor: $0.fd, pid: $0.pid) }
        }
    }

    /// Answers a permission event and closes its descriptor; a notification's descriptor is
    /// just closed.
    func respond(_ event: Event, allow: Bool) {
        lock.withLock {
            if event.needsResponse, !closed { _ = cbulwark_fanotify_respond(descriptor, event.descriptor, allow ? 1 : 0) }
        }
        if event.descriptor >= 0 { Glibc.close(event.descriptor) }
    }

    /// Stops permission events for the file open as `descriptor` until it is modified: what a
    /// file known to be harmless gets, so opening it again costs nothing. False when the kernel
    /// refused (mark limit).
    func ignoreOpens(of descriptor: Int32) -> Bool {
        lock.withLock { !closed && cbulwark_fanotify_ignore(self.descriptor, descriptor, UInt64(FAN_OPEN_PERM)) == 0 }
    }

    /// Takes back ``ignoreOpens(of:)``: the file's opens ask again.
    func stopIgnoringOpens(of descriptor: Int32) {
        lock.withLock { _ = closed ? 0 : cbulwark_fanotify_unignore(self.descriptor, descriptor, UInt64(FAN_OPEN_PERM)) }
    }

    /// Removes every permission mark: nothing waits on the agent any more (the watchdog's way
    /// out).
    func unmarkAll() {
        _ = cbulwark_fanotify_flush(descriptor)
    }

    /// Closing the group releases every process still waiting on it (the kernel allows them).
    func close() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            Glibc.close(descriptor)
            Glibc.close(notifications)
        }
    }
}
