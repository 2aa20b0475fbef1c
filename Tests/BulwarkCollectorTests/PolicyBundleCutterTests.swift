@testable import BulwarkCollector
import BulwarkCore
import Foundation
import Testing

@Suite("Policy bundles as sent")
struct PolicyBundleCutterTests {
    static func exception(_ id: String, agent: String?) -> ExceptionRecord {
        ExceptionRecord(
            granted: GrantedException(id: id, rule: "block-cards-to-ai", user: "alice", app: nil, until: Date(timeIntervalSince1970: 2_000_000_000), reason: "test"),
            agentID: agent, createdBy: "helpdesk", createdAt: Date(timeIntervalSince1970: 1_800_000_000))
    }

    static func snapshot(_ states: [String: SanctionState], exceptions: [ExceptionRecord]) -> PolicySnapshot {
        PolicySnapshot(appStates: states, statesChangedAt: 1, exceptions: exceptions, policy: nil, policyCreatedAt: 0, userRisk: [:])
    }

    @Test("agents without exceptions of their own share one encoding per snapshot; an agent with its own gets its bundle; every cut is the bundle bulwark-agent decodes, with its ETag")
    func sharedAndIndividual() throws {
        let cutter = PolicyBundleCutter(catalog: .bundled, catalogOverride: CatalogOverride(), issuingCAPEM: "PEM")
        let first = Self.snapshot(["chatgpt": .unsanctioned], exceptions: [Self.exception("EX-ALL", agent: nil), Self.exception("EX-A", agent: "agent-a")])
        let b = try cutter.cut(for: "agent-b", from: first)
        let c = try cutter.cut(for: "agent-c", from: first)
        let a = try cutter.cut(for: "agent-a", from: first)
        #expect(b.etag == c.etag)
        #expect(b.body.readableBytesView.withContiguousStorageIfAvailable { $0.baseAddress } == c.body.readableBytesView.withContiguousStorageIfAvailable { $0.baseAddress },
                "one encoding shared, not two equal ones")
        #expect(a.etag != b.etag)
        let shared = try WireCoding.decoder().decode(PolicyBundle.self, from: Data(b.body.readableBytesView))
        let own = try WireCoding.decoder().decode(PolicyBundle.self, from: Data(a.body.readableBytesView))
        #expect(shared.exceptions?.map(\.id) == ["EX-ALL"])
        #expect(own.exceptions?.map(\.id) == ["EX-ALL", "EX-A"])
        #expect(shared.appStates["chatgpt"] == .unsanctioned && shared.issuingCA == "PEM")
        #expect(b.etag.count == 34 && b.etag.hasPrefix("\"") && b.etag.hasSuffix("\""))

        // A new snapshot is encoded anew, for everyone sharing.
        let second = Self.snapshot(["chatgpt": .sanctioned], exceptions: first.exceptions)
        let b2 = try cutter.cut(for: "agent-b", from: second)
        #expect(b2.etag != b.etag)
        #expect(try WireCoding.decoder().decode(PolicyBundle.self, from: Data(b2.body.readableBytesView)).appStates["chatgpt"] == .sanctioned)
        #expect(try cutter.cut(for: "agent-c", from: second).etag == b2.etag)
        // An agent's own bundle stays its own after shared ones were cached.
        #expect(try cutter.cut(for: "agent-a", from: second).etag != b2.etag)
    }
}
