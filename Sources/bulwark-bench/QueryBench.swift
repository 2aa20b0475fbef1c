import ArgumentParser
import BulwarkCollector
import BulwarkCore
import BulwarkTestSupport
import Foundation
import Synchronization

/// The analyst's side at scale: a collector whose SQLite store holds millions of events from
/// thousands of agents, queried through its HTTPS API with curl.
struct QueryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "API queries over a large store: incident lookup, inventory, a day of events by filter, NDJSON export (rows/s, collector memory).")
    @Option(help: "Events in the store.") var events = 10_000_000
    @Option(help: "Agents (one user each).") var agents = 10_000
    @Option(help: "Days the events span (ending now).") var days = 30
    @Option(help: "Queries per measurement.") var runs = 20
    @Option(help: "Events the large export covers.") var exportEvents = 1_000_000
    @Option(help: "Scratch directory.") var scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-bench-query").path
    @Flag(help: "Reuse the store a previous run filled in --scratch (same --events/--agents/--days).") var reuse = false

    /// Apps events name (the catalog's first ones).
    static let apps = AIAppCatalog.bundled.apps.prefix(50).map(\.id)

    func run() async throws {
        let clock = ContinuousClock()
        let marker = scratch + "/filled-\(events)-\(agents)-\(days)"
        let dataDir: String
        let agentPort: Int
        var incidentIDs: [String] = []
        if reuse, FileManager.default.fileExists(atPath: marker) {
            dataDir = scratch + "/collector"
            agentPort = freePort()
            incidentIDs = try String(contentsOfFile: marker, encoding: .utf8).split(separator: "\n").map(String.init)
            print("reusing the store in \(dataDir)")
        } else {
            let bench = try await BenchDeployment(scratch: scratch, uses: agents)
            (dataDir, agentPort) = (bench.dataDir, bench.agentPort)
            let store = try await bench.deployment.openStore()
            let start = clock.now
            incidentIDs = try await fill(store, token: bench.token)
            let took = clock.now - start
            try await store.close()
            print("filled: \(events) events from \(agents) agents over \(days) days in \(took) (\(Int(Double(events) / inSeconds(took))) events/s through the store's ingest)")
            try incidentIDs.prefix(1000).joined(separator: "\n").write(toFile: marker, atomically: true, encoding: .utf8)
        }
        let databaseBytes = (try? FileManager.default.attributesOfItem(atPath: dataDir + "/collector.db")[.size] as? Int) ?? 0
        print("database: \(databaseBytes / 1_048_576) MiB")

        let secret = SecretToken.generate(prefix: "bwa")
        let tokens = try SQLiteStore(path: dataDir + "/collector.db")
        _ = try await tokens.createAPIToken(hash: SecretToken.hash(secret), name: "bench-\(UUID().uuidString.prefix(6))", role: .admin, now: Date())
        try await tokens.close()
        let apiPort = freePort()
        let collector = try launch(
            siblingBinary("bulwark-collector"),
            ["serve", "--data", dataDir, "--agent-listen", "127.0.0.1:\(agentPort)", "--api-listen", "127.0.0.1:\(apiPort)"],
            log: scratch + "/collector.log", readyLine: "api listener ready")
        defer { collector.terminate() }
        let base = "https://127.0.0.1:\(apiPort)"
        func get(_ path: String) throws -> (status: String, bytes: Int, seconds: Double) {
            let result = try curl(["-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}", "--cacert", dataDir + "/ca.pem",
                                   "-H", "Authorization: Bearer \(secret)", base + path])
            let fields = result.split(separator: " ")
            guard fields.count == 3, let bytes = Int(fields[1]), let seconds = Double(fields[2]) else { throw BenchFailure("\(path): curl printed \(result)") }
            return (String(fields[0]), bytes, seconds)
        }
        func measure(_ label: String, target: Double, _ paths: [String]) throws {
            var samples: [Double] = []
            var bytes = 0
            for index in 0..<runs {
                let answer = try get(paths[index % paths.count])
                guard answer.status == "200" else { throw BenchFailure("\(paths[index % paths.count]) answered \(answer.status)") }
                samples.append(answer.seconds * 1000)
                bytes = answer.bytes
            }
            let sorted = samples.sorted()
            let p50 = percentile(sorted, 0.5)
            print(String(format: "  %@: p50 %.1f ms, max %.1f ms (%d bytes) — target < %.0f ms: %@", label, p50, sorted.last ?? 0, bytes, target,
                         p50 < target ? "met" : "NOT met"))
        }

        print("through the HTTPS API (curl time_total: new TLS connection, request, response), \(runs) runs each:")
        try measure("GET /api/v1/whoami (the floor: connection, TLS, token check, audit)", target: 10, ["/api/v1/whoami"])
        let ids = Array(incidentIDs.shuffled().prefix(runs))
        try measure("GET /api/v1/incidents/{id}", target: 10, ids.map { "/api/v1/incidents/\($0)" })
        try measure("GET /api/v1/inventory/apps", target: 200, ["/api/v1/inventory/apps"])
        let now = Date()
        let days = (1...min(runs, self.days - 1)).map { now.addingTimeInterval(-Double($0) * 86_400) }
        func day(_ extra: String) -> [String] {
            days.map { start in
                "/api/v1/events?since=\(WireCoding.string(from: start))&until=\(WireCoding.string(from: start.addingTimeInterval(86_400)))\(extra)"
            }
        }
        try measure("events, one day, first page", target: 500, day(""))
        try measure("events, one day, type=file.blocked", target: 500, day("&type=file.blocked"))
        try measure("events, one day, action=block", target: 500, day("&action=block"))
        try measure("events, one day, user=user42", target: 500, day("&user=user42"))
        try measure("events, one day, app=\(Self.apps[7])", target: 500, day("&app=\(Self.apps[7])"))
        try measure("events, one day, info_type=credit_card", target: 500, day("&info_type=credit_card"))
        try measure("events, one day, user + info_type", target: 500, day("&user=user42&info_type=credit_card"))

        // Exports: rows/s, and the collector's memory while a small and a large one stream.
        let perDay = Double(events) / Double(self.days)
        for size in [exportEvents / 10, exportEvents] {
            let span = Double(size) / perDay * 86_400
            let since = now.addingTimeInterval(-span - 3_600)
            let path = "/api/v1/events/export?since=\(WireCoding.string(from: since))&until=\(WireCoding.string(from: now.addingTimeInterval(-3_600)))"
            let before = procStatus(collector.processIdentifier, "VmRSS") ?? 0
            let sampler = RSSSampler(pid: collector.processIdentifier)
            let answer = try get(path)
            let peak = sampler.stop()
            let lines = try curl(["-sS", "--cacert", dataDir + "/ca.pem", "-H", "Authorization: Bearer \(secret)", base + path]).reduce(0) { $1 == "\n" ? $0 + 1 : $0 }
            print(String(format: "  export ~%d events: %d rows, %.1f MB in %.2f s = %.0f rows/s (target ≥ 100,000: %@); collector RSS %d MiB before, peak %d MiB",
                         size, lines, Double(answer.bytes) / 1e6, answer.seconds, Double(lines) / answer.seconds,
                         Double(lines) / answer.seconds >= 100_000 ? "met" : "NOT met", before / 1024, peak / 1024))
        }
    }

    /// Writes the events through the store's ingest (inventory and incidents as in production),
    /// in time order; returns the incident ids.
    func fill(_ store: any CollectorStore, token: String) async throws -> [String] {
        let now = Date()
        let hash = SecretToken.hash(token)
        for agent in 0..<agents {
            let id = String(format: "agent-%05d", agent)
            _ = try await store.enroll(
                tokenHash: hash,
                agent: AgentRecord(
                    id: id, hostname: "host-\(agent)", os: "Debian 12", agentVersion: BulwarkVersion.current, enrolledAt: now, certificateSerial: "01",
                    certificateNotAfter: now.addingTimeInterval(86_400)),
                now: now)
        }
        var random = SystemRandomNumberGenerator()
        var sequences = [UInt64](repeating: 0, count: agents)
        var incidents: [String] = []
        let start = now.addingTimeInterval(-Double(days) * 86_400)
        let step = Double(days) * 86_400 / Double(events)
        let batchSize = 20_000
        var batch: [IngestBatch] = []
        var pending: [Int: [Event]] = [:]
        var written = 0
        for index in 0..<events {
            let agent = Int(random.next() % UInt64(agents))
            sequences[agent] += 1
            let time = start.addingTimeInterval(Double(index) * step)
            let app = Self.apps[Int(random.next() % UInt64(Self.apps.count))]
            let user: JSONValue = .string("user\(agent)")
            let roll = random.next() % 100
            let event: Event
            if roll < 2 {
                let incident = DLPEvent.newIncidentID()
                if incidents.count < 1000 || random.next() % 100 == 0 { incidents.append(incident) }
                event = Event(seq: sequences[agent], time: time, type: EventType.file("blocked"), v: 1, data: [
                    "incident_id": .string(incident), "activity": "file_read_by_ai_tool", "path": "/home/user/customers.csv", "pid": 4242, "app": .string(app),
                    "category": "local_llm", "user": user, "rule": "block-high-confidence-pii-to-ai-tools", "sanction": "unreviewed", "partial": false,
                    "labels": .array([]), "evidence": "file_open",
                    "findings": .array([.object(["type": "credit_card", "count": 3, "confidence": 85, "matches": .array([.object(["hash": .string("h\(random.next() % 100_000)")])])])]),
                ])
            } else if roll < 35 {
                event = Event(seq: sequences[agent], time: time, type: EventType.dlpDecision, v: 1, data: [
                    "incident_id": .string(DLPEvent.newIncidentID()), "activity": "paste", "action": "audit", "app": .string(app), "category": "consumer_ai",
                    "user": user, "sanction": "unreviewed", "partial": false, "labels": .array([]), "policy": "bulwark-default",
                    "findings": .array([.object(["type": "email", "count": 1, "confidence": 75, "matches": .array([.object(["hash": .string("h\(random.next() % 100_000)")])])])]),
                ])
            } else {
                event = Event(seq: sequences[agent], time: time, type: EventType.aiProcessStarted, v: 1, data: [
                    "app": .string(app), "category": "ai_coding", "pid": 4242, "exe": .string("/usr/bin/\(app)"), "uid": 1000, "evidence": "process", "user": user,
                ])
            }
            pending[agent, default: []].append(event)
            written += 1
            if written % batchSize == 0 || index == events - 1 {
                for (agent, events) in pending { batch.append(IngestBatch(agentID: String(format: "agent-%05d", agent), events: events)) }
                pending.removeAll(keepingCapacity: true)
                _ = try await store.ingest(batch, now: time)
                batch.removeAll(keepingCapacity: true)
            }
            if written % 1_000_000 == 0 { print("  \(written / 1_000_000) M events written") }
        }
        return incidents
    }

}

/// Samples a process's resident memory every 50 ms until stopped; the peak in kB.
final class RSSSampler: Sendable {
    private final class State: Sendable {
        let values = Mutex((peak: 0, running: true))
    }

    private let state = State()

    init(pid: Int32) {
        let state = state
        Thread {
            while state.values.withLock({ $0.running }) {
                let rss = procStatus(pid, "VmRSS") ?? 0
                state.values.withLock { $0.peak = max($0.peak, rss) }
                usleep(50_000)
            }
        }.start()
    }

    func stop() -> Int {
        state.values.withLock {
            $0.running = false
            return $0.peak
        }
    }
}
