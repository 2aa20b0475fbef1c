import Foundation
import Testing

/// An organisation's own CA, made with openssl by the scripts in certs/, issues the collector's
/// server certificate; agents pin that CA and enroll and send through it. Certificates that
/// cannot serve are refused at start with what is wrong.
@Suite("End to end: bring-your-own PKI (certs/ openssl scripts)", .serialized)
struct BringYourOwnPKITests {
    static let certs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("certs").path

    /// Runs a certs/ script; fails the test with its output when it fails.
    @discardableResult
    static func script(_ name: String, _ arguments: [String]) throws -> String {
        let result = try run("/bin/bash", [certs + "/" + name] + arguments)
        guard result.status == 0 else { throw TestFailure.command("\(name): \(result.output)") }
        return result.stdout
    }

    @Test("openssl-made CA → collector serving its certificate → agent pinning that CA enrolls and sends; the API serves the same chain; the deployment CA's fingerprint no longer matches")
    func wholePath() async throws {
        let cluster = try Cluster()
        defer { cluster.shutdown() }
        let pki = cluster.root + "/corp"
        let made = try Self.script("make-test-ca.sh", [pki])
        let corpFingerprint = try #require(made.split(separator: "\n").last.map(String.init))
        #expect(corpFingerprint.count == 64 && corpFingerprint != cluster.fingerprint)
        try Self.script("issue-server.sh", [pki + "/ca.pem", pki + "/ca-key.pem", pki + "/server", "localhost", "127.0.0.1"])
        #expect(try run("stat", ["-c", "%a", pki + "/server/server-key.pem"]).stdout == "600\n")
        #expect(try run("openssl", ["verify", "-CAfile", pki + "/ca.pem", "-purpose", "sslserver", pki + "/server/server.pem"]).status == 0)

        let deploymentFingerprint = cluster.fingerprint
        cluster.collectorArguments = ["--tls-cert", pki + "/server/server.pem", "--tls-key", pki + "/server/server-key.pem", "--tls-ca", pki + "/ca.pem"]
        try cluster.startCollector()
        #expect(cluster.collector?.log.contains("serving the organisation's certificate") == true)

        // An agent given the deployment CA's fingerprint is told the collector's CA differs.
        let wrong = try cluster.agentCLI(["enroll", "--state", cluster.root + "/wrong", "--collector", cluster.collectorURL,
                                          "--token", try cluster.enrollToken(), "--ca-sha256", deploymentFingerprint])
        #expect(wrong.status != 0 && wrong.stderr.contains(corpFingerprint) && wrong.stderr.contains("was pinned"), "\(wrong.output)")

        // With the organisation's fingerprint: enrolled, and the events arrive.
        cluster.fingerprint = corpFingerprint
        cluster.caPath = pki + "/ca.pem"
        let agent = try cluster.enrollAgent()
        #expect(try Self.script("fingerprint.sh", [agent.directory + "/ca.pem"]).trimmingCharacters(in: .whitespacesAndNewlines) == corpFingerprint,
                "the agent trusts the CA it pinned")
        try agent.startAndSelftest()
        defer { agent.stop() }

        // Independent clients: curl trusts only the organisation's CA; the handshake shows its chain.
        let served = try cluster.curl([cluster.apiURL + "/api/ca"])
        #expect(served.status == 200 && served.body.contains("BEGIN CERTIFICATE"), "\(served.result.output)")
        let handshake = try run("/bin/sh", ["-c", "openssl s_client -connect 127.0.0.1:\(cluster.agentPort) -CAfile '\(pki)/ca.pem' -verify_return_error </dev/null 2>&1"])
        #expect(handshake.stdout.contains("Verify return code: 0 (ok)") && handshake.stdout.contains("Example Corp Test Root CA"), "\(handshake.stdout.suffix(1500))")

        // An agent certificate for an agent ID, made with openssl alone, names that agent.
        let agentCertificate = cluster.root + "/corp-agent.pem"
        try Self.script("issue-agent.sh", [pki + "/ca.pem", pki + "/ca-key.pem", agent.keyPath, agentCertificate])
        let subject = try run("openssl", ["x509", "-in", agentCertificate, "-noout", "-subject"]).stdout
        #expect(subject.contains(try agent.agentID), "\(subject)")
        #expect(try run("openssl", ["verify", "-CAfile", pki + "/ca.pem", "-purpose", "sslclient", agentCertificate]).status == 0)
    }

    @Test("certificates that cannot serve stop the collector at start with the file and the reason: a key of another certificate, a chain to another CA, an incomplete set")
    func refusals() throws {
        let cluster = try Cluster()
        defer { cluster.shutdown() }
        let pki = cluster.root + "/corp"
        let other = cluster.root + "/other"
        try Self.script("make-test-ca.sh", [pki])
        try Self.script("make-test-ca.sh", [other, "/CN=Someone Else CA"])
        try Self.script("issue-server.sh", [pki + "/ca.pem", pki + "/ca-key.pem", pki + "/a", "localhost"])
        try Self.script("issue-server.sh", [pki + "/ca.pem", pki + "/ca-key.pem", pki + "/b", "localhost"])

        func serve(_ arguments: [String]) throws -> CommandResult {
            try run(Binaries.path("bulwark-collector"), ["serve", "--data", cluster.dataDir, "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"] + arguments, timeout: 30)
        }
        let mismatched = try serve(["--tls-cert", pki + "/a/server.pem", "--tls-key", pki + "/b/server-key.pem", "--tls-ca", pki + "/ca.pem"])
        #expect(mismatched.status != 0 && mismatched.stderr.contains("this key does not belong to the certificate"), "\(mismatched.output)")
        let foreign = try serve(["--tls-cert", pki + "/a/server.pem", "--tls-key", pki + "/a/server-key.pem", "--tls-ca", other + "/ca.pem"])
        #expect(foreign.status != 0 && foreign.stderr.contains("does not chain to a CA in \(other)/ca.pem"), "\(foreign.output)")
        let incomplete = try serve(["--tls-cert", pki + "/a/server.pem"])
        #expect(incomplete.status != 0 && incomplete.stderr.contains("tls_cert, tls_key and tls_ca go together"), "\(incomplete.output)")
    }
}
