import BulwarkCollector
import BulwarkCore
import Crypto
import Foundation
import Testing
import X509

@Suite("PKI")
struct PKITests {
    func csr(key: P256.Signing.PrivateKey, name: String = "whatever") throws -> CertificateSigningRequest {
        try CertificateSigningRequest(
            version: .v1, subject: try DistinguishedName { CommonName(name) }, privateKey: Certificate.PrivateKey(key),
            attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA256)
    }

    @Test("agent certificates name the ID derived from the key, whatever the CSR asked for")
    func agentIdentity() throws {
        let ca = try CertificateAuthority.create(name: "test CA")
        let key = P256.Signing.PrivateKey()
        let (certificate, agentID) = try ca.issueAgentCertificate(csr: try csr(key: key, name: "admin"), validity: 3_600)
        #expect(agentID == (try AgentIdentity.agentID(for: Certificate.PublicKey(key.publicKey))))
        #expect(try AgentIdentity.agentID(of: certificate) == agentID)
        #expect(ca.certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        #expect(try certificate.extensions.extendedKeyUsage?.contains(.clientAuth) == true)
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
    }

    @Test("a certificate whose CN does not match its key speaks for no agent")
    func mismatchedCommonName() throws {
        let other = try CertificateAuthority.create(name: "other")
        let key = P256.Signing.PrivateKey()
        let forged = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: Date(), notValidAfter: Date().addingTimeInterval(60),
            issuer: other.certificate.subject, subject: try DistinguishedName { CommonName(String(repeating: "a", count: 32)) },
            signatureAlgorithm: .ecdsaWithSHA256, extensions: .init(), issuerPrivateKey: .init(key))
        #expect(try AgentIdentity.agentID(of: forged) == nil)
    }

    @Test("server certificates carry DNS and IP names")
    func serverNames() throws {
        let ca = try CertificateAuthority.create(name: "test CA")
        let certificate = try ca.issueServerCertificate(hostnames: ["collector.example", "127.0.0.1", "::1"], publicKey: P256.Signing.PrivateKey().publicKey)
        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(names.contains(.dnsName("collector.example")))
        #expect(names.count == 3)
        #expect(try certificate.extensions.extendedKeyUsage?.contains(.serverAuth) == true)
    }

    @Test("deployment init writes keys 0600, refuses to overwrite, and loads back the same CA")
    func deployment() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("deploy-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let created = try Deployment.initialize(directory: dir, hostnames: ["localhost"])
        for key in ["ca-key.pem", "server-key.pem", "hmac.key"] {
            #expect(SecureFile.permissions(of: dir + "/" + key) == 0o600, "\(key)")
        }
        #expect(SecureFile.permissions(of: dir) == 0o700)
        #expect(throws: Deployment.Failure.self) { try Deployment.initialize(directory: dir, hostnames: ["localhost"]) }
        let loaded = try Deployment.load(directory: dir)
        #expect(try loaded.authority.fingerprint == created.authority.fingerprint)
        #expect(throws: Deployment.Failure.self) { try Deployment.load(directory: dir + "-missing") }
    }

    @Test("rate limiter: burst then refill, per key and overall")
    func rateLimiter() async {
        let limiter = RateLimiter(ratePerSecond: 1, burst: 3, globalRatePerSecond: 100, globalBurst: 4)
        let start = Date()
        for _ in 0..<3 { #expect(await limiter.allow("a", now: start)) }
        #expect(await !limiter.allow("a", now: start))
        #expect(await limiter.allow("b", now: start))  // global burst of 4 now spent
        #expect(await !limiter.allow("c", now: start))
        #expect(await limiter.allow("a", now: start.addingTimeInterval(1.1)))
    }
}
