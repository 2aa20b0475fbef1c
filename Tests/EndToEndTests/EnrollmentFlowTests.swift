import BulwarkCollector
import BulwarkCore
import Foundation
import Testing

@Suite("End to end: enrollment and selftest", .serialized)
struct EnrollmentFlowTests {
    @Test("init → token → enroll → run → selftest acknowledged; agent listed by /api/v1/agents")
    func enrollRunSelftest() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent()
        let agentID = try agent.agentID
        #expect(agentID.count == 32)

        // The private key never leaves owner-only permissions.
        #expect(SecureFile.permissions(of: agent.keyPath) == 0o600)
        #expect(SecureFile.permissions(of: cluster.dataDir + "/ca-key.pem") == 0o600)
        #expect(SecureFile.permissions(of: cluster.dataDir + "/server-key.pem") == 0o600)
        #expect(SecureFile.permissions(of: cluster.dataDir + "/hmac.key") == 0o600)
        // The deployment's keyed-hash key reaches the agent (for HMACs in telemetry and EDM), 0600 there too.
        #expect(SecureFile.permissions(of: agent.directory + "/hash.key") == 0o600)
        #expect(FileManager.default.contents(atPath: agent.directory + "/hash.key") == FileManager.default.contents(atPath: cluster.dataDir + "/hmac.key"))

        try agent.start()
        let selftest = try agent.cli(["selftest", "--timeout", "30"])
        #expect(selftest.status == 0, "selftest: \(selftest.output)")
        #expect(selftest.stdout.contains("acknowledged by the collector"))

        let token = try cluster.apiToken(role: "helpdesk")
        let (status, body, _) = try cluster.curl(["-H", "Authorization: Bearer \(token)", "\(cluster.apiURL)/api/v1/agents"])
        #expect(status == 200)
        let agents = try WireCoding.decoder().decode([String: [AgentRecord]].self, from: Data(body.utf8))["agents"] ?? []
        #expect(agents.map(\.id) == [agentID])
        #expect(agents.first?.lastSeen != nil)

        let events = try await cluster.store().events(EventQuery(type: EventType.selftest, agent: agentID))
        #expect(events.count == 1)

        // The role matters: an unknown token and a revoked one are refused; list shows the state.
        let listed = try cluster.collectorCLI(["api-token", "list", "--data", cluster.dataDir])
        let tokenID = String(SecretToken.hash(token).prefix(12))
        #expect(listed.stdout.contains(tokenID) && listed.stdout.contains("helpdesk"))
        #expect(try cluster.collectorCLI(["api-token", "revoke", "--data", cluster.dataDir, tokenID]).status == 0)
        let revoked = try cluster.curl(["-H", "Authorization: Bearer \(token)", "\(cluster.apiURL)/api/v1/agents"])
        #expect(revoked.status == 401)
        #expect(revoked.body.contains("token_invalid"))
        let audit = try await cluster.store().auditEntries(AuditQuery(limit: 50))
        #expect(audit.contains { $0.actor == "token:test-helpdesk" && $0.action == "GET /api/v1/agents" && $0.outcome == "ok" })

        // Independent checks with openssl alone (certs/): the pinned fingerprint and the agent ID.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let fingerprint = try run(root.appendingPathComponent("certs/fingerprint.sh").path, [cluster.caPath])
        #expect(fingerprint.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == cluster.fingerprint)
        let independentID = try run(root.appendingPathComponent("certs/agent-id.sh").path, [agent.certificatePath])
        #expect(independentID.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == agentID)

        // Without a token the API refuses, with the documented code.
        let refused = try cluster.curl(["\(cluster.apiURL)/api/v1/agents"])
        #expect(refused.status == 401)
        #expect(refused.body.contains("token_required"))

        // The status command sees the running agent and an empty spool.
        let statusText = try agent.cli(["status"])
        #expect(statusText.stdout.contains("reachable"))
        #expect(statusText.stdout.contains("running"))
        agent.stop()
    }

    @Test("the bulwark CLI lists agents and events through the API, and says what is missing")
    func analystCLI() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent()
        let agentID = try agent.agentID
        try agent.startAndSelftest()
        let environment = ProcessInfo.processInfo.environment.merging([
            "BULWARK_API": cluster.apiURL, "BULWARK_CA": cluster.caPath, "BULWARK_TOKEN": try cluster.apiToken(role: "analyst"),
        ]) { $1 }
        let agents = try run(Binaries.path("bulwark"), ["agents"], environment: environment)
        #expect(agents.status == 0, "\(agents.output)")
        #expect(agents.stdout.contains(agentID) && agents.stdout.contains(" ok"), "\(agents.stdout)")
        let events = try run(Binaries.path("bulwark"), ["events", "--type", "agent.selftest"], environment: environment)
        #expect(events.stdout.contains("agent.selftest") && events.stdout.hasPrefix("ID  "), "\(events.stdout)")
        #expect(!events.stdout.contains("agent.heartbeat"))
        let badSince = try run(Binaries.path("bulwark"), ["events", "--since", "yesterday"], environment: environment)
        #expect(badSince.status != 0)
        #expect(badSince.output.contains("invalid_parameter"))
        var noToken = environment
        noToken["BULWARK_TOKEN"] = nil
        let missing = try run(Binaries.path("bulwark"), ["agents"], environment: noToken)
        #expect(missing.status != 0)
        #expect(missing.output.contains("BULWARK_TOKEN"))
        agent.stop()
    }

    @Test("init refuses to overwrite an existing deployment")
    func initRefusesOverwrite() throws {
        let cluster = try Cluster()
        let again = try cluster.collectorCLI(["init", "--data", cluster.dataDir])
        #expect(again.status != 0)
        #expect(again.output.contains("refusing to overwrite"))
    }

    @Test("re-enrolling the same key is idempotent and uses no extra token use")
    func reenrollIdempotent() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let token = try cluster.enrollToken(uses: 1)
        let agent = try cluster.enrollAgent(token: token)
        let first = try agent.agentID
        let again = try cluster.agentCLI(["enroll", "--state", agent.directory, "--collector", cluster.collectorURL, "--token", token, "--ca-sha256", cluster.fingerprint])
        #expect(again.status == 0, "\(again.output)")
        #expect(try agent.agentID == first)
        let agents = try await cluster.store().agents()
        #expect(agents.count == 1)
    }

    @Test("enrollment refuses a collector whose CA does not match the pinned fingerprint")
    func pinnedFingerprintMismatch() throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let wrong = String(repeating: "ab", count: 32)
        let result = try cluster.agentCLI(["enroll", "--state", cluster.root + "/pinned", "--collector", cluster.collectorURL, "--token", try cluster.enrollToken(), "--ca-sha256", wrong])
        #expect(result.status != 0)
        #expect(result.output.contains("was pinned"))
        #expect(!FileManager.default.fileExists(atPath: cluster.root + "/pinned/agent.pem"))
    }
}

@Suite("End to end: bulwark-agent scan")
struct ScanCommandTests {
    @Test("scan prints the documented JSON shape for a file and for standard input, without raw values")
    func scanJSON() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("scan-\(UUID()).txt").path
        try "Card number 4526 0181 5908 3012\nSSN: 536-22-1904\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try run(Binaries.path("bulwark-agent"), ["scan", "--json", path])
        #expect(result.status == 0)
        let parsed = try JSONDecoder().decode(ScanResult.self, from: Data(result.stdout.utf8))
        #expect(parsed.findings.map(\.type) == ["credit_card", "us_ssn"])
        #expect(parsed.findings.first?.matches.first?.start == 12)
        #expect(parsed.partial == false)
        #expect(!result.stdout.contains("4526 0181 5908 3012") && !result.stdout.contains("536-22-1904"))
        let viaStdin = try run("/bin/sh", ["-c", "\(Binaries.path("bulwark-agent")) scan --json --max-bytes 20 - < \(path)"])
        #expect(try JSONDecoder().decode(ScanResult.self, from: Data(viaStdin.stdout.utf8)).partial == true)
    }
}
