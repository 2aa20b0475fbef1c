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
        Route(method: "GET", path: "/api/v1/whoami", roles: everyone),
    ]

    @Test("every route × every role: allowed roles pass authorisation, the rest get 403, no token 401")
    func matrix() throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        var tokens: [String: String] = [:]
        for role in Self.everyone { tokens[role] = try cluster.apiToken(role: role) }
        for route in Self.routes {
            var arguments = ["-X", route.method]
            if let body = route.body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
            let anonymous = try cluster.curl(arguments + ["\(cluster.apiURL)\(route.path)"])
            #expect(anonymous.status == 401, "\(route.method) \(route.path) without a token: \(anonymous.status) \(anonymous.body)")
            for role in Self.everyone.sorted() {
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
}
