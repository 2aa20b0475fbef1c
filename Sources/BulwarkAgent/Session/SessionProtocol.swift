import BulwarkCore
import Foundation

/// The agent ⇄ session-helper protocol on the agent's Unix socket: one JSON object per line.
///
/// helper → agent: `{"hello": {"uid": 1000, "user": "alice", "pid": 4242, "clipboard": "X11 display :0"}}`, then
/// `{"event": {"type": "paste.blocked", "v": 1, "time": "…", "data": {…}}}` per event,
/// `{"focus": {"app": "chatgpt"}}` whenever the focused AI app changes (and on connecting).
/// agent → helper: `{"policy": {"name": "…", "yaml": "…", "catalog": [AIApp…]}}` after a good hello (and on
/// policy changes), `{"notice": {…}}` for the user to see, `{"error": "…"}` before closing on a refusal.
/// The agent believes the kernel, not the hello: the peer's uid comes from SO_PEERCRED, and a
/// helper claiming another uid is refused.
public enum SessionMessage {
    public struct Hello: Codable, Sendable {
        public var uid: UInt32
        public var user: String
        public var pid: Int32
        /// What the helper guards, e.g. "X11 display :0" (absent: nothing, as `doctor`'s probe).
        public var clipboard: String?
        public init(uid: UInt32, user: String, pid: Int32, clipboard: String? = nil) {
            self.uid = uid
            self.user = user
            self.pid = pid
            self.clipboard = clipboard
        }
    }

    /// A connected helper, as the agent records it for `bulwark-agent doctor` (sessions.json).
    public struct ConnectedHelper: Codable, Sendable, Equatable {
        public var uid: UInt32
        public var user: String
        public var pid: Int32
        public var clipboard: String?
        public var since: Date
    }

    public struct PolicyPush: Codable, Sendable {
        public var name: String
        public var yaml: String
        /// The AI app catalog the agent maps programs and sites with (absent from older agents:
        /// the helper then keeps the catalog it has).
        public var catalog: [AIApp]?
        /// App sanction states from the collector (app id → state).
        public var appStates: [String: SanctionState]?
        /// Exceptions helpdesk granted, added to the policy's rules (`Policy.granting`).
        public var exceptions: [GrantedException]?
        /// Users' risk levels above low, from the collector.
        public var userRisk: [String: UserRisk]?
        public init(
            name: String, yaml: String, catalog: [AIApp]? = nil, appStates: [String: SanctionState]? = nil, exceptions: [GrantedException]? = nil,
            userRisk: [String: UserRisk]? = nil
        ) {
            self.userRisk = userRisk
            self.name = name
            self.yaml = yaml
            self.catalog = catalog
            self.appStates = appStates
            self.exceptions = exceptions
        }

        enum CodingKeys: String, CodingKey {
            case name, yaml, catalog, exceptions
            case appStates = "app_states", userRisk = "user_risk"
        }
    }

    public struct EventLine: Codable, Sendable {
        public var type: String
        public var v: Int
        public var time: Date
        public var data: [String: JSONValue]
        public init(type: String, v: Int, time: Date, data: [String: JSONValue]) {
            self.type = type
            self.v = v
            self.time = time
            self.data = data
        }
    }

    /// helper → agent: which AI app has the focus now (nil: none), so the file guard can tell
    /// a browser's upload to an AI site from any other file it opens.
    public struct FocusReport: Codable, Sendable, Equatable {
        public var app: String?
        public init(app: String?) {
            self.app = app
        }
    }

    public struct Envelope: Codable, Sendable {
        public var focus: FocusReport?
        public var hello: Hello?
        public var policy: PolicyPush?
        public var event: EventLine?
        public var error: String?
        /// agent → helper: tell the user something the agent stopped (a file an AI tool may not
        /// read, an AI tool that may not start).
        public var notice: DLPNotice?
        public init(
            hello: Hello? = nil, policy: PolicyPush? = nil, event: EventLine? = nil, error: String? = nil, notice: DLPNotice? = nil,
            focus: FocusReport? = nil
        ) {
            self.focus = focus
            self.hello = hello
            self.policy = policy
            self.event = event
            self.error = error
            self.notice = notice
        }
    }

    /// One line of the protocol (no newline inside: JSON escapes it).
    public static func encode(_ envelope: Envelope) throws -> Data {
        try WireCoding.encoder().encode(envelope) + Data("\n".utf8)
    }

    public static func decode(_ line: Data) throws -> Envelope {
        try WireCoding.decoder().decode(Envelope.self, from: line)
    }
}

/// Reads newline-delimited lines from a file descriptor (blocking), with a cap per line.
struct LineReader {
    let descriptor: Int32
    let maxLine: Int
    private var buffer = Data()

    init(descriptor: Int32, maxLine: Int = 4 * 1024 * 1024) {
        self.descriptor = descriptor
        self.maxLine = maxLine
    }

    enum Failure: Error { case closed, lineTooLong }

    mutating func next() throws(Failure) -> Data {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                return Data(line)
            }
            guard buffer.count <= maxLine else { throw .lineTooLong }
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            let count = read(descriptor, &chunk, chunk.count)
            guard count > 0 else { throw .closed }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }
}

/// Calls `body` with a Unix socket address for `path` (bind or connect), or returns nil when
/// the path does not fit `sun_path`.
func withUnixAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T? {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

/// A listening Unix stream socket at `path` (whatever was there is replaced), given `mode`;
/// `what` names it in errors (`session socket`).
func listenOnUnixSocket(_ path: String, mode: mode_t, backlog: Int32 = 16, what: String) throws(UnixSocketFailure) -> Int32 {
    unlink(path)
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard descriptor >= 0 else { throw UnixSocketFailure(description: "cannot create the \(what): \(String(cString: strerror(errno)))") }
    guard let bound = withUnixAddress(path, { bind(descriptor, $0, $1) }) else {
        close(descriptor)
        throw UnixSocketFailure(description: "\(what) path too long: \(path)")
    }
    guard bound == 0, listen(descriptor, backlog) == 0 else {
        let reason = String(cString: strerror(errno))
        close(descriptor)
        throw UnixSocketFailure(description: "cannot listen on \(path): \(reason)")
    }
    chmod(path, mode)
    return descriptor
}

/// Why a Unix socket could not be made to listen.
struct UnixSocketFailure: Error, CustomStringConvertible {
    public var description: String
}

/// Writes all of `data` to a descriptor; false when the other end is gone.
func writeAll(_ descriptor: Int32, _ data: Data) -> Bool {
    data.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let written = send(descriptor, raw.baseAddress.map { $0 + offset }, raw.count - offset, Int32(MSG_NOSIGNAL))
            if written <= 0 { return false }
            offset += written
        }
        return true
    }
}
