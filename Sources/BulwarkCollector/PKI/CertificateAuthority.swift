import BulwarkCore
import Crypto
import Foundation
import SwiftASN1
import X509

/// The deployment's own certificate authority: issues the collector's server certificate and
/// every agent's client certificate. ECDSA P-256 throughout.
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    private let privateKey: P256.Signing.PrivateKey

    public init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// Creates a new self-signed CA valid for `years`.
    public static func create(name: String, years: Int = 10, now: Date = Date()) throws -> CertificateAuthority {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let subject = try DistinguishedName {
            OrganizationName("Bulwark")
            CommonName(name)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(Double(years) * 365 * 86_400),
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return CertificateAuthority(certificate: certificate, privateKey: key)
    }

    /// SHA-256 fingerprint of the CA certificate, the value agents pin at enrollment.
    public var fingerprint: String {
        get throws { try AgentIdentity.fingerprint(of: certificate) }
    }

    /// Issues the collector's TLS server certificate for DNS names and IP addresses.
    public func issueServerCertificate(
        hostnames: [String], publicKey: P256.Signing.PublicKey, days: Int = 825, now: Date = Date()
    ) throws -> Certificate {
        let names: [GeneralName] = hostnames.map { name in
            if let ip = IPAddressBytes(name) { return .ipAddress(ASN1OctetString(contentBytes: ip.bytes[...])) }
            return .dnsName(name)
        }
        return try sign(
            publicKey: Certificate.PublicKey(publicKey),
            subject: try DistinguishedName {
                OrganizationName("Bulwark")
                CommonName(hostnames.first ?? "bulwark-collector")
            },
            validity: TimeInterval(days) * 86_400,
            now: now,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            }
        )
    }

    /// The collector's server certificate again, from this CA, for the same key and names as
    /// `previous` (a CA rotation's finish).
    public func reissueServerCertificate(_ previous: Certificate, days: Int = 825, now: Date = Date()) throws -> Certificate {
        guard let names = try previous.extensions.subjectAlternativeNames else {
            throw ErrorBody(code: "no_names", message: "the server certificate names no host (no subjectAltName)")
        }
        return try sign(
            publicKey: previous.publicKey, subject: previous.subject, validity: TimeInterval(days) * 86_400, now: now,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                names
            })
    }

    /// Issues an agent's client certificate from its CSR. The subject is replaced by the agent ID
    /// derived from the CSR's key, whatever the CSR asked for.
    public func issueAgentCertificate(
        csr: CertificateSigningRequest, validity: TimeInterval, now: Date = Date()
    ) throws -> (certificate: Certificate, agentID: String) {
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw ErrorBody(code: "invalid_csr", message: "the CSR's signature does not match its public key")
        }
        let agentID = try AgentIdentity.agentID(for: csr.publicKey)
        let certificate = try sign(
            publicKey: csr.publicKey,
            subject: try DistinguishedName {
                OrganizationName("Bulwark agents")
                CommonName(agentID)
            },
            validity: validity,
            now: now,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
                SubjectAlternativeNames([.uniformResourceIdentifier("urn:bulwark:agent:\(agentID)")])
            }
        )
        return (certificate, agentID)
    }

    private func sign(
        publicKey: Certificate.PublicKey, subject: DistinguishedName, validity: TimeInterval, now: Date,
        extensions: Certificate.Extensions
    ) throws -> Certificate {
        var extensions = extensions
        try extensions.append(Certificate.Extension(
            AuthorityKeyIdentifier(keyIdentifier: try certificate.extensions.subjectKeyIdentifier?.keyIdentifier),
            critical: false))
        return try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            // Five minutes of back-dating absorbs small clock skew between collector and agents.
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(validity),
            issuer: certificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: Certificate.PrivateKey(privateKey)
        )
    }

    /// The CA private key in PEM, for writing to the deployment directory (0600).
    public var privateKeyPEM: String { privateKey.pemRepresentation }
}

/// Parses dotted IPv4 and textual IPv6 addresses into network-order bytes for IP SANs.
struct IPAddressBytes {
    let bytes: [UInt8]

    init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }
}
