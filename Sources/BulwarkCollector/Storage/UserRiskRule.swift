import BulwarkCore
import Foundation
import Synchronization

/// A user's risk level from their recent incidents (adaptive protection). The rule, as
/// docs/POLICY.md states it: over the last 24 hours, not counting incidents marked false
/// positive, 10 or more blocks → `high`; 3 or more blocks, or 5 or more overridden warnings →
/// `elevated`; otherwise `low`. Nothing else raises a level, and it falls by itself.
public struct UserRiskRule: Sendable {
    public static let window: TimeInterval = 24 * 3600
    public static let highBlocks = 10
    public static let elevatedBlocks = 3
    public static let elevatedOverrides = 5

    public static func level(blocks: Int, overrides: Int) -> UserRisk {
        if blocks >= highBlocks { return .high }
        if blocks >= elevatedBlocks || overrides >= elevatedOverrides { return .elevated }
        return .low
    }
}

/// A user above `low`, with the counts that put them there.
public struct UserRiskRecord: Sendable, Codable, Equatable {
    public var user: String
    public var level: UserRisk
    public var blocks: Int
    public var overrides: Int
    /// The newest incident counted.
    public var lastIncident: Date

    public init(user: String, level: UserRisk, blocks: Int, overrides: Int, lastIncident: Date) {
        self.user = user
        self.level = level
        self.blocks = blocks
        self.overrides = overrides
        self.lastIncident = lastIncident
    }

    enum CodingKeys: String, CodingKey {
        case user, level, blocks, overrides
        case lastIncident = "last_incident"
    }
}

/// The levels agents get with every policy pull, recomputed at most every `lifetime`: ten
/// thousand agents pulling each minute must not each scan a day of incidents.
final class UserRiskCache: Sendable {
    private let entry = Mutex<(at: Date, levels: [String: UserRisk])?>(nil)
    let lifetime: TimeInterval

    init(lifetime: TimeInterval = 15) {
        self.lifetime = lifetime
    }

    func levels(now: Date, compute: () throws -> [UserRiskRecord]) rethrows -> [String: UserRisk] {
        if let cached = cached(now: now) { return cached }
        return store(try compute(), now: now)
    }

    func levels(now: Date, compute: () async throws -> [UserRiskRecord]) async rethrows -> [String: UserRisk] {
        if let cached = cached(now: now) { return cached }
        return store(try await compute(), now: now)
    }

    private func cached(now: Date) -> [String: UserRisk]? {
        guard let cached = entry.withLock({ $0 }), abs(now.timeIntervalSince(cached.at)) < lifetime else { return nil }
        return cached.levels
    }

    private func store(_ records: [UserRiskRecord], now: Date) -> [String: UserRisk] {
        let levels = Dictionary(records.map { ($0.user, $0.level) }, uniquingKeysWith: max)
        entry.withLock { $0 = (now, levels) }
        return levels
    }
}
