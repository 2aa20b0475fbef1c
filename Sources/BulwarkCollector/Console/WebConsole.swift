import BulwarkCore
import Foundation
import Hummingbird

/// The web console on the API listener (`/console`): server-rendered pages, no script at all.
/// Login with an API token makes a session cookie (HttpOnly, Secure, SameSite=Strict, path
/// /console); every form carries the session's CSRF token (the login form a cookie-bound one);
/// every page is escaped where it writes text and served with a CSP that allows only its own
/// style. Roles are the token's, as in the API, and every page and action is audited.
struct WebConsole: Sendable {
    let store: any CollectorStore
    let sessions: ConsoleSessions
    var health = AgentHealth()

    static let sessionCookie = "bulwark_session"
    static let loginCookie = "bulwark_login"

    func register(on router: Router<ConsoleRequestContext>) {
        router.get("console/login") { _, _ in
            let csrf = ConsoleSessions.secret()
            var response = Self.page(ConsolePages.login(csrf: csrf, problem: nil))
            response.setCookie(Self.cookie(Self.loginCookie, csrf, maxAge: 600))
            return response
        }
        router.post("console/login") { request, context in
            let form = try await Self.form(request)
            guard let sent = form["csrf"], let expected = request.cookies[Self.loginCookie]?.value, ConsoleSessions.same(sent, expected) else {
                try? await store.audit(AuditEntry(actor: "anonymous", source: context.clientAddress, action: "console.login", target: "", outcome: "refused: csrf"))
                return Self.page(ConsolePages.login(csrf: ConsoleSessions.secret(), problem: "The form expired; log in again."), status: .forbidden)
            }
            guard let secret = form["token"]?.trimmingCharacters(in: .whitespaces), !secret.isEmpty,
                  let token = try await store.apiToken(hash: SecretToken.hash(secret)), token.revokedAt == nil
            else {
                try? await store.audit(AuditEntry(actor: "anonymous", source: context.clientAddress, action: "console.login", target: "", outcome: "refused: bad token"))
                let csrf = ConsoleSessions.secret()
                var response = Self.page(ConsolePages.login(csrf: csrf, problem: "That token is unknown or revoked."), status: .unauthorized)
                response.setCookie(Self.cookie(Self.loginCookie, csrf, maxAge: 600))
                return response
            }
            guard token.role != .metrics else {
                try? await store.audit(AuditEntry(actor: "token:\(token.name)", source: context.clientAddress, action: "console.login", target: "", outcome: "refused: metrics token"))
                let csrf = ConsoleSessions.secret()
                var response = Self.page(ConsolePages.login(csrf: csrf, problem: "A metrics token can only read /metrics."), status: .forbidden)
                response.setCookie(Self.cookie(Self.loginCookie, csrf, maxAge: 600))
                return response
            }
            let (id, _) = try await sessions.open(for: token)
            try? await store.audit(AuditEntry(actor: "token:\(token.name)", source: context.clientAddress, action: "console.login", target: "", outcome: "ok"))
            var response = Response(status: .seeOther, headers: [.location: "/console"])
            response.setCookie(Self.cookie(Self.sessionCookie, id, maxAge: Int(sessions.lifetime)))
            return response
        }
        router.post("console/logout") { request, context in
            if let (id, session) = try await session(request), let form = try? await Self.form(request), ConsoleSessions.same(form["csrf"] ?? "", session.csrf) {
                try await sessions.close(id)
                try? await store.audit(AuditEntry(actor: "token:\(session.token.name)", source: context.clientAddress, action: "console.logout", target: "", outcome: "ok"))
            }
            var response = Response(status: .seeOther, headers: [.location: "/console/login"])
            response.setCookie(Self.cookie(Self.sessionCookie, "", maxAge: 0))
            return response
        }
        router.get("console") { request, context in
            try await signedIn(request, context, "GET /console") { session in
                let now = Date()
                let apps = try await store.inventoryApps(InventoryQuery())
                let agents = try await store.agents()
                let perDay = try await store.incidentsPerDay(since: now.addingTimeInterval(-13 * 86_400))
                return ConsolePages.dashboard(session: session, apps: apps, agents: agents, incidentsPerDay: perDay, now: now)
            }
        }
        router.get("console/inventory") { request, context in
            let parameters = request.uri.queryParameters
            let category = parameters["category"].map(String.init).flatMap { AIAppCatalog.categories.contains($0) ? $0 : nil }
            let state = parameters["state"].map(String.init).flatMap(SanctionState.init(rawValue:))
            let minRisk = parameters["min_risk"].flatMap { Double($0) }.flatMap { (0...10).contains($0) ? $0 : nil }
            return try await signedIn(request, context, "GET /console/inventory", target: request.uri.query ?? "") { session in
                let apps = try await store.inventoryApps(InventoryQuery(category: category, state: state, minRisk: minRisk))
                return ConsolePages.inventory(session: session, apps: apps, category: category, state: state?.rawValue, minRisk: minRisk)
            }
        }
        router.get("console/app") { request, context in
            let id = request.uri.queryParameters["id"].map(String.init) ?? ""
            return try await signedIn(request, context, "GET /console/app", target: id) { session in
                ConsolePages.app(session: session, detail: try await store.inventoryApp(id: id, page: InventoryPage()), id: id)
            }
        }
        router.get("console/agents") { request, context in
            try await signedIn(request, context, "GET /console/agents") { session in
                ConsolePages.agents(session: session, agents: try await store.agents(), health: health, now: Date())
            }
        }
        router.get("console/incident") { request, context in
            let id = request.uri.queryParameters["id"].map { String($0).uppercased() }
            return try await signedIn(request, context, "GET /console/incident", target: id ?? "") { session in
                guard let id, !id.isEmpty else { return ConsolePages.incident(session: session, asked: nil, incident: nil, message: nil) }
                let incident = try await store.incident(id: id)
                return ConsolePages.incident(session: session, asked: id, incident: incident, message: incident == nil ? "No incident \(id)." : nil)
            }
        }
        router.post("console/exceptions") { request, context in
            let form = try await Self.form(request)
            return try await signedIn(request, context, "POST /console/exceptions", target: form["incident"] ?? "", csrf: form["csrf"]) { session in
                guard [.admin, .helpdesk].contains(session.token.role) else {
                    return ConsolePages.incident(session: session, asked: form["incident"], incident: nil, message: "Only helpdesk and admins grant exceptions.")
                }
                let hours = Int(form["hours"] ?? "") ?? 0
                var message: String
                do {
                    let record = try await ConsoleRoutes.grant(
                        ConsoleRoutes.ExceptionRequest(
                            incident: form["incident"], seconds: hours * 3600, reason: form["reason"] ?? "", ticket: form["ticket"].flatMap { $0.isEmpty ? nil : $0 },
                            thisFile: form["this_file"] == "on"),
                        by: "token:\(session.token.name)", store: store)
                    message = "Exception \(record.granted.id) granted until \(WireCoding.string(from: record.granted.until))."
                } catch let failure as APIFailure {
                    message = "Not granted: \(failure.body.message)"
                }
                let incident = try await store.incident(id: (form["incident"] ?? "").uppercased())
                return ConsolePages.incident(session: session, asked: form["incident"], incident: incident, message: message)
            }
        }
    }

    /// The signed-in user's page, or the login page (no or expired session), or 403 (a form
    /// without the session's CSRF token). Audited either way.
    func signedIn(
        _ request: Request, _ context: ConsoleRequestContext, _ action: String, target: String = "", csrf: String? = nil,
        _ render: (ConsoleSessions.Session) async throws -> HTMLPage
    ) async throws -> Response {
        guard let (_, session) = try await session(request) else {
            return Response(status: .seeOther, headers: [.location: "/console/login"])
        }
        let actor = "token:\(session.token.name)"
        if request.method == .post, !ConsoleSessions.same(csrf ?? "", session.csrf) {
            try? await store.audit(AuditEntry(actor: actor, source: context.clientAddress, action: action, target: target, outcome: "refused: csrf"))
            return Self.page(HTMLPage(title: "Refused", body: "<h1>Refused</h1><p>The form did not carry this session's token; reload the page and try again.</p>"), status: .forbidden)
        }
        let page = try await render(session)
        try? await store.audit(AuditEntry(actor: actor, source: context.clientAddress, action: action, target: target, outcome: "ok"))
        return Self.page(page)
    }

    func session(_ request: Request) async throws -> (String, ConsoleSessions.Session)? {
        guard let id = request.cookies[Self.sessionCookie]?.value, let session = try await sessions.session(id) else { return nil }
        return (id, session)
    }

    static func page(_ page: HTMLPage, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: page.headers, body: .init(byteBuffer: ByteBuffer(string: page.html)))
    }

    static func cookie(_ name: String, _ value: String, maxAge: Int) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/console", secure: true, httpOnly: true, sameSite: .strict)
    }

    /// An `application/x-www-form-urlencoded` body (at most 16 KiB).
    static func form(_ request: Request) async throws -> [String: String] {
        let body = String(buffer: try await AgentRoutes.readBody(request, limit: 16 * 1024))
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if let name = parts.first { fields[name] = parts.count > 1 ? parts[1] : "" }
        }
        return fields
    }
}
