import BulwarkCollector
import BulwarkCore
import BulwarkTestSupport
import Foundation
import Testing

/// What several collectors on one database rely on, against both backends: two stores (two
/// connection pools, as two collector processes have) writing at once; retention; policies,
/// exceptions and cursors.
@Suite("Store (SQLite and PostgreSQL): shared by several collectors, retention, policies")
struct SharedStoreTests {
    let base = StoreTests()
    var now: Date { base.now }

    func started(_ seq: UInt64, user: String, at time: Date) -> Event {
        Event(seq: seq, time: time, type: EventType.aiProcessStarted, v: 1, data: [
            "app": "ollama", "category": "local_llm", "pid": 7, "exe": "/usr/bin/ollama", "uid": 1000, "evidence": "process", "user": .string(user),
        ])
    }

    @Test("two stores on one database ingest overlapping and replayed batches of one agent at once: every event stored once, inventory counters exact, ids in order", arguments: StoreBackend.allCases)
    func concurrentIngest(_ backend: StoreBackend) async throws {
        let tested = try await StoreUnderTest.open(backend)
        let (first, second) = (tested.store, try await tested.another())
        _ = try await first.createEnrollmentToken(hash: "h", label: "", maxUses: 5, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await first.enroll(tokenHash: "h", agent: base.agent("a"), now: now)
        let events = (1...600).map { seq in started(UInt64(seq), user: "user\(seq % 7)", at: now.addingTimeInterval(Double(seq) - 300)) }
        // The first collector gets the batches in order; the second overlapping ones and replays
        // (an agent that timed out on one collector retries through the other).
        let plans: [(any CollectorStore, [Range<Int>])] = [
            (first, stride(from: 0, to: 600, by: 50).map { $0..<$0 + 50 }),
            (second, stride(from: 25, to: 575, by: 50).map { $0..<$0 + 50 } + [0..<100, 500..<600]),
        ]
        let acks = try await withThrowingTaskGroup(of: [EventAck].self) { group in
            for (store, ranges) in plans {
                group.addTask {
                    var acks: [EventAck] = []
                    for range in ranges { acks.append(try await store.ingest(agentID: "a", events: Array(events[range]), now: now)) }
                    return acks
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(acks.map(\.stored).reduce(0, +) == 600, "each event counted stored exactly once across both collectors")
        #expect(try await first.eventCount(agentID: "a") == 600)
        #expect(try await second.eventCount(agentID: "a") == 600)
        let apps = try await second.inventoryApps(InventoryQuery())
        #expect(apps.first?.events == 600, "inventory counter exact under concurrent ingest")
        #expect(apps.first?.users == 7 && apps.first?.devices == 1)
        #expect(apps.first?.firstSeen == now.addingTimeInterval(-299) && apps.first?.lastSeen == now.addingTimeInterval(300))
        let detail = try await first.inventoryApp(id: "ollama", page: InventoryPage())
        #expect(detail?.users.map(\.events).reduce(0, +) == 600)
        #expect(detail?.timeline.values.reduce(0, +) == 600)
        let stored = try await first.events(EventQuery(limit: 1000))
        #expect(stored.map(\.seq).sorted() == (1...600).map(UInt64.init))
        #expect(zip(stored, stored.dropFirst()).allSatisfy { $0.id < $1.id })
        #expect(try await first.latestEventID() == stored.last?.id)
    }

    @Test("a reader paging by id while ingests commit side by side (out of id order on PostgreSQL) sees every event exactly once", arguments: StoreBackend.allCases)
    func pagingDuringConcurrentIngest(_ backend: StoreBackend) async throws {
        let tested = try await StoreUnderTest.open(backend)
        let (store, other) = (tested.store, try await tested.another())
        _ = try await store.createEnrollmentToken(hash: "h", label: "", maxUses: 8, expiresAt: now.addingTimeInterval(60), now: now)
        let agents = ["a", "b", "c", "d"]
        for id in agents { _ = try await store.enroll(tokenHash: "h", agent: base.agent(id), now: now) }
        let (batches, size) = (25, 20)
        let writing = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, agent) in agents.enumerated() {
                    let target = index.isMultiple(of: 2) ? store : other
                    group.addTask {
                        for batch in 0..<batches {
                            let events = (1...size).map { UInt64(batch * size + $0) }.map { started($0, user: "u", at: now) }
                            _ = try await target.ingest(agentID: agent, events: events, now: now)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        // As the SIEM forwarder does (up to the watermark), and as the API's `after` does.
        var seen: [Int64] = []
        var cursor: Int64 = 0
        var afterCursor: Int64 = 0
        var afterSeen: [Int64] = []
        let total = agents.count * batches * size
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            // Everything committed before this pass: the pass must then reach the end.
            let done = try await store.eventCount(agentID: nil) == total
            var query = EventQuery(afterID: cursor, limit: 50)
            query.throughID = try await other.latestEventID()
            let page = try await other.rawEvents(query)
            seen += page.map(\.id)
            cursor = page.last?.id ?? cursor
            let afterPage = try await store.rawEvents(EventQuery(afterID: afterCursor, limit: 50))
            afterSeen += afterPage.map(\.id)
            afterCursor = afterPage.last?.id ?? afterCursor
            if done, page.isEmpty, afterPage.isEmpty { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        try await writing.value
        #expect(try await store.eventCount(agentID: nil) == total)
        #expect(seen.count == total, "paged \(seen.count) of \(total)")
        #expect(Set(seen).count == seen.count)
        #expect(afterSeen.count == total, "paged by after \(afterSeen.count) of \(total)")
        #expect(Set(afterSeen).count == afterSeen.count)
        try await other.close()
    }

    @Test("policy versions pushed through two collectors at once are numbered without gaps or repeats; both see the newest", arguments: StoreBackend.allCases)
    func concurrentPolicies(_ backend: StoreBackend) async throws {
        let tested = try await StoreUnderTest.open(backend)
        let stores = [tested.store, try await tested.another()]
        let versions = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<10 {
                group.addTask {
                    try await stores[index % 2].addPolicy(yaml: "version: 1\nname: p\(index)\nrules: []\n", name: "p\(index)", comment: "", restores: nil, by: "t", at: now).version
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(versions.sorted() == Array(1...10))
        #expect(try await stores[1].policyVersion(nil)?.version == 10)
        #expect(try await stores[0].policyVersions().count == 10)
        let bundle = try await stores[1].policyBundle(agentID: "a", now: now)
        #expect(bundle.policy?.version == 10)
    }

    @Test("exceptions reach the bundle of the agents they are for until they end or are revoked; SIEM cursors only move forward", arguments: StoreBackend.allCases)
    func exceptionsAndCursors(_ backend: StoreBackend) async throws {
        let store = try await base.open(backend)
        let granted = GrantedException(id: "EX-000000000001", rule: "no-cards", user: "ann", app: "chatgpt", until: now.addingTimeInterval(3600), reason: "demo")
        try await store.grantException(ExceptionRecord(granted: granted, agentID: "a", createdBy: "token:hd", createdAt: now))
        #expect(try await store.policyBundle(agentID: "a", now: now).exceptions == [granted])
        #expect(try await store.policyBundle(agentID: "b", now: now).exceptions == nil, "for agent a only")
        #expect(try await store.policyBundle(agentID: "a", now: now.addingTimeInterval(3601)).exceptions == nil, "ended")
        #expect(try await store.revokeException(id: granted.id, by: "token:hd", at: now))
        #expect(try await !store.revokeException(id: granted.id, by: "token:hd", at: now), "revoked once")
        #expect(try await store.exceptions(now: now, includeEnded: false).isEmpty)
        #expect(try await store.exceptions(now: now, includeEnded: true).first?.revokedBy == "token:hd")

        #expect(try await store.siemCursor("syslog") == 0)
        try await store.setSIEMCursor("syslog", eventID: 40, at: now)
        try await store.setSIEMCursor("syslog", eventID: 30, at: now)
        #expect(try await store.siemCursor("syslog") == 40)
    }

    @Test("console sessions live in the store: any store on the database finds one; expiry, logout and revoking the token end it", arguments: StoreBackend.allCases)
    func consoleSessions(_ backend: StoreBackend) async throws {
        let tested = try await StoreUnderTest.open(backend)
        let (first, second) = (tested.store, try await tested.another())
        let token = try await first.createAPIToken(hash: "token-hash", name: "ann", role: .helpdesk, now: now)
        try await first.openConsoleSession(idHash: "s1", tokenID: token.id, csrf: "c1", expires: now.addingTimeInterval(60), now: now)
        try await first.openConsoleSession(idHash: "s2", tokenID: token.id, csrf: "c2", expires: now.addingTimeInterval(60), now: now)
        let found = try await second.consoleSession(idHash: "s1", now: now)
        #expect(found?.token.name == "ann" && found?.token.role == .helpdesk && found?.csrf == "c1")
        #expect(try await second.consoleSession(idHash: "s1", now: now.addingTimeInterval(61)) == nil, "expired")
        #expect(try await second.consoleSession(idHash: "nope", now: now) == nil)
        try await second.closeConsoleSession(idHash: "s1")
        #expect(try await first.consoleSession(idHash: "s1", now: now) == nil, "logged out on the other collector")
        #expect(try await first.consoleSession(idHash: "s2", now: now) != nil)
        #expect(try await first.revokeAPIToken(id: token.id, now: now))
        #expect(try await second.consoleSession(idHash: "s2", now: now) == nil, "the token revoked: its sessions end at once")
    }

    @Test("retention: events older than their type's period go (whole days at once on PostgreSQL), newer ones and open incidents stay", arguments: StoreBackend.allCases)
    func retention(_ backend: StoreBackend) async throws {
        let tested = try await StoreUnderTest.open(backend)
        let store = tested.store
        _ = try await store.createEnrollmentToken(hash: "h", label: "", maxUses: 5, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await store.enroll(tokenHash: "h", agent: base.agent("a"), now: now)
        func beat(_ seq: UInt64, daysAgo: Double) -> Event {
            Event(seq: seq, time: now.addingTimeInterval(-daysAgo * 86_400), type: EventType.heartbeat, v: 1, data: [
                "agent_version": "1", "policy_version": 0, "spool_depth": 0, "spool_bytes": 0, "dropped": 0,
            ])
        }
        _ = try await store.ingest(agentID: "a", events: [
            started(1, user: "ann", at: now.addingTimeInterval(-20 * 86_400)), started(2, user: "ann", at: now.addingTimeInterval(-5 * 86_400)),
            started(3, user: "ann", at: now), beat(4, daysAgo: 3), beat(5, daysAgo: 1),
        ], now: now)
        let result = try await store.deleteExpired(
            RetentionPolicy(eventDays: 10, eventDaysByType: [EventType.heartbeat: 2], incidentDays: 30), now: now, batch: 1)
        #expect(result.events == 2, "the 20-day-old event and the 3-day-old heartbeat")
        #expect(try await store.events(EventQuery(limit: 10)).map(\.seq) == [2, 3, 5])
        if backend == .postgres {
            let partition = "events_" + WireCoding.utcDay(unixSeconds: now.addingTimeInterval(-20 * 86_400).millis / 1000).replacingOccurrences(of: "-", with: "")
            #expect(try tested.otherClient("SELECT to_regclass('\(partition)') IS NULL").output.hasPrefix("t"), "\(partition) was dropped")
        }
        #expect(try await store.deleteExpired(RetentionPolicy(eventDays: 10, eventDaysByType: [EventType.heartbeat: 2]), now: now, batch: 100).events == 0)
    }
}

@Suite("PostgreSQL store: schema, partitions, errors")
struct PostgresStoreTests {
    let now = Date(millis: 1_795_000_000_000)

    @Test("an empty database is refused until migrated, with the command that does it; migrating twice changes nothing; a newer schema is refused")
    func migrations() async throws {
        let url = try TestPostgres.database("migrate")
        let location = try PostgresLocation(url: url)
        await #expect {
            try await PostgresStore(location: location)
        } throws: { error in
            "\(error)".contains("schema version 0") && "\(error)".contains("bulwark-collector migrate")
        }
        let store = try await PostgresStore(location: location, migrate: true)
        #expect(try await store.schemaVersion() == PostgresStore.schemaVersion)
        let again = try await store.migrate()
        #expect(again.from == again.to)
        try await store.close()
        let server = try TestPostgres.server.get()
        try TestPostgres.psql(server, database: String(url.split(separator: "/").last ?? ""), "INSERT INTO bulwark_schema VALUES (999, 0)")
        await #expect {
            try await PostgresStore(location: location)
        } throws: { error in
            "\(error)".contains("newer than this collector knows")
        }
    }

    @Test("events are partitioned by day; an event from a clock days ahead waits in the default partition and moves into its day's partition when that day comes")
    func partitions() async throws {
        let url = try TestPostgres.database("parts")
        let store = try await PostgresStore(location: try PostgresLocation(url: url), migrate: true)
        let server = try TestPostgres.server.get()
        let database = String(url.split(separator: "/").last ?? "")
        _ = try await store.createEnrollmentToken(hash: "h", label: "", maxUses: 5, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await store.enroll(tokenHash: "h", agent: StoreTests().agent("a"), now: now)
        let ahead = now.addingTimeInterval(5 * 86_400)
        let events = [now, ahead].enumerated().map { index, time in
            Event(seq: UInt64(index + 1), time: time, type: EventType.selftest, v: 1, data: ["nonce": "n"])
        }
        _ = try await store.ingest(agentID: "a", events: events, now: now)
        func count(_ table: String) throws -> String { try TestPostgres.psql(server, database: database, "SELECT count(*) FROM \(table)").output.trimmingCharacters(in: .whitespacesAndNewlines) }
        let today = "events_" + WireCoding.utcDay(unixSeconds: now.millis / 1000).replacingOccurrences(of: "-", with: "")
        #expect(try count(today) == "1")
        #expect(try count("events_default") == "1", "five days ahead: no partition yet")
        // Five days later another event of that day arrives: the partition is made and takes the waiting row.
        _ = try await store.ingest(agentID: "a", events: [Event(seq: 3, time: ahead, type: EventType.selftest, v: 1, data: ["nonce": "m"])], now: ahead)
        #expect(try count("events_default") == "0")
        let aheadPartition = "events_" + WireCoding.utcDay(unixSeconds: ahead.millis / 1000).replacingOccurrences(of: "-", with: "")
        #expect(try count("\(aheadPartition) WHERE agent_id = 'a'") == "2")
        #expect(try await store.events(EventQuery(agent: "a", limit: 10)).map(\.seq) == [1, 2, 3])
        // The database, not memory, refuses a duplicate: a second store replays the batch.
        let other = try await PostgresStore(location: try PostgresLocation(url: url))
        #expect(try await other.ingest(agentID: "a", events: events, now: ahead) == EventAck(acked: 2, stored: 0, duplicates: 2))
    }

    @Test("a server that is not there, a wrong password and a malformed URL each get their own message")
    func errors() async throws {
        let server = try TestPostgres.server.get()
        await #expect {
            try await PostgresStore(location: try PostgresLocation(url: "postgres://bulwark:x@127.0.0.1:\(freePort())/nothing"))
        } throws: { error in
            "\(error)".contains("cannot be reached")
        }
        let wrong = server.base.replacingOccurrences(of: #"bulwark:[^@]*@"#, with: "bulwark:wrong@", options: .regularExpression) + "/postgres"
        await #expect {
            try await PostgresStore(location: try PostgresLocation(url: wrong))
        } throws: { error in
            "\(error)".contains("password authentication failed")
        }
        #expect(throws: PostgresLocation.Failure.self) { try PostgresLocation(url: "postgres://127.0.0.1/db") }
        #expect(throws: PostgresLocation.Failure.self) { try PostgresLocation(url: "postgres://u@db.example/x?sslmode=allow") }
        let remote = try PostgresLocation(url: "postgres://u:secret@db.example/bulwark")
        #expect(remote.tls == .verifyFull, "TLS with the certificate checked, off loopback, unless told otherwise")
        #expect(!"\(remote)".contains("secret"), "the password never appears in messages")
    }
}
