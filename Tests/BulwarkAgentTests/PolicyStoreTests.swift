import BulwarkAgent
import BulwarkCore
import Foundation
import Testing

@Suite("Policy store: the agent keeps its last good policy")
struct PolicyStoreTests {
    let state: AgentState

    init() throws {
        state = AgentState(directory: FileManager.default.temporaryDirectory.appendingPathComponent("policy-\(UUID())").path)
        try state.prepare()
    }

    static let strict = """
    version: 1
    name: strict
    rules:
      - id: no-mail
        when: {types: email}
        action: block
    """

    func decide(_ store: PolicyStore, _ text: String) async -> PolicyAction {
        let active = await store.active
        let request = PolicyRequest(activity: .paste, destination: Destination(appID: "chatgpt", category: "consumer_ai"),
                                    content: active.classifier.scan(text))
        return PolicyEvaluator(policy: active.policy).evaluate(request).action
    }

    @Test("default without a stored policy; a valid update is enforced and survives a restart")
    func install() async throws {
        let store = PolicyStore(state: state, keyedHash: nil)
        #expect(await store.active.source == "default")
        #expect(await decide(store, "jane@example.org") == .audit)
        try await store.install(Self.strict, source: "collector")
        #expect(await store.active.policy.name == "strict")
        #expect(await decide(store, "jane@example.org") == .block)

        let restarted = PolicyStore(state: state, keyedHash: nil)
        #expect(await restarted.active.policy.name == "strict")
        #expect(await restarted.startupProblem == nil)
    }

    @Test("an invalid update is refused with line and column, and the last good policy stays")
    func refuse() async throws {
        let store = PolicyStore(state: state, keyedHash: nil)
        try await store.install(Self.strict, source: "collector")
        let broken = Self.strict.replacingOccurrences(of: "action: block", with: "action: blok")
        do {
            try await store.install(broken, source: "collector")
            Issue.record("a broken policy was accepted")
        } catch let refusal as PolicyStore.Refusal {
            #expect(refusal.description == "policy update refused: collector:6:13: unknown action 'blok' (expected audit, warn or block); keeping policy 'strict' from \(await store.path)")
        }
        #expect(await decide(store, "jane@example.org") == .block)
        #expect(try String(contentsOfFile: await store.path, encoding: .utf8) == Self.strict)

        // A policy whose EDM table is missing is refused the same way.
        let missingTable = Self.strict + "\nclassifiers:\n  - {id: customers, kind: edm, file: customers.edm}\n"
        await #expect(throws: PolicyStore.Refusal.self) { try await store.install(missingTable, source: "collector") }
        #expect(await store.active.policy.name == "strict")
    }

    @Test("a stored policy that no longer loads falls back to the default and says why")
    func damagedStore() async throws {
        try Data("rules: [".utf8).write(to: URL(fileURLWithPath: state.path("policy.yaml")))
        let store = PolicyStore(state: state, keyedHash: nil)
        #expect(await store.active.source == "default")
        #expect(await store.startupProblem?.contains("does not load") == true)
        #expect(await store.startupProblem?.contains("YAML syntax") == true)
    }

    @Test("a policy file replaced behind the running agent's back is picked up; a broken one is refused and the old one stays")
    func reloadIfChanged() async throws {
        let store = PolicyStore(state: state, keyedHash: nil)
        #expect(await store.reloadIfChanged() == nil)  // no file, nothing changed
        try Data(Self.strict.utf8).write(to: URL(fileURLWithPath: await store.path))
        guard case .success(let active)? = await store.reloadIfChanged() else {
            Issue.record("the new policy was not loaded")
            return
        }
        #expect(active.policy.name == "strict")
        #expect(await decide(store, "jane@example.org") == .block)
        #expect(await store.reloadIfChanged() == nil)  // unchanged since

        try Data("version: 1\nname: broken\nrules: [{id: x, when: {types: nonsense}, action: block}]\n".utf8)
            .write(to: URL(fileURLWithPath: await store.path))
        guard case .failure(let refusal)? = await store.reloadIfChanged() else {
            Issue.record("a broken policy was not refused")
            return
        }
        #expect(refusal.description.contains("unknown information type 'nonsense'"))
        #expect(refusal.keeping.contains("strict"))
        #expect(await store.active.policy.name == "strict")
        #expect(await decide(store, "jane@example.org") == .block)
    }
}
