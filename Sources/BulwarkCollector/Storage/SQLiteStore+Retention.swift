import BulwarkCore
import Foundation
import GRDB

extension SQLiteStore {
    // MARK: Retention

    public func deleteExpired(_ policy: RetentionPolicy, now: Date, batch: Int) async throws -> RetentionResult {
        var result = RetentionResult()
        @Sendable func cutoff(_ days: Int) -> Int64 { now.addingTimeInterval(-Double(days) * 86_400).millis }
        // Types with their own period, then everything else by the default; by the time index.
        var passes: [(sql: String, arguments: StatementArguments)] = policy.eventDaysByType.sorted { $0.key < $1.key }.map { type, days in
            ("SELECT id FROM events WHERE time < ? AND type = ? LIMIT ?", [cutoff(days), type, batch])
        }
        let special = Array(policy.eventDaysByType.keys)
        let placeholders = special.map { _ in "?" }.joined(separator: ", ")
        var rest: StatementArguments = [cutoff(policy.eventDays)]
        rest += StatementArguments(special)
        rest += [batch]
        passes.append(("SELECT id FROM events WHERE time < ?\(special.isEmpty ? "" : " AND type NOT IN (\(placeholders))") LIMIT ?", rest))
        for pass in passes {
            while true {
                let deleted = try await pool.write { db in
                    let ids = try Int64.fetchAll(db, sql: pass.sql, arguments: pass.arguments)
                    guard !ids.isEmpty else { return 0 }
                    try db.execute(sql: "DELETE FROM events WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ",")))", arguments: StatementArguments(ids))
                    return ids.count
                }
                result.events += deleted
                if deleted < batch { break }
            }
        }
        while true {
            let incidentCutoff = cutoff(policy.incidentDays)
            let deleted = try await pool.write { db in
                let ids = try String.fetchAll(
                    db, sql: "SELECT id FROM incidents WHERE time < ? AND status != 'open' LIMIT ?", arguments: [incidentCutoff, batch])
                guard !ids.isEmpty else { return 0 }
                let list = ids.map { _ in "?" }.joined(separator: ",")
                try db.execute(sql: "DELETE FROM incident_notes WHERE incident_id IN (\(list))", arguments: StatementArguments(ids))
                try db.execute(sql: "DELETE FROM incidents WHERE id IN (\(list))", arguments: StatementArguments(ids))
                return ids.count
            }
            result.incidents += deleted
            if deleted < batch { break }
        }
        return result
    }
}

extension SQLiteStore {
    // MARK: SIEM cursors

    public func siemCursor(_ destination: String) async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT event_id FROM siem_cursors WHERE destination = ?", arguments: [destination]) ?? 0
        }
    }

    public func setSIEMCursor(_ destination: String, eventID: Int64, at: Date) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO siem_cursors (destination, event_id, updated) VALUES (?, ?, ?)
                    ON CONFLICT (destination) DO UPDATE SET event_id = max(event_id, excluded.event_id), updated = excluded.updated
                    """,
                arguments: [destination, eventID, at.millis])
        }
    }
}
