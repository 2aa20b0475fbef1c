import Foundation
import Yams

/// A policy that cannot be used, with where and why: `policy.yaml:12:7: unknown action 'blok'`.
public struct PolicyError: Error, CustomStringConvertible, Equatable {
    public var source: String
    /// 1-based; 0 when the problem is not at one place (an unreadable file).
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String {
        line > 0 ? "\(source):\(line):\(column): \(message)" : "\(source): \(message)"
    }
}

/// Parses the YAML policy language (docs/POLICY.md) strictly: unknown keys, unknown
/// information types, wrong value kinds and duplicate ids are errors with line and column,
/// because a typo in a DLP policy silently protects nothing.
public struct PolicyParser: Sendable {
    public var source: String

    public init(source: String = "policy") {
        self.source = source
    }

    public func parse(_ text: String) throws(PolicyError) -> Policy {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw syntaxError(error)
        } catch {
            throw PolicyError(source: source, line: 0, column: 0, message: "not YAML: \(error)")
        }
        guard let root else { throw PolicyError(source: source, line: 1, column: 1, message: "the policy is empty") }
        let top = try map(root, "the policy")
        try top.allow(["version", "name", "classifiers", "rules"])
        if let version = top["version"] {
            guard try scalar(version, "version") == "1" else { throw fail(version, "unsupported policy version (this agent reads version 1)") }
        }
        let name = try top.string("name") ?? "policy"

        var classifiers: [CustomClassifierDefinition] = []
        if let list = top["classifiers"] {
            for item in try sequence(list, "classifiers") {
                let classifier = try parseClassifier(item)
                if classifiers.contains(where: { $0.id == classifier.id }) { throw fail(item, "duplicate classifier id '\(classifier.id)'") }
                classifiers.append(classifier)
            }
        }
        let known = ContentClassifier.builtInTypes.union(classifiers.map(\.typeID))

        guard let ruleList = top["rules"] else { throw fail(root, "the policy has no 'rules'") }
        var rules: [PolicyRule] = []
        for item in try sequence(ruleList, "rules") {
            let rule = try parseRule(item, known: known)
            if rules.contains(where: { $0.id == rule.id }) { throw fail(item, "duplicate rule id '\(rule.id)'") }
            rules.append(rule)
        }
        return Policy(name: name, classifiers: classifiers, rules: rules)
    }

    /// Reads and parses a policy file.
    public static func load(path: String) throws(PolicyError) -> Policy {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw PolicyError(source: path, line: 0, column: 0, message: "cannot read the policy file (\(error.localizedDescription))")
        }
        return try PolicyParser(source: path).parse(text)
    }

    // MARK: Sections

    private func parseClassifier(_ node: Node) throws(PolicyError) -> CustomClassifierDefinition {
        let entry = try map(node, "a classifier")
        let id = try identifier(entry.required("id"), "classifier id")
        let kindNode = try entry.required("kind")
        let kind: CustomClassifierDefinition.Kind
        switch try scalar(kindNode, "kind") {
        case "keywords":
            try entry.allow(["id", "kind", "words"])
            let words = try strings(entry.required("words"), "words")
            guard !words.isEmpty else { throw fail(node, "classifier '\(id)' has no words") }
            kind = .keywords(words)
        case "regex":
            try entry.allow(["id", "kind", "pattern", "validator", "keywords"])
            let patternNode = try entry.required("pattern")
            let pattern = try scalar(patternNode, "pattern")
            do { _ = try NSRegularExpression(pattern: pattern) } catch {
                throw fail(patternNode, "invalid regular expression: \(error.localizedDescription)")
            }
            var validator: String?
            if let node = entry["validator"] {
                let name = try scalar(node, "validator")
                guard Validators.named[name] != nil else {
                    throw fail(node, "unknown validator '\(name)' (expected one of: \(Validators.named.keys.sorted().joined(separator: ", ")))")
                }
                validator = name
            }
            kind = .regex(pattern: pattern, validator: validator, keywords: try entry.list("keywords"))
        case "edm":
            try entry.allow(["id", "kind", "file"])
            kind = .edm(file: try scalar(entry.required("file"), "file"))
        case "fingerprint":
            try entry.allow(["id", "kind", "file", "threshold"])
            var threshold = 0.5
            if let node = entry["threshold"] {
                guard let value = Double(try scalar(node, "threshold")), value > 0, value <= 1 else {
                    throw fail(node, "threshold must be a number in (0, 1], the share of the document's fingerprint that must be present")
                }
                threshold = value
            }
            kind = .fingerprint(file: try scalar(entry.required("file"), "file"), threshold: threshold)
        case let other:
            throw fail(kindNode, "unknown classifier kind '\(other)' (expected keywords, regex, edm or fingerprint)")
        }
        return CustomClassifierDefinition(id: id, kind: kind)
    }

    private func parseRule(_ node: Node, known: Set<String>) throws(PolicyError) -> PolicyRule {
        let entry = try map(node, "a rule")
        try entry.allow(["id", "description", "when", "activities", "destinations", "scope", "action", "message", "helpdesk", "exceptions"])
        let id = try identifier(entry.required("id"), "rule id")
        let actionNode = try entry.required("action")
        let actionName = try scalar(actionNode, "action")
        guard let action = PolicyAction(rawValue: actionName), action != .allow else {
            throw fail(actionNode, "unknown action '\(actionName)' (expected audit, warn or block)")
        }
        var activities: Set<Activity> = []
        if let list = entry["activities"] {
            for item in try sequenceOrScalar(list) {
                let name = try scalar(item, "activity")
                guard let activity = Activity(rawValue: name) else {
                    throw fail(item, "unknown activity '\(name)' (expected one of: \(Activity.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                activities.insert(activity)
            }
        }
        var destinations = DestinationFilter()
        if let node = entry["destinations"] {
            let filter = try map(node, "destinations")
            try filter.allow(["apps", "categories", "sanction"])
            destinations.apps = Set(try filter.list("apps"))
            destinations.categories = Set(try filter.list("categories"))
            if let list = filter["sanction"] {
                for item in try sequenceOrScalar(list) {
                    let name = try scalar(item, "sanction")
                    guard let state = SanctionState(rawValue: name) else {
                        throw fail(item, "unknown sanction state '\(name)' (expected unreviewed, sanctioned, monitored or unsanctioned)")
                    }
                    destinations.sanction.insert(state)
                }
            }
        }
        var exceptions: [PolicyException] = []
        if let list = entry["exceptions"] {
            for item in try sequence(list, "exceptions") {
                let exception = try map(item, "an exception")
                try exception.allow(["id", "users", "groups", "hosts", "apps", "until", "reason"])
                var until: Date?
                if let node = exception["until"] {
                    let text = try scalar(node, "until")
                    guard let date = WireCoding.date(from: text) else {
                        throw fail(node, "until must be an RFC 3339 time such as 2026-12-31T18:00:00Z")
                    }
                    until = date
                }
                exceptions.append(PolicyException(
                    id: try exception.string("id"), scope: try parseScope(exception),
                    apps: Set(try exception.list("apps")), until: until,
                    reason: try exception.string("reason")))
            }
        }
        var scope = ScopeFilter()
        if let node = entry["scope"] {
            let filter = try map(node, "scope")
            try filter.allow(["users", "groups", "hosts", "risk"])
            scope = try parseScope(filter)
        }
        return PolicyRule(
            id: id, description: try entry.string("description"),
            condition: try parseCondition(entry.required("when"), known: known), activities: activities,
            destinations: destinations, scope: scope, action: action,
            message: try entry.string("message"),
            helpdesk: try entry.string("helpdesk"), exceptions: exceptions)
    }

    private func parseScope(_ entry: YAMLMap) throws(PolicyError) -> ScopeFilter {
        var risk: Set<UserRisk> = []
        for name in try entry.list("risk") {
            guard let level = UserRisk(rawValue: name) else {
                throw fail(entry["risk"] ?? entry.node, "unknown risk level '\(name)' (expected low, elevated or high)")
            }
            risk.insert(level)
        }
        return ScopeFilter(
            users: Set(try entry.list("users")),
            groups: Set(try entry.list("groups")),
            hosts: Set(try entry.list("hosts")), risk: risk)
    }

    private func parseCondition(_ node: Node, known: Set<String>) throws(PolicyError) -> PolicyCondition {
        let entry = try map(node, "a condition")
        if let list = entry["any"] ?? entry["all"] {
            try entry.allow(["any", "all"])
            guard entry["any"] == nil || entry["all"] == nil else { throw fail(node, "a condition has either 'any' or 'all', not both") }
            var conditions: [PolicyCondition] = []
            for item in try sequence(list, "conditions") { conditions.append(try parseCondition(item, known: known)) }
            guard !conditions.isEmpty else { throw fail(list, "an empty list of conditions never matches") }
            return entry["any"] != nil ? .any(conditions) : .all(conditions)
        }
        if let list = entry["labels"] {
            try entry.allow(["labels"])
            let labels = try strings(list, "labels")
            guard !labels.isEmpty else { throw fail(list, "labels is empty") }
            return .label(labels)
        }
        if let flag = entry["always"] {
            try entry.allow(["always"])
            guard flag.bool == true else { throw fail(flag, "always only takes 'true' (the rule fires whatever the content)") }
            return .always
        }
        if let flag = entry["partial"] {
            try entry.allow(["partial"])
            guard flag.bool == true else { throw fail(flag, "partial only takes 'true' (a partially scanned content)") }
            return .partial
        }
        guard let typeList = entry["types"] else {
            throw fail(node, "a condition needs 'types', 'labels', 'partial', 'always', 'any' or 'all'")
        }
        try entry.allow(["types", "min_count", "min_confidence"])
        var types: [String] = []
        for item in try sequenceOrScalar(typeList) {
            let type = try scalar(item, "type")
            guard known.contains(type) else {
                throw fail(item, "unknown information type '\(type)' (built-in types are listed by 'bulwark-agent policy types'; custom ones are <kind>:<id> of a classifier defined here)")
            }
            types.append(type)
        }
        var minCount = 1
        if let node = entry["min_count"] {
            guard let value = Int(try scalar(node, "min_count")), value >= 1 else { throw fail(node, "min_count must be a whole number ≥ 1") }
            minCount = value
        }
        var minConfidence = ContentClassifier.Confidence.low
        if let node = entry["min_confidence"] {
            let text = try scalar(node, "min_confidence")
            switch text {
            case "low": minConfidence = ContentClassifier.Confidence.low
            case "medium": minConfidence = ContentClassifier.Confidence.medium
            case "high": minConfidence = ContentClassifier.Confidence.high
            default:
                guard let value = Int(text), (0...100).contains(value) else {
                    throw fail(node, "min_confidence must be low, medium, high or a number 0…100")
                }
                minConfidence = value
            }
        }
        return .info(types: types, minCount: minCount, minConfidence: minConfidence)
    }

    // MARK: Node access with positions

    /// A YAML mapping with the checks every section needs.
    struct YAMLMap {
        var node: Node
        var pairs: [(key: String, keyNode: Node, value: Node)]
        var what: String
        var parser: PolicyParser

        subscript(key: String) -> Node? { pairs.first { $0.key == key }?.value }

        func required(_ key: String) throws(PolicyError) -> Node {
            guard let value = self[key] else { throw parser.fail(node, "\(what) needs '\(key)'") }
            return value
        }

        /// The single value under `key`, if present.
        func string(_ key: String) throws(PolicyError) -> String? {
            guard let value = self[key] else { return nil }
            return try parser.scalar(value, key)
        }

        /// The values under `key` (one value or a list), empty if absent.
        func list(_ key: String) throws(PolicyError) -> [String] {
            guard let value = self[key] else { return [] }
            return try parser.strings(value, key)
        }

        func allow(_ keys: Set<String>) throws(PolicyError) {
            for pair in pairs where !keys.contains(pair.key) {
                throw parser.fail(pair.keyNode, "unknown key '\(pair.key)' in \(what) (expected one of: \(keys.sorted().joined(separator: ", ")))")
            }
        }
    }

    func map(_ node: Node, _ what: String) throws(PolicyError) -> YAMLMap {
        guard let mapping = node.mapping else { throw fail(node, "\(what) must be a mapping (key: value)") }
        var pairs: [(key: String, keyNode: Node, value: Node)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else { throw fail(key, "keys must be plain words") }
            if pairs.contains(where: { $0.key == name }) { throw fail(key, "duplicate key '\(name)' in \(what)") }
            pairs.append((name, key, value))
        }
        return YAMLMap(node: node, pairs: pairs, what: what, parser: self)
    }

    func scalar(_ node: Node, _ what: String) throws(PolicyError) -> String {
        guard let scalar = node.scalar else { throw fail(node, "\(what) must be a single value") }
        return scalar.string
    }

    func sequence(_ node: Node, _ what: String) throws(PolicyError) -> [Node] {
        guard let sequence = node.sequence else { throw fail(node, "\(what) must be a list") }
        return Array(sequence)
    }

    /// A list, or one value standing for a list of one.
    func sequenceOrScalar(_ node: Node) throws(PolicyError) -> [Node] {
        if let sequence = node.sequence { return Array(sequence) }
        guard node.scalar != nil else { throw fail(node, "expected a value or a list of values") }
        return [node]
    }

    func strings(_ node: Node, _ what: String) throws(PolicyError) -> [String] {
        var values: [String] = []
        for item in try sequenceOrScalar(node) { values.append(try scalar(item, what)) }
        return values
    }

    func identifier(_ node: Node, _ what: String) throws(PolicyError) -> String {
        let text = try scalar(node, what)
        guard !text.isEmpty, text.utf8.allSatisfy({ Candidates.isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }) else {
            throw fail(node, "\(what) '\(text)' may hold only letters, digits, '_', '-' and '.'")
        }
        return text
    }

    func fail(_ node: Node, _ message: String) -> PolicyError {
        PolicyError(source: source, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0, message: message)
    }

    private func syntaxError(_ error: YamlError) -> PolicyError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let prefix = context.map { "\($0.text), " } ?? ""
            return PolicyError(source: source, line: mark.line, column: mark.column, message: "YAML syntax: \(prefix)\(problem)")
        default:
            return PolicyError(source: source, line: 0, column: 0, message: "YAML syntax: \(error)")
        }
    }
}
