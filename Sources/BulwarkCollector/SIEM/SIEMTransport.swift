import AsyncHTTPClient
import BulwarkCore
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Where events go: a SIEM the analysts already use. `deliver` returns once the batch is handed
/// over (written and flushed to TLS for syslog, acknowledged for HEC) or throws; the forwarder
/// moves its cursor only then (at least once).
protocol SIEMTransport: Sendable {
    /// The cursor's key (`syslog:host:port`, `hec:url`).
    var name: String { get }
    /// Hands the batch over; for a stream without acknowledgements (syslog over TLS), the
    /// connection it was written on, else nil (the SIEM acknowledged it).
    func deliver(_ events: [RawEvent], hostnames: [String: String]) async throws -> Int?
    /// Whether connection `generation` is still up: what was written on it is taken as received
    /// once it outlived the write.
    func isAlive(_ generation: Int) -> Bool
    func close() async
}

struct SIEMError: Error, CustomStringConvertible {
    var description: String
}

/// RFC 5424 messages over TLS (RFC 5425), one connection kept open and re-made after a failure.
/// TLS 1.2+, the server's certificate checked against the given CA and its name.
final class SyslogTLSTransport: SIEMTransport, @unchecked Sendable {
    // `channel` is behind `lock`.
    let host: String
    let port: Int
    let name: String
    private let tls: NIOSSLContext
    private let lock = NSLock()
    private var channel: (any Channel)?
    /// Counts connections made.
    private var generation = 0

    init(host: String, port: Int, caPath: String) throws {
        self.host = host
        self.port = port
        name = "syslog:\(host):\(port)"
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
        tls = try NIOSSLContext(configuration: configuration)
    }

    func deliver(_ events: [RawEvent], hostnames: [String: String]) async throws -> Int? {
        let (channel, generation) = try await connected()
        var buffer = channel.allocator.buffer(capacity: events.count * 512)
        for event in events { buffer.writeBytes(SyslogFormat.frame(event, hostname: hostnames[event.agent] ?? event.agent)) }
        do {
            try await channel.writeAndFlush(buffer)
        } catch {
            drop(channel)
            throw SIEMError(description: "syslog \(host):\(port): write failed: \(error)")
        }
        return generation
    }

    func isAlive(_ generation: Int) -> Bool {
        lock.withLock { self.generation == generation && (channel?.isActive ?? false) }
    }

    private func connected() async throws -> (any Channel, Int) {
        if let current = lock.withLock({ channel.map { ($0, generation) } }), current.0.isActive { return current }
        let (tls, host) = (tls, host)
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // An IP address is checked against the certificate's IP names, a name against its DNS names.
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: Self.isIPAddress(host) ? nil : host))
                    }
                }
                .connect(host: host, port: port).get()
            let generation = lock.withLock {
                self.channel = channel
                self.generation += 1
                return self.generation
            }
            return (channel, generation)
        } catch {
            throw SIEMError(description: "syslog \(host):\(port): cannot connect over TLS: \(error)")
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    private func drop(_ channel: any Channel) {
        lock.withLock { if self.channel === channel { self.channel = nil } }
        channel.close(promise: nil)
    }

    func close() async {
        let channel = lock.withLock { () -> (any Channel)? in
            defer { self.channel = nil }
            return self.channel
        }
        try? await channel?.close()
    }
}

/// Splunk HTTP Event Collector (or a compatible receiver): a batch is one POST of concatenated
/// `{"time", "host", "source", "sourcetype", "event"}` objects, `Authorization: Splunk TOKEN`;
/// delivered when it answers 200 with code 0.
final class HECTransport: SIEMTransport, @unchecked Sendable {
    let url: String
    let name: String
    private let token: String
    private let client: HTTPClient

    init(url: String, token: String, caPath: String?) throws {
        self.url = url
        self.token = token
        name = "hec:\(url)"
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let caPath { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath)) }
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
    }

    func isAlive(_ generation: Int) -> Bool { true }

    func deliver(_ events: [RawEvent], hostnames: [String: String]) async throws -> Int? {
        var body = ByteBuffer()
        for event in events {
            body.writeString(#"{"time":\#(Double(event.time.millis) / 1000),"host":"#)
            body.writeString(JSONValue.string(hostnames[event.agent] ?? event.agent).jsonText)
            body.writeString(#","source":"bulwark","sourcetype":"bulwark:event","event":"#)
            EventExport.appendNDJSON(event, to: &body)
            body.moveWriterIndex(to: body.writerIndex - 1)  // the line's newline
            body.writeString("}\n")
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Splunk \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(body)
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(30))
        } catch {
            throw SIEMError(description: "HEC \(url): \(error)")
        }
        let answer = String(buffer: try await response.body.collect(upTo: 64 * 1024))
        guard response.status == .ok, answer.contains(#""code":0"#) || answer.contains(#""code": 0"#) else {
            throw SIEMError(description: "HEC \(url) answered \(response.status.code): \(answer.prefix(300))")
        }
        return nil
    }

    func close() async {
        try? await client.shutdown()
    }
}

/// A SIEM as `serve` is told about it.
public enum SIEMDestination: Sendable {
    /// Syslog over TLS: host, port, the CA its certificate is checked against.
    case syslog(host: String, port: Int, caPath: String)
    /// Splunk HEC: the event endpoint URL, the token, an optional CA (else the system's).
    case hec(url: String, token: String, caPath: String?)

    func transport() throws -> any SIEMTransport {
        switch self {
        case .syslog(let host, let port, let caPath): try SyslogTLSTransport(host: host, port: port, caPath: caPath)
        case .hec(let url, let token, let caPath): try HECTransport(url: url, token: token, caPath: caPath)
        }
    }
}
