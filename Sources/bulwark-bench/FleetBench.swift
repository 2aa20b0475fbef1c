import ArgumentParser
import AsyncHTTPClient
import BulwarkAgent
import BulwarkCollector
import BulwarkCore
import BulwarkTestSupport
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import X509

/// An agent the benchmarks simulate: its own key and a certificate the deployment's CA issued,
/// registered in the store (enrollment is rate limited by design and is not what they measure).
struct SimulatedAgent: Sendable {
    let index: Int
    let id: String
    let certificate: NIOSSLCertificate
    let key: NIOSSLPrivateKey

    /// A client for this agent: mTLS, one connection, HTTP/2 where the collector offers it — as
    /// `bulwark-agent`'s; `http1` for agents before HTTP/2.
    func client(trusting ca: NIOSSLCertificate, readTimeout: Duration = .seconds(120), http1: Bool = false) -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.trustRoots = .certificates([ca])
        tls.certificateChain = [.certificate(certificate)]
        tls.privateKey = .privateKey(key)
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, timeout: .init(connect: .seconds(60), read: .nanoseconds(Int64(readTimeout.components.seconds) * 1_000_000_000)))
        configuration.httpVersion = http1 ? .http1Only : .automatic
        configuration.connectionPool = .init(idleTimeout: .seconds(600), concurrentHTTP1ConnectionsPerHostSoftLimit: 1)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}

/// A collector process of a benchmark and its listeners.
struct BenchCollector {
    let process: Process
    let agentPort: Int
    let apiPort: Int
}

extension BenchDeployment {
    /// Issues `count` agent certificates and registers the agents.
    func simulatedAgents(_ count: Int) async throws -> [SimulatedAgent] {
        let store = try await openStore()
        var agents: [SimulatedAgent] = []
        agents.reserveCapacity(count)
        for index in 0..<count {
            let key = P256.Signing.PrivateKey()
            let csr = try CertificateSigningRequest(
                version: .v1, subject: try DistinguishedName { CommonName("bench") }, privateKey: .init(key),
                attributes: .init(), signatureAlgorithm: .ecdsaWithSHA256)
            let (certificate, agentID) = try deployment.authority.issueAgentCertificate(csr: csr, validity: 86_400)
            _ = try await store.enroll(tokenHash: SecretToken.hash(token), agent: AgentRecord(
                id: agentID, hostname: "bench-\(index)", os: "bench", agentVersion: BulwarkVersion.current, enrolledAt: Date(),
                certificateSerial: "\(certificate.serialNumber)", certificateNotAfter: certificate.notValidAfter), now: Date())
            agents.append(SimulatedAgent(
                index: index, id: agentID,
                certificate: try NIOSSLCertificate(bytes: Array(try certificate.serializeAsPEM().pemString.utf8), format: .pem),
                key: try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)))
        }
        try await store.close()
        return agents
    }

    /// The deployment's CA certificate, which simulated agents trust.
    func caCertificate() throws -> NIOSSLCertificate {
        try NIOSSLCertificate(bytes: Array(try deployment.authority.certificate.serializeAsPEM().pemString.utf8), format: .pem)
    }

    /// Starts `count` collector processes on the deployment (one data directory, one store),
    /// each on its own ports, and waits until both listeners of each are ready.
    func startCollectors(_ count: Int, scratch: String, extra: [String] = []) throws -> [BenchCollector] {
        try (0..<count).map { number in
            let agentPort = number == 0 ? self.agentPort : freePort()
            let apiPort = freePort()
            let log = scratch + "/collector-\(number + 1).log"
            let process = try launch(
                siblingBinary("bulwark-collector"),
                ["serve", "--data", dataDir, "--agent-listen", "127.0.0.1:\(agentPort)", "--api-listen", "127.0.0.1:\(apiPort)"] + databaseArguments + extra,
                log: log, readyLine: "api listener ready")
            let deadline = Date().addingTimeInterval(30)
            while !((try? String(contentsOfFile: log, encoding: .utf8))?.contains("agent listener ready") ?? false) {
                guard process.isRunning, Date() < deadline else { throw BenchFailure("collector \(number + 1) did not become ready; see \(log)") }
                usleep(20_000)
            }
            return BenchCollector(process: process, agentPort: agentPort, apiPort: apiPort)
        }
    }

    /// An admin API token for the benchmark.
    func adminToken() async throws -> String {
        let secret = SecretToken.generate(prefix: "bwa")
        let store = try await openStore()
        _ = try await store.createAPIToken(hash: SecretToken.hash(secret), name: "bench-\(UUID().uuidString.prefix(6))", role: .admin, now: Date())
        try await store.close()
        return secret
    }
}

/// Raises this process's open-file limit to its hard limit (collectors started later inherit
/// it): each simulated agent holds a connection, and each is a descriptor on both ends.
func raiseOpenFileLimit(needed: Int) throws {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    // Root may raise the hard limit too (up to fs.nr_open); others get the hard limit.
    var raised = limit
    raised.rlim_max = max(limit.rlim_max, rlim_t(needed))
    raised.rlim_cur = raised.rlim_max
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) != 0 {
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    guard Int(limit.rlim_cur) >= needed else {
        throw BenchFailure("the open-file limit is \(limit.rlim_cur), \(needed) are needed; raise it (ulimit -Hn) or use fewer agents")
    }
}

/// Busy and total jiffies of the whole machine (`/proc/stat`), for the load beside the collector.
func machineJiffies() -> (busy: Double, total: Double) {
    guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return (0, 0) }
    let values = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard values.count >= 5 else { return (0, 0) }
    let total = values.reduce(0, +)
    return (total - values[3] - values[4], total)
}

/// A duration in seconds.
func inSeconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Events as agents send them, in about the proportions a fleet does: discovery (processes,
/// API connections, time in AI apps) dominates, DLP decisions follow, incidents are rare.
enum BenchEvents {
    static let apps = AIAppCatalog.bundled.apps.prefix(40).map(\.id)

    /// Event `seq` of agent `agent` (number `index`).
    static func event(seq: UInt64, agent index: Int, time: Date) -> Event {
        let app = JSONValue.string(apps[Int((seq &* 2_654_435_761 &+ UInt64(index)) % UInt64(apps.count))])
        let user = JSONValue.string("user\(index)")
        let roll = (seq &* 40_503 &+ UInt64(index) &* 7) % 100
        func make(_ type: String, _ data: [String: JSONValue]) -> Event { Event(seq: seq, time: time, type: type, v: 1, data: data) }
        let finding: JSONValue = .object([
            "type": "email", "count": 1, "confidence": 75, "matches": .array([.object(["hash": .string("h\(seq % 997)"), "redacted": "j***@example.com"])]),
        ])
        switch roll {
        case 0..<30:
            return make(seq % 2 == 0 ? EventType.aiProcessStarted : EventType.aiProcessStopped, [
                "app": app, "category": "ai_coding", "pid": .number(Double(1000 + seq % 30_000)), "exe": "/usr/local/bin/claude", "uid": 1000,
                "evidence": "exe_name", "user": user,
            ])
        case 30..<50:
            return make(EventType.aiAPIConnection, [
                "app": app, "category": "ai_api", "host": "api.openai.com", "remote_port": 443, "pid": .number(Double(1000 + seq % 30_000)),
                "evidence": "dns_and_connect", "exe": "/usr/bin/python3", "uid": 1000, "user": user,
            ])
        case 50..<65:
            return make(EventType.aiFocus, ["app": app, "category": "consumer_ai", "seconds": .number(Double(5 + seq % 600)), "evidence": "window_class", "user": user])
        case 65..<85:
            return make(EventType.dlpDecision, [
                "incident_id": .string(DLPEvent.newIncidentID()), "activity": "paste", "action": "audit", "app": app, "category": "consumer_ai",
                "user": user, "sanction": "unreviewed", "partial": false, "labels": .array([]), "policy": "bulwark-default", "findings": .array([finding]),
            ])
        case 85..<97:
            return make(EventType.paste("audited"), [
                "incident_id": .string(DLPEvent.newIncidentID()), "selection": "CLIPBOARD", "target": "chromium", "findings": .array([finding]),
                "latency_ms": 3.2, "app": app, "category": "consumer_ai", "rule": "audit-pii", "origin": "https://chatgpt.com", "browser": "chromium",
            ])
        default:
            return make(EventType.paste("blocked"), [
                "incident_id": .string(DLPEvent.newIncidentID()), "selection": "CLIPBOARD", "target": "chromium",
                "findings": .array([.object(["type": "credit_card", "count": 2, "confidence": 90, "matches": .array([.object(["hash": .string("c\(seq % 991)"), "redacted": "4111 **** **** 1111"])])])]),
                "latency_ms": 4.1, "app": app, "category": "consumer_ai", "rule": "block-cards-to-ai", "origin": "https://chatgpt.com", "browser": "chromium",
                "user_risk": "low",
            ])
        }
    }

    /// An agent's heartbeat.
    static func heartbeat(seq: UInt64, time: Date, policyVersion: Int64) -> Event {
        Event(seq: seq, time: time, type: EventType.heartbeat, v: 1, data: [
            "agent_version": .string(BulwarkVersion.current), "policy_version": .number(Double(policyVersion)), "spool_depth": 0, "spool_bytes": 0,
            "dropped": 0, "uptime_s": 3600,
        ])
    }
}

/// What a simulated fleet saw, shared by its agents' tasks.
final class FleetProgress: Sendable {
    struct Counts {
        var connected = 0
        var bundles = 0
        var unchanged = 0
        var heartbeats = 0
        var errors = 0
        var lastError = ""
        /// The app state the fan-out waits for, and when each agent got it.
        var target: (app: String, state: SanctionState)?
        var arrivals: [Int: ContinuousClock.Instant] = [:]
    }

    let counts = Mutex(Counts())

    func received(_ bundle: PolicyBundle, agent: Int, first: Bool) {
        let now = ContinuousClock.now
        counts.withLock { counts in
            if first { counts.connected += 1 } else { counts.bundles += 1 }
            if let target = counts.target, bundle.appStates[target.app] == target.state, counts.arrivals[agent] == nil { counts.arrivals[agent] = now }
        }
    }

    func failed(_ error: any Error) {
        counts.withLock {
            $0.errors += 1
            $0.lastError = "\(error)"
        }
    }
}

/// Agents that hold a policy long-poll open (`GET /v1/policy?wait=`) and post a heartbeat every
/// `heartbeat` seconds, as `bulwark-agent` does when nothing happens: over HTTP/2 both on the
/// agent's one connection; with `http1` (agents before HTTP/2) each heartbeat on a connection of
/// its own, opened for it and closed after.
struct SimulatedFleet: Sendable {
    let agents: [SimulatedAgent]
    let collectors: [Int]
    let ca: NIOSSLCertificate
    let wait: Int
    let heartbeat: Double
    let http1: Bool
    let progress = FleetProgress()

    /// Runs every agent until cancelled; agent i starts at i / `rampPerSecond` seconds, on
    /// collector i mod the number of collectors (what a round-robin load balancer does).
    func run(rampPerSecond: Double) async {
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for agent in agents {
                let begin = start + .milliseconds(Int(Double(agent.index) / rampPerSecond * 1000))
                let port = collectors[agent.index % collectors.count]
                group.addTask {
                    try? await Task.sleep(until: begin)
                    let client = agent.client(trusting: ca, readTimeout: .seconds(wait + 30), http1: http1)
                    await withTaskGroup(of: Void.self) { both in
                        both.addTask { await self.poll(agent, port: port, client: client) }
                        both.addTask { await self.beat(agent, port: port, client: http1 ? nil : client) }
                    }
                    try? await client.shutdown()
                }
            }
        }
    }

    private func poll(_ agent: SimulatedAgent, port: Int, client: HTTPClient) async {
        var etag: String?
        var first = true
        while !Task.isCancelled {
            do {
                var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/v1/policy?wait=\(first ? 0 : wait)")
                if let etag { request.headers.add(name: "If-None-Match", value: etag) }
                let response = try await client.execute(request, timeout: .seconds(Int64(wait + 30)))
                let body = try await response.body.collect(upTo: 4 << 20)
                switch response.status {
                case .ok:
                    etag = response.headers.first(name: "ETag")
                    progress.received(try WireCoding.decoder().decode(PolicyBundle.self, from: Data(buffer: body)), agent: agent.index, first: first)
                    first = false
                case .notModified:
                    progress.counts.withLock { $0.unchanged += 1 }
                default:
                    throw BenchFailure("GET /v1/policy answered \(response.status): \(String(buffer: body))")
                }
            } catch {
                if Task.isCancelled { break }
                progress.failed(error)
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Heartbeats on `shared`, or each on a client of its own when nil.
    private func beat(_ agent: SimulatedAgent, port: Int, client shared: HTTPClient?) async {
        var seq: UInt64 = 0
        // Heartbeats spread over the interval, as agents started at different times.
        try? await Task.sleep(for: .milliseconds(Int(Double.random(in: 0..<heartbeat) * 1000)))
        while !Task.isCancelled {
            seq += 1
            let client = shared ?? agent.client(trusting: ca, http1: true)
            do {
                let json = try WireCoding.encoder().encode(EventBatch(
                    agent: agent.id, batch: "hb\(seq)", events: [BenchEvents.heartbeat(seq: seq, time: Date(), policyVersion: 0)]))
                var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/v1/events")
                request.method = .POST
                request.headers.add(name: "Content-Encoding", value: "deflate")
                request.body = .bytes(try Deflate.compress(ByteBuffer(bytes: json)))
                let response = try await client.execute(request, timeout: .seconds(60))
                let body = try await response.body.collect(upTo: 1 << 20)
                guard response.status == .ok else { throw BenchFailure("POST /v1/events answered \(response.status): \(String(buffer: body))") }
                progress.counts.withLock { $0.heartbeats += 1 }
            } catch {
                if !Task.isCancelled { progress.failed(error) }
            }
            if shared == nil { try? await client.shutdown() }
            try? await Task.sleep(for: .milliseconds(Int(heartbeat * 1000)))
        }
    }

    /// Waits until every agent has its first bundle (or `timeout`); false when some have not.
    func waitUntilConnected(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        var reported = ContinuousClock.now
        while ContinuousClock.now < deadline {
            let counts = progress.counts.withLock { $0 }
            if counts.connected == agents.count { return true }
            if ContinuousClock.now - reported > .seconds(10) {
                print("  \(counts.connected) of \(agents.count) agents connected, \(counts.errors) errors\(counts.errors > 0 ? " (last: \(counts.lastError))" : "")")
                reported = ContinuousClock.now
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return false
    }
}

/// Options the fleet scenarios share.
struct FleetOptions: ParsableArguments {
    @Option(help: "Simulated agents, each with its own certificate and TLS connection.") var agents = 1_000
    @Option(help: "Collector instances sharing the store (several need --database postgres).") var collectors = 1
    @Option(help: "Store: sqlite (the deployment's file), postgres (a private PostgreSQL cluster from Debian's package, started for the run) or a postgres:// URL of an empty database.")
    var database = "sqlite"
    @Option(help: "Seconds each policy request waits at the collector (bulwark-agent: 50).") var wait = PolicySync.longPollSeconds
    @Option(help: "Seconds between an agent's heartbeats (bulwark-agent's default: 60).") var heartbeat = 60.0
    @Option(help: "Agents connecting per second while the fleet starts.") var ramp = 500.0
    @Flag(help: "Simulate agents before HTTP/2: HTTP/1.1, the policy wait on one connection and each heartbeat on a new one.") var http1 = false
    @Option(help: "Scratch directory (a fresh deployment is created in it).") var scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-bench-fleet").path

    func validate() throws {
        guard collectors >= 1, agents >= 1 else { throw ValidationError("--agents and --collectors must be at least 1") }
        guard collectors == 1 || database != "sqlite" else {
            throw ValidationError("several collectors share a PostgreSQL database; SQLite is one collector's (use --database postgres)")
        }
    }

    /// A deployment with the agents registered, its collectors running, and the fleet started.
    func start() async throws -> (bench: BenchDeployment, collectors: [BenchCollector], fleet: SimulatedFleet, running: Task<Void, Never>) {
        // A held policy connection per agent, on the collectors' side as on ours; heartbeat connections are brief.
        try raiseOpenFileLimit(needed: agents + agents / 5 + 500)
        let bench = try await BenchDeployment(scratch: scratch, uses: agents, database: database)
        print("registering \(agents) agents (own key and certificate each) in \(bench.database.isEmpty ? "SQLite" : "PostgreSQL")…")
        let simulated = try await bench.simulatedAgents(agents)
        let started = try bench.startCollectors(collectors, scratch: scratch, extra: ["--log-level", "warning"])
        let fleet = SimulatedFleet(agents: simulated, collectors: started.map(\.agentPort), ca: try bench.caCertificate(), wait: wait, heartbeat: heartbeat, http1: http1)
        print("connecting \(agents) agents to \(collectors) collector(s) at \(Int(ramp))/s…")
        let running = Task { await fleet.run(rampPerSecond: ramp) }
        guard await fleet.waitUntilConnected(timeout: .seconds(Int64(Double(agents) / ramp) + 120)) else {
            running.cancel()
            let counts = fleet.progress.counts.withLock { $0 }
            started.forEach { $0.process.terminate() }
            throw BenchFailure("only \(counts.connected) of \(agents) agents got a policy bundle; \(counts.errors) errors, last: \(counts.lastError)")
        }
        return (bench, started, fleet, running)
    }
}

struct IdleFleet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle-fleet",
        abstract: "N agents connected and idle — each holding a policy long-poll and heartbeating — against real collectors: their RSS and CPU.")
    @OptionGroup var fleet: FleetOptions
    @Option(help: "Seconds to measure once every agent is connected.") var seconds = 120

    func run() async throws {
        let (_, collectors, simulated, running) = try await fleet.start()
        defer { collectors.forEach { $0.process.terminate() } }
        // Past the ramp's handshakes: measure the steady state.
        try await Task.sleep(for: .seconds(10))
        let pids = collectors.map(\.process.processIdentifier)
        let cpuBefore = pids.map { cpuSeconds($0) ?? 0 }
        let machineBefore = machineJiffies()
        let countsBefore = simulated.progress.counts.withLock { $0 }
        let samplers = pids.map { RSSSampler(pid: $0) }
        let start = ContinuousClock.now
        try await Task.sleep(for: .seconds(Int64(seconds)))
        let elapsed = inSeconds(ContinuousClock.now - start)
        let peaks = samplers.map { $0.stop() }
        let cpuAfter = pids.map { cpuSeconds($0) ?? 0 }
        let machineAfter = machineJiffies()
        let counts = simulated.progress.counts.withLock { $0 }
        running.cancel()

        print("\(fleet.agents) agents idle on \(fleet.collectors) collector(s), \(fleet.database) store, \(fleet.http1 ? "HTTP/1.1 (heartbeats on new connections)" : "HTTP/2 (one connection each)"), policy wait \(fleet.wait) s, heartbeat every \(Int(fleet.heartbeat)) s; measured over \(seconds) s:")
        for (number, pid) in pids.enumerated() {
            let cpu = cpuAfter[number] - cpuBefore[number]
            print(String(format: "  collector %d: RSS %.0f MiB now, peak %.0f MiB in the window (high-water mark since start %.0f MiB); CPU %.1f s = %.1f%% of one core",
                         number + 1, Double(procStatus(pid, "VmRSS") ?? 0) / 1024, Double(peaks[number]) / 1024, Double(procStatus(pid, "VmHWM") ?? 0) / 1024,
                         cpu, cpu / elapsed * 100))
        }
        let busy = (machineAfter.busy - machineBefore.busy) / max(machineAfter.total - machineBefore.total, 1)
        print(String(format: "  machine (collectors, store, and the simulated agents): %.0f%% busy of its %d cores", busy * 100, ProcessInfo.processInfo.activeProcessorCount))
        print("  in the window: \(counts.heartbeats - countsBefore.heartbeats) heartbeats acknowledged, \(counts.unchanged - countsBefore.unchanged) long-polls ended unchanged (304), \(counts.errors - countsBefore.errors) errors\(counts.errors > countsBefore.errors ? " (last: \(counts.lastError))" : "")")
        guard counts.errors == countsBefore.errors else { throw BenchFailure("\(counts.errors - countsBefore.errors) agent requests failed in the window") }
    }
}

struct PolicyFanout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy-fanout",
        abstract: "N agents long-polling; an admin changes an app's sanction through one collector's API: the time until every agent has the new bundle.")
    @OptionGroup var fleet: FleetOptions
    @Option(help: "Sanction changes to time, one after another.") var rounds = 3

    func run() async throws {
        let (bench, collectors, simulated, running) = try await fleet.start()
        defer { collectors.forEach { $0.process.terminate() } }
        let token = try await bench.adminToken()
        try await Task.sleep(for: .seconds(5))
        var results: [Double] = []
        for round in 1...rounds {
            let app = BenchEvents.apps[round % BenchEvents.apps.count]
            let state: SanctionState = round % 2 == 0 ? .sanctioned : .unsanctioned
            // Changed through the collector that serves the fewest of the agents' connections
            // in turn: with two, half the agents learn it through the other one.
            let collector = collectors[round % collectors.count]
            simulated.progress.counts.withLock {
                $0.target = (app, state)
                $0.arrivals = [:]
            }
            let start = ContinuousClock.now
            let answer = try curl([
                "-sS", "-X", "PUT", "--cacert", bench.dataDir + "/ca.pem", "-H", "Authorization: Bearer \(token)", "-H", "Content-Type: application/json",
                "--data", #"{"state":"\#(state.rawValue)","reason":"bench round \#(round)"}"#, "https://127.0.0.1:\(collector.apiPort)/api/v1/apps/\(app)/state",
            ])
            let accepted = inSeconds(ContinuousClock.now - start)
            guard answer.contains("\"changed\"") else { throw BenchFailure("PUT /api/v1/apps/\(app)/state answered \(answer)") }
            let deadline = start + .seconds(60)
            var arrivals: [ContinuousClock.Instant] = []
            while ContinuousClock.now < deadline {
                arrivals = simulated.progress.counts.withLock { Array($0.arrivals.values) }
                if arrivals.count == fleet.agents { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let times = arrivals.map { inSeconds($0 - start) }.sorted()
            print(String(format: "round %d: %@ → %@ via collector %d (API answered in %.0f ms): %d of %d agents had it after p50 %.2f s, p99 %.2f s, all by %.2f s",
                         round, app, state.rawValue, round % collectors.count + 1, accepted * 1000, times.count, fleet.agents,
                         percentile(times, 0.5), percentile(times, 0.99), times.last ?? 0))
            guard times.count == fleet.agents else { throw BenchFailure("\(fleet.agents - times.count) agents did not get the change within 60 s") }
            results.append(times.last ?? 0)
            try await Task.sleep(for: .seconds(3))
        }
        running.cancel()
        let counts = simulated.progress.counts.withLock { $0 }
        print(String(format: "fan-out to %d agents on %d collector(s), %@ store: slowest agent %.2f–%.2f s over %d rounds (target ≤ 10 s); %d errors",
                     fleet.agents, fleet.collectors, fleet.database, results.min() ?? 0, results.max() ?? 0, rounds, counts.errors))
    }
}
