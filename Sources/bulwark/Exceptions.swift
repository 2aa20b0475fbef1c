import ArgumentParser
import BulwarkCore
import Foundation

/// `GET /api/v1/exceptions`, for printing.
struct ExceptionRow: Decodable {
    struct Granted: Decodable {
        var id: String
        var rule: String
        var user: String?
        var app: String?
        var until: Date
        var reason: String
        var ticket: String?
        var incident: String?
        var file_sha256: String?
    }

    var granted: Granted
    var agent: String?
    var created_by: String
    var created_at: Date
    var revoked_by: String?
    var revoked_at: Date?

    var line: String {
        let scope = [granted.user.map { "user \($0)" }, granted.app.map { "app \($0)" }, agent.map { "agent \(String($0.prefix(12)))…" }].compactMap { $0 }
        var text = "\(granted.id)  rule \(granted.rule) off for \(scope.joined(separator: ", ")) until \(WireCoding.string(from: granted.until))"
        text += "  by \(created_by): \(granted.reason)"
        if let ticket = granted.ticket { text += " [\(ticket)]" }
        if let file = granted.file_sha256 { text += " (only the file \(file.prefix(12))…)" }
        if let revoked_by { text += "  (revoked by \(revoked_by))" }
        return text
    }
}

struct Exceptions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time-boxed exceptions to a policy rule for a user or machine: grant (helpdesk, admin), list, revoke.",
        subcommands: [Grant.self, List.self, Revoke.self])

    /// `90s`, `30m`, `4h`, `7d` → seconds.
    static func seconds(_ text: String) throws -> Int {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), let count = Int(text.dropLast()), count > 0 else {
            throw ValidationError("'\(text)' is not a duration: give a number with s, m, h or d (90s, 30m, 4h, 7d)")
        }
        return count * unit
    }

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let what an incident's rule stopped happen again for that user (on that machine), for a while (audited).")
        @OptionGroup var connection: Connection
        @Option(help: "The incident: its rule, user, app and machine are the exception's.") var incident: String?
        @Option(help: "The rule (without --incident, or to override it).") var rule: String?
        @Option(help: "The user.") var user: String?
        @Option(help: "Only for this app id.") var app: String?
        @Option(help: "Only on this agent's machine.") var agent: String?
        @Flag(help: "With --incident: on every machine the user works on, not only the incident's.") var allHosts = false
        @Option(name: .customLong("for"), help: "How long: 90s, 30m, 4h, 7d (at most 30 days).") var duration: String
        @Option(help: "Why (recorded, shown on the incident).") var reason: String
        @Option(help: "Ticket reference.") var ticket: String?
        @Option(help: "Only for the file with this SHA-256 (an AI tool may read that file, no other).") var fileSha256: String?
        @Flag(help: "With --incident: only for the file the incident stopped (its SHA-256).") var thisFile = false

        func run() async throws {
            var body: [String: Any] = ["seconds": try Exceptions.seconds(duration), "reason": reason]
            for (key, value) in [("incident", incident), ("rule", rule), ("user", user), ("app", app), ("agent", agent), ("ticket", ticket)] {
                if let value { body[key] = value }
            }
            if allHosts { body["all_hosts"] = true }
            if let fileSha256 { body["file_sha256"] = fileSha256 }
            if thisFile { body["this_file"] = true }
            let answer = try await connection.send(.POST, "/api/v1/exceptions", json: try JSONSerialization.data(withJSONObject: body))
            let granted = try WireCoding.decoder().decode(ExceptionRow.self, from: answer)
            print(granted.line)
            print("agents apply it at their next policy pull (seconds); it ends by itself at \(WireCoding.string(from: granted.granted.until))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Exceptions in force (or all, with --all).")
        @OptionGroup var connection: Connection
        @Flag(help: "Include expired and revoked ones.") var all = false
        @OptionGroup var output: OutputOptions

        struct Listing: Decodable {
            var exceptions: [ExceptionRow]
        }

        func run() async throws {
            let body = try await connection.get("/api/v1/exceptions", query: [("all", all ? "true" : nil)])
            try output.print(
                {
                    let now = Date()
                    return Table(
                        ["ID", "RULE", "USER", "APP", "AGENT", "UNTIL", "STATE", "BY", "REASON", "TICKET"],
                        rows: try WireCoding.decoder().decode(Listing.self, from: body).exceptions.map { row in
                            let state = row.revoked_at != nil ? "revoked" : row.granted.until <= now ? "expired" : "active"
                            return [
                                row.granted.id, row.granted.rule, row.granted.user ?? "", row.granted.app ?? "", row.agent ?? "", WireCoding.string(from: row.granted.until),
                                state, row.created_by, row.granted.reason, row.granted.ticket ?? "",
                            ]
                        }, empty: all ? "(no exceptions)" : "(no exceptions in force)")
                }(), json: body)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End an exception now (audited).")
        @OptionGroup var connection: Connection
        @Argument(help: "Exception id (EX-…).") var id: String

        func run() async throws {
            _ = try await connection.send(.DELETE, "/api/v1/exceptions/\(id)")
            print("\(id.uppercased()) revoked; agents stop applying it at their next policy pull")
        }
    }
}
