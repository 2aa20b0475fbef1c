import BulwarkAgent
import BulwarkCore
import BulwarkCollector
import Foundation
import Testing

/// The discovered-AI inventory on the collector: two agents with different evidence, through the
/// real upload pipeline, read and changed with the real `bulwark` CLI.
@Suite("End to end: discovered-AI inventory", .serialized)
struct InventoryTests {
    @Test("two agents' evidence builds the inventory (devices, users, evidence, DLP outcomes); analysts set states with a reason, helpdesk may not")
    func inventory() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let alpha = try cluster.enrollAgent(name: "alpha")
        let beta = try cluster.enrollAgent(name: "beta", token: try cluster.enrollToken())

        // Evidence each agent's sensors would have spooled, through the agents' real spools.
        func spool(_ agent: AgentHandle, _ events: [(String, [String: JSONValue])]) throws {
            let store = try SpoolStore(path: agent.directory + "/spool.db")
            for (type, data) in events {
                try EventCatalog.standard.validate(Event(seq: 1, time: Date(), type: type, v: 1, data: data))
                _ = try store.append([EventDraft(type: type, data: data)])
            }
        }
        func process(_ app: String, _ category: String, user: String) -> (String, [String: JSONValue]) {
            (EventType.aiProcessStarted, ["app": .string(app), "category": .string(category), "pid": 4242, "exe": .string("/usr/bin/\(app)"),
                                          "uid": 1000, "evidence": "process", "user": .string(user)])
        }
        try spool(alpha, [
            process("claude-code", "ai_coding", user: "alice"),
            (EventType.paste("blocked"), ["incident_id": "BW-0123456789", "selection": "CLIPBOARD", "target": "UTF8_STRING", "findings": .array([]),
                                          "latency_ms": 0.2, "app": "chatgpt", "category": "consumer_ai", "user": "alice"]),
        ])
        try spool(beta, [
            process("claude-code", "ai_coding", user: "bob"),
            (EventType.aiListenerStarted, ["app": "ollama", "category": "local_llm", "port": 11434, "evidence": "listener", "confirmed_by": "probe",
                                           "models": .array([.string("llama3.2:1b")])]),
        ])
        try alpha.startAndSelftest()
        try beta.startAndSelftest()

        let analyst = ProcessInfo.processInfo.environment.merging([
            "BULWARK_API": cluster.apiURL, "BULWARK_CA": cluster.caPath, "BULWARK_TOKEN": try cluster.apiToken(role: "analyst"),
        ]) { $1 }
        func inventory(_ arguments: [String] = []) throws -> [String: [String: JSONValue]] {
            let result = try run(Binaries.path("bulwark"), ["inventory", "--json"] + arguments, environment: analyst)
            guard result.status == 0, case .object(let body)? = try? JSONDecoder().decode(JSONValue.self, from: Data(result.stdout.utf8)),
                  case .array(let apps)? = body["apps"] else { throw TestFailure.command("bulwark inventory: \(result.output)") }
            var byID: [String: [String: JSONValue]] = [:]
            for case .object(let app) in apps { if case .string(let id)? = app["id"] { byID[id] = app } }
            return byID
        }
        let apps = try inventory()
        #expect(Set(apps.keys) == ["claude-code", "chatgpt", "ollama"])
        #expect(apps["claude-code"]?["devices"] == 2)
        #expect(apps["claude-code"]?["users"] == 2)
        #expect(apps["claude-code"]?["evidence"] == .object(["process": 2]))
        #expect(apps["claude-code"]?["state"] == "unreviewed")
        #expect(apps["chatgpt"]?["actions"] == .object(["blocked": 1]))
        #expect(apps["chatgpt"]?["evidence"] == .object(["paste": 1]))
        #expect(apps["ollama"]?["devices"] == 1)
        #expect(apps["ollama"]?["users"] == 0)
        #expect(apps["ollama"]?["category"] == "local_llm")
        // Risk from the catalog's facts, kept on the row and filterable.
        #expect(apps["chatgpt"]?["risk"] == 5.5)
        #expect(apps["ollama"]?["risk"] == 0.5)
        #expect(apps["claude-code"]?["risk"] == 6.0, "nothing assessed: unknown facts")
        #expect(Set(try inventory(["--min-risk", "5"]).keys) == ["chatgpt", "claude-code"])
        #expect(Set(try inventory(["--min-risk", "5.8"]).keys) == ["claude-code"])
        #expect(Set(try inventory(["--category", "local_llm"]).keys) == ["ollama"])
        let badRisk = try run(Binaries.path("bulwark"), ["inventory", "--min-risk", "11"], environment: analyst)
        #expect(badRisk.status != 0 && badRisk.output.contains("min_risk must be a number from 0 to 10"))
        let badCategory = try run(Binaries.path("bulwark"), ["inventory", "--category", "chat"], environment: analyst)
        #expect(badCategory.status != 0 && badCategory.output.contains("category must be one of"))

        // Per user: the apps each person used, on any device.
        let alice = try run(Binaries.path("bulwark"), ["inventory", "--user", "alice"], environment: analyst).stdout
        #expect(alice.contains("\"chatgpt\"") && alice.contains("\"claude-code\"") && !alice.contains("\"ollama\""))
        let bob = try run(Binaries.path("bulwark"), ["inventory", "--user", "bob"], environment: analyst).stdout
        #expect(bob.contains("\"claude-code\"") && !bob.contains("\"chatgpt\""))
        #expect(try run(Binaries.path("bulwark"), ["inventory", "--user", "mallory"], environment: analyst).output.contains("user_not_found"))

        // The catalog's facts behind a score, with their sources.
        let chatgpt = try run(Binaries.path("bulwark"), ["apps", "show", "chatgpt"], environment: analyst)
        #expect(chatgpt.status == 0, "\(chatgpt.output)")
        #expect(chatgpt.stdout.contains("risk 5.5/10"))
        #expect(chatgpt.stdout.contains("trains_on_user_data") && chatgpt.stdout.contains("OpenAI privacy policy"))
        #expect(chatgpt.stdout.contains("BW-") == false, "no incident content in the app view")
        let catalog = try run(Binaries.path("bulwark"), ["catalog", "--min-risk", "9"], environment: analyst)
        #expect(catalog.status == 0 && catalog.stdout.contains("deepseek") && !catalog.stdout.contains("chatgpt"), "\(catalog.output)")
        #expect(try run(Binaries.path("bulwark"), ["apps", "show", "no-such-app"], environment: analyst).output.contains("neither in the catalog nor seen"))

        let detail = try run(Binaries.path("bulwark"), ["apps", "show", "claude-code"], environment: analyst)
        let (alphaID, betaID) = (try alpha.agentID, try beta.agentID)
        #expect(detail.stdout.contains(alphaID) && detail.stdout.contains(betaID))
        #expect(detail.stdout.contains("\"alice\"") && detail.stdout.contains("\"bob\""))

        // Analysts decide; every change needs a reason and is audited.
        let alphaView = try run(Binaries.path("bulwark"), ["inventory", "--device", alphaID], environment: analyst)
        #expect(alphaView.stdout.contains("\"chatgpt\"") && alphaView.stdout.contains("\"claude-code\"") && !alphaView.stdout.contains("\"ollama\""))
        #expect(try run(Binaries.path("bulwark"), ["inventory", "--device", "nosuchagent"], environment: analyst).output.contains("agent_not_found"))

        let set = try run(Binaries.path("bulwark"), ["apps", "set-state", "chatgpt", "unsanctioned", "--reason", "consumer tier trains on inputs"], environment: analyst)
        #expect(set.status == 0, "\(set.output)")
        #expect(Set(try inventory(["--state", "unsanctioned"]).keys) == ["chatgpt"])
        // Both agents pull the new state within seconds (their policy bundle).
        for agent in [alpha, beta] {
            let deadline = Date().addingTimeInterval(10)
            while !((try? String(contentsOfFile: agent.directory + "/app-states.json", encoding: .utf8))?.contains(#""chatgpt":"unsanctioned""#) ?? false) {
                if Date() > deadline { throw TestFailure.timeout("app state reaching \(agent.directory)") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(try inventory()["chatgpt"]?["state_reason"] == "consumer tier trains on inputs")
        let invalid = try run(Binaries.path("bulwark"), ["apps", "set-state", "chatgpt", "banned", "--reason", "x"], environment: analyst)
        #expect(invalid.status != 0 && invalid.output.contains("invalid_state"))

        var helpdesk = analyst
        helpdesk["BULWARK_TOKEN"] = try cluster.apiToken(role: "helpdesk")
        let refused = try run(Binaries.path("bulwark"), ["apps", "set-state", "chatgpt", "sanctioned", "--reason", "x"], environment: helpdesk)
        #expect(refused.status != 0 && refused.output.contains("role_forbidden"))
        #expect(try run(Binaries.path("bulwark"), ["inventory"], environment: helpdesk).stdout.contains("claude-code"))
        let audit = try await cluster.store().auditEntries(AuditQuery(limit: 100))
        #expect(audit.contains { $0.action == "PUT /api/v1/apps/chatgpt/state" && $0.outcome == "ok" })
    }

    @Test("a deployment's catalog override names, scores and is distributed: an agent discovers an app only the override knows; a bad override stops the collector with the fault")
    func catalogOverride() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig.replacingOccurrences(of: "process_sensor: false", with: "process_sensor: true"))
        try agent.start()

        let override = """
            apps:
              - id: acme-assistant
                name: Acme Assistant
                vendor: Acme
                category: ai_coding
                executables: [acme-assistant]
                risk:
                  trains_on_user_data: {value: true, source: "Acme terms of service, 2026-10"}
                  data_region: {value: CN, source: "Acme privacy notice, 2026-10"}
            remove: [character-ai]
            """
        try override.write(toFile: cluster.dataDir + "/catalog.yaml", atomically: true, encoding: .utf8)
        let check = try cluster.collectorCLI(["catalog", "check", "--data", cluster.dataDir])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.stdout.contains("added:    acme-assistant") && check.stdout.contains("removed:  character-ai"))
        // 1 + 3 + 1 + 0.5 + 0.5 + 2 + 0.5
        #expect(check.stdout.contains("acme-assistant: risk 8.5"))
        cluster.stopCollector()
        try cluster.startCollector()

        // The agent pulls the override with its policy bundle and applies it to its sensors.
        try await eventually("the override reaching the agent", timeout: 15) {
            (try? String(contentsOfFile: agent.directory + "/app-states.json", encoding: .utf8))?.contains("acme-assistant") ?? false
        }
        let tools = cluster.root + "/tools"
        try FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/usr/bin/sleep", toPath: tools + "/acme-assistant")
        let tool = try ChildProcess(tools + "/acme-assistant", ["60"], logPath: cluster.root + "/acme.log")
        defer { tool.kill9() }
        let analyst = ProcessInfo.processInfo.environment.merging([
            "BULWARK_API": cluster.apiURL, "BULWARK_CA": cluster.caPath, "BULWARK_TOKEN": try cluster.apiToken(role: "analyst"),
        ]) { $1 }
        try await eventually("acme-assistant in the inventory", timeout: 20) {
            try run(Binaries.path("bulwark"), ["inventory", "--csv"], environment: analyst).stdout.contains("acme-assistant,Acme Assistant,ai_coding,8.5,")
        }
        let shown = try run(Binaries.path("bulwark"), ["apps", "show", "acme-assistant"], environment: analyst)
        #expect(shown.stdout.contains("Acme terms of service, 2026-10"))
        #expect(try run(Binaries.path("bulwark"), ["apps", "show", "character-ai"], environment: analyst).output.contains("neither in the catalog"))
        agent.stop()

        // A broken override: the collector refuses to start and says what to fix.
        try "apps:\n  - {id: acme, name: Acme, category: chatbot}\n".write(toFile: cluster.dataDir + "/catalog.yaml", atomically: true, encoding: .utf8)
        cluster.stopCollector()
        #expect(throws: (any Error).self) { try cluster.startCollector() }
        let log = (try? String(contentsOfFile: cluster.root + "/collector-3.log", encoding: .utf8)) ?? ""
        #expect(log.contains("catalog override \(cluster.dataDir)/catalog.yaml: app #1 (acme): category 'chatbot' is not one of"), "\(log)")
    }
}
