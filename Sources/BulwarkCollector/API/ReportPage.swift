import BulwarkCore
import Foundation

/// The AI usage report as a printable page.
enum ReportPage {
    static func render(_ report: AIUsageReport) -> HTMLPage {
        let e = HTMLPage.escape
        let period = "\(WireCoding.string(from: report.from)) – \(WireCoding.string(from: report.to))"
        let coverage = report.coverage
        let figures = [
            ("AI apps used", report.inventory.count), ("agents", coverage.agents), ("reporting", coverage.reporting), ("silent 24 h", coverage.silent),
            ("incidents", report.incidentsByApp.reduce(0) { $0 + $1.total }),
        ].map { "<div><b>\($0.1)</b>\(e($0.0))</div>" }.joined()
        let body = """
            <header><h1>AI usage and data exposure</h1><p>\(e(period)) · generated \(e(WireCoding.string(from: report.generatedAt)))</p></header>
            <section class="figures">\(figures)</section>
            <section><h2>AI apps in use</h2>
            \(HTMLPage.table(["App", "Name", "Category", "Risk", "State", "Users", "Devices", "Events"],
                             report.inventory.map { [$0.app, $0.name, $0.category, String(format: "%.1f", $0.risk), $0.state, String($0.users), String($0.devices), String($0.events)] },
                             empty: "No AI app was seen in this period."))
            </section>
            <section><h2>Data exposed to AI (incidents by information type)</h2>
            \(HTMLPage.table(["Information type", "Incidents", "Matches"], report.dataTypes.map { [$0.type, String($0.incidents), String($0.matches)] },
                             empty: "No incident named sensitive data in this period."))
            </section>
            <section><h2>Incidents by app</h2>
            \(HTMLPage.table(["App", "Blocked", "Warned", "Overridden", "Total"],
                             report.incidentsByApp.map { [$0.app, String($0.blocks), String($0.warnings), String($0.overrides), String($0.total)] },
                             empty: "No incidents in this period."))
            </section>
            <section><h2>Users with the most incidents</h2>
            \(HTMLPage.table(["User", "Incidents", "Blocked", "Warned", "Overridden", "Apps"],
                             report.topUsers.map { [$0.user, String($0.incidents), String($0.blocks), String($0.warnings), String($0.overrides), $0.apps.joined(separator: ", ")] },
                             empty: "No incidents in this period."))
            </section>
            <section><h2>Agent coverage</h2>
            <p>\(coverage.agents) enrolled agents (\(coverage.revoked) revoked not counted): \(coverage.reporting) reported during the period, \(coverage.silent) silent for the last 24 hours.</p>
            \(HTMLPage.table(["Policy", "Agents"], coverage.policies.sorted { $0.key < $1.key }.map { [$0.key, String($0.value)] }, empty: "No agents."))
            </section>
            """
        return HTMLPage(title: "AI usage report \(period)", body: body)
    }
}
