import BulwarkCore
import Foundation
import Logging

/// Finds local AI servers: TCP sockets listening on an AI app's port (`/proc/net/tcp{,6}`),
/// attributed to the owning process through the socket's inode, and confirmed either by that
/// process being the app or by the app's cheap HTTP probe (Ollama's `GET /api/tags`, which also
/// lists the models it serves). A port alone proves nothing: unconfirmed listeners are not
/// reported. Emits `ai.listener.started` / `ai.listener.stopped` on change only.
public final class ListenerSensor: @unchecked Sendable {
    // `known` is touched only by `run`'s task.

    public struct Listener: Sendable, Equatable {
        public var app: AIApp
        public var port: Int
        public var pid: pid_t?
        public var executable: String?
        public var models: [String]
        /// `process` or `probe`.
        public var confirmedBy: String
    }

    let catalogSource: CatalogSource
    var catalog: AIAppCatalog { catalogSource.current }
    let spool: SpoolStore
    let logger: Logger
    let interval: Duration
    private var known: [Int: Listener] = [:]

    let discovery: DiscoveryState

    public init(
        catalog: CatalogSource = CatalogSource(), discovery: DiscoveryState = DiscoveryState(), spool: SpoolStore, logger: Logger,
        interval: Duration = .seconds(30)
    ) {
        catalogSource = catalog
        self.discovery = discovery
        self.spool = spool
        self.logger = logger
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isCancelled {
            cycle()
            try await Task.sleep(for: interval)
        }
    }

    /// One look: new listeners start, vanished ones stop (public for `bulwark-bench discovery`).
    public func cycle() {
        let found = discover()
        for (port, listener) in found where known[port] != listener {
            if let previous = known[port], previous.app.id != listener.app.id { record(EventType.aiListenerStopped, previous) }
            record(EventType.aiListenerStarted, listener)
        }
        for (port, listener) in known where found[port] == nil {
            record(EventType.aiListenerStopped, listener)
            discovery.set("listener:\(port)", nil)
        }
        for (port, listener) in found {
            let user = listener.pid.flatMap { AIProgramMatcher.uid(of: $0) }.flatMap(SessionServer.userName)
            discovery.set("listener:\(port)", .init(app: listener.app.id, category: listener.app.category, evidence: "listener", user: user))
        }
        known = found
    }

    func discover() -> [Int: Listener] {
        let byPort = Dictionary(grouping: catalog.apps.flatMap { app in app.ports.map { ($0, app) } }, by: \.0).mapValues { $0.map(\.1) }
        var found: [Int: Listener] = [:]
        for socket in TCPTable.sockets() where socket.state == TCPTable.listening && byPort[socket.localPort] != nil {
            let (port, inode) = (socket.localPort, socket.inode)
            let pid = Self.owner(ofSocket: inode)
            let sighting = pid.flatMap { AIProgramMatcher(catalog: catalog).identify(pid: $0) }
            let executable = pid.flatMap(ProcessLineage.executablePath(of:))
            for app in byPort[port] ?? [] {
                let models = app.probe.flatMap { Self.probe(port: port, path: $0) }
                if sighting?.app.id == app.id || models != nil {
                    found[port] = Listener(
                        app: app, port: port, pid: pid, executable: executable, models: models ?? [],
                        confirmedBy: sighting?.app.id == app.id ? "process" : "probe")
                    break
                }
            }
        }
        return found
    }

    private func record(_ type: String, _ listener: Listener) {
        var data: [String: JSONValue] = [
            "app": .string(listener.app.id), "category": .string(listener.app.category), "port": .number(Double(listener.port)),
            "evidence": .string("listener"), "confirmed_by": .string(listener.confirmedBy),
        ]
        if let pid = listener.pid { data["pid"] = .number(Double(pid)) }
        if let executable = listener.executable { data["exe"] = .string(executable) }
        if type == EventType.aiListenerStarted { data["models"] = .array(listener.models.prefix(200).map(JSONValue.string)) }
        spool.record(type, data, logger: logger)
    }

    /// The process holding `socket:[inode]`.
    static func owner(ofSocket inode: UInt64) -> pid_t? {
        let target = "socket:[\(inode)]"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(entry)/fd") else { continue }
            for descriptor in descriptors where (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/fd/\(descriptor)")) == target {
                return pid
            }
        }
        return nil
    }

    /// `GET path` on 127.0.0.1:port within a second: the model names when the answer is an
    /// Ollama model list (`models[].name`) or an OpenAI-style one (`data[].id`), nil otherwise.
    static func probe(port: Int, path: String) -> [String]? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0, writeAll(descriptor, Data("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\nAccept: application/json\r\n\r\n".utf8))
        else { return nil }
        var response = Data()
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while response.count < 4 * 1024 * 1024 {
            let count = recv(descriptor, &chunk, chunk.count, 0)
            guard count > 0 else { break }
            response.append(contentsOf: chunk[0..<count])
        }
        guard let separator = response.range(of: Data("\r\n\r\n".utf8)), response.starts(with: Data("HTTP/1.".utf8)),
              String(decoding: response.prefix(16), as: UTF8.self).contains(" 200"),
              let body = try? JSONSerialization.jsonObject(with: response[separator.upperBound...]) as? [String: Any]
        else { return nil }
        if let models = body["models"] as? [[String: Any]] { return models.compactMap { $0["name"] as? String } }
        if let data = body["data"] as? [[String: Any]] { return data.compactMap { $0["id"] as? String } }
        return nil
    }
}
