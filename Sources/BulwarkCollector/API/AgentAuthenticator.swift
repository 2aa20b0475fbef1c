import BulwarkCore
import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import NIOSSL
import X509

/// Binds every agent request to the agent named by its client certificate, and refuses revoked
/// agents. The TLS layer already checked the chain against the deployment CA and its validity;
/// revocation is checked here on every request (through ``AgentDirectory``, which re-reads the
/// store's revoked count once a second), so `agent revoke` takes effect within about a second,
/// on connections that are already open too.
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

/// Agent records as the request path needs them. A record is read from the store once and then
/// held; what can make a held record wrong is a revocation (written by any collector or the
/// CLI), so at most once a second, shared by all requests, the directory reads how many agents
/// are revoked — that count only grows — and drops every record when it changed. A revocation
/// therefore applies within about a second, on open connections too, and an idle fleet's
/// requests cost no store reads (a read per agent per second was most of the collector's
/// database work under 10,000 idle agents).
///
/// Unknown agents are not remembered: one enrolled a moment ago through another collector is
/// found at its first request. When the store cannot be read the directory fails closed: the
/// request is refused (503), not waved through on old records.
final class AgentDirectory: Sendable {
    private struct State {
        var records: [String: AgentRecord] = [:]
        var revoked: Int?
        var checkedAt: ContinuousClock.Instant?
        var checking: Task<Int, any Error>?
        /// Bumped when the records are dropped: a record read before that is not kept.
        var generation = 0
    }

    private let store: any CollectorStore
    private let checkInterval: Duration
    private let capacity: Int
    private let state = NIOLockedValueBox(State())

    init(store: any CollectorStore, checkInterval: Duration = .seconds(1), capacity: Int = 200_000) {
        self.store = store
        self.checkInterval = checkInterval
        self.capacity = capacity
    }

    func agent(id: String) async throws -> AgentRecord? {
        try await revalidate()
        let (held, generation) = state.withLockedValue { ($0.records[id], $0.generation) }
        if let held { return held }
        let record = try await store.agent(id: id)
        if let record {
            state.withLockedValue { state in
                guard state.generation == generation else { return }
                if state.records.count >= capacity { state.records.removeAll(keepingCapacity: true) }
                state.records[id] = record
            }
        }
        return record
    }

    /// Reads the revoked count if the last read is `checkInterval` old; concurrent callers share
    /// one read.
    private func revalidate() async throws {
        let now = ContinuousClock.now
        let pending = state.withLockedValue { state -> Task<Int, any Error>? in
            if let checkedAt = state.checkedAt, now - checkedAt < checkInterval { return nil }
            if let checking = state.checking { return checking }
            let store = self.store
            let checking = Task { try await store.revokedAgentCount() }
            state.checking = checking
            return checking
        }
        guard let pending else { return }
        let revoked: Int
        do {
            revoked = try await pending.value
        } catch {
            state.withLockedValue { if $0.checking == pending { $0.checking = nil } }
            throw error
        }
        state.withLockedValue { state in
            guard state.checking == pending else { return }
            state.checking = nil
            state.checkedAt = now
            if state.revoked != revoked {
                state.revoked = revoked
                state.records.removeAll()
                state.generation += 1
            }
        }
    }
}
