import BulwarkCollector
import BulwarkCore
import Foundation
import Testing

/// The web console: real headless Chromium driven over the DevTools protocol (log in through the
/// form, dashboard, incident), and curl for what a browser hides (cookie flags, CSRF refusals).
/// Hostile names — a hostname, a user, a note — must arrive as text.
@Suite("End to end: web console", .serialized)
struct ConsoleTests {
    static let hostileHost = "<img src=x onerror=alert(1)>"
    static let hostileUser = "<script>alert('user')</script>"
    static let hostileApp = "\"><svg onload=alert('app')>"

    /// A collector with one agent (hostile hostname), one discovered app and one incident.
    static func seeded() async throws -> (Cluster, incident: String) {
        let cluster = try Cluster.started()
        let store = try cluster.store()
        let now = Date()
        _ = try await store.createEnrollmentToken(hash: "console", label: "", maxUses: 1, expiresAt: now.addingTimeInterval(60), now: now)
        _ = try await store.enroll(
            tokenHash: "console",
            agent: AgentRecord(id: "console-agent", hostname: hostileHost, os: "Debian", agentVersion: "0", enrolledAt: now, certificateSerial: "1",
                               certificateNotAfter: now.addingTimeInterval(3600)),
            now: now)
        _ = try await store.ingest(agentID: "console-agent", events: [
            Event(seq: 1, time: now, type: EventType.aiProcessStarted, v: 1, data: [
                "app": "ollama", "category": "local_llm", "pid": 1, "exe": "/usr/bin/ollama", "uid": 1000, "evidence": "process", "user": .string(hostileUser),
            ]),
            Event(seq: 3, time: now, type: EventType.aiProcessStarted, v: 1, data: [
                "app": .string(hostileApp), "category": "local_llm", "pid": 1, "exe": "/opt/x", "uid": 1000, "evidence": "process", "user": "bob",
            ]),
            Event(seq: 2, time: now, type: EventType.file("blocked"), v: 1, data: [
                "incident_id": "BW-CONSOLE0001", "activity": "file_read_by_ai_tool", "path": "/home/u/customers.csv", "pid": 1, "app": "ollama",
                "category": "local_llm", "user": .string(hostileUser), "rule": "block-high-confidence-pii-to-ai-tools", "sanction": "unreviewed",
                "partial": false, "labels": .array([]), "evidence": "file_open", "findings": .array([.object(["type": "credit_card", "count": 1, "confidence": 85])]),
            ]),
        ], now: now)
        _ = try await store.updateIncident(id: "BW-CONSOLE0001", change: IncidentChange(status: nil, note: "</td><script>alert('note')</script>", by: "t", at: now))
        return (cluster, "BW-CONSOLE0001")
    }

    @Test("headless Chromium: the console sends a stranger to log in, takes a helpdesk token through its form, shows the dashboard (counts, 14-day chart, agents), the inventory filtered and an app by its link, the agents with their health, and an incident with the grant form; no script, no CSP violation, hostile names as text; screenshots in .build/artifacts")
    func browser() async throws {
        let (cluster, incident) = try await Self.seeded()
        defer { cluster.shutdown() }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let artifacts = root.appendingPathComponent(".build/artifacts").path
        let driver = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/console_browser.py").path
        let result = try run("/usr/bin/env", ["PYTHONPATH=" + root.appendingPathComponent(".build/test-peers/python").path, "python3", driver,
                                              cluster.apiURL, try cluster.apiToken(role: "helpdesk"), incident, artifacts], timeout: 120)
        #expect(result.status == 0, "\(result.output)")
        let page = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.output)")
        #expect(page["redirected_to_login"] as? String == "/console/login")
        #expect(page["after_login"] as? String == "/console")
        #expect(page["who"] as? String == "test-helpdesk (helpdesk)")
        #expect(page["apps_count"] as? String == "2" && page["incidents_count"] as? String == "1", "\(page)")
        #expect(page["chart_bars"] as? Int == 14)
        #expect((page["agents_table"] as? String)?.contains(Self.hostileHost) == true, "the hostname shown as text: \(page["agents_table"] ?? "")")
        #expect(page["scripts"] as? Int == 0, "no script element, not even an injected one")
        // 1.6rem from the console's sheet; without it (blocked by the CSP) h1 would be 2em of 14px.
        #expect(page["heading_font"] as? String == "25.6px", "the style applied (allowed by its hash): \(page["heading_font"] ?? "")")
        #expect((page["console_errors"] as? [String])?.isEmpty == true, "no CSP violation or error: \(page["console_errors"] ?? "")")
        #expect((page["incident_heading"] as? String)?.contains(incident) == true)
        #expect(page["grant_form"] as? Bool == true)
        #expect(page["inventory_rows"] as? Int == 2, "\(page)")
        #expect((page["inventory_text"] as? String)?.contains(Self.hostileApp) == true, "an unknown app id shown as text")
        #expect((page["inventory_first"] as? String).map { ["Ollama", Self.hostileApp].contains($0) } == true)
        #expect((page["app_name"] as? String).map { ["Ollama", Self.hostileApp].contains($0) } == true, "followed the inventory link")
        #expect(page["filtered_out"] as? Int == 0, "ai_coding has no app here")
        #expect((page["agents_page"] as? String)?.contains("ok") == true && (page["agents_page"] as? String)?.contains(Self.hostileHost) == true)
        for name in ["console-login.png", "console-dashboard.png", "console-incident.png", "console-inventory.png", "console-app.png", "console-agents.png"] {
            let size = (try? FileManager.default.attributesOfItem(atPath: artifacts + "/" + name)[.size] as? Int) ?? 0
            #expect(size > 5_000, "\(name): \(size) bytes")
        }
    }

    @Test("cookies are HttpOnly, Secure, SameSite=Strict; a login or form without the right CSRF token is refused (and audited); helpdesk grants from the incident page; logging out ends the session; every page has the strict CSP")
    func csrfAndSessions() async throws {
        let (cluster, incident) = try await Self.seeded()
        defer { cluster.shutdown() }
        let jar = cluster.root + "/cookies"
        func curl(_ arguments: [String]) throws -> (status: Int, body: String) {
            let answer = try cluster.curl(["-D", "-", "-b", jar, "-c", jar] + arguments)
            return (answer.status, answer.body)
        }
        func csrf(_ body: String) -> String {
            body.range(of: #"name="csrf" value="[^"]+""#, options: .regularExpression).map { String(body[$0].dropFirst(19).dropLast()) } ?? ""
        }
        let login = try curl(["\(cluster.apiURL)/console/login"])
        #expect(login.status == 200)
        #expect(login.body.lowercased().contains("set-cookie: bulwark_login=") && login.body.contains("HttpOnly") && login.body.contains("Secure") && login.body.contains("SameSite=Strict"),
                "\(login.body.prefix(800))")
        #expect(login.body.lowercased().contains("content-security-policy: default-src 'none'"))
        let token = try cluster.apiToken(role: "helpdesk")

        let forged = try curl(["--data-urlencode", "token=\(token)", "--data-urlencode", "csrf=forged", "\(cluster.apiURL)/console/login"])
        #expect(forged.status == 403, "\(forged.body.prefix(300))")
        let fresh = try curl(["\(cluster.apiURL)/console/login"])
        let badToken = try curl(["--data-urlencode", "token=bwa_nope", "--data-urlencode", "csrf=\(csrf(fresh.body))", "\(cluster.apiURL)/console/login"])
        #expect(badToken.status == 401 && badToken.body.contains("unknown or revoked"))
        let again = try curl(["\(cluster.apiURL)/console/login"])
        let signedIn = try curl(["--data-urlencode", "token=\(token)", "--data-urlencode", "csrf=\(csrf(again.body))", "\(cluster.apiURL)/console/login"])
        #expect(signedIn.status == 303 && signedIn.body.lowercased().contains("set-cookie: bulwark_session=") && signedIn.body.contains("SameSite=Strict"), "\(signedIn.body.prefix(600))")

        let page = try curl(["\(cluster.apiURL)/console/incident?id=\(incident.lowercased())"])
        #expect(page.status == 200 && page.body.contains("&lt;script&gt;alert(&#39;user&#39;)&lt;/script&gt;") && !page.body.contains("<script"), "\(page.body.suffix(1500))")
        #expect(page.body.contains("&lt;/td&gt;&lt;script&gt;alert(&#39;note&#39;)"), "the note escaped")
        let noCSRF = try curl(["--data-urlencode", "incident=\(incident)", "--data-urlencode", "hours=2", "--data-urlencode", "reason=x", "\(cluster.apiURL)/console/exceptions"])
        #expect(noCSRF.status == 403)
        let granted = try curl(["--data-urlencode", "incident=\(incident)", "--data-urlencode", "hours=2", "--data-urlencode", "reason=customer migration",
                                "--data-urlencode", "csrf=\(csrf(page.body))", "\(cluster.apiURL)/console/exceptions"])
        #expect(granted.status == 200 && granted.body.contains("Exception EX-") && granted.body.contains("granted until"), "\(granted.body.suffix(1200))")
        let store = try cluster.store()
        #expect(try await store.exceptions(now: Date(), includeEnded: false).first?.createdBy == "token:test-helpdesk")
        let audit = try await store.auditEntries(AuditQuery(actionPrefix: "POST /console/exceptions"))
        #expect(audit.map(\.outcome).sorted() == ["ok", "refused: csrf"], "\(audit)")

        let dashboard = try curl(["\(cluster.apiURL)/console"])
        _ = try curl(["--data-urlencode", "csrf=\(csrf(dashboard.body))", "\(cluster.apiURL)/console/logout"])
        let after = try curl(["\(cluster.apiURL)/console"])
        #expect(after.status == 303 && after.body.lowercased().contains("location: /console/login"), "\(after.body.prefix(300))")
    }
}
