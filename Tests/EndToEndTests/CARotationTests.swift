import BulwarkCollector
import Foundation
import Testing

/// Rotating the deployment CA with agents running: both CAs trusted during the rotation, agents
/// renew onto the new one by themselves, the server certificate moves to it, the old one is
/// retired. Certificates are checked with openssl, independently of Bulwark's own code.
@Suite("End to end: CA rotation", .serialized)
struct CARotationTests {
    @Test("rotate → agents renew onto the new CA and trust it too; finish → the server certificate comes from it and the same agents keep sending; an agent that slept through it is refused and told to re-enroll; retire; new agents pin the new fingerprint")
    func rotation() async throws {
        let cluster = try Cluster.started()
        defer { cluster.shutdown() }
        let agent = try cluster.enrollAgent()
        try agent.startAndSelftest()
        defer { agent.stop() }
        let sleeper = try cluster.enrollAgent(name: "sleeper")  // not running during the rotation
        let oldFingerprint = cluster.fingerprint

        // Start: a new CA signs agent certificates; both are trusted.
        let rotated = try cluster.collectorCLI(["ca", "rotate", "--data", cluster.dataDir])
        #expect(rotated.status == 0, "\(rotated.output)")
        let newFingerprint = try #require(rotated.stdout.split(separator: "\n").first?.split(separator: " ").last.map(String.init))
        #expect(newFingerprint.count == 64 && newFingerprint != oldFingerprint)
        #expect(try cluster.collectorCLI(["ca", "rotate", "--data", cluster.dataDir]).stderr.contains("already under way"))
        cluster.stopCollector()
        try cluster.startCollector()
        try await eventually("the running agent renews onto the new CA", timeout: 30) {
            try run("openssl", ["verify", "-CAfile", cluster.dataDir + "/ca-next.pem", agent.certificatePath]).status == 0
        }
        let trusted = try String(contentsOfFile: agent.directory + "/ca.pem", encoding: .utf8)
        #expect(trusted.components(separatedBy: "BEGIN CERTIFICATE").count - 1 == 2, "the agent trusts the old and the new CA")
        #expect(try agent.cli(["selftest"]).status == 0)
        let status = try cluster.collectorCLI(["ca", "status", "--data", cluster.dataDir]).stdout
        #expect(status.contains("current:  \(oldFingerprint)") && status.contains("next:     \(newFingerprint)"), "\(status)")

        // Finish: the new CA is the deployment CA and issued the server certificate.
        #expect(try cluster.collectorCLI(["ca", "finish", "--data", cluster.dataDir]).status == 0)
        cluster.stopCollector()
        try cluster.startCollector()
        #expect(try run("/bin/bash", [BringYourOwnPKITests.certs + "/fingerprint.sh", cluster.dataDir + "/ca.pem"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == newFingerprint)
        #expect(try run("openssl", ["verify", "-CAfile", cluster.dataDir + "/ca.pem", cluster.dataDir + "/server.pem"]).status == 0)
        #expect(try agent.cli(["selftest"]).status == 0, "the renewed agent keeps sending through the new server certificate")

        // The agent that slept through it trusts only the old CA: refused, and told what to do.
        let doctor = try run(Binaries.path("bulwark-agent"), ["doctor", "--state", sleeper.directory, "--config", sleeper.configPath])
        #expect(doctor.stdout.contains("[FAIL] collector:"), "\(doctor.output)")

        // Retire the old CA; new agents pin the new fingerprint.
        #expect(try cluster.collectorCLI(["ca", "retire", "--data", cluster.dataDir]).status == 0)
        cluster.stopCollector()
        try cluster.startCollector()
        #expect(try agent.cli(["selftest"]).status == 0)
        cluster.fingerprint = newFingerprint
        let newcomer = try cluster.enrollAgent(name: "newcomer")
        try newcomer.startAndSelftest()
        newcomer.stop()
        let audit = try await cluster.store().auditEntries(.init(actionPrefix: "ca."))
        #expect(Set(audit.map(\.action)).isSuperset(of: ["ca.rotate", "ca.finish", "ca.retire"]))
    }
}
