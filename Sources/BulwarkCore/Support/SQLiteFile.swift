import Foundation
import GRDB

/// Opening the SQLite files shared between processes (the agent's spool, the collector's store).
public enum SQLiteFile {
    /// Opens a WAL database pool, retrying while another process holds the lock that switching
    /// a new file to WAL needs. SQLite does not consult the busy handler for that step, so two
    /// processes creating the same file at once (`run` and `selftest`, `serve` and a CLI
    /// command) would otherwise fail with "database is locked".
    public static func openPool(path: String, configuration: Configuration, timeout: Duration = .seconds(10)) throws -> DatabasePool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && clock.now < deadline {
                usleep(UInt32.random(in: 5_000...50_000))
            }
        }
    }

    /// Applies schema migrations in order, numbered by `PRAGMA user_version`, inside one
    /// IMMEDIATE transaction: a second process creating the same file waits for the first and
    /// then finds the schema current. (GRDB's migrator checks and applies in separate steps, so
    /// two processes could both try to create the tables.)
    public static func migrate(_ pool: DatabasePool, _ migrations: [@Sendable (Database) throws -> Void]) throws {
        try pool.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                guard version <= migrations.count else {
                    throw DatabaseError(message: "\(db.configuration.label ?? "database") schema version \(version) is newer than this build knows (\(migrations.count)); upgrade Bulwark")
                }
                for migration in migrations.dropFirst(version) { try migration(db) }
                try db.execute(sql: "PRAGMA user_version = \(migrations.count)")
                return .commit
            }
        }
    }
}
