import BulwarkCollector
import BulwarkCore
import Foundation
import Testing
import BulwarkTestSupport

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

    @Test("collector: SIGHUP applies a changed collector.yaml (a smaller batch limit, seen in its metrics) after in-flight batches finish, on the same ports, while agents lose nothing; a broken file is refused and it keeps serving")
    func collectorReload() async throws {
        let cluster = try Cluster()
        let config = cluster.root + "/collector.yaml"
        try "stale_after: 600\n".write(toFile: config, atomically: true, encoding: .utf8)
        cluster.collectorArguments = ["--config", config]
        try cluster.startCollector()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent()
        try agent.startAndSelftest()
        defer { agent.stop() }
        let collector = try #require(cluster.collector)

        try "stale_after: 600\nmax_events_per_batch: 50\n".write(toFile: config, atomically: true, encoding: .utf8)
        collector.signal(SIGHUP)
        try collector.waitForLog("configuration reloaded")
        try await eventually("the listeners again", timeout: 20) { collector.log.components(separatedBy: "api listener ready").count - 1 == 2 }
        #expect(try agent.cli(["selftest", "--count", "300"]).status == 0, "every event delivered under the new limit")
        let metrics = try cluster.curl(["\(cluster.apiURL)/metrics"]).body
        #expect(metrics.contains("bulwark_collector_batches_rejected_total{reason=\"too_many_events\"}"), "the 50-event limit is in force")
        let store = try cluster.store()
        let agentID = try agent.agentID
        #expect(try await store.events(EventQuery(type: EventType.selftest, agent: agentID, limit: 1000)).count == 301)

        try "stale_after: 600\nmax_events_per_batch: 50\nretention_dayz: 3\n".write(toFile: config, atomically: true, encoding: .utf8)
        collector.signal(SIGHUP)
        try collector.waitForLog("keeping the configuration in force")
        #expect(collector.log.contains("SIGHUP: \(config):3:1: unknown key 'retention_dayz'"), "\(collector.log.suffix(1500))")
        #expect(collector.isRunning)
        #expect(try agent.cli(["selftest"]).status == 0)
    }
}
