import BulwarkCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOSSL
import X509

/// Routes of the agent listener (docs/PROTOCOL.md).
public struct AgentRoutes: Sendable {
    let store: any CollectorStore
    let enrollment: EnrollmentService
    let ingest: IngestService
    let limits: CollectorLimits
    let caPEM: String
    let metrics: CollectorMetrics?
    /// Policy snapshots for agents that wait for a change.
    let policyFeed: PolicyFeed
    /// Their bundles as sent.
    let bundles: PolicyBundleCutter

    /// The longest an agent may wait on `GET /v1/policy?wait=S`, seconds.
    static let longestPolicyWait = 120.0

    /// - Parameter issuingCAPEM: the CA that signs agent certificates now, sent with the policy
    ///   bundle so agents signed by another (before a rotation) renew.
    init(
        store: any CollectorStore, enrollment: EnrollmentService, ingest: IngestService, limits: CollectorLimits, caPEM: String,
        issuingCAPEM: String? = nil, metrics: CollectorMetrics? = nil, policyFeed: PolicyFeed
    ) {
        self.policyFeed = policyFeed
        self.bundles = PolicyBundleCutter(catalog: store.catalog, catalogOverride: store.catalogOverride, issuingCAPEM: issuingCAPEM)
        self.store = store
        self.enrollment = enrollment
        self.ingest = ingest
        self.limits = limits
        self.caPEM = caPEM
        self.metrics = metrics
    }

    /// Says on a policy answer that this collector holds `wait` requests (agents then ask again
    /// at once instead of after their interval).
    static let policyWaitHeader = "Bulwark-Policy-Wait"

    public func register(on router: Router<AgentRequestContext>) {
        // Unauthenticated: the CA certificate, which agents check against the pinned fingerprint.
        router.get("v1/ca") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/x-pem-file"], body: .init(byteBuffer: ByteBuffer(string: caPEM)))
        }
        router.post("v1/enroll") { request, context in
            let body = try await Self.readBody(request, limit: 64 * 1024)
            let enrollRequest: EnrollRequest
            do {
                enrollRequest = try WireCoding.decoder().decode(EnrollRequest.self, from: body)
            } catch {
                throw APIFailure(.badRequest, "invalid_json", "enrollment request is not valid JSON of the documented shape: \(IngestService.describe(error))")
            }
            return try Response.json(try await enrollment.enroll(enrollRequest, clientAddress: context.clientAddress))
        }

        // An agent with a certificate of the organisation's CA (tls_client_ca) is not in the
        // agents table yet: the verified certificate is its credential here.
        router.post("v1/register") { request, context in
            let peer: Certificate
            do {
                guard let presented = try await context.peerCertificate() else { throw APIFailure(.unauthorized, "client_certificate_required", "") }
                peer = try Certificate(derEncoded: try presented.toDERBytes())
            } catch {
                throw APIFailure(.unauthorized, "client_certificate_required", "registration needs the agent's certificate from the organisation's CA in the TLS handshake")
            }
            guard let agentID = try? AgentIdentity.agentID(of: peer) else {
                throw APIFailure(.forbidden, "certificate_not_agent", "the client certificate's CN is not the agent ID of its key; issue it with certs/issue-agent.sh")
            }
            let body = try await Self.readBody(request, limit: 64 * 1024)
            let registration: RegisterRequest
            do {
                registration = try WireCoding.decoder().decode(RegisterRequest.self, from: body)
            } catch {
                throw APIFailure(.badRequest, "invalid_json", "registration request is not valid JSON of the documented shape: \(IngestService.describe(error))")
            }
            return try Response.json(try await enrollment.register(registration, certificate: peer, agentID: agentID, clientAddress: context.clientAddress))
        }

        let authenticated = router.group().add(middleware: AgentAuthenticator(store: store))
        authenticated.post("v1/events") { request, context in
            guard let agent = context.agent else { throw APIFailure(.unauthorized, "client_certificate_required", "no agent identity") }
            let clock = ContinuousClock()
            let start = clock.now
            let ack: EventAck
            do {
                let body = try await Self.readBody(request, limit: limits.maxCompressedBytes)
                ack = try await ingest.ingest(compressed: body, contentEncoding: request.headers[.contentEncoding], agentID: agent.id)
            } catch let failure as APIFailure {
                metrics?.rejected(reason: failure.body.code)
                throw failure
            }
            metrics?.accepted(ack, elapsed: clock.now - start)
            // Written by hand: one per batch on the hottest route, and three integers.
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: "{\"acked\":\(ack.acked),\"duplicates\":\(ack.duplicates),\"stored\":\(ack.stored)}")))
        }
        // With `wait=S` and the ETag of the bundle the agent has (If-None-Match), the answer waits
        // up to S seconds for that bundle to change: 200 with the new one, or 304 when nothing
        // changed. Every collector sees every change within a second (PolicyFeed).
        authenticated.get("v1/policy") { request, context in
            guard let agent = context.agent else { throw APIFailure(.unauthorized, "client_certificate_required", "no agent identity") }
            let wait = min(max(request.uri.queryParameters.get("wait", as: Double.self) ?? 0, 0), Self.longestPolicyWait)
            let known = request.headers[.ifNoneMatch]
            let arrived = Date()
            let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
            while true {
                var snapshot = try await policyFeed.current()
                var cut = try bundles.cut(for: agent.id, from: snapshot)
                if known != nil, known != cut.etag {
                    // The agent's bundle differs from this snapshot, checked up to a second
                    // ago: it may be newer (from another collector). Answer from a revision
                    // read begun after this request arrived, not an older bundle.
                    snapshot = try await policyFeed.current(readSince: arrived)
                    cut = try bundles.cut(for: agent.id, from: snapshot)
                }
                var headers: HTTPFields = [.contentType: "application/json", .eTag: cut.etag]
                if wait > 0, let name = HTTPField.Name(Self.policyWaitHeader) { headers[name] = String(Int(wait)) }
                if wait == 0 || known != cut.etag {
                    return Response(status: .ok, headers: headers, body: .init(byteBuffer: cut.body))
                }
                let left = deadline - ContinuousClock.now
                guard left > .zero else { return Response(status: .notModified, headers: headers) }
                guard await policyFeed.waitForChange(from: snapshot, timeout: left) else {
                    // Stopping: no wait header (the agent asks again after its interval, by
                    // then of another collector) and the connection closes with this answer.
                    if let name = HTTPField.Name(Self.policyWaitHeader) { headers[name] = nil }
                    // HTTP/2 has no Connection header (its GOAWAY closes the connection).
                    if !context.isHTTP2Stream { headers[.connection] = "close" }
                    return Response(status: .notModified, headers: headers)
                }
            }
        }
        authenticated.post("v1/renew") { request, context in
            guard let agent = context.agent else { throw APIFailure(.unauthorized, "client_certificate_required", "no agent identity") }
            let body = try await Self.readBody(request, limit: 64 * 1024)
            let renewRequest: RenewRequest
            do {
                renewRequest = try WireCoding.decoder().decode(RenewRequest.self, from: body)
            } catch {
                throw APIFailure(.badRequest, "invalid_json", "renewal request is not valid JSON: \(IngestService.describe(error))")
            }
            return try Response.json(try await enrollment.renew(renewRequest, agentID: agent.id, clientAddress: context.clientAddress))
        }
    }

    /// Reads a body up to `limit` bytes, answering 413 with the documented error beyond it.
    static func readBody(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIFailure(.contentTooLarge, "body_too_large", "request body of \(length) bytes exceeds the limit of \(limit) bytes")
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIFailure(.contentTooLarge, "body_too_large", "request body exceeds the limit of \(limit) bytes")
        }
    }
}
