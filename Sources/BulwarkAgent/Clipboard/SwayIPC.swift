import Foundation

/// The focused window of a sway (or i3-compatible) compositor, over its IPC socket
/// (`$SWAYSOCK`): what decides a paste whose reader cannot be identified, the page title a
/// browser shows, and (subscribed to window events) when the focus moves, for time in AI apps.
enum SwayFocus {
    struct Window: Equatable {
        var pid: pid_t?
        var title: String?
        var appID: String?

        /// As the focus tracker takes it.
        var focused: FocusedWindow { FocusedWindow(pid: pid, identity: WindowIdentity(title: title, wmClass: appID.map { [$0] } ?? [])) }
    }

    /// i3-ipc message types.
    enum MessageType: UInt32 {
        case subscribe = 2
        case getTree = 4
    }

    /// The focused window, or nil when there is no sway IPC or it does not answer in time.
    static func focused(socketPath: String?) -> Window? {
        guard let socketPath, let descriptor = connect(socketPath) else { return nil }
        defer { close(descriptor) }
        guard send(descriptor, .getTree, payload: ""), let payload = receive(descriptor),
              let tree = try? JSONSerialization.jsonObject(with: Data(payload))
        else { return nil }
        return find(in: tree)
    }

    /// A connection that receives a message whenever a window gains the focus, changes its
    /// title or closes; nil without sway IPC. The caller polls it and calls ``drain(_:)``.
    static func subscribeToWindowEvents(socketPath: String?) -> Int32? {
        guard let socketPath, let descriptor = connect(socketPath) else { return nil }
        guard send(descriptor, .subscribe, payload: #"["window"]"#), let reply = receive(descriptor),
              let answer = try? JSONSerialization.jsonObject(with: Data(reply)) as? [String: Any], answer["success"] as? Bool == true
        else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    /// Reads the events waiting on a subscription (their content does not matter: the tree is
    /// asked again); false when the compositor closed it.
    static func drain(_ descriptor: Int32) -> Bool {
        repeat {
            guard receive(descriptor) != nil else { return false }
            var next = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&next, 1, 0) > 0 else { return true }
        } while true
    }

    /// `$SWAYSOCK`, or the socket sway creates in `$XDG_RUNTIME_DIR`.
    static func socketPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let path = environment["SWAYSOCK"], !path.isEmpty { return path }
        guard let runtime = environment["XDG_RUNTIME_DIR"],
              let name = (try? FileManager.default.contentsOfDirectory(atPath: runtime))?.first(where: { $0.hasPrefix("sway-ipc.") && $0.hasSuffix(".sock") })
        else { return nil }
        return (runtime as NSString).appendingPathComponent(name)
    }

    private static func connect(_ socketPath: String) -> Int32? {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        // Bounded: a compositor that stops answering must not hang the watcher.
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard withUnixAddress(socketPath, { Glibc.connect(descriptor, $0, $1) }) == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    /// i3-ipc: magic, payload length, message type, payload.
    private static func send(_ descriptor: Int32, _ type: MessageType, payload: String) -> Bool {
        var request = Array("i3-ipc".utf8)
        withUnsafeBytes(of: UInt32(payload.utf8.count).littleEndian) { request += $0 }
        withUnsafeBytes(of: type.rawValue.littleEndian) { request += $0 }
        request += Array(payload.utf8)
        return writeAll(descriptor, Data(request))
    }

    private static func receive(_ descriptor: Int32) -> [UInt8]? {
        var header = [UInt8](repeating: 0, count: 14)
        guard readFully(descriptor, &header) else { return nil }
        let length = Int(header[6..<10].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
        guard length >= 0, length < 16 * 1024 * 1024 else { return nil }
        var payload = [UInt8](repeating: 0, count: length)
        guard readFully(descriptor, &payload) else { return nil }
        return payload
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
