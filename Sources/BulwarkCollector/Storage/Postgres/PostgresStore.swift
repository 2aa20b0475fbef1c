import BulwarkCore
import Crypto
import Foundation
import Logging
import PostgresNIO

/// The store for scale: PostgreSQL (postgres-nio), shared by any number of collector instances
/// (docs/SCALING.md). Everything the instances must agree on lives in the database — agents,
/// tokens, policy versions, the inventory's counters, event de-duplication — so an instance
/// holds nothing another needs and can be stopped at any time.
///
/// Ingest transactions run side by side and may commit out of id order, so a reader paging
/// by id (exports, SIEM forwarding, the API's `after`) stops at `latestEventID`: it takes the
/// event-order advisory lock, which every ingest holds shared to commit, exclusive for an
/// instant, so every id up to the watermark it reads is committed.
public final class PostgresStore: CollectorStore {
    let client: PostgresClient
    private let running: Task<Void, Never>
    let logger: Logger
    public let location: PostgresLocation
    /// The bundled catalog with the deployment's override: names and risk scores of apps.
    public let catalog: AIAppCatalog
    /// What agents are sent with their policy bundle so their catalog matches this one.
    public let catalogOverride: CatalogOverride
    /// Users' risk levels as last sent to agents.
    let riskCache = UserRiskCache()
    /// Silence after which an agent's return is recorded as `agent.gap`, in seconds.
    let gapAfter: TimeInterval
    let partitions = EventPartitions()
    /// The schema version the database had when this store opened it (before migrating).
    public let foundSchemaVersion: Int

    /// The schema version this build writes.
    public static var schemaVersion: Int { PostgresSchema.migrations.count }

    /// Advisory lock keys (one namespace: "BLWK").
    enum Lock: Int64 {
        case eventOrder = 0x424C_574B_0001
        case migration = 0x424C_574B_0002
        case partitions = 0x424C_574B_0003
        case policies = 0x424C_574B_0004
        /// The collector's own events' sequence numbers (`insertCollectorEvent`).
        case collectorEvents = 0x424C_574B_0005
    }

    /// Connects to `location` and checks the schema: with `migrate`, brings it to this build's
    /// version first (what `bulwark-collector migrate` does); without, refuses a database that
    /// is behind or ahead of this build, saying which command fixes it.
    public init(
        location: PostgresLocation, catalogOverride: CatalogOverride = CatalogOverride(), gapAfter: TimeInterval = 3600, maximumConnections: Int = 10,
        migrate: Bool = false, logger: Logger = Logger(label: "bulwark-collector.postgres")
    ) async throws {
        self.location = location
        self.catalogOverride = catalogOverride
        catalog = AIAppCatalog.bundled.applying(catalogOverride)
        self.gapAfter = gapAfter
        self.logger = logger
        // One connection first, for the schema: an unreachable server, a wrong password or a
        // TLS failure is reported now with the server's reason (the pool would retry quietly).
        do {
            let connection = try await PostgresConnection.connect(configuration: try location.connectionConfiguration(), id: 0, logger: logger)
            do {
                let found = try await Self.schemaVersion(connection, logger)
                foundSchemaVersion = found
                if migrate, found != Self.schemaVersion { _ = try await Self.migrate(connection, logger) }
                let version = migrate ? try await Self.schemaVersion(connection, logger) : found
                guard version == Self.schemaVersion else {
                    throw PostgresStoreError(
                        version < Self.schemaVersion
                            ? "the database \(location) has schema version \(version) and this collector needs \(Self.schemaVersion); run 'bulwark-collector migrate --database …' once (collectors on the old version keep running until then)"
                            : "the database \(location) has schema version \(version), newer than this collector knows (\(Self.schemaVersion)); upgrade this collector")
                }
                try await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw PostgresStoreError.explaining(error, doing: "opening \(location)")
        }
        let client = PostgresClient(configuration: try location.clientConfiguration(maximumConnections: maximumConnections), backgroundLogger: logger)
        self.client = client
        let (started, starting) = AsyncStream<Void>.makeStream()
        running = Task {
            starting.finish()
            await client.run()
        }
        // The pool warns about a lease before run() (a short-lived CLI command would print it):
        // the task is on its way into run() once it has said so.
        for await _ in started {}
    }

    /// The schema version the database is at (0 for an empty database).
    public func schemaVersion() async throws -> Int {
        try await connected("reading the schema version") { connection, logger in try await Self.schemaVersion(connection, logger) }
    }

    static func schemaVersion(_ connection: PostgresConnection, _ logger: Logger) async throws -> Int {
        let exists = try await connection.rows("SELECT to_regclass('bulwark_schema') IS NOT NULL AS present", logger: logger)
        guard try exists.first?.value("present", as: Bool.self) == true else { return 0 }
        return try await connection.rows("SELECT coalesce(max(version), 0) AS version FROM bulwark_schema", logger: logger).first?.value("version", as: Int.self) ?? 0
    }

    /// Applies the migrations the database lacks, each in its own transaction, under an
    /// advisory lock so collectors started together migrate once. Returns the versions before
    /// and after.
    @discardableResult
    public func migrate() async throws -> (from: Int, to: Int) {
        try await connected("migrating the schema") { connection, logger in try await Self.migrate(connection, logger) }
    }

    static func migrate(_ connection: PostgresConnection, _ logger: Logger) async throws -> (from: Int, to: Int) {
        let migrations = PostgresSchema.migrations
        try await connection.run("SELECT pg_advisory_lock(\(Lock.migration.rawValue))", logger: logger)
        do {
            try await connection.run("CREATE TABLE IF NOT EXISTS bulwark_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)", logger: logger)
            let from = try await schemaVersion(connection, logger)
            guard from <= migrations.count else {
                throw PostgresStoreError("the database has schema version \(from), newer than this collector knows (\(migrations.count)); upgrade this collector")
            }
            for (index, script) in migrations.enumerated().dropFirst(from) {
                try await connection.withTransaction(logger: logger) { connection in
                    for statement in PostgresSQL.statements(script) {
                        try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.run("INSERT INTO bulwark_schema (version, applied_at) VALUES (\(index + 1), \(Date().millis))", logger: logger)
                }
            }
            try await connection.run("SELECT pg_advisory_unlock(\(Lock.migration.rawValue))", logger: logger)
            return (from, migrations.count)
        } catch {
            try? await connection.run("SELECT pg_advisory_unlock(\(Lock.migration.rawValue))", logger: logger)
            throw error
        }
    }

    public func close() async throws {
        running.cancel()
        _ = await running.value
    }

    // MARK: Running statements

    /// Runs `body` on a pooled connection, errors explained.
    func connected<Result: Sendable>(_ what: String, _ body: (PostgresConnection, Logger) async throws -> Result) async throws -> Result {
        do {
            return try await client.withConnection { connection in try await body(connection, logger) }
        } catch {
            throw PostgresStoreError.explaining(error, doing: what)
        }
    }

    /// Runs `body` in one transaction: all of it applies, or (when it throws) none.
    func transaction<Result: Sendable>(_ what: String, _ body: (PostgresConnection, Logger) async throws -> Result) async throws -> Result {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection, logger) }
        } catch {
            throw PostgresStoreError.explaining(error, doing: what)
        }
    }

    /// Every row of one statement on a pooled connection.
    func rows(_ query: PostgresQuery, _ what: String) async throws -> [PostgresRandomAccessRow] {
        try await connected(what) { connection, logger in try await connection.rows(query, logger: logger) }
    }

    // MARK: Enrollment tokens

    public func createEnrollmentToken(hash: String, label: String, maxUses: Int, expiresAt: Date, now: Date) async throws -> EnrollmentToken {
        let token = EnrollmentToken(id: String(hash.prefix(12)), label: label, maxUses: maxUses, uses: 0, createdAt: now, expiresAt: expiresAt)
        _ = try await rows(
            "INSERT INTO enrollment_tokens (id, hash, label, max_uses, created_at, expires_at) VALUES (\(token.id), \(hash), \(label), \(maxUses), \(now.millis), \(expiresAt.millis))",
            "creating an enrollment token")
        return token
    }

    public func enrollmentTokens() async throws -> [EnrollmentToken] {
        try await rows("SELECT * FROM enrollment_tokens ORDER BY created_at", "listing enrollment tokens").map(Self.enrollmentToken)
    }

    public func revokeEnrollmentToken(id: String, now: Date) async throws -> Bool {
        try await !rows("UPDATE enrollment_tokens SET revoked_at = coalesce(revoked_at, \(now.millis)) WHERE id = \(id) RETURNING id", "revoking an enrollment token").isEmpty
    }

    public func enroll(tokenHash: String, agent: AgentRecord, now: Date) async throws -> AgentRecord {
        try await transaction("enrolling an agent") { connection, logger in
            // FOR UPDATE: two instances enrolling with the last use of a token cannot both take it.
            guard let row = try await connection.rows("SELECT * FROM enrollment_tokens WHERE hash = \(tokenHash) FOR UPDATE", logger: logger).first else {
                throw EnrollmentRefusal.unknownToken
            }
            let token = try Self.enrollmentToken(row)
            if token.revokedAt != nil { throw EnrollmentRefusal.tokenRevoked }
            if token.expiresAt <= now { throw EnrollmentRefusal.tokenExpired(token.expiresAt) }
            let existing = try await connection.rows("SELECT * FROM agents WHERE id = \(agent.id) FOR UPDATE", logger: logger).first.map(Self.agent)
            if let existing, existing.revokedAt != nil { throw EnrollmentRefusal.agentRevoked(agent.id) }
            if existing == nil {
                if token.uses >= token.maxUses { throw EnrollmentRefusal.tokenUsedUp(token.uses) }
                try await connection.run("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = \(token.id)", logger: logger)
            }
            return try await Self.upsertAgent(connection, logger, agent, existing: existing, now: now)
        }
    }

    public func register(agent: AgentRecord, now: Date) async throws -> AgentRecord {
        try await transaction("registering an agent") { connection, logger in
            let existing = try await connection.rows("SELECT * FROM agents WHERE id = \(agent.id) FOR UPDATE", logger: logger).first.map(Self.agent)
            if let existing, existing.revokedAt != nil { throw EnrollmentRefusal.agentRevoked(agent.id) }
            return try await Self.upsertAgent(connection, logger, agent, existing: existing, now: now)
        }
    }

    /// Inserts an agent or refreshes what it says of itself and its certificate.
    private static func upsertAgent(_ connection: PostgresConnection, _ logger: Logger, _ agent: AgentRecord, existing: AgentRecord?, now: Date) async throws -> AgentRecord {
        let enrolled = (existing?.enrolledAt ?? now).millis
        let rows = try await connection.rows(
            """
            INSERT INTO agents (id, hostname, os, agent_version, enrolled_at, last_seen, cert_serial, cert_not_after)
            VALUES (\(agent.id), \(agent.hostname), \(agent.os), \(agent.agentVersion), \(enrolled), \(now.millis), \(agent.certificateSerial), \(agent.certificateNotAfter.millis))
            ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, os = excluded.os, agent_version = excluded.agent_version,
                last_seen = excluded.last_seen, cert_serial = excluded.cert_serial, cert_not_after = excluded.cert_not_after
            RETURNING *
            """, logger: logger)
        guard let row = rows.first else { throw PostgresStoreError("the agent row was not returned by its own insert") }
        return try Self.agent(row)
    }

    // MARK: Agents

    public func agent(id: String) async throws -> AgentRecord? {
        try await rows("SELECT * FROM agents WHERE id = \(id)", "reading an agent").first.map(Self.agent)
    }

    public func agents() async throws -> [AgentRecord] {
        try await rows("SELECT * FROM agents ORDER BY hostname, id", "listing agents").map(Self.agent)
    }

    public func revokeAgent(id: String, now: Date) async throws -> Bool {
        try await !rows("UPDATE agents SET revoked_at = coalesce(revoked_at, \(now.millis)) WHERE id = \(id) RETURNING id", "revoking an agent").isEmpty
    }

    public func revokedAgentCount() async throws -> Int {
        try await rows("SELECT count(*) AS n FROM agents WHERE revoked_at IS NOT NULL", "counting revoked agents").first?.value("n", as: Int.self) ?? 0
    }

    public func recordRenewal(agentID: String, serial: String, notAfter: Date, now: Date) async throws {
        _ = try await rows(
            "UPDATE agents SET cert_serial = \(serial), cert_not_after = \(notAfter.millis), last_seen = \(now.millis) WHERE id = \(agentID)",
            "recording a certificate renewal")
    }

    // MARK: API tokens

    public func createAPIToken(hash: String, name: String, role: Role, now: Date) async throws -> APIToken {
        let token = APIToken(id: String(hash.prefix(12)), name: name, role: role, createdAt: now)
        _ = try await rows(
            "INSERT INTO api_tokens (id, hash, name, role, created_at) VALUES (\(token.id), \(hash), \(name), \(role.rawValue), \(now.millis))",
            "creating an API token")
        return token
    }

    public func apiToken(hash: String) async throws -> APIToken? {
        try await rows("SELECT * FROM api_tokens WHERE hash = \(hash)", "checking an API token").first.flatMap(Self.apiToken)
    }

    public func apiTokens() async throws -> [APIToken] {
        try await rows("SELECT * FROM api_tokens ORDER BY created_at", "listing API tokens").compactMap(Self.apiToken)
    }

    public func revokeAPIToken(id: String, now: Date) async throws -> Bool {
        try await !rows("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, \(now.millis)) WHERE id = \(id) RETURNING id", "revoking an API token").isEmpty
    }

    // MARK: Console sessions

    public func openConsoleSession(idHash: String, tokenID: String, csrf: String, expires: Date, now: Date) async throws {
        try await transaction("opening a console session") { connection, logger in
            try await connection.run("DELETE FROM console_sessions WHERE expires <= \(now.millis)", logger: logger)
            try await connection.run(
                "INSERT INTO console_sessions (id_hash, token_id, csrf, expires) VALUES (\(idHash), \(tokenID), \(csrf), \(expires.millis))", logger: logger)
        }
    }

    public func consoleSession(idHash: String, now: Date) async throws -> (token: APIToken, csrf: String, expires: Date)? {
        guard let row = try await rows(
            """
            SELECT s.csrf, s.expires, t.* FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
            WHERE s.id_hash = \(idHash) AND s.expires > \(now.millis) AND t.revoked_at IS NULL
            """, "reading a console session"
        ).first, let token = Self.apiToken(row) else { return nil }
        return (token, try row.value("csrf"), try row.date("expires"))
    }

    public func closeConsoleSession(idHash: String) async throws {
        _ = try await rows("DELETE FROM console_sessions WHERE id_hash = \(idHash)", "closing a console session")
    }

    // MARK: Audit

    public func audit(_ entry: AuditEntry) async throws {
        _ = try await rows(
            "INSERT INTO audit (time, actor, source, action, target, outcome) VALUES (\(entry.time.millis), \(entry.actor), \(entry.source), \(entry.action), \(entry.target), \(entry.outcome))",
            "writing the audit trail")
    }

    public func auditEntries(_ query: AuditQuery) async throws -> [AuditEntry] {
        var sql = PostgresSQL("SELECT * FROM audit WHERE true")
        if let actor = query.actor { sql.append(" AND actor = \(sql.bind(actor))") }
        // substr, not LIKE: a prefix with % or _ in it means itself.
        if let prefix = query.actionPrefix { sql.append(" AND substr(action, 1, \(sql.bind(prefix.count))::int) = \(sql.bind(prefix))") }
        if let prefix = query.outcomePrefix { sql.append(" AND substr(outcome, 1, \(sql.bind(prefix.count))::int) = \(sql.bind(prefix))") }
        if let since = query.since { sql.append(" AND time >= \(sql.bind(since.millis))") }
        if let until = query.until { sql.append(" AND time < \(sql.bind(until.millis))") }
        if let before = query.beforeID { sql.append(" AND id < \(sql.bind(before))") }
        sql.append(" ORDER BY id DESC LIMIT \(sql.bind(query.limit))")
        return try await rows(sql.query, "searching the audit trail").map { row in
            AuditEntry(
                id: try row.value("id"), time: try row.date("time"), actor: try row.value("actor"), source: try row.value("source"),
                action: try row.value("action"), target: try row.value("target"), outcome: try row.value("outcome"))
        }
    }

    // MARK: SIEM cursors

    public func siemCursor(_ destination: String) async throws -> Int64 {
        try await rows("SELECT event_id FROM siem_cursors WHERE destination = \(destination)", "reading a SIEM cursor").first?.value("event_id") ?? 0
    }

    public func setSIEMCursor(_ destination: String, eventID: Int64, at: Date) async throws {
        _ = try await rows(
            """
            INSERT INTO siem_cursors (destination, event_id, updated) VALUES (\(destination), \(eventID), \(at.millis))
            ON CONFLICT (destination) DO UPDATE SET event_id = greatest(siem_cursors.event_id, excluded.event_id), updated = excluded.updated
            """, "saving a SIEM cursor")
    }

    // MARK: Policy versions

    public func addPolicy(yaml: String, name: String, comment: String, restores: Int?, by: String, at: Date) async throws -> PolicyVersionRecord {
        let sha256 = AgentIdentity.hex(SHA256.hash(data: Data(yaml.utf8)))
        return try await transaction("storing a policy version") { connection, logger in
            // Two instances pushing at once get consecutive versions, not the same one.
            try await connection.run("SELECT pg_advisory_xact_lock(\(Lock.policies.rawValue))", logger: logger)
            let next = (try await connection.rows("SELECT coalesce(max(version), 0) AS v FROM policies", logger: logger).first?.value("v", as: Int.self) ?? 0) + 1
            try await connection.run(
                """
                INSERT INTO policies (version, name, sha256, yaml, comment, restores, created_by, created_at)
                VALUES (\(next), \(name), \(sha256), \(yaml), \(comment), \(restores), \(by), \(at.millis))
                """, logger: logger)
            try await Self.bumpPolicyRevision(connection, logger)
            return PolicyVersionRecord(version: next, name: name, sha256: sha256, comment: comment, createdBy: by, createdAt: at, restores: restores)
        }
    }

    public func policyVersions() async throws -> [PolicyVersionRecord] {
        try await connected("listing policy versions") { connection, logger in
            var running: [Int: Int] = [:]
            for row in try await connection.rows(
                "SELECT policy_version, count(*) AS agents FROM agents WHERE revoked_at IS NULL GROUP BY policy_version", logger: logger)
            {
                running[try row.value("policy_version", as: Int.self)] = try row.value("agents", as: Int.self)
            }
            return try await connection.rows(
                "SELECT version, name, sha256, comment, restores, created_by, created_at FROM policies ORDER BY version DESC", logger: logger
            ).map { row in
                var record = try Self.policyVersion(row)
                record.agents = running[record.version] ?? 0
                return record
            }
        }
    }

    public func policyVersion(_ version: Int?) async throws -> PolicyVersionRecord? {
        let query: PostgresQuery = version.map { "SELECT * FROM policies WHERE version = \($0)" } ?? "SELECT * FROM policies ORDER BY version DESC LIMIT 1"
        return try await rows(query, "reading a policy version").first.map { row in
            var record = try Self.policyVersion(row)
            record.yaml = try row.value("yaml")
            return record
        }
    }

    // MARK: Row mapping

    static func policyVersion(_ row: PostgresRandomAccessRow) throws -> PolicyVersionRecord {
        PolicyVersionRecord(
            version: try row.value("version"), name: try row.value("name"), sha256: try row.value("sha256"), comment: try row.value("comment"),
            createdBy: try row.value("created_by"), createdAt: try row.date("created_at"), restores: try row.value("restores"))
    }

    static func enrollmentToken(_ row: PostgresRandomAccessRow) throws -> EnrollmentToken {
        EnrollmentToken(
            id: try row.value("id"), label: try row.value("label"), maxUses: try row.value("max_uses"), uses: try row.value("uses"),
            createdAt: try row.date("created_at"), expiresAt: try row.date("expires_at"), revokedAt: try row.optionalDate("revoked_at"))
    }

    static func agent(_ row: PostgresRandomAccessRow) throws -> AgentRecord {
        AgentRecord(
            id: try row.value("id"), hostname: try row.value("hostname"), os: try row.value("os"), agentVersion: try row.value("agent_version"),
            enrolledAt: try row.date("enrolled_at"), lastSeen: try row.optionalDate("last_seen"), certificateSerial: try row.value("cert_serial"),
            certificateNotAfter: try row.date("cert_not_after"), policyVersion: try row.value("policy_version"), spoolDepth: try row.value("spool_depth"),
            dropped: try row.value("dropped"), revokedAt: try row.optionalDate("revoked_at"))
    }

    static func apiToken(_ row: PostgresRandomAccessRow) -> APIToken? {
        guard let role = (try? row.value("role", as: String.self)).flatMap(Role.init(rawValue:)),
              let id = try? row.value("id", as: String.self), let name = try? row.value("name", as: String.self),
              let created = try? row.date("created_at")
        else { return nil }
        return APIToken(id: id, name: name, role: role, createdAt: created, revokedAt: try? row.optionalDate("revoked_at"))
    }
}
