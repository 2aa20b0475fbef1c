import BulwarkCore
import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import NIOSSL
import X509

/// Binds every agent request to the agent named by its client certificate, and refuses revoked
/// agents. The TLS layer already checked the chain against the deployment CA and its validity;
/// revocation is checked here against the store on every request, so `agent revoke` takes
/// effect at once, even on connections that are already open.
public struct AgentAuthenticator: RouterMiddleware {
    public typealias Context = AgentRequestContext
    let store: any CollectorStore
    /// Certificate DER → agent ID: parsing the certificate and hashing its key on every request
    /// showed in ingest profiles. Revocation is still checked against the store every time.
    private let identities = NIOLockedValueBox<[[UInt8]: String]>([:])

    public init(store: any CollectorStore) {
        self.store = store
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
            peer = try await context.channel.nioSSL_peerCertificate().get()
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
            record = try await store.agent(id: agentID)
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
