import Foundation

/// A time-boxed exception helpdesk or an admin granted on the collector: one rule stops applying
/// to one user (and/or one app) until `until`. Agents receive the active ones with their policy
/// bundle and add them to the rules they name; each expires by itself on the agent, whether or
/// not it can still reach the collector.
public struct GrantedException: Sendable, Codable, Equatable {
    /// `EX-` and 10 Crockford base32 characters.
    public var id: String
    public var rule: String
    public var user: String?
    public var app: String?
    public var until: Date
    public var reason: String
    public var ticket: String?
    /// The incident it was granted for, if any.
    public var incident: String?
    /// Only for this file (SHA-256 of its content, hex): an AI tool may read that file, not others.
    public var fileSHA256: String?

    public init(
        id: String, rule: String, user: String?, app: String?, until: Date, reason: String, ticket: String? = nil, incident: String? = nil, fileSHA256: String? = nil
    ) {
        self.fileSHA256 = fileSHA256
        self.id = id
        self.rule = rule
        self.user = user
        self.app = app
        self.until = until
        self.reason = reason
        self.ticket = ticket
        self.incident = incident
    }

    enum CodingKeys: String, CodingKey {
        case id, rule, user, app, until, reason, ticket, incident
        case fileSHA256 = "file_sha256"
    }
}

extension Policy {
    /// This policy with granted exceptions added to the rules they name; an exception naming a
    /// rule this policy does not have changes nothing.
    public func granting(_ exceptions: [GrantedException]) -> Policy {
        guard !exceptions.isEmpty else { return self }
        var policy = self
        for index in policy.rules.indices {
            for granted in exceptions where granted.rule == policy.rules[index].id {
                policy.rules[index].exceptions.append(
                    PolicyException(
                        id: granted.id, scope: ScopeFilter(users: granted.user.map { [$0] } ?? []), apps: granted.app.map { [$0] } ?? [],
                        until: granted.until, reason: granted.reason, fileSHA256: granted.fileSHA256))
            }
        }
        return policy
    }
}

extension Policy {
    /// Whether any exception is for one file only: then a decision about a file needs its hash.
    public var hasFileExceptions: Bool {
        rules.contains { $0.exceptions.contains { $0.fileSHA256 != nil } }
    }
}
