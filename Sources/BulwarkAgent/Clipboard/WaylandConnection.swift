import CBulwarkLinux
import Foundation

/// A Wayland client connection speaking the wire protocol directly (Unix socket, 32-bit words,
/// file descriptors passed with SCM_RIGHTS): nothing to install, and a headless host never
/// loads a Wayland library. The clipboard guard needs a handful of interfaces; each message
/// is encoded and decoded by the caller with `WaylandArguments` and `WaylandArgumentReader`.
final class WaylandConnection {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// One event: which object, which opcode, its argument bytes.
    struct Event {
        var object: UInt32
        var opcode: UInt16
        var arguments: [UInt8]
    }

    /// The Wayland object id of `wl_display`.
    static let display: UInt32 = 1

    let descriptor: Int32
    /// The compositor's process (SO_PEERCRED), never taken for a pasting client.
    let compositorPID: pid_t
    private var nextID: UInt32 = 2
    private var buffer: [UInt8] = []
    private var descriptors: [Int32] = []

    /// The socket: `$WAYLAND_DISPLAY` (a name in `$XDG_RUNTIME_DIR`, or an absolute path),
    /// `wayland-0` when unset.
    static func socketPath(display: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(Failure) -> String {
        let name = display ?? environment["WAYLAND_DISPLAY"] ?? "wayland-0"
        if name.hasPrefix("/") { return name }
        guard let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty else {
            throw Failure(description: "XDG_RUNTIME_DIR is not set, so the Wayland socket \(name) cannot be found")
        }
        return (runtime as NSString).appendingPathComponent(name)
    }

    init(path: String) throws(Failure) {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "cannot create a socket: \(String(cString: strerror(errno)))") }
        let connected = withUnixAddress(path) { Glibc.connect(descriptor, $0, $1) } ?? -1
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw Failure(description: "cannot connect to the Wayland compositor at \(path): \(reason)")
        }
        var pid: pid_t = 0, uid: uid_t = 0, gid: gid_t = 0
        _ = cbulwark_peer_credentials(descriptor, &pid, &uid, &gid)
        self.descriptor = descriptor
        compositorPID = pid
    }

    deinit {
        close(descriptor)
        for passed in descriptors { close(passed) }
    }

    /// A fresh object id for a `new_id` argument.
    func newID() -> UInt32 {
        defer { nextID += 1 }
        return nextID
    }

    /// Sends a request; `fds` travel with it (for `fd` arguments, in argument order).
    func send(_ object: UInt32, _ opcode: UInt16, _ arguments: WaylandArguments = WaylandArguments(), fds: [Int32] = []) throws(Failure) {
        let size = 8 + arguments.bytes.count
        var message = WaylandArguments()
        message.uint(object)
        message.uint(UInt32(size) << 16 | UInt32(opcode))
        let bytes = message.bytes + arguments.bytes
        let sent = bytes.withUnsafeBytes { raw in
            fds.withUnsafeBufferPointer { cbulwark_send_with_fds(descriptor, raw.baseAddress, UInt(raw.count), $0.baseAddress, Int32($0.count)) }
        }
        guard sent == bytes.count else { throw Failure(description: "the compositor connection failed: \(String(cString: strerror(errno)))") }
    }

    /// Reads what the compositor sent (blocking until something arrives) and returns the whole
    /// events; an empty array when only part of one arrived.
    func receive() throws(Failure) -> [Event] {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var passed = [Int32](repeating: -1, count: 28)
        var count: Int32 = 0
        let received = chunk.withUnsafeMutableBytes { raw in
            cbulwark_receive_with_fds(descriptor, raw.baseAddress, UInt(raw.count), &passed, Int32(passed.count), &count)
        }
        if received < 0, errno == EINTR || errno == EAGAIN { return [] }
        guard received > 0 else { throw Failure(description: "the compositor closed the connection") }
        buffer += chunk[0..<received]
        descriptors += passed.prefix(Int(count))
        guard buffer.count <= 4 * 1024 * 1024 else { throw Failure(description: "the compositor sent more than 4 MiB without a whole message") }
        var events: [Event] = []
        var offset = 0
        while buffer.count - offset >= 8 {
            var reader = WaylandArgumentReader(bytes: Array(buffer[offset..<offset + 8]))
            let object = reader.uint()
            let word = reader.uint()
            let size = Int(word >> 16)
            guard size >= 8 else { throw Failure(description: "malformed message from the compositor (size \(size))") }
            guard buffer.count - offset >= size else { break }
            events.append(Event(object: object, opcode: UInt16(word & 0xffff), arguments: Array(buffer[offset + 8..<offset + size])))
            offset += size
        }
        buffer.removeFirst(offset)
        return events
    }

    /// The next file descriptor passed with the events received so far (for an `fd` argument).
    func takeDescriptor() -> Int32? {
        descriptors.isEmpty ? nil : descriptors.removeFirst()
    }
}

/// Encodes request arguments: 32-bit native-endian words, strings length-prefixed with their
/// NUL and padded to 4 bytes.
struct WaylandArguments {
    private(set) var bytes: [UInt8] = []

    mutating func uint(_ value: UInt32) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8) + [0]
        uint(UInt32(utf8.count))
        bytes += utf8
        while bytes.count % 4 != 0 { bytes.append(0) }
    }
}

/// Decodes event arguments; reading past the end yields zeros and empty strings, never a crash.
struct WaylandArgumentReader {
    let bytes: [UInt8]
    private var offset = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func uint() -> UInt32 {
        guard offset + 4 <= bytes.count else {
            offset = bytes.count
            return 0
        }
        defer { offset += 4 }
        return bytes[offset..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
    }

    /// A string argument (nil for a null string).
    mutating func string() -> String? {
        let length = Int(uint())
        guard length > 0, offset + length <= bytes.count else { return nil }
        defer { offset += (length + 3) / 4 * 4 }
        return String(decoding: bytes[offset..<offset + length - 1], as: UTF8.self)
    }
}
