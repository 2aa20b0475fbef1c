import ArgumentParser
import BulwarkCore
import Foundation

struct Risk: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Users whose recent incidents raised their risk level (adaptive protection: policy rules can tighten for them).")
    @OptionGroup var connection: Connection
    @Option(help: "One user (shown as low when not raised).") var user: String?
    @OptionGroup var output: OutputOptions

    struct Page: Decodable {
        struct User: Decodable {
            var user: String
            var level: String
            var blocks: Int
            var overrides: Int
            var last_incident: Date
        }

        var users: [User]
        var rule: String
    }

    func run() async throws {
        let body = try await connection.get("/api/v1/risk", query: [("user", user)])
        try output.print(
            {
                let page = try WireCoding.decoder().decode(Page.self, from: body)
                return Table(
                    ["USER", "LEVEL", "BLOCKS 24H", "OVERRIDES 24H", "LAST INCIDENT"],
                    rows: page.users.map { [$0.user, $0.level, String($0.blocks), String($0.overrides), $0.blocks + $0.overrides == 0 ? "-" : WireCoding.string(from: $0.last_incident)] },
                    empty: "(every user is at low risk)", footer: "rule: \(page.rule)")
            }(), json: body)
    }
}
