import BulwarkCore
import Foundation
import Logging
import PostgresNIO

extension PostgresStore {
    // MARK: Incidents

    /// Keeps the incidents table current inside the ingest transaction: a later event with the
    /// same id (the user overrode a warning) updates the outcome; the first stays the origin.
    static func recordIncident(_ draft: IncidentDraft, agentID: String, eventID: Int64, time: Int64, _ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.run(
            """
            INSERT INTO incidents (id, agent_id, event_id, time, updated, type, action, activity, app, category, "user", rule, findings, file, justification, file_sha256)
            VALUES (\(draft.id), \(agentID), \(eventID), \(time), \(time), \(draft.type), \(draft.action), \(draft.activity), \(draft.app), \(draft.category),
                    \(draft.user), \(draft.rule), \(draft.findings), \(draft.file), \(draft.justification), \(draft.fileSHA256))
            ON CONFLICT (id) DO UPDATE SET
                updated = greatest(incidents.updated, excluded.updated),
                type = CASE WHEN excluded.updated >= incidents.updated THEN excluded.type ELSE incidents.type END,
                action = CASE WHEN excluded.updated >= incidents.updated THEN excluded.action ELSE incidents.action END,
                justification = coalesce(excluded.justification, incidents.justification),
                activity = coalesce(incidents.activity, excluded.activity), app = coalesce(incidents.app, excluded.app),
                category = coalesce(incidents.category, excluded.category), "user" = coalesce(incidents."user", excluded."user"),
                rule = coalesce(incidents.rule, excluded.rule), file = coalesce(incidents.file, excluded.file),
                file_sha256 = coalesce(incidents.file_sha256, excluded.file_sha256)
            """, logger: logger)
    }

    public func incident(id: String) async throws -> IncidentRecord? {
        try await connected("reading an incident") { connection, logger in
            guard let row = try await connection.rows("SELECT * FROM incidents WHERE id = \(id)", logger: logger).first else { return nil }
            return try Self.incident(row, notes: try await Self.notes(connection, logger, incidentID: id))
        }
    }

    public func incidents(_ query: IncidentQuery) async throws -> [IncidentRecord] {
        var sql = PostgresSQL("SELECT * FROM incidents WHERE true")
        if let status = query.status { sql.append(" AND status = \(sql.bind(status.rawValue))") }
        if let user = query.user { sql.append(" AND \"user\" = \(sql.bind(user))") }
        if let app = query.app { sql.append(" AND app = \(sql.bind(app))") }
        if let since = query.since { sql.append(" AND time >= \(sql.bind(since.millis))") }
        if let before = query.before { sql.append(" AND (time, id) < (SELECT time, id FROM incidents WHERE id = \(sql.bind(before)))") }
        sql.append(" ORDER BY time DESC, id DESC LIMIT \(sql.bind(query.limit))")
        return try await rows(sql.query, "listing incidents").map { try Self.incident($0, notes: []) }
    }

    public func updateIncident(id: String, change: IncidentChange) async throws -> IncidentRecord? {
        try await transaction("updating an incident") { connection, logger in
            guard !(try await connection.rows("SELECT id FROM incidents WHERE id = \(id) FOR UPDATE", logger: logger)).isEmpty else { return nil }
            if let status = change.status {
                try await connection.run(
                    "UPDATE incidents SET status = \(status.rawValue), status_changed_by = \(change.by), status_changed_at = \(change.at.millis) WHERE id = \(id)",
                    logger: logger)
            }
            if let note = change.note {
                try await connection.run(
                    "INSERT INTO incident_notes (incident_id, time, author, text) VALUES (\(id), \(change.at.millis), \(change.by), \(note))", logger: logger)
            }
            guard let row = try await connection.rows("SELECT * FROM incidents WHERE id = \(id)", logger: logger).first else { return nil }
            let incident = try Self.incident(row, notes: try await Self.notes(connection, logger, incidentID: id))
            // The change as an event of the collector's own, in the same transaction; the note's text stays here.
            var data: [String: JSONValue] = ["incident_id": .string(id), "status": .string(incident.status.rawValue), "by": .string(change.by)]
            if change.note != nil { data["note_added"] = true }
            try await Self.insertCollectorEvent(connection, logger, type: EventType.incidentUpdated, time: change.at.millis, data: data)
            return incident
        }
    }

    private static func notes(_ connection: PostgresConnection, _ logger: Logger, incidentID: String) async throws -> [IncidentRecord.Note] {
        try await connection.rows("SELECT * FROM incident_notes WHERE incident_id = \(incidentID) ORDER BY id", logger: logger).map { row in
            IncidentRecord.Note(time: try row.date("time"), author: try row.value("author"), text: try row.value("text"))
        }
    }

    private static func incident(_ row: PostgresRandomAccessRow, notes: [IncidentRecord.Note]) throws -> IncidentRecord {
        let findings: String = try row.value("findings")
        return IncidentRecord(
            id: try row.value("id"), agentID: try row.value("agent_id"), eventID: try row.value("event_id"), time: try row.date("time"),
            updated: try row.date("updated"), type: try row.value("type"), action: try row.value("action"), activity: try row.value("activity"),
            app: try row.value("app"), category: try row.value("category"), user: try row.value("user"), rule: try row.value("rule"),
            findings: (try? JSONReader.parse(findings)) ?? .array([]), file: try row.value("file"), fileSHA256: try row.value("file_sha256"),
            justification: try row.value("justification"), status: IncidentStatus(rawValue: try row.value("status")) ?? .open,
            statusChangedBy: try row.value("status_changed_by"), statusChangedAt: try row.optionalDate("status_changed_at"), notes: notes)
    }

    public func incidentsPerDay(since: Date) async throws -> [Int64: Int] {
        var counts: [Int64: Int] = [:]
        for row in try await rows(
            "SELECT time / 86400000 AS day, count(*) AS n FROM incidents WHERE time >= \(since.millis) GROUP BY day", "counting incidents per day")
        {
            counts[try row.value("day")] = try row.value("n")
        }
        return counts
    }

    // MARK: Exceptions

    public func grantException(_ record: ExceptionRecord) async throws {
        let granted = record.granted
        try await transaction("granting an exception") { connection, logger in
            try await connection.run(
                """
                INSERT INTO exceptions (id, rule, "user", app, agent_id, until, reason, ticket, incident, created_by, created_at, file_sha256)
                VALUES (\(granted.id), \(granted.rule), \(granted.user), \(granted.app), \(record.agentID), \(granted.until.millis), \(granted.reason),
                        \(granted.ticket), \(granted.incident), \(record.createdBy), \(record.createdAt.millis), \(granted.fileSHA256))
                """, logger: logger)
            try await Self.bumpPolicyRevision(connection, logger)
        }
    }

    public func exceptions(now: Date, includeEnded: Bool) async throws -> [ExceptionRecord] {
        let query: PostgresQuery = includeEnded
            ? "SELECT * FROM exceptions ORDER BY created_at DESC, id DESC LIMIT 1000"
            : "SELECT * FROM exceptions WHERE revoked_at IS NULL AND until > \(now.millis) ORDER BY created_at DESC, id DESC"
        return try await rows(query, "listing exceptions").map(Self.exception)
    }

    public func revokeException(id: String, by: String, at: Date) async throws -> Bool {
        try await transaction("revoking an exception") { connection, logger in
            let revoked = try await !connection.rows(
                "UPDATE exceptions SET revoked_by = \(by), revoked_at = \(at.millis) WHERE id = \(id) AND revoked_at IS NULL RETURNING id", logger: logger
            ).isEmpty
            if revoked { try await Self.bumpPolicyRevision(connection, logger) }
            return revoked
        }
    }

    static func exception(_ row: PostgresRandomAccessRow) throws -> ExceptionRecord {
        ExceptionRecord(
            granted: GrantedException(
                id: try row.value("id"), rule: try row.value("rule"), user: try row.value("user"), app: try row.value("app"), until: try row.date("until"),
                reason: try row.value("reason"), ticket: try row.value("ticket"), incident: try row.value("incident"), fileSHA256: try row.value("file_sha256")),
            agentID: try row.value("agent_id"), createdBy: try row.value("created_by"), createdAt: try row.date("created_at"),
            revokedBy: try row.value("revoked_by"), revokedAt: try row.optionalDate("revoked_at"))
    }

    // MARK: Adaptive protection

    public func userRisk(now: Date) async throws -> [UserRiskRecord] {
        try await connected("computing user risk") { connection, logger in try await Self.userRisk(connection, logger, now: now) }
    }

    /// One pass over the window's incidents (the time index), grouped by user.
    static func userRisk(_ connection: PostgresConnection, _ logger: Logger, now: Date) async throws -> [UserRiskRecord] {
        let (from, to) = (now.addingTimeInterval(-UserRiskRule.window).millis, now.millis)
        let (blocks, overrides) = (UserRiskRule.elevatedBlocks, UserRiskRule.elevatedOverrides)
        return try await connection.rows(
            """
            SELECT "user", count(*) FILTER (WHERE action = 'block') AS blocks, count(*) FILTER (WHERE action = 'override') AS overrides, max(time) AS last
            FROM incidents
            WHERE time >= \(from) AND time <= \(to) AND status <> 'false_positive' AND "user" IS NOT NULL
            GROUP BY "user"
            HAVING count(*) FILTER (WHERE action = 'block') >= \(blocks) OR count(*) FILTER (WHERE action = 'override') >= \(overrides)
            ORDER BY blocks DESC, "user"
            """, logger: logger
        ).map { row in
            let (blocks, overrides): (Int, Int) = (try row.value("blocks"), try row.value("overrides"))
            return UserRiskRecord(
                user: try row.value("user"), level: UserRiskRule.level(blocks: blocks, overrides: overrides), blocks: blocks, overrides: overrides,
                lastIncident: try row.date("last"))
        }
    }

    // MARK: Reports

    public func aiUsageReport(from: Date, to: Date, now: Date) async throws -> AIUsageReport {
        let catalog = catalog
        let (start, end) = (from.millis, to.millis)
        let (firstDay, lastDay) = (WireCoding.utcDay(unixSeconds: start / 1000), WireCoding.utcDay(unixSeconds: (end - 1) / 1000))
        return try await connected("building the AI usage report") { connection, logger in
            let inventory = try await connection.rows(
                """
                SELECT a.app_id, a.category, a.risk, a.state, sum(c.events)::int8 AS events,
                    (SELECT count(*) FROM inventory_users u WHERE u.app_id = a.app_id AND u.last_seen >= \(start) AND u.first_seen < \(end)) AS users,
                    (SELECT count(*) FROM inventory_devices d WHERE d.app_id = a.app_id AND d.last_seen >= \(start) AND d.first_seen < \(end)) AS devices
                FROM inventory_apps a JOIN inventory_counts c ON c.app_id = a.app_id AND c.kind = 'day' AND c.key BETWEEN \(firstDay) AND \(lastDay)
                GROUP BY a.app_id ORDER BY events DESC, a.app_id
                """, logger: logger
            ).map { row in
                let id: String = try row.value("app_id")
                return AIUsageReport.App(
                    app: id, name: catalog.app(id: id)?.name ?? id, category: try row.value("category", as: String?.self) ?? "unknown",
                    risk: try row.value("risk"), state: try row.value("state"), events: try row.value("events"), users: try row.value("users"),
                    devices: try row.value("devices"))
            }
            var tally = UsageReportTally()
            for row in try await connection.rows(
                "SELECT \"user\", app, action, findings FROM incidents WHERE time >= \(start) AND time < \(end) AND status <> 'false_positive'", logger: logger)
            {
                tally.incident(user: try row.value("user"), app: try row.value("app"), action: try row.value("action"), findings: try row.value("findings"))
            }
            for row in try await connection.rows("SELECT last_seen, policy_version, revoked_at FROM agents WHERE enrolled_at < \(end)", logger: logger) {
                tally.agent(
                    lastSeen: try row.value("last_seen"), policyVersion: try row.value("policy_version"), revoked: try row.optionalDate("revoked_at") != nil,
                    from: start, to: end, now: now.millis)
            }
            return tally.report(from: from, to: to, now: now, inventory: inventory)
        }
    }
}
