import BulwarkCore
import Foundation

/// `GET /api/v1/reports/ai-usage`: AI use and data exposure over a period, for people who do not
/// query the API themselves — which AI apps were used, by whom, what data went to them, what was
/// stopped, and how much of the fleet reports.
public struct AIUsageReport: Sendable, Codable, Equatable {
    public struct App: Sendable, Codable, Equatable {
        public var app: String
        public var name: String
        public var category: String
        public var risk: Double
        public var state: String
        /// Events naming the app in the period (by UTC day).
        public var events: Int
        /// Users and devices seen with it during the period.
        public var users: Int
        public var devices: Int
    }

    public struct User: Sendable, Codable, Equatable {
        public var user: String
        public var incidents: Int
        public var blocks: Int
        public var warnings: Int
        public var overrides: Int
        /// The apps their incidents involved.
        public var apps: [String]
    }

    public struct DataType: Sendable, Codable, Equatable {
        public var type: String
        /// Incidents with this type, and the matches they counted.
        public var incidents: Int
        public var matches: Int
    }

    public struct AppIncidents: Sendable, Codable, Equatable {
        public var app: String
        public var blocks: Int
        public var warnings: Int
        public var overrides: Int
        public var total: Int
    }

    public struct Coverage: Sendable, Codable, Equatable {
        /// Enrolled and not revoked.
        public var agents: Int
        /// Of those, seen during the period.
        public var reporting: Int
        /// Not seen for the last 24 h of the period.
        public var silent: Int
        public var revoked: Int
        /// `v3`, or `local` for agents on their own policy → agents.
        public var policies: [String: Int]
    }

    public var from: Date
    public var to: Date
    public var generatedAt: Date
    public var inventory: [App]
    public var topUsers: [User]
    public var dataTypes: [DataType]
    public var incidentsByApp: [AppIncidents]
    public var coverage: Coverage

    enum CodingKeys: String, CodingKey {
        case from, to, inventory, coverage
        case generatedAt = "generated_at", topUsers = "top_users", dataTypes = "data_types", incidentsByApp = "incidents_by_app"
    }
}
