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

/// Everything agents' policy bundles are made of at one moment, for all agents at once: the
/// collector reads it once per change and cuts each agent's bundle from it (a change reaching
/// ten thousand waiting agents must not cost ten thousand reads of the store).
public struct PolicySnapshot: Sendable, Equatable {
    /// Sanction states admins set, by app.
    public var appStates: [String: SanctionState]
    /// The latest state change (ms), 0 when none.
    public var statesChangedAt: Int64
    /// Exceptions in force, for every agent (`agentID` nil: for all), oldest first.
    public var exceptions: [ExceptionRecord]
    /// The newest DLP policy version admins pushed, with when (ms).
    public var policy: DistributedPolicy?
    public var policyCreatedAt: Int64
    public var userRisk: [String: UserRisk]

    public init(
        appStates: [String: SanctionState], statesChangedAt: Int64, exceptions: [ExceptionRecord], policy: DistributedPolicy?, policyCreatedAt: Int64,
        userRisk: [String: UserRisk]
    ) {
        self.appStates = appStates
        self.statesChangedAt = statesChangedAt
        self.exceptions = exceptions
        self.policy = policy
        self.policyCreatedAt = policyCreatedAt
        self.userRisk = userRisk
    }

    /// One agent's bundle: its exceptions only; versioned by the latest change it carries.
    public func bundle(for agentID: String, catalog: AIAppCatalog, catalogOverride: CatalogOverride) -> PolicyBundle {
        let mine = exceptions.filter { $0.agentID == nil || $0.agentID == agentID }
        let version = max(statesChangedAt, policyCreatedAt, mine.map(\.createdAt.millis).max() ?? 0)
        return PolicyBundle(
            version: version, appStates: appStates, catalogVersion: catalog.version, catalog: catalogOverride.isEmpty ? nil : catalogOverride,
            exceptions: mine.isEmpty ? nil : mine.map(\.granted), policy: policy, userRisk: userRisk.isEmpty ? nil : userRisk)
    }
}
