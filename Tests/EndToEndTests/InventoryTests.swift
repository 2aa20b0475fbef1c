import BulwarkAgent
import BulwarkCore
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
        let audit = try await cluster.store().auditEntries(limit: 100)
        #expect(audit.contains { $0.action == "PUT /api/v1/apps/chatgpt/state" && $0.outcome == "ok" })
    }
}
