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
    /// During a CA rotation: the new CA (`ca-next.pem`), which signs agent certificates.
    public var nextAuthority: CertificateAuthority?
    /// After a rotation: the CA before (`ca-previous.pem`), still trusted for client
    /// certificates until `ca retire`.
    public var previousCA: Certificate?

    /// The CA that signs agent certificates now: the new one during a rotation.
    public var signingAuthority: CertificateAuthority { nextAuthority ?? authority }

    /// Every CA whose agent certificates the agent listener accepts.
    public var clientAuthorities: [Certificate] {
        [authority.certificate] + (nextAuthority.map { [$0.certificate] } ?? []) + (previousCA.map { [$0] } ?? [])
    }

    public var databasePath: String { Self.path(directory, "collector.db") }
    /// The deployment's additions to the bundled AI app catalog (optional).
    public var catalogOverridePath: String { Self.path(directory, "catalog.yaml") }

    /// The deployment's catalog override; empty when there is no `catalog.yaml`.
    public func catalogOverride() throws -> CatalogOverride {
        guard FileManager.default.fileExists(atPath: catalogOverridePath) else { return CatalogOverride() }
        return try CatalogOverride.load(path: catalogOverridePath)
    }

    /// The deployment's store — its own SQLite file unless `database` names another store —
    /// naming and scoring apps with the deployment's catalog; `gapAfter`: the silence after
    /// which an agent's return is recorded (`agent.gap`).
    public func openStore(
        database: String = "", passwordFile: String? = nil, gapAfter: TimeInterval = 3600, migrate: Bool = false
    ) async throws -> any CollectorStore {
        try await storeLocation(database: database, passwordFile: passwordFile).open(catalogOverride: try catalogOverride(), gapAfter: gapAfter, migrate: migrate)
    }

    /// Where `database` (empty: this deployment's `collector.db`) is.
    public func storeLocation(database: String, passwordFile: String? = nil) throws -> StoreLocation {
        try StoreLocation(database, passwordFile: passwordFile, deploymentDirectory: directory)
    }

    public enum Failure: Error, CustomStringConvertible {
        case alreadyExists(String)
        case notADeployment(String, missing: String)
        case unreadable(String, String)
        case rotation(String)

        public var description: String {
            switch self {
            case .alreadyExists(let dir):
                "\(dir) already holds a deployment (ca.pem exists); refusing to overwrite it. Use another --data directory, or delete this one only if you mean to re-enroll every agent"
            case .notADeployment(let dir, let missing):
                "\(dir) is not a collector deployment (\(missing) is missing); create one with 'bulwark-collector init --data \(dir)'"
            case .unreadable(let path, let reason):
                "cannot read \(path): \(reason)"
            case .rotation(let reason):
                reason
            }
        }
    }

    static func path(_ directory: String, _ name: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }

    /// Creates a new deployment in `directory`, refusing to touch an existing one.
    @discardableResult
    /// - Parameter createDatabase: false when the deployment's store is elsewhere (PostgreSQL).
    public static func initialize(directory: String, hostnames: [String], now: Date = Date(), createDatabase: Bool = true) throws -> Deployment {
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
        if createDatabase {
            _ = try SQLiteStore(path: deployment.databasePath)
            // Telemetry is owner-only whatever the umask; SQLite gives its -wal and -shm files the
            // database file's mode.
            chmod(deployment.databasePath, 0o600)
        }
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
        guard Certificate.PublicKey(caKey.publicKey) == caCertificate.publicKey else {
            throw Failure.unreadable(path(directory, "ca-key.pem"), "it does not belong to ca.pem; a CA rotation was interrupted: run 'bulwark-collector ca finish --data \(directory)' again")
        }
        var deployment = Deployment(
            directory: directory, authority: CertificateAuthority(certificate: caCertificate, privateKey: caKey),
            serverCertificate: serverCertificate, serverKeyPEM: serverKeyPEM, hmacKey: SymmetricKey(data: hmac))
        if FileManager.default.fileExists(atPath: path(directory, "ca-next.pem")) {
            deployment.nextAuthority = CertificateAuthority(
                certificate: try Certificate(pemEncoded: try read("ca-next.pem")),
                privateKey: try P256.Signing.PrivateKey(pemRepresentation: try read("ca-next-key.pem")))
        }
        if FileManager.default.fileExists(atPath: path(directory, "ca-previous.pem")) {
            deployment.previousCA = try Certificate(pemEncoded: try read("ca-previous.pem"))
        }
        return deployment
    }

    // MARK: CA rotation (docs/DEPLOY.md "CA rotation")

    /// Starts a rotation: a new CA that signs agent certificates from the next collector start
    /// on, while both are trusted. Returns it.
    public func startRotation(now: Date = Date()) throws -> CertificateAuthority {
        guard nextAuthority == nil else { throw Failure.rotation("a rotation is already under way (ca-next.pem exists); finish it with 'bulwark-collector ca finish'") }
        guard previousCA == nil else { throw Failure.rotation("the CA before the last rotation is still trusted (ca-previous.pem); retire it first with 'bulwark-collector ca retire'") }
        let next = try CertificateAuthority.create(name: "Bulwark deployment CA", now: now)
        try SecureFile.write(Data(next.privateKeyPEM.utf8), to: Self.path(directory, "ca-next-key.pem"), mode: .secret)
        try SecureFile.write(Data(try next.certificate.serializeAsPEM().pemString.utf8), to: Self.path(directory, "ca-next.pem"), mode: .publicReadable)
        return next
    }

    /// Finishes a rotation: the new CA becomes the deployment CA and issues the server
    /// certificate (same key and names); the old one stays trusted for client certificates
    /// (`ca-previous.pem`). Safe to run again after an interruption.
    public func finishRotation(now: Date = Date()) throws {
        guard let next = nextAuthority else { throw Failure.rotation("no rotation is under way; start one with 'bulwark-collector ca rotate'") }
        if authority.certificate != next.certificate {
            try SecureFile.write(Data(try authority.certificate.serializeAsPEM().pemString.utf8), to: Self.path(directory, "ca-previous.pem"), mode: .publicReadable)
        }
        let server = try next.reissueServerCertificate(serverCertificate, now: now)
        try SecureFile.write(Data(try server.serializeAsPEM().pemString.utf8), to: Self.path(directory, "server.pem"), mode: .publicReadable)
        try SecureFile.write(Data(next.privateKeyPEM.utf8), to: Self.path(directory, "ca-key.pem"), mode: .secret)
        try SecureFile.write(Data(try next.certificate.serializeAsPEM().pemString.utf8), to: Self.path(directory, "ca.pem"), mode: .publicReadable)
        try FileManager.default.removeItem(atPath: Self.path(directory, "ca-next-key.pem"))
        try FileManager.default.removeItem(atPath: Self.path(directory, "ca-next.pem"))
    }

    /// Ends trust in the CA before the last rotation: its agent certificates are refused.
    public func retirePrevious() throws {
        guard previousCA != nil else { throw Failure.rotation("no earlier CA is trusted any more") }
        try FileManager.default.removeItem(atPath: Self.path(directory, "ca-previous.pem"))
    }
}
