import BulwarkCollector
import BulwarkCore
import Crypto
import Foundation
import Testing
import BulwarkTestSupport

/// The `bulwark` CLI as an analyst's workstation uses it against a running collector: login with
/// a pinned CA fingerprint, the saved login, output formats, exit statuses and the audit log.
@Suite("End to end: bulwark CLI", .serialized)
struct CLITests {
    @Test("login pins the CA by fingerprint (a wrong one saves nothing), checks the token and saves 0600 files; later commands need nothing else; a readable login file is refused")
    func login() throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let config = cluster.root + "/home-config"
        let token = try cluster.apiToken(role: "analyst")
        // Nothing from the test runner's own environment: only what login saved.
        let bare = ["PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": config, "HOME": cluster.root]
        func bulwark(_ arguments: [String], _ extra: [String: String] = [:]) throws -> CommandResult {
            try run(Binaries.path("bulwark"), arguments, environment: bare.merging(extra) { $1 })
        }

        let notLoggedIn = try bulwark(["agents"])
        #expect(notLoggedIn.status == 64 && notLoggedIn.stderr.contains("bulwark login"), "\(notLoggedIn.output)")

        let wrong = String(cluster.fingerprint.reversed())
        let mismatch = try bulwark(["login", "--api", cluster.apiURL, "--ca-sha256", wrong], ["BULWARK_TOKEN": token])
        #expect(mismatch.status == 3 && mismatch.stderr.contains("not the \(wrong)"), "\(mismatch.output)")
        #expect(!FileManager.default.fileExists(atPath: config + "/bulwark/login.json"), "nothing saved on a mismatch")

        let badToken = try bulwark(["login", "--api", cluster.apiURL, "--ca-sha256", cluster.fingerprint], ["BULWARK_TOKEN": "not-a-token"])
        #expect(badToken.status == 3 && badToken.stderr.contains("token_invalid"), "\(badToken.output)")
        #expect(!FileManager.default.fileExists(atPath: config + "/bulwark/login.json"))

        // The fingerprint as people paste it: upper case with colons.
        let pasted = stride(from: 0, to: cluster.fingerprint.count, by: 2).map { offset -> String in
            let start = cluster.fingerprint.index(cluster.fingerprint.startIndex, offsetBy: offset)
            return String(cluster.fingerprint[start..<cluster.fingerprint.index(start, offsetBy: 2)]).uppercased()
        }.joined(separator: ":")
        let tokenFile = cluster.root + "/token"
        try Data((token + "\n").utf8).write(to: URL(fileURLWithPath: tokenFile))
        let loggedIn = try bulwark(["login", "--api", cluster.apiURL, "--ca-sha256", pasted, "--token-file", tokenFile])
        #expect(loggedIn.status == 0 && loggedIn.stdout.contains("as test-analyst (analyst)"), "\(loggedIn.output)")
        #expect(try Self.mode(config + "/bulwark") == 0o700)
        #expect(try Self.mode(config + "/bulwark/login.json") == 0o600)
        #expect(try String(contentsOfFile: config + "/bulwark/ca.pem", encoding: .utf8) == String(contentsOfFile: cluster.caPath, encoding: .utf8))

        let agents = try bulwark(["agents"])
        #expect(agents.status == 0 && agents.stdout.contains("(no agents enrolled yet)"), "\(agents.output)")
        let catalog = try bulwark(["catalog", "--csv"])
        let lines = catalog.stdout.split(separator: "\r\n")
        #expect(lines.first == "APP,RISK,CATEGORY,NAME,VENDOR" && lines.count > 20, "\(catalog.output.prefix(300))")
        #expect(!catalog.stdout.contains("\u{1B}["), "no colour when not a terminal")

        chmod(config + "/bulwark/login.json", 0o644)
        let exposed = try bulwark(["agents"])
        #expect(exposed.status == 1 && exposed.stderr.contains("chmod 600"), "\(exposed.output)")
        chmod(config + "/bulwark/login.json", 0o600)

        let logout = try bulwark(["logout"])
        #expect(logout.status == 0 && !FileManager.default.fileExists(atPath: config + "/bulwark/login.json"), "\(logout.output)")
    }

    @Test("exit statuses scripts can rely on: 2 not found, 3 not allowed, 4 invalid, 5 unreachable, 64 usage; the audit log (admins) shows each call with its source address, as a table or CSV")
    func exitStatusesAndAudit() throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let helpdesk = try cluster.cliEnvironment(role: "helpdesk")
        let admin = try cluster.cliEnvironment(role: "admin")
        func bulwark(_ arguments: [String], as role: [String: String]) throws -> CommandResult {
            try run(Binaries.path("bulwark"), arguments, environment: role)
        }

        let missing = try bulwark(["incidents", "show", "BW-0000000000"], as: helpdesk)
        #expect(missing.status == 2 && missing.stderr.contains("incident_not_found"), "\(missing.output)")
        let forbidden = try bulwark(["incidents", "list"], as: helpdesk)
        #expect(forbidden.status == 3 && forbidden.stderr.contains("role_forbidden"), "\(forbidden.output)")
        let invalid = try bulwark(["events", "--since", "yesterday"], as: helpdesk)
        #expect(invalid.status == 4 && invalid.stderr.contains("invalid_parameter"), "\(invalid.output)")
        var nowhere = helpdesk
        nowhere["BULWARK_API"] = "https://127.0.0.1:\(freePort())"
        let unreachable = try bulwark(["agents"], as: nowhere)
        #expect(unreachable.status == 5 && unreachable.stderr.contains("cannot reach the collector"), "\(unreachable.output)")
        let usage = try bulwark(["agents", "--json", "--csv"], as: helpdesk)
        #expect(usage.status == 64 && usage.stderr.contains("not both"), "\(usage.output)")

        // A query with a comma and quotes lands in the audit target: CSV quotes it.
        _ = try cluster.curl(["-H", "Authorization: Bearer \(helpdesk["BULWARK_TOKEN"] ?? "")", "\(cluster.apiURL)/api/v1/events?user=a,\"b\""])
        let table = try bulwark(["audit", "--actor", "token:test-helpdesk"], as: admin)
        #expect(table.status == 0, "\(table.output)")
        #expect(table.stdout.contains("127.0.0.1") && table.stdout.contains("GET /api/v1/incidents/BW-0000000000"), "\(table.stdout)")
        #expect(table.stdout.contains("refused: role_forbidden"))
        let csv = try bulwark(["audit", "--actor", "token:test-helpdesk", "--action", "GET /api/v1/events", "--csv"], as: admin)
        let rows = csv.stdout.split(separator: "\r\n")
        #expect(rows.first == "ID,TIME,ACTOR,FROM,ACTION,TARGET,OUTCOME", "\(csv.output)")
        #expect(rows.contains { $0.hasSuffix(#",token:test-helpdesk,127.0.0.1,GET /api/v1/events,"user=a,""b""",ok"#) }, "\(csv.stdout)")
        let refused = try bulwark(["audit"], as: helpdesk)
        #expect(refused.status == 3, "only admins read the audit log: \(refused.output)")
        let page = try bulwark(["audit", "--limit", "2", "--json"], as: admin)
        #expect(page.status == 0 && page.stdout.contains(#""next""#), "\(page.output)")
    }

    static func mode(_ path: String) throws -> Int {
        ((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1) & 0o777
    }

    @Test("export: every matching event streamed as NDJSON and CSV (checked with Python's csv module), hostile data intact, filters applied, analysts only; a collector dying mid-transfer is an error, not a short file")
    func export() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let store = try cluster.store()
        let now = Date()
        _ = try await store.createEnrollmentToken(hash: "export", label: "", maxUses: 1, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await store.enroll(
            tokenHash: "export",
            agent: AgentRecord(id: "exporter", hostname: "h", os: "Debian", agentVersion: "0", enrolledAt: now, certificateSerial: "1", certificateNotAfter: now.addingTimeInterval(3600)),
            now: now)
        let hostile = "=cmd|' /C calc'!A0, \"quoted\"\nnext line \u{1F600} \\ \t"
        let count = 30_000
        for start in stride(from: 1, through: count, by: 5_000) {
            let events = (start..<start + 5_000).map { (seq: Int) -> Event in
                let nonce: String = seq % 1000 == 0 ? hostile : "n\(seq)"
                let data: [String: JSONValue] = ["nonce": .string(nonce), "index": .number(Double(seq))]
                return Event(seq: UInt64(seq), time: now.addingTimeInterval(Double(seq) / 1000), type: EventType.selftest, v: 1, data: data)
            }
            _ = try await store.ingest(agentID: "exporter", events: events, now: now)
        }
        let analyst = try cluster.cliEnvironment(role: "analyst")

        let ndjsonPath = cluster.root + "/events.ndjson"
        let ndjson = try run(Binaries.path("bulwark"), ["events", "--export", "ndjson", "-o", ndjsonPath, "--type", EventType.selftest], environment: analyst)
        #expect(ndjson.status == 0, "\(ndjson.output)")
        let lines = try String(contentsOfFile: ndjsonPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == count)
        let parsed = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        #expect(parsed.map { ($0["seq"] as? Int) ?? 0 } == Array(1...count), "in order, each once")
        #expect((parsed[999]["data"] as? [String: Any])?["nonce"] as? String == hostile)
        #expect(parsed[0]["agent"] as? String == "exporter" && parsed[0]["type"] as? String == EventType.selftest)

        let csvPath = cluster.root + "/events.csv"
        let since = WireCoding.string(from: now.addingTimeInterval(10))  // seq 10000 on
        let csv = try run(Binaries.path("bulwark"), ["events", "--export", "csv", "-o", csvPath, "--since", since], environment: analyst)
        #expect(csv.status == 0, "\(csv.output)")
        // An independent reader: Python's csv module, then the data column as JSON.
        let check = try run("/usr/bin/python3", ["-c", """
            import csv, json, sys
            rows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))
            print(rows[0])
            body = rows[1:]
            print(len(body), body[0][4], body[-1][4])
            print(json.dumps([json.loads(r[7])["nonce"] for r in body if r[4] == "10000"]))
            """, csvPath])
        let report = check.stdout.split(separator: "\n").map(String.init)
        #expect(check.status == 0 && report.first == "['id', 'time', 'received_at', 'agent', 'seq', 'type', 'v', 'data']", "\(check.output)")
        #expect(report.count > 2 && report[1] == "\(count - 9_999) 10000 \(count)", "\(check.output)")
        #expect(report.count > 2 && (try? JSONSerialization.jsonObject(with: Data(report[2].utf8)) as? [String]) == [hostile], "\(check.output)")

        let helpdesk = try run(Binaries.path("bulwark"), ["events", "--export", "csv"], environment: try cluster.cliEnvironment(role: "helpdesk"))
        #expect(helpdesk.status == 3 && helpdesk.stderr.contains("role_forbidden"), "\(helpdesk.output)")
        let limited = try cluster.curl(["-H", "Authorization: Bearer \(analyst["BULWARK_TOKEN"] ?? "")", "\(cluster.apiURL)/api/v1/events/export?limit=5"])
        #expect(limited.status == 400 && limited.body.contains("no limit"), "\(limited.body)")

        // The collector killed while an export streams: the CLI says the transfer broke off.
        let partial = cluster.root + "/partial.ndjson"
        let exporting = try ChildProcess(Binaries.path("bulwark"), ["events", "--export", "ndjson", "-o", partial], logPath: cluster.root + "/export.log", environment: analyst)
        try await eventually("the export to start", timeout: 30, interval: 0.005) {
            ((try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? Int) ?? 0) > 0 || !exporting.isRunning
        }
        cluster.collector?.kill9()
        let status = exporting.waitForExit(timeout: 30)
        let written = (try? String(contentsOfFile: partial, encoding: .utf8).split(separator: "\n").count) ?? 0
        if written < count {
            #expect(status == 5 && exporting.log.contains("broke off"), "status \(status): \(exporting.log)")
        } else {
            // It finished before the kill landed: then it must be whole.
            #expect(status == 0 && written == count)
        }
    }

    @Test("report: apps, data types, incidents by app, top users and coverage for the period (older incidents left out), as JSON and as a printable page whose hostile names are inert and whose CSP allows only its own style")
    func report() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let store = try cluster.store()
        let now = Date()
        _ = try await store.createEnrollmentToken(hash: "report", label: "", maxUses: 2, expiresAt: now.addingTimeInterval(60), now: now)
        for id in ["ws-1", "ws-2"] {
            _ = try await store.enroll(
                tokenHash: "report",
                agent: AgentRecord(id: id, hostname: id, os: "Debian", agentVersion: "0", enrolledAt: now.addingTimeInterval(-86_400 * 60), certificateSerial: "1",
                                   certificateNotAfter: now.addingTimeInterval(3600)),
                now: now)
        }
        let hostile = "<script>alert(1)</script>"
        func process(_ seq: UInt64, app: String, user: String) -> Event {
            Event(seq: seq, time: now.addingTimeInterval(-3600), type: EventType.aiProcessStarted, v: 1, data: [
                "app": .string(app), "category": "ai_coding", "pid": 1, "exe": "/usr/bin/x", "uid": 1000, "evidence": "process", "user": .string(user),
            ])
        }
        func blocked(_ seq: UInt64, app: String, user: String, incident: String, daysAgo: Double = 0.1) -> Event {
            Event(seq: seq, time: now.addingTimeInterval(-daysAgo * 86_400), type: EventType.paste("blocked"), v: 1, data: [
                "incident_id": .string(incident), "selection": "clipboard", "target": "UTF8_STRING", "latency_ms": 1, "app": .string(app),
                "category": "consumer_ai", "rule": "r", "user": .string(user),
                "findings": .array([.object(["type": "credit_card", "count": 2, "confidence": 85])]),
            ])
        }
        _ = try await store.ingest(agentID: "ws-1", events: [
            process(1, app: "claude-code", user: "alice"), process(2, app: "claude-code", user: hostile),
            blocked(3, app: "chatgpt", user: "alice", incident: "BW-REPORT0001"), blocked(4, app: "chatgpt", user: "alice", incident: "BW-REPORT0002"),
            blocked(5, app: "chatgpt", user: hostile, incident: "BW-REPORT0003"), blocked(6, app: "chatgpt", user: "alice", incident: "BW-REPORT0004", daysAgo: 40),
        ], now: now)
        // ws-2 was last heard from 40 days ago.
        let silent = try run("/usr/bin/sqlite3", [cluster.dataDir + "/collector.db", "UPDATE agents SET last_seen = \(now.addingTimeInterval(-40 * 86_400).millis) WHERE id = 'ws-2'"])
        #expect(silent.status == 0, "\(silent.output)")
        let analyst = try cluster.cliEnvironment(role: "analyst")
        let json = try run(Binaries.path("bulwark"), ["report", "--json"], environment: analyst)
        #expect(json.status == 0, "\(json.output)")
        let report = try WireCoding.decoder().decode(AIUsageReport.self, from: Data(json.stdout.utf8))
        #expect(report.inventory.first { $0.app == "claude-code" }?.users == 2)
        #expect(report.inventory.first { $0.app == "chatgpt" }?.events == 3, "the 40-day-old paste is outside the 30 days")
        #expect(report.dataTypes.map { "\($0.type) \($0.incidents) \($0.matches)" } == ["credit_card 3 6"])
        #expect(report.incidentsByApp.map { "\($0.app) \($0.blocks) \($0.total)" } == ["chatgpt 3 3"])
        #expect(report.topUsers.map(\.user) == ["alice", hostile] && report.topUsers.first?.blocks == 2)
        #expect(report.coverage.agents == 2 && report.coverage.reporting == 1 && report.coverage.silent == 1 && report.coverage.policies == ["local": 2])

        let text = try run(Binaries.path("bulwark"), ["report"], environment: analyst)
        #expect(text.status == 0 && text.stdout.contains("credit_card") && text.stdout.contains("agents: 2 enrolled, 1 reporting"), "\(text.output)")

        let page = cluster.root + "/report.html"
        #expect(try run(Binaries.path("bulwark"), ["report", "--html", "-o", page], environment: analyst).status == 0)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains(hostile), "the name is text, never markup")
        #expect(!html.contains("<script"), "no script at all")
        let answer = try cluster.curl(["-D", "-", "-H", "Authorization: Bearer \(analyst["BULWARK_TOKEN"] ?? "")", "\(cluster.apiURL)/api/v1/reports/ai-usage?format=html"])
        let style = try #require(html.range(of: "<style>").flatMap { start in html.range(of: "</style>").map { String(html[start.upperBound..<$0.lowerBound]) } })
        let digest = Data(SHA256.hash(data: Data(style.utf8))).base64EncodedString()
        #expect(answer.body.lowercased().contains("content-security-policy: default-src 'none'; style-src 'sha256-\(digest.lowercased())'"), "\(answer.body.prefix(600))")
        #expect(answer.body.lowercased().contains("x-content-type-options: nosniff"))
        let helpdesk = try run(Binaries.path("bulwark"), ["report"], environment: analyst.merging(["BULWARK_TOKEN": try cluster.apiToken(role: "helpdesk")]) { $1 })
        #expect(helpdesk.status == 3, "\(helpdesk.output)")
    }

    @Test("agent health: one not heard from within --stale-after is stale (bulwark agents --stale lists only those), a certificate within 14 days of expiry is flagged, the rest ok")
    func agentHealth() async throws {
        let cluster = try Cluster()
        defer { cluster.shutdown() }
        cluster.collectorArguments = ["--stale-after", "600"]
        let store = try cluster.store()
        let now = Date()
        _ = try await store.createEnrollmentToken(hash: "health", label: "", maxUses: 3, expiresAt: now.addingTimeInterval(60), now: now)
        for (id, certificateDays) in [("fresh", 30.0), ("quiet", 30.0), ("expiring", 3.0)] {
            _ = try await store.enroll(
                tokenHash: "health",
                agent: AgentRecord(id: id, hostname: "host-\(id)", os: "Debian", agentVersion: "0", enrolledAt: now, certificateSerial: "1",
                                   certificateNotAfter: now.addingTimeInterval(certificateDays * 86_400)),
                now: now)
        }
        let quiet = try run("/usr/bin/sqlite3", [cluster.dataDir + "/collector.db", "UPDATE agents SET last_seen = \(now.addingTimeInterval(-3600).millis) WHERE id = 'quiet'"])
        #expect(quiet.status == 0, "\(quiet.output)")
        try cluster.startCollector()
        let environment = try cluster.cliEnvironment(role: "helpdesk")
        let all = try run(Binaries.path("bulwark"), ["agents", "--csv"], environment: environment)
        let health = Dictionary(uniqueKeysWithValues: all.stdout.split(separator: "\r\n").dropFirst().map { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            return (String(fields[0]), String(fields.last ?? ""))
        })
        #expect(health == ["fresh": "ok", "quiet": "stale", "expiring": "certificate expires soon"], "\(all.output)")
        let stale = try run(Binaries.path("bulwark"), ["agents", "--stale", "--csv"], environment: environment)
        #expect(stale.stdout.split(separator: "\r\n").dropFirst().map { String($0.prefix(6)) } == ["quiet,"], "\(stale.output)")
    }
}
