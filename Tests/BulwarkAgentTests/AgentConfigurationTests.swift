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

    @Test("every key is in the shipped agent.yaml and documented in docs/CONFIGURATION.md")
    func documented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try String(contentsOf: root.appendingPathComponent("agent/agent.yaml"), encoding: .utf8)
        let documentation = try String(contentsOf: root.appendingPathComponent("docs/CONFIGURATION.md"), encoding: .utf8)
        for key in AgentConfiguration.keys {
            #expect(shipped.contains("\n\(key):"), "agent/agent.yaml lacks \(key)")
            #expect(documentation.contains("| `\(key)` |"), "docs/CONFIGURATION.md lacks \(key)")
        }
    }

    @Test("an empty session_socket turns the session socket off")
    func emptySocket() throws {
        #expect(try AgentConfiguration.load(path: try write("session_socket: \"\"\n")).sessionSocket == "")
        #expect(try AgentConfiguration.load(path: try write("heartbeat_interval: 5\n")).sessionSocket == "/run/bulwark-agent/session.sock")
    }

    @Test("invalid values are refused with the file, line, column and the reason")
    func invalid() throws {
        let path = try write("heartbeat_interval: 30\nbatch_max_events: 9000\n")
        #expect {
            try AgentConfiguration.load(path: path)
        } throws: { error in
            "\(error)" == "\(path):2:19: batch_max_events must be 1…5000 (the collector's limit)"
        }
        let cases: [(String, Int, Int, String)] = [
            ("retry_cap: [oops\n", 2, 1, "YAML syntax"),
            ("heartbeat_interval: 5\nhartbeat_interval: 5\n", 2, 1, "unknown key 'hartbeat_interval'"),
            ("file_guard: maybe\n", 1, 13, "file_guard must be true or false"),
            ("spool_max_bytes: 12.5\n", 1, 18, "spool_max_bytes must be a whole number"),
            ("file_paths: [/home, srv]\n", 1, 13, "file_paths must be absolute paths"),
            ("collector: collector.example:8443\n", 1, 12, "collector must be an https:// URL"),
            ("ca_sha256: abc\n", 1, 12, "ca_sha256 must be the CA's SHA-256 fingerprint"),
            ("log_format: xml\n", 1, 13, "log_format must be text, journal or json"),
            ("retry_base: 10\nretry_cap: 5\n", 2, 12, "retry_cap must be ≥ retry_base"),
            ("- a\n- b\n", 1, 1, "agent.yaml must be a mapping"),
        ]
        for (text, line, column, message) in cases {
            #expect {
                try AgentConfiguration(yaml: text, source: "agent.yaml")
            } throws: { error in
                guard let fault = error as? YAMLFault else { return false }
                return fault.line == line && fault.column == column && fault.message.contains(message)
            }
        }
        // A file of comments only means every default.
        #expect(try AgentConfiguration(yaml: "# nothing set\n").heartbeatInterval == 60)
    }

    @Test("unattended enrollment settings: the environment wins over agent.yaml")
    func enrollmentSettings() throws {
        let fingerprint = String(repeating: "ab", count: 32)
        let configuration = try AgentConfiguration(yaml: "collector: https://c.example:8443\nenroll_token: bwe_file\nca_sha256: \(fingerprint)\n")
        #expect(configuration.enrollment.isComplete)
        let merged = configuration.enrollment.overridden(by: ["BULWARK_ENROLL_TOKEN": "bwe_env", "BULWARK_COLLECTOR": " "])
        #expect(merged.token == "bwe_env")
        #expect(merged.collector == "https://c.example:8443")
        #expect(merged.caSHA256 == fingerprint)
        #expect(!AgentConfiguration().enrollment.overridden(by: ["BULWARK_COLLECTOR": "https://x:1"]).isComplete)
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
