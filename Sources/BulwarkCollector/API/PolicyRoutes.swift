import BulwarkCore
import Foundation
import Hummingbird

/// `…/policies`: the deployment's DLP policy, versioned. Admins push a new version (checked
/// exactly as agents check it, so a broken one never reaches them), list, read, diff and roll
/// back; agents pull the newest with their policy bundle and report the version they run.
struct PolicyRoutes: Sendable {
    let store: any CollectorStore

    /// Policies are YAML text; a megabyte is far more than any real one.
    static let maxBytes = 1 << 20

    func register(on api: RouterGroup<ConsoleRequestContext>) {
        api.post("policies") { request, context in
            try context.require([.admin])
            let body = try await AgentRoutes.readBody(request, limit: Self.maxBytes)
            let yaml = String(buffer: body)
            let comment = try Self.comment(request.uri.queryParameters["comment"].map(String.init))
            let policy = try Self.check(yaml)
            let record = try await store.addPolicy(yaml: yaml, name: policy.name, comment: comment, restores: nil, by: context.actor, at: Date())
            return try Response.json(record, status: .created)
        }
        api.get("policies") { _, context in
            try context.require([.admin, .analyst])
            return try Response.json(["policies": try await store.policyVersions()])
        }
        api.get("policies/diff") { request, context in
            try context.require([.admin, .analyst])
            let parameters = request.uri.queryParameters
            guard let from = parameters["from"].flatMap({ Int($0) }) else {
                throw APIFailure(.badRequest, "invalid_parameter", "from must be a policy version number (to defaults to the current one)")
            }
            let old = try await version(from)
            let new = try await version(try parameters["to"].map { text throws(APIFailure) -> Int in
                guard let value = Int(text) else { throw APIFailure(.badRequest, "invalid_parameter", "to must be a policy version number") }
                return value
            })
            let diff = TextDiff.unified(old.yaml ?? "", new.yaml ?? "", oldName: "policy v\(old.version)", newName: "policy v\(new.version)")
            return Response(status: .ok, headers: [.contentType: "text/x-diff; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: diff)))
        }
        api.get("policies/:version") { _, context in
            try context.require([.admin, .analyst])
            let text = context.parameters.get("version") ?? ""
            guard text == "current" || Int(text) != nil else {
                throw APIFailure(.badRequest, "invalid_parameter", "a policy version is a number, or 'current'")
            }
            return try Response.json(try await version(Int(text)))
        }
        api.post("policies/rollback") { request, context in
            try context.require([.admin])
            let body = try await AgentRoutes.readBody(request, limit: 16 * 1024)
            guard let ask = try? WireCoding.decoder().decode(RollbackRequest.self, from: body) else {
                throw APIFailure(.badRequest, "invalid_body", #"send {"version": 3, "comment": "why"}"#)
            }
            let old = try await version(ask.version)
            let current = try await version(nil)
            guard old.sha256 != current.sha256 else {
                throw APIFailure(.conflict, "already_current", "policy v\(current.version) already has the text of v\(old.version); nothing to roll back")
            }
            let comment = try Self.comment(ask.comment ?? "roll back to v\(old.version)")
            let record = try await store.addPolicy(
                yaml: old.yaml ?? "", name: old.name, comment: comment, restores: old.version, by: context.actor, at: Date())
            return try Response.json(record, status: .created)
        }
    }

    struct RollbackRequest: Decodable {
        var version: Int
        var comment: String?
    }

    /// A stored version (nil: the current one), or 404.
    func version(_ number: Int?) async throws -> PolicyVersionRecord {
        guard let record = try await store.policyVersion(number) else {
            throw APIFailure(
                .notFound, "policy_not_found",
                number.map { "no policy version \($0)" } ?? "no policy has been pushed yet; agents enforce their own (bulwark policy push FILE)")
        }
        return record
    }

    /// Parses the policy as agents will; refused with the line and column of the first problem.
    static func check(_ yaml: String) throws(APIFailure) -> Policy {
        do {
            return try PolicyParser(source: "policy").parse(yaml)
        } catch {
            throw APIFailure(.badRequest, "invalid_policy", error.description)
        }
    }

    static func comment(_ text: String?) throws(APIFailure) -> String {
        let comment = (text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !comment.isEmpty, comment.count <= 1000 else {
            throw APIFailure(.badRequest, "comment_required", "say what changed and why (comment, 1 to 1000 characters); it stays with the version")
        }
        return comment
    }
}
