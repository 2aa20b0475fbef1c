import BulwarkCollector
import BulwarkCore
import Foundation
import Testing

/// The deployment's policy pushed from an admin's workstation to a running agent: checked on the
/// collector, installed by the agent within seconds and reported back, refused by the agent (and
/// said so) when it cannot load there, diffed and rolled back.
@Suite("End to end: policy versions", .serialized)
struct PolicyTests {
    @Test("push (a broken one refused with line and column) → the agent installs it and reports the version; one the agent cannot load is refused there and reported; diff; rollback")
    func pushAndRollback() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent()
        try agent.startAndSelftest()
        defer { agent.stop() }
        let agentID = try agent.agentID
        let admin = try cluster.cliEnvironment(role: "admin")
        func bulwark(_ arguments: [String], as role: [String: String]? = nil) throws -> CommandResult {
            try run(Binaries.path("bulwark"), arguments, environment: role ?? admin)
        }
        func write(_ text: String, _ name: String) throws -> String {
            let path = cluster.root + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        let store = try cluster.store()
        func reported() async throws -> Int? { try await store.agent(id: agentID)?.policyVersion }

        let broken = try write(DefaultPolicy.yaml.replacingOccurrences(of: "rules:", with: "rules:\n  - id: x\n    bogus: 1", options: [], range: nil), "broken.yaml")
        let refused = try bulwark(["policy", "push", broken, "--comment", "typo"])
        #expect(refused.status == 4 && refused.stderr.contains("invalid_policy") && refused.stderr.contains("unknown key 'bogus'"), "\(refused.output)")
        let line = refused.stderr.range(of: #"policy:[0-9]+:[0-9]+"#, options: .regularExpression).map { String(refused.stderr[$0]) }
        #expect(line != nil, "line and column: \(refused.stderr)")
        #expect(try bulwark(["policy", "push", broken, "--comment", "x"], as: try cluster.cliEnvironment(role: "analyst")).status == 3, "admins only")

        let first = DefaultPolicy.yaml.replacingOccurrences(of: "name: bulwark-default", with: "name: acme-v1")
        #expect(first != DefaultPolicy.yaml, "the default policy names itself bulwark-default")
        let pushed = try bulwark(["policy", "push", try write(first, "v1.yaml"), "--comment", "acme's first policy"])
        #expect(pushed.status == 0 && pushed.stdout.contains("version 1"), "\(pushed.output)")
        try await eventually("the agent reporting policy v1", timeout: 30) { try await reported() == 1 }
        #expect(try String(contentsOfFile: agent.directory + "/policy.yaml", encoding: .utf8) == first)
        try agent.process?.waitForLog("source=\"collector policy v1\"")
        let agents = try bulwark(["agents"])
        #expect(agents.stdout.contains("v1"), "\(agents.stdout)")

        // Parses on the collector, but names an EDM table this machine does not have: the agent
        // keeps v1 and says why.
        let second = first.replacingOccurrences(of: "name: acme-v1", with: "name: acme-v2\nclassifiers:\n  - {id: customers, kind: edm, file: customers.edm}")
        #expect(try bulwark(["policy", "push", try write(second, "v2.yaml"), "--comment", "customer EDM"]).status == 0)
        var health: [StoredEvent] = []
        try await eventually("the agent's refusal at the collector", timeout: 30) {
            health = try await store.events(EventQuery(type: EventType.agentHealth, agent: agentID)).filter { $0.data["component"] == "policy" }
            return !health.isEmpty
        }
        #expect("\(health[0].data["message"] ?? .null)".contains("customers.edm"), "\(health[0].data)")
        #expect(try await reported() == 1, "still on v1")
        #expect(try String(contentsOfFile: agent.directory + "/policy.yaml", encoding: .utf8) == first)

        let diff = try bulwark(["policy", "diff", "1", "2"])
        #expect(diff.stdout.contains("--- policy v1\n+++ policy v2\n") && diff.stdout.contains("-name: acme-v1\n+name: acme-v2\n+classifiers:"), "\(diff.stdout)")
        let listed = try bulwark(["policy", "list", "--csv"])
        #expect(listed.stdout.contains("\r\n2,acme-v2,0,") && listed.stdout.contains("\r\n1,acme-v1,1,"), "\(listed.stdout)")

        let rollback = try bulwark(["policy", "rollback", "1", "--comment", "EDM table not deployed yet"])
        #expect(rollback.status == 0 && rollback.stdout.contains("version 3 restores version 1"), "\(rollback.output)")
        try await eventually("the agent reporting policy v3", timeout: 30) { try await reported() == 3 }
        #expect(try bulwark(["policy", "show"]).stdout == first)
        #expect(try bulwark(["policy", "diff", "1"]).stdout.contains("(no difference)"))
        let again = try bulwark(["policy", "rollback", "1", "--comment", "twice"])
        #expect(again.status == 4 && again.stderr.contains("already_current"), "\(again.output)")
    }
}
