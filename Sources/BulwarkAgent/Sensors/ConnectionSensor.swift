import BulwarkCore
import Foundation
import Logging

/// Which programs talk to AI APIs: the catalog's API hosts (`api.openai.com`, ...) are resolved
/// (and re-resolved every `resolveInterval`), and every `interval` the established TCP
/// connections in `/proc/net/tcp{,6}` whose remote address is one of them are attributed to
/// their process through the socket inode. Catches CLIs and scripts that browser-based tools
/// never see. API hosts sit behind shared CDNs, so an address match is evidence, not proof:
/// events say which host the address belonged to when it was resolved. Emits `ai.api.connection`
/// once per process and app.
public final class ConnectionSensor: @unchecked Sendable {
    // `addresses` is behind `lock` (resolvers update it); `reported` is touched only by the scan loop.

    let catalogSource: CatalogSource
    var catalog: AIAppCatalog { catalogSource.current }
    let spool: SpoolStore
    let logger: Logger
    let interval: Duration
    let resolveInterval: Duration
    /// Host → its addresses (as `inet_ntop` writes them) and app.
    private var addresses: [String: (app: AIApp, addresses: Set<String>)] = [:]
    private let lock = NSLock()
    /// (pid, app) pairs already reported.
    private var reported: Set<String> = []

    public init(catalog: CatalogSource = CatalogSource(), spool: SpoolStore, logger: Logger, interval: Duration = .seconds(30),
                resolveInterval: Duration = .seconds(600)) {
        catalogSource = catalog
        self.spool = spool
        self.logger = logger
        self.interval = interval
        self.resolveInterval = resolveInterval
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Resolving never holds up scanning: a slow or failing DNS server delays only its host.
            group.addTask {
                while !Task.isCancelled {
                    await self.resolve()
                    try await Task.sleep(for: self.resolveInterval)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    self.cycle()
                    try await Task.sleep(for: self.interval)
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// One look at the socket table (public for `bulwark-bench discovery`).
    public func cycle() {
        let byAddress = lock.withLock {
            Dictionary(addresses.flatMap { host, entry in entry.addresses.map { ($0, (app: entry.app, host: host)) } }, uniquingKeysWith: { first, _ in first })
        }
        guard !byAddress.isEmpty else { return }
        var alive: Set<String> = []
        for connection in TCPTable.sockets() where connection.state == TCPTable.established {
            guard let (app, host) = byAddress[connection.remoteAddress], let pid = ListenerSensor.owner(ofSocket: connection.inode) else { continue }
            let key = "\(pid)/\(app.id)"
            alive.insert(key)
            guard !reported.contains(key) else { continue }
            reported.insert(key)
            var data: [String: JSONValue] = [
                "app": .string(app.id), "category": .string(app.category), "host": .string(host), "remote_port": .number(Double(connection.remotePort)),
                "pid": .number(Double(pid)), "evidence": .string("connection"),
            ]
            if let executable = ProcessLineage.executablePath(of: pid) { data["exe"] = .string(executable) }
            if let uid = AIProgramMatcher.uid(of: pid) {
                data["uid"] = .number(Double(uid))
                if let user = SessionServer.userName(uid) { data["user"] = .string(user) }
            }
            spool.record(EventType.aiAPIConnection, data, logger: logger)
        }
        reported.formIntersection(alive)  // a later connection of a new process is news again
    }

    /// The addresses of every API host in the catalog, each host on its own thread (getaddrinfo
    /// blocks), each updating the map as soon as it has an answer.
    public func resolve() async {
        await withTaskGroup(of: Void.self) { group in
            for app in catalog.apps where app.category == "ai_api" {
                for host in app.domains {
                    group.addTask {
                        let found = await withCheckedContinuation { continuation in
                            DispatchQueue.global().async { continuation.resume(returning: Self.addresses(of: host)) }
                        }
                        self.lock.withLock { self.addresses[host] = (app, Set(found)) }
                    }
                }
            }
        }
    }

    static func addresses(of host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var found: [String] = []
        var next = list
        while let entry = next {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            if entry.pointee.ai_family == AF_INET, let address = entry.pointee.ai_addr {
                var ip = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                if inet_ntop(AF_INET, &ip, &buffer, socklen_t(buffer.count)) != nil { found.append(String(cString: buffer)) }
            } else if entry.pointee.ai_family == AF_INET6, let address = entry.pointee.ai_addr {
                var ip = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                if inet_ntop(AF_INET6, &ip, &buffer, socklen_t(buffer.count)) != nil { found.append(String(cString: buffer)) }
            }
            next = entry.pointee.ai_next
        }
        return found
    }
}

/// The kernel's TCP socket tables (`/proc/net/tcp`, `/proc/net/tcp6`).
enum TCPTable {
    static let established = "01"
    static let listening = "0A"

    struct Socket {
        /// Hex state code: `01` established, `0A` listening.
        var state: Substring
        var localPort: Int
        /// `inet_ntop` form.
        var remoteAddress: String
        var remotePort: Int
        var inode: UInt64
    }

    static func sockets() -> [Socket] {
        var sockets: [Socket] = []
        for (table, family) in [("/proc/net/tcp", AF_INET), ("/proc/net/tcp6", AF_INET6)] {
            guard let text = ProcessLineage.readProcFile(table) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 9, let local = endpoint(fields[1], family: family), let remote = endpoint(fields[2], family: family),
                      let inode = UInt64(fields[9]), inode != 0
                else { continue }
                sockets.append(Socket(state: fields[3], localPort: local.port, remoteAddress: remote.address, remotePort: remote.port, inode: inode))
            }
        }
        return sockets
    }

    /// `0100007F:01BB` → (`127.0.0.1`, 443).
    static func endpoint(_ field: Substring, family: Int32) -> (address: String, port: Int)? {
        guard let colon = field.lastIndex(of: ":"), let port = Int(field[field.index(after: colon)...], radix: 16),
              let address = address(hex: field[..<colon], family: family)
        else { return nil }
        return (address, port)
    }

    /// Addresses are the kernel's bytes printed as native-endian 32-bit words, in hex.
    static func address(hex: Substring, family: Int32) -> String? {
        guard hex.count == (family == AF_INET ? 8 : 32) else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let end = hex.index(index, offsetBy: 8)
            guard let word = UInt32(hex[index..<end], radix: 16) else { return nil }
            withUnsafeBytes(of: word.littleEndian) { bytes += $0 }
            index = end
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return written == nil ? nil : String(cString: buffer)
    }
}
