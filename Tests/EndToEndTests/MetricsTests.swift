import BulwarkCollector
import BulwarkCore
import Foundation
import NIOCore
import Testing
import BulwarkTestSupport

/// Prometheus metrics of the collector (API listener) and the agent (loopback), read by curl and
/// parsed with prometheus_client's own text-format parser.
@Suite("End to end: Prometheus metrics", .serialized)
struct MetricsTests {
    static let peers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/test-peers/python").path
    static let parser = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/prometheus_parse.py").path

    /// Every sample of an exposition: `name{label=value,...}` → value. Fails on a malformed text.
    static func parse(_ exposition: String, in directory: String) throws -> [String: Double] {
        let file = directory + "/metrics-\(UUID().uuidString.prefix(6)).txt"
        try exposition.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try run("/bin/sh", ["-c", "PYTHONPATH='\(peers)' python3 '\(parser)' < '\(file)'"])
        guard result.status == 0, let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Double] else {
            throw TestFailure.command("prometheus_client could not parse the exposition (run scripts/ensure-python-peers.sh): \(result.output)")
        }
        return object
    }

    /// A global IPv4 address of this machine: requests to it come from a non-loopback address.
    static func globalAddress() throws -> String? {
        let result = try run("ip", ["-4", "-o", "addr", "show", "scope", "global"])
        return result.stdout.split(separator: "\n").compactMap { line -> String? in
            guard let field = line.split(separator: " ").firstIndex(of: "inet") else { return nil }
            let parts = line.split(separator: " ")
            return parts.indices.contains(field + 1) ? String(parts[field + 1].split(separator: "/")[0]) : nil
        }.first
    }

    static func post(_ cluster: Cluster, _ agent: AgentHandle, _ json: String) throws -> (status: Int, body: String) {
        let path = cluster.root + "/batch-\(UUID().uuidString.prefix(6)).bin"
        try Data(buffer: try Deflate.compress(ByteBuffer(string: json))).write(to: URL(fileURLWithPath: path))
        let answer = try cluster.curl(["--cert", agent.certificatePath, "--key", agent.keyPath, "-X", "POST", "-H", "Content-Encoding: deflate",
                                       "--data-binary", "@\(path)", "\(cluster.collectorURL)/v1/events"])
        return (answer.status, answer.body)
    }

    @Test("collector: batches, refusals by reason, decisions and enforcement latency, agents; loopback scrapes need no token, others a metrics or admin token; every scrape audited")
    func collector() async throws {
        let cluster = try Cluster()
        // The API listener on every address, so a scrape can come from a non-loopback address.
        cluster.collectorArguments = ["--api-listen", "0.0.0.0:\(cluster.apiPort)"]
        try cluster.startCollector()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent()
        try agent.startAndSelftest()
        let agentID = try agent.agentID
        agent.stop()

        // Decisions as an agent reports them, through the real ingest path (mTLS, deflate).
        let findings = #"[{"type":"credit_card","count":1,"confidence":"high"}]"#
        let events = [
            #"{"seq":900001,"time":"2026-12-06T10:00:00.000Z","type":"paste.blocked","v":1,"data":{"incident_id":"BW-0000000001","selection":"CLIPBOARD","target":"UTF8_STRING","findings":\#(findings),"latency_ms":3}}"#,
            #"{"seq":900002,"time":"2026-12-06T10:00:01.000Z","type":"paste.blocked","v":1,"data":{"incident_id":"BW-0000000002","selection":"CLIPBOARD","target":"UTF8_STRING","findings":\#(findings),"latency_ms":40}}"#,
            #"{"seq":900003,"time":"2026-12-06T10:00:02.000Z","type":"file.audited","v":1,"data":{"incident_id":"BW-0000000003","activity":"file_read_by_ai_tool","path":"/srv/a.txt","pid":7,"findings":[],"evidence":"file_open"}}"#,
        ]
        let batch = #"{"agent":"\#(agentID)","batch":"metrics","events":[\#(events.joined(separator: ","))]}"#
        #expect(try Self.post(cluster, agent, batch).status == 200)
        #expect(try Self.post(cluster, agent, batch).status == 200, "the same batch again: duplicates, not new decisions")
        let broken = try Self.post(cluster, agent, #"{"agent": "\#(agentID)", "events": ["#)
        #expect(broken.status == 400 && broken.body.contains("invalid_json"))

        let scrape = try cluster.curl(["\(cluster.apiURL)/metrics"])
        #expect(scrape.status == 200, "\(scrape.body.prefix(300))")
        let samples = try Self.parse(scrape.body, in: cluster.root)
        #expect((samples["bulwark_collector_batches_accepted_total{}"] ?? 0) >= 3)
        #expect(samples["bulwark_collector_batches_rejected_total{reason=invalid_json}"] == 1)
        #expect((samples["bulwark_collector_events_duplicate_total{}"] ?? 0) >= 3)
        #expect(samples["bulwark_collector_decisions_total{outcome=blocked,surface=paste}"] == 2, "\(samples.filter { $0.key.contains("decisions") })")
        #expect(samples["bulwark_collector_decisions_total{outcome=audited,surface=file}"] == 1)
        #expect(samples["bulwark_collector_enforcement_latency_seconds_count{surface=paste}"] == 2)
        #expect(samples["bulwark_collector_enforcement_latency_seconds_bucket{le=0.005,surface=paste}"] == 1)
        #expect(samples["bulwark_collector_enforcement_latency_seconds_bucket{le=0.05,surface=paste}"] == 2)
        #expect(samples["bulwark_collector_agents_enrolled{}"] == 1 && samples["bulwark_collector_agents_connected{}"] == 1)
        #expect(samples["bulwark_collector_agents_stale{}"] == 0)
        #expect((samples["bulwark_collector_batch_ack_seconds_count{}"] ?? 0) >= 3)
        let audit = try await cluster.store().auditEntries(AuditQuery(actor: "loopback"))
        #expect(audit.contains { $0.action == "GET /metrics" && $0.outcome == "ok" }, "the scrape is audited")

        // From a non-loopback address: a token is needed, of role metrics or admin.
        guard let address = try Self.globalAddress() else {
            Issue.record("this machine has no global IPv4 address to scrape from; the token rules were not exercised")
            return
        }
        let resolve = ["--resolve", "localhost:\(cluster.apiPort):\(address)", "https://localhost:\(cluster.apiPort)/metrics"]
        #expect(try cluster.curl(resolve).status == 401)
        #expect(try cluster.curl(["-H", "Authorization: Bearer \(try cluster.apiToken(role: "analyst"))"] + resolve).status == 403)
        let metricsToken = try cluster.apiToken(role: "metrics")
        let remote = try cluster.curl(["-H", "Authorization: Bearer \(metricsToken)"] + resolve)
        #expect(remote.status == 200 && remote.body.contains("bulwark_collector_decisions_total"), "\(remote.status) \(remote.body.prefix(200))")
        #expect(try cluster.curl(["-H", "Authorization: Bearer \(try cluster.apiToken(role: "admin"))"] + resolve).status == 200)
        // A metrics token reads nothing else.
        let refused = try cluster.curl(["-H", "Authorization: Bearer \(metricsToken)", "\(cluster.apiURL)/api/v1/events"])
        #expect(refused.status == 403)
    }

    @Test("agent: off by default; on a loopback address it serves the spool, uploads and a real file-guard decision with its latency; a non-loopback address is refused")
    func agent() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let guarded = cluster.root + "/guarded"
        try Cluster.mountTmpfs(at: guarded, megabytes: 16)
        cluster.mounts.append(guarded)
        let port = freePort()
        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig
            .replacingOccurrences(of: "file_guard: false", with: "file_guard: true\nfile_paths: [\(guarded)]\nmetrics_listen: 127.0.0.1:\(port)"))
        try agent.startAndSelftest()
        defer { agent.stop() }
        try agent.process?.waitForLog("file guard watching")

        // A real decision: an AI tool (cat as ollama) refused a file with a card number.
        let ollama = guarded + "/ollama"
        try FileManager.default.copyItem(atPath: URL(fileURLWithPath: "/bin/cat").resolvingSymlinksInPath().path, toPath: ollama)
        try Data("Customer card 4556 7375 8689 9855 exp 12/28\n".utf8).write(to: URL(fileURLWithPath: guarded + "/cards.txt"))
        #expect(try run(ollama, [guarded + "/cards.txt"]).status != 0)

        var samples: [String: Double] = [:]
        try await eventually("the agent's metrics show the decision and an acknowledged upload", timeout: 30) {
            let scrape = try run("curl", ["-sS", "http://127.0.0.1:\(port)/metrics"])
            samples = try Self.parse(scrape.stdout, in: cluster.root)
            return samples["bulwark_agent_decisions_total{outcome=blocked,surface=file}"] == 1 && (samples["bulwark_agent_uploads_total{outcome=acked}"] ?? 0) >= 2
        }
        #expect(samples["bulwark_agent_enforcement_latency_seconds_count{surface=file}"] == 1)
        #expect(samples["bulwark_agent_dropped_events{}"] == 0)
        #expect(samples["bulwark_agent_spool_events{}"] != nil && samples["bulwark_agent_spool_bytes{}"] != nil)
        #expect((samples["bulwark_agent_last_ack_timestamp_seconds{}"] ?? 0) > Date().timeIntervalSince1970 - 600)
        #expect(try run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/other"]).stdout == "404")

        // Off by default: the shipped configuration serves nothing; only loopback addresses are allowed.
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("agent/agent.yaml").path
        #expect(try String(contentsOfFile: shipped, encoding: .utf8).contains("\nmetrics_listen: \"\"\n"))
        let open = cluster.root + "/open.yaml"
        try "metrics_listen: 0.0.0.0:9464\n".write(toFile: open, atomically: true, encoding: .utf8)
        let check = try cluster.agentCLI(["config", "check", open])
        #expect(check.status == 1 && check.stderr.contains("open.yaml:1:17: metrics_listen must be HOST:PORT on a loopback address"), "\(check.output)")
    }
}
