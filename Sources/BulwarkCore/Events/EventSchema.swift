/// The registry of event types and the fields each schema version requires.
///
/// Rule (docs/EVENTS.md): a type's schema version is bumped whenever a field is removed, renamed
/// or changes meaning; adding an optional field does not bump it. The collector refuses versions it
/// does not know rather than guessing.
public struct EventSchema: Sendable {
    /// The JSON kind a field must have.
    public enum FieldKind: Sendable {
        case string, integer, number, bool, object, array

        func accepts(_ value: JSONValue) -> Bool {
            switch (self, value) {
            case (.string, .string), (.number, .number), (.bool, .bool), (.object, .object), (.array, .array):
                return true
            case (.integer, .number(let n)):
                return n.rounded() == n
            default:
                return false
            }
        }

        var name: String {
            switch self {
            case .string: "string"
            case .integer: "integer"
            case .number: "number"
            case .bool: "boolean"
            case .object: "object"
            case .array: "array"
            }
        }
    }

    public struct Field: Sendable {
        public var name: String
        public var kind: FieldKind
        public var required: Bool
    }

    public let type: String
    public let version: Int
    public let fields: [Field]

    public init(type: String, version: Int, fields: [Field]) {
        self.type = type
        self.version = version
        self.fields = fields
    }

    /// Checks `data` against this schema; unknown extra fields are allowed (forward compatible).
    public func validate(_ data: [String: JSONValue]) throws(EventValidationError) {
        for field in fields {
            guard let value = data[field.name], value != .null else {
                if field.required { throw .missingField(type: type, field: field.name) }
                continue
            }
            guard field.kind.accepts(value) else {
                throw .wrongFieldKind(type: type, field: field.name, expected: field.kind.name, got: value.kindName)
            }
        }
    }
}

extension EventSchema.Field {
    static func required(_ name: String, _ kind: EventSchema.FieldKind) -> Self {
        .init(name: name, kind: kind, required: true)
    }
    static func optional(_ name: String, _ kind: EventSchema.FieldKind) -> Self {
        .init(name: name, kind: kind, required: false)
    }
}

/// Why an event was refused.
public enum EventValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownType(String)
    case unsupportedVersion(type: String, version: Int, supported: [Int])
    case missingField(type: String, field: String)
    case wrongFieldKind(type: String, field: String, expected: String, got: String)
    case invalidSequence(UInt64)

    public var description: String {
        switch self {
        case .unknownType(let type):
            return "unknown event type '\(type)'; this collector understands: \(EventCatalog.standard.typeNames.joined(separator: ", "))"
        case .unsupportedVersion(let type, let version, let supported):
            return "event type '\(type)' schema version \(version) is not supported (supported: \(supported.map(String.init).joined(separator: ", "))); upgrade the collector"
        case .missingField(let type, let field):
            return "event type '\(type)' requires field data.\(field)"
        case .wrongFieldKind(let type, let field, let expected, let got):
            return "event type '\(type)' field data.\(field) must be \(expected), got \(got)"
        case .invalidSequence(let seq):
            return "event sequence number \(seq) is invalid: sequence numbers start at 1"
        }
    }
}

/// All event types this build knows, by type and schema version.
public struct EventCatalog: Sendable {
    private let schemas: [String: [Int: EventSchema]]

    public init(_ schemas: [EventSchema]) {
        var byType: [String: [Int: EventSchema]] = [:]
        for schema in schemas { byType[schema.type, default: [:]][schema.version] = schema }
        self.schemas = byType
    }

    public var typeNames: [String] { schemas.keys.sorted() }

    /// The types whose data can have `field` (in any version): what a search on it can be
    /// narrowed to.
    public func types(withField field: String) -> [String] {
        schemas.filter { $0.value.values.contains { $0.fields.contains { $0.name == field } } }.keys.sorted()
    }

    /// Validates the envelope and data of one event.
    public func validate(_ event: Event) throws(EventValidationError) {
        guard event.seq >= 1 else { throw .invalidSequence(event.seq) }
        guard let versions = schemas[event.type] else { throw .unknownType(event.type) }
        guard let schema = versions[event.v] else {
            throw .unsupportedVersion(type: event.type, version: event.v, supported: versions.keys.sorted())
        }
        try schema.validate(event.data)
    }

    /// The event types of this release (docs/EVENTS.md documents each).
    public static let standard = EventCatalog([
        EventSchema(type: EventType.heartbeat, version: 1, fields: [
            .required("agent_version", .string),
            .required("policy_version", .integer),
            .required("spool_depth", .integer),
            .required("spool_bytes", .integer),
            .required("dropped", .integer),
            .optional("uptime_s", .integer),
            .optional("cert_expires", .string),
        ]),
        EventSchema(type: EventType.started, version: 1, fields: [
            .required("agent_version", .string),
            .required("pid", .integer),
            .optional("hostname", .string),
            .optional("os", .string),
        ]),
        EventSchema(type: EventType.stopped, version: 1, fields: [
            .required("reason", .string),
        ]),
        EventSchema(type: EventType.tamper, version: 1, fields: [
            .required("action", .string),
            .required("detail", .string),
            .optional("uid", .integer),
        ]),
        EventSchema(type: EventType.selftest, version: 1, fields: [
            .required("nonce", .string),
            .optional("index", .integer),
        ]),
        EventSchema(type: EventType.clipboardCopy, version: 1, fields: [
            .required("selection", .string),
            .required("bytes", .integer),
            .required("findings", .array),
            .required("truncated", .bool),
            .optional("targets", .array),
            .optional("content_hash", .string),
            .optional("source_pid", .integer),
            .optional("source_exe", .string),
            .optional("source_host", .string),
            .optional("source_app", .string),
            .optional("user", .string),
        ]),
    ] + [EventType.aiProcessStarted, EventType.aiProcessStopped].map { type in
        EventSchema(type: type, version: 1, fields: [
            .required("app", .string),
            .required("category", .string),
            .required("pid", .integer),
            .required("exe", .string),
            .required("uid", .integer),
            .required("evidence", .string),
            .optional("user", .string),
            .optional("script", .string),
            .optional("sha256", .string),
            .optional("source", .string),
            .optional("runtime_s", .integer),
        ])
    } + [EventType.aiListenerStarted, EventType.aiListenerStopped].map { type in
        EventSchema(type: type, version: 1, fields: [
            .required("app", .string),
            .required("category", .string),
            .required("port", .integer),
            .required("evidence", .string),
            .required("confirmed_by", .string),
            .optional("pid", .integer),
            .optional("exe", .string),
            .optional("models", .array),
        ])
    } + [EventType.aiModelFound, EventType.aiModelRemoved].map { type in
        EventSchema(type: type, version: 1, fields: [
            .required("path", .string),
            .required("name", .string),
            .required("evidence", .string),
            .required("uid", .integer),
            .optional("app", .string),
            .optional("category", .string),
            .optional("user", .string),
            .optional("size", .integer),
            .optional("format", .string),
            .optional("header_sha256", .string),
        ])
    } + [
        EventSchema(type: EventType.aiWebVisits, version: 1, fields: [
            .required("app", .string),
            .required("category", .string),
            .required("day", .string),
            .required("visits", .integer),
            .required("browser", .string),
            .required("evidence", .string),
            .required("uid", .integer),
            .optional("user", .string),
        ]),
        EventSchema(type: EventType.aiAPIConnection, version: 1, fields: [
            .required("app", .string),
            .required("category", .string),
            .required("host", .string),
            .required("remote_port", .integer),
            .required("pid", .integer),
            .required("evidence", .string),
            .optional("exe", .string),
            .optional("uid", .integer),
            .optional("user", .string),
        ]),
        EventSchema(type: EventType.aiSummary, version: 1, fields: [
            .required("app", .string),
            .required("category", .string),
            .required("evidence", .string),
            .required("count", .integer),
            .required("period_s", .integer),
            .optional("user", .string),
        ]),
        EventSchema(type: EventType.aiFocus, version: 1, fields: [
            .required("app", .string),
            .required("category", .string),
            .required("seconds", .integer),
            .required("evidence", .string),
            .optional("identified_by", .string),
            .optional("user", .string),
        ]),
    ] + EventType.fileOutcomes.map { outcome in
        EventSchema(type: EventType.file(outcome), version: 1, fields: [
            .required("incident_id", .string),
            .required("activity", .string),
            .required("path", .string),
            .required("pid", .integer),
            .required("findings", .array),
            .required("evidence", .string),
            .optional("app", .string),
            .optional("category", .string),
            .optional("sanction", .string),
            .optional("rule", .string),
            .optional("exe", .string),
            .optional("uid", .integer),
            .optional("user", .string),
            .optional("labels", .array),
            .optional("partial", .bool),
            .optional("verdict", .string),
            .optional("latency_ms", .number),
            .optional("exceptions", .array),
            .optional("file_sha256", .string),
            .optional("user_risk", .string),
        ])
    } + [
        EventSchema(type: EventType.incidentUpdated, version: 1, fields: [
            .required("incident_id", .string),
            .required("status", .string),
            .required("by", .string),
            .optional("note_added", .bool),
        ]),
        EventSchema(type: EventType.gap, version: 1, fields: [
            .required("agent_id", .string),
            .required("from", .string),
            .required("to", .string),
            .required("seconds", .number),
            .optional("last_event", .string),
        ]),
        EventSchema(type: EventType.agentHealth, version: 1, fields: [
            .required("component", .string),
            .required("status", .string),
            .required("message", .string),
        ]),
    ] + EventType.pasteOutcomes.map { outcome in
        EventSchema(type: EventType.paste(outcome), version: 1, fields: [
            .required("incident_id", .string),
            .required("selection", .string),
            .required("target", .string),
            .required("findings", .array),
            .required("latency_ms", .number),
            .optional("app", .string),
            .optional("category", .string),
            .optional("rule", .string),
            .optional("requestor_pid", .integer),
            .optional("requestor_exe", .string),
            .optional("justification", .string),
            .optional("identified_by", .string),
            .optional("window_class", .string),
            .optional("exceptions", .array),
            .optional("origin", .string),
            .optional("browser", .string),
            .optional("channel", .string),
            .optional("user_risk", .string),
        ])
    } + EventType.pasteOutcomes.map { outcome in
        EventSchema(type: EventType.upload(outcome), version: 1, fields: [
            .required("incident_id", .string),
            .required("origin", .string),
            .required("channel", .string),
            .required("files", .array),
            .required("findings", .array),
            .required("latency_ms", .number),
            .optional("browser", .string),
            .optional("app", .string),
            .optional("category", .string),
            .optional("rule", .string),
            .optional("partial", .bool),
            .optional("justification", .string),
            .optional("exceptions", .array),
            .optional("user_risk", .string),
        ])
    } + [
        EventSchema(type: EventType.browserNavigation, version: 1, fields: [
            .required("origin", .string),
            .required("outcome", .string),
            .required("app", .string),
            .required("category", .string),
            .required("sanction", .string),
            .required("evidence", .string),
            .optional("browser", .string),
        ]),
    ] + [
        EventSchema(type: EventType.dlpDecision, version: 1, fields: [
            .required("incident_id", .string),
            .required("activity", .string),
            .required("action", .string),
            .required("sanction", .string),
            .required("findings", .array),
            .required("labels", .array),
            .required("partial", .bool),
            .required("policy", .string),
            .optional("rule", .string),
            .optional("reasons", .array),
            .optional("app", .string),
            .optional("category", .string),
            .optional("user", .string),
            .optional("partial_reason", .string),
            .optional("content_bytes", .integer),
        ]),
    ])
}

/// Names of the event types, so no code spells them twice.
public enum EventType {
    public static let heartbeat = "agent.heartbeat"
    public static let started = "agent.started"
    public static let selftest = "agent.selftest"
    /// A DLP policy decision about content (docs/EVENTS.md).
    public static let dlpDecision = "dlp.decision"
    /// Something was copied to a clipboard selection (docs/EVENTS.md).
    public static let clipboardCopy = "clipboard.copy"

    /// A paste of guarded content and what happened to it (docs/EVENTS.md).
    public static func paste(_ outcome: String) -> String { "paste.\(outcome)" }
    public static let pasteOutcomes = ["allowed", "audited", "warned", "overridden", "blocked"]
    /// Files a browser page was given (file input, drop, form), decided by the browser
    /// extension with the session helper; the outcomes are the paste ones (docs/EVENTS.md).
    public static func upload(_ outcome: String) -> String { "upload.\(outcome)" }
    /// An AI site's page in a browser with the extension: visited, blocked (unsanctioned), its
    /// terms shown or accepted (monitored) (docs/EVENTS.md).
    public static let browserNavigation = "browser.navigation"
    /// The outcome word a decided action gives `paste.*` and `file.*` events (`block` → `blocked`).
    public static func outcome(of action: PolicyAction) -> String {
        switch action {
        case .allow: "allowed"
        case .audit: "audited"
        case .warn: "warned"
        case .block: "blocked"
        }
    }
    /// An AI program started running / stopped (docs/EVENTS.md).
    public static let aiProcessStarted = "ai.process.started"
    public static let aiProcessStopped = "ai.process.stopped"
    /// A local AI server started / stopped listening (docs/EVENTS.md).
    public static let aiListenerStarted = "ai.listener.started"
    public static let aiListenerStopped = "ai.listener.stopped"
    /// A model file appeared / went away (docs/EVENTS.md).
    public static let aiModelFound = "ai.model.found"
    public static let aiModelRemoved = "ai.model.removed"
    /// Visits to an AI web app from browser history, per user, browser and day (docs/EVENTS.md).
    public static let aiWebVisits = "ai.web.visits"
    /// A program connected to an AI API host (docs/EVENTS.md).
    public static let aiAPIConnection = "ai.api.connection"
    /// The file guard's decisions on opens by AI tools and on AI tools starting (docs/EVENTS.md).
    public static let fileOutcomes = ["audited", "blocked"]
    public static func file(_ outcome: String) -> String { "file.\(outcome)" }
    /// A part of the agent could not do its job, or can again (docs/EVENTS.md).
    public static let agentHealth = "agent.health"
    /// Once a day: an app still in use, per evidence kind and user (docs/EVENTS.md).
    public static let aiSummary = "ai.summary"
    /// A stretch of time an AI app's window had the focus (docs/EVENTS.md).
    public static let aiFocus = "ai.focus"
    /// Recorded by the collector itself (agent `collector`) when helpdesk or an analyst changes
    /// an incident, so searches, exports and SIEMs see incidents' whole life (docs/EVENTS.md).
    public static let incidentUpdated = "incident.updated"
    /// The agent stopped gracefully: `reason` `shutdown` (the system is going down) or `stopped`
    /// (its service was stopped while the system runs) (docs/EVENTS.md).
    public static let stopped = "agent.stopped"
    /// Someone worked against the agent: stopped, disabled, masked or removed it, or deleted its
    /// state (docs/EVENTS.md).
    public static let tamper = "agent.tamper"
    /// Recorded by the collector when an agent is heard from again after a silence longer than
    /// `stale_after` (docs/EVENTS.md).
    public static let gap = "agent.gap"
    /// The agent id the collector's own events carry.
    public static let collectorAgent = "collector"
}
