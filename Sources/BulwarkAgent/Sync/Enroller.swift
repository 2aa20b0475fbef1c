import BulwarkCore
import Crypto
import Foundation
import SwiftASN1
import X509

/// `bulwark-agent enroll`: generates (or reuses) the agent key, pins the collector's CA by
/// fingerprint on first contact, and obtains a client certificate with a one-time token.
public struct Enroller: Sendable {
    let state: AgentState

    public init(state: AgentState) {
        self.state = state
    }

    public func enroll(collector: String, token: String, caSHA256: String, newKey: Bool = false) async throws -> CertificateGrant {
        try state.prepare()
        let ca = try await pinnedCA(collector: collector, caSHA256: caSHA256)

        let key = try state.loadOrCreateKey(forceNew: newKey)
        let client = try CollectorClient(baseURL: collector, trustedCA: [ca])
        let request = EnrollRequest(
            token: token, csr: try Self.csrPEM(for: key), hostname: ProcessInfo.processInfo.hostName,
            os: Self.osDescription(), agentVersion: BulwarkVersion.current)
        let grant: CertificateGrant
        do { grant = try await client.enroll(request) } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
        let issued = try Certificate(pemEncoded: grant.certificate)
        guard try AgentIdentity.agentID(of: issued) == grant.agentID, issued.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw CollectorError.rejected(status: 200, ErrorBody(code: "certificate_mismatch", message: "the collector returned a certificate that is not for this agent's key"))
        }
        try state.save(grant: grant, enrollment: .init(
            collector: collector, agentID: grant.agentID, caSHA256: AgentIdentity.normalizedFingerprint(caSHA256), enrolledAt: Date()), serverCA: ca)
        return grant
    }

    /// Enrolls with a certificate the organisation's CA issued for this agent's key (from
    /// `bulwark-agent csr`): no token; the collector must trust that CA (`tls_client_ca`).
    public func enroll(collector: String, certificatePEM: String, caSHA256: String) async throws -> CertificateGrant {
        let key = try state.loadKey()
        let certificate: Certificate
        do { certificate = try Certificate(pemEncoded: certificatePEM) } catch {
            throw CollectorError.rejected(status: 0, ErrorBody(code: "invalid_certificate", message: "not a PEM certificate: \(error)"))
        }
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw CollectorError.rejected(status: 0, ErrorBody(code: "certificate_mismatch", message: "the certificate is not for this agent's key (\(state.keyPath)); have it issued for the CSR 'bulwark-agent csr' prints"))
        }
        guard let agentID = try AgentIdentity.agentID(of: certificate) else {
            throw CollectorError.rejected(status: 0, ErrorBody(code: "certificate_not_agent", message: "the certificate's CN is not this agent's ID; issue it with certs/issue-agent.sh"))
        }
        let ca = try await pinnedCA(collector: collector, caSHA256: caSHA256)
        let client = try CollectorClient(baseURL: collector, trustedCA: [ca], clientCertificate: certificate, clientKey: key)
        let grant: CertificateGrant
        do {
            grant = try await client.register(RegisterRequest(hostname: ProcessInfo.processInfo.hostName, os: Self.osDescription(), agentVersion: BulwarkVersion.current))
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
        var enrollment = AgentState.Enrollment(
            collector: collector, agentID: agentID, caSHA256: AgentIdentity.normalizedFingerprint(caSHA256), enrolledAt: Date())
        enrollment.externalCertificate = true
        try state.save(grant: grant, enrollment: enrollment, serverCA: ca)
        return grant
    }

    /// First contact: TLS without verification only to fetch the CA, which must match the pinned
    /// fingerprint; everything after trusts that CA alone.
    private func pinnedCA(collector: String, caSHA256: String) async throws -> Certificate {
        let probe = try CollectorClient(baseURL: collector, trustedCA: nil)
        do {
            let ca = try await probe.fetchPinnedCA(pinnedSHA256: caSHA256)
            await probe.shutdown()
            return ca
        } catch {
            await probe.shutdown()
            throw error
        }
    }

    /// A PKCS#10 request for `key`, subject = the agent ID.
    public static func csrPEM(for key: P256.Signing.PrivateKey) throws -> String {
        let publicKey = Certificate.PublicKey(key.publicKey)
        let agentID = try AgentIdentity.agentID(for: publicKey)
        let csr = try CertificateSigningRequest(
            version: .v1,
            subject: try DistinguishedName { CommonName(agentID) },
            privateKey: Certificate.PrivateKey(key),
            attributes: CertificateSigningRequest.Attributes(),
            signatureAlgorithm: .ecdsaWithSHA256)
        return try csr.serializeAsPEM().pemString
    }

    /// `PRETTY_NAME` from os-release, falling back to the kernel name.
    static func osDescription() -> String {
        if let text = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
                return line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return ProcessInfo.processInfo.operatingSystemVersionString
    }
}
