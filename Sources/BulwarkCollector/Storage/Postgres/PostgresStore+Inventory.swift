import BulwarkCore
import Foundation
import Logging
import PostgresNIO

extension PostgresStore {
    /// Applies a transaction's inventory changes; counters add up exactly whichever instance
    /// stored the events (each upsert adds to what the row holds).
    static func write(_ tally: InventoryTally, catalog: AIAppCatalog, _ connection: PostgresConnection, _ logger: Logger) async throws {
        guard !tally.isEmpty else { return }
        let apps = tally.apps.sorted { $0.key < $1.key }
        let ids = apps.map(\.key)
        let resolved = apps.map { catalog.inventoryCategory(of: $0.key, seen: $0.value.category) }
        // Arrays cannot hold NULL through postgres-nio's encoders: '' stands for none.
        let categories = resolved.map { $0 ?? "" }
        let risks = zip(ids, resolved).map { catalog.riskScore(of: $0, category: $1) }
        let (firsts, lasts, events) = (apps.map(\.value.seen.first), apps.map(\.value.seen.last), apps.map(\.value.seen.events))
        try await connection.run(
            """
            INSERT INTO inventory_apps (app_id, category, risk, first_seen, last_seen, events)
            SELECT id, nullif(category, ''), risk, first_seen, last_seen, events
            FROM unnest(\(ids)::text[], \(categories)::text[], \(risks)::float8[], \(firsts)::int8[], \(lasts)::int8[], \(events)::int8[])
                AS u(id, category, risk, first_seen, last_seen, events)
            ON CONFLICT (app_id) DO UPDATE SET
                category = coalesce(excluded.category, inventory_apps.category),
                risk = excluded.risk,
                first_seen = least(inventory_apps.first_seen, excluded.first_seen),
                last_seen = greatest(inventory_apps.last_seen, excluded.last_seen),
                events = inventory_apps.events + excluded.events
            """, logger: logger)
        try await writeSeen(tally.devices, table: "inventory_devices", column: "agent_id", counter: "devices", connection, logger)
        try await writeSeen(tally.users, table: "inventory_users", column: "\"user\"", counter: "users", connection, logger)
        let counts = tally.counts.sorted { ($0.key.app, $0.key.kind, $0.key.key) < ($1.key.app, $1.key.kind, $1.key.key) }
        let (countApps, kinds, keys, numbers) = (counts.map(\.key.app), counts.map(\.key.kind), counts.map(\.key.key), counts.map(\.value))
        try await connection.run(
            """
            INSERT INTO inventory_counts (app_id, kind, key, events)
            SELECT * FROM unnest(\(countApps)::text[], \(kinds)::text[], \(keys)::text[], \(numbers)::int8[])
            ON CONFLICT (app_id, kind, key) DO UPDATE SET events = inventory_counts.events + excluded.events
            """, logger: logger)
    }

    /// Devices or users seen with apps; the ones new to an app add to its row's counter in the
    /// same statement.
    private static func writeSeen(
        _ seen: [InventoryTally.Pair: InventoryTally.Seen], table: String, column: String, counter: String, _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        guard !seen.isEmpty else { return }
        let rows = seen.sorted { ($0.key.app, $0.key.id) < ($1.key.app, $1.key.id) }
        var sql = PostgresSQL()
        let (apps, ids) = (sql.bind(rows.map(\.key.app)), sql.bind(rows.map(\.key.id)))
        let (firsts, lasts, events) = (sql.bind(rows.map(\.value.first)), sql.bind(rows.map(\.value.last)), sql.bind(rows.map(\.value.events)))
        sql.append(
            """
            WITH upserted AS (
                INSERT INTO \(table) (app_id, \(column), first_seen, last_seen, events)
                SELECT * FROM unnest(\(apps)::text[], \(ids)::text[], \(firsts)::int8[], \(lasts)::int8[], \(events)::int8[])
                ON CONFLICT (app_id, \(column)) DO UPDATE SET
                    first_seen = least(\(table).first_seen, excluded.first_seen),
                    last_seen = greatest(\(table).last_seen, excluded.last_seen),
                    events = \(table).events + excluded.events
                RETURNING app_id, (xmax = 0) AS inserted
            )
            UPDATE inventory_apps SET \(counter) = inventory_apps.\(counter) + n.added
            FROM (SELECT app_id, count(*) AS added FROM upserted WHERE inserted GROUP BY app_id) AS n
            WHERE inventory_apps.app_id = n.app_id
            """)
        try await connection.run(sql.query, logger: logger)
    }

    /// Rescores the apps already in the inventory with this store's catalog (`serve` at start).
    public func refreshRiskScores() async throws {
        let catalog = catalog
        try await transaction("rescoring the inventory") { connection, logger in
            for row in try await connection.rows("SELECT app_id, category, risk FROM inventory_apps FOR UPDATE", logger: logger) {
                let (id, category): (String, String?) = (try row.value("app_id"), try row.value("category"))
                let risk = catalog.riskScore(of: id, category: category)
                if risk != (try row.value("risk", as: Double.self)) {
                    try await connection.run("UPDATE inventory_apps SET risk = \(risk) WHERE app_id = \(id)", logger: logger)
                }
            }
        }
    }

    // MARK: Inventory queries

    public func inventoryApps(_ query: InventoryQuery) async throws -> [InventoryApp] {
        var sql = PostgresSQL("SELECT * FROM inventory_apps WHERE first_seen IS NOT NULL")
        if let category = query.category { sql.append(" AND category = \(sql.bind(category))") }
        if let state = query.state { sql.append(" AND state = \(sql.bind(state.rawValue))") }
        if let since = query.since { sql.append(" AND last_seen >= \(sql.bind(since.millis))") }
        if let minRisk = query.minRisk { sql.append(" AND risk >= \(sql.bind(minRisk))") }
        sql.append(" ORDER BY last_seen DESC")
        let catalog = catalog
        return try await connected("listing the inventory") { connection, logger in
            let evidence = try await Self.allCounts(connection, logger, kind: "evidence")
            let actions = try await Self.allCounts(connection, logger, kind: "action")
            return try await connection.rows(sql.query, logger: logger).map { row in
                let id: String = try row.value("app_id")
                return try Self.inventoryApp(row, catalog: catalog, evidence: evidence[id] ?? [:], actions: actions[id] ?? [:])
            }
        }
    }

    public func inventoryApp(id: String, page: InventoryPage = InventoryPage()) async throws -> InventoryAppDetail? {
        let catalog = catalog
        return try await connected("reading an inventory app") { connection, logger in
            guard let row = try await connection.rows("SELECT * FROM inventory_apps WHERE app_id = \(id) AND first_seen IS NOT NULL", logger: logger).first else {
                return nil
            }
            func seen(_ table: String, _ column: String) async throws -> [InventoryAppDetail.Seen] {
                var sql = PostgresSQL()
                sql.append("SELECT \(column) AS id, first_seen, last_seen, events FROM \(table) WHERE app_id = \(sql.bind(id)) ORDER BY last_seen DESC LIMIT \(sql.bind(page.limit)) OFFSET \(sql.bind(page.offset))")
                return try await connection.rows(sql.query, logger: logger).map { row in
                    InventoryAppDetail.Seen(id: try row.value("id"), firstSeen: try row.date("first_seen"), lastSeen: try row.date("last_seen"), events: try row.value("events"))
                }
            }
            let app = try Self.inventoryApp(
                row, catalog: catalog, evidence: try await Self.counts(connection, logger, app: id, kind: "evidence"),
                actions: try await Self.counts(connection, logger, app: id, kind: "action"))
            return InventoryAppDetail(
                app: app, devices: try await seen("inventory_devices", "agent_id"), users: try await seen("inventory_users", "\"user\""),
                timeline: try await Self.counts(connection, logger, app: id, kind: "day"))
        }
    }

    public func inventoryDevice(agentID: String) async throws -> InventoryDevice? {
        guard let agent = try await agent(id: agentID) else { return nil }
        return InventoryDevice(agent: agent, apps: try await seenApps(table: "inventory_devices", column: "agent_id", id: agentID))
    }

    public func inventoryUser(name: String) async throws -> InventoryUser? {
        let apps = try await seenApps(table: "inventory_users", column: "\"user\"", id: name)
        return apps.isEmpty ? nil : InventoryUser(user: name, apps: apps)
    }

    /// The apps one device or one user was seen with, most recent first.
    private func seenApps(table: String, column: String, id: String) async throws -> [InventorySeenApp] {
        var sql = PostgresSQL()
        sql.append(
            """
            SELECT s.app_id, s.first_seen, s.last_seen, s.events, a.category, a.state, a.risk FROM \(table) s
            JOIN inventory_apps a ON a.app_id = s.app_id WHERE s.\(column) = \(sql.bind(id)) ORDER BY s.last_seen DESC
            """)
        let catalog = catalog
        return try await rows(sql.query, "reading what was seen").map { row in
            let app: String = try row.value("app_id")
            return InventorySeenApp(
                id: app, name: catalog.app(id: app)?.name, category: try row.value("category"), risk: try row.value("risk"),
                state: SanctionState(rawValue: try row.value("state")) ?? .unreviewed, firstSeen: try row.date("first_seen"),
                lastSeen: try row.date("last_seen"), events: try row.value("events"))
        }
    }

    public func setAppState(id: String, change: AppStateChange) async throws -> Bool {
        let (category, risk) = (catalog.app(id: id)?.category, catalog.riskScore(of: id, category: nil))
        return try await transaction("setting an app's state") { connection, logger in
            let changed = try await !connection.rows(
            """
            INSERT INTO inventory_apps (app_id, category, risk, state, state_reason, state_changed_by, state_changed_at)
            VALUES (\(id), \(category), \(risk), \(change.state.rawValue), \(change.reason), \(change.by), \(change.at.millis))
            ON CONFLICT (app_id) DO UPDATE SET state = excluded.state, state_reason = excluded.state_reason,
                state_changed_by = excluded.state_changed_by, state_changed_at = excluded.state_changed_at
            WHERE inventory_apps.state IS DISTINCT FROM excluded.state OR inventory_apps.state_reason IS DISTINCT FROM excluded.state_reason
            RETURNING app_id
            """, logger: logger
            ).isEmpty
            if changed { try await Self.bumpPolicyRevision(connection, logger) }
            return changed
        }
    }

    public func policySnapshot(now: Date) async throws -> PolicySnapshot {
        let riskCache = riskCache
        return try await connected("reading the policy snapshot") { connection, logger in
            var states: [String: SanctionState] = [:]
            var changed: Int64 = 0
            for row in try await connection.rows(
                "SELECT app_id, state, state_changed_at FROM inventory_apps WHERE state_changed_at IS NOT NULL", logger: logger)
            {
                states[try row.value("app_id")] = SanctionState(rawValue: try row.value("state")) ?? .unreviewed
                changed = max(changed, try row.value("state_changed_at"))
            }
            let exceptions = try await connection.rows(
                "SELECT * FROM exceptions WHERE revoked_at IS NULL AND until > \(now.millis) ORDER BY created_at, id", logger: logger
            ).map(Self.exception)
            let risky = try await riskCache.levels(now: now) { try await Self.userRisk(connection, logger, now: now) }
            let policy = try await connection.rows("SELECT version, sha256, yaml, created_at FROM policies ORDER BY version DESC LIMIT 1", logger: logger).first
            return PolicySnapshot(
                appStates: states, statesChangedAt: changed, exceptions: exceptions,
                policy: try policy.map { DistributedPolicy(version: try $0.value("version"), sha256: try $0.value("sha256"), yaml: try $0.value("yaml")) },
                policyCreatedAt: try policy?.value("created_at", as: Int64.self) ?? 0, userRisk: risky)
        }
    }

    public func policyRevision() async throws -> Int64 {
        try await rows("SELECT n FROM policy_revision", "reading the policy revision").first?.value("n", as: Int64.self) ?? 0
    }

    /// Counts a change agents' bundles must see, in the changing transaction.
    static func bumpPolicyRevision(_ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.run("UPDATE policy_revision SET n = n + 1", logger: logger)
    }

    static func counts(_ connection: PostgresConnection, _ logger: Logger, app: String, kind: String) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await connection.rows("SELECT key, events FROM inventory_counts WHERE app_id = \(app) AND kind = \(kind)", logger: logger) {
            counts[try row.value("key")] = try row.value("events")
        }
        return counts
    }

    /// Every app's counts of one kind, for listing all apps in one read.
    static func allCounts(_ connection: PostgresConnection, _ logger: Logger, kind: String) async throws -> [String: [String: Int]] {
        var counts: [String: [String: Int]] = [:]
        for row in try await connection.rows("SELECT app_id, key, events FROM inventory_counts WHERE kind = \(kind)", logger: logger) {
            counts[try row.value("app_id"), default: [:]][try row.value("key")] = try row.value("events")
        }
        return counts
    }

    static func inventoryApp(_ row: PostgresRandomAccessRow, catalog: AIAppCatalog, evidence: [String: Int], actions: [String: Int]) throws -> InventoryApp {
        let id: String = try row.value("app_id")
        let app = catalog.app(id: id)
        return InventoryApp(
            id: id, name: app?.name, vendor: app?.vendor, category: try row.value("category"), risk: try row.value("risk"), firstSeen: try row.date("first_seen"),
            lastSeen: try row.date("last_seen"), devices: try row.value("devices"), users: try row.value("users"), events: try row.value("events"),
            evidence: evidence, actions: actions, state: SanctionState(rawValue: try row.value("state")) ?? .unreviewed, stateReason: try row.value("state_reason"))
    }
}
