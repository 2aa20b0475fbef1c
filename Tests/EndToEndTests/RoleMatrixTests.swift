import Foundation
import Testing

/// Every API route × every role against a running collector: the roles docs/PROTOCOL.md lists
/// get past authorisation, the others get `403 role_forbidden`, no token gets `401`. Written out
/// here, independently of the server's code, so a route that loosens or tightens shows up.
@Suite("End to end: API role matrix")
struct RoleMatrixTests {
    struct Route {
        var method: String
        var path: String
        var body: String?
        var roles: Set<String>
    }

    static let everyone: Set<String> = ["admin", "analyst", "helpdesk"]
    static let routes: [Route] = [
        Route(method: "GET", path: "/api/v1/agents", roles: everyone),
        Route(method: "GET", path: "/api/v1/events", roles: everyone),
        Route(method: "GET", path: "/api/v1/events/export", roles: ["admin", "analyst"]),
        Route(method: "GET", path: "/api/v1/inventory/apps", roles: everyone),
        Route(method: "GET", path: "/api/v1/inventory/apps/chatgpt", roles: everyone),
        Route(method: "GET", path: "/api/v1/inventory/devices/nobody", roles: everyone),
        Route(method: "GET", path: "/api/v1/inventory/users/nobody", roles: everyone),
        Route(method: "GET", path: "/api/v1/catalog", roles: everyone),
        Route(method: "GET", path: "/api/v1/catalog/chatgpt", roles: everyone),
        Route(method: "PUT", path: "/api/v1/apps/chatgpt/state", body: #"{"state": "monitored", "reason": "matrix"}"#, roles: ["admin", "analyst"]),
        Route(method: "GET", path: "/api/v1/incidents", roles: ["admin", "analyst"]),
        Route(method: "GET", path: "/api/v1/incidents/BW-0000000000", roles: everyone),
        Route(method: "PATCH", path: "/api/v1/incidents/BW-0000000000", body: #"{"note": "matrix"}"#, roles: everyone),
        Route(method: "GET", path: "/api/v1/exceptions", roles: everyone),
        Route(method: "POST", path: "/api/v1/exceptions", body: #"{"rule": "r", "user": "u", "seconds": 60, "reason": "matrix"}"#, roles: ["admin", "helpdesk"]),
        Route(method: "DELETE", path: "/api/v1/exceptions/EX-0000000000", roles: ["admin", "helpdesk"]),
        Route(method: "GET", path: "/api/v1/audit", roles: ["admin"]),
        Route(method: "POST", path: "/api/v1/policies?comment=matrix", body: "name: [", roles: ["admin"]),
        Route(method: "GET", path: "/api/v1/policies", roles: ["admin", "analyst"]),
        Route(method: "GET", path: "/api/v1/policies/current", roles: ["admin", "analyst"]),
        Route(method: "GET", path: "/api/v1/policies/diff?from=1", roles: ["admin", "analyst"]),
        Route(method: "POST", path: "/api/v1/policies/rollback", body: #"{"version": 1}"#, roles: ["admin"]),
        Route(method: "GET", path: "/api/v1/whoami", roles: everyone),
        Route(method: "GET", path: "/api/v1/risk?user=alice", roles: everyone),
        Route(method: "GET", path: "/api/v1/reports/ai-usage", roles: ["admin", "analyst"]),
    ]

    @Test("every route × every role: allowed roles pass authorisation, the rest get 403, no token 401")
    func matrix() throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        var tokens: [String: String] = [:]
        // `metrics` may read /metrics only: every API route refuses it.
        let roles = Self.everyone + ["metrics"]
        for role in roles { tokens[role] = try cluster.apiToken(role: role) }
        for route in Self.routes {
            var arguments = ["-X", route.method]
            if let body = route.body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
            let anonymous = try cluster.curl(arguments + ["\(cluster.apiURL)\(route.path)"])
            #expect(anonymous.status == 401, "\(route.method) \(route.path) without a token: \(anonymous.status) \(anonymous.body)")
            for role in roles.sorted() {
                let answer = try cluster.curl(arguments + ["-H", "Authorization: Bearer \(tokens[role] ?? "")", "\(cluster.apiURL)\(route.path)"])
                if route.roles.contains(role) {
                    #expect(answer.status != 403 && answer.status != 401 && answer.status < 500,
                            "\(route.method) \(route.path) as \(role): \(answer.status) \(answer.body)")
                } else {
                    #expect(answer.status == 403 && answer.body.contains("role_forbidden"), "\(route.method) \(route.path) as \(role): \(answer.status) \(answer.body)")
                }
            }
        }
    }

    @Test("GET /api/openapi.json (no token) is a valid OpenAPI 3 document (checked by openapi-spec-validator) naming exactly the routes above, each with the roles above")
    func openAPI() throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let answer = try cluster.curl(["\(cluster.apiURL)/api/openapi.json"])
        #expect(answer.status == 200, "\(answer.body.prefix(300))")
        let path = cluster.root + "/openapi.json"
        try Data(answer.body.utf8).write(to: URL(fileURLWithPath: path))
        let peers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/test-peers/python").path
        let validation = try run("/usr/bin/env", ["PYTHONPATH=\(peers)", "python3", "-m", "openapi_spec_validator", path])
        #expect(validation.status == 0 && validation.stdout.contains("OK"), "run scripts/ensure-python-peers.sh: \(validation.output)")

        let document = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var documented: [String: Set<String>] = [:]
        for (template, operations) in paths where template.hasPrefix("/api/v1/") {
            for (method, operation) in operations {
                documented["\(method.uppercased()) \(template)"] = Set((operation as? [String: Any])?["x-roles"] as? [String] ?? [])
            }
        }
        func template(of route: Route) -> String? {
            let parts = route.path.split(separator: "?")[0].split(separator: "/")
            // The most literal template wins: /policies/diff before /policies/{version}.
            return documented.keys.filter { key in
                let (method, path) = (key.split(separator: " ")[0], key.split(separator: " ")[1].split(separator: "/"))
                return method == route.method && path.count == parts.count && zip(path, parts).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
            }.min { $0.filter { $0 == "{" }.count < $1.filter { $0 == "{" }.count }
        }
        var matched: Set<String> = []
        for route in Self.routes {
            let key = try #require(template(of: route), "\(route.method) \(route.path) is not in the OpenAPI document")
            #expect(documented[key] == route.roles, "\(key): roles \(documented[key] ?? []) documented, \(route.roles) enforced")
            matched.insert(key)
        }
        #expect(Set(documented.keys).subtracting(matched).isEmpty, "documented but not in the role matrix: \(Set(documented.keys).subtracting(matched))")
    }
}
