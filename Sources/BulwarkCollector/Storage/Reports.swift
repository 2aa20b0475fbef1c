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

/// The incident and coverage parts of an AI usage report, added up a row at a time (both
/// stores read the rows; the sums are the same code).
struct UsageReportTally {
    private var users: [String: AIUsageReport.User] = [:]
    private var apps: [String: AIUsageReport.AppIncidents] = [:]
    private var types: [String: AIUsageReport.DataType] = [:]
    private var coverage = AIUsageReport.Coverage(agents: 0, reporting: 0, silent: 0, revoked: 0, policies: [:])

    /// One incident of the period (not a false positive); `findings` is its JSON text.
    mutating func incident(user: String?, app: String?, action: String, findings: String) {
        let (block, warn, override) = (action == "block" ? 1 : 0, action == "warn" ? 1 : 0, action == "override" ? 1 : 0)
        let app = app ?? "unknown"
        if let user {
            var entry = users[user] ?? AIUsageReport.User(user: user, incidents: 0, blocks: 0, warnings: 0, overrides: 0, apps: [])
            entry.incidents += 1
            entry.blocks += block
            entry.warnings += warn
            entry.overrides += override
            if !entry.apps.contains(app) { entry.apps.append(app) }
            users[user] = entry
        }
        var byApp = apps[app] ?? AIUsageReport.AppIncidents(app: app, blocks: 0, warnings: 0, overrides: 0, total: 0)
        byApp.blocks += block
        byApp.warnings += warn
        byApp.overrides += override
        byApp.total += 1
        apps[app] = byApp
        guard case .array(let findings)? = try? JSONReader.parse(findings) else { return }
        for case .object(let finding) in findings {
            guard case .string(let type)? = finding["type"] else { continue }
            var entry = types[type] ?? AIUsageReport.DataType(type: type, incidents: 0, matches: 0)
            entry.incidents += 1
            if case .number(let count)? = finding["count"] { entry.matches += Int(count) }
            types[type] = entry
        }
    }

    /// One agent enrolled before the period's end (milliseconds `from` to `to`).
    mutating func agent(lastSeen: Int64?, policyVersion: Int, revoked: Bool, from: Int64, to: Int64, now: Int64) {
        if revoked {
            coverage.revoked += 1
            return
        }
        coverage.agents += 1
        if let lastSeen, lastSeen >= from { coverage.reporting += 1 }
        if (lastSeen ?? 0) < min(to, now) - 86_400_000 { coverage.silent += 1 }
        coverage.policies[policyVersion == 0 ? "local" : "v\(policyVersion)", default: 0] += 1
    }

    func report(from: Date, to: Date, now: Date, inventory: [AIUsageReport.App]) -> AIUsageReport {
        AIUsageReport(
            from: from, to: to, generatedAt: now, inventory: inventory,
            topUsers: Array(users.values.sorted { ($0.incidents, $1.user) > ($1.incidents, $0.user) }.prefix(10)),
            dataTypes: types.values.sorted { ($0.incidents, $1.type) > ($1.incidents, $0.type) },
            incidentsByApp: apps.values.sorted { ($0.total, $1.app) > ($1.total, $0.app) }, coverage: coverage)
    }
}
