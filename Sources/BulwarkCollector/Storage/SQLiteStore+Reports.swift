import BulwarkCore
import Foundation
import GRDB

extension SQLiteStore {
    // MARK: Reports

    public func aiUsageReport(from: Date, to: Date, now: Date) async throws -> AIUsageReport {
        let catalog = catalog
        return try await pool.read { db in
            let (start, end) = (from.millis, to.millis)
            let (firstDay, lastDay) = (WireCoding.utcDay(unixSeconds: start / 1000), WireCoding.utcDay(unixSeconds: (end - 1) / 1000))
            // Apps: events per UTC day from the inventory's day counts; users and devices seen.
            var inventory: [AIUsageReport.App] = []
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT a.app_id, a.category, a.risk, a.state, SUM(c.events) AS events,
                        (SELECT COUNT(*) FROM inventory_users u WHERE u.app_id = a.app_id AND u.last_seen >= ? AND u.first_seen < ?) AS users,
                        (SELECT COUNT(*) FROM inventory_devices d WHERE d.app_id = a.app_id AND d.last_seen >= ? AND d.first_seen < ?) AS devices
                    FROM inventory_apps a JOIN inventory_counts c ON c.app_id = a.app_id AND c.kind = 'day' AND c.key BETWEEN ? AND ?
                    GROUP BY a.app_id ORDER BY events DESC, a.app_id
                    """,
                arguments: [start, end, start, end, firstDay, lastDay])
            {
                let id: String = row["app_id"]
                inventory.append(AIUsageReport.App(
                    app: id, name: catalog.app(id: id)?.name ?? id, category: row["category"] ?? "unknown", risk: row["risk"], state: row["state"],
                    events: row["events"], users: row["users"], devices: row["devices"]))
            }
            // Incidents of the period: per user, per app, per information type.
            var users: [String: AIUsageReport.User] = [:]
            var apps: [String: AIUsageReport.AppIncidents] = [:]
            var types: [String: AIUsageReport.DataType] = [:]
            let incidents = try Row.fetchCursor(
                db, sql: "SELECT user, app, action, findings FROM incidents WHERE time >= ? AND time < ? AND status != 'false_positive'", arguments: [start, end])
            while let row = try incidents.next() {
                let action: String = row["action"]
                let (block, warn, override) = (action == "block" ? 1 : 0, action == "warn" ? 1 : 0, action == "override" ? 1 : 0)
                let app: String = row["app"] ?? "unknown"
                if let user: String = row["user"] {
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
                let findingsText: String = row["findings"]
                guard case .array(let findings)? = try? JSONReader.parse(findingsText) else { continue }
                for case .object(let finding) in findings {
                    guard case .string(let type)? = finding["type"] else { continue }
                    var entry = types[type] ?? AIUsageReport.DataType(type: type, incidents: 0, matches: 0)
                    entry.incidents += 1
                    if case .number(let count)? = finding["count"] { entry.matches += Int(count) }
                    types[type] = entry
                }
            }
            // Coverage: the fleet as of the end of the period.
            var coverage = AIUsageReport.Coverage(agents: 0, reporting: 0, silent: 0, revoked: 0, policies: [:])
            for row in try Row.fetchAll(db, sql: "SELECT last_seen, policy_version, revoked_at FROM agents WHERE enrolled_at < ?", arguments: [end]) {
                if (row["revoked_at"] as Int64?) != nil {
                    coverage.revoked += 1
                    continue
                }
                coverage.agents += 1
                let seen: Int64? = row["last_seen"]
                if let seen, seen >= start { coverage.reporting += 1 }
                if (seen ?? 0) < min(end, now.millis) - 86_400_000 { coverage.silent += 1 }
                let version: Int = row["policy_version"]
                coverage.policies[version == 0 ? "local" : "v\(version)", default: 0] += 1
            }
            return AIUsageReport(
                from: from, to: to, generatedAt: now, inventory: inventory,
                topUsers: Array(users.values.sorted { ($0.incidents, $1.user) > ($1.incidents, $0.user) }.prefix(10)),
                dataTypes: types.values.sorted { ($0.incidents, $1.type) > ($1.incidents, $0.type) },
                incidentsByApp: apps.values.sorted { ($0.total, $1.app) > ($1.total, $0.app) }, coverage: coverage)
        }
    }
}
