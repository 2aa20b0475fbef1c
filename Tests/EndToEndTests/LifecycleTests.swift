import BulwarkAgent
import BulwarkCollector
import BulwarkCore
import Foundation
import Testing
import X509

@Suite("End to end: certificate renewal, full disk, graceful shutdown, retention", .serialized)
struct LifecycleTests {
    @Test("the agent renews its certificate over mTLS before expiry and keeps delivering")
    func renewal() async throws {
        let cluster = try Cluster()
        defer { cluster.shutdown() }
        // 0.01 days = 864 s; renew_fraction 0.9 makes the agent renew at once.
        cluster.collectorArguments = ["--agent-cert-days", "0.01"]
        try cluster.startCollector()
        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig + "\nrenew_fraction: 0.9\n")
        let agentID = try agent.agentID
        let original = try Certificate(pemEncoded: try String(contentsOfFile: agent.certificatePath, encoding: .utf8))
        try agent.start()
        try await eventually("certificate renewed", timeout: 30) {
            let current = try Certificate(pemEncoded: try String(contentsOfFile: agent.certificatePath, encoding: .utf8))
            return current.serialNumber != original.serialNumber
        }
        let renewed = try Certificate(pemEncoded: try String(contentsOfFile: agent.certificatePath, encoding: .utf8))
        #expect(renewed.publicKey == original.publicKey, "renewal keeps the key and so the agent ID")
        #expect(try AgentIdentity.agentID(of: renewed) == agentID)
        #expect(renewed.notValidAfter >= original.notValidAfter)
        #expect(try await cluster.store().agent(id: agentID)?.certificateSerial == String(describing: renewed.serialNumber))
        #expect(try agent.cli(["selftest"]).status == 0)
        let audit = try await cluster.store().auditEntries(AuditQuery(limit: 50))
        #expect(audit.contains { $0.action == "agent.renew" && $0.target == agentID })
        agent.stop()
    }

    @Test("collector disk full: 503 store_unavailable, the agent keeps the events, all arrive once space is back")
    func diskFull() async throws {
        let cluster = try Cluster.started(tmpfsMegabytes: 24)
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent()
        let agentID = try agent.agentID
        try agent.startAndSelftest()

        // Fill the collector's filesystem.
        _ = try run("/bin/sh", ["-c", "dd if=/dev/zero of=\(cluster.filesystem!)/filler bs=64k 2>/dev/null; sync"])
        let emitted = try agent.cli(["selftest", "--count", "5000", "--no-wait"])
        #expect(emitted.status == 0)
        try await eventually("agent sees 503 store_unavailable", timeout: 60) {
            (try SpoolStore(path: agent.directory + "/spool.db").status().lastError ?? "").contains("store_unavailable")
        }
        #expect(try agent.spoolDepth() >= 5000)
        #expect(cluster.collector?.isRunning == true)
        let log = cluster.collector?.log ?? ""
        #expect(log.contains("cannot persist batch"))

        try FileManager.default.removeItem(atPath: cluster.filesystem! + "/filler")
        try await eventually("spool drained after space came back", timeout: 120) { try agent.spoolDepth() == 0 }
        let delivered = try await cluster.store().events(EventQuery(type: EventType.selftest, agent: agentID, limit: 10_000))
        #expect(delivered.count == 5001)
        #expect(Set(delivered.map(\.seq)).count == 5001)
        agent.stop()
    }

    @Test("agent disk full: spooling fails with a clear error, the agent keeps running and recovers")
    func agentDiskFull() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let mount = cluster.root + "/agentfs"
        try Cluster.mountTmpfs(at: mount, megabytes: 8)
        cluster.mounts.append(mount)
        // A heartbeat a second, so the running agent itself writes while the disk is full.
        let agent = try cluster.enrollAgent(name: "agentfs/agent", configuration: Cluster.fastAgentConfig.replacingOccurrences(of: "heartbeat_interval: 5", with: "heartbeat_interval: 1"))
        try agent.startAndSelftest()

        _ = try run("/bin/sh", ["-c", "dd if=/dev/zero of=\(mount)/filler bs=64k 2>/dev/null; sync"])
        let refused = try agent.cli(["selftest", "--count", "20000", "--no-wait"])
        #expect(refused.status != 0)
        #expect(refused.output.contains("full"), "\(refused.output)")
        try await eventually("the running agent meets the full disk", timeout: 20) {
            agent.process?.log.contains("cannot spool heartbeat") == true
        }
        #expect(agent.process?.isRunning == true, "the agent must survive a full disk")

        try FileManager.default.removeItem(atPath: mount + "/filler")
        let recovered = try agent.cli(["selftest", "--timeout", "30"])
        #expect(recovered.status == 0, "\(recovered.output)")
        #expect(agent.process?.isRunning == true)
        agent.stop()
    }

    @Test("SIGTERM: the collector finishes, closes the database and exits 0; the agent keeps unsent events")
    func gracefulShutdown() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent()
        try agent.startAndSelftest()
        let collector = try #require(cluster.collector)
        #expect(collector.stop() == 0)
        #expect(collector.log.contains("collector stopped; database closed"))

        #expect(try agent.cli(["selftest", "--count", "10", "--no-wait"]).status == 0)
        let process = try #require(agent.process)
        #expect(process.stop() == 0)
        #expect(process.log.contains("agent stopped; unsent events stay in the spool"))
        #expect(try agent.spoolDepth() >= 10)
    }

    @Test("retention: a running collector deletes in the background events past their type's retention and closed incidents past theirs; newer events, open incidents and the audit log stay; the pass is audited")
    func retention() async throws {
        let cluster = try Cluster()
        defer { cluster.shutdown() }
        cluster.collectorArguments = ["--retention", "agent.selftest=1", "--retention-days", "30", "--incident-retention-days", "10", "--retention-interval", "1"]
        let store = try cluster.store()
        let now = Date()
        _ = try await store.createEnrollmentToken(hash: "ret", label: "", maxUses: 1, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await store.enroll(
            tokenHash: "ret",
            agent: AgentRecord(id: "r", hostname: "h", os: "Debian", agentVersion: "0", enrolledAt: now, certificateSerial: "1", certificateNotAfter: now.addingTimeInterval(3600)),
            now: now)
        func selftest(_ seq: UInt64, daysAgo: Double) -> Event {
            Event(seq: seq, time: now.addingTimeInterval(-daysAgo * 86_400), type: EventType.selftest, v: 1, data: ["nonce": "n", "index": .number(Double(seq))])
        }
        func blocked(_ seq: UInt64, daysAgo: Double, incident: String) -> Event {
            Event(seq: seq, time: now.addingTimeInterval(-daysAgo * 86_400), type: EventType.paste("blocked"), v: 1, data: [
                "incident_id": .string(incident), "selection": "clipboard", "target": "UTF8_STRING", "latency_ms": 1, "app": "chatgpt", "category": "consumer_ai",
                "rule": "r", "user": "alice", "findings": .array([]),
            ])
        }
        _ = try await store.ingest(agentID: "r", events: [
            selftest(1, daysAgo: 2), selftest(2, daysAgo: 0.5),
            blocked(3, daysAgo: 20, incident: "BW-OLDCLOSED1"), blocked(4, daysAgo: 20, incident: "BW-OLDOPEN001"), blocked(5, daysAgo: 40, incident: "BW-ANCIENT001"),
        ], now: now)
        _ = try await store.updateIncident(id: "BW-OLDCLOSED1", change: IncidentChange(status: .resolved, note: "done", by: "t", at: now))
        _ = try await store.updateIncident(id: "BW-ANCIENT001", change: IncidentChange(status: .falsePositive, note: nil, by: "t", at: now))
        try cluster.startCollector()

        try await eventually("the retention pass", timeout: 30) {
            try await store.auditEntries(AuditQuery(actor: "collector", actionPrefix: "retention")).first != nil
        }
        let left = try await store.events(EventQuery(agent: "r", limit: 100)).map(\.seq)
        #expect(left == [2, 3, 4], "the 2-day-old selftest (1 day) and the 40-day-old paste (30 days) are gone")
        #expect(try await store.incident(id: "BW-OLDCLOSED1") == nil, "resolved, 20 days old, 10-day retention")
        #expect(try await store.incident(id: "BW-ANCIENT001") == nil)
        #expect(try await store.incident(id: "BW-OLDOPEN001") != nil, "open incidents stay until handled")
        let entry = try #require(try await store.auditEntries(AuditQuery(actor: "collector", actionPrefix: "retention")).first)
        #expect(entry.outcome == "ok: 2 events, 2 incidents", "\(entry)")

        let bad = try cluster.collectorCLI(["serve", "--data", cluster.dataDir, "--retention", "agent.heartbeat=0"])
        #expect(bad.status != 0 && bad.stderr.contains("TYPE=DAYS"), "\(bad.output)")
    }
}
