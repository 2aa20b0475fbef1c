import BulwarkCore
import Foundation

/// An enrolled agent as the collector knows it.
public struct AgentRecord: Sendable, Codable, Equatable {
    public var id: String
    public var hostname: String
    public var os: String
    public var agentVersion: String
    public var enrolledAt: Date
    public var lastSeen: Date?
    public var certificateSerial: String
    public var certificateNotAfter: Date
    public var policyVersion: Int
    public var spoolDepth: Int
    public var dropped: Int
    public var revokedAt: Date?

    public init(
        id: String, hostname: String, os: String, agentVersion: String, enrolledAt: Date, lastSeen: Date? = nil,
        certificateSerial: String, certificateNotAfter: Date, policyVersion: Int = 0, spoolDepth: Int = 0,
        dropped: Int = 0, revokedAt: Date? = nil
    ) {
        self.id = id
        self.hostname = hostname
        self.os = os
        self.agentVersion = agentVersion
        self.enrolledAt = enrolledAt
        self.lastSeen = lastSeen
        self.certificateSerial = certificateSerial
        self.certificateNotAfter = certificateNotAfter
        self.policyVersion = policyVersion
        self.spoolDepth = spoolDepth
        self.dropped = dropped
        self.revokedAt = revokedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, hostname, os, dropped
        case agentVersion = "agent_version"
        case enrolledAt = "enrolled_at"
        case lastSeen = "last_seen"
        case certificateSerial = "certificate_serial"
        case certificateNotAfter = "certificate_not_after"
        case policyVersion = "policy_version"
        case spoolDepth = "spool_depth"
        case revokedAt = "revoked_at"
    }
}

/// A one-time or limited-use enrollment token. Only its SHA-256 is stored.
public struct EnrollmentToken: Sendable, Codable, Equatable {
    /// Short public identifier (first 12 hex digits of the hash), for `list` and `revoke`.
    public var id: String
    public var label: String
    public var maxUses: Int
    public var uses: Int
    public var createdAt: Date
    public var expiresAt: Date
    public var revokedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, label, uses
        case maxUses = "max_uses"
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case revokedAt = "revoked_at"
    }
}

/// Roles of console/API users. Each route names the roles it admits.
public enum Role: String, Sendable, Codable, CaseIterable {
    case admin, analyst, helpdesk
    /// A monitoring system's token: `GET /metrics` and nothing else.
    case metrics
}

/// A bearer token for the API listener. Only its SHA-256 is stored.
public struct APIToken: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var role: Role
    public var createdAt: Date
    public var revokedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, name, role
        case createdAt = "created_at"
        case revokedAt = "revoked_at"
    }
}

/// An event as stored and served by the API.
public struct StoredEvent: Sendable, Codable, Equatable {
    /// Collector-assigned, increasing in arrival order; usable as a paging cursor.
    public var id: Int64
    public var agent: String
    public var seq: UInt64
    public var time: Date
    public var receivedAt: Date
    public var type: String
    public var v: Int
    public var data: [String: JSONValue]

    enum CodingKeys: String, CodingKey {
        case id, agent, seq, time, type, v, data
        case receivedAt = "received_at"
    }
}

/// An event as stored, its `data` still the JSON text it was stored as: what exports copy
/// through without parsing it.
public struct RawEvent: Sendable, Equatable {
    public var id: Int64
    public var agent: String
    public var seq: UInt64
    public var time: Date
    public var receivedAt: Date
    public var type: String
    public var v: Int
    public var data: String
}

/// Filters for `GET /api/v1/events`.
public struct EventQuery: Sendable {
    public var type: String?
    public var agent: String?
    /// Only events from agents with this hostname.
    public var host: String?
    /// Only events that happened at or after this time.
    public var since: Date?
    /// Only events with a collector id greater than this (paging cursor).
    public var afterID: Int64?
    /// Only events with a collector id up to this (an export ends at the events stored when it began).
    public var throughID: Int64?
    /// Only events that happened before this time.
    public var until: Date?
    /// Only events whose data names this user, app or app category.
    public var user: String?
    public var app: String?
    public var category: String?
    /// Only events with a finding of this information type (`credit_card`, `keywords:…`).
    public var infoType: String?
    /// Only events with a match whose keyed hash is this (the same value seen elsewhere).
    public var contentHash: String?
    /// Only DLP outcomes with this action: `dlp.decision` by its `action`, `paste.*`, `upload.*` and `file.*`
    /// by their outcome (`block` ↔ `blocked`...).
    public var action: PolicyAction?
    public var limit: Int

    public init(type: String? = nil, agent: String? = nil, since: Date? = nil, afterID: Int64? = nil, limit: Int = 100) {
        self.type = type
        self.agent = agent
        self.since = since
        self.afterID = afterID
        self.limit = limit
    }
}

/// One line of the audit trail: who did what to what, from where, and whether it was allowed.
/// Entries are only ever added (the store refuses updates and deletes).
public struct AuditEntry: Sendable, Codable, Equatable {
    /// Assigned when stored; nil before.
    public var id: Int64?
    public var time: Date
    /// `cli`, `agent:<id>`, `token:<name>` or `anonymous`.
    public var actor: String
    /// The client's IP address; `local` for the collector's own command line.
    public var source: String
    public var action: String
    public var target: String
    public var outcome: String

    public init(id: Int64? = nil, time: Date = Date(), actor: String, source: String = "local", action: String, target: String, outcome: String) {
        self.id = id
        self.time = time
        self.actor = actor
        self.source = source
        self.action = action
        self.target = target
        self.outcome = outcome
    }
}

/// A search of the audit trail, newest first.
public struct AuditQuery: Sendable {
    public var actor: String?
    /// Entries whose action starts with this (`PATCH /api/v1/incidents`, `agent.`).
    public var actionPrefix: String?
    /// Entries whose outcome starts with this (`ok`, `refused`).
    public var outcomePrefix: String?
    public var since: Date?
    public var until: Date?
    /// Only entries older than this id (the next page).
    public var beforeID: Int64?
    public var limit: Int

    public init(actor: String? = nil, actionPrefix: String? = nil, outcomePrefix: String? = nil, since: Date? = nil, until: Date? = nil, beforeID: Int64? = nil, limit: Int = 100) {
        self.actor = actor
        self.actionPrefix = actionPrefix
        self.outcomePrefix = outcomePrefix
        self.since = since
        self.until = until
        self.beforeID = beforeID
        self.limit = limit
    }
}

/// Why an enrollment was refused; each maps to a distinct, documented error code.
public enum EnrollmentRefusal: Error, Sendable, Equatable {
    case unknownToken
    case tokenExpired(Date)
    case tokenUsedUp(Int)
    case tokenRevoked
    case agentRevoked(String)

    public var errorBody: ErrorBody {
        switch self {
        case .unknownToken:
            ErrorBody(code: "token_unknown", message: "enrollment token is not known to this collector; check it was copied whole, or create one with 'bulwark-collector enroll-token create'")
        case .tokenExpired(let date):
            ErrorBody(code: "token_expired", message: "enrollment token expired at \(WireCoding.string(from: date)); create a new one with 'bulwark-collector enroll-token create'")
        case .tokenUsedUp(let uses):
            ErrorBody(code: "token_used_up", message: "enrollment token has been used \(uses) time(s), its limit; create a new one or raise --uses")
        case .tokenRevoked:
            ErrorBody(code: "token_revoked", message: "enrollment token was revoked; ask an administrator for a new one")
        case .agentRevoked(let id):
            ErrorBody(code: "agent_revoked", message: "agent \(id) is revoked; enroll with a new key ('bulwark-agent enroll --new-key') and a new token")
        }
    }
}
