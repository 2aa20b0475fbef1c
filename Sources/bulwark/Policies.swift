import ArgumentParser
import BulwarkCore
import Foundation

/// `GET /api/v1/policies`, for printing.
struct PolicyVersionRow: Decodable {
    var version: Int
    var name: String
    var sha256: String
    var comment: String
    var created_by: String
    var created_at: Date
    var restores: Int?
    var yaml: String?
    var agents: Int?
}

struct Policies: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "The deployment's DLP policy, versioned: push a new one (admins), list, show, diff, roll back. Agents pull the newest within seconds.",
        subcommands: [Push.self, List.self, Show.self, Diff.self, Rollback.self])

    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a policy file on the collector (refused with line and column) and make it the next version agents install.")
        @OptionGroup var connection: Connection
        @Argument(help: "The policy YAML (docs/POLICY.md).") var file: String
        @Option(help: "What changed and why (kept with the version).") var comment: String

        func run() async throws {
            let text: Data
            do { text = try Data(contentsOf: URL(fileURLWithPath: file)) } catch { throw ValidationError("cannot read \(file): \(error.localizedDescription)") }
            let answer = try await connection.send(.POST, "/api/v1/policies", query: [("comment", comment)], json: text, contentType: "application/yaml")
            let version = try WireCoding.decoder().decode(PolicyVersionRow.self, from: answer)
            print("policy '\(version.name)' is version \(version.version) (sha256 \(version.sha256.prefix(12))…); agents install it at their next pull")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every version, newest first, with how many agents run each.")
        @OptionGroup var connection: Connection
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let body = try await connection.get("/api/v1/policies")
            try output.print(
                Table(
                    ["VERSION", "NAME", "AGENTS", "PUSHED", "BY", "SHA256", "COMMENT"],
                    rows: (try WireCoding.decoder().decode([String: [PolicyVersionRow]].self, from: body)["policies"] ?? []).map { row in
                        [
                            String(row.version), row.name, String(row.agents ?? 0), WireCoding.string(from: row.created_at), row.created_by,
                            String(row.sha256.prefix(12)), row.comment + (row.restores.map { " (restores v\($0))" } ?? ""),
                        ]
                    }, empty: "(no policy pushed yet: agents enforce their own)"), json: body)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A version's text (the current one without VERSION).")
        @OptionGroup var connection: Connection
        @Argument(help: "Version number.") var version: Int?

        func run() async throws {
            let body = try await connection.get("/api/v1/policies/\(version.map(String.init) ?? "current")")
            print(try WireCoding.decoder().decode(PolicyVersionRow.self, from: body).yaml ?? "", terminator: "")
        }
    }

    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What changed between two versions (unified diff; TO defaults to the current one).")
        @OptionGroup var connection: Connection
        @Argument(help: "From version.") var from: Int
        @Argument(help: "To version.") var to: Int?

        func run() async throws {
            let body = try await connection.get("/api/v1/policies/diff", query: [("from", String(from)), ("to", to.map(String.init))])
            let diff = String(decoding: body, as: UTF8.self)
            print(diff.isEmpty ? "(no difference)" : diff, terminator: diff.isEmpty ? "\n" : "")
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make an earlier version's text the next version (history is kept).")
        @OptionGroup var connection: Connection
        @Argument(help: "The version to restore.") var version: Int
        @Option(help: "Why.") var comment: String

        func run() async throws {
            let body = try JSONSerialization.data(withJSONObject: ["version": version, "comment": comment])
            let answer = try WireCoding.decoder().decode(PolicyVersionRow.self, from: try await connection.send(.POST, "/api/v1/policies/rollback", json: body))
            print("version \(answer.version) restores version \(version); agents install it at their next pull")
        }
    }
}
