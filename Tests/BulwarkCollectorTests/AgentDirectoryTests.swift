@testable import BulwarkCollector
import BulwarkCore
import Foundation
import Testing

/// The agent records the request path holds, against a real store of each backend, with a
/// second store on the same database standing in for another collector (or the CLI).
@Suite("Agent directory")
struct AgentDirectoryTests {
    let now = Date()

    func agent(_ id: String) -> AgentRecord {
        AgentRecord(id: id, hostname: "host-\(id)", os: "Debian", agentVersion: "0.1.0", enrolledAt: now,
                    certificateSerial: "01", certificateNotAfter: now.addingTimeInterval(86_400))
    }

    @Test("records are held until a revocation anywhere, which applies within the check interval; a new agent is found at once", arguments: StoreBackend.allCases)
    func heldUntilRevocation(_ backend: StoreBackend) async throws {
        let opened = try await StoreUnderTest.open(backend)
        let other = try await opened.another()
        _ = try await other.createEnrollmentToken(hash: "t", label: "", maxUses: 10, expiresAt: now.addingTimeInterval(600), now: now)
        for id in ["a", "b"] { _ = try await other.enroll(tokenHash: "t", agent: agent(id), now: now) }
        let directory = AgentDirectory(store: opened.store, checkInterval: .milliseconds(200))

        #expect(try await directory.agent(id: "a")?.certificateSerial == "01")
        #expect(try await directory.agent(id: "c") == nil)
        // Enrolled through the other collector after being asked for: found at once.
        _ = try await other.enroll(tokenHash: "t", agent: agent("c"), now: now)
        #expect(try await directory.agent(id: "c") != nil)

        // A renewal does not matter to the request path: the held record stays (no store read).
        try await other.recordRenewal(agentID: "a", serial: "02", notAfter: now.addingTimeInterval(172_800), now: now)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await directory.agent(id: "a")?.certificateSerial == "01")

        // Revoking a (held, not revoked) elsewhere: refused within the interval, read again whole.
        #expect(try await other.revokeAgent(id: "a", now: now))
        let revokedAt = ContinuousClock.now
        while try await directory.agent(id: "a")?.revokedAt == nil, ContinuousClock.now - revokedAt < .seconds(2) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(ContinuousClock.now - revokedAt < .milliseconds(600), "revocation took \(ContinuousClock.now - revokedAt) to apply")
        let reread = try #require(try await directory.agent(id: "a"))
        #expect(reread.revokedAt != nil)
        #expect(reread.certificateSerial == "02")
        // b, never asked for before, is read as it is.
        #expect(try await directory.agent(id: "b")?.revokedAt == nil)
        try await other.close()
    }

    @Test("when the store cannot be read, requests fail rather than pass on held records", arguments: StoreBackend.allCases)
    func failsClosed(_ backend: StoreBackend) async throws {
        let opened = try await StoreUnderTest.open(backend)
        _ = try await opened.store.createEnrollmentToken(hash: "t", label: "", maxUses: 1, expiresAt: now.addingTimeInterval(600), now: now)
        _ = try await opened.store.enroll(tokenHash: "t", agent: agent("a"), now: now)
        let directory = AgentDirectory(store: opened.store, checkInterval: .milliseconds(100))
        #expect(try await directory.agent(id: "a") != nil)
        try await opened.store.close()
        try await Task.sleep(for: .milliseconds(150))
        await #expect(throws: (any Error).self) { try await directory.agent(id: "a") }
    }
}
