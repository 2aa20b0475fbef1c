import Foundation
import Testing

/// `bulwark-agent doctor` as root against real deployments: every line ok on a healthy agent
/// with a session helper guarding an X server; each broken dependency a FAIL that says what to do.
@Suite("End to end: bulwark-agent doctor (system)", .serialized)
struct SystemDoctorTests {
    static func doctor(_ agent: AgentHandle, _ extra: [String] = []) throws -> CommandResult {
        try run(Binaries.path("bulwark-agent"), ["doctor", "--state", agent.directory, "--config", agent.configPath] + extra, timeout: 60)
    }

    static func line(_ result: CommandResult, _ name: String) -> String {
        result.stdout.split(separator: "\n").first { $0.contains("] \(name):") }.map(String.init) ?? "(no \(name) line in:\n\(result.output))"
    }

    @Test("healthy: enrollment, certificate, collector (TLS, clock in step), service, spool, policy, fanotify, process events and the connected helper with its display are ok; exit 0")
    func healthy() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let socket = cluster.root + "/run/session.sock"
        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig
            .replacingOccurrences(of: "session_socket: \"\"", with: "session_socket: \(socket)")
            .replacingOccurrences(of: "process_sensor: false", with: "process_sensor: true")
            .replacingOccurrences(of: "file_guard: false", with: "file_guard: true\nfile_paths: [\(cluster.root)/nothing]"))
        try agent.startAndSelftest()
        defer { agent.stop() }
        let x = try XServer(directory: cluster.root)
        defer { x.stop() }
        let helper = try x.client(Binaries.path("bulwark-agent"), ["session", "--socket", socket, "--display", x.display], logPath: cluster.root + "/session.log")
        defer { helper.kill9() }
        try helper.waitForLog("policy 'bulwark-default' from the agent")

        var result = try Self.doctor(agent)
        let deadline = Date().addingTimeInterval(10)
        while !Self.line(result, "session helpers").hasPrefix("[ok]"), Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
            result = try Self.doctor(agent)
        }
        #expect(result.status == 0, "\(result.output)")
        for name in ["configuration", "enrollment", "certificate", "collector", "service", "spool", "policy", "fanotify", "process events", "session helpers"] {
            #expect(Self.line(result, name).hasPrefix("[ok] "), "\(Self.line(result, name))")
        }
        #expect(Self.line(result, "collector").contains("clock in step") || Self.line(result, "collector").contains(" s ahead") || Self.line(result, "collector").contains(" s behind"))
        #expect(Self.line(result, "enrollment").contains(try agent.agentID))
        #expect(Self.line(result, "session helpers").contains("1 connected") && Self.line(result, "session helpers").contains(x.display), "\(Self.line(result, "session helpers"))")
        let json = try Self.doctor(agent, ["--json"])
        let checks = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: String]])
        #expect(checks.count == 10 && checks.allSatisfy { $0["status"] == "ok" })
    }

    @Test("broken: collector down, agent stopped, agent.yaml with a typo, certificate expired, agent revoked, not enrolled — each a FAIL line with the fix, exit 1")
    func broken() async throws {
        let cluster = try Cluster()
        cluster.collectorArguments = ["--agent-cert-days", "0.0001"]  // 8.6 seconds
        try cluster.startCollector()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent()

        // Never started: the service fails; the rest is fine.
        var result = try Self.doctor(agent)
        #expect(result.status == 1)
        #expect(Self.line(result, "service").contains("[FAIL] service: the agent is not running") && Self.line(result, "service").contains("systemctl enable --now bulwark-agent"))
        #expect(Self.line(result, "collector").hasPrefix("[ok]"), "\(Self.line(result, "collector"))")

        // A typo in agent.yaml: where and what.
        try (Cluster.fastAgentConfig + "\nheartbeat_intervall: 5\n").write(toFile: agent.configPath, atomically: true, encoding: .utf8)
        result = try Self.doctor(agent)
        #expect(Self.line(result, "configuration").contains("[FAIL] configuration: \(agent.configPath):14:1: unknown key 'heartbeat_intervall'"), "\(Self.line(result, "configuration"))")
        try Cluster.fastAgentConfig.write(toFile: agent.configPath, atomically: true, encoding: .utf8)

        // Collector down.
        cluster.stopCollector()
        result = try Self.doctor(agent)
        #expect(Self.line(result, "collector").hasPrefix("[FAIL] collector: collector unreachable") && Self.line(result, "collector").contains("events wait in the spool"), "\(Self.line(result, "collector"))")
        cluster.collectorArguments = []
        try cluster.startCollector()

        // Expired (8.6 s certificates, and the agent is not running to renew it).
        try await Task.sleep(for: .seconds(9))
        result = try Self.doctor(agent)
        #expect(Self.line(result, "certificate").hasPrefix("[FAIL] certificate: expired") && Self.line(result, "certificate").contains("re-enroll"), "\(Self.line(result, "certificate"))")

        // Revoked: the collector refuses it.
        let fresh = try cluster.enrollAgent(name: "second")
        #expect(try cluster.collectorCLI(["agent", "revoke", "--data", cluster.dataDir, try fresh.agentID]).status == 0)
        try await Task.sleep(for: .seconds(1.5))  // revocation is effective within a second
        result = try Self.doctor(fresh)
        #expect(Self.line(result, "collector").hasPrefix("[FAIL] collector:") && Self.line(result, "collector").contains("re-enroll"), "\(Self.line(result, "collector"))")

        // Not enrolled; and with unattended settings, only a warning that it will enroll.
        let empty = AgentHandle(cluster: cluster, directory: cluster.root + "/empty")
        try FileManager.default.createDirectory(atPath: empty.directory, withIntermediateDirectories: true)
        try Cluster.fastAgentConfig.write(toFile: empty.configPath, atomically: true, encoding: .utf8)
        result = try Self.doctor(empty)
        #expect(result.status == 1 && Self.line(result, "enrollment").hasPrefix("[FAIL] enrollment: not enrolled"), "\(result.output)")
        try (Cluster.fastAgentConfig + "\ncollector: \(cluster.collectorURL)\nenroll_token: bwe_x\nca_sha256: \(cluster.fingerprint)\n")
            .write(toFile: empty.configPath, atomically: true, encoding: .utf8)
        result = try Self.doctor(empty)
        #expect(Self.line(result, "enrollment").hasPrefix("[warn] enrollment: not enrolled yet; the service enrolls with \(cluster.collectorURL)"), "\(result.output)")
    }
}
