import BulwarkCore
import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// What the collector's listeners present and trust: the server certificate chain and key, the
/// CA bundle agents pin (served at `/v1/ca` and `/api/ca`), and the CAs whose client
/// certificates the agent listener accepts.
///
/// By default everything is the deployment's own CA. With bring-your-own PKI
/// (`--tls-cert/--tls-key/--tls-ca`, docs/DEPLOY.md) an organisation's CA issues the server
/// certificate; agents then pin that CA, while their client certificates still come from the
/// deployment CA at enrollment.
public struct ServerTLSIdentity: Sendable {
    /// Leaf first, then intermediates.
    public var chain: [Certificate]
    public var keyPEM: String
    /// The CA certificates that anchor `chain` (what agents and `bulwark login` pin).
    public var anchors: [Certificate]
    /// CAs whose client certificates the agent listener verifies.
    public var clientAuthorities: [Certificate]

    /// The PEM bundle served to agents for pinning.
    public var anchorsPEM: String {
        get throws { try anchors.map { try $0.serializeAsPEM().pemString }.joined(separator: "\n") + "\n" }
    }

    /// The deployment's own server certificate, anchored in its CA.
    public static func deployment(_ deployment: Deployment) -> ServerTLSIdentity {
        // During a rotation agents may pin either CA.
        ServerTLSIdentity(
            chain: [deployment.serverCertificate], keyPEM: deployment.serverKeyPEM,
            anchors: [deployment.authority.certificate] + (deployment.nextAuthority.map { [$0.certificate] } ?? []),
            clientAuthorities: deployment.clientAuthorities)
    }

    /// Files of an organisation's own PKI, checked before anything listens.
    public struct Files: Sendable, Equatable {
        public var certificate: String
        public var key: String
        public var authority: String

        public init(certificate: String, key: String, authority: String) {
            self.certificate = certificate
            self.key = key
            self.authority = authority
        }
    }

    /// A certificate set that cannot serve, with what to fix.
    public struct Invalid: Error, CustomStringConvertible {
        public var file: String
        public var reason: String
        public var description: String { "cannot serve with \(file): \(reason)" }
    }

    /// A server certificate issued by the organisation's CA; the agent listener keeps trusting
    /// the deployment CA for client certificates. Checks that the key matches the certificate,
    /// the certificate is valid now and for server authentication, and `authority` verifies it.
    public static func external(_ files: Files, deployment: Deployment, now: Date = Date()) async throws -> ServerTLSIdentity {
        let chain = try certificates(in: files.certificate)
        let anchors = try certificates(in: files.authority)
        guard let leaf = chain.first else { throw Invalid(file: files.certificate, reason: "it holds no certificate") }
        let keyPEM: String
        do { keyPEM = try SecureFile.readText(files.key) } catch { throw Invalid(file: files.key, reason: "\(error)") }
        let key: Certificate.PrivateKey
        do { key = try Certificate.PrivateKey(pemEncoded: keyPEM) } catch {
            throw Invalid(file: files.key, reason: "not a PEM private key (PKCS#8, SEC1 or RSA): \(error)")
        }
        guard key.publicKey == leaf.publicKey else {
            throw Invalid(file: files.key, reason: "this key does not belong to the certificate in \(files.certificate)")
        }
        guard leaf.notValidBefore <= now, now < leaf.notValidAfter else {
            throw Invalid(file: files.certificate, reason: "the certificate is valid \(WireCoding.string(from: leaf.notValidBefore)) … \(WireCoding.string(from: leaf.notValidAfter)), not now")
        }
        if let usage = try? leaf.extensions.extendedKeyUsage, !usage.contains(.serverAuth) {
            throw Invalid(file: files.certificate, reason: "its extended key usage lacks serverAuth; issue it with certs/issue-server.sh")
        }
        let intermediates = CertificateStore(Array(chain.dropFirst()))
        var verifier = Verifier(rootCertificates: CertificateStore(anchors)) { RFC5280Policy(validationTime: now) }
        let result = await verifier.validate(leafCertificate: leaf, intermediates: intermediates)
        guard case .validCertificate = result else {
            throw Invalid(file: files.certificate, reason: "it does not chain to a CA in \(files.authority) (\(result))")
        }
        return ServerTLSIdentity(chain: chain, keyPEM: keyPEM, anchors: anchors, clientAuthorities: deployment.clientAuthorities)
    }

    /// Every certificate in a PEM file, in order.
    public static func certificates(in path: String) throws -> [Certificate] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Invalid(file: path, reason: "cannot read it (\(error.localizedDescription))")
        }
        do {
            let documents = try PEMDocument.parseMultiple(pemString: text).filter { $0.discriminator == "CERTIFICATE" }
            guard !documents.isEmpty else { throw Invalid(file: path, reason: "it holds no PEM CERTIFICATE block") }
            return try documents.map { try Certificate(pemDocument: $0) }
        } catch let error as Invalid {
            throw error
        } catch {
            throw Invalid(file: path, reason: "not PEM certificates: \(error)")
        }
    }

    /// TLS 1.2+ with this identity. The agent listener asks for a client certificate and
    /// verifies any presented one against `clientAuthorities` only; it admits connections without
    /// one because enrollment happens before the agent has a certificate.
    func tlsConfiguration(requestClientCertificate: Bool) throws -> TLSConfiguration {
        let chain = try chain.map { try NIOSSLCertificateSource.certificate(NIOSSLCertificate(bytes: Array($0.serializeAsPEM().pemString.utf8), format: .pem)) }
        let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        // How long a closing connection waits for the peer's close_notify (NIOSSL: 5 s).
        // HTTP clients that pool connections often never send one, and every such connection
        // would hold a graceful stop that long.
        tls.shutdownTimeout = .seconds(1)
        if requestClientCertificate {
            tls.trustRoots = .certificates(try clientAuthorities.map { try NIOSSLCertificate(bytes: Array($0.serializeAsPEM().pemString.utf8), format: .pem) })
            tls.certificateVerification = .optionalVerification
            // Advertise our CAs so clients with several certificates pick the right one.
            tls.sendCANameList = true
        }
        return tls
    }
}
