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
}
