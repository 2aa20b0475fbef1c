/// The outcome of evaluating a policy for one action, with the reasons.
public struct PolicyDecision: Sendable, Codable, Equatable {
    /// The most restrictive action among the rules that fired (`allow` when none did).
    public var action: PolicyAction
    /// The rule whose action was taken (the first in policy order among equally strict ones).
    public var rule: String?
    /// What the user sees.
    public var message: String?
    /// What helpdesk sees with the incident.
    public var helpdesk: String?
    /// A warn can be overridden with a justification; a block cannot.
    public var overridable: Bool
    /// Every rule that fired, and every rule an exception switched off, with why.
    public var matched: [RuleOutcome]

    public init(action: PolicyAction, rule: String?, message: String?, helpdesk: String?, overridable: Bool, matched: [RuleOutcome]) {
        self.action = action
        self.rule = rule
        self.message = message
        self.helpdesk = helpdesk
        self.overridable = overridable
        self.matched = matched
    }

    public struct RuleOutcome: Sendable, Codable, Equatable {
        public var rule: String
        public var action: PolicyAction
        /// True when an exception stopped the rule from applying.
        public var excepted: Bool
        public var because: [String]
        /// The id of the exception that switched the rule off (a granted one's `EX-…`).
        public var exception: String? = nil
    }

    /// The ids of the exceptions that switched rules off (what an event records so the audit
    /// trail shows which exception allowed it).
    public var exceptionsApplied: [String] { matched.filter(\.excepted).compactMap(\.exception) }

    /// One line for logs and the CLI: "block by rule X: credit_card ×2 (≥ 85) …".
    public var summary: String {
        guard let rule, let outcome = matched.first(where: { $0.rule == rule && !$0.excepted }) else {
            let excepted = matched.filter(\.excepted).map(\.rule)
            return excepted.isEmpty ? "allow: no rule matched" : "allow: rules \(excepted.joined(separator: ", ")) matched but an exception applies"
        }
        return "\(action.rawValue) by rule \(rule): \(outcome.because.joined(separator: "; "))"
    }
}

/// Decides what to do with classified content: every rule is checked, the most restrictive
/// action wins, and the decision lists why each matching rule fired.
public struct PolicyEvaluator: Sendable {
    public let policy: Policy

    public init(policy: Policy) {
        self.policy = policy
    }

    public func evaluate(_ request: PolicyRequest) -> PolicyDecision {
        var matched: [PolicyDecision.RuleOutcome] = []
        var winner: PolicyRule?
        for rule in policy.rules {
            guard rule.activities.isEmpty || rule.activities.contains(request.activity),
                  rule.destinations.matches(request.destination), rule.scope.matches(request),
                  let evidence = Self.evidence(rule.condition, request.content)
            else { continue }
            var because = evidence
            because.append("activity \(request.activity.rawValue) to \(Self.describe(request.destination))")
            if let exception = rule.exceptions.first(where: { $0.applies(to: request) }) {
                because.append("exception \(exception.id ?? "(unnamed)") applies" + (exception.reason.map { ": \($0)" } ?? ""))
                matched.append(.init(rule: rule.id, action: rule.action, excepted: true, because: because, exception: exception.id))
                continue
            }
            matched.append(.init(rule: rule.id, action: rule.action, excepted: false, because: because))
            if winner.map({ rule.action > $0.action }) ?? true { winner = rule }
        }
        guard let winner else {
            return PolicyDecision(action: .allow, rule: nil, message: nil, helpdesk: nil, overridable: false, matched: matched)
        }
        return PolicyDecision(
            action: winner.action, rule: winner.id, message: winner.message, helpdesk: winner.helpdesk,
            overridable: winner.action == .warn, matched: matched)
    }

    /// Why the condition holds (non-empty), or nil when it does not.
    static func evidence(_ condition: PolicyCondition, _ content: ScanResult) -> [String]? {
        switch condition {
        case .info(let types, let minCount, let minConfidence):
            var found: [String] = []
            for finding in content.findings where types.contains(finding.type) {
                let count = finding.matches.count { $0.confidence >= minConfidence }
                if count >= minCount { found.append("\(finding.type) ×\(count) (confidence ≥ \(minConfidence))") }
            }
            return found.isEmpty ? nil : found
        case .label(let wanted):
            let hits = content.labels.filter { label in
                wanted.contains { $0.lowercased() == label.name?.lowercased() || $0.lowercased() == label.id.lowercased() }
            }
            return hits.isEmpty ? nil : hits.map { "label \($0.name ?? $0.id)" }
        case .partial:
            return content.partial ? ["content only partially scanned (\(content.partialReason ?? "limit reached"))"] : nil
        case .always:
            return ["always"]
        case .any(let conditions):
            let all = conditions.compactMap { evidence($0, content) }.flatMap { $0 }
            return all.isEmpty ? nil : all
        case .all(let conditions):
            var all: [String] = []
            for condition in conditions {
                guard let found = evidence(condition, content) else { return nil }
                all += found
            }
            return all
        }
    }

    static func describe(_ destination: Destination) -> String {
        let app = destination.appID ?? "unknown app"
        let category = destination.category.map { "\($0), " } ?? ""
        return "\(app) (\(category)\(destination.sanction.rawValue))"
    }
}
