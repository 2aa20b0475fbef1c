import ArgumentParser
import BulwarkAgent
import BulwarkCollector
import BulwarkCore
import BulwarkTestSupport
import Foundation
import GRDB
import Logging

/// CPU time of the calling thread, in milliseconds.
func threadCPUMilliseconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) * 1000 + Double(time.tv_nsec) / 1_000_000
}

/// Median thread CPU (ms) of `body` over `runs` calls.
func medianCPU(runs: Int, _ body: () throws -> Void) rethrows -> Double {
    var samples: [Double] = []
    for _ in 0..<runs {
        let start = threadCPUMilliseconds()
        try body()
        samples.append(threadCPUMilliseconds() - start)
    }
    return percentile(samples.sorted(), 0.5)
}

struct DiscoveryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discovery",
        abstract: "AI app discovery on a busy host (500 processes, 10,000 browser-history rows): CPU per sensor cycle, the real agent's CPU and RSS with every sensor on, exec-to-event latency.")
    @Option(help: "Processes on the host while measuring (sleep children are added up to this).") var processes = 500
    @Option(help: "Visits in the generated Chromium History database.") var historyRows = 10_000
    @Option(help: "Seconds to measure the running agent over (its sensors run every second).") var seconds = 60
    @Option(help: "AI programs started to measure exec-to-event latency.") var execs = 20
    @Option(help: "Scratch directory.") var scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-bench-discovery").path

    func run() async throws {
        try? FileManager.default.removeItem(atPath: scratch)
        try FileManager.default.createDirectory(atPath: scratch + "/bin", withIntermediateDirectories: true)
        var children: [Process] = []
        defer { for child in children { kill(child.processIdentifier, SIGKILL) } }
        func spawn(_ path: String, _ arguments: [String]) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            try process.run()
            children.append(process)
            return process
        }
        // A busy host: AI programs among hundreds of ordinary ones.
        for name in ["ollama", "claude"] { try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: scratch + "/bin/" + name) }
        for name in ["ollama", "claude"] { _ = try spawn(scratch + "/bin/" + name, ["3600"]) }
        let existing = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { Int($0) != nil }.count
        for _ in existing..<max(existing, processes) { _ = try spawn("/bin/sleep", ["3600"]) }
        let running = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { Int($0) != nil }.count

        let browser = scratch + "/browser/Default"
        try FileManager.default.createDirectory(atPath: browser, withIntermediateDirectories: true)
        let history = try HistoryFile(path: browser + "/History")
        try history.append(historyRows)

        // Each sensor's periodic cycle, in this process, by thread CPU time.
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let spool = try SpoolStore(path: scratch + "/spool.db")
        let processSensor = ProcessSensor(spool: spool, logger: logger)
        let listeners = ListenerSensor(spool: spool, logger: logger)
        let connections = ConnectionSensor(spool: spool, logger: logger)
        await connections.resolve()
        let historySensor = BrowserHistorySensor(extraRoots: [scratch + "/browser"], cursorPath: scratch + "/cursors.json", spool: spool, logger: logger)
        let firstHistory = medianCPU(runs: 1) { historySensor.cycle() }
        let unchangedHistory = medianCPU(runs: 10) { historySensor.cycle() }
        var appended: [Double] = []
        for _ in 0..<10 {
            try history.append(100)
            appended.append(medianCPU(runs: 1) { historySensor.cycle() })
        }
        let firstScan = medianCPU(runs: 1) { processSensor.scan(source: "scan") }
        let scan = medianCPU(runs: 10) { processSensor.scan(source: "scan") }
        let listen = medianCPU(runs: 10) { listeners.cycle() }
        let connect = medianCPU(runs: 10) { connections.cycle() }
        let incremental = percentile(appended.sorted(), 0.5)
        print("host: \(running) processes, \(historyRows) history rows (\(history.aiShare)% to AI apps)")
        print("sensor cycles, thread CPU, median:")
        print(String(format: "  process /proc scan (start-up and no-connector fallback): first %.1f ms, then %.1f ms", firstScan, scan))
        print(String(format: "  listener cycle: %.2f ms; connection cycle: %.2f ms", listen, connect))
        print(String(format: "  browser history: first read of %d rows %.1f ms; unchanged %.3f ms; 100 new visits %.1f ms", historyRows, firstHistory, unchangedHistory, incremental))
        print(String(format: "  periodic cycle (listeners + connections + history with 100 new visits): %.1f ms (target ≤ 50 ms)", listen + connect + incremental))

        // The real agent with every sensor on, each every second.
        let bench = try await BenchDeployment(scratch: scratch + "/deployment", uses: 1)
        let collector = try bench.startCollector(log: scratch + "/collector.log")
        defer { collector.terminate() }
        let agent = try await bench.startAgent(
            state: scratch + "/agent",
            configuration: """
                session_socket: ""
                process_sensor: true
                listener_interval: 1
                history_interval: 1
                history_roots: ["\(scratch)/browser"]
                connection_interval: 1
                model_sensor: true
                file_guard: false
                """, log: scratch + "/agent.log", readyLine: "agent running")
        defer { agent.terminate() }
        try await Task.sleep(for: .seconds(10))  // start-up scans and the first history read
        let cpuStart = cpuSeconds(agent.processIdentifier) ?? 0
        let clockStart = ContinuousClock.now
        var maxRSS = 0
        var latencies: [Double] = []
        var started: [(pid: Int32, at: Date)] = []
        var tick = 0
        while ContinuousClock.now - clockStart < .seconds(seconds) {
            maxRSS = max(maxRSS, procStatus(agent.processIdentifier, "VmRSS") ?? 0)
            try history.append(10)  // someone keeps browsing
            if tick % max(1, seconds / max(1, execs)) == 0, started.count < execs {
                let at = Date()
                started.append((try spawn(scratch + "/bin/claude", ["30"]).processIdentifier, at))
            }
            tick += 1
            try await Task.sleep(for: .seconds(1))
        }
        let elapsed = ContinuousClock.now - clockStart
        let cpu = (cpuSeconds(agent.processIdentifier) ?? 0) - cpuStart
        let pss = smapsRollup(agent.processIdentifier, "Pss")
        try await Task.sleep(for: .seconds(2))
        let store = try await bench.deployment.openStore()
        let events = try await store.events(EventQuery(type: EventType.aiProcessStarted, limit: 10_000))
        for (pid, at) in started {
            if let event = events.first(where: { $0.data["pid"] == .number(Double(pid)) }) { latencies.append(event.time.timeIntervalSince(at) * 1000) }
        }
        try await store.close()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(String(format: "agent with every sensor each second over %.0f s: CPU %.1f ms per second (%.2f%% of one core); RSS max %.1f MiB (PSS %.1f MiB)",
                     seconds, cpu * 1000 / seconds, cpu / seconds * 100, Double(maxRSS) / 1024, pss / 1024))
        let sorted = latencies.sorted()
        print(String(format: "exec → ai.process.started (event time − spawn time): %d of %d seen, p50 %.1f ms, max %.1f ms (target ≤ 100 ms)",
                     latencies.count, started.count, percentile(sorted, 0.5), sorted.last ?? 0))
    }
}

/// `/proc/PID/smaps_rollup` field in kB.
func smapsRollup(_ pid: Int32, _ name: String) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8) else { return 0 }
    let line = text.split(separator: "\n").first { $0.hasPrefix(name + ":") }
    return Double(line?.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
}

/// A Chromium `History` database (the tables the sensor reads), filled with visits of which
/// about a third go to AI apps.
final class HistoryFile {
    let queue: DatabaseQueue
    static let aiHosts = ["chatgpt.com", "claude.ai", "gemini.google.com", "chat.mistral.ai", "perplexity.ai", "chat.deepseek.com"]
    let aiShare = 33
    private var visits = 0

    init(path: String) throws {
        queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE urls (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR, visit_count INTEGER DEFAULT 0 NOT NULL,
                    typed_count INTEGER DEFAULT 0 NOT NULL, last_visit_time INTEGER NOT NULL, hidden INTEGER DEFAULT 0 NOT NULL);
                CREATE TABLE visits (id INTEGER PRIMARY KEY, url INTEGER NOT NULL, visit_time INTEGER NOT NULL, from_visit INTEGER,
                    transition INTEGER DEFAULT 0 NOT NULL, segment_id INTEGER, visit_duration INTEGER DEFAULT 0 NOT NULL);
                CREATE INDEX visits_time_index ON visits (visit_time);
                """)
        }
    }

    /// Adds `count` visits, now-ish (Chromium time: microseconds since 1601).
    func append(_ count: Int) throws {
        let base = Int64((Date().timeIntervalSince1970 + 11_644_473_600) * 1_000_000)
        try queue.write { db in
            for _ in 0..<count {
                visits += 1
                let index = visits
                let url = index % 100 < aiShare
                    ? "https://\(Self.aiHosts[index % Self.aiHosts.count])/c/\(index)"
                    : "https://www.example.org/articles/\(index % 2_000)"
                try db.execute(sql: "INSERT INTO urls (url, title, last_visit_time) VALUES (?, ?, ?)", arguments: [url, "page \(index)", base])
                try db.execute(sql: "INSERT INTO visits (url, visit_time) VALUES (?, ?)", arguments: [db.lastInsertedRowID, base + Int64(index)])
            }
        }
    }
}

struct InventoryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "Inventory queries with 1,000 apps across 10,000 devices (through the store, and through the collector's HTTPS API with curl).")
    @Option(help: "Apps in the inventory.") var apps = 1_000
    @Option(help: "Devices (agents) reporting.") var devices = 10_000
    @Option(help: "Apps every device has (the popular ones).") var common = 10
    @Option(help: "Further apps per device, drawn from the long tail.") var tail = 10
    @Option(help: "Queries per measurement.") var runs = 20
    @Option(help: "Scratch directory.") var scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-bench-inventory").path

    func run() async throws {
        let bench = try await BenchDeployment(scratch: scratch, uses: 1)
        let store = try await bench.deployment.openStore()
        let catalog = AIAppCatalog.bundled.apps
        let ids = (0..<apps).map { $0 < catalog.count ? catalog[$0].id : String(format: "custom-app-%04d", $0) }
        let device0 = try await store.enroll(
            tokenHash: SecretToken.hash(bench.token),
            agent: AgentRecord(
                id: "device-00000", hostname: "device-00000", os: "Debian 12", agentVersion: BulwarkVersion.current, enrolledAt: Date(),
                certificateSerial: "01", certificateNotAfter: Date().addingTimeInterval(86_400)),
            now: Date())
        // Every device reports its apps (process evidence, one user each), through the real ingest path.
        let clock = ContinuousClock()
        let fillStart = clock.now
        var generator = SystemRandomNumberGenerator()
        var batches: [IngestBatch] = []
        var total = 0
        for device in 0..<devices {
            let agentID = device == 0 ? device0.id : String(format: "device-%05d", device)
            var mine = Array(ids.prefix(common))
            for _ in 0..<tail { mine.append(ids[common + Int(generator.next() % UInt64(max(1, ids.count - common)))]) }
            let events = mine.enumerated().map { seq, app in
                Event(seq: UInt64(seq + 1), time: Date(), type: EventType.aiProcessStarted, v: 1, data: [
                    "app": .string(app), "category": "ai_coding", "pid": 4242, "exe": .string("/usr/bin/\(app)"), "uid": 1000,
                    "evidence": "process", "user": .string("user\(device)"),
                ])
            }
            total += events.count
            batches.append(IngestBatch(agentID: agentID, events: events))
            if batches.count == 200 {
                _ = try await store.ingest(batches, now: Date())
                batches.removeAll()
            }
        }
        if !batches.isEmpty { _ = try await store.ingest(batches, now: Date()) }
        let fill = clock.now - fillStart
        print("inventory: \(apps) apps, \(devices) devices, \(total) events ingested in \(fill)")

        func measure(_ label: String, _ body: () async throws -> Int) async rethrows {
            var samples: [Double] = []
            var size = 0
            for _ in 0..<runs {
                let start = clock.now
                size = try await body()
                let elapsed = clock.now - start
                samples.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
            }
            let sorted = samples.sorted()
            print(String(format: "  %@: p50 %.1f ms, max %.1f ms (%d rows)", label, percentile(sorted, 0.5), sorted.last ?? 0, size))
        }
        print("through the store (query + JSON encoding, as the API handler does):")
        await measureStore(store, ids: ids, measure)
        try await store.close()

        // Through the collector: HTTPS, bearer token, role check, audit, JSON.
        let secret = SecretToken.generate(prefix: "bwa")
        let tokens = try await bench.deployment.openStore()
        _ = try await tokens.createAPIToken(hash: SecretToken.hash(secret), name: "bench", role: .analyst, now: Date())
        try await tokens.close()
        let apiPort = freePort()
        let collector = try launch(
            siblingBinary("bulwark-collector"),
            ["serve", "--data", bench.dataDir, "--agent-listen", "127.0.0.1:\(bench.agentPort)", "--api-listen", "127.0.0.1:\(apiPort)"],
            log: scratch + "/collector.log", readyLine: "api listener ready")
        defer { collector.terminate() }
        print("through the HTTPS API (curl's time_total: a new TLS connection, request, response):")
        for (label, path) in [
            ("GET /api/v1/inventory/apps", "/api/v1/inventory/apps"), ("GET /api/v1/inventory/apps?min_risk=6", "/api/v1/inventory/apps?min_risk=6"),
            ("GET /api/v1/inventory/apps/\(ids[0]) (first 500 of 10,000 devices)", "/api/v1/inventory/apps/\(ids[0])"),
            ("GET /api/v1/inventory/apps/\(ids[0])?limit=10000 (all devices)", "/api/v1/inventory/apps/\(ids[0])?limit=10000"),
            ("GET /api/v1/inventory/devices/device-00000", "/api/v1/inventory/devices/device-00000"),
            ("GET /api/v1/inventory/users/user1", "/api/v1/inventory/users/user1"),
        ] {
            var samples: [Double] = []
            var bytes = 0
            for _ in 0..<runs {
                let result = try curl(["-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}", "--cacert", bench.dataDir + "/ca.pem",
                                       "-H", "Authorization: Bearer \(secret)", "https://127.0.0.1:\(apiPort)\(path)"])
                let fields = result.split(separator: " ")
                guard fields.count == 3, fields[0] == "200", let seconds = Double(fields[2]) else { throw BenchFailure("\(path) answered \(result)") }
                bytes = Int(fields[1]) ?? 0
                samples.append(seconds * 1000)
            }
            let sorted = samples.sorted()
            print(String(format: "  %@: p50 %.1f ms, max %.1f ms (%d bytes)", label, percentile(sorted, 0.5), sorted.last ?? 0, bytes))
        }
    }

    func measureStore(_ store: any CollectorStore, ids: [String], _ measure: (String, () async throws -> Int) async throws -> Void) async {
        do {
            try await measure("inventory apps (all)") {
                let apps = try await store.inventoryApps(InventoryQuery())
                _ = try WireCoding.encoder().encode(["apps": apps])
                return apps.count
            }
            try await measure("inventory apps, min_risk 6") { try await store.inventoryApps(InventoryQuery(minRisk: 6)).count }
            try await measure("app detail, \(ids[0]) on every device, first page (500)") {
                let detail = try await store.inventoryApp(id: ids[0], page: InventoryPage())
                _ = try WireCoding.encoder().encode(detail)
                return detail?.devices.count ?? 0
            }
            try await measure("app detail, \(ids[0]), all 10,000 devices") {
                let detail = try await store.inventoryApp(id: ids[0], page: InventoryPage(limit: 10_000))
                _ = try WireCoding.encoder().encode(detail)
                return detail?.devices.count ?? 0
            }
            try await measure("device view") { try await store.inventoryDevice(agentID: "device-00000")?.apps.count ?? 0 }
            try await measure("user view") { try await store.inventoryUser(name: "user1")?.apps.count ?? 0 }
        } catch {
            print("  store measurement failed: \(error)")
        }
    }
}
