import BulwarkCore
import Foundation

/// What helpdesk and analysts do with an incident.
public enum IncidentStatus: String, Sendable, Codable, CaseIterable {
    case open
    case resolved
    case falsePositive = "false_positive"
}

/// A warn or block decision an agent reported, by the incident id the user's notification
/// showed. Built at ingest from the event that carries the decision; a later event with the same
/// id (a warning the user then overrode) updates its outcome.
public struct IncidentRecord: Sendable, Codable, Equatable {
    public struct Note: Sendable, Codable, Equatable {
        public var time: Date
        /// `token:<name>` of whoever wrote it.
        public var author: String
        public var text: String
    }

    public var id: String
    public var agentID: String
    /// The event that reported it first (`GET /api/v1/events?after=` finds its neighbours).
    public var eventID: Int64
    public var time: Date
    /// When an event last updated it (an override after a warning).
    public var updated: Date
    /// The event type that decided it: `paste.blocked`, `file.blocked`, `dlp.decision`...
    public var type: String
    /// `block`, `warn` or `override` (warned, then the user went ahead with a reason).
    public var action: String
    public var activity: String?
    public var app: String?
    public var category: String?
    public var user: String?
    public var rule: String?
    /// Types, counts and confidences found — never the content.
    public var findings: JSONValue
    /// The file, for file decisions.
    public var file: String?
    /// The file's SHA-256 when the agent stopped its read (an exception can name that file).
    public var fileSHA256: String?
    /// The user's reason, for an override.
    public var justification: String?
    public var status: IncidentStatus
    public var statusChangedBy: String?
    public var statusChangedAt: Date?
    public var notes: [Note]

    enum CodingKeys: String, CodingKey {
        case id, time, updated, type, action, activity, app, category, user, rule, findings, file, justification, status, notes
        case agentID = "agent"
        case eventID = "event_id"
        case fileSHA256 = "file_sha256"
        case statusChangedBy = "status_changed_by"
        case statusChangedAt = "status_changed_at"
    }
}

/// The incident an event reports, if any: every `warn`/`block` outcome carries an incident id.
public struct IncidentDraft: Sendable, Equatable {
    public var id: String
    public var type: String
    public var action: String
    public var activity: String?
    public var app: String?
    public var category: String?
    public var user: String?
    public var rule: String?
    /// JSON text of the findings array.
    public var findings: String
    public var file: String?
    public var fileSHA256: String?
    public var justification: String?

    public init?(type: String, data: [String: JSONValue]) {
        guard let id = data["incident_id"]?.stringValue, !id.isEmpty else { return nil }
        let action: String
        switch type {
        case EventType.paste("blocked"), EventType.file("blocked"), EventType.upload("blocked"): action = "block"
        case EventType.paste("warned"), EventType.upload("warned"): action = "warn"
        case EventType.paste("overridden"), EventType.upload("overridden"): action = "override"
        case EventType.dlpDecision:
            guard let decided = data["action"]?.stringValue, decided == "block" || decided == "warn" else { return nil }
            action = decided
        default: return nil
        }
        self.id = id
        self.type = type
        self.action = action
        activity = data["activity"]?.stringValue ?? (type.hasPrefix("paste.") ? "paste" : type.hasPrefix("upload.") ? Activity.fileUpload.rawValue : nil)
        app = data["app"]?.stringValue
        category = data["category"]?.stringValue
        user = data["user"]?.stringValue
        rule = data["rule"]?.stringValue
        findings = (data["findings"] ?? .array([])).jsonText
        // A browser upload names its files (the first decides nothing: all were checked).
        if case .array(let files)? = data["files"] {
            file = files.compactMap { if case .object(let file) = $0 { file["name"]?.stringValue } else { nil } }.joined(separator: ", ")
        } else {
            file = data["path"]?.stringValue
        }
        fileSHA256 = data["file_sha256"]?.stringValue
        justification = data["justification"]?.stringValue
    }
}

/// Which incidents to list, newest first.
public struct IncidentQuery: Sendable, Equatable {
    public var status: IncidentStatus?
    public var user: String?
    public var app: String?
    public var since: Date?
    /// Only incidents older than this one (paging backwards).
    public var before: String?
    public var limit = 100

    public init(status: IncidentStatus? = nil, user: String? = nil, app: String? = nil, since: Date? = nil, before: String? = nil, limit: Int = 100) {
        self.status = status
        self.user = user
        self.app = app
        self.since = since
        self.before = before
        self.limit = limit
    }
}

/// A status change and/or a note, by someone.
public struct IncidentChange: Sendable, Equatable {
    public var status: IncidentStatus?
    public var note: String?
    public var by: String
    public var at: Date

    public init(status: IncidentStatus?, note: String?, by: String, at: Date) {
        self.status = status
        self.note = note
        self.by = by
        self.at = at
    }
}
