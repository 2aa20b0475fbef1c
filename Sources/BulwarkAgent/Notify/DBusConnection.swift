import Foundation

/// A connection to a D-Bus message bus (the user's session bus, for notifications), speaking
/// the wire protocol directly: Unix socket, SASL EXTERNAL, then messages. No libdbus, so the
/// agent needs nothing installed for it and a broken or hostile bus can only produce errors.
///
/// Calls block the caller until the reply arrives or `timeout` passes; incoming signals and
/// method calls go to the message handler on the connection's reader thread. `disconnect()`
/// ends it.
public final class DBusConnection: @unchecked Sendable {
    // `serial`, `pending`, `replies`, `closed` and `onMessage` are shared between the reader
    // thread and callers, behind `condition`; `descriptor` is written by callers under `writeLock`.

    public enum Failure: Error, CustomStringConvertible {
        case noAddress
        case unsupportedAddress(String)
        case connect(String, String)
        case authentication(String)
        case closed
        case timeout(String)
        case remote(name: String, message: String)
        case format(DBusFormatError)

        public var description: String {
            switch self {
            case .noAddress: "no session bus: DBUS_SESSION_BUS_ADDRESS is not set and /run/user/UID/bus does not exist"
            case .unsupportedAddress(let address): "unsupported D-Bus address '\(address)' (only unix:path= and unix:abstract= are supported)"
            case .connect(let address, let reason): "cannot connect to the session bus at \(address): \(reason)"
            case .authentication(let reason): "the session bus refused authentication: \(reason)"
            case .closed: "the session bus connection closed"
            case .timeout(let member): "no reply to \(member) from the session bus within the timeout"
            case .remote(let name, let message): "\(name): \(message)"
            case .format(let error): "malformed D-Bus message: \(error)"
            }
        }
    }

    /// The bus's name for this connection (`:1.42`).
    public private(set) var uniqueName = ""
    private let descriptor: Int32
    private let condition = NSCondition()
    private let writeLock = NSLock()
    private var serial: UInt32 = 0
    private var replies: [UInt32: DBusMessage] = [:]
    private var closed = false
    private var onMessage: (@Sendable (DBusMessage) -> Void)?

    /// The session bus named by `DBUS_SESSION_BUS_ADDRESS`, or the systemd default
    /// `/run/user/UID/bus`.
    public static func sessionBusAddress(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let address = environment["DBUS_SESSION_BUS_ADDRESS"], !address.isEmpty { return address }
        let path = "/run/user/\(getuid())/bus"
        return FileManager.default.fileExists(atPath: path) ? "unix:path=\(path)" : nil
    }

    /// Connects, authenticates as this process's uid and says Hello.
    public init(address: String, timeout: Duration = .seconds(2)) throws(Failure) {
        descriptor = try Self.open(address)
        do {
            try Self.authenticate(descriptor)
        } catch {
            close(descriptor)
            throw error
        }
        let thread = Thread { [self] in readLoop() }
        thread.name = "bulwark-dbus"
        thread.start()
        do {
            let hello = try call(
                .methodCall(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "Hello"),
                timeout: timeout)
            uniqueName = hello.body.first?.stringValue ?? ""
        } catch {
            disconnect()
            throw error
        }
    }

    /// Receives signals (subject to `addMatch`) and method calls addressed to this connection.
    public func setMessageHandler(_ handler: @escaping @Sendable (DBusMessage) -> Void) {
        condition.withLock { onMessage = handler }
    }

    /// Asks the bus to route matching signals here (`type='signal',interface='…'`).
    public func addMatch(_ rule: String, timeout: Duration = .seconds(2)) throws(Failure) {
        _ = try call(
            .methodCall(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "AddMatch", body: [.string(rule)]),
            timeout: timeout)
    }

    /// Sends a method call and waits for its reply; an error reply is thrown.
    @discardableResult
    public func call(_ message: DBusMessage, timeout: Duration = .seconds(2)) throws(Failure) -> DBusMessage {
        let serial = try send(message)
        let deadline = Date(timeIntervalSinceNow: Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        let reply: DBusMessage? = condition.withLock {
            while replies[serial] == nil, !closed {
                if !condition.wait(until: deadline) { break }
            }
            return replies.removeValue(forKey: serial)
        }
        guard let reply else {
            if condition.withLock({ closed }) { throw .closed }
            throw .timeout(message.member ?? "call")
        }
        if reply.kind == .error {
            throw .remote(name: reply.errorName ?? "org.freedesktop.DBus.Error.Failed", message: reply.body.first?.stringValue ?? "")
        }
        return reply
    }

    /// Sends without waiting; returns the serial used.
    @discardableResult
    public func send(_ message: DBusMessage) throws(Failure) -> UInt32 {
        var message = message
        message.serial = condition.withLock {
            serial &+= 1
            if serial == 0 { serial = 1 }
            return serial
        }
        let bytes = message.encoded()
        let written = writeLock.withLock { writeAll(descriptor, Data(bytes)) }
        guard written else { throw .closed }
        return message.serial
    }

    public var isClosed: Bool { condition.withLock { closed } }

    /// Closes the connection; pending calls fail with `.closed`. The reader thread keeps the
    /// connection alive until then.
    public func disconnect() {
        Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    // MARK: Reading (reader thread)

    private func readLoop() {
        defer {
            condition.withLock {
                closed = true
                condition.broadcast()
            }
            close(descriptor)
        }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            // Take whole messages off the front of the buffer.
            while buffer.count >= 16 {
                guard let total = try? DBusMessage.totalSize(fixedHeader: Array(buffer.prefix(16))) else { return }
                guard buffer.count >= total else { break }
                let bytes = Array(buffer.prefix(total))
                buffer.removeFirst(total)
                guard let message = try? DBusMessage.decode(bytes) else { return }
                deliver(message)
            }
            let count = recv(descriptor, &chunk, chunk.count, 0)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            buffer += chunk[0..<count]
        }
    }

    private func deliver(_ message: DBusMessage) {
        switch message.kind {
        case .methodReturn, .error:
            guard let serial = message.replySerial else { return }
            condition.withLock {
                replies[serial] = message
                condition.broadcast()
            }
        case .signal, .methodCall:
            let handler = condition.withLock { onMessage }
            handler?(message)
        }
    }

    // MARK: Connecting

    private static func open(_ address: String) throws(Failure) -> Int32 {
        // A bus address may list alternatives separated by ';': use the first we can.
        for candidate in address.split(separator: ";") {
            guard candidate.hasPrefix("unix:") else { continue }
            var path: String?
            var abstract = false
            for pair in candidate.dropFirst(5).split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let value = unescape(String(parts[1]))
                if parts[0] == "path" { path = value }
                if parts[0] == "abstract" {
                    path = value
                    abstract = true
                }
            }
            guard let path else { continue }
            let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { throw .connect(address, String(cString: strerror(errno))) }
            var result: Int32 = -1
            if abstract {
                result = withAbstractAddress(path) { Glibc.connect(descriptor, $0, $1) } ?? -1
            } else {
                result = withUnixAddress(path) { Glibc.connect(descriptor, $0, $1) } ?? -1
            }
            guard result == 0 else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                throw .connect(address, reason)
            }
            return descriptor
        }
        throw .unsupportedAddress(address)
    }

    /// D-Bus addresses escape bytes as %XX.
    private static func unescape(_ value: String) -> String {
        guard value.contains("%") else { return value }
        var bytes: [UInt8] = []
        var iterator = Array(value.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let decoded = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(decoded)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func withAbstractAddress<T>(_ name: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8)
        guard bytes.count + 1 < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw[0] = 0  // abstract namespace: leading NUL, no terminator
            for (index, byte) in bytes.enumerated() { raw[index + 1] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// SASL EXTERNAL: the bus checks our uid against the socket's credentials.
    private static func authenticate(_ descriptor: Int32) throws(Failure) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        defer {
            var none = timeval(tv_sec: 0, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &none, socklen_t(MemoryLayout<timeval>.size))
        }
        let uid = String(getuid()).utf8.map { String(format: "%02x", $0) }.joined()
        guard writeAll(descriptor, Data([0]) + Data("AUTH EXTERNAL \(uid)\r\n".utf8)) else { throw .authentication("connection closed") }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count < 512 {
            guard recv(descriptor, &byte, 1, 0) == 1 else { throw .authentication("no answer") }
            if byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        let answer = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard answer.hasPrefix("OK ") else { throw .authentication(answer.isEmpty ? "no answer" : answer) }
        guard writeAll(descriptor, Data("BEGIN\r\n".utf8)) else { throw .authentication("connection closed") }
    }
}
