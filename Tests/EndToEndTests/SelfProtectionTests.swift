import BulwarkCollector
import BulwarkCore
import Foundation
import Testing

/// The agent protecting itself: its resource watchdog, seen from the collector.
@Suite("End to end: agent self-protection", .serialized)
struct SelfProtectionTests {
    @Test("an agent over its memory limit pauses its discovery sensors, reports agent.health (watchdog, degraded) to the collector, and keeps delivering")
    func watchdogDegrades() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent(configuration: Cluster.fastAgentConfig
            .replacingOccurrences(of: "history_interval: 0", with: "history_interval: 1")
            + "\nwatchdog_max_rss_mb: 5\nwatchdog_window: 1\nwatchdog_interval: 0.2\n")
        try agent.startAndSelftest()
        defer { agent.stop() }
        let store = try cluster.store()
        var health: [StoredEvent] = []
        try await eventually("agent.health from the watchdog", timeout: 30) {
            health = try await store.events(EventQuery(type: EventType.agentHealth, agent: try agent.agentID)).filter { $0.data["component"] == "watchdog" }
            return !health.isEmpty
        }
        #expect(health[0].data["status"] == "degraded")
        let message = health[0].data["message"]?.stringValue ?? ""
        #expect(message.contains("over the 5 MB limit") && message.contains("paused the discovery sensors (browser history, daily summary)"), "\(message)")
        #expect(agent.process?.log.contains("paused the discovery sensors") == true)
        // Enforcement and delivery go on.
        #expect(try agent.cli(["selftest"]).status == 0)
        #expect(agent.process?.isRunning == true)
    }

    @Test("tampering reaches the collector: the agent's key deleted while it runs (state_deleted), its service stopped (agent.stopped + agent.tamper service_stopped, delivered before it exits); back after a silence longer than stale_after, the collector records agent.gap with the last thing the agent said")
    func tamperAndGap() async throws {
        let cluster = try Cluster()
        cluster.collectorArguments = ["--stale-after", "10"]
        try cluster.startCollector()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent()
        try agent.startAndSelftest()
        let agentID = try agent.agentID
        let store = try cluster.store()
        func tamper(_ action: String) async throws -> StoredEvent? {
            try await store.events(EventQuery(type: EventType.tamper, agent: agentID)).first { $0.data["action"] == .string(action) }
        }

        // The state's enrollment record deleted under the running agent (kept aside to restore).
        let enrollment = agent.directory + "/enrollment.json"
        let kept = try Data(contentsOf: URL(fileURLWithPath: enrollment))
        try FileManager.default.removeItem(atPath: enrollment)
        var deleted: StoredEvent?
        try await eventually("agent.tamper state_deleted at the collector", timeout: 20) {
            deleted = try await tamper("state_deleted")
            return deleted != nil
        }
        #expect(deleted?.data["detail"]?.stringValue?.contains("enrollment.json was deleted") == true)
        try kept.write(to: URL(fileURLWithPath: enrollment))

        // A stop while the system runs: said, and delivered before the process ends.
        agent.stop()
        let stopped = try await store.events(EventQuery(type: EventType.stopped, agent: agentID))
        #expect(stopped.count == 1 && stopped.first?.data["reason"] == "stopped", "\(stopped.map(\.data))")
        let serviceStopped = try await tamper("service_stopped")
        #expect(serviceStopped != nil, "delivered by the stopping agent itself")
        try EventCatalog.standard.validate(Event(seq: 1, time: Date(), type: EventType.tamper, v: 1, data: try #require(serviceStopped).data))

        // Silent for longer than stale_after (10 s), then back: the collector flags the gap.
        try await Task.sleep(for: .seconds(11))
        try agent.startAndSelftest()
        defer { agent.stop() }
        let gaps = try await store.events(EventQuery(type: EventType.gap, agent: EventType.collectorAgent)).filter { $0.data["agent_id"] == .string(agentID) }
        #expect(gaps.count == 1, "\(gaps.map(\.data))")
        let gap = try #require(gaps.first)
        #expect((gap.data["seconds"]?.doubleValue ?? 0) >= 10)
        #expect(gap.data["last_event"] == "agent.tamper" || gap.data["last_event"] == "agent.stopped", "\(gap.data)")
        try EventCatalog.standard.validate(Event(seq: 1, time: Date(), type: gap.type, v: gap.v, data: gap.data))
    }
}
