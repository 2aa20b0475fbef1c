import ArgumentParser
import BulwarkCollector
import Foundation

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring the store's schema to this collector's version.",
        discussion: """
            PostgreSQL: run once per upgrade, from one machine, before the upgraded collectors start; collectors \
            refuse a schema that is not theirs. SQLite: serve does this itself.
            """)
    @OptionGroup var data: DataOption

    func run() async throws {
        let deployment = try Deployment.load(directory: data.data)
        let location = try deployment.storeLocation(database: data.database, passwordFile: data.databasePasswordFile)
        let store = try await location.open(catalogOverride: try deployment.catalogOverride(), migrate: true)
        if let postgres = store as? PostgresStore {
            let (from, to) = (postgres.foundSchemaVersion, PostgresStore.schemaVersion)
            print(from == to ? "\(location): schema version \(to), nothing to do" : "\(location): schema version \(from) → \(to)")
        } else {
            print("\(location): schema up to date")
        }
        try await store.audit(AuditEntry(actor: "cli", action: "store.migrate", target: "\(location)", outcome: "ok"))
        try await store.close()
    }
}

struct MigrateStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Copy a deployment's SQLite store into an empty PostgreSQL database, checking every table's row count.",
        discussion: """
            Stop the collector first. The copy is one transaction: it commits only when every table has as many rows \
            in PostgreSQL as in the file, and leaves the database empty otherwise. Then start the collectors with \
            --database (or database: in collector.yaml).
            """)
    @Option(help: "Deployment data directory.") var data: String
    @Option(help: "The SQLite store to copy: sqlite:PATH (default the deployment's collector.db).") var from: String?
    @Option(help: "The PostgreSQL database: postgres://USER@HOST[:PORT]/DATABASE[?sslmode=…]; it is migrated to this version first.")
    var to: String
    @Option(help: "File holding the PostgreSQL password.") var databasePasswordFile: String?

    func run() async throws {
        let deployment = try Deployment.load(directory: data)
        guard case .sqlite(let path) = try deployment.storeLocation(database: from ?? "") else {
            throw ValidationError("--from takes sqlite:PATH")
        }
        guard case .postgres = try deployment.storeLocation(database: to, passwordFile: databasePasswordFile) else {
            throw ValidationError("--to takes postgres://USER@HOST[:PORT]/DATABASE")
        }
        let location = try deployment.storeLocation(database: to, passwordFile: databasePasswordFile)
        guard let target = try await location.open(catalogOverride: try deployment.catalogOverride(), migrate: true) as? PostgresStore else {
            throw ValidationError("--to takes postgres://USER@HOST[:PORT]/DATABASE")
        }
        print("copying sqlite:\(path) into \(location)")
        let copies = try await target.importSQLite(path: path) { copy in
            print("  \(copy.table.padding(toLength: 18, withPad: " ", startingAt: 0)) \(copy.source) rows → \(copy.copied) ✓")
        }
        let total = copies.map(\.copied).reduce(0, +)
        try await target.audit(AuditEntry(actor: "cli", action: "store.migrate_store", target: "sqlite:\(path)", outcome: "ok: \(total) rows"))
        try await target.close()
        print("done: \(total) rows in \(copies.count) tables, every count matching; start the collectors with --database \(location)")
    }
}
