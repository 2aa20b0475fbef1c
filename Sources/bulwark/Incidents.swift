import ArgumentParser
import BulwarkCore
import Foundation

/// `GET /api/v1/incidents[/{id}]`, for printing.
struct IncidentRow: Decodable {
    struct Note: Decodable {
        var time: Date
        var author: String
        var text: String
    }

    struct Finding: Decodable {
        var type: String
        var count: Int?
        var confidence: Int?
    }

    var id: String
    var agent: String
    var time: Date
    var type: String
    var action: String
    var activity: String?
    var app: String?
    var category: String?
    var user: String?
    var rule: String?
    var findings: [Finding]
    var file: String?
    var file_sha256: String?
    var justification: String?
    var status: String
    var status_changed_by: String?
    var status_changed_at: Date?
    var notes: [Note]?

    /// The whole incident, for helpdesk reading it to the user.
    var text: String {
        var lines = ["\(id)  \(action): \(what)\(category.map { " (\($0))" } ?? "")  [\(status)]"]
        lines.append("time:     \(WireCoding.string(from: time))")
        lines.append("user:     \(user ?? "?") on agent \(agent)")
        if let rule { lines.append("rule:     \(rule)") }
        lines.append("found:    " + (findings.isEmpty ? "nothing (the rule matched the destination or path)" : findings.map(Self.describe).joined(separator: ", ")))
        if let file { lines.append("file:     \(file)") }
        if let file_sha256 { lines.append("sha256:   \(file_sha256) (exceptions grant --incident \(id) --this-file: that file only)") }
        if let justification { lines.append("reason given: \(justification)") }
        if let status_changed_by, let status_changed_at {
            lines.append("status:   \(status) by \(status_changed_by) at \(WireCoding.string(from: status_changed_at))")
        }
        for note in notes ?? [] { lines.append("note:     \(WireCoding.string(from: note.time)) \(note.author): \(note.text)") }
        return lines.joined(separator: "\n")
    }

    /// "paste into chatgpt", "file read by ollama"...
    var what: String {
        let app = app ?? "?"
        return switch activity {
        case "paste": "paste into \(app)"
        case "file_read_by_ai_tool": "file read by \(app)"
        case "file_upload": "upload to \(app)"
        case "ai_tool_exec": "start of \(app)"
        case let other?: "\(other) to \(app)"
        case nil: "\(type) to \(app)"
        }
    }

    static func describe(_ finding: Finding) -> String {
        "\(finding.type) ×\(finding.count ?? 1)" + (finding.confidence.map { " (confidence \($0))" } ?? "")
    }
}

struct Incidents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Warn and block decisions by the incident id users are shown: look one up, list them, resolve them.",
        subcommands: [Show.self, List.self, Resolve.self, Reopen.self, Note.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One incident by its id (the view is audited).")
        @OptionGroup var connection: Connection
        @Argument(help: "The id from the user's notification, e.g. BW-7K3Q9XPA2M.") var id: String
        @Flag(help: "Print the API's JSON.") var json = false

        func run() async throws {
            let body = try await connection.get("/api/v1/incidents/\(id)")
            if json { print(String(decoding: body, as: UTF8.self)); return }
            print(try WireCoding.decoder().decode(IncidentRow.self, from: body).text)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Incidents, newest first (admin, analyst).")
        @OptionGroup var connection: Connection
        @Option(help: "open, resolved or false_positive.") var status: String?
        @Option(help: "Only this user's.") var user: String?
        @Option(help: "Only those involving this app id.") var app: String?
        @Option(help: "Only incidents at or after this RFC 3339 time.") var since: String?
        @Option(help: "Only incidents older than this one (the previous page's last id).") var before: String?
        @Option(help: "At most this many (1…1000).") var limit = 100
        @OptionGroup var output: OutputOptions

        struct Page: Decodable {
            var incidents: [IncidentRow]
            var next: String?
        }

        func run() async throws {
            let body = try await connection.get(
                "/api/v1/incidents",
                query: [("status", status), ("user", user), ("app", app), ("since", since), ("before", before), ("limit", String(limit))])
            try output.print(
                {
                    let page = try WireCoding.decoder().decode(Page.self, from: body)
                    return Table(
                        ["ID", "TIME", "ACTION", "APP", "USER", "STATUS", "RULE", "FOUND"],
                        rows: page.incidents.map { incident in
                            [
                                incident.id, WireCoding.string(from: incident.time), incident.action, incident.app ?? "?", incident.user ?? "?", incident.status,
                                incident.rule ?? "", incident.findings.map(\.type).joined(separator: "+"),
                            ]
                        }, empty: "(no incidents match)", footer: page.next.map { "more: --before \($0)" })
                }(), json: body)
        }
    }

    /// `PATCH /api/v1/incidents/{id}` and the incident as it is now.
    static func update(_ connection: Connection, _ id: String, _ change: [String: String]) async throws {
        let body = try await connection.send(.PATCH, "/api/v1/incidents/\(id)", json: try JSONSerialization.data(withJSONObject: change))
        print(try WireCoding.decoder().decode(IncidentRow.self, from: body).text)
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark an incident resolved, or a false positive (audited).")
        @OptionGroup var connection: Connection
        @Argument(help: "Incident id.") var id: String
        @Flag(help: "The content was not sensitive after all (tunes the policy later).") var falsePositive = false
        @Option(help: "What was done, kept with the incident.") var note: String?

        func run() async throws {
            var change = ["status": falsePositive ? "false_positive" : "resolved"]
            if let note { change["note"] = note }
            try await Incidents.update(connection, id, change)
        }
    }

    struct Reopen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open a resolved incident again (audited).")
        @OptionGroup var connection: Connection
        @Argument(help: "Incident id.") var id: String
        @Option(help: "Why.") var note: String?

        func run() async throws {
            var change = ["status": "open"]
            if let note { change["note"] = note }
            try await Incidents.update(connection, id, change)
        }
    }

    struct Note: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a note to an incident (audited).")
        @OptionGroup var connection: Connection
        @Argument(help: "Incident id.") var id: String
        @Argument(help: "The note.") var text: String

        func run() async throws {
            try await Incidents.update(connection, id, ["note": text])
        }
    }
}
