import ArgumentParser
import AsyncHTTPClient
import BulwarkAgent
import BulwarkCollector
import BulwarkCore
import BulwarkTestSupport
import Crypto
import Foundation
import NIOCore
import NIOSSL
import X509

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark-bench",
        abstract: "Benchmarks of the real components (results go to docs/BENCHMARKS.md).",
        subcommands: [Ingest.self, IdleFleet.self, PolicyFanout.self, AgentIdle.self, Classify.self, ClassifyLines.self, PasteLatency.self, DiscoveryBench.self, InventoryBench.self, QueryBench.self, FileGuardBench.self, OpenLoop.self])
}

/// The directory of this executable, where the release `bulwark-collector` and `bulwark-agent` are.
func siblingBinary(_ name: String) -> String {
    let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    return me.deletingLastPathComponent().appendingPathComponent(name).path
}

/// Starts a program with output to a log file and waits for a line in it.
func launch(_ path: String, _ arguments: [String], log: String, readyLine: String?, environment: [String: String]? = nil) throws -> Process {
    FileManager.default.createFile(atPath: log, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    if let readyLine {
        let deadline = Date().addingTimeInterval(30)
        while !((try? String(contentsOfFile: log, encoding: .utf8))?.contains(readyLine) ?? false) {
            guard process.isRunning, Date() < deadline else { throw BenchFailure("\(path) did not become ready; see \(log)") }
            usleep(20_000)
        }
    }
    return process
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `/proc/PID/status` fields in kB.
func procStatus(_ pid: Int32, _ field: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }
    return nil
}

/// User+system CPU seconds of a process from `/proc/PID/stat`.
func cpuSeconds(_ pid: Int32) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Runs curl (an independent HTTPS client) and returns what it printed.
func curl(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: output, as: UTF8.self)
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

/// A fresh deployment in `scratch` with an enrollment token for `uses` agents, on the store
/// `database` names (see `FleetOptions.database`), and collector processes serving it.
struct BenchDeployment {
    let deployment: Deployment
    let dataDir: String
    let token: String
    let agentPort: Int
    /// The collector's `--database`: empty for the deployment's SQLite file.
    let database: String

    init(scratch: String, uses: Int, database: String = "sqlite") async throws {
        try? FileManager.default.removeItem(atPath: scratch)
        dataDir = scratch + "/collector"
        self.database = try Self.databaseURL(database)
        deployment = try Deployment.initialize(directory: dataDir, hostnames: ["127.0.0.1"], createDatabase: self.database.isEmpty)
        token = SecretToken.generate(prefix: "bwe")
        let store = try await deployment.openStore(database: self.database, migrate: true)
        _ = try await store.createEnrollmentToken(
            hash: SecretToken.hash(token), label: "bench", maxUses: uses, expiresAt: Date().addingTimeInterval(3_600), now: Date())
        try await store.close()
        agentPort = freePort()
    }

    /// `sqlite`, `postgres` (a private cluster, stopped when the benchmark exits) or a URL.
    static func databaseURL(_ option: String) throws -> String {
        switch option {
        case "sqlite": return ""
        case "postgres": return try TestPostgres.database("bench")
        case let url where url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"): return url
        default: throw BenchFailure("--database is sqlite, postgres or a postgres:// URL, not \(option)")
        }
    }

    var databaseArguments: [String] { database.isEmpty ? [] : ["--database", database] }

    func openStore() async throws -> any CollectorStore { try await deployment.openStore(database: database) }

    /// Enrolls an agent in `state` and runs it with `configuration` (agent.yaml) until
    /// `readyLine` appears in `log`.
    func startAgent(state: String, configuration: String, log: String, readyLine: String) async throws -> Process {
        _ = try await Enroller(state: AgentState(directory: state)).enroll(
            collector: "https://127.0.0.1:\(agentPort)", token: token, caSHA256: try deployment.authority.fingerprint)
        try configuration.write(toFile: state + "/agent.yaml", atomically: true, encoding: .utf8)
        return try launch(siblingBinary("bulwark-agent"), ["run", "--state", state, "--config", state + "/agent.yaml"], log: log, readyLine: readyLine)
    }

    func startCollector(log: String, extra: [String] = []) throws -> Process {
        try launch(
            siblingBinary("bulwark-collector"),
            ["serve", "--data", dataDir, "--agent-listen", "127.0.0.1:\(agentPort)", "--api-listen", "127.0.0.1:\(freePort())"] + databaseArguments + extra,
            log: log, readyLine: "agent listener ready")
    }
}

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "N simulated agents, each with its own certificate and TLS connection, post batches of a realistic event mix to real collectors.")
    @Option(help: "Concurrent simulated agents.") var agents = 100
    @Option(help: "Total events across all agents.") var events = 200_000
    @Option(help: "Events per batch.") var batchSize = 1_000
    @Option(help: "Offered load per agent in events/s (open loop: a batch every batch-size/rate seconds); omit to send as fast as acks come back.") var rate: Double?
    @Option(help: "Store: sqlite, postgres (a private cluster started for the run) or a postgres:// URL of an empty database.") var database = "sqlite"
    @Option(help: "Collector instances sharing the store; agent i posts to collector i mod N, as behind a round-robin load balancer.") var collectors = 1
    @Flag(help: "Events of one type only (agent.selftest, as the figures before issue 10) instead of the realistic mix.") var selftestOnly = false
    @Flag(help: "HTTP/1.1 connections, as agents before HTTP/2 (default: HTTP/2, as bulwark-agent).") var http1 = false
    @Option(help: "Scratch directory (a fresh deployment is created in it).") var scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-bench-ingest").path

    func validate() throws {
        guard collectors == 1 || database != "sqlite" else { throw ValidationError("several collectors share a PostgreSQL database (--database postgres)") }
    }

    func run() async throws {
        try raiseOpenFileLimit(needed: agents + agents / 5 + 500)
        let bench = try await BenchDeployment(scratch: scratch, uses: agents, database: database)
        struct Prepared { var agent: SimulatedAgent; var bodies: [ByteBuffer]; var lastSeqs: [UInt64] }
        let perAgent = events / agents
        let batchesPerAgent = (perAgent + batchSize - 1) / batchSize
        let encoder = WireCoding.encoder()
        print("preparing \(agents) agents × \(perAgent) events in batches of \(batchSize) (\(selftestOnly ? "agent.selftest only" : "realistic mix")), \(bench.database.isEmpty ? "SQLite" : "PostgreSQL"), \(collectors) collector(s)…")
        var simulated: [Prepared] = []
        for agent in try await bench.simulatedAgents(agents) {
            var bodies: [ByteBuffer] = []
            var lastSeqs: [UInt64] = []
            var seq: UInt64 = 1
            for _ in 0..<batchesPerAgent {
                var batch: [Event] = []
                while batch.count < batchSize, seq <= UInt64(perAgent) {
                    batch.append(
                        selftestOnly
                            ? Event(seq: seq, time: Date(), type: EventType.selftest, v: 1, data: ["nonce": .string("bench-\(agent.index)"), "index": .number(Double(seq))])
                            : batch.isEmpty ? BenchEvents.heartbeat(seq: seq, time: Date(), policyVersion: 0) : BenchEvents.event(seq: seq, agent: agent.index, time: Date()))
                    seq += 1
                }
                let json = try encoder.encode(EventBatch(agent: agent.id, batch: "b\(seq)", events: batch))
                bodies.append(try Deflate.compress(ByteBuffer(bytes: json)))
                lastSeqs.append(seq - 1)
            }
            simulated.append(Prepared(agent: agent, bodies: bodies, lastSeqs: lastSeqs))
        }

        let started = try bench.startCollectors(collectors, scratch: scratch, extra: ["--log-level", "warning"])
        defer { started.forEach { $0.process.terminate() } }
        let ca = try bench.caCertificate()
        let pids = started.map(\.process.processIdentifier)
        let machineBefore = machineJiffies()
        let start = ContinuousClock.now
        let interval = rate.map { Duration.seconds(Double(batchSize) / $0) }
        // Each agent's first batch also pays its TLS handshake; steady state leaves it out.
        let (latencies, steadyLatencies) = try await withThrowingTaskGroup(of: [Double].self) { group in
            for prepared in simulated {
                let port = started[prepared.agent.index % started.count].agentPort
                group.addTask {
                    let client = prepared.agent.client(trusting: ca, http1: http1)
                    var samples: [Double] = []
                    do {
                        // Spread agents' first batches over one interval, as a real fleet is.
                        let offset = interval.map { $0 * Double.random(in: 0..<1) } ?? .zero
                        for (number, (body, last)) in zip(prepared.bodies, prepared.lastSeqs).enumerated() {
                            if let interval {
                                let due = start + offset + interval * number
                                if due > ContinuousClock.now { try await Task.sleep(until: due) }
                            }
                            var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/v1/events")
                            request.method = .POST
                            request.headers.add(name: "Content-Encoding", value: "deflate")
                            request.body = .bytes(body)
                            let sent = ContinuousClock.now
                            let response = try await client.execute(request, timeout: .seconds(120))
                            let payload = try await response.body.collect(upTo: 1 << 20)
                            guard response.status == .ok else { throw BenchFailure("collector answered \(response.status): \(String(buffer: payload))") }
                            let ack = try WireCoding.decoder().decode(EventAck.self, from: Data(buffer: payload))
                            guard ack.acked == last else { throw BenchFailure("acked \(ack.acked), expected \(last)") }
                            samples.append(inSeconds(ContinuousClock.now - sent) * 1000)
                        }
                    } catch {
                        try? await client.shutdown()
                        throw error
                    }
                    try await client.shutdown()
                    return samples
                }
            }
            var all: [Double] = []
            var steady: [Double] = []
            for try await samples in group {
                all += samples
                steady += samples.dropFirst()
            }
            return (all.sorted(), steady.sorted())
        }
        let seconds = inSeconds(ContinuousClock.now - start)
        let machineAfter = machineJiffies()
        let peakRSS = pids.map { procStatus($0, "VmHWM") ?? 0 }
        let collectorCPU = pids.map { cpuSeconds($0) ?? 0 }
        for collector in started {
            collector.process.terminate()
            collector.process.waitUntilExit()
        }

        let verify = try await bench.openStore()
        let stored = try await verify.eventCount(agentID: nil)
        try await verify.close()
        let total = perAgent * agents
        guard stored == total else { throw BenchFailure("collectors stored \(stored) events, expected \(total)") }
        if let rate { print(String(format: "offered load: %.0f events/s (%d agents × %.1f events/s)", rate * Double(agents), agents, rate)) }
        let busy = (machineAfter.busy - machineBefore.busy) / max(machineAfter.total - machineBefore.total, 1)
        print(String(format: "agents %d, events %d, batch %d, %@, %@, %d collector(s): %.0f events/s over %.2f s; batch ack latency p50 %.1f ms, p99 %.1f ms, max %.1f ms (without first batches: p50 %.1f ms, p99 %.1f ms); collectors' peak RSS %@ MiB, CPU %@ s; machine %.0f%% busy; all %d events stored once",
                     agents, total, batchSize, http1 ? "HTTP/1.1" : "HTTP/2", bench.database.isEmpty ? "SQLite" : "PostgreSQL", collectors, Double(total) / seconds, seconds,
                     percentile(latencies, 0.5), percentile(latencies, 0.99), latencies.last ?? 0, percentile(steadyLatencies, 0.5), percentile(steadyLatencies, 0.99),
                     peakRSS.map { String($0 / 1024) }.joined(separator: " + "), collectorCPU.map { String(format: "%.1f", $0) }.joined(separator: " + "),
                     busy * 100, stored))
    }
}

struct AgentIdle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-idle", abstract: "RSS and CPU of an enrolled, idle `bulwark-agent run` (default heartbeat) over a period.")
    @Option(help: "Seconds to measure.") var seconds = 300
    @Option(help: "Scratch directory.") var scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-bench-idle").path

    func run() async throws {
        let bench = try await BenchDeployment(scratch: scratch, uses: 1)
        let collector = try bench.startCollector(log: scratch + "/collector.log")
        defer { collector.terminate() }
        let state = scratch + "/agent"
        _ = try await Enroller(state: AgentState(directory: state)).enroll(
            collector: "https://127.0.0.1:\(bench.agentPort)", token: bench.token, caSHA256: try bench.deployment.authority.fingerprint)
        let agent = try launch(siblingBinary("bulwark-agent"), ["run", "--state", state], log: scratch + "/agent.log", readyLine: "agent running")
        defer { agent.terminate() }
        // Skip start-up, then measure a steady state.
        try await Task.sleep(for: .seconds(5))
        let cpuStart = cpuSeconds(agent.processIdentifier) ?? 0
        let clockStart = ContinuousClock.now
        var maxRSS = 0
        while ContinuousClock.now - clockStart < .seconds(seconds) {
            maxRSS = max(maxRSS, procStatus(agent.processIdentifier, "VmRSS") ?? 0)
            try await Task.sleep(for: .seconds(1))
        }
        let cpu = (cpuSeconds(agent.processIdentifier) ?? 0) - cpuStart
        let status = try SpoolStore(path: state + "/spool.db").status()
        // RSS counts shared, clean code pages of the Swift runtime too; PSS and private dirty say
        // what this process really costs.
        func field(_ name: String) -> Double { smapsRollup(agent.processIdentifier, name) }
        print(String(format: "agent idle over %d s: CPU %.3f s (%.3f%% of one core); RSS max %.1f MiB (PSS %.1f MiB, private dirty %.1f MiB, file-backed %.1f MiB); last acked seq %d",
                     seconds, cpu, cpu / Double(seconds) * 100, Double(maxRSS) / 1024, field("Pss") / 1024, field("Private_Dirty") / 1024,
                     field("Rss") / 1024 - field("Pss_Anon") / 1024, status.lastAckedSeq))
    }
}

struct Classify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Single-core throughput of ContentClassifier over generated mixed text (prose, CSV, code) with sensitive values sprinkled in.")
    @Option(help: "Megabytes of text to classify.") var megabytes = 100
    @Option(help: "Also time scans of one 100 KB clipboard-sized text this many times.") var clipboardRuns = 200
    @Option(help: "scripts/peer-speed.py: also time detect-secrets and presidio-analyzer on the first --peer-megabytes of the same text.")
    var peers: String?
    @Option(help: "Megabytes of the text the peers get (they are slow).") var peerMegabytes = 1

    /// Deterministic mixed text: prose, CSV rows with numbers, source code, and every ~4 KB a
    /// card, SSN, IBAN or e-mail address.
    static func corpus(bytes target: Int) -> [UInt8] {
        let prose = Array("The quarterly report shows revenue growth across all regions while costs remained flat. ".utf8)
        let code = Array("    let total = items.reduce(0) { $0 + $1.price * Double($1.quantity) } // 2024-11-26\n".utf8)
        let sensitive = [
            "Customer card 4526 0181 5908 3012 exp 11/29\n", "SSN: 536-22-1904\n",
            "IBAN DE89370400440532013000\n", "contact jane.doe@example.com\n",
        ].map { Array($0.utf8) }
        var output: [UInt8] = []
        output.reserveCapacity(target + 512)
        var line = 0
        while output.count < target {
            switch line % 4 {
            case 0: output += prose
            case 1: output += Array("\(line),\(line * 7919 % 100_000),\(Double(line) * 1.25),order-\(line % 997),EUR\n".utf8)
            case 2: output += code
            default: output += prose.reversed()
            }
            if line % 40 == 0 { output += sensitive[(line / 40) % sensitive.count] }
            line += 1
        }
        return output
    }

    func run() async throws {
        let text = Self.corpus(bytes: megabytes * 1_000_000)
        let classifier = ContentClassifier()
        // The full default policy decides on the result, as the agent does for a paste.
        let evaluator = PolicyEvaluator(policy: DefaultPolicy.policy())
        var findings = 0
        var decision = PolicyAction.allow
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            let result = text.withUnsafeBytes { classifier.scan($0) }
            findings = result.findings.reduce(0) { $0 + $1.count }
            decision = evaluator.evaluate(PolicyRequest(
                activity: .paste, destination: Destination(appID: "chatgpt", category: "consumer_ai"), content: result)).action
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let clipboard = Array(text.prefix(100_000))
        var clipboardTimes: [Double] = []
        for _ in 0..<clipboardRuns {
            let one = clock.measure { _ = clipboard.withUnsafeBytes { classifier.scan($0) } }
            clipboardTimes.append(Double(one.components.attoseconds) / 1e15 + Double(one.components.seconds) * 1000)
        }
        clipboardTimes.sort()
        let speed = Double(text.count) / 1e6 / seconds
        print(String(format: "classified %d MB in %.2f s: %.1f MB/s single core, %d matches, default policy says %@; 100 KB clipboard p50 %.3f ms, p99 %.3f ms; peak RSS %.1f MiB",
                     megabytes, seconds, speed, findings, decision.rawValue,
                     percentile(clipboardTimes, 0.5), percentile(clipboardTimes, 0.99), Double(procStatus(getpid(), "VmHWM") ?? 0) / 1024))
        guard let peers else { return }
        let sample = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-bench-peers-\(getpid()).txt")
        defer { try? FileManager.default.removeItem(at: sample) }
        try Data(text.prefix(peerMegabytes * 1_000_000)).write(to: sample)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", peers, sample.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let rates = (try? JSONDecoder().decode([String: Double].self, from: output)) ?? [:]
        if rates.isEmpty { print("peers: none installed (pip install detect-secrets presidio-analyzer)") }
        for (name, rate) in rates.sorted(by: { $0.key < $1.key }) {
            print(String(format: "peer %@ on the first %d MB: %.3f MB/s — Bulwark is %.0f× faster", name, peerMegabytes, rate, speed / rate))
        }
    }
}

/// Batch classification for the accuracy comparison (scripts/accuracy.py): one JSON object per
/// input line, `{"id": …, "text": …}` or `{"id": …, "path": …}`, answered by one line
/// `{"id": …, "findings": [{"type", "start", "end", "confidence", "value"}], "lines": [[first, last]]}`
/// with UTF-8 byte offsets (into the extracted text for files). This is corpus tooling: unlike
/// everything the agent emits, it prints the matched values (public test corpora only).
struct ClassifyLines: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify-lines", abstract: "Classify JSON lines from stdin (texts or file paths) for scripts/accuracy.py.")

    struct Input: Decodable {
        var id: String
        var text: String?
        var path: String?
    }

    struct Output: Encodable {
        struct Hit: Encodable {
            var type: String
            var start: Int
            var end: Int
            var confidence: Int
            var value: String
        }
        var id: String
        var findings: [Hit]
        var lines: [[Int]]
        var format: String?
        var error: String?
    }

    func run() async throws {
        let scanner = ContentScanner()
        let decoder = JSONDecoder()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        while let line = readLine(strippingNewline: true) {
            guard !line.isEmpty else { continue }
            let input = try decoder.decode(Input.self, from: Data(line.utf8))
            var output = Output(id: input.id, findings: [], lines: [])
            var text: [UInt8] = []
            var result = ScanResult(findings: [])
            if let value = input.text {
                text = Array(value.utf8)
                result = text.withUnsafeBytes { scanner.classifier.scan($0) }
            } else if let path = input.path {
                do {
                    let extracted = try scanner.extractor.extract(path: path)
                    text = extracted.text
                    output.format = extracted.format
                    result = text.withUnsafeBytes { scanner.classifier.scan($0) }
                } catch {
                    output.error = "\(error)"
                }
            }
            // Line numbers (1-based) of each finding's start, for line-level comparisons.
            var newlines: [Int] = []
            for (offset, byte) in text.enumerated() where byte == UInt8(ascii: "\n") { newlines.append(offset) }
            for finding in result.findings {
                for match in finding.matches {
                    let value = String(decoding: text[match.start..<min(match.end, match.start + 200)], as: UTF8.self)
                    output.findings.append(.init(type: finding.type, start: match.start, end: match.end, confidence: match.confidence, value: value))
                    func line(_ offset: Int) -> Int {
                        var lo = 0, hi = newlines.count
                        while lo < hi {
                            let mid = (lo + hi) / 2
                            if newlines[mid] < offset { lo = mid + 1 } else { hi = mid }
                        }
                        return lo + 1
                    }
                    output.lines.append([line(match.start), line(max(match.start, match.end - 1))])
                }
            }
            print(String(decoding: try encoder.encode(output), as: UTF8.self))
        }
    }
}

/// Paste decision latency of the clipboard guard: a real display server (Xvfb, or headless
/// sway for Wayland), `bulwark-agent clipboard guard` with the default policy, sensitive content
/// copied (xclip / wl-copy) and pasted back (xclip -o / wl-paste) many times; latency is request
/// received → reply sent (X11) or reader identified and decided (Wayland: includes finding the
/// reader's pipe in /proc), as the guard records it in its paste events. Also idle RSS and CPU.
struct PasteLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paste-latency",
        abstract: "Clipboard guard: paste decision latency for 1 KB and 1 MB sensitive content, idle RSS and CPU (needs Xvfb and xclip, or sway and wl-clipboard).")
    @Option(help: "Pastes per content size.") var pastes = 200
    @Option(help: "Seconds of idling to measure CPU and RSS over.") var idleSeconds = 10
    @Option(help: "Display server: x11 (Xvfb) or wayland (headless sway, run as nobody).") var backend = "x11"
    @Option(help: "Scratch directory.") var scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-bench-paste").path

    func run() async throws {
        try? FileManager.default.removeItem(atPath: scratch)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let environment: [String: String]
        let copyCommand: (String) -> (String, [String])
        let pasteCommand: (String, [String])
        var cleanup: [() -> Void] = []
        defer { for step in cleanup.reversed() { step() } }
        switch backend {
        case "x11":
            var number = 80
            while FileManager.default.fileExists(atPath: "/tmp/.X11-unix/X\(number)") { number += 1 }
            let display = ":\(number)"
            let xvfb = try launch("/usr/bin/Xvfb", [display, "-nolisten", "tcp"], log: scratch + "/xvfb.log", readyLine: nil)
            cleanup.append {
                kill(xvfb.processIdentifier, SIGKILL)
                try? FileManager.default.removeItem(atPath: "/tmp/.X\(number)-lock")
                try? FileManager.default.removeItem(atPath: "/tmp/.X11-unix/X\(number)")
            }
            let deadline = Date().addingTimeInterval(15)
            while !FileManager.default.fileExists(atPath: "/tmp/.X11-unix/X\(number)") {
                guard Date() < deadline else { throw BenchFailure("Xvfb did not start; see \(scratch)/xvfb.log") }
                usleep(20_000)
            }
            environment = ["DISPLAY": display, "PATH": "/usr/bin:/bin"]
            copyCommand = { file in ("/usr/bin/xclip", ["-selection", "clipboard", "-quiet", file]) }
            pasteCommand = ("/usr/bin/xclip", ["-o", "-selection", "clipboard"])
        case "wayland":
            // sway refuses to run as root: it runs as nobody in a runtime directory of its own.
            let runtime = scratch + "/run"
            try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            chown(runtime, 65534, 65534)
            chmod(scratch, 0o755)
            try Data().write(to: URL(fileURLWithPath: scratch + "/sway.conf"))
            let sway = try launch(
                "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/sway", "-c", scratch + "/sway.conf"],
                log: scratch + "/sway.log", readyLine: nil,
                environment: ["PATH": "/usr/bin:/bin", "HOME": runtime, "XDG_RUNTIME_DIR": runtime, "WLR_BACKENDS": "headless",
                              "WLR_LIBINPUT_NO_DEVICES": "1", "WLR_RENDERER": "pixman"])
            cleanup.append { kill(sway.processIdentifier, SIGKILL) }
            let deadline = Date().addingTimeInterval(15)
            var socket: String?
            while socket == nil {
                socket = (try? FileManager.default.contentsOfDirectory(atPath: runtime))?.first { $0.hasPrefix("wayland-") && !$0.hasSuffix(".lock") }
                guard socket != nil || Date() < deadline else { throw BenchFailure("sway did not start; see \(scratch)/sway.log") }
                usleep(20_000)
            }
            environment = ["WAYLAND_DISPLAY": socket ?? "", "XDG_RUNTIME_DIR": runtime, "PATH": "/usr/bin:/bin"]
            copyCommand = { file in ("/bin/sh", ["-c", "exec /usr/bin/wl-copy --foreground < '\(file)'"]) }
            pasteCommand = ("/usr/bin/wl-paste", ["--no-newline"])
        default:
            throw BenchFailure("--backend must be x11 or wayland")
        }
        let guardLog = scratch + "/guard.log"
        let guardian = try launch(
            siblingBinary("bulwark-agent"), ["clipboard", "guard", "--backend", backend, "--no-notify"], log: guardLog, readyLine: "guarding CLIPBOARD",
            environment: environment)
        cleanup.append { kill(guardian.processIdentifier, SIGKILL) }
        func latencies() -> [Double] {
            ((try? String(contentsOfFile: guardLog, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
                guard line.contains("\"paste."), let range = line.range(of: "\"latency_ms\":") else { return nil }
                return Double(line[range.upperBound...].prefix { $0 == "." || $0.isNumber || $0 == "e" || $0 == "-" })
            }
        }
        func client(_ command: (String, [String])) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: command.0)
            process.arguments = command.1
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        for (label, size) in [("1 KB", 1024), ("1 MB", 1024 * 1024)] {
            var text = "card 4556 7375 8689 9855 exp 12/28\n"
            while text.utf8.count < size { text += "The quarterly report shows revenue growth across all regions.\n" }
            let file = scratch + "/content-\(size).txt"
            try Data(text.utf8.prefix(size)).write(to: URL(fileURLWithPath: file))
            let before = latencies().count
            let owner = try client(copyCommand(file))
            // The owner (xclip -quiet, wl-copy --foreground) exits when the guard takes the selection over.
            let takeover = Date().addingTimeInterval(15)
            while owner.isRunning {
                guard Date() < takeover else { throw BenchFailure("the guard did not take over the \(label) selection; see \(guardLog)") }
                usleep(10_000)
            }
            let start = ContinuousClock.now
            for _ in 0..<pastes {
                let paste = try client(pasteCommand)
                paste.waitUntilExit()
            }
            let wall = ContinuousClock.now - start
            try await Task.sleep(for: .milliseconds(300))
            let measured = Array(latencies().dropFirst(before)).sorted()
            guard !measured.isEmpty else { throw BenchFailure("no paste events for \(label); see \(guardLog)") }
            print(String(format: "%@: %@ sensitive content, %d pastes: decision+reply p50 %.3f ms, p99 %.3f ms, max %.3f ms (whole paste-program round trip %.1f ms on average)",
                         backend, label, measured.count, percentile(measured, 0.5), percentile(measured, 0.99), measured.last ?? 0,
                         Double(wall.components.seconds * 1000) / Double(pastes) + Double(wall.components.attoseconds) / 1e15 / Double(pastes)))
        }
        let cpuStart = cpuSeconds(guardian.processIdentifier) ?? 0
        try await Task.sleep(for: .seconds(idleSeconds))
        let cpu = (cpuSeconds(guardian.processIdentifier) ?? 0) - cpuStart
        let pid = guardian.processIdentifier
        print(String(format: "guard idle over %d s: CPU %.3f s (%.3f%% of one core), RSS %.1f MiB (peak %.1f MiB; anonymous %.1f MiB, file-backed %.1f MiB)",
                     idleSeconds, cpu, cpu / Double(idleSeconds) * 100, Double(procStatus(pid, "VmRSS") ?? 0) / 1024,
                     Double(procStatus(pid, "VmHWM") ?? 0) / 1024, Double(procStatus(pid, "RssAnon") ?? 0) / 1024, Double(procStatus(pid, "RssFile") ?? 0) / 1024))
    }
}
