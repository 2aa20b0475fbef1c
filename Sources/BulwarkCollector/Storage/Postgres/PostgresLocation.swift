import Foundation
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL store is and how to reach it, from a URL:
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE&sslrootcert=PATH]`.
///
/// `sslmode` is `verify-full` (the default off loopback: TLS 1.2+, the server's certificate
/// checked against `sslrootcert` or the system's CAs, and its name), `require` (TLS without
/// checking the certificate; refused unless asked for) or `disable` (the default on loopback).
/// The password may instead come from a file (`database_password_file`), which keeps it out of
/// command lines and process listings.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable {
        case disable
        case require
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// CA certificate(s) (PEM) the server's certificate must chain to, with `verify-full`.
    public var rootCertificate: String?

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case notAURL(String)
        case unreadablePassword(String, String)

        public var description: String {
            switch self {
            case .notAURL(let reason):
                "the database URL \(reason); write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|require|verify-full&sslrootcert=CA.pem]"
            case .unreadablePassword(let path, let reason): "cannot read the database password file \(path): \(reason)"
            }
        }
    }

    /// True for the URLs this type reads (`postgres://`, `postgresql://`).
    public static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    public init(url text: String, passwordFile: String? = nil) throws {
        guard Self.isPostgresURL(text), let url = URLComponents(string: text) else { throw Failure.notAURL("does not start with postgres://") }
        guard let host = url.host, !host.isEmpty else { throw Failure.notAURL("has no host") }
        guard let user = url.user, !user.isEmpty else { throw Failure.notAURL("has no user") }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw Failure.notAURL("has no database name after the host") }
        self.host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        port = url.port ?? 5432
        self.user = user.removingPercentEncoding ?? user
        password = url.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database
        var mode: TLSMode = ["127.0.0.1", "::1", "localhost"].contains(self.host) ? .disable : .verifyFull
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw Failure.notAURL("has sslmode '\(item.value ?? "")'; Bulwark takes disable, require or verify-full")
                }
                mode = value
            case "sslrootcert": rootCertificate = item.value
            default: throw Failure.notAURL("has an option Bulwark does not know: '\(item.name)'")
            }
        }
        tls = mode
        if let passwordFile {
            do {
                password = try String(contentsOfFile: passwordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw Failure.unreadablePassword(passwordFile, "\(error.localizedDescription)")
            }
        }
    }

    /// The URL without its password, for logs and messages.
    public var description: String {
        "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)?sslmode=\(tls.rawValue)"
    }

    /// TLS for this location: nil with `disable`; TLS 1.2 or later otherwise.
    func tlsConfiguration() throws -> TLSConfiguration? {
        guard tls != .disable else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if tls == .require {
            configuration.certificateVerification = .none
        } else if let rootCertificate {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(rootCertificate))
        }
        return configuration
    }

    /// A connection pool's configuration for this location.
    func clientConfiguration(maximumConnections: Int) throws -> PostgresClient.Configuration {
        let tlsSetting: PostgresClient.Configuration.TLS = try tlsConfiguration().map { .require($0) } ?? .disable
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tlsSetting)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.tlsServerName = tls == .verifyFull ? host : nil
        return configuration
    }

    /// One connection's configuration, for the check at start that reports why a server cannot
    /// be used (the pool retries quietly for a minute instead).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tlsSetting: PostgresConnection.Configuration.TLS = try tlsConfiguration().map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tlsSetting)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.tlsServerName = tls == .verifyFull ? host : nil
        return configuration
    }
}
