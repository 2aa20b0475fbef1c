import BulwarkCore
import Foundation
import Logging

/// Which store a collector uses: the deployment's own SQLite file (the default, one collector)
/// or a PostgreSQL database that several collectors share (docs/SCALING.md).
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    /// From `--database` / `database:` — empty for the deployment's `collector.db`,
    /// `sqlite:PATH`, or `postgres://…` (with the password from `passwordFile` when given).
    public init(_ text: String, passwordFile: String? = nil, deploymentDirectory: String) throws {
        if text.isEmpty {
            self = .sqlite(path: (deploymentDirectory as NSString).appendingPathComponent("collector.db"))
        } else if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw PostgresLocation.Failure.notAURL("'sqlite:' names no file; write sqlite:/path/to/collector.db") }
            self = .sqlite(path: path)
        } else if PostgresLocation.isPostgresURL(text) {
            self = .postgres(try PostgresLocation(url: text, passwordFile: passwordFile.flatMap { $0.isEmpty ? nil : $0 }))
        } else {
            throw PostgresLocation.Failure.notAURL("'\(text.prefix(40))' is neither sqlite:PATH nor postgres://…")
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let location): location.description
        }
    }

    /// Opens the store. SQLite brings its file's schema up to date itself (one collector owns
    /// it); PostgreSQL does only with `migrate` and otherwise refuses a schema that is not this
    /// build's, since other collectors may still run the old one.
    public func open(
        catalogOverride: CatalogOverride = CatalogOverride(), gapAfter: TimeInterval = 3600, migrate: Bool = false,
        logger: Logger = Logger(label: "bulwark-collector.store")
    ) async throws -> any CollectorStore {
        switch self {
        case .sqlite(let path):
            return try SQLiteStore(path: path, catalogOverride: catalogOverride, gapAfter: gapAfter)
        case .postgres(let location):
            return try await PostgresStore(location: location, catalogOverride: catalogOverride, gapAfter: gapAfter, migrate: migrate, logger: logger)
        }
    }
}
