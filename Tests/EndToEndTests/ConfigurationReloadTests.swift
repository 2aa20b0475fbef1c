import BulwarkCollector
import BulwarkCore
import Foundation
import Testing

/// `systemctl reload bulwark-agent` (SIGHUP): a valid agent.yaml applies without a restart and
/// without losing an event; an invalid one is refused with its line and column and the agent
/// carries on as it was.
@Suite("End to end: configuration reload (SIGHUP)", .serialized)
struct ConfigurationReloadTests {
    @Test("SIGHUP applies a changed agent.yaml (metrics switched on) while 300 spooled events all arrive; no stop or tamper is recorded; a broken file is refused and the running settings stay")
    func reload() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent()
        try agent.startAndSelftest()
        defer { agent.stop() }
        let process = try #require(agent.process)
        let port = freePort()
        #expect(try run("curl", ["-sS", "http://127.0.0.1:\(port)/metrics"]).status != 0, "no metrics before the reload")

        // Events in flight across the reload.
        #expect(try agent.cli(["selftest", "--count", "300", "--no-wait"]).status == 0)
        try (Cluster.fastAgentConfig + "\nmetrics_listen: 127.0.0.1:\(port)\n").write(toFile: agent.configPath, atomically: true, encoding: .utf8)
        process.signal(SIGHUP)
        try process.waitForLog("configuration reloaded")
        try process.waitForLog("metrics listening")  // the new settings at work
        #expect(process.isRunning)
        let scrape = try run("curl", ["-sS", "http://127.0.0.1:\(port)/metrics"])
        #expect(scrape.status == 0 && scrape.stdout.contains("bulwark_agent_spool_events"), "\(scrape.output)")
        #expect(try agent.cli(["selftest"]).status == 0)
        let store = try cluster.store()
        let agentID = try agent.agentID
        try await eventually("every selftest event delivered", timeout: 30) {
            try await store.events(EventQuery(type: EventType.selftest, agent: agentID, limit: 1000)).count == 302
        }
        #expect(try await store.events(EventQuery(type: EventType.stopped, agent: agentID)).isEmpty, "a reload is not a stop")
        #expect(try await store.events(EventQuery(type: EventType.tamper, agent: agentID)).isEmpty)

        // A typo: refused with where and why; the agent runs on with what it has.
        try (Cluster.fastAgentConfig + "\nmetrics_listen: 127.0.0.1:\(port)\nheartbeat_intervall: 1\n").write(toFile: agent.configPath, atomically: true, encoding: .utf8)
        process.signal(SIGHUP)
        try process.waitForLog("keeping the configuration in force")
        #expect(process.log.contains("SIGHUP: \(agent.configPath):15:1: unknown key 'heartbeat_intervall'"), "\(process.log.suffix(2000))")
        #expect(process.isRunning)
        #expect(try run("curl", ["-sS", "http://127.0.0.1:\(port)/metrics"]).status == 0, "still serving under the settings in force")
        #expect(try agent.cli(["selftest"]).status == 0)
    }
}
