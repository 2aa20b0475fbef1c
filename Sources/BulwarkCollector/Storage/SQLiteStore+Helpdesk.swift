import BulwarkCore
import Foundation
import GRDB

/// Keeps the incidents table current inside the ingest transaction.
struct IncidentWriter {
    let db: Database
    /// False only for the backfill of schema version 6, which ran before incidents had the
    /// `file_sha256` column.
    var fileHashColumn = true

    /// A later event with the same id (the user overrode a warning) updates the outcome; the
    /// first event stays the incident's origin.
    func record(_ draft: IncidentDraft, agentID: String, eventID: Int64, time: Int64) throws {
        var arguments: StatementArguments = [
            draft.id, agentID, eventID, time, time, draft.type, draft.action, draft.activity, draft.app, draft.category, draft.user, draft.rule,
            draft.findings, draft.file, draft.justification,
        ]
        if fileHashColumn { arguments += [draft.fileSHA256] }
        try db.cachedStatement(sql: fileHashColumn ? Self.upsert : Self.upsertWithoutFileHash).execute(arguments: arguments)
    }

    /// Built once: this runs for every incident-raising event on ingest.
    static let upsert = sql(fileHash: true)
    static let upsertWithoutFileHash = sql(fileHash: false)

    private static func sql(fileHash: Bool) -> String {
        """
        INSERT INTO incidents (id, agent_id, event_id, time, updated, type, action, activity, app, category, user, rule, findings, file, justification\(fileHash ? ", file_sha256" : ""))
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?\(fileHash ? ", ?" : ""))
        ON CONFLICT (id) DO UPDATE SET
            updated = max(updated, excluded.updated),
            type = CASE WHEN excluded.updated >= updated THEN excluded.type ELSE type END,
            action = CASE WHEN excluded.updated >= updated THEN excluded.action ELSE action END,
            justification = coalesce(excluded.justification, justification),
            activity = coalesce(activity, excluded.activity), app = coalesce(app, excluded.app),
            category = coalesce(category, excluded.category), user = coalesce(user, excluded.user),
            rule = coalesce(rule, excluded.rule), file = coalesce(file, excluded.file)\(fileHash ? ",\n    file_sha256 = coalesce(file_sha256, excluded.file_sha256)" : "")
        """
    }
}

extension SQLiteStore {
    public func incident(id: String) async throws -> IncidentRecord? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM incidents WHERE id = ?", arguments: [id]) else { return nil }
            return try Self.incident(row, notes: Self.notes(db, incidentID: id))
        }
    }

    public func incidents(_ query: IncidentQuery) async throws -> [IncidentRecord] {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let status = query.status { clauses.append("status = ?"); arguments += [status.rawValue] }
        if let user = query.user { clauses.append("user = ?"); arguments += [user] }
        if let app = query.app { clauses.append("app = ?"); arguments += [app] }
        if let since = query.since { clauses.append("time >= ?"); arguments += [since.millis] }
        if let before = query.before {
            clauses.append("(time, id) < (SELECT time, id FROM incidents WHERE id = ?)")
            arguments += [before]
        }
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        arguments += [query.limit]
        let sql = "SELECT * FROM incidents \(whereClause) ORDER BY time DESC, id DESC LIMIT ?"
        let finalArguments = arguments
        return try await pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: finalArguments).map { try Self.incident($0, notes: []) }
        }
    }

    public func updateIncident(id: String, change: IncidentChange) async throws -> IncidentRecord? {
        try await pool.write { db in
            guard try Row.fetchOne(db, sql: "SELECT id FROM incidents WHERE id = ?", arguments: [id]) != nil else { return nil }
            if let status = change.status {
                try db.execute(
                    sql: "UPDATE incidents SET status = ?, status_changed_by = ?, status_changed_at = ? WHERE id = ?",
                    arguments: [status.rawValue, change.by, change.at.millis, id])
            }
            if let note = change.note {
                try db.execute(
                    sql: "INSERT INTO incident_notes (incident_id, time, author, text) VALUES (?, ?, ?, ?)", arguments: [id, change.at.millis, change.by, note])
            }
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM incidents WHERE id = ?", arguments: [id]) else { return nil }
            let incident = try Self.incident(row, notes: Self.notes(db, incidentID: id))
            // The change as an event of the collector's own, in the same transaction: searches,
            // exports and SIEM forwarding see it. The note's text stays on the collector.
            var data: [String: JSONValue] = ["incident_id": .string(id), "status": .string(incident.status.rawValue), "by": .string(change.by)]
            if change.note != nil { data["note_added"] = true }
            try Self.insertCollectorEvent(db, type: EventType.incidentUpdated, time: change.at.millis, data: data)
            return incident
        }
    }

    private static func notes(_ db: Database, incidentID: String) throws -> [IncidentRecord.Note] {
        try Row.fetchAll(db, sql: "SELECT * FROM incident_notes WHERE incident_id = ? ORDER BY id", arguments: [incidentID]).map { row in
            IncidentRecord.Note(time: Date(millis: row["time"]), author: row["author"], text: row["text"])
        }
    }

    private static func incident(_ row: Row, notes: [IncidentRecord.Note]) throws -> IncidentRecord {
        let findingsText: String = row["findings"]
        let statusText: String = row["status"]
        return IncidentRecord(
            id: row["id"], agentID: row["agent_id"], eventID: row["event_id"], time: Date(millis: row["time"]), updated: Date(millis: row["updated"]),
            type: row["type"], action: row["action"], activity: row["activity"], app: row["app"], category: row["category"], user: row["user"],
            rule: row["rule"], findings: (try? JSONReader.parse(findingsText)) ?? .array([]), file: row["file"], fileSHA256: row["file_sha256"],
            justification: row["justification"], status: IncidentStatus(rawValue: statusText) ?? .open, statusChangedBy: row["status_changed_by"],
            statusChangedAt: (row["status_changed_at"] as Int64?).map { Date(millis: $0) }, notes: notes)
    }
}

extension SQLiteStore {
    public func grantException(_ record: ExceptionRecord) async throws {
        let granted = record.granted
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO exceptions (id, rule, user, app, agent_id, until, reason, ticket, incident, created_by, created_at, file_sha256)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    granted.id, granted.rule, granted.user, granted.app, record.agentID, granted.until.millis, granted.reason, granted.ticket, granted.incident,
                    record.createdBy, record.createdAt.millis, granted.fileSHA256,
                ])
            try Self.bumpPolicyRevision(db)
        }
    }

    public func exceptions(now: Date, includeEnded: Bool) async throws -> [ExceptionRecord] {
        try await pool.read { db in
            let sql = includeEnded
                ? "SELECT * FROM exceptions ORDER BY created_at DESC, id DESC LIMIT 1000"
                : "SELECT * FROM exceptions WHERE revoked_at IS NULL AND until > ? ORDER BY created_at DESC, id DESC"
            return try Row.fetchAll(db, sql: sql, arguments: includeEnded ? [] : [now.millis]).map(Self.exception)
        }
    }

    public func revokeException(id: String, by: String, at: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE exceptions SET revoked_by = ?, revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [by, at.millis, id])
            guard db.changesCount > 0 else { return false }
            try Self.bumpPolicyRevision(db)
            return true
        }
    }

    static func exception(_ row: Row) -> ExceptionRecord {
        ExceptionRecord(
            granted: GrantedException(
                id: row["id"], rule: row["rule"], user: row["user"], app: row["app"], until: Date(millis: row["until"]), reason: row["reason"],
                ticket: row["ticket"], incident: row["incident"], fileSHA256: row["file_sha256"]),
            agentID: row["agent_id"], createdBy: row["created_by"], createdAt: Date(millis: row["created_at"]), revokedBy: row["revoked_by"],
            revokedAt: (row["revoked_at"] as Int64?).map { Date(millis: $0) })
    }
}

extension SQLiteStore {
    // MARK: Adaptive protection

    public func userRisk(now: Date) async throws -> [UserRiskRecord] {
        try await pool.read { db in try Self.userRisk(db, now: now) }
    }

    /// One pass over the window's incidents (the time index), grouped by user.
    static func userRisk(_ db: Database, now: Date) throws -> [UserRiskRecord] {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT user, SUM(action = 'block') AS blocks, SUM(action = 'override') AS overrides, MAX(time) AS last
                FROM incidents
                WHERE time >= ? AND time <= ? AND status != 'false_positive' AND user IS NOT NULL
                GROUP BY user
                HAVING blocks >= ? OR overrides >= ?
                ORDER BY blocks DESC, user
                """,
            arguments: [now.addingTimeInterval(-UserRiskRule.window).millis, now.millis, UserRiskRule.elevatedBlocks, UserRiskRule.elevatedOverrides])
        return rows.map { row in
            let (blocks, overrides): (Int, Int) = (row["blocks"], row["overrides"])
            return UserRiskRecord(
                user: row["user"], level: UserRiskRule.level(blocks: blocks, overrides: overrides), blocks: blocks, overrides: overrides,
                lastIncident: Date(millis: row["last"]))
        }
    }
}

extension SQLiteStore {
    public func incidentsPerDay(since: Date) async throws -> [Int64: Int] {
        try await pool.read { db in
            var counts: [Int64: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT time / 86400000 AS day, COUNT(*) AS n FROM incidents WHERE time >= ? GROUP BY day", arguments: [since.millis]) {
                counts[row["day"]] = row["n"]
            }
            return counts
        }
    }
}
