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
            var tally = UsageReportTally()
            let incidents = try Row.fetchCursor(
                db, sql: "SELECT user, app, action, findings FROM incidents WHERE time >= ? AND time < ? AND status != 'false_positive'", arguments: [start, end])
            while let row = try incidents.next() {
                tally.incident(user: row["user"], app: row["app"], action: row["action"], findings: row["findings"])
            }
            // Coverage: the fleet as of the end of the period.
            for row in try Row.fetchAll(db, sql: "SELECT last_seen, policy_version, revoked_at FROM agents WHERE enrolled_at < ?", arguments: [end]) {
                tally.agent(lastSeen: row["last_seen"], policyVersion: row["policy_version"], revoked: (row["revoked_at"] as Int64?) != nil, from: start, to: end, now: now.millis)
            }
            return tally.report(from: from, to: to, now: now, inventory: inventory)
        }
    }
}
