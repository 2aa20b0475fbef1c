import BulwarkCore
import CBulwarkLinux
import Foundation
import Synchronization

/// Who processes were, kept from the kernel's process events (fork, exec, exit) for a while after
/// they exit: a `FAN_OPEN` notification is read after the fact, when a short-lived opener (Claude
/// Code's `cat`) may be gone from `/proc`, and the file guard still needs its program and parents.
final class ProcessTable: Sendable {
    struct Entry: Sendable {
        var parent: pid_t?
        var executable: String?
        var exited: ContinuousClock.Instant?
    }

    private let entries = Mutex<[pid_t: Entry]>([:])
    /// How long an exited process is remembered.
    let retention: Duration

    init(retention: Duration = .seconds(30)) {
        self.retention = retention
    }

    func forked(child: pid_t, parent: pid_t) {
        entries.withLock { entries in
            // Until it execs, a child runs its parent's program.
            entries[child] = Entry(parent: parent, executable: entries[parent]?.executable ?? ProcessLineage.executablePath(of: parent), exited: nil)
        }
    }

    func executed(_ pid: pid_t) {
        let executable = ProcessLineage.executablePath(of: pid)
        entries.withLock { entries in
            var entry = entries[pid] ?? Entry(parent: ProcessLineage.parent(of: pid), executable: nil, exited: nil)
            if let executable { entry.executable = executable }
            entries[pid] = entry
        }
    }

    /// `pid` is starting `executable` (from a fanotify exec event: known even if the process is
    /// gone before its kernel exec event is read).
    func starting(_ pid: pid_t, executable: String) {
        entries.withLock { entries in
            var entry = entries[pid] ?? Entry(parent: ProcessLineage.parent(of: pid), executable: nil, exited: nil)
            entry.executable = executable
            entries[pid] = entry
        }
    }

    func exited(_ pid: pid_t) {
        let now = ContinuousClock.now
        entries.withLock { entries in
            entries[pid]?.exited = now
            if entries.count > 8192 { entries = entries.filter { $0.value.exited.map { now - $0 < retention } ?? true } }
        }
    }

    /// The process and up to `limit` ancestors as remembered: (pid, program) pairs, nearest first.
    func lineage(of pid: pid_t, limit: Int = 5) -> [(pid: pid_t, executable: String)] {
        entries.withLock { entries in
            var chain: [(pid_t, String)] = []
            var current: pid_t? = pid
            while let next = current, chain.count < limit, let entry = entries[next] {
                if let executable = entry.executable { chain.append((next, executable)) }
                current = entry.parent
            }
            return chain
        }
    }

    /// Feeds the table from a proc connector socket until `stop` is readable (its own thread);
    /// `executed` hears each process that starts a program, after the table has it.
    static func follow(_ table: ProcessTable, stop: WatcherThread, executed: @escaping @Sendable (pid_t) -> Void = { _ in }) -> Bool {
        let descriptor = cbulwark_proc_events_open()
        guard descriptor >= 0 else { return false }
        let thread = Thread {
            defer { close(descriptor) }
            var buffer = [cbulwark_proc_event](repeating: cbulwark_proc_event(), count: 64)
            while !stop.stopRequested {
                var descriptors = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: stop.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
                guard poll(&descriptors, 2, -1) > 0, descriptors[1].revents == 0 else { continue }
                let count = cbulwark_proc_events_read(descriptor, &buffer, Int32(buffer.count))
                guard count > 0 else { continue }
                for event in buffer.prefix(Int(count)) {
                    switch event.kind {
                    case 3: table.forked(child: event.tgid, parent: event.parent)
                    case 1 where event.pid == event.tgid:
                        table.executed(event.tgid)
                        executed(event.tgid)
                    case 2 where event.pid == event.tgid: table.exited(event.tgid)
                    default: break
                    }
                }
            }
        }
        thread.name = "bulwark-file-guard-procs"
        thread.start()
        return true
    }
}
