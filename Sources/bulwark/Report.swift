import ArgumentParser
import BulwarkCore
import Foundation

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "AI usage and data exposure over a period: apps, data types, incidents by app, top users, agent coverage (admins, analysts).")
    @OptionGroup var connection: Connection
    @Option(help: "Start (RFC 3339; default 30 days before --to).") var from: String?
    @Option(help: "End (RFC 3339; default now).") var to: String?
    @Flag(help: "Print the API's JSON.") var json = false
    @Flag(help: "The printable HTML page (with -o, to a file).") var html = false
    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?

    struct Summary: Decodable {
        struct App: Decodable { var app: String; var category: String; var risk: Double; var state: String; var users: Int; var devices: Int; var events: Int }
        struct DataType: Decodable { var type: String; var incidents: Int; var matches: Int }
        struct AppIncidents: Decodable { var app: String; var blocks: Int; var warnings: Int; var overrides: Int; var total: Int }
        struct User: Decodable { var user: String; var incidents: Int; var blocks: Int; var apps: [String] }
        struct Coverage: Decodable { var agents: Int; var reporting: Int; var silent: Int; var revoked: Int; var policies: [String: Int] }
        var from: Date
        var to: Date
        var inventory: [App]
        var data_types: [DataType]
        var incidents_by_app: [AppIncidents]
        var top_users: [User]
        var coverage: Coverage
    }

    func validate() throws {
        if json && html { throw ValidationError("give --json or --html, not both") }
    }

    func run() async throws {
        let body = try await connection.get("/api/v1/reports/ai-usage", query: [("from", from), ("to", to), ("format", html ? "html" : "json")])
        let text: String
        if json || html {
            text = String(decoding: body, as: UTF8.self) + (html ? "" : "\n")
        } else {
            let report = try WireCoding.decoder().decode(Summary.self, from: body)
            let colour = output == nil && Terminal.colour
            text = [
                "AI usage \(WireCoding.string(from: report.from)) – \(WireCoding.string(from: report.to))\n",
                Table(["APP", "CATEGORY", "RISK", "STATE", "USERS", "DEVICES", "EVENTS"],
                      rows: report.inventory.map { [$0.app, $0.category, String($0.risk), $0.state, String($0.users), String($0.devices), String($0.events)] },
                      empty: "(no AI app seen in this period)").text(colour: colour),
                Table(["DATA TYPE", "INCIDENTS", "MATCHES"], rows: report.data_types.map { [$0.type, String($0.incidents), String($0.matches)] },
                      empty: "(no sensitive data in incidents)").text(colour: colour),
                Table(["APP", "BLOCKED", "WARNED", "OVERRIDDEN", "TOTAL"],
                      rows: report.incidents_by_app.map { [$0.app, String($0.blocks), String($0.warnings), String($0.overrides), String($0.total)] },
                      empty: "(no incidents)").text(colour: colour),
                Table(["USER", "INCIDENTS", "BLOCKED", "APPS"], rows: report.top_users.map { [$0.user, String($0.incidents), String($0.blocks), $0.apps.joined(separator: ",")] },
                      empty: "(no incidents)").text(colour: colour),
                "agents: \(report.coverage.agents) enrolled, \(report.coverage.reporting) reporting, \(report.coverage.silent) silent 24 h, "
                    + "\(report.coverage.revoked) revoked; policies: \(report.coverage.policies.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))\n",
            ].joined(separator: "\n")
        }
        if let output {
            try SecureFile.write(Data(text.utf8), to: output, mode: .publicReadable)
            FileHandle.standardError.write(Data("report written to \(output)\n".utf8))
        } else {
            print(text, terminator: "")
        }
    }
}
