import BulwarkCore
import Crypto
import Foundation
import X509

/// A collector deployment on disk: its CA, server certificate, HMAC key and database.
///
/// Layout of the data directory (keys 0600, directory 0700):
/// `ca.pem`, `ca-key.pem`, `server.pem`, `server-key.pem`, `hmac.key`, `collector.db`.
public struct Deployment: Sendable {
    public let directory: String
    public let authority: CertificateAuthority
    public let serverCertificate: Certificate
    public let serverKeyPEM: String
    /// Per-deployment key for keyed hashes of sensitive values (HMAC-SHA256).
    public let hmacKey: SymmetricKey

    public var databasePath: String { Self.path(directory, "collector.db") }
    /// The deployment's additions to the bundled AI app catalog (optional).
    public var catalogOverridePath: String { Self.path(directory, "catalog.yaml") }

    /// The deployment's catalog override; empty when there is no `catalog.yaml`.
    public func catalogOverride() throws -> CatalogOverride {
        guard FileManager.default.fileExists(atPath: catalogOverridePath) else { return CatalogOverride() }
        return try CatalogOverride.load(path: catalogOverridePath)
    }

    /// The deployment's store, naming and scoring apps with the deployment's catalog;
    /// `gapAfter`: the silence after which an agent's return is recorded (`agent.gap`).
    public func openStore(gapAfter: TimeInterval = 3600) throws -> SQLiteStore {
        try SQLiteStore(path: databasePath, catalogOverride: try catalogOverride(), gapAfter: gapAfter)
    }

    public enum Failure: Error, CustomStringConvertible {
        case alreadyExists(String)
        case notADeployment(String, missing: String)
        case unreadable(String, String)

        public var description: String {
            switch self {
            case .alreadyExists(let dir):
                "\(dir) already holds a deployment (ca.pem exists); refusing to overwrite it. Use another --data directory, or delete this one only if you mean to re-enroll every agent"
            case .notADeployment(let dir, let missing):
                "\(dir) is not a collector deployment (\(missing) is missing); create one with 'bulwark-collector init --data \(dir)'"
            case .unreadable(let path, let reason):
                "cannot read \(path): \(reason)"
            }
        }
    }

    static func path(_ directory: String, _ name: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }

    /// Creates a new deployment in `directory`, refusing to touch an existing one.
    @discardableResult
    public static func initialize(directory: String, hostnames: [String], now: Date = Date()) throws -> Deployment {
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: path(directory, "ca.pem")) { throw Failure.alreadyExists(directory) }
        try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(directory, 0o700)

        let authority = try CertificateAuthority.create(name: "Bulwark deployment CA", now: now)
        let serverKey = P256.Signing.PrivateKey()
        let serverCertificate = try authority.issueServerCertificate(
            hostnames: hostnames, publicKey: serverKey.publicKey, now: now)
        let hmacKey = SymmetricKey(size: .bits256)

        try SecureFile.write(Data(authority.privateKeyPEM.utf8), to: path(directory, "ca-key.pem"), mode: .secret)
        try SecureFile.write(Data(serverKey.pemRepresentation.utf8), to: path(directory, "server-key.pem"), mode: .secret)
        try SecureFile.write(hmacKey.withUnsafeBytes { Data($0) }, to: path(directory, "hmac.key"), mode: .secret)
        try SecureFile.write(Data(try serverCertificate.serializeAsPEM().pemString.utf8), to: path(directory, "server.pem"), mode: .publicReadable)
        // ca.pem last: its presence marks a complete deployment.
        try SecureFile.write(Data(try authority.certificate.serializeAsPEM().pemString.utf8), to: path(directory, "ca.pem"), mode: .publicReadable)

        let deployment = Deployment(
            directory: directory, authority: authority, serverCertificate: serverCertificate,
            serverKeyPEM: serverKey.pemRepresentation, hmacKey: hmacKey)
        _ = try SQLiteStore(path: deployment.databasePath)
        // Telemetry is owner-only whatever the umask; SQLite gives its -wal and -shm files the
        // database file's mode.
        chmod(deployment.databasePath, 0o600)
        return deployment
    }

    /// Loads an existing deployment.
    public static func load(directory: String) throws -> Deployment {
        func read(_ name: String) throws -> String {
            let file = path(directory, name)
            guard FileManager.default.fileExists(atPath: file) else { throw Failure.notADeployment(directory, missing: name) }
            do { return try SecureFile.readText(file) } catch { throw Failure.unreadable(file, "\(error)") }
        }
        let caKey = try P256.Signing.PrivateKey(pemRepresentation: try read("ca-key.pem"))
        let caCertificate = try Certificate(pemEncoded: try read("ca.pem"))
        let serverCertificate = try Certificate(pemEncoded: try read("server.pem"))
        let serverKeyPEM = try read("server-key.pem")
        guard let hmac = FileManager.default.contents(atPath: path(directory, "hmac.key")), hmac.count == 32 else {
            throw Failure.notADeployment(directory, missing: "hmac.key (32 bytes)")
        }
        return Deployment(
            directory: directory, authority: CertificateAuthority(certificate: caCertificate, privateKey: caKey),
            serverCertificate: serverCertificate, serverKeyPEM: serverKeyPEM, hmacKey: SymmetricKey(data: hmac))
    }
}
