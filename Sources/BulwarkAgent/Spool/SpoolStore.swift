import BulwarkCore
import Foundation
import GRDB

/// How precious an event is when the spool is full.
public enum EventPriority: Int, Sendable {
    /// Telemetry that can be shed under pressure (heartbeats, discovery, self-tests).
    case telemetry = 0
    /// DLP decisions and audit evidence: never dropped by the spool.
    case decision = 1
}

/// An event before the spool gives it a sequence number.
public struct EventDraft: Sendable {
    public var type: String
    public var v: Int
    public var time: Date
    public var data: [String: JSONValue]
    public var priority: EventPriority

    public init(type: String, v: Int = 1, time: Date = Date(), data: [String: JSONValue], priority: EventPriority = .telemetry) {
        self.type = type
        self.v = v
        self.time = time
        self.data = data
        self.priority = priority
    }
}

/// A batch read from the spool, ready to send.
public struct SpoolBatch: Sendable {
    public var firstSeq: UInt64
    public var lastSeq: UInt64
    public var count: Int
    /// The JSON of each event, in sequence order.
    public var bodies: [Data]
}

/// What the spool knows about itself and the uploader, for `status` and `selftest`.
public struct SpoolStatus: Sendable, Codable {
    public var depth: Int
    public var bytes: Int
    public var dropped: Int
    public var quarantined: Int
    public var nextSeq: UInt64
    public var lastAckedSeq: UInt64
    public var lastAckAt: Date?
    public var lastAttemptAt: Date?
    public var lastError: String?
    public var runnerPID: Int32?

    enum CodingKeys: String, CodingKey {
        case depth, bytes, dropped, quarantined
        case nextSeq = "next_seq"
        case lastAckedSeq = "last_acked_seq"
        case lastAckAt = "last_ack_at"
        case lastAttemptAt = "last_attempt_at"
        case lastError = "last_error"
        case runnerPID = "runner_pid"
    }
}

/// The agent's durable outbox: SQLite in WAL mode in the state directory.
///
/// Sequence numbers are allocated inside the same transaction that stores the event, so they
/// stay monotonic across restarts and crashes, and across processes (`selftest` appends while
/// `run` uploads). The spool is bounded by bytes: when full it drops the oldest telemetry first
/// and counts the drops; it never drops DLP decisions (it lets itself exceed the bound instead,
/// failing towards keeping evidence).
public final class SpoolStore: Sendable {
    private let pool: DatabasePool
    public let maxBytes: Int
    /// Sees every batch of events once it is stored (the agent's metrics).
    let onAppend: (@Sendable ([EventDraft]) -> Void)?

    public init(path: String, maxBytes: Int = 256 * 1024 * 1024, onAppend: (@Sendable ([EventDraft]) -> Void)? = nil) throws {
        self.onAppend = onAppend
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        // The agent is resident on every endpoint: keep its memory small. Two readers suffice
        // (uploader, status), and the spool's hot pages fit a 1 MiB cache.
        configuration.maximumReaderCount = 2
        configuration.prepareDatabase { db in
            // An event is acknowledged to its producer only once it is on disk.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA cache_size = -1024")
        }
        pool = try SQLiteFile.openPool(path: path, configuration: configuration)
        self.maxBytes = maxBytes
        try SQLiteFile.migrate(pool, [{ db in
            try db.execute(sql: """
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY,
                    priority INTEGER NOT NULL,
                    bytes INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                CREATE INDEX events_priority ON events (priority, seq);
                CREATE TABLE quarantine (
                    seq INTEGER PRIMARY KEY,
                    body BLOB NOT NULL,
                    reason TEXT NOT NULL,
                    at INTEGER NOT NULL
                );
                CREATE TABLE meta (key TEXT PRIMARY KEY, value);
                INSERT INTO meta (key, value) VALUES ('next_seq', 1), ('bytes', 0), ('dropped', 0), ('last_acked_seq', 0);
                """)
        }])
    }

    /// Appends events, assigning each the next sequence number; returns the numbers given.
    @discardableResult
    public func append(_ drafts: [EventDraft]) throws -> [UInt64] {
        let encoder = WireCoding.encoder()
        return try pool.writeWithoutTransaction { db in
            var assigned: [UInt64] = []
            try db.inTransaction(.immediate) {
                var next = try Self.meta(db, "next_seq")
                var added = 0
                let insert = try db.cachedStatement(sql: "INSERT INTO events (seq, priority, bytes, body) VALUES (?, ?, ?, ?)")
                for draft in drafts {
                    let event = Event(seq: UInt64(next), time: draft.time, type: draft.type, v: draft.v, data: draft.data)
                    let body = try encoder.encode(event)
                    try insert.execute(arguments: [next, draft.priority.rawValue, body.count, body])
                    assigned.append(UInt64(next))
                    added += body.count
                    next += 1
                }
                try Self.setMeta(db, "next_seq", next)
                let total = try Self.meta(db, "bytes") + added
                try Self.setMeta(db, "bytes", total)
                if total > maxBytes { try shed(db, over: total - maxBytes) }
                return .commit
            }
            onAppend?(drafts)
            return assigned
        }
    }

    /// Drops the oldest telemetry until `excess` bytes are freed or none is left.
    private func shed(_ db: Database, over excess: Int) throws {
        var freed = 0
        var dropped = 0
        var lastSeq: Int64 = 0
        let rows = try Row.fetchCursor(db, sql: "SELECT seq, bytes FROM events WHERE priority = 0 ORDER BY seq")
        while freed < excess, let row = try rows.next() {
            lastSeq = row["seq"]
            freed += row["bytes"] as Int
            dropped += 1
        }
        guard dropped > 0 else { return }
        try db.execute(sql: "DELETE FROM events WHERE priority = 0 AND seq <= ?", arguments: [lastSeq])
        try Self.setMeta(db, "bytes", try Self.meta(db, "bytes") - freed)
        try Self.setMeta(db, "dropped", try Self.meta(db, "dropped") + dropped)
    }

    /// The oldest events, up to `maxEvents` and `maxBytes` of JSON (at least one event).
    public func nextBatch(maxEvents: Int, maxBytes: Int) throws -> SpoolBatch? {
        try pool.read { db in
            var bodies: [Data] = []
            var first: UInt64 = 0
            var last: UInt64 = 0
            var size = 0
            let rows = try Row.fetchCursor(db, sql: "SELECT seq, bytes, body FROM events ORDER BY seq LIMIT ?", arguments: [maxEvents])
            while let row = try rows.next() {
                let bytes: Int = row["bytes"]
                if !bodies.isEmpty, size + bytes > maxBytes { break }
                let seq = UInt64(row["seq"] as Int64)
                if bodies.isEmpty { first = seq }
                last = seq
                size += bytes
                bodies.append(row["body"])
            }
            return bodies.isEmpty ? nil : SpoolBatch(firstSeq: first, lastSeq: last, count: bodies.count, bodies: bodies)
        }
    }

    /// Deletes the events of `batch` up to `acked` (what the collector confirmed), and records the ack.
    public func acknowledge(_ batch: SpoolBatch, acked: UInt64, at time: Date = Date()) throws {
        let upTo = min(acked, batch.lastSeq)
        try pool.write { db in
            let freed = try Int.fetchOne(
                db, sql: "SELECT COALESCE(SUM(bytes), 0) FROM events WHERE seq BETWEEN ? AND ?",
                arguments: [Int64(batch.firstSeq), Int64(upTo)]) ?? 0
            try db.execute(sql: "DELETE FROM events WHERE seq BETWEEN ? AND ?", arguments: [Int64(batch.firstSeq), Int64(upTo)])
            try Self.setMeta(db, "bytes", try Self.meta(db, "bytes") - freed)
            try Self.setMeta(db, "last_acked_seq", max(try Self.meta(db, "last_acked_seq"), Int(upTo)))
            try Self.setMeta(db, "last_ack_at", Int(time.millis))
            try db.execute(sql: "DELETE FROM meta WHERE key = 'last_error'")
        }
    }

    /// Moves one event the collector refuses for good into quarantine, so it no longer blocks
    /// the spool but is kept on disk for inspection.
    public func quarantine(seq: UInt64, reason: String, at time: Date = Date()) throws {
        try pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT bytes, body FROM events WHERE seq = ?", arguments: [Int64(seq)]) else { return }
            try db.execute(
                sql: "INSERT OR REPLACE INTO quarantine (seq, body, reason, at) VALUES (?, ?, ?, ?)",
                arguments: [Int64(seq), row["body"] as Data, reason, time.millis])
            try db.execute(sql: "DELETE FROM events WHERE seq = ?", arguments: [Int64(seq)])
            try Self.setMeta(db, "bytes", try Self.meta(db, "bytes") - (row["bytes"] as Int))
        }
    }

    /// Records an upload attempt and its error (nil on success) for `status` and `selftest`.
    public func recordAttempt(error: String?, at time: Date = Date()) throws {
        try pool.write { db in
            try Self.setMeta(db, "last_attempt_at", Int(time.millis))
            if let error {
                try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_error', ?)", arguments: [error])
            }
        }
    }

    /// Records which process is draining this spool (0 when it stops).
    public func recordRunner(pid: Int32) throws {
        try pool.write { db in try Self.setMeta(db, "runner_pid", Int(pid)) }
    }

    public func status() throws -> SpoolStatus {
        try pool.read { db in
            let metaRows = try Row.fetchAll(db, sql: "SELECT key, value FROM meta")
            var meta: [String: DatabaseValue] = [:]
            for row in metaRows { meta[row["key"]] = row["value"] }
            func int(_ key: String) -> Int? { meta[key].flatMap { Int.fromDatabaseValue($0) } }
            let pid = int("runner_pid").flatMap { $0 > 0 ? Int32($0) : nil }
            return SpoolStatus(
                depth: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0,
                bytes: int("bytes") ?? 0,
                dropped: int("dropped") ?? 0,
                quarantined: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM quarantine") ?? 0,
                nextSeq: UInt64(int("next_seq") ?? 1),
                lastAckedSeq: UInt64(int("last_acked_seq") ?? 0),
                lastAckAt: int("last_ack_at").map { Date(millis: Int64($0)) },
                lastAttemptAt: int("last_attempt_at").map { Date(millis: Int64($0)) },
                lastError: meta["last_error"].flatMap { String.fromDatabaseValue($0) },
                runnerPID: pid)
        }
    }

    /// True when an event with this sequence number is still waiting to be uploaded.
    public func contains(seq: UInt64) throws -> Bool {
        try pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM events WHERE seq = ?)", arguments: [Int64(seq)]) ?? false
        }
    }

    private static func meta(_ db: Database, _ key: String) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) ?? 0
    }

    private static func setMeta(_ db: Database, _ key: String, _ value: Int) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [key, value])
    }
}
