import Foundation

/// Who holds the other end of a pipe: on Wayland the pasting client creates a pipe and passes
/// its write end (through the compositor) to the selection's owner, so the process holding the
/// read end — found by the pipe's inode in `/proc/*/fd` — is the one pasting. The kernel's
/// bookkeeping, not the client's say-so; limited to processes whose `/proc/PID/fd` we may read
/// (the helper's own user's).
enum PipeReaders {
    /// The newest process other than `excluding` with a descriptor on the same pipe as
    /// `descriptor` (a paste usually comes from a fresh `wl-paste`, found at once, or a
    /// long-running app; the newest holder is the likelier reader when a pipe was inherited).
    static func reader(of descriptor: Int32, excluding: Set<pid_t>) -> pid_t? {
        // The reader may hand its end to a child while we look (wl-paste runs `cat`): a child
        // born after the listing and a parent that closed its copy meanwhile are both missed, so
        // look again with a fresh listing.
        for _ in 0..<3 {
            if let pid = scan(descriptor, excluding: excluding) { return pid }
        }
        return nil
    }

    private static func scan(_ descriptor: Int32, excluding: Set<pid_t>) -> pid_t? {
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFIFO else { return nil }
        let target = "pipe:[\(status.st_ino)]"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        let pids = entries.compactMap { pid_t($0) }.filter { !excluding.contains($0) }.sorted(by: >)
        var link = [CChar](repeating: 0, count: 64)
        for pid in pids {
            guard let directory = opendir("/proc/\(pid)/fd") else { continue }
            defer { closedir(directory) }
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
                guard name.first?.isNumber == true else { continue }
                let length = readlink("/proc/\(pid)/fd/\(name)", &link, link.count - 1)
                guard length > 0 else { continue }
                let text = link.prefix(length).withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self) }
                if text == target { return pid }
            }
        }
        return nil
    }
}
