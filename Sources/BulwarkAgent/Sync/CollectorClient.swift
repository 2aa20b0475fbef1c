import AsyncHTTPClient
import BulwarkCore
import Crypto
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import X509

/// Why a request to the collector did not succeed, classified by what the agent should do.
public enum CollectorError: Error, CustomStringConvertible, Sendable {
    /// Network, TLS or server trouble that may pass: keep the data and retry with backoff.
    case unreachable(String)
    /// The collector answered with an error it documents.
    case rejected(status: Int, ErrorBody)
    /// The collector's CA does not match the pinned fingerprint.
    case caMismatch(expected: String, got: String)

    public var description: String {
        switch self {
        case .unreachable(let reason): "collector unreachable: \(reason)"
        case .rejected(let status, let body): "collector answered \(status) \(body.code): \(body.message)"
        case .caMismatch(let expected, let got):
            "the collector's CA has SHA-256 fingerprint \(got), but \(expected) was pinned: this is not the collector you enrolled with, or someone is intercepting the connection; check --ca-sha256"
        }
    }

    /// Whether retrying the same request later can succeed.
    public var isTransient: Bool {
        switch self {
        case .unreachable: true
        case .rejected(let status, _): status == 408 || status == 429 || status >= 500
        case .caMismatch: false
        }
    }
}

/// HTTPS client of the agent endpoint. With a client certificate it is the mTLS client for
/// uploads and renewal; without one it serves enrollment.
public final class CollectorClient: Sendable {
    public let baseURL: String
    private let http: HTTPClient

    /// - Parameters:
    ///   - trustedCA: the only roots trusted for the collector's server certificate (the pinned CA,
    ///     and a new one during a CA rotation); nil only for the first-contact CA download, whose
    ///     result is checked against the pinned fingerprint.
    ///   - connectTimeout: seconds for TCP+TLS set-up; the HTTP client retries a refused
    ///     connection within this time, so it bounds how long a dead collector holds an upload.
    public init(
        baseURL: String, trustedCA: [Certificate]?, clientCertificate: Certificate? = nil, clientKey: P256.Signing.PrivateKey? = nil,
        connectTimeout: Double = 10
    ) throws {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let trustedCA {
            tls.trustRoots = .certificates(try trustedCA.map(Self.nio))
        } else {
            tls.certificateVerification = .none
        }
        if let clientCertificate, let clientKey {
            tls.certificateChain = [.certificate(try Self.nio(clientCertificate))]
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(clientKey.pemRepresentation.utf8), format: .pem))
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, timeout: .init(connect: .milliseconds(Int64(connectTimeout * 1000)), read: .seconds(60)))
        // HTTP/2 where the collector offers it (ALPN): the uploads and the waiting policy
        // request of one agent share a connection (see CollectorLink).
        configuration.httpVersion = .automatic
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    static func nio(_ certificate: Certificate) throws -> NIOSSLCertificate {
        try NIOSSLCertificate(bytes: Array(try certificate.serializeAsPEM().pemString.utf8), format: .pem)
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    /// Downloads the collector's CA and checks it against `pinnedSHA256`.
    /// The CA the collector's certificate chains to, chosen from the bundle `/v1/ca` serves by
    /// the pinned fingerprint (one CA by default; the organisation's with bring-your-own PKI).
    public func fetchPinnedCA(pinnedSHA256: String) async throws -> Certificate {
        let body = try await send(.GET, "/v1/ca", body: nil, headers: [:])
        let (match, seen) = AgentIdentity.pinnedCertificate(pinnedSHA256, inPEMBundle: String(buffer: body))
        guard !seen.isEmpty else {
            throw CollectorError.unreachable("GET /v1/ca did not return a PEM certificate; is \(baseURL) a Bulwark collector's agent port?")
        }
        guard let match else {
            throw CollectorError.caMismatch(expected: AgentIdentity.normalizedFingerprint(pinnedSHA256), got: seen.joined(separator: ", "))
        }
        return match
    }

    public func enroll(_ request: EnrollRequest) async throws -> CertificateGrant {
        try await json(.POST, "/v1/enroll", request)
    }

    /// Makes an agent with a certificate of the organisation's CA known to the collector.
    public func register(_ request: RegisterRequest) async throws -> CertificateGrant {
        try await json(.POST, "/v1/register", request)
    }

    public func renew(_ request: RenewRequest) async throws -> CertificateGrant {
        try await json(.POST, "/v1/renew", request)
    }

    /// The collector's policy bundle (app states).
    public func policyBundle() async throws -> PolicyBundle {
        let body = try await send(.GET, "/v1/policy", body: nil, headers: [:])
        do { return try WireCoding.decoder().decode(PolicyBundle.self, from: body) } catch {
            throw CollectorError.unreachable("collector answered /v1/policy with an unreadable body")
        }
    }

    /// A policy answer to a waiting request: the bundle when it differs from the one with `etag`.
    public struct PolicyPoll: Sendable {
        public var bundle: PolicyBundle?
        public var etag: String?
        /// The collector holds waiting requests: ask again at once.
        public var collectorWaits: Bool
    }

    /// Asks for the policy bundle, waiting up to `wait` seconds at the collector for it to
    /// differ from the one with `etag` (a collector that does not wait answers at once).
    public func policyBundle(wait: Int, etag: String?) async throws -> PolicyPoll {
        var headers: [String: String] = [:]
        if let etag { headers["If-None-Match"] = etag }
        let (body, responseHeaders, status) = try await exchange(.GET, "/v1/policy?wait=\(wait)", body: nil, headers: headers, timeout: .seconds(Int64(wait) + 20))
        let waits = responseHeaders.first(name: "Bulwark-Policy-Wait") != nil
        let tag = responseHeaders.first(name: "ETag")
        guard status != 304 else { return PolicyPoll(bundle: nil, etag: tag ?? etag, collectorWaits: waits) }
        do {
            return PolicyPoll(bundle: try WireCoding.decoder().decode(PolicyBundle.self, from: body), etag: tag, collectorWaits: waits)
        } catch {
            throw CollectorError.unreachable("collector answered /v1/policy with an unreadable body")
        }
    }

    /// Posts an already compressed batch; returns the collector's acknowledgement.
    public func postEvents(compressed: ByteBuffer) async throws -> EventAck {
        let body = try await send(.POST, "/v1/events", body: compressed, headers: ["Content-Encoding": "deflate", "Content-Type": "application/json"])
        do { return try WireCoding.decoder().decode(EventAck.self, from: body) } catch {
            throw CollectorError.unreachable("collector acknowledged with an unreadable body")
        }
    }

    private func json<Response: Decodable>(_ method: HTTPMethod, _ path: String, _ value: some Encodable) async throws -> Response {
        let body = try await send(method, path, body: ByteBuffer(bytes: try WireCoding.encoder().encode(value)), headers: ["Content-Type": "application/json"])
        do { return try WireCoding.decoder().decode(Response.self, from: body) } catch {
            throw CollectorError.unreachable("collector answered \(path) with an unreadable body")
        }
    }

    private func send(_ method: HTTPMethod, _ path: String, body: ByteBuffer?, headers: [String: String]) async throws -> ByteBuffer {
        try await exchange(method, path, body: body, headers: headers).body
    }

    /// An authenticated request (the policy bundle) for `doctor`: proves the TLS handshake and
    /// that the collector accepts this agent's certificate; returns the round trip and the
    /// collector's clock (its `Date` header).
    public func probe() async throws -> (roundTrip: Duration, serverDate: Date?) {
        let clock = ContinuousClock()
        let start = clock.now
        let (_, headers, _) = try await exchange(.GET, "/v1/policy", body: nil, headers: [:])
        let elapsed = clock.now - start
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return (elapsed, headers.first(name: "date").flatMap(formatter.date(from:)))
    }

    /// One request; any 2xx answer, or 304 (Not Modified), is returned with its status.
    private func exchange(
        _ method: HTTPMethod, _ path: String, body: ByteBuffer?, headers: [String: String], timeout: TimeAmount = .seconds(60)
    ) async throws -> (body: ByteBuffer, headers: HTTPHeaders, status: UInt) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let response: HTTPClientResponse
        let payload: ByteBuffer
        do {
            response = try await http.execute(request, timeout: timeout)
            payload = try await response.body.collect(upTo: 4 * 1024 * 1024)
        } catch {
            throw CollectorError.unreachable(Self.explain(error))
        }
        guard (200..<300).contains(response.status.code) || response.status.code == 304 else {
            let body = (try? WireCoding.decoder().decode(ErrorBody.self, from: payload))
                ?? ErrorBody(code: "http_\(response.status.code)", message: String(buffer: payload).prefix(300).description)
            throw CollectorError.rejected(status: Int(response.status.code), body)
        }
        return (payload, response.headers, response.status.code)
    }

    /// Turns transport errors into sentences that say where it failed.
    static func explain(_ error: any Error) -> String {
        if let tls = error as? NIOSSLError {
            return "TLS handshake failed (\(tls)); the collector may have refused this agent's certificate (revoked CA, expired certificate) or the server certificate does not match"
        }
        if let tls = error as? BoringSSLError {
            return "TLS handshake failed (\(tls)); if this mentions 'certificate', the collector refused this agent's client certificate or the server's certificate is not from the pinned CA"
        }
        if let http = error as? HTTPClientError {
            // Under TLS 1.3 the server checks the client certificate after the client finished
            // its side of the handshake; over HTTP/2 its refusal then arrives as a closed connection.
            if http == .remoteConnectionClosed {
                return "the collector closed the connection (\(http)); right after the TLS handshake this is how it refuses a client certificate it does not trust (not from its CA or tls_client_ca, expired); check the agent's certificate, or the collector's log"
            }
            return "\(http)"
        }
        return "\(error)"
    }
}
