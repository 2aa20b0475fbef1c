import BulwarkCollector
import BulwarkCore
import Crypto
import Foundation
import Testing

/// Incidents as helpdesk meets them: a real block on a real agent (the file guard, as root, on a
/// tmpfs), looked up with the `bulwark` CLI by the id the user was shown.
@Suite("End to end: incidents", .serialized)
struct IncidentTests {
    @Test("a block is an incident helpdesk looks up by its id (audited), resolves with a note; helpdesk may not list them all, analysts may")
    func helpdeskLookup() async throws {
        let guarded = try FileGuardTests.Guarded()
        defer { guarded.stop() }
        let cluster = guarded.cluster
        func environment(_ role: String) throws -> [String: String] {
            ProcessInfo.processInfo.environment.merging([
                "BULWARK_API": cluster.apiURL, "BULWARK_CA": cluster.caPath, "BULWARK_TOKEN": try cluster.apiToken(role: role),
            ]) { $1 }
        }
        let helpdesk = try environment("helpdesk")
        let analyst = try environment("analyst")
        func bulwark(_ arguments: [String], as role: [String: String]) throws -> CommandResult {
            try run(Binaries.path("bulwark"), arguments, environment: role)
        }

        let ollama = try guarded.tool("ollama")
        let cardFile = try guarded.write(FileGuardTests.card, to: "customers.txt")
        #expect(try run(ollama, [cardFile]).status != 0)
        let blocked = try #require(try await guarded.waitForEvents("blocked").first)
        let id = try #require(blocked.data["incident_id"]?.stringValue)

        // The user reads the id out over the phone, in lower case.
        let shown = try bulwark(["incidents", "show", id.lowercased()], as: helpdesk)
        #expect(shown.status == 0, "\(shown.output)")
        #expect(shown.stdout.contains(id) && shown.stdout.contains("block: file read by ollama (local_llm)"), "\(shown.stdout)")
        #expect(shown.stdout.contains("credit_card ×1"), "\(shown.stdout)")
        #expect(shown.stdout.contains("file:     \(cardFile)"), "\(shown.stdout)")
        #expect(shown.stdout.contains("[open]"), "\(shown.stdout)")
        #expect(!shown.stdout.contains("4556"), "never the content")

        let resolved = try bulwark(["incidents", "resolve", id, "--note", "explained the policy; file moved out of the AI workspace"], as: helpdesk)
        #expect(resolved.status == 0, "\(resolved.output)")
        #expect(resolved.stdout.contains("[resolved]") && resolved.stdout.contains("status:   resolved by token:test-helpdesk"), "\(resolved.stdout)")
        #expect(resolved.stdout.contains("token:test-helpdesk: explained the policy"), "\(resolved.stdout)")

        let listedByHelpdesk = try bulwark(["incidents", "list"], as: helpdesk)
        #expect(listedByHelpdesk.status != 0)
        #expect(listedByHelpdesk.stderr.contains("role 'helpdesk' may not do this"), "\(listedByHelpdesk.output)")
        let listed = try bulwark(["incidents", "list", "--status", "resolved"], as: analyst)
        #expect(listed.status == 0 && listed.stdout.contains(id), "\(listed.output)")
        #expect(try bulwark(["incidents", "list", "--status", "open"], as: analyst).stdout.contains(id) == false)

        let unknown = try bulwark(["incidents", "show", "BW-0000000000"], as: helpdesk)
        #expect(unknown.status != 0 && unknown.stderr.contains("incident_not_found"), "\(unknown.output)")
        let hostile = try bulwark(["incidents", "show", "BW-1'; DROP TABLE incidents;--"], as: helpdesk)
        #expect(hostile.status != 0 && hostile.stderr.contains("invalid_incident_id"), "\(hostile.output)")

        // Who looked at which incident, and who changed it, is on the audit log.
        let audit = try await cluster.store().auditEntries(AuditQuery(limit: 100))
        #expect(audit.contains { $0.actor == "token:test-helpdesk" && $0.action == "GET /api/v1/incidents/\(id.lowercased())" && $0.outcome == "ok" })
        #expect(audit.contains { $0.actor == "token:test-helpdesk" && $0.action == "PATCH /api/v1/incidents/\(id)" && $0.outcome == "ok" })
        #expect(audit.contains { $0.actor == "token:test-helpdesk" && $0.action == "GET /api/v1/incidents" && $0.outcome == "refused: role_forbidden" })
    }

    @Test("helpdesk's exception: a block → its incident → an exception granted from it → the same read allowed within seconds and audited with the exception → it expires by itself → blocked again")
    func exceptionFlow() async throws {
        let guarded = try FileGuardTests.Guarded()
        defer { guarded.stop() }
        let cluster = guarded.cluster
        let helpdesk = ProcessInfo.processInfo.environment.merging([
            "BULWARK_API": cluster.apiURL, "BULWARK_CA": cluster.caPath, "BULWARK_TOKEN": try cluster.apiToken(role: "helpdesk"),
        ]) { $1 }
        func bulwark(_ arguments: [String]) throws -> CommandResult { try run(Binaries.path("bulwark"), arguments, environment: helpdesk) }

        let ollama = try guarded.tool("ollama")
        let cardFile = try guarded.write(FileGuardTests.card, to: "customers.txt")
        #expect(try run(ollama, [cardFile]).status != 0)
        let id = try #require(try await guarded.waitForEvents("blocked").first?.data["incident_id"]?.stringValue)

        // Bad requests say what to do.
        let forever = try bulwark(["exceptions", "grant", "--incident", id, "--for", "60d", "--reason", "x"])
        #expect(forever.status != 0 && forever.stderr.contains("invalid_duration"), "\(forever.output)")
        let noReason = try bulwark(["exceptions", "grant", "--incident", id, "--for", "1h", "--reason", " "])
        #expect(noReason.status != 0 && noReason.stderr.contains("reason_required"), "\(noReason.output)")
        let nobody = try bulwark(["exceptions", "grant", "--rule", "block-high-confidence-pii-to-ai-tools", "--for", "1h", "--reason", "x"])
        #expect(nobody.status != 0 && nobody.stderr.contains("scope_required"), "\(nobody.output)")

        let granted = try bulwark(["exceptions", "grant", "--incident", id, "--for", "12s", "--reason", "migrating the customer list", "--ticket", "HD-1234"])
        #expect(granted.status == 0, "\(granted.output)")
        #expect(granted.stdout.contains("rule block-high-confidence-pii-to-ai-tools off for user root, app ollama, agent"), "\(granted.stdout)")
        let exceptionID = try #require(granted.stdout.split(separator: " ").first.map(String.init))
        #expect(exceptionID.hasPrefix("EX-"))
        let grantedAt = Date()

        // The agent pulls it within seconds: the same read now works, and is audited with it.
        try await eventually("the read being allowed", timeout: 10) { try run(ollama, [cardFile]).status == 0 }
        let allowed = try #require(try await guarded.waitForEvents("audited") { $0.data["path"] == .string(cardFile) }.first)
        #expect(allowed.data["exceptions"] == .array([.string(exceptionID)]), "\(allowed.data)")
        #expect(try bulwark(["exceptions", "list"]).stdout.contains(exceptionID))
        // The incident says what was done.
        #expect(try bulwark(["incidents", "show", id]).stdout.contains("exception \(exceptionID) granted until"))

        // It ends by itself: blocked again.
        try await eventually("the read being refused again", timeout: 30) { try run(ollama, [cardFile]).status != 0 }
        #expect(Date().timeIntervalSince(grantedAt) >= 11, "not before it expired")
        #expect(!(try bulwark(["exceptions", "list"]).stdout.contains(exceptionID)))
        #expect(try bulwark(["exceptions", "list", "--all"]).stdout.contains(exceptionID))

        // Revoking one ends it at once.
        let second = try bulwark(["exceptions", "grant", "--incident", id, "--for", "1h", "--reason", "again"])
        let secondID = try #require(second.stdout.split(separator: " ").first.map(String.init))
        try await eventually("the read being allowed", timeout: 10) { try run(ollama, [cardFile]).status == 0 }
        #expect(try bulwark(["exceptions", "revoke", secondID]).status == 0)
        try await eventually("the read being refused after the revocation", timeout: 10) { try run(ollama, [cardFile]).status != 0 }
        #expect(try bulwark(["exceptions", "revoke", secondID]).stderr.contains("exception_not_found"))

        let audit = try await cluster.store().auditEntries(AuditQuery(limit: 200))
        #expect(audit.contains { $0.actor == "token:test-helpdesk" && $0.action == "POST /api/v1/exceptions" && $0.outcome == "ok" })
        #expect(audit.contains { $0.actor == "token:test-helpdesk" && $0.action == "DELETE /api/v1/exceptions/\(secondID)" && $0.outcome == "ok" })
    }

    @Test("an exception for one file: the block names the file's SHA-256, helpdesk grants for that file only, the AI tool may read it (audited with the exception) and is still refused another file with a card number")
    func fileException() async throws {
        let guarded = try FileGuardTests.Guarded()
        defer { guarded.stop() }
        let cluster = guarded.cluster
        let helpdesk = ProcessInfo.processInfo.environment.merging([
            "BULWARK_API": cluster.apiURL, "BULWARK_CA": cluster.caPath, "BULWARK_TOKEN": try cluster.apiToken(role: "helpdesk"),
        ]) { $1 }
        func bulwark(_ arguments: [String]) throws -> CommandResult { try run(Binaries.path("bulwark"), arguments, environment: helpdesk) }
        let ollama = try guarded.tool("ollama")
        let approved = try guarded.write(FileGuardTests.card, to: "approved.txt")
        let other = try guarded.write("Another customer: card 4929 1234 5678 9012 exp 01/29.\n" + FileGuardTests.card, to: "other.txt")
        #expect(try run(ollama, [approved]).status != 0)
        let blocked = try #require(try await guarded.waitForEvents("blocked") { $0.data["path"] == .string(approved) }.first)
        let hash = AgentIdentity.hex(SHA256.hash(data: Data(FileGuardTests.card.utf8)))
        #expect(blocked.data["file_sha256"] == .string(hash))
        let id = try #require(blocked.data["incident_id"]?.stringValue)
        #expect(try bulwark(["incidents", "show", id]).stdout.contains("sha256:   \(hash)"))

        let granted = try bulwark(["exceptions", "grant", "--incident", id, "--this-file", "--for", "5m", "--reason", "approved extract"])
        #expect(granted.status == 0 && granted.stdout.contains("only the file \(hash.prefix(12))"), "\(granted.output)")
        try await eventually("the approved file readable", timeout: 20) { try run(ollama, [approved]).stdout == FileGuardTests.card }
        let audited = try #require(try await guarded.waitForEvents("audited") { $0.data["path"] == .string(approved) }.first)
        #expect("\(audited.data["exceptions"] ?? .null)".contains("EX-"), "\(audited.data)")
        let refused = try run(ollama, [other])
        #expect(refused.status != 0 && refused.stdout.isEmpty, "another file stays blocked: \(refused.output)")
        let noHash = try bulwark(["exceptions", "grant", "--rule", "r", "--user", "u", "--file-sha256", "xyz", "--for", "1h", "--reason", "x"])
        #expect(noHash.status == 4 && noHash.stderr.contains("invalid_file_sha256"), "\(noHash.output)")
    }
}
