import BulwarkCore
import Foundation
import GRDB
import NIOCore
import PostgresNIO

/// How many rows of one table a copy found and stored.
public struct TableCopy: Sendable, Equatable {
    public var table: String
    public var source: Int
    public var copied: Int
}

extension PostgresStore {
    /// The tables a deployment's store holds, with their columns, in an order that copies each
    /// before what refers to it. Names are the same in both schemas.
    static let copiedTables: [(table: String, columns: [String])] = [
        ("agents", ["id", "hostname", "os", "agent_version", "enrolled_at", "last_seen", "cert_serial", "cert_not_after", "policy_version", "spool_depth", "dropped", "revoked_at"]),
        ("enrollment_tokens", ["id", "hash", "label", "max_uses", "uses", "created_at", "expires_at", "revoked_at"]),
        ("api_tokens", ["id", "hash", "name", "role", "created_at", "revoked_at"]),
        ("events", ["id", "agent_id", "seq", "time", "received_at", "type", "v", "data"]),
        ("audit", ["id", "time", "actor", "source", "action", "target", "outcome"]),
        ("inventory_apps", ["app_id", "category", "risk", "first_seen", "last_seen", "events", "devices", "users", "state", "state_reason", "state_changed_by", "state_changed_at"]),
        ("inventory_devices", ["app_id", "agent_id", "first_seen", "last_seen", "events"]),
        ("inventory_users", ["app_id", "user", "first_seen", "last_seen", "events"]),
        ("inventory_counts", ["app_id", "kind", "key", "events"]),
        ("incidents", ["id", "agent_id", "event_id", "time", "updated", "type", "action", "activity", "app", "category", "user", "rule", "findings", "file", "file_sha256", "justification", "status", "status_changed_by", "status_changed_at"]),
        ("incident_notes", ["id", "incident_id", "time", "author", "text"]),
        ("exceptions", ["id", "rule", "user", "app", "agent_id", "until", "reason", "ticket", "incident", "file_sha256", "created_by", "created_at", "revoked_by", "revoked_at"]),
        ("policies", ["version", "name", "sha256", "yaml", "comment", "restores", "created_by", "created_at"]),
        ("siem_cursors", ["destination", "event_id", "updated"]),
    ]

    /// Copies a deployment's SQLite store (stopped: nothing may write it meanwhile) into this
    /// database, which must be empty: every table with its ids, so SIEM cursors and incident
    /// links stay valid, in one transaction that commits only when each table's row count here
    /// equals the file's. `progress` hears each table as it is done.
    public func importSQLite(path: String, progress: @Sendable (TableCopy) -> Void = { _ in }) async throws -> [TableCopy] {
        guard FileManager.default.fileExists(atPath: path) else { throw PostgresStoreError("\(path) does not exist; name the deployment's collector.db with --from sqlite:PATH") }
        var configuration = Configuration()
        configuration.readonly = true
        let source = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? source.close() }
        // Partitions for the days the events fall on, before the copy's transaction.
        let days = try await source.read { db in try Int64.fetchAll(db, sql: "SELECT DISTINCT time / 86400000 FROM events") }
        try await ensurePartitions(times: days.map { $0 * Self.dayMillis }, now: Date())
        return try await transaction("copying the SQLite store") { connection, logger in
            var held: [String] = []
            for table in ["agents", "events", "audit", "inventory_apps", "incidents", "policies"] {
                let count = try await connection.rows(PostgresQuery(unsafeSQL: "SELECT count(*) AS n FROM (SELECT 1 FROM \(table) LIMIT 1) AS t"), logger: logger)
                if try count.first?.value("n", as: Int.self) ?? 0 > 0 { held.append(table) }
            }
            guard held.isEmpty else {
                throw PostgresStoreError("the PostgreSQL database already holds data (\(held.joined(separator: ", "))); migrate-store copies into an empty database: create one and run 'bulwark-collector migrate' on it first")
            }
            var copies: [TableCopy] = []
            for (table, columns) in Self.copiedTables {
                let expected = try await source.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
                var lastRowID: Int64 = 0
                let selected = (["rowid"] + columns).map { "\"\($0)\"" }.joined(separator: ", ")
                try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
                    while true {
                        // A page at a time: the file's rows are read between writes, never all at once.
                        let after = lastRowID
                        let (rows, last) = try await source.read { db -> ([[DatabaseValue]], Int64) in
                            let rows = try Row.fetchAll(db, sql: "SELECT \(selected) FROM \(table) WHERE rowid > ? ORDER BY rowid LIMIT 5000", arguments: [after])
                            return (rows.map { Array($0.databaseValues.dropFirst()) }, rows.last.map { $0[0] as Int64 } ?? after)
                        }
                        guard !rows.isEmpty else { break }
                        var buffer = ByteBuffer()
                        for row in rows {
                            buffer.writeString(row.map(Self.copyText).joined(separator: "\t"))
                            buffer.writeString("\n")
                        }
                        try await writer.write(buffer)
                        lastRowID = last
                    }
                }
                let copied = try await connection.rows(PostgresQuery(unsafeSQL: "SELECT count(*) AS n FROM \(table)"), logger: logger).first?.value("n", as: Int.self) ?? 0
                let result = TableCopy(table: table, source: expected, copied: copied)
                guard copied == expected else {
                    throw PostgresStoreError("\(table): the file has \(expected) rows and PostgreSQL took \(copied); nothing was committed. Was the collector still running? Stop it and copy again")
                }
                progress(result)
                copies.append(result)
            }
            // New rows continue after the copied ids.
            for (sequence, table) in [("events_id_seq", "events"), ("audit_id_seq", "audit"), ("incident_notes_id_seq", "incident_notes")] {
                try await connection.run(
                    PostgresQuery(unsafeSQL: "SELECT setval('\(sequence)', greatest((SELECT coalesce(max(id), 0) FROM \(table)), 1))"), logger: logger)
            }
            return copies
        }
    }

    /// One value in COPY's text format: `\N` for NULL; backslash, tab, newline and carriage
    /// return escaped.
    static func copyText(_ value: DatabaseValue) -> String {
        switch value.storage {
        case .null: return "\\N"
        case .int64(let number): return String(number)
        case .double(let number): return String(number)
        case .string(let text):
            var escaped = ""
            escaped.reserveCapacity(text.utf8.count)
            for character in text.unicodeScalars {
                switch character {
                case "\\": escaped += "\\\\"
                case "\t": escaped += "\\t"
                case "\n": escaped += "\\n"
                case "\r": escaped += "\\r"
                default: escaped.unicodeScalars.append(character)
                }
            }
            return escaped
        case .blob(let data): return "\\\\x" + data.map { String(format: "%02x", $0) }.joined()
        }
    }
}
