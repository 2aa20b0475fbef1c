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

    @Test("agent certificates from the organisation's CA: with it as tls_client_ca, an agent registers with one (csr → issue-agent.sh → enroll --certificate, no token), sends, is never renewed onto the deployment CA, and revocation applies; a collector without it refuses the handshake")
    func organisationAgentCertificates() async throws {
        let cluster = try Cluster()
        defer { cluster.shutdown() }
        let pki = cluster.root + "/corp"
        try Self.script("make-test-ca.sh", [pki])
        cluster.collectorArguments = ["--tls-client-ca", pki + "/ca.pem"]
        try cluster.startCollector()
        #expect(cluster.collector?.log.contains("accepting agent certificates of the organisation's CA") == true)

        func issue(_ agent: AgentHandle) throws -> String {
            let csr = try cluster.agentCLI(["csr", "--state", agent.directory])
            guard csr.status == 0, csr.stdout.contains("BEGIN CERTIFICATE REQUEST") else { throw TestFailure.command("csr: \(csr.output)") }
            let request = agent.directory + "/agent.csr"
            try csr.stdout.write(toFile: request, atomically: true, encoding: .utf8)
            try Self.script("issue-agent.sh", [pki + "/ca.pem", pki + "/ca-key.pem", request, agent.directory + "/corp.pem"])
            return agent.directory + "/corp.pem"
        }
        let agent = AgentHandle(cluster: cluster, directory: cluster.root + "/corp-agent")
        let certificate = try issue(agent)
        let enrolled = try cluster.agentCLI(["enroll", "--state", agent.directory, "--collector", cluster.collectorURL, "--ca-sha256", cluster.fingerprint, "--certificate", certificate])
        let registeredID = try agent.agentID
        #expect(enrolled.status == 0 && enrolled.stdout.contains("registered as agent \(registeredID)"), "\(enrolled.output)")
        try Cluster.fastAgentConfig.write(toFile: agent.configPath, atomically: true, encoding: .utf8)
        try agent.startAndSelftest()
        let served = try String(contentsOfFile: agent.certificatePath, encoding: .utf8)
        #expect(try run("openssl", ["verify", "-CAfile", pki + "/ca.pem", agent.certificatePath]).status == 0, "the agent uses the organisation's certificate")
        let listed = try cluster.collectorCLI(["agent", "list", "--data", cluster.dataDir]).stdout
        #expect(listed.contains(registeredID), "\(listed)")
        let audit = try await cluster.store().auditEntries(.init(actionPrefix: "agent.register"))
        let agentID = try agent.agentID
        #expect(audit.first?.outcome == "ok" && audit.first?.target == agentID)

        // Revocation applies as to any agent.
        #expect(try cluster.collectorCLI(["agent", "revoke", "--data", cluster.dataDir, try agent.agentID]).status == 0)
        try await Task.sleep(for: .seconds(1.5))
        #expect(try agent.cli(["selftest", "--timeout", "5"]).status != 0)
        agent.stop()
        #expect(try String(contentsOfFile: agent.certificatePath, encoding: .utf8) == served, "never renewed onto the deployment CA")

        // Without tls_client_ca the organisation's certificates fail the handshake.
        cluster.stopCollector()
        cluster.collectorArguments = []
        try cluster.startCollector()
        let stranger = AgentHandle(cluster: cluster, directory: cluster.root + "/corp-agent-2")
        let refused = try cluster.agentCLI(["enroll", "--state", stranger.directory, "--collector", cluster.collectorURL, "--ca-sha256", cluster.fingerprint, "--certificate", try issue(stranger)])
        #expect(refused.status != 0 && refused.stderr.contains("TLS"), "\(refused.output)")
    }
}
