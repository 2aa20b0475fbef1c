import BulwarkCore
import Testing

@Suite("AI app catalog: executables, hosts, window titles")
struct CatalogTests {
    let catalog = AIAppCatalog()

    @Test("browser window titles name an AI site only by a whole title segment", arguments: [
        ("ChatGPT", "chatgpt"), ("ChatGPT - Chromium", "chatgpt"), ("Card question - ChatGPT — Mozilla Firefox", "chatgpt"),
        ("Claude", "claude"), ("New chat | Claude - Google Chrome", "claude"), ("Le Chat - Mistral AI", "mistral-le-chat"),
        ("Claude Monet - Wikipedia - Chromium", nil), ("chatgpt tips for teachers - Chromium", nil), ("Notes", nil), ("", nil),
    ] as [(String, String?)])
    func titles(_ title: String, _ expected: String?) {
        #expect(catalog.app(windowTitle: title)?.id == expected)
    }

    @Test("executables, browsers and terminals by basename; hosts by whole labels")
    func programs() {
        #expect(catalog.app(executable: "/home/u/.local/bin/claude")?.id == "claude-code")
        #expect(catalog.app(executable: "/usr/bin/claudette") == nil)
        #expect(AIAppCatalog.isBrowser(executable: "/usr/lib/chromium/chromium"))
        #expect(!AIAppCatalog.isBrowser(executable: "/usr/bin/xclip"))
        #expect(AIAppCatalog.isTerminal(executable: "/usr/libexec/gnome-terminal-server"))
        #expect(catalog.app(host: "chat.openai.com")?.id == "chatgpt")
        #expect(catalog.app(host: "notchatgpt.com") == nil)
    }
}

@Suite("AI app catalog: the bundled data, risk scores and deployment overrides")
struct CatalogDataTests {
    let catalog = AIAppCatalog.bundled

    @Test("the bundled catalog has at least 150 apps, each valid, every category present, every fact sourced")
    func bundled() throws {
        #expect(catalog.apps.count >= 150)
        #expect(catalog.version.hasPrefix("20"))
        // The same checks a deployment's override gets.
        try CatalogOverride(apps: catalog.apps).validate(file: "ai-apps.json")
        #expect(Set(catalog.apps.map(\.category)) == AIAppCatalog.categories)
        let domains = catalog.apps.flatMap(\.domains)
        #expect(Set(domains).count == domains.count, "a domain belongs to one app")
        let executables = catalog.apps.flatMap(\.executables)
        #expect(Set(executables).count == executables.count, "an executable belongs to one app")
        for app in catalog.apps {
            let sources = [
                app.risk.trainsOnUserData?.source, app.risk.retention?.source, app.risk.enterpriseTier?.source, app.risk.sso?.source,
                app.risk.dataRegion?.source, app.risk.compliance?.source, app.risk.openWeights?.source, app.risk.local?.source,
            ].compactMap { $0 }
            #expect(sources.allSatisfy { $0.count >= 10 }, "\(app.id) has a fact without a source")
            #expect(!app.vendor.isEmpty, "\(app.id) has no vendor")
            #expect((0...10).contains(app.riskScore))
        }
        #expect(catalog.apps.filter { $0.risk != AppRiskProfile() }.count >= 50)
    }

    @Test("risk scores follow the documented formula")
    func riskScores() throws {
        // Nothing known about a consumer app: 1 + 1.5 + 1 + 0.5 + 0.5 + 1 + 0.5.
        #expect(AIApp(id: "x", name: "X", vendor: "X", category: "consumer_ai").riskScore == 6.0)
        // Trains by default and keeps chats until deleted, but has an enterprise tier, SSO and SOC 2.
        #expect(try #require(catalog.app(id: "chatgpt")).riskScore == 5.5)
        // Local runtime: only the category base.
        #expect(try #require(catalog.app(id: "ollama")).riskScore == 0.5)
        // Trains on user data, stores in CN, no enterprise tier or SSO: 1 + 3 + 1 + 1 + 1 + 2 + 0.5.
        #expect(try #require(catalog.app(id: "deepseek")).riskScore == 9.5)
        // The API of a vendor whose consumer app trains on data scores far lower.
        #expect(try #require(catalog.app(id: "openai-api")).riskScore < 2)
        var worst = AIApp(id: "w", name: "W", vendor: "W", category: "ai_browser_extension")
        worst.risk.trainsOnUserData = RiskFact(true, source: "test")
        worst.risk.retention = RiskFact(.untilDeleted, source: "test")
        worst.risk.enterpriseTier = RiskFact(false, source: "test")
        worst.risk.sso = RiskFact(false, source: "test")
        worst.risk.dataRegion = RiskFact("RU", source: "test")
        worst.risk.compliance = RiskFact([], source: "test")
        #expect(worst.riskScore == 10)
        let breakdown = RiskScore(worst).factors
        #expect(breakdown.map(\.name) == ["category", "trains_on_user_data", "retention", "enterprise_tier", "sso", "data_region", "compliance"])
    }

    @Test("hosts match whole labels through an index; interpreters by command line")
    func lookups() {
        #expect(catalog.app(host: "myresource.openai.azure.com")?.id == "azure-openai")
        #expect(catalog.app(host: "CHAT.OPENAI.COM")?.id == "chatgpt")
        #expect(catalog.app(host: "api.openai.com")?.id == "openai-api")
        #expect(catalog.app(host: "openai.com") == nil)
        #expect(catalog.app(host: "com") == nil)
        #expect(catalog.app(commandLine: "/usr/bin/python3 -m vllm.entrypoints.openai.api_server --model x")?.id == "vllm")
        #expect(catalog.app(commandLine: "/usr/bin/python3 /srv/ComfyUI/main.py --listen")?.id == "comfyui")
        #expect(catalog.app(commandLine: "/usr/bin/python3 /srv/app/main.py") == nil)
    }

    @Test("an override adds, replaces and removes apps")
    func override() throws {
        let override = try CatalogOverride.parse(
            """
            apps:
              - id: acme-gpt
                name: Acme GPT
                vendor: Acme
                category: consumer_ai
                domains: [gpt.acme.example]
                risk:
                  trains_on_user_data: {value: false, source: "Acme contract, 2026-03"}
                  data_region: {value: EU, source: "Acme contract, 2026-03"}
              - id: chatgpt
                name: ChatGPT (company workspace)
                vendor: OpenAI
                category: consumer_ai
                domains: [chatgpt.com]
            remove: [character-ai]
            """, file: "catalog.yaml")
        let merged = catalog.applying(override)
        #expect(merged.app(host: "gpt.acme.example")?.id == "acme-gpt")
        #expect(merged.app(id: "acme-gpt")?.risk.trainsOnUserData?.value == false)
        #expect(merged.app(id: "chatgpt")?.name == "ChatGPT (company workspace)")
        #expect(merged.app(host: "chat.openai.com") == nil, "the replacement's domains are the only ones")
        #expect(merged.app(id: "character-ai") == nil)
        #expect(merged.app(host: "character.ai") == nil)
        #expect(merged.apps.count == catalog.apps.count)
        #expect(merged.version == "\(catalog.version)+\(override.digest)")
        #expect(catalog.applying(CatalogOverride()).version == catalog.version)
    }

    @Test("a bad override is refused with the app and field at fault", arguments: [
        ("apps:\n  - {id: x1, name: X, vendor: V, category: chat}", "app #1 (x1): category 'chat' is not one of"),
        ("apps:\n  - {id: x1, name: X, vendor: V, category: consumer_ai, domains: ['https://x.example/chat']}", "domain 'https://x.example/chat' is not a host name"),
        ("apps:\n  - {id: X 1, name: X, vendor: V, category: consumer_ai}", "id must be 1–64 lowercase"),
        ("apps:\n  - {id: x1, vendor: V, category: consumer_ai}", "apps.#1: 'name' is missing"),
        ("apps:\n  - {id: x1, name: X, category: consumer_ai, executables: [/usr/bin/x]}", "executable '/usr/bin/x' must be a file name"),
        ("apps:\n  - {id: x1, name: X, category: local_llm, ports: [70000]}", "port 70000 is out of range"),
        ("apps:\n  - {id: x1, name: X, category: consumer_ai}\n  - {id: x1, name: Y, category: consumer_ai}", "app #2 (x1): id appears twice"),
        ("remove: [no-such-app]", "remove: 'no-such-app' is not an app of the bundled catalog"),
        ("apps: [", "is not valid YAML"),
        ("apps:\n  - {id: x1, name: X, category: consumer_ai, risk: {retention: {value: forever, source: s}}}", "apps.#1.risk.retention.value"),
    ] as [(String, String)])
    func refused(_ text: String, _ expected: String) {
        #expect {
            _ = try CatalogOverride.parse(text, file: "catalog.yaml")
        } throws: { error in
            "\(error)".contains(expected) && "\(error)".hasPrefix("catalog override catalog.yaml: ")
        }
    }
}
