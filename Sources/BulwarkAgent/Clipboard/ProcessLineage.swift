import Foundation

/// What `/proc` says about a process and its family: its program, its parents, its children.
/// Which program pastes decides where content goes, and the program that matters is not always
/// the one asking (Claude Code runs `wl-paste`; a terminal pastes for the tool running in it).
enum ProcessLineage {
    /// The program a process runs (`/proc/PID/exe`), when it is still there and visible.
    static func executablePath(of pid: pid_t) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
    }

    /// The parent, grandparent... of a process (up to `limit`, stopping at init), from
    /// `/proc/PID/stat`: an AI tool that pastes through a helper program (Claude Code runs
    /// `wl-paste`, which runs `cat`; `xclip -o` run by a script) is found above it.
    static func ancestors(of pid: pid_t, limit: Int = 4) -> [pid_t] {
        var chain: [pid_t] = []
        var current = pid
        while chain.count < limit, let parent = parent(of: current), parent > 1 {
            chain.append(parent)
            current = parent
        }
        return chain
    }

    /// The processes running now (the numeric entries of `/proc`).
    static func runningPIDs() -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
    }

    /// Every process below `pid` (children, their children...), from one pass over `/proc`.
    static func descendants(of pid: pid_t, limit: Int = 256) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        for child in runningPIDs() {
            guard let parent = parent(of: child) else { continue }
            children[parent, default: []].append(child)
        }
        var found: [pid_t] = []
        var queue = children[pid] ?? []
        while let next = queue.first, found.count < limit {
            queue.removeFirst()
            found.append(next)
            queue += children[next] ?? []
        }
        return found
    }

    /// A `/proc` file read to its end. procfs reports a size of 0 and produces long files (the
    /// socket tables) page by page, so reading "the file's size" gets the first 4 KiB at most;
    /// this reads until the kernel says end of file.
    /// (Foundation's `String(contentsOfFile:)` and `FileManager.contents(atPath:)` stop there.)
    static func readProcFile(_ path: String) -> String? {
        readProcBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The bytes of a `/proc` file read to its end (see ``readProcFile(_:)``).
    static func readProcBytes(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }

    /// The parent from `/proc/PID/stat` ("pid (comm) state ppid ...": comm may hold spaces and
    /// parentheses, so the fields are read after the last ')').
    static func parent(of pid: pid_t) -> pid_t? {
        guard let stat = readProcBytes("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 1 else { return nil }
        return pid_t(String(decoding: fields[1], as: UTF8.self))
    }
}
