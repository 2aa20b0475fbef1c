import BulwarkAgent
import BulwarkCollector
import BulwarkCore
import Crypto
import Foundation
import Testing
import X509

/// The agent's one client to the collector: kept while its enrollment files stay as they were,
/// replaced when they change (renewal, CA rotation), kept when they are deleted under it.
@Suite("Collector link")
struct CollectorLinkTests {
    /// An agent state directory enrolled (on paper) with a real CA and a real key.
    struct Enrolled {
        let state: AgentState
        let authority: CertificateAuthority
        let key: P256.Signing.PrivateKey

        init() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("link-\(UUID())").path
            state = AgentState(directory: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            authority = try CertificateAuthority.create(name: "link test CA")
            key = try state.loadOrCreateKey()
            let enrollment = try WireCoding.decoder().decode(
                AgentState.Enrollment.self,
                from: Data(#"{"collector":"https://127.0.0.1:9","agent_id":"a","ca_sha256":"x","enrolled_at":"2026-12-07T00:00:00Z"}"#.utf8))
            try state.save(grant: try grant(), enrollment: enrollment, serverCA: authority.certificate)
        }

        /// A new certificate for the same key, as a renewal brings.
        func grant() throws -> CertificateGrant {
            let csr = try CertificateSigningRequest(
                version: .v1, subject: try DistinguishedName { CommonName("agent") }, privateKey: Certificate.PrivateKey(key),
                attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA256)
            let (certificate, agentID) = try authority.issueAgentCertificate(csr: csr, validity: 3_600)
            return CertificateGrant(
                agentID: agentID, certificate: try certificate.serializeAsPEM().pemString,
                caChain: try authority.certificate.serializeAsPEM().pemString, notAfter: certificate.notValidAfter)
        }

        func remove() { try? FileManager.default.removeItem(atPath: state.directory) }
    }

    @Test("the same client while the files stay; a new one after a renewal; the last one when they are deleted")
    func followsEnrollmentFiles() async throws {
        let enrolled = try Enrolled()
        defer { enrolled.remove() }
        let link = CollectorLink(state: enrolled.state, connectTimeout: 1)
        let first = try link.client()
        #expect(try link.client() === first)

        // Rewritten with the same bytes: same credentials, same client.
        try Data(contentsOf: URL(fileURLWithPath: enrolled.state.certificatePath)).write(to: URL(fileURLWithPath: enrolled.state.certificatePath))
        #expect(try link.client() === first)

        try enrolled.state.save(grant: try enrolled.grant(), enrollment: nil)
        let renewed = try link.client()
        #expect(renewed !== first)
        #expect(try link.client() === renewed)

        try FileManager.default.removeItem(atPath: enrolled.state.certificatePath)
        try FileManager.default.removeItem(atPath: enrolled.state.caPath)
        #expect(try link.client() === renewed)

        await link.shutdown()
        #expect(throws: CollectorError.self) { try link.client() }
    }

    @Test("no client without enrollment files, and a clear error saying which")
    func notEnrolled() async throws {
        let enrolled = try Enrolled()
        defer { enrolled.remove() }
        try FileManager.default.removeItem(atPath: enrolled.state.enrollmentPath)
        let link = CollectorLink(state: enrolled.state, connectTimeout: 1)
        #expect { try link.client() } throws: { error in "\(error)".contains("enroll") }
        await link.shutdown()
    }
}
