import BulwarkCollector
import BulwarkCore
import Foundation
import Testing

/// Adaptive protection end to end: a user's blocks raise their risk level on the collector, the
/// level reaches the agent with its policy bundle, and a rule scoped to risky users tightens —
/// until helpdesk marks the incidents false positives and the level falls again.
@Suite("End to end: adaptive protection", .serialized)
struct AdaptiveProtectionTests {
    @Test("three blocks make the user elevated: a medium-confidence card file the policy only audits is then blocked by the rule for risky users; false positives lower the level and it is allowed again")
    func riskTightensAndRelaxes() async throws {
        let guarded = try FileGuardTests.Guarded()
        defer { guarded.stop() }
        let cluster = guarded.cluster
        let admin = try cluster.cliEnvironment(role: "admin")
        func bulwark(_ arguments: [String]) throws -> CommandResult { try run(Binaries.path("bulwark"), arguments, environment: admin) }

        // The default policy plus: medium-confidence cards are blocked for risky users' AI tools.
        let policy = DefaultPolicy.yaml + """

              - id: block-medium-confidence-pii-to-ai-tools-for-risky-users
                when:
                  types: [credit_card]
                  min_confidence: medium
                activities: [file_read_by_ai_tool]
                scope:
                  risk: [elevated, high]
                action: block
                message: Your risk level is raised; AI tools may not read files with card numbers for now.

            """
        let policyFile = cluster.root + "/adaptive.yaml"
        try Data(policy.utf8).write(to: URL(fileURLWithPath: policyFile))
        let pushed = try bulwark(["policy", "push", policyFile, "--comment", "adaptive protection"])
        #expect(pushed.status == 0, "\(pushed.output)")
        try guarded.agent.process?.waitForLog("source=\"collector policy v1\"")

        let ollama = try guarded.tool("ollama")
        let medium = try guarded.write("4556 7375 8689 9855\n", to: "numbers.txt")  // a valid card number, no card words: medium
        let high = try guarded.write(FileGuardTests.card, to: "customers.txt")
        #expect(try run(ollama, [medium]).status == 0, "low risk: the medium file is only audited")
        for _ in 0..<3 { #expect(try run(ollama, [high]).status != 0) }

        try await eventually("the medium file blocked once the user is elevated", timeout: 60, interval: 0.5) { try run(ollama, [medium]).status != 0 }
        let tightened = try #require(try await guarded.waitForEvents("blocked") { $0.data["path"] == .string(medium) }.first)
        #expect(tightened.data["rule"] == "block-medium-confidence-pii-to-ai-tools-for-risky-users")
        #expect(tightened.data["user_risk"] == "elevated")
        let risk = try bulwark(["risk", "--user", "root", "--csv"])
        #expect(risk.stdout.contains("\r\nroot,elevated,4,0,"), "\(risk.output)")

        // Helpdesk finds the blocks were false positives: the level falls, the rule stops applying.
        let incidents = try await guarded.store.incidents(IncidentQuery(limit: 100))
        #expect(incidents.count == 4)
        for incident in incidents {
            #expect(try bulwark(["incidents", "resolve", incident.id, "--false-positive", "--note", "test data"]).status == 0)
        }
        #expect(try bulwark(["risk", "--user", "root", "--csv"]).stdout.contains("\r\nroot,low,0,0,"))
        // No reads meanwhile: each would be a new block keeping the level up. The agent has the
        // new level once the bundle it keeps on disk lists no risky user.
        try await eventually("the agent pulling the lowered level", timeout: 60, interval: 0.5) {
            let bundle = (try? String(contentsOfFile: guarded.agent.directory + "/app-states.json", encoding: .utf8)) ?? "user_risk"
            return !bundle.contains("user_risk")
        }
        #expect(try run(ollama, [medium]).status == 0, "low again: the medium file is only audited")
    }
}
