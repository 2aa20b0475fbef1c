import ArgumentParser
import BulwarkCore
import Foundation

/// `GET /api/v1/audit`, for printing.
struct AuditRow: Decodable {
    var id: Int64
    var time: Date
    var actor: String
    var source: String
    var action: String
    var target: String
    var outcome: String
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The audit log (admins): who did what, when, from where, and whether it was allowed; newest first.")
    @OptionGroup var connection: Connection
    @Option(help: "Only this actor, e.g. token:alice-helpdesk.") var actor: String?
    @Option(help: "Only actions starting with this, e.g. 'GET /api/v1/incidents' or agent.enroll.") var action: String?
    @Option(help: "Only outcomes starting with this: ok or refused.") var outcome: String?
    @Option(help: "Only entries at or after this RFC 3339 time.") var since: String?
    @Option(help: "Only entries before this RFC 3339 time.") var until: String?
    @Option(help: "Only entries older than this id (the previous page's last).") var before: Int64?
    @Option(help: "At most this many (1…1000).") var limit = 100
    @OptionGroup var output: OutputOptions

    struct Page: Decodable {
        var entries: [AuditRow]
        var next: Int64?
    }

    func run() async throws {
        let body = try await connection.get("/api/v1/audit", query: [
            ("actor", actor), ("action", action), ("outcome", outcome), ("since", since), ("until", until),
            ("before", before.map(String.init)), ("limit", String(limit)),
        ])
        try output.print(
            {
                let page = try WireCoding.decoder().decode(Page.self, from: body)
                return Table(
                    ["ID", "TIME", "ACTOR", "FROM", "ACTION", "TARGET", "OUTCOME"],
                    rows: page.entries.map { [String($0.id), WireCoding.string(from: $0.time), $0.actor, $0.source, $0.action, $0.target, $0.outcome] },
                    empty: "(no audit entries match)", footer: page.next.map { "more: --before \($0)" })
            }(), json: body)
    }
}
