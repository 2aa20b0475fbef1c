import BulwarkCore
import Foundation

/// One version of the deployment's DLP policy, as an admin pushed it.
public struct PolicyVersionRecord: Sendable, Codable, Equatable {
    public var version: Int
    /// The policy's `name:`.
    public var name: String
    public var sha256: String
    public var comment: String
    public var createdBy: String
    public var createdAt: Date
    /// For a rollback: the version whose text this one restores.
    public var restores: Int?
    /// The text; left out of listings.
    public var yaml: String?
    /// Agents whose last heartbeat said they run this version (listings only).
    public var agents: Int?

    public init(
        version: Int, name: String, sha256: String, comment: String, createdBy: String, createdAt: Date, restores: Int? = nil, yaml: String? = nil,
        agents: Int? = nil
    ) {
        self.version = version
        self.name = name
        self.sha256 = sha256
        self.comment = comment
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.restores = restores
        self.yaml = yaml
        self.agents = agents
    }

    enum CodingKeys: String, CodingKey {
        case version, name, sha256, comment, restores, yaml, agents
        case createdBy = "created_by", createdAt = "created_at"
    }
}
