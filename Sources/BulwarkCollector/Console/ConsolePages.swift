import BulwarkCore
import Foundation

/// The console's pages. Text goes through `HTMLPage.escape` (or `HTMLPage.table`) where it is
/// written; nothing here is a script.
enum ConsolePages {
    static let e = HTMLPage.escape

    static func login(csrf: String, problem: String?) -> HTMLPage {
        HTMLPage(title: "Bulwark console — log in", body: """
            <header><h1>Bulwark console</h1><p>Log in with an API token (bulwark-collector api-token create).</p></header>
            \(problem.map { "<p class=\"problem\" id=\"problem\">\(e($0))</p>" } ?? "")
            <form method="post" action="/console/login" id="login">
            <input type="hidden" name="csrf" value="\(e(csrf))">
            <label>API token <input type="password" name="token" id="token" autocomplete="off" required></label>
            <button type="submit">Log in</button>
            </form>
            """)
    }

    static func frame(_ session: ConsoleSessions.Session, _ title: String, _ content: String) -> HTMLPage {
        HTMLPage(title: "Bulwark — \(title)", body: """
            <nav><a href="/console">Dashboard</a> · <a href="/console/inventory">Inventory</a> · <a href="/console/agents">Agents</a> ·
            <a href="/console/incident">Incident lookup</a>
            <form method="post" action="/console/logout" class="inline"><input type="hidden" name="csrf" value="\(e(session.csrf))">
            <span id="who">\(e(session.token.name)) (\(e(session.token.role.rawValue)))</span> <button type="submit">Log out</button></form></nav>
            \(content)
            """)
    }

    static func dashboard(session: ConsoleSessions.Session, apps: [InventoryApp], agents: [AgentRecord], incidentsPerDay: [Int64: Int], now: Date) -> HTMLPage {
        let bands = [("low (< 4)", apps.filter { $0.risk < 4 }.count), ("medium (4–7)", apps.filter { $0.risk >= 4 && $0.risk < 7 }.count),
                     ("high (≥ 7)", apps.filter { $0.risk >= 7 }.count)]
        let active = agents.filter { $0.revokedAt == nil }
        let reporting = active.filter { ($0.lastSeen ?? .distantPast) > now.addingTimeInterval(-86_400) }.count
        let today = Int64(now.timeIntervalSince1970) / 86_400
        let days = (0..<14).map { today - 13 + Int64($0) }
        let total = days.reduce(0) { $0 + (incidentsPerDay[$1] ?? 0) }
        let content = """
            <header><h1>Dashboard</h1><p>\(e(WireCoding.string(from: now)))</p></header>
            <section class="figures" id="figures">
            <div><b id="apps-count">\(apps.count)</b>AI apps discovered</div>
            <div><b id="agents-count">\(active.count)</b>agents</div>
            <div><b id="reporting-count">\(reporting)</b>reporting (24 h)</div>
            <div><b id="incidents-count">\(total)</b>incidents (14 days)</div>
            </section>
            <section><h2>Incidents per day (UTC, last 14 days)</h2>\(chart(days.map { (WireCoding.utcDay(unixSeconds: $0 * 86_400), incidentsPerDay[$0] ?? 0) }))</section>
            <section><h2>Risk of the apps discovered</h2>\(HTMLPage.table(["Risk", "Apps"], bands.map { [$0.0, String($0.1)] }, empty: ""))</section>
            <section id="apps"><h2>AI apps, most recently seen first</h2>
            \(HTMLPage.table(["App", "Category", "Risk", "State", "Devices", "Users", "Last seen"],
                             apps.prefix(50).map { [$0.name ?? $0.id, $0.category ?? "", String(format: "%.1f", $0.risk), $0.state.rawValue, String($0.devices), String($0.users), WireCoding.string(from: $0.lastSeen)] },
                             empty: "No AI app discovered yet."))</section>
            <section id="agents"><h2>Agents</h2>
            \(HTMLPage.table(["Host", "Agent", "Version", "Policy", "Last seen", "State"],
                             agents.prefix(100).map { [$0.hostname, String($0.id.prefix(12)) + "…", $0.agentVersion, $0.policyVersion == 0 ? "local" : "v\($0.policyVersion)",
                                                       $0.lastSeen.map(WireCoding.string(from:)) ?? "never", $0.revokedAt == nil ? "active" : "revoked"] },
                             empty: "No agents enrolled."))</section>
            """
        return frame(session, "Dashboard", content)
    }

    /// Bars as inline SVG (no script, no external resource), with the counts as text for screen readers.
    static func chart(_ bars: [(label: String, count: Int)]) -> String {
        let top = max(1, bars.map(\.count).max() ?? 1)
        let width = 40
        let rects = bars.enumerated().map { index, bar in
            let height = Int(Double(bar.count) / Double(top) * 120)
            return "<rect x=\"\(index * width + 4)\" y=\"\(130 - height)\" width=\"\(width - 8)\" height=\"\(height)\" fill=\"#b42318\"><title>\(e(bar.label)): \(bar.count)</title></rect>"
                + "<text x=\"\(index * width + width / 2)\" y=\"146\" font-size=\"9\" text-anchor=\"middle\">\(e(String(bar.label.suffix(5))))</text>"
        }.joined()
        return "<svg id=\"incident-chart\" role=\"img\" aria-label=\"incidents per day\" viewBox=\"0 0 \(bars.count * width) 150\" width=\"100%\" height=\"160\">\(rects)</svg>"
    }

    static func incident(session: ConsoleSessions.Session, asked: String?, incident: IncidentRecord?, message: String?) -> HTMLPage {
        var content = """
            <header><h1>Incident lookup</h1><p>The id from the user's notification, e.g. BW-7K3Q9XPA2M.</p></header>
            <form method="get" action="/console/incident"><label>Incident id <input name="id" id="incident-id" value="\(e(asked ?? ""))"></label> <button type="submit">Look up</button></form>
            \(message.map { "<p class=\"problem\" id=\"message\">\(e($0))</p>" } ?? "")
            """
        if let incident {
            var types: [String] = []
            if case .array(let items) = incident.findings {
                for case .object(let fields) in items { if case .string(let type)? = fields["type"] { types.append(type) } }
            }
            let findings = types.joined(separator: ", ")
            content += """
                <section id="incident"><h2>\(e(incident.id)): \(e(incident.action)) — \(e(incident.activity ?? incident.type)) to \(e(incident.app ?? "?"))</h2>
                \(HTMLPage.table(["Field", "Value"], [
                    ["Time", WireCoding.string(from: incident.time)], ["User", incident.user ?? "?"], ["Agent", incident.agentID], ["Rule", incident.rule ?? ""],
                    ["Found", findings.isEmpty ? "nothing (the rule matched the destination or path)" : findings], ["File", incident.file ?? ""],
                    ["Status", incident.status.rawValue],
                ] + incident.notes.map { ["Note", "\(WireCoding.string(from: $0.time)) \($0.author): \($0.text)"] }, empty: ""))
                </section>
                """
            if [.admin, .helpdesk].contains(session.token.role), incident.rule != nil {
                content += """
                    <section><h2>Grant a time-boxed exception</h2>
                    <form method="post" action="/console/exceptions" id="grant">
                    <input type="hidden" name="csrf" value="\(e(session.csrf))"><input type="hidden" name="incident" value="\(e(incident.id))">
                    <label>Hours <input name="hours" type="number" min="1" max="720" value="4" required></label>
                    <label>Reason <input name="reason" required></label> <label>Ticket <input name="ticket"></label>
                    \(incident.fileSHA256 == nil ? "" : "<label><input type=\"checkbox\" name=\"this_file\"> only this file</label>")
                    <button type="submit">Grant</button></form>
                    <p>Same rule, user, app and machine as the incident; agents apply it within seconds and it ends by itself.</p></section>
                    """
            }
        }
        return frame(session, "Incident lookup", content)
    }

    /// The inventory with its filters (a GET form: links can be shared).
    static func inventory(session: ConsoleSessions.Session, apps: [InventoryApp], category: String?, state: String?, minRisk: Double?) -> HTMLPage {
        func options(_ values: [String], _ selected: String?) -> String {
            (["<option value=\"\">any</option>"] + values.map { "<option value=\"\(e($0))\"\($0 == selected ? " selected" : "")>\(e($0))</option>" }).joined()
        }
        let rows = apps.map { app in
            "<tr><td><a href=\"/console/app?id=\(e(app.id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? app.id))\">\(e(app.name ?? app.id))</a></td>"
                + [app.category ?? "", String(format: "%.1f", app.risk), app.state.rawValue, String(app.devices), String(app.users), String(app.events),
                   WireCoding.string(from: app.lastSeen)].map { "<td>\(e($0))</td>" }.joined() + "</tr>"
        }.joined(separator: "\n")
        let content = """
            <header><h1>Inventory of AI apps</h1><p>\(apps.count) apps</p></header>
            <form method="get" action="/console/inventory" id="filters">
            <label>Category <select name="category">\(options(AIAppCatalog.categories.sorted(), category))</select></label>
            <label>State <select name="state">\(options(SanctionState.allCases.map(\.rawValue), state))</select></label>
            <label>Risk at least <input name="min_risk" type="number" min="0" max="10" step="0.5" value="\(minRisk.map { String($0) } ?? "")"></label>
            <button type="submit">Filter</button></form>
            \(apps.isEmpty ? "<p class=\"empty\">No AI app matches.</p>" : "<table id=\"inventory\"><thead><tr><th>App</th><th>Category</th><th>Risk</th><th>State</th><th>Devices</th><th>Users</th><th>Events</th><th>Last seen</th></tr></thead><tbody>\n\(rows)\n</tbody></table>")
            """
        return frame(session, "Inventory", content)
    }

    static func app(session: ConsoleSessions.Session, detail: InventoryAppDetail?, id: String) -> HTMLPage {
        guard let detail else { return frame(session, id, "<h1>\(e(id))</h1><p class=\"problem\">No agent has seen this app.</p>") }
        let app = detail.app
        let content = """
            <header><h1 id="app-name">\(e(app.name ?? app.id))</h1><p>\(e(app.vendor ?? "")) · \(e(app.category ?? "")) · risk \(String(format: "%.1f", app.risk)) · \(e(app.state.rawValue))\(app.stateReason.map { " (\(e($0)))" } ?? "")</p></header>
            <section><h2>Evidence and DLP outcomes</h2>\(HTMLPage.table(["Kind", "Events"], (app.evidence.sorted { $0.key < $1.key } + app.actions.sorted { $0.key < $1.key }).map { [$0.key, String($0.value)] }, empty: "None."))</section>
            <section><h2>Users (\(app.users))</h2>\(HTMLPage.table(["User", "First seen", "Last seen", "Events"], detail.users.map { [$0.id, WireCoding.string(from: $0.firstSeen), WireCoding.string(from: $0.lastSeen), String($0.events)] }, empty: "None."))</section>
            <section><h2>Devices (\(app.devices))</h2>\(HTMLPage.table(["Agent", "First seen", "Last seen", "Events"], detail.devices.map { [$0.id, WireCoding.string(from: $0.firstSeen), WireCoding.string(from: $0.lastSeen), String($0.events)] }, empty: "None."))</section>
            """
        return frame(session, app.name ?? app.id, content)
    }

    static func agents(session: ConsoleSessions.Session, agents: [AgentRecord], health rule: AgentHealth, now: Date) -> HTMLPage {
        func health(_ agent: AgentRecord) -> String { rule.status(agent, now: now) }
        let content = """
            <header><h1>Agents</h1><p>\(agents.count) enrolled</p></header>
            \(HTMLPage.table(["Host", "Agent", "OS", "Version", "Policy", "Last seen", "Spool", "Dropped", "Certificate until", "Health"],
                             agents.map { [$0.hostname, $0.id, $0.os, $0.agentVersion, $0.policyVersion == 0 ? "local" : "v\($0.policyVersion)", $0.lastSeen.map(WireCoding.string(from:)) ?? "never",
                                           String($0.spoolDepth), String($0.dropped), WireCoding.string(from: $0.certificateNotAfter), health($0)] },
                             empty: "No agents enrolled."))
            """
        return frame(session, "Agents", content)
    }
}
