import BulwarkCore
import Crypto
import Foundation
import SwiftASN1
import X509

/// The agent's state directory: its key, certificate, pinned CA, enrollment record and spool.
///
/// Layout (directory 0700, key 0600): `agent-key.pem`, `agent.pem`, `ca.pem`,
/// `enrollment.json`, `hash.key` (0600), `spool.db`.
public struct AgentState: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public var keyPath: String { path("agent-key.pem") }
    public var certificatePath: String { path("agent.pem") }
    public var caPath: String { path("ca.pem") }
    public var enrollmentPath: String { path("enrollment.json") }
    public var spoolPath: String { path("spool.db") }
    public var hashKeyPath: String { path("hash.key") }
    /// The session helpers connected to the running agent (for `doctor`).
    public var sessionsPath: String { path("sessions.json") }

    public func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// What enrollment recorded.
    public struct Enrollment: Sendable, Codable {
        public var collector: String
        public var agentID: String
        public var caSHA256: String
        public var enrolledAt: Date
        /// The certificate came from the organisation's CA (`enroll --certificate`): the agent
        /// does not renew it; the organisation does.
        public var externalCertificate: Bool?

        enum CodingKeys: String, CodingKey {
            case collector
            case agentID = "agent_id"
            case caSHA256 = "ca_sha256"
            case enrolledAt = "enrolled_at"
            case externalCertificate = "external_certificate"
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case notEnrolled(String)
        case unreadable(String, String)

        public var description: String {
            switch self {
            case .notEnrolled(let dir):
                "agent state in \(dir) is not enrolled; run 'bulwark-agent enroll --state \(dir) --collector https://HOST:8443 --token TOKEN --ca-sha256 FINGERPRINT'"
            case .unreadable(let path, let reason):
                "cannot read \(path): \(reason)"
            }
        }
    }

    /// Creates the directory with owner-only access.
    public func prepare() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(directory, 0o700)
    }

    /// The agent's private key, generated on first use and kept 0600.
    public func loadOrCreateKey(forceNew: Bool = false) throws -> P256.Signing.PrivateKey {
        if !forceNew, FileManager.default.fileExists(atPath: keyPath) {
            do { return try P256.Signing.PrivateKey(pemRepresentation: try SecureFile.readText(keyPath)) } catch {
                throw Failure.unreadable(keyPath, "\(error)")
            }
        }
        let key = P256.Signing.PrivateKey()
        try SecureFile.write(Data(key.pemRepresentation.utf8), to: keyPath, mode: .secret)
        return key
    }

    public func loadKey() throws -> P256.Signing.PrivateKey {
        guard FileManager.default.fileExists(atPath: keyPath) else { throw Failure.notEnrolled(directory) }
        do { return try P256.Signing.PrivateKey(pemRepresentation: try SecureFile.readText(keyPath)) } catch {
            throw Failure.unreadable(keyPath, "\(error)")
        }
    }

    public func loadEnrollment() throws -> Enrollment {
        guard let data = FileManager.default.contents(atPath: enrollmentPath) else { throw Failure.notEnrolled(directory) }
        do { return try WireCoding.decoder().decode(Enrollment.self, from: data) } catch {
            throw Failure.unreadable(enrollmentPath, "\(error)")
        }
    }

    public func loadCertificate() throws -> Certificate {
        guard FileManager.default.fileExists(atPath: certificatePath) else { throw Failure.notEnrolled(directory) }
        do { return try Certificate(pemEncoded: try SecureFile.readText(certificatePath)) } catch {
            throw Failure.unreadable(certificatePath, "\(error)")
        }
    }

    /// The CAs the collector's server certificate may chain to: the one pinned at enrollment,
    /// and a new deployment CA received with a renewal during a CA rotation.
    public func loadCA() throws -> [Certificate] {
        guard FileManager.default.fileExists(atPath: caPath) else { throw Failure.notEnrolled(directory) }
        do {
            let certificates = try PEMDocument.parseMultiple(pemString: try SecureFile.readText(caPath))
                .filter { $0.discriminator == "CERTIFICATE" }.map { try Certificate(pemDocument: $0) }
            guard !certificates.isEmpty else { throw Failure.unreadable(caPath, "no certificate in it") }
            return certificates
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure.unreadable(caPath, "\(error)")
        }
    }

    /// The deployment's keyed hash (HMAC-SHA256 key from enrollment), nil before enrollment
    /// or from a collector that does not send one.
    public func loadKeyedHash() throws -> KeyedHash? {
        guard FileManager.default.fileExists(atPath: hashKeyPath) else { return nil }
        guard let key = FileManager.default.contents(atPath: hashKeyPath), key.count == 32 else {
            throw Failure.unreadable(hashKeyPath, "not a 32-byte key; enroll again")
        }
        return KeyedHash(key: SymmetricKey(data: key))
    }

    /// Stores a granted certificate (enrollment or renewal); the certificate is written last so a
    /// crash leaves either the old or the new pair, never a mix that cannot authenticate.
    /// Stores a granted certificate. At enrollment `serverCA` is the pinned CA the collector's
    /// server certificate chains to (the deployment CA, or the organisation's with
    /// bring-your-own PKI); a renewal keeps the one pinned.
    public func save(grant: CertificateGrant, enrollment: Enrollment?, serverCA: Certificate? = nil) throws {
        if let serverCA {
            try SecureFile.write(Data(try serverCA.serializeAsPEM().pemString.utf8), to: caPath, mode: .publicReadable)
        } else if let issuer = try? Certificate(pemEncoded: grant.caChain), let trusted = try? loadCA(), !trusted.contains(issuer) {
            // A renewal signed by a new deployment CA (a rotation): it came over TLS verified
            // against the pinned CA from the authenticated collector, so the agent trusts it too,
            // for the day the collector's server certificate comes from it.
            let bundle = try (trusted + [issuer]).map { try $0.serializeAsPEM().pemString }.joined(separator: "\n") + "\n"
            try SecureFile.write(Data(bundle.utf8), to: caPath, mode: .publicReadable)
        }
        if let encoded = grant.hashKey {
            guard let key = Data(base64Encoded: encoded), key.count == 32 else {
                throw Failure.unreadable("the collector's answer", "hash_key is not 32 bytes of base64")
            }
            try SecureFile.write(key, to: hashKeyPath, mode: .secret)
        }
        if let enrollment {
            try SecureFile.write(try WireCoding.encoder().encode(enrollment), to: enrollmentPath, mode: .publicReadable)
        }
        try SecureFile.write(Data(grant.certificate.utf8), to: certificatePath, mode: .publicReadable)
    }
}
