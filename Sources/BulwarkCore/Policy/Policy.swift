import Foundation

/// A DLP policy: custom classifiers and the rules that decide what happens to sensitive
/// content on its way to a destination. Parsed from YAML by `PolicyParser`; see
/// docs/POLICY.md for the language and `DefaultPolicy` for what ships.
public struct Policy: Sendable, Equatable {
    public var name: String
    public var classifiers: [CustomClassifierDefinition]
    public var rules: [PolicyRule]
    /// What the browser extension does beyond the rules (`browser:`).
    public var browser: BrowserSettings

    public init(name: String, classifiers: [CustomClassifierDefinition] = [], rules: [PolicyRule], browser: BrowserSettings = BrowserSettings()) {
        self.name = name
        self.classifiers = classifiers
        self.rules = rules
        self.browser = browser
    }
}

/// What the user is doing with the content.
public enum Activity: String, Sendable, Codable, CaseIterable {
    case paste
    case fileUpload = "file_upload"
    case fileReadByAITool = "file_read_by_ai_tool"
    case copy
    /// Starting an AI tool's executable (no content: rules use `when: {always: true}`).
    case aiToolExec = "ai_tool_exec"
}

/// Where an app stands with the organisation (set by admins on the collector's inventory).
public enum SanctionState: String, Sendable, Codable, CaseIterable {
    case unreviewed, sanctioned, monitored, unsanctioned
}

/// What a rule does. Ordered: the most restrictive matching action wins.
public enum PolicyAction: String, Sendable, Codable, Comparable, CaseIterable {
    /// No rule matched (never written in a policy).
    case allow
    /// Let it happen and record it.
    case audit
    /// Ask the user to confirm with a justification; the override is recorded.
    case warn
    /// Stop it and tell the user why.
    case block

    var rank: Int {
        switch self {
        case .allow: 0
        case .audit: 1
        case .warn: 2
        case .block: 3
        }
    }

    public static func < (lhs: PolicyAction, rhs: PolicyAction) -> Bool { lhs.rank < rhs.rank }
}

/// One rule: when content matches `condition` during one of `activities` towards a matching
/// destination, for a user in `scope`, take `action` (unless an exception applies).
public struct PolicyRule: Sendable, Equatable {
    public var id: String
    public var description: String?
    public var condition: PolicyCondition
    /// Empty: every activity.
    public var activities: Set<Activity>
    public var destinations: DestinationFilter
    public var scope: ScopeFilter
    public var action: PolicyAction
    /// Shown to the user in the notification.
    public var message: String?
    /// Shown to helpdesk with the incident.
    public var helpdesk: String?
    public var exceptions: [PolicyException]
}

/// Conditions on the classified content.
public indirect enum PolicyCondition: Sendable, Equatable {
    /// At least `minCount` matches of one of `types` with confidence ≥ `minConfidence`.
    case info(types: [String], minCount: Int, minConfidence: Int)
    /// A sensitivity label, by name (case-insensitive) or GUID.
    case label([String])
    /// The content could be scanned only partially (a limit was hit).
    case partial
    /// Whatever the content (for activities without content, such as `ai_tool_exec`).
    case always
    case any([PolicyCondition])
    case all([PolicyCondition])
}

/// Which destinations a rule covers. Fields combine with AND; values within a field with OR;
/// an empty field matches everything.
public struct DestinationFilter: Sendable, Equatable {
    public var apps: Set<String> = []
    public var categories: Set<String> = []
    public var sanction: Set<SanctionState> = []

    public init(apps: Set<String> = [], categories: Set<String> = [], sanction: Set<SanctionState> = []) {
        self.apps = apps
        self.categories = categories
        self.sanction = sanction
    }

    func matches(_ destination: Destination) -> Bool {
        (apps.isEmpty || destination.appID.map(apps.contains) == true)
            && (categories.isEmpty || destination.category.map(categories.contains) == true)
            && (sanction.isEmpty || sanction.contains(destination.sanction))
    }
}

/// Who a rule (or an exception) covers; same combination rules as `DestinationFilter`.
public struct ScopeFilter: Sendable, Equatable {
    public var users: Set<String> = []
    public var groups: Set<String> = []
    public var hosts: Set<String> = []
    /// The user's risk level must be one of these (adaptive protection: `risk: [elevated, high]`).
    public var risk: Set<UserRisk> = []

    public init(users: Set<String> = [], groups: Set<String> = [], hosts: Set<String> = [], risk: Set<UserRisk> = []) {
        self.users = users
        self.groups = groups
        self.hosts = hosts
        self.risk = risk
    }

    func matches(_ request: PolicyRequest) -> Bool {
        (users.isEmpty || request.user.map(users.contains) == true)
            && (groups.isEmpty || !groups.isDisjoint(with: request.groups))
            && (hosts.isEmpty || request.host.map(hosts.contains) == true)
            && (risk.isEmpty || risk.contains(request.userRisk))
    }
}

/// How risky a user's recent behaviour makes them (computed by the collector from incidents,
/// docs/POLICY.md "Adaptive protection"); rules can tighten for the riskier ones.
public enum UserRisk: String, Sendable, Codable, CaseIterable, Comparable {
    case low, elevated, high

    public static func < (lhs: UserRisk, rhs: UserRisk) -> Bool {
        allCases.firstIndex(of: lhs) ?? 0 < allCases.firstIndex(of: rhs) ?? 0
    }
}

/// A carve-out from one rule: who and where it does not apply, optionally until a time
/// (helpdesk's time-boxed exceptions).
public struct PolicyException: Sendable, Equatable {
    public var id: String?
    public var scope: ScopeFilter
    public var apps: Set<String>
    public var until: Date?
    public var reason: String?
    /// Only for the file with this SHA-256 (hex).
    public var fileSHA256: String?

    public init(id: String?, scope: ScopeFilter, apps: Set<String>, until: Date?, reason: String?, fileSHA256: String? = nil) {
        self.id = id
        self.scope = scope
        self.apps = apps
        self.until = until
        self.reason = reason
        self.fileSHA256 = fileSHA256
    }

    func applies(to request: PolicyRequest) -> Bool {
        if let until, request.time >= until { return false }
        if let fileSHA256, request.fileSHA256 != fileSHA256 { return false }
        return scope.matches(request) && (apps.isEmpty || request.destination.appID.map(apps.contains) == true)
    }
}

/// A custom classifier the policy defines; its findings are reported as `<kind>:<id>`.
public struct CustomClassifierDefinition: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Whole words or phrases, case- and diacritics-insensitive.
        case keywords([String])
        /// A regular expression, optionally checked by a built-in validator and supported by
        /// keywords (which raise confidence from medium to high).
        case regex(pattern: String, validator: String?, keywords: [String])
        /// Exact Data Match against a hashed table made by `bulwark-agent edm hash`.
        case edm(file: String)
        /// Similarity to a document made by `bulwark-agent fingerprint create`.
        case fingerprint(file: String, threshold: Double)
    }

    public var id: String
    public var kind: Kind

    public init(id: String, kind: Kind) {
        self.id = id
        self.kind = kind
    }

    /// The type id its findings carry.
    public var typeID: String {
        switch kind {
        case .keywords: "keywords:\(id)"
        case .regex: "regex:\(id)"
        case .edm: "edm:\(id)"
        case .fingerprint: "fingerprint:\(id)"
        }
    }
}

/// Where content is going.
public struct Destination: Sendable, Equatable, Codable {
    /// Catalog app id (`chatgpt`), nil when unknown.
    public var appID: String?
    /// Catalog category (`consumer_ai`, `ai_coding`, `local_llm`, ...).
    public var category: String?
    public var sanction: SanctionState

    public init(appID: String?, category: String?, sanction: SanctionState = .unreviewed) {
        self.appID = appID
        self.category = category
        self.sanction = sanction
    }
}

/// Everything the evaluator needs to decide one action.
public struct PolicyRequest: Sendable {
    public var activity: Activity
    public var destination: Destination
    public var user: String?
    public var groups: Set<String>
    public var host: String?
    public var content: ScanResult
    public var time: Date
    /// The user's risk level as the collector last computed it.
    public var userRisk: UserRisk
    /// The SHA-256 of the file concerned, when known (file exceptions match on it).
    public var fileSHA256: String?

    public init(
        activity: Activity, destination: Destination, user: String? = nil, groups: Set<String> = [], host: String? = nil,
        content: ScanResult, time: Date = Date(), userRisk: UserRisk = .low
    ) {
        self.activity = activity
        self.destination = destination
        self.user = user
        self.groups = groups
        self.host = host
        self.content = content
        self.time = time
        self.userRisk = userRisk
    }
}
