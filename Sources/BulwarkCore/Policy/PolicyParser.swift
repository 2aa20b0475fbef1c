import Foundation
import Yams

/// A policy that cannot be used, with where and why: `policy.yaml:12:7: unknown action 'blok'`.
public typealias PolicyError = YAMLFault

/// Parses the YAML policy language (docs/POLICY.md) strictly: unknown keys, unknown
/// information types, wrong value kinds and duplicate ids are errors with line and column,
/// because a typo in a DLP policy silently protects nothing.
public struct PolicyParser: Sendable {
    public var source: String

    private var yaml: YAMLSource { YAMLSource(source: source) }

    public init(source: String = "policy") {
        self.source = source
    }

    public func parse(_ text: String) throws(PolicyError) -> Policy {
        let root = try yaml.compose(text)
        guard let root else { throw PolicyError(source: source, line: 1, column: 1, message: "the policy is empty") }
        let top = try yaml.map(root, "the policy")
        try top.allow(["version", "name", "classifiers", "rules", "browser"])
        if let version = top["version"] {
            guard try yaml.scalar(version, "version") == "1" else { throw yaml.fail(version, "unsupported policy version (this agent reads version 1)") }
        }
        let name = try top.string("name") ?? "policy"

        var classifiers: [CustomClassifierDefinition] = []
        if let list = top["classifiers"] {
            for item in try yaml.sequence(list, "classifiers") {
                let classifier = try parseClassifier(item)
                if classifiers.contains(where: { $0.id == classifier.id }) { throw yaml.fail(item, "duplicate classifier id '\(classifier.id)'") }
                classifiers.append(classifier)
            }
        }
        let known = ContentClassifier.builtInTypes.union(classifiers.map(\.typeID))

        guard let ruleList = top["rules"] else { throw yaml.fail(root, "the policy has no 'rules'") }
        var rules: [PolicyRule] = []
        for item in try yaml.sequence(ruleList, "rules") {
            let rule = try parseRule(item, known: known)
            if rules.contains(where: { $0.id == rule.id }) { throw yaml.fail(item, "duplicate rule id '\(rule.id)'") }
            rules.append(rule)
        }
        let browser = try top["browser"].map { node throws(PolicyError) in try parseBrowser(node) } ?? BrowserSettings()
        return Policy(name: name, classifiers: classifiers, rules: rules, browser: browser)
    }

    /// Reads and parses a policy file.
    public static func load(path: String) throws(PolicyError) -> Policy {
        try PolicyParser(source: path).parse(try YAMLSource.read(path: path, what: "policy file"))
    }

    // MARK: Sections

    private func parseBrowser(_ node: Node) throws(PolicyError) -> BrowserSettings {
        let entry = try yaml.map(node, "browser")
        try entry.allow(["typed_prompts", "without_helper", "terms", "request_access"])
        var settings = BrowserSettings()
        settings.typedPrompts = try entry.bool("typed_prompts") ?? false
        if let value = entry["without_helper"] {
            let name = try yaml.scalar(value, "without_helper")
            guard let mode = BrowserSettings.WithoutHelper(rawValue: name) else {
                throw yaml.fail(value, "unknown without_helper '\(name)' (expected allow or block)")
            }
            settings.withoutHelper = mode
        }
        if let value = entry["terms"] {
            let terms = try yaml.map(value, "terms")
            try terms.allow(["text", "every"])
            let text = try yaml.scalar(terms.required("text"), "text").trimmingCharacters(in: .whitespacesAndNewlines)
            try terms.require("text", !text.isEmpty, "terms text is empty")
            var every = BrowserSettings.defaultTerms.everySeconds
            if let period = terms["every"] {
                let text = try yaml.scalar(period, "every")
                do throws(DurationText.Invalid) { every = try DurationText.seconds(text) } catch { throw yaml.fail(period, error.description) }
            }
            settings.terms = BrowserSettings.Terms(text: text, everySeconds: every)
        }
        settings.requestAccess = try entry.string("request_access")
        return settings
    }

    private func parseClassifier(_ node: Node) throws(PolicyError) -> CustomClassifierDefinition {
        let entry = try yaml.map(node, "a classifier")
        let id = try identifier(entry.required("id"), "classifier id")
        let kindNode = try entry.required("kind")
        let kind: CustomClassifierDefinition.Kind
        switch try yaml.scalar(kindNode, "kind") {
        case "keywords":
            try entry.allow(["id", "kind", "words"])
            let words = try yaml.strings(entry.required("words"), "words")
            guard !words.isEmpty else { throw yaml.fail(node, "classifier '\(id)' has no words") }
            kind = .keywords(words)
        case "regex":
            try entry.allow(["id", "kind", "pattern", "validator", "keywords"])
            let patternNode = try entry.required("pattern")
            let pattern = try yaml.scalar(patternNode, "pattern")
            do { _ = try NSRegularExpression(pattern: pattern) } catch {
                throw yaml.fail(patternNode, "invalid regular expression: \(error.localizedDescription)")
            }
            var validator: String?
            if let node = entry["validator"] {
                let name = try yaml.scalar(node, "validator")
                guard Validators.named[name] != nil else {
                    throw yaml.fail(node, "unknown validator '\(name)' (expected one of: \(Validators.named.keys.sorted().joined(separator: ", ")))")
                }
                validator = name
            }
            kind = .regex(pattern: pattern, validator: validator, keywords: try entry.list("keywords"))
        case "edm":
            try entry.allow(["id", "kind", "file"])
            kind = .edm(file: try yaml.scalar(entry.required("file"), "file"))
        case "fingerprint":
            try entry.allow(["id", "kind", "file", "threshold"])
            var threshold = 0.5
            if let node = entry["threshold"] {
                guard let value = Double(try yaml.scalar(node, "threshold")), value > 0, value <= 1 else {
                    throw yaml.fail(node, "threshold must be a number in (0, 1], the share of the document's fingerprint that must be present")
                }
                threshold = value
            }
            kind = .fingerprint(file: try yaml.scalar(entry.required("file"), "file"), threshold: threshold)
        case let other:
            throw yaml.fail(kindNode, "unknown classifier kind '\(other)' (expected keywords, regex, edm or fingerprint)")
        }
        return CustomClassifierDefinition(id: id, kind: kind)
    }

    private func parseRule(_ node: Node, known: Set<String>) throws(PolicyError) -> PolicyRule {
        let entry = try yaml.map(node, "a rule")
        try entry.allow(["id", "description", "when", "activities", "destinations", "scope", "action", "message", "helpdesk", "exceptions"])
        let id = try identifier(entry.required("id"), "rule id")
        let actionNode = try entry.required("action")
        let actionName = try yaml.scalar(actionNode, "action")
        guard let action = PolicyAction(rawValue: actionName), action != .allow else {
            throw yaml.fail(actionNode, "unknown action '\(actionName)' (expected audit, warn or block)")
        }
        var activities: Set<Activity> = []
        if let list = entry["activities"] {
            for item in try yaml.sequenceOrScalar(list) {
                let name = try yaml.scalar(item, "activity")
                guard let activity = Activity(rawValue: name) else {
                    throw yaml.fail(item, "unknown activity '\(name)' (expected one of: \(Activity.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                activities.insert(activity)
            }
        }
        var destinations = DestinationFilter()
        if let node = entry["destinations"] {
            let filter = try yaml.map(node, "destinations")
            try filter.allow(["apps", "categories", "sanction"])
            destinations.apps = Set(try filter.list("apps"))
            destinations.categories = Set(try filter.list("categories"))
            if let list = filter["sanction"] {
                for item in try yaml.sequenceOrScalar(list) {
                    let name = try yaml.scalar(item, "sanction")
                    guard let state = SanctionState(rawValue: name) else {
                        throw yaml.fail(item, "unknown sanction state '\(name)' (expected unreviewed, sanctioned, monitored or unsanctioned)")
                    }
                    destinations.sanction.insert(state)
                }
            }
        }
        var exceptions: [PolicyException] = []
        if let list = entry["exceptions"] {
            for item in try yaml.sequence(list, "exceptions") {
                let exception = try yaml.map(item, "an exception")
                try exception.allow(["id", "users", "groups", "hosts", "apps", "until", "reason"])
                var until: Date?
                if let node = exception["until"] {
                    let text = try yaml.scalar(node, "until")
                    guard let date = WireCoding.date(from: text) else {
                        throw yaml.fail(node, "until must be an RFC 3339 time such as 2026-12-31T18:00:00Z")
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
            let filter = try yaml.map(node, "scope")
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

    private func parseScope(_ entry: YAMLSource.Map) throws(PolicyError) -> ScopeFilter {
        var risk: Set<UserRisk> = []
        for name in try entry.list("risk") {
            guard let level = UserRisk(rawValue: name) else {
                throw yaml.fail(entry["risk"] ?? entry.node, "unknown risk level '\(name)' (expected low, elevated or high)")
            }
            risk.insert(level)
        }
        return ScopeFilter(
            users: Set(try entry.list("users")),
            groups: Set(try entry.list("groups")),
            hosts: Set(try entry.list("hosts")), risk: risk)
    }

    private func parseCondition(_ node: Node, known: Set<String>) throws(PolicyError) -> PolicyCondition {
        let entry = try yaml.map(node, "a condition")
        if let list = entry["any"] ?? entry["all"] {
            try entry.allow(["any", "all"])
            guard entry["any"] == nil || entry["all"] == nil else { throw yaml.fail(node, "a condition has either 'any' or 'all', not both") }
            var conditions: [PolicyCondition] = []
            for item in try yaml.sequence(list, "conditions") { conditions.append(try parseCondition(item, known: known)) }
            guard !conditions.isEmpty else { throw yaml.fail(list, "an empty list of conditions never matches") }
            return entry["any"] != nil ? .any(conditions) : .all(conditions)
        }
        if let list = entry["labels"] {
            try entry.allow(["labels"])
            let labels = try yaml.strings(list, "labels")
            guard !labels.isEmpty else { throw yaml.fail(list, "labels is empty") }
            return .label(labels)
        }
        if let flag = entry["always"] {
            try entry.allow(["always"])
            guard flag.bool == true else { throw yaml.fail(flag, "always only takes 'true' (the rule fires whatever the content)") }
            return .always
        }
        if let flag = entry["partial"] {
            try entry.allow(["partial"])
            guard flag.bool == true else { throw yaml.fail(flag, "partial only takes 'true' (a partially scanned content)") }
            return .partial
        }
        guard let typeList = entry["types"] else {
            throw yaml.fail(node, "a condition needs 'types', 'labels', 'partial', 'always', 'any' or 'all'")
        }
        try entry.allow(["types", "min_count", "min_confidence"])
        var types: [String] = []
        for item in try yaml.sequenceOrScalar(typeList) {
            let type = try yaml.scalar(item, "type")
            guard known.contains(type) else {
                throw yaml.fail(item, "unknown information type '\(type)' (built-in types are listed by 'bulwark-agent policy types'; custom ones are <kind>:<id> of a classifier defined here)")
            }
            types.append(type)
        }
        var minCount = 1
        if let node = entry["min_count"] {
            guard let value = Int(try yaml.scalar(node, "min_count")), value >= 1 else { throw yaml.fail(node, "min_count must be a whole number ≥ 1") }
            minCount = value
        }
        var minConfidence = ContentClassifier.Confidence.low
        if let node = entry["min_confidence"] {
            let text = try yaml.scalar(node, "min_confidence")
            switch text {
            case "low": minConfidence = ContentClassifier.Confidence.low
            case "medium": minConfidence = ContentClassifier.Confidence.medium
            case "high": minConfidence = ContentClassifier.Confidence.high
            default:
                guard let value = Int(text), (0...100).contains(value) else {
                    throw yaml.fail(node, "min_confidence must be low, medium, high or a number 0…100")
                }
                minConfidence = value
            }
        }
        return .info(types: types, minCount: minCount, minConfidence: minConfidence)
    }

    func identifier(_ node: Node, _ what: String) throws(PolicyError) -> String {
        let text = try yaml.scalar(node, what)
        guard !text.isEmpty, text.utf8.allSatisfy({ Candidates.isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }) else {
            throw yaml.fail(node, "\(what) '\(text)' may hold only letters, digits, '_', '-' and '.'")
        }
        return text
    }
}
