import BulwarkCore
import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import NIOSSL
import X509

/// Binds every agent request to the agent named by its client certificate, and refuses revoked
/// agents. The TLS layer already checked the chain against the deployment CA and its validity;
/// revocation is checked here on every request against the store (through ``AgentDirectory``,
/// at most one second stale), so `agent revoke` takes effect within a second, on connections
/// that are already open too.
public struct AgentAuthenticator: RouterMiddleware {
    public typealias Context = AgentRequestContext
    let directory: AgentDirectory
    /// Certificate DER → agent ID: parsing the certificate and hashing its key on every request
    /// showed in ingest profiles. Revocation is still checked against the store every time.
    private let identities = NIOLockedValueBox<[[UInt8]: String]>([:])

    public init(store: any CollectorStore) {
        self.directory = AgentDirectory(store: store)
    }

    private func agentID(of peer: NIOSSLCertificate) -> String? {
        guard let der = try? peer.toDERBytes() else { return nil }
        if let known = identities.withLockedValue({ $0[der] }) { return known }
        guard let certificate = try? Certificate(derEncoded: der), let agentID = try? AgentIdentity.agentID(of: certificate) else {
            return nil
        }
        identities.withLockedValue { cache in
            if cache.count >= 50_000 { cache.removeAll(keepingCapacity: true) }
            cache[der] = agentID
        }
        return agentID
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let peer: NIOSSLCertificate?
        do {
            peer = try await context.peerCertificate()
        } catch {
            throw APIFailure(.unauthorized, "client_certificate_required", "this route needs TLS with a client certificate")
        }
        guard let peer else {
            throw APIFailure(.unauthorized, "client_certificate_required", "no client certificate was presented; enroll this agent first ('bulwark-agent enroll') and use its certificate")
        }
        guard let agentID = agentID(of: peer) else {
            throw APIFailure(.forbidden, "certificate_not_agent", "the client certificate does not name a Bulwark agent bound to its key")
        }
        let record: AgentRecord?
        do {
            record = try await directory.agent(id: agentID)
        } catch {
            throw APIFailure(.serviceUnavailable, "store_unavailable", "the collector cannot check agent status right now; retry later", retryAfterSeconds: 5)
        }
        guard let record else {
            context.logger.warning("refused unknown agent", metadata: ["agent": "\(agentID)", "peer": "\(context.clientAddress)"])
            throw APIFailure(.forbidden, "agent_unknown", "agent \(agentID) is not enrolled with this collector; enroll it with a token")
        }
        if record.revokedAt != nil {
            context.logger.warning("refused revoked agent", metadata: ["agent": "\(agentID)", "peer": "\(context.clientAddress)"])
            throw APIFailure(.forbidden, "agent_revoked", "collector rejected client certificate: agent \(agentID) is revoked; re-enroll with a new key and a new token")
        }
        var context = context
        context.agent = record
        return try await next(request, context)
    }
}

/// Agent records as the request path needs them, read from the store at most once a second per
/// agent: a store read per request was a measurable share of ingest CPU, and a second is the
/// bound on how long a revocation (written by another process) takes to apply.
final class AgentDirectory: Sendable {
    private let store: any CollectorStore
    private let maximumAge: Duration
    private let cache = NIOLockedValueBox<[String: (record: AgentRecord, fetched: ContinuousClock.Instant)]>([:])

    init(store: any CollectorStore, maximumAge: Duration = .seconds(1)) {
        self.store = store
        self.maximumAge = maximumAge
    }

    func agent(id: String) async throws -> AgentRecord? {
        let now = ContinuousClock.now
        if let entry = cache.withLockedValue({ $0[id] }), now - entry.fetched < maximumAge { return entry.record }
        let record = try await store.agent(id: id)
        cache.withLockedValue { cache in
            if cache.count >= 100_000 { cache.removeAll(keepingCapacity: true) }
            cache[id] = record.map { ($0, now) }
        }
        return record
    }
}
