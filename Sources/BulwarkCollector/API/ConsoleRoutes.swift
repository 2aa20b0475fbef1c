import BulwarkCore
import Foundation
import Hummingbird

/// Checks `Authorization: Bearer …` against the stored API tokens and audits every request.
public struct BearerAuthenticator: RouterMiddleware {
    public typealias Context = ConsoleRequestContext
    let store: any CollectorStore

    public init(store: any CollectorStore) {
        self.store = store
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            try? await store.audit(AuditEntry(actor: "anonymous", source: context.clientAddress, action: "\(request.method) \(request.uri.path)", target: "", outcome: "refused: no token"))
            throw APIFailure(.unauthorized, "token_required", "send 'Authorization: Bearer <token>'; create a token with 'bulwark-collector api-token create'")
        }
        let secret = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        let token: APIToken?
        do {
            token = try await store.apiToken(hash: SecretToken.hash(secret))
        } catch {
            throw APIFailure(.serviceUnavailable, "store_unavailable", "the collector cannot check tokens right now; retry later", retryAfterSeconds: 5)
        }
        guard let token, token.revokedAt == nil else {
            try? await store.audit(AuditEntry(actor: "anonymous", source: context.clientAddress, action: "\(request.method) \(request.uri.path)", target: "", outcome: "refused: bad token"))
            throw APIFailure(.unauthorized, "token_invalid", "the bearer token is unknown or revoked")
        }
        var context = context
        context.token = token
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let outcome = (error as? APIFailure).map { "refused: \($0.body.code)" } ?? "error"
            try? await store.audit(AuditEntry(actor: context.actor, source: context.clientAddress, action: "\(request.method) \(request.uri.path)", target: request.uri.query ?? "", outcome: outcome))
            throw error
        }
        try? await store.audit(AuditEntry(actor: context.actor, source: context.clientAddress, action: "\(request.method) \(request.uri.path)", target: request.uri.query ?? "", outcome: "ok"))
        return response
    }
}

extension ConsoleRequestContext {
    /// Who is acting, as the audit log and records name them: `token:<name>`.
    var actor: String { "token:\(token?.name ?? "?")" }

    /// Throws 403 unless the authenticated token has one of `roles`.
    func require(_ roles: Set<Role>) throws(APIFailure) {
        guard let token else { throw APIFailure(.unauthorized, "token_required", "authentication required") }
        guard roles.contains(token.role) else {
            throw APIFailure(.forbidden, "role_forbidden", "role '\(token.role.rawValue)' may not do this; it needs one of: \(roles.map(\.rawValue).sorted().joined(separator: ", "))")
        }
    }
}

/// Routes of the console/API listener.
public struct ConsoleRoutes: Sendable {
    let store: any CollectorStore
    /// The deployment's CA certificate: `bulwark login` checks it against the fingerprint it
    /// was given before trusting anything else from this listener.
    let caPEM: String
    let health: AgentHealth

    public init(store: any CollectorStore, caPEM: String, staleAfter: TimeInterval = 3600) {
        self.store = store
        self.caPEM = caPEM
        health = AgentHealth(staleAfter: staleAfter)
    }

    public func register(on router: Router<ConsoleRequestContext>) {
        router.get("api/ca") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/x-pem-file"], body: .init(byteBuffer: ByteBuffer(string: caPEM)))
        }
        router.get("api/openapi.json") { _, _ in try Response.json(OpenAPIDocument.json) }
        let api = router.group("api/v1").add(middleware: BearerAuthenticator(store: store))
        PolicyRoutes(store: store).register(on: api)
        api.get("reports/ai-usage") { request, context in
            try context.require([.admin, .analyst])
            let parameters = request.uri.queryParameters
            let now = Date()
            let to = try Self.time(parameters, "to") ?? now
            let from = try Self.time(parameters, "from") ?? to.addingTimeInterval(-30 * 86_400)
            guard from < to else { throw APIFailure(.badRequest, "invalid_parameter", "from must be before to") }
            let report = try await store.aiUsageReport(from: from, to: to, now: now)
            switch parameters["format"].map(String.init) ?? "json" {
            case "json": return try Response.json(report)
            case "html":
                let page = ReportPage.render(report)
                return Response(status: .ok, headers: page.headers, body: .init(byteBuffer: ByteBuffer(string: page.html)))
            default: throw APIFailure(.badRequest, "invalid_parameter", "format must be json or html")
            }
        }
        api.get("risk") { request, context in
            try context.require([.admin, .analyst, .helpdesk])
            var users = try await store.userRisk(now: Date())
            if let user = request.uri.queryParameters["user"].map(String.init) {
                users = users.filter { $0.user == user }
                if users.isEmpty { users = [UserRiskRecord(user: user, level: .low, blocks: 0, overrides: 0, lastIncident: Date(millis: 0))] }
            }
            return try Response.json(RiskPage(users: users, rule: Self.riskRule))
        }
        api.get("whoami") { _, context in
            try context.require([.admin, .analyst, .helpdesk])
            return try Response.json(["name": context.token?.name ?? "", "role": context.token?.role.rawValue ?? ""])
        }
        api.get("agents") { request, context in
            try context.require([.admin, .analyst, .helpdesk])
            let now = Date()
            var agents = try await store.agents()
            switch request.uri.queryParameters["stale"].map(String.init) {
            case nil: break
            case "true": agents = agents.filter { health.isStale($0, now: now) }
            case "false": agents = agents.filter { !health.isStale($0, now: now) }
            default: throw APIFailure(.badRequest, "invalid_parameter", "stale must be true or false")
            }
            return try Response.json(["agents": agents.map { health.view($0, now: now) }])
        }
        api.get("events") { request, context in
            try context.require([.admin, .analyst, .helpdesk])
            let query = try Self.eventQuery(request.uri.queryParameters)
            let events = try await store.events(query)
            return try Response.json(EventPage(events: events, next: events.count == query.limit ? events.last?.id : nil))
        }
        api.get("events/export") { request, context in
            try context.require([.admin, .analyst])
            let parameters = request.uri.queryParameters
            guard parameters["limit"] == nil else {
                throw APIFailure(.badRequest, "invalid_parameter", "an export has no limit: narrow it with since/until and the other filters")
            }
            let name = parameters["format"].map(String.init) ?? "ndjson"
            guard let format = EventExport.Format(rawValue: name) else {
                throw APIFailure(.badRequest, "invalid_parameter", "format must be ndjson or csv")
            }
            return try await EventExport(store: store, query: try Self.eventQuery(parameters), format: format).response()
        }
        api.get("inventory/apps") { request, context in
            try context.require([.admin, .analyst, .helpdesk])
            let query = try Self.inventoryQuery(request.uri.queryParameters)
            return try Response.json(["apps": try await store.inventoryApps(query)])
        }
        api.get("inventory/apps/:id") { request, context in
            try context.require([.admin, .analyst, .helpdesk])
            let id = context.parameters.get("id") ?? ""
            let parameters = request.uri.queryParameters
            var page = InventoryPage()
            if let limit = try Self.limit(parameters, max: 10_000) { page.limit = limit }
            if let offset = parameters["offset"] {
                guard let value = Int(offset), value >= 0 else { throw APIFailure(.badRequest, "invalid_parameter", "offset must be an integer ≥ 0") }
                page.offset = value
            }
            guard let detail = try await store.inventoryApp(id: id, page: page) else {
                throw APIFailure(.notFound, "app_not_found", "no app '\(id)' has been seen by any agent")
            }
            return try Response.json(detail)
        }
        api.get("inventory/devices/:id") { _, context in
            try context.require([.admin, .analyst, .helpdesk])
            let id = context.parameters.get("id") ?? ""
            guard let device = try await store.inventoryDevice(agentID: id) else {
                throw APIFailure(.notFound, "agent_not_found", "no agent '\(id)' is enrolled")
            }
            return try Response.json(device)
        }
        api.get("inventory/users/:user") { _, context in
            try context.require([.admin, .analyst, .helpdesk])
            let user = context.parameters.get("user") ?? ""
            guard let view = try await store.inventoryUser(name: user) else {
                throw APIFailure(.notFound, "user_not_found", "no AI app has been seen for user '\(user)'")
            }
            return try Response.json(view)
        }
        api.get("catalog") { request, context in
            try context.require([.admin, .analyst, .helpdesk])
            let query = try Self.inventoryQuery(request.uri.queryParameters)
            let apps = store.catalog.apps.filter { app in
                (query.category == nil || app.category == query.category) && app.riskScore >= (query.minRisk ?? 0)
            }
            return try Response.json(CatalogListing(version: store.catalog.version, apps: apps.map(CatalogListing.Entry.init)))
        }
        api.get("catalog/:id") { _, context in
            try context.require([.admin, .analyst, .helpdesk])
            let id = context.parameters.get("id") ?? ""
            guard let app = store.catalog.app(id: id) else {
                throw APIFailure(.notFound, "app_not_in_catalog", "the catalog has no app '\(id)'; add it with the deployment's catalog.yaml")
            }
            return try Response.json(CatalogEntryDetail(app))
        }
        api.get("incidents") { request, context in
            try context.require([.admin, .analyst])
            let query = try Self.incidentQuery(request.uri.queryParameters)
            let incidents = try await store.incidents(query)
            return try Response.json(IncidentList(incidents: incidents, next: incidents.count == query.limit ? incidents.last?.id : nil))
        }
        // Helpdesk looks an incident up by the id the user quotes; every view is audited (the
        // authenticator records who asked for which id).
        api.get("incidents/:id") { _, context in
            try context.require([.admin, .analyst, .helpdesk])
            let id = try Self.incidentID(context)
            guard let incident = try await store.incident(id: id) else {
                throw APIFailure(.notFound, "incident_not_found", "no incident \(id); check the id in the user's notification (agents report within seconds when they can reach the collector)")
            }
            return try Response.json(incident)
        }
        api.patch("incidents/:id") { request, context in
            try context.require([.admin, .analyst, .helpdesk])
            let id = try Self.incidentID(context)
            let body = try await AgentRoutes.readBody(request, limit: 16 * 1024)
            guard let change = try? WireCoding.decoder().decode(IncidentChangeRequest.self, from: body), change.status != nil || change.note != nil else {
                throw APIFailure(.badRequest, "invalid_body", #"send {"status": "open|resolved|false_positive", "note": "what was done"} (either or both)"#)
            }
            var status: IncidentStatus?
            if let text = change.status {
                guard let value = IncidentStatus(rawValue: text) else {
                    throw APIFailure(.badRequest, "invalid_status", "status must be one of: \(IncidentStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                status = value
            }
            let note = change.note?.trimmingCharacters(in: .whitespacesAndNewlines)
            if let note, note.isEmpty || note.count > 4000 { throw APIFailure(.badRequest, "invalid_note", "a note is 1 to 4000 characters") }
            guard let updated = try await store.updateIncident(
                id: id, change: IncidentChange(status: status, note: note, by: context.actor, at: Date()))
            else {
                throw APIFailure(.notFound, "incident_not_found", "no incident \(id)")
            }
            return try Response.json(updated)
        }
        api.post("exceptions") { request, context in
            try context.require([.admin, .helpdesk])
            return try await grantException(request, context)
        }
        api.get("exceptions") { request, context in
            try context.require([.admin, .analyst, .helpdesk])
            let all = request.uri.queryParameters["all"].map { $0 == "true" || $0 == "1" } ?? false
            return try Response.json(["exceptions": try await store.exceptions(now: Date(), includeEnded: all)])
        }
        api.delete("exceptions/:id") { _, context in
            try context.require([.admin, .helpdesk])
            let id = (context.parameters.get("id") ?? "").uppercased()
            guard try await store.revokeException(id: id, by: context.actor, at: Date()) else {
                throw APIFailure(.notFound, "exception_not_found", "no exception \(id) in force (already revoked?)")
            }
            return try Response.json(["exception": id, "revoked": "yes"])
        }
        api.get("audit") { request, context in
            try context.require([.admin])
            let query = try Self.auditQuery(request.uri.queryParameters)
            let entries = try await store.auditEntries(query)
            return try Response.json(AuditPage(entries: entries, next: entries.count == query.limit ? entries.last?.id : nil))
        }
        api.put("apps/:id/state") { request, context in
            try context.require([.admin, .analyst])
            let id = context.parameters.get("id") ?? ""
            let body = try await AgentRoutes.readBody(request, limit: 16 * 1024)
            guard let change = try? WireCoding.decoder().decode(StateChangeRequest.self, from: body) else {
                throw APIFailure(.badRequest, "invalid_body", #"send {"state": "unreviewed|sanctioned|monitored|unsanctioned", "reason": "why"}"#)
            }
            guard let state = SanctionState(rawValue: change.state) else {
                throw APIFailure(.badRequest, "invalid_state", "state must be one of: \(SanctionState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let reason = change.reason.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !reason.isEmpty, reason.count <= 1000 else { throw APIFailure(.badRequest, "reason_required", "give a reason (1 to 1000 characters)") }
            guard id.count <= 128, id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw APIFailure(.badRequest, "invalid_app", "app ids are letters, digits, '-', '_' and '.'")
            }
            let changed = try await store.setAppState(
                id: id, change: AppStateChange(state: state, reason: reason, by: context.actor, at: Date()))
            return try Response.json(["app": id, "state": state.rawValue, "changed": changed ? "yes" : "no"])
        }
    }

    /// `POST /api/v1/exceptions`: from an incident (its rule, user and app, on its agent's machine
    /// unless `all_hosts`), or spelled out.
    struct ExceptionRequest: Decodable {
        var incident: String?
        var rule: String?
        var user: String?
        var app: String?
        var agent: String?
        var allHosts: Bool?
        var seconds: Int
        var reason: String
        var ticket: String?
        /// Only for this file (SHA-256, hex), or with an incident `this_file`: the file it stopped.
        var fileSHA256: String?
        var thisFile: Bool?

        init(
            incident: String? = nil, rule: String? = nil, user: String? = nil, app: String? = nil, agent: String? = nil, allHosts: Bool? = nil, seconds: Int,
            reason: String, ticket: String? = nil, fileSHA256: String? = nil, thisFile: Bool? = nil
        ) {
            (self.incident, self.rule, self.user, self.app, self.agent, self.allHosts) = (incident, rule, user, app, agent, allHosts)
            (self.seconds, self.reason, self.ticket, self.fileSHA256, self.thisFile) = (seconds, reason, ticket, fileSHA256, thisFile)
        }

        enum CodingKeys: String, CodingKey {
            case incident, rule, user, app, agent, seconds, reason, ticket
            case allHosts = "all_hosts", fileSHA256 = "file_sha256", thisFile = "this_file"
        }
    }

    /// The longest exception helpdesk can grant: 30 days.
    static let maxExceptionSeconds = 30 * 24 * 3600

    func grantException(_ request: Request, _ context: ConsoleRequestContext) async throws -> Response {
        let body = try await AgentRoutes.readBody(request, limit: 16 * 1024)
        guard let ask = try? WireCoding.decoder().decode(ExceptionRequest.self, from: body) else {
            throw APIFailure(
                .badRequest, "invalid_body",
                #"send {"incident": "BW-…", "seconds": 14400, "reason": "why", "ticket": "optional"} or {"rule", "user", "app", "agent", "seconds", "reason"}"#)
        }
        return try Response.json(try await Self.grant(ask, by: context.actor, store: store), status: .created)
    }

    /// Grants an exception (the API's and the web console's one way), noting it on its incident.
    static func grant(_ ask: ExceptionRequest, by actor: String, store: any CollectorStore) async throws -> ExceptionRecord {
        guard (1...Self.maxExceptionSeconds).contains(ask.seconds) else {
            throw APIFailure(.badRequest, "invalid_duration", "seconds must be 1 to \(Self.maxExceptionSeconds) (30 days); exceptions are time-boxed")
        }
        let reason = ask.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, reason.count <= 1000 else { throw APIFailure(.badRequest, "reason_required", "give a reason (1 to 1000 characters)") }
        var (rule, user, app, agent, file) = (ask.rule, ask.user, ask.app, ask.agent, ask.fileSHA256?.lowercased())
        if let file, file.count != 64 || !file.allSatisfy(\.isHexDigit) {
            throw APIFailure(.badRequest, "invalid_file_sha256", "file_sha256 is the file's SHA-256: 64 hex digits")
        }
        if let incidentID = ask.incident {
            guard let incident = try await store.incident(id: incidentID.uppercased()) else {
                throw APIFailure(.notFound, "incident_not_found", "no incident \(incidentID)")
            }
            guard let incidentRule = incident.rule else {
                throw APIFailure(.badRequest, "incident_without_rule", "incident \(incident.id) names no rule to except")
            }
            rule = rule ?? incidentRule
            user = user ?? incident.user
            app = app ?? incident.app
            agent = ask.allHosts == true ? nil : (agent ?? incident.agentID)
            if ask.thisFile == true {
                guard let hash = incident.fileSHA256 else {
                    throw APIFailure(.badRequest, "incident_without_file", "incident \(incident.id) names no file hash (only file blocks do); give file_sha256")
                }
                file = hash
            }
        }
        guard let rule, !rule.isEmpty, rule.count <= 128 else { throw APIFailure(.badRequest, "rule_required", "name the rule to except (or give an incident)") }
        guard user != nil || agent != nil else {
            throw APIFailure(.badRequest, "scope_required", "an exception is for a user or a machine: give user or agent (a rule is switched off for everyone by editing the policy)")
        }
        if let agent, try await store.agent(id: agent) == nil { throw APIFailure(.notFound, "agent_not_found", "no agent \(agent)") }
        let now = Date()
        let record = ExceptionRecord(
            granted: GrantedException(
                id: ExceptionRecord.newID(), rule: rule, user: user, app: app, until: now.addingTimeInterval(Double(ask.seconds)), reason: reason,
                ticket: ask.ticket, incident: ask.incident?.uppercased(), fileSHA256: file),
            agentID: agent, createdBy: actor, createdAt: now)
        try await store.grantException(record)
        // The grant stands once stored; the incident's note is a courtesy that must not turn a
        // granted exception into an error the caller would retry (granting a second one).
        if let incident = record.granted.incident {
            _ = try? await store.updateIncident(
                id: incident,
                change: IncidentChange(
                    status: nil, note: "exception \(record.granted.id) granted until \(WireCoding.string(from: record.granted.until)): \(reason)", by: record.createdBy, at: now))
        }
        return record
    }

    struct IncidentChangeRequest: Decodable {
        var status: String?
        var note: String?
    }

    struct IncidentList: Encodable {
        var incidents: [IncidentRecord]
        /// Pass as `before` for the next (older) page; absent on the last page.
        var next: String?
    }

    static func incidentID(_ context: ConsoleRequestContext) throws(APIFailure) -> String {
        let id = context.parameters.get("id") ?? ""
        guard (1...64).contains(id.count), id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw APIFailure(.badRequest, "invalid_incident_id", "incident ids look like BW-7K3Q9XPA2M (from the user's notification)")
        }
        return id.uppercased()
    }

    static func incidentQuery(_ parameters: Parameters) throws(APIFailure) -> IncidentQuery {
        var query = IncidentQuery()
        if let status = parameters["status"] {
            guard let value = IncidentStatus(rawValue: String(status)) else {
                throw APIFailure(.badRequest, "invalid_parameter", "status must be one of: \(IncidentStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.status = value
        }
        query.user = parameters["user"].map(String.init)
        query.app = parameters["app"].map(String.init)
        query.before = parameters["before"].map(String.init)
        query.since = try time(parameters, "since")
        if let limit = try limit(parameters, max: 1000) { query.limit = limit }
        return query
    }

    struct RiskPage: Encodable {
        var users: [UserRiskRecord]
        var rule: String
    }

    static let riskRule =
        "over the last 24 h, not counting false positives: \(UserRiskRule.highBlocks)+ blocks → high; \(UserRiskRule.elevatedBlocks)+ blocks or \(UserRiskRule.elevatedOverrides)+ overridden warnings → elevated; otherwise low"

    struct EventPage: Encodable {
        var events: [StoredEvent]
        /// Pass as `after` for the next page; absent on the last page.
        var next: Int64?
    }

    struct AuditPage: Encodable {
        var entries: [AuditEntry]
        /// Pass as `before` for the next (older) page; absent on the last page.
        var next: Int64?
    }

    static func auditQuery(_ parameters: Parameters) throws(APIFailure) -> AuditQuery {
        var query = AuditQuery()
        query.actor = parameters["actor"].map(String.init)
        query.actionPrefix = parameters["action"].map(String.init)
        query.outcomePrefix = parameters["outcome"].map(String.init)
        query.since = try time(parameters, "since")
        query.until = try time(parameters, "until")
        query.beforeID = try number(parameters, "before", "an audit entry id")
        if let limit = try limit(parameters, max: 1000) { query.limit = limit }
        return query
    }

    struct StateChangeRequest: Decodable {
        var state: String
        var reason: String
    }

    /// `limit`, if given: 1 to `max`.
    static func limit(_ parameters: Parameters, max: Int) throws(APIFailure) -> Int? {
        guard let text = parameters["limit"] else { return nil }
        guard let value = Int(text), (1...max).contains(value) else {
            throw APIFailure(.badRequest, "invalid_parameter", "limit must be an integer from 1 to \(max)")
        }
        return value
    }

    /// An id parameter (a paging cursor), if given.
    static func number(_ parameters: Parameters, _ name: Substring, _ what: String) throws(APIFailure) -> Int64? {
        guard let text = parameters[name] else { return nil }
        guard let value = Int64(text) else { throw APIFailure(.badRequest, "invalid_parameter", "\(name) must be \(what) (an integer)") }
        return value
    }

    /// A time parameter (`since`, `until`: RFC 3339), if given.
    static func time(_ parameters: Parameters, _ name: Substring) throws(APIFailure) -> Date? {
        guard let text = parameters[name] else { return nil }
        guard let date = WireCoding.date(from: String(text)) else {
            throw APIFailure(.badRequest, "invalid_parameter", "\(name) must be an RFC 3339 timestamp such as 2026-11-26T00:00:00Z")
        }
        return date
    }

    static func inventoryQuery(_ parameters: Parameters) throws(APIFailure) -> InventoryQuery {
        var query = InventoryQuery()
        query.category = parameters["category"].map(String.init)
        if let state = parameters["state"] {
            guard let value = SanctionState(rawValue: String(state)) else {
                throw APIFailure(.badRequest, "invalid_parameter", "state must be one of: \(SanctionState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.state = value
        }
        query.since = try time(parameters, "since")
        if let category = query.category, !AIAppCatalog.categories.contains(category) {
            throw APIFailure(.badRequest, "invalid_parameter", "category must be one of: \(AIAppCatalog.categories.sorted().joined(separator: ", "))")
        }
        if let minRisk = parameters["min_risk"] {
            guard let value = Double(minRisk), (0...10).contains(value) else {
                throw APIFailure(.badRequest, "invalid_parameter", "min_risk must be a number from 0 to 10")
            }
            query.minRisk = value
        }
        return query
    }

    static func eventQuery(_ parameters: Parameters) throws(APIFailure) -> EventQuery {
        var query = EventQuery()
        query.type = parameters["type"].map(String.init)
        query.agent = parameters["agent"].map(String.init)
        query.host = parameters["host"].map(String.init)
        query.user = parameters["user"].map(String.init)
        query.app = parameters["app"].map(String.init)
        query.category = parameters["category"].map(String.init)
        query.infoType = parameters["info_type"].map(String.init)
        query.contentHash = parameters["hash"].map(String.init)
        if let action = parameters["action"] {
            guard let value = PolicyAction(rawValue: String(action)) else {
                throw APIFailure(.badRequest, "invalid_parameter", "action must be one of: allow, audit, warn, block")
            }
            query.action = value
        }
        query.until = try time(parameters, "until")
        query.since = try time(parameters, "since")
        query.afterID = try number(parameters, "after", "an event id")
        if let limit = try limit(parameters, max: 10_000) { query.limit = limit }
        return query
    }
}

/// `GET /api/v1/catalog`: the apps the collector knows, with their scores.
struct CatalogListing: Encodable {
    struct Entry: Encodable {
        var id: String
        var name: String
        var vendor: String
        var category: String
        var risk: Double

        init(_ app: AIApp) {
            (id, name, vendor, category, risk) = (app.id, app.name, app.vendor, app.category, app.riskScore)
        }
    }

    var version: String
    var apps: [Entry]
}

/// `GET /api/v1/catalog/{id}`: everything the catalog says about an app, and how its score adds up.
struct CatalogEntryDetail: Encodable {
    struct Factor: Encodable {
        var name: String
        var points: Double
        var reason: String
    }

    var app: AIApp
    var risk: Double
    var riskFactors: [Factor]

    init(_ app: AIApp) {
        self.app = app
        let score = RiskScore(app)
        risk = score.value
        riskFactors = score.factors.map { Factor(name: $0.name, points: $0.points, reason: $0.reason) }
    }

    enum CodingKeys: String, CodingKey {
        case app, risk
        case riskFactors = "risk_factors"
    }
}
