import BulwarkCore
import Foundation

/// A granted exception as the collector keeps it: what agents get (`granted`), which agent it is
/// limited to (nil: every agent the user works on), and who granted or revoked it.
public struct ExceptionRecord: Sendable, Codable, Equatable {
    public var granted: GrantedException
    /// Only this agent's machine; nil for all.
    public var agentID: String?
    public var createdBy: String
    public var createdAt: Date
    public var revokedBy: String?
    public var revokedAt: Date?

    public init(granted: GrantedException, agentID: String?, createdBy: String, createdAt: Date, revokedBy: String? = nil, revokedAt: Date? = nil) {
        self.granted = granted
        self.agentID = agentID
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.revokedBy = revokedBy
        self.revokedAt = revokedAt
    }

    public static func newID() -> String {
        "EX-" + DLPEvent.newIncidentID().dropFirst(3)
    }

    enum CodingKeys: String, CodingKey {
        case granted
        case agentID = "agent"
        case createdBy = "created_by"
        case createdAt = "created_at"
        case revokedBy = "revoked_by"
        case revokedAt = "revoked_at"
    }
}
