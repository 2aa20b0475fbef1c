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

/// The focused window of a sway (or i3-compatible) compositor, over its IPC socket
/// (`$SWAYSOCK`): what decides a paste whose reader cannot be identified, and the page title
/// a browser shows.
enum SwayFocus {
    struct Window {
        var pid: pid_t?
        var title: String?
        var appID: String?
    }

    /// The focused window, or nil when there is no sway IPC or it does not answer in time.
    static func focused(socketPath: String?) -> Window? {
        guard let socketPath else { return nil }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard withUnixAddress(socketPath, { Glibc.connect(descriptor, $0, $1) }) == 0 else { return nil }
        // i3-ipc: magic, payload length, message type (4: GET_TREE), payload.
        var request = Array("i3-ipc".utf8)
        withUnsafeBytes(of: UInt32(0).littleEndian) { request += $0 }
        withUnsafeBytes(of: UInt32(4).littleEndian) { request += $0 }
        guard writeAll(descriptor, Data(request)) else { return nil }
        var header = [UInt8](repeating: 0, count: 14)
        guard readFully(descriptor, &header) else { return nil }
        let length = Int(header[6..<10].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
        guard length > 0, length < 16 * 1024 * 1024 else { return nil }
        var payload = [UInt8](repeating: 0, count: length)
        guard readFully(descriptor, &payload), let tree = try? JSONSerialization.jsonObject(with: Data(payload)) else { return nil }
        return find(in: tree)
    }

    /// `$SWAYSOCK`, or the socket sway creates in `$XDG_RUNTIME_DIR`.
    static func socketPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let path = environment["SWAYSOCK"], !path.isEmpty { return path }
        guard let runtime = environment["XDG_RUNTIME_DIR"],
              let name = (try? FileManager.default.contentsOfDirectory(atPath: runtime))?.first(where: { $0.hasPrefix("sway-ipc.") && $0.hasSuffix(".sock") })
        else { return nil }
        return (runtime as NSString).appendingPathComponent(name)
    }

    private static func find(in node: Any) -> Window? {
        guard let object = node as? [String: Any] else { return nil }
        if object["focused"] as? Bool == true, object["pid"] != nil {
            let properties = object["window_properties"] as? [String: Any]
            return Window(
                pid: (object["pid"] as? NSNumber).map { pid_t(truncating: $0) }, title: object["name"] as? String,
                appID: object["app_id"] as? String ?? properties?["class"] as? String)
        }
        for key in ["nodes", "floating_nodes"] {
            for child in object[key] as? [Any] ?? [] {
                if let window = find(in: child) { return window }
            }
        }
        return nil
    }

    private static func readFully(_ descriptor: Int32, _ bytes: inout [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeMutableBytes { raw in recv(descriptor, raw.baseAddress.map { $0 + offset }, raw.count - offset, 0) }
            guard count > 0 else { return false }
            offset += count
        }
        return true
    }
}
