import BulwarkCore
import Foundation
import Hummingbird
import NIOSSL
import X509

/// Binds every agent request to the agent named by its client certificate, and refuses revoked
/// agents. The TLS layer already checked the chain against the deployment CA and its validity;
/// revocation is checked here against the store on every request, so `agent revoke` takes
/// effect at once, even on connections that are already open.
public struct AgentAuthenticator: RouterMiddleware {
    public typealias Context = AgentRequestContext
    let store: any CollectorStore

    public init(store: any CollectorStore) {
        self.store = store
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
        guard let certificate = try? Certificate(derEncoded: try peer.toDERBytes()),
              let agentID = try? AgentIdentity.agentID(of: certificate)
        else {
            throw APIFailure(.forbidden, "certificate_not_agent", "the client certificate does not name a Bulwark agent bound to its key")
        }
        let record: AgentRecord?
        do {
            record = try await store.agent(id: agentID)
        } catch {
            throw APIFailure(.serviceUnavailable, "store_unavailable", "the collector cannot check agent status right now; retry later", retryAfterSeconds: 5)
        }
        guard let record else {
            throw APIFailure(.forbidden, "agent_unknown", "agent \(agentID) is not enrolled with this collector; enroll it with a token")
        }
        if record.revokedAt != nil {
            throw APIFailure(.forbidden, "agent_revoked", "collector rejected client certificate: agent \(agentID) is revoked; re-enroll with a new key and a new token")
        }
        var context = context
        context.agent = record
        return try await next(request, context)
    }
}
