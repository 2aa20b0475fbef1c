@testable import BulwarkAgent
import BulwarkCore
import Foundation
import Testing

/// The guard's policy side without a display server: destinations from the catalog it is
/// given, overrides, and what it records.
@Suite("Clipboard guard: decisions, catalog updates, overrides")
struct ClipboardGuardPolicyTests {
    static let policy = """
    version: 1
    name: unit
    rules:
      - id: confirm-cards
        when: {types: credit_card}
        destinations: {categories: [ai_coding]}
        action: warn
    """

    final class Recorder: @unchecked Sendable {
        let lock = NSLock()
        var events: [(String, [String: JSONValue])] = []
        func record(_ type: String, _ data: [String: JSONValue]) { lock.withLock { events.append((type, data)) } }
    }

    /// Answers every warning with "Paste anyway" and a reason, at once.
    struct AgreeingNotifier: UserNotifier {
        func show(_ notice: DLPNotice, respond: @escaping @Sendable (NoticeResponse) -> Void) {
            if notice.kind == .warned { respond(.override(justification: "ticket 42")) }
        }
    }

    func makeGuard(_ recorder: Recorder, notifier: (any UserNotifier)? = nil) throws -> ClipboardGuard {
        ClipboardGuard(policy: SessionPolicy(policy: try PolicyParser(source: "unit").parse(Self.policy), classifier: ContentClassifier()), keyedHash: nil, user: "u",
                       notifier: notifier) { recorder.record($0, $1) }
    }

    /// This test process, which the catalog can be told is an AI tool.
    let me = ClipboardContent(selection: .clipboard, targets: ["UTF8_STRING"], text: Array("card 4556 7375 8689 9855".utf8), html: nil, ownerPID: nil,
                              truncated: false)
    var myExecutable: String { ProcessLineage.executablePath(of: getpid()).map { ($0 as NSString).lastPathComponent } ?? "" }

    @Test("the catalog the agent pushes decides who is an AI tool")
    func catalogUpdate() throws {
        let recorder = Recorder()
        let guardian = try makeGuard(recorder)
        #expect(guardian.copied(me))
        let request = PasteRequest(selection: .clipboard, target: "UTF8_STRING", requestorPID: getpid(), content: me)
        #expect(guardian.pasteRequested(request).serve)  // an unknown program: served
        var apps = AIAppCatalog.bundled.apps
        apps.append(AIApp(id: "test-tool", name: "Test Tool", vendor: "Tests", category: "ai_coding", domains: [], executables: [myExecutable]))
        guardian.policy.update(catalog: AIAppCatalog(apps: apps))
        let verdict = guardian.pasteRequested(request)
        #expect(!verdict.serve)
        verdict.answered?(.milliseconds(1))
        #expect(recorder.events.last?.0 == EventType.paste("warned"))
        #expect(recorder.events.last?.1["app"] == .string("test-tool"))
    }

    @Test("a granted exception lets the paste through for its user, recorded with the exception's id; another user is still warned")
    func grantedException() throws {
        let recorder = Recorder()
        let guardian = try makeGuard(recorder)
        var apps = AIAppCatalog.bundled.apps
        apps.append(AIApp(id: "test-tool", name: "Test Tool", vendor: "Tests", category: "ai_coding", domains: [], executables: [myExecutable]))
        guardian.policy.update(catalog: AIAppCatalog(apps: apps))
        let policy = try PolicyParser(source: "unit").parse(Self.policy)
        let exception = GrantedException(id: "EX-TEST000001", rule: "confirm-cards", user: "u", app: "test-tool", until: Date().addingTimeInterval(60), reason: "r")
        guardian.policy.update(policy: policy.granting([exception]), classifier: ContentClassifier())
        #expect(guardian.copied(me), "still guarded: other AI coding tools get the warning")
        let verdict = guardian.pasteRequested(PasteRequest(selection: .clipboard, target: "UTF8_STRING", requestorPID: getpid(), content: me))
        #expect(verdict.serve)
        verdict.answered?(.milliseconds(1))
        #expect(recorder.events.last?.0 == EventType.paste("allowed"))
        #expect(recorder.events.last?.1["exceptions"] == .array(["EX-TEST000001"]))

        let other = ClipboardGuard(policy: SessionPolicy(policy: policy.granting([exception]), classifier: ContentClassifier()), keyedHash: nil, user: "someone-else", notifier: nil) {
            recorder.record($0, $1)
        }
        other.policy.update(catalog: AIAppCatalog(apps: apps))
        #expect(!other.pasteRequested(PasteRequest(selection: .clipboard, target: "UTF8_STRING", requestorPID: getpid(), content: me)).serve)
    }

    @Test("an override lets exactly one paste of that copy through, recorded with the reason and the warning's incident")
    func override() throws {
        let recorder = Recorder()
        let guardian = try makeGuard(recorder, notifier: AgreeingNotifier())
        var apps = AIAppCatalog.bundled.apps
        apps.append(AIApp(id: "test-tool", name: "Test Tool", vendor: "Tests", category: "ai_coding", domains: [], executables: [myExecutable]))
        guardian.policy.update(catalog: AIAppCatalog(apps: apps))
        _ = guardian.copied(me)
        let request = PasteRequest(selection: .clipboard, target: "UTF8_STRING", requestorPID: getpid(), content: me)
        let warned = guardian.pasteRequested(request)
        #expect(!warned.serve)
        warned.answered?(.milliseconds(1))
        let allowed = guardian.pasteRequested(request)
        #expect(allowed.serve)
        allowed.answered?(.milliseconds(1))
        let overridden = recorder.events.last
        #expect(overridden?.0 == EventType.paste("overridden"))
        #expect(overridden?.1["justification"] == .string("ticket 42"))
        #expect(overridden?.1["incident_id"] == recorder.events.first { $0.0 == EventType.paste("warned") }?.1["incident_id"])
        // A new copy is a new question.
        _ = guardian.copied(me)
        #expect(!guardian.pasteRequested(request).serve)
    }

    @Test("one session policy for both guards: a policy and sanction states pushed once reach the clipboard guard and the browser guard; the new policy ends an override granted under the old one")
    func sharedPolicy() throws {
        let recorder = Recorder()
        var apps = AIAppCatalog.bundled.apps
        apps.append(AIApp(id: "test-tool", name: "Test Tool", vendor: "Tests", category: "ai_coding", domains: [], executables: [myExecutable]))
        let shared = SessionPolicy(policy: try PolicyParser(source: "unit").parse(Self.policy), classifier: ContentClassifier(), catalog: AIAppCatalog(apps: apps))
        let clipboard = ClipboardGuard(policy: shared, keyedHash: nil, user: "u", notifier: AgreeingNotifier()) { recorder.record($0, $1) }
        let browser = BrowserGuard(policy: shared, user: "u") { recorder.record($0, $1) }
        let card = try JSONDecoder().decode(BrowserGuard.Check.self, from: Data(
            #"{"id":1,"channel":"paste","origin":"https://chatgpt.com","text":"card 4556 7375 8689 9855"}"#.utf8))
        #expect(browser.decide(card, browser: "chromium")["action"] == .string("allow"), "the first policy has no rule for consumer AI")

        _ = clipboard.copied(me)
        let request = PasteRequest(selection: .clipboard, target: "UTF8_STRING", requestorPID: getpid(), content: me)
        #expect(!clipboard.pasteRequested(request).serve, "warned; the notifier grants an override at once")

        let stricter = try PolicyParser(source: "unit").parse(Self.policy + """

              - id: block-cards
                when: {types: credit_card}
                destinations: {categories: [consumer_ai]}
                action: block
            """)
        shared.update(policy: stricter, classifier: ContentClassifier())
        shared.update(appStates: ["chatgpt": .unsanctioned])
        #expect(!clipboard.pasteRequested(request).serve, "the override ended with the policy it was granted under")
        #expect(browser.decide(card, browser: "chromium")["action"] == .string("block"), "the browser guard decides by the new policy")
        guard case .array(let sites)? = browser.config()["apps"] else { Issue.record("config without apps"); return }
        let chatgpt = sites.compactMap { site -> [String: JSONValue]? in
            guard case .object(let fields) = site, fields["id"] == .string("chatgpt") else { return nil }
            return fields
        }
        #expect(chatgpt.first?["sanction"] == .string("unsanctioned"), "the browser's config carries the new state")
    }
}
