import BulwarkCore
import Crypto
import Foundation
import Testing

@Suite("Policy language: parser errors, evaluation, default policy")
struct PolicyTests {
    func parse(_ yaml: String) throws -> Policy { try PolicyParser(source: "p.yaml").parse(yaml) }

    func error(_ yaml: String) -> PolicyError? {
        do {
            _ = try PolicyParser(source: "p.yaml").parse(yaml)
            return nil
        } catch {
            return error
        }
    }

    func request(_ text: String, _ activity: Activity = .paste, app: String = "chatgpt", category: String = "consumer_ai",
                 sanction: SanctionState = .unreviewed, user: String? = "alice", groups: Set<String> = [], time: Date = Date()) -> PolicyRequest {
        PolicyRequest(activity: activity, destination: Destination(appID: app, category: category, sanction: sanction),
                      user: user, groups: groups, host: "ws1", content: ContentClassifier().scan(text), time: time)
    }

    static let card = "card 4556 7375 8689 9855 exp 12/28"
    static let cardAlone = "ref 4526 0181 5908 3012"

    @Test("granted exceptions switch their rule off for their user and app until they expire; one naming an unknown rule changes nothing")
    func grantedExceptions() throws {
        let policy = DefaultPolicy.policy()
        let until = Date().addingTimeInterval(3600)
        let granted = policy.granting([
            GrantedException(id: "EX-0000000001", rule: "block-high-confidence-pii-to-consumer-ai", user: "alice", app: "chatgpt", until: until, reason: "r"),
            GrantedException(id: "EX-0000000002", rule: "no-such-rule", user: "alice", app: nil, until: until, reason: "r"),
        ])
        let base = PolicyEvaluator(policy: policy).evaluate(request(Self.card))
        #expect(base.action == .block && base.rule == "block-high-confidence-pii-to-consumer-ai")
        let excepted = PolicyEvaluator(policy: granted).evaluate(request(Self.card))
        #expect(excepted.rule != "block-high-confidence-pii-to-consumer-ai")
        #expect(excepted.matched.contains { $0.rule == "block-high-confidence-pii-to-consumer-ai" && $0.excepted && $0.exception == "EX-0000000001" })
        #expect(PolicyEvaluator(policy: granted).evaluate(request(Self.card, user: "bob")).rule == "block-high-confidence-pii-to-consumer-ai", "another user")
        #expect(PolicyEvaluator(policy: granted).evaluate(request(Self.card, app: "gemini")).rule == "block-high-confidence-pii-to-consumer-ai", "another app")
        let later = request(Self.card, time: until.addingTimeInterval(1))
        #expect(PolicyEvaluator(policy: granted).evaluate(later).rule == "block-high-confidence-pii-to-consumer-ai", "expired")
        #expect(policy.granting([GrantedException(id: "EX-0000000003", rule: "no-such-rule", user: "alice", app: nil, until: until, reason: "r")]) == policy)
    }

    @Test("errors name the line, column and what is wrong")
    func errors() {
        let unknownKey = error("""
        version: 1
        rules:
          - id: r1
            when: {types: [credit_card]}
            actoin: block
        """)
        #expect(unknownKey?.line == 5)
        #expect(unknownKey?.column == 5)
        #expect(unknownKey?.description.hasPrefix("p.yaml:5:5: unknown key 'actoin' in a rule") == true)

        let badAction = error("rules:\n  - id: r1\n    when: {types: [credit_card]}\n    action: blok\n")
        #expect(badAction?.description == "p.yaml:4:13: unknown action 'blok' (expected audit, warn or block)")

        let badType = error("rules:\n  - id: r1\n    when:\n      types: [credit_card, credit_crad]\n    action: block\n")
        #expect(badType?.line == 4)
        #expect(badType?.column == 28)
        #expect(badType?.message.hasPrefix("unknown information type 'credit_crad'") == true)

        let syntax = error("rules:\n  - id: r1\n    when: {types: [credit_card]\n    action: block\n")
        #expect(syntax?.line == 4)
        #expect(syntax?.message.hasPrefix("YAML syntax:") == true)

        #expect(error("rules:\n  - id: r1\n    when: {types: email}\n    action: audit\n  - id: r1\n    when: {types: email}\n    action: audit\n")?
            .description == "p.yaml:5:5: duplicate rule id 'r1'")
        #expect(error("rules:\n  - id: r1\n    when: {types: email, min_confidence: sure}\n    action: audit\n")?.line == 3)
        #expect(error("rules:\n  - id: r1\n    when: {types: email}\n    action: audit\n    activities: [paste, print]\n")?
            .message.hasPrefix("unknown activity 'print'") == true)
        #expect(error("rules:\n  - id: r1\n    when: {types: email}\n    action: audit\n    destinations: {sanction: [banned]}\n")?
            .message.hasPrefix("unknown sanction state 'banned'") == true)
        #expect(error("rules:\n  - id: r1\n    action: audit\n")?.message == "a rule needs 'when'")
        #expect(error("")?.message == "the policy is empty")
        #expect(error("version: 2\nrules: []\n")?.message.hasPrefix("unsupported policy version") == true)
        #expect(error("classifiers:\n  - id: c\n    kind: regex\n    pattern: '(unclosed'\nrules: []\n")?.line == 4)
        #expect(error("classifiers:\n  - id: c\n    kind: regex\n    pattern: 'A[0-9]+'\n    validator: crc\nrules: []\n")?
            .message.hasPrefix("unknown validator 'crc'") == true)
        #expect(error("rules:\n  - id: r1\n    when: {types: email}\n    action: audit\n    exceptions:\n      - users: [bob]\n        until: tomorrow\n")?
            .line == 7)
    }

    @Test("custom classifier types become known to conditions")
    func customTypes() throws {
        let policy = try parse("""
        classifiers:
          - id: falcon
            kind: keywords
            words: [Project Falcon]
          - id: contract
            kind: fingerprint
            file: contract.fp
            threshold: 0.4
        rules:
          - id: r1
            when: {types: [keywords:falcon, fingerprint:contract]}
            action: warn
        """)
        #expect(policy.classifiers.map(\.typeID) == ["keywords:falcon", "fingerprint:contract"])
        #expect(error("rules:\n  - id: r1\n    when: {types: [keywords:falcon]}\n    action: warn\n")?.line == 3)
    }

    @Test("the default policy blocks high confidence to consumer AI, warns on medium, audits elsewhere")
    func defaultPolicy() {
        let evaluator = PolicyEvaluator(policy: DefaultPolicy.policy())
        let high = evaluator.evaluate(request(Self.card))
        #expect(high.action == .block)
        #expect(high.rule == "block-high-confidence-pii-to-consumer-ai")
        #expect(high.overridable == false)
        #expect(high.summary.contains("credit_card ×1 (confidence ≥ 85)"))
        #expect(high.matched.map(\.rule).contains("audit-sensitive-to-ai"))

        let medium = evaluator.evaluate(request(Self.cardAlone))
        #expect(medium.action == .warn)
        #expect(medium.overridable)

        #expect(evaluator.evaluate(request(Self.card, app: "ollama", category: "local_llm")).action == .audit)
        #expect(evaluator.evaluate(request("nothing to see here")).action == .allow)
        #expect(evaluator.evaluate(request(Self.card, .copy)).action == .audit)

        let secret = evaluator.evaluate(request("export GITHUB_TOKEN=ghp_4Jd8s2KqLm9Xv3Tb7Wn1Pz6Yc5Rf0Hg2Ea8U", .fileReadByAITool, app: "claude-code", category: "ai_coding"))
        #expect(secret.action == .block)
        #expect(secret.rule == "block-secrets-to-ai-tools")
        #expect(evaluator.evaluate(request("export GITHUB_TOKEN=ghp_4Jd8s2KqLm9Xv3Tb7Wn1Pz6Yc5Rf0Hg2Ea8U", app: "claude-code", category: "ai_coding")).rule == "block-secrets-to-ai")
        // A local LLM may not read a file with a validated card number; pasting it there is audited.
        #expect(evaluator.evaluate(request(Self.card, .fileReadByAITool, app: "ollama", category: "local_llm")).rule == "block-high-confidence-pii-to-ai-tools")

        // Starting an AI tool: by its sanction state alone.
        let empty = ScanResult(findings: [])
        func exec(_ sanction: SanctionState) -> PolicyDecision {
            evaluator.evaluate(PolicyRequest(activity: .aiToolExec, destination: Destination(appID: "ollama", category: "local_llm", sanction: sanction), content: empty))
        }
        #expect(exec(.unsanctioned).action == .block)
        #expect(exec(.unsanctioned).rule == "block-unsanctioned-ai-tools")
        #expect(exec(.monitored).action == .audit)
        #expect(exec(.unreviewed).action == .allow)
        #expect(exec(.sanctioned).action == .allow)

        let unsanctioned = evaluator.evaluate(request("mail jane.doe@example.org", app: "ollama", category: "local_llm", sanction: .unsanctioned))
        #expect(unsanctioned.action == .block)
        #expect(unsanctioned.rule == "block-unsanctioned-apps")

        var partial = request("nothing")
        partial.content.partial = true
        partial.content.partialReason = "inflated size over 64 MiB"
        let partialDecision = evaluator.evaluate(partial)
        #expect(partialDecision.action == .warn)
        #expect(partialDecision.summary.contains("inflated size over 64 MiB"))
    }

    @Test("exceptions switch a rule off for their scope until they expire; the rule is still reported")
    func exceptions() throws {
        let policy = try parse("""
        rules:
          - id: no-cards
            when: {types: credit_card, min_confidence: medium}
            destinations: {categories: [consumer_ai]}
            action: block
            exceptions:
              - id: INC-42
                users: [alice]
                apps: [chatgpt]
                until: 2026-12-01T00:00:00Z
                reason: quarterly reconciliation
        """)
        let evaluator = PolicyEvaluator(policy: policy)
        let before = WireCoding.date(from: "2026-11-30T12:00:00Z") ?? Date()
        let after = WireCoding.date(from: "2026-12-01T00:00:00Z") ?? Date()
        let excepted = evaluator.evaluate(request(Self.card, time: before))
        #expect(excepted.action == .allow)
        #expect(excepted.matched.first?.excepted == true)
        #expect(excepted.summary == "allow: rules no-cards matched but an exception applies")
        #expect(excepted.matched.first?.because.last == "exception INC-42 applies: quarterly reconciliation")
        #expect(evaluator.evaluate(request(Self.card, time: after)).action == .block)
        #expect(evaluator.evaluate(request(Self.card, user: "bob", time: before)).action == .block)
        #expect(evaluator.evaluate(request(Self.card, app: "claude", time: before)).action == .block)
    }

    @Test("most restrictive wins; any/all, counts, labels, scope and sanction filters")
    func combinations() throws {
        let policy = try parse("""
        rules:
          - id: audit-mail
            when: {types: email}
            action: audit
          - id: many-mails
            when: {types: email, min_count: 3}
            action: warn
          - id: card-and-mail
            when:
              all:
                - {types: credit_card, min_confidence: high}
                - {types: email}
            scope: {groups: [finance]}
            action: block
          - id: labelled
            when:
              any:
                - labels: [Highly Confidential]
                - labels: [0c9c8cb0-1d3b-4c3e-9a66-2a5c7d1f8e11]
            activities: file_upload
            destinations: {sanction: [unreviewed, unsanctioned]}
            action: block
        """)
        let evaluator = PolicyEvaluator(policy: policy)
        #expect(evaluator.evaluate(request("a@example.com")).action == .audit)
        #expect(evaluator.evaluate(request("a@example.com b@example.com c@example.com")).rule == "many-mails")
        #expect(evaluator.evaluate(request(Self.card + " a@example.com")).action == .audit)
        #expect(evaluator.evaluate(request(Self.card + " a@example.com", groups: ["finance"])).action == .block)

        var labelled = request("plain text", .fileUpload)
        labelled.content.labels = [SensitivityLabel(id: "0c9c8cb0-1d3b-4c3e-9a66-2a5c7d1f8e11", name: "Internal", source: "msip")]
        #expect(evaluator.evaluate(labelled).action == .block)
        labelled.content.labels = [SensitivityLabel(id: "x", name: "highly confidential", source: "xattr")]
        #expect(evaluator.evaluate(labelled).summary.contains("label highly confidential"))
        labelled.destination.sanction = .sanctioned
        #expect(evaluator.evaluate(labelled).action == .allow)
        labelled.destination.sanction = .unsanctioned
        labelled.activity = .paste
        #expect(evaluator.evaluate(labelled).action == .allow)
    }

    @Test("dlp.decision events carry masked snippets and keyed hashes, never the values, and pass the schema")
    func telemetry() throws {
        let hash = KeyedHash(key: SymmetricKey(size: .bits256))
        let secrets = ["4556737586899855", "536-22-1904", "ghp_4Jd8s2KqLm9Xv3Tb7Wn1Pz6Yc5Rf0Hg2Ea8U", "Tr0ub4dor&3x!"]
        let text = "card 4556 7375 8689 9855 exp 12/28, SSN 536-22-1904, token ghp_4Jd8s2KqLm9Xv3Tb7Wn1Pz6Yc5Rf0Hg2Ea8U, DB_PASSWORD=\"Tr0ub4dor&3x!\""
        let content = ContentClassifier(keyedHash: hash).scan(text)
        let request = PolicyRequest(activity: .paste, destination: Destination(appID: "chatgpt", category: "consumer_ai"), user: "alice", content: content)
        let decision = PolicyEvaluator(policy: DefaultPolicy.policy()).evaluate(request)
        let incident = DLPEvent.newIncidentID()
        #expect(incident.hasPrefix("BW-") && incident.count == 13)
        #expect(DLPEvent.newIncidentID() != incident)
        let data = DLPEvent.data(incidentID: incident, policy: "bulwark-default", request: request, decision: decision, contentBytes: text.utf8.count)
        let event = Event(seq: 1, time: Date(), type: EventType.dlpDecision, v: 1, data: data)
        try EventCatalog.standard.validate(event)
        let json = String(decoding: try WireCoding.encoder().encode(event), as: UTF8.self)
        for secret in secrets { #expect(!json.contains(secret), "raw value in telemetry: \(secret)") }
        #expect(!json.contains("4556 7375 8689 9855"))
        #expect(json.contains("4556 **** **** 9855"))
        #expect(data["action"] == .string("block"))
        #expect(data["rule"] == .string("block-secrets-to-ai"))
        guard case .array(let findings)? = data["findings"] else { Issue.record("no findings"); return }
        #expect(findings.count == 4)
        // Every match carries a 128-bit keyed hash; the same value hashes the same in any format.
        #expect(json.components(separatedBy: "\"hash\":\"").count - 1 == 4)
        #expect(ContentClassifier(keyedHash: hash).scan("4556-7375-8689-9855").findings.first?.matches.first?.hash
            == content.findings.first { $0.type == "credit_card" }?.matches.first?.hash)
    }

    @Test("adaptive protection: the default policy blocks what it would warn about for elevated and high users; an unknown risk level is refused with its position")
    func riskScope() throws {
        let evaluator = PolicyEvaluator(policy: DefaultPolicy.policy())
        let classifier = ContentClassifier()
        let content = classifier.scan("4556 7375 8689 9855")  // a valid card number, no supporting words: medium
        #expect(content.findings.contains { $0.type == "credit_card" })
        let chatgpt = Destination(appID: "chatgpt", category: "consumer_ai", sanction: .unreviewed)
        func action(_ risk: UserRisk) -> PolicyAction {
            evaluator.evaluate(PolicyRequest(activity: .paste, destination: chatgpt, user: "alice", content: content, userRisk: risk)).action
        }
        #expect(action(.low) == .warn)
        #expect(action(.elevated) == .block)
        #expect(action(.high) == .block)
        let decision = evaluator.evaluate(PolicyRequest(activity: .paste, destination: chatgpt, user: "alice", content: content, userRisk: .elevated))
        #expect(decision.rule == "block-medium-confidence-to-consumer-ai-for-risky-users")
        #expect(DLPEvent.data(incidentID: "BW-1", policy: "p", request: PolicyRequest(activity: .paste, destination: chatgpt, content: content, userRisk: .high), decision: decision)["user_risk"] == "high")

        let text = "version: 1\nname: x\nrules:\n  - id: r\n    when: {types: [email]}\n    scope: {risk: [elevatd]}\n    action: block\n"
        #expect(throws: PolicyError.self) { try PolicyParser(source: "p.yaml").parse(text) }
        do {
            _ = try PolicyParser(source: "p.yaml").parse(text)
        } catch {
            #expect(error.description.contains("p.yaml:6:") && error.description.contains("unknown risk level 'elevatd'"), "\(error)")
        }
    }
}

@Suite("Policy language: the browser section")
struct BrowserSettingsTests {
    func parse(_ text: String) throws -> Policy { try PolicyParser(source: "p.yaml").parse(text) }

    func error(_ text: String) -> PolicyError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error as? PolicyError
        }
    }

    @Test("defaults when absent; every key read when present")
    func settings() throws {
        let plain = try parse("rules: []\n")
        #expect(plain.browser == BrowserSettings())
        #expect(!plain.browser.typedPrompts && plain.browser.withoutHelper == .allow && plain.browser.terms.everySeconds == 30 * 86_400)
        let full = try parse("""
            rules: []
            browser:
              typed_prompts: yes
              without_helper: block
              terms: {text: "  No customer data.  ", every: 12h}
              request_access: "Ask IT (4242)."
            """)
        #expect(full.browser == BrowserSettings(typedPrompts: true, withoutHelper: .block, terms: .init(text: "No customer data.", everySeconds: 43_200),
                                                requestAccess: "Ask IT (4242)."))
    }

    @Test("mistakes are refused with line, column and what to write")
    func mistakes() {
        #expect(error("rules: []\nbrowser:\n  typed_prompt: true\n")?.description.hasPrefix("p.yaml:3:3: unknown key 'typed_prompt' in browser") == true)
        #expect(error("rules: []\nbrowser:\n  without_helper: maybe\n")?.description == "p.yaml:3:19: unknown without_helper 'maybe' (expected allow or block)")
        #expect(error("rules: []\nbrowser:\n  terms: {text: x, every: fortnight}\n")?.message == "'fortnight' is not a duration; use a number with s, m, h or d, e.g. 24h")
        #expect(error("rules: []\nbrowser:\n  terms: {text: '  '}\n")?.message == "terms text is empty")
        #expect(error("rules: []\nbrowser:\n  terms: {every: 1d}\n")?.message == "terms needs 'text'")
        #expect(error("rules: []\nbrowser:\n  typed_prompts: sometimes\n")?.message == "typed_prompts must be true or false")
    }
}
