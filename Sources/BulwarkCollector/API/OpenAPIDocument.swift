import BulwarkCore

/// The console/API listener described as OpenAPI 3.0 (`GET /api/openapi.json`): every route
/// with its roles, parameters, bodies and errors. `OpenAPITests` checks it against the routes
/// the collector really serves and validates it with an independent OpenAPI validator.
enum OpenAPIDocument {
    static let everyone = ["admin", "analyst", "helpdesk"]

    static var json: JSONValue {
        var paths: [String: JSONValue] = [:]
        for route in routes {
            var item: [String: JSONValue] = [:]
            if case .object(let existing)? = paths[route.path] { item = existing }
            item[route.method] = route.operation
            paths[route.path] = .object(item)
        }
        return [
            "openapi": "3.0.3",
            "info": [
                "title": "Bulwark collector API", "version": .string(BulwarkVersion.current),
                "description": """
                    The console/API listener (default :9443). Every /api/v1 request needs `Authorization: Bearer <token>` \
                    (`bulwark-collector api-token create --role admin|analyst|helpdesk`); each operation lists the roles \
                    it allows (`x-roles`). Every request is audited. Times are RFC 3339 UTC. Errors are \
                    `{"code": machine-readable, "message": what went wrong and what to do}`.
                    """,
            ],
            "servers": .array([["url": "https://collector.example:9443"]]),
            "components": [
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]],
                "schemas": schemas,
                "responses": [
                    "Error": ["description": "Refused; see `error` and `message`.", "content": json(ref("Error"))],
                ],
            ],
            "security": .array([["bearer": .array([])]]),
            "paths": .object(paths),
        ]
    }

    struct Route {
        var method: String
        var path: String
        var summary: String
        var roles: [String]
        var parameters: [JSONValue] = []
        var body: JSONValue? = nil
        var answer: JSONValue = json(["type": "object"])
        var status = "200"
        var errors: [String] = []
        var public_ = false

        var operation: JSONValue {
            var operation: [String: JSONValue] = [
                "summary": .string(summary), "operationId": .string(operationID), "parameters": .array(parameters),
                "responses": .object(responses),
            ]
            if public_ {
                operation["security"] = .array([])
            } else {
                operation["x-roles"] = .array(roles.map(JSONValue.string))
                operation["description"] = .string("Roles: \(roles.joined(separator: ", ")).")
            }
            if let body { operation["requestBody"] = ["required": true, "content": body] }
            return .object(operation)
        }

        var responses: [String: JSONValue] {
            var responses: [String: JSONValue] = [status: ["description": "OK", "content": answer]]
            let refusals = public_ ? errors : ["401", "403"] + errors
            for code in Set(refusals + ["500"]) { responses[code] = ["$ref": "#/components/responses/Error"] }
            return responses
        }

        var operationID: String {
            method + path.split(separator: "/").dropFirst().map { part in
                part.hasPrefix("{") ? "By" + part.dropFirst().dropLast().capitalized : part.replacingOccurrences(of: ".json", with: "").capitalized
            }.joined().filter { $0.isLetter || $0.isNumber }
        }
    }

    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
    static func json(_ schema: JSONValue) -> JSONValue { ["application/json": ["schema": schema]] }
    static func list(_ key: String, of name: String, cursor: String? = nil) -> JSONValue {
        var properties: [String: JSONValue] = [key: ["type": "array", "items": ref(name)]]
        if let cursor { properties["next"] = ["type": .string(cursor), "description": "The next page's cursor; absent on the last page."] }
        return json(["type": "object", "properties": .object(properties)])
    }

    static func query(_ name: String, _ description: String, type: String = "string", format: String? = nil) -> JSONValue {
        var schema: [String: JSONValue] = ["type": .string(type)]
        if let format { schema["format"] = .string(format) }
        return ["name": .string(name), "in": "query", "required": false, "description": .string(description), "schema": .object(schema)]
    }

    static func pathParameter(_ name: String, _ description: String) -> JSONValue {
        ["name": .string(name), "in": "path", "required": true, "description": .string(description), "schema": ["type": "string"]]
    }

    static let eventFilters: [JSONValue] = [
        query("type", "Event type, e.g. file.blocked."), query("agent", "Agent id."), query("host", "The agent's hostname."),
        query("since", "Events at or after (event time).", format: "date-time"), query("until", "Events before (event time).", format: "date-time"),
        query("user", "Events naming this user."), query("app", "Events naming this app id."), query("category", "Events naming this app category."),
        query("info_type", "Events with a finding of this information type (credit_card, ...)."),
        query("hash", "Events with a match of this keyed hash (the same value elsewhere)."),
        query("action", "allow, audit, warn or block: dlp.decision by its action, paste.*/upload.*/file.* by their outcome."),
        query("after", "Events with a larger id (paging cursor).", type: "integer"),
    ]

    static var routes: [Route] {
        [
            Route(method: "get", path: "/api/ca", summary: "The deployment's CA certificate (PEM), for pinning by fingerprint.", roles: [],
                  answer: ["application/x-pem-file": ["schema": ["type": "string"]]], public_: true),
            Route(method: "get", path: "/api/openapi.json", summary: "This document.", roles: [], public_: true),
            Route(method: "get", path: "/api/v1/whoami", summary: "The calling token's name and role.", roles: everyone,
                  answer: json(["type": "object", "properties": ["name": ["type": "string"], "role": ["type": "string"]]])),
            Route(method: "get", path: "/api/v1/agents", summary: "Enrolled agents.", roles: everyone, answer: list("agents", of: "Agent")),
            Route(method: "get", path: "/api/v1/events", summary: "Search events, in arrival (id) order.", roles: everyone,
                  parameters: eventFilters + [query("limit", "1 to 10000 (default 100).", type: "integer")], answer: list("events", of: "Event", cursor: "integer"),
                  errors: ["400"]),
            Route(method: "get", path: "/api/v1/events/export", summary: "Every matching event, streamed (ends at the newest event when it began).",
                  roles: ["admin", "analyst"], parameters: eventFilters + [query("format", "ndjson (default) or csv.")],
                  answer: ["application/x-ndjson": ["schema": ["type": "string"]], "text/csv": ["schema": ["type": "string"]]], errors: ["400"]),
            Route(method: "get", path: "/api/v1/inventory/apps", summary: "The discovered-AI inventory, most recently seen first.", roles: everyone,
                  parameters: [
                      query("category", "A catalog category."), query("state", "unreviewed, sanctioned, monitored or unsanctioned."),
                      query("since", "Last seen at or after.", format: "date-time"), query("min_risk", "0 to 10.", type: "number"),
                  ], answer: list("apps", of: "InventoryApp"), errors: ["400"]),
            Route(method: "get", path: "/api/v1/inventory/apps/{id}", summary: "One app with a page of its devices and users, and its timeline.", roles: everyone,
                  parameters: [pathParameter("id", "App id."), query("limit", "1 to 10000 (default 500).", type: "integer"), query("offset", "≥ 0.", type: "integer")],
                  errors: ["400", "404"]),
            Route(method: "get", path: "/api/v1/inventory/devices/{id}", summary: "The apps seen on one device (agent).", roles: everyone,
                  parameters: [pathParameter("id", "Agent id.")], errors: ["404"]),
            Route(method: "get", path: "/api/v1/inventory/users/{user}", summary: "The apps one user was seen with on any device.", roles: everyone,
                  parameters: [pathParameter("user", "User name.")], errors: ["404"]),
            Route(method: "get", path: "/api/v1/catalog", summary: "The AI app catalog with risk scores.", roles: everyone,
                  parameters: [query("category", "A catalog category."), query("min_risk", "0 to 10.", type: "number")], errors: ["400"]),
            Route(method: "get", path: "/api/v1/catalog/{id}", summary: "One catalog entry with facts, sources and how its score adds up.", roles: everyone,
                  parameters: [pathParameter("id", "App id.")], errors: ["404"]),
            Route(method: "put", path: "/api/v1/apps/{id}/state", summary: "Set an app's sanction state (agents pull it with their policy).",
                  roles: ["admin", "analyst"], parameters: [pathParameter("id", "App id.")],
                  body: json(["type": "object", "required": .array(["state", "reason"]), "properties": [
                      "state": ["type": "string", "enum": .array(["unreviewed", "sanctioned", "monitored", "unsanctioned"])], "reason": ["type": "string"],
                  ]]), errors: ["400"]),
            Route(method: "get", path: "/api/v1/incidents", summary: "Incidents, newest first (without notes).", roles: ["admin", "analyst"],
                  parameters: [
                      query("status", "open, resolved or false_positive."), query("user", "User name."), query("app", "App id."),
                      query("since", "At or after.", format: "date-time"), query("before", "An incident id: the next, older page."),
                      query("limit", "1 to 1000 (default 100).", type: "integer"),
                  ], answer: list("incidents", of: "Incident", cursor: "string"), errors: ["400"]),
            Route(method: "get", path: "/api/v1/incidents/{id}", summary: "One incident by the id the user was shown (audited).", roles: everyone,
                  parameters: [pathParameter("id", "BW-… (any case).")], answer: json(ref("Incident")), errors: ["400", "404"]),
            Route(method: "patch", path: "/api/v1/incidents/{id}", summary: "Change an incident's status and/or add a note.", roles: everyone,
                  parameters: [pathParameter("id", "BW-….")],
                  body: json(["type": "object", "properties": [
                      "status": ["type": "string", "enum": .array(["open", "resolved", "false_positive"])], "note": ["type": "string"],
                  ]]), answer: json(ref("Incident")), errors: ["400", "404"]),
            Route(method: "post", path: "/api/v1/exceptions", summary: "Grant a time-boxed exception (from an incident, or spelled out).",
                  roles: ["admin", "helpdesk"],
                  body: json(["type": "object", "required": .array(["seconds", "reason"]), "properties": [
                      "incident": ["type": "string"], "rule": ["type": "string"], "user": ["type": "string"], "app": ["type": "string"],
                      "agent": ["type": "string"], "all_hosts": ["type": "boolean"], "seconds": ["type": "integer", "minimum": 1, "maximum": 2_592_000],
                      "reason": ["type": "string"], "ticket": ["type": "string"], "file_sha256": ["type": "string"], "this_file": ["type": "boolean"],
                  ]]), answer: json(ref("Exception")), status: "201", errors: ["400", "404"]),
            Route(method: "get", path: "/api/v1/exceptions", summary: "Exceptions in force (all with all=true).", roles: everyone,
                  parameters: [query("all", "true adds expired and revoked ones.", type: "boolean")], answer: list("exceptions", of: "Exception")),
            Route(method: "delete", path: "/api/v1/exceptions/{id}", summary: "Revoke an exception now.", roles: ["admin", "helpdesk"],
                  parameters: [pathParameter("id", "EX-….")], errors: ["404"]),
            Route(method: "post", path: "/api/v1/policies", summary: "Push a policy (YAML body): checked as agents check it, then the next version.",
                  roles: ["admin"], parameters: [query("comment", "What changed and why (required).")],
                  body: ["application/yaml": ["schema": ["type": "string"]]], answer: json(ref("PolicyVersion")), status: "201", errors: ["400", "413"]),
            Route(method: "get", path: "/api/v1/policies", summary: "Every policy version, newest first, with how many agents run each.",
                  roles: ["admin", "analyst"], answer: list("policies", of: "PolicyVersion")),
            Route(method: "get", path: "/api/v1/policies/{version}", summary: "One version with its text (`current` for the newest).",
                  roles: ["admin", "analyst"], parameters: [pathParameter("version", "A version number or current.")], answer: json(ref("PolicyVersion")),
                  errors: ["400", "404"]),
            Route(method: "get", path: "/api/v1/policies/diff", summary: "Unified diff between two versions.", roles: ["admin", "analyst"],
                  parameters: [query("from", "Version (required).", type: "integer"), query("to", "Version (default: current).", type: "integer")],
                  answer: ["text/x-diff": ["schema": ["type": "string"]]], errors: ["400", "404"]),
            Route(method: "post", path: "/api/v1/policies/rollback", summary: "Make an earlier version's text the next version.", roles: ["admin"],
                  body: json(["type": "object", "required": .array(["version"]), "properties": ["version": ["type": "integer"], "comment": ["type": "string"]]]),
                  answer: json(ref("PolicyVersion")), status: "201", errors: ["400", "404", "409"]),
            Route(method: "get", path: "/api/v1/reports/ai-usage", summary: "AI usage and data exposure over a period (JSON, or a printable HTML page).",
                  roles: ["admin", "analyst"],
                  parameters: [
                      query("from", "Start (default: 30 days before to).", format: "date-time"), query("to", "End (default: now).", format: "date-time"),
                      query("format", "json (default) or html."),
                  ], answer: ["application/json": ["schema": ["type": "object"]], "text/html": ["schema": ["type": "string"]]], errors: ["400"]),
            Route(method: "get", path: "/api/v1/risk", summary: "Users whose recent incidents raise their risk level (adaptive protection), with the rule.",
                  roles: everyone, parameters: [query("user", "One user (level low when not listed).")],
                  answer: json(["type": "object", "properties": ["users": ["type": "array", "items": ref("UserRisk")], "rule": ["type": "string"]]])),
            Route(method: "get", path: "/api/v1/audit", summary: "The audit log, newest first (append-only).", roles: ["admin"],
                  parameters: [
                      query("actor", "token:<name>, agent:<id>, cli or anonymous."), query("action", "Actions starting with this."),
                      query("outcome", "Outcomes starting with this: ok, refused."), query("since", "At or after.", format: "date-time"),
                      query("until", "Before.", format: "date-time"), query("before", "An entry id: the next, older page.", type: "integer"),
                      query("limit", "1 to 1000 (default 100).", type: "integer"),
                  ], answer: list("entries", of: "AuditEntry", cursor: "integer"), errors: ["400"]),
        ]
    }

    static func object(_ properties: [String: String], required: [String] = []) -> JSONValue {
        var schema: [String: JSONValue] = [
            "type": "object",
            "properties": .object(properties.mapValues { type in
                switch type {
                case "date-time": ["type": "string", "format": "date-time"]
                case "object": ["type": "object"]
                case "array": ["type": "array", "items": ["type": "object"]]
                default: ["type": .string(type)]
                }
            }),
        ]
        if !required.isEmpty { schema["required"] = .array(required.map(JSONValue.string)) }
        return .object(schema)
    }

    static var schemas: JSONValue {
        [
            "Error": object(["code": "string", "message": "string"], required: ["code", "message"]),
            "Agent": object([
                "id": "string", "hostname": "string", "os": "string", "agent_version": "string", "enrolled_at": "date-time", "last_seen": "date-time",
                "policy_version": "integer", "spool_depth": "integer", "dropped": "integer", "revoked_at": "date-time",
            ], required: ["id", "hostname"]),
            "Event": object([
                "id": "integer", "agent": "string", "seq": "integer", "time": "date-time", "received_at": "date-time", "type": "string", "v": "integer",
                "data": "object",
            ], required: ["id", "agent", "seq", "time", "type", "v", "data"]),
            "InventoryApp": object([
                "id": "string", "name": "string", "vendor": "string", "category": "string", "risk": "number", "first_seen": "date-time",
                "last_seen": "date-time", "devices": "integer", "users": "integer", "events": "integer", "evidence": "object", "actions": "object",
                "state": "string", "state_reason": "string",
            ], required: ["id", "state"]),
            "Incident": object([
                "id": "string", "agent": "string", "event_id": "integer", "time": "date-time", "updated": "date-time", "type": "string", "action": "string",
                "activity": "string", "app": "string", "category": "string", "user": "string", "rule": "string", "findings": "array", "file": "string",
                "justification": "string", "status": "string", "status_changed_by": "string", "status_changed_at": "date-time", "notes": "array",
            ], required: ["id", "status"]),
            "Exception": object([
                "granted": "object", "agent": "string", "created_by": "string", "created_at": "date-time", "revoked_by": "string", "revoked_at": "date-time",
            ], required: ["granted"]),
            "PolicyVersion": object([
                "version": "integer", "name": "string", "sha256": "string", "comment": "string", "created_by": "string", "created_at": "date-time",
                "restores": "integer", "yaml": "string", "agents": "integer",
            ], required: ["version", "name", "sha256"]),
            "UserRisk": object(["user": "string", "level": "string", "blocks": "integer", "overrides": "integer", "last_incident": "date-time"],
                               required: ["user", "level"]),
            "AuditEntry": object([
                "id": "integer", "time": "date-time", "actor": "string", "source": "string", "action": "string", "target": "string", "outcome": "string",
            ], required: ["id", "time", "actor", "action", "outcome"]),
        ]
    }
}
