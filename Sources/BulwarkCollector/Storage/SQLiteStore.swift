import BulwarkCore
import Foundation
import GRDB

/// The default store: one SQLite file in WAL mode (GRDB). Times are stored as integer
/// milliseconds since the epoch so range queries are index-friendly.
public final class SQLiteStore: CollectorStore {
    let pool: DatabasePool
    /// The bundled catalog with the deployment's override: names and risk scores of apps.
    public let catalog: AIAppCatalog
    /// What agents are sent with their policy bundle so their catalog matches this one.
    public let catalogOverride: CatalogOverride
    /// Users' risk levels as last sent to agents.
    let riskCache = UserRiskCache()
    /// Silence after which an agent's return is recorded as `agent.gap`, in seconds.
    let gapAfter: TimeInterval

    /// Opens (creating and migrating when needed) the database at `path`.
    /// - Parameter gapAfter: an agent heard from again after a silence longer than this gets an
    ///   `agent.gap` event of the collector's (serve uses `stale_after`).
    public init(path: String, catalogOverride: CatalogOverride = CatalogOverride(), gapAfter: TimeInterval = 3600) throws {
        self.gapAfter = gapAfter
        self.catalogOverride = catalogOverride
        catalog = AIAppCatalog.bundled.applying(catalogOverride)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // FULL: a batch we acknowledged survives power loss too, not only a process crash.
            // Ingest pays the fsync once per batch, not per event.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // The writer inserts into every index of events at once; with SQLite's default 2 MiB
            // page cache those pages were read back from the OS with a syscall each (pread was
            // ~6 % of ingest's profile). Readers keep the default: there are several.
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA cache_size = -65536") }
        }
        pool = try SQLiteFile.openPool(path: path, configuration: configuration)
        try SQLiteFile.migrate(pool, Self.migrations)
    }

    /// Rescores the apps already in the inventory with this store's catalog. Risk is kept on the
    /// row (filtering by it is a query, not a computation), so `serve` calls this at start for
    /// a new catalog or override to apply to what was seen before.
    public func refreshRiskScores() throws {
        let catalog = catalog
        try pool.write { db in
            for row in try Row.fetchAll(db, sql: "SELECT app_id, category, risk FROM inventory_apps") {
                let risk = catalog.riskScore(of: row["app_id"], category: row["category"])
                if risk != row["risk"] { try db.execute(sql: "UPDATE inventory_apps SET risk = ? WHERE app_id = ?", arguments: [risk, row["app_id"]]) }
            }
        }
    }

    /// Schema versions, oldest first; never edit one that has shipped, append a new one.
    private static let migrations: [@Sendable (Database) throws -> Void] = [
        { db in
            try db.execute(sql: """
                CREATE TABLE agents (
                    id TEXT PRIMARY KEY,
                    hostname TEXT NOT NULL,
                    os TEXT NOT NULL,
                    agent_version TEXT NOT NULL,
                    enrolled_at INTEGER NOT NULL,
                    last_seen INTEGER,
                    cert_serial TEXT NOT NULL,
                    cert_not_after INTEGER NOT NULL,
                    policy_version INTEGER NOT NULL DEFAULT 0,
                    spool_depth INTEGER NOT NULL DEFAULT 0,
                    dropped INTEGER NOT NULL DEFAULT 0,
                    revoked_at INTEGER
                );
                CREATE TABLE enrollment_tokens (
                    id TEXT PRIMARY KEY,
                    hash TEXT NOT NULL UNIQUE,
                    label TEXT NOT NULL,
                    max_uses INTEGER NOT NULL,
                    uses INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    revoked_at INTEGER
                );
                CREATE TABLE api_tokens (
                    id TEXT PRIMARY KEY,
                    hash TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    revoked_at INTEGER
                );
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY,
                    agent_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    time INTEGER NOT NULL,
                    received_at INTEGER NOT NULL,
                    type TEXT NOT NULL,
                    v INTEGER NOT NULL,
                    data TEXT NOT NULL,
                    UNIQUE (agent_id, seq)
                );
                CREATE INDEX events_type ON events (type, id);
                CREATE INDEX events_time ON events (time);
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY,
                    time INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT NOT NULL,
                    outcome TEXT NOT NULL
                );
                """)
        },
        { db in
            // The discovered-AI inventory, updated on ingest (issue 5).
            try db.execute(sql: """
                CREATE TABLE inventory_apps (
                    app_id TEXT PRIMARY KEY,
                    category TEXT,
                    first_seen INTEGER,
                    last_seen INTEGER,
                    events INTEGER NOT NULL DEFAULT 0,
                    state TEXT NOT NULL DEFAULT 'unreviewed',
                    state_reason TEXT,
                    state_changed_by TEXT,
                    state_changed_at INTEGER
                );
                CREATE TABLE inventory_devices (
                    app_id TEXT NOT NULL, agent_id TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, events INTEGER NOT NULL,
                    PRIMARY KEY (app_id, agent_id)
                );
                CREATE INDEX inventory_devices_agent ON inventory_devices (agent_id);
                CREATE TABLE inventory_users (
                    app_id TEXT NOT NULL, user TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, events INTEGER NOT NULL,
                    PRIMARY KEY (app_id, user)
                );
                CREATE TABLE inventory_counts (
                    app_id TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, events INTEGER NOT NULL,
                    PRIMARY KEY (app_id, kind, key)
                );
                """)
        },
        { db in
            // Device and user counts kept on the app row, so listing apps is one read per app, not a count.
            try db.execute(sql: """
                ALTER TABLE inventory_apps ADD COLUMN devices INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE inventory_apps ADD COLUMN users INTEGER NOT NULL DEFAULT 0;
                UPDATE inventory_apps SET
                    devices = (SELECT COUNT(*) FROM inventory_devices d WHERE d.app_id = inventory_apps.app_id),
                    users = (SELECT COUNT(*) FROM inventory_users u WHERE u.app_id = inventory_apps.app_id);
                """)
        },
        { db in
            // Risk scores on the app row (set from the catalog at write and at start-up); the
            // per-user view.
            try db.execute(sql: """
                ALTER TABLE inventory_apps ADD COLUMN risk REAL NOT NULL DEFAULT 0;
                CREATE INDEX inventory_users_user ON inventory_users (user);
                """)
        },
        { db in
            // An app's devices and users a page at a time, most recently seen first, without
            // sorting every one of them.
            try db.execute(sql: """
                CREATE INDEX inventory_devices_recent ON inventory_devices (app_id, last_seen);
                CREATE INDEX inventory_users_recent ON inventory_users (app_id, last_seen);
                """)
        },
        { db in
            // Incidents (issue 7): every warn/block decision, by the id the user was shown, with
            // helpdesk's status and notes. Backfilled from the events already stored.
            try db.execute(sql: """
                CREATE TABLE incidents (
                    id TEXT PRIMARY KEY,
                    agent_id TEXT NOT NULL,
                    event_id INTEGER NOT NULL,
                    time INTEGER NOT NULL,
                    updated INTEGER NOT NULL,
                    type TEXT NOT NULL,
                    action TEXT NOT NULL,
                    activity TEXT, app TEXT, category TEXT, user TEXT, rule TEXT,
                    findings TEXT NOT NULL,
                    file TEXT,
                    justification TEXT,
                    status TEXT NOT NULL DEFAULT 'open',
                    status_changed_by TEXT,
                    status_changed_at INTEGER
                );
                CREATE INDEX incidents_time ON incidents (time);
                CREATE INDEX incidents_status ON incidents (status, time);
                CREATE INDEX incidents_user ON incidents (user, time);
                CREATE TABLE incident_notes (
                    id INTEGER PRIMARY KEY,
                    incident_id TEXT NOT NULL,
                    time INTEGER NOT NULL,
                    author TEXT NOT NULL,
                    text TEXT NOT NULL
                );
                CREATE INDEX incident_notes_incident ON incident_notes (incident_id, id);
                """)
            let writer = IncidentWriter(db: db, fileHashColumn: false)
            let rows = try Row.fetchCursor(
                db, sql: "SELECT id, agent_id, time, type, data FROM events WHERE type IN ('paste.blocked', 'paste.warned', 'paste.overridden', 'file.blocked', 'dlp.decision') ORDER BY id")
            while let row = try rows.next() {
                let text: String = row["data"]
                guard case .object(let data)? = try? JSONReader.parse(text), let draft = IncidentDraft(type: row["type"], data: data) else { continue }
                try writer.record(draft, agentID: row["agent_id"], eventID: row["id"], time: row["time"])
            }
        },
        { db in
            // Time-boxed exceptions helpdesk grants (issue 7), sent to agents with the policy bundle.
            try db.execute(sql: """
                CREATE TABLE exceptions (
                    id TEXT PRIMARY KEY,
                    rule TEXT NOT NULL,
                    user TEXT,
                    app TEXT,
                    agent_id TEXT,
                    until INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    ticket TEXT,
                    incident TEXT,
                    created_by TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    revoked_by TEXT,
                    revoked_at INTEGER
                );
                CREATE INDEX exceptions_until ON exceptions (until);
                """)
        },
        { db in
            // Where each audited request came from; the trail is append-only even to someone
            // with the database open through this library (a raw file edit is out of reach).
            try db.execute(sql: """
                ALTER TABLE audit ADD COLUMN source TEXT NOT NULL DEFAULT '';
                CREATE INDEX audit_actor ON audit (actor, id);
                CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """)
        },
        { db in
            // DLP policy versions admins push (issue 7); the newest is what agents pull.
            try db.execute(sql: """
                CREATE TABLE policies (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    yaml TEXT NOT NULL,
                    comment TEXT NOT NULL,
                    restores INTEGER,
                    created_by TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX agents_policy_version ON agents (policy_version);
                """)
        },
        { db in
            // Event search at scale (issue 7, measured with 10 M events): the fields analysts
            // filter on most, each with time, so one day of one user is an index range.
            try db.execute(sql: """
                CREATE INDEX events_user_time ON events (json_extract(data, '$.user'), time);
                CREATE INDEX events_app_time ON events (json_extract(data, '$.app'), time);
                CREATE INDEX events_type_time ON events (type, time);
                CREATE INDEX events_dlp_action_time ON events (json_extract(data, '$.action'), time) WHERE type = 'dlp.decision';
                ANALYZE;
                """)
        },
        { db in
            // Where each SIEM destination's forwarding stands (issue 7).
            try db.execute(sql: """
                CREATE TABLE siem_cursors (destination TEXT PRIMARY KEY, event_id INTEGER NOT NULL, updated INTEGER NOT NULL);
                """)
        },
        { db in
            // Exceptions for one file (issue 7): the hash the agent reported with the block.
            try db.execute(sql: """
                ALTER TABLE incidents ADD COLUMN file_sha256 TEXT;
                ALTER TABLE exceptions ADD COLUMN file_sha256 TEXT;
                """)
        },
        { db in
            // Web console sessions in the store (issue 10): any collector knows them, and a
            // revoked token ends its sessions at once.
            try db.execute(sql: """
                CREATE TABLE console_sessions (id_hash TEXT PRIMARY KEY, token_id TEXT NOT NULL, csrf TEXT NOT NULL, expires INTEGER NOT NULL);
                """)
        },
        { db in
            // Agents wait for policy changes (issue 10): a counter each change bumps, polled cheaply.
            try db.execute(sql: """
                CREATE TABLE policy_revision (n INTEGER NOT NULL);
                INSERT INTO policy_revision (n) VALUES (0);
                """)
        },
        { db in
            // Collectors hold agent records and re-check only the revoked count (issue 10).
            try db.execute(sql: """
                CREATE INDEX agents_revoked ON agents (revoked_at) WHERE revoked_at IS NOT NULL;
                """)
        },
    ]


    // MARK: Enrollment tokens

    public func createEnrollmentToken(hash: String, label: String, maxUses: Int, expiresAt: Date, now: Date) async throws -> EnrollmentToken {
        let token = EnrollmentToken(
            id: String(hash.prefix(12)), label: label, maxUses: maxUses, uses: 0, createdAt: now, expiresAt: expiresAt)
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO enrollment_tokens (id, hash, label, max_uses, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [token.id, hash, label, maxUses, now.millis, expiresAt.millis])
        }
        return token
    }

    public func enrollmentTokens() async throws -> [EnrollmentToken] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM enrollment_tokens ORDER BY created_at").map(Self.enrollmentToken)
        }
    }

    public func revokeEnrollmentToken(id: String, now: Date) async throws -> Bool {
        try await markRevoked(table: "enrollment_tokens", id: id, now: now)
    }

    public func enroll(tokenHash: String, agent: AgentRecord, now: Date) async throws -> AgentRecord {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM enrollment_tokens WHERE hash = ?", arguments: [tokenHash]) else {
                throw EnrollmentRefusal.unknownToken
            }
            let token = Self.enrollmentToken(row)
            if token.revokedAt != nil { throw EnrollmentRefusal.tokenRevoked }
            if token.expiresAt <= now { throw EnrollmentRefusal.tokenExpired(token.expiresAt) }
            let existing = try Row.fetchOne(db, sql: "SELECT * FROM agents WHERE id = ?", arguments: [agent.id]).map(Self.agent)
            if let existing, existing.revokedAt != nil { throw EnrollmentRefusal.agentRevoked(agent.id) }
            if existing == nil {
                if token.uses >= token.maxUses { throw EnrollmentRefusal.tokenUsedUp(token.uses) }
                try db.execute(sql: "UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?", arguments: [token.id])
            }
            return try Self.upsertAgent(db, agent, existing: existing, now: now)
        }
    }

    public func register(agent: AgentRecord, now: Date) async throws -> AgentRecord {
        try await pool.write { db in
            let existing = try Row.fetchOne(db, sql: "SELECT * FROM agents WHERE id = ?", arguments: [agent.id]).map(Self.agent)
            if let existing, existing.revokedAt != nil { throw EnrollmentRefusal.agentRevoked(agent.id) }
            return try Self.upsertAgent(db, agent, existing: existing, now: now)
        }
    }

    /// Inserts an agent or refreshes what it says of itself and its certificate.
    private static func upsertAgent(_ db: Database, _ agent: AgentRecord, existing: AgentRecord?, now: Date) throws -> AgentRecord {
        try db.execute(
            sql: """
                INSERT INTO agents (id, hostname, os, agent_version, enrolled_at, last_seen, cert_serial, cert_not_after)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, os = excluded.os,
                    agent_version = excluded.agent_version, last_seen = excluded.last_seen,
                    cert_serial = excluded.cert_serial, cert_not_after = excluded.cert_not_after
                """,
            arguments: [agent.id, agent.hostname, agent.os, agent.agentVersion, (existing?.enrolledAt ?? now).millis,
                        now.millis, agent.certificateSerial, agent.certificateNotAfter.millis])
        guard let stored = try Row.fetchOne(db, sql: "SELECT * FROM agents WHERE id = ?", arguments: [agent.id]) else {
            throw DatabaseError(message: "agent row vanished inside its own transaction")
        }
        return Self.agent(stored)
    }

    // MARK: Agents

    public func agent(id: String) async throws -> AgentRecord? {
        try await pool.read { db in
            // Cached: read on an agent's first request (AgentDirectory), and preparing it showed in profiles.
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM agents WHERE id = ?"), arguments: [id]).map(Self.agent)
        }
    }

    public func agents() async throws -> [AgentRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM agents ORDER BY hostname, id").map(Self.agent)
        }
    }

    public func revokeAgent(id: String, now: Date) async throws -> Bool {
        try await markRevoked(table: "agents", id: id, now: now)
    }

    public func revokedAgentCount() async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM agents WHERE revoked_at IS NOT NULL") ?? 0
        }
    }

    public func recordRenewal(agentID: String, serial: String, notAfter: Date, now: Date) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE agents SET cert_serial = ?, cert_not_after = ?, last_seen = ? WHERE id = ?",
                arguments: [serial, notAfter.millis, now.millis, agentID])
        }
    }

    // MARK: Events

    /// One writer: transactions, and so ids, come one after another.
    public var concurrentIngests: Int { 1 }

    public func ingest(_ batches: [IngestBatch], now: Date) async throws -> [EventAck] {
        let received = now.millis
        let catalog = catalog
        return try await pool.write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO events (agent_id, seq, time, received_at, type, v, data) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (agent_id, seq) DO NOTHING
                """)
            let seen = try db.cachedStatement(sql: "UPDATE agents SET last_seen = ? WHERE id = ?")
            var inventory = InventoryTally()
            let incidents = IncidentWriter(db: db)
            let beat = try db.cachedStatement(
                sql: "UPDATE agents SET last_seen = ?, agent_version = ?, policy_version = ?, spool_depth = ?, dropped = ? WHERE id = ?")
            let gapMillis = Int64(gapAfter * 1000)
            let acks = try batches.map { batch in
                try Self.recordGap(db, agentID: batch.agentID, received: received, gapMillis: gapMillis)
                var duplicates: Set<Int> = []
                for (index, row) in batch.rows.enumerated() {
                    try insert.execute(arguments: [batch.agentID, row.seq, row.time, received, row.type, row.v, row.data])
                    guard db.changesCount > 0 else { duplicates.insert(index); continue }
                    if let incident = row.incident {
                        try incidents.record(incident, agentID: batch.agentID, eventID: db.lastInsertedRowID, time: row.time)
                    }
                }
                // Only events stored now count: a retried batch's duplicates do not.
                inventory.add(batch.inventory(leavingOut: duplicates))
                if let heartbeat = batch.heartbeat {
                    try beat.execute(arguments: [received, heartbeat.agentVersion, heartbeat.policyVersion, heartbeat.spoolDepth, heartbeat.dropped, batch.agentID])
                } else {
                    try seen.execute(arguments: [received, batch.agentID])
                }
                return EventAck(acked: batch.highestSeq, stored: batch.rows.count - duplicates.count, duplicates: duplicates.count)
            }
            // Summed over the transaction: one upsert per row touched, not several per event.
            try InventoryWriter(db: db, catalog: catalog).write(inventory)
            return acks
        }
    }

    /// An `agent.gap` event (of the collector's) when this agent was silent for longer than
    /// `gapMillis` before now: with when it went quiet and the last thing it said (an
    /// `agent.stopped` explains a gap; nothing, or `agent.tamper`, does not).
    static func recordGap(_ db: Database, agentID: String, received: Int64, gapMillis: Int64) throws {
        // Cached: run for every batch (preparing it showed in the idle fleet's profile).
        guard let previous = try Int64?.fetchOne(db.cachedStatement(sql: "SELECT last_seen FROM agents WHERE id = ?"), arguments: [agentID]) ?? nil,
              received - previous > gapMillis
        else { return }
        var data = AgentGap.data(agentID: agentID, from: previous, to: received)
        if let last = try String.fetchOne(db, sql: "SELECT type FROM events WHERE agent_id = ? ORDER BY seq DESC LIMIT 1", arguments: [agentID]) {
            data["last_event"] = .string(last)
        }
        try insertCollectorEvent(db, type: EventType.gap, time: received, data: data)
    }

    /// An event of the collector's own (agent `collector`, next seq), in the caller's
    /// transaction, so searches, exports and SIEM forwarding see it like any agent's.
    static func insertCollectorEvent(_ db: Database, type: String, time: Int64, data: [String: JSONValue]) throws {
        try db.execute(
            sql: """
                INSERT INTO events (agent_id, seq, time, received_at, type, v, data)
                VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM events WHERE agent_id = ?), ?, ?, ?, 1, ?)
                """,
            arguments: [EventType.collectorAgent, EventType.collectorAgent, time, time, type, JSONValue.object(data).jsonText])
    }

    public func events(_ query: EventQuery) async throws -> [StoredEvent] {
        try await rawEvents(query).map { raw in
            guard case .object(let data) = try JSONReader.parse(raw.data) else {
                throw DatabaseError(message: "stored data of event \(raw.id) is not a JSON object")
            }
            return StoredEvent(id: raw.id, agent: raw.agent, seq: raw.seq, time: raw.time, receivedAt: raw.receivedAt, type: raw.type, v: raw.v, data: data)
        }
    }

    public func rawEvents(_ query: EventQuery) async throws -> [RawEvent] {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let type = query.type { clauses.append("type = ?"); arguments += [type] }
        if let agent = query.agent { clauses.append("agent_id = ?"); arguments += [agent] }
        if let host = query.host { clauses.append("agent_id IN (SELECT id FROM agents WHERE hostname = ?)"); arguments += [host] }
        if let since = query.since { clauses.append("time >= ?"); arguments += [since.millis] }
        if let afterID = query.afterID { clauses.append("id > ?"); arguments += [afterID] }
        if let throughID = query.throughID { clauses.append("id <= ?"); arguments += [throughID] }
        if let until = query.until { clauses.append("time < ?"); arguments += [until.millis] }
        // Only some types carry findings or an action: naming them lets the type index narrow a
        // search on those before any JSON is read.
        if query.infoType != nil || query.contentHash != nil, query.type == nil {
            let types = EventCatalog.standard.types(withField: "findings")
            clauses.append("type IN (\(types.map { _ in "?" }.joined(separator: ", ")))")
            arguments += StatementArguments(types)
        }
        for (field, value) in [("user", query.user), ("app", query.app), ("category", query.category)] {
            guard let value else { continue }
            clauses.append("json_extract(data, '$.\(field)') = ?")
            arguments += [value]
        }
        if let infoType = query.infoType {
            clauses.append("EXISTS (SELECT 1 FROM json_each(data, '$.findings') WHERE json_extract(value, '$.type') = ?)")
            arguments += [infoType]
        }
        if let action = query.action {
            let outcome = EventType.outcome(of: action)
            // Each side of the OR has an index: the partial one on dlp.decision's action, and type.
            clauses.append("((type = ? AND json_extract(data, '$.action') = ?) OR type IN (?, ?, ?))")
            arguments += [EventType.dlpDecision, action.rawValue, EventType.paste(outcome), EventType.file(outcome), EventType.upload(outcome)]
        }
        if let hash = query.contentHash {
            clauses.append("""
                EXISTS (SELECT 1 FROM json_each(data, '$.findings') AS finding, json_each(finding.value, '$.matches') AS match
                        WHERE json_extract(match.value, '$.hash') = ?)
                """)
            arguments += [hash]
        }
        // A time range bounds the ids exactly (every match lies between the smallest and largest
        // id in the range), so the id-ordered scan covers the range rather than the table. An
        // export already bounded by ids (afterID and throughID) skips finding them again.
        let bounded = (query.since != nil || query.until != nil) && (query.afterID == nil || query.throughID == nil)
        let (filters, filterArguments, since, until, limit) = (clauses, arguments, query.since, query.until, query.limit)
        return try await pool.read { db in
            var (clauses, arguments) = (filters, filterArguments)
            if bounded {
                guard let range = try Self.eventIDRange(db, since: since, until: until) else { return [] }
                clauses.append("id BETWEEN ? AND ?")
                arguments += [range.lowerBound, range.upperBound]
            }
            arguments += [limit]
            let sql = "SELECT * FROM events \(clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")) ORDER BY id LIMIT ?"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                RawEvent(
                    id: row["id"], agent: row["agent_id"], seq: UInt64(row["seq"] as Int64), time: Date(millis: row["time"]),
                    receivedAt: Date(millis: row["received_at"]), type: row["type"], v: row["v"], data: row["data"])
            }
        }
    }

    public func eventIDRange(since: Date?, until: Date?) async throws -> ClosedRange<Int64>? {
        try await pool.read { db in try Self.eventIDRange(db, since: since, until: until) }
    }

    /// The smallest and largest id of the events in [since, until): one covering scan of the
    /// time index over the range.
    static func eventIDRange(_ db: Database, since: Date?, until: Date?) throws -> ClosedRange<Int64>? {
        let row = try Row.fetchOne(
            db, sql: "SELECT min(id) AS low, max(id) AS high FROM events INDEXED BY events_time WHERE time >= ? AND time < ?",
            arguments: [since?.millis ?? Int64.min, until?.millis ?? Int64.max])
        guard let low: Int64 = row?["low"], let high: Int64 = row?["high"] else { return nil }
        return low...high
    }

    public func latestEventID() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM events") ?? 0 }
    }

    public func eventCount(agentID: String?) async throws -> Int {
        try await pool.read { db in
            if let agentID {
                return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE agent_id = ?", arguments: [agentID]) ?? 0
            }
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0
        }
    }

    // MARK: API tokens

    public func createAPIToken(hash: String, name: String, role: Role, now: Date) async throws -> APIToken {
        let token = APIToken(id: String(hash.prefix(12)), name: name, role: role, createdAt: now)
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO api_tokens (id, hash, name, role, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [token.id, hash, name, role.rawValue, now.millis])
        }
        return token
    }

    public func apiToken(hash: String) async throws -> APIToken? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_tokens WHERE hash = ?", arguments: [hash]).flatMap(Self.apiToken)
        }
    }

    public func apiTokens() async throws -> [APIToken] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_tokens ORDER BY created_at").compactMap(Self.apiToken)
        }
    }

    public func revokeAPIToken(id: String, now: Date) async throws -> Bool {
        try await markRevoked(table: "api_tokens", id: id, now: now)
    }

    private static func apiToken(_ row: Row) -> APIToken? {
        guard let role = Role(rawValue: row["role"]) else { return nil }
        return APIToken(
            id: row["id"], name: row["name"], role: role, createdAt: Date(millis: row["created_at"]),
            revokedAt: (row["revoked_at"] as Int64?).map(Date.init(millis:)))
    }

    // MARK: Audit

    // MARK: Console sessions

    public func openConsoleSession(idHash: String, tokenID: String, csrf: String, expires: Date, now: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM console_sessions WHERE expires <= ?", arguments: [now.millis])
            try db.execute(
                sql: "INSERT INTO console_sessions (id_hash, token_id, csrf, expires) VALUES (?, ?, ?, ?)", arguments: [idHash, tokenID, csrf, expires.millis])
        }
    }

    public func consoleSession(idHash: String, now: Date) async throws -> (token: APIToken, csrf: String, expires: Date)? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(
                db, sql: """
                    SELECT s.csrf, s.expires, t.* FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
                    WHERE s.id_hash = ? AND s.expires > ? AND t.revoked_at IS NULL
                    """, arguments: [idHash, now.millis]),
                let token = Self.apiToken(row)
            else { return nil }
            return (token, row["csrf"], Date(millis: row["expires"]))
        }
    }

    public func closeConsoleSession(idHash: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM console_sessions WHERE id_hash = ?", arguments: [idHash]) }
    }

    public func audit(_ entry: AuditEntry) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO audit (time, actor, source, action, target, outcome) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [entry.time.millis, entry.actor, entry.source, entry.action, entry.target, entry.outcome])
        }
    }

    public func auditEntries(_ query: AuditQuery) async throws -> [AuditEntry] {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let actor = query.actor { clauses.append("actor = ?"); arguments += [actor] }
        // substr, not LIKE: a prefix with % or _ in it means itself.
        if let prefix = query.actionPrefix { clauses.append("substr(action, 1, ?) = ?"); arguments += [prefix.count, prefix] }
        if let prefix = query.outcomePrefix { clauses.append("substr(outcome, 1, ?) = ?"); arguments += [prefix.count, prefix] }
        if let since = query.since { clauses.append("time >= ?"); arguments += [since.millis] }
        if let until = query.until { clauses.append("time < ?"); arguments += [until.millis] }
        if let before = query.beforeID { clauses.append("id < ?"); arguments += [before] }
        arguments += [query.limit]
        let sql = "SELECT * FROM audit \(clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")) ORDER BY id DESC LIMIT ?"
        let finalArguments = arguments
        return try await pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: finalArguments).map { row in
                AuditEntry(
                    id: row["id"], time: Date(millis: row["time"]), actor: row["actor"], source: row["source"], action: row["action"],
                    target: row["target"], outcome: row["outcome"])
            }
        }
    }

    /// Sets `revoked_at` once (a second revocation keeps the first time); false when no row has `id`.
    private func markRevoked(table: String, id: String, now: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE \(table) SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [now.millis, id])
            return db.changesCount > 0
        }
    }

    public func close() async throws {
        try pool.close()
    }

    // MARK: Row mapping

    private static func enrollmentToken(_ row: Row) -> EnrollmentToken {
        EnrollmentToken(
            id: row["id"], label: row["label"], maxUses: row["max_uses"], uses: row["uses"],
            createdAt: Date(millis: row["created_at"]), expiresAt: Date(millis: row["expires_at"]),
            revokedAt: (row["revoked_at"] as Int64?).map(Date.init(millis:)))
    }

    private static func agent(_ row: Row) -> AgentRecord {
        AgentRecord(
            id: row["id"], hostname: row["hostname"], os: row["os"], agentVersion: row["agent_version"],
            enrolledAt: Date(millis: row["enrolled_at"]), lastSeen: (row["last_seen"] as Int64?).map(Date.init(millis:)),
            certificateSerial: row["cert_serial"], certificateNotAfter: Date(millis: row["cert_not_after"]),
            policyVersion: row["policy_version"], spoolDepth: row["spool_depth"], dropped: row["dropped"],
            revokedAt: (row["revoked_at"] as Int64?).map(Date.init(millis:)))
    }
}

/// Writes one ingest transaction's inventory changes (an `InventoryTally`): a statement per
/// app, device, user and counter the transaction touched, not several per event.
struct InventoryWriter {
    let db: Database
    let catalog: AIAppCatalog

    func write(_ tally: InventoryTally) throws {
        for (app, row) in tally.apps {
            let category = catalog.inventoryCategory(of: app, seen: row.category)
            try db.cachedStatement(sql: """
                    INSERT INTO inventory_apps (app_id, category, risk, first_seen, last_seen, events) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (app_id) DO UPDATE SET
                        category = coalesce(excluded.category, category),
                        risk = excluded.risk,
                        first_seen = min(coalesce(first_seen, excluded.first_seen), excluded.first_seen),
                        last_seen = max(coalesce(last_seen, excluded.last_seen), excluded.last_seen),
                        events = events + excluded.events
                    """).execute(arguments: [app, category, catalog.riskScore(of: app, category: category), row.seen.first, row.seen.last, row.seen.events])
        }
        try write(tally.devices, Self.devices)
        try write(tally.users, Self.users)
        for (count, events) in tally.counts {
            try db.cachedStatement(sql: """
                    INSERT INTO inventory_counts (app_id, kind, key, events) VALUES (?, ?, ?, ?)
                    ON CONFLICT (app_id, kind, key) DO UPDATE SET events = events + excluded.events
                    """).execute(arguments: [count.app, count.kind, count.key, events])
        }
    }

    /// Devices or users seen with apps; the ones new to an app add to its row's counter.
    private func write(_ table: [InventoryTally.Pair: InventoryTally.Seen], _ sql: SeenSQL) throws {
        var added: [String: Int] = [:]
        let upsert = try db.cachedStatement(sql: sql.upsert)
        for (pair, seen) in table {
            // A row of its own holds exactly this tally's events; one seen before holds more.
            let events = try Int64.fetchOne(upsert, arguments: [pair.app, pair.id, seen.first, seen.last, seen.events])
            if events == seen.events { added[pair.app, default: 0] += 1 }
        }
        for (app, count) in added { try db.cachedStatement(sql: sql.count).execute(arguments: [count, app]) }
    }

    struct SeenSQL {
        var upsert: String
        var count: String

        init(table: String, column: String, counter: String) {
            upsert = """
                INSERT INTO \(table) (app_id, \(column), first_seen, last_seen, events) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (app_id, \(column)) DO UPDATE SET
                    first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen), events = events + excluded.events
                RETURNING events
                """
            count = "UPDATE inventory_apps SET \(counter) = \(counter) + ? WHERE app_id = ?"
        }
    }

    static let devices = SeenSQL(table: "inventory_devices", column: "agent_id", counter: "devices")
    static let users = SeenSQL(table: "inventory_users", column: "user", counter: "users")
}

extension SQLiteStore {
    // MARK: Inventory

    public func inventoryApps(_ query: InventoryQuery) async throws -> [InventoryApp] {
        var clauses = ["first_seen IS NOT NULL"]
        var arguments: StatementArguments = []
        if let category = query.category { clauses.append("category = ?"); arguments += [category] }
        if let state = query.state { clauses.append("state = ?"); arguments += [state.rawValue] }
        if let since = query.since { clauses.append("last_seen >= ?"); arguments += [since.millis] }
        if let minRisk = query.minRisk { clauses.append("risk >= ?"); arguments += [minRisk] }
        let sql = "SELECT * FROM inventory_apps WHERE \(clauses.joined(separator: " AND ")) ORDER BY last_seen DESC"
        let finalArguments = arguments
        let catalog = catalog
        return try await pool.read { db in
            let evidence = try Self.allCounts(db, kind: "evidence")
            let actions = try Self.allCounts(db, kind: "action")
            return try Row.fetchAll(db, sql: sql, arguments: finalArguments).map { row in
                Self.inventoryApp(row, catalog: catalog, evidence: evidence[row["app_id"]] ?? [:], actions: actions[row["app_id"]] ?? [:])
            }
        }
    }

    public func inventoryApp(id: String, page: InventoryPage = InventoryPage()) async throws -> InventoryAppDetail? {
        let catalog = catalog
        return try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM inventory_apps WHERE app_id = ? AND first_seen IS NOT NULL", arguments: [id]) else {
                return nil
            }
            func seen(_ table: String, _ column: String) throws -> [InventoryAppDetail.Seen] {
                try Row.fetchAll(
                    db, sql: "SELECT * FROM \(table) WHERE app_id = ? ORDER BY last_seen DESC LIMIT ? OFFSET ?", arguments: [id, page.limit, page.offset]
                ).map { row in
                    InventoryAppDetail.Seen(id: row[column], firstSeen: Date(millis: row["first_seen"]), lastSeen: Date(millis: row["last_seen"]), events: row["events"])
                }
            }
            return InventoryAppDetail(
                app: Self.inventoryApp(
                    row, catalog: catalog, evidence: try Self.counts(db, app: id, kind: "evidence"), actions: try Self.counts(db, app: id, kind: "action")), devices: try seen("inventory_devices", "agent_id"), users: try seen("inventory_users", "user"),
                timeline: try Self.counts(db, app: id, kind: "day"))
        }
    }

    public func inventoryDevice(agentID: String) async throws -> InventoryDevice? {
        guard let agent = try await agent(id: agentID) else { return nil }
        let apps = try await seenApps(table: "inventory_devices", column: "agent_id", id: agentID)
        return InventoryDevice(agent: agent, apps: apps)
    }

    public func inventoryUser(name: String) async throws -> InventoryUser? {
        let apps = try await seenApps(table: "inventory_users", column: "user", id: name)
        return apps.isEmpty ? nil : InventoryUser(user: name, apps: apps)
    }

    /// The apps one device or one user was seen with, most recent first.
    private func seenApps(table: String, column: String, id: String) async throws -> [InventorySeenApp] {
        let catalog = catalog
        return try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.app_id, s.first_seen, s.last_seen, s.events, a.category, a.state, a.risk FROM \(table) s
                    JOIN inventory_apps a ON a.app_id = s.app_id WHERE s.\(column) = ? ORDER BY s.last_seen DESC
                    """, arguments: [id]
            ).map { row in
                let app: String = row["app_id"]
                return InventorySeenApp(
                    id: app, name: catalog.app(id: app)?.name, category: row["category"], risk: row["risk"],
                    state: SanctionState(rawValue: row["state"]) ?? .unreviewed, firstSeen: Date(millis: row["first_seen"]),
                    lastSeen: Date(millis: row["last_seen"]), events: row["events"])
            }
        }
    }

    public func setAppState(id: String, change: AppStateChange) async throws -> Bool {
        let catalog = catalog
        return try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO inventory_apps (app_id, category, risk, state, state_reason, state_changed_by, state_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (app_id) DO UPDATE SET state = excluded.state, state_reason = excluded.state_reason,
                        state_changed_by = excluded.state_changed_by, state_changed_at = excluded.state_changed_at
                    WHERE state IS NOT excluded.state OR state_reason IS NOT excluded.state_reason
                    """,
                arguments: [
                    id, catalog.app(id: id)?.category, catalog.riskScore(of: id, category: nil), change.state.rawValue, change.reason, change.by,
                    change.at.millis,
                ])
            guard db.changesCount > 0 else { return false }
            try Self.bumpPolicyRevision(db)
            return true
        }
    }

    public func policySnapshot(now: Date) async throws -> PolicySnapshot {
        let riskCache = riskCache
        return try await pool.read { db in
            var states: [String: SanctionState] = [:]
            var changed: Int64 = 0
            for row in try Row.fetchAll(db, sql: "SELECT app_id, state, state_changed_at FROM inventory_apps WHERE state_changed_at IS NOT NULL") {
                states[row["app_id"]] = SanctionState(rawValue: row["state"]) ?? .unreviewed
                changed = max(changed, row["state_changed_at"])
            }
            let exceptions = try Row.fetchAll(
                db, sql: "SELECT * FROM exceptions WHERE revoked_at IS NULL AND until > ? ORDER BY created_at, id", arguments: [now.millis]
            ).map(Self.exception)
            let risky = try riskCache.levels(now: now) { try Self.userRisk(db, now: now) }
            let policy = try Row.fetchOne(db, sql: "SELECT version, sha256, yaml, created_at FROM policies ORDER BY version DESC LIMIT 1")
            return PolicySnapshot(
                appStates: states, statesChangedAt: changed, exceptions: exceptions,
                policy: policy.map { DistributedPolicy(version: $0["version"], sha256: $0["sha256"], yaml: $0["yaml"]) },
                policyCreatedAt: policy?["created_at"] ?? 0, userRisk: risky)
        }
    }

    public func policyRevision() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT n FROM policy_revision") ?? 0 }
    }

    /// Counts a change agents' bundles must see, in the changing transaction.
    static func bumpPolicyRevision(_ db: Database) throws {
        try db.execute(sql: "UPDATE policy_revision SET n = n + 1")
    }

    static func counts(_ db: Database, app: String, kind: String) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT key, events FROM inventory_counts WHERE app_id = ? AND kind = ?", arguments: [app, kind]) {
            counts[row["key"]] = row["events"]
        }
        return counts
    }

    /// Every app's counts of one kind, for listing all apps in one read.
    static func allCounts(_ db: Database, kind: String) throws -> [String: [String: Int]] {
        var counts: [String: [String: Int]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT app_id, key, events FROM inventory_counts WHERE kind = ?", arguments: [kind]) {
            counts[row["app_id"], default: [:]][row["key"]] = row["events"]
        }
        return counts
    }

    static func inventoryApp(_ row: Row, catalog: AIAppCatalog, evidence: [String: Int], actions: [String: Int]) -> InventoryApp {
        let id: String = row["app_id"]
        let app = catalog.app(id: id)
        return InventoryApp(
            id: id, name: app?.name, vendor: app?.vendor, category: row["category"], risk: row["risk"], firstSeen: Date(millis: row["first_seen"]),
            lastSeen: Date(millis: row["last_seen"]), devices: row["devices"], users: row["users"], events: row["events"], evidence: evidence,
            actions: actions, state: SanctionState(rawValue: row["state"]) ?? .unreviewed, stateReason: row["state_reason"])
    }
}
