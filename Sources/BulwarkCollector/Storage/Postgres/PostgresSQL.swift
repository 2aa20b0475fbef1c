import Foundation
import Logging
import PostgresNIO

/// A statement built a clause at a time, its values bound as `$n` parameters (never spliced in).
struct PostgresSQL {
    private(set) var text: String
    private(set) var bindings = PostgresBindings()

    init(_ text: String = "") {
        self.text = text
    }

    mutating func append(_ fragment: String) {
        text += fragment
    }

    /// Binds `value` and returns its placeholder.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        bindings.append(value)
        return "$\(bindings.count)"
    }

    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value?) -> String {
        bindings.append(value)
        return "$\(bindings.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: text, binds: bindings) }

    /// Splits a migration into statements at semicolons outside quotes, dollar-quoted bodies
    /// and comments (the extended protocol runs one statement at a time).
    static func statements(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var (inDollar, inQuote, inComment) = (false, false, false)
        var previous: Character = " "
        for character in script {
            if inComment {
                if character == "\n" { inComment = false }
                previous = character
                continue
            }
            if !inDollar, !inQuote, previous == "-", character == "-" {
                current.removeLast()
                inComment = true
                previous = " "
                continue
            }
            if !inQuote, previous == "$", character == "$" { inDollar.toggle() }
            if !inDollar, character == "'" { inQuote.toggle() }
            if character == ";", !inDollar, !inQuote {
                let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !statement.isEmpty { statements.append(statement) }
                current = ""
            } else {
                current.append(character)
            }
            previous = character
        }
        let last = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !last.isEmpty { statements.append(last) }
        return statements
    }
}

extension PostgresConnection {
    /// Every row of `query`, read to the end (a connection runs one query at a time).
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        try await self.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    func run(_ query: PostgresQuery, logger: Logger) async throws {
        _ = try await self.query(query, logger: logger).collect()
    }
}

extension PostgresRandomAccessRow {
    /// The column's value; a type that does not fit throws with the column's name.
    func value<Value: PostgresDecodable>(_ column: String, as type: Value.Type = Value.self) throws -> Value {
        try self[column].decode(Value.self)
    }

    func date(_ column: String) throws -> Date { Date(millis: try value(column, as: Int64.self)) }
    func optionalDate(_ column: String) throws -> Date? { try value(column, as: Int64?.self).map(Date.init(millis:)) }
}

/// What went wrong in PostgreSQL, with the server's own message: postgres-nio's errors print a
/// generic text so as not to leak query values into logs; the server's message names the
/// constraint or object, not the values.
public struct PostgresStoreError: Error, CustomStringConvertible {
    public let description: String
    /// The SQLSTATE (`23505` unique violation...), when the server answered.
    public let sqlState: String?

    init(_ description: String, sqlState: String? = nil) {
        self.description = description
        self.sqlState = sqlState
    }

    /// `error` explained: the server's message and code, or why no server answered.
    static func explaining(_ error: any Error, doing what: String) -> any Error {
        if error is PostgresStoreError || error is EnrollmentRefusal || error is CancellationError { return error }
        if let transaction = error as? PostgresTransactionError {
            if let inner = transaction.closureError { return explaining(inner, doing: what) }
            if let inner = transaction.commitError ?? transaction.beginError { return explaining(inner, doing: what) }
        }
        if let psql = error as? PSQLError {
            if let message = psql.serverInfo?[.message] {
                let state = psql.serverInfo?[.sqlState]
                return PostgresStoreError("PostgreSQL refused \(what): \(message) (SQLSTATE \(state ?? "?"))", sqlState: state)
            }
            switch psql.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection:
                return PostgresStoreError("PostgreSQL cannot be reached for \(what): \(String(reflecting: psql.underlying.map { "\($0)" } ?? "connection closed")); check that the server runs and the database URL's host and port")
            case .sslUnsupported:
                return PostgresStoreError("PostgreSQL at this address does not offer TLS, which the database URL's sslmode requires")
            case .failedToAddSSLHandler:
                return PostgresStoreError("TLS to PostgreSQL could not start: \(psql.underlying.map { "\($0)" } ?? "?")")
            default:
                return PostgresStoreError("PostgreSQL failed \(what): \(psql.code)\(psql.underlying.map { " (\($0))" } ?? "")")
            }
        }
        // The pool's own errors (its module is internal to postgres-nio): it gave up opening
        // connections, or waited too long for one.
        if String(reflecting: type(of: error)).contains("ConnectionPoolError") {
            return PostgresStoreError("PostgreSQL cannot be reached for \(what): no connection could be opened (\(error)); check that the server runs and accepts this collector")
        }
        return error
    }
}
