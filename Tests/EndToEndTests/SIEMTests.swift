import BulwarkCollector
import BulwarkCore
import Foundation
import Testing
import BulwarkTestSupport

/// SIEM forwarding against real receivers: Debian's rsyslog listening with TLS (gtls driver,
/// RFC 5425 framing) and an HTTPS Splunk HEC stand-in, both with certificates from their own CA.
@Suite("End to end: SIEM forwarding", .serialized)
struct SIEMTests {
    /// A CA and a server certificate for 127.0.0.1 made with openssl.
    static func certificates(in directory: String) throws {
        let script = """
            set -e
            cd '\(directory)'
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=siem-test-ca 2>/dev/null
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out server.csr -subj /CN=127.0.0.1 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 -extfile ext.cnf 2>/dev/null
            chmod 644 key.pem
            """
        let made = try run("/bin/sh", ["-c", script])
        guard made.status == 0 else { throw TestFailure.command("openssl: \(made.output)") }
    }

    /// rsyslogd in the foreground with only a TLS input writing what it receives to a file.
    static func rsyslog(directory: String, port: Int) throws -> ChildProcess {
        let configuration = """
            global(workDirectory="\(directory)" DefaultNetstreamDriver="gtls"
                   DefaultNetstreamDriverCAFile="\(directory)/ca.pem" DefaultNetstreamDriverCertFile="\(directory)/cert.pem"
                   DefaultNetstreamDriverKeyFile="\(directory)/key.pem")
            module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
            input(type="imtcp" port="\(port)" address="127.0.0.1")
            template(name="received" type="string" string="%pri% %hostname% %app-name% %msgid% %structured-data% %msg%\\n")
            action(type="omfile" file="\(directory)/received.log" template="received")
            """
        try Data(configuration.utf8).write(to: URL(fileURLWithPath: directory + "/rsyslog.conf"))
        let process = try ChildProcess("/usr/sbin/rsyslogd", ["-n", "-f", directory + "/rsyslog.conf", "-i", directory + "/rsyslog.pid"], logPath: directory + "/rsyslogd.log")
        // Listening once the port accepts a connection.
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if try run("/bin/bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"]).status == 0 { return process }
            guard process.isRunning else { break }
            usleep(100_000)
        }
        throw TestFailure.command("rsyslogd did not listen: \(process.log)")
    }

    @Test("every event reaches rsyslog over TLS as RFC 5424 (severity by outcome, incident in structured data, the event as JSON) and Splunk HEC; a receiver down meanwhile gets the missed events when back; a restarted collector resumes from its cursor")
    func forwarding() async throws {
        let cluster = try Cluster()
        defer { cluster.shutdown() }
        let siem = cluster.root + "/siem"
        try FileManager.default.createDirectory(atPath: siem, withIntermediateDirectories: true)
        try Self.certificates(in: siem)
        let port = freePort()
        var rsyslog = try Self.rsyslog(directory: siem, port: port)
        defer { rsyslog.kill9() }
        try Data("hec-secret\n".utf8).write(to: URL(fileURLWithPath: siem + "/hec.token"))
        let peer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/hec_receiver.py").path
        let hec = try ChildProcess("/usr/bin/python3", ["-u", peer, siem + "/cert.pem", siem + "/key.pem", "hec-secret", siem + "/hec.ndjson"], logPath: siem + "/hec.log")
        defer { hec.kill9() }
        try hec.waitForLog("ready")
        let hecPort = try #require(hec.log.split(separator: " ").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        cluster.collectorArguments = [
            "--siem-syslog", "127.0.0.1:\(port)", "--siem-syslog-ca", siem + "/ca.pem",
            "--siem-hec", "https://127.0.0.1:\(hecPort)/services/collector/event", "--siem-hec-token-file", siem + "/hec.token", "--siem-hec-ca", siem + "/ca.pem",
        ]

        let store = try cluster.store()
        let now = Date()
        _ = try await store.createEnrollmentToken(hash: "siem", label: "", maxUses: 1, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await store.enroll(
            tokenHash: "siem",
            agent: AgentRecord(id: "siem-agent", hostname: "ws 17", os: "Debian", agentVersion: "0", enrolledAt: now, certificateSerial: "1",
                               certificateNotAfter: now.addingTimeInterval(3600)),
            now: now)
        func selftest(_ seq: UInt64) -> Event {
            Event(seq: seq, time: now, type: EventType.selftest, v: 1, data: ["nonce": .string("n\(seq)"), "index": .number(Double(seq))])
        }
        let blocked = Event(seq: 3, time: now, type: EventType.paste("blocked"), v: 1, data: [
            "incident_id": "BW-SIEM000001", "selection": "clipboard", "target": "UTF8_STRING", "latency_ms": 1, "app": "chatgpt", "category": "consumer_ai",
            "rule": "r", "user": "alice", "findings": .array([.object(["type": "credit_card", "count": 1, "confidence": 85])]),
        ])
        _ = try await store.ingest(agentID: "siem-agent", events: [selftest(1), selftest(2), blocked], now: now)
        try cluster.startCollector()

        func received() -> [String] {
            ((try? String(contentsOfFile: siem + "/received.log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        func hecEvents() -> [[String: Any]] {
            ((try? String(contentsOfFile: siem + "/hec.ndjson", encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        try await eventually("three events at rsyslog", timeout: 30) { received().count >= 3 }
        let lines = received()
        let block = try #require(lines.first { $0.contains("paste.blocked") }, "\(lines)")
        // local0 (16) × 8 + warning (4) = 132; the agent's hostname with its space made safe.
        #expect(block.hasPrefix("132 ws_17 bulwark paste.blocked [bulwark@32473 id=\"3\" agent=\"siem-agent\" seq=\"3\" incident=\"BW-SIEM000001\"]"), "\(block)")
        #expect(block.contains(#""type":"paste.blocked""#) && block.contains(#""incident_id":"BW-SIEM000001""#), "\(block)")
        #expect(lines.first { $0.contains("agent.selftest") }?.hasPrefix("134 ") == true, "informational: \(lines)")
        try await eventually("three events at HEC", timeout: 30) { hecEvents().count >= 3 }
        let first = try #require(hecEvents().first)
        #expect(first["host"] as? String == "ws 17" && first["sourcetype"] as? String == "bulwark:event")
        #expect(((first["event"] as? [String: Any])?["seq"] as? Int) == 1)

        // rsyslog down: events wait in the store; back up, it gets them.
        rsyslog.kill9()
        _ = try await store.ingest(agentID: "siem-agent", events: [selftest(4), selftest(5)], now: now)
        try await eventually("HEC getting the events meanwhile", timeout: 30) { hecEvents().count >= 5 }
        try await Task.sleep(for: .seconds(2))
        #expect(received().count == 3)
        try cluster.collector?.waitForLog("SIEM forwarding failed")
        rsyslog = try Self.rsyslog(directory: siem, port: port)
        do {
            try await eventually("the missed events at rsyslog", timeout: 90) { received().contains { $0.contains(#"seq="5""#) } }
        } catch {
            Issue.record("rsyslog got seqs: \(received().map { $0.split(separator: " ").prefix(7).joined(separator: " ") })\ncollector: \(cluster.collector?.log.suffix(3000) ?? "")\nrsyslogd: \(rsyslog.log)")
            throw error
        }
        for seq in 1...5 { #expect(received().contains { $0.contains("seq=\"\(seq)\"") }, "seq \(seq) at rsyslog") }

        // A restarted collector resumes from its cursors: nothing confirmed is sent again (what
        // was unconfirmed when a connection dropped was, at least once).
        try await Task.sleep(for: .seconds(2))
        let firstCopies = received().filter { $0.contains(#"seq="1""#) }.count
        cluster.stopCollector()
        try cluster.startCollector()
        _ = try await store.ingest(agentID: "siem-agent", events: [selftest(6)], now: now)
        try await eventually("the next event at both", timeout: 30) { received().contains { $0.contains(#"seq="6""#) } && hecEvents().count >= 6 }
        #expect(received().filter { $0.contains(#"seq="1""#) }.count == firstCopies, "not resent after the restart")
        #expect(hecEvents().count == 6)

        // Helpdesk resolving the incident reaches the SIEM too (the collector's own event).
        _ = try await store.updateIncident(id: "BW-SIEM000001", change: IncidentChange(status: .resolved, note: "explained", by: "token:hd", at: Date()))
        try await eventually("the incident's update at rsyslog", timeout: 30) { received().contains { $0.contains("incident.updated") } }
        let update = try #require(received().first { $0.contains("incident.updated") })
        #expect(update.hasPrefix("134 collector bulwark incident.updated") && update.contains(#"incident="BW-SIEM000001""#) && update.contains(#""status":"resolved""#), "\(update)")
        #expect(!update.contains("explained"), "the note's text stays on the collector")
    }
}
