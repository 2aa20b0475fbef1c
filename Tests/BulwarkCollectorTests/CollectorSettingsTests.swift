import BulwarkCollector
import BulwarkCore
import Foundation
import Testing

@Suite("Collector configuration")
struct CollectorSettingsTests {
    @Test("the shipped collector.yaml is valid and equals the built-in defaults")
    func shippedExample() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("collector/collector.yaml").path
        #expect(try CollectorSettings.load(path: example) == CollectorSettings())
    }

    @Test("every key is documented in docs/CONFIGURATION.md")
    func documented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let documentation = try String(contentsOf: root.appendingPathComponent("docs/CONFIGURATION.md"), encoding: .utf8)
        let shipped = try String(contentsOf: root.appendingPathComponent("collector/collector.yaml"), encoding: .utf8)
        for key in CollectorSettings.keys {
            #expect(documentation.contains("| `\(key)` |"), "docs/CONFIGURATION.md lacks \(key)")
            #expect(shipped.contains("\n\(key):"), "collector/collector.yaml lacks \(key)")
        }
    }

    @Test("values reach the server configuration")
    func values() throws {
        let settings = try CollectorSettings(yaml: """
            agent_listen: 127.0.0.1:18443
            api_listen: "[::1]:19443"
            retention_days: 30
            retention:
              agent.heartbeat: 7
            stale_after: 600
            max_events_per_batch: 100
            """)
        let server = try settings.serverConfiguration()
        #expect(server.agentListen.host == "127.0.0.1" && server.agentListen.port == 18443)
        #expect(server.apiListen.host == "::1" && server.apiListen.port == 19443)
        #expect(server.retention.eventDays == 30 && server.retention.eventDaysByType == ["agent.heartbeat": 7])
        #expect(server.staleAfter == 600 && server.limits.maxEventsPerBatch == 100)
        #expect(server.tlsFiles == nil && server.siem.isEmpty)
    }

    @Test("faults name the line and column")
    func faults() {
        let cases: [(String, Int, Int, String)] = [
            ("agent_listen: 0.0.0.0\n", 1, 15, "agent_listen must be HOST:PORT"),
            ("stale_after: 5\n", 1, 14, "stale_after must be at least 10 seconds"),
            ("retention:\n  agent.heartbeat: 0\n", 2, 20, "retention of agent.heartbeat must be a whole number of days ≥ 1"),
            ("tls_cert: /etc/ssl/c.pem\n", 1, 11, "tls_cert, tls_key and tls_ca go together"),
            ("siem_syslog: siem:6514\n", 1, 1, "siem_syslog_ca is required with siem_syslog"),
            ("api-listen: 0.0.0.0:9443\n", 1, 1, "unknown key 'api-listen'"),
            ("log_level: loud\n", 1, 12, "log_level must be"),
        ]
        for (text, line, column, message) in cases {
            #expect {
                try CollectorSettings(yaml: text)
            } throws: { error in
                guard let fault = error as? YAMLFault else { return false }
                return fault.line == line && fault.column == column && fault.message.contains(message)
            }
        }
    }
}
