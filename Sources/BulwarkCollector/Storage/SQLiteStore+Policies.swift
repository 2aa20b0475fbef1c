import BulwarkCore
import Crypto
import Foundation
import GRDB

extension SQLiteStore {
    // MARK: Policy versions

    public func addPolicy(yaml: String, name: String, comment: String, restores: Int?, by: String, at: Date) async throws -> PolicyVersionRecord {
        let sha256 = AgentIdentity.hex(SHA256.hash(data: Data(yaml.utf8)))
        return try await pool.write { db in
            let next = (try Int.fetchOne(db, sql: "SELECT MAX(version) FROM policies") ?? 0) + 1
            try db.execute(
                sql: "INSERT INTO policies (version, name, sha256, yaml, comment, restores, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [next, name, sha256, yaml, comment, restores, by, at.millis])
            try Self.bumpPolicyRevision(db)
            return PolicyVersionRecord(version: next, name: name, sha256: sha256, comment: comment, createdBy: by, createdAt: at, restores: restores)
        }
    }

    public func policyVersions() async throws -> [PolicyVersionRecord] {
        try await pool.read { db in
            let running = try Dictionary(
                Row.fetchAll(db, sql: "SELECT policy_version, COUNT(*) AS agents FROM agents WHERE revoked_at IS NULL GROUP BY policy_version").map {
                    (($0["policy_version"] as Int), ($0["agents"] as Int))
                }, uniquingKeysWith: +)
            return try Row.fetchAll(db, sql: "SELECT version, name, sha256, comment, restores, created_by, created_at FROM policies ORDER BY version DESC").map { row in
                var record = Self.policyVersion(row)
                record.agents = running[record.version] ?? 0
                return record
            }
        }
    }

    public func policyVersion(_ version: Int?) async throws -> PolicyVersionRecord? {
        try await pool.read { db in
            let row = try version.map { try Row.fetchOne(db, sql: "SELECT * FROM policies WHERE version = ?", arguments: [$0]) }
                ?? Row.fetchOne(db, sql: "SELECT * FROM policies ORDER BY version DESC LIMIT 1")
            return row.map {
                var record = Self.policyVersion($0)
                record.yaml = $0["yaml"]
                return record
            }
        }
    }

    static func policyVersion(_ row: Row) -> PolicyVersionRecord {
        PolicyVersionRecord(
            version: row["version"], name: row["name"], sha256: row["sha256"], comment: row["comment"], createdBy: row["created_by"],
            createdAt: Date(millis: row["created_at"]), restores: row["restores"])
    }
}
