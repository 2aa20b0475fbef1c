import Foundation

/// How an agent is doing, as the API, the CLI and the console show it: one rule in one place.
/// `stale` when it has not been heard from within `staleAfter` (a heartbeat is due every
/// `heartbeat_interval`); a certificate within 14 days of expiry is flagged so it is renewed (or
/// the agent looked at) before it is locked out.
struct AgentHealth: Sendable {
    var staleAfter: TimeInterval = 3600
    static let certificateWarning: TimeInterval = 14 * 86_400

    func isStale(_ agent: AgentRecord, now: Date) -> Bool {
        agent.revokedAt == nil && now.timeIntervalSince(agent.lastSeen ?? agent.enrolledAt) > staleAfter
    }

    /// `ok`, or the first problem: `revoked`, `stale`, `certificate expired`, `certificate expires
    /// soon`, `dropping events`, `backlog`.
    func status(_ agent: AgentRecord, now: Date) -> String {
        if agent.revokedAt != nil { return "revoked" }
        if isStale(agent, now: now) { return "stale" }
        if agent.certificateNotAfter <= now { return "certificate expired" }
        if agent.certificateNotAfter.timeIntervalSince(now) < Self.certificateWarning { return "certificate expires soon" }
        if agent.dropped > 0 { return "dropping events" }
        if agent.spoolDepth > 10_000 { return "backlog" }
        return "ok"
    }

    /// An agent as `GET /api/v1/agents` answers it: the record plus `health` and `stale`.
    struct View: Encodable {
        var agent: AgentRecord
        var health: String
        var stale: Bool

        enum Extra: String, CodingKey { case health, stale }

        func encode(to encoder: any Encoder) throws {
            try agent.encode(to: encoder)
            var container = encoder.container(keyedBy: Extra.self)
            try container.encode(health, forKey: .health)
            try container.encode(stale, forKey: .stale)
        }
    }

    func view(_ agent: AgentRecord, now: Date) -> View {
        View(agent: agent, health: status(agent, now: now), stale: isStale(agent, now: now))
    }
}
