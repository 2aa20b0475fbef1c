import BulwarkCollector
import BulwarkCore
import BulwarkTestSupport
import Foundation
import Testing

/// The backends every store test runs against: the embedded SQLite file and a real PostgreSQL
/// server (TestPostgres).
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    var testDescription: String { rawValue }
}

/// A fresh store of one backend, with a second client on the same database.
struct StoreUnderTest {
    let store: any CollectorStore
    /// Runs one SQL statement through another client than the store (the sqlite3 shell, psql):
    /// exit status and output.
    let otherClient: @Sendable (String) throws -> (status: Int32, output: String)
    /// A second store on the same database: what another collector process would open.
    let another: @Sendable () async throws -> any CollectorStore

    static func open(_ backend: StoreBackend) async throws -> StoreUnderTest {
        switch backend {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID())").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let path = dir + "/collector.db"
            return StoreUnderTest(
                store: try SQLiteStore(path: path), otherClient: { statement in try StoreTests.sqlite(path, statement) },
                another: { try SQLiteStore(path: path) })
        case .postgres:
            let url = try TestPostgres.database("store")
            let store = try await PostgresStore(location: try PostgresLocation(url: url), migrate: true)
            let server = try TestPostgres.server.get()
            let database = String(url.split(separator: "/").last ?? "")
            return StoreUnderTest(
                store: store, otherClient: { statement in try TestPostgres.psql(server, database: database, statement, check: false) },
                another: { try await PostgresStore(location: try PostgresLocation(url: url)) })
        }
    }
}

@Suite("Store (SQLite and PostgreSQL)")
struct StoreTests {
    let now = Date(millis: 1_795_000_000_000)

    func open(_ backend: StoreBackend) async throws -> any CollectorStore {
        try await StoreUnderTest.open(backend).store
    }

    func agent(_ id: String) -> AgentRecord {
        AgentRecord(id: id, hostname: "host-\(id)", os: "Debian", agentVersion: "0.1.0", enrolledAt: now,
                    certificateSerial: "01", certificateNotAfter: now.addingTimeInterval(86_400))
    }

    func selftest(_ seq: UInt64) -> Event {
        Event(seq: seq, time: now, type: EventType.selftest, v: 1, data: ["nonce": "n", "index": .number(Double(seq))])
    }

    @Test("ingest stores a batch once: replays and overlaps count as duplicates", arguments: StoreBackend.allCases)
    func dedup(_ backend: StoreBackend) async throws {
        let store = try await open(backend)
        _ = try await store.createEnrollmentToken(hash: "h1", label: "", maxUses: 5, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await store.enroll(tokenHash: "h1", agent: agent("a"), now: now)
        let first = try await store.ingest(agentID: "a", events: (1...5).map(selftest), now: now)
        #expect(first == EventAck(acked: 5, stored: 5, duplicates: 0))
        let overlap = try await store.ingest(agentID: "a", events: (4...8).map(selftest), now: now)
        #expect(overlap == EventAck(acked: 8, stored: 3, duplicates: 2))
        #expect(try await store.eventCount(agentID: "a") == 8)
        // The same seq from another agent is a different event.
        _ = try await store.enroll(tokenHash: "h1", agent: agent("b"), now: now)
        #expect(try await store.ingest(agentID: "b", events: [selftest(1)], now: now).stored == 1)
    }

    @Test("the inventory counts each stored event once: a replayed batch adds nothing; first and last seen span the events", arguments: StoreBackend.allCases)
    func inventoryOnIngest(_ backend: StoreBackend) async throws {
        let store = try await open(backend)
        _ = try await store.createEnrollmentToken(hash: "h1", label: "", maxUses: 5, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await store.enroll(tokenHash: "h1", agent: agent("a"), now: now)
        func started(_ seq: UInt64, at time: Date, user: String) -> Event {
            Event(seq: seq, time: time, type: EventType.aiProcessStarted, v: 1, data: [
                "app": "ollama", "category": "local_llm", "pid": 7, "exe": "/usr/bin/ollama", "uid": 1000, "evidence": "process", "user": .string(user),
            ])
        }
        let batch = [started(1, at: now, user: "alice"), started(2, at: now.addingTimeInterval(-86_400), user: "bob"), selftest(3)]
        _ = try await store.ingest(agentID: "a", events: batch, now: now)
        _ = try await store.ingest(agentID: "a", events: batch, now: now)  // an agent retrying after a lost ack
        let apps = try await store.inventoryApps(InventoryQuery())
        #expect(apps.map(\.id) == ["ollama"])
        #expect(apps.first?.events == 2)
        #expect(apps.first?.users == 2)
        #expect(apps.first?.devices == 1)
        #expect(apps.first?.firstSeen == now.addingTimeInterval(-86_400))
        #expect(apps.first?.lastSeen == now)
        let detail = try await store.inventoryApp(id: "ollama", page: InventoryPage())
        #expect(detail?.timeline.values.reduce(0, +) == 2)
        #expect(detail?.timeline.count == 2)
        // Users (and devices) come a page at a time, most recently seen first; the app row has the totals.
        #expect(detail?.users.map(\.id) == ["alice", "bob"])
        #expect(try await store.inventoryApp(id: "ollama", page: InventoryPage(limit: 1))?.users.map(\.id) == ["alice"])
        #expect(try await store.inventoryApp(id: "ollama", page: InventoryPage(limit: 1, offset: 1))?.users.map(\.id) == ["bob"])
        #expect(try await store.inventoryApp(id: "ollama", page: InventoryPage(limit: 1, offset: 1))?.app.users == 2)
        #expect(apps.first?.risk == 0.5, "the catalog's score, kept on the row")
        #expect(try await store.inventoryApps(InventoryQuery(minRisk: 1)).isEmpty)
        #expect(try await store.inventoryUser(name: "bob")?.apps.map(\.id) == ["ollama"])
        #expect(try await store.inventoryUser(name: "carol") == nil)
        #expect(try await store.inventoryApps(InventoryQuery(category: "consumer_ai")).isEmpty)
        // State: changed once, then unchanged.
        let change = AppStateChange(state: .monitored, reason: "pilot", by: "token:t", at: now)
        #expect(try await store.setAppState(id: "ollama", change: change))
        #expect(try await !store.setAppState(id: "ollama", change: change))
        #expect(try await store.inventoryApps(InventoryQuery(state: .monitored)).map(\.id) == ["ollama"])

        // A batch overlapping what is stored (a retry resends events as they were): only its new
        // events count; a device and user seen before are not new, one never seen is.
        _ = try await store.enroll(tokenHash: "h1", agent: agent("b"), now: now)
        let overlap = try await store.ingest(agentID: "a", events: [started(2, at: now.addingTimeInterval(-86_400), user: "bob"), started(4, at: now, user: "alice"), started(5, at: now, user: "carol")], now: now)
        #expect(overlap == EventAck(acked: 5, stored: 2, duplicates: 1))
        _ = try await store.ingest(agentID: "b", events: [started(1, at: now, user: "alice")], now: now)
        let after = try #require(try await store.inventoryApps(InventoryQuery()).first)
        #expect(after.events == 5)
        #expect(after.users == 3)
        #expect(after.devices == 2)
        #expect(try await store.inventoryApp(id: "ollama", page: InventoryPage())?.devices.first { $0.id == "a" }?.events == 4)
    }

    @Test("heartbeats update the agent's row", arguments: StoreBackend.allCases)
    func heartbeat(_ backend: StoreBackend) async throws {
        let store = try await open(backend)
        _ = try await store.createEnrollmentToken(hash: "h", label: "", maxUses: 1, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await store.enroll(tokenHash: "h", agent: agent("a"), now: now)
        let beat = Event(seq: 1, time: now, type: EventType.heartbeat, v: 1, data: [
            "agent_version": "0.2.0", "policy_version": 4, "spool_depth": 17, "spool_bytes": 1000, "dropped": 2,
        ])
        _ = try await store.ingest(agentID: "a", events: [beat], now: now.addingTimeInterval(5))
        let row = try #require(try await store.agent(id: "a"))
        #expect(row.agentVersion == "0.2.0")
        #expect(row.policyVersion == 4)
        #expect(row.spoolDepth == 17)
        #expect(row.dropped == 2)
        #expect(row.lastSeen == now.addingTimeInterval(5))
    }

    @Test("one transaction for several agents: only the heartbeating one's fields change, every one is seen, and a silence past gap_after is an agent.gap event", arguments: StoreBackend.allCases)
    func groupedHeartbeatsAndGaps(_ backend: StoreBackend) async throws {
        let store = try await open(backend)
        _ = try await store.createEnrollmentToken(hash: "h", label: "", maxUses: 2, expiresAt: now.addingTimeInterval(60), now: now)
        for id in ["a", "b"] { _ = try await store.enroll(tokenHash: "h", agent: agent(id), now: now) }
        let beat = Event(seq: 2, time: now, type: EventType.heartbeat, v: 1, data: [
            "agent_version": "0.3.0", "policy_version": 7, "spool_depth": 3, "spool_bytes": 100, "dropped": 1,
        ])
        let later = now.addingTimeInterval(3_601)  // past the default gap_after of an hour
        let acks = try await store.ingest(
            [IngestBatch(agentID: "a", events: [selftest(1), beat]), IngestBatch(agentID: "b", events: [selftest(1)])], now: later)
        #expect(acks == [EventAck(acked: 2, stored: 2, duplicates: 0), EventAck(acked: 1, stored: 1, duplicates: 0)])
        let a = try #require(try await store.agent(id: "a"))
        let b = try #require(try await store.agent(id: "b"))
        #expect(a.agentVersion == "0.3.0" && a.policyVersion == 7 && a.spoolDepth == 3 && a.dropped == 1)
        #expect(b.agentVersion == "0.1.0" && b.policyVersion == 0 && b.spoolDepth == 0)
        #expect(a.lastSeen == later && b.lastSeen == later)
        let gaps = try await store.events(EventQuery(type: EventType.gap))
        #expect(Set(gaps.compactMap { $0.data["agent_id"]?.stringValue }) == ["a", "b"])
        // Heard from again at once: no new gap.
        _ = try await store.ingest(agentID: "a", events: [selftest(3)], now: later.addingTimeInterval(1))
        #expect(try await store.events(EventQuery(type: EventType.gap)).count == 2)
    }

    @Test("enrollment: uses counted once per new agent; expiry, revocation and revoked agents refused", arguments: StoreBackend.allCases)
    func enrollmentRules(_ backend: StoreBackend) async throws {
        let store = try await open(backend)
        let token = try await store.createEnrollmentToken(hash: "t", label: "lab", maxUses: 2, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await store.enroll(tokenHash: "t", agent: agent("a"), now: now)
        _ = try await store.enroll(tokenHash: "t", agent: agent("a"), now: now)  // idempotent
        _ = try await store.enroll(tokenHash: "t", agent: agent("b"), now: now)
        await #expect(throws: EnrollmentRefusal.tokenUsedUp(2)) { try await store.enroll(tokenHash: "t", agent: agent("c"), now: now) }
        await #expect(throws: EnrollmentRefusal.tokenExpired(token.expiresAt)) {
            try await store.enroll(tokenHash: "t", agent: agent("a"), now: now.addingTimeInterval(61))
        }
        await #expect(throws: EnrollmentRefusal.unknownToken) { try await store.enroll(tokenHash: "nope", agent: agent("a"), now: now) }
        #expect(try await store.revokedAgentCount() == 0)
        #expect(try await store.revokeAgent(id: "a", now: now))
        #expect(try await store.revokeAgent(id: "a", now: now.addingTimeInterval(1)))  // again: still one revoked
        #expect(try await store.revokedAgentCount() == 1)
        #expect(try await store.agent(id: "a")?.revokedAt == now)
        await #expect(throws: EnrollmentRefusal.agentRevoked("a")) { try await store.enroll(tokenHash: "t", agent: agent("a"), now: now) }
        #expect(try await store.revokeEnrollmentToken(id: token.id, now: now))
        await #expect(throws: EnrollmentRefusal.tokenRevoked) { try await store.enroll(tokenHash: "t", agent: agent("b"), now: now) }
        #expect(try await store.enrollmentTokens().first?.uses == 2)
    }

    @Test("event queries filter by type, agent, time and cursor", arguments: StoreBackend.allCases)
    func queries(_ backend: StoreBackend) async throws {
        let store = try await open(backend)
        _ = try await store.createEnrollmentToken(hash: "h", label: "", maxUses: 2, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await store.enroll(tokenHash: "h", agent: agent("a"), now: now)
        let events = (1...10).map { seq in
            Event(seq: seq, time: now.addingTimeInterval(Double(seq)), type: seq % 2 == 0 ? EventType.selftest : EventType.started, v: 1,
                  data: seq % 2 == 0 ? ["nonce": "n"] : ["agent_version": "x", "pid": 1])
        }
        _ = try await store.ingest(agentID: "a", events: events, now: now)
        #expect(try await store.events(EventQuery(type: EventType.selftest)).count == 5)
        #expect(try await store.events(EventQuery(since: now.addingTimeInterval(8))).map(\.seq) == [8, 9, 10])
        let page = try await store.events(EventQuery(limit: 4))
        #expect(page.count == 4)
        let next = try await store.events(EventQuery(afterID: page.last?.id, limit: 100))
        #expect(next.map(\.seq) == [5, 6, 7, 8, 9, 10])
        #expect(try await store.events(EventQuery(agent: "zzz")).isEmpty)
    }

    @Test("event search by user, app, category, information type, keyed hash and time range", arguments: StoreBackend.allCases)
    func search(_ backend: StoreBackend) async throws {
        let store = try await open(backend)
        _ = try await store.createEnrollmentToken(hash: "h", label: "", maxUses: 2, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await store.enroll(tokenHash: "h", agent: agent("a"), now: now)
        func decision(_ seq: UInt64, user: String, app: String, category: String, type: String, hash: String) -> Event {
            Event(seq: seq, time: now.addingTimeInterval(Double(seq)), type: EventType.dlpDecision, v: 1, data: [
                "incident_id": .string("BW-\(seq)"), "activity": "paste", "action": "audit", "sanction": "unreviewed", "labels": .array([]),
                "partial": false, "policy": "p", "user": .string(user), "app": .string(app), "category": .string(category),
                "findings": .array([.object(["type": .string(type), "count": 1, "confidence": 85, "matches": .array([.object(["masked": "x", "hash": .string(hash)])])])]),
            ])
        }
        _ = try await store.ingest(agentID: "a", events: [
            decision(1, user: "alice", app: "chatgpt", category: "consumer_ai", type: "credit_card", hash: "h-card-1"),
            decision(2, user: "bob", app: "chatgpt", category: "consumer_ai", type: "us_ssn", hash: "h-ssn-1"),
            decision(3, user: "alice", app: "ollama", category: "local_llm", type: "credit_card", hash: "h-card-1"),
            selftest(4),
        ], now: now)
        func seqs(_ query: EventQuery) async throws -> [UInt64] { try await store.events(query).map(\.seq) }
        var query = EventQuery()
        query.user = "alice"
        #expect(try await seqs(query) == [1, 3])
        query = EventQuery()
        query.host = "host-a"
        #expect(try await seqs(query) == [1, 2, 3, 4], "every event of the agent named host-a")
        query.host = "host-elsewhere"
        #expect(try await seqs(query).isEmpty)
        query = EventQuery()
        query.app = "chatgpt"
        #expect(try await seqs(query) == [1, 2])
        query = EventQuery()
        query.category = "local_llm"
        #expect(try await seqs(query) == [3])
        query = EventQuery()
        query.infoType = "credit_card"
        #expect(try await seqs(query) == [1, 3])
        query = EventQuery()
        query.contentHash = "h-card-1"
        #expect(try await seqs(query) == [1, 3], "the same card value in two places")
        query.until = now.addingTimeInterval(3)
        #expect(try await seqs(query) == [1])
        query = EventQuery()
        query.action = .audit
        #expect(try await seqs(query) == [1, 2, 3], "dlp.decision by its action")
        query.action = .block
        #expect(try await seqs(query).isEmpty)
        query = EventQuery()
        query.user = "alice' OR '1'='1"
        #expect(try await seqs(query).isEmpty, "values are bound, never spliced into SQL")
    }

    @Test("the audit log: searched by actor, action and outcome prefix (wildcards mean themselves), time, newest first in pages; nothing can update or delete it, even through SQL", arguments: StoreBackend.allCases)
    func auditTrail(_ backend: StoreBackend) async throws {
        let tested = try await StoreUnderTest.open(backend)
        let store = tested.store
        let entries = [
            AuditEntry(time: now, actor: "token:ann", source: "10.0.0.1", action: "GET /api/v1/incidents/BW-1", target: "", outcome: "ok"),
            AuditEntry(time: now.addingTimeInterval(1), actor: "token:bob", source: "10.0.0.2", action: "PATCH /api/v1/incidents/BW-1", target: "", outcome: "ok"),
            AuditEntry(time: now.addingTimeInterval(2), actor: "token:ann", source: "10.0.0.1", action: "GET /api/v1/incidents", target: "", outcome: "refused: role_forbidden"),
            AuditEntry(time: now.addingTimeInterval(3), actor: "cli", action: "api_token.create", target: "x", outcome: "ok"),
        ]
        for entry in entries { try await store.audit(entry) }
        let all = try await store.auditEntries(AuditQuery())
        #expect(all.map(\.actor) == ["cli", "token:ann", "token:bob", "token:ann"])
        #expect(all.first?.source == "local" && all.last?.source == "10.0.0.1")
        #expect(try await store.auditEntries(AuditQuery(actor: "token:ann")).map(\.outcome) == ["refused: role_forbidden", "ok"])
        #expect(try await store.auditEntries(AuditQuery(actionPrefix: "GET /api/v1/incidents")).count == 2)
        #expect(try await store.auditEntries(AuditQuery(actionPrefix: "GET %")).isEmpty)
        #expect(try await store.auditEntries(AuditQuery(outcomePrefix: "refused")).map(\.actor) == ["token:ann"])
        #expect(try await store.auditEntries(AuditQuery(since: now.addingTimeInterval(1), until: now.addingTimeInterval(3))).count == 2)
        let first = try await store.auditEntries(AuditQuery(limit: 3))
        let rest = try await store.auditEntries(AuditQuery(beforeID: first.last?.id, limit: 3))
        #expect(first.count == 3 && rest.map(\.action) == ["GET /api/v1/incidents/BW-1"])

        for statement in ["UPDATE audit SET outcome = 'ok'", "DELETE FROM audit"] + (backend == .postgres ? ["TRUNCATE audit"] : []) {
            let edit = try tested.otherClient(statement)
            #expect(edit.status != 0 && edit.output.contains("append-only"), "\(statement): \(edit.output)")
        }
        #expect(try await store.auditEntries(AuditQuery()) == all)
    }

    /// The `sqlite3` shell on the store's file: another writer than the store itself.
    static func sqlite(_ path: String, _ statement: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path, statement]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stderr)
    }
}

@Suite("Store (SQLite and PostgreSQL): incidents")
struct IncidentStoreTests {
    let base = StoreTests()

    func paste(_ seq: UInt64, _ outcome: String, incident: String, at offset: Double, justification: String? = nil, user: String = "alice") -> Event {
        var data: [String: JSONValue] = [
            "incident_id": .string(incident), "selection": "clipboard", "target": "UTF8_STRING", "latency_ms": 1, "app": "chatgpt",
            "category": "consumer_ai", "rule": "warn-medium-confidence-to-consumer-ai", "user": .string(user),
            "findings": .array([.object(["type": "credit_card", "count": 1, "confidence": 75])]),
        ]
        if let justification { data["justification"] = .string(justification) }
        return Event(seq: seq, time: base.now.addingTimeInterval(offset), type: EventType.paste(outcome), v: 1, data: data)
    }

    func decision(_ seq: UInt64, action: String, incident: String) -> Event {
        Event(seq: seq, time: base.now.addingTimeInterval(Double(seq)), type: EventType.dlpDecision, v: 1, data: [
            "incident_id": .string(incident), "activity": "paste", "action": .string(action), "sanction": "unreviewed", "findings": .array([]),
            "labels": .array([]), "partial": false, "policy": "bulwark-default",
        ])
    }

    @Test("every warn and block is an incident by the id the user saw; an override updates it; audits are not incidents; status and notes are kept", arguments: StoreBackend.allCases)
    func incidents(_ backend: StoreBackend) async throws {
        let store = try await base.open(backend)
        _ = try await store.createEnrollmentToken(hash: "h", label: "", maxUses: 5, expiresAt: base.now.addingTimeInterval(60), now: base.now)
        _ = try await store.enroll(tokenHash: "h", agent: base.agent("a"), now: base.now)
        _ = try await store.ingest(agentID: "a", events: [
            paste(1, "warned", incident: "BW-WARNED0001", at: 1), paste(2, "overridden", incident: "BW-WARNED0001", at: 5, justification: "ticket 42"),
            paste(3, "blocked", incident: "BW-BLOCKED001", at: 10), paste(4, "audited", incident: "BW-AUDITED001", at: 11),
            decision(20, action: "audit", incident: "BW-AUDITED002"), decision(21, action: "block", incident: "BW-DECIDED001"),
        ], now: base.now)
        // A replayed batch changes nothing.
        _ = try await store.ingest(agentID: "a", events: [paste(3, "blocked", incident: "BW-BLOCKED001", at: 10)], now: base.now)

        let overridden = try #require(try await store.incident(id: "BW-WARNED0001"))
        #expect(overridden.action == "override")
        #expect(overridden.type == "paste.overridden")
        #expect(overridden.justification == "ticket 42")
        #expect(overridden.time == base.now.addingTimeInterval(1))
        #expect(overridden.user == "alice" && overridden.app == "chatgpt" && overridden.activity == "paste")
        #expect(overridden.status == .open)
        #expect(try await store.incident(id: "BW-AUDITED001") == nil)
        #expect(try await store.incident(id: "BW-AUDITED002") == nil)
        #expect(try await store.incident(id: "BW-DECIDED001")?.action == "block")

        let all = try await store.incidents(IncidentQuery())
        #expect(all.map(\.id) == ["BW-DECIDED001", "BW-BLOCKED001", "BW-WARNED0001"], "newest first")
        let page = try await store.incidents(IncidentQuery(before: "BW-DECIDED001", limit: 1))
        #expect(page.map(\.id) == ["BW-BLOCKED001"])

        let resolved = try #require(try await store.updateIncident(
            id: "BW-BLOCKED001", change: IncidentChange(status: .resolved, note: "user told about the policy", by: "token:hd", at: base.now)))
        #expect(resolved.status == .resolved && resolved.statusChangedBy == "token:hd")
        let noted = try #require(try await store.updateIncident(id: "BW-BLOCKED001", change: IncidentChange(status: nil, note: "second", by: "token:an", at: base.now)))
        #expect(noted.notes.map(\.text) == ["user told about the policy", "second"])
        #expect(noted.status == .resolved, "a note alone keeps the status")
        #expect(try await store.incidents(IncidentQuery(status: .open)).map(\.id) == ["BW-DECIDED001", "BW-WARNED0001"])
        #expect(try await store.updateIncident(id: "BW-NOPE", change: IncidentChange(status: .resolved, note: nil, by: "x", at: base.now)) == nil)
    }

    @Test("user risk: 3 blocks in 24 h elevated, 10 high, 5 overrides elevated; older incidents and false positives do not count", arguments: StoreBackend.allCases)
    func userRisk(_ backend: StoreBackend) async throws {
        let store = try await base.open(backend)
        _ = try await store.createEnrollmentToken(hash: "risk", label: "", maxUses: 1, expiresAt: base.now.addingTimeInterval(60), now: base.now)
        _ = try await store.enroll(tokenHash: "risk", agent: base.agent("a"), now: base.now)
        var seq: UInt64 = 0
        var events: [Event] = []
        func add(_ user: String, _ outcome: String, _ count: Int, hoursAgo: Double = 1) {
            for _ in 0..<count {
                seq += 1
                events.append(paste(seq, outcome, incident: "BW-R\(String(format: "%09d", seq))", at: -hoursAgo * 3600, user: user))
            }
        }
        add("ann", "blocked", 3)
        add("bob", "blocked", 10)
        add("cat", "blocked", 2)
        add("cat", "blocked", 5, hoursAgo: 25)  // outside the window
        add("dan", "overridden", 5)
        add("eve", "blocked", 3)
        _ = try await store.ingest(agentID: "a", events: events, now: base.now)
        // One of eve's was a false positive: two blocks left.
        let eves = try await store.incidents(IncidentQuery(user: "eve"))
        _ = try await store.updateIncident(id: try #require(eves.first).id, change: IncidentChange(status: .falsePositive, note: nil, by: "t", at: base.now))

        let levels = Dictionary(uniqueKeysWithValues: try await store.userRisk(now: base.now).map { ($0.user, $0) })
        #expect(levels["ann"]?.level == .elevated && levels["ann"]?.blocks == 3)
        #expect(levels["bob"]?.level == .high)
        #expect(levels["cat"] == nil, "two recent blocks: low")
        #expect(levels["dan"]?.level == .elevated && levels["dan"]?.overrides == 5)
        #expect(levels["eve"] == nil, "a false positive does not count")
        #expect(try await store.userRisk(now: base.now.addingTimeInterval(25 * 3600)).isEmpty, "levels fall by themselves")
        let bundle = try await store.policyBundle(agentID: "a", now: base.now)
        #expect(bundle.userRisk == ["ann": .elevated, "bob": .high, "dan": .elevated])
    }
}
