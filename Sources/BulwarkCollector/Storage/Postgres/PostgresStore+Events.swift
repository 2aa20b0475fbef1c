import BulwarkCore
import Foundation
import Logging
import PostgresNIO

/// The days of `events` this instance knows have a partition.
actor EventPartitions {
    private var known: Set<Int64> = []

    func missing(_ days: Set<Int64>) -> Set<Int64> { days.subtracting(known) }
    func add(_ days: Set<Int64>) { known.formUnion(days) }
    func remove(_ day: Int64) { known.remove(day) }
}

extension PostgresStore {
    static let dayMillis: Int64 = 86_400_000

    /// The UTC day number of a time in milliseconds (floor, also before 1970).
    static func day(of millis: Int64) -> Int64 {
        millis >= 0 ? millis / dayMillis : (millis - dayMillis + 1) / dayMillis
    }

    /// `events_20261207`: partition names come from day numbers only, never from input.
    static func partitionName(day: Int64) -> String {
        "events_" + WireCoding.utcDay(unixSeconds: day * 86_400).replacingOccurrences(of: "-", with: "")
    }

    /// Makes sure the days of `times` within a year before and two days after `now` have their
    /// partition; other times go to the default partition. A new day's rows that went to the
    /// default partition meanwhile (a clock ahead) move into it as it is attached.
    func ensurePartitions(times: some Sequence<Int64>, now: Date) async throws {
        let today = Self.day(of: now.millis)
        let window = (today - 366)...(today + 2)
        let missing = await partitions.missing(Set(times.map(Self.day(of:)).filter(window.contains)))
        guard !missing.isEmpty else { return }
        try await transaction("creating event partitions") { connection, logger in
            try await connection.run("SELECT pg_advisory_xact_lock(\(Lock.partitions.rawValue))", logger: logger)
            let existing = Set(try await connection.rows(
                "SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass",
                logger: logger
            ).map { try $0.value("name", as: String.self) })
            for day in missing.sorted() where !existing.contains(Self.partitionName(day: day)) {
                let (name, from, to) = (Self.partitionName(day: day), day * Self.dayMillis, (day + 1) * Self.dayMillis)
                for statement in [
                    "CREATE TABLE \(name) (LIKE events INCLUDING DEFAULTS)",
                    "INSERT INTO \(name) SELECT * FROM events_default WHERE time >= \(from) AND time < \(to)",
                    "DELETE FROM events_default WHERE time >= \(from) AND time < \(to)",
                    "ALTER TABLE events ATTACH PARTITION \(name) FOR VALUES FROM (\(from)) TO (\(to))",
                ] {
                    try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
        }
        await partitions.add(missing)
    }

    // MARK: Ingest

    /// Ingests run side by side (each on its own connection): they hold the event-order lock
    /// shared, and readers paging by id stop at `latestEventID`'s watermark.
    public var concurrentIngests: Int { 4 }

    public func ingest(_ batches: [IngestBatch], now: Date) async throws -> [EventAck] {
        let received = now.millis
        try await ensurePartitions(times: batches.lazy.flatMap { $0.rows.lazy.map(\.time) }, now: now)
        let agentIDs = Array(Set(batches.map(\.agentID)))
        var (agents, seqs, times, types, versions, datas) = ([String](), [Int64](), [Int64](), [String](), [Int64](), [String]())
        for batch in batches {
            for row in batch.rows {
                agents.append(batch.agentID)
                seqs.append(row.seq)
                times.append(row.time)
                types.append(row.type)
                versions.append(Int64(row.v))
                datas.append(row.data)
            }
        }
        let (insertAgents, insertSeqs, insertTimes, insertTypes, insertVersions, insertDatas) = (agents, seqs, times, types, versions, datas)
        let gapMillis = Int64(gapAfter * 1000)
        let catalog = catalog
        return try await transaction("storing events") { connection, logger in
            // Shared, to commit: any number of ingests insert at once, and `latestEventID` (which
            // takes it exclusive) waits for those in flight, so ids at or below its watermark
            // are all committed.
            try await connection.run("SELECT pg_advisory_xact_lock_shared(\(Lock.eventOrder.rawValue))", logger: logger)
            // The agents' rows in one statement: last seen (returning the one before, for gaps)
            // and what each one's latest heartbeat says. Round trips are what an ingest
            // transaction costs the collector, and this one holds the event-order lock.
            var heartbeats: [String: IngestBatch.Heartbeat] = [:]
            for batch in batches { if let heartbeat = batch.heartbeat { heartbeats[batch.agentID] = heartbeat } }
            let beats = agentIDs.map { heartbeats[$0] }
            let (beating, versions, policies, depths, dropped) = (
                beats.map { $0 != nil }, beats.map { $0?.agentVersion ?? "" }, beats.map { Int64($0?.policyVersion ?? 0) },
                beats.map { Int64($0?.spoolDepth ?? 0) }, beats.map { Int64($0?.dropped ?? 0) }
            )
            var lastSeen: [String: Int64] = [:]
            for row in try await connection.rows(
                """
                UPDATE agents SET last_seen = \(received),
                    agent_version = CASE WHEN h.beat THEN h.version ELSE agents.agent_version END,
                    policy_version = CASE WHEN h.beat THEN h.policy ELSE agents.policy_version END,
                    spool_depth = CASE WHEN h.beat THEN h.depth ELSE agents.spool_depth END,
                    dropped = CASE WHEN h.beat THEN h.dropped ELSE agents.dropped END
                FROM (
                    SELECT u.*, a.last_seen AS previous
                    FROM unnest(\(agentIDs)::text[], \(beating)::bool[], \(versions)::text[], \(policies)::int8[], \(depths)::int8[], \(dropped)::int8[])
                        AS u(id, beat, version, policy, depth, dropped)
                    -- Locked in id order: concurrent ingests naming the same agents wait, never deadlock.
                    JOIN (SELECT id, last_seen FROM agents WHERE id = ANY(\(agentIDs)::text[]) ORDER BY id FOR UPDATE) a ON a.id = u.id
                ) AS h
                WHERE agents.id = h.id
                RETURNING agents.id, h.previous
                """, logger: logger)
            {
                if let seen = try row.value("previous", as: Int64?.self) { lastSeen[try row.value("id")] = seen }
            }
            for agentID in agentIDs.sorted() {
                guard let previous = lastSeen[agentID], received - previous > gapMillis else { continue }
                try await Self.recordGap(connection, logger, agentID: agentID, previous: previous, received: received)
            }
            // One statement for every event of every batch; the database skips what it has.
            var stored: [EventKey: Int64] = [:]
            for row in try await connection.rows(
                """
                INSERT INTO events (agent_id, seq, time, received_at, type, v, data)
                SELECT a, s, t, \(received), ty, v, d::jsonb
                FROM unnest(\(insertAgents)::text[], \(insertSeqs)::int8[], \(insertTimes)::int8[], \(insertTypes)::text[], \(insertVersions)::int8[], \(insertDatas)::text[])
                    AS u(a, s, t, ty, v, d)
                -- Key order: two transactions carrying the same events (a batch resent to another
                -- collector while the first still writes it) wait on each other, never deadlock.
                ORDER BY a, s, t
                ON CONFLICT (agent_id, seq, time) DO NOTHING
                RETURNING id, agent_id, seq, time
                """, logger: logger)
            {
                stored[EventKey(agent: try row.value("agent_id"), seq: try row.value("seq"), time: try row.value("time"))] = try row.value("id")
            }
            // Only events stored now count, each once even when two batches of a group carry it.
            var inventory = InventoryTally()
            var incidents: [(IncidentDraft, String, Int64, Int64)] = []
            let acks = batches.map { batch in
                var duplicates: Set<Int> = []
                for (index, row) in batch.rows.enumerated() {
                    guard let id = stored.removeValue(forKey: EventKey(agent: batch.agentID, seq: row.seq, time: row.time)) else {
                        duplicates.insert(index)
                        continue
                    }
                    if let incident = row.incident { incidents.append((incident, batch.agentID, id, row.time)) }
                }
                inventory.add(batch.inventory(leavingOut: duplicates))
                return EventAck(acked: batch.highestSeq, stored: batch.rows.count - duplicates.count, duplicates: duplicates.count)
            }
            try await Self.write(inventory, catalog: catalog, connection, logger)
            for (draft, agentID, eventID, time) in incidents {
                try await Self.recordIncident(draft, agentID: agentID, eventID: eventID, time: time, connection, logger)
            }
            return acks
        }
    }

    struct EventKey: Hashable {
        var agent: String
        var seq: Int64
        var time: Int64
    }

    /// An `agent.gap` event of the collector's: the agent was silent from `previous` until now,
    /// with the last thing it said.
    static func recordGap(_ connection: PostgresConnection, _ logger: Logger, agentID: String, previous: Int64, received: Int64) async throws {
        var data = AgentGap.data(agentID: agentID, from: previous, to: received)
        let last = try await connection.rows(
            "SELECT type FROM events WHERE agent_id = \(agentID) ORDER BY seq DESC LIMIT 1", logger: logger)
        if let type = try last.first?.value("type", as: String.self) { data["last_event"] = .string(type) }
        try await insertCollectorEvent(connection, logger, type: EventType.gap, time: received, data: data)
    }

    /// An event of the collector's own (agent `collector`, next seq), in the caller's
    /// transaction and under the event-order lock (shared, as ingest), so searches, exports and
    /// SIEM forwarding see it like any agent's; its own lock hands out the seqs one at a time.
    static func insertCollectorEvent(_ connection: PostgresConnection, _ logger: Logger, type: String, time: Int64, data: [String: JSONValue]) async throws {
        try await connection.run(
            "SELECT pg_advisory_xact_lock_shared(\(Lock.eventOrder.rawValue)), pg_advisory_xact_lock(\(Lock.collectorEvents.rawValue))", logger: logger)
        let agent = EventType.collectorAgent
        try await connection.run(
            """
            INSERT INTO events (agent_id, seq, time, received_at, type, v, data)
            VALUES (\(agent), (SELECT coalesce(max(seq), 0) + 1 FROM events WHERE agent_id = \(agent)), \(time), \(time), \(type), 1, \(JSONValue.object(data).jsonText)::jsonb)
            """, logger: logger)
    }

    // MARK: Queries

    public func events(_ query: EventQuery) async throws -> [StoredEvent] {
        try await rawEvents(query).map { raw in
            guard case .object(let data) = try JSONReader.parse(raw.data) else {
                throw PostgresStoreError("stored data of event \(raw.id) is not a JSON object")
            }
            return StoredEvent(id: raw.id, agent: raw.agent, seq: raw.seq, time: raw.time, receivedAt: raw.receivedAt, type: raw.type, v: raw.v, data: data)
        }
    }

    public func rawEvents(_ query: EventQuery) async throws -> [RawEvent] {
        var query = query
        // Paging by id (the API's `after`): only as far as every event is committed, or an
        // ingest committing later with a lower id would be skipped.
        if query.afterID != nil, query.throughID == nil { query.throughID = try await latestEventID() }
        var sql = PostgresSQL("SELECT id, agent_id, seq, time, received_at, type, v, data::text AS data FROM events WHERE true")
        if let type = query.type { sql.append(" AND type = \(sql.bind(type))") }
        if let agent = query.agent { sql.append(" AND agent_id = \(sql.bind(agent))") }
        if let host = query.host { sql.append(" AND agent_id IN (SELECT id FROM agents WHERE hostname = \(sql.bind(host)))") }
        // Time bounds prune partitions: a day's search reads that day.
        if let since = query.since { sql.append(" AND time >= \(sql.bind(since.millis))") }
        if let until = query.until { sql.append(" AND time < \(sql.bind(until.millis))") }
        if let afterID = query.afterID { sql.append(" AND id > \(sql.bind(afterID))") }
        if let throughID = query.throughID { sql.append(" AND id <= \(sql.bind(throughID))") }
        if query.infoType != nil || query.contentHash != nil, query.type == nil {
            sql.append(" AND type = ANY(\(sql.bind(EventCatalog.standard.types(withField: "findings"))))")
        }
        for (field, value) in [("user", query.user), ("app", query.app), ("category", query.category)] {
            guard let value else { continue }
            sql.append(" AND data->>'\(field)' = \(sql.bind(value))")
        }
        if let infoType = query.infoType {
            sql.append(" AND jsonb_path_exists(data, '$.findings[*] ? (@.type == $v)', jsonb_build_object('v', \(sql.bind(infoType))::text))")
        }
        if let hash = query.contentHash {
            sql.append(" AND jsonb_path_exists(data, '$.findings[*].matches[*] ? (@.hash == $v)', jsonb_build_object('v', \(sql.bind(hash))::text))")
        }
        if let action = query.action {
            let outcome = EventType.outcome(of: action)
            let decision = sql.bind(EventType.dlpDecision)
            let value = sql.bind(action.rawValue)
            let outcomes = sql.bind([EventType.paste(outcome), EventType.file(outcome), EventType.upload(outcome)])
            sql.append(" AND ((type = \(decision) AND data->>'action' = \(value)) OR type = ANY(\(outcomes)))")
        }
        sql.append(" ORDER BY id LIMIT \(sql.bind(query.limit))")
        return try await rows(sql.query, "searching events").map { row in
            RawEvent(
                id: try row.value("id"), agent: try row.value("agent_id"), seq: UInt64(max(0, try row.value("seq", as: Int64.self))), time: try row.date("time"),
                receivedAt: try row.date("received_at"), type: try row.value("type"), v: try row.value("v"), data: try row.value("data"))
        }
    }

    public func eventIDRange(since: Date?, until: Date?) async throws -> ClosedRange<Int64>? {
        let (from, to) = (since?.millis ?? Int64.min, until?.millis ?? Int64.max)
        let row = try await rows("SELECT min(id) AS low, max(id) AS high FROM events WHERE time >= \(from) AND time < \(to)", "finding an id range").first
        guard let low = try row?.value("low", as: Int64?.self), let high = try row?.value("high", as: Int64?.self) else { return nil }
        return low...high
    }

    public func latestEventID() async throws -> Int64 {
        try await transaction("reading the latest event id") { connection, logger in
            // Exclusive for an instant: waits for the ingests holding it shared (every id handed
            // out so far then belongs to a finished transaction) and holds new ones back only
            // until this transaction ends.
            try await connection.run("SELECT pg_advisory_xact_lock(\(Lock.eventOrder.rawValue))", logger: logger)
            return try await connection.rows("SELECT max(id) AS id FROM events", logger: logger).first?.value("id", as: Int64?.self) ?? 0
        }
    }

    public func eventCount(agentID: String?) async throws -> Int {
        let query: PostgresQuery = agentID.map { "SELECT count(*) AS n FROM events WHERE agent_id = \($0)" } ?? "SELECT count(*) AS n FROM events"
        return try await rows(query, "counting events").first?.value("n", as: Int.self) ?? 0
    }

    // MARK: Retention

    public func deleteExpired(_ policy: RetentionPolicy, now: Date, batch: Int) async throws -> RetentionResult {
        var result = RetentionResult()
        func cutoff(_ days: Int) -> Int64 { now.addingTimeInterval(-Double(days) * 86_400).millis }
        // Whole days older than every type's retention go at once: a partition dropped.
        let oldest = cutoff(([policy.eventDays] + policy.eventDaysByType.values).max() ?? policy.eventDays)
        let expired = try await rows(
            "SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass AND c.relname <> 'events_default'",
            "listing event partitions"
        ).compactMap { row -> (String, Int64)? in
            let name: String = try row.value("name")
            guard let day = Self.day(ofPartition: name) else { return nil }
            return (day + 1) * Self.dayMillis <= oldest ? (name, day) : nil
        }
        for (name, day) in expired.sorted(by: { $0.1 < $1.1 }) {
            result.events += try await transaction("dropping an expired event partition") { connection, logger in
                let count = try await connection.rows(PostgresQuery(unsafeSQL: "SELECT count(*) AS n FROM \(name)"), logger: logger).first?.value("n", as: Int.self) ?? 0
                try await connection.run(PostgresQuery(unsafeSQL: "DROP TABLE \(name)"), logger: logger)
                return count
            }
            await partitions.remove(day)
        }
        // What remains older than its type's retention, a batch per transaction.
        var passes: [PostgresSQL] = policy.eventDaysByType.sorted { $0.key < $1.key }.map { type, days in
            var sql = PostgresSQL()
            sql.append("SELECT id, time FROM events WHERE time < \(sql.bind(cutoff(days))) AND type = \(sql.bind(type)) LIMIT \(sql.bind(batch))")
            return sql
        }
        var rest = PostgresSQL()
        rest.append("SELECT id, time FROM events WHERE time < \(rest.bind(cutoff(policy.eventDays)))")
        if !policy.eventDaysByType.isEmpty { rest.append(" AND NOT (type = ANY(\(rest.bind(Array(policy.eventDaysByType.keys)))))") }
        rest.append(" LIMIT \(rest.bind(batch))")
        passes.append(rest)
        for pass in passes {
            while true {
                let deleted = try await connected("deleting expired events") { connection, logger in
                    try await connection.rows(
                        PostgresQuery(unsafeSQL: "DELETE FROM events WHERE (id, time) IN (\(pass.text)) RETURNING id", binds: pass.bindings), logger: logger
                    ).count
                }
                result.events += deleted
                if deleted < batch { break }
            }
        }
        let incidentCutoff = cutoff(policy.incidentDays)
        while true {
            let deleted = try await transaction("deleting expired incidents") { connection, logger in
                let ids = try await connection.rows(
                    "SELECT id FROM incidents WHERE time < \(incidentCutoff) AND status <> 'open' LIMIT \(batch)", logger: logger
                ).map { try $0.value("id", as: String.self) }
                guard !ids.isEmpty else { return 0 }
                try await connection.run("DELETE FROM incident_notes WHERE incident_id = ANY(\(ids))", logger: logger)
                try await connection.run("DELETE FROM incidents WHERE id = ANY(\(ids))", logger: logger)
                return ids.count
            }
            result.incidents += deleted
            if deleted < batch { break }
        }
        return result
    }

    /// The day number of a partition's name (`events_20261207`); nil for any other table.
    static func day(ofPartition name: String) -> Int64? {
        let digits = name.dropFirst("events_".count)
        guard name.hasPrefix("events_"), digits.count == 8, let number = Int64(digits) else { return nil }
        return WireCoding.days(fromCivil: number / 10_000, number / 100 % 100, number % 100)
    }
}
