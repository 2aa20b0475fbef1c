import BulwarkAgent
import BulwarkCore
import Foundation
import Testing

@Suite("Agent configuration")
struct AgentConfigurationTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("agent-\(UUID()).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("defaults, overrides and the shipped example")
    func loads() throws {
        let configuration = try AgentConfiguration.load(path: try write("heartbeat_interval: 30\nbatch_max_events: 500\n"))
        #expect(configuration.heartbeatInterval == 30)
        #expect(configuration.batchMaxEvents == 500)
        #expect(configuration.spoolMaxBytes == 256 * 1024 * 1024)
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("agent/agent.yaml").path
        _ = try AgentConfiguration.load(path: example)
    }

    @Test("an empty session_socket turns the session socket off")
    func emptySocket() throws {
        #expect(try AgentConfiguration.load(path: try write("session_socket: \"\"\n")).sessionSocket == "")
        #expect(try AgentConfiguration.load(path: try write("heartbeat_interval: 5\n")).sessionSocket == "/run/bulwark-agent/session.sock")
    }

    @Test("invalid values are refused with the file and the reason")
    func invalid() throws {
        let path = try write("batch_max_events: 9000\n")
        #expect {
            try AgentConfiguration.load(path: path)
        } throws: { error in
            "\(error)".contains(path) && "\(error)".contains("batch_max_events")
        }
        #expect(throws: AgentConfiguration.Invalid.self) { try AgentConfiguration.load(path: try write("retry_cap: [oops\n")) }
    }

    @Test("backoff grows, is capped and jittered")
    func backoff() {
        let backoff = Backoff(base: 1, cap: 300)
        for attempt in 1...20 {
            let delay = backoff.delay(attempt: attempt)
            let ceiling = min(300, pow(2, Double(attempt - 1)))
            #expect(delay >= ceiling / 2 && delay <= ceiling)
        }
    }
}
